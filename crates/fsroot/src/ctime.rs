//! Whether a file's ctime tells every change to it.

use std::os::fd::AsFd;

/// Filesystems on which this kernel itself sets ctime, with nanosecond resolution, for every
/// change: ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ZFS, bcachefs, overlayfs. On a network or FUSE
/// filesystem another machine or process may change a file while the attributes seen here
/// are cached, and FAT-family filesystems keep times in 2-second steps: an unchanged ctime
/// proves nothing there.
pub const CTIME_KEPT_HERE: &[u32] = &[
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0xCA45_1A4E,
    0x794C_7630,
];

/// True when `fd` (a file or folder) lies on one of [`CTIME_KEPT_HERE`]; false when that
/// cannot be told.
pub fn ctime_kept_here(fd: impl AsFd) -> bool {
    match rustix::fs::fstatfs(fd) {
        // `f_type` is signed on some targets: compare its low 32 bits.
        Ok(st) => CTIME_KEPT_HERE.contains(&((st.f_type as u64 & 0xFFFF_FFFF) as u32)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test's own temporary folder is on a local filesystem (the end-to-end tests of
    /// moves rely on it too), whose ctime can be trusted; network, FUSE and FAT filesystems
    /// are not in the list.
    #[test]
    fn only_local_filesystems_keep_ctime_trustworthy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"x").unwrap();
        assert!(ctime_kept_here(std::fs::File::open(&path).unwrap()));
        assert!(ctime_kept_here(std::fs::File::open(dir.path()).unwrap()));
        // NFS, SMB2, CIFS, FUSE, 9p, FAT (msdos/vfat), exFAT.
        for other in [
            0x6969u32,
            0xFE53_4D42,
            0xFF53_4D42,
            0x6573_5546,
            0x0102_1997,
            0x4d44,
            0x2011_BAB0,
        ] {
            assert!(!CTIME_KEPT_HERE.contains(&other), "{other:#x}");
        }
    }
}
