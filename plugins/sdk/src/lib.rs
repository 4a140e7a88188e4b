//! SDK for dbarena database-engine plugins.
//!
//! A plugin implements [`Engine`] and registers it with [`register!`]; build it with
//! `cargo build --release --target wasm32-wasip2` to get a WASM component the dbarena host
//! loads from its plugin directory. The helpers cover what most engines need: version
//! lookup ([`find_version`]), environment building ([`Env`]), percent-encoding for URLs
//! ([`percent_encode`]) and byte readers and writers for protocol handshakes ([`bytes`]).
//! [`testing`] has helpers for plugin unit tests.
//!
//! Plugins are pure logic: no files, network, clock or randomness. The host rejects a
//! plugin that imports any of them, so avoid `std::collections::HashMap` with its random
//! seed (use `BTreeMap`), `std::fs`, `std::time` and `std::net`.

pub mod bytes;
mod env;
pub mod protocols;
/// Helpers for plugin unit tests: the [`Options`] and [`HandshakeContext`] the host would
/// pass, so a test states only what it changes (`Options { version: "8".into(), ..options("pw") }`).
pub mod testing;
mod url;
mod versions;

pub use env::Env;
pub use url::percent_encode;
pub use versions::{find_version, version_info};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "engine",
        pub_export_macro: true,
        export_macro_name: "__export_engine",
        default_bindings_module: "dbarena_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

/// The contract's data types (generated from `wit/engine.wit`).
pub mod types {
    pub use crate::bindings::dbarena::engine::types::*;
}

/// Everything a plugin usually needs: `use dbarena_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::types::*;
    pub use crate::{Engine, Env, find_version, percent_encode, register, version_info};
}

use types::{
    ConnectionInfo, ContainerSpec, Endpoint, EngineInfo, HandshakeContext, HandshakeVerdict, Options, PluginError,
    Setting,
};

/// A database engine. Every method must be deterministic and fast: the host runs each
/// call under a fuel and time budget and validates every value returned.
pub trait Engine {
    /// Identity, versions and defaults; called often, so keep it cheap.
    fn info() -> EngineInfo;

    /// Validate `opts` and produce the container to run. Name the offending option in
    /// [`PluginError::field`] so the user knows what to fix.
    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError>;

    /// Bytes to send right after the host connects; empty (the default) when the server
    /// speaks first.
    fn handshake_start(_ctx: HandshakeContext) -> Vec<u8> {
        Vec::new()
    }

    /// Judge the bytes received since the last send.
    fn handshake_step(ctx: HandshakeContext, received: Vec<u8>) -> HandshakeVerdict;

    /// Connection info for a client on the host.
    fn connection(at: Endpoint) -> ConnectionInfo;

    /// Engine-specific `--env` settings this plugin understands, shown by
    /// `dbarena engines <id>`; none by default.
    fn settings() -> Vec<Setting> {
        Vec::new()
    }
}

/// Builds a [`PluginError`] that names the option at fault.
pub fn field_error(field: &str, message: impl Into<String>) -> PluginError {
    PluginError {
        field: Some(field.to_string()),
        message: message.into(),
    }
}

/// Exports an [`Engine`] implementation as the plugin's component interface.
///
/// ```text
/// struct Postgres;
/// impl dbarena_plugin_sdk::Engine for Postgres { /* ... */ }
/// dbarena_plugin_sdk::register!(Postgres);
/// ```
#[macro_export]
macro_rules! register {
    ($engine:ty) => {
        #[doc(hidden)]
        pub struct __DbarenaExport;

        impl $crate::bindings::exports::dbarena::engine::plugin::Guest for __DbarenaExport {
            fn info() -> $crate::types::EngineInfo {
                <$engine as $crate::Engine>::info()
            }
            fn container_spec(
                opts: $crate::types::Options,
            ) -> Result<$crate::types::ContainerSpec, $crate::types::PluginError> {
                <$engine as $crate::Engine>::container_spec(opts)
            }
            fn handshake_start(ctx: $crate::types::HandshakeContext) -> Vec<u8> {
                <$engine as $crate::Engine>::handshake_start(ctx)
            }
            fn handshake_step(
                ctx: $crate::types::HandshakeContext,
                received: Vec<u8>,
            ) -> $crate::types::HandshakeVerdict {
                <$engine as $crate::Engine>::handshake_step(ctx, received)
            }
            fn connection(at: $crate::types::Endpoint) -> $crate::types::ConnectionInfo {
                <$engine as $crate::Engine>::connection(at)
            }
            fn settings() -> Vec<$crate::types::Setting> {
                <$engine as $crate::Engine>::settings()
            }
        }

        // Component exports only exist on wasm; native builds (unit tests) skip them.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_engine!(__DbarenaExport with_types_in $crate::bindings);
    };
}
