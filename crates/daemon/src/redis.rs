//! The daemon's side of `[redis]`: owning the stream, the writer subscriber, old marks.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Days a stage's "consumed" mark is kept in the catalog: marks matter while the stream can
/// still deliver their events, and a month covers any outage or backlog worth the name.
pub const CONSUMED_KEEP_DAYS: i64 = 30;

/// How a daemon names itself as the owner of a stream: host and state dir.
pub fn stream_owner(state_dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    format!("{host}:{}", dir.display())
}

/// One daemon per stream: the stage groups would otherwise hand one daemon's files to the
/// other. An unreachable Redis is only a warning (the claim is made at the next start).
pub(crate) async fn claim_stream(sc: &streams::StreamConfig, state_dir: &Path) -> Result<()> {
    let me = stream_owner(state_dir);
    match tokio::time::timeout(sc.timeout * 2, streams::claim_owner(sc, &me)).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(other))) => Err(Error::Config(format!(
            "key `redis.prefix`: the stream {} on {} belongs to another alice daemon ({other}); sharing it would mix the two daemons' files. Give this daemon its own `redis.prefix`, or, if that daemon is gone for good, release the stream with `redis-cli DEL {}`",
            sc.stream_key(),
            streams::redact(&sc.url),
            sc.owner_key()
        ))),
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

/// Forgets consumed marks older than [`CONSUMED_KEEP_DAYS`]; a failure is only logged.
pub(crate) async fn prune_consumed(catalog: Arc<catalog::Catalog>) {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(CONSUMED_KEEP_DAYS);
    match tokio::task::spawn_blocking(move || catalog.prune_consumed(cutoff)).await {
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

/// Appends every event to the Redis stream (a durable bus subscriber: an event counts as
/// handled once it is in Redis or in the local spool).
pub(crate) async fn start_writer(sc: streams::StreamConfig) -> Result<Arc<streams::StreamWriter>> {
    let shown = sc.to_string();
    let writer = Arc::new(streams::StreamWriter::start(sc).await.map_err(|e| {
        Error::Config(format!(
            "key `redis`: cannot start the Redis writer for {shown}: {e}"
        ))
    })?);
    tracing::info!(redis = %shown, connected = writer.is_connected(), "events are appended to Redis");
    Ok(writer)
}

/// The Redis subscriber, sharded by asset like the pipeline's stages: each asset's events
/// reach the stream in order, and appends of different assets overlap (one at a time costs
/// a round trip and, with appendfsync always, an fsync on the server). Registered before
/// the stages (see `Pipeline::start_with`), so an event always reaches it before its effects.
pub(crate) fn subscribe_writer(
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
