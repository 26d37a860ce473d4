//! `alice undo --last N`: reverse the most recent organize operations, verifying every step.

use std::path::Path;

use catalog::{Catalog, NewOp, OpKind, OpRecord};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// What became of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The journal's operation id.
    pub op_id: i64,
    /// What was done, or why it was not.
    pub outcome: std::result::Result<String, String>,
}

/// Reverses the last `last` operations, most recent first. Needs the daemon stopped.
pub fn undo(cfg: &Config, last: usize) -> Result<Vec<Undone>> {
    let layout = StateLayout::new(&cfg.state_dir);
    let _lock = crate::lock::lock_state_dir(&layout).map_err(|e| {
        Error::Busy(format!(
            "undo needs the daemon stopped (files moved back into an inbox would be organized again): {e}"
        ))
    })?;
    let catalog = Catalog::open(&layout.catalog())?;
    Ok(catalog
        .last_ops(last)?
        .into_iter()
        .map(|op| Undone {
            op_id: op.op_id,
            outcome: undo_one(&catalog, &op),
        })
        .collect())
}

fn undo_one(catalog: &Catalog, op: &OpRecord) -> std::result::Result<String, String> {
    match op.kind {
        OpKind::Copy => undo_copy(catalog, op),
        OpKind::Move => undo_move(catalog, op),
        other => Err(format!(
            "operation kind {other} is not undone by this command"
        )),
    }
}

fn undo_copy(catalog: &Catalog, op: &OpRecord) -> std::result::Result<String, String> {
    let (dest, src) = (&op.destination, &op.source);
    // Delete the organized copy only when the original is still there, identical.
    let (d, _) = watcher::hash_file(dest)
        .map_err(|e| format!("cannot read organized copy {}: {e}", dest.display()))?;
    let (s, _) = watcher::hash_file(src).map_err(|_| {
        format!(
            "the original {} is gone, so its copy {} is kept",
            src.display(),
            dest.display()
        )
    })?;
    if d.to_hex().as_str() != op.asset_id || s != d {
        return Err(format!(
            "{} and {} differ from what was organized; both kept",
            src.display(),
            dest.display()
        ));
    }
    let undo = catalog
        .begin_op(&NewOp {
            asset_id: &op.asset_id,
            kind: OpKind::Undo,
            source: dest,
            destination: src,
            mode: "delete-copy",
        })
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(dest).map_err(|e| format!("cannot remove {}: {e}", dest.display()))?;
    sync_parent(dest);
    catalog
        .complete_undo(undo, op.op_id, src)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "removed copy {} (original {} kept)",
        dest.display(),
        src.display()
    ))
}

fn undo_move(catalog: &Catalog, op: &OpRecord) -> std::result::Result<String, String> {
    let (dest, src) = (&op.destination, &op.source);
    let size = std::fs::metadata(dest)
        .map_err(|e| format!("organized file {} is missing: {e}", dest.display()))?
        .len();
    let (Some(parent), Some(name)) = (src.parent(), src.file_name()) else {
        return Err(format!("original path {} has no folder", src.display()));
    };
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot recreate {}: {e}", parent.display()))?;
    let undo = catalog
        .begin_op(&NewOp {
            asset_id: &op.asset_id,
            kind: OpKind::Undo,
            source: dest,
            destination: src,
            mode: "move",
        })
        .map_err(|e| e.to_string())?;
    let placement = organizer::place(&organizer::PlaceRequest {
        source: dest,
        dest_root: parent,
        relative: Path::new(name),
        asset_id: &op.asset_id,
        expected_size: size,
        mode: events::OrganizeMode::Move,
    })
    .map_err(|e| e.to_string())?;
    catalog
        .complete_undo(undo, op.op_id, &placement.destination)
        .map_err(|e| e.to_string())?;
    if placement.outcome != organizer::Outcome::AlreadyPresent || placement.destination != *dest {
        organizer::remove_source(dest, &placement).map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "moved {} back to {}",
        dest.display(),
        placement.destination.display()
    ))
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(f) = std::fs::File::open(dir)
    {
        let _ = f.sync_all();
    }
}
