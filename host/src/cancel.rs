//! Cooperative cancellation for long operations: a signal handler asks, and work stops at
//! its next step *after* the Docker call in flight has returned, so everything made is
//! known by id before clean-up starts.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Cancel {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

/// Returned by a step that noticed the cancellation.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Cancelled;

impl Default for Cancel {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }
}

impl Cancel {
    pub fn cancel(&self) {
        let _ = self.tx.send(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// `Err(Cancelled)` once cancelled: call before each step.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }

    /// Completes when cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|c| *c).await;
    }
}
