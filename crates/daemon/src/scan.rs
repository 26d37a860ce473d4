//! `alice scan`: one reconciliation pass over the inboxes, then exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::core::{Core, RunKind, StopReport};
use crate::error::Result;

/// How far a scan has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanProgress {
    /// Files found so far that need work (the total, once `walking` is false).
    pub started: u64,
    /// Of those, files that reached an outcome.
    pub finished: u64,
    /// Bytes hashed so far.
    pub bytes_hashed: u64,
    /// True while the inboxes are still being walked (the total may still grow).
    pub walking: bool,
    /// Time since the scan began.
    pub elapsed: Duration,
}

/// Called about four times a second while a scan runs.
pub type ProgressFn = Box<dyn Fn(ScanProgress) + Send + Sync>;

/// Organizes what is in the inboxes now and returns when every file has an outcome.
pub async fn scan(cfg: Config, progress: Option<ProgressFn>) -> Result<StopReport> {
    let mut core = Core::start(&cfg, RunKind::Scan).await?;
    let watcher = watcher::Watcher::new(cfg.watch_config(), core.pipeline.identity_cache())?
        .exclude(cfg.outputs());
    core.stats.push(watcher.stats());
    let walking = Arc::new(AtomicBool::new(true));
    let reporter = progress.map(|f| {
        tokio::spawn(report_progress(
            core.pipeline.clone(),
            watcher.stats(),
            walking.clone(),
            f,
        ))
    });
    let tx = core.intake.sender();
    let failure = watcher
        .scan_once(&tx)
        .await
        .err()
        .map(|e| format!("scan failed: {e}"));
    drop(tx);
    walking.store(false, Ordering::Relaxed);
    // A scan waits as long as its files take (Ctrl-C stops it; every step is crash-safe).
    let report = core.finish(failure, Duration::MAX).await;
    if let Some(r) = reporter {
        r.abort();
    }
    Ok(report)
}

async fn report_progress(
    pipeline: pipeline::Pipeline,
    stats: Arc<watcher::WatchStats>,
    walking: Arc<AtomicBool>,
    f: ProgressFn,
) {
    let t0 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let t = pipeline.tally();
        f(ScanProgress {
            started: t.started,
            finished: t.finished(),
            bytes_hashed: stats.bytes_hashed.load(Ordering::Relaxed),
            walking: walking.load(Ordering::Relaxed),
            elapsed: t0.elapsed(),
        });
    }
}
