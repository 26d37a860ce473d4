//! Embedded SQLite catalog: assets, file identities, sequences, operation journal, events.
//!
//! The catalog is one SQLite file in the instance's state directory (the caller passes the
//! path, e.g. `state_dir.join("catalog.sqlite3")`). The daemon opens it read-write with
//! [`Catalog::open`]; CLI commands read it concurrently with [`Catalog::open_readonly`].
//! [`Catalog`] is `Send + Sync` (a writing connection behind a mutex and, read-write, a second
//! one for reads, so lookups never wait for a commit); share it with an `Arc` and call it from
//! `spawn_blocking`.
//!
//! # Layout
//!
//! - `lib.rs`: opening, PRAGMAs, shared helpers and the small value enums.
//! - `schema.rs`: forward-only migrations tracked in `PRAGMA user_version`.
//! - `assets.rs`: asset records, the dedup index, status counts, [`Catalog::complete_placement`].
//! - `identities.rs`: the file-identity cache the watcher uses to avoid rehashing.
//! - `journal.rs`: the write-ahead operation log and sequences.
//! - `events.rs`: recorded events (idempotent on the event id).
//! - `context.rs`: creative context and projects.
//! - `sidecars.rs`: sidecar files journaled with the media they travel with.
//! - `search.rs`: full-text search (FTS5, bm25 ranking, snippets) with filters, [`Catalog::find`].
//! - `visual.rs`: thumbnails and fingerprints per asset ([`Catalog::fingerprints`],
//!   [`Catalog::unvisualized`]).
//! - `browse.rs`: read-only views for browsing: newest-first pages with a keyset cursor
//!   ([`Catalog::page`]), files organized per day, the values the filters can take.
//!
//! # Tables
//!
//! | table | key | holds |
//! |---|---|---|
//! | `assets` | `asset_id` (BLAKE3 hex; `id` is an internal rowid for FTS) | `status` (`discovered`, `organized`, `duplicate`, `skipped`, `failed`) and `status_reason`; `media` (the [`MediaInfo`](::events::media::MediaInfo) as JSON, without null members) with `media_type`, `format`, `taken_at` as virtual columns computed from it for queries (not stored); `source` label, `project`, `style`; `original_path` and `organized_path` (raw path bytes); `size`; `first_seen`, `updated_at`, `organized_at`; `op_id` of the placing operation (cleared by its undo). A CHECK ties `status = 'organized'` to a non-NULL `organized_path`, and a unique index makes an organized path belong to one asset. |
//! | `identities` | `path` (raw bytes; a `WITHOUT ROWID` table, so the path is its only B-tree) | `(dev, ino, size, mtime_ns, ctime_ns)` → `asset_id`. Not indexed on the identity: the daemon loads every identity into memory at start ([`Catalog::each_identity`]) and looks them up there. |
//! | `sequences` | `(project, source)` | `next_value`, the next number to hand out. |
//! | `journal` | `op_id` (AUTOINCREMENT: never reused) | `asset_id`, `kind` (`copy`, `move`, `duplicate-move`, `quarantine`, `undo`), `source_path`, `destination_path`, `mode`, `state` (`pending`, `done`, `undone`, `abandoned`), `created_at`, `finished_at`, `note`. Indexed by asset only for undos (`journal_undo`), by state only while pending (`journal_pending`). |
//! | `sidecars` | `id` | a sidecar file that travels with its media: `op_id` (the journal operation it is placed under), `asset_id` (its media), `sidecar_id` (its own BLAKE3), `kind`, `size`, `source_path`, `destination_path` (planned, then final), `state` (`pending`, `placed`, `abandoned`, `undone`), `created_at`, `finished_at`. |
//! | `events` | `event_id`; `seq` is the arrival order | `type`, `time`, `asset_id`, `asset` (the asset's `assets.id`, indexed: ids in discovery order keep an import's index writes on few pages; NULL for an event recorded before its asset had a row, found by `asset_id` then), `correlation_id`, `json` (the whole envelope), `recorded_at`. Bounded: events outside the [`HistoryWindow`] are folded into `assets.history` and deleted ([`Catalog::compact_history`]). |
//! | `context` | `key` (`active_project`, `active_style`) | `value`, `updated_at`. |
//! | `projects` | `name` | `description`, `created_at`. |
//! | `visual` | `asset_id` | what the visual stage learned: `rendered` (`image`, `video_poster`, `video_placeholder`, `unsupported_image`, or `failed` for a file it cannot decode), `reason`, `width`, `height`, `fingerprint` (the `visual` crate's bytes), `updated_at`. |
//! | `assets_fts` | rowid = `assets.id` | FTS5 over prompt, negative prompt, original file name, model, project, style, source, format; triggers note changed assets in `fts_dirty`, and every writing transaction re-indexes them just before it commits (one index segment per transaction). |
//!
//! The times of assets and operations (`assets.first_seen`, `updated_at`, `organized_at`,
//! `journal.created_at`, `finished_at`) are integer microseconds since the Unix epoch: they are
//! in every asset's row and index entries, where text took 30 bytes each. The others (events,
//! sidecars, context, visual) are RFC 3339 UTC text with nine fractional digits, so text order
//! is time order. Paths are stored as the raw bytes of the OS path (`OsStrExt`), so non-UTF-8 paths
//! round-trip exactly. Unsigned 64-bit values (device, inode, size) are stored bit for bit in
//! SQLite's signed 64-bit integers.
//!
//! # Durability
//!
//! The catalog runs in WAL mode with `synchronous=FULL`: every commit is fsynced before the
//! call returns. `NORMAL` would be durable against a process crash but not against power loss,
//! where the last commits can roll back. That would break the promises the pipeline builds on:
//! a `begin_op` row must exist before a file is placed (or the placed file is unaccounted
//! for), a `done` journal entry must not vanish after the source file was removed, and a
//! sequence number handed out must never be handed out again (it may already name a file on
//! disk). So the hot paths commit once per batch: [`Catalog::begin_ops`] and
//! [`Catalog::settle_ops`] for a batch of placements, [`Catalog::record_batch`] for events,
//! [`Catalog::remember_identities`] for identities.

#![warn(missing_docs)]

mod assets;
mod browse;
mod context;
mod error;
mod events;
mod history;
mod identities;
mod journal;
mod schema;
mod search;
mod sidecars;
mod visual;

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

pub use assets::{AssetRecord, AssetUpdate, Placement, StatusCounts};
pub use browse::{DayCount, FilterValues, PageKey};
pub use context::{ContextKey, CreativeContext, Project};
pub use error::CatalogError;
pub use events::{NewEvent, StoredEvent};
pub use history::{HistoryEntry, HistoryWindow};
pub use identities::{FileIdentity, KnownFile};
pub use journal::{NewOp, OpRecord, Settle};
pub use schema::SCHEMA_VERSION;
pub use search::{Edge, SearchHit, SearchQuery, Snippet, TimeBound, TimeBoundError};
pub use sidecars::{NewSidecar, SidecarRecord};
pub use visual::{RENDERED_FAILED, Unvisualized, VisualRecord};

use error::db_err;

/// How long a call waits for another connection's write lock before failing with
/// [`CatalogError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; comfortably more than the distinct statements
/// this crate issues, so hot paths never re-prepare.
const STATEMENT_CACHE: usize = 64;

/// Result alias for catalog calls.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// The catalog: one SQLite connection to the catalog file, shared behind a mutex.
#[derive(Debug)]
pub struct Catalog {
    conn: Mutex<Connection>,
    /// A read-write catalog's second connection, for reads: WAL lets it see the last
    /// committed state while the first one commits, so a lookup never waits for a commit's
    /// fsync (the event writer and the placement batches commit all the time).
    reader: Option<Mutex<Connection>>,
    path: PathBuf,
    read_only: bool,
    /// Bumped by every use of either connection: tells a caller deciding whether the catalog
    /// has gone idle (see [`Catalog::activity`]).
    activity: AtomicU64,
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` read-write and migrates it to
    /// [`SCHEMA_VERSION`]. Fails with [`CatalogError::TooNew`] for a catalog written by a
    /// newer alice.
    pub fn open(path: &Path) -> Result<Catalog> {
        Self::open_writer(path, true)
    }

    /// [`Catalog::open`] for a process that writes beside a running daemon (`alice worker`):
    /// it never migrates, and a catalog at an older schema is
    /// [`CatalogError::NeedsMigration`]. Only the daemon, which holds the state dir's lock,
    /// upgrades the catalog: upgraded under a daemon of the older version, the catalog would
    /// get rows that daemon writes in the old form (text times in integer columns).
    pub fn open_current(path: &Path) -> Result<Catalog> {
        Self::open_writer(path, false)
    }

    fn open_writer(path: &Path, upgrade: bool) -> Result<Catalog> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|source| {
            match source.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => CatalogError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                },
                _ => CatalogError::Open {
                    path: path.to_path_buf(),
                    source,
                },
            }
        })?;
        // The busy timeout goes first: switching to WAL and migrating both need the lock.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err(path, "setting the busy timeout", e))?;
        // Before anything writes the file (switching to WAL does): only a new, empty
        // catalog takes it. Pages freed by history compaction then go back to the file system.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(|e| db_err(path, "setting incremental auto-vacuum", e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| db_err(path, "switching to WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CatalogError::NoWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        // FULL, not NORMAL: see "Durability" in the crate docs.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| db_err(path, "setting synchronous=FULL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| db_err(path, "enabling foreign keys", e))?;
        keep_temporaries_in_memory(&conn, path)?;
        tune_writer(&conn, path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if upgrade {
            schema::migrate(&mut conn, path)?;
        } else {
            schema::require_current(&conn, path)?;
        }
        let reader =
            Connection::open_with_flags(path, flags).map_err(|source| CatalogError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .and_then(|()| reader.pragma_update(None, "query_only", "ON"))
            .and_then(|()| reader.pragma_update(None, "cache_size", "-8192"))
            .map_err(|e| db_err(path, "opening the reading connection", e))?;
        keep_temporaries_in_memory(&reader, path)?;
        reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        tracing::debug!(catalog = %path.display(), version = SCHEMA_VERSION, "catalog opened");
        Ok(Catalog {
            conn: Mutex::new(conn),
            reader: Some(Mutex::new(reader)),
            path: path.to_path_buf(),
            read_only: false,
            activity: AtomicU64::new(0),
        })
    }

    /// Opens an existing catalog read-only, for CLI readers while the daemon runs: WAL lets
    /// them read the last committed state without blocking the writer. Never creates or
    /// migrates; a catalog that needs migrating is [`CatalogError::NeedsMigration`].
    pub fn open_readonly(path: &Path) -> Result<Catalog> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_reader(path, path.as_os_str().to_owned(), flags)
    }

    /// Opens a catalog that no process is writing as an immutable snapshot: nothing at all is
    /// written or created next to it (a plain read-only open of a WAL database creates its
    /// `-shm` file). For `alice scan --dry-run` with the daemon stopped. Transactions still in
    /// a `-wal` file left by a crash are not seen; the next real start recovers them.
    pub fn open_snapshot(path: &Path) -> Result<Catalog> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut uri = std::ffi::OsString::from("file:");
        uri.push(uri_escape(path));
        uri.push("?immutable=1");
        Self::open_reader(path, uri, flags)
    }

    fn open_reader(path: &Path, target: std::ffi::OsString, flags: OpenFlags) -> Result<Catalog> {
        let conn = Connection::open_with_flags(std::path::Path::new(&target), flags).map_err(
            |source| match source.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => CatalogError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                },
                _ => CatalogError::Missing {
                    path: path.to_path_buf(),
                    source,
                },
            },
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err(path, "setting the busy timeout", e))?;
        conn.pragma_update(None, "query_only", "ON")
            .map_err(|e| db_err(path, "setting query_only", e))?;
        keep_temporaries_in_memory(&conn, path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::require_current(&conn, path)?;
        Ok(Catalog {
            conn: Mutex::new(conn),
            reader: None,
            path: path.to_path_buf(),
            read_only: true,
            activity: AtomicU64::new(0),
        })
    }

    /// Moves everything in the write-ahead log into the database file and empties the log,
    /// so the file alone is complete (for a snapshot reader, or a backup). Called at shutdown.
    pub fn checkpoint(&self) -> Result<()> {
        let conn = self.lock();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| db_err(&self.path, "checkpointing the write-ahead log", e))
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this handle was opened with [`Catalog::open_readonly`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// SQLite's query plan of `sql` (its `detail` column, a line per step), for tests that
    /// pin which index a query uses.
    #[cfg(test)]
    pub(crate) fn query_plan(&self, sql: &str, params: Vec<rusqlite::types::Value>) -> Vec<String> {
        self.lock()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Counts uses of the catalog (a count, not a clock: equal readings some time apart mean
    /// nothing touched it in between). [`Catalog::release_memory`] is not counted.
    pub fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    /// Gives back the memory of both connections' page caches (`PRAGMA shrink_memory`): for a
    /// daemon that has gone idle, or after a bulk read whose pages will not be read again. The
    /// caches fill again as queries need them; nothing committed is affected.
    pub fn release_memory(&self) -> Result<()> {
        let shrink = |c: &Connection| c.execute_batch("PRAGMA shrink_memory");
        if let Some(reader) = &self.reader {
            shrink(&reader.lock().unwrap_or_else(PoisonError::into_inner))
                .map_err(self.db("releasing the reading connection's cache"))?;
        }
        shrink(&self.conn.lock().unwrap_or_else(PoisonError::into_inner))
            .map_err(self.db("releasing the catalog's cache"))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.activity.fetch_add(1, Ordering::Relaxed);
        // A panic while the lock was held cannot leave half a transaction behind: rusqlite
        // rolls back a `Transaction` dropped during unwinding, so the connection is usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A mapper from SQLite errors to [`CatalogError`] naming this catalog and `op`.
    fn db(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        move |e| db_err(&self.path, op, e)
    }

    /// Runs `f` in an IMMEDIATE transaction and commits. IMMEDIATE takes the write lock up
    /// front, so a read-then-write transaction never fails half-way with SQLITE_BUSY (which
    /// the busy handler cannot retry for a deferred transaction upgrading its lock).
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        if self.read_only {
            return Err(CatalogError::ReadOnly {
                path: self.path.clone(),
                op,
            });
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.db(op))?;
        let out = f(&tx)?;
        search::sync_full_text(&tx).map_err(self.db("updating the full-text index"))?;
        tx.commit().map_err(self.db(op))?;
        Ok(out)
    }

    /// Runs a read on the reading connection (the only one of a read-only handle).
    fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let conn = match &self.reader {
            Some(r) => {
                self.activity.fetch_add(1, Ordering::Relaxed);
                r.lock().unwrap_or_else(PoisonError::into_inner)
            }
            None => self.lock(),
        };
        f(&conn).map_err(self.db(op))
    }

    fn bad_row(
        &self,
        what: &'static str,
        key: impl fmt::Display,
        detail: impl fmt::Display,
    ) -> CatalogError {
        CatalogError::BadRow {
            path: self.path.clone(),
            what,
            key: key.to_string(),
            detail: detail.to_string(),
        }
    }

    /// A time stored by [`time_us`].
    fn time_of_us(
        &self,
        what: &'static str,
        key: impl fmt::Display,
        us: i64,
    ) -> Result<DateTime<Utc>> {
        DateTime::from_timestamp_micros(us)
            .ok_or_else(|| self.bad_row(what, key, format_args!("{us} µs: out of range")))
    }

    fn parse_time(
        &self,
        what: &'static str,
        key: impl fmt::Display,
        text: &str,
    ) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.bad_row(what, key, format_args!("{text:?}: {e}")))
    }
}

/// The writer's settings, for a catalog that writes little:
/// - a 16 MiB page cache, so a batch's index pages are read once;
/// - checkpoints every 16,000 WAL pages (64 MB) instead of 1,000: a page changed by many
///   commits between two checkpoints is copied into the database file once (4,000 -> 16,000:
///   9 % less written per file in a first import of tiny files);
/// - the WAL file truncated to 64 MB after a checkpoint, so it does not stay at its peak.
fn tune_writer(conn: &Connection, path: &Path) -> Result<()> {
    for (pragma, value) in [
        ("cache_size", "-16384"),
        ("wal_autocheckpoint", "16000"),
        ("journal_size_limit", "67108864"),
    ] {
        conn.pragma_update(None, pragma, value)
            .map_err(|e| db_err(path, "tuning the catalog", e))?;
    }
    Ok(())
}

/// The stored form of a time: RFC 3339 UTC with nine fractional digits (fixed width, so text
/// order is time order).
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The current time in stored form.
pub(crate) fn now_text() -> String {
    time_text(Utc::now())
}

/// The stored form of the times of assets and operations (`assets.first_seen`,
/// `updated_at`, `organized_at`; `journal.created_at`, `finished_at`): microseconds since the
/// Unix epoch, an integer of 8 bytes where RFC 3339 text took 30, in each row and index entry.
pub(crate) fn time_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The current time as [`time_us`] stores it.
pub(crate) fn now_us() -> i64 {
    time_us(Utc::now())
}

/// The raw bytes of a path, as stored.
pub(crate) fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A path from its stored raw bytes.
pub(crate) fn bytes_path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

/// An unsigned 64-bit value stored bit for bit in SQLite's signed integer.
pub(crate) fn u64_sql(value: u64) -> i64 {
    value as i64
}

/// The inverse of [`u64_sql`].
pub(crate) fn sql_u64(value: i64) -> u64 {
    value as u64
}

/// Declares a string-valued enum stored as TEXT.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and displayed name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s))
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

text_enum! {
    /// Where an asset stands in the pipeline.
    AssetStatus, "asset status" {
        /// Seen and hashed, not (yet) placed.
        Discovered => "discovered",
        /// Placed in the organized tree; `organized_path` says where.
        Organized => "organized",
        /// Found to be a duplicate and set aside.
        Duplicate => "duplicate",
        /// Deliberately not organized (filtered out, or its placement was undone).
        Skipped => "skipped",
        /// Processing failed; `status_reason` says why.
        Failed => "failed",
    }
}

text_enum! {
    /// Where a sidecar file stands.
    SidecarState, "sidecar state" {
        /// Journaled; the file may or may not be at its destination yet.
        Pending => "pending",
        /// At its destination beside its media.
        Placed => "placed",
        /// Not placed (its media was not placed, or a step failed); the file is in the inbox.
        Abandoned => "abandoned",
        /// Taken back out with its media (`alice undo`).
        Undone => "undone",
    }
}

text_enum! {
    /// What a journal operation does to a file.
    OpKind, "operation kind" {
        /// Copy into the organized tree (the source stays).
        Copy => "copy",
        /// Move into the organized tree (the source is removed after verification).
        Move => "move",
        /// Move a duplicate aside.
        DuplicateMove => "duplicate-move",
        /// Move a bad file to quarantine.
        Quarantine => "quarantine",
        /// Reverse an earlier operation.
        Undo => "undo",
    }
}

text_enum! {
    /// How a journal operation transfers its file (the `mode` column). Stored as the strings
    /// earlier versions wrote, so old catalogs read unchanged.
    Transfer, "transfer mode" {
        /// The source stays; a verified copy is written.
        Copy => "copy",
        /// The source is removed once its verified copy (or rename) is durable.
        Move => "move",
        /// The undo of a copy: the organized copy is deleted, the source kept.
        DeleteCopy => "delete-copy",
    }
}

impl From<::events::OrganizeMode> for Transfer {
    fn from(mode: ::events::OrganizeMode) -> Transfer {
        match mode {
            ::events::OrganizeMode::Copy => Transfer::Copy,
            ::events::OrganizeMode::Move => Transfer::Move,
        }
    }
}

text_enum! {
    /// Where a journal operation stands.
    OpState, "operation state" {
        /// Begun: the file may or may not be at its destination yet.
        Pending => "pending",
        /// Finished: the file is at its destination.
        Done => "done",
        /// Reversed by a later undo.
        Undone => "undone",
        /// Given up; the file was not placed by this operation.
        Abandoned => "abandoned",
    }
}

/// Percent-escapes a path for an SQLite `file:` URI (RFC 3986 path characters stay).
fn uri_escape(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SQLite's temporary tables and sort spills stay in memory: by default they go to
/// `/var/tmp` or `/tmp`, outside the state dir the daemon promises to keep to.
fn keep_temporaries_in_memory(conn: &rusqlite::Connection, path: &std::path::Path) -> Result<()> {
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(|e| db_err(path, "setting temp_store=MEMORY", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_names() {
        for s in AssetStatus::ALL {
            assert_eq!(s.as_str().parse::<AssetStatus>().unwrap(), *s);
        }
        for k in OpKind::ALL {
            assert_eq!(k.as_str().parse::<OpKind>().unwrap(), *k);
        }
        for t in Transfer::ALL {
            assert_eq!(t.as_str().parse::<Transfer>().unwrap(), *t);
        }
        assert_eq!(Transfer::DeleteCopy.as_str(), "delete-copy");
        for s in OpState::ALL {
            assert_eq!(s.as_str().parse::<OpState>().unwrap(), *s);
        }
        assert!("organised".parse::<AssetStatus>().is_err());
    }

    #[test]
    fn stored_times_sort_as_text_in_time_order() {
        let a = DateTime::parse_from_rfc3339("2024-03-15T12:00:00.5+01:00").unwrap();
        let b = DateTime::parse_from_rfc3339("2024-03-15T11:30:00Z").unwrap();
        let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
        assert!(a < b);
        assert!(time_text(a) < time_text(b));
        assert_eq!(time_text(a), "2024-03-15T11:00:00.500000000Z");
    }

    #[test]
    fn unsigned_values_survive_the_signed_column() {
        for v in [0, 1, u64::MAX, 1 << 63, (1 << 63) - 1] {
            assert_eq!(sql_u64(u64_sql(v)), v);
        }
    }

    /// Bytes of page cache a connection holds (`SQLITE_DBSTATUS_CACHE_USED`).
    fn cache_used(conn: &Connection) -> i32 {
        let (mut current, mut high) = (0, 0);
        // SAFETY: the handle is live for the borrow of `conn`, and the two out-pointers are
        // valid for the call.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                &mut current,
                &mut high,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        current
    }

    #[test]
    fn release_memory_gives_back_both_page_caches() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        for i in 0..3000 {
            catalog
                .upsert_discovered(&format!("{i:064x}"), Path::new(&format!("/in/{i}.png")), 1)
                .unwrap();
        }
        // A read fills the reading connection's cache; the writes filled the writer's.
        assert_eq!(catalog.asset_ids_with_prefix("", 5000).unwrap().len(), 3000);
        let reader = || cache_used(&catalog.reader.as_ref().unwrap().lock().unwrap());
        let writer = || cache_used(&catalog.lock());
        let (r0, w0) = (reader(), writer());
        assert!(
            r0 > 200_000 && w0 > 200_000,
            "caches before: {r0} and {w0} bytes"
        );
        catalog.release_memory().unwrap();
        let (r1, w1) = (reader(), writer());
        assert!(
            r1 < r0 / 10 && w1 < w0 / 10,
            "caches after: {r1} and {w1} bytes"
        );
        // Still a working catalog.
        assert!(catalog.asset(&format!("{:064x}", 7)).unwrap().is_some());
    }

    #[test]
    fn non_utf8_paths_survive_the_byte_form() {
        let p = bytes_path(b"/in/caf\xe9.png".to_vec());
        assert_eq!(path_bytes(&p), b"/in/caf\xe9.png");
    }
}
