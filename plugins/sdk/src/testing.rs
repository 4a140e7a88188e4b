use crate::types::{Credentials, ExecStep, HandshakeContext, HandshakeSecrets, Mode, Options, Tenant};

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

/// Credentials from three strings.
pub fn credentials(user: &str, password: &str, database: &str) -> Credentials {
    Credentials {
        user: user.to_string(),
        password: password.to_string(),
        database: database.to_string(),
    }
}

/// Tenant `name` as the host names it: user `NAME_user`, database `NAME_db`.
pub fn tenant(name: &str, password: &str, max_connections: Option<u32>) -> Tenant {
    Tenant {
        name: name.to_string(),
        credentials: credentials(&format!("{name}_user"), password, &format!("{name}_db")),
        max_connections,
    }
}

/// What an exec step writes to its command's stdin, as text (empty when nothing).
pub fn stdin_text(step: &ExecStep) -> String {
    String::from_utf8(step.stdin.clone().unwrap_or_default()).expect("UTF-8 stdin")
}
