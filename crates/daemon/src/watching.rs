//! The watcher task of `alice run`, restartable with new settings on reload.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::error::Result;

/// A watcher task and the switch that stops it.
pub(crate) struct RunningWatcher {
    pub task: tokio::task::JoinHandle<Result<(), watcher::WatchError>>,
    stop: watch::Sender<bool>,
    pub stats: Arc<watcher::WatchStats>,
}

impl RunningWatcher {
    /// Starts watching `cfg`'s inboxes; items go to `tx`. `restart` marks a watcher that
    /// replaces another (its first scans say so in the log).
    pub fn start(
        cfg: &Config,
        pipeline: &pipeline::Pipeline,
        tx: mpsc::Sender<watcher::WatchItem>,
        restart: bool,
    ) -> Result<RunningWatcher> {
        let mut watcher = watcher::Watcher::new(cfg.watch_config(), pipeline.identity_cache())?
            .exclude(cfg.outputs());
        if restart {
            watcher = watcher.restarted();
        }
        let stats = watcher.stats();
        let (stop, stop_rx) = watch::channel(false);
        Ok(RunningWatcher {
            task: tokio::spawn(watcher.run(tx, stop_rx)),
            stop,
            stats,
        })
    }

    /// Stops the watcher, waiting up to 10 s for it.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "watcher stopped with an error"),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!("watcher did not stop within 10 s; abandoning it");
                self.task.abort();
            }
        }
    }

    /// Why the watcher task ended on its own.
    pub fn failure(res: Result<Result<(), watcher::WatchError>, tokio::task::JoinError>) -> String {
        match res {
            Ok(Ok(())) => "watcher stopped unexpectedly".to_owned(),
            Ok(Err(e)) => format!("watcher failed: {e}"),
            Err(e) => format!("watcher task failed: {e}"),
        }
    }
}
