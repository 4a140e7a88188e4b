//! Where dbarena keeps its files (XDG base directories, overridable by environment).

use directories::ProjectDirs;
use std::path::PathBuf;

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "dbarena")
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// User plugins: `$DBARENA_PLUGIN_DIR`, else `<XDG data dir>/dbarena/plugins`.
pub fn plugin_dir() -> Option<PathBuf> {
    env_path("DBARENA_PLUGIN_DIR").or_else(|| project_dirs().map(|d| d.data_dir().join("plugins")))
}

/// Compiled-component cache: `$DBARENA_CACHE_DIR`, else `<XDG cache dir>/dbarena/components`.
pub fn component_cache_dir() -> Option<PathBuf> {
    env_path("DBARENA_CACHE_DIR").or_else(|| project_dirs().map(|d| d.cache_dir().join("components")))
}

/// The config file: `<XDG config dir>/dbarena/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// dbarena's own records (e.g. the images it pulled): `$DBARENA_DATA_DIR`, else
/// `<XDG data dir>/dbarena`.
pub fn data_dir() -> Option<PathBuf> {
    env_path("DBARENA_DATA_DIR").or_else(|| project_dirs().map(|d| d.data_dir().to_path_buf()))
}
