//! The watcher's side of the pipeline: watcher items become discoveries, the identity cache
//! learns what was hashed, and files already handled in an earlier run are not published
//! again ([`already_handled`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use catalog::{AssetStatus, Catalog, KnownFile};
use chrono::{DateTime, Utc};
use events::{
    AssetDiscovered, AssetFailed, DiscoveryKind, Event, FileIdentity, OrganizeMode, Payload,
};

use crate::ctx::Ctx;
use crate::decide::project_for;
use crate::{PipelineError, sources};

/// Identities are saved in batches: losing the last few in a crash only costs a rehash.
const IDENTITY_BATCH: usize = 256;

/// The file-identity cache in memory: loaded from the catalog at start, kept current as
/// files are hashed, saved in batches.
#[derive(Default)]
pub(crate) struct IdentityMemory {
    known: Mutex<HashMap<FileIdentity, String>>,
    /// Identities learned since the last flush to the catalog. Losing them in a crash only
    /// costs a rehash, so they are written in batches rather than one fsync per file.
    unsaved: Mutex<Vec<KnownFile>>,
}

impl IdentityMemory {
    pub(crate) fn new(known: HashMap<FileIdentity, String>) -> IdentityMemory {
        IdentityMemory {
            known: Mutex::new(known),
            unsaved: Mutex::default(),
        }
    }

    pub(crate) fn lookup(&self, id: &FileIdentity) -> Option<String> {
        self.known.lock().ok()?.get(id).cloned()
    }

    /// Remembers a hashed file; true when a batch is ready to be saved.
    fn learn(&self, file: KnownFile) -> bool {
        if let Ok(mut map) = self.known.lock() {
            map.insert(file.identity, file.asset_id.clone());
        }
        match self.unsaved.lock() {
            Ok(mut v) => {
                v.push(file);
                v.len() >= IDENTITY_BATCH
            }
            Err(_) => false,
        }
    }

    fn take_unsaved(&self) -> Vec<KnownFile> {
        match self.unsaved.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    /// Forgets, in memory, the file now at `path` (and whatever is unsaved about `path`).
    fn forget(&self, path: &Path) {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && let Ok(mut map) = self.known.lock()
        {
            map.remove(&FileIdentity::from_metadata(&meta));
        }
        if let Ok(mut unsaved) = self.unsaved.lock() {
            unsaved.retain(|k| k.path != path);
        }
    }
}

/// Writes the identities learned since the last flush.
pub(crate) async fn flush_identities(ctx: &Ctx) -> Result<(), PipelineError> {
    let batch = ctx.identities.take_unsaved();
    if batch.is_empty() {
        return Ok(());
    }
    ctx.db(move |c| c.remember_identities(&batch)).await
}

/// Drops the identity cache entry of the file at `path` (memory and catalog), so it is
/// hashed afresh next time.
pub(crate) async fn forget_identity(ctx: &Ctx, path: &Path) {
    ctx.identities.forget(path);
    let p = path.to_path_buf();
    if let Err(e) = ctx.db(move |c| c.forget_identity(&p)).await {
        tracing::warn!(path = %path.display(), error = %e, "cannot forget a stale file identity");
    }
}

/// Turns watcher items into events; returns how many asset pipelines were started.
pub(crate) async fn ingest(
    ctx: &Arc<Ctx>,
    items: Vec<watcher::WatchItem>,
) -> Result<usize, PipelineError> {
    let mut discovered = Vec::new();
    for item in items {
        match item {
            watcher::WatchItem::Discovered(d) => discovered.push(d),
            watcher::WatchItem::Failed { path, inbox, error } => {
                report_unreadable(ctx, path, inbox, error).await?;
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
    learn_identities(ctx, &discovered).await?;
    let (handled, active_project) = check_handled(ctx, &discovered).await?;
    let mut started = 0;
    for (d, handled) in discovered.into_iter().zip(handled) {
        if let Some(why) = handled {
            tracing::debug!(asset_id = %d.asset_id, path = %d.path.display(), why, "already handled; nothing to do");
            continue;
        }
        publish_discovery(ctx, d, active_project.as_deref()).await?;
        started += 1;
    }
    Ok(started)
}

async fn report_unreadable(
    ctx: &Ctx,
    path: PathBuf,
    inbox: PathBuf,
    error: String,
) -> Result<(), PipelineError> {
    tracing::warn!(path = %path.display(), inbox = %inbox.display(), error = %error, "file cannot be read");
    ctx.tally.started(None);
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
    ctx.publish(ev).await
}

async fn learn_identities(
    ctx: &Ctx,
    discovered: &[watcher::Discovered],
) -> Result<(), PipelineError> {
    for d in discovered.iter().filter(|d| d.hashed) {
        let full = ctx.identities.learn(KnownFile {
            identity: d.identity,
            path: d.path.clone(),
            asset_id: d.asset_id.clone(),
        });
        if full {
            flush_identities(ctx).await?;
        }
    }
    Ok(())
}

/// Per file, why it needs no pipeline (if so), and the active project: one catalog round
/// trip for the whole batch, since a restart over many known files is dominated by this.
async fn check_handled(
    ctx: &Ctx,
    discovered: &[watcher::Discovered],
) -> Result<(Vec<Option<&'static str>>, Option<String>), PipelineError> {
    let mode = ctx.settings().mode;
    let keys: Vec<(String, PathBuf)> = discovered
        .iter()
        .map(|d| (d.asset_id.clone(), d.path.clone()))
        .collect();
    ctx.db(move |c| {
        let handled = keys
            .iter()
            .map(|(asset, path)| already_handled(c, asset, path, mode))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((handled, c.context()?.active_project))
    })
    .await
}

async fn publish_discovery(
    ctx: &Ctx,
    d: watcher::Discovered,
    active_project: Option<&str>,
) -> Result<(), PipelineError> {
    let project = project_for(d.project.as_deref(), active_project);
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
            mtime: DateTime::<Utc>::from(d.mtime),
            inbox: d.inbox,
            project,
            kind,
            hashed_as: d.settled.then_some(d.identity),
        },
    );
    if ctx.options.tracks_discoveries() {
        ctx.tally.started_discovery(ev.subject.as_deref(), &ev.id);
    } else {
        ctx.tally.started(ev.subject.as_deref());
    }
    ctx.publish(ev).await
}

/// Why a file found in an inbox needs no new pipeline, if it does not: this content at this
/// path already reached a final outcome in an earlier run, or a user's undo put it (or left
/// it) there (`"undone"`: an undo sticks, see [`crate::undo`]).
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
            // A sidecar skipped by an earlier version is looked at again: its media may be
            // organized by now.
            Payload::AssetSkipped(p) if p.path == path => {
                if crate::sidecar::is_sidecar(Some(c), path)? {
                    continue;
                }
                return Ok(Some("skipped: not media"));
            }
            // Copy mode keeps a placed sidecar's source; move mode must still remove it. A
            // sidecar waiting for its media is looked at again on every scan.
            Payload::SidecarFiled(p)
                if p.path == path && p.destination.is_some() && mode == OrganizeMode::Copy =>
            {
                return Ok(Some("sidecar placed beside its media"));
            }
            Payload::AssetFailed(p)
                if p.path == path && p.stage == "metadata" && p.quarantined_to.is_none() =>
            {
                return Ok(Some("failed: unreadable media"));
            }
            _ => {}
        }
    }
    // Outcomes whose events were folded out of the history window.
    for h in c.history(asset_id)? {
        if h.path != path {
            continue;
        }
        match (h.outcome.as_str(), &h.moved_to, h.stage.as_deref()) {
            ("duplicate", None, _) => return Ok(Some("reported as a duplicate")),
            ("skipped", _, _) => return Ok(Some("skipped: not media")),
            ("failed", None, Some("metadata")) => return Ok(Some("failed: unreadable media")),
            _ => {}
        }
    }
    if c.undone_at(asset_id, path)? {
        return Ok(Some("undone"));
    }
    Ok(None)
}

/// True when a discovery read back from the stream needs no pipeline any more: its file
/// reached a final outcome meanwhile (the start-up scan handled it, or it was organized and
/// moved away).
pub(crate) async fn replay_is_moot(ctx: &Ctx, event: &Event) -> Result<bool, PipelineError> {
    let Payload::AssetDiscovered(d) = &event.payload else {
        return Ok(false);
    };
    if crate::extract::organized_from_here_and_gone(ctx, &d.asset_id, &d.path)
        .await
        .is_some()
    {
        return Ok(true);
    }
    let (asset, path, mode) = (d.asset_id.clone(), d.path.clone(), ctx.settings().mode);
    let handled = ctx
        .db(move |c| already_handled(c, &asset, &path, mode))
        .await?;
    Ok(handled.is_some())
}
