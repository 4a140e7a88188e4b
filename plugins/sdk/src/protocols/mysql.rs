//! MySQL and MariaDB client/server protocol: the server's initial handshake packet.

use crate::bytes::Reader;
use crate::types::HandshakeVerdict;

/// Bound for the greeting packet; real ones are about a hundred bytes.
const MAX_PACKET_LEN: u64 = 64 * 1024;

/// Judges the first packet the server sends (3-byte little-endian payload length, sequence
/// byte, payload).
///
/// - Payload starting with 0x0a: the protocol v10 Initial Handshake, sent by a server that
///   accepts clients: ready.
/// - 0xff ERR packet (code, optional `#` + SQLSTATE, message), sent before the greeting when
///   the server refuses the connection: 1040 too many connections and 1053 shutdown in
///   progress are transient: not yet. Everything else fails: 1129 (host blocked by
///   max_connect_errors) lasts until `FLUSH HOSTS`; 1130 (host not allowed) means no account
///   may connect over TCP, which does not change while the server runs (the image creates
///   `root@'%'` before the real server opens its port; a reused volume or a MYSQL_ROOT_HOST
///   override can restrict it).
/// - Anything else is not a MySQL server: failed.
pub fn judge_greeting(received: &[u8]) -> HandshakeVerdict {
    let mut r = Reader::new(received);
    let Some(len) = r.uint_le(3) else {
        return HandshakeVerdict::NeedMore;
    };
    let Some(_sequence) = r.u8() else {
        return HandshakeVerdict::NeedMore;
    };
    if len == 0 || len > MAX_PACKET_LEN {
        return not_mysql(received);
    }
    match r.rest().first() {
        None => return HandshakeVerdict::NeedMore,
        Some(0x0a | 0xff) => {}
        Some(_) => return not_mysql(received),
    }
    let Some(payload) = r.take(len as usize) else {
        return HandshakeVerdict::NeedMore;
    };
    let mut p = Reader::new(&payload[1..]);
    if payload[0] == 0xff {
        return judge_error(&mut p);
    }
    // Protocol v10: the server version as a NUL-terminated string, then the connection id.
    match (p.cstr(), p.u32_le()) {
        (Some(_version), Some(_connection_id)) => HandshakeVerdict::Ready,
        _ => not_mysql(received),
    }
}

fn judge_error(p: &mut Reader) -> HandshakeVerdict {
    let Some(code) = p.u16_le() else {
        return HandshakeVerdict::Failed("truncated MySQL error packet".into());
    };
    // Before the handshake the server does not know the client speaks 4.1, so the SQLSTATE
    // marker is usually absent.
    if p.rest().first() == Some(&b'#') {
        p.skip(6);
    }
    let message = String::from_utf8_lossy(p.rest()).into_owned();
    let text = format!("MySQL error {code}: {message}");
    match code {
        1040 | 1053 => HandshakeVerdict::NotYet(text),
        1129 => HandshakeVerdict::Failed(format!("{text} (run `mysqladmin flush-hosts` in the container)")),
        1130 => HandshakeVerdict::Failed(format!(
            "{text} (no account may connect over TCP; check MYSQL_ROOT_HOST or the reused data volume)"
        )),
        _ => HandshakeVerdict::Failed(text),
    }
}

fn not_mysql(received: &[u8]) -> HandshakeVerdict {
    let head: Vec<String> = received.iter().take(16).map(|b| format!("{b:02x}")).collect();
    HandshakeVerdict::Failed(format!("not a MySQL greeting (starts with {})", head.join(" ")))
}
