//! SDK for dbarena database-engine plugins.
//!
//! A plugin implements [`Engine`] and registers it with [`register!`]; build it with
//! `cargo build --release --target wasm32-wasip2` to get a WASM component the dbarena host
//! loads from its plugin directory. The helpers cover what most engines need: version
//! lookup ([`find_version`], [`image`]), environment building ([`Env`],
//! [`reject_managed_env`]), URLs ([`percent_encode`], [`url_host`]), byte readers and
//! writers for protocol handshakes ([`bytes`]) and ready-made authenticated handshakes
//! ([`protocols`]). [`testing`] has helpers for plugin unit tests.
//!
//! Plugins are pure logic: no files, network, clock or randomness. The host rejects a
//! plugin that imports any of them, so avoid `std::collections::HashMap` with its random
//! seed (use `BTreeMap`), `std::fs`, `std::time` and `std::net`. Randomness a handshake
//! needs (a SCRAM nonce) comes from the host in [`HandshakeSecrets`](types::HandshakeSecrets).

pub mod bytes;
mod env;
pub mod protocols;
/// Helpers for plugin unit tests: the [`Options`](types::Options) and
/// [`HandshakeContext`](types::HandshakeContext) the host would pass, so a test states only
/// what it changes (`Options { version: "8".into(), ..options("pw") }`).
pub mod testing;
mod url;
mod versions;

pub use env::{Env, reject_managed_env};
pub use url::{percent_encode, url_host};
pub use versions::{find_version, image, version_info};

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
    pub use crate::bindings::dbarena::engine::types::{
        ClientCommands, CompanionSpec, ConnectionForm, ConnectionInfo, ContainerSpec, Credentials, DataPlan, Endpoint,
        EngineInfo, ExecProbe, ExecStep, HandshakeContext, HandshakeOutcome, HandshakeProbe, HandshakeSecrets,
        InitSupport, LogProbe, Mode, Options, PluginError, PoolerRequest, Probe, Readiness, ReadyInfo, Setting, Tenant,
        TenantAction, TmpfsMount, VersionInfo,
    };
}

/// Everything a plugin usually needs: `use dbarena_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::types::{
        ClientCommands, CompanionSpec, ConnectionForm, ConnectionInfo, ContainerSpec, Credentials, DataPlan, Endpoint,
        EngineInfo, ExecProbe, ExecStep, HandshakeContext, HandshakeOutcome, HandshakeProbe, HandshakeSecrets,
        InitSupport, LogProbe, Mode, Options, PluginError, PoolerRequest, Probe, Readiness, ReadyInfo, Setting, Tenant,
        TenantAction, TmpfsMount, VersionInfo,
    };
    pub use crate::{
        Engine, Env, field_error, find_version, image, percent_encode, ready_authenticated, ready_unauthenticated,
        register, reject_managed_env, url_host, version_info,
    };
}

use types::{
    ClientCommands, CompanionSpec, ConnectionForm, ConnectionInfo, ContainerSpec, Credentials, DataPlan, Endpoint,
    EngineInfo, ExecStep, HandshakeContext, HandshakeOutcome, HandshakeSecrets, InitSupport, Options, PluginError,
    PoolerRequest, ReadyInfo, Setting, Tenant, TenantAction,
};

/// A database engine. Every method must be deterministic and fast: the host runs each
/// call under a fuel and time budget and validates every value returned.
///
/// Everything from [`connection_forms`](Engine::connection_forms) on has a default meaning
/// "not supported", so a plugin implements what its engine can do.
pub trait Engine {
    /// Identity, versions and defaults; called often, so keep it cheap.
    fn info() -> EngineInfo;

    /// Validate `opts` and produce the container to run. Name the offending option in
    /// [`PluginError::field`] so the user knows what to fix.
    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError>;

    /// Bytes to send right after the host connects; empty (the default) when the server
    /// speaks first.
    fn handshake_start(_ctx: HandshakeContext, _secrets: HandshakeSecrets) -> Vec<u8> {
        Vec::new()
    }

    /// Judge the bytes received since the last send. The plugin keeps no state between
    /// steps: everything must follow from `ctx`, `secrets` (the same for every step of one
    /// connection) and `received`. A plugin that can authenticate with `ctx.credentials`
    /// must, so that `ready` means the printed URL works.
    fn handshake_step(ctx: HandshakeContext, secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome;

    /// Connection info for a client on the host.
    fn connection(at: Endpoint) -> ConnectionInfo;

    /// Engine-specific `--env` settings this plugin understands, shown by
    /// `dbarena engines <id>`; none by default.
    fn settings() -> Vec<Setting> {
        Vec::new()
    }

    /// Other forms of the connection (JDBC URL, ADO.NET string...); none by default.
    fn connection_forms(_at: Endpoint) -> Vec<ConnectionForm> {
        Vec::new()
    }

    /// Interactive and one-shot clients. By default: the container shell of
    /// [`connection`](Engine::connection), no host client and no query runner.
    fn client(at: Endpoint) -> ClientCommands {
        ClientCommands {
            host_shell: None,
            container_shell: ExecStep {
                description: "interactive client".into(),
                command: Self::connection(at).shell,
                env: Vec::new(),
                stdin: None,
            },
            query: None,
        }
    }

    /// Init-script support; none by default.
    fn init_support() -> Option<InitSupport> {
        None
    }

    /// How the engine's data is captured for warm starts and snapshots; none by default.
    fn data_plan(_opts: Options) -> Option<DataPlan> {
        None
    }

    /// Steps that switch a server started from template data to `wanted`; not supported by
    /// default.
    fn apply_credentials(_template: Credentials, _wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        Err(unsupported(&Self::info(), "applying credentials to template data"))
    }

    /// Steps for a tenant on a shared server; not supported by default.
    fn tenant_steps(
        _server: Credentials,
        _tenant: Tenant,
        _action: TenantAction,
    ) -> Result<Vec<ExecStep>, PluginError> {
        Err(unsupported(&Self::info(), "tenants on a shared server"))
    }

    /// Connection info of a tenant; by default the direct connection.
    fn tenant_connection(_pooled: Option<Endpoint>, direct: Endpoint) -> ConnectionInfo {
        Self::connection(direct)
    }

    /// The pooler to run in front of a shared server; none by default.
    fn pooler(_req: PoolerRequest) -> Result<Option<CompanionSpec>, PluginError> {
        Ok(None)
    }
}

/// Builds a [`PluginError`] that names the option at fault.
pub fn field_error(field: &str, message: impl Into<String>) -> PluginError {
    PluginError {
        field: Some(field.to_string()),
        message: message.into(),
    }
}

/// The error of a capability the engine does not have: "<what> is not supported by <engine>".
pub fn unsupported(info: &EngineInfo, what: &str) -> PluginError {
    PluginError {
        field: None,
        message: format!("{what} is not supported by {}", info.display_name),
    }
}

/// `ready`: the server accepted the instance's credentials.
pub fn ready_authenticated(server_version: Option<String>) -> HandshakeOutcome {
    HandshakeOutcome::Ready(ReadyInfo {
        server_version,
        authenticated: true,
        note: None,
    })
}

/// `ready`, but the credentials could not be checked; `note` says why.
pub fn ready_unauthenticated(server_version: Option<String>, note: impl Into<String>) -> HandshakeOutcome {
    HandshakeOutcome::Ready(ReadyInfo {
        server_version,
        authenticated: false,
        note: Some(note.into()),
    })
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
            fn handshake_start(
                ctx: $crate::types::HandshakeContext,
                secrets: $crate::types::HandshakeSecrets,
            ) -> Vec<u8> {
                <$engine as $crate::Engine>::handshake_start(ctx, secrets)
            }
            fn handshake_step(
                ctx: $crate::types::HandshakeContext,
                secrets: $crate::types::HandshakeSecrets,
                received: Vec<u8>,
            ) -> $crate::types::HandshakeOutcome {
                <$engine as $crate::Engine>::handshake_step(ctx, secrets, received)
            }
            fn connection(at: $crate::types::Endpoint) -> $crate::types::ConnectionInfo {
                <$engine as $crate::Engine>::connection(at)
            }
            fn settings() -> Vec<$crate::types::Setting> {
                <$engine as $crate::Engine>::settings()
            }
            fn connection_forms(at: $crate::types::Endpoint) -> Vec<$crate::types::ConnectionForm> {
                <$engine as $crate::Engine>::connection_forms(at)
            }
            fn client(at: $crate::types::Endpoint) -> $crate::types::ClientCommands {
                <$engine as $crate::Engine>::client(at)
            }
            fn init_support() -> Option<$crate::types::InitSupport> {
                <$engine as $crate::Engine>::init_support()
            }
            fn data_plan(opts: $crate::types::Options) -> Option<$crate::types::DataPlan> {
                <$engine as $crate::Engine>::data_plan(opts)
            }
            fn apply_credentials(
                template: $crate::types::Credentials,
                wanted: $crate::types::Credentials,
            ) -> Result<Vec<$crate::types::ExecStep>, $crate::types::PluginError> {
                <$engine as $crate::Engine>::apply_credentials(template, wanted)
            }
            fn tenant_steps(
                server: $crate::types::Credentials,
                t: $crate::types::Tenant,
                action: $crate::types::TenantAction,
            ) -> Result<Vec<$crate::types::ExecStep>, $crate::types::PluginError> {
                <$engine as $crate::Engine>::tenant_steps(server, t, action)
            }
            fn tenant_connection(
                pooled: Option<$crate::types::Endpoint>,
                direct: $crate::types::Endpoint,
            ) -> $crate::types::ConnectionInfo {
                <$engine as $crate::Engine>::tenant_connection(pooled, direct)
            }
            fn pooler(
                req: $crate::types::PoolerRequest,
            ) -> Result<Option<$crate::types::CompanionSpec>, $crate::types::PluginError> {
                <$engine as $crate::Engine>::pooler(req)
            }
        }

        // Component exports only exist on wasm; native builds (unit tests) skip them.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_engine!(__DbarenaExport with_types_in $crate::bindings);
    };
}
