//! Which images dbarena itself pulled, per container engine, so that `images prune` removes
//! only those and never an image the user pulled for something else.
//!
//! Docker cannot label a pulled image, so the record is a small JSON file in
//! [`paths::data_dir`](crate::paths::data_dir): `{ "<engine endpoint>": ["image", ...] }`.
//! An image is recorded only when dbarena's pull made it present (it was absent before).
//! Best effort: a record that cannot be written costs a warning, never the pull.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

type Records = BTreeMap<String, BTreeSet<String>>;

const FILE: &str = "pulled-images.json";
/// Bound on the file read back (it holds image names only).
const MAX_BYTES: u64 = 1 << 20;

fn file() -> Option<PathBuf> {
    // Unit tests (fake backends) must not write the user's record.
    if cfg!(test) && std::env::var_os("DBARENA_DATA_DIR").is_none() {
        return None;
    }
    crate::paths::data_dir().map(|d| d.join(FILE))
}

/// The endpoint key images are recorded under (the engine this process talks to).
pub fn endpoint_key() -> String {
    crate::container::endpoint::resolve().map_or_else(|_| "default".into(), |r| r.endpoint.to_string())
}

fn read() -> Records {
    let Some(path) = file() else { return Records::new() };
    let Ok(meta) = std::fs::metadata(&path) else {
        return Records::new();
    };
    if meta.len() > MAX_BYTES {
        return Records::new();
    }
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write(records: &Records) {
    let Some(path) = file() else { return };
    let result = (|| -> anyhow::Result<()> {
        let dir = path.parent().expect("file has a parent");
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&tmp, records)?;
        tmp.persist(&path)?;
        Ok(())
    })();
    if let Err(e) = result {
        crate::output::warn(format_args!("cannot record pulled images in {}: {e:#}", path.display()));
    }
}

/// Records that dbarena pulled `image` on the current engine.
pub fn record(image: &str) {
    let mut records = read();
    if records.entry(endpoint_key()).or_default().insert(image.to_string()) {
        write(&records);
    }
}

/// The images dbarena pulled on the current engine.
pub fn recorded() -> BTreeSet<String> {
    read().remove(&endpoint_key()).unwrap_or_default()
}

/// Forgets `image` (after it was removed).
pub fn forget(image: &str) {
    let mut records = read();
    let key = endpoint_key();
    if records.get_mut(&key).is_some_and(|set| set.remove(image)) {
        write(&records);
    }
}
