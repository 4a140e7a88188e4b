//! Host-side bindings of the `dbarena:engine` world (see `wit/engine.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "engine",
    additional_derives: [serde::Serialize, PartialEq],
});

pub use self::Engine as EngineWorld;
pub use self::EnginePre as EngineWorldPre;
pub use dbarena::engine::types::*;

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["0.1.0"];

/// The version the host's own bindings are generated from.
pub const API_VERSION: &str = "0.1.0";
