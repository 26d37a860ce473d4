//! Settings and errors.

use std::path::PathBuf;
use std::time::Duration;

/// Settings for a [`Watcher`](crate::Watcher). The binary builds this from its config file;
/// the crate never reads files, environment or flags itself.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Inbox folders to watch. Each must be an existing directory; none may contain another.
    /// Relative paths are made absolute against the current directory (symlinks in the inbox
    /// path itself are kept as given, so emitted paths start with exactly this prefix).
    pub inboxes: Vec<PathBuf>,
    /// How long a file's size, mtime and ctime must stay unchanged after its writer finished
    /// before it is hashed and emitted. Any change restarts the wait.
    pub settle: Duration,
    /// Extra ignore patterns (globset syntax, `*` also crosses `/`), matched against the path
    /// relative to the inbox and against each of its parent folders.
    pub ignore_globs: Vec<String>,
    /// At most this many files are hashed at once. Must be at least 1.
    pub hash_concurrency: usize,
    /// Interval between scans of an inbox that is polled instead of watched.
    pub poll_interval: Duration,
    /// Poll every inbox instead of using inotify (network filesystems, or to test the fallback).
    pub force_polling: bool,
    /// Upper bound on inotify watches (one per folder) per inbox. Reaching it has the same
    /// effect as the kernel's `fs.inotify.max_user_watches` limit: the inbox falls back to
    /// polling. `None` leaves only the kernel limit.
    pub max_watches: Option<usize>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            inboxes: Vec::new(),
            settle: Duration::from_millis(500),
            ignore_globs: Vec::new(),
            hash_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            poll_interval: Duration::from_secs(30),
            force_polling: false,
            max_watches: None,
        }
    }
}

/// Errors that stop the watcher (bad settings, a vanished consumer). Problems with single
/// files are not errors of this type: they are reported as [`WatchItem::Failed`](crate::WatchItem::Failed).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A setting is out of range.
    #[error("invalid watcher setting `{setting}`: {reason}")]
    InvalidConfig {
        /// Name of the [`WatchConfig`] field.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// An ignore pattern does not parse.
    #[error("invalid ignore glob {glob:?}: {source}; fix or remove it in `ignore_globs`")]
    BadGlob {
        /// The pattern as configured.
        glob: String,
        /// Parser error.
        #[source]
        source: globset::Error,
    },
    /// An inbox does not exist or is not a readable directory.
    #[error("inbox {} is not usable: {source}; create it or fix the path in the config", path.display())]
    InboxUnavailable {
        /// The inbox path.
        path: PathBuf,
        /// Why it could not be used.
        #[source]
        source: std::io::Error,
    },
    /// One inbox lies inside another, so files would be seen twice.
    #[error("inbox {} lies inside inbox {}; configure only the outer one", inner.display(), outer.display())]
    InboxesOverlap {
        /// The containing inbox.
        outer: PathBuf,
        /// The contained inbox.
        inner: PathBuf,
    },
    /// The inotify instance for an inbox could not be created (often `fs.inotify.max_user_instances`).
    #[error(
        "cannot start watching inbox {}: {source}; raise the sysctl fs.inotify.max_user_instances or set force_polling",
        inbox.display()
    )]
    Notify {
        /// The inbox.
        inbox: PathBuf,
        /// The error from notify.
        #[source]
        source: notify::Error,
    },
    /// The receiver of [`WatchItem`](crate::WatchItem)s was dropped; nothing more can be delivered.
    #[error("the consumer of watch items went away")]
    ReceiverClosed,
}
