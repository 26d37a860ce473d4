//! `alice run` and `alice scan`: wiring config, catalog, pipeline and watcher together.

use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use events::{Event, OrganizeMode, RunCompleted, RunStarted};
use pipeline::{Pipeline, Settings, TallySnapshot, sources};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, Mode, XdgDefaults};
use crate::{ConfigArgs, logging};

/// What the process does once wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `alice run`.
    Watch,
    /// `alice scan`.
    Scan,
}

/// Loads `--config`, else the XDG config file, else built-in defaults. Returns the config and
/// a description of where it came from.
pub fn load_config(args: &ConfigArgs) -> Result<(Config, String)> {
    if let Some(path) = &args.config {
        return Ok((Config::load(path)?, path.display().to_string()));
    }
    let xdg = XdgDefaults::detect()?;
    if xdg.config_file.exists() {
        return Ok((
            Config::load(&xdg.config_file)?,
            xdg.config_file.display().to_string(),
        ));
    }
    Ok((
        xdg.config(),
        format!(
            "built-in defaults; no config file at {}",
            xdg.config_file.display()
        ),
    ))
}

/// Runs `alice run` or `alice scan`.
pub fn run(args: &ConfigArgs, dry_run: bool, job: Job) -> Result<ExitCode> {
    let (cfg, origin) = load_config(args)?;
    logging::init(
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
            main_loop(&cfg, job).await
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

fn settings(cfg: &Config) -> Result<Settings> {
    Ok(Settings {
        organized: cfg.organized.clone(),
        mode: match cfg.mode {
            Mode::Copy => OrganizeMode::Copy,
            Mode::Move => OrganizeMode::Move,
        },
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

fn ensure_folder(path: &Path, key: &str) -> Result<()> {
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

/// Holds an exclusive lock on the state dir for the life of the process, so two daemons never
/// share one catalog.
pub struct InstanceLock(#[allow(dead_code)] File);

pub fn lock_state_dir(state_dir: &Path) -> Result<InstanceLock> {
    let path = state_dir.join("alice.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        bail!(
            "another alice process is using state_dir {} (lock {} is held); stop it, or give this instance its own state_dir",
            state_dir.display(),
            path.display()
        );
    }
    Ok(InstanceLock(file))
}

fn run_id() -> String {
    format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

async fn main_loop(cfg: &Config, job: Job) -> Result<ExitCode> {
    for inbox in &cfg.inboxes {
        ensure_folder(inbox, "inboxes")?;
    }
    ensure_folder(&cfg.organized, "organized")?;
    ensure_folder(&cfg.state_dir, "state_dir")?;
    let _lock = lock_state_dir(&cfg.state_dir)?;
    let catalog_path = cfg.state_dir.join("catalog.sqlite3");
    let catalog = Arc::new(catalog::Catalog::open(&catalog_path)?);
    let pipeline = Pipeline::start(catalog, settings(cfg)?).await?;
    let recovered = pipeline.recover().await?;
    if recovered != pipeline::RecoveryReport::default() {
        tracing::info!(
            completed = recovered.completed,
            abandoned = recovered.abandoned,
            temporaries_removed = recovered.temporaries_removed,
            "recovered from an interrupted run"
        );
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

    let watcher = watcher::Watcher::new(watch_config(cfg), pipeline.identity_cache())?;
    let stats = watcher.stats();
    let (tx, mut rx) = mpsc::channel(256);
    let (stop_tx, stop_rx) = watch::channel(false);

    let ingest_pipeline = pipeline.clone();
    let ingest = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            if let Err(e) = ingest_pipeline.ingest(item).await {
                tracing::error!(error = %e, "cannot hand a file to the pipeline");
            }
        }
    });

    let mut failed_run = None;
    match job {
        Job::Watch => {
            let mut watch_task = tokio::spawn(watcher.run(tx, stop_rx));
            tracing::info!(inboxes = ?cfg.inboxes, organized = %cfg.organized.display(), mode = ?cfg.mode, "watching; drop files into an inbox");
            tokio::select! {
                sig = shutdown_signal() => {
                    tracing::info!(signal = sig, "stopping: finishing files in flight");
                    let _ = stop_tx.send(true);
                    match tokio::time::timeout(Duration::from_secs(10), &mut watch_task).await {
                        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "watcher stopped with an error"),
                        Ok(_) => {}
                        Err(_) => {
                            tracing::warn!("watcher did not stop within 10 s; abandoning it");
                            watch_task.abort();
                        }
                    }
                }
                res = &mut watch_task => {
                    let msg = match res {
                        Ok(Ok(())) => "watcher stopped unexpectedly".to_owned(),
                        Ok(Err(e)) => format!("watcher failed: {e}"),
                        Err(e) => format!("watcher task failed: {e}"),
                    };
                    tracing::error!(error = %msg, "stopping");
                    failed_run = Some(msg);
                }
            }
        }
        Job::Scan => {
            let progress = Progress::start(pipeline.clone(), stats.clone());
            let res = watcher.scan_once(&tx).await;
            drop(tx);
            if let Err(e) = res {
                failed_run = Some(format!("scan failed: {e}"));
            }
            pipeline.wait_idle().await;
            progress.stop();
        }
    }
    drop(stop_tx);
    let _ = tokio::time::timeout(Duration::from_secs(30), ingest).await;
    if tokio::time::timeout(Duration::from_secs(30), pipeline.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            "some files were still in flight after 30 s; they will be picked up again at the next start"
        );
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
    let report = pipeline.shutdown(Duration::from_secs(10)).await;
    if !report.is_clean() {
        tracing::warn!(report = ?report, "some events were not handled before shutdown; the start-up scan will pick their files up again");
    }
    let hashed = stats
        .files_hashed
        .load(std::sync::atomic::Ordering::Relaxed);
    let hashed_bytes = stats
        .bytes_hashed
        .load(std::sync::atomic::Ordering::Relaxed);
    let cache_hits = stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed);
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

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
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
        Some(Arc::new(catalog::Catalog::open_readonly(&catalog_path)?))
    } else {
        None
    };
    let known = match &catalog {
        Some(c) => c.load_identities()?,
        None => Default::default(),
    };
    let cache: Arc<dyn watcher::IdentityCache> = Arc::new(DryCache(
        known
            .into_iter()
            .map(|(k, v)| {
                (
                    watcher::FileIdentity {
                        dev: k.dev,
                        ino: k.ino,
                        size: k.size,
                        mtime_ns: i128::from(k.mtime_ns),
                    },
                    v,
                )
            })
            .collect(),
    ));
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
