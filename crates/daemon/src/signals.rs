//! SIGTERM and SIGINT (stop), SIGHUP (reload).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT, listened to from the very start: a signal that arrives while the
/// daemon is busy (starting, reloading) is kept until the main loop looks, never lost.
pub struct StopSignals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl StopSignals {
    /// Installs the handlers (inside a tokio runtime).
    pub fn install() -> StopSignals {
        let (term, int) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        if term.is_err() || int.is_err() {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
        }
        StopSignals {
            term: term.ok(),
            int: int.ok(),
        }
    }

    /// Waits for the next stop signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        async fn one(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => "SIGTERM",
            _ = one(&mut self.int) => "SIGINT",
        }
    }
}

/// Calls `on_hup` for every SIGHUP until it returns false.
pub(crate) async fn forward_sighup(mut on_hup: impl FnMut() -> bool) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload by editing the config file");
        return;
    };
    while hup.recv().await.is_some() {
        if !on_hup() {
            return;
        }
    }
}
