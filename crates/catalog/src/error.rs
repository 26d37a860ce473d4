//! Catalog errors: each says which catalog file, what failed, and what to do about it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::ErrorCode;

use crate::OpState;

/// Everything that can go wrong in the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The database file could not be opened or created.
    #[error(
        "cannot open catalog {}: {source}; check that the state directory exists and is writable by this user",
        .path.display()
    )]
    Open {
        /// The catalog file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// A read-only open found no catalog (the daemon never ran with this state directory).
    #[error(
        "catalog {} does not exist or cannot be read ({source}); start the daemon once to create it, or check state_dir",
        .path.display()
    )]
    Missing {
        /// The catalog file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// The file is not a SQLite database or is damaged.
    #[error(
        "catalog {} is not a usable SQLite database ({source}); stop alice, move the file aside and restart to rebuild it",
        .path.display()
    )]
    Corrupt {
        /// The catalog file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// SQLite would not switch the catalog to WAL mode.
    #[error(
        "catalog {} cannot use WAL journaling (journal_mode stayed {mode:?}); keep the state directory on a local filesystem",
        .path.display()
    )]
    NoWal {
        /// The catalog file.
        path: PathBuf,
        /// The journal mode SQLite reported instead of `wal`.
        mode: String,
    },

    /// The catalog was written by a newer alice.
    #[error(
        "catalog {} has schema version {found}, but this alice only knows versions up to {supported}; upgrade alice",
        .path.display()
    )]
    TooNew {
        /// The catalog file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// A read-only open, or [`Catalog::open_current`](crate::Catalog::open_current), found a
    /// catalog that still needs migrating (they never migrate).
    #[error(
        "catalog {} has schema version {found}, older than this alice ({supported}); start (or restart) the daemon with this version once so it upgrades the catalog",
        .path.display()
    )]
    NeedsMigration {
        /// The catalog file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The version this build needs.
        supported: i64,
    },

    /// One migration step failed; its transaction was rolled back.
    #[error(
        "catalog {}: migration to schema version {version} failed ({source}); the catalog was left at the previous version, unchanged by this step; please report this as a bug",
        .path.display()
    )]
    Migration {
        /// The catalog file.
        path: PathBuf,
        /// The version the failed step would have produced.
        version: i64,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// Another connection held the write lock past the busy timeout.
    #[error(
        "catalog {} is locked by another process for more than {} s ({op}); check for a stuck alice process (`fuser {}`) and retry",
        .path.display(), .waited.as_secs(), .path.display()
    )]
    Busy {
        /// The catalog file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// How long SQLite waited for the lock.
        waited: Duration,
    },

    /// A write was attempted through [`Catalog::open_readonly`](crate::Catalog::open_readonly).
    #[error(
        "catalog {} is open read-only, but {op} writes; only the daemon's read-write catalog can do that",
        .path.display()
    )]
    ReadOnly {
        /// The catalog file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
    },

    /// The disk holding the catalog is full.
    #[error("catalog {}: disk full during {op}; free space in the state directory", .path.display())]
    DiskFull {
        /// The catalog file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
    },

    /// Any other SQLite failure.
    #[error("catalog {}: {op} failed: {source}", .path.display())]
    Sqlite {
        /// The catalog file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// A stored value cannot be decoded (written by a newer or broken alice).
    #[error(
        "catalog {}: stored {what} of {key} cannot be read ({detail}); it was written by a newer or broken alice: upgrade alice",
        .path.display()
    )]
    BadRow {
        /// The catalog file.
        path: PathBuf,
        /// Which value.
        what: &'static str,
        /// Which row (asset id, op id, …).
        key: String,
        /// What is wrong with it.
        detail: String,
    },

    /// Media metadata could not be encoded as JSON.
    #[error("catalog {}: cannot encode the metadata of asset {asset_id}: {source}", .path.display())]
    Encode {
        /// The catalog file.
        path: PathBuf,
        /// The asset.
        asset_id: String,
        /// What serde_json reported.
        source: serde_json::Error,
    },

    /// `create_project` with a name that exists.
    #[error(
        "catalog {}: project {name:?} already exists; pick another name, or switch to it with `alice project use {name}`",
        .path.display()
    )]
    ProjectExists {
        /// The catalog file.
        path: PathBuf,
        /// The project name.
        name: String,
    },

    /// A project name that is empty or only whitespace.
    #[error("catalog {}: a project name must not be empty", .path.display())]
    EmptyProjectName {
        /// The catalog file.
        path: PathBuf,
    },

    /// An operation id that is not in the journal.
    #[error("catalog {}: there is no operation {op_id} in the journal", .path.display())]
    UnknownOp {
        /// The catalog file.
        path: PathBuf,
        /// The operation id.
        op_id: i64,
    },

    /// A journal state transition that is not allowed (e.g. finishing an abandoned operation).
    #[error(
        "catalog {}: operation {op_id} is {state}, but {op} needs it to be {expected}",
        .path.display()
    )]
    OpState {
        /// The catalog file.
        path: PathBuf,
        /// The operation id.
        op_id: i64,
        /// Its current state.
        state: OpState,
        /// The state(s) the call needs.
        expected: &'static str,
        /// The call.
        op: &'static str,
    },

    /// A placement names an operation that was begun for another asset.
    #[error(
        "catalog {}: operation {op_id} was begun for asset {op_asset}, not for {asset_id}; this is a bug in the caller",
        .path.display()
    )]
    OpAssetMismatch {
        /// The catalog file.
        path: PathBuf,
        /// The operation id.
        op_id: i64,
        /// The asset the operation was begun for.
        op_asset: String,
        /// The asset the placement named.
        asset_id: String,
    },

    /// The asset is already organized at another path: the dedup index refuses a second copy.
    #[error(
        "catalog {}: asset {asset_id} is already organized at {}; refusing to record a second organized copy at {}",
        .path.display(), .existing.display(), .requested.display()
    )]
    AlreadyOrganized {
        /// The catalog file.
        path: PathBuf,
        /// The asset.
        asset_id: String,
        /// Where it is organized.
        existing: PathBuf,
        /// Where the placement wanted to record it.
        requested: PathBuf,
    },

    /// The destination is the organized path of a different asset.
    #[error(
        "catalog {}: {} is already the organized path of asset {other}; a placement never takes over another asset's path",
        .path.display(), .destination.display()
    )]
    DestinationTaken {
        /// The catalog file.
        path: PathBuf,
        /// The contested destination.
        destination: PathBuf,
        /// The asset that owns it.
        other: String,
    },

    /// `mark_status` with a status it cannot set.
    #[error(
        "catalog {}: mark_status cannot set status {status:?}; an asset becomes organized only through complete_placement",
        .path.display()
    )]
    InvalidStatus {
        /// The catalog file.
        path: PathBuf,
        /// The refused status.
        status: &'static str,
    },
}

/// Maps a SQLite error to the most useful [`CatalogError`] for `path` and `op`.
pub(crate) fn db_err(path: &Path, op: &'static str, source: rusqlite::Error) -> CatalogError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CatalogError::Busy {
            path,
            op,
            waited: crate::BUSY_TIMEOUT,
        },
        Some(ErrorCode::ReadOnly) => CatalogError::ReadOnly { path, op },
        Some(ErrorCode::DiskFull) => CatalogError::DiskFull { path, op },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            CatalogError::Corrupt { path, source }
        }
        _ => CatalogError::Sqlite { path, op, source },
    }
}
