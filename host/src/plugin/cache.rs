//! On-disk cache of compiled plugin components.
//!
//! Compiling a component takes ~100 ms; loading the precompiled artifact takes well under a
//! millisecond. Entries are keyed by the component's sha256 and the engine's compatibility
//! hash, and written to a temporary file then renamed, so a reader never sees a partial
//! file and a running process never has its mapped file rewritten in place.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> Self {
        Self {
            dir,
            engine_key: engine_key(engine),
        }
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `wasm` from the cache, compiling and storing it on a miss.
    /// Cache I/O failures only cost speed; they are logged, never fatal.
    pub fn load(&self, engine: &wasmtime::Engine, wasm: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let path = self.entry(sha256);
        if path.exists() {
            // SAFETY: the file was written by `store` below from `precompile_component` of
            // the same bytes (the name carries their hash) and an engine with the same
            // compatibility hash; wasmtime still checks its header and configuration.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e:#}", path.display()),
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(e) = store(&self.dir, &path, &compiled) {
            tracing::warn!("cannot write plugin cache {}: {e:#}", path.display());
        }
        // SAFETY: `compiled` was produced by `precompile_component` on this very engine.
        unsafe { Component::deserialize(engine, &compiled) }
    }
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    super::write_atomically(dir, path, bytes)
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
}
