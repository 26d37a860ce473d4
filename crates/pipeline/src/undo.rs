//! Reversing a journaled operation (`alice undo`), verifying every step, through the same
//! journal protocol as the organizer ([`crate::place_journaled`]).
//!
//! - A **copy** is undone by deleting the organized copy, only while the original is still
//!   there with the same content (otherwise the copy may be the only record of what was
//!   organized, and both are kept). Journaled as an `undo` with transfer `delete-copy`.
//! - A **move** or **duplicate move** is undone by moving the file back to its inbox path
//!   (a collision name if that path is taken by other content), journaled as an `undo`.
//!
//! The undone operation is marked `undone` in the same transaction that finishes the undo.
//! Folders the undo leaves empty inside the organized tree are removed (never the organized
//! root itself). An undo sticks: the pipeline treats a file at the path an undo put it (or left
//! it) as handled ([`crate::already_handled`] says "undone"), in either mode, until the same
//! content is organized again from elsewhere; move or rename the file to have it organized.

use std::io;
use std::path::{Path, PathBuf};

use catalog::{Catalog, CatalogError, NewOp, OpKind, OpRecord, Transfer};
use events::OrganizeMode;

use crate::transfer::{TransferError, TransferRequest, place_journaled};

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The organized copy was deleted; the original stays.
    CopyRemoved {
        /// The deleted copy.
        copy: PathBuf,
        /// The original, untouched.
        original: PathBuf,
    },
    /// The file was moved back.
    MovedBack {
        /// Where it was.
        from: PathBuf,
        /// Where it is now (its original path, or a collision name beside it).
        to: PathBuf,
    },
}

impl std::fmt::Display for Undone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undone::CopyRemoved { copy, original } => write!(
                f,
                "removed copy {} (original {} kept)",
                copy.display(),
                original.display()
            ),
            Undone::MovedBack { from, to } => {
                write!(f, "moved {} back to {}", from.display(), to.display())
            }
        }
    }
}

/// Why an operation was not undone. Nothing was changed on disk, except as stated.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// The organized copy cannot be read.
    #[error("cannot read organized copy {}: {source}", .path.display())]
    ReadCopy {
        /// The copy.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The original of a copy is gone: the copy is the only one left and is kept.
    #[error("the original {} is gone, so its copy {} is kept: {source}", .original.display(), .copy.display())]
    OriginalGone {
        /// The original path.
        original: PathBuf,
        /// The copy.
        copy: PathBuf,
        /// Why the original cannot be read.
        source: io::Error,
    },
    /// The original or the copy no longer holds the organized content; both are kept.
    #[error("{} and {} differ from what was organized; both kept", .original.display(), .copy.display())]
    Changed {
        /// The original path.
        original: PathBuf,
        /// The copy.
        copy: PathBuf,
    },
    /// The organized file of a move is missing.
    #[error("organized file {} is missing: {source}", .path.display())]
    Missing {
        /// Where it should be.
        path: PathBuf,
        /// Why it cannot be read.
        source: io::Error,
    },
    /// The original path has no parent folder.
    #[error("original path {} has no folder", .path.display())]
    NoFolder {
        /// The original path.
        path: PathBuf,
    },
    /// A folder or file could not be created or removed.
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        /// What was attempted.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The journal could not be written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Moving the file back failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// This kind of operation is not undone.
    #[error("operation kind {0} is not undone by this command")]
    NotUndoable(OpKind),
}

/// Undoes the done operation `op` (see the module docs). Empty folders the undo leaves
/// strictly below `organized_root` are removed. Blocking.
pub fn undo_op(
    catalog: &Catalog,
    op: &OpRecord,
    organized_root: &Path,
) -> Result<Undone, UndoError> {
    let undone = match op.kind {
        OpKind::Copy => remove_copy(catalog, op)?,
        OpKind::Move | OpKind::DuplicateMove => move_back(catalog, op)?,
        other => return Err(UndoError::NotUndoable(other)),
    };
    remove_empty_folders(&op.destination, organized_root);
    Ok(undone)
}

fn remove_copy(catalog: &Catalog, op: &OpRecord) -> Result<Undone, UndoError> {
    let (copy, original) = (&op.destination, &op.source);
    let (d, _) = watcher::hash_file(copy).map_err(|source| UndoError::ReadCopy {
        path: copy.clone(),
        source,
    })?;
    let (s, _) = watcher::hash_file(original).map_err(|source| UndoError::OriginalGone {
        original: original.clone(),
        copy: copy.clone(),
        source,
    })?;
    if d.to_hex().as_str() != op.asset_id || s != d {
        return Err(UndoError::Changed {
            original: original.clone(),
            copy: copy.clone(),
        });
    }
    let undo = catalog.begin_op(&NewOp {
        asset_id: &op.asset_id,
        kind: OpKind::Undo,
        source: copy,
        destination: original,
        mode: Transfer::DeleteCopy,
    })?;
    std::fs::remove_file(copy).map_err(|source| UndoError::Io {
        what: "remove",
        path: copy.clone(),
        source,
    })?;
    sync_parent(copy);
    catalog.complete_undo(undo, op.op_id, original)?;
    Ok(Undone::CopyRemoved {
        copy: copy.clone(),
        original: original.clone(),
    })
}

fn move_back(catalog: &Catalog, op: &OpRecord) -> Result<Undone, UndoError> {
    let (from, back) = (&op.destination, &op.source);
    let size = std::fs::metadata(from)
        .map_err(|source| UndoError::Missing {
            path: from.clone(),
            source,
        })?
        .len();
    let (Some(parent), Some(name)) = (back.parent(), back.file_name()) else {
        return Err(UndoError::NoFolder { path: back.clone() });
    };
    std::fs::create_dir_all(parent).map_err(|source| UndoError::Io {
        what: "recreate",
        path: parent.to_path_buf(),
        source,
    })?;
    let placement = place_journaled(
        catalog,
        &TransferRequest {
            asset_id: &op.asset_id,
            kind: OpKind::Undo,
            source_root: from.parent().unwrap_or(Path::new("/")),
            source: from,
            dest_root: parent,
            relative: Path::new(name),
            size,
            mode: OrganizeMode::Move,
        },
        |c, undo, placed| c.complete_undo(undo, op.op_id, &placed.destination),
    )?;
    Ok(Undone::MovedBack {
        from: from.clone(),
        to: placement.destination,
    })
}

/// Removes the folders above `removed` that are now empty, stopping at (and keeping)
/// `root`; nothing when `removed` is not below `root` (the root changed since).
fn remove_empty_folders(removed: &Path, root: &Path) {
    if !removed.starts_with(root) {
        return;
    }
    let mut dir = removed.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) {
            break;
        }
        // Fails (and stops) on the first folder that still holds something.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        sync_parent(d);
        dir = d.parent();
    }
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(f) = std::fs::File::open(dir)
    {
        let _ = f.sync_all();
    }
}
