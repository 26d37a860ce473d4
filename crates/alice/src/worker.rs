//! `alice worker <stage>`: one pipeline stage in its own process, fed by the stage's Redis
//! consumer group; what it produces is appended to the stream for the daemon and the next
//! stage. Several workers of one stage share the work (one consumer each).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pipeline::{Pipeline, PipelineOptions, Stage};

use crate::consume::{GroupRunner, Role};
use crate::daemon::{self, StopSignals};
use crate::sdnotify::Notifier;
use crate::{ConfigArgs, logging};

/// Runs `stage` until SIGINT/SIGTERM.
pub fn run(args: &ConfigArgs, stage: Stage, consumer: Option<String>) -> Result<ExitCode> {
    let (cfg, origin) = daemon::load_config(args)?;
    let _levels = logging::init(
        args.log_format.unwrap_or(cfg.log.format),
        &cfg.log.level,
        true,
    );
    let Some(redis) = &cfg.redis else {
        bail!(
            "`alice worker` reads its events from Redis, and {origin} has no [redis] section; add one (see config/alice.toml) and list \"{stage}\" in redis.workers"
        );
    };
    if !redis.worker_stages().contains(&stage) {
        bail!(
            "key `redis.workers` in {origin} does not list \"{stage}\", so the daemon runs that stage itself; add it there (and restart the daemon) before starting workers for it"
        );
    }
    let mut sc = redis.stream_config(&cfg.state_dir)?;
    sc.consumer = match consumer {
        Some(name) => name,
        None => format!("{}-{stage}", sc.consumer),
    };
    if sc.consumer.is_empty()
        || sc.consumer.starts_with('.')
        || sc
            .consumer
            .contains(|c: char| c.is_whitespace() || c == '/')
    {
        bail!(
            "--consumer {:?}: a consumer name must be non-empty, without spaces or slashes, and not start with a dot",
            sc.consumer
        );
    }
    daemon::ensure_folder(&cfg.state_dir, "state_dir")?;
    if stage == Stage::Organizer {
        daemon::require_organized(&cfg.organized)?;
    }
    // Its own spool: events it produced while Redis was down are appended when it is back.
    let dir = cfg.state_dir.join("workers").join(&sc.consumer);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the worker's folder {}", dir.display()))?;
    let _lock = lock(&dir, &sc.consumer)?;
    sc.spool_dir = dir;
    tracing::info!(config = %origin, stage = stage.name(), consumer = %sc.consumer, version = env!("CARGO_PKG_VERSION"), "alice worker starting");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alice-worker")
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(async move {
        let mut signals = StopSignals::install();
        check_daemon(&cfg, &sc, stage).await?;
        let catalog = Arc::new(catalog::Catalog::open(
            &cfg.state_dir.join("catalog.sqlite3"),
        )?);
        let writer = daemon::start_redis_writer(sc.clone()).await?;
        let options = PipelineOptions {
            in_process: Vec::new(),
            track_consumed: true,
            confirm_outputs: true,
        };
        let pipeline =
            Pipeline::start_configured(catalog, daemon::settings(&cfg)?, options, |bus| {
                daemon::subscribe_redis(bus, &writer)
            })
            .await?;
        let runner = GroupRunner::spawn(pipeline.clone(), stage, sc.clone(), Role::Worker);
        tracing::info!(stage = stage.name(), consumer = %sc.consumer, stream = %sc.stream_key(), "worker running");
        Notifier::from_env().send(&format!("READY=1\nSTATUS=worker {stage} as {}", sc.consumer));
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
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

/// Refuses to run beside a daemon that still runs `stage` itself (its config was changed but
/// it was not restarted), or on a stream another daemon owns.
async fn check_daemon(
    cfg: &crate::config::Config,
    sc: &streams::StreamConfig,
    stage: Stage,
) -> Result<()> {
    if let Ok(status) = crate::control::request(cfg, serde_json::json!({"cmd": "status"})).await {
        let left = status
            .pointer("/redis/workers")
            .and_then(|w| w.as_array())
            .is_some_and(|w| w.iter().any(|s| s.as_str() == Some(stage.name())));
        if !left {
            bail!(
                "the running daemon (pid {}) still runs the {stage} stage itself: it was started before \"{stage}\" was added to `redis.workers`. Restart it (systemctl --user restart alice), then start this worker",
                status.pointer("/pid").cloned().unwrap_or_default()
            );
        }
    }
    let me = daemon::stream_owner(&cfg.state_dir);
    if let Ok(Ok(Some(other))) = tokio::time::timeout(sc.timeout * 2, streams::owner(sc)).await
        && other != me
    {
        bail!(
            "the stream {} belongs to the daemon {other}, not to the one of this config ({me}); run the worker with that daemon's config",
            sc.stream_key()
        );
    }
    Ok(())
}

/// One process per consumer name: two would share a spool file and a pending list.
fn lock(dir: &std::path::Path, consumer: &str) -> Result<daemon::InstanceLock> {
    let path = dir.join("worker.lock");
    match daemon::try_lock(&path)? {
        Some(lock) => Ok(lock),
        None => bail!(
            "another `alice worker` with consumer name {consumer:?} is running (lock {} is held); give this one its own name with --consumer NAME",
            path.display()
        ),
    }
}
