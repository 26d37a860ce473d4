//! Resolving a relative path beneath a directory descriptor without following any symlink.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` does it in one call
//! (Linux 5.6+). Where the kernel lacks it (`ENOSYS`, or a seccomp filter that answers
//! `EPERM` for unknown calls), the path is walked one component at a time with
//! `openat(O_NOFOLLOW)`, each component opened relative to the descriptor of the one before:
//! the same guarantee, one system call per component.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How many times an `openat2` that reports a concurrent rename (`EAGAIN`) is retried before
/// the component walk answers instead.
const AGAIN_RETRIES: usize = 8;

/// Cleared once the kernel said it has no `openat2`; every later call walks.
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// Which resolution to use; tests pin one to cover both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `openat2` when the kernel has it, the walk otherwise.
    Auto,
    /// Always the component walk.
    #[cfg_attr(not(test), allow(dead_code))]
    Walk,
}

/// Checks that `rel` is relative and made of plain names only (no `/` root, `.`, `..`).
pub(crate) fn check_relative(rel: &Path) -> io::Result<()> {
    for c in rel.components() {
        if !matches!(c, Component::Normal(_)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a plain relative path (no root, `.` or `..` allowed)",
                    rel.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `name` is one plain path component.
pub(crate) fn check_name(name: &OsStr) -> io::Result<()> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(n)), None) if n == name => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a single file name", Path::new(name).display()),
        )),
    }
}

/// Opens `rel` beneath `dir` with `flags` (plus `O_CLOEXEC | O_NOFOLLOW`). No symlink is
/// followed anywhere on the way (`ELOOP`); with `O_PATH` a final symlink is opened itself,
/// as `lstat` would see it. An empty `rel` reopens `dir`.
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
    strategy: Strategy,
) -> io::Result<OwnedFd> {
    check_relative(rel)?;
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if rel.as_os_str().is_empty() {
        return Ok(rustix::fs::openat(dir, ".", flags, mode)?);
    }
    if strategy == Strategy::Auto && OPENAT2.load(Ordering::Relaxed) {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..AGAIN_RETRIES {
            match rustix::fs::openat2(dir, rel, flags, mode, how) {
                Err(Errno::AGAIN) => continue,
                Err(Errno::NOSYS) => {
                    OPENAT2.store(false, Ordering::Relaxed);
                    break;
                }
                // Seccomp filters answer EPERM for calls they do not know; a real EPERM
                // comes back again from the walk.
                Err(Errno::PERM) => break,
                other => return Ok(other?),
            }
        }
    }
    walk(dir, rel, flags, mode)
}

/// The component walk: every folder on the way is opened with `O_PATH | O_DIRECTORY |
/// O_NOFOLLOW` relative to the previous one; a symlink among them gives `ELOOP`.
fn walk(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let names: Vec<&OsStr> = rel.iter().collect();
    let Some((last, folders)) = names.split_last() else {
        return Ok(rustix::fs::openat(dir, ".", flags, mode)?);
    };
    let mut held: Option<OwnedFd> = None;
    for name in folders {
        let at = held.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = open_folder_step(at, name)?;
        held = Some(next);
    }
    let at = held.as_ref().map_or(dir, |fd| fd.as_fd());
    Ok(rustix::fs::openat(at, *last, flags, mode)?)
}

/// One folder of the walk. `O_PATH | O_NOFOLLOW` on a symlink opens the link, which
/// `O_DIRECTORY` then refuses with `ENOTDIR`; that case is reported as the `ELOOP` a
/// symlink gets everywhere else.
fn open_folder_step(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(at, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOTDIR) => match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                Err(Errno::LOOP.into())
            }
            _ => Err(Errno::NOTDIR.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// True when `err` is the refusal of a symlink on the way (`ELOOP`).
pub fn is_symlink_refusal(err: &io::Error) -> bool {
    err.raw_os_error() == Some(Errno::LOOP.raw_os_error())
}
