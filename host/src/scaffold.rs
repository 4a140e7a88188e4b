//! `dbarena plugin new`: writes a ready plugin crate from the templates embedded in the
//! binary (`plugins/templates/`), with the plugin SDK vendored beside it so the crate builds
//! with nothing but crates.io, or pointing at an SDK checkout given with `--sdk-path`.

use crate::plugin::bindings::API_VERSION;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = crate::asset!("plugins/templates/Cargo.toml.tmpl");
const LIB_RS: &str = crate::asset!("plugins/templates/lib.rs.tmpl");
const README: &str = crate::asset!("plugins/templates/README.md.tmpl");
const GITIGNORE: &str = crate::asset!("plugins/templates/gitignore.tmpl");
const CONFORMANCE_TEST: &str = crate::asset!("plugins/templates/conformance.rs.tmpl");
const SDK_CARGO_TOML: &str = crate::asset!("plugins/templates/sdk.Cargo.toml.tmpl");

/// The SDK sources, as vendored into a new plugin (path inside the SDK, content).
pub const SDK_FILES: &[(&str, &str)] = &[
    ("src/lib.rs", crate::asset!("plugins/sdk/src/lib.rs")),
    ("src/bytes.rs", crate::asset!("plugins/sdk/src/bytes.rs")),
    ("src/env.rs", crate::asset!("plugins/sdk/src/env.rs")),
    ("src/testing.rs", crate::asset!("plugins/sdk/src/testing.rs")),
    ("src/url.rs", crate::asset!("plugins/sdk/src/url.rs")),
    ("src/versions.rs", crate::asset!("plugins/sdk/src/versions.rs")),
    (
        "src/protocols/mod.rs",
        crate::asset!("plugins/sdk/src/protocols/mod.rs"),
    ),
    (
        "src/protocols/mysql.rs",
        crate::asset!("plugins/sdk/src/protocols/mysql.rs"),
    ),
    (
        "src/protocols/scram.rs",
        crate::asset!("plugins/sdk/src/protocols/scram.rs"),
    ),
    ("wit/engine.wit", crate::asset!("wit/v0.3.0/engine.wit")),
];

/// The wit-bindgen requirement of the vendored SDK (the workspace's).
pub const WIT_BINDGEN_VERSION: &str = "0.61";
const VENDORED_SDK: &str = "vendor/dbarena-plugin-sdk";

/// Where the new crate gets the SDK from.
pub enum SdkSource<'a> {
    /// A copy written into the crate (`vendor/dbarena-plugin-sdk`).
    Vendored,
    /// An existing SDK directory, written into Cargo.toml as given (relative to the crate).
    Path(&'a Path),
}

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}

/// "my-db" → "My Db".
fn display_name(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Writes the crate for engine `id` into `parent/id` and returns its directory.
pub fn new_plugin(id: &str, parent: &Path, sdk: SdkSource) -> anyhow::Result<PathBuf> {
    crate::plugin::validate::engine_id(id).map_err(|e| anyhow::anyhow!("invalid plugin id: {e}"))?;
    let dir = parent.join(id);
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!(
            "{} already exists and is not empty; choose another --dir or id",
            dir.display()
        );
    }
    let crate_name = format!("dbarena-plugin-{id}");
    let crate_file = crate_name.replace('-', "_");
    let env_prefix = id.to_ascii_uppercase().replace('-', "_");
    let display = display_name(id);
    let (sdk_path, sdk_origin) = match sdk {
        SdkSource::Vendored => (VENDORED_SDK.to_string(), "vendored by `dbarena plugin new`".to_string()),
        SdkSource::Path(p) => (p.display().to_string(), format!("the SDK at {}", p.display())),
    };
    let sdk_version = env!("CARGO_PKG_VERSION");
    let vars: [(&str, &str); 11] = [
        ("id", id),
        ("crate_name", &crate_name),
        ("crate_file", &crate_file),
        ("display_name", &display),
        ("env_prefix", &env_prefix),
        ("sdk_path", &sdk_path),
        ("sdk_origin", &sdk_origin),
        ("api_version", API_VERSION),
        ("sdk_version", sdk_version),
        ("dbarena_version", sdk_version),
        ("wit_bindgen_version", WIT_BINDGEN_VERSION),
    ];
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join("Cargo.toml"), render(CARGO_TOML, &vars)),
        (dir.join("src/lib.rs"), render(LIB_RS, &vars)),
        (dir.join("README.md"), render(README, &vars)),
        (dir.join(".gitignore"), GITIGNORE.to_string()),
        (dir.join("tests/conformance.rs"), render(CONFORMANCE_TEST, &vars)),
    ];
    if matches!(sdk, SdkSource::Vendored) {
        let sdk_dir = dir.join(VENDORED_SDK);
        files.push((sdk_dir.join("Cargo.toml"), render(SDK_CARGO_TOML, &vars)));
        files.extend(
            SDK_FILES
                .iter()
                .map(|(path, text)| (sdk_dir.join(path), text.to_string())),
        );
    }
    for (path, text) in files {
        std::fs::create_dir_all(path.parent().expect("file has a parent"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_source_file_is_vendored() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/src");
        let mut on_disk = Vec::new();
        let mut stack = vec![sdk.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(format!("src/{}", path.strip_prefix(&sdk).unwrap().display()));
                }
            }
        }
        on_disk.sort();
        let mut vendored: Vec<String> = SDK_FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("src/"))
            .collect();
        vendored.sort();
        assert_eq!(on_disk, vendored, "add new SDK files to SDK_FILES");
    }

    #[test]
    fn vendored_wit_bindgen_matches_the_workspace() {
        let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("wit-bindgen = \"{WIT_BINDGEN_VERSION}\"")));
    }

    #[test]
    fn templates_are_fully_rendered() {
        let parent = tempfile::tempdir().unwrap();
        let dir = new_plugin("my-db", parent.path(), SdkSource::Vendored).unwrap();
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "README.md",
            "vendor/dbarena-plugin-sdk/Cargo.toml",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has an unrendered placeholder");
        }
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains(r#"const ENV: &str = "MY_DB";"#) && lib.contains(r#"display_name: "My Db""#));
        assert!(
            new_plugin("my-db", parent.path(), SdkSource::Vendored).is_err(),
            "must not overwrite"
        );
        assert!(new_plugin("Bad_Id", parent.path(), SdkSource::Vendored).is_err());
    }
}
