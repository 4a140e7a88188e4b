//! The plugin runtime: loads engine plugins (WASM components) into a sandbox and calls them.

pub mod bindings;
mod cache;
pub mod conformance;
mod error;
pub mod host_process;
pub mod lockfile;
mod registry;
mod runtime;
mod sandbox;
pub mod validate;

pub use cache::sha256_hex;
pub use error::PluginFailure;
pub use registry::{Entry, PluginRegistry};
pub use runtime::{Plugin, PluginRuntime, PluginSource};
pub use sandbox::{EPOCH_TICK, EPOCH_TICKS_PER_CALL, FUEL_PER_CALL, HANDSHAKE_FUEL_PER_CALL, MEMORY_LIMIT_BYTES};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}
pub use builtin::BUILTIN_PLUGINS;

/// Writes `bytes` to `path` (in `dir`) through a temporary file and a rename, so readers see
/// the old or the new content, never a mix.
pub fn write_atomically(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)?;
    Ok(())
}
