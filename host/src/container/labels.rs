//! The labels dbarena puts on every container and volume it creates. Docker is the only
//! record of what exists: `list` and `inspect` read everything back from these.

/// Marks an object as dbarena's; nothing without it is ever touched.
pub const MANAGED: &str = "io.dbarena.managed";
pub const NAME: &str = "io.dbarena.name";
pub const ENGINE: &str = "io.dbarena.engine";
pub const VERSION: &str = "io.dbarena.version";
pub const PLUGIN_VERSION: &str = "io.dbarena.plugin-version";
pub const PERSISTENT: &str = "io.dbarena.persistent";
pub const MODE: &str = "io.dbarena.mode";
pub const CREATED_AT: &str = "io.dbarena.created-at";
/// The host port the user asked for (empty when dbarena chose).
pub const REQUESTED_PORT: &str = "io.dbarena.requested-port";
pub const CONTAINER_PORT: &str = "io.dbarena.container-port";
pub const USER: &str = "io.dbarena.user";
pub const PASSWORD: &str = "io.dbarena.password";
pub const DATABASE: &str = "io.dbarena.database";
pub const TIMEOUT: &str = "io.dbarena.startup-timeout";
/// Volume labels: which data path of which instance a named volume holds.
pub const DATA_PATH: &str = "io.dbarena.data-path";

/// The label filter that selects dbarena's objects.
pub fn managed_filter() -> String {
    format!("{MANAGED}=true")
}
