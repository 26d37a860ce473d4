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
//!
//! **Groups.** A file with sidecars ([`crate::Sidecar`]) is placed as one group, atomically in
//! the journal's sense:
//! 0. Names are chosen for the whole group ([`organizer::group_index`]): the media's name, or
//!    the first collision name at which every sidecar's name beside it is free too, so the
//!    pairing survives a collision (`p (2).jpg` with `p (2).jpg.xmp`).
//! 1. The operation and every sidecar are journaled as pending in one transaction.
//! 2. The sidecars are **copied** first (their sources stay), then the media file is placed in
//!    the requested mode. The media file is the group's commit point: a crash before it is in
//!    place leaves only sidecar copies, which recovery deletes (their sources are still in the
//!    inbox); a crash after leaves every sidecar in place, which recovery records. A sidecar
//!    that cannot be placed is left out of the group (it stays in the inbox, its row
//!    abandoned); a media file that cannot be placed takes its sidecars' copies back out.
//!    If another writer took the chosen name meanwhile and the media lands at a collision
//!    name, the sidecar copies are renamed after it (where free), so the pairing holds.
//! 3. The media's record, then the sidecars' (`Catalog::place_sidecars`).
//! 4. Move mode: the sidecars' sources, then the media's, are removed.

use std::path::Path;

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, PoisonError};

use catalog::{Catalog, CatalogError, NewOp, NewSidecar, OpKind};
use events::{OrganizeMode, PlacedSidecar};
use organizer::{GroupFile, OrganizeError, Outcome, PlaceBeneath, Placement, Root};

use crate::sidecar::Sidecar;

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
    /// Sidecar files that travel with it, beside it in the same folder (see the module
    /// docs); empty for a file alone.
    pub sidecars: &'a [Sidecar],
}

/// What a journaled transfer placed.
#[derive(Debug, Clone)]
pub struct Transferred {
    /// The file's placement.
    pub placement: Placement,
    /// The sidecars placed beside it (those that could not be placed stay in the inbox).
    pub sidecars: Vec<PlacedSidecar>,
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
) -> Result<Transferred, TransferError> {
    let (src, dst) = open_roots(t.source_root, t.dest_root).map_err(TransferError::Place)?;
    // Groups bound for one folder are named and placed one at a time, so two of them never
    // choose the same free names.
    let _folder = (!t.sidecars.is_empty()).then(|| {
        FolderLock::take(
            t.dest_root
                .join(t.relative.parent().unwrap_or(Path::new(""))),
        )
    });
    let (relative, beside) = group_names(&dst, t).map_err(TransferError::Place)?;
    let planned = t.dest_root.join(&relative);
    let beside_full: Vec<PathBuf> = beside.iter().map(|r| t.dest_root.join(r)).collect();
    let new_sidecars: Vec<NewSidecar<'_>> = t
        .sidecars
        .iter()
        .zip(&beside_full)
        .map(|(s, dest)| NewSidecar {
            sidecar_id: &s.asset_id,
            kind: s.candidate.kind.as_str(),
            size: s.size,
            source: &s.path,
            destination: dest,
        })
        .collect();
    let (op_id, ids) = catalog.begin_op_with_sidecars(
        &NewOp {
            asset_id: t.asset_id,
            kind: t.kind,
            source: t.source,
            destination: &planned,
            mode: t.mode.into(),
        },
        &new_sidecars,
    )?;
    let group = Group {
        src: &src,
        dst: &dst,
        t,
    };
    let (placement, sidecars) = match group.place(&relative, &beside) {
        Ok(p) => p,
        Err(e) => {
            let abandoned = catalog
                .abandon_op(op_id, &e.to_string())
                .and_then(|()| catalog.abandon_sidecars(&ids));
            if let Err(journal) = abandoned {
                // Start-up recovery finds the pending operation and resolves it.
                tracing::warn!(op_id, error = %journal, "cannot mark a failed placement abandoned; recovery will");
            }
            return Err(TransferError::Place(e));
        }
    };
    record(catalog, op_id, &placement)?;
    group.record_sidecars(catalog, &ids, &sidecars)?;
    // A placement that found the source itself (the same path) must not delete it.
    if t.mode == OrganizeMode::Move && placement.destination != t.source {
        group.remove_sidecar_sources(&sidecars);
        // After a rename the source is already gone; removal is idempotent and says so.
        organizer::remove_source_beneath(&src, t.source, &dst, &placement)
            .map_err(TransferError::RemoveSource)?;
    }
    Ok(Transferred {
        placement,
        sidecars: group.placed(&sidecars),
    })
}

/// Destination folders a group is being placed in by this process.
static GROUP_FOLDERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static GROUP_FOLDER_FREED: Condvar = Condvar::new();

/// Holds one destination folder for a group's placement; released on drop.
struct FolderLock(PathBuf);

impl FolderLock {
    fn take(folder: PathBuf) -> FolderLock {
        let mut held = GROUP_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        while held.contains(&folder) {
            held = GROUP_FOLDER_FREED
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        held.push(folder.clone());
        FolderLock(folder)
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let mut held = GROUP_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|f| *f != self.0);
        GROUP_FOLDER_FREED.notify_all();
    }
}

/// The media's path below the destination root and each sidecar's beside it (step 0).
fn group_names(
    dst: &Root,
    t: &TransferRequest<'_>,
) -> Result<(PathBuf, Vec<PathBuf>), OrganizeError> {
    let (Some(name), false) = (t.relative.file_name(), t.sidecars.is_empty()) else {
        return Ok((t.relative.to_path_buf(), Vec::new()));
    };
    let folder = t.relative.parent().unwrap_or(Path::new(""));
    let members: Vec<_> = t
        .sidecars
        .iter()
        .map(|s| {
            let file = GroupFile {
                asset_id: &s.asset_id,
                size: s.size,
            };
            (&s.candidate, file)
        })
        .collect();
    let media = GroupFile {
        asset_id: t.asset_id,
        size: t.size,
    };
    let n = organizer::group_index(dst, folder, name, media, &members)?;
    let media_name = organizer::collision_name(name, n);
    let beside = t
        .sidecars
        .iter()
        .map(|s| folder.join(s.candidate.name_beside(&media_name)))
        .collect();
    Ok((folder.join(media_name), beside))
}

/// One group's transfer, with its roots open.
struct Group<'g> {
    src: &'g Root,
    dst: &'g Root,
    t: &'g TransferRequest<'g>,
}

impl Group<'_> {
    /// Step 2: the sidecars' copies (`None` for one that could not be placed), then the
    /// media file. If the media file fails, the copies made here are removed again.
    fn place(
        &self,
        relative: &Path,
        beside: &[PathBuf],
    ) -> Result<(Placement, Vec<Option<Placement>>), OrganizeError> {
        let sidecars: Vec<Option<Placement>> = self
            .t
            .sidecars
            .iter()
            .zip(beside)
            .map(|(s, rel)| {
                let placed = organizer::place_beneath(&PlaceBeneath {
                    source_root: self.src,
                    source: &s.path,
                    dest_root: self.dst,
                    relative: rel,
                    asset_id: &s.asset_id,
                    expected_size: s.size,
                    mode: OrganizeMode::Copy,
                    hashed_as: None,
                });
                placed
                    .map_err(|e| {
                        tracing::warn!(path = %s.path.display(), error = %e, "cannot place a sidecar with its media; it stays in the inbox");
                    })
                    .ok()
            })
            .collect();
        let media = organizer::place_beneath(&PlaceBeneath {
            source_root: self.src,
            source: self.t.source,
            dest_root: self.dst,
            relative,
            asset_id: self.t.asset_id,
            expected_size: self.t.size,
            mode: self.t.mode,
            hashed_as: None,
        });
        match media {
            Ok(p) => {
                let sidecars = self.follow_media_name(&p, sidecars);
                Ok((p, sidecars))
            }
            Err(e) => {
                for p in sidecars.iter().flatten() {
                    remove_new_copy(self.dst, p);
                }
                Err(e)
            }
        }
    }

    /// Another writer may take the media's chosen name between step 0 and its placement (a
    /// concurrent group, a lone file): the media then lands at a collision name, and the
    /// sidecar copies made for it follow it to their names beside that one, where free.
    fn follow_media_name(
        &self,
        media: &Placement,
        sidecars: Vec<Option<Placement>>,
    ) -> Vec<Option<Placement>> {
        let Some(landed) = media.destination.file_name() else {
            return sidecars;
        };
        self.t
            .sidecars
            .iter()
            .zip(sidecars)
            .map(|(s, p)| {
                let mut p = p?;
                let name = s.candidate.name_beside(landed);
                if matches!(p.outcome, Outcome::Placed { .. })
                    && p.destination.file_name() != Some(name.as_os_str())
                {
                    match rename_beside(self.dst, &p.destination, &name) {
                        Ok(true) => p.destination.set_file_name(&name),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(path = %p.destination.display(), error = %e, "cannot rename a sidecar after its media");
                        }
                    }
                }
                Some(p)
            })
            .collect()
    }

    /// Step 3 for the sidecars: placed ones at their final names, the rest abandoned.
    fn record_sidecars(
        &self,
        catalog: &Catalog,
        ids: &[i64],
        sidecars: &[Option<Placement>],
    ) -> Result<(), CatalogError> {
        let placed: Vec<(i64, &Path)> = ids
            .iter()
            .zip(sidecars)
            .filter_map(|(id, p)| p.as_ref().map(|p| (*id, p.destination.as_path())))
            .collect();
        let failed: Vec<i64> = ids
            .iter()
            .zip(sidecars)
            .filter(|(_, p)| p.is_none())
            .map(|(id, _)| *id)
            .collect();
        catalog.place_sidecars(&placed)?;
        catalog.abandon_sidecars(&failed)
    }

    /// Step 4 for the sidecars. A source that cannot be removed stays in the inbox, where the
    /// next scan finds it already placed and finishes the move.
    fn remove_sidecar_sources(&self, sidecars: &[Option<Placement>]) {
        for (s, p) in self.t.sidecars.iter().zip(sidecars) {
            if let Some(p) = p
                && let Err(e) = organizer::remove_source_beneath(self.src, &s.path, self.dst, p)
            {
                tracing::warn!(path = %s.path.display(), error = %e, "cannot remove a moved sidecar from the inbox; the next scan finishes it");
            }
        }
    }

    fn placed(&self, sidecars: &[Option<Placement>]) -> Vec<PlacedSidecar> {
        self.t
            .sidecars
            .iter()
            .zip(sidecars)
            .filter_map(|(s, p)| {
                p.as_ref().map(|p| PlacedSidecar {
                    source_path: s.path.clone(),
                    destination: p.destination.clone(),
                    kind: s.candidate.kind.as_str().to_owned(),
                })
            })
            .collect()
    }
}

/// Removes a copy this transfer wrote (never a file that was already there).
fn remove_new_copy(dst: &Root, p: &Placement) {
    if !matches!(p.outcome, Outcome::Placed { .. }) {
        return;
    }
    if let Err(e) = remove_beneath(dst, &p.destination) {
        tracing::warn!(path = %p.destination.display(), error = %e, "cannot remove a sidecar copy whose media was not placed; recovery will");
    }
}

/// Renames `path` (below `root`) to `name` in its folder without replacing anything; false
/// when `name` is taken.
fn rename_beside(root: &Root, path: &Path, name: &std::ffi::OsStr) -> std::io::Result<bool> {
    let rel = root.relative(path)?;
    let (dir, from) = root.parent_of(rel)?;
    let renamed = dir.rename_noreplace(from, &dir, name)? == fsroot::NoReplace::Renamed;
    dir.sync()?;
    Ok(renamed)
}

/// Unlinks `path` (below `root`) through its folder's handle, and syncs the folder.
pub(crate) fn remove_beneath(root: &Root, path: &Path) -> std::io::Result<()> {
    let rel = root.relative(path)?;
    let (dir, name) = root.parent_of(rel)?;
    dir.remove_file(name)?;
    dir.sync()
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
