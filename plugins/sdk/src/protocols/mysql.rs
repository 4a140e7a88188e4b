//! MySQL and MariaDB client/server protocol: an authenticated readiness handshake.
//!
//! The exchange, rebuilt from the bytes of each step (plugins keep no state); packets are a
//! 3-byte little-endian payload length, a sequence id and the payload:
//!
//! 1. The server greets (sequence 0): protocol v10 with its version, a 20-byte scramble and
//!    its default auth plugin. We answer HandshakeResponse41 (sequence 1) with the user,
//!    the scrambled password for that plugin and the database.
//! 2. The server answers (sequence 2 and on): OK; ERR (wrong password, unknown database);
//!    AuthSwitchRequest (0xfe) to another plugin, answered with the next sequence id; or,
//!    for `caching_sha2_password`, AuthMoreData: 0x03 fast-auth success (an OK follows) or
//!    0x04 "perform full authentication", which needs TLS or the server's RSA key.
//! 3. After OK we send `SELECT VERSION()` (a new command: sequence 0) and read the version
//!    from the result (sequence 1 and on): the greeting is gone by then, and a query proves
//!    the session works.

use crate::bytes::{Reader, Writer, not_protocol};
use crate::types::{Credentials, HandshakeOutcome};
use crate::{ready_authenticated, ready_unauthenticated};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Bound for any packet of the handshake; real ones are about a hundred bytes.
const MAX_PACKET_LEN: u64 = 64 * 1024;

pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
/// `utf8mb4_general_ci`, known to every MySQL and MariaDB version we run.
const CHARSET_UTF8MB4: u8 = 45;
const COM_QUERY: u8 = 0x03;
const VERSION_QUERY: &str = "SELECT VERSION()";

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// The note of a `ready` whose credentials `caching_sha2_password` could not check.
pub const FULL_AUTH_NOTE: &str = "the server is up, but caching_sha2_password asked for full authentication \
(the first login after the server started), which cannot be done without TLS; the credentials were not checked";

/// The parts of a protocol v10 greeting the handshake needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub sequence: u8,
    /// E.g. "8.4.3" or "5.5.5-10.11.9-MariaDB".
    pub server_version: String,
    pub capabilities: u32,
    /// The 20-byte auth-plugin data (scramble).
    pub scramble: Vec<u8>,
    /// The server's default auth plugin; empty when it does not say.
    pub auth_plugin: String,
}

enum Next<'a> {
    Packet { sequence: u8, payload: &'a [u8] },
    NeedMore,
    Bad,
}

fn next_packet<'a>(r: &mut Reader<'a>) -> Next<'a> {
    let (Some(len), Some(sequence)) = (r.uint_le(3), r.u8()) else {
        return Next::NeedMore;
    };
    if len == 0 || len > MAX_PACKET_LEN {
        return Next::Bad;
    }
    match r.take(len as usize) {
        Some(payload) => Next::Packet { sequence, payload },
        None => Next::NeedMore,
    }
}

/// Wraps `payload` in a packet header with `sequence`.
pub fn packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    Writer::new()
        .bytes(&len.to_le_bytes()[..3])
        .u8(sequence)
        .bytes(payload)
        .finish()
}

/// Parses a v10 greeting payload (after the 0x0a byte). `None`: not a usable greeting.
pub fn parse_greeting(sequence: u8, payload: &[u8]) -> Option<Greeting> {
    let mut p = Reader::new(payload.strip_prefix(&[0x0a])?);
    let version = String::from_utf8_lossy(p.cstr()?).into_owned();
    let _connection_id = p.u32_le()?;
    let mut scramble = p.take(8)?.to_vec();
    p.skip(1)?; // filler
    let mut capabilities = p.u16_le()? as u32;
    let mut auth_plugin = String::new();
    if p.remaining() > 0 {
        let (_charset, _status) = (p.u8()?, p.u16_le()?);
        capabilities |= (p.u16_le()? as u32) << 16;
        let auth_len = p.u8()? as usize;
        p.skip(10)?; // reserved (MariaDB keeps extended capabilities here)
        if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let part2 = p.take(13.max(auth_len.saturating_sub(8)))?;
            // The second part ends with a NUL that is not part of the scramble.
            scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
        }
        if capabilities & CLIENT_PLUGIN_AUTH != 0 {
            // Some servers omit the final NUL.
            let rest = p.rest();
            let name = rest.split(|&b| b == 0).next().unwrap_or(rest);
            auth_plugin = String::from_utf8_lossy(name).into_owned();
        }
    }
    Some(Greeting {
        sequence,
        server_version: version,
        capabilities,
        scramble,
        auth_plugin,
    })
}

/// `mysql_native_password`: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty for an
/// empty password.
pub fn native_password(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix).map(|(a, b)| a ^ b).collect()
}

/// `caching_sha2_password` fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble);
/// empty for an empty password.
pub fn caching_sha2_password(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password.as_bytes());
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(scramble);
    let mix = h.finalize();
    stage1.iter().zip(mix).map(|(a, b)| a ^ b).collect()
}

/// The auth response of `plugin`, or `None` for a plugin we cannot speak.
pub fn auth_response(plugin: &str, password: &str, scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        NATIVE_PASSWORD => Some(native_password(password, scramble)),
        CACHING_SHA2_PASSWORD => Some(caching_sha2_password(password, scramble)),
        _ => None,
    }
}

/// HandshakeResponse41 answering `greeting` with `credentials`. Uses the server's default
/// plugin when we speak it, else `mysql_native_password` (the server then asks to switch).
pub fn handshake_response(greeting: &Greeting, credentials: &Credentials) -> Vec<u8> {
    let (plugin, auth) = match auth_response(&greeting.auth_plugin, &credentials.password, &greeting.scramble) {
        Some(auth) => (greeting.auth_plugin.as_str(), auth),
        None => (
            NATIVE_PASSWORD,
            native_password(&credentials.password, &greeting.scramble),
        ),
    };
    let with_db = !credentials.database.is_empty();
    let plugin_auth = greeting.capabilities & CLIENT_PLUGIN_AUTH != 0;
    let mut caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;
    if with_db {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    if plugin_auth {
        caps |= CLIENT_PLUGIN_AUTH;
    }
    let mut w = Writer::new()
        .u32_le(caps)
        .u32_le(16 << 20) // max packet size
        .u8(CHARSET_UTF8MB4)
        .bytes(&[0; 23])
        .cstr(&credentials.user)
        .u8(auth.len() as u8)
        .bytes(&auth);
    if with_db {
        w = w.cstr(&credentials.database);
    }
    if plugin_auth {
        w = w.cstr(plugin);
    }
    packet(greeting.sequence.wrapping_add(1), &w.finish())
}

/// Judges one step of the authenticated handshake described in the module docs; the
/// whole readiness judge of a MySQL-protocol plugin.
///
/// - ERR 1040 (too many connections), 1053 (shutdown in progress), 3032 (offline mode) and
///   3168 (server not available) are transient: not yet. Every other ERR fails with the
///   server's text ("ERROR 1045 (28000): Access denied for user ..."); 1129 (host blocked)
///   and 1130 (host not allowed) get a hint.
/// - OK, then the version query's result: ready, authenticated.
/// - `caching_sha2_password` full authentication: ready, not authenticated ([`FULL_AUTH_NOTE`]).
/// - Anything else is not a MySQL server, or one we cannot authenticate with: failed.
pub fn handshake_step(credentials: &Credentials, received: &[u8]) -> HandshakeOutcome {
    let mut r = Reader::new(received);
    let (sequence, payload) = match next_packet(&mut r) {
        Next::NeedMore => return HandshakeOutcome::NeedMore,
        Next::Bad => return not_mysql(received),
        Next::Packet { sequence, payload } => (sequence, payload),
    };
    match (sequence, payload[0]) {
        // The result of our version query (a new command restarts the sequence at 0).
        (1, 0xff) => ready_authenticated(None),
        (1, _) => judge_version_result(payload, &mut r),
        (_, 0xff) => judge_error(&payload[1..]),
        (0, 0x0a) => match parse_greeting(sequence, payload) {
            Some(g) if g.capabilities & CLIENT_PROTOCOL_41 != 0 && g.capabilities & CLIENT_SECURE_CONNECTION != 0 => {
                if g.scramble.len() < 20 {
                    return HandshakeOutcome::Failed("the MySQL greeting has a short scramble".into());
                }
                HandshakeOutcome::Send(handshake_response(&g, credentials))
            }
            Some(g) => HandshakeOutcome::Failed(format!(
                "MySQL server {} does not speak protocol 4.1 authentication",
                g.server_version
            )),
            None => not_mysql(received),
        },
        (0, _) => not_mysql(received),
        _ => judge_auth_reply(credentials, sequence, payload, &mut r, received),
    }
}

/// Replies to our handshake response or auth-switch answer: OK, AuthSwitchRequest or
/// AuthMoreData (ERR was handled by the caller).
fn judge_auth_reply<'a>(
    credentials: &Credentials,
    mut sequence: u8,
    mut payload: &'a [u8],
    r: &mut Reader<'a>,
    received: &[u8],
) -> HandshakeOutcome {
    loop {
        match payload[0] {
            0x00 => return HandshakeOutcome::Send(packet(0, &query(VERSION_QUERY))),
            0xff => return judge_error(&payload[1..]),
            0xfe => {
                let mut p = Reader::new(&payload[1..]);
                let Some(plugin) = p.cstr() else {
                    return HandshakeOutcome::Failed(
                        "the server asks for the pre-4.1 password hash, which dbarena does not support".into(),
                    );
                };
                let plugin = String::from_utf8_lossy(plugin).into_owned();
                let data = p.rest();
                let scramble = data.strip_suffix(&[0]).unwrap_or(data);
                return match auth_response(&plugin, &credentials.password, scramble) {
                    Some(auth) => HandshakeOutcome::Send(packet(sequence.wrapping_add(1), &auth)),
                    None => HandshakeOutcome::Failed(format!(
                        "the server asks for auth plugin '{plugin}'; dbarena speaks {NATIVE_PASSWORD} and {CACHING_SHA2_PASSWORD}"
                    )),
                };
            }
            0x01 => match payload.get(1) {
                // Fast-auth success: the OK packet follows.
                Some(0x03) => {}
                Some(0x04) => return ready_unauthenticated(None, FULL_AUTH_NOTE),
                _ => return HandshakeOutcome::Failed("unexpected auth data from the MySQL server".into()),
            },
            _ => return not_mysql(received),
        }
        match next_packet(r) {
            Next::NeedMore => return HandshakeOutcome::NeedMore,
            Next::Bad => return not_mysql(received),
            Next::Packet {
                sequence: s,
                payload: p,
            } if s == sequence.wrapping_add(1) => {
                sequence = s;
                payload = p;
            }
            Next::Packet { .. } => return HandshakeOutcome::Failed("MySQL packets out of sequence".into()),
        }
    }
}

/// The result of `SELECT VERSION()`: column count, column definitions, an EOF packet (we do
/// not ask for CLIENT_DEPRECATE_EOF), then the row. Authentication already succeeded, so a
/// result we cannot read still means ready, without a version.
fn judge_version_result<'a>(first: &'a [u8], r: &mut Reader<'a>) -> HandshakeOutcome {
    macro_rules! next {
        () => {
            match next_packet(r) {
                Next::NeedMore => return HandshakeOutcome::NeedMore,
                Next::Bad => return ready_authenticated(None),
                Next::Packet { payload, .. } => payload,
            }
        };
    }
    let Some(columns) = Reader::new(first).lenenc().filter(|n| (1..=16).contains(n)) else {
        return ready_authenticated(None);
    };
    for _ in 0..columns {
        next!();
    }
    let mut row = next!();
    if row[0] == 0xfe && row.len() < 9 {
        row = next!();
    }
    let mut p = Reader::new(row);
    let version = p
        .lenenc()
        .and_then(|n| p.take(n as usize))
        .map(|v| String::from_utf8_lossy(v).into_owned());
    ready_authenticated(version)
}

fn query(sql: &str) -> Vec<u8> {
    Writer::new().u8(COM_QUERY).bytes(sql.as_bytes()).finish()
}

/// An ERR packet body (after 0xff): code, optional `#` + SQLSTATE, message.
fn judge_error(body: &[u8]) -> HandshakeOutcome {
    let mut p = Reader::new(body);
    let Some(code) = p.u16_le() else {
        return HandshakeOutcome::Failed("truncated MySQL error packet".into());
    };
    // Before the handshake the server does not know the client speaks 4.1, so the SQLSTATE
    // marker is usually absent there.
    let state = if p.rest().first() == Some(&b'#') {
        p.skip(1);
        p.take(5).map(|s| String::from_utf8_lossy(s).into_owned())
    } else {
        None
    };
    let message = String::from_utf8_lossy(p.rest()).into_owned();
    let text = match state {
        Some(state) => format!("ERROR {code} ({state}): {message}"),
        None => format!("ERROR {code}: {message}"),
    };
    match code {
        1040 | 1053 | 3032 | 3168 => HandshakeOutcome::NotYet(text),
        1129 => HandshakeOutcome::Failed(format!("{text} (run `mysqladmin flush-hosts` in the container)")),
        1130 => HandshakeOutcome::Failed(format!(
            "{text} (no account may connect over TCP; check MYSQL_ROOT_HOST or the reused data volume)"
        )),
        _ => HandshakeOutcome::Failed(text),
    }
}

fn not_mysql(received: &[u8]) -> HandshakeOutcome {
    not_protocol("MySQL server reply", received)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(password: &str) -> Credentials {
        Credentials {
            user: "root".into(),
            password: password.into(),
            database: "app".into(),
        }
    }

    fn step(received: &[u8]) -> HandshakeOutcome {
        handshake_step(&creds("secret"), received)
    }

    /// Scramble 01 02 .. 14 (20 bytes).
    fn scramble() -> Vec<u8> {
        (1..=20).collect()
    }

    /// A MySQL 8.4 Initial Handshake packet (protocol v10), laid out per the client/server
    /// protocol docs: version, connection id, scramble part 1, filler, capability flags,
    /// charset, status, capabilities (upper), auth data length, reserved, scramble part 2
    /// (with its NUL) and the auth plugin name.
    fn greeting(plugin: &str) -> Vec<u8> {
        let s = scramble();
        let payload = [
            &[0x0a][..],
            b"8.4.3\0",
            &[0x08, 0x00, 0x00, 0x00],
            &s[..8],
            &[0x00],
            &[0xff, 0xff],
            &[0xff],
            &[0x02, 0x00],
            &[0xff, 0xdf],
            &[0x15],
            &[0; 10],
            &s[8..],
            &[0],
            plugin.as_bytes(),
            &[0],
        ]
        .concat();
        packet(0, &payload)
    }

    fn err(sequence: u8, code: u16, state: &str, message: &str) -> Vec<u8> {
        let mut payload = vec![0xff];
        payload.extend_from_slice(&code.to_le_bytes());
        if !state.is_empty() {
            payload.push(b'#');
            payload.extend_from_slice(state.as_bytes());
        }
        payload.extend_from_slice(message.as_bytes());
        packet(sequence, &payload)
    }

    /// An OK packet: header 0x00, affected rows 0, last insert id 0, status AUTOCOMMIT, no
    /// warnings.
    fn ok(sequence: u8) -> Vec<u8> {
        packet(sequence, &[0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00])
    }

    #[test]
    fn scramble_known_answers() {
        // Computed with Python's hashlib for password "secret" and scramble 01..14.
        let native = native_password("secret", &scramble());
        assert_eq!(hex(&native), "b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
        let sha2 = caching_sha2_password("secret", &scramble());
        assert_eq!(
            hex(&sha2),
            "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9"
        );
        assert!(native_password("", &scramble()).is_empty());
        assert!(caching_sha2_password("", &scramble()).is_empty());
        assert_eq!(auth_response("client_ed25519", "x", &scramble()), None);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn greeting_is_answered_with_handshake_response_41() {
        let HandshakeOutcome::Send(reply) = step(&greeting(CACHING_SHA2_PASSWORD)) else {
            panic!("expected a send");
        };
        let auth = caching_sha2_password("secret", &scramble());
        let caps = CLIENT_LONG_PASSWORD
            | CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_CONNECT_WITH_DB
            | CLIENT_PLUGIN_AUTH;
        let payload = [
            &caps.to_le_bytes()[..],
            &(16u32 << 20).to_le_bytes(),
            &[45],
            &[0; 23],
            b"root\0",
            &[32],
            &auth,
            b"app\0",
            b"caching_sha2_password\0",
        ]
        .concat();
        assert_eq!(reply[..4], [payload.len() as u8, 0, 0, 1], "length and sequence 1");
        assert_eq!(reply[4..], payload[..]);
        // An unknown default plugin: answer with mysql_native_password and let it switch.
        let HandshakeOutcome::Send(reply) = step(&greeting("client_ed25519")) else {
            panic!("expected a send");
        };
        assert!(reply.ends_with(b"mysql_native_password\0"));
        assert!(reply.windows(20).any(|w| w == native_password("secret", &scramble())));
    }

    #[test]
    fn greeting_fields_are_parsed() {
        let g = greeting(NATIVE_PASSWORD);
        let parsed = parse_greeting(0, &g[4..]).unwrap();
        assert_eq!(parsed.server_version, "8.4.3");
        assert_eq!(parsed.scramble, scramble());
        assert_eq!(parsed.auth_plugin, NATIVE_PASSWORD);
    }

    #[test]
    fn ok_sends_the_version_query_and_its_result_is_ready_with_the_version() {
        assert_eq!(step(&ok(2)), HandshakeOutcome::Send(packet(0, b"\x03SELECT VERSION()")));
        // Column count 1, a column definition, EOF, the row "11.4.3-MariaDB", EOF.
        let result = [
            packet(1, &[1]),
            packet(2, b"\x03def\0\0\0\x09VERSION()\0\x0c\x21\0\x3c\0\0\0\xfd\0\0\x1f\0\0"),
            packet(3, &[0xfe, 0, 0, 2, 0]),
            packet(4, b"\x0e11.4.3-MariaDB"),
            packet(5, &[0xfe, 0, 0, 2, 0]),
        ]
        .concat();
        assert_eq!(step(&result), ready_authenticated(Some("11.4.3-MariaDB".into())));
        for cut in [0, 3, 5, 20, result.len() - 12] {
            assert_eq!(step(&result[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
        // The query failing after a successful login still proves the credentials.
        assert_eq!(step(&err(1, 1142, "42000", "denied")), ready_authenticated(None));
    }

    #[test]
    fn caching_sha2_fast_auth_and_full_auth() {
        let fast = [packet(2, &[0x01, 0x03]), ok(3)].concat();
        assert_eq!(step(&fast), HandshakeOutcome::Send(packet(0, b"\x03SELECT VERSION()")));
        assert_eq!(step(&fast[..6]), HandshakeOutcome::NeedMore);
        let full = packet(2, &[0x01, 0x04]);
        let HandshakeOutcome::Ready(info) = step(&full) else {
            panic!("full auth is ready, unauthenticated");
        };
        assert!(!info.authenticated);
        assert!(info.note.unwrap().contains("without TLS"));
        // Out-of-sequence packets are refused.
        let bad = [packet(2, &[0x01, 0x03]), packet(5, &[0, 0, 0])].concat();
        assert!(matches!(step(&bad), HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn auth_switch_is_answered_with_the_next_sequence_id() {
        let new_scramble: Vec<u8> = (21..41).collect();
        let switch = packet(
            2,
            &[&[0xfe][..], b"mysql_native_password\0", &new_scramble, &[0]].concat(),
        );
        assert_eq!(
            step(&switch),
            HandshakeOutcome::Send(packet(3, &native_password("secret", &new_scramble)))
        );
        let to_sha2 = packet(
            4,
            &[&[0xfe][..], b"caching_sha2_password\0", &new_scramble, &[0]].concat(),
        );
        assert_eq!(
            step(&to_sha2),
            HandshakeOutcome::Send(packet(5, &caching_sha2_password("secret", &new_scramble)))
        );
        let unknown = packet(2, &[&[0xfe][..], b"auth_gssapi_client\0", &new_scramble].concat());
        assert!(matches!(step(&unknown), HandshakeOutcome::Failed(m) if m.contains("auth_gssapi_client")));
        assert!(matches!(step(&packet(2, &[0xfe])), HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn errors_fail_with_the_server_message_or_wait() {
        let denied = err(
            2,
            1045,
            "28000",
            "Access denied for user 'root'@'172.17.0.1' (using password: YES)",
        );
        assert_eq!(
            step(&denied),
            HandshakeOutcome::Failed(
                "ERROR 1045 (28000): Access denied for user 'root'@'172.17.0.1' (using password: YES)".into()
            )
        );
        let no_db = err(2, 1049, "42000", "Unknown database 'app'");
        assert!(matches!(step(&no_db), HandshakeOutcome::Failed(m) if m.starts_with("ERROR 1049 (42000)")));
        // Before the greeting, without SQLSTATE.
        assert_eq!(
            step(&err(0, 1040, "", "Too many connections")),
            HandshakeOutcome::NotYet("ERROR 1040: Too many connections".into())
        );
        assert!(matches!(
            step(&err(0, 1053, "08S01", "Server shutdown in progress")),
            HandshakeOutcome::NotYet(_)
        ));
        assert!(matches!(
            step(&err(2, 1040, "08004", "Too many connections")),
            HandshakeOutcome::NotYet(_)
        ));
        assert!(matches!(step(&err(0, 1129, "", "blocked")), HandshakeOutcome::Failed(m) if m.contains("flush-hosts")));
        assert!(
            matches!(step(&err(0, 1130, "", "Host 'x' is not allowed")), HandshakeOutcome::Failed(m) if m.contains("MYSQL_ROOT_HOST"))
        );
        assert_eq!(step(&denied[..10]), HandshakeOutcome::NeedMore);
    }

    #[test]
    fn partial_and_garbage() {
        let g = greeting(NATIVE_PASSWORD);
        for cut in [0, 2, 4, 5, 40, g.len() - 1] {
            assert_eq!(step(&g[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
        assert!(
            matches!(step(b"HTTP/1.1 400 Bad Request\r\n"), HandshakeOutcome::Failed(m) if m.starts_with("not a MySQL"))
        );
        assert!(matches!(step(&[0, 0, 0, 0]), HandshakeOutcome::Failed(_)));
        assert!(matches!(
            step(&packet(0, &[0x09, b'4', b'.', b'1', 0])),
            HandshakeOutcome::Failed(_)
        ));
        // A v10 greeting cut short inside its declared length: not a usable greeting.
        assert!(matches!(step(&packet(0, b"\x0a8.\0")), HandshakeOutcome::Failed(_)));
        assert!(matches!(step(&packet(2, &[0x42, 1, 2])), HandshakeOutcome::Failed(_)));
    }
}
