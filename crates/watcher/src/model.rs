//! The values this crate hands to its consumer.

use std::fs::Metadata;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who a file is, without reading it (the workspace's one identity type): equal identities
/// mean the content is (with overwhelming likelihood) unchanged, so a known asset id can be
/// reused without hashing.
pub use events::FileIdentity;

/// Identity plus ctime: what must not change between "settled" and "hashed". ctime is
/// included because it cannot be set from user space, so a rewrite that restores the old
/// mtime (e.g. `touch -r`) is still noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub id: FileIdentity,
    pub ctime_ns: i128,
}

impl Stamp {
    pub(crate) fn from_metadata(meta: &Metadata) -> Self {
        let id = FileIdentity::from_metadata(meta);
        Self {
            id,
            ctime_ns: i128::from(id.ctime_ns),
        }
    }

    /// The same stamp from a folder entry's `fstatat` ([`fsroot::Dir::stat_entry`]).
    pub(crate) fn from_entry(st: &fsroot::EntryStat) -> Self {
        let id = FileIdentity::from_stat((st.dev, st.ino, st.size), st.mtime, st.ctime);
        Self {
            id,
            ctime_ns: i128::from(id.ctime_ns),
        }
    }

    /// True when the inode has not changed for at least `settle` (a ctime in the future, from
    /// clock skew, counts as not quiet; the settle timer then decides).
    pub(crate) fn quiet_for(&self, settle: Duration) -> bool {
        let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(_) => return false,
        };
        now - self.ctime_ns >= settle.as_nanos() as i128
    }
}

/// Looks up the asset id of a file already known by identity; the catalog implements it.
/// Called from async context, so it must be quick (an indexed lookup, no network).
pub trait IdentityCache: Send + Sync {
    /// The BLAKE3 hex asset id recorded for exactly this identity, if any.
    fn lookup(&self, id: &FileIdentity) -> Option<String>;

    /// A watcher is about to reconcile its inboxes from scratch (start-up, or a restart
    /// after a reload): a cache that lets go of its memory between scans loads it again
    /// here. May block (the watcher calls it off the async threads).
    fn reconciling(&self) {}

    /// The first reconciliation of every inbox is over. Afterwards the watcher's own record
    /// of what it reported covers unchanged files, so look-ups only come for files that are
    /// new or changed, which an identity cache rarely knows: a cache may let go of its
    /// memory until the next [`IdentityCache::reconciling`].
    fn reconciled(&self) {}
}

/// How a file came to be noticed; the pipeline maps it onto its event vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscoveryKind {
    /// Found by a reconciliation scan (start-up, queue overflow) or by polling.
    Scan,
    /// Reported by inotify (including folders that appeared and were caught up).
    Watch,
    /// Found by an explicitly requested [`Watcher::scan_once`](crate::Watcher::scan_once).
    Manual,
}

/// A complete file in an inbox, identified by content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// Full path, byte-exact (never converted through UTF-8).
    pub path: PathBuf,
    /// The inbox (as configured, made absolute) the file lies in.
    pub inbox: PathBuf,
    /// First folder level below the inbox (`inbox/cyberpunk/x/y.png` gives `cyberpunk`);
    /// `None` for files directly in the inbox. A folder name that is not UTF-8 is converted
    /// lossily here: it is a label, not an identity, and the organizer sanitizes it anyway.
    pub project: Option<String>,
    /// Identity of the version that was hashed (or looked up).
    pub identity: FileIdentity,
    /// Modification time of that version.
    pub mtime: SystemTime,
    /// BLAKE3 of the content, lowercase hex.
    pub asset_id: String,
    /// `false` when the asset id came from the [`IdentityCache`] instead of hashing.
    pub hashed: bool,
    /// Hashed, and `identity` tells every later change of the file: its ctime was already
    /// past when the hash began), so a file with this identity still
    /// holds the content that was hashed. A mover may compare identities instead of
    /// reading the file again.
    pub settled: bool,
    /// How the file was noticed.
    pub kind: DiscoveryKind,
}

impl WatchItem {
    /// The same item, a discovery marked [`Discovered::settled`] when `settled`.
    pub(crate) fn with_settled(mut self, settled: bool) -> WatchItem {
        if let WatchItem::Discovered(d) = &mut self {
            d.settled = settled;
        }
        self
    }
}

/// Why a scan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanReason {
    /// Reconciliation when [`Watcher::run`](crate::Watcher::run) starts.
    Startup,
    /// The kernel or the watcher's own event queue overflowed; events may have been lost.
    Overflow,
    /// [`Watcher::scan_once`](crate::Watcher::scan_once) was called.
    Manual,
    /// The first scan of a watcher that replaces another (settings reloaded, or failed files
    /// tried again).
    Restart,
}

/// What the watcher produces, in the order it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// A finished file was identified.
    Discovered(Discovered),
    /// A file could not be read (e.g. permission denied); the pipeline publishes AssetFailed.
    /// Files that vanish before or while being hashed are not reported.
    Failed {
        /// The file.
        path: PathBuf,
        /// Its inbox.
        inbox: PathBuf,
        /// What went wrong and what to do about it.
        error: String,
    },
    /// A reconciliation scan of `inbox` begins.
    ScanStarted {
        /// The inbox being scanned.
        inbox: PathBuf,
        /// Why.
        reason: ScanReason,
    },
    /// A reconciliation scan of `inbox` has walked the whole tree. For
    /// [`ScanReason::Manual`] every candidate has been emitted by then; during `run`, files
    /// still being written are emitted later, once settled.
    ScanFinished {
        /// The inbox scanned.
        inbox: PathBuf,
        /// Why it was scanned.
        reason: ScanReason,
        /// Candidate files found (not ignored, regular).
        files: u64,
    },
}

/// Counts for one [`Watcher::scan_once`](crate::Watcher::scan_once) over all inboxes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Candidate files found.
    pub files: u64,
    /// Files hashed and emitted.
    pub hashed: u64,
    /// Files emitted with an asset id from the identity cache.
    pub cache_hits: u64,
    /// Files reported as [`WatchItem::Failed`].
    pub failed: u64,
    /// Files that disappeared before they could be emitted.
    pub vanished: u64,
    /// Files left alone because another process still had them open for writing.
    pub busy: u64,
}

impl std::ops::AddAssign for ScanSummary {
    fn add_assign(&mut self, o: Self) {
        self.files += o.files;
        self.hashed += o.hashed;
        self.cache_hits += o.cache_hits;
        self.failed += o.failed;
        self.vanished += o.vanished;
        self.busy += o.busy;
    }
}

/// What a scan will look at, counted by [`Watcher::count`](crate::Watcher::count) as it
/// walks (for a progress display's totals). Read with `load(Ordering::Relaxed)`.
#[derive(Debug, Default)]
pub struct ScanCount {
    /// Regular files found (and entries that could not be read: the scan reports them).
    pub files: AtomicU64,
    /// Their size in bytes: what the scan will hash or find in the identity cache
    /// ([`WatchStats::bytes_hashed`] plus [`WatchStats::bytes_known`] once it is done).
    pub bytes: AtomicU64,
}

/// Live counters, shared with whoever holds [`Watcher::stats`](crate::Watcher::stats).
/// Read them with `load(Ordering::Relaxed)`.
#[derive(Debug, Default)]
pub struct WatchStats {
    /// Files read to the end and hashed (including hashes discarded because the file changed).
    pub files_hashed: AtomicU64,
    /// Bytes read for hashing.
    pub bytes_hashed: AtomicU64,
    /// Files being hashed right now.
    pub hashing: AtomicU64,
    /// Files whose asset id came from the identity cache.
    pub cache_hits: AtomicU64,
    /// Their size: bytes identified without being read.
    pub bytes_known: AtomicU64,
    /// Ignored paths seen (per scan entry or per event).
    pub ignored: AtomicU64,
    /// inotify watches currently held (one per watched folder).
    pub watches: AtomicU64,
    /// Inboxes currently polled instead of watched.
    pub polling_inboxes: AtomicU64,
    /// Reconciliation scans caused by event-queue overflow.
    pub rescans: AtomicU64,
    /// Paths remembered by [`Watcher::run`](crate::Watcher::run) as emitted (or failed) in
    /// their current version, so they are not emitted again while unchanged. Entries go when
    /// their file is removed or moved away, so this follows the number of files in the inboxes
    /// (removals an inotify queue overflow made the watcher miss stay until the next start).
    pub reported_paths: AtomicU64,
}

impl WatchStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Ordering::Relaxed);
    }
}
