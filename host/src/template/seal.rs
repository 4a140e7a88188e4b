//! The password a snapshot's data accepts, sealed in the image's label.
//!
//! A clone or reset needs the source's password (some engines log in with it to change
//! it), so a snapshot keeps it; in plain text it would travel with the image wherever it
//! goes (`docker save`, a registry push). It is sealed (ChaCha20-Poly1305) with a key of
//! this user's, `<data dir>/secret.key` (0600, made on first use): the label is useless
//! without that file. Templates keep their password in plain text: it is random, belongs
//! to no instance and is replaced in every instance made from them.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "sealed-v1:";
/// Binds a sealed value to its use: a value sealed for another label does not open here.
const CONTEXT: &[u8] = b"io.dbarena.data.password";

fn key_path() -> anyhow::Result<PathBuf> {
    Ok(crate::paths::data_dir()
        .context("no data directory for the snapshot key (set DBARENA_DATA_DIR)")?
        .join("secret.key"))
}

/// The key at `path`, made when missing (atomically: a concurrent first use keeps one).
fn key_at(path: &Path, create: bool) -> anyhow::Result<Option<[u8; 32]>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is not a dbarena key (32 bytes)", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    bail!(
                        "{} is readable by others (mode {:o}); run `chmod 600 {}`",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    );
                }
            }
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let dir = path.parent().context("key path has no directory")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            let key: [u8; 32] = rand::random();
            tmp.write_all(&key)?;
            tmp.as_file().sync_all()?;
            // tempfile makes the file 0600. A link never replaces: a concurrent first use
            // that linked first wins, and its key is read back.
            match std::fs::hard_link(tmp.path(), path) {
                Ok(()) => Ok(Some(key)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => key_at(path, false),
                Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn seal_with(key: &[u8; 32], secret: &str) -> String {
    let nonce: [u8; 12] = rand::random();
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: CONTEXT,
            },
        )
        .expect("sealing into memory cannot fail");
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
    )
}

fn open_with(key: &[u8; 32], value: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(value.strip_prefix(PREFIX)?)
        .ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(12);
    let plain = ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: CONTEXT,
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

/// `secret` sealed with this user's key (made on first use).
pub fn seal(secret: &str) -> anyhow::Result<String> {
    let path = key_path()?;
    let key = key_at(&path, true)?.expect("made when missing");
    Ok(seal_with(&key, secret))
}

/// A label value as its secret: opened when sealed, as it is otherwise (snapshots taken
/// before sealing, templates).
pub fn open(value: &str) -> anyhow::Result<String> {
    if !value.starts_with(PREFIX) {
        return Ok(value.to_string());
    }
    let path = key_path()?;
    let not_ours = || {
        anyhow::anyhow!(
            "its password is sealed with another key than {} (taken by another user or machine)",
            path.display()
        )
    };
    let key = key_at(&path, false)?.ok_or_else(not_ours)?;
    open_with(&key, value).ok_or_else(not_ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_with_its_key_only_and_shows_nothing_of_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/secret.key");
        let key = key_at(&path, true).unwrap().unwrap();
        assert_eq!(key_at(&path, true).unwrap(), Some(key), "made once, then read");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let secret = "p@ss:w0rd'\"`x`";
        let sealed = seal_with(&key, secret);
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("p@ss") && !sealed.contains("w0rd"), "{sealed}");
        assert_ne!(sealed, seal_with(&key, secret), "a fresh nonce each time");
        assert_eq!(open_with(&key, &sealed).as_deref(), Some(secret));
        let other: [u8; 32] = rand::random();
        assert_eq!(open_with(&other, &sealed), None);
        // Tampered or truncated values do not open.
        let mut tampered = sealed.clone();
        tampered.pop();
        assert_eq!(open_with(&key, &tampered), None);
        assert_eq!(open_with(&key, PREFIX), None);
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, [7u8; 32]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = key_at(&path, false).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(key_at(&path, false).is_err());
    }

    #[test]
    fn plain_values_pass_through() {
        assert_eq!(open("plain-password").unwrap(), "plain-password");
    }
}
