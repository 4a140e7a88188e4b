use crate::types::{EngineInfo, PluginError, VersionInfo};

/// Finds the version the user asked for by name or alias; an empty request means the
/// engine's default. The error names the `version` field and lists what is supported.
pub fn find_version<'a>(info: &'a EngineInfo, requested: &str) -> Result<&'a VersionInfo, PluginError> {
    let wanted = if requested.is_empty() {
        info.default_version.as_str()
    } else {
        requested
    };
    info.versions
        .iter()
        .find(|v| v.version == wanted || v.aliases.iter().any(|a| a == wanted))
        .ok_or_else(|| {
            let supported: Vec<&str> = info.versions.iter().map(|v| v.version.as_str()).collect();
            crate::field_error(
                "version",
                format!(
                    "{} does not support version '{wanted}'; supported: {}",
                    info.display_name,
                    supported.join(", ")
                ),
            )
        })
}

/// A [`VersionInfo`] for `repository:tag`, accepted as `version` or any of `aliases`.
pub fn version_info(repository: &str, version: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    VersionInfo {
        version: version.into(),
        image_repository: repository.into(),
        image_tag: tag.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    }
}

/// The image reference of a version: `repository:tag`.
pub fn image(v: &VersionInfo) -> String {
    format!("{}:{}", v.image_repository, v.image_tag)
}
