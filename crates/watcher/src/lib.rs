//! Inbox watching, reconciliation scans, write-completion detection and BLAKE3 hashing.
//!
//! The watcher finds *finished* files in inbox folders and identifies them by content. It
//! produces [`WatchItem`]s on a bounded channel; it never decides where files go and knows
//! nothing of the bus or the catalog (the catalog only appears as an [`IdentityCache`]).
//!
//! # Guarantees
//!
//! - A file is emitted only after its writer is done: a close-after-write, a rename into the
//!   inbox, or a create with no writes, followed by `settle` without any change of size,
//!   mtime or ctime. After hashing, the file is checked again; if it changed, the hash is
//!   discarded and the file waits to settle again.
//! - Each version of a file (by [`FileIdentity`]) is emitted once per path while the
//!   watcher runs; a changed file is emitted again.
//! - Symlinks are never followed (neither by scans nor by watches, nor when opening a file to
//!   hash it): each inbox is opened once as an [`fsroot::Root`] and every folder, file and
//!   stat below it is resolved beneath that handle, so swapping a folder for a symlink while
//!   the watcher works never makes it read outside the inbox. Folder depth is bounded, so
//!   bind-mount loops cannot hang a scan.
//! - Folders given to [`Watcher::exclude`] (the organized tree, duplicates, quarantine)
//!   are never inbox input, wherever they turn up inside an inbox (matched by device and
//!   inode).
//! - A file changed without a close (`truncate(2)`, a writer that keeps it open) is picked up
//!   once it has been quiet for `settle` and no process has it open for writing.
//! - Paths are `PathBuf`s end to end: names that are not UTF-8 come out byte-exact.
//! - Files that vanish before they are emitted are dropped quietly (debug log); files that
//!   cannot be read are reported as [`WatchItem::Failed`].
//!
//! # Layout
//!
//! - `config`: [`WatchConfig`], [`WatchError`].
//! - `model`: the produced values ([`WatchItem`], [`Discovered`], …) and [`WatchStats`].
//! - `paths`: [`is_ignored`], [`ignore_set`], project of a path.
//! - `hash`: [`hash_file`] and the version-checked hashing used internally.
//! - `watch`: one inotify instance per inbox, one non-recursive watch per folder.
//! - `scan`: walking a tree and identifying candidates with bounded concurrency.
//! - `run`: the event loop behind [`Watcher::run`].

#![warn(missing_docs)]

mod config;
mod hash;
mod model;
mod paths;
mod reports;
mod run;
mod scan;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use fsroot::Root;
use tokio::sync::{Semaphore, mpsc, watch as signal};

pub use config::{WatchConfig, WatchError};
pub use hash::hash_file;
pub use model::{
    Discovered, DiscoveryKind, FileIdentity, IdentityCache, ScanCount, ScanReason, ScanSummary,
    WatchItem, WatchStats,
};
pub use paths::{ignore_set, is_ignored};

use scan::{NoHooks, Shared, count_tree, scan_tree, send, settle_deferred};

/// Watches a set of inboxes and reports finished files. Build it with [`Watcher::new`], then
/// either call [`Watcher::scan_once`] or hand it to [`Watcher::run`].
pub struct Watcher {
    shared: Arc<Shared>,
}

impl Watcher {
    /// Validates `config` (inboxes exist and do not nest, globs parse, limits are positive).
    /// Nothing is watched until [`Watcher::run`].
    pub fn new(config: WatchConfig, cache: Arc<dyn IdentityCache>) -> Result<Self, WatchError> {
        if config.inboxes.is_empty() {
            return Err(WatchError::InvalidConfig {
                setting: "inboxes",
                reason: "at least one inbox folder is required".into(),
            });
        }
        if config.hash_concurrency == 0 {
            return Err(WatchError::InvalidConfig {
                setting: "hash_concurrency",
                reason: "must be at least 1".into(),
            });
        }
        if config.poll_interval.is_zero() {
            return Err(WatchError::InvalidConfig {
                setting: "poll_interval",
                reason: "must be greater than zero".into(),
            });
        }
        let globs = ignore_set(&config.ignore_globs)?;
        let mut inboxes: Vec<PathBuf> = Vec::with_capacity(config.inboxes.len());
        let mut roots: Vec<Root> = Vec::with_capacity(config.inboxes.len());
        for inbox in &config.inboxes {
            let unavailable = |source| WatchError::InboxUnavailable {
                path: inbox.clone(),
                source,
            };
            let abs = std::path::absolute(inbox).map_err(unavailable)?;
            // The inbox path itself may be a symlink (the user chose it): it is resolved
            // once, here. Everything inside is reached through this handle, no symlink
            // followed.
            roots.push(Root::open(&abs).map_err(unavailable)?);
            if let Some(other) = inboxes
                .iter()
                .find(|o| abs.starts_with(o) || o.starts_with(&abs))
            {
                let (outer, inner) = if abs.starts_with(other) {
                    (other.clone(), abs)
                } else {
                    (abs, other.clone())
                };
                return Err(WatchError::InboxesOverlap { outer, inner });
            }
            inboxes.push(abs);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                inboxes,
                roots,
                exclude: Vec::new(),
                start_reason: ScanReason::Startup,
                excluded_seen: Default::default(),
                settle: config.settle,
                globs,
                cache,
                stats: Arc::new(WatchStats::default()),
                hash_slots: Arc::new(Semaphore::new(config.hash_concurrency)),
                concurrency: config.hash_concurrency,
                poll_interval: config.poll_interval,
                force_polling: config.force_polling,
                max_watches: config.max_watches,
            }),
        })
    }

    /// Folders that are never inbox input even when found inside an inbox: the organized
    /// tree, the duplicates and quarantine folders. Matched by device and inode as each walk
    /// descends, so a rename or a symlink does not hide them; one that does not exist yet is
    /// looked up again at every walk. Call before [`Watcher::run`] or [`Watcher::scan_once`].
    pub fn exclude(mut self, folders: Vec<PathBuf>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.exclude = folders;
        }
        self
    }

    /// Marks this watcher as a restart (new settings after a reload, or failed files tried
    /// again): its first scans report [`ScanReason::Restart`] instead of `Startup`.
    pub fn restarted(mut self) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.start_reason = ScanReason::Restart;
        }
        self
    }

    /// The inboxes as used in emitted paths (absolute).
    pub fn inboxes(&self) -> &[PathBuf] {
        &self.shared.inboxes
    }

    /// Live counters; they keep counting inside [`Watcher::run`].
    pub fn stats(&self) -> Arc<WatchStats> {
        self.shared.stats.clone()
    }

    /// One reconciliation pass over every inbox (for `alice scan`): emits every candidate
    /// file, from the identity cache or hashed, framed by `ScanStarted`/`ScanFinished`
    /// ([`ScanReason::Manual`], [`DiscoveryKind::Manual`]). Files still being written are
    /// waited for until they settle, so when this returns everything has been emitted.
    pub async fn scan_once(&self, tx: &mpsc::Sender<WatchItem>) -> Result<ScanSummary, WatchError> {
        let mut total = ScanSummary::default();
        for (i, inbox) in self.shared.inboxes.iter().enumerate() {
            let reason = ScanReason::Manual;
            send(
                tx,
                WatchItem::ScanStarted {
                    inbox: inbox.clone(),
                    reason,
                },
            )
            .await?;
            let tree = scan_tree(
                &self.shared,
                i,
                inbox.clone(),
                DiscoveryKind::Manual,
                None,
                tx,
                &mut NoHooks,
                None,
            )
            .await?;
            let mut summary = tree.summary;
            scan::leave_busy(&tree.busy, &mut summary);
            settle_deferred(&self.shared, tx, tree.deferred, &mut summary).await?;
            let files = summary.files;
            send(
                tx,
                WatchItem::ScanFinished {
                    inbox: inbox.clone(),
                    reason,
                    files,
                },
            )
            .await?;
            total += summary;
        }
        Ok(total)
    }

    /// Counts into `into`, as it walks, the files [`Watcher::scan_once`] will look at and
    /// their bytes, without reading any file: a progress display runs it beside the scan to
    /// know the totals early. Walks like the scan (same ignores, exclusions,
    /// depth bound, no symlink followed) and logs nothing. Files written meanwhile make the
    /// counts differ from the scan's.
    pub async fn count(&self, into: &ScanCount) {
        for i in 0..self.shared.inboxes.len() {
            count_tree(&self.shared, i, into).await;
        }
    }

    /// Watches every inbox until `shutdown` becomes `true` (or its sender is dropped).
    ///
    /// Each folder's watch is added before the folder is listed, then a reconciliation scan
    /// (`ScanStarted`/`ScanFinished` with [`ScanReason::Startup`]) emits what is already
    /// there, so nothing created during start-up is missed. Afterwards events drive
    /// write-completion detection; an event-queue overflow triggers another reconciliation
    /// ([`ScanReason::Overflow`]); an inbox that hits the inotify watch limit is logged as an
    /// error naming `fs.inotify.max_user_watches` and polled every `poll_interval`.
    /// Items are sent with `send().await`, so a slow consumer slows the watcher.
    ///
    /// Returns `Err(ReceiverClosed)` if `tx`'s receiver goes away.
    pub async fn run(
        self,
        tx: mpsc::Sender<WatchItem>,
        shutdown: signal::Receiver<bool>,
    ) -> Result<(), WatchError> {
        run::Runner::new(self.shared, tx).run(shutdown).await
    }
}
