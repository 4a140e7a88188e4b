//! SCRAM-SHA-256 client messages (RFC 5802, RFC 7677), computed statelessly: every message
//! follows from the credentials, the client nonce and the server's messages, so a plugin can
//! rebuild the conversation in each `handshake_step`.
//!
//! No channel binding (`n,,`): the host's connection is plain TCP. Passwords are used as
//! given, without SASLprep: PostgreSQL falls back to the raw bytes when SASLprep does not
//! apply, and the passwords dbarena generates are ASCII.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Iteration counts above this are refused rather than computed. In the sandbox an iteration
/// costs ~11.7k fuel (4096, PostgreSQL's default, ~48 M); the host's handshake budget covers
/// this cap with room to spare.
pub const MAX_ITERATIONS: u32 = 100_000;

/// The client nonce for the host's per-connection secret bytes: their base64 (printable and
/// comma-free, as RFC 5802 requires). `None` when the host supplied too few bytes to be a
/// nonce.
pub fn client_nonce(secret: &[u8]) -> Option<String> {
    (secret.len() >= 16).then(|| BASE64.encode(secret))
}

/// `n=<user>,r=<nonce>`: the client-first message without its GS2 header. PostgreSQL takes
/// the user from the startup message and expects an empty name here.
pub fn client_first_bare(user: &str, nonce: &str) -> String {
    format!("n={},r={nonce}", escape_name(user))
}

/// The whole client-first message: GS2 header `n,,` (no channel binding) and the bare part.
pub fn client_first(user: &str, nonce: &str) -> String {
    format!("n,,{}", client_first_bare(user, nonce))
}

/// The server-first message's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    pub nonce: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// Parses `r=<nonce>,s=<salt>,i=<iterations>` and checks it against our nonce and
/// [`MAX_ITERATIONS`]. Errors are phrased for the user.
pub fn parse_server_first(message: &str, client_nonce: &str) -> Result<ServerFirst, String> {
    let (mut nonce, mut salt, mut iterations) = (None, None, None);
    for attr in message.split(',') {
        match attr.split_once('=') {
            Some(("r", v)) => nonce = Some(v),
            Some(("s", v)) => salt = Some(v),
            Some(("i", v)) => iterations = Some(v),
            Some(("m", _)) => return Err("SCRAM server-first asks for an unsupported extension".into()),
            _ => {}
        }
    }
    let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
        return Err(format!("malformed SCRAM server-first message {message:?}"));
    };
    if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() {
        return Err("the SCRAM server nonce does not extend the client nonce".into());
    }
    let salt = BASE64
        .decode(salt)
        .map_err(|_| format!("the SCRAM salt {salt:?} is not base64"))?;
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| format!("the SCRAM iteration count {iterations:?} is not a number"))?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(format!(
            "the server asks for {iterations} SCRAM iterations; dbarena accepts 1 to {MAX_ITERATIONS}"
        ));
    }
    Ok(ServerFirst {
        nonce: nonce.to_string(),
        salt,
        iterations,
    })
}

/// The client-final message (`c=biws,r=<nonce>,p=<proof>`) answering `server_first`, for the
/// conversation that began with `client_first_bare(user, client_nonce)`.
pub fn client_final(user: &str, password: &str, client_nonce: &str, server_first: &str) -> Result<String, String> {
    let server = parse_server_first(server_first, client_nonce)?;
    let without_proof = format!("c=biws,r={}", server.nonce);
    let auth_message = format!(
        "{},{server_first},{without_proof}",
        client_first_bare(user, client_nonce)
    );
    let salted = pbkdf2_sha256(password.as_bytes(), &server.salt, server.iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(signature).map(|(k, s)| k ^ s).collect();
    Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block, all SCRAM needs).
///
/// Written on the raw compression function because it runs under the sandbox's fuel budget:
/// the HMAC pads are hashed once, and every iteration is then exactly two compressions of
/// a prepared block, about half the fuel of the generic `hmac` + `pbkdf2` composition.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let digest;
    let key = if password.len() > 64 {
        digest = Sha256::digest(password);
        &digest[..]
    } else {
        password
    };
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let (mut inner, mut outer) = (SHA256_H0, SHA256_H0);
    sha2::compress256(&mut inner, &[ipad.into()]);
    sha2::compress256(&mut outer, &[opad.into()]);

    // U1 = HMAC(password, salt || INT(1)).
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
    let mut out = u;
    // Ui = HMAC(password, Ui-1): a 32-byte message after the 64-byte pad, so one padded
    // block: message, 0x80, zeros, and the 96-byte (768-bit) total length.
    let mut block = [0u8; 64];
    block[32] = 0x80;
    block[62..].copy_from_slice(&768u16.to_be_bytes());
    for _ in 1..iterations {
        block[..32].copy_from_slice(&u);
        let mut state = inner;
        sha2::compress256(&mut state, &[block.into()]);
        write_state(&state, &mut block[..32]);
        let mut state = outer;
        sha2::compress256(&mut state, &[block.into()]);
        write_state(&state, &mut u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

fn write_state(state: &[u32; 8], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `=` and `,` in a SCRAM name are written `=3D` and `=2C`.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn rfc_7677_test_vector() {
        assert_eq!(client_first("user", NONCE), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            client_final("user", "pencil", NONCE, SERVER_FIRST).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        // A different password gives a different proof.
        assert!(
            !client_final("user", "pencil2", NONCE, SERVER_FIRST)
                .unwrap()
                .ends_with("AndVQ=")
        );
    }

    #[test]
    fn pbkdf2_known_answers() {
        // Computed with Python's hashlib.pbkdf2_hmac("sha256", ...).
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(pbkdf2_sha256(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        // A password longer than the HMAC block is hashed first.
        assert_eq!(
            hex(pbkdf2_sha256(&[b'p'; 100], b"NaCl", 2)),
            "877903719dbe2750c133849e68d5432654094b03ce832b55f537bf6887bdb3cf"
        );
    }

    #[test]
    fn nonce_is_the_base64_of_the_host_bytes() {
        let nonce = client_nonce(&[0xff; 32]).unwrap();
        assert_eq!(nonce, "//////////////////////////////////////////8=");
        assert!(!nonce.contains(','));
        assert_eq!(client_nonce(&[1; 4]), None);
        assert_eq!(client_first_bare("a=b,c", "x"), "n=a=3Db=2Cc,r=x");
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        let with = |i: &str| format!("r={NONCE}abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={i}");
        assert!(
            parse_server_first(&with("0"), NONCE)
                .unwrap_err()
                .contains("0 SCRAM iterations")
        );
        assert!(parse_server_first(&with("100001"), NONCE).is_err());
        assert!(parse_server_first(&with("99999999999"), NONCE).is_err());
        assert!(parse_server_first(&with("-1"), NONCE).is_err());
        assert_eq!(parse_server_first(&with("100000"), NONCE).unwrap().iterations, 100_000);
        // The server must extend our nonce, not replace or merely echo it.
        assert!(parse_server_first("r=other,s=AAAA,i=4096", NONCE).is_err());
        assert!(parse_server_first(&format!("r={NONCE},s=AAAA,i=4096"), NONCE).is_err());
        assert!(parse_server_first(&format!("r={NONCE}x,s=!!,i=4096"), NONCE).is_err());
        assert!(parse_server_first("garbage", NONCE).is_err());
        assert!(parse_server_first(&format!("m=ext,r={NONCE}x,s=AAAA,i=1"), NONCE).is_err());
    }
}
