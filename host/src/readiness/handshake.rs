//! One handshake through a published port: the host connects and ferries bytes, the plugin
//! says what to send and judges every reply. The host supplies a fresh random nonce per
//! connection, so a plugin can authenticate (SCRAM) without randomness of its own.

use crate::plugin::Plugin;
use crate::plugin::PluginFailure;
use crate::plugin::bindings::{Credentials, HandshakeContext, HandshakeOutcome, HandshakeSecrets, ReadyInfo};
use rand::RngCore;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_EXCHANGE_STEPS: u32 = 32;
const MAX_REPLY_BYTES: usize = 1 << 20;
const NONCE_BYTES: usize = 32;

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt {
    Pass(ReadyInfo),
    NotYet(String),
    Fail(String),
}

/// Connects to `host:port` (the host-mapped address of `container_port`) and lets the
/// plugin judge the conversation.
pub async fn attempt(
    plugin: &Plugin,
    host: &str,
    port: u16,
    container_port: u16,
    credentials: &Credentials,
) -> Result<Attempt, PluginFailure> {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Ok(Attempt::NotYet(format!("connect to {host}:{port}: {e}"))),
        Err(_) => return Ok(Attempt::NotYet(format!("connect to {host}:{port} timed out"))),
    };
    let _ = stream.set_nodelay(true);
    let mut nonce = vec![0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let secrets = HandshakeSecrets { nonce };
    let mut ctx = HandshakeContext {
        credentials: credentials.clone(),
        container_port,
        step: 0,
    };
    let first = plugin.handshake_start(&ctx, &secrets)?;
    if !first.is_empty() && stream.write_all(&first).await.is_err() {
        return Ok(Attempt::NotYet("connection closed before the handshake".into()));
    }
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    while ctx.step < MAX_EXCHANGE_STEPS {
        let n = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            // docker-proxy accepts and then closes when nothing listens inside.
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Ok(Attempt::NotYet("connection closed without a complete answer".into()));
            }
            Ok(Ok(n)) => n,
            Err(_) => {
                return Ok(Attempt::NotYet(format!(
                    "no answer within {} s",
                    READ_TIMEOUT.as_secs()
                )));
            }
        };
        received.extend_from_slice(&chunk[..n]);
        if received.len() > MAX_REPLY_BYTES {
            return Ok(Attempt::Fail("the server's answer exceeds 1 MiB".into()));
        }
        match plugin.handshake_step(&ctx, &secrets, &received)? {
            HandshakeOutcome::Ready(info) => return Ok(Attempt::Pass(info)),
            HandshakeOutcome::NeedMore => {}
            HandshakeOutcome::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return Ok(Attempt::NotYet("connection closed during the handshake".into()));
                }
                received.clear();
                ctx.step += 1;
            }
            HandshakeOutcome::NotYet(reason) => return Ok(Attempt::NotYet(reason)),
            HandshakeOutcome::Failed(reason) => return Ok(Attempt::Fail(reason)),
        }
    }
    Ok(Attempt::Fail(format!(
        "handshake did not finish within {MAX_EXCHANGE_STEPS} exchanges"
    )))
}
