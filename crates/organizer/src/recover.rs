//! After a placement: removing the source, finding where a file went, cleaning up after a
//! crash. All beneath folder handles, like placement itself.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fsroot::{Dir, EntryKind, Root, is_symlink_refusal};

use crate::error::OrganizeError;
use crate::place::{FileIdentity, Placement, SourceRemoval, open_parent_root};
use crate::temp::{instance, parse_temp_name};
use crate::tree::{
    collision_variants, holds_content, open_dest_root, parse_asset_id, split_relative,
    symlink_refused, sync_folder,
};

/// [`remove_source_beneath`] with roots opened from paths: the source's folder and the
/// destination's folder, each by its path.
pub fn remove_source(source: &Path, placement: &Placement) -> Result<SourceRemoval, OrganizeError> {
    let (source_root, source) = open_parent_root(source)?;
    let dest_root = open_dest_root(placement.destination.parent().unwrap_or(Path::new("/")))?;
    remove_source_beneath(&source_root, &source, &dest_root, placement)
}

/// Unlinks the source of a copy-based placement, after the caller journaled the placement.
/// `source` lies beneath `source_root` (its inbox), `placement.destination` beneath
/// `dest_root`; both are reached without following a symlink.
///
/// Before unlinking it checks that the destination still exists as a regular file of
/// `placement.bytes` bytes and that the source name still holds the very file that was
/// placed ([`Placement::source_identity`]); afterwards it syncs the source folder.
///
/// Idempotent: a source that is already gone gives [`SourceRemoval::AlreadyGone`] (the normal
/// case after a rename, or a retry after a crash). A source path that now holds another file
/// is left alone ([`SourceRemoval::Replaced`]). It refuses ([`OrganizeError::SourceIsDestination`])
/// when the source is the destination's only name, so an inbox inside the organized tree
/// cannot lose its files.
///
/// For [`crate::Outcome::AlreadyPresent`] this removes the inbox duplicate; call it only if
/// that is the policy (otherwise move the duplicate with [`crate::place_beneath`] to a
/// duplicates folder).
pub fn remove_source_beneath(
    source_root: &Root,
    source: &Path,
    dest_root: &Root,
    placement: &Placement,
) -> Result<SourceRemoval, OrganizeError> {
    let dest_meta = placed_file(dest_root, placement)?;
    let src_err = |e| OrganizeError::ReadSource {
        path: source.to_owned(),
        source: e,
    };
    let rel = source_root.relative(source).map_err(src_err)?;
    let found = source_root
        .parent_of(rel)
        .and_then(|(dir, name)| dir.stat(name).map(|meta| (dir, name, meta)));
    let (dir, name, src_meta) = match found {
        Ok(found) => found,
        Err(e) if is_gone(&e) => {
            tracing::debug!(source = %source.display(), "source already gone");
            return Ok(SourceRemoval::AlreadyGone);
        }
        Err(e) => return Err(src_err(e)),
    };
    if !src_meta.is_file()
        || !FileIdentity::from_metadata(&src_meta).same_content_stamp(&placement.source_identity)
    {
        tracing::info!(
            source = %source.display(),
            "source path holds a different file than the one placed; left alone"
        );
        return Ok(SourceRemoval::Replaced);
    }
    if src_meta.dev() == dest_meta.dev()
        && src_meta.ino() == dest_meta.ino()
        && src_meta.nlink() < 2
    {
        return Err(OrganizeError::SourceIsDestination {
            path: source.to_owned(),
        });
    }
    match dir.remove_file(name) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SourceRemoval::AlreadyGone),
        Err(e) => {
            return Err(OrganizeError::RemoveSource {
                path: source.to_owned(),
                source: e,
            });
        }
    }
    sync_folder(&dir)?;
    tracing::debug!(source = %source.display(), destination = %placement.destination.display(), "source removed");
    Ok(SourceRemoval::Removed)
}

/// Gone, or no longer reachable without a symlink: nothing to remove at that name.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || is_symlink_refusal(e)
}

/// The placed file, checked: a regular file of the placed size beneath `dest_root`.
fn placed_file(
    dest_root: &Root,
    placement: &Placement,
) -> Result<std::fs::Metadata, OrganizeError> {
    let dest = &placement.destination;
    let missing = |detail: String| OrganizeError::DestinationMissing {
        path: dest.clone(),
        detail,
    };
    let meta = dest_root
        .relative(dest)
        .and_then(|rel| dest_root.stat(rel))
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing("no such file".into()),
            _ if is_symlink_refusal(&e) => missing("a symlink is on the way to it".into()),
            _ => OrganizeError::ReadExisting {
                path: dest.clone(),
                source: e,
            },
        })?;
    if !meta.file_type().is_file() || meta.len() != placement.bytes {
        let kind = if meta.is_file() { "file" } else { "non-file" };
        return Err(missing(format!(
            "found a {kind} of {} bytes, expected a file of {} bytes",
            meta.len(),
            placement.bytes
        )));
    }
    Ok(meta)
}

/// [`find_placed_beneath`] with the root opened from its path (a missing root finds nothing).
pub fn find_placed(
    dest_root: &Path,
    relative: &Path,
    asset_id: &str,
) -> Result<Option<PathBuf>, OrganizeError> {
    parse_asset_id(asset_id)?;
    split_relative(relative)?;
    match open_dest_root(dest_root) {
        Ok(root) => find_placed_beneath(&root, relative, asset_id),
        Err(OrganizeError::DestRootMissing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Crash recovery: the file with content `asset_id` at `relative` below `dest_root` or one of
/// its collision names, if any (lowest collision number first). Reads only; hashes each
/// candidate, so it costs one read per same-named file. A symlink on the way is refused.
///
/// To resume an interrupted move, calling [`crate::place_beneath`] again is usually simpler:
/// it returns [`crate::Outcome::AlreadyPresent`] with a [`Placement`] that
/// [`remove_source_beneath`] accepts.
pub fn find_placed_beneath(
    dest_root: &Root,
    relative: &Path,
    asset_id: &str,
) -> Result<Option<PathBuf>, OrganizeError> {
    let expected = parse_asset_id(asset_id)?;
    let (folder, file_name) = split_relative(relative)?;
    let dir = match dest_root.open_dir(folder) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_symlink_refusal(&e) => return Err(symlink_refused(dest_root, folder)),
        Err(source) => {
            return Err(OrganizeError::ReadFolder {
                path: dest_root.path().join(folder),
                source,
            });
        }
    };
    for (_, name) in collision_variants(&dir, file_name)? {
        let size = match dir.stat(&name) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(OrganizeError::ReadExisting {
                    path: dir.join(&name),
                    source,
                });
            }
        };
        if holds_content(&dir, &name, &expected, size)? {
            return Ok(Some(dir.join(&name)));
        }
    }
    Ok(None)
}

/// [`cleanup_temporaries_beneath`] with the root opened from its path (a missing root counts
/// as clean).
pub fn cleanup_temporaries(root: &Path) -> Result<usize, OrganizeError> {
    match Root::open(root) {
        Ok(root) => cleanup_temporaries_beneath(&root),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(OrganizeError::ReadFolder {
            path: root.to_owned(),
            source,
        }),
    }
}

/// Removes this crate's leftover temporary files (`.alice-tmp-<instance>-<n>`, see
/// [`crate::is_temporary_name`]) anywhere under `root`, and nothing else. Returns how many
/// were removed.
///
/// Temporaries of the running process are skipped, so a call while placements run is safe.
/// Symlinks are not followed: every folder is opened beneath the one above it. Sub-folders
/// that cannot be read are logged and skipped.
pub fn cleanup_temporaries_beneath(root: &Root) -> Result<usize, OrganizeError> {
    let own = instance();
    let mut removed = 0;
    let top = crate::tree::root_dir(root)?;
    let mut stack = vec![top];
    while let Some(dir) = stack.pop() {
        let entries = match dir.entries() {
            Ok(e) => e,
            Err(source) if dir.path() == root.path() => {
                return Err(OrganizeError::ReadFolder {
                    path: dir.path().to_owned(),
                    source,
                });
            }
            Err(e) => {
                tracing::warn!(folder = %dir.path().display(), error = %e, "cannot list folder; skipping it");
                continue;
            }
        };
        for entry in entries {
            match entry.kind {
                EntryKind::Dir => match dir.open_dir(&entry.name) {
                    Ok(sub) => stack.push(sub),
                    Err(e) => {
                        tracing::debug!(folder = %dir.join(&entry.name).display(), error = %e, "not entered")
                    }
                },
                EntryKind::File => {
                    if parse_temp_name(&entry.name).is_some_and(|inst| inst != own) {
                        removed += remove_leftover(&dir, &entry.name);
                    }
                }
                EntryKind::Symlink | EntryKind::Other => {}
            }
        }
    }
    Ok(removed)
}

fn remove_leftover(dir: &Dir, name: &std::ffi::OsStr) -> usize {
    let path = dir.join(name);
    match dir.remove_file(name) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed leftover temporary file");
            1
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover temporary file");
            0
        }
    }
}
