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
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
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

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
