//! Reversing a journaled operation (`alice undo`), verifying every step, through the same
//! journal protocol as the organizer ([`crate::place_journaled`]).
//!
//! - A **copy** is undone by deleting the organized copy, only while the original is still
//!   there with the same content (otherwise the copy may be the only record of what was
//!   organized, and both are kept). Journaled as an `undo` with transfer `delete-copy`.
//! - A **move** or **duplicate move** is undone by moving the file back to its inbox path
//!   (a collision name if that path is taken by other content), journaled as an `undo`.
//!
//! Sidecars placed under the operation (with the file, or later beside it) are undone first, the
//! same way: a copy's sidecar copies are deleted while their originals are still in the inbox,
//! a move's sidecars are moved back to their inbox paths. A sidecar that cannot be undone is
//! kept where it is (and said so); the file's undo goes on.
//!
//! The undone operation is marked `undone` in the same transaction that finishes the undo.
//! Folders the undo leaves empty inside the organized tree are removed (never the organized
//! root itself). An undo sticks: the pipeline treats a file at the path an undo put it (or left
//! it) as handled ([`crate::already_handled`] says "undone"), in either mode, until the same
//! content is organized again from elsewhere; move or rename the file to have it organized.

use std::io;
use std::path::{Path, PathBuf};

use catalog::{
    Catalog, CatalogError, NewOp, OpKind, OpRecord, SidecarRecord, SidecarState, Transfer,
};
use events::OrganizeMode;

use crate::transfer::{TransferError, TransferRequest, open_roots, place_journaled};

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The organized copy was deleted; the original stays.
    CopyRemoved {
        /// The deleted copy.
        copy: PathBuf,
        /// The original, untouched.
        original: PathBuf,
        /// Sidecar copies deleted with it.
        sidecars: Vec<PathBuf>,
    },
    /// The file was moved back.
    MovedBack {
        /// Where it was.
        from: PathBuf,
        /// Where it is now (its original path, or a collision name beside it).
        to: PathBuf,
        /// Where its sidecars are now.
        sidecars: Vec<PathBuf>,
    },
}

impl std::fmt::Display for Undone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sidecars = match self {
            Undone::CopyRemoved {
                copy,
                original,
                sidecars,
            } => {
                write!(
                    f,
                    "removed copy {} (original {} kept)",
                    copy.display(),
                    original.display()
                )?;
                sidecars
            }
            Undone::MovedBack { from, to, sidecars } => {
                write!(f, "moved {} back to {}", from.display(), to.display())?;
                sidecars
            }
        };
        match sidecars.len() {
            0 => Ok(()),
            1 => write!(f, ", with its sidecar {}", sidecars[0].display()),
            n => write!(f, ", with its {n} sidecars"),
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
        OpKind::Copy | OpKind::Move | OpKind::DuplicateMove => {
            let sidecars = undo_sidecars(catalog, op)?;
            let mut undone = match op.kind {
                OpKind::Copy => remove_copy(catalog, op)?,
                _ => move_back(catalog, op)?,
            };
            match &mut undone {
                Undone::CopyRemoved { sidecars: s, .. } | Undone::MovedBack { sidecars: s, .. } => {
                    *s = sidecars;
                }
            }
            undone
        }
        other => return Err(UndoError::NotUndoable(other)),
    };
    remove_empty_folders(&op.destination, organized_root);
    Ok(undone)
}

/// Undoes the sidecars placed under `op` (see the module docs); returns where each undone
/// one is now (a copy's: its original in the inbox).
fn undo_sidecars(catalog: &Catalog, op: &OpRecord) -> Result<Vec<PathBuf>, UndoError> {
    let mut undone = Vec::new();
    for s in catalog.sidecars_of_op(op.op_id)? {
        if s.state != SidecarState::Placed {
            continue;
        }
        let result = match op.kind {
            OpKind::Copy => remove_sidecar_copy(&s).map(|()| s.source.clone()),
            _ => move_sidecar_back(&s),
        };
        match result {
            Ok(now) => {
                catalog.undo_sidecars(&[(s.id, &now)])?;
                undone.push(now);
            }
            Err(e) => {
                tracing::warn!(path = %s.destination.display(), error = %e, "cannot undo a sidecar; it is kept where it is");
            }
        }
    }
    Ok(undone)
}

/// Deletes a sidecar's organized copy while its original is still there with its content.
fn remove_sidecar_copy(s: &SidecarRecord) -> Result<(), UndoError> {
    let same = watcher::hash_file(&s.source)
        .is_ok_and(|(h, _)| h.to_hex().as_str() == s.sidecar_id)
        && watcher::hash_file(&s.destination)
            .is_ok_and(|(h, _)| h.to_hex().as_str() == s.sidecar_id);
    if !same {
        return Err(UndoError::Changed {
            original: s.source.clone(),
            copy: s.destination.clone(),
        });
    }
    std::fs::remove_file(&s.destination).map_err(|source| UndoError::Io {
        what: "remove",
        path: s.destination.clone(),
        source,
    })?;
    sync_parent(&s.destination);
    Ok(())
}

/// Moves a sidecar back to its inbox path (a collision name if that is taken).
fn move_sidecar_back(s: &SidecarRecord) -> Result<PathBuf, UndoError> {
    let (Some(parent), Some(name)) = (s.source.parent(), s.source.file_name()) else {
        return Err(UndoError::NoFolder {
            path: s.source.clone(),
        });
    };
    std::fs::create_dir_all(parent).map_err(|source| UndoError::Io {
        what: "recreate",
        path: parent.to_path_buf(),
        source,
    })?;
    // Both ends resolved beneath their folders, as every transfer is.
    let from_dir = s.destination.parent().unwrap_or(Path::new("/"));
    let transfer = |e| UndoError::Transfer(TransferError::Place(e));
    let (src, dst) = open_roots(from_dir, parent).map_err(transfer)?;
    let placed = organizer::place_beneath(&organizer::PlaceBeneath {
        source_root: &src,
        source: &s.destination,
        dest_root: &dst,
        relative: Path::new(name),
        asset_id: &s.sidecar_id,
        expected_size: s.size,
        mode: OrganizeMode::Move,
        hashed_as: None,
    })
    .map_err(transfer)?;
    // After a rename the source is already gone; after a copy (another filesystem) it is
    // removed once the copy is verified.
    organizer::remove_source_beneath(&src, &s.destination, &dst, &placed)
        .map_err(|e| UndoError::Transfer(TransferError::RemoveSource(e)))?;
    Ok(placed.destination)
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
        sidecars: Vec::new(),
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
    let placed = place_journaled(
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
            sidecars: &[],
        },
        |c, undo, placed| c.complete_undo(undo, op.op_id, &placed.destination),
    )?;
    Ok(Undone::MovedBack {
        from: from.clone(),
        to: placed.placement.destination,
        sidecars: Vec::new(),
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
