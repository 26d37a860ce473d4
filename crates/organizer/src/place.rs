//! Crash-safe placement of one file: copy or move, never replace, verify by BLAKE3.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, FileTimes, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::OrganizeError;
use crate::sanitize::{collision_index, collision_name};
use crate::sys::{NoReplace, fsync_dir, rename_noreplace};
use crate::temp::{TempFile, instance, parse_temp_name};

/// Copy or move (the event type, so the caller needs no conversion).
pub use events::OrganizeMode as Mode;

/// How many names (`photo.png`, `photo (2).png`, …) are tried before giving up.
pub const MAX_COLLISION_ATTEMPTS: u32 = 10_000;

/// Copy buffer: large enough for few system calls, small enough to stay in cache.
const BUF_SIZE: usize = 256 * 1024;

/// What to place, where.
#[derive(Debug, Clone, Copy)]
pub struct PlaceRequest<'a> {
    /// The file to place (in an inbox). Never modified; removed only by [`remove_source`]
    /// or, in move mode on one filesystem, by being renamed.
    pub source: &'a Path,
    /// The organized (or duplicates, or quarantine) root folder. Must exist: a missing root
    /// usually means an unmounted drive, and filling the mount point would hide files.
    pub dest_root: &'a Path,
    /// The planned path below `dest_root`, from [`crate::Template::render`]: relative, no
    /// `.`/`..`.
    pub relative: &'a Path,
    /// The BLAKE3 of the source, 64 hex digits, as the caller hashed it.
    pub asset_id: &'a str,
    /// The source size the caller hashed.
    pub expected_size: u64,
    /// Copy (source stays) or move.
    pub mode: Mode,
}

/// How the placed file got its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A verified copy was written (copy mode, or move across filesystems): the source is
    /// still there until [`remove_source`].
    Copy,
    /// The source itself was renamed into place (move mode on one filesystem): the source
    /// path is gone.
    Rename,
}

/// What [`place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new file is at the destination.
    Placed {
        /// The planned name was taken by a different file, so a collision name was used.
        renamed_for_collision: bool,
        /// Copy or rename.
        via: Via,
    },
    /// Identical content (same BLAKE3) already was at the planned name or one of its
    /// collision names; nothing was written and the source is untouched. This is both the
    /// idempotent re-run of an earlier placement and a duplicate: the caller's catalog tells
    /// which.
    AlreadyPresent,
}

/// Which file a placement was made from: enough to recognise it later (at removal) even if
/// the inbox path meanwhile holds another file. Compared with
/// [`FileIdentity::same_content_stamp`]: placing changes the source's ctime.
pub use events::FileIdentity;

/// The result of [`place`]: journal it before calling [`remove_source`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The file in the organized tree: the new file, or for [`Outcome::AlreadyPresent`] the
    /// existing one with the same content.
    pub destination: PathBuf,
    /// What happened.
    pub outcome: Outcome,
    /// Size of the destination file.
    pub bytes: u64,
    /// The source file as it was placed.
    pub source_identity: FileIdentity,
}

/// What [`remove_source`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRemoval {
    /// The source was unlinked and its folder synced.
    Removed,
    /// Nothing was at the source path (renamed into place, or removed by an earlier run).
    AlreadyGone,
    /// The source path now holds a different file (new inode, size or mtime): it was left
    /// alone; the watcher will see it as a new file.
    Replaced,
}

/// Places `req.source` at `req.dest_root/req.relative` without ever replacing a file.
///
/// Steps, in order:
/// 1. Check the source is a regular file (symlinks are refused) of `expected_size`.
/// 2. Create the missing folders and sync their parents.
/// 3. If the planned name or one of its collision names already holds the same content
///    (BLAKE3), return [`Outcome::AlreadyPresent`] without writing anything.
/// 4. Move mode, same filesystem: hash the source once more, check it is unchanged, and rename
///    it into place without replacing. Otherwise: copy into a `O_EXCL` temporary in the
///    destination folder while hashing, compare with `asset_id` (mismatch: temporary removed,
///    [`OrganizeError::SourceChanged`]), copy mode bits and times, fsync, then rename without
///    replacing.
/// 5. A name taken by different content moves on to the next collision name
///    ([`collision_name`]); one taken by the same content gives `AlreadyPresent`.
/// 6. Sync the destination folder (and, for a rename, the source folder).
///
/// The source is never opened for writing. In copy-based placements it stays until the caller
/// has journaled the placement and calls [`remove_source`]. A crash at any point leaves the
/// source in place, or the file at its destination (or both) plus at most a temporary that
/// [`cleanup_temporaries`] removes.
pub fn place(req: &PlaceRequest<'_>) -> Result<Placement, OrganizeError> {
    let expected = parse_asset_id(req.asset_id)?;
    let (folder, file_name) = split_relative(req.relative)?;
    check_root(req.dest_root)?;

    let (mut src, src_meta) = open_source(req.source)?;
    if src_meta.len() != req.expected_size {
        return Err(source_changed(
            req.source,
            format!(
                "size is {} bytes, {} were hashed",
                src_meta.len(),
                req.expected_size
            ),
        ));
    }
    let identity = FileIdentity::from_metadata(&src_meta);
    let dest_dir = ensure_folders(req.dest_root, folder)?;
    let planned = dest_dir.join(file_name);

    let mut known_different = HashSet::new();
    if let Some(existing) = scan_for_identical(
        &dest_dir,
        file_name,
        &expected,
        req.expected_size,
        &mut known_different,
    )? {
        tracing::debug!(
            source = %req.source.display(),
            existing = %existing.display(),
            asset_id = req.asset_id,
            "identical content already organized"
        );
        // The caller may remove the source next (a finished move, a duplicate set aside):
        // make sure it really is this content, not a new file that happens to share the
        // identity (a reused inode with the same size and mtime) or was rewritten since.
        verify_source(req, &mut src, &expected)?;
        sync_existing(&existing, &dest_dir)?;
        return Ok(Placement {
            destination: existing,
            outcome: Outcome::AlreadyPresent,
            bytes: req.expected_size,
            source_identity: identity,
        });
    }

    let mut target = Target {
        dir: &dest_dir,
        name: file_name,
        planned: &planned,
        expected: &expected,
        size: req.expected_size,
        known_different,
    };

    if req.mode == Mode::Move && same_device(&src_meta, &dest_dir)? {
        match move_by_rename(req, &mut src, &identity, &mut target) {
            Err(OrganizeError::Rename { source: e, .. })
                if e.raw_os_error() == Some(libc::EXDEV) =>
            {
                // Same st_dev but another mount (bind mounts): copy instead.
                tracing::debug!(source = %req.source.display(), "rename crosses mounts; copying");
                src.seek(io::SeekFrom::Start(0))
                    .map_err(|source| OrganizeError::ReadSource {
                        path: req.source.to_owned(),
                        source,
                    })?;
            }
            other => return other,
        }
    }
    copy_into_place(req, &mut src, &src_meta, identity, &mut target)
}

/// Where a file is going, and what is already known about names there.
struct Target<'a> {
    dir: &'a Path,
    name: &'a OsStr,
    planned: &'a Path,
    expected: &'a blake3::Hash,
    size: u64,
    /// Names already seen holding different content: not rehashed on EEXIST.
    known_different: HashSet<OsString>,
}

/// Where a no-replace rename of `from` into the collision chain ended.
enum Landed {
    At { path: PathBuf, n: u32 },
    Identical(PathBuf),
}

impl Target<'_> {
    /// Renames `from` to the first free name of the collision chain, without replacing.
    fn rename_into_chain(&mut self, from: &Path) -> Result<Landed, OrganizeError> {
        for n in 1..=MAX_COLLISION_ATTEMPTS {
            let name = collision_name(self.name, n);
            let candidate = self.dir.join(&name);
            let result =
                rename_noreplace(from, &candidate).map_err(|source| OrganizeError::Rename {
                    from: from.to_owned(),
                    to: candidate.clone(),
                    source,
                })?;
            match result {
                NoReplace::Renamed => return Ok(Landed::At { path: candidate, n }),
                NoReplace::Exists => {
                    // Taken since the scan (a concurrent writer) or known to differ.
                    if !self.known_different.contains(&name)
                        && holds_content(&candidate, self.expected, self.size)?
                    {
                        return Ok(Landed::Identical(candidate));
                    }
                    self.known_different.insert(name);
                }
            }
        }
        Err(OrganizeError::TooManyCollisions {
            path: self.planned.to_owned(),
            attempts: MAX_COLLISION_ATTEMPTS,
        })
    }
}

fn move_by_rename(
    req: &PlaceRequest<'_>,
    src: &mut File,
    identity: &FileIdentity,
    target: &mut Target<'_>,
) -> Result<Placement, OrganizeError> {
    verify_source(req, src, target.expected)?;
    // Last look before the source's name goes away: the path must still name the inode just
    // verified, unmodified.
    let now = fs::symlink_metadata(req.source).map_err(|source| OrganizeError::ReadSource {
        path: req.source.to_owned(),
        source,
    })?;
    let during = src.metadata().map_err(|source| OrganizeError::ReadSource {
        path: req.source.to_owned(),
        source,
    })?;
    if !FileIdentity::from_metadata(&now).same_content_stamp(identity)
        || !FileIdentity::from_metadata(&during).same_content_stamp(identity)
    {
        return Err(source_changed(
            req.source,
            "modified or replaced during placement".into(),
        ));
    }
    match target.rename_into_chain(req.source)? {
        Landed::Identical(existing) => {
            sync_existing(&existing, target.dir)?;
            Ok(Placement {
                destination: existing,
                outcome: Outcome::AlreadyPresent,
                bytes: req.expected_size,
                source_identity: *identity,
            })
        }
        Landed::At { path, n } => {
            sync_folder(target.dir)?;
            if let Some(src_dir) = parent_dir(req.source) {
                sync_folder(src_dir)?;
            }
            tracing::debug!(
                source = %req.source.display(),
                destination = %path.display(),
                collision = n > 1,
                "moved by rename"
            );
            Ok(Placement {
                destination: path,
                outcome: Outcome::Placed {
                    renamed_for_collision: n > 1,
                    via: Via::Rename,
                },
                bytes: req.expected_size,
                source_identity: *identity,
            })
        }
    }
}

fn copy_into_place(
    req: &PlaceRequest<'_>,
    src: &mut File,
    src_meta: &Metadata,
    identity: FileIdentity,
    target: &mut Target<'_>,
) -> Result<Placement, OrganizeError> {
    let mut temp =
        TempFile::create(target.dir).map_err(|source| OrganizeError::WriteDestination {
            path: target.dir.to_owned(),
            source,
        })?;
    let temp_path = temp.path().to_owned();
    let write_err = |source| OrganizeError::WriteDestination {
        path: temp_path.clone(),
        source,
    };

    let (copied, hash) = {
        let out = temp.file().map_err(write_err)?;
        copy_hashing(req.source, src, out, &temp_path)?
    };
    if copied != req.expected_size {
        return Err(source_changed(
            req.source,
            format!("read {copied} bytes, {} were hashed", req.expected_size),
        ));
    }
    if hash != *target.expected {
        return Err(source_changed(
            req.source,
            format!("content hashes to {}, not {}", hash.to_hex(), req.asset_id),
        ));
    }

    // Permissions and times are comfort, not safety: set them before the fsync so they are
    // durable with the data. Set-id bits are not carried into the organized tree, and the
    // owner keeps read access so the daemon can hash the file later (dedup, recovery).
    let times = FileTimes::new();
    let times = match src_meta.accessed() {
        Ok(t) => times.set_accessed(t),
        Err(_) => times,
    };
    let times = match src_meta.modified() {
        Ok(t) => times.set_modified(t),
        Err(_) => times,
    };
    {
        let out = temp.file().map_err(write_err)?;
        out.set_permissions(Permissions::from_mode((src_meta.mode() & 0o777) | 0o400))
            .map_err(write_err)?;
        out.set_times(times).map_err(write_err)?;
        out.sync_all().map_err(write_err)?;
    }
    temp.close();

    match target.rename_into_chain(&temp_path)? {
        Landed::Identical(existing) => {
            drop(temp);
            sync_existing(&existing, target.dir)?;
            Ok(Placement {
                destination: existing,
                outcome: Outcome::AlreadyPresent,
                bytes: req.expected_size,
                source_identity: identity,
            })
        }
        Landed::At { path, n } => {
            temp.keep();
            sync_folder(target.dir)?;
            tracing::debug!(
                source = %req.source.display(),
                destination = %path.display(),
                bytes = copied,
                collision = n > 1,
                "copied and verified"
            );
            Ok(Placement {
                destination: path,
                outcome: Outcome::Placed {
                    renamed_for_collision: n > 1,
                    via: Via::Copy,
                },
                bytes: copied,
                source_identity: identity,
            })
        }
    }
}

/// Streams `src` into `out`, hashing what was read.
fn copy_hashing(
    src_path: &Path,
    src: &mut File,
    out: &mut File,
    out_path: &Path,
) -> Result<(u64, blake3::Hash), OrganizeError> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(OrganizeError::ReadSource {
                    path: src_path.to_owned(),
                    source,
                });
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|source| OrganizeError::WriteDestination {
                path: out_path.to_owned(),
                source,
            })?;
        total += n as u64;
    }
    Ok((total, hasher.finalize()))
}

/// Unlinks the source of a copy-based placement, after the caller journaled the placement.
///
/// Before unlinking it checks that the destination still exists as a regular file of
/// `placement.bytes` bytes and that the source path still holds the very file that was
/// placed ([`Placement::source_identity`]); afterwards it syncs the source folder.
///
/// Idempotent: a source that is already gone gives [`SourceRemoval::AlreadyGone`] (the normal
/// case after a rename, or a retry after a crash). A source path that now holds another file
/// is left alone ([`SourceRemoval::Replaced`]). It refuses ([`OrganizeError::SourceIsDestination`])
/// when the source is the destination's only name, so an inbox inside the organized tree
/// cannot lose its files.
///
/// For [`Outcome::AlreadyPresent`] this removes the inbox duplicate; call it only if that is
/// the policy (otherwise move the duplicate with [`place`] to a duplicates folder).
pub fn remove_source(source: &Path, placement: &Placement) -> Result<SourceRemoval, OrganizeError> {
    let dest = &placement.destination;
    let dest_meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OrganizeError::DestinationMissing {
                path: dest.clone(),
                detail: "no such file".into(),
            });
        }
        Err(source) => {
            return Err(OrganizeError::ReadExisting {
                path: dest.clone(),
                source,
            });
        }
    };
    if !dest_meta.file_type().is_file() || dest_meta.len() != placement.bytes {
        return Err(OrganizeError::DestinationMissing {
            path: dest.clone(),
            detail: format!(
                "found a {} of {} bytes, expected a file of {} bytes",
                if dest_meta.is_file() {
                    "file"
                } else {
                    "non-file"
                },
                dest_meta.len(),
                placement.bytes
            ),
        });
    }

    let src_meta = match fs::symlink_metadata(source) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(source = %source.display(), "source already gone");
            return Ok(SourceRemoval::AlreadyGone);
        }
        Err(e) => {
            return Err(OrganizeError::ReadSource {
                path: source.to_owned(),
                source: e,
            });
        }
    };
    if !FileIdentity::from_metadata(&src_meta).same_content_stamp(&placement.source_identity) {
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
    match fs::remove_file(source) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SourceRemoval::AlreadyGone),
        Err(e) => {
            return Err(OrganizeError::RemoveSource {
                path: source.to_owned(),
                source: e,
            });
        }
    }
    if let Some(dir) = parent_dir(source) {
        sync_folder(dir)?;
    }
    tracing::debug!(source = %source.display(), destination = %dest.display(), "source removed");
    Ok(SourceRemoval::Removed)
}

/// Reads the source once more and checks it still hashes to the asset id: a file rewritten in
/// place after the caller hashed it (or a new file that inherited an old file's identity)
/// would otherwise be filed under a wrong asset id, or removed as a duplicate of content it
/// does not hold. Usually served from the page cache, right after the caller's hash.
fn verify_source(
    req: &PlaceRequest<'_>,
    src: &mut File,
    expected: &blake3::Hash,
) -> Result<(), OrganizeError> {
    use std::io::Seek;
    src.rewind().map_err(|source| OrganizeError::ReadSource {
        path: req.source.to_owned(),
        source,
    })?;
    let (read, hash) = hash_file(src).map_err(|source| OrganizeError::ReadSource {
        path: req.source.to_owned(),
        source,
    })?;
    if read != req.expected_size || hash != *expected {
        return Err(source_changed(
            req.source,
            format!("content hashes to {}, not {}", hash.to_hex(), req.asset_id),
        ));
    }
    Ok(())
}

/// Crash recovery: the file with content `asset_id` at `dest_root/relative` or one of its
/// collision names, if any (lowest collision number first). Reads only; hashes each
/// candidate, so it costs one read per same-named file.
///
/// To resume an interrupted move, calling [`place`] again is usually simpler: it returns
/// [`Outcome::AlreadyPresent`] with a [`Placement`] that [`remove_source`] accepts.
pub fn find_placed(
    dest_root: &Path,
    relative: &Path,
    asset_id: &str,
) -> Result<Option<PathBuf>, OrganizeError> {
    let expected = parse_asset_id(asset_id)?;
    let (folder, file_name) = split_relative(relative)?;
    let dir = dest_root.join(folder);
    for (_, path) in collision_variants(&dir, file_name)? {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(OrganizeError::ReadExisting { path, source }),
        };
        if meta.is_file() && holds_content(&path, &expected, meta.len())? {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Removes this crate's leftover temporary files (`.alice-tmp-<instance>-<n>`, see
/// [`crate::is_temporary_name`]) anywhere under `root`, and nothing else. Returns how many
/// were removed.
///
/// Temporaries of the running process are skipped, so a call while placements run is safe.
/// Symlinks are not followed. Sub-folders that cannot be read are logged and skipped; a
/// missing `root` counts as clean.
pub fn cleanup_temporaries(root: &Path) -> Result<usize, OrganizeError> {
    let own = instance();
    let mut removed = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if dir == root && e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) if dir == root => {
                return Err(OrganizeError::ReadFolder { path: dir, source });
            }
            Err(e) => {
                tracing::warn!(folder = %dir.display(), error = %e, "cannot list folder; skipping it");
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(folder = %dir.display(), error = %e, "cannot read folder entry");
                    continue;
                }
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file()
                && let Some(inst) = parse_temp_name(&entry.file_name())
                && inst != own
            {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "removed leftover temporary file");
                        removed += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover temporary file");
                    }
                }
            }
        }
    }
    Ok(removed)
}

// ----- helpers ------------------------------------------------------------------------------

fn parse_asset_id(asset_id: &str) -> Result<blake3::Hash, OrganizeError> {
    blake3::Hash::from_hex(asset_id).map_err(|_| OrganizeError::InvalidAssetId {
        asset_id: asset_id.to_owned(),
    })
}

fn split_relative(relative: &Path) -> Result<(&Path, &OsStr), OrganizeError> {
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

fn check_root(root: &Path) -> Result<(), OrganizeError> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(OrganizeError::NotAFolder {
            path: root.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(OrganizeError::DestRootMissing {
            path: root.to_owned(),
        }),
        Err(source) => Err(OrganizeError::ReadFolder {
            path: root.to_owned(),
            source,
        }),
    }
}

/// Opens the source read-only without following a symlink, and checks it is a regular file.
fn open_source(path: &Path) -> Result<(File, Metadata), OrganizeError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                OrganizeError::NotRegularFile {
                    path: path.to_owned(),
                }
            } else {
                OrganizeError::ReadSource {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|source| OrganizeError::ReadSource {
            path: path.to_owned(),
            source,
        })?;
    if !meta.is_file() {
        return Err(OrganizeError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    Ok((file, meta))
}

/// Creates the folders of `folder` below `root` one by one, so a file in the way is reported
/// precisely, then syncs the parent of every folder it created: a new folder's entry must be
/// durable before files placed in it are relied upon.
fn ensure_folders(root: &Path, folder: &Path) -> Result<PathBuf, OrganizeError> {
    let mut path = root.to_owned();
    let mut created_parents: Vec<PathBuf> = Vec::new();
    for c in folder.components() {
        let parent = path.clone();
        path.push(c);
        match fs::create_dir(&path) {
            Ok(()) => created_parents.push(parent),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Follows symlinks on purpose: a user may link part of the tree elsewhere.
                if !fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                    return Err(OrganizeError::NotAFolder { path });
                }
            }
            Err(source) => return Err(OrganizeError::CreateFolder { path, source }),
        }
    }
    for parent in created_parents {
        sync_folder(&parent)?;
    }
    Ok(path)
}

fn same_device(src: &Metadata, dest_dir: &Path) -> Result<bool, OrganizeError> {
    let dest = fs::metadata(dest_dir).map_err(|source| OrganizeError::ReadFolder {
        path: dest_dir.to_owned(),
        source,
    })?;
    Ok(src.dev() == dest.dev())
}

/// Every existing name of `name`'s collision chain in `dir`, lowest number first.
fn collision_variants(dir: &Path, name: &OsStr) -> Result<Vec<(u32, PathBuf)>, OrganizeError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(OrganizeError::ReadFolder {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| OrganizeError::ReadFolder {
            path: dir.to_owned(),
            source,
        })?;
        if let Some(n) = collision_index(name, &entry.file_name()) {
            found.push((n, entry.path()));
        }
    }
    found.sort_by_key(|(n, _)| *n);
    Ok(found)
}

/// Looks through the existing collision chain for the same content. Names holding other
/// content are remembered, so the rename loop does not hash them again.
fn scan_for_identical(
    dir: &Path,
    name: &OsStr,
    expected: &blake3::Hash,
    size: u64,
    known_different: &mut HashSet<OsString>,
) -> Result<Option<PathBuf>, OrganizeError> {
    for (_, path) in collision_variants(dir, name)? {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(OrganizeError::ReadExisting { path, source }),
        };
        if meta.is_file() && meta.len() == size && holds_content(&path, expected, size)? {
            return Ok(Some(path));
        }
        if let Some(file_name) = path.file_name() {
            known_different.insert(file_name.to_owned());
        }
    }
    Ok(None)
}

/// Whether `path` is a regular file (not a symlink) of `size` bytes hashing to `expected`.
fn holds_content(path: &Path, expected: &blake3::Hash, size: u64) -> Result<bool, OrganizeError> {
    let read_err = |source| OrganizeError::ReadExisting {
        path: path.to_owned(),
        source,
    };
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
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
fn hash_file(file: &mut File) -> io::Result<(u64, blake3::Hash)> {
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
fn sync_existing(path: &Path, dir: &Path) -> Result<(), OrganizeError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| OrganizeError::SyncFolder {
            path: path.to_owned(),
            source,
        })?;
    sync_folder(dir)
}

fn sync_folder(dir: &Path) -> Result<(), OrganizeError> {
    fsync_dir(dir).map_err(|source| OrganizeError::SyncFolder {
        path: dir.to_owned(),
        source,
    })
}

/// The folder holding `path`; `.` for a bare file name.
fn parent_dir(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

fn source_changed(path: &Path, detail: String) -> OrganizeError {
    OrganizeError::SourceChanged {
        path: path.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_skips_temporaries_of_the_running_process() {
        let dir = tempfile::tempdir().unwrap();
        let temp = TempFile::create(dir.path()).unwrap();
        let path = temp.path().to_owned();
        assert_eq!(cleanup_temporaries(dir.path()).unwrap(), 0);
        assert!(path.exists());
        drop(temp);
        assert!(!path.exists(), "an unkept temporary is removed on drop");
    }

    /// The race the pre-scan cannot see: the same content appears at the planned name
    /// between the scan and the rename.
    #[test]
    fn rename_chain_recognises_identical_content_that_appeared_late() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"late twin";
        let expected = blake3::hash(content);
        fs::write(dir.path().join("x.png"), b"different").unwrap();
        fs::write(dir.path().join("x (2).png"), content).unwrap();
        let from = dir.path().join("incoming");
        fs::write(&from, content).unwrap();
        let planned = dir.path().join("x.png");
        let mut target = Target {
            dir: dir.path(),
            name: OsStr::new("x.png"),
            planned: &planned,
            expected: &expected,
            size: content.len() as u64,
            known_different: HashSet::new(),
        };
        match target.rename_into_chain(&from).unwrap() {
            Landed::Identical(p) => assert_eq!(p, dir.path().join("x (2).png")),
            Landed::At { path, .. } => panic!("placed a second copy at {}", path.display()),
        }
        assert!(from.exists(), "nothing renamed");
        assert!(target.known_different.contains(OsStr::new("x.png")));
    }

    #[test]
    fn collision_bound_is_an_error_not_an_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let expected = blake3::hash(b"new");
        let planned = dir.path().join("x");
        for n in 1..=MAX_COLLISION_ATTEMPTS {
            fs::write(dir.path().join(collision_name(OsStr::new("x"), n)), b"").unwrap();
        }
        let from = dir.path().join("incoming");
        fs::write(&from, b"new").unwrap();
        let mut target = Target {
            dir: dir.path(),
            name: OsStr::new("x"),
            planned: &planned,
            expected: &expected,
            size: 3,
            known_different: HashSet::new(),
        };
        let err = match target.rename_into_chain(&from) {
            Err(e) => e,
            Ok(_) => panic!("placed beyond the collision bound"),
        };
        assert!(
            matches!(err, OrganizeError::TooManyCollisions { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("{seq}"), "{err}");
        assert_eq!(fs::read(&from).unwrap(), b"new");
    }
}
