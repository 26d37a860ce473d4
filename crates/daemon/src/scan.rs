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
    /// Files that entered the pipeline so far.
    pub started: u64,
    /// Of those, files that reached an outcome.
    pub finished: u64,
    /// Files the scan looks at, counted by a walk beside it (the total, once `walking` is
    /// false; files written meanwhile can make `started` end up different).
    pub files_found: u64,
    /// Size of the files found (final once `walking` is false): what is identified when
    /// `bytes_hashed + bytes_known` reaches it.
    pub bytes_found: u64,
    /// Bytes hashed so far.
    pub bytes_hashed: u64,
    /// Bytes of files identified by the identity cache so far, without reading them.
    pub bytes_known: u64,
    /// True while the inboxes are still being counted (`files_found` and `bytes_found` may
    /// still grow).
    pub walking: bool,
    /// Time since the scan began.
    pub elapsed: Duration,
}

/// Called about four times a second while a scan runs, and once more at the end.
pub type ProgressFn = Box<dyn Fn(ScanProgress) + Send + Sync>;

/// Organizes what is in the inboxes now and returns when every file has an outcome.
///
/// With `progress`, the inboxes are also counted by a second walk beside the scan (no file
/// is read; see [`watcher::Watcher::count`]), so the totals are known long before hashing
/// ends; the last call to `progress` has the final figures.
pub async fn scan(cfg: Config, progress: Option<ProgressFn>) -> Result<StopReport> {
    let mut core = Core::start(&cfg, RunKind::Scan).await?;
    let watcher = watcher::Watcher::new(cfg.watch_config(), core.pipeline.identity_cache())?
        .exclude(cfg.outputs());
    core.stats.push(watcher.stats());
    let meter = Meter {
        pipeline: core.pipeline.clone(),
        stats: watcher.stats(),
        count: Arc::default(),
        walking: Arc::new(AtomicBool::new(true)),
        t0: Instant::now(),
    };
    let progress = progress.map(Arc::new);
    let reporter = progress
        .clone()
        .map(|f| tokio::spawn(report_progress(meter.clone(), f)));
    let tx = core.intake.sender();
    let counting = async {
        if progress.is_some() {
            watcher.count(&meter.count).await;
        }
        meter.walking.store(false, Ordering::Relaxed);
    };
    let (scanned, ()) = tokio::join!(watcher.scan_once(&tx), counting);
    let failure = scanned.err().map(|e| format!("scan failed: {e}"));
    drop(tx);
    // A scan waits as long as its files take (Ctrl-C stops it; every step is crash-safe).
    let report = core.finish(failure, Duration::MAX).await;
    if let Some(r) = reporter {
        r.abort();
    }
    if let Some(f) = progress {
        f(meter.read());
    }
    Ok(report)
}

/// Where the progress figures come from.
#[derive(Clone)]
struct Meter {
    pipeline: pipeline::Pipeline,
    stats: Arc<watcher::WatchStats>,
    count: Arc<watcher::ScanCount>,
    walking: Arc<AtomicBool>,
    t0: Instant,
}

impl Meter {
    fn read(&self) -> ScanProgress {
        let t = self.pipeline.tally();
        let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        ScanProgress {
            started: t.started,
            finished: t.finished(),
            files_found: load(&self.count.files),
            bytes_found: load(&self.count.bytes),
            bytes_hashed: load(&self.stats.bytes_hashed),
            bytes_known: load(&self.stats.bytes_known),
            walking: self.walking.load(Ordering::Relaxed),
            elapsed: self.t0.elapsed(),
        }
    }
}

async fn report_progress(meter: Meter, f: Arc<ProgressFn>) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        f(meter.read());
    }
}
