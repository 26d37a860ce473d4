//! `alice run` and `alice scan`: wiring config, catalog, pipeline and watcher together.

use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use events::{Event, RunCompleted, RunStarted};
use pipeline::{Pipeline, Settings, TallySnapshot, sources};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, XdgDefaults};
use crate::sdnotify::Notifier;
use crate::{ConfigArgs, logging};

/// What the process does once wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `alice run`.
    Watch,
    /// `alice scan`.
    Scan,
}

/// Where the running config came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file, when there is one (reloads re-read it).
    pub path: Option<PathBuf>,
    /// For logs and `config show`.
    pub description: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Loads `--config`, else the XDG config file, else built-in defaults. Returns the config and
/// where it came from.
pub fn load_config(args: &ConfigArgs) -> Result<(Config, Origin)> {
    let from_file = |path: &Path| -> Result<(Config, Origin)> {
        let cfg = Config::load(path)?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok((
            cfg,
            Origin {
                description: path.display().to_string(),
                path: Some(path),
            },
        ))
    };
    if let Some(path) = &args.config {
        return from_file(path);
    }
    let xdg = XdgDefaults::detect()?;
    if xdg.config_file.exists() {
        return from_file(&xdg.config_file);
    }
    Ok((
        xdg.config(),
        Origin {
            path: None,
            description: format!(
                "built-in defaults; no config file at {}",
                xdg.config_file.display()
            ),
        },
    ))
}

/// Runs `alice run` or `alice scan`.
pub fn run(args: &ConfigArgs, dry_run: bool, job: Job) -> Result<ExitCode> {
    let (cfg, origin) = load_config(args)?;
    let levels = logging::init(
        args.log_format.unwrap_or(cfg.log.format),
        &cfg.log.level,
        job == Job::Watch,
    );
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "alice starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alice")
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(async move {
        if dry_run {
            crate::daemon::dry_run(&cfg).await
        } else {
            main_loop(&cfg, &origin, &levels, job).await
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

pub(crate) fn settings(cfg: &Config) -> Result<Settings> {
    Ok(Settings {
        organized: cfg.organized.clone(),
        mode: cfg.mode,
        template: organizer::Template::parse(&cfg.template)
            .map_err(|e| anyhow::anyhow!("key `template`: {e}"))?,
        duplicates: cfg.duplicates_dir(),
        quarantine: cfg.quarantine.clone(),
    })
}

pub fn watch_config(cfg: &Config) -> watcher::WatchConfig {
    let defaults = watcher::WatchConfig::default();
    watcher::WatchConfig {
        inboxes: cfg.inboxes.clone(),
        settle: Duration::from_millis(cfg.watch.settle_ms),
        ignore_globs: cfg.watch.ignore.clone(),
        hash_concurrency: if cfg.watch.hash_concurrency == 0 {
            defaults.hash_concurrency
        } else {
            cfg.watch.hash_concurrency
        },
        poll_interval: Duration::from_secs(cfg.watch.poll_interval_s),
        force_polling: cfg.watch.force_polling,
        max_watches: None,
    }
}

pub(crate) fn ensure_folder(path: &Path, key: &str) -> Result<()> {
    if !path.is_dir() {
        std::fs::create_dir_all(path).with_context(|| {
            format!(
                "cannot create folder {} (config key `{key}`); check its parent is writable",
                path.display()
            )
        })?;
        tracing::info!(path = %path.display(), key, "created folder");
    }
    Ok(())
}

/// The organized root must exist once the daemon has run: see `main_loop`.
pub(crate) fn require_organized(path: &Path) -> Result<()> {
    if !path.is_dir() {
        bail!(
            "the organized folder {} (config key `organized`) does not exist; if it is on a drive, mount it; if it moved, fix the config; to start afresh there, create it",
            path.display()
        );
    }
    Ok(())
}

/// An exclusive lock held for the life of the process (the lock file stays; the lock goes with
/// the process, however it ends).
pub struct InstanceLock(#[allow(dead_code)] File);

/// Takes `path` (created if missing) with a non-blocking exclusive flock; `None` when another
/// process holds it.
pub(crate) fn try_lock(path: &Path) -> Result<Option<InstanceLock>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    Ok((rc == 0).then_some(InstanceLock(file)))
}

/// One daemon per state dir: two would share one catalog.
pub fn lock_state_dir(state_dir: &Path) -> Result<InstanceLock> {
    let path = state_dir.join("alice.lock");
    match try_lock(&path)? {
        Some(lock) => Ok(lock),
        None => bail!(
            "another alice process is using state_dir {} (lock {} is held); stop it, or give this instance its own state_dir",
            state_dir.display(),
            path.display()
        ),
    }
}

/// True when a daemon holds the state dir's lock. Opens the lock file read-only and never
/// creates it, so asking changes nothing.
fn daemon_running(state_dir: &Path) -> bool {
    let Ok(file) = File::open(state_dir.join("alice.lock")) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        // SAFETY: as above; releasing our own lock.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    }
    !free
}

fn run_id() -> String {
    format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

async fn main_loop(
    cfg: &Config,
    origin: &Origin,
    levels: &logging::LevelHandle,
    job: Job,
) -> Result<ExitCode> {
    // `alice scan` keeps the default: Ctrl-C ends it at once (every step is crash-safe).
    let mut stop_signals = (job == Job::Watch).then(StopSignals::install);
    let notifier = Notifier::from_env();
    for inbox in &cfg.inboxes {
        ensure_folder(inbox, "inboxes")?;
    }
    ensure_folder(&cfg.state_dir, "state_dir")?;
    let _lock = lock_state_dir(&cfg.state_dir)?;
    let catalog_path = cfg.state_dir.join("catalog.sqlite3");
    if catalog_path.exists() {
        // Not a first run: a missing organized root is more likely an unmounted drive than a
        // folder to create (files would go under the mount point and be hidden later).
        require_organized(&cfg.organized)?;
    } else {
        ensure_folder(&cfg.organized, "organized")?;
    }
    let catalog = Arc::new(catalog::Catalog::open(&catalog_path)?);
    let stream_cfg = match &cfg.redis {
        Some(r) => Some(r.stream_config(&cfg.state_dir)?),
        None => None,
    };
    if let Some(sc) = &stream_cfg {
        claim_stream(sc, &cfg.state_dir).await?;
        // Marks of what each stage consumed matter while the stream can still deliver their
        // events; a month covers any outage or backlog worth the name.
        let cat = catalog.clone();
        let cutoff = chrono::Utc::now() - chrono::Duration::days(CONSUMED_KEEP_DAYS);
        match tokio::task::spawn_blocking(move || cat.prune_consumed(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(
                    marks = n,
                    days = CONSUMED_KEEP_DAYS,
                    "forgot old consumed marks"
                )
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot forget old consumed marks; the catalog keeps them")
            }
            Err(e) => tracing::warn!(error = %e, "consumed-mark cleanup task failed"),
        }
    }
    let redis = match &stream_cfg {
        Some(sc) => Some(start_redis_writer(sc.clone()).await?),
        None => None,
    };
    let workers = cfg
        .redis
        .as_ref()
        .map(|r| r.worker_stages())
        .unwrap_or_default();
    let options = pipeline::PipelineOptions {
        in_process: pipeline::Stage::ALL
            .into_iter()
            .filter(|s| !workers.contains(s))
            .collect(),
        track_consumed: redis.is_some(),
        confirm_outputs: false,
    };
    if !workers.is_empty() {
        let names: Vec<&str> = workers.iter().map(|s| s.name()).collect();
        tracing::info!(stages = ?names, "these stages are left to `alice worker` processes; files wait in the stream until one runs");
    }
    let in_process = options.in_process.clone();
    let metrics = crate::metrics::Metrics::default();
    let pipeline = Pipeline::start_configured(catalog, settings(cfg)?, options, |bus| {
        if let Some(w) = &redis {
            subscribe_redis(bus, w)?;
        }
        if cfg.metrics.enabled {
            metrics.subscribe(bus)?;
        }
        Ok(())
    })
    .await?;
    if cfg.metrics.enabled {
        // A worker's events reach this process through the stream, not the bus.
        let m = metrics.clone();
        pipeline.on_foreign_event(Arc::new(move |e: &Event| m.count(e)));
    }
    let recovered = pipeline.recover().await?;
    if recovered != pipeline::RecoveryReport::default() {
        tracing::info!(
            completed = recovered.completed,
            abandoned = recovered.abandoned,
            temporaries_removed = recovered.temporaries_removed,
            "recovered from an interrupted run"
        );
    }

    // Each in-process stage also reads its consumer group: it acknowledges what it handled
    // live and handles what an earlier run (or a worker's output) left in the stream.
    let runners: Vec<crate::consume::GroupRunner> = match &stream_cfg {
        Some(sc) => in_process
            .iter()
            .map(|&st| {
                crate::consume::GroupRunner::spawn(
                    pipeline.clone(),
                    st,
                    sc.clone(),
                    crate::consume::Role::Daemon,
                )
            })
            .collect(),
        None => Vec::new(),
    };
    if !runners.is_empty() {
        // What an earlier run left in the stream is finished before the inboxes are scanned,
        // so the scan finds those files handled instead of starting them a second time. With
        // stages in workers (started after the daemon) only the reading is waited for.
        let catch_up = async {
            for r in &runners {
                r.caught_up().await;
            }
            if workers.is_empty() {
                pipeline.wait_idle().await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), catch_up)
            .await
            .is_err()
        {
            tracing::warn!(
                "the stream's backlog is not finished after 60 s; scanning the inboxes meanwhile (files are still handled once; `alice status` shows the queues)"
            );
        }
    }

    let run_id = run_id();
    let kind = if job == Job::Watch { "watch" } else { "scan" };
    pipeline
        .publish(Event::new(
            sources::DAEMON,
            RunStarted {
                run_id: run_id.clone(),
                kind: kind.into(),
                inboxes: cfg.inboxes.clone(),
                dry_run: false,
            },
        ))
        .await?;
    let started = Instant::now();

    let (tx, mut rx) = mpsc::channel(256);
    let startup_scans = Arc::new(tokio::sync::Semaphore::new(0));
    let ingest_pipeline = pipeline.clone();
    let scans = startup_scans.clone();
    let ingest = tokio::spawn(async move {
        // Take what has queued up (up to 256) and hand it over in one go: one catalog round
        // trip per batch instead of per file.
        let mut items = Vec::with_capacity(256);
        while rx.recv_many(&mut items, 256).await > 0 {
            let startups = items
                .iter()
                .filter(|i| {
                    matches!(
                        i,
                        watcher::WatchItem::ScanStarted {
                            reason: watcher::ScanReason::Startup,
                            ..
                        }
                    )
                })
                .count();
            if let Err(e) = ingest_pipeline.ingest(std::mem::take(&mut items)).await {
                tracing::error!(error = %e, "cannot hand files to the pipeline");
            }
            scans.add_permits(startups);
        }
    });

    let mut all_stats = Vec::new();
    let mut failed_run = None;
    match job {
        Job::Watch => {
            let mut running = RunningWatcher::start(cfg, &pipeline, tx.clone())?;
            all_stats.push(running.stats.clone());
            // READY once every inbox is watched (its start-up scan begins after its watches).
            let inboxes = u32::try_from(cfg.inboxes.len()).unwrap_or(u32::MAX);
            if tokio::time::timeout(
                Duration::from_secs(120),
                startup_scans.acquire_many(inboxes),
            )
            .await
            .is_err()
            {
                tracing::warn!(
                    "inboxes took more than 120 s to be watched; reporting ready anyway"
                );
            }
            tracing::info!(inboxes = ?cfg.inboxes, organized = %cfg.organized.display(), mode = ?cfg.mode, "watching; drop files into an inbox");
            notifier.send(&format!(
                "READY=1\nSTATUS={}",
                status_line(cfg, &pipeline.tally())
            ));
            let mut current = cfg.clone();
            let (shown_tx, shown_rx) = watch::channel(current.clone());
            let (reload_tx, mut reload_rx) = mpsc::channel::<&'static str>(8);
            let _config_watch = origin
                .path
                .as_deref()
                .and_then(|p| watch_config_file(p, reload_tx.clone()));
            tokio::spawn(forward_sighup(reload_tx.clone()));
            let (stats_tx, stats_rx) = watch::channel(running.stats.clone());
            let view = Arc::new(crate::control::DaemonView {
                pipeline: pipeline.clone(),
                started,
                config_path: origin.description.clone(),
                config: shown_rx.clone(),
                watch_stats: stats_rx,
                reload: reload_tx.clone(),
                last_errors: crate::control::collect_errors(&pipeline, 10),
                redis: redis
                    .clone()
                    .zip(cfg.redis.as_ref().map(|r| streams::redact(&r.url))),
                stream: stream_cfg.clone(),
            });
            let control = crate::control::serve(
                crate::control::socket_path(&cfg.state_dir),
                Some(&cfg.state_dir),
                view,
            )?;
            let _metrics = match cfg.metrics.enabled {
                true => Some(
                    metrics
                        .clone()
                        .serve(
                            cfg.metrics.listen,
                            pipeline.clone(),
                            stats_tx.subscribe(),
                            redis.clone(),
                        )
                        .await?,
                ),
                false => None,
            };
            let _heartbeat = tokio::spawn(heartbeat(
                Arc::new(notifier.clone_target()),
                pipeline.clone(),
                shown_rx,
            ));
            let stop = loop {
                tokio::select! {
                    sig = async { match stop_signals.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break Ok(sig),
                    Some(why) = reload_rx.recv() => {
                        // Editors write in several steps: let them finish, then read once.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        while reload_rx.try_recv().is_ok() {}
                        notifier.reloading();
                        if let Some(restart) = reload(origin, why, &mut current, &pipeline, levels).await {
                            running.stop().await;
                            match RunningWatcher::start(&current, &pipeline, tx.clone()) {
                                Ok(w) => {
                                    all_stats.push(w.stats.clone());
                                    let _ = stats_tx.send(w.stats.clone());
                                    running = w;
                                    tracing::info!(inboxes = ?current.inboxes, reason = restart, "watcher restarted with the new settings");
                                }
                                Err(e) => break Err(format!("cannot restart the watcher after a config change: {e:#}")),
                            }
                        }
                        let _ = shown_tx.send(current.clone());
                        notifier.send(&format!("READY=1\nSTATUS={}", status_line(&current, &pipeline.tally())));
                    }
                    res = &mut running.task => {
                        break Err(match res {
                            Ok(Ok(())) => "watcher stopped unexpectedly".to_owned(),
                            Ok(Err(e)) => format!("watcher failed: {e}"),
                            Err(e) => format!("watcher task failed: {e}"),
                        });
                    }
                }
            };
            notifier.send("STOPPING=1\nSTATUS=stopping: finishing files in flight");
            control.abort();
            let _ = std::fs::remove_file(crate::control::socket_path(&cfg.state_dir));
            let _ = std::fs::remove_file(cfg.state_dir.join(crate::control::ADVERTISEMENT));
            match stop {
                Ok(sig) => {
                    tracing::info!(signal = sig, "stopping: finishing files in flight");
                    running.stop().await;
                }
                Err(msg) => {
                    tracing::error!(error = %msg, "stopping");
                    failed_run = Some(msg);
                }
            }
            drop(tx);
            // Bounded, within systemd's TimeoutStopSec: what does not finish is found again
            // by the next start's scan (everything is journaled).
            let drain = async {
                let _ = ingest.await;
                pipeline.wait_idle().await;
            };
            if tokio::time::timeout(Duration::from_secs(30), drain)
                .await
                .is_err()
            {
                tracing::warn!(
                    "some files were still in flight after 30 s; they will be picked up again at the next start"
                );
            }
        }
        Job::Scan => {
            let watcher = watcher::Watcher::new(watch_config(cfg), pipeline.identity_cache())?;
            all_stats.push(watcher.stats());
            let progress = Progress::start(pipeline.clone(), watcher.stats());
            let res = watcher.scan_once(&tx).await;
            if let Err(e) = res {
                failed_run = Some(format!("scan failed: {e}"));
            }
            // Every item must be ingested (its pipeline started) before waiting for the
            // pipelines to finish; a scan waits as long as its files take (Ctrl-C stops it).
            drop(tx);
            if let Err(e) = ingest.await {
                tracing::error!(error = %e, "the ingest task failed");
            }
            pipeline.wait_idle().await;
            progress.stop();
        }
    }

    let t = pipeline.tally();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let done = RunCompleted {
        run_id: run_id.clone(),
        organized: t.organized,
        duplicates: t.duplicates,
        skipped: t.skipped,
        failed: t.failed,
        elapsed_ms,
    };
    let _ = pipeline.publish(Event::new(sources::DAEMON, done)).await;
    if let Some(error) = &failed_run {
        let _ = pipeline
            .publish(Event::new(
                sources::DAEMON,
                events::RunFailed {
                    run_id,
                    error: error.clone(),
                },
            ))
            .await;
    }
    if let Some(w) = &redis {
        // Everything published so far reaches Redis first, so the group readers' last look
        // sees it and acknowledges it now rather than at the next start.
        w.flush().await;
    }
    for r in runners {
        r.stop().await;
    }
    let report = pipeline.shutdown(Duration::from_secs(10)).await;
    if let Some(w) = &redis {
        // Every event the bus delivered is now in Redis or in the spool; wait for the writer
        // to have handled what it queued.
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
    let sum = |f: fn(&watcher::WatchStats) -> &std::sync::atomic::AtomicU64| -> u64 {
        all_stats
            .iter()
            .map(|s| f(s).load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    let hashed = sum(|s| &s.files_hashed);
    let hashed_bytes = sum(|s| &s.bytes_hashed);
    let cache_hits = sum(|s| &s.cache_hits);
    tracing::info!(
        organized = t.organized,
        duplicates = t.duplicates,
        skipped = t.skipped,
        failed = t.failed,
        files_hashed = hashed,
        bytes_hashed = hashed_bytes,
        identity_cache_hits = cache_hits,
        elapsed_ms,
        "stopped"
    );
    if job == Job::Scan {
        print_summary(&t, hashed, cache_hits, elapsed_ms);
    }
    Ok(if failed_run.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Days a stage's "consumed" mark is kept in the catalog.
const CONSUMED_KEEP_DAYS: i64 = 30;

/// How a daemon names itself as the owner of a stream: host and state dir.
pub(crate) fn stream_owner(state_dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    format!("{host}:{}", dir.display())
}

/// One daemon per stream: the stage groups would otherwise hand one daemon's files to the
/// other. An unreachable Redis is only a warning (the claim is made at the next start).
async fn claim_stream(sc: &streams::StreamConfig, state_dir: &Path) -> Result<()> {
    let me = stream_owner(state_dir);
    match tokio::time::timeout(sc.timeout * 2, streams::claim_owner(sc, &me)).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(other))) => bail!(
            "key `redis.prefix`: the stream {} on {} belongs to another alice daemon ({other}); sharing it would mix the two daemons' files. Give this daemon its own `redis.prefix`, or, if that daemon is gone for good, release the stream with `redis-cli DEL {}`",
            sc.stream_key(),
            streams::redact(&sc.url),
            sc.owner_key()
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot check that this daemon owns the stream (Redis unreachable); checked at the next start");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(redis = %sc, "Redis did not answer in time; the stream's owner is checked at the next start");
            Ok(())
        }
    }
}

/// Appends every event to the Redis stream (a durable bus subscriber: an event counts as
/// handled once it is in Redis or in the local spool).
pub(crate) async fn start_redis_writer(
    sc: streams::StreamConfig,
) -> Result<Arc<streams::StreamWriter>> {
    let shown = sc.to_string();
    let writer = Arc::new(
        streams::StreamWriter::start(sc)
            .await
            .with_context(|| format!("key `redis`: cannot start the Redis writer for {shown}"))?,
    );
    tracing::info!(redis = %shown, connected = writer.is_connected(), "events are appended to Redis");
    Ok(writer)
}

/// The Redis subscriber, sharded by asset like the pipeline's stages: each asset's events
/// reach the stream in order, and appends of different assets overlap (one at a time costs
/// a round trip and, with appendfsync always, an fsync on the server). Registered before
/// the stages (see `Pipeline::start_with`), so an event always reaches it before its effects.
pub(crate) fn subscribe_redis(
    bus: &pipeline::EventBus,
    writer: &Arc<streams::StreamWriter>,
) -> Result<(), pipeline::PipelineError> {
    let w = writer.clone();
    pipeline::subscribe_sharded_on(bus, "redis", bus::Filter::All, move |m: pipeline::Msg| {
        let w = w.clone();
        async move {
            w.append(&m.0.id, m.0.type_name(), &m.0.to_json()).await?;
            Ok(())
        }
    })
}

/// A watcher task and the switch that stops it.
struct RunningWatcher {
    task: tokio::task::JoinHandle<Result<(), watcher::WatchError>>,
    stop: watch::Sender<bool>,
    stats: Arc<watcher::WatchStats>,
}

impl RunningWatcher {
    fn start(
        cfg: &Config,
        pipeline: &Pipeline,
        tx: mpsc::Sender<watcher::WatchItem>,
    ) -> Result<RunningWatcher> {
        let watcher = watcher::Watcher::new(watch_config(cfg), pipeline.identity_cache())?;
        let stats = watcher.stats();
        let (stop, stop_rx) = watch::channel(false);
        Ok(RunningWatcher {
            task: tokio::spawn(watcher.run(tx, stop_rx)),
            stop,
            stats,
        })
    }

    async fn stop(&mut self) {
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
}

fn status_line(cfg: &Config, t: &TallySnapshot) -> String {
    format!(
        "watching {} inbox{}; organized {}, duplicates {}, skipped {}, failed {}",
        cfg.inboxes.len(),
        if cfg.inboxes.len() == 1 { "" } else { "es" },
        t.organized,
        t.duplicates,
        t.skipped,
        t.failed
    )
}

/// No delivery for this long while events wait counts as stuck.
const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// Pings the systemd watchdog while the pipeline makes progress (or has nothing to do), and
/// refreshes the STATUS line.
async fn heartbeat(notifier: Arc<Notifier>, pipeline: Pipeline, cfg: watch::Receiver<Config>) {
    let every = notifier
        .watchdog_every
        .unwrap_or(Duration::from_secs(5))
        .min(Duration::from_secs(5));
    let mut last_delivered = 0u64;
    let mut stuck_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let stats = pipeline.bus().stats();
        let queued: u64 = stats.subscribers.iter().map(|s| s.queued as u64).sum();
        let delivered: u64 = stats.subscribers.iter().map(|s| s.delivered).sum();
        let progressing = queued == 0 || delivered != last_delivered;
        last_delivered = delivered;
        stuck_since = if progressing {
            None
        } else {
            stuck_since.or(Some(Instant::now()))
        };
        // A handler may legitimately take a long while on a huge file on a slow disk, and a
        // restart would only start that copy over: call the pipeline stuck after 15 minutes
        // without any progress.
        let healthy = stuck_since.is_none_or(|t| t.elapsed() < STUCK_AFTER);
        let mut msg = format!("STATUS={}", status_line(&cfg.borrow(), &pipeline.tally()));
        if healthy && notifier.watchdog_every.is_some() {
            msg.push_str("\nWATCHDOG=1");
        } else if !healthy {
            tracing::error!(
                queued,
                "pipeline made no progress for 2 minutes; withholding watchdog pings"
            );
        }
        notifier.send(&msg);
    }
}

async fn forward_sighup(tx: mpsc::Sender<&'static str>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload by editing the config file");
        return;
    };
    while hup.recv().await.is_some() {
        if tx.send("SIGHUP").await.is_err() {
            return;
        }
    }
}

/// Watches the config file's folder (editors replace files rather than write them in place).
fn watch_config_file(
    path: &Path,
    tx: mpsc::Sender<&'static str>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let dir = path.parent()?.to_path_buf();
    let name = path.file_name()?.to_owned();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !ev.kind.is_access()
            && ev
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            let _ = tx.try_send("config file changed");
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "cannot watch the config folder; reload with SIGHUP");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; reload with SIGHUP");
            None
        }
    }
}

/// Re-reads the config and applies what can change at runtime. Returns `Some(reason)` when
/// the watcher must restart (inboxes or watch settings changed).
async fn reload(
    origin: &Origin,
    why: &str,
    current: &mut Config,
    pipeline: &Pipeline,
    levels: &logging::LevelHandle,
) -> Option<&'static str> {
    let Some(path) = &origin.path else {
        tracing::info!(
            trigger = why,
            "reload requested, but there is no config file (running on built-in defaults)"
        );
        return None;
    };
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(trigger = why, path = %path.display(), error = %format!("{e:#}"), "config edit rejected; the running config stays");
            return None;
        }
    };
    if &new == current {
        tracing::debug!(trigger = why, "config unchanged");
        return None;
    }
    let mut changed = Vec::new();
    let mut restart_needed = Vec::new();
    let mut next = new.clone();
    if new.state_dir != current.state_dir {
        restart_needed.push("state_dir");
        next.state_dir = current.state_dir.clone();
    }
    if new.redis != current.redis {
        restart_needed.push("redis");
        next.redis = current.redis.clone();
    }
    if new.metrics != current.metrics {
        restart_needed.push("metrics");
        next.metrics = current.metrics.clone();
    }
    if new.log.format != current.log.format {
        restart_needed.push("log.format");
        next.log.format = current.log.format;
    }
    // Validate everything first; apply only if the whole edit is acceptable, so a rejected
    // edit changes nothing at all.
    let organizer_keys = new.organized != current.organized
        || new.mode != current.mode
        || new.template != current.template
        || new.duplicates != current.duplicates
        || new.quarantine != current.quarantine;
    let watch_keys = new.inboxes != current.inboxes || new.watch != current.watch;
    let reject = |e: anyhow::Error| {
        tracing::error!(trigger = why, path = %path.display(), error = %format!("{e:#}"), "config edit rejected; the running config stays");
    };
    let new_settings = match organizer_keys {
        true => match require_organized(&new.organized).and_then(|()| settings(&next)) {
            Ok(s) => Some(s),
            Err(e) => {
                reject(e);
                return None;
            }
        },
        false => None,
    };
    if watch_keys {
        for inbox in &new.inboxes {
            if let Err(e) = ensure_folder(inbox, "inboxes") {
                reject(e);
                return None;
            }
        }
    }
    if new.log.level != current.log.level {
        match levels.set(&new.log.level) {
            Ok(()) => changed.push("log.level"),
            Err(e) => {
                tracing::warn!(error = %e, "log.level not applied");
                next.log.level = current.log.level.clone();
            }
        }
    }
    if let Some(s) = new_settings {
        pipeline.update_settings(s);
        changed.push("organizer settings (organized, mode, template, duplicates, quarantine)");
    }
    let mut restart = None;
    if watch_keys {
        changed.push("inboxes/watch");
        restart = Some("config reload");
    }
    for key in &restart_needed {
        tracing::warn!(
            key,
            "this key cannot change while running; it takes effect after a restart"
        );
    }
    tracing::info!(trigger = why, path = %path.display(), changed = ?changed, needs_restart = ?restart_needed, "config reloaded; changes apply to files discovered from now on");
    *current = next;
    restart
}

fn print_summary(t: &TallySnapshot, hashed: u64, cache_hits: u64, elapsed_ms: u64) {
    println!(
        "organized {}, duplicates {}, skipped {}, failed {} ({} files hashed, {} known by identity, {:.1} s)",
        t.organized,
        t.duplicates,
        t.skipped,
        t.failed,
        hashed,
        cache_hits,
        elapsed_ms as f64 / 1000.0
    );
}

/// SIGTERM and SIGINT, listened to from the very start: a signal that arrives while the
/// daemon is busy (starting, reloading) is kept until the main loop looks, never lost.
pub(crate) struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    pub(crate) fn install() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
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

    pub(crate) async fn recv(&mut self) -> &'static str {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
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

/// A one-line progress display for `alice scan` on a terminal (stderr).
struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Progress {
    fn start(pipeline: Pipeline, stats: Arc<watcher::WatchStats>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { stop: None };
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                let t = pipeline.tally();
                let secs = t0.elapsed().as_secs_f64().max(0.001);
                let bytes = stats
                    .bytes_hashed
                    .load(std::sync::atomic::Ordering::Relaxed) as f64;
                let done = t.finished();
                let rate = done as f64 / secs;
                let left = t.started.saturating_sub(done);
                let eta = if rate > 0.0 {
                    format!("{:.0} s", left as f64 / rate)
                } else {
                    "?".into()
                };
                eprint!(
                    "\r\x1b[2K{done}/{} files  {rate:.0} files/s  {:.1} MB/s  ETA {eta}",
                    t.started,
                    bytes / 1e6 / secs
                );
            }
            eprint!("\r\x1b[2K");
        });
        Progress { stop: Some(tx) }
    }

    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// `alice scan --dry-run`: walks and reads everything, prints the plan, writes nothing (no
/// folders, no catalog, no files).
pub async fn dry_run(cfg: &Config) -> Result<ExitCode> {
    for inbox in &cfg.inboxes {
        if !inbox.is_dir() {
            bail!(
                "inbox {} does not exist (config key `inboxes`)",
                inbox.display()
            );
        }
    }
    let catalog_path = cfg.state_dir.join("catalog.sqlite3");
    let catalog = if catalog_path.exists() {
        // With the daemon stopped, read an immutable snapshot: even SQLite's `-shm` file
        // would be a change. With it running, the state dir is changing anyway.
        let wal = cfg.state_dir.join("catalog.sqlite3-wal");
        let wal_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
        if wal_pending && !daemon_running(&cfg.state_dir) {
            tracing::warn!(wal = %wal.display(), "the last run did not shut down cleanly; reading its log means SQLite creates a -shm file next to the catalog");
        }
        Some(Arc::new(if daemon_running(&cfg.state_dir) || wal_pending {
            catalog::Catalog::open_readonly(&catalog_path)?
        } else {
            catalog::Catalog::open_snapshot(&catalog_path)?
        }))
    } else {
        None
    };
    let known = match &catalog {
        Some(c) => c.load_identities()?,
        None => Default::default(),
    };
    let cache: Arc<dyn watcher::IdentityCache> = Arc::new(DryCache(known));
    let s = settings(cfg)?;
    let watcher = watcher::Watcher::new(watch_config(cfg), cache)?;
    let (tx, mut rx) = mpsc::channel(256);
    let scan = tokio::spawn(async move { watcher.scan_once(&tx).await });
    let mut seen: std::collections::HashMap<String, PathBuf> = Default::default();
    let mut seqs: std::collections::HashMap<(String, String), u64> = Default::default();
    let (mut organize, mut dups, mut skips, mut fails) = (0u64, 0u64, 0u64, 0u64);
    let context = match &catalog {
        Some(c) => c.context()?,
        None => Default::default(),
    };
    while let Some(item) = rx.recv().await {
        let d = match item {
            watcher::WatchItem::Discovered(d) => d,
            watcher::WatchItem::Failed { path, error, .. } => {
                fails += 1;
                println!("fail      {}: {error}", path.display());
                continue;
            }
            _ => continue,
        };
        if let Some(c) = &catalog {
            if let Some(why) = pipeline::already_handled(c, &d.asset_id, &d.path, s.mode)? {
                tracing::debug!(path = %d.path.display(), why, "already handled");
                continue;
            }
            if let Some(org) = c.is_organized(&d.asset_id)? {
                dups += 1;
                println!(
                    "duplicate {} (same content as {})",
                    d.path.display(),
                    org.display()
                );
                continue;
            }
        }
        let path = d.path.clone();
        let ex = tokio::task::spawn_blocking(move || metadata::extract_path(&path)).await?;
        let ex = match ex {
            Ok(ex) => ex,
            Err(e) => {
                fails += 1;
                println!("fail      {}: {e}", d.path.display());
                continue;
            }
        };
        if ex.info.media_type == events::media::MediaType::Other {
            skips += 1;
            println!("skip      {}: not an image or video", d.path.display());
            continue;
        }
        if let Some(e) = ex.error {
            fails += 1;
            println!("fail      {}: {e}", d.path.display());
            continue;
        }
        if let Some(first) = seen.get(&d.asset_id) {
            dups += 1;
            println!(
                "duplicate {} (same content as {})",
                d.path.display(),
                first.display()
            );
            continue;
        }
        let project = d
            .project
            .clone()
            .or(context.active_project.clone())
            .unwrap_or_else(|| "uncategorized".into());
        let source = events::source_label(&ex.info).to_owned();
        let seq = s.template.uses_seq().then(|| {
            let n = seqs.entry((project.clone(), source.clone())).or_insert(0);
            *n += 1;
            *n
        });
        let rel = pipeline::plan_destination(
            &s.template,
            &ex.info,
            &project,
            d.path.file_name().unwrap_or_default(),
            &d.asset_id,
            d.mtime.into(),
            seq,
        )
        .map_err(|e| anyhow::anyhow!("key `template`: {e}"))?;
        let dest = s.organized.join(rel);
        seen.insert(d.asset_id.clone(), dest.clone());
        organize += 1;
        println!("organize  {} -> {}", d.path.display(), dest.display());
    }
    scan.await??;
    println!(
        "dry run: would organize {organize}, duplicates {dups}, skipped {skips}, failed {fails}; nothing was changed{}",
        if s.template.uses_seq() {
            " (sequence numbers shown are counted from 1 for this plan only)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

struct DryCache(std::collections::HashMap<watcher::FileIdentity, String>);

impl watcher::IdentityCache for DryCache {
    fn lookup(&self, id: &watcher::FileIdentity) -> Option<String> {
        self.0.get(id).cloned()
    }
}
