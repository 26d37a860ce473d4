//! Crash-safe placement of one file: copy or move, never replace, verify by BLAKE3.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{File, FileTimes, Metadata, Permissions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fsroot::{Dir, NoReplace, Root};

use crate::error::OrganizeError;
use crate::sanitize::collision_name;
use crate::staged::{Finished, Staged, StagedCopy, copy_verified};
use crate::temp::TempFile;
use crate::tree::{
    BUF_SIZE, Source, ensure_folders, hash_file, holds_content, open_dest_root, open_source,
    parse_asset_id, scan_for_identical, split_relative, sync_existing,
};

/// Copy or move (the event type, so the caller needs no conversion).
pub use events::OrganizeMode as Mode;

/// How many names (`photo.png`, `photo (2).png`, …) are tried before giving up.
pub const MAX_COLLISION_ATTEMPTS: u32 = 10_000;

/// What to place, where, by paths: [`place`] opens the roots itself (the source's folder
/// by its path). Prefer [`PlaceBeneath`] with roots opened once, which also keeps the
/// source's inbox folders from being swapped for symlinks.
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

/// What to place, where, beneath folder handles opened once ([`Root`]): the source is
/// reached beneath its inbox and the destination beneath its root with no symlink followed
/// anywhere on the way, so nothing outside the two roots is read, created or renamed however
/// their contents change meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct PlaceBeneath<'a> {
    /// The inbox the source lies in.
    pub source_root: &'a Root,
    /// The file to place: [`Root::path`] of `source_root` followed by plain names. Never
    /// modified; removed only by [`remove_source_beneath`] or, in move mode on one
    /// filesystem, by being renamed.
    pub source: &'a Path,
    /// The organized (or duplicates, or quarantine) root folder.
    pub dest_root: &'a Root,
    /// The planned path below `dest_root`, from [`crate::Template::render`].
    pub relative: &'a Path,
    /// The BLAKE3 of the source, 64 hex digits, as the caller hashed it.
    pub asset_id: &'a str,
    /// The source size the caller hashed.
    pub expected_size: u64,
    /// Copy (source stays) or move.
    pub mode: Mode,
    /// The source's identity when the caller hashed it, if that identity tells every later
    /// change (`AssetDiscovered::hashed_as`): a source that still has it is not read again
    /// before it is renamed or removed as a duplicate. `None`: it is read and hashed again.
    pub hashed_as: Option<FileIdentity>,
}

/// [`place_beneath`] with roots opened from paths: `dest_root` as configured (it must
/// exist), and the source's own folder by its path. Symlinked folders in the destination tree
/// are refused; the source's folder path itself is trusted, so callers that know the inbox
/// should use [`place_beneath`].
pub fn place(req: &PlaceRequest<'_>) -> Result<Placement, OrganizeError> {
    parse_asset_id(req.asset_id)?;
    split_relative(req.relative)?;
    let dest_root = open_dest_root(req.dest_root)?;
    let (source_root, source) = open_parent_root(req.source)?;
    place_beneath(&PlaceBeneath {
        source_root: &source_root,
        source: &source,
        dest_root: &dest_root,
        relative: req.relative,
        asset_id: req.asset_id,
        expected_size: req.expected_size,
        mode: req.mode,
        hashed_as: None,
    })
}

/// The folder holding `path`, opened as a root, and `path` made absolute (for the
/// path-based wrappers).
pub(crate) fn open_parent_root(path: &Path) -> Result<(Root, PathBuf), OrganizeError> {
    let err = |source| OrganizeError::ReadSource {
        path: path.to_owned(),
        source,
    };
    let abs = std::path::absolute(path).map_err(err)?;
    let parent = abs.parent().unwrap_or(Path::new("/"));
    Ok((Root::open(parent).map_err(err)?, abs))
}

/// Places `req.source` at `req.dest_root/req.relative` without ever replacing a file.
///
/// Steps, in order:
/// 1. Open the source beneath its inbox (no symlink on the way) and check it is a regular
///    file of `expected_size`.
/// 2. Create the missing folders beneath the destination root, one `mkdirat` at a time, and
///    sync their parents. A symlink among them is refused ([`OrganizeError::SymlinkRefused`]):
///    nothing is ever written through one.
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
/// has journaled the placement and calls [`remove_source_beneath`]. A crash at any point
/// leaves the source in place, or the file at its destination (or both) plus at most a
/// temporary that [`crate::cleanup_temporaries_beneath`] removes.
pub fn place_beneath(req: &PlaceBeneath<'_>) -> Result<Placement, OrganizeError> {
    let mut staged = stage_beneath(req)?;
    staged.sync_data()?;
    let finished = staged.finish()?;
    finished.sync_folders()?;
    Ok(finished.placement)
}

/// [`place_beneath`] up to the point where durability is needed, for callers that make many
/// placements durable together ([`crate::Staged`]): a copy is written, verified and given its
/// mode and times in a temporary, but neither fsynced nor renamed; a move by rename is
/// renamed, but its folders are not synced. The caller makes the data durable
/// ([`Staged::sync_data`] or one [`crate::sync_filesystem`] for many), calls
/// [`Staged::finish`] (the no-replace rename), and makes the names durable
/// ([`crate::Finished::sync_folders`] or again one [`crate::sync_filesystem`]).
pub fn stage_beneath(req: &PlaceBeneath<'_>) -> Result<Staged, OrganizeError> {
    let expected = parse_asset_id(req.asset_id)?;
    let (folder, file_name) = split_relative(req.relative)?;
    let (source, mut src, src_meta) = open_source(req.source_root, req.source)?;
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
            existing = %dest_dir.join(&existing).display(),
            asset_id = req.asset_id,
            "identical content already organized"
        );
        // The caller may remove the source next (a finished move, a duplicate set aside):
        // make sure it really is this content, not a new file that happens to share the
        // identity (a reused inode with the same size and mtime) or was rewritten since.
        verify_source(req, &mut src, &expected)?;
        sync_existing(&dest_dir, &existing)?;
        return Ok(Staged::done(
            already_present(dest_dir.join(&existing), req, identity),
            Vec::new(),
        ));
    }
    let planned = dest_dir.join(file_name);
    let mut target = Target {
        dir: &dest_dir,
        name: file_name,
        planned: &planned,
        expected: &expected,
        size: req.expected_size,
        known_different,
    };
    if req.mode == Mode::Move && same_device(&src_meta, &dest_dir)? {
        match move_by_rename(req, &source, &mut src, &identity, &mut target) {
            Err(OrganizeError::Rename { source: e, .. })
                if e.raw_os_error() == Some(libc::EXDEV) =>
            {
                // Same st_dev but another mount (bind mounts): copy instead.
                tracing::debug!(source = %req.source.display(), "rename crosses mounts; copying");
                src.seek(io::SeekFrom::Start(0))
                    .map_err(|e| read_source_err(req.source, e))?;
            }
            other => return other,
        }
    }
    copy_into_place(req, &mut src, &src_meta, identity, target)
}

fn already_present(destination: PathBuf, req: &PlaceBeneath<'_>, id: FileIdentity) -> Placement {
    Placement {
        destination,
        outcome: Outcome::AlreadyPresent,
        bytes: req.expected_size,
        source_identity: id,
    }
}

/// Where a file is going, and what is already known about names there.
pub(crate) struct Target<'a> {
    pub dir: &'a Dir,
    pub name: &'a OsStr,
    pub planned: &'a Path,
    pub expected: &'a blake3::Hash,
    pub size: u64,
    /// Names already seen holding different content: not rehashed on EEXIST.
    pub known_different: HashSet<OsString>,
}

/// Where a no-replace rename into the collision chain ended.
pub(crate) enum Landed {
    At { name: OsString, n: u32 },
    Identical(OsString),
}

impl Target<'_> {
    /// Renames entry `from` of `from_dir` to the first free name of the collision chain,
    /// without replacing.
    pub(crate) fn rename_into_chain(
        &mut self,
        from_dir: &Dir,
        from: &OsStr,
    ) -> Result<Landed, OrganizeError> {
        for n in 1..=MAX_COLLISION_ATTEMPTS {
            let name = collision_name(self.name, n);
            let result = from_dir
                .rename_noreplace(from, self.dir, &name)
                .map_err(|source| OrganizeError::Rename {
                    from: from_dir.join(from),
                    to: self.dir.join(&name),
                    source,
                })?;
            match result {
                NoReplace::Renamed => return Ok(Landed::At { name, n }),
                NoReplace::Exists => {
                    // Taken since the scan (a concurrent writer) or known to differ.
                    if !self.known_different.contains(&name)
                        && holds_content(self.dir, &name, self.expected, self.size)?
                    {
                        return Ok(Landed::Identical(name));
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
    req: &PlaceBeneath<'_>,
    source: &Source<'_>,
    src: &mut File,
    identity: &FileIdentity,
    target: &mut Target<'_>,
) -> Result<Staged, OrganizeError> {
    verify_source(req, src, target.expected)?;
    // Last look before the source's name goes away: the name must still be the inode just
    // verified, unmodified.
    let now = source
        .dir
        .stat(source.name)
        .map_err(|e| read_source_err(req.source, e))?;
    let during = src.metadata().map_err(|e| read_source_err(req.source, e))?;
    if !FileIdentity::from_metadata(&now).same_content_stamp(identity)
        || !FileIdentity::from_metadata(&during).same_content_stamp(identity)
    {
        return Err(source_changed(
            req.source,
            "modified or replaced during placement".into(),
        ));
    }
    match target.rename_into_chain(&source.dir, source.name)? {
        Landed::Identical(existing) => {
            sync_existing(target.dir, &existing)?;
            Ok(Staged::done(
                already_present(target.dir.join(&existing), req, *identity),
                Vec::new(),
            ))
        }
        Landed::At { name, n } => {
            check_moved_in(req, source, target.dir, &name, identity)?;
            let folders = vec![clone_dir(target.dir)?, clone_dir(&source.dir)?];
            let path = target.dir.join(&name);
            tracing::debug!(
                source = %req.source.display(),
                destination = %path.display(),
                collision = n > 1,
                "moved by rename"
            );
            let placement = Placement {
                destination: path,
                outcome: Outcome::Placed {
                    renamed_for_collision: n > 1,
                    via: Via::Rename,
                },
                bytes: req.expected_size,
                source_identity: *identity,
            };
            Ok(Staged::done(placement, folders))
        }
    }
}

/// After a rename: the entry that arrived must be the verified file. Between the last look
/// and the rename, an inbox writer may have put something else (a symlink, another file) at
/// the source name; that is renamed back, and the placement reported as changed.
fn check_moved_in(
    req: &PlaceBeneath<'_>,
    source: &Source<'_>,
    dir: &Dir,
    name: &OsStr,
    identity: &FileIdentity,
) -> Result<(), OrganizeError> {
    let arrived = dir.stat(name).map_err(|e| read_source_err(req.source, e))?;
    if arrived.is_file() && FileIdentity::from_metadata(&arrived).same_content_stamp(identity) {
        return Ok(());
    }
    if let Err(e) = dir.rename_noreplace(name, &source.dir, source.name) {
        tracing::warn!(path = %dir.join(name).display(), error = %e, "an entry swapped in during a move could not be put back");
    }
    Err(source_changed(
        req.source,
        "replaced by another entry during the move".into(),
    ))
}

fn copy_into_place(
    req: &PlaceBeneath<'_>,
    src: &mut File,
    src_meta: &Metadata,
    identity: FileIdentity,
    target: Target<'_>,
) -> Result<Staged, OrganizeError> {
    let mut temp =
        TempFile::create(target.dir).map_err(|source| OrganizeError::WriteDestination {
            path: target.dir.path().to_owned(),
            source,
        })?;
    let temp_path = temp.path();
    let write_err = |source| OrganizeError::WriteDestination {
        path: temp_path.clone(),
        source,
    };
    let trusted = req.hashed_as.map(|id| (id, *target.expected));
    let (copied, hash) = copy_verified(req.source, src, &mut temp, trusted)?;
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
    finish_temp(temp.file().map_err(write_err)?, src_meta).map_err(write_err)?;
    Ok(Staged::copy(StagedCopy {
        temp,
        dir: clone_dir(target.dir)?,
        name: target.name.to_owned(),
        planned: target.planned.to_owned(),
        expected: *target.expected,
        known_different: target.known_different,
        source: req.source.to_owned(),
        identity,
        bytes: copied,
    }))
}

/// Renames a staged copy into the collision chain (its data must be durable by now).
pub(crate) fn finish_copy(c: StagedCopy) -> Result<Finished, OrganizeError> {
    let StagedCopy {
        mut temp,
        dir,
        name,
        planned,
        expected,
        known_different,
        source,
        identity,
        bytes,
    } = c;
    temp.close();
    let mut target = Target {
        dir: &dir,
        name: &name,
        planned: &planned,
        expected: &expected,
        size: bytes,
        known_different,
    };
    match target.rename_into_chain(&dir, temp.name())? {
        Landed::Identical(existing) => {
            drop(temp);
            sync_existing(&dir, &existing)?;
            let placement = Placement {
                destination: dir.join(&existing),
                outcome: Outcome::AlreadyPresent,
                bytes,
                source_identity: identity,
            };
            Ok(Finished::new(placement, Vec::new()))
        }
        Landed::At { name, n } => {
            temp.keep();
            let path = dir.join(&name);
            tracing::debug!(
                source = %source.display(),
                destination = %path.display(),
                bytes,
                collision = n > 1,
                "copied and verified"
            );
            let placement = Placement {
                destination: path,
                outcome: Outcome::Placed {
                    renamed_for_collision: n > 1,
                    via: Via::Copy,
                },
                bytes,
                source_identity: identity,
            };
            Ok(Finished::new(placement, vec![dir]))
        }
    }
}

fn clone_dir(dir: &Dir) -> Result<Dir, OrganizeError> {
    dir.try_clone().map_err(|source| OrganizeError::ReadFolder {
        path: dir.path().to_owned(),
        source,
    })
}

/// Permissions and times are comfort, not safety: set them before the data is made durable
/// so they are durable with it. Set-id bits are not carried into the organized tree, and the owner
/// keeps read access so the daemon can hash the file later (dedup, recovery).
fn finish_temp(out: &mut File, src_meta: &Metadata) -> io::Result<()> {
    let times = FileTimes::new();
    let times = match src_meta.accessed() {
        Ok(t) => times.set_accessed(t),
        Err(_) => times,
    };
    let times = match src_meta.modified() {
        Ok(t) => times.set_modified(t),
        Err(_) => times,
    };
    out.set_permissions(Permissions::from_mode((src_meta.mode() & 0o777) | 0o400))?;
    out.set_times(times)
}

/// Streams `src` into `out`, hashing what was read.
pub(crate) fn copy_hashing(
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
            Err(e) => return Err(read_source_err(src_path, e)),
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

/// Reads the source once more and checks it still hashes to the asset id: a file rewritten in
/// place after the caller hashed it (or a new file that inherited an old file's identity)
/// would otherwise be filed under a wrong asset id, or removed as a duplicate of content it
/// does not hold. Usually served from the page cache, right after the caller's hash.
fn verify_source(
    req: &PlaceBeneath<'_>,
    src: &mut File,
    expected: &blake3::Hash,
) -> Result<(), OrganizeError> {
    let now = src.metadata().map_err(|e| read_source_err(req.source, e))?;
    if req.hashed_as == Some(FileIdentity::from_metadata(&now)) {
        // Same inode, size, mtime and ctime as when it was hashed, and that ctime was
        // already past then: nothing has written to it since.
        return Ok(());
    }
    src.rewind().map_err(|e| read_source_err(req.source, e))?;
    let (read, hash) = hash_file(src).map_err(|e| read_source_err(req.source, e))?;
    if read != req.expected_size || hash != *expected {
        return Err(source_changed(
            req.source,
            format!("content hashes to {}, not {}", hash.to_hex(), req.asset_id),
        ));
    }
    Ok(())
}

fn same_device(src: &Metadata, dest_dir: &Dir) -> Result<bool, OrganizeError> {
    let dest = dest_dir
        .metadata()
        .map_err(|source| OrganizeError::ReadFolder {
            path: dest_dir.path().to_owned(),
            source,
        })?;
    Ok(src.dev() == dest.dev())
}

fn read_source_err(path: &Path, source: io::Error) -> OrganizeError {
    OrganizeError::ReadSource {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn source_changed(path: &Path, detail: String) -> OrganizeError {
    OrganizeError::SourceChanged {
        path: path.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recover::cleanup_temporaries;
    use std::fs;

    #[test]
    fn cleanup_skips_temporaries_of_the_running_process() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let temp = TempFile::create(root.dir()).unwrap();
        let path = temp.path();
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
        let root = Root::open(dir.path()).unwrap();
        let mut target = Target {
            dir: root.dir(),
            name: OsStr::new("x.png"),
            planned: &planned,
            expected: &expected,
            size: content.len() as u64,
            known_different: HashSet::new(),
        };
        match target
            .rename_into_chain(root.dir(), OsStr::new("incoming"))
            .unwrap()
        {
            Landed::Identical(name) => assert_eq!(name, "x (2).png"),
            Landed::At { name, .. } => panic!("placed a second copy at {name:?}"),
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
        let root = Root::open(dir.path()).unwrap();
        let mut target = Target {
            dir: root.dir(),
            name: OsStr::new("x"),
            planned: &planned,
            expected: &expected,
            size: 3,
            known_different: HashSet::new(),
        };
        let err = match target.rename_into_chain(root.dir(), OsStr::new("incoming")) {
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
