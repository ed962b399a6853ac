//! Turning SIGTERM / Ctrl-C into one shutdown signal every part can wait on.

use tokio::sync::watch;

/// A cloneable "stop now" flag; `wait` resolves once it is set.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending half; dropping it does not stop anything.
pub struct Trigger {
    tx: watch::Sender<bool>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx }, Shutdown { rx })
}

impl Trigger {
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// The underlying receiver, for code that takes a `watch` directly.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    pub async fn wait(mut self) {
        // An error means the trigger is gone: nobody can stop us any more,
        // so wait forever rather than stop by accident.
        if self.rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves on the first SIGTERM or Ctrl-C (SIGINT). The handlers are
/// installed when this is called, not when the future is first polled, so
/// a signal that arrives right after start-up (say, just after the
/// "listening" line) is caught instead of killing the process.
pub fn signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (term, int) => {
                    let err = term
                        .err()
                        .or(int.err())
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    tracing::warn!(%err, "cannot watch SIGTERM; only Ctrl-C stops the server");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
