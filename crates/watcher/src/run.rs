//! The long-running loop: events → settle timers → hashing → items.
//!
//! A file goes through `pending` (waiting for its writer to finish and its inode to stay
//! unchanged for `settle`), then `ready`/`queued` (hashing), and ends in `reported`
//! (the identity last emitted for that path, so a file is emitted once per version).
//! Everything runs on one task; hashing runs on the blocking pool.
//!
//! Each loop turn must stay cheap however many files are in flight (a burst puts thousands
//! in `pending` and sends several events per file): settle deadlines live in a timer queue
//! ([`Timers`]), and `pending` and `reported` are ordered maps so that everything below a
//! removed folder is one range. Scans started by the loop for a new folder or a poll only
//! walk; their files are hashed through `ready` like any other, so events keep flowing.

use std::cmp::Reverse;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::reports::{Reported, Reports};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, trace, warn};

use crate::WatchError;
use crate::hash::HashOutcome;
use crate::model::{DiscoveryKind, ScanReason, Stamp, WatchItem, WatchStats};
use crate::paths::is_ignored;
use crate::scan::{
    Candidate, Hooks, Shared, TreeScan, discovered_item, failed_item, hash_job, is_gone, scan_tree,
    send,
};
use crate::watch::{Raw, WatchHandle, is_watch_limit};

/// notify → loop queue. When full, events are dropped and the inbox rescanned, as the
/// kernel does with its own queue; this bounds memory without ever blocking notify.
const RAW_QUEUE: usize = 4096;

/// What an event says about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// Created in place: may be followed by writes, or may already be complete (a link).
    Created,
    /// Data written: the writer is active; wait for its close.
    Written,
    /// Closed after writing.
    Closed,
    /// Renamed into place: complete by construction.
    MovedIn,
    /// Metadata changed: only re-stat.
    Attrib,
}

struct Pending {
    inbox: usize,
    /// Last observed version; `None` forces one more settle interval.
    stamp: Option<Stamp>,
    /// When to re-stat; `None` only for an empty file created and not yet written or closed.
    /// Set it only through
    /// [`Timers::arm`], which queues the timer; clearing it needs nothing else.
    deadline: Option<Instant>,
    /// Data was written and no close-after-write seen yet. Such a file is hashed once quiet
    /// for `settle` only if the writer probe can tell that nobody has it open for writing.
    awaiting_close: bool,
    /// Only a create event so far; an empty file in this state is a writer that has not
    /// started writing, so it is held until it is closed.
    created_only: bool,
    kind: DiscoveryKind,
}

/// Settle deadlines, earliest first: finding the next one and the due ones costs O(log n)
/// per entry instead of a pass over every pending file.
///
/// Entries are never looked for to be removed: an entry counts only while it still equals
/// its file's `Pending::deadline`. One that no longer does (deadline moved, cleared, or the
/// file left `pending`) is dropped when it reaches the front. Every entry is at most
/// `settle` in the future when pushed, so stale ones are gone within `settle`.
#[derive(Default)]
struct Timers(BinaryHeap<Reverse<(Instant, PathBuf)>>);

impl Timers {
    /// Sets `deadline` (the one of the pending file at `path`) to `at` and queues it.
    /// Always pushes, even for an unchanged deadline: its entry may just have been taken.
    fn arm(&mut self, path: &Path, deadline: &mut Option<Instant>, at: Instant) {
        *deadline = Some(at);
        self.0.push(Reverse((at, path.to_path_buf())));
    }

    /// The earliest live deadline; stale entries in front of it are dropped on the way.
    fn next(&mut self, pending: &BTreeMap<PathBuf, Pending>) -> Option<Instant> {
        while let Some(Reverse((at, path))) = self.0.peek() {
            if is_live(pending, path, *at) {
                return Some(*at);
            }
            self.0.pop();
        }
        None
    }

    /// Takes every live deadline up to `now`, earliest first, each path once.
    fn take_due(&mut self, now: Instant, pending: &BTreeMap<PathBuf, Pending>) -> Vec<PathBuf> {
        let mut due: Vec<PathBuf> = Vec::new();
        while let Some(Reverse((at, _))) = self.0.peek()
            && *at <= now
        {
            let Some(Reverse((at, path))) = self.0.pop() else {
                break;
            };
            // An entry is live for one deadline of one path, so a repeat can only be an
            // exact duplicate, and duplicates pop one after the other.
            if is_live(pending, &path, at) && due.last() != Some(&path) {
                due.push(path);
            }
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

fn is_live(pending: &BTreeMap<PathBuf, Pending>, path: &Path, at: Instant) -> bool {
    pending.get(path).is_some_and(|p| p.deadline == Some(at))
}

/// Removes `path` and everything below it from `map`.
fn remove_tree<V>(map: &mut BTreeMap<PathBuf, V>, path: &Path) {
    let below: Vec<PathBuf> = map
        .range(path.to_path_buf()..)
        .take_while(|(p, _)| p.starts_with(path))
        .map(|(p, _)| p.clone())
        .collect();
    for p in &below {
        map.remove(p);
    }
}

struct Inbox {
    /// `None` when the inbox is polled.
    watch: Option<Arc<WatchHandle>>,
    overflow: Arc<AtomicBool>,
}

enum Step {
    Stop,
    Hashed(Candidate, HashOutcome),
    Raw(Raw),
    Due,
    Poll,
    Nothing,
}

pub(crate) struct Runner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<WatchItem>,
    inboxes: Vec<Inbox>,
    // Kept so `raw_rx` never reports "closed" after every inbox fell back to polling.
    _raw_tx: mpsc::Sender<Raw>,
    raw_rx: mpsc::Receiver<Raw>,
    /// Ordered so that everything below a removed folder is one contiguous range.
    pending: BTreeMap<PathBuf, Pending>,
    timers: Timers,
    ready: VecDeque<Candidate>,
    /// Paths in `ready` or being hashed: a scan must not identify them a second time.
    queued: HashSet<PathBuf>,
    jobs: JoinSet<(Candidate, HashOutcome)>,
    /// What was last said about each reported file (by folder, compactly).
    reported: Reports,
}

/// What a scan started by the loop does besides the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanMode {
    /// Hash settled files before returning: a reconciliation, whose `ScanFinished` follows
    /// every file it found settled.
    Identify,
    /// Only walk; settled files join `ready` and are hashed while the loop goes on.
    Walk,
}

struct RunHooks<'a> {
    pending: &'a BTreeMap<PathBuf, Pending>,
    queued: &'a mut HashSet<PathBuf>,
    ready: &'a mut VecDeque<Candidate>,
    reported: &'a mut Reports,
    mode: ScanMode,
    /// Every file the walk found, when the caller wants to know.
    seen: Option<&'a mut HashSet<PathBuf>>,
}

impl Hooks for RunHooks<'_> {
    fn skip(&mut self, c: &Candidate) -> bool {
        if let Some(seen) = self.seen.as_deref_mut() {
            seen.insert(c.path.clone());
        }
        self.pending.contains_key(&c.path)
            || self.queued.contains(&c.path)
            || self.reported.covers(&c.path, &c.stamp)
    }

    fn reported(&mut self, path: &Path, stamp: Stamp, failed: bool) {
        self.reported.insert(path, Reported::new(stamp, failed));
    }

    fn take_for_hashing(&mut self, c: Candidate) -> Option<Candidate> {
        match self.mode {
            ScanMode::Identify => Some(c),
            ScanMode::Walk => {
                self.queued.insert(c.path.clone());
                self.ready.push_back(c);
                None
            }
        }
    }
}

impl Runner {
    pub(crate) fn new(shared: Arc<Shared>, tx: mpsc::Sender<WatchItem>) -> Self {
        let (raw_tx, raw_rx) = mpsc::channel(RAW_QUEUE);
        let mut inboxes = Vec::with_capacity(shared.inboxes.len());
        for (i, root) in shared.inboxes.iter().enumerate() {
            let overflow = Arc::new(AtomicBool::new(false));
            let watch = if shared.force_polling {
                info!(inbox = %root.display(), interval_ms = shared.poll_interval.as_millis() as u64, "polling inbox (force_polling)");
                None
            } else {
                match WatchHandle::new(
                    i,
                    raw_tx.clone(),
                    overflow.clone(),
                    shared.max_watches,
                    shared.stats.clone(),
                ) {
                    Ok(handle) => Some(Arc::new(handle)),
                    Err(error) => {
                        error!(inbox = %root.display(), %error, sysctl = "fs.inotify.max_user_instances",
                            "cannot create an inotify instance; raise the sysctl fs.inotify.max_user_instances; polling this inbox instead");
                        None
                    }
                }
            };
            if watch.is_none() {
                WatchStats::add(&shared.stats.polling_inboxes, 1);
            }
            inboxes.push(Inbox { watch, overflow });
        }
        Self {
            shared,
            tx,
            inboxes,
            _raw_tx: raw_tx,
            raw_rx,
            pending: BTreeMap::new(),
            timers: Timers::default(),
            ready: VecDeque::new(),
            queued: HashSet::new(),
            jobs: JoinSet::new(),
            reported: Reports::default(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), WatchError> {
        let mut stop = shutdown.clone();
        let cache = self.shared.cache.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || cache.reconciling()).await {
            error!(%error, "preparing the identity cache panicked; files will be hashed");
        }
        for i in 0..self.inboxes.len() {
            let reason = self.shared.start_reason;
            if !self.reconcile(i, reason, &mut stop).await? {
                return Ok(());
            }
        }
        self.shared.cache.reconciled();
        let period = self.shared.poll_interval;
        let mut poll = tokio::time::interval_at(Instant::now() + period, period);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            for i in 0..self.inboxes.len() {
                if self.inboxes[i].overflow.swap(false, Ordering::AcqRel) {
                    WatchStats::add(&self.shared.stats.rescans, 1);
                    warn!(inbox = %self.shared.inboxes[i].display(), "event queue overflowed; rescanning the inbox");
                    if !self.reconcile(i, ScanReason::Overflow, &mut stop).await? {
                        return Ok(());
                    }
                }
            }
            self.dispatch();
            WatchStats::set(
                &self.shared.stats.reported_paths,
                self.reported.len() as u64,
            );
            let deadline = self.timers.next(&self.pending);
            let polling = self.inboxes.iter().any(|b| b.watch.is_none());
            let step = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => Step::Stop,
                Some(done) = self.jobs.join_next(), if !self.jobs.is_empty() => match done {
                    Ok((c, outcome)) => Step::Hashed(c, outcome),
                    Err(error) => {
                        error!(%error, "hashing task panicked");
                        Step::Nothing
                    }
                },
                Some(raw) = self.raw_rx.recv() => Step::Raw(raw),
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Step::Due,
                _ = poll.tick(), if polling => Step::Poll,
            };
            let alive = match step {
                Step::Stop => false,
                Step::Hashed(c, outcome) => {
                    self.hashed(c, outcome).await?;
                    true
                }
                Step::Raw(raw) => self.on_raw(raw, &mut stop).await?,
                Step::Due => {
                    self.fire_due().await?;
                    true
                }
                Step::Poll => self.poll_all(&mut stop).await?,
                Step::Nothing => true,
            };
            if !alive {
                debug!("watcher stopping");
                return Ok(());
            }
        }
    }

    /// A full scan of inbox `i` framed by ScanStarted/ScanFinished. `Ok(false)`: shut down.
    async fn reconcile(
        &mut self,
        i: usize,
        reason: ScanReason,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, WatchError> {
        let root = self.shared.inboxes[i].clone();
        if reason == ScanReason::Overflow {
            self.drain_before_rescan(i);
            // The lost events may include closes: treat every waiting file as created-then-quiet.
            let settle = Instant::now() + self.shared.settle;
            for (path, p) in self.pending.iter_mut().filter(|(_, p)| p.inbox == i) {
                p.awaiting_close = false;
                p.created_only = false;
                self.timers.arm(path, &mut p.deadline, settle);
            }
        }
        send(
            &self.tx,
            WatchItem::ScanStarted {
                inbox: root.clone(),
                reason,
            },
        )
        .await?;
        let watch = self.inboxes[i].watch.clone();
        let Some(files) = self
            .scan(
                i,
                root.clone(),
                (DiscoveryKind::Scan, ScanMode::Identify),
                watch,
                None,
                stop,
            )
            .await?
        else {
            return Ok(false);
        };
        send(
            &self.tx,
            WatchItem::ScanFinished {
                inbox: root,
                reason,
                files,
            },
        )
        .await?;
        Ok(true)
    }

    /// Discards queued events ahead of a rescan: they predate the lost ones, and replaying a
    /// write whose close was lost would hold its file forever. The rescan re-learns files and
    /// folders; removals are still applied, since a scan cannot see what is gone. The queue
    /// is shared, so other inboxes with discarded events are rescanned too.
    fn drain_before_rescan(&mut self, i: usize) {
        while let Ok(raw) = self.raw_rx.try_recv() {
            let Ok(event) = &raw.event else {
                continue;
            };
            if matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
            ) {
                for path in &event.paths {
                    self.gone(raw.inbox, path);
                }
            } else if raw.inbox != i && self.inboxes[raw.inbox].watch.is_some() {
                self.inboxes[raw.inbox]
                    .overflow
                    .store(true, Ordering::Release);
            }
        }
    }

    /// Walks `start` with the run loop's bookkeeping; unsettled files join `pending`.
    /// With `seen`, collects the path of every file found. Returns the number of
    /// candidates, or `None` on shutdown.
    async fn scan(
        &mut self,
        i: usize,
        start: PathBuf,
        (kind, mode): (DiscoveryKind, ScanMode),
        watch: Option<Arc<WatchHandle>>,
        seen: Option<&mut HashSet<PathBuf>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<u64>, WatchError> {
        let mut hooks = RunHooks {
            pending: &self.pending,
            queued: &mut self.queued,
            ready: &mut self.ready,
            reported: &mut self.reported,
            mode,
            seen,
        };
        let TreeScan {
            summary,
            deferred,
            busy,
            watch_limit,
            stopped,
        } = scan_tree(
            &self.shared,
            i,
            start,
            kind,
            watch,
            &self.tx,
            &mut hooks,
            Some(stop),
        )
        .await?;
        if stopped {
            return Ok(None);
        }
        let deadline = Instant::now() + self.shared.settle;
        // Files still open for writing are re-checked every `settle` like changing ones (the
        // lease probe is cheap); their close event usually comes first.
        for c in deferred.into_iter().chain(busy) {
            if let Entry::Vacant(slot) = self.pending.entry(c.path) {
                let path = slot.key().clone();
                let p = slot.insert(Pending {
                    inbox: i,
                    stamp: Some(c.stamp),
                    deadline: None,
                    awaiting_close: false,
                    created_only: false,
                    kind: c.kind,
                });
                self.timers.arm(&path, &mut p.deadline, deadline);
            }
        }
        if let Some(error) = watch_limit {
            self.fall_back_to_polling(i, &error.to_string());
        }
        Ok(Some(summary.files))
    }

    fn fall_back_to_polling(&mut self, i: usize, cause: &str) {
        if self.inboxes[i].watch.take().is_none() {
            return;
        }
        WatchStats::add(&self.shared.stats.polling_inboxes, 1);
        error!(
            inbox = %self.shared.inboxes[i].display(),
            error = cause,
            sysctl = "fs.inotify.max_user_watches",
            poll_interval_ms = self.shared.poll_interval.as_millis() as u64,
            "inotify watch limit reached; raise the sysctl fs.inotify.max_user_watches (or max_watches); scanning this inbox periodically instead"
        );
    }

    async fn poll_all(&mut self, stop: &mut watch::Receiver<bool>) -> Result<bool, WatchError> {
        for i in 0..self.inboxes.len() {
            if self.inboxes[i].watch.is_none() {
                let root = self.shared.inboxes[i].clone();
                trace!(inbox = %root.display(), "polling inbox");
                let mut seen = HashSet::new();
                if self
                    .scan(
                        i,
                        root.clone(),
                        (DiscoveryKind::Scan, ScanMode::Walk),
                        None,
                        Some(&mut seen),
                        stop,
                    )
                    .await?
                    .is_none()
                {
                    return Ok(false);
                }
                self.forget_unseen(i, &root, &seen);
            }
        }
        Ok(true)
    }

    /// A polled inbox sends no removal events, so after each pass the files it did not find
    /// are forgotten, as `gone` does for a watched one. Only files that are really gone: one
    /// in a folder that could not be listed this time is still there and stays remembered,
    /// or it would be emitted again once the folder is readable.
    fn forget_unseen(&mut self, i: usize, root: &Path, seen: &HashSet<PathBuf>) {
        let mut unseen: Vec<PathBuf> = Vec::new();
        for (folder, keys) in self.reported.unseen_under(root, seen) {
            // The reports keep name hashes, not names: the folder's listing gives the names
            // back. A name no longer listed is a file gone; a folder gone takes its files
            // along; a folder that cannot be listed now keeps them (they are still there).
            let listed = self.shared.roots[i]
                .relative(&folder)
                .and_then(|rel| self.shared.roots[i].open_dir(rel))
                .and_then(|dir| dir.entries());
            match listed {
                Ok(entries) => {
                    let mut gone = keys;
                    for e in entries {
                        if gone.remove(&self.reported.key_of(&e.name)) {
                            unseen.push(folder.join(&e.name));
                        }
                    }
                    self.reported.forget_keys(&folder, &gone);
                }
                Err(error) if is_gone(&error) => {
                    trace!(folder = %folder.display(), "folder left the polled inbox; forgotten");
                    self.reported.remove_tree(&folder);
                }
                Err(_) => {}
            }
        }
        for path in unseen {
            let gone = match self.shared.stat(i, &path) {
                Ok(meta) => !meta.is_file(),
                Err(error) => is_gone(&error),
            };
            if gone {
                trace!(path = %path.display(), "file left the polled inbox; forgotten");
                self.reported.remove(&path);
            }
        }
    }

    async fn on_raw(
        &mut self,
        raw: Raw,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, WatchError> {
        let i = raw.inbox;
        if self.inboxes[i].watch.is_none() {
            // Left over from before the fall-back to polling; the poll covers it.
            return Ok(true);
        }
        let event: Event = match raw.event {
            Ok(event) => event,
            Err(error) if is_watch_limit(&error) => {
                self.fall_back_to_polling(i, &error.to_string());
                return Ok(true);
            }
            Err(error) => {
                warn!(inbox = %self.shared.inboxes[i].display(), %error, "inotify reported an error; rescanning the inbox");
                self.inboxes[i].overflow.store(true, Ordering::Release);
                return Ok(true);
            }
        };
        if event.need_rescan() {
            self.inboxes[i].overflow.store(true, Ordering::Release);
        }
        let signal = match event.kind {
            EventKind::Create(_) => Signal::Created,
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Signal::MovedIn,
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                for path in &event.paths {
                    self.gone(i, path);
                }
                return Ok(true);
            }
            // inotify also sends From and To separately; those carry everything needed.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return Ok(true),
            EventKind::Modify(ModifyKind::Data(_)) => Signal::Written,
            EventKind::Modify(_) => Signal::Attrib,
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Signal::Closed,
            _ => return Ok(true),
        };
        for path in event.paths {
            if !self.touch(i, path, signal, stop).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Records what an event says about `path`. `Ok(false)`: shut down during a catch-up scan.
    async fn touch(
        &mut self,
        i: usize,
        path: PathBuf,
        signal: Signal,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, WatchError> {
        let Ok(rel) = path.strip_prefix(&self.shared.inboxes[i]) else {
            return Ok(true);
        };
        if rel.as_os_str().is_empty() {
            return Ok(true);
        }
        if is_ignored(rel, &self.shared.globs) {
            WatchStats::add(&self.shared.stats.ignored, 1);
            return Ok(true);
        }
        // A stat is cheap enough to do inline; routing it through the blocking pool would
        // cost more than it takes.
        let meta = match self.shared.stat(i, &path) {
            Ok(meta) => meta,
            Err(error) => {
                if self.pending.remove(&path).is_some() {
                    debug!(path = %path.display(), %error, "file vanished before it settled; dropped");
                }
                return Ok(true);
            }
        };
        if meta.is_dir() {
            if matches!(signal, Signal::Created | Signal::MovedIn)
                && let Some(watch) = self.inboxes[i].watch.clone()
                && !watch.is_watched(&path)
            {
                // Files may have landed in the new folder before its watch existed; the walk
                // watches each folder before listing it, so nothing slips between the two.
                // Only the walk happens here; hashing a large folder inline would hold up
                // every other event for as long as it takes.
                return Ok(self
                    .scan(
                        i,
                        path,
                        (DiscoveryKind::Watch, ScanMode::Walk),
                        Some(watch),
                        None,
                        stop,
                    )
                    .await?
                    .is_some());
            }
            return Ok(true);
        }
        if !meta.is_file() {
            return Ok(true);
        }
        let stamp = Stamp::from_metadata(&meta);
        let settle_at = Instant::now() + self.shared.settle;
        let entry = self.pending.entry(path.clone()).or_insert(Pending {
            inbox: i,
            stamp: None,
            deadline: None,
            awaiting_close: false,
            created_only: signal == Signal::Created,
            kind: DiscoveryKind::Watch,
        });
        match signal {
            Signal::Written => {
                entry.awaiting_close = true;
                entry.created_only = false;
            }
            Signal::Closed | Signal::MovedIn => {
                entry.awaiting_close = false;
                entry.created_only = false;
            }
            Signal::Created | Signal::Attrib => {}
        }
        if entry.stamp != Some(stamp)
            || matches!(signal, Signal::Closed | Signal::MovedIn)
            || entry.deadline.is_none()
        {
            entry.stamp = Some(stamp);
            self.timers.arm(&path, &mut entry.deadline, settle_at);
        }
        Ok(true)
    }

    /// A path was deleted or moved away: forget it and, if it was a folder, all below it.
    fn gone(&mut self, i: usize, path: &Path) {
        if path == self.shared.inboxes[i] {
            warn!(inbox = %path.display(), "inbox folder was removed or moved; polling for it instead");
            if let Some(watch) = self.inboxes[i].watch.take() {
                drop(watch);
                WatchStats::add(&self.shared.stats.polling_inboxes, 1);
            }
            return;
        }
        if self.pending.contains_key(path) {
            debug!(path = %path.display(), "file removed before it settled; dropped");
        }
        if let Some(watch) = &self.inboxes[i].watch {
            watch.unwatch_tree(path);
        }
        remove_tree(&mut self.pending, path);
        self.reported.remove_tree(path);
    }

    async fn fire_due(&mut self) -> Result<(), WatchError> {
        // Firing one file never changes another's deadline, so taking them all first is safe.
        for path in self.timers.take_due(Instant::now(), &self.pending) {
            self.fire(path).await?;
        }
        Ok(())
    }

    /// A settle timer ran out: the file is ready if its inode did not change meanwhile.
    async fn fire(&mut self, path: PathBuf) -> Result<(), WatchError> {
        let settle_at = Instant::now() + self.shared.settle;
        let Some(p) = self.pending.get_mut(&path) else {
            return Ok(());
        };
        if self.queued.contains(&path) {
            self.timers.arm(&path, &mut p.deadline, settle_at);
            return Ok(());
        }
        let meta = match self.shared.stat(p.inbox, &path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => {
                self.pending.remove(&path);
                return Ok(());
            }
            Err(error) => {
                debug!(path = %path.display(), %error, "file vanished before it settled; dropped");
                self.pending.remove(&path);
                return Ok(());
            }
        };
        let stamp = Stamp::from_metadata(&meta);
        if p.stamp != Some(stamp) {
            p.stamp = Some(stamp);
            self.timers.arm(&path, &mut p.deadline, settle_at);
            return Ok(());
        }
        if p.created_only && stamp.id.size == 0 {
            p.deadline = None;
            return Ok(());
        }
        // Written and quiet for `settle`, but no close seen: `truncate(2)` and writes through
        // a descriptor kept open look like this. The hash's writer probe decides: a file
        // still open for writing (or, with `awaiting_close`, one it cannot tell about) goes
        // back to waiting and is looked at again after another `settle`.
        let (inbox, kind, awaiting_close) = (p.inbox, p.kind, p.awaiting_close);
        self.pending.remove(&path);
        if self.reported.covers(&path, &stamp) {
            trace!(path = %path.display(), "unchanged since it was emitted");
            return Ok(());
        }
        let mut c = Candidate::new(inbox, path, &meta, kind);
        c.awaiting_close = awaiting_close;
        if let Some(asset_id) = self.shared.cache.lookup(&c.stamp.id) {
            WatchStats::add(&self.shared.stats.cache_hits, 1);
            WatchStats::add(&self.shared.stats.bytes_known, c.stamp.id.size);
            self.reported.insert(&c.path, Reported::new(c.stamp, false));
            send(&self.tx, discovered_item(&self.shared, &c, asset_id, false)).await
        } else {
            self.queued.insert(c.path.clone());
            self.ready.push_back(c);
            Ok(())
        }
    }

    fn dispatch(&mut self) {
        while self.jobs.len() < self.shared.concurrency {
            let Some(c) = self.ready.pop_front() else {
                return;
            };
            self.jobs.spawn(hash_job(self.shared.clone(), c));
        }
    }

    /// Puts a candidate back to pending, to be hashed once it has settled again (still
    /// waiting for a close if it was). Always with a deadline: nothing else may ever come
    /// for it (a `truncate(2)` sends no close).
    fn settle_again(&mut self, c: Candidate) {
        let settle_at = Instant::now() + self.shared.settle;
        let p = self.pending.entry(c.path.clone()).or_insert(Pending {
            inbox: c.inbox,
            stamp: None,
            deadline: None,
            awaiting_close: c.awaiting_close,
            created_only: false,
            kind: c.kind,
        });
        if p.deadline.is_none() {
            self.timers.arm(&c.path, &mut p.deadline, settle_at);
        }
    }

    async fn hashed(&mut self, c: Candidate, outcome: HashOutcome) -> Result<(), WatchError> {
        self.queued.remove(&c.path);
        match outcome {
            HashOutcome::Done { hash, settled } => {
                let fresh = Reported::new(c.stamp, false);
                if self.reported.insert(&c.path, fresh) {
                    trace!(path = %c.path.display(), "already emitted in this version");
                    return Ok(());
                }
                let item = discovered_item(&self.shared, &c, hash.to_hex().to_string(), true)
                    .with_settled(settled);
                send(&self.tx, item).await
            }
            HashOutcome::Changed | HashOutcome::InUse => {
                debug!(path = %c.path.display(), "file changed while being hashed, or is still open for writing; waiting for it to settle again");
                self.settle_again(c);
                Ok(())
            }
            HashOutcome::Gone => {
                // Its folder may have moved out and back while it was being hashed: the walk of
                // the returning folder skipped it as queued, so it is tracked again here.
                if self
                    .shared
                    .stat(c.inbox, &c.path)
                    .is_ok_and(|m| m.is_file())
                {
                    debug!(path = %c.path.display(), "file was away while being hashed and is back; waiting for it to settle again");
                    self.settle_again(c);
                } else {
                    debug!(path = %c.path.display(), "file vanished while being hashed; dropped");
                }
                Ok(())
            }
            HashOutcome::Failed(error) => {
                self.reported.insert(&c.path, Reported::new(c.stamp, true));
                send(
                    &self.tx,
                    failed_item(&self.shared, &c.path, c.inbox, &error),
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::model::{FileIdentity, IdentityCache};
    use crate::{WatchConfig, Watcher};

    fn waiting(pending: &mut BTreeMap<PathBuf, Pending>, path: &str) -> PathBuf {
        let path = PathBuf::from(path);
        pending.insert(
            path.clone(),
            Pending {
                inbox: 0,
                stamp: None,
                deadline: None,
                awaiting_close: false,
                created_only: false,
                kind: DiscoveryKind::Watch,
            },
        );
        path
    }

    fn arm(
        timers: &mut Timers,
        pending: &mut BTreeMap<PathBuf, Pending>,
        path: &Path,
        at: Instant,
    ) {
        let p = pending.get_mut(path).unwrap();
        timers.arm(path, &mut p.deadline, at);
    }

    #[test]
    fn timers_give_live_deadlines_in_order_and_drop_stale_ones() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut pending = BTreeMap::new();
        let mut timers = Timers::default();
        let (a, b, c, d) = (
            waiting(&mut pending, "/i/a"),
            waiting(&mut pending, "/i/b"),
            waiting(&mut pending, "/i/c"),
            waiting(&mut pending, "/i/d"),
        );
        arm(&mut timers, &mut pending, &a, ms(10));
        arm(&mut timers, &mut pending, &b, ms(20));
        arm(&mut timers, &mut pending, &c, ms(5));
        arm(&mut timers, &mut pending, &d, ms(1));
        // a moves later, c stops waiting for a deadline (awaiting its close), d leaves.
        arm(&mut timers, &mut pending, &a, ms(30));
        pending.get_mut(&c).unwrap().deadline = None;
        pending.remove(&d);
        // The same deadline armed twice is still taken once.
        arm(&mut timers, &mut pending, &b, ms(20));
        assert_eq!(timers.next(&pending), Some(ms(20)));
        assert!(timers.take_due(ms(19), &pending).is_empty());
        assert_eq!(timers.take_due(ms(25), &pending), vec![b.clone()]);
        assert_eq!(timers.next(&pending), Some(ms(30)));
        // Re-armed with the very deadline just taken (a zero settle): queued again.
        arm(&mut timers, &mut pending, &b, ms(20));
        assert_eq!(timers.take_due(ms(40), &pending), vec![b, a]);
        assert_eq!(timers.next(&pending), None);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn timers_take_due_files_earliest_first() {
        let t0 = Instant::now();
        let mut pending = BTreeMap::new();
        let mut timers = Timers::default();
        let mut expected = Vec::new();
        // Armed in reverse order of deadline, with each path also armed once earlier.
        for n in (0..100u64).rev() {
            let path = waiting(&mut pending, &format!("/i/{n:03}"));
            arm(&mut timers, &mut pending, &path, t0);
            arm(
                &mut timers,
                &mut pending,
                &path,
                t0 + Duration::from_millis(n),
            );
            expected.push(path);
        }
        expected.reverse();
        let due = timers.take_due(t0 + Duration::from_millis(49), &pending);
        assert_eq!(due, expected[..50]);
        assert_eq!(timers.next(&pending), Some(t0 + Duration::from_millis(50)));
    }

    struct NoCache;

    impl IdentityCache for NoCache {
        fn lookup(&self, _: &FileIdentity) -> Option<String> {
            None
        }
    }

    /// Regression: a folder moved into the inbox was hashed file by file before the loop
    /// looked at its next event. Its files must come out of the walk queued for hashing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn folder_moved_in_is_walked_and_its_files_queued_not_hashed_inline() {
        let tmp = tempfile::tempdir().unwrap();
        let inbox = tmp.path().join("inbox");
        let outside = tmp.path().join("batch");
        std::fs::create_dir(&inbox).unwrap();
        std::fs::create_dir(&outside).unwrap();
        let n = 50;
        for i in 0..n {
            std::fs::write(outside.join(format!("{i}.png")), format!("file {i}")).unwrap();
        }
        let config = WatchConfig {
            inboxes: vec![inbox.clone()],
            // Every file counts as settled at once, so none is held back as still changing.
            settle: Duration::ZERO,
            hash_concurrency: 1,
            ..WatchConfig::default()
        };
        let w = Watcher::new(config, Arc::new(NoCache)).unwrap();
        let stats = w.stats();
        let (tx, mut rx) = mpsc::channel(4 * n);
        let mut runner = Runner::new(w.shared.clone(), tx);
        let (_stop_tx, mut stop) = watch::channel(false);
        let moved = inbox.join("batch");
        std::fs::rename(&outside, &moved).unwrap();

        assert!(
            runner
                .touch(0, moved, Signal::MovedIn, &mut stop)
                .await
                .unwrap()
        );
        assert_eq!(runner.ready.len(), n);
        assert_eq!(runner.queued.len(), n);
        assert_eq!(stats.files_hashed.load(Ordering::Relaxed), 0);
        assert!(rx.try_recv().is_err(), "nothing is emitted by the walk");

        // The loop's ordinary hashing path then emits each file once.
        runner.dispatch();
        while let Some(done) = runner.jobs.join_next().await {
            let (c, outcome) = done.unwrap();
            runner.hashed(c, outcome).await.unwrap();
            runner.dispatch();
        }
        let mut found = HashSet::new();
        while let Ok(item) = rx.try_recv() {
            let WatchItem::Discovered(d) = item else {
                panic!("unexpected item {item:?}");
            };
            assert_eq!(d.kind, DiscoveryKind::Watch);
            assert!(d.hashed);
            let i: usize = d
                .path
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                d.asset_id,
                blake3::hash(format!("file {i}").as_bytes())
                    .to_hex()
                    .to_string()
            );
            assert!(found.insert(d.path));
        }
        assert_eq!(found.len(), n);
        assert!(runner.queued.is_empty());
        assert_eq!(runner.reported.len(), n);
    }

    /// A folder moved out and back while one of its walked files was being hashed: the file
    /// must be tracked again (it was lost until a restart).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_whose_folder_moved_out_and_back_during_hashing_is_tracked_again() {
        let tmp = tempfile::tempdir().unwrap();
        let inbox = tmp.path().join("inbox");
        let outside = tmp.path().join("batch");
        let away = tmp.path().join("away");
        std::fs::create_dir(&inbox).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("f.png"), b"data").unwrap();
        let config = WatchConfig {
            inboxes: vec![inbox.clone()],
            settle: Duration::ZERO,
            hash_concurrency: 1,
            ..WatchConfig::default()
        };
        let w = Watcher::new(config, Arc::new(NoCache)).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let mut runner = Runner::new(w.shared.clone(), tx);
        let (_stop_tx, mut stop) = watch::channel(false);
        let moved = inbox.join("batch");
        std::fs::rename(&outside, &moved).unwrap();
        assert!(
            runner
                .touch(0, moved.clone(), Signal::MovedIn, &mut stop)
                .await
                .unwrap()
        );
        assert_eq!(runner.ready.len(), 1);
        // The folder leaves (its MovedFrom is handled); the hash job runs while it is away.
        std::fs::rename(&moved, &away).unwrap();
        runner.gone(0, &moved);
        runner.dispatch();
        let (c, outcome) = runner.jobs.join_next().await.unwrap().unwrap();
        assert!(matches!(outcome, HashOutcome::Gone));
        // It comes back, and its MovedTo is handled before the job's result.
        std::fs::rename(&away, &moved).unwrap();
        assert!(
            runner
                .touch(0, moved.clone(), Signal::MovedIn, &mut stop)
                .await
                .unwrap()
        );
        runner.hashed(c, outcome).await.unwrap();
        let f = moved.join("f.png");
        assert!(rx.try_recv().is_err());
        assert!(
            runner.pending.contains_key(&f)
                || runner.queued.contains(&f)
                || runner.reported.contains(&f),
            "a file back in the inbox is tracked nowhere: it would never be emitted"
        );
    }
}
