//! The few system calls std does not offer: rename without replacing, and folder fsync.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a no-replace rename did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReplace {
    /// `from` now has the name `to`.
    Renamed,
    /// `to` already exists; nothing changed.
    Exists,
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Renames `from` to `to` unless `to` exists. Never replaces `to`, whatever the filesystem.
///
/// Uses `renameat2(RENAME_NOREPLACE)`; filesystems or kernels without it (EINVAL, ENOSYS) get
/// [`link_then_unlink`], which also never replaces.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<NoReplace> {
    let (f, t) = (cstring(from)?, cstring(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(NoReplace::Renamed);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) => Ok(NoReplace::Exists),
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            tracing::debug!(
                from = %from.display(),
                to = %to.display(),
                "filesystem lacks RENAME_NOREPLACE; using link and unlink"
            );
            link_then_unlink(from, to)
        }
        _ => Err(err),
    }
}

/// `link(from, to)` then `unlink(from)`: `link` fails with EEXIST rather than replace, and
/// `from` disappears only once `to` exists. A crash in between leaves both names for the same
/// file, which is safe (and the caller's recovery handles it).
pub(crate) fn link_then_unlink(from: &Path, to: &Path) -> io::Result<NoReplace> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(NoReplace::Exists),
        Err(e) => return Err(e),
    }
    if let Err(e) = std::fs::remove_file(from) {
        // The file is safely at `to`; the extra name is only clutter.
        tracing::warn!(
            from = %from.display(),
            to = %to.display(),
            error = %e,
            "placed by hard link but cannot remove the old name"
        );
    }
    Ok(NoReplace::Renamed)
}

/// Makes a folder's entries (creations, renames, removals) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        assert_eq!(rename_noreplace(&a, &b).unwrap(), NoReplace::Exists);
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        let c = dir.path().join("c");
        assert_eq!(rename_noreplace(&a, &c).unwrap(), NoReplace::Renamed);
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"new");
    }

    #[test]
    fn link_fallback_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        assert_eq!(link_then_unlink(&a, &b).unwrap(), NoReplace::Exists);
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        let c = dir.path().join("c");
        assert_eq!(link_then_unlink(&a, &c).unwrap(), NoReplace::Renamed);
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"new");
    }

    #[test]
    fn rename_reports_other_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = rename_noreplace(&dir.path().join("missing"), &dir.path().join("x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
