//! On-disk cache of compiled plugin components.
//!
//! Compiling a component takes ~100 ms; loading the precompiled artifact takes well under a
//! millisecond. But a compiled artifact is native code that wasmtime maps executable without
//! re-verifying it, so the cache is treated like `~/.ssh`: whoever can write it can run code
//! as the user. Hence:
//!
//! - the directory is created 0700 and refused (cache bypassed, one warning, plugins compiled
//!   in memory) unless it, and every parent dbarena created for it, is a real directory
//!   owned by the user and not group/world-writable;
//! - entries are opened with `O_NOFOLLOW | O_NONBLOCK` (no symlinks; a FIFO cannot block),
//!   checked with `fstat` on the open descriptor (a regular file of the user's, not
//!   group/world-writable, below a size cap) and read once into memory, then deserialised
//!   from those bytes (nothing is re-opened by path after the check);
//! - each entry ends with an HMAC-SHA256 over the plugin's sha256, the engine fingerprint
//!   and the artifact, keyed by a per-user random key (`cache.key`, 0600, in the directory).
//!   A mismatch (tampering, an artifact of another plugin renamed, another key) discards the
//!   entry and recompiles: an unauthenticated artifact is never deserialised.
//!
//! Entries are written to a temporary file then renamed, so a reader never sees a partial
//! file.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

/// Name of the MAC key file inside the cache directory.
pub const KEY_FILE: &str = "cache.key";
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;
/// Largest entry read; compiled plugins are a few MB.
const MAX_ENTRY_BYTES: u64 = 256 << 20;
/// Separates this MAC's inputs from any other use of the key.
const MAC_DOMAIN: &[u8] = b"dbarena component cache v1\0";

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    /// The MAC key once the directory passed its checks; `None`: the cache is bypassed.
    trusted: OnceLock<Option<[u8; KEY_LEN]>>,
}

impl ComponentCache {
    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> Self {
        Self {
            dir,
            engine_key: engine_key(engine),
            trusted: OnceLock::new(),
        }
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The MAC key, preparing and checking the directory on first use (once per process, so
    /// a refused directory gives one warning).
    fn key(&self) -> Option<&[u8; KEY_LEN]> {
        self.trusted
            .get_or_init(|| match prepare(&self.dir) {
                Ok(key) => Some(key),
                Err(e) => {
                    crate::output::warn(format_args!(
                        "not using the plugin cache {}: {e:#}; compiling plugins in memory",
                        self.dir.display()
                    ));
                    None
                }
            })
            .as_ref()
    }

    /// Loads the compiled form of `wasm` from the cache, compiling and storing it on a miss.
    /// Cache problems only cost speed: they are logged, never fatal, and never make dbarena
    /// run an artifact it did not authenticate.
    pub fn load(&self, engine: &wasmtime::Engine, wasm: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let Some(key) = self.key() else {
            return Component::new(engine, wasm);
        };
        let path = self.entry(sha256);
        match read_entry(&path) {
            Ok(Some(bytes)) => match self.authenticated(key, sha256, &bytes) {
                // SAFETY: the bytes were read once from a regular file of ours and carry a
                // valid MAC under the user's key for exactly this plugin hash and engine
                // fingerprint, so they are what `store` below wrote from
                // `precompile_component` of these plugin bytes; wasmtime still checks its
                // header and configuration.
                Some(artifact) => match unsafe { Component::deserialize(engine, artifact) } {
                    Ok(component) => return Ok(component),
                    Err(e) => tracing::info!("ignoring unusable cache entry {}: {e:#}", path.display()),
                },
                None => tracing::info!(
                    "discarding cache entry {}: it fails its authentication check",
                    path.display()
                ),
            },
            Ok(None) => {}
            Err(e) => tracing::info!("discarding cache entry {}: {e:#}", path.display()),
        }
        let compiled = engine.precompile_component(wasm)?;
        let mut stored = compiled.clone();
        stored.extend_from_slice(&mac(key, sha256, &self.engine_key, &compiled));
        if let Err(e) = super::write_atomically(&self.dir, &path, &stored) {
            tracing::warn!("cannot write plugin cache {}: {e:#}", path.display());
        }
        // SAFETY: `compiled` was produced by `precompile_component` on this very engine.
        unsafe { Component::deserialize(engine, &compiled) }
    }

    /// The artifact part of an entry whose trailer is a valid MAC for `sha256` and this
    /// engine; `None` otherwise.
    fn authenticated<'a>(&self, key: &[u8; KEY_LEN], sha256: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
        let split = entry.len().checked_sub(MAC_LEN)?;
        let (artifact, tag) = entry.split_at(split);
        mac_state(key, sha256, &self.engine_key, artifact)
            .verify_slice(tag)
            .ok()
            .map(|()| artifact)
    }
}

fn mac_state(key: &[u8; KEY_LEN], sha256: &str, engine_key: &str, artifact: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    // Both hashes are fixed-length hex, so the concatenation is unambiguous.
    mac.update(MAC_DOMAIN);
    mac.update(sha256.as_bytes());
    mac.update(engine_key.as_bytes());
    mac.update(artifact);
    mac
}

fn mac(key: &[u8; KEY_LEN], sha256: &str, engine_key: &str, artifact: &[u8]) -> [u8; MAC_LEN] {
    mac_state(key, sha256, engine_key, artifact)
        .finalize()
        .into_bytes()
        .into()
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates the cache directory (0700, with any missing parents, also 0700), checks it and
/// the parents it created, and returns the MAC key (made on first use).
fn prepare(dir: &Path) -> anyhow::Result<[u8; KEY_LEN]> {
    let mut missing = Vec::new();
    let mut at = dir;
    while std::fs::symlink_metadata(at).is_err() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    for created in missing.iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(created) {
            Ok(()) => {}
            // Made by someone else meanwhile: the checks below decide whether to trust it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot create {}", created.display()))),
        }
    }
    // The parents dbarena created must be what it created: a symlink there would redirect
    // the cache into someone else's directory.
    for created in missing.iter().filter(|p| p.as_path() != dir) {
        check_private_dir(created, &std::fs::symlink_metadata(created)?)?;
    }
    check_private_dir(dir, &std::fs::metadata(dir)?)?;
    read_or_create_key(dir)
}

/// A directory the user owns that nobody else may write to (also the plugin directory's
/// check, [`super::registry`]).
pub(super) fn check_private_dir(path: &Path, meta: &std::fs::Metadata) -> anyhow::Result<()> {
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", path.display());
    }
    check_owner_and_mode(path, meta, 0o022)
}

/// Owned by the user and with none of the `forbidden` permission bits.
pub(super) fn check_owner_and_mode(path: &Path, meta: &std::fs::Metadata, forbidden: u32) -> anyhow::Result<()> {
    let uid = current_uid();
    if meta.uid() != uid {
        anyhow::bail!(
            "{} is owned by uid {}, not by you (uid {uid})",
            path.display(),
            meta.uid()
        );
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & forbidden != 0 {
        anyhow::bail!("{} has mode {mode:o}: others may write or read it", path.display());
    }
    Ok(())
}

/// Opens a file without following a symlink and without blocking on a FIFO, and checks the
/// open descriptor: a regular file of the user's, not writable by others, at most `max`
/// bytes. Returns the file and its size.
fn open_private_file(path: &Path, forbidden: u32, max: u64) -> std::io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    check_owner_and_mode(path, &meta, forbidden).map_err(std::io::Error::other)?;
    if meta.len() > max {
        return Err(std::io::Error::other(format!("{} bytes (limit {max})", meta.len())));
    }
    Ok((file, meta.len()))
}

/// An entry's bytes, read once through the checked descriptor; `None` when there is none.
fn read_entry(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let (file, len) = match open_private_file(path, 0o022, MAX_ENTRY_BYTES) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// The per-user MAC key: read when present (it must be a 32-byte regular file of the user's
/// readable by nobody else), else created with fresh randomness and published with a
/// no-clobber link, so concurrent first runs agree on one key and none reads a partial one.
fn read_or_create_key(dir: &Path) -> anyhow::Result<[u8; KEY_LEN]> {
    let path = dir.join(KEY_FILE);
    match read_key(&path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("refusing key file {}", path.display()))),
    }
    let key: [u8; KEY_LEN] = rand::random();
    let mut tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, &key)?;
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(key),
        // Another process won the race: use its key.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path).map_err(|e| anyhow::Error::new(e).context(format!("refusing key file {}", path.display())))
        }
        Err(e) => Err(anyhow::Error::new(e.error).context(format!("cannot create {}", path.display()))),
    }
}

fn read_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let (mut file, len) = open_private_file(path, 0o077, KEY_LEN as u64)?;
    let mut key = [0u8; KEY_LEN];
    if len != KEY_LEN as u64 {
        return Err(std::io::Error::other(format!("it is {len} bytes, not {KEY_LEN}")));
    }
    file.read_exact(&mut key)?;
    Ok(key)
}

/// The part of an entry's name that ties it to this engine configuration and host version:
/// the first 16 bytes of sha256 over wasmtime's compatibility hash and the crate version.
/// Unlike `DefaultHasher`, whose algorithm may change between Rust releases, sha256 keeps the
/// name stable for as long as its inputs are.
fn engine_key(engine: &wasmtime::Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..16])
}

/// Feeds a `Hash` implementation's bytes into sha256.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the sha256 digest is used")
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_key_is_stable_and_follows_the_configuration() {
        let engine = wasmtime::Engine::default();
        let key = engine_key(&engine);
        assert_eq!(key.len(), 32);
        assert_eq!(key, engine_key(&wasmtime::Engine::default()));
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        let fuel = wasmtime::Engine::new(&config).unwrap();
        assert_ne!(key, engine_key(&fuel));
    }

    #[test]
    fn missing_parents_are_created_private_and_checked() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/components");
        let key = prepare(&dir).unwrap();
        for p in [root.path().join("a"), root.path().join("a/b"), dir.clone()] {
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o700,
                "{p:?}"
            );
        }
        let key_meta = std::fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!(key_meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(prepare(&dir).unwrap(), key, "the key is kept");
    }

    #[test]
    fn a_group_writable_directory_or_a_readable_key_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("components");
        prepare(&dir).unwrap();
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = prepare(&dir).unwrap_err();
        assert!(format!("{err:#}").contains("refusing key file"), "{err:#}");
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = prepare(&dir).unwrap_err();
        assert!(format!("{err:#}").contains("mode 770"), "{err:#}");
    }

    #[test]
    fn the_mac_binds_plugin_hash_engine_and_bytes() {
        let key = [7u8; KEY_LEN];
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let e = "e".repeat(32);
        let tag = mac(&key, &a, &e, b"artifact");
        assert_ne!(tag, mac(&key, &b, &e, b"artifact"));
        assert_ne!(tag, mac(&key, &a, &"f".repeat(32), b"artifact"));
        assert_ne!(tag, mac(&key, &a, &e, b"artifacT"));
        assert_ne!(tag, mac(&[8u8; KEY_LEN], &a, &e, b"artifact"));
    }
}
