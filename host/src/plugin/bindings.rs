//! Host-side bindings of every supported version of the `dbarena:engine` world
//! (`wit/v*/engine.wit`). The newest version owns the data types; older versions reuse them
//! (their records are identical, see wit/README.md), so the rest of the host works with one
//! set of types whichever version a plugin was built for.

/// Engine API 0.2.0: adds `settings`.
pub mod latest {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "engine",
        additional_derives: [serde::Serialize, PartialEq],
    });
}

/// Engine API 0.1.0: the first contract.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "engine",
        with: {
            "dbarena:engine/types@0.1.0": super::latest::dbarena::engine::types,
        },
    });
}

pub use latest::dbarena::engine::types::*;

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];

/// The version new plugins are built against (the SDK's).
pub const API_VERSION: &str = "0.2.0";
