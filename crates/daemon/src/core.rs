//! What `alice run` and `alice scan` share: the state dir, the catalog, Redis, the pipeline,
//! recovery, the group readers, the intake of watcher items, and the orderly end of a run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use events::{Event, RunCompleted, RunStarted};
use pipeline::{Pipeline, sources};
use tokio::sync::{Semaphore, mpsc};

use crate::config::Config;
use crate::consume::{GroupRunner, Role};
use crate::error::{Error, IoContext, Result};
use crate::layout::StateLayout;
use crate::lock::InstanceLock;
use crate::metrics::Metrics;
use crate::status::RunCounts;

/// What a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// `alice run`.
    Watch,
    /// `alice scan`.
    Scan,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// Outcomes of this run.
    pub run: RunCounts,
    /// Files hashed.
    pub files_hashed: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Files recognized by identity without hashing.
    pub identity_cache_hits: u64,
    /// How long the run took.
    pub elapsed_ms: u64,
    /// Why the run failed, when it did (the process should exit non-zero).
    pub failure: Option<String>,
    /// False when some events were still queued at the deadline (the next start's scan
    /// picks their files up again).
    pub drained: bool,
}

/// Creates `path` if missing, naming the config key when it cannot.
pub(crate) fn ensure_folder(path: &Path, key: &str) -> Result<()> {
    if !path.is_dir() {
        std::fs::create_dir_all(path).at(
            || format!("cannot create folder (config key `{key}`; check its parent is writable)"),
            path,
        )?;
        tracing::info!(path = %path.display(), key, "created folder");
    }
    Ok(())
}

/// Creates the state dir if missing, private to the user (0700 whatever the umask: it holds
/// the catalog, with every prompt and path).
pub(crate) fn ensure_state_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).at(
            || "cannot create the folder above the state dir (config key `state_dir`)".into(),
            parent,
        )?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(e) => {
            return Err(Error::io(
                "cannot create folder (config key `state_dir`)",
                path,
                e,
            ));
        }
    }
    tracing::info!(path = %path.display(), key = "state_dir", "created folder");
    Ok(())
}

/// Creates a missing inbox, but only one level: an inbox whose parent does not exist either
/// is more likely a typo than a folder to create.
pub(crate) fn ensure_inbox(path: &Path) -> Result<()> {
    if !path.is_dir() && !path.parent().is_some_and(Path::is_dir) {
        return Err(Error::Config(format!(
            "inbox {} does not exist, nor does the folder it would be in (config key `inboxes`); check the path for a typo, or create it with `mkdir -p {}`",
            path.display(),
            path.display()
        )));
    }
    ensure_folder(path, "inboxes")
}

/// The organized root must exist once the daemon has run (see [`Core::start`]).
pub(crate) fn require_organized(path: &Path) -> Result<()> {
    if !path.is_dir() {
        return Err(Error::Config(format!(
            "the organized folder {} (config key `organized`) does not exist; if it is on a drive, mount it; if it moved, fix the config; to start afresh there, create it",
            path.display()
        )));
    }
    Ok(())
}

fn run_id() -> String {
    format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

/// Watcher items flow to the pipeline through here: a task takes what has queued up (up to
/// 256) and hands it over in one go, one catalog round trip per batch instead of per file.
pub(crate) struct Intake {
    tx: Option<mpsc::Sender<watcher::WatchItem>>,
    task: tokio::task::JoinHandle<()>,
    startup_scans: Arc<Semaphore>,
}

impl Intake {
    fn start(pipeline: Pipeline) -> Intake {
        let (tx, mut rx) = mpsc::channel(256);
        let startup_scans = Arc::new(Semaphore::new(0));
        let scans = startup_scans.clone();
        let task = tokio::spawn(async move {
            let mut items = Vec::with_capacity(256);
            while rx.recv_many(&mut items, 256).await > 0 {
                let startups = items.iter().filter(|i| is_startup_scan(i)).count();
                if let Err(e) = pipeline.ingest(std::mem::take(&mut items)).await {
                    tracing::error!(error = %e, "cannot hand files to the pipeline");
                }
                scans.add_permits(startups);
            }
        });
        Intake {
            tx: Some(tx),
            task,
            startup_scans,
        }
    }

    /// Where watchers send their items.
    pub(crate) fn sender(&self) -> mpsc::Sender<watcher::WatchItem> {
        self.tx.clone().expect("intake is open until closed")
    }

    /// Waits until `inboxes` start-up scans have begun (each after its inbox is watched);
    /// false on timeout.
    pub(crate) async fn startup_scans_begun(&self, inboxes: usize, within: Duration) -> bool {
        let n = u32::try_from(inboxes).unwrap_or(u32::MAX);
        tokio::time::timeout(within, self.startup_scans.acquire_many(n))
            .await
            .is_ok()
    }

    /// Closes intake once every sender is gone and every item is handed over.
    async fn close(mut self) {
        self.tx = None;
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the intake task failed");
        }
    }
}

fn is_startup_scan(item: &watcher::WatchItem) -> bool {
    matches!(
        item,
        watcher::WatchItem::ScanStarted {
            reason: watcher::ScanReason::Startup,
            ..
        }
    )
}

/// A started run: everything but the watcher.
pub(crate) struct Core {
    _lock: InstanceLock,
    pub layout: StateLayout,
    pub pipeline: Pipeline,
    pub redis: Option<Arc<streams::StreamWriter>>,
    pub stream: Option<streams::StreamConfig>,
    pub metrics: Option<Metrics>,
    pub intake: Intake,
    /// The near-duplicate index (with the visual stage on, for `alice run`), following the
    /// bus from before the stages start; filled from the catalog by `running::start`.
    pub near: Option<Arc<crate::near::Near>>,
    runners: Vec<GroupRunner>,
    run_id: String,
    pub started: Instant,
    /// Every watcher's counters, summed in the report.
    pub stats: Vec<Arc<watcher::WatchStats>>,
}

/// The folders a run needs, and the state dir's lock: inboxes and state dir made when
/// missing; the organized root made on a first run only (afterwards a missing one is more
/// likely an unmounted drive than a folder to create: files would go under the mount point,
/// hidden later).
fn prepare_folders(cfg: &Config) -> Result<(StateLayout, crate::lock::InstanceLock)> {
    for inbox in &cfg.inboxes {
        ensure_inbox(inbox)?;
    }
    ensure_state_dir(&cfg.state_dir)?;
    let layout = StateLayout::new(&cfg.state_dir);
    let lock = crate::lock::lock_state_dir(&layout)?;
    if layout.catalog().exists() {
        require_organized(&cfg.organized)?;
    } else {
        ensure_folder(&cfg.organized, "organized")?;
    }
    Ok((layout, lock))
}

impl Core {
    /// Takes the state dir, opens the catalog, starts Redis and the pipeline, recovers what a
    /// crash left, catches up with the stream, and announces the run.
    pub(crate) async fn start(cfg: &Config, kind: RunKind) -> Result<Core> {
        let (layout, lock) = prepare_folders(cfg)?;
        let catalog = Arc::new(catalog::Catalog::open(&layout.catalog())?);
        let stream = match &cfg.redis {
            Some(r) => Some(r.stream_config(&cfg.state_dir, cfg.visual_enabled())?),
            None => None,
        };
        let redis = match &stream {
            Some(sc) => {
                crate::redis::claim_stream(sc, &cfg.state_dir).await?;
                crate::redis::prune_consumed(catalog.clone()).await;
                Some(crate::redis::start_writer(sc.clone()).await?)
            }
            None => None,
        };
        let metrics = cfg.metrics.enabled.then(Metrics::default);
        let workers = cfg
            .redis
            .as_ref()
            .map(|r| r.worker_stages())
            .unwrap_or_default();
        let here = stages_here(cfg, &workers);
        let near = (kind == RunKind::Watch && cfg.visual_enabled()).then(|| {
            Arc::new(crate::near::Near::stored(
                catalog.clone(),
                crate::near::thumbnails(cfg),
            ))
        });
        let sinks = Sinks {
            redis: &redis,
            metrics: &metrics,
            near: &near,
        };
        let pipeline = start_pipeline(cfg, catalog, &here, &workers, sinks).await?;
        let recovered = pipeline.recover().await?;
        if recovered != pipeline::RecoveryReport::default() {
            tracing::info!(
                completed = recovered.completed,
                abandoned = recovered.abandoned,
                temporaries_removed = recovered.temporaries_removed,
                "recovered from an interrupted run"
            );
        }
        let runners = match &stream {
            Some(sc) => catch_up(&pipeline, sc, &here, &workers).await,
            None => Vec::new(),
        };
        let run_id = run_id();
        pipeline
            .publish(Event::new(
                sources::DAEMON,
                RunStarted {
                    run_id: run_id.clone(),
                    kind: match kind {
                        RunKind::Watch => "watch",
                        RunKind::Scan => "scan",
                    }
                    .into(),
                    inboxes: cfg.inboxes.clone(),
                    dry_run: false,
                },
            ))
            .await?;
        Ok(Core {
            _lock: lock,
            layout,
            intake: Intake::start(pipeline.clone()),
            pipeline,
            redis,
            stream,
            metrics,
            near,
            runners,
            run_id,
            started: Instant::now(),
            stats: Vec::new(),
        })
    }

    /// Waits for what intake holds, drains the pipeline within `deadline`, announces the end
    /// of the run, hands the rest to Redis, and reports.
    pub(crate) async fn finish(self, failure: Option<String>, deadline: Duration) -> StopReport {
        let Core {
            _lock,
            pipeline,
            redis,
            intake,
            runners,
            run_id,
            started,
            stats,
            ..
        } = self;
        // Bounded: what does not finish is found again by the next start's scan (every step
        // is journaled).
        let drain = async {
            intake.close().await;
            pipeline.wait_idle().await;
            // Thumbnails of the last files too (what is cut off is caught up at the next
            // start).
            pipeline.wait_visual_idle().await;
        };
        if tokio::time::timeout(deadline, drain).await.is_err() {
            tracing::warn!(
                seconds = deadline.as_secs(),
                "some files were still in flight at the deadline; they will be picked up again at the next start"
            );
        }
        let t = pipeline.tally();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        announce_end(&pipeline, &run_id, &t, elapsed_ms, failure.as_deref()).await;
        if let Some(w) = &redis {
            // Everything published so far reaches Redis first, so the group readers' last
            // look sees it and acknowledges it now rather than at the next start.
            w.flush().await;
        }
        for r in runners {
            r.stop().await;
        }
        let report = pipeline.shutdown(Duration::from_secs(10)).await;
        if let Some(w) = &redis {
            w.flush().await;
            if w.spooled() > 0 {
                tracing::warn!(
                    spooled = w.spooled(),
                    "Redis is unreachable; spooled events are appended at the next start"
                );
            }
        }
        if !report.is_clean() {
            tracing::warn!(report = ?report, "some events were not handled before shutdown; the start-up scan will pick their files up again");
        }
        let sum = |f: fn(&watcher::WatchStats) -> &AtomicU64| -> u64 {
            stats.iter().map(|s| f(s).load(Ordering::Relaxed)).sum()
        };
        let out = StopReport {
            run: t.into(),
            files_hashed: sum(|s| &s.files_hashed),
            bytes_hashed: sum(|s| &s.bytes_hashed),
            identity_cache_hits: sum(|s| &s.cache_hits),
            elapsed_ms,
            failure,
            drained: report.is_clean(),
        };
        tracing::info!(
            organized = t.organized,
            duplicates = t.duplicates,
            skipped = t.skipped,
            failed = t.failed,
            files_hashed = out.files_hashed,
            bytes_hashed = out.bytes_hashed,
            identity_cache_hits = out.identity_cache_hits,
            elapsed_ms,
            "stopped"
        );
        out
    }
}

/// The stages this daemon runs itself: every stage but those left to workers, and the visual
/// stage only when it is on.
fn stages_here(cfg: &Config, workers: &[pipeline::Stage]) -> Vec<pipeline::Stage> {
    pipeline::Stage::ALL
        .into_iter()
        .filter(|s| !workers.contains(s))
        .filter(|s| *s != pipeline::Stage::Visual || cfg.visual_enabled())
        .collect()
}

/// Subscribers that only record or follow events, registered before the stages.
struct Sinks<'a> {
    redis: &'a Option<Arc<streams::StreamWriter>>,
    metrics: &'a Option<Metrics>,
    near: &'a Option<Arc<crate::near::Near>>,
}

async fn start_pipeline(
    cfg: &Config,
    catalog: Arc<catalog::Catalog>,
    here: &[pipeline::Stage],
    workers: &[pipeline::Stage],
    sinks: Sinks<'_>,
) -> Result<Pipeline> {
    let Sinks {
        redis,
        metrics,
        near,
    } = sinks;
    let options = pipeline::PipelineOptions {
        in_process: here.to_vec(),
        track_consumed: redis.is_some(),
        confirm_outputs: false,
    };
    if !workers.is_empty() {
        let names: Vec<&str> = workers.iter().map(|s| s.name()).collect();
        tracing::info!(stages = ?names, "these stages are left to `alice worker` processes; files wait in the stream until one runs");
    }
    let pipeline = Pipeline::start_configured(catalog, cfg.settings()?, options, |bus| {
        if let Some(w) = redis {
            crate::redis::subscribe_writer(bus, w)?;
        }
        if let Some(m) = metrics {
            m.subscribe(bus)?;
        }
        if let Some(n) = near {
            n.subscribe(bus)?;
        }
        Ok(())
    })
    .await?;
    if let Some(n) = near {
        n.listen(&pipeline);
    }
    if let Some(m) = metrics {
        // A worker's events reach this process through the stream, not the bus.
        let m = m.clone();
        pipeline.on_foreign_event(Arc::new(move |e: &Event| m.count(e)));
    }
    Ok(pipeline)
}

/// Each in-process stage also reads its consumer group: it acknowledges what it handled live
/// and handles what an earlier run (or a worker's output) left in the stream. What an earlier
/// run left is finished before the inboxes are scanned, so the scan finds those files handled
/// instead of starting them a second time. With stages in workers (started after the daemon)
/// only the reading is waited for.
async fn catch_up(
    pipeline: &Pipeline,
    sc: &streams::StreamConfig,
    here: &[pipeline::Stage],
    workers: &[pipeline::Stage],
) -> Vec<GroupRunner> {
    let runners: Vec<GroupRunner> = here
        .iter()
        .copied()
        .map(|st| GroupRunner::spawn(pipeline.clone(), st, sc.clone(), Role::Daemon))
        .collect();
    let backlog = async {
        for r in &runners {
            r.caught_up().await;
        }
        if workers.is_empty() {
            pipeline.wait_idle().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), backlog)
        .await
        .is_err()
    {
        tracing::warn!(
            "the stream's backlog is not finished after 60 s; scanning the inboxes meanwhile (files are still handled once; `alice status` shows the queues)"
        );
    }
    runners
}

async fn announce_end(
    pipeline: &Pipeline,
    run_id: &str,
    t: &pipeline::TallySnapshot,
    elapsed_ms: u64,
    failure: Option<&str>,
) {
    let done = RunCompleted {
        run_id: run_id.to_owned(),
        organized: t.organized,
        duplicates: t.duplicates,
        skipped: t.skipped,
        failed: t.failed,
        elapsed_ms,
    };
    let _ = pipeline.publish(Event::new(sources::DAEMON, done)).await;
    if let Some(error) = failure {
        let _ = pipeline
            .publish(Event::new(
                sources::DAEMON,
                events::RunFailed {
                    run_id: run_id.to_owned(),
                    error: error.to_owned(),
                },
            ))
            .await;
    }
}
