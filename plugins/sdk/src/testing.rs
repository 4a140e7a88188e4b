use crate::types::{Credentials, HandshakeContext, HandshakeSecrets, Mode, Options};

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

/// Handshake secrets with a fixed nonce (bytes 0..32), so tests are reproducible; the host
/// sends 32 fresh random bytes per connection.
pub fn secrets() -> HandshakeSecrets {
    HandshakeSecrets {
        nonce: (0..32).collect(),
    }
}

/// `ctx` at a later `step` (the number of messages the host has sent since `handshake_start`).
pub fn at_step(ctx: &HandshakeContext, step: u32) -> HandshakeContext {
    HandshakeContext { step, ..ctx.clone() }
}
