//! dbarena: real, ready-to-use databases in seconds.
//!
//! Layers: [`cli`] parses arguments; [`commands`] carry them out: each [`resolve`]s what
//! the user asked for into an instance [`record`](instance::record), then [`provision`]s
//! it (or acts on an existing one) through the [`plugin`] runtime (engine logic,
//! sandboxed) and the [`container`] backend, waits with [`readiness`], and writes through
//! [`output`].

/// A text file from the workspace (`plugins/templates/...`, `registry.toml`, ...), as
/// `build.rs` copied it into `OUT_DIR`: the crate embeds nothing from outside itself.
#[macro_export]
#[doc(hidden)]
macro_rules! asset {
    ($path:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/assets/", $path))
    };
}

pub mod cancel;
pub mod cli;
pub mod cli_ext;
pub mod client;
pub mod commands;
pub mod config;
pub mod container;
pub mod exit;
pub mod init;
pub mod instance;
pub mod lease;
pub mod output;
pub mod paths;
pub mod plugin;
pub mod project;
pub mod provision;
pub mod readiness;
pub mod registry_index;
pub mod resolve;
pub mod scaffold;
pub mod signals;
pub mod steps;
pub mod template;
pub mod tenant;
