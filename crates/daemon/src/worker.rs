//! `alice worker <stage>`: one pipeline stage in its own process, fed by the stage's Redis
//! consumer group; what it produces is appended to the stream for the daemon and the next
//! stage. Several workers of one stage share the work (one consumer each).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pipeline::{Pipeline, PipelineOptions, Stage};

use crate::config::Config;
use crate::consume::{GroupRunner, Role};
use crate::error::{Error, IoContext, Result};
use crate::layout::StateLayout;
use crate::lock::{InstanceLock, try_lock};
use crate::notify::Notifier;
use crate::signals::StopSignals;

/// A worker's settings, from its command line.
pub struct WorkerSpec {
    /// The stage it runs.
    pub stage: Stage,
    /// Its consumer name (default: `<redis.consumer>-<stage>`).
    pub consumer: Option<String>,
    /// Where the config came from, for messages.
    pub origin: String,
    /// `$XDG_RUNTIME_DIR`, to find the daemon.
    pub runtime_dir: Option<PathBuf>,
    /// The systemd notify target.
    pub notifier: Notifier,
}

/// Checks the config, takes the worker's lock, and returns what `run` needs.
fn prepare(cfg: &Config, spec: &WorkerSpec) -> Result<(streams::StreamConfig, InstanceLock)> {
    let (stage, origin) = (spec.stage, &spec.origin);
    let Some(redis) = &cfg.redis else {
        return Err(Error::Config(format!(
            "`alice worker` reads its events from Redis, and {origin} has no [redis] section; add one (see config/alice.toml) and list \"{stage}\" in redis.workers"
        )));
    };
    if !redis.worker_stages().contains(&stage) {
        return Err(Error::Config(format!(
            "key `redis.workers` in {origin} does not list \"{stage}\", so the daemon runs that stage itself; add it there (and restart the daemon) before starting workers for it"
        )));
    }
    let mut sc = redis.stream_config(&cfg.state_dir, cfg.visual_enabled())?;
    sc.consumer = match &spec.consumer {
        Some(name) => name.clone(),
        None => format!("{}-{stage}", sc.consumer),
    };
    let bad = sc.consumer.is_empty()
        || sc.consumer.starts_with('.')
        || sc
            .consumer
            .contains(|c: char| c.is_whitespace() || c == '/');
    if bad {
        return Err(Error::Config(format!(
            "--consumer {:?}: a consumer name must be non-empty, without spaces or slashes, and not start with a dot",
            sc.consumer
        )));
    }
    crate::core::ensure_state_dir(&cfg.state_dir)?;
    if matches!(stage, Stage::Organizer | Stage::Visual) {
        crate::core::require_organized(&cfg.organized)?;
    }
    // Its own spool: events it produced while Redis was down are appended when it is back.
    let dir = StateLayout::new(&cfg.state_dir).worker_dir(&sc.consumer);
    std::fs::create_dir_all(&dir).at(|| "cannot create the worker's folder".into(), &dir)?;
    let lock_path = StateLayout::worker_lock(&dir);
    let lock = try_lock(&lock_path)?.ok_or_else(|| {
        Error::Busy(format!(
            "another `alice worker` with consumer name {:?} is running (lock {} is held); give this one its own name with --consumer NAME",
            sc.consumer,
            lock_path.display()
        ))
    })?;
    sc.spool_dir = dir;
    Ok((sc, lock))
}

/// Runs the worker until SIGINT/SIGTERM.
pub async fn run(cfg: Config, spec: WorkerSpec, mut signals: StopSignals) -> Result<()> {
    let stage = spec.stage;
    let (sc, _lock) = prepare(&cfg, &spec)?;
    tracing::info!(config = %spec.origin, stage = stage.name(), consumer = %sc.consumer, version = env!("CARGO_PKG_VERSION"), "alice worker starting");
    check_daemon(&cfg, &sc, &spec).await?;
    let catalog_path = StateLayout::new(&cfg.state_dir).catalog();
    let catalog = match open_catalog(&catalog_path)? {
        Some(catalog) => catalog,
        None => {
            let Some(catalog) = wait_for_catalog(&catalog_path, &mut signals).await? else {
                return Ok(());
            };
            // A daemon that started meanwhile is asked again.
            check_daemon(&cfg, &sc, &spec).await?;
            catalog
        }
    };
    let catalog = Arc::new(catalog);
    let writer = crate::redis::start_writer(sc.clone()).await?;
    let options = PipelineOptions {
        in_process: Vec::new(),
        track_consumed: true,
        confirm_outputs: true,
    };
    let pipeline = Pipeline::start_configured(catalog, cfg.settings()?, options, |bus| {
        crate::redis::subscribe_writer(bus, &writer)
    })
    .await?;
    let runner = GroupRunner::spawn(pipeline.clone(), stage, sc.clone(), Role::Worker);
    tracing::info!(stage = stage.name(), consumer = %sc.consumer, stream = %sc.stream_key(), "worker running");
    spec.notifier.send(&format!(
        "READY=1\nSTATUS=worker {stage} as {}",
        sc.consumer
    ));
    let signal = signals.recv().await;
    tracing::info!(signal, "stopping: finishing the batch in hand");
    writer.flush().await;
    runner.stop().await;
    let report = pipeline.shutdown(Duration::from_secs(10)).await;
    writer.flush().await;
    if writer.spooled() > 0 {
        tracing::warn!(
            spooled = writer.spooled(),
            "Redis is unreachable; spooled events are appended when this worker starts again"
        );
    }
    if !report.is_clean() {
        tracing::warn!(report = ?report, "some events were not finished; their entries stay pending and are handled again");
    }
    tracing::info!(stage = stage.name(), "worker stopped");
    Ok(())
}

/// Waits until the daemon of this config has created its catalog: the catalog is the
/// daemon's, and a worker that created it would make the daemon's first start take the state
/// for an existing one (and refuse a missing organized folder instead of creating it). Then
/// opens it (see [`open_catalog`]); `None` when a stop signal came first.
async fn wait_for_catalog(
    path: &std::path::Path,
    signals: &mut StopSignals,
) -> Result<Option<catalog::Catalog>> {
    tracing::info!(catalog = %path.display(), "waiting for the daemon to create its catalog (start `alice run` or `alice scan` with this config)");
    loop {
        tokio::select! {
            signal = signals.recv() => {
                tracing::info!(signal, "stopped before the daemon created its catalog");
                return Ok(None);
            }
            () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if let Some(catalog) = open_catalog(path)? {
                    return Ok(Some(catalog));
                }
            }
        }
    }
}

/// The daemon's catalog, as it is: a worker never upgrades it (only the daemon, which holds
/// the state dir's lock, does; see `Catalog::open_current`). `None` while the daemon has not
/// created it yet (no file, or a file whose schema is still being written).
fn open_catalog(path: &std::path::Path) -> Result<Option<catalog::Catalog>> {
    if !path.exists() {
        return Ok(None);
    }
    match catalog::Catalog::open_current(path) {
        Err(catalog::CatalogError::NeedsMigration { found: 0, .. }) => Ok(None),
        other => Ok(Some(other?)),
    }
}

/// Refuses to run beside a daemon that still runs `stage` itself (its config was changed but
/// it was not restarted), or on a stream another daemon owns.
async fn check_daemon(cfg: &Config, sc: &streams::StreamConfig, spec: &WorkerSpec) -> Result<()> {
    let stage = spec.stage;
    let asked = crate::control::client::request(
        &cfg.state_dir,
        spec.runtime_dir.as_deref(),
        crate::control::Request::Status,
    )
    .await;
    if let Ok(crate::control::Reply::Status(status)) = asked {
        let left = match &status.redis {
            crate::status::RedisStatus::Configured(r) => {
                r.workers.iter().any(|w| w == stage.name())
            }
            crate::status::RedisStatus::NotConfigured(_) => false,
        };
        if !left {
            return Err(Error::Config(format!(
                "the running daemon (pid {}) still runs the {stage} stage itself: it was started before \"{stage}\" was added to `redis.workers`. Restart it (systemctl --user restart alice), then start this worker",
                status.pid
            )));
        }
    }
    let me = crate::redis::stream_owner(&cfg.state_dir);
    if let Ok(Ok(Some(other))) = tokio::time::timeout(sc.timeout * 2, streams::owner(sc)).await
        && other != me
    {
        return Err(Error::Config(format!(
            "the stream {} belongs to the daemon {other}, not to the one of this config ({me}); run the worker with that daemon's config",
            sc.stream_key()
        )));
    }
    Ok(())
}
