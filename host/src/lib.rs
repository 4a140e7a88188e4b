//! dbarena: real, ready-to-use databases in seconds.
//!
//! Layers: [`cli`] parses arguments, [`commands`] carry them out using the [`plugin`]
//! runtime (engine logic, sandboxed), and write through [`output`].

pub mod cli;
pub mod commands;
pub mod config;
pub mod container;
pub mod instance;
pub mod options;
pub mod output;
pub mod paths;
pub mod plugin;
pub mod readiness;
pub mod registry_index;
pub mod scaffold;
