//! One inotify instance per inbox, with one non-recursive watch per folder.
//!
//! Folders are watched one by one (not with notify's recursive mode) so that the walker can
//! add a folder's watch *before* listing it: a file created in a brand-new folder is then
//! either listed or reported by an event, never neither. It also keeps watches out of
//! ignored folders and off symlinks, and lets the walker bound depth.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::model::WatchStats;

/// A notify callback result, tagged with the inbox it belongs to.
pub(crate) struct Raw {
    pub inbox: usize,
    pub event: notify::Result<Event>,
}

/// The watches of one inbox. Dropping it closes the inotify instance and frees its watches.
pub(crate) struct WatchHandle {
    inner: Mutex<Inner>,
    limit: Option<usize>,
    stats: Arc<WatchStats>,
}

struct Inner {
    watcher: RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl WatchHandle {
    /// Starts an inotify instance whose events go to `raw`. The callback runs on notify's
    /// thread and must not block (the run loop calls `watch` while holding events back), so
    /// a full queue is not waited on: the event is dropped and `overflow` set, which makes
    /// the run loop rescan the inbox, exactly as for a kernel queue overflow.
    pub(crate) fn new(
        inbox: usize,
        raw: mpsc::Sender<Raw>,
        overflow: Arc<AtomicBool>,
        limit: Option<usize>,
        stats: Arc<WatchStats>,
    ) -> notify::Result<Self> {
        let handler = move |event: notify::Result<Event>| {
            if let Ok(ev) = &event
                && is_read_noise(&ev.kind)
            {
                return;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = raw.try_send(Raw { inbox, event }) {
                overflow.store(true, Ordering::Release);
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher = RecommendedWatcher::new(handler, config)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                watcher,
                dirs: BTreeSet::new(),
            }),
            limit,
            stats,
        })
    }

    /// Watches `dir` (not its subfolders) unless already watched. Past the configured limit
    /// this fails with the same `MaxFilesWatch` error the kernel limit produces.
    pub(crate) fn watch_dir(&self, dir: &Path) -> notify::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.dirs.contains(dir) {
            return Ok(());
        }
        if self.limit.is_some_and(|limit| inner.dirs.len() >= limit) {
            return Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch).add_path(dir.into()));
        }
        inner.watcher.watch(dir, RecursiveMode::NonRecursive)?;
        inner.dirs.insert(dir.to_path_buf());
        WatchStats::add(&self.stats.watches, 1);
        Ok(())
    }

    /// True if `dir` is watched.
    pub(crate) fn is_watched(&self, dir: &Path) -> bool {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.dirs.contains(dir)
    }

    /// Drops the watches of `prefix` and every folder below it (it was removed or moved away;
    /// watches of a moved-away tree would otherwise report stale paths and use up the limit).
    pub(crate) fn unwatch_tree(&self, prefix: &Path) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<PathBuf> = inner
            .dirs
            .range(prefix.to_path_buf()..)
            .take_while(|d| d.starts_with(prefix))
            .cloned()
            .collect();
        for dir in doomed {
            // NotFound is expected: inotify already dropped the watch of a deleted folder.
            if let Err(error) = inner.watcher.unwatch(&dir) {
                tracing::trace!(dir = %dir.display(), %error, "unwatch");
            }
            inner.dirs.remove(&dir);
            WatchStats::sub(&self.stats.watches, 1);
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        WatchStats::sub(&self.stats.watches, inner.dirs.len() as u64);
    }
}

/// Opens and read-only closes carry no information about writers, and our own hashing
/// produces them for every file; dropping them early keeps the queue for what matters.
fn is_read_noise(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(AccessKind::Open(_))
            | EventKind::Access(AccessKind::Read)
            | EventKind::Access(AccessKind::Close(AccessMode::Read))
            | EventKind::Access(AccessKind::Close(AccessMode::Execute))
    )
}

/// True when `err` means the inotify watch limit (`fs.inotify.max_user_watches`) is
/// exhausted, however notify chose to report it.
pub(crate) fn is_watch_limit(err: &notify::Error) -> bool {
    match &err.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(libc::ENOSPC),
        notify::ErrorKind::Generic(msg) => msg.contains("No space left on device"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_watch_limit_error_is_recognised() {
        assert!(is_watch_limit(&notify::Error::new(
            notify::ErrorKind::MaxFilesWatch
        )));
        assert!(is_watch_limit(&notify::Error::io(
            std::io::Error::from_raw_os_error(libc::ENOSPC)
        )));
        assert!(is_watch_limit(&notify::Error::generic(
            "No space left on device (os error 28)"
        )));
        assert!(!is_watch_limit(&notify::Error::path_not_found()));
        assert!(!is_watch_limit(&notify::Error::io(
            std::io::Error::from_raw_os_error(libc::EACCES)
        )));
    }
}
