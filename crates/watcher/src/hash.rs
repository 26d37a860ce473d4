//! Streaming BLAKE3 with fixed-size buffers, multi-threaded for large files.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use fsroot::Root;

use crate::model::{Stamp, WatchStats};

/// Files at least this large are hashed with `update_rayon`. Below it the processors are
/// kept busy by hashing several files at once (`hash_concurrency`), and handing each buffer
/// to the rayon pool only added wake-ups: with a 1 MiB threshold, a move-mode import of
/// 2,000 mixed files (about 1 MB each) spent a third of its CPU switching threads and
/// `sched_yield`ing (docs/performance.md, fifth pass).
const PARALLEL_MIN: u64 = 16 << 20;
/// Buffer for large files: big enough for `update_rayon` to split across cores, and few
/// reads for a file of a few MB.
const BIG_BUF: usize = 1 << 20;
/// Buffer for small files.
const SMALL_BUF: usize = 64 << 10;
/// Large buffers kept for reuse: a fresh one is zeroed (1 MiB of `memset` per file).
const KEPT_BUFS: usize = 4;

static BUFS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// A large buffer, reused when one is free; given back by [`give_back`].
fn take_big() -> Vec<u8> {
    let kept = BUFS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    kept.unwrap_or_else(|| vec![0u8; BIG_BUF])
}

fn give_back(buf: Vec<u8>) {
    let mut bufs = BUFS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if bufs.len() < KEPT_BUFS {
        bufs.push(buf);
    }
}

/// Opens without following a final symlink (so a symlink swapped in is never followed) and
/// without blocking (so a FIFO swapped in cannot hang a hashing thread).
fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// BLAKE3 of a regular file and the number of bytes read. Streams through one fixed-size
/// buffer; files of 1 MiB and more are hashed on the rayon pool. A symlink is not followed
/// (the call fails), and anything but a regular file is refused.
pub fn hash_file(path: &Path) -> io::Result<(blake3::Hash, u64)> {
    let file = open_nofollow(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    hash_open(&file, meta.len())
}

fn hash_open(file: &File, size_hint: u64) -> io::Result<(blake3::Hash, u64)> {
    if size_hint <= SMALL_BUF as u64 {
        return hash_with(file, &mut [0u8; SMALL_BUF], false);
    }
    let mut buf = take_big();
    let hashed = hash_with(file, &mut buf, size_hint >= PARALLEL_MIN);
    give_back(buf);
    hashed
}

fn hash_with(mut file: &File, buf: &mut [u8], parallel: bool) -> io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    loop {
        let n = fill(&mut file, buf)?;
        if n == 0 {
            break;
        }
        if parallel {
            hasher.update_rayon(&buf[..n]);
        } else {
            hasher.update(&buf[..n]);
        }
        total += n as u64;
        if n < buf.len() {
            break;
        }
    }
    Ok((hasher.finalize(), total))
}

/// Reads until `buf` is full or EOF, so every `update_rayon` call gets a full buffer.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Result of hashing a file that must still be the version that settled.
#[derive(Debug)]
pub(crate) enum HashOutcome {
    /// The content of exactly the expected version.
    Done {
        hash: blake3::Hash,
        /// The file's ctime was already [`SETTLED`] in the past when the read began: a write
        /// after the hash (any write sets ctime to the clock's coarse "now") gives the file
        /// another stamp, so the stamp alone tells this content from any later one.
        settled: bool,
    },
    /// The file changed before or while it was read; the hash was discarded.
    Changed,
    /// Another process still has the file open for writing: its writer is not done, however
    /// quiet it has been. Not read.
    InUse,
    /// The file (or a regular file at that path) is gone.
    Gone,
    /// The file cannot be read.
    Failed(io::Error),
}

/// Hashes `rel` (beneath inbox `root`, no symlink followed on the way) only if it is still
/// the version `expected`, checked before reading (on the open descriptor) and after
/// (descriptor and path), so a file rewritten in place, replaced by rename, grown or truncated
/// while being read never yields a hash. A file open for writing by another process is
/// [`HashOutcome::InUse`]; with `strict` (a write was seen and no close), so is one whose
/// writers cannot be probed.
pub(crate) fn hash_verified(
    root: &Root,
    rel: &Path,
    expected: Stamp,
    strict: bool,
    stats: &WatchStats,
) -> HashOutcome {
    let file = match root.open_file(rel) {
        Ok(f) => f,
        Err(e) => return classify(e),
    };
    let started = std::time::SystemTime::now();
    let before = match file.metadata() {
        Ok(m) if m.is_file() => Stamp::from_metadata(&m),
        Ok(_) => return HashOutcome::Gone,
        Err(e) => return classify(e),
    };
    if before != expected {
        return HashOutcome::Changed;
    }
    match writers(&file) {
        Writers::Open => return HashOutcome::InUse,
        Writers::Unknown if strict => return HashOutcome::InUse,
        Writers::None | Writers::Unknown => {}
    }
    WatchStats::add(&stats.hashing, 1);
    let hashed = hash_open(&file, expected.id.size);
    WatchStats::sub(&stats.hashing, 1);
    let (hash, bytes) = match hashed {
        Ok(r) => r,
        Err(e) => return classify(e),
    };
    WatchStats::add(&stats.files_hashed, 1);
    WatchStats::add(&stats.bytes_hashed, bytes);
    let after_fd = match file.metadata() {
        Ok(m) => Stamp::from_metadata(&m),
        Err(e) => return classify(e),
    };
    let after_path = match root.stat(rel) {
        Ok(m) if m.is_file() => Stamp::from_metadata(&m),
        Ok(_) => return HashOutcome::Gone,
        Err(e) => return classify(e),
    };
    if after_fd != expected || after_path != expected || bytes != expected.id.size {
        return HashOutcome::Changed;
    }
    HashOutcome::Done {
        hash,
        settled: settled_before(expected, started) && fsroot::ctime_kept_here(&file),
    }
}

/// How far in the past a file's ctime must be, when its hash starts, for its stamp to tell
/// every later change: timestamps advance in clock ticks of a few milliseconds, so a write
/// in the same tick as the last one could otherwise leave ctime unchanged.
pub(crate) const SETTLED: std::time::Duration = std::time::Duration::from_millis(100);

fn settled_before(stamp: Stamp, started: std::time::SystemTime) -> bool {
    let Ok(since_epoch) = started.duration_since(std::time::UNIX_EPOCH) else {
        return false;
    };
    let started_ns = i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX);
    let margin = SETTLED.as_nanos() as i64;
    stamp.id.ctime_ns <= started_ns.saturating_sub(margin)
}

/// `F_SETSIG` from `<fcntl.h>` (Linux, every architecture); the libc crate does not export it.
const F_SETSIG: libc::c_int = 10;

/// Whether another process has a file open for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writers {
    None,
    Open,
    /// Leases are unavailable (another user's file without `CAP_LEASE`, a filesystem
    /// without leases).
    Unknown,
}

/// A read lease (`F_SETLEASE`, `F_RDLCK`) is refused with `EAGAIN` exactly when another
/// process has the file open for writing; it is released at once, so writers are never
/// blocked. This catches a writer that pauses longer than `settle` — a file found by a scan,
/// or changed by `truncate(2)`, has no close-after-write event to wait for. Where leases are
/// unavailable the answer is [`Writers::Unknown`]: for a file found by a scan the settle time
/// and the after-hash check remain the guard; a file seen written keeps waiting for its close.
fn writers(file: &File) -> Writers {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // A lease holder is signalled when someone opens the file for writing while the lease is
    // held; that signal is SIGIO by default, whose default action terminates the process.
    // The lease lives only for two system calls, but a writer can open right then: route the
    // notification to SIGURG, which is ignored by default.
    // SAFETY: fcntl on a descriptor we own; F_SETSIG takes an int argument.
    if unsafe { libc::fcntl(fd, F_SETSIG, libc::SIGURG) } != 0 {
        return Writers::Unknown;
    }
    // SAFETY: fcntl on a descriptor we own; F_SETLEASE takes an int argument.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) };
    if rc == 0 {
        // SAFETY: as above; releasing our own lease.
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) };
        return Writers::None;
    }
    if io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
        Writers::Open
    } else {
        Writers::Unknown
    }
}

fn classify(e: io::Error) -> HashOutcome {
    // ELOOP: the path, or a folder on the way, became a symlink; it is no longer a candidate.
    if crate::scan::is_gone(&e) {
        HashOutcome::Gone
    } else {
        HashOutcome::Failed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stamp(path: &Path) -> Stamp {
        Stamp::from_metadata(&std::fs::symlink_metadata(path).unwrap())
    }

    /// `hash_verified` of a file by its full path, beneath its folder.
    fn verified(path: &Path, expected: Stamp, stats: &WatchStats) -> HashOutcome {
        let root = Root::open(path.parent().unwrap()).unwrap();
        hash_verified(
            &root,
            Path::new(path.file_name().unwrap()),
            expected,
            false,
            stats,
        )
    }

    #[test]
    fn streaming_hash_matches_one_shot_for_small_and_parallel_sizes() {
        let dir = tempfile::tempdir().unwrap();
        // Sizes around the buffer and parallel thresholds, where chunking bugs would show.
        for size in [
            0usize,
            1,
            SMALL_BUF - 1,
            SMALL_BUF,
            SMALL_BUF + 1,
            BIG_BUF,
            3 * BIG_BUF + 17,
            PARALLEL_MIN as usize + 5,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &data).unwrap();
            let (hash, bytes) = hash_file(&path).unwrap();
            assert_eq!(hash, blake3::hash(&data), "size {size}");
            assert_eq!(bytes, size as u64);
        }
    }

    #[test]
    fn hash_file_refuses_symlinks_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(hash_file(&link).is_err());
        assert!(hash_file(dir.path()).is_err());
    }

    /// A file changed just before its hash is not `settled` (a write in the same clock tick
    /// could leave its ctime as it is); one left alone for longer than [`SETTLED`] is.
    #[test]
    fn only_a_file_whose_ctime_is_well_past_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"content").unwrap();
        let stats = WatchStats::default();
        let settled = |p: &Path| match verified(p, stamp(p), &stats) {
            HashOutcome::Done { settled, .. } => settled,
            other => panic!("expected Done, got {other:?}"),
        };
        assert!(!settled(&path), "written just now");
        std::thread::sleep(SETTLED + std::time::Duration::from_millis(50));
        assert!(settled(&path), "left alone since");
    }

    #[test]
    fn verified_hash_is_discarded_when_the_file_changed_after_settling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"first version").unwrap();
        let settled = stamp(&path);
        // Same length, in place: only mtime/ctime tell the versions apart.
        let mut f = OpenOptions::new().write(true).open(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        f.write_all(b"other version").unwrap();
        drop(f);
        let stats = WatchStats::default();
        assert!(matches!(
            verified(&path, settled, &stats),
            HashOutcome::Changed
        ));
        match verified(&path, stamp(&path), &stats) {
            HashOutcome::Done { hash, .. } => assert_eq!(hash, blake3::hash(b"other version")),
            other => panic!("expected Done, got {other:?}"),
        }
    }

    #[test]
    fn a_file_open_for_writing_is_in_use_and_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let mut writer = std::fs::File::create(&path).unwrap();
        writer.write_all(b"first half").unwrap();
        let stats = WatchStats::default();
        assert!(matches!(
            verified(&path, stamp(&path), &stats),
            HashOutcome::InUse
        ));
        assert_eq!(
            stats
                .files_hashed
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        drop(writer);
        assert!(matches!(
            verified(&path, stamp(&path), &stats),
            HashOutcome::Done { .. }
        ));
        // A reader does not count as a writer.
        let _reader = std::fs::File::open(&path).unwrap();
        assert!(matches!(
            verified(&path, stamp(&path), &stats),
            HashOutcome::Done { .. }
        ));
    }

    /// Regression: the lease taken by the probe made this process the target of SIGIO when
    /// a writer opened the file at that moment; SIGIO's default action ends the process.
    #[test]
    fn a_writer_opening_during_the_probe_never_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.bin");
        std::fs::write(&path, b"content").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    drop(std::fs::OpenOptions::new().write(true).open(&path));
                }
            })
        };
        let stats = WatchStats::default();
        for _ in 0..20_000 {
            let _ = verified(&path, stamp(&path), &stats);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
    }

    #[test]
    fn verified_hash_of_a_missing_file_is_gone_not_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"x").unwrap();
        let settled = stamp(&path);
        std::fs::remove_file(&path).unwrap();
        let stats = WatchStats::default();
        assert!(matches!(
            verified(&path, settled, &stats),
            HashOutcome::Gone
        ));
    }
}
