//! The undo journal of one create: what it is about to make and what it made, by Docker id.
//!
//! An intent is recorded *before* each Docker call. If the call's outcome is unknown (it
//! failed mid-flight, or the process was interrupted), clean-up looks the object up by name
//! and removes it only when it carries this create's owner token, so an object of the same
//! name made by another process is never touched.

use crate::container::{BackendError, ContainerBackend};
use crate::instance::record;
use crate::output;
use std::sync::{Arc, Mutex};

/// How long clean-up waits for an unreachable engine to come back.
const ENGINE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Entry {
    Container {
        name: String,
        id: Option<String>,
    },
    Volume {
        name: String,
    },
    /// An image this create made (the snapshot of an instance's state right after create).
    Image {
        id: String,
    },
}

/// Shared by the steps of one create; cloning shares the same journal.
#[derive(Clone)]
pub struct Journal {
    owner: Arc<str>,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl Journal {
    pub fn new() -> Self {
        let token: u128 = rand::random();
        Self {
            owner: format!("{token:032x}").into(),
            entries: Default::default(),
        }
    }

    /// The token this create puts on what it makes.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// About to create container `name`.
    pub fn intend_container(&self, name: &str) {
        self.entries.lock().unwrap().push(Entry::Container {
            name: name.into(),
            id: None,
        });
    }

    /// Container `name` was created as `id`.
    pub fn made_container(&self, name: &str, id: &str) {
        for entry in self.entries.lock().unwrap().iter_mut() {
            if let Entry::Container { name: n, id: slot } = entry
                && n == name
                && slot.is_none()
            {
                *slot = Some(id.into());
                return;
            }
        }
    }

    /// Container `id` is gone (removed by the step that made it).
    pub fn removed_container(&self, id: &str) {
        self.entries
            .lock()
            .unwrap()
            .retain(|e| !matches!(e, Entry::Container { id: Some(i), .. } if i == id));
    }

    /// About to create volume `name` (volumes are created under their name).
    pub fn intend_volume(&self, name: &str) {
        self.entries.lock().unwrap().push(Entry::Volume { name: name.into() });
    }

    /// Image `id` was made (images are made by id, never under a name someone else has).
    pub fn made_image(&self, id: &str) {
        self.entries.lock().unwrap().push(Entry::Image { id: id.into() });
    }

    /// Keeps everything made so far: it now belongs to the user.
    pub fn keep(&self) {
        self.entries.lock().unwrap().clear();
    }

    /// Removes everything recorded, newest first; returns what could not be removed.
    pub async fn undo<B: ContainerBackend>(&self, backend: &B) -> Vec<String> {
        let entries: Vec<Entry> = std::mem::take(&mut *self.entries.lock().unwrap());
        let mut left = Vec::new();
        // Containers before volumes and images: neither can be removed while in use.
        let (containers, volumes): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .rev()
            .partition(|e| matches!(e, Entry::Container { .. }));
        let patience = tokio::time::Instant::now() + ENGINE_PATIENCE;
        for entry in containers.into_iter().chain(volumes) {
            let result = loop {
                let result = match &entry {
                    Entry::Container { id: Some(id), .. } => ignore_missing(backend.remove_container(id).await),
                    Entry::Container { name, id: None } => self.remove_own_container(backend, name).await,
                    Entry::Volume { name } => self.remove_own_volume(backend, name).await,
                    Entry::Image { id } => ignore_missing(backend.remove_image(id).await),
                };
                // An engine that went away (restarting, killed) may come back: wait for it,
                // boundedly, rather than leave what this create made.
                match result {
                    Err(BackendError::Unavailable(_)) if tokio::time::Instant::now() < patience => {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                    result => break result,
                }
            };
            if let Err(e) = result {
                let what = match &entry {
                    Entry::Container { name, .. } => format!("container {name}"),
                    Entry::Volume { name } => format!("volume {name}"),
                    Entry::Image { id } => format!("image {id}"),
                };
                output::warn(format_args!("could not remove {what}: {e}"));
                left.push(what);
            }
        }
        left
    }

    async fn remove_own_container<B: ContainerBackend>(&self, backend: &B, name: &str) -> Result<(), BackendError> {
        match backend.inspect_container(name).await {
            Ok(info) if record::owner(&info.labels) == Some(&self.owner) => {
                ignore_missing(backend.remove_container(&info.id).await)
            }
            Ok(_) | Err(BackendError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn remove_own_volume<B: ContainerBackend>(&self, backend: &B, name: &str) -> Result<(), BackendError> {
        match backend.inspect_volume(name).await? {
            Some(v) if record::owner(&v.labels) == Some(&self.owner) => {
                ignore_missing(backend.remove_volume(name).await)
            }
            _ => Ok(()),
        }
    }
}

fn ignore_missing(result: Result<(), BackendError>) -> Result<(), BackendError> {
    match result {
        Err(BackendError::NotFound(_)) => Ok(()),
        other => other,
    }
}
