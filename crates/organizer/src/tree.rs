//! The filesystem side of placement, all through folder handles ([`fsroot::Dir`]): opening
//! the source, creating destination folders, reading the collision chain, hashing, syncing.
//! Nothing here resolves a path string; a symlink met on the way is refused.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use fsroot::{Dir, Root, is_symlink_refusal};

use crate::error::OrganizeError;
use crate::sanitize::collision_index;

/// Read buffer: large enough for few system calls, small enough to stay in cache.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// The source of a placement: its folder (opened beneath its inbox) and its name there.
pub(crate) struct Source<'a> {
    pub dir: Dir,
    pub name: &'a OsStr,
}

pub(crate) fn parse_asset_id(asset_id: &str) -> Result<blake3::Hash, OrganizeError> {
    blake3::Hash::from_hex(asset_id).map_err(|_| OrganizeError::InvalidAssetId {
        asset_id: asset_id.to_owned(),
    })
}

/// Splits a planned relative path into its folder and file name, refusing anything but
/// plain names.
pub(crate) fn split_relative(relative: &Path) -> Result<(&Path, &OsStr), OrganizeError> {
    let bad = |reason| OrganizeError::InvalidRelative {
        path: relative.to_owned(),
        reason,
    };
    if relative.as_os_str().is_empty() {
        return Err(bad("empty"));
    }
    for c in relative.components() {
        match c {
            Component::Normal(_) => {}
            Component::RootDir | Component::Prefix(_) => return Err(bad("absolute")),
            Component::ParentDir => return Err(bad("contains '..'")),
            Component::CurDir => return Err(bad("contains '.'")),
        }
    }
    let name = relative.file_name().ok_or_else(|| bad("no file name"))?;
    let folder = relative.parent().unwrap_or(Path::new(""));
    Ok((folder, name))
}

/// Opens a configured root folder (organized, duplicates, quarantine) by its path.
pub(crate) fn open_dest_root(path: &Path) -> Result<Root, OrganizeError> {
    Root::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => OrganizeError::DestRootMissing {
            path: path.to_owned(),
        },
        io::ErrorKind::NotADirectory => OrganizeError::NotAFolder {
            path: path.to_owned(),
        },
        _ => OrganizeError::ReadFolder {
            path: path.to_owned(),
            source: e,
        },
    })
}

/// The error for a symlink met at or below `rel` of `root`, naming the symlink when it can
/// still be found.
pub(crate) fn symlink_refused(root: &Root, rel: &Path) -> OrganizeError {
    OrganizeError::SymlinkRefused {
        path: root
            .find_symlink(rel)
            .unwrap_or_else(|| root.path().join(rel)),
    }
}

/// Opens the source's folder beneath `root` and the source read-only (no symlink followed
/// anywhere on the way), and checks it is a regular file.
pub(crate) fn open_source<'a>(
    root: &Root,
    path: &'a Path,
) -> Result<(Source<'a>, File, Metadata), OrganizeError> {
    let read_err = |source| OrganizeError::ReadSource {
        path: path.to_owned(),
        source,
    };
    let rel = root.relative(path).map_err(read_err)?;
    let (dir, name) = root.parent_of(rel).map_err(|e| {
        if is_symlink_refusal(&e) {
            symlink_refused(root, rel)
        } else {
            read_err(e)
        }
    })?;
    let file = dir.open_file(name).map_err(|e| {
        if is_symlink_refusal(&e) {
            OrganizeError::NotRegularFile {
                path: path.to_owned(),
            }
        } else {
            read_err(e)
        }
    })?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(OrganizeError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    Ok((Source { dir, name }, file, meta))
}

/// A handle of its own on `root`'s folder, to walk down from.
pub(crate) fn root_dir(root: &Root) -> Result<Dir, OrganizeError> {
    root.dir()
        .try_clone()
        .map_err(|source| OrganizeError::ReadFolder {
            path: root.path().to_owned(),
            source,
        })
}

/// Creates the folders of `folder` below `root` one by one (`mkdirat`, each opened without
/// following a symlink), so a file or a symlink in the way is reported precisely, then syncs
/// the parent of every folder it created: a new folder's entry must be durable before files
/// placed in it are relied upon.
pub(crate) fn ensure_folders(root: &Root, folder: &Path) -> Result<Dir, OrganizeError> {
    // Nearly always every folder is there already: one confined open (no symlink anywhere on
    // the way, never above the root) instead of a create and an open per folder. Whatever
    // fails here is done again below, one folder at a time, to create it or say what is wrong.
    if let Ok(dir) = root.open_dir(folder) {
        return Ok(dir);
    }
    let mut dir = root_dir(root)?;
    let mut created_in: Vec<Dir> = Vec::new();
    let mut rel = PathBuf::new();
    for name in folder.iter() {
        rel.push(name);
        let path = root.path().join(&rel);
        match dir.create_dir(name, 0o777) {
            Ok(()) => {
                created_in.push(
                    dir.try_clone()
                        .map_err(|source| OrganizeError::CreateFolder {
                            path: path.clone(),
                            source,
                        })?,
                )
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(OrganizeError::CreateFolder { path, source }),
        }
        dir = match dir.open_dir(name) {
            Ok(next) => next,
            Err(e) if is_symlink_refusal(&e) => return Err(OrganizeError::SymlinkRefused { path }),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(OrganizeError::NotAFolder { path });
            }
            Err(source) => return Err(OrganizeError::CreateFolder { path, source }),
        };
    }
    for parent in created_in {
        sync_folder(&parent)?;
    }
    Ok(dir)
}

/// Every existing name of `name`'s collision chain in `dir`, lowest number first.
pub(crate) fn collision_variants(
    dir: &Dir,
    name: &OsStr,
) -> Result<Vec<(u32, OsString)>, OrganizeError> {
    let entries = dir.entries().map_err(|source| OrganizeError::ReadFolder {
        path: dir.path().to_owned(),
        source,
    })?;
    let mut found: Vec<(u32, OsString)> = entries
        .into_iter()
        .filter_map(|e| collision_index(name, &e.name).map(|n| (n, e.name)))
        .collect();
    found.sort_by_key(|(n, _)| *n);
    Ok(found)
}

/// Looks through the existing collision chain for the same content. Names holding other
/// content are remembered, so the rename loop does not hash them again.
pub(crate) fn scan_for_identical(
    dir: &Dir,
    name: &OsStr,
    expected: &blake3::Hash,
    size: u64,
    known_different: &mut HashSet<OsString>,
) -> Result<Option<OsString>, OrganizeError> {
    // The chain is searched only when its first name is taken. Listing the folder for every
    // placement made filling a folder of N files cost N²/2 entries read (40,000 files dropped
    // into one project folder: 80 % of the daemon's time in getdents). A chain whose first
    // name is free has at most a member left behind after that name was deleted; a file
    // placed at the free name then is a second copy of that content, never a loss (and the
    // catalog, which decides before any placement, already knows organized content).
    match dir.stat_entry(name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    for (_, candidate) in collision_variants(dir, name)? {
        if holds_content(dir, &candidate, expected, size)? {
            return Ok(Some(candidate));
        }
        known_different.insert(candidate);
    }
    Ok(None)
}

/// Whether entry `name` of `dir` is a regular file (not a symlink) of `size` bytes hashing
/// to `expected`.
pub(crate) fn holds_content(
    dir: &Dir,
    name: &OsStr,
    expected: &blake3::Hash,
    size: u64,
) -> Result<bool, OrganizeError> {
    let read_err = |source| OrganizeError::ReadExisting {
        path: dir.join(name),
        source,
    };
    let mut file = match dir.open_file(name) {
        Ok(f) => f,
        Err(e) if is_symlink_refusal(&e) || e.kind() == io::ErrorKind::NotFound => {
            return Ok(false);
        }
        Err(e) => return Err(read_err(e)),
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() || meta.len() != size {
        return Ok(false);
    }
    let (read, hash) = hash_file(&mut file).map_err(read_err)?;
    Ok(read == size && hash == *expected)
}

/// Reads `file` from its current position to the end, hashing it.
pub(crate) fn hash_file(file: &mut File) -> io::Result<(u64, blake3::Hash)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok((total, hasher.finalize()))
}

/// An identical file found in place may come from a run that crashed before its fsync, with
/// the data still only in the page cache: make it durable before the caller relies on it
/// (and perhaps removes the source).
pub(crate) fn sync_existing(dir: &Dir, name: &OsStr) -> Result<(), OrganizeError> {
    dir.open_file(name)
        .and_then(|f| f.sync_all())
        .map_err(|source| OrganizeError::SyncFolder {
            path: dir.join(name),
            source,
        })?;
    sync_folder(dir)
}

pub(crate) fn sync_folder(dir: &Dir) -> Result<(), OrganizeError> {
    dir.sync().map_err(|source| OrganizeError::SyncFolder {
        path: dir.path().to_owned(),
        source,
    })
}
