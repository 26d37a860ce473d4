//! One journaled placement: the write-ahead protocol every file transfer follows, whether the
//! organizer files a new asset, sets a duplicate or a bad file aside, or `alice undo` moves a
//! file back.
//!
//! Steps, in order:
//! 1. Journal the operation as pending with its planned destination (`Catalog::begin_op`,
//!    fsynced) before the file is touched.
//! 2. Place the file (`organizer::place_beneath`: temp + fsync + verify + no-replace rename,
//!    every path resolved beneath the source's and the destination's root folders). On
//!    failure the operation is abandoned with the error as its note; the source is untouched.
//! 3. Record the result through the caller's `record` (e.g. `complete_placement`, which also
//!    marks the asset organized, in one transaction).
//! 4. In move mode, and only then, remove the source (`organizer::remove_source`, which
//!    leaves a source path that now holds another file alone).
//!
//! A crash between 1 and 3 leaves a pending operation: start-up recovery
//! (`crate::recover`) completes or abandons it. A crash between 3 and 4 leaves the source: the
//! next scan finds it and the organizer recognizes its own organized file.

use std::path::Path;

use catalog::{Catalog, CatalogError, NewOp, OpKind};
use events::OrganizeMode;
use organizer::{OrganizeError, PlaceBeneath, Placement, Root};

/// A file transfer to journal and carry out.
#[derive(Debug, Clone, Copy)]
pub struct TransferRequest<'a> {
    /// The asset whose file moves.
    pub asset_id: &'a str,
    /// What the operation is, for the journal.
    pub kind: OpKind,
    /// The folder the file must lie beneath (its inbox; for an undo, the folder it was
    /// placed in): it is opened once, and the file is reached from there without following
    /// any symlink, so no rename or swap can make the transfer read a file outside it.
    pub source_root: &'a Path,
    /// The file's current path.
    pub source: &'a Path,
    /// The root it goes under (must exist).
    pub dest_root: &'a Path,
    /// Its planned path below `dest_root`.
    pub relative: &'a Path,
    /// The size the caller hashed.
    pub size: u64,
    /// Copy (the source stays) or move.
    pub mode: OrganizeMode,
}

/// Where a journaled transfer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The journal could not be written or read; the file may have been placed (then a
    /// pending operation is left for recovery) or not.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Placing failed; the operation is abandoned (or left pending for recovery) and the
    /// source is untouched.
    #[error(transparent)]
    Place(OrganizeError),
    /// Placed and recorded, but the source could not be removed (move mode): it stays, and
    /// the next scan finishes the move.
    #[error(transparent)]
    RemoveSource(OrganizeError),
    /// The batch the transfer was part of failed as a whole (journal, durability barrier,
    /// catalog transaction): worth another attempt; a file already placed is a pending
    /// operation that the retry finds in place, or start-up recovery records.
    #[error("placing a batch failed: {0}")]
    Batch(String),
}

impl TransferError {
    /// The placement error, if the failure was the file's rather than the journal's.
    pub fn organize_error(&self) -> Option<&OrganizeError> {
        match self {
            TransferError::Place(e) | TransferError::RemoveSource(e) => Some(e),
            TransferError::Catalog(_) | TransferError::Batch(_) => None,
        }
    }
}

/// Carries out `t` under the journal (see the module docs); `record` writes step 3 for
/// operation `op_id`. Blocking: call from a blocking thread.
pub fn place_journaled(
    catalog: &Catalog,
    t: &TransferRequest<'_>,
    record: impl FnOnce(&Catalog, i64, &Placement) -> Result<(), CatalogError>,
) -> Result<Placement, TransferError> {
    let planned = t.dest_root.join(t.relative);
    let op_id = catalog.begin_op(&NewOp {
        asset_id: t.asset_id,
        kind: t.kind,
        source: t.source,
        destination: &planned,
        mode: t.mode.into(),
    })?;
    let placed = open_roots(t.source_root, t.dest_root).and_then(|(src, dst)| {
        let p = organizer::place_beneath(&PlaceBeneath {
            source_root: &src,
            source: t.source,
            dest_root: &dst,
            relative: t.relative,
            asset_id: t.asset_id,
            expected_size: t.size,
            mode: t.mode,
        })?;
        Ok((p, src, dst))
    });
    let (placement, src, dst) = match placed {
        Ok(p) => p,
        Err(e) => {
            if let Err(journal) = catalog.abandon_op(op_id, &e.to_string()) {
                // Start-up recovery finds the pending operation and resolves it.
                tracing::warn!(op_id, error = %journal, "cannot mark a failed placement abandoned; recovery will");
            }
            return Err(TransferError::Place(e));
        }
    };
    record(catalog, op_id, &placement)?;
    // A placement that found the source itself (the same path) must not delete it.
    if t.mode == OrganizeMode::Move && placement.destination != t.source {
        // After a rename the source is already gone; removal is idempotent and says so.
        organizer::remove_source_beneath(&src, t.source, &dst, &placement)
            .map_err(TransferError::RemoveSource)?;
    }
    Ok(placement)
}

/// Opens the folder a source lies beneath and the destination root, each once.
pub(crate) fn open_roots(
    source_root: &Path,
    dest_root: &Path,
) -> Result<(Root, Root), OrganizeError> {
    let src = Root::open(source_root).map_err(|source| OrganizeError::ReadSource {
        path: source_root.to_path_buf(),
        source,
    })?;
    let dst = Root::open(dest_root).map_err(|source| OrganizeError::WriteDestination {
        path: dest_root.to_path_buf(),
        source,
    })?;
    Ok((src, dst))
}
