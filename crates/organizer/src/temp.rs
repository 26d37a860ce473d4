//! Temporary files: the one kind of file this crate creates under a name the user never sees.
//!
//! A temporary is created next to its final name (same folder, so the final rename is atomic)
//! and named `.alice-tmp-<instance>-<counter>`, where `<instance>` is 16 hex digits unique to
//! this process. The strict shape lets [`crate::cleanup_temporaries`] remove leftovers of a
//! crashed run without ever touching anything else, and the instance part lets it skip the
//! temporaries this very process is still writing.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use fsroot::Dir;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every temporary file this crate creates starts with this prefix.
pub const TEMP_PREFIX: &str = ".alice-tmp-";

const INSTANCE_HEX_LEN: usize = 16;

/// Whether `name` is shaped like one of this crate's temporary files
/// (`.alice-tmp-<16 hex digits>-<decimal counter>`).
///
/// The watcher can use this to ignore temporaries should an inbox live inside the organized
/// tree. [`crate::sanitize_name`] guarantees no organized file is ever named like this.
pub fn is_temporary_name(name: &OsStr) -> bool {
    parse_temp_name(name).is_some()
}

/// The instance part of a temporary name, if `name` is one.
pub(crate) fn parse_temp_name(name: &OsStr) -> Option<u64> {
    let rest = name.as_bytes().strip_prefix(TEMP_PREFIX.as_bytes())?;
    if rest.len() < INSTANCE_HEX_LEN + 2 || rest[INSTANCE_HEX_LEN] != b'-' {
        return None;
    }
    let (hex, counter) = (&rest[..INSTANCE_HEX_LEN], &rest[INSTANCE_HEX_LEN + 1..]);
    if !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        || counter.is_empty()
        || counter.len() > 20
        || !counter.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// A value unique to this process, so temporaries of concurrent or earlier runs are told
/// apart from ours even when a container reuses the same PID on every start.
pub(crate) fn instance() -> u64 {
    static INSTANCE: OnceLock<u64> = OnceLock::new();
    *INSTANCE.get_or_init(|| {
        let mut h = blake3::Hasher::new();
        h.update(&std::process::id().to_le_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        h.update(&now.to_le_bytes());
        let marker = 0u8;
        h.update(&(&marker as *const u8 as usize).to_le_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&h.finalize().as_bytes()[..8]);
        u64::from_le_bytes(bytes)
    })
}

fn next_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{:016x}-{n}", instance())
}

/// A temporary file that is removed when dropped, unless [`TempFile::keep`] was called
/// (after it was renamed to its final name). It lives in a folder handle, so removing it
/// never resolves a path again.
pub(crate) struct TempFile {
    dir: Dir,
    name: OsString,
    file: Option<File>,
    armed: bool,
}

impl TempFile {
    /// Creates a fresh temporary in `dir` with `O_EXCL`, so it can never open an existing
    /// file (a symlink planted at the name included).
    pub(crate) fn create(dir: &Dir) -> io::Result<TempFile> {
        let dir = dir.try_clone()?;
        loop {
            let name = OsString::from(next_name());
            match dir.create_new(&name, 0o600) {
                Ok(file) => {
                    return Ok(TempFile {
                        dir,
                        name,
                        file: Some(file),
                        armed: true,
                    });
                }
                // Only possible if a leftover of an earlier process shares our instance value.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The temporary's name in its folder.
    pub(crate) fn name(&self) -> &OsStr {
        &self.name
    }

    /// Its path, for messages.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub(crate) fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("temporary file already closed"))
    }

    /// A second, read-only descriptor on the temporary (to hash what was written).
    pub(crate) fn reopen(&self) -> io::Result<File> {
        self.dir.open_file(&self.name)
    }

    /// Closes the descriptor; the file stays until dropped or kept.
    pub(crate) fn close(&mut self) {
        self.file = None;
    }

    /// The temporary now has its final name: dropping must not remove anything.
    pub(crate) fn keep(mut self) {
        self.armed = false;
        self.file = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if self.armed
            && let Err(e) = self.dir.remove_file(&self.name)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(
                path = %self.path().display(),
                error = %e,
                "cannot remove temporary file; cleanup_temporaries will remove it at next start"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip_and_are_strict() {
        let name = next_name();
        assert_eq!(parse_temp_name(OsStr::new(&name)), Some(instance()));
        for bad in [
            ".alice-tmp-",
            ".alice-tmp-0123456789abcdef",
            ".alice-tmp-0123456789abcdef-",
            ".alice-tmp-0123456789ABCDEF-1",
            ".alice-tmp-0123456789abcdef-1.png",
            ".alice-tmp-0123456789abcde-12",
            "alice-tmp-0123456789abcdef-1",
            "photo.png",
        ] {
            assert!(!is_temporary_name(OsStr::new(bad)), "{bad}");
        }
        assert!(is_temporary_name(OsStr::new(
            ".alice-tmp-0123456789abcdef-7"
        )));
    }
}
