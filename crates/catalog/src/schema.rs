//! Schema migrations: forward-only, one transaction each, tracked in `PRAGMA user_version`.
//!
//! A migration is never edited once released; a change is a new entry at the end of
//! [`MIGRATIONS`]. Version N of the schema is the result of applying the first N entries.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{CatalogError, db_err};

/// Migration N+1 is `MIGRATIONS[N]`.
pub(crate) const MIGRATIONS: &[&str] = &[
    V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15,
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: assets, file identities, sequences, journal, events, context, projects.
const V1: &str = r#"
CREATE TABLE journal (
    op_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id         TEXT NOT NULL,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('copy', 'move', 'duplicate-move', 'quarantine', 'undo')),
    source_path      BLOB NOT NULL,
    destination_path BLOB NOT NULL,
    mode             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'done', 'undone', 'abandoned')),
    created_at       TEXT NOT NULL,
    finished_at      TEXT,
    note             TEXT
);
CREATE INDEX journal_state ON journal (state, op_id);
CREATE INDEX journal_asset ON journal (asset_id);

CREATE TABLE assets (
    id             INTEGER PRIMARY KEY,
    asset_id       TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL
                   CHECK (status IN ('discovered', 'organized', 'duplicate', 'skipped', 'failed')),
    status_reason  TEXT,
    media          TEXT,
    media_type     TEXT,
    format         TEXT,
    source         TEXT,
    project        TEXT,
    style          TEXT,
    taken_at       TEXT,
    original_path  BLOB NOT NULL,
    organized_path BLOB,
    size           INTEGER NOT NULL,
    first_seen     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    organized_at   TEXT,
    op_id          INTEGER REFERENCES journal (op_id),
    CHECK ((status = 'organized') = (organized_path IS NOT NULL))
);
CREATE UNIQUE INDEX assets_organized_path ON assets (organized_path)
    WHERE organized_path IS NOT NULL;
CREATE INDEX assets_status ON assets (status);

CREATE TABLE identities (
    path      BLOB PRIMARY KEY NOT NULL,
    dev       INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    asset_id  TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX identities_key ON identities (dev, ino, size, mtime_ns);

CREATE TABLE sequences (
    project    TEXT NOT NULL,
    source     TEXT NOT NULL,
    next_value INTEGER NOT NULL,
    PRIMARY KEY (project, source)
) WITHOUT ROWID;

CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,
    type           TEXT NOT NULL,
    time           TEXT NOT NULL,
    asset_id       TEXT,
    correlation_id TEXT,
    json           TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
);
CREATE INDEX events_asset ON events (asset_id, time, seq) WHERE asset_id IS NOT NULL;

CREATE TABLE context (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE projects (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL
);
"#;

/// Version 2: full-text search over prompt, model, source, project, style and format.
///
/// Kept in sync by triggers so that no write path can forget it; the FTS rowid is the
/// asset's `id` (an INTEGER PRIMARY KEY, so VACUUM never renumbers it).
const V2: &str = r#"
CREATE VIRTUAL TABLE assets_fts USING fts5 (
    prompt, model, source, project, style, format,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
    INSERT INTO assets_fts (rowid, prompt, model, source, project, style, format)
    VALUES (new.id, json_extract(new.media, '$.ai.prompt'), json_extract(new.media, '$.ai.model'),
            new.source, new.project, new.style, new.format);
END;

CREATE TRIGGER assets_fts_update AFTER UPDATE OF media, source, project, style, format ON assets
BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
    INSERT INTO assets_fts (rowid, prompt, model, source, project, style, format)
    VALUES (new.id, json_extract(new.media, '$.ai.prompt'), json_extract(new.media, '$.ai.model'),
            new.source, new.project, new.style, new.format);
END;

CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
END;

INSERT INTO assets_fts (rowid, prompt, model, source, project, style, format)
SELECT id, json_extract(media, '$.ai.prompt'), json_extract(media, '$.ai.model'),
       source, project, style, format
FROM assets;
"#;

/// Version 3: search over what users remember about a file: its prompt (weighted highest by
/// `search.rs`), negative prompt, original file name, model, project, style, source label and
/// format; plus case-insensitive indexes for the search filters on source and project.
///
/// The FTS columns are positional (bm25 weights and `snippet()` refer to them by index), so
/// the version 2 table is replaced rather than altered. The file name is the part of
/// `original_path` after the last `/`, computed in SQL so that the triggers stay the only
/// writers: `rtrim(p, <every character of p but '/'>)` leaves the directory part.
const V3: &str = r#"
DROP TRIGGER assets_fts_insert;
DROP TRIGGER assets_fts_update;
DROP TRIGGER assets_fts_delete;
DROP TABLE assets_fts;

CREATE VIRTUAL TABLE assets_fts USING fts5 (
    prompt, negative_prompt, name, model, project, style, source, format,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
    INSERT INTO assets_fts
        (rowid, prompt, negative_prompt, name, model, project, style, source, format)
    VALUES (new.id,
            json_extract(new.media, '$.ai.prompt'),
            json_extract(new.media, '$.ai.negative_prompt'),
            substr(CAST(new.original_path AS TEXT),
                   length(rtrim(CAST(new.original_path AS TEXT),
                                replace(CAST(new.original_path AS TEXT), '/', ''))) + 1),
            json_extract(new.media, '$.ai.model'),
            new.project, new.style, new.source, new.format);
END;

CREATE TRIGGER assets_fts_update
AFTER UPDATE OF media, original_path, project, style, source, format ON assets BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
    INSERT INTO assets_fts
        (rowid, prompt, negative_prompt, name, model, project, style, source, format)
    VALUES (new.id,
            json_extract(new.media, '$.ai.prompt'),
            json_extract(new.media, '$.ai.negative_prompt'),
            substr(CAST(new.original_path AS TEXT),
                   length(rtrim(CAST(new.original_path AS TEXT),
                                replace(CAST(new.original_path AS TEXT), '/', ''))) + 1),
            json_extract(new.media, '$.ai.model'),
            new.project, new.style, new.source, new.format);
END;

CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
END;

INSERT INTO assets_fts
    (rowid, prompt, negative_prompt, name, model, project, style, source, format)
SELECT id,
       json_extract(media, '$.ai.prompt'),
       json_extract(media, '$.ai.negative_prompt'),
       substr(CAST(original_path AS TEXT),
              length(rtrim(CAST(original_path AS TEXT),
                           replace(CAST(original_path AS TEXT), '/', ''))) + 1),
       json_extract(media, '$.ai.model'),
       project, style, source, format
FROM assets;

CREATE INDEX assets_source ON assets (source COLLATE NOCASE);
CREATE INDEX assets_project ON assets (project COLLATE NOCASE);
"#;

/// Version 4: the file identity includes the inode change time. ctime cannot be set from
/// user space, so a new file that reuses a freed inode with the same size and mtime (a
/// re-extracted archive, `rsync -t`) no longer inherits the old file's asset id. Rows from
/// before have ctime 0 and simply miss once (those files are hashed again).
const V4: &str = r#"
ALTER TABLE identities ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;
DROP INDEX identities_key;
CREATE INDEX identities_key ON identities (dev, ino, size, mtime_ns, ctime_ns);
"#;

/// Version 5: which stage has consumed which event, so a replay from Redis (a consumer group
/// re-reading entries after a restart) skips what the in-process pipeline already handled.
const V5: &str = r#"
CREATE TABLE consumed (
    stage       TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    consumed_at TEXT NOT NULL,
    PRIMARY KEY (stage, event_id)
) WITHOUT ROWID;
CREATE INDEX consumed_at ON consumed (consumed_at);
"#;

/// Version 6: newest-first browsing ([`Catalog::page`](crate::Catalog::page), the web
/// gallery) walks this index and stops after a page, instead of sorting every asset: a page
/// of 48 from 100,000 assets went from about 300 ms to under a millisecond.
const V6: &str = r#"
CREATE INDEX assets_newest ON assets (coalesce(organized_at, first_seen), asset_id);
"#;

/// Version 7: sidecar files (XMP, AAE, Takeout JSON, generation parameters) and the members
/// of pairs (the RAW of a RAW+JPEG, a Live Photo's video) that travel with their media file.
/// Each row is journaled under the operation that placed its media (or, for a sidecar that
/// arrived later, the operation that placed the media it joined): it is
/// `pending` from before the file is touched until it is `placed` (or `abandoned`), and
/// `undone` with its media. `original_path` gets an index so a late sidecar finds its media by
/// the inbox paths it may have had.
const V7: &str = r#"
CREATE TABLE sidecars (
    id               INTEGER PRIMARY KEY,
    op_id            INTEGER NOT NULL REFERENCES journal (op_id),
    asset_id         TEXT NOT NULL,
    sidecar_id       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    source_path      BLOB NOT NULL,
    destination_path BLOB NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('pending', 'placed', 'abandoned', 'undone')),
    created_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX sidecars_op ON sidecars (op_id);
CREATE INDEX sidecars_asset ON sidecars (asset_id, state);
CREATE INDEX sidecars_source ON sidecars (source_path);
CREATE INDEX sidecars_content ON sidecars (sidecar_id, state);
CREATE INDEX sidecars_pending ON sidecars (state) WHERE state = 'pending';
CREATE INDEX assets_original_path ON assets (original_path);
"#;

/// Version 8: what the visual stage learned per asset (how its thumbnails were made, its size
/// in pixels, its perceptual fingerprint), for `alice similar` and the gallery. A row exists
/// once the stage has seen the asset, so a library that turns the stage on later is caught up
/// with by listing organized assets without one.
const V8: &str = r#"
CREATE TABLE visual (
    asset_id    TEXT PRIMARY KEY,
    rendered    TEXT NOT NULL,
    reason      TEXT,
    width       INTEGER,
    height      INTEGER,
    fingerprint BLOB,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Version 9: a bounded event log. Events outside the history window are folded into their
/// asset's record (`history`: the outcomes of other paths of the same content) and deleted
/// (`history.rs`).
const V9: &str = r#"
ALTER TABLE assets ADD COLUMN history TEXT;
"#;

/// Version 10: a Live Photo's still and video found by Apple's content identifier, whatever
/// their names ([`Catalog::organized_live_photo`](crate::Catalog::organized_live_photo)).
const V10: &str = r#"
CREATE INDEX assets_live_photo ON assets (json_extract(media, '$.live_photo_id'));
"#;

/// Version 11: the full-text row of an asset is written again only when an indexed value
/// changed. Recording a placement and then its `organized` event set the same project,
/// source and metadata again, and each update used to delete and re-insert the row (a new
/// FTS segment per commit): half of the full-text index's writes during an import.
const V11: &str = r#"
DROP TRIGGER assets_fts_update;

CREATE TRIGGER assets_fts_update
AFTER UPDATE OF media, original_path, project, style, source, format ON assets
WHEN old.media IS NOT new.media OR old.original_path IS NOT new.original_path
  OR old.project IS NOT new.project OR old.style IS NOT new.style
  OR old.source IS NOT new.source OR old.format IS NOT new.format
BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
    INSERT INTO assets_fts
        (rowid, prompt, negative_prompt, name, model, project, style, source, format)
    VALUES (new.id,
            json_extract(new.media, '$.ai.prompt'),
            json_extract(new.media, '$.ai.negative_prompt'),
            substr(CAST(new.original_path AS TEXT),
                   length(rtrim(CAST(new.original_path AS TEXT),
                                replace(CAST(new.original_path AS TEXT), '/', ''))) + 1),
            json_extract(new.media, '$.ai.model'),
            new.project, new.style, new.source, new.format);
END;
"#;

/// Version 12: the identity cache is one B-tree keyed by path. Identities are only ever
/// found by path (to replace or forget one) or all at once (the daemon loads them into memory
/// at start), so the rowid table's separate path index and the index on the identity itself
/// were two more B-trees written with every file: ≈ 125 bytes per asset at rest, and two of
/// the three B-tree updates of every identity saved.
const V12: &str = r#"
CREATE TABLE identities_v12 (
    path      BLOB PRIMARY KEY NOT NULL,
    dev       INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL DEFAULT 0,
    asset_id  TEXT NOT NULL,
    last_seen TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO identities_v12 (path, dev, ino, size, mtime_ns, ctime_ns, asset_id, last_seen)
    SELECT path, dev, ino, size, mtime_ns, ctime_ns, asset_id, last_seen FROM identities;
DROP TABLE identities;
ALTER TABLE identities_v12 RENAME TO identities;
"#;

/// Version 13: the full-text index is brought up to date once per transaction, not once per
/// statement. The triggers only note which assets changed (`fts_dirty`); the writing
/// transaction re-indexes those rows just before it commits (`search::sync_full_text`).
/// FTS5 writes a new index segment whenever a statement that follows a change to it begins
/// (its savepoint hook flushes), so row-by-row triggers wrote a segment per asset and per
/// update: 13 % of a first import's CPU and a fifth of its rate.
const V13: &str = r#"
CREATE TABLE fts_dirty (id INTEGER PRIMARY KEY);

DROP TRIGGER assets_fts_insert;
CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
    INSERT OR IGNORE INTO fts_dirty (id) VALUES (new.id);
END;

DROP TRIGGER assets_fts_update;
CREATE TRIGGER assets_fts_update
AFTER UPDATE OF media, original_path, project, style, source, format ON assets
WHEN old.media IS NOT new.media OR old.original_path IS NOT new.original_path
  OR old.project IS NOT new.project OR old.style IS NOT new.style
  OR old.source IS NOT new.source OR old.format IS NOT new.format
BEGIN
    INSERT OR IGNORE INTO fts_dirty (id) VALUES (new.id);
END;
"#;

/// Version 14: catalog keys that arrive in order. Asset ids are content hashes, so an index
/// led by one puts every new entry on a page of its own: the event log's per-asset index
/// (`events_asset`, four events per file, each in its own commit) was 29 % of the WAL pages
/// a first import wrote, and the journal's (`journal_asset`) another 7 %. An event now names
/// its asset's row (`events.asset`, the integer key assets get in the order they are
/// discovered, so files in flight together share index pages); an event about a content that
/// has no asset row yet is found by `events_orphan` until it has one. The journal is searched
/// by asset only for undos (`undone_at`), which are rare: `journal_undo` holds just those.
const V14: &str = r#"
ALTER TABLE events ADD COLUMN asset INTEGER;
UPDATE events SET asset = (SELECT id FROM assets WHERE assets.asset_id = events.asset_id)
    WHERE asset_id IS NOT NULL;
DROP INDEX events_asset;
CREATE INDEX events_by_asset ON events (asset) WHERE asset IS NOT NULL;
CREATE INDEX events_orphan ON events (asset_id) WHERE asset IS NULL AND asset_id IS NOT NULL;
DROP INDEX journal_asset;
CREATE INDEX journal_undo ON journal (asset_id) WHERE kind = 'undo';
"#;

/// Version 15: a leaner catalog at rest (1,755 -> 1,458 bytes per asset for the mixed corpus).
/// - The newest-first walk's index is keyed by the time alone. Its tie-break, the
///   64-character asset id, was two thirds of each entry; assets with the same time are rare,
///   and SQLite orders such ties among themselves as the walk reaches them.
/// - The times of assets and operations are integers, microseconds since the Unix epoch
///   (`time_us`), instead of 30 characters of RFC 3339 text: five columns, and the index entry.
///   Times written before keep their milliseconds (one that cannot be read becomes 0).
/// - `identities.last_seen` was written and never read.
/// - `assets.media_type`, `format` and `taken_at` are computed from the media JSON when read
///   (virtual generated columns), no longer stored twice; the full-text trigger no longer
///   names `format`, which only changes with the media.
/// - The journal's index on its state holds only pending operations (what a crash
///   interrupted); the most recent done operations are read backwards by `op_id`.
/// - The Live Photo index holds only Live Photos: every other asset's entry (a NULL) was
///   written again each time its media was.
///
/// The three tables are rebuilt (copied into new tables, which keep every id), not altered
/// column by column: each altering statement rewrote the whole table with SQLite's statement
/// journal holding the old pages, in memory (temporaries never leave the state dir), about
/// the assets table's size at once (871 MiB at a million assets); new pages need no such
/// journal. Foreign keys are off while migrating and checked before each step commits
/// ([`migrate`]).
const V15: &str = r#"
CREATE TABLE identities_v15 (
    path      BLOB PRIMARY KEY NOT NULL,
    dev       INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL DEFAULT 0,
    asset_id  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO identities_v15 (path, dev, ino, size, mtime_ns, ctime_ns, asset_id)
    SELECT path, dev, ino, size, mtime_ns, ctime_ns, asset_id FROM identities;

CREATE TABLE journal_v15 (
    op_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id         TEXT NOT NULL,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('copy', 'move', 'duplicate-move', 'quarantine', 'undo')),
    source_path      BLOB NOT NULL,
    destination_path BLOB NOT NULL,
    mode             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'done', 'undone', 'abandoned')),
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    note             TEXT
);
INSERT INTO journal_v15 (op_id, asset_id, kind, source_path, destination_path, mode, state,
                         created_at, finished_at, note)
    SELECT op_id, asset_id, kind, source_path, destination_path, mode, state,
           coalesce(CAST(round(unixepoch(created_at, 'subsec') * 1000) AS INTEGER) * 1000, 0),
           CAST(round(unixepoch(finished_at, 'subsec') * 1000) AS INTEGER) * 1000,
           note
    FROM journal;

CREATE TABLE assets_v15 (
    id             INTEGER PRIMARY KEY,
    asset_id       TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL
                   CHECK (status IN ('discovered', 'organized', 'duplicate', 'skipped', 'failed')),
    status_reason  TEXT,
    media          TEXT,
    media_type     TEXT GENERATED ALWAYS AS (json_extract(media, '$.media_type')) VIRTUAL,
    format         TEXT GENERATED ALWAYS AS (json_extract(media, '$.format')) VIRTUAL,
    source         TEXT,
    project        TEXT,
    style          TEXT,
    taken_at       TEXT GENERATED ALWAYS AS (json_extract(media, '$.taken_at')) VIRTUAL,
    original_path  BLOB NOT NULL,
    organized_path BLOB,
    size           INTEGER NOT NULL,
    first_seen     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    organized_at   INTEGER,
    op_id          INTEGER REFERENCES journal (op_id),
    history        TEXT,
    CHECK ((status = 'organized') = (organized_path IS NOT NULL))
);
INSERT INTO assets_v15 (id, asset_id, status, status_reason, media, source, project, style,
                        original_path, organized_path, size, first_seen, updated_at,
                        organized_at, op_id, history)
    SELECT id, asset_id, status, status_reason, media, source, project, style,
           original_path, organized_path, size,
           coalesce(CAST(round(unixepoch(first_seen, 'subsec') * 1000) AS INTEGER) * 1000, 0),
           coalesce(CAST(round(unixepoch(updated_at, 'subsec') * 1000) AS INTEGER) * 1000, 0),
           CAST(round(unixepoch(organized_at, 'subsec') * 1000) AS INTEGER) * 1000,
           op_id, history
    FROM assets;
-- Every old table is dropped only once every new one is filled: a page freed by a drop
-- and reused by a statement of the same transaction is copied into its statement journal.
DROP TABLE identities;
ALTER TABLE identities_v15 RENAME TO identities;
UPDATE sqlite_sequence SET seq = max(seq, coalesce(
    (SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0))
    WHERE name = 'journal_v15';
DROP TABLE journal;
ALTER TABLE journal_v15 RENAME TO journal;
DROP TABLE assets;
ALTER TABLE assets_v15 RENAME TO assets;
CREATE INDEX journal_undo ON journal (asset_id) WHERE kind = 'undo';
CREATE INDEX journal_pending ON journal (op_id) WHERE state = 'pending';
CREATE UNIQUE INDEX assets_organized_path ON assets (organized_path)
    WHERE organized_path IS NOT NULL;
CREATE INDEX assets_status ON assets (status);
CREATE INDEX assets_source ON assets (source COLLATE NOCASE);
CREATE INDEX assets_project ON assets (project COLLATE NOCASE);
CREATE INDEX assets_original_path ON assets (original_path);
CREATE INDEX assets_newest ON assets (coalesce(organized_at, first_seen));
CREATE INDEX assets_live_photo ON assets (json_extract(media, '$.live_photo_id'))
    WHERE json_extract(media, '$.live_photo_id') IS NOT NULL;
CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
    INSERT OR IGNORE INTO fts_dirty (id) VALUES (new.id);
END;
CREATE TRIGGER assets_fts_update
AFTER UPDATE OF media, original_path, project, style, source ON assets
WHEN old.media IS NOT new.media OR old.original_path IS NOT new.original_path
  OR old.project IS NOT new.project OR old.style IS NOT new.style
  OR old.source IS NOT new.source
BEGIN
    INSERT OR IGNORE INTO fts_dirty (id) VALUES (new.id);
END;
CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
    DELETE FROM assets_fts WHERE rowid = old.id;
END;
"#;

/// Reads `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Refuses a catalog written by a newer alice.
pub(crate) fn check_not_newer(path: &Path, found: i64) -> Result<(), CatalogError> {
    if found > SCHEMA_VERSION {
        return Err(CatalogError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// For opens that never migrate: a newer catalog is refused ([`CatalogError::TooNew`]), an
/// older one is [`CatalogError::NeedsMigration`].
pub(crate) fn require_current(conn: &Connection, path: &Path) -> Result<(), CatalogError> {
    let found = user_version(conn).map_err(|e| db_err(path, "reading the schema version", e))?;
    check_not_newer(path, found)?;
    if found < SCHEMA_VERSION {
        return Err(CatalogError::NeedsMigration {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the catalog at `path` up to [`SCHEMA_VERSION`], one transaction per step.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), CatalogError> {
    let found = user_version(conn).map_err(|e| db_err(path, "reading the schema version", e))?;
    check_not_newer(path, found)?;
    let started = std::time::Instant::now();
    if found > 0 && found < SCHEMA_VERSION {
        // Some steps copy every asset row (15: tens of seconds at a million assets).
        tracing::info!(
            catalog = %path.display(),
            from = found,
            to = SCHEMA_VERSION,
            "upgrading the catalog schema; once, and a large catalog takes a while"
        );
    }
    // Foreign keys are off while the steps run (a step may replace a table others refer to,
    // as SQLite's documented way to change a table's shape does) and checked before each step
    // commits.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(|e| db_err(path, "turning foreign keys off to migrate", e))?;
    let stepped = run_steps(conn, path, found);
    let restored = conn
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| db_err(path, "turning foreign keys back on", e));
    stepped?;
    restored?;
    let now = user_version(conn).unwrap_or(found);
    if now != found {
        // One line per open, not per step.
        match found {
            0 => tracing::info!(catalog = %path.display(), version = now, "catalog created"),
            _ => {
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(catalog = %path.display(), from = found, to = now, elapsed_ms, "catalog schema upgraded")
            }
        }
    }
    Ok(())
}

/// The migration steps after version `found`, one transaction each.
fn run_steps(conn: &mut Connection, path: &Path, found: i64) -> Result<(), CatalogError> {
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= found {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(path, "starting a migration", e))?;
        // Another process (a second daemon start, a CLI) may have migrated between our read
        // and taking the write lock; the version read under the lock is the truth.
        let current =
            user_version(&tx).map_err(|e| db_err(path, "reading the schema version", e))?;
        check_not_newer(path, current)?;
        if current >= version {
            continue;
        }
        let broken = |source| CatalogError::Migration {
            path: path.to_path_buf(),
            version,
            source,
        };
        tx.execute_batch(sql).map_err(broken)?;
        let dangling: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(broken)?;
        if dangling > 0 {
            return Err(broken(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!("{dangling} rows refer to rows that are gone")),
            )));
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(|source| CatalogError::Migration {
                path: path.to_path_buf(),
                version,
                source,
            })?;
        tx.commit()
            .map_err(|e| db_err(path, "committing a migration", e))?;
        tracing::debug!(catalog = %path.display(), version, "catalog schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    use super::*;
    use crate::Catalog;

    /// A catalog file left at schema `version` by an older alice (the first `version`
    /// migrations applied as written), with `seed` run on it.
    fn catalog_at(version: usize, seed: impl FnOnce(&Connection)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite3");
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..version] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        seed(&conn);
        (dir, path)
    }

    #[test]
    fn a_version_1_catalog_migrates_and_backfills_search() {
        let (_dir, path) = catalog_at(1, |conn| {
            conn.execute(
                "INSERT INTO assets (asset_id, status, media, original_path, size, first_seen,
                 updated_at)
             VALUES ('ab', 'discovered', '{\"media_type\":\"image\",\"format\":null,\
                 \"width\":null,\"height\":null,\"duration_ms\":null,\"taken_at\":null,\
                 \"taken_at_source\":null,\"camera\":null,\"ai\":{\"source\":\"flux\",\
                 \"signal\":\"metadata\",\"evidence\":\"x\",\"prompt\":\"misty harbour\",\
                 \"negative_prompt\":null,\"model\":null,\"model_hash\":null,\"seed\":null,\
                 \"steps\":null,\"sampler\":null,\"cfg_scale\":null,\"size\":null}}',
                 x'2f61', 1, '2024-01-01T00:00:00.000000000Z', '2024-01-01T00:00:00.000000000Z')",
                [],
            )
            .unwrap();
        });
        let cat = Catalog::open(&path).unwrap();
        let found = cat.search("harbour", 5).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].asset_id, "ab");
        assert_eq!(user_version(&cat.lock()).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_2_catalog_migrates_and_backfills_the_new_search_columns() {
        let (_dir, path) = catalog_at(2, |conn| {
            conn.execute(
                "INSERT INTO assets (asset_id, status, media, original_path, size, first_seen,
                 updated_at, source)
             VALUES ('cd', 'discovered', '{\"media_type\":\"image\",\"format\":null,\
                 \"width\":null,\"height\":null,\"duration_ms\":null,\"taken_at\":null,\
                 \"taken_at_source\":null,\"camera\":null,\"ai\":{\"source\":\"flux\",\
                 \"signal\":\"metadata\",\"evidence\":\"x\",\"prompt\":\"a quiet bay\",\
                 \"negative_prompt\":\"watermark\",\"model\":null,\"model_hash\":null,\
                 \"seed\":null,\"steps\":null,\"sampler\":null,\"cfg_scale\":null,\
                 \"size\":null}}',
                 CAST('/in/dir.d/Harbour_Study.png' AS BLOB), 1,
                 '2024-01-01T00:00:00.000000000Z', '2024-01-01T00:00:00.000000000Z', 'flux')",
                [],
            )
            .unwrap();
        });
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(user_version(&cat.lock()).unwrap(), SCHEMA_VERSION);
        for q in ["quiet bay", "watermark", "harbour study", "flux"] {
            let found = cat.search(q, 5).unwrap();
            assert_eq!(found.len(), 1, "{q}");
        }
        // The directory is not part of the indexed name.
        assert!(cat.search("dir", 5).unwrap().is_empty());
    }

    #[test]
    fn a_version_6_catalog_migrates_to_sidecars_and_keeps_its_assets() {
        let (_dir, path) = catalog_at(6, |conn| {
            conn.execute(
                "INSERT INTO assets (asset_id, status, original_path, size, first_seen,
                 updated_at)
             VALUES ('ef', 'discovered', CAST('/in/a.png' AS BLOB), 1,
                 '2024-01-01T00:00:00.000000000Z', '2024-01-01T00:00:00.000000000Z')",
                [],
            )
            .unwrap();
        });
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(user_version(&cat.lock()).unwrap(), SCHEMA_VERSION);
        assert!(cat.asset("ef").unwrap().is_some());
        assert!(cat.sidecars_of_asset("ef").unwrap().is_empty());
        assert!(cat.pending_sidecars().unwrap().is_empty());
    }

    #[test]
    fn a_version_11_catalog_keeps_every_identity_in_the_path_keyed_table() {
        let (_dir, path) = catalog_at(11, |conn| {
            conn.execute_batch(
                "INSERT INTO identities (path, dev, ino, size, mtime_ns, asset_id, last_seen,
                 ctime_ns)
             VALUES (x'2f696e2f636166e92e706e67', -1, -9223372036854775808, 7, -15, 'aa',
                     '2024-01-01T00:00:00.000000000Z', 3),
                    (CAST('/in/b.png' AS BLOB), 1, 2, 3, 4, 'bb',
                     '2024-01-01T00:00:00.000000000Z', 0);",
            )
            .unwrap();
        });
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(user_version(&cat.lock()).unwrap(), SCHEMA_VERSION);
        let all = cat.load_identities().unwrap();
        let first = crate::FileIdentity {
            dev: u64::MAX,
            ino: 1 << 63,
            size: 7,
            mtime_ns: -15,
            ctime_ns: 3,
        };
        assert_eq!(all.get(&first).map(String::as_str), Some("aa"));
        assert_eq!(all.len(), 2);
        // Still keyed by the exact path bytes (not valid UTF-8 here).
        assert!(
            cat.forget_identity(std::ffi::OsStr::from_bytes(b"/in/caf\xe9.png").as_ref())
                .unwrap()
        );
        assert_eq!(cat.identity_count().unwrap(), 1);
        let tables: String = cat
            .lock()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'identities'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(tables.contains("WITHOUT ROWID"), "{tables}");
    }

    #[test]
    fn a_version_13_catalog_finds_its_events_and_undos_by_the_new_keys_with_integer_times() {
        let (_dir, path) = catalog_at(13, |conn| {
            conn.execute_batch(
                "INSERT INTO assets (asset_id, status, original_path, size, first_seen,
                 updated_at)
                 VALUES ('aa', 'skipped', x'2f', 1, '2024-03-15T11:00:00.123456789Z',
                         '2024-03-15T12:00:00Z');
                 INSERT INTO assets (asset_id, status, original_path, size, first_seen,
                  updated_at, media, media_type, format, taken_at)
                 VALUES ('cc', 'discovered', x'2f63', 1, '2024-03-15T11:00:00Z',
                         '2024-03-15T11:00:00Z',
                         json_object('media_type', 'image', 'format', 'png',
                                     'taken_at', '2024-03-01T10:00:00'),
                         'image', 'png', '2024-03-01T10:00:00');
                 INSERT INTO events (event_id, type, time, asset_id, json, recorded_at)
                 VALUES ('e1', 'x', '2024-01-01T00:00:01Z', 'aa', '{}', '2024-01-01T00:00:03.000000000Z'),
                        ('e2', 'x', '2024-01-01T00:00:02Z', 'bb', '{}', '2024-01-01T00:00:03.000000000Z'),
                        ('e3', 'x', '2024-01-01T00:00:00Z', 'aa', '{}', '2024-01-01T00:00:03.000000000Z');
                 INSERT INTO journal (asset_id, kind, source_path, destination_path, mode,
                  state, created_at)
                 VALUES ('aa', 'copy', CAST('/in/a.png' AS BLOB), CAST('/org/a.png' AS BLOB),
                         'copy', 'undone', '2024-01-01T00:00:03.000000000Z'),
                        ('aa', 'undo', CAST('/org/a.png' AS BLOB), CAST('/in/a.png' AS BLOB),
                         'copy', 'done', '2024-01-01T00:00:03.000000000Z');",
            )
            .unwrap();
        });
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(user_version(&cat.lock()).unwrap(), SCHEMA_VERSION);
        let ids = |asset: &str| -> Vec<String> {
            let events = cat.events_for_asset(asset).unwrap();
            events.into_iter().map(|e| e.id).collect()
        };
        // `aa` has a row (found by it), `bb` has none (found by its id).
        assert_eq!(ids("aa"), ["e3", "e1"]);
        assert_eq!(ids("bb"), ["e2"]);
        let rows: i64 = cat
            .lock()
            .query_row(
                "SELECT count(*) FROM events WHERE asset IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 2);
        assert!(cat.undone_at("aa", "/in/a.png".as_ref()).unwrap());
        assert!(!cat.undone_at("aa", "/in/b.png".as_ref()).unwrap());
        // Times became integers and kept their milliseconds.
        let asset = cat.asset("aa").unwrap().unwrap();
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(asset.first_seen, at("2024-03-15T11:00:00.123Z"));
        assert_eq!(asset.updated_at, at("2024-03-15T12:00:00Z"));
        assert_eq!(asset.organized_at, None);
        let undo = cat.op(2).unwrap().unwrap();
        assert_eq!(undo.created_at, at("2024-01-01T00:00:03Z"));
        assert_eq!(undo.finished_at, None);
        let types: String = cat
            .lock()
            .query_row(
                "SELECT typeof(first_seen) || typeof(updated_at) FROM assets",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(types, "integerinteger");
        // What the media says is read from it, no longer stored beside it.
        let derived: (String, String, String) = cat
            .lock()
            .query_row(
                "SELECT media_type, format, taken_at FROM assets WHERE asset_id = 'cc'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            derived,
            ("image".into(), "png".into(), "2024-03-01T10:00:00".into())
        );
        // The rebuilt journal goes on numbering after its last operation, and foreign keys
        // are enforced again.
        let op = cat
            .begin_op(&crate::NewOp {
                asset_id: "aa",
                kind: crate::OpKind::Copy,
                source: "/in/a.png".as_ref(),
                destination: "/org/a2.png".as_ref(),
                mode: crate::Transfer::Copy,
            })
            .unwrap();
        assert_eq!(op, 3);
        let refused = cat
            .lock()
            .execute("UPDATE assets SET op_id = 99 WHERE asset_id = 'aa'", []);
        assert!(refused.is_err(), "a dangling op_id was accepted");
    }

    #[test]
    fn a_failing_migration_step_leaves_the_previous_version() {
        let (_dir, path) = catalog_at(1, |conn| {
            // Makes step 2 fail half-way: its FTS table and first triggers are created, then
            // its last trigger's name is taken.
            conn.execute_batch(
                "CREATE TRIGGER assets_fts_delete AFTER DELETE ON projects BEGIN SELECT 1; END",
            )
            .unwrap();
        });
        let err = Catalog::open(&path).unwrap_err();
        assert!(
            matches!(err, CatalogError::Migration { version: 2, .. }),
            "{err:?}"
        );
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
        let leftovers: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'assets_fts%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leftovers, 1, "only the pre-existing trigger may remain");
    }

    /// The hot lookups must be index searches, not scans: an identity is replaced or forgotten
    /// by path, the organizer runs `is_organized` per asset.
    #[test]
    fn hot_lookups_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        let plan = |sql: &str| -> String { cat.query_plan(sql, Vec::new()).join("; ") };
        let cases = [
            (
                "SELECT asset_id FROM identities WHERE path = x'2f696e2f612e706e67'",
                "PRIMARY KEY",
            ),
            (
                "SELECT organized_path FROM assets WHERE asset_id = 'x' AND status = 'organized'",
                "INDEX sqlite_autoindex_assets_1",
            ),
            (
                "SELECT asset_id FROM assets WHERE organized_path = x'00'",
                "INDEX assets_organized_path",
            ),
            (
                "SELECT seq FROM events WHERE asset = 7",
                "INDEX events_by_asset",
            ),
            (
                "SELECT seq FROM events WHERE asset IS NULL AND asset_id = 'x'",
                "INDEX events_orphan",
            ),
            (
                "SELECT op_id FROM journal WHERE asset_id = 'x' AND kind = 'undo'",
                "INDEX journal_undo",
            ),
            (
                "SELECT id FROM assets WHERE json_extract(media, '$.live_photo_id') = 'x' \
                 AND status = 'organized'",
                "INDEX assets_live_photo",
            ),
            (
                "SELECT op_id FROM journal WHERE state = 'pending' ORDER BY op_id",
                "INDEX journal_pending",
            ),
            (
                "SELECT id FROM sidecars WHERE source_path = x'00' AND sidecar_id = 'x'",
                "INDEX sidecars_source",
            ),
            (
                "SELECT id FROM sidecars WHERE asset_id = 'x' AND state = 'placed'",
                "INDEX sidecars_asset",
            ),
            (
                "SELECT id FROM sidecars WHERE sidecar_id = 'x' AND state = 'placed' \
                 ORDER BY id DESC LIMIT 1",
                "INDEX sidecars_content",
            ),
            (
                "SELECT asset_id FROM assets WHERE original_path = x'00' AND status = 'organized'",
                "INDEX assets_original_path",
            ),
        ];
        for (sql, expected) in cases {
            let got = plan(sql);
            assert!(got.contains(expected), "{sql}\nplan: {got}");
            assert!(!got.contains("TEMP B-TREE"), "{sql}\nplan: {got}");
        }
    }
}
