//! Test fixture: a plugin that reads a file, so its component imports `wasi:filesystem`.
//! The host must refuse to load it.

use dbarena_plugin_sdk::prelude::*;

struct FsImporter;

impl Engine for FsImporter {
    fn info() -> EngineInfo {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        EngineInfo {
            id: "fs-importer".into(),
            display_name: "Filesystem importer".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: secret,
            versions: vec![],
            default_version: "1".into(),
            default_port: 1,
            documentation_url: String::new(),
        }
    }

    fn container_spec(_opts: Options) -> Result<ContainerSpec, PluginError> {
        Err(dbarena_plugin_sdk::field_error("version", "never"))
    }

    fn handshake_step(_ctx: HandshakeContext, _secrets: HandshakeSecrets, _received: Vec<u8>) -> HandshakeOutcome {
        HandshakeOutcome::Failed("never".into())
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        ConnectionInfo {
            url: at.host,
            env: vec![],
            shell: vec![],
        }
    }
}

register!(FsImporter);
