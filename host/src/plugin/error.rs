use thiserror::Error;

/// Why a plugin could not be loaded or a call into it failed. Every variant names the
/// plugin, so the user knows which file to blame.
#[derive(Debug, Error)]
pub enum PluginFailure {
    #[error("plugin {plugin}: cannot load: {reason}")]
    Load { plugin: String, reason: String },

    #[error(
        "plugin {plugin} imports {imports}, which plugins may not use \
         (plugins are pure logic: no files, network, clock or randomness)"
    )]
    ForbiddenImports { plugin: String, imports: String },

    #[error(
        "plugin {plugin} targets engine API {found}, but this dbarena supports {supported}; \
         rebuild the plugin against a supported SDK or upgrade dbarena"
    )]
    UnsupportedApi {
        plugin: String,
        found: String,
        supported: String,
    },

    #[error("plugin {plugin} ran out of fuel in {call} (an endless loop?)")]
    OutOfFuel { plugin: String, call: &'static str },

    #[error("plugin {plugin} exceeded its time limit in {call}")]
    Timeout { plugin: String, call: &'static str },

    #[error("plugin {plugin} exceeded its memory limit ({limit_mib} MiB) in {call}")]
    OutOfMemory {
        plugin: String,
        call: &'static str,
        limit_mib: usize,
    },

    #[error("plugin {plugin} crashed in {call}: {message}")]
    Crashed {
        plugin: String,
        call: &'static str,
        message: String,
    },

    #[error("plugin {plugin} returned an invalid {what}: {problem}")]
    Invalid {
        plugin: String,
        what: &'static str,
        problem: String,
    },

    /// The plugin refused the user's options; this is the user's error to fix.
    #[error("{engine}: {}{message}", field.as_ref().map(|f| format!("invalid {f}: ")).unwrap_or_default())]
    Rejected {
        engine: String,
        field: Option<String>,
        message: String,
    },
}
