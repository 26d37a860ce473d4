//! Who a file is without reading it: the one file-identity type of the workspace (watcher,
//! catalog identity cache, organizer). Pure data read from `stat` results; no I/O here.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// Equal identities mean the content is (with overwhelming likelihood) unchanged, so a known
/// asset id can be reused without hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    /// Device number (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (negative before 1970).
    pub mtime_ns: i64,
    /// Inode change time in nanoseconds since the Unix epoch: cannot be set from user space,
    /// so a new file that reuses a freed inode with the same size and mtime still differs.
    pub ctime_ns: i64,
}

impl FileIdentity {
    /// The identity from metadata (obtained without following symlinks, for a path). Times
    /// beyond the `i64` nanosecond range (year 2262) saturate.
    pub fn from_metadata(meta: &Metadata) -> FileIdentity {
        FileIdentity::from_stat(
            (meta.dev(), meta.ino(), meta.size()),
            (meta.mtime(), meta.mtime_nsec()),
            (meta.ctime(), meta.ctime_nsec()),
        )
    }

    /// The identity from raw `stat` fields: `(dev, ino, size)` and the modification and
    /// inode change times as (seconds, nanoseconds) since the Unix epoch, for callers that
    /// stat with `fstatat` rather than through [`std::fs::Metadata`].
    pub fn from_stat(
        (dev, ino, size): (u64, u64, u64),
        (mtime_s, mtime_ns): (i64, i64),
        (ctime_s, ctime_ns): (i64, i64),
    ) -> FileIdentity {
        FileIdentity {
            dev,
            ino,
            size,
            mtime_ns: nanos(mtime_s, mtime_ns),
            ctime_ns: nanos(ctime_s, ctime_ns),
        }
    }

    /// Same inode, size and modification time, whatever the ctime. What a placement checks
    /// before removing its source: placing a file changes the source's ctime (a hard link
    /// made or dropped, a rename), so ctime cannot tell "unchanged" there.
    pub fn same_content_stamp(&self, other: &FileIdentity) -> bool {
        (self.dev, self.ino, self.size, self.mtime_ns)
            == (other.dev, other.ino, other.size, other.mtime_ns)
    }
}

fn nanos(secs: i64, nsecs: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_stamp_ignores_ctime_only() {
        let a = FileIdentity {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        assert!(a.same_content_stamp(&FileIdentity { ctime_ns: 9, ..a }));
        assert_ne!(a, FileIdentity { ctime_ns: 9, ..a });
        assert!(!a.same_content_stamp(&FileIdentity { mtime_ns: 9, ..a }));
        assert!(!a.same_content_stamp(&FileIdentity { ino: 9, ..a }));
        assert!(!a.same_content_stamp(&FileIdentity { size: 9, ..a }));
    }

    #[test]
    fn times_are_nanoseconds_and_saturate() {
        assert_eq!(nanos(-1, 500), -999_999_500);
        assert_eq!(nanos(i64::MAX / 2, 0), i64::MAX);
    }

    #[test]
    fn reads_a_real_file() {
        let meta = std::fs::symlink_metadata(env!("CARGO_MANIFEST_DIR")).unwrap();
        let id = FileIdentity::from_metadata(&meta);
        assert_eq!((id.dev, id.ino), (meta.dev(), meta.ino()));
        assert_eq!(id.mtime_ns / 1_000_000_000, meta.mtime());
    }
}
