//! The plugin runtime: loads engine plugins (WASM components) into a sandbox and calls them.

pub mod bindings;
mod cache;
pub mod conformance;
mod error;
mod registry;
mod runtime;
mod sandbox;
pub mod validate;

pub use cache::sha256_hex;
pub use error::PluginFailure;
pub use registry::{Entry, PluginRegistry};
pub use runtime::{Plugin, PluginRuntime, PluginSource};
pub use sandbox::{EPOCH_TICK, EPOCH_TICKS_PER_CALL, FUEL_PER_CALL, MEMORY_LIMIT_BYTES};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}
pub use builtin::BUILTIN_PLUGINS;
