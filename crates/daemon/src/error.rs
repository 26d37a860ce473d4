//! The daemon's errors, split as its callers need them.
//!
//! - [`Error`] is **critical**: the daemon (or a worker, or a one-shot command) cannot start
//!   or cannot go on, and the process should exit with the message. Every variant names what
//!   failed and, where there is one, the config key or file and what to do.
//! - Recoverable problems never surface as `Error`: a file that cannot be organized is an
//!   `AssetFailed` event; a rejected config edit is [`crate::ReloadOutcome::Rejected`] (the
//!   running config stays); a bad control request is answered with
//!   [`crate::control::Response::Error`]; an unreachable Redis is logged and spooled.

use std::path::{Path, PathBuf};

/// A failure that stops the daemon, a worker or a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config is not acceptable; the message names the key and what to do.
    #[error("{0}")]
    Config(String),
    /// A file or folder operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create folder", …), with the config key if any.
        what: String,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds a lock this one needs.
    #[error("{0}")]
    Busy(String),
    /// No daemon answers on the control socket, or it refused the request.
    #[error("{0}")]
    Control(String),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// The pipeline failed as a whole.
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    /// The watcher could not start or stopped.
    #[error(transparent)]
    Watch(#[from] watcher::WatchError),
    /// Redis failed where it is required (owner check, worker start).
    #[error(transparent)]
    Streams(#[from] streams::Error),
    /// A background task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with what was being done and where.
    pub fn io(what: impl Into<String>, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Task(e.to_string())
    }
}

/// Adds "what was being done, to which path" to an I/O result.
pub(crate) trait IoContext<T> {
    fn at(self, what: impl FnOnce() -> String, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, what: impl FnOnce() -> String, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(what(), path, e))
    }
}
