//! Walking an inbox (or one new folder of it) and turning candidate files into items.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fsroot::{Dir, DirId, EntryKind, Root};
use globset::GlobSet;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::WatchError;
use crate::hash::{HashOutcome, hash_verified};
use crate::model::{
    Discovered, DiscoveryKind, IdentityCache, ScanCount, ScanSummary, Stamp, WatchItem, WatchStats,
};
use crate::paths::{is_ignored, project_of};
use crate::watch::{WatchHandle, is_watch_limit};

/// Folders nested deeper than this below an inbox are not entered. Symlinks are never
/// followed, but bind mounts can still form cycles; this bounds them.
pub(crate) const MAX_DEPTH: usize = 64;

/// Walker → async side queue length: keeps the walker only slightly ahead of hashing.
const WALK_QUEUE: usize = 256;

/// Everything the watcher's tasks share, fixed at construction.
pub(crate) struct Shared {
    pub inboxes: Vec<PathBuf>,
    /// One handle per inbox, in the order of `inboxes`: everything below an inbox is
    /// resolved beneath it.
    pub roots: Vec<Root>,
    /// Folders never treated as inbox input ([`crate::Watcher::exclude`]).
    pub exclude: Vec<PathBuf>,
    /// Why the first scan of [`crate::Watcher::run`] happens ([`crate::Watcher::restarted`]).
    pub start_reason: crate::ScanReason,
    /// Device and inode of every excluded folder seen so far: kept, so a folder renamed away
    /// from its configured path is still recognised.
    pub excluded_seen: Mutex<HashSet<DirId>>,
    pub settle: Duration,
    pub globs: GlobSet,
    pub cache: Arc<dyn IdentityCache>,
    pub stats: Arc<WatchStats>,
    pub hash_slots: Arc<Semaphore>,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub force_polling: bool,
    pub max_watches: Option<usize>,
}

impl Shared {
    /// Metadata of `path` (in inbox `inbox`) itself, like `lstat`, resolved beneath the
    /// inbox's handle: a symlink on the way is refused (`ELOOP`), never followed.
    pub(crate) fn stat(&self, inbox: usize, path: &Path) -> io::Result<Metadata> {
        let root = &self.roots[inbox];
        root.stat(root.relative(path)?)
    }

    /// Device and inode of every excluded folder that exists now (following symlinks in the
    /// configured paths: the folder the organizer really writes to) or was seen before.
    fn excluded_ids(&self) -> HashSet<DirId> {
        let mut seen = self
            .excluded_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.extend(
            self.exclude
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .filter(|m| m.is_dir())
                .map(|m| DirId::of(&m)),
        );
        seen.clone()
    }
}

/// True for the errors that mean "no longer a candidate at this path": gone, or a symlink
/// (or a non-folder) now on the way.
pub(crate) fn is_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || fsroot::is_symlink_refusal(error)
}

/// A regular file seen in a particular version.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub inbox: usize,
    pub path: PathBuf,
    pub stamp: Stamp,
    pub mtime: SystemTime,
    pub kind: DiscoveryKind,
    /// Written to without a close seen: hashed only if the writer probe can tell that
    /// nobody has it open for writing.
    pub awaiting_close: bool,
}

impl Candidate {
    pub(crate) fn new(inbox: usize, path: PathBuf, meta: &Metadata, kind: DiscoveryKind) -> Self {
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        Self::with(inbox, path, Stamp::from_metadata(meta), mtime, kind)
    }

    /// [`Candidate::new`] from a folder entry's `fstatat` (what a walk reads).
    pub(crate) fn from_entry(
        inbox: usize,
        path: PathBuf,
        st: &fsroot::EntryStat,
        kind: DiscoveryKind,
    ) -> Self {
        let stamp = Stamp::from_entry(st);
        let ns = stamp.id.mtime_ns;
        let mtime = if ns >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_nanos(ns.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_nanos(ns.unsigned_abs()))
        };
        Self::with(inbox, path, stamp, mtime.unwrap_or(UNIX_EPOCH), kind)
    }

    fn with(
        inbox: usize,
        path: PathBuf,
        stamp: Stamp,
        mtime: SystemTime,
        kind: DiscoveryKind,
    ) -> Self {
        Self {
            inbox,
            path,
            stamp,
            mtime,
            kind,
            awaiting_close: false,
        }
    }
}

/// Lets the run loop keep files it already tracks out of a scan.
pub(crate) trait Hooks: Send {
    /// True if the candidate is pending, being hashed, or was already reported unchanged.
    /// Called once for every regular file the walk finds.
    fn skip(&mut self, c: &Candidate) -> bool;
    /// The candidate was emitted (`failed == false`) or reported failed in this version.
    fn reported(&mut self, path: &Path, stamp: Stamp, failed: bool);
    /// Offered each settled candidate that needs hashing: `None` means the caller took it
    /// and hashes it itself; `Some` hands it back for the scan to hash before returning.
    fn take_for_hashing(&mut self, c: Candidate) -> Option<Candidate>;
}

/// Hooks of a standalone scan: nothing is tracked between scans.
pub(crate) struct NoHooks;

impl Hooks for NoHooks {
    fn skip(&mut self, _: &Candidate) -> bool {
        false
    }
    fn reported(&mut self, _: &Path, _: Stamp, _: bool) {}
    fn take_for_hashing(&mut self, c: Candidate) -> Option<Candidate> {
        Some(c)
    }
}

enum WalkItem {
    File(Candidate),
    Unreadable { path: PathBuf, error: io::Error },
    WatchLimit(notify::Error),
}

/// Depth-first walk of `start` (inside inbox `inbox`) on a blocking thread. With `watch`, each
/// folder is watched before it is listed. Every folder is opened beneath the inbox's handle
/// and listed through its own descriptor; symlinks are skipped, never followed, and excluded
/// folders (the organized tree and its kin) are not entered. A `counting` walk (see
/// [`count_tree`]) leaves the stats alone and logs no problem: the scan beside it does both.
fn walk(
    shared: &Shared,
    inbox: usize,
    start: PathBuf,
    kind: DiscoveryKind,
    mut watch: Option<Arc<WatchHandle>>,
    out: &mpsc::Sender<WalkItem>,
    counting: bool,
) {
    let root = &shared.roots[inbox];
    let Ok(start_rel) = root.relative(&start).map(Path::to_path_buf) else {
        return;
    };
    let excluded = shared.excluded_ids();
    let start_depth = start_rel.components().count();
    let mut stack = vec![(start_rel, start_depth)];
    while let Some((rel, depth)) = stack.pop() {
        let Some(dir) = open_walked_dir(root, &rel, &excluded, counting) else {
            continue;
        };
        if !watch_walked(&mut watch, dir.path(), out) {
            return;
        }
        let entries = match dir.entries() {
            Ok(entries) => entries,
            Err(error) => {
                if !counting {
                    warn!(dir = %dir.path().display(), %error, "cannot list inbox folder; its files stay unseen until it is readable");
                }
                continue;
            }
        };
        for entry in entries {
            let child = rel.join(&entry.name);
            if is_ignored(&child, &shared.globs) {
                if !counting {
                    WatchStats::add(&shared.stats.ignored, 1);
                }
                continue;
            }
            let path = dir.join(&entry.name);
            let item = match entry.kind {
                EntryKind::Symlink => {
                    debug!(path = %path.display(), "symlink in inbox not followed");
                    continue;
                }
                EntryKind::Dir if depth + 1 >= MAX_DEPTH => {
                    if !counting {
                        warn!(dir = %path.display(), max_depth = MAX_DEPTH, "folder nested too deep; not scanned");
                    }
                    continue;
                }
                EntryKind::Dir => {
                    stack.push((child, depth + 1));
                    continue;
                }
                EntryKind::Other => continue,
                EntryKind::File => match dir.stat_entry(&entry.name) {
                    Ok(st) if st.is_file => {
                        WalkItem::File(Candidate::from_entry(inbox, path, &st, kind))
                    }
                    Ok(_) => continue,
                    Err(error) if is_gone(&error) => continue,
                    Err(error) => WalkItem::Unreadable { path, error },
                },
            };
            if out.blocking_send(item).is_err() {
                return;
            }
        }
    }
}

/// Watches a folder the walk entered; at the watch limit, says so and walks on as a plain
/// scan. False when the receiver is gone (stop walking).
fn watch_walked(
    watch: &mut Option<Arc<WatchHandle>>,
    dir: &Path,
    out: &mpsc::Sender<WalkItem>,
) -> bool {
    let Some(handle) = watch.as_ref() else {
        return true;
    };
    match handle.watch_dir(dir) {
        Ok(()) => true,
        Err(error) if is_watch_limit(&error) => {
            // Nothing more can be watched in this inbox; keep walking as a plain scan.
            *watch = None;
            out.blocking_send(WalkItem::WatchLimit(error)).is_ok()
        }
        Err(error) => {
            debug!(dir = %dir.display(), %error, "cannot watch folder");
            true
        }
    }
}

/// Opens folder `rel` of a walk; `None` when it is gone, became a symlink, cannot be
/// opened, or is an excluded folder (logged unless `quiet`).
fn open_walked_dir(root: &Root, rel: &Path, excluded: &HashSet<DirId>, quiet: bool) -> Option<Dir> {
    let dir = match root.open_dir(rel) {
        Ok(dir) => dir,
        Err(error) if is_gone(&error) => {
            debug!(dir = %root.path().join(rel).display(), %error, "folder vanished or became a symlink before it was listed");
            return None;
        }
        Err(error) => {
            if !quiet {
                warn!(dir = %root.path().join(rel).display(), %error, "cannot open inbox folder; its files stay unseen until it is readable");
            }
            return None;
        }
    };
    if !excluded.is_empty()
        && let Ok(meta) = dir.metadata()
        && excluded.contains(&DirId::of(&meta))
    {
        if !quiet {
            warn!(dir = %dir.path().display(), "the organized, duplicates or quarantine folder lies inside an inbox; its files are not inbox input and it is not scanned");
        }
        return None;
    }
    Some(dir)
}

/// Resolves when `stop` turns true or its sender goes away; never for `None`.
pub(crate) async fn stopped(stop: &mut Option<&mut watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            let _ = rx.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

pub(crate) async fn send(tx: &mpsc::Sender<WatchItem>, item: WatchItem) -> Result<(), WatchError> {
    tx.send(item).await.map_err(|_| WatchError::ReceiverClosed)
}

pub(crate) fn discovered_item(
    shared: &Shared,
    c: &Candidate,
    asset_id: String,
    hashed: bool,
) -> WatchItem {
    let inbox = shared.inboxes[c.inbox].clone();
    let project = c.path.strip_prefix(&inbox).ok().and_then(project_of);
    WatchItem::Discovered(Discovered {
        path: c.path.clone(),
        inbox,
        project,
        identity: c.stamp.id,
        mtime: c.mtime,
        asset_id,
        hashed,
        settled: false,
        kind: c.kind,
    })
}

pub(crate) fn failed_item(
    shared: &Shared,
    path: &Path,
    inbox: usize,
    error: &io::Error,
) -> WatchItem {
    let hint = if error.kind() == io::ErrorKind::PermissionDenied {
        "; make it readable by the daemon's user"
    } else {
        ""
    };
    tracing::error!(path = %path.display(), %error, "cannot read inbox file");
    WatchItem::Failed {
        path: path.to_path_buf(),
        inbox: shared.inboxes[inbox].clone(),
        error: format!("cannot read {}: {error}{hint}", path.display()),
    }
}

/// Hashes one candidate off the runtime, holding one of the global hashing slots.
pub(crate) async fn hash_job(shared: Arc<Shared>, c: Candidate) -> (Candidate, HashOutcome) {
    let Ok(slot) = shared.hash_slots.clone().acquire_owned().await else {
        return (
            c,
            HashOutcome::Failed(io::Error::other("hashing slots closed")),
        );
    };
    let (path, inbox, stamp, strict) = (c.path.clone(), c.inbox, c.stamp, c.awaiting_close);
    let shared = shared.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let root = &shared.roots[inbox];
        match root.relative(&path) {
            Ok(rel) => hash_verified(root, rel, stamp, strict, &shared.stats),
            Err(error) => HashOutcome::Failed(error),
        }
    })
    .await
    .unwrap_or_else(|e| HashOutcome::Failed(io::Error::other(format!("hashing task failed: {e}"))));
    (c, outcome)
}

/// Candidates being identified with bounded concurrency; collects counts and files that
/// were not (or no longer) settled.
struct Batch<'a> {
    shared: &'a Arc<Shared>,
    tx: &'a mpsc::Sender<WatchItem>,
    jobs: JoinSet<(Candidate, HashOutcome)>,
    summary: ScanSummary,
    deferred: Vec<Candidate>,
    /// Files another process still has open for writing.
    busy: Vec<Candidate>,
}

impl<'a> Batch<'a> {
    fn new(shared: &'a Arc<Shared>, tx: &'a mpsc::Sender<WatchItem>) -> Self {
        Self {
            shared,
            tx,
            jobs: JoinSet::new(),
            summary: ScanSummary::default(),
            deferred: Vec::new(),
            busy: Vec::new(),
        }
    }

    fn has_room(&self) -> bool {
        self.jobs.len() < self.shared.concurrency
    }

    /// A settled candidate: reuse a known asset id or start hashing.
    async fn submit(&mut self, c: Candidate, hooks: &mut dyn Hooks) -> Result<(), WatchError> {
        if let Some(asset_id) = self.shared.cache.lookup(&c.stamp.id) {
            WatchStats::add(&self.shared.stats.cache_hits, 1);
            WatchStats::add(&self.shared.stats.bytes_known, c.stamp.id.size);
            self.summary.cache_hits += 1;
            hooks.reported(&c.path, c.stamp, false);
            send(self.tx, discovered_item(self.shared, &c, asset_id, false)).await
        } else {
            if let Some(c) = hooks.take_for_hashing(c) {
                self.jobs.spawn(hash_job(self.shared.clone(), c));
            }
            Ok(())
        }
    }

    async fn finish(
        &mut self,
        done: (Candidate, HashOutcome),
        hooks: &mut dyn Hooks,
    ) -> Result<(), WatchError> {
        let (c, outcome) = done;
        match outcome {
            HashOutcome::Done { hash, settled } => {
                self.summary.hashed += 1;
                hooks.reported(&c.path, c.stamp, false);
                let item = discovered_item(self.shared, &c, hash.to_hex().to_string(), true)
                    .with_settled(settled);
                send(self.tx, item).await?;
            }
            HashOutcome::Changed => {
                debug!(path = %c.path.display(), "file changed while being hashed; waiting for it to settle again");
                self.deferred.push(c);
            }
            HashOutcome::InUse => {
                debug!(path = %c.path.display(), "file is still open for writing; waiting for its writer");
                self.busy.push(c);
            }
            HashOutcome::Gone => {
                debug!(path = %c.path.display(), "file vanished before it was hashed; dropped");
                self.summary.vanished += 1;
            }
            HashOutcome::Failed(error) => {
                self.summary.failed += 1;
                hooks.reported(&c.path, c.stamp, true);
                send(self.tx, failed_item(self.shared, &c.path, c.inbox, &error)).await?;
            }
        }
        Ok(())
    }

    /// Waits for one hashing job; `Ok(false)` when none is running.
    async fn finish_one(&mut self, hooks: &mut dyn Hooks) -> Result<bool, WatchError> {
        match self.jobs.join_next().await {
            None => Ok(false),
            Some(Ok(done)) => self.finish(done, hooks).await.map(|()| true),
            Some(Err(error)) => {
                tracing::error!(%error, "hashing task panicked");
                Ok(true)
            }
        }
    }
}

/// Result of walking one tree.
pub(crate) struct TreeScan {
    pub summary: ScanSummary,
    /// Files that were still changing recently; the caller waits for them to settle.
    pub deferred: Vec<Candidate>,
    /// Files still open for writing by another process (a watcher waits for their close; a
    /// standalone scan leaves them for the next pass).
    pub busy: Vec<Candidate>,
    /// Set when watching hit the inotify limit; the caller falls back to polling.
    pub watch_limit: Option<notify::Error>,
    /// The shutdown signal arrived; the scan was abandoned.
    pub stopped: bool,
}

/// Walks `start` and identifies every quiet candidate (cache hit or hash, at most
/// `concurrency` at once; or hashing is left to whoever `hooks.take_for_hashing` gives it
/// to). Candidates whose inode changed within `settle` are returned in `deferred` rather than
/// hashed, so a file being written is never hashed by a scan.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn scan_tree(
    shared: &Arc<Shared>,
    inbox: usize,
    start: PathBuf,
    kind: DiscoveryKind,
    watch: Option<Arc<WatchHandle>>,
    tx: &mpsc::Sender<WatchItem>,
    hooks: &mut dyn Hooks,
    mut stop: Option<&mut watch::Receiver<bool>>,
) -> Result<TreeScan, WatchError> {
    let (walk_tx, mut walk_rx) = mpsc::channel(WALK_QUEUE);
    let walker_shared = shared.clone();
    let walker = tokio::task::spawn_blocking(move || {
        walk(&walker_shared, inbox, start, kind, watch, &walk_tx, false);
    });
    let mut batch = Batch::new(shared, tx);
    let mut watch_limit = None;
    let mut walking = true;
    let mut stopped_early = false;
    while walking || !batch.jobs.is_empty() {
        let room = batch.has_room();
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                stopped_early = true;
                break;
            }
            Some(done) = batch.jobs.join_next(), if !batch.jobs.is_empty() => match done {
                Ok(done) => batch.finish(done, hooks).await?,
                Err(error) => tracing::error!(%error, "hashing task panicked"),
            },
            item = walk_rx.recv(), if walking && room => match item {
                None => walking = false,
                Some(WalkItem::File(c)) => {
                    batch.summary.files += 1;
                    if hooks.skip(&c) {
                        continue;
                    }
                    if c.stamp.quiet_for(shared.settle) {
                        batch.submit(c, hooks).await?;
                    } else {
                        batch.deferred.push(c);
                    }
                }
                Some(WalkItem::Unreadable { path, error }) => {
                    batch.summary.files += 1;
                    batch.summary.failed += 1;
                    send(tx, failed_item(shared, &path, inbox, &error)).await?;
                }
                Some(WalkItem::WatchLimit(error)) => watch_limit = Some(error),
            },
        }
    }
    drop(walk_rx);
    if let Err(error) = walker.await {
        tracing::error!(%error, "inbox walker panicked");
    }
    Ok(TreeScan {
        summary: batch.summary,
        deferred: batch.deferred,
        busy: batch.busy,
        watch_limit,
        stopped: stopped_early,
    })
}

/// Counts what a scan of inbox `inbox` will look at into `into`, as it goes: the walk of
/// [`scan_tree`] with its files tallied instead of identified. Silent: the scan itself logs
/// what the walk finds wrong and counts ignored entries in [`WatchStats`].
pub(crate) async fn count_tree(shared: &Arc<Shared>, inbox: usize, into: &ScanCount) {
    let (walk_tx, mut walk_rx) = mpsc::channel(WALK_QUEUE);
    let walker_shared = shared.clone();
    let walker = tokio::task::spawn_blocking(move || {
        let start = walker_shared.inboxes[inbox].clone();
        walk(
            &walker_shared,
            inbox,
            start,
            DiscoveryKind::Manual,
            None,
            &walk_tx,
            true,
        );
    });
    while let Some(item) = walk_rx.recv().await {
        match item {
            WalkItem::File(c) => {
                WatchStats::add(&into.files, 1);
                WatchStats::add(&into.bytes, c.stamp.id.size);
            }
            WalkItem::Unreadable { .. } => WatchStats::add(&into.files, 1),
            WalkItem::WatchLimit(_) => {}
        }
    }
    if let Err(error) = walker.await {
        tracing::error!(%error, "inbox counter panicked");
    }
}

/// For standalone scans: re-checks deferred files every `settle` until each is unchanged
/// across one interval, then identifies it. Returns once every file is emitted, failed or
/// gone; a file that never stops changing keeps the scan waiting (drop the future to give up).
pub(crate) async fn settle_deferred(
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<WatchItem>,
    mut deferred: Vec<Candidate>,
    summary: &mut ScanSummary,
) -> Result<(), WatchError> {
    let mut hooks = NoHooks;
    // A zero settle would spin; re-checking a few times a second is plenty.
    let interval = shared.settle.max(Duration::from_millis(50));
    while !deferred.is_empty() {
        tokio::time::sleep(interval).await;
        let mut batch = Batch::new(shared, tx);
        let mut waiting = Vec::new();
        for mut c in deferred {
            match shared.stat(c.inbox, &c.path) {
                Ok(meta) if meta.is_file() => {
                    let now = Stamp::from_metadata(&meta);
                    if now == c.stamp {
                        while !batch.has_room() {
                            batch.finish_one(&mut hooks).await?;
                        }
                        batch.submit(c, &mut hooks).await?;
                    } else {
                        c = Candidate::new(c.inbox, c.path, &meta, c.kind);
                        waiting.push(c);
                    }
                }
                Ok(_) => batch.summary.vanished += 1,
                Err(error) if is_gone(&error) => {
                    debug!(path = %c.path.display(), "file vanished before it settled; dropped");
                    batch.summary.vanished += 1;
                }
                Err(error) => {
                    batch.summary.failed += 1;
                    send(tx, failed_item(shared, &c.path, c.inbox, &error)).await?;
                }
            }
        }
        while batch.finish_one(&mut hooks).await? {}
        *summary += batch.summary;
        leave_busy(&batch.busy, summary);
        waiting.append(&mut batch.deferred);
        deferred = waiting;
    }
    Ok(())
}

/// A standalone scan does not wait for writers that may never finish: it says so and leaves
/// the file for the next pass (or for the watcher, which sees the close).
pub(crate) fn leave_busy(busy: &[Candidate], summary: &mut ScanSummary) {
    for c in busy {
        tracing::info!(path = %c.path.display(), "file is still open for writing; left for the next pass");
    }
    summary.busy += busy.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk's `fstatat` gives a candidate the very stamp and mtime `stat` gives, so a file
    /// found by a walk and the same file seen by an event compare equal.
    #[test]
    fn a_candidate_from_a_folder_entry_equals_one_from_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, b"content").unwrap();
        let old = UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let root = fsroot::Root::open(dir.path()).unwrap();
        let folder = root.open_dir(Path::new("")).unwrap();
        let st = folder.stat_entry(std::ffi::OsStr::new("a.png")).unwrap();
        assert!(st.is_file);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let a = Candidate::new(0, path.clone(), &meta, DiscoveryKind::Scan);
        let b = Candidate::from_entry(0, path, &st, DiscoveryKind::Scan);
        assert_eq!(a.stamp, b.stamp);
        assert_eq!(a.mtime, b.mtime);
        assert_eq!(b.mtime, old);
        assert!(
            !folder
                .stat_entry(std::ffi::OsStr::new(""))
                .is_ok_and(|s| s.is_file)
        );
    }
}
