//! Errors of the Redis side.

use std::path::PathBuf;

/// What failed, against which Redis (URL redacted) or which spool file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured URL cannot be parsed.
    #[error("invalid Redis URL {url}: {source}; expected redis://[user:password@]host[:port][/db]")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What the redis client said.
        source: redis::RedisError,
    },
    /// A Redis command (or connecting) failed; the caller may retry, the next call reconnects.
    #[error("Redis {op} at {url} failed: {source}; is redis-server running and reachable?")]
    Redis {
        /// The command or step, e.g. `XREADGROUP`.
        op: &'static str,
        /// The URL, password masked.
        url: String,
        /// What the redis client said.
        source: redis::RedisError,
    },
    /// Redis answered with something this crate does not understand.
    #[error("unexpected reply to {op} from {url}: {detail}")]
    Reply {
        /// The command.
        op: &'static str,
        /// The URL, password masked.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Reading or writing the local spool failed: events cannot be kept while Redis is down.
    #[error(
        "spool {path}: {op} failed: {source}; check that the state directory is writable and not full"
    )]
    Spool {
        /// The spool file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer's background task is gone (the runtime is shutting down).
    #[error("the Redis stream writer has stopped; no more events can be appended")]
    WriterStopped,
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
