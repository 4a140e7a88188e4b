//! Makes sure an image is present, pulling it with progress when it is not.

use crate::container::{BackendError, ContainerBackend, PullProgress};
use crate::output;
use std::collections::HashMap;
use std::sync::Mutex;

/// Pulls `image` when it is not present; `progress` hears "pulling X: 12 MB / 80 MB in 4 layers".
pub async fn ensure_image<B: ContainerBackend>(
    backend: &B,
    image: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    if backend.image_exists(image).await? {
        return Ok(());
    }
    progress(format!("pulling {image}"));
    let layers: Mutex<HashMap<String, (u64, u64)>> = Mutex::new(HashMap::new());
    let report = |p: PullProgress| {
        let mut layers = layers.lock().unwrap();
        if p.total_bytes > 0 {
            layers.insert(p.layer.clone(), (p.current_bytes, p.total_bytes));
        }
        let (done, total) = layers.values().fold((0, 0), |(d, t), (c, n)| (d + c, t + n));
        progress(format!(
            "pulling {image}: {} / {} in {} layers",
            output::bytes(done),
            output::bytes(total),
            layers.len()
        ));
    };
    backend
        .pull_image(image, &report)
        .await
        .map_err(|e| pull_error(image, e))?;
    super::pulled::record(image);
    Ok(())
}

/// A failed pull, with what the user can do about it.
pub fn pull_error(image: &str, e: BackendError) -> anyhow::Error {
    const REMEDY: &str = "set a mirror in the config file ([engines.<id>] image = \"mirror/repo\"), \
        pass --image, or run `dbarena images pull` on a connected machine; for a private registry, `docker login` first";
    match e {
        BackendError::ImageNotFound(_) => anyhow::anyhow!("image {image} not found: check the name; {REMEDY}"),
        e => anyhow::anyhow!("cannot pull image {image}: {e}; {REMEDY}"),
    }
}
