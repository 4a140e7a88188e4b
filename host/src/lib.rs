//! dbarena: real, ready-to-use databases in seconds.
//!
//! Layers: [`cli`] parses arguments; [`commands`] carry them out: each [`resolve`]s what
//! the user asked for into an instance [`record`](instance::record), then [`provision`]s
//! it (or acts on an existing one) through the [`plugin`] runtime (engine logic,
//! sandboxed) and the [`container`] backend, waits with [`readiness`], and writes through
//! [`output`].

pub mod cancel;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod container;
pub mod init;
pub mod instance;
pub mod output;
pub mod paths;
pub mod plugin;
pub mod provision;
pub mod readiness;
pub mod registry_index;
pub mod resolve;
pub mod scaffold;
pub mod signals;
pub mod steps;
