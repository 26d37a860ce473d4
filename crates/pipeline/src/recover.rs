//! Start-up recovery: finish or abandon what a crash left half done.
//!
//! The organizer journals an operation *before* it places a file and completes it in the same
//! transaction that marks the asset organized. So a pending operation means the process died
//! somewhere between the two. The file is then either at its planned destination (or one of
//! its collision names) — record it — or not — abandon the operation; the start-up scan finds
//! the inbox file again. A source that a move left behind is removed by the organizer when the
//! scan rediscovers it (it recognises its own organized file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog::{Catalog, OpKind, OpState, SidecarRecord};
use events::{Event, Payload};

use crate::PipelineError;
use crate::ctx::Ctx;
use crate::decide::UNCATEGORIZED;

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Pending operations whose file had reached its destination: now recorded.
    pub completed: usize,
    /// Pending operations whose file had not been placed: abandoned.
    pub abandoned: usize,
    /// Leftover temporary files removed from the destination trees.
    pub temporaries_removed: usize,
    /// Pending sidecars found beside their placed media: now recorded.
    pub sidecars_completed: usize,
    /// Pending sidecars whose media was not placed (their copies removed): abandoned.
    pub sidecars_abandoned: usize,
}

pub(crate) async fn recover(ctx: &Arc<Ctx>) -> Result<RecoveryReport, PipelineError> {
    let s = ctx.settings();
    let mut roots: Vec<PathBuf> = vec![s.organized.clone(), s.duplicates.clone()];
    roots.extend(s.quarantine.clone());
    let mut report = ctx.db(move |c| {
        let mut report = RecoveryReport::default();
        for op in c.pending_ops()? {
            let found = find(&op.destination, &op.asset_id);
            let done = match (&found, op.kind) {
                (Some(dest), OpKind::Copy | OpKind::Move) => complete(c, op.op_id, &op.asset_id, dest),
                (Some(dest), _) => c.finish_op(op.op_id, dest),
                (None, _) => Ok(()),
            };
            if let Err(e) = done {
                // One operation that cannot be recorded must not keep the daemon from
                // starting: abandon it (the file stays where it is) and say why.
                tracing::warn!(op_id = op.op_id, asset_id = %op.asset_id, error = %e, "cannot record an interrupted placement; abandoning it (the start-up scan looks at the file again)");
                c.abandon_op(op.op_id, &format!("recovery could not record it: {e}"))?;
                report.abandoned += 1;
                continue;
            }
            match (found, op.kind) {
                (Some(dest), OpKind::Copy | OpKind::Move) => {
                    tracing::info!(op_id = op.op_id, asset_id = %op.asset_id, destination = %dest.display(), "recovered an interrupted placement");
                    report.completed += 1;
                }
                (Some(_), _) => {
                    report.completed += 1;
                }
                (None, _) => {
                    c.abandon_op(op.op_id, "the process stopped before the file was placed")?;
                    tracing::info!(op_id = op.op_id, asset_id = %op.asset_id, source = %op.source.display(), "abandoned an interrupted placement; the file is still in the inbox");
                    report.abandoned += 1;
                }
            }
        }
        recover_sidecars(c, &mut report)?;
        Ok(report)
    })
    .await?;
    let removed = tokio::task::spawn_blocking(move || {
        let mut n = 0;
        for root in roots {
            match organizer::cleanup_temporaries(&root) {
                Ok(k) => n += k,
                Err(e) => tracing::warn!(root = %root.display(), error = %e, "cannot clean up leftover temporary files"),
            }
        }
        n
    })
    .await
    .map_err(PipelineError::join)?;
    report.temporaries_removed = removed;
    Ok(report)
}

/// Resolves every pending sidecar by its operation's fate (run after the operations are).
fn recover_sidecars(c: &Catalog, report: &mut RecoveryReport) -> Result<(), catalog::CatalogError> {
    for s in c.pending_sidecars()? {
        let media_placed = c.op(s.op_id)?.is_some_and(|op| op.state == OpState::Done);
        let found = find(&s.destination, &s.sidecar_id);
        match found {
            Some(dest) if media_placed => {
                c.place_sidecars(&[(s.id, &dest)])?;
                tracing::info!(op_id = s.op_id, path = %dest.display(), "recovered a sidecar placed with its media");
                report.sidecars_completed += 1;
                continue;
            }
            Some(copy) => remove_orphan_copy(&s, &copy),
            None => {}
        }
        c.abandon_sidecars(&[s.id])?;
        report.sidecars_abandoned += 1;
    }
    Ok(())
}

/// Deletes the copy of a sidecar whose media was not placed, while its source is still in
/// the inbox with the same content (otherwise the copy is the one left, and it stays).
fn remove_orphan_copy(s: &SidecarRecord, copy: &Path) {
    let source_there =
        watcher::hash_file(&s.source).is_ok_and(|(h, _)| h.to_hex().as_str() == s.sidecar_id);
    if !source_there {
        tracing::warn!(path = %copy.display(), source = %s.source.display(), "a sidecar copy whose media was not placed is kept: its source is gone");
        return;
    }
    let removed = copy
        .parent()
        .ok_or_else(|| std::io::Error::other("no folder"))
        .and_then(organizer::Root::open)
        .and_then(|root| crate::transfer::remove_beneath(&root, copy));
    match removed {
        Ok(()) => {
            tracing::info!(path = %copy.display(), "removed the copy of a sidecar whose media was not placed")
        }
        Err(e) => {
            tracing::warn!(path = %copy.display(), error = %e, "cannot remove the copy of a sidecar whose media was not placed")
        }
    }
}

fn find(planned: &Path, asset_id: &str) -> Option<PathBuf> {
    let (dir, name) = (planned.parent()?, planned.file_name()?);
    match organizer::find_placed(dir, Path::new(name), asset_id) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(path = %planned.display(), error = %e, "cannot check an interrupted placement");
            None
        }
    }
}

fn complete(
    c: &Catalog,
    op_id: i64,
    asset_id: &str,
    dest: &Path,
) -> Result<(), catalog::CatalogError> {
    let rec = c.asset(asset_id)?;
    let media = rec.as_ref().and_then(|r| r.media.clone());
    let source = media.as_ref().map(events::source_label).unwrap_or("other");
    let project = c
        .events_for_asset(asset_id)?
        .iter()
        .filter_map(|s| Event::from_json(&s.json).ok())
        .find_map(|e| match e.payload {
            Payload::AssetDiscovered(d) => Some(d.project),
            _ => None,
        })
        .unwrap_or_else(|| UNCATEGORIZED.to_owned());
    let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    c.complete_placement(&catalog::Placement {
        op_id,
        asset_id,
        destination: dest,
        size,
        project: &project,
        source,
        style: None,
        media: media.as_ref(),
    })
}
