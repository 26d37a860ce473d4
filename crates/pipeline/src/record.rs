//! The catalog stage: records every event (idempotent on the event id, group-committed by
//! [`crate::writer`]) and writes the one log line each event gets.

use events::{Event, Payload};

use crate::ctx::Ctx;
use crate::{Msg, PipelineError};

/// Handles any event: log it, then record it durably.
pub(crate) async fn record(ctx: &Ctx, m: Msg) -> Result<(), PipelineError> {
    log_event(ctx, &m.0);
    if ctx.options.track_consumed {
        ctx.writer.record(m.0.clone()).await?;
    } else {
        ctx.writer.hand_over(m.0.clone()).await?;
    }
    Ok(())
}

/// One log record per event, with stable field names (see docs/logging.md).
fn log_event(ctx: &Ctx, ev: &Event) {
    let t = ev.type_name();
    let id = ev.id.as_str();
    let corr = ev.correlation_id.as_deref().unwrap_or("");
    let asset = ev.payload.asset_id().unwrap_or("");
    match &ev.payload {
        Payload::AssetDiscovered(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), size = p.size, project = %p.project, "discovered")
        }
        Payload::MetadataExtracted(p) => {
            tracing::debug!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), media_type = p.media.media_type.as_str(), format = p.media.format.as_deref().unwrap_or(""), source = events::source_label(&p.media), "metadata extracted")
        }
        Payload::AssetOrganized(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.source_path.display(), destination = %p.destination.display(), mode = ?p.mode, source = %p.source, project = %p.project, sidecars = p.sidecars.len(), "organized")
        }
        Payload::AssetDuplicate(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), existing = %p.existing.display(), destination = %p.moved_to.as_deref().map(|d| d.display().to_string()).unwrap_or_default(), "duplicate")
        }
        Payload::AssetSkipped(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), reason = %p.reason, "skipped")
        }
        Payload::SidecarFiled(p) => {
            let destination = p
                .destination
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), kind = %p.kind, media_asset_id = p.media_asset_id.as_deref().unwrap_or(""), destination = %destination, "sidecar")
        }
        Payload::AssetFailed(p)
            if ctx
                .log_limit
                .allow(&crate::ratelimit::failure_kind(&p.stage, &p.error, &p.path)) =>
        {
            tracing::warn!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), stage = %p.stage, error = %p.error, "failed")
        }
        Payload::AssetFailed(_) => {}
        Payload::AssetVisualized(p) => {
            tracing::debug!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, rendered = %p.rendered, reason = p.reason.as_deref().unwrap_or(""), fingerprinted = p.fingerprint.is_some(), "visualized")
        }
        Payload::DeadLettered(p)
            if ctx
                .log_limit
                .allow(&format!("dead letter: {}: {}", p.subscriber, p.error)) =>
        {
            tracing::error!(event_type = t, event_id = id, subscriber = %p.subscriber, failed_event_id = %p.event_id, failed_event_type = %p.event_type, error = %p.error, attempts = p.attempts, "dead-lettered")
        }
        Payload::DeadLettered(_) => {}
        Payload::Unknown { type_name, .. } => {
            tracing::warn!(event_type = %type_name, event_id = id, "unknown event type; recorded and otherwise ignored")
        }
        _ => tracing::info!(
            event_type = t,
            event_id = id,
            correlation_id = corr,
            asset_id = asset,
            "event"
        ),
    }
}
