//! The subscribers' handlers and the watcher intake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bus::HandlerError;
use catalog::{AssetStatus, Catalog, NewOp, OpKind};
use chrono::{DateTime, Utc};
use events::media::MediaType;
use events::{
    AssetDiscovered, AssetDuplicate, AssetFailed, AssetOrganized, AssetSkipped, DiscoveryKind,
    Event, MetadataExtracted, OrganizeMode, Payload,
};
use organizer::{Outcome, PlaceRequest};

use crate::{Inner, Msg, PipelineError, Settings, sources};

/// Project used when a file lies directly in an inbox and no project is active.
pub const UNCATEGORIZED: &str = "uncategorized";

pub(crate) fn settings(inner: &Inner) -> Arc<Settings> {
    match inner.settings.read() {
        Ok(s) => s.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Runs a catalog call off the async runtime.
pub(crate) async fn db<T: Send + 'static>(
    inner: &Inner,
    f: impl FnOnce(&Catalog) -> Result<T, catalog::CatalogError> + Send + 'static,
) -> Result<T, PipelineError> {
    let cat = inner.catalog.clone();
    tokio::task::spawn_blocking(move || f(&cat))
        .await
        .map_err(|e| PipelineError::Join(e.to_string()))?
        .map_err(PipelineError::from)
}

pub(crate) async fn publish(inner: &Inner, event: Event) -> Result<(), PipelineError> {
    if inner.track_consumed
        && let Ok(mut p) = inner.published.lock()
    {
        p.insert(&event.id);
    }
    let msg = Msg(Arc::new(event));
    if !inner.confirm_outputs {
        return inner
            .bus
            .publish(msg)
            .await
            .map_err(|_| PipelineError::Closed);
    }
    // A worker's only record of what it produced is the stream: the Redis writer must have it
    // (in Redis or in the fsynced spool) before the input is marked consumed and acknowledged.
    let receipt = inner
        .bus
        .publish_tracked(msg)
        .await
        .map_err(|_| PipelineError::Closed)?;
    let outcome = receipt
        .await
        .map_err(|e| PipelineError::NotDelivered(e.to_string()))?;
    if outcome.is_fully_acked() {
        Ok(())
    } else {
        Err(PipelineError::NotDelivered(format!(
            "{:?}",
            outcome.deliveries
        )))
    }
}

fn to_utc(t: std::time::SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

// ----- intake ------------------------------------------------------------------------------

pub(crate) async fn ingest(
    inner: &Arc<Inner>,
    items: Vec<watcher::WatchItem>,
) -> Result<usize, PipelineError> {
    let mut discovered = Vec::new();
    for item in items {
        match item {
            watcher::WatchItem::Discovered(d) => discovered.push(d),
            watcher::WatchItem::Failed { path, inbox, error } => {
                tracing::warn!(path = %path.display(), inbox = %inbox.display(), error = %error, "file cannot be read");
                inner.tally.started(None);
                let ev = Event::new(
                    sources::WATCHER,
                    AssetFailed {
                        asset_id: None,
                        path,
                        stage: "discover".into(),
                        error,
                        quarantined_to: None,
                    },
                );
                publish(inner, ev).await?;
            }
            watcher::WatchItem::ScanStarted { inbox, reason } => {
                tracing::info!(inbox = %inbox.display(), reason = ?reason, "scan started");
            }
            watcher::WatchItem::ScanFinished {
                inbox,
                reason,
                files,
            } => {
                tracing::info!(inbox = %inbox.display(), reason = ?reason, files, "scan walked the inbox");
            }
        }
    }
    if discovered.is_empty() {
        return Ok(0);
    }
    for d in discovered.iter().filter(|d| d.hashed) {
        if let Ok(mut map) = inner.identities.lock() {
            map.insert(d.identity, d.asset_id.clone());
        }
        let identity = catalog::FileIdentity {
            dev: d.identity.dev,
            ino: d.identity.ino,
            size: d.identity.size,
            mtime_ns: i64::try_from(d.identity.mtime_ns).unwrap_or(i64::MAX),
            ctime_ns: i64::try_from(d.identity.ctime_ns).unwrap_or(i64::MAX),
        };
        remember_identity(
            inner,
            catalog::KnownFile {
                identity,
                path: d.path.clone(),
                asset_id: d.asset_id.clone(),
            },
        )
        .await?;
    }
    // One catalog round trip for the whole batch: a restart over many known files is
    // dominated by this check.
    let mode = settings(inner).mode;
    let keys: Vec<(String, PathBuf)> = discovered
        .iter()
        .map(|d| (d.asset_id.clone(), d.path.clone()))
        .collect();
    let (handled, active_project) = db(inner, move |c| {
        let handled = keys
            .iter()
            .map(|(asset, path)| already_handled(c, asset, path, mode))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((handled, c.context()?.active_project))
    })
    .await?;
    let mut started = 0;
    for (d, handled) in discovered.into_iter().zip(handled) {
        if let Some(why) = handled {
            tracing::debug!(asset_id = %d.asset_id, path = %d.path.display(), why, "already handled; nothing to do");
            continue;
        }
        let project = d
            .project
            .clone()
            .or_else(|| active_project.clone())
            .unwrap_or_else(|| UNCATEGORIZED.to_owned());
        let kind = match d.kind {
            watcher::DiscoveryKind::Scan => DiscoveryKind::Scan,
            watcher::DiscoveryKind::Watch => DiscoveryKind::Watch,
            watcher::DiscoveryKind::Manual => DiscoveryKind::Manual,
        };
        let ev = Event::new(
            sources::WATCHER,
            AssetDiscovered {
                asset_id: d.asset_id,
                path: d.path,
                size: d.identity.size,
                mtime: to_utc(d.mtime),
                inbox: d.inbox,
                project,
                kind,
            },
        );
        if inner.tracks_discoveries {
            inner.tally.started_discovery(ev.subject.as_deref(), &ev.id);
        } else {
            inner.tally.started(ev.subject.as_deref());
        }
        publish(inner, ev).await?;
        started += 1;
    }
    Ok(started)
}

/// Identities are saved in batches: losing the last few in a crash only costs a rehash.
const IDENTITY_BATCH: usize = 256;

async fn remember_identity(
    inner: &Arc<Inner>,
    file: catalog::KnownFile,
) -> Result<(), PipelineError> {
    let full = match inner.unsaved_identities.lock() {
        Ok(mut v) => {
            v.push(file);
            v.len() >= IDENTITY_BATCH
        }
        Err(_) => false,
    };
    if full {
        flush_identities(inner).await
    } else {
        Ok(())
    }
}

/// Writes the identities learned since the last flush.
pub(crate) async fn flush_identities(inner: &Arc<Inner>) -> Result<(), PipelineError> {
    let batch = match inner.unsaved_identities.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => return Ok(()),
    };
    if batch.is_empty() {
        return Ok(());
    }
    db(inner, move |c| c.remember_identities(&batch)).await
}

/// Why a file found in an inbox needs no new pipeline, if it does not: this content at this
/// path already reached a final outcome in an earlier run.
pub fn already_handled(
    c: &Catalog,
    asset_id: &str,
    path: &Path,
    mode: OrganizeMode,
) -> Result<Option<&'static str>, catalog::CatalogError> {
    let Some(rec) = c.asset(asset_id)? else {
        return Ok(None);
    };
    if rec.status == AssetStatus::Organized && rec.original_path == path {
        // Copy mode keeps the source: it is done. Move mode must still remove it (a crash
        // between recording and removal), so that one goes through the organizer again.
        return Ok((mode == OrganizeMode::Copy).then_some("organized from this path"));
    }
    for stored in c.events_for_asset(asset_id)? {
        let Ok(ev) = Event::from_json(&stored.json) else {
            continue;
        };
        match &ev.payload {
            Payload::AssetDuplicate(p) if p.path == path && p.moved_to.is_none() => {
                return Ok(Some("reported as a duplicate"));
            }
            Payload::AssetSkipped(p) if p.path == path => return Ok(Some("skipped: not media")),
            Payload::AssetFailed(p)
                if p.path == path && p.stage == "metadata" && p.quarantined_to.is_none() =>
            {
                return Ok(Some("failed: unreadable media"));
            }
            _ => {}
        }
    }
    Ok(None)
}

// ----- catalog subscriber ------------------------------------------------------------------

pub(crate) async fn record(inner: &Arc<Inner>, m: Msg) -> Result<(), HandlerError> {
    log_event(inner, &m.0);
    inner.writer.record(m.0.clone()).await?;
    Ok(())
}

/// One log record per event, with stable field names (see docs/logging.md).
fn log_event(inner: &Inner, ev: &Event) {
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
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.source_path.display(), destination = %p.destination.display(), mode = ?p.mode, source = %p.source, project = %p.project, "organized")
        }
        Payload::AssetDuplicate(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), existing = %p.existing.display(), destination = %p.moved_to.as_deref().map(|d| d.display().to_string()).unwrap_or_default(), "duplicate")
        }
        Payload::AssetSkipped(p) => {
            tracing::info!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), reason = %p.reason, "skipped")
        }
        Payload::AssetFailed(p)
            if inner
                .log_limit
                .allow(&crate::ratelimit::failure_kind(&p.stage, &p.error, &p.path)) =>
        {
            tracing::warn!(event_type = t, event_id = id, correlation_id = corr, asset_id = asset, path = %p.path.display(), stage = %p.stage, error = %p.error, "failed")
        }
        Payload::AssetFailed(_) => {}
        Payload::DeadLettered(p)
            if inner
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

// ----- metadata subscriber -----------------------------------------------------------------

pub(crate) async fn extract(inner: &Arc<Inner>, m: Msg) -> Result<(), HandlerError> {
    let Payload::AssetDiscovered(d) = &m.0.payload else {
        return Ok(());
    };
    let path = d.path.clone();
    let result = tokio::task::spawn_blocking(move || metadata::extract_path(&path))
        .await
        .map_err(|e| format!("metadata extraction task failed: {e}"))?;
    let next = match result {
        Ok(ex) => m.0.follow(
            sources::METADATA,
            MetadataExtracted {
                asset_id: d.asset_id.clone(),
                path: d.path.clone(),
                size: d.size,
                mtime: d.mtime,
                inbox: d.inbox.clone(),
                project: d.project.clone(),
                media: ex.info,
                error: ex.error.map(|e| e.to_string()),
            },
        ),
        Err(_)
            if let Some(rec) = organized_from_here_and_gone(inner, &d.asset_id, &d.path).await =>
        {
            // Another delivery of this very file (a replay racing the start-up scan) moved it
            // into the organized tree meanwhile: that is this pipeline's outcome too.
            m.0.follow(
                sources::METADATA,
                organized_record(&rec, &d.path, settings(inner).mode),
            )
        }
        Err(e) => m.0.follow(
            sources::METADATA,
            AssetFailed {
                asset_id: Some(d.asset_id.clone()),
                path: d.path.clone(),
                stage: "metadata".into(),
                error: format!("cannot read {}: {e}", d.path.display()),
                quarantined_to: None,
            },
        ),
    };
    publish(inner, next).await?;
    Ok(())
}

/// The asset's record, when it was organized from `path` and `path` is gone (moved into the
/// organized tree by another delivery of the same file).
async fn organized_from_here_and_gone(
    inner: &Arc<Inner>,
    asset_id: &str,
    path: &Path,
) -> Option<catalog::AssetRecord> {
    if std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    let id = asset_id.to_owned();
    let rec = db(inner, move |c| c.asset(&id)).await.ok()??;
    (rec.status == AssetStatus::Organized
        && rec.original_path == path
        && rec.organized_path.is_some())
    .then_some(rec)
}

/// `AssetOrganized` from the catalog's record of an earlier placement.
fn organized_record(rec: &catalog::AssetRecord, path: &Path, mode: OrganizeMode) -> Payload {
    Payload::AssetOrganized(AssetOrganized {
        asset_id: rec.asset_id.clone(),
        source_path: path.to_path_buf(),
        destination: rec.organized_path.clone().unwrap_or_default(),
        mode,
        project: rec.project.clone().unwrap_or_default(),
        source: rec.source.clone().unwrap_or_default(),
        style: rec.style.clone(),
        size: rec.size,
        renamed_for_collision: false,
    })
}

/// True when a discovery read back from the stream needs no pipeline any more: its file
/// reached a final outcome meanwhile (the start-up scan handled it, or it was organized and
/// moved away).
pub(crate) async fn replay_is_moot(
    inner: &Arc<Inner>,
    event: &Event,
) -> Result<bool, PipelineError> {
    let Payload::AssetDiscovered(d) = &event.payload else {
        return Ok(false);
    };
    if organized_from_here_and_gone(inner, &d.asset_id, &d.path)
        .await
        .is_some()
    {
        return Ok(true);
    }
    let (asset, path, mode) = (d.asset_id.clone(), d.path.clone(), settings(inner).mode);
    let handled = db(inner, move |c| already_handled(c, &asset, &path, mode)).await?;
    Ok(handled.is_some())
}

// ----- organizer subscriber ----------------------------------------------------------------

pub(crate) async fn organize(inner: &Arc<Inner>, m: Msg) -> Result<(), HandlerError> {
    let Payload::MetadataExtracted(x) = &m.0.payload else {
        return Ok(());
    };
    let s = settings(inner);
    let next = match organize_one(inner, &s, x).await {
        Ok(payload) => payload,
        Err(Step::Retry(e)) => return Err(e.into()),
        Err(Step::Fail(error)) => failed(x, "organize", error, None),
        Err(Step::Changed(error)) => {
            // The content is not what was hashed: forget what we thought we knew about this
            // file so the next scan (or its next change) hashes it afresh.
            forget_identity(inner, &x.path).await;
            failed(
                x,
                "organize",
                format!("{error}; it will be hashed again"),
                None,
            )
        }
    };
    publish(inner, m.0.follow(sources::ORGANIZER, next)).await?;
    Ok(())
}

enum Step {
    /// Worth another attempt (the bus retries with backoff).
    Retry(String),
    /// Final: report `AssetFailed`.
    Fail(String),
    /// The file is not the content that was hashed: report it and forget its identity.
    Changed(String),
}

/// Drops the identity cache entry of the file at `path` (memory and catalog).
async fn forget_identity(inner: &Arc<Inner>, path: &Path) {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && let Ok(mut map) = inner.identities.lock()
    {
        map.remove(&watcher::FileIdentity::from_metadata(&meta));
    }
    if let Ok(mut unsaved) = inner.unsaved_identities.lock() {
        unsaved.retain(|k| k.path != path);
    }
    let p = path.to_path_buf();
    if let Err(e) = db(inner, move |c| c.forget_identity(&p)).await {
        tracing::warn!(path = %path.display(), error = %e, "cannot forget a stale file identity");
    }
}

impl From<PipelineError> for Step {
    fn from(e: PipelineError) -> Step {
        Step::Retry(e.to_string())
    }
}

fn failed(
    x: &MetadataExtracted,
    stage: &str,
    error: String,
    quarantined_to: Option<PathBuf>,
) -> Payload {
    Payload::AssetFailed(AssetFailed {
        asset_id: Some(x.asset_id.clone()),
        path: x.path.clone(),
        stage: stage.into(),
        error,
        quarantined_to,
    })
}

fn organize_error(e: organizer::OrganizeError) -> Step {
    if matches!(e, organizer::OrganizeError::SourceChanged { .. }) {
        Step::Changed(e.to_string())
    } else if e.is_transient() {
        Step::Retry(e.to_string())
    } else {
        Step::Fail(e.to_string())
    }
}

async fn place(req: PlaceOwned) -> Result<organizer::Placement, Step> {
    tokio::task::spawn_blocking(move || {
        organizer::place(&PlaceRequest {
            source: &req.source,
            dest_root: &req.dest_root,
            relative: &req.relative,
            asset_id: &req.asset_id,
            expected_size: req.size,
            mode: req.mode,
        })
    })
    .await
    .map_err(|e| Step::Retry(format!("placement task failed: {e}")))?
    .map_err(organize_error)
}

async fn remove_source(source: PathBuf, placement: organizer::Placement) -> Result<(), Step> {
    tokio::task::spawn_blocking(move || organizer::remove_source(&source, &placement))
        .await
        .map_err(|e| Step::Retry(format!("removal task failed: {e}")))?
        .map_err(organize_error)?;
    Ok(())
}

struct PlaceOwned {
    source: PathBuf,
    dest_root: PathBuf,
    relative: PathBuf,
    asset_id: String,
    size: u64,
    mode: OrganizeMode,
}

async fn organize_one(
    inner: &Arc<Inner>,
    s: &Settings,
    x: &MetadataExtracted,
) -> Result<Payload, Step> {
    if x.media.media_type == MediaType::Other {
        return Ok(Payload::AssetSkipped(AssetSkipped {
            asset_id: x.asset_id.clone(),
            path: x.path.clone(),
            reason: "not an image or video: no known format in its first bytes".into(),
        }));
    }
    if let Some(error) = &x.error {
        let quarantined = match &s.quarantine {
            Some(q) => Some(set_aside(inner, x, q, OpKind::Quarantine).await?),
            None => None,
        };
        return Ok(failed(x, "metadata", error.clone(), quarantined));
    }
    let asset_id = x.asset_id.clone();
    let existing = db(inner, move |c| c.asset(&asset_id)).await?;
    if let Some(rec) = existing.filter(|r| r.status == AssetStatus::Organized)
        && let Some(organized) = rec.organized_path.clone()
    {
        if organized_copy_is_there(&organized, rec.size) {
            return duplicate_or_finish(inner, s, x, &rec.original_path, organized).await;
        }
        // The organized copy was deleted or changed since: organize this file again rather
        // than calling it a duplicate of something that is gone.
        tracing::info!(asset_id = %x.asset_id, missing = %organized.display(), "the organized copy of this content is gone; organizing it again");
        let id = x.asset_id.clone();
        db(inner, move |c| forget_organized(c, &id)).await?;
    }

    let source = events::source_label(&x.media);
    let template = s.template.clone();
    let (project, src_label) = (x.project.clone(), source.to_owned());
    let (seq, style) = db(inner, move |c| {
        let seq = if template.uses_seq() {
            Some(c.next_seq(&project, &src_label)?)
        } else {
            None
        };
        Ok((seq, c.context()?.active_style))
    })
    .await?;
    let name = x.path.file_name().unwrap_or_default();
    let mtime = x.mtime;
    let relative = crate::plan_destination(
        &s.template,
        &x.media,
        &x.project,
        name,
        &x.asset_id,
        mtime,
        seq,
    )
    .map_err(|e| Step::Fail(format!("template {:?}: {e}", s.template.as_str())))?;
    let planned = s.organized.join(&relative);

    let kind = if s.mode == OrganizeMode::Move {
        OpKind::Move
    } else {
        OpKind::Copy
    };
    let op_id = begin_op(inner, x, kind, planned.clone(), mode_str(s.mode)).await?;

    let placed = place(PlaceOwned {
        source: x.path.clone(),
        dest_root: s.organized.clone(),
        relative,
        asset_id: x.asset_id.clone(),
        size: x.size,
        mode: s.mode,
    })
    .await;
    let placement = match placed {
        Ok(p) => p,
        Err(step) => {
            let why = match &step {
                Step::Retry(e) | Step::Fail(e) | Step::Changed(e) => e.clone(),
            };
            if let Err(e) = db(inner, move |c| c.abandon_op(op_id, &why)).await {
                // Start-up recovery finds the pending operation and resolves it.
                tracing::warn!(op_id, error = %e, "cannot mark a failed placement abandoned; recovery will");
            }
            return Err(step);
        }
    };

    let (asset_id, dest, media, project, src_label) = (
        x.asset_id.clone(),
        placement.destination.clone(),
        x.media.clone(),
        x.project.clone(),
        source.to_owned(),
    );
    let size = placement.bytes;
    let style_for_db = style.clone();
    db(inner, move |c| {
        let placement = catalog::Placement {
            op_id,
            asset_id: &asset_id,
            destination: &dest,
            size,
            project: &project,
            source: &src_label,
            style: style_for_db.as_deref(),
            media: Some(&media),
        };
        match c.complete_placement(&placement) {
            // The catalog still names another asset at this path, but the name was free on
            // disk (the no-replace rename succeeded): that file was deleted or moved away by
            // the user. Its record is stale: un-organize it, then record this one.
            Err(catalog::CatalogError::DestinationTaken { other, .. }) => {
                forget_organized(c, &other)?;
                c.complete_placement(&placement)
            }
            other => other,
        }
    })
    .await?;
    let renamed = matches!(
        placement.outcome,
        Outcome::Placed {
            renamed_for_collision: true,
            ..
        }
    );
    let destination = placement.destination.clone();
    if s.mode == OrganizeMode::Move {
        // After a rename the source is already gone; removal is idempotent and says so.
        remove_source(x.path.clone(), placement).await?;
    }
    Ok(Payload::AssetOrganized(AssetOrganized {
        asset_id: x.asset_id.clone(),
        source_path: x.path.clone(),
        destination,
        mode: s.mode,
        project: x.project.clone(),
        source: source.to_owned(),
        style,
        size: x.size,
        renamed_for_collision: renamed,
    }))
}

/// True when the catalog's organized file still exists with the recorded size.
fn organized_copy_is_there(path: &Path, size: u64) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Un-organizes an asset whose organized file is gone (its operation is marked undone).
fn forget_organized(c: &Catalog, asset_id: &str) -> Result<(), catalog::CatalogError> {
    match c.asset(asset_id)?.and_then(|r| r.op_id) {
        Some(op) => c.mark_undone(op),
        None => Ok(()),
    }
}

/// Journals an operation on `x`'s file before it happens (write-ahead).
async fn begin_op(
    inner: &Arc<Inner>,
    x: &MetadataExtracted,
    kind: OpKind,
    destination: PathBuf,
    mode: &'static str,
) -> Result<i64, PipelineError> {
    let (asset_id, source) = (x.asset_id.clone(), x.path.clone());
    db(inner, move |c| {
        c.begin_op(&NewOp {
            asset_id: &asset_id,
            kind,
            source: &source,
            destination: &destination,
            mode,
        })
    })
    .await
}

fn mode_str(mode: OrganizeMode) -> &'static str {
    match mode {
        OrganizeMode::Copy => "copy",
        OrganizeMode::Move => "move",
    }
}

/// The content is already organized. Either this is the very file that was organized (a
/// replay, or a move interrupted before the source was removed), or a duplicate.
async fn duplicate_or_finish(
    inner: &Arc<Inner>,
    s: &Settings,
    x: &MetadataExtracted,
    original: &Path,
    organized: PathBuf,
) -> Result<Payload, Step> {
    if original == x.path {
        // A move interrupted after it was recorded: confirm the organized copy holds this
        // content (placing it again finds it already present), then remove the source.
        // (A source already gone was removed by an earlier delivery of this same file.)
        if s.mode == OrganizeMode::Move
            && std::fs::symlink_metadata(&x.path).is_ok()
            && let (Some(dir), Some(name)) = (organized.parent(), organized.file_name())
        {
            // Wherever it was organized (the organized root may have changed since).
            let placement = place(PlaceOwned {
                source: x.path.clone(),
                dest_root: dir.to_path_buf(),
                relative: PathBuf::from(name),
                asset_id: x.asset_id.clone(),
                size: x.size,
                mode: OrganizeMode::Copy,
            })
            .await?;
            if placement.outcome == Outcome::AlreadyPresent {
                remove_source(x.path.clone(), placement).await?;
            }
        }
        return Ok(Payload::AssetOrganized(AssetOrganized {
            asset_id: x.asset_id.clone(),
            source_path: x.path.clone(),
            destination: organized,
            mode: s.mode,
            project: x.project.clone(),
            source: events::source_label(&x.media).to_owned(),
            style: None,
            size: x.size,
            renamed_for_collision: false,
        }));
    }
    let moved_to = match s.mode {
        OrganizeMode::Copy => None,
        OrganizeMode::Move => {
            Some(set_aside(inner, x, &s.duplicates, OpKind::DuplicateMove).await?)
        }
    };
    Ok(Payload::AssetDuplicate(AssetDuplicate {
        asset_id: x.asset_id.clone(),
        path: x.path.clone(),
        existing: organized,
        moved_to,
    }))
}

/// Moves the inbox file into `root` (duplicates or quarantine) under its own name, without
/// replacing anything, journaled like any placement.
async fn set_aside(
    inner: &Arc<Inner>,
    x: &MetadataExtracted,
    root: &Path,
    kind: OpKind,
) -> Result<PathBuf, Step> {
    let name = organizer::sanitize_name(x.path.file_name().unwrap_or_default());
    let relative = PathBuf::from(name);
    let planned = root.join(&relative);
    let root_owned = root.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&root_owned))
        .await
        .map_err(|e| Step::Retry(e.to_string()))?
        .map_err(|e| Step::Fail(format!("cannot create folder {}: {e}", root.display())))?;
    let op_id = begin_op(inner, x, kind, planned, "move").await?;
    let placed = place(PlaceOwned {
        source: x.path.clone(),
        dest_root: root.to_path_buf(),
        relative,
        asset_id: x.asset_id.clone(),
        size: x.size,
        mode: OrganizeMode::Move,
    })
    .await;
    let placement = match placed {
        Ok(p) => p,
        Err(step) => {
            if let Err(e) = db(inner, move |c| {
                c.abandon_op(op_id, "setting the file aside failed")
            })
            .await
            {
                tracing::warn!(op_id, error = %e, "cannot mark a failed move abandoned; recovery will");
            }
            return Err(step);
        }
    };
    let dest = placement.destination.clone();
    let final_dest = dest.clone();
    db(inner, move |c| c.finish_op(op_id, &final_dest)).await?;
    remove_source(x.path.clone(), placement).await?;
    Ok(dest)
}
