//! Placements in two halves, so that many can share one durability barrier: a [`Staged`]
//! placement has its bytes written and verified (or, for a move, its rename done) but is not
//! yet durable; [`sync_filesystem`] makes a whole batch durable at once.
//!
//! Also the kernel-assisted copy: a reflink (`FICLONE`, no data blocks written on btrfs or
//! XFS), else `copy_file_range` (no copy through user space), else a read/write loop; the
//! copy is then hashed as written, so what is verified is the temporary itself.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use fsroot::Dir;

use crate::error::OrganizeError;
use crate::place::{FileIdentity, Placement, copy_hashing, finish_copy};
use crate::temp::TempFile;
use crate::tree::{hash_file, sync_folder};

/// A placement waiting for its durability barrier (see [`crate::stage_beneath`]).
pub struct Staged {
    inner: Inner,
}

enum Inner {
    Done(Finished),
    Copy(Box<StagedCopy>),
}

/// A verified copy in a temporary, not yet fsynced or renamed.
pub(crate) struct StagedCopy {
    pub temp: TempFile,
    pub dir: Dir,
    pub name: OsString,
    pub planned: PathBuf,
    pub expected: blake3::Hash,
    pub known_different: HashSet<OsString>,
    pub source: PathBuf,
    pub identity: FileIdentity,
    pub bytes: u64,
}

/// A placement whose name is given; durable once its folders are synced.
pub struct Finished {
    /// What was placed where.
    pub placement: Placement,
    folders: Vec<Dir>,
}

impl Finished {
    pub(crate) fn new(placement: Placement, folders: Vec<Dir>) -> Finished {
        Finished { placement, folders }
    }

    /// Makes the new names durable one folder at a time (for a lone placement; a batch
    /// calls [`sync_filesystem`] once instead).
    pub fn sync_folders(&self) -> Result<(), OrganizeError> {
        self.folders.iter().try_for_each(sync_folder)
    }
}

impl Staged {
    pub(crate) fn done(placement: Placement, folders: Vec<Dir>) -> Staged {
        Staged {
            inner: Inner::Done(Finished::new(placement, folders)),
        }
    }

    pub(crate) fn copy(c: StagedCopy) -> Staged {
        Staged {
            inner: Inner::Copy(Box::new(c)),
        }
    }

    /// Whether data was written that must be durable before [`Staged::finish`].
    pub fn needs_data_sync(&self) -> bool {
        matches!(self.inner, Inner::Copy(_))
    }

    /// Makes this placement's data durable on its own (`fdatasync` of the temporary).
    pub fn sync_data(&mut self) -> Result<(), OrganizeError> {
        if let Inner::Copy(c) = &mut self.inner {
            let path = c.temp.path();
            c.temp
                .file()
                .and_then(|f| f.sync_all())
                .map_err(|source| OrganizeError::WriteDestination { path, source })?;
        }
        Ok(())
    }

    /// Gives the placement its final name (no-replace rename into the collision chain).
    /// Call only after the data is durable.
    pub fn finish(self) -> Result<Finished, OrganizeError> {
        match self.inner {
            Inner::Done(f) => Ok(f),
            Inner::Copy(c) => finish_copy(*c),
        }
    }
}

/// `syncfs` on the filesystem holding `dir`: every file written and every name given on it
/// so far is durable when this returns. One barrier for a whole batch of placements.
pub fn sync_filesystem(dir: &Dir) -> Result<(), OrganizeError> {
    // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
    if unsafe { libc::syncfs(dir.fd().as_raw_fd()) } == 0 {
        return Ok(());
    }
    Err(OrganizeError::SyncFolder {
        path: dir.path().to_owned(),
        source: io::Error::last_os_error(),
    })
}

/// Copies `src` (at its start) into `temp` with the kernel's help where it can, and returns
/// the bytes in the temporary and their BLAKE3 as read back from it.
///
/// `trusted`: the identity the source was hashed under (one that tells every later change,
/// `PlaceBeneath::hashed_as`) and that hash. When the kernel copied the file and the source
/// still has that identity afterwards, nothing wrote to it since it was hashed, so the copy
/// holds the hashed content and is not read back: the hash is returned as is.
pub(crate) fn copy_verified(
    src_path: &Path,
    src: &mut File,
    temp: &mut TempFile,
    trusted: Option<(FileIdentity, blake3::Hash)>,
) -> Result<(u64, blake3::Hash), OrganizeError> {
    let temp_path = temp.path();
    let write_err = |source| OrganizeError::WriteDestination {
        path: temp_path.clone(),
        source,
    };
    let out = temp.file().map_err(write_err)?;
    let copied = if kernel_copy(src, out).map_err(write_err)? {
        match unchanged_since_hashed(src, out, trusted) {
            Some(done) => done,
            None => {
                // What is verified is what the temporary holds (its pages are in the cache).
                let mut back = temp.reopen().map_err(write_err)?;
                hash_file(&mut back).map_err(write_err)?
            }
        }
    } else {
        copy_hashing(src_path, src, out, &temp_path)?
    };
    if copied.0 >= EARLY_WRITEBACK {
        start_writeback(temp.file().map_err(write_err)?);
    }
    Ok(copied)
}

/// The copy's size and the trusted hash, when `src` still has the trusted identity after the
/// kernel copied it into `out`.
fn unchanged_since_hashed(
    src: &File,
    out: &File,
    trusted: Option<(FileIdentity, blake3::Hash)>,
) -> Option<(u64, blake3::Hash)> {
    let (identity, hash) = trusted?;
    let now = FileIdentity::from_metadata(&src.metadata().ok()?);
    let copied = out.metadata().ok()?.len();
    (now == identity && copied == identity.size).then_some((copied, hash))
}

/// Copies at least this large start their writeback as soon as they are written; smaller ones
/// are left to the batch's barrier, which writes them all in one pass (a writeback started
/// per file cost a tiny file a tenth of its CPU time, with no copy time to overlap).
const EARLY_WRITEBACK: u64 = 1 << 20;

/// Starts writing the temporary's data to disk now, without waiting: by the time the batch's
/// barrier comes, most of it is written, and the disk works while the next files are copied.
/// Only a hint (the barrier is what makes the data durable), so a failure is ignored.
fn start_writeback(out: &File) {
    // SAFETY: sync_file_range only reads the descriptor, which stays open for the call.
    unsafe {
        libc::sync_file_range(out.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Reflink, else `copy_file_range` to the end; `false` when neither applies here (nothing
/// was written then, so the caller copies by hand).
fn kernel_copy(src: &File, out: &File) -> io::Result<bool> {
    // SAFETY: FICLONE takes the source descriptor as its argument; both stay open.
    if unsafe { libc::ioctl(out.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } == 0 {
        return Ok(true);
    }
    let mut first = true;
    loop {
        // SAFETY: null offsets use and advance both files' positions.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                out.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
                0,
            )
        };
        match n {
            0 => return Ok(true),
            n if n > 0 => first = false,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) if first => {
                        return Ok(false);
                    }
                    _ => return Err(e),
                }
            }
        }
    }
}
