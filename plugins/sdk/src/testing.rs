use crate::types::{Credentials, HandshakeContext, Mode, Options};

/// Options as the host passes them with nothing chosen but `password`: default version,
/// user and database, fast mode, not persistent, no memory limit and no extra environment.
pub fn options(password: &str) -> Options {
    Options {
        version: String::new(),
        user: None,
        password: password.to_string(),
        database: None,
        mode: Mode::Fast,
        persistent: false,
        memory_limit_bytes: None,
        extra: Vec::new(),
    }
}

/// The context of a handshake's first step (`step` 0) against `port` in the container.
pub fn context(credentials: Credentials, port: u16) -> HandshakeContext {
    HandshakeContext {
        credentials,
        container_port: port,
        step: 0,
    }
}
