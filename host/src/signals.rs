//! The signals that end a command early: SIGINT (Ctrl-C), SIGTERM and SIGHUP are handled
//! alike, so a closing terminal or a CI runner stopping a job cleans up too.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Installed handlers; from [`Signals::install`] on, these signals no longer kill the
/// process but are delivered to [`Signals::recv`].
pub struct Signals(Vec<(Signal, u8)>);

impl Signals {
    pub fn install() -> Self {
        let mut streams = Vec::new();
        for (kind, code) in [
            (SignalKind::interrupt(), crate::exit::SIGINT),
            (SignalKind::terminate(), crate::exit::SIGTERM),
            (SignalKind::hangup(), crate::exit::SIGHUP),
        ] {
            match signal(kind) {
                Ok(s) => streams.push((s, code)),
                Err(e) => tracing::warn!("cannot listen for signal {kind:?}: {e}"),
            }
        }
        Self(streams)
    }

    /// Waits for one of the signals and returns the exit code shells expect for it
    /// (128 + its number: 130, 143, 129).
    pub async fn recv(&mut self) -> u8 {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.0.iter_mut().map(|(s, code)| {
            let code = *code;
            Box::pin(async move {
                s.recv().await;
                code
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}
