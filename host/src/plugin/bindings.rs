//! Host-side bindings of every supported version of the `dbarena:engine` world
//! (`wit/v*/engine.wit`). The newest version owns the data types; older versions reuse them
//! (their records are identical, see wit/README.md), so the rest of the host works with one
//! set of types whichever version a plugin was built for.
//!
//! Exports are bound `async`: the runtime drives each call to completion on the calling
//! thread (see `runtime.rs`), which lets the WASI stdio a plugin links run without the
//! Tokio runtime that wasmtime-wasi's synchronous bindings would need.

/// Engine API 0.3.0: authenticated handshake (`handshake-secrets`, `handshake-outcome`),
/// connection forms, clients, init scripts, data plans, tenants and the pooler.
pub mod latest {
    wasmtime::component::bindgen!({
        path: "wit/v0.3.0",
        world: "engine",
        exports: { default: async },
        additional_derives: [serde::Serialize, PartialEq],
    });
}

/// Engine API 0.2.0: adds `settings`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "wit/v0.2.0",
        world: "engine",
        exports: { default: async },
        with: {
            "dbarena:engine/types@0.2.0": super::latest::dbarena::engine::types,
        },
    });
}

/// Engine API 0.1.0: the first contract.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/v0.1.0",
        world: "engine",
        exports: { default: async },
        with: {
            "dbarena:engine/types@0.1.0": super::latest::dbarena::engine::types,
        },
    });
}

pub use latest::dbarena::engine::types::*;

/// The WIT package versions this host can load, newest first.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["0.3.0", "0.2.0", "0.1.0"];

/// The version new plugins are built against (the SDK's).
pub const API_VERSION: &str = "0.3.0";

/// Which bindings module serves a plugin, chosen by the semver range its exported
/// `dbarena:engine/plugin@<version>` falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiBinding {
    V0_3,
    V0_2,
    V0_1,
}

impl ApiBinding {
    pub const ALL: [ApiBinding; 3] = [ApiBinding::V0_3, ApiBinding::V0_2, ApiBinding::V0_1];

    /// The versions this module binds. Within 0.x a minor version is a breaking change, so
    /// a module serves one minor; patch releases only fix documentation (wit/README.md).
    pub fn requirement(self) -> &'static str {
        match self {
            ApiBinding::V0_3 => ">=0.3.0, <0.4.0",
            ApiBinding::V0_2 => ">=0.2.0, <0.3.0",
            ApiBinding::V0_1 => ">=0.1.0, <0.2.0",
        }
    }

    /// The module for a plugin exporting `version`; `None` when no supported range holds it.
    pub fn for_version(version: &str) -> Option<Self> {
        let version = semver::Version::parse(version).ok()?;
        Self::ALL.into_iter().find(|b| {
            semver::VersionReq::parse(b.requirement())
                .expect("valid requirement")
                .matches(&version)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_bindings_by_semver_range() {
        assert_eq!(ApiBinding::for_version("0.3.0"), Some(ApiBinding::V0_3));
        assert_eq!(ApiBinding::for_version("0.3.7"), Some(ApiBinding::V0_3));
        assert_eq!(ApiBinding::for_version("0.2.1"), Some(ApiBinding::V0_2));
        assert_eq!(ApiBinding::for_version("0.1.0"), Some(ApiBinding::V0_1));
        // A prefix match would take these; a semver range does not.
        for unsupported in ["0.4.0", "0.30.0", "0.10.0", "1.3.0", "0.3.0-rc.1", "0.3", "x"] {
            assert_eq!(ApiBinding::for_version(unsupported), None, "{unsupported}");
        }
        for v in SUPPORTED_API_VERSIONS {
            assert!(ApiBinding::for_version(v).is_some(), "{v}");
        }
        assert!(SUPPORTED_API_VERSIONS[0] == API_VERSION);
    }
}
