//! Asset records, the dedup index, status counts and atomic placement.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use events::media::MediaInfo;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::{
    AssetStatus, Catalog, CatalogError, OpKind, Result, bytes_path, now_us, path_bytes, sql_u64,
    u64_sql,
};

/// One asset (one distinct content, by BLAKE3) as the catalog knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRecord {
    /// BLAKE3 of the content, lowercase hex.
    pub asset_id: String,
    /// Pipeline status.
    pub status: AssetStatus,
    /// Why the status was set (failures, skips), when given.
    pub status_reason: Option<String>,
    /// Extracted metadata, once known.
    pub media: Option<MediaInfo>,
    /// The source label it was filed under (`midjourney`, `camera`, …), once organized.
    pub source: Option<String>,
    /// The project it was filed under, once organized.
    pub project: Option<String>,
    /// The style it was filed under, if any.
    pub style: Option<String>,
    /// Where the content was last discovered (raw OS path).
    pub original_path: PathBuf,
    /// Where it sits in the organized tree, when organized.
    pub organized_path: Option<PathBuf>,
    /// Size in bytes.
    pub size: u64,
    /// When the catalog first recorded it.
    pub first_seen: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was organized.
    pub organized_at: Option<DateTime<Utc>>,
    /// The journal operation that placed it.
    pub op_id: Option<i64>,
}

/// A file placement to record in one transaction with the end of its journal operation.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The operation from [`Catalog::begin_op`].
    pub op_id: i64,
    /// The asset placed (must be the operation's asset).
    pub asset_id: &'a str,
    /// Where the file finally landed (may differ from the planned destination).
    pub destination: &'a Path,
    /// Size in bytes.
    pub size: u64,
    /// Project it was filed under.
    pub project: &'a str,
    /// Source label it was filed under.
    pub source: &'a str,
    /// Style it was filed under, if any.
    pub style: Option<&'a str>,
    /// Metadata, when the caller has it (kept from an earlier `set_metadata` otherwise).
    pub media: Option<&'a MediaInfo>,
}

/// An asset change applied together with recording an event
/// ([`Catalog::record_event_with`]), so a replayed event never applies it twice and a crash
/// never records the event without its effect.
#[derive(Debug, Clone, Copy)]
pub enum AssetUpdate<'a> {
    /// Record only the event.
    None,
    /// [`Catalog::upsert_discovered`].
    Discovered {
        /// The asset.
        asset_id: &'a str,
        /// Where it was found.
        path: &'a Path,
        /// Size in bytes.
        size: u64,
    },
    /// [`Catalog::set_metadata`].
    Metadata {
        /// The asset.
        asset_id: &'a str,
        /// Its metadata.
        media: &'a MediaInfo,
    },
    /// [`Catalog::mark_status`].
    Status {
        /// The asset.
        asset_id: &'a str,
        /// The new status (not `Organized`).
        status: AssetStatus,
        /// Why.
        reason: Option<&'a str>,
    },
    /// [`Catalog::set_visual`]: what the visual stage learned (the asset's status is left
    /// as it is).
    Visual(&'a crate::VisualRecord),
}

/// Number of assets in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// `discovered`.
    pub discovered: u64,
    /// `organized`.
    pub organized: u64,
    /// `duplicate`.
    pub duplicate: u64,
    /// `skipped`.
    pub skipped: u64,
    /// `failed`.
    pub failed: u64,
}

impl StatusCounts {
    /// All assets.
    pub fn total(&self) -> u64 {
        self.discovered + self.organized + self.duplicate + self.skipped + self.failed
    }
}

pub(crate) const ASSET_COLUMNS: &str = "a.asset_id, a.status, a.status_reason, a.media, a.source, \
     a.project, a.style, a.original_path, a.organized_path, a.size, a.first_seen, a.updated_at, \
     a.organized_at, a.op_id";

/// An asset row as stored, before JSON and times are decoded.
pub(crate) struct RawAsset {
    asset_id: String,
    status: AssetStatus,
    status_reason: Option<String>,
    media: Option<String>,
    source: Option<String>,
    project: Option<String>,
    style: Option<String>,
    original_path: Vec<u8>,
    organized_path: Option<Vec<u8>>,
    size: i64,
    first_seen: i64,
    updated_at: i64,
    organized_at: Option<i64>,
    op_id: Option<i64>,
}

impl RawAsset {
    /// Reads a row selected with [`ASSET_COLUMNS`].
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawAsset> {
        Ok(RawAsset {
            asset_id: row.get(0)?,
            status: row.get(1)?,
            status_reason: row.get(2)?,
            media: row.get(3)?,
            source: row.get(4)?,
            project: row.get(5)?,
            style: row.get(6)?,
            original_path: row.get(7)?,
            organized_path: row.get(8)?,
            size: row.get(9)?,
            first_seen: row.get(10)?,
            updated_at: row.get(11)?,
            organized_at: row.get(12)?,
            op_id: row.get(13)?,
        })
    }
}

impl Catalog {
    pub(crate) fn decode_asset(&self, raw: RawAsset) -> Result<AssetRecord> {
        let id = raw.asset_id.as_str();
        let media = match raw.media.as_deref() {
            Some(json) => Some(
                serde_json::from_str(json).map_err(|e| self.bad_row("media metadata", id, e))?,
            ),
            None => None,
        };
        let organized_at = match raw.organized_at {
            Some(t) => Some(self.time_of_us("organized_at", id, t)?),
            None => None,
        };
        Ok(AssetRecord {
            status: raw.status,
            status_reason: raw.status_reason,
            media,
            source: raw.source,
            project: raw.project,
            style: raw.style,
            original_path: bytes_path(raw.original_path),
            organized_path: raw.organized_path.map(bytes_path),
            size: sql_u64(raw.size),
            first_seen: self.time_of_us("first_seen", id, raw.first_seen)?,
            updated_at: self.time_of_us("updated_at", id, raw.updated_at)?,
            organized_at,
            op_id: raw.op_id,
            asset_id: raw.asset_id,
        })
    }

    /// The asset with this id.
    pub fn asset(&self, asset_id: &str) -> Result<Option<AssetRecord>> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets a WHERE a.asset_id = ?1");
        let raw = self.read("reading an asset", |c| {
            c.prepare_cached(&sql)?
                .query_row([asset_id], RawAsset::from_row)
                .optional()
        })?;
        raw.map(|r| self.decode_asset(r)).transpose()
    }

    /// The asset organized at `path` (exact bytes of the organized path).
    pub fn asset_by_organized_path(&self, path: &Path) -> Result<Option<AssetRecord>> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets a WHERE a.organized_path = ?1");
        let raw = self.read("looking up an organized path", |c| {
            c.prepare_cached(&sql)?
                .query_row([path_bytes(path)], RawAsset::from_row)
                .optional()
        })?;
        raw.map(|r| self.decode_asset(r)).transpose()
    }

    /// Whether the asset is known, and if so whether it is organized from exactly `path`: the
    /// first question a restart asks of every file in the inboxes, answered from the asset
    /// index without reading the record's metadata.
    pub fn organized_from_here(&self, asset_id: &str, path: &Path) -> Result<Option<bool>> {
        Ok(self
            .organized_from_here_many(&[(asset_id, path)])?
            .pop()
            .flatten())
    }

    /// [`Catalog::organized_from_here`] for many files in one read transaction (a restart
    /// asks it of every file in the inboxes).
    pub fn organized_from_here_many(&self, files: &[(&str, &Path)]) -> Result<Vec<Option<bool>>> {
        self.read("checking where assets were organized from", |c| {
            let tx = c.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached(
                "SELECT status = 'organized' AND original_path = ?2 FROM assets WHERE asset_id = ?1",
            )?;
            let out = files
                .iter()
                .map(|(asset_id, path)| {
                    stmt.query_row(params![asset_id, path_bytes(path)], |r| r.get(0))
                        .optional()
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.finish()?;
            Ok(out)
        })
    }

    /// The dedup index: where this content is organized, if it is.
    pub fn is_organized(&self, asset_id: &str) -> Result<Option<PathBuf>> {
        let bytes: Option<Vec<u8>> = self.read("checking whether an asset is organized", |c| {
            c.prepare_cached(
                "SELECT organized_path FROM assets WHERE asset_id = ?1 AND status = 'organized'",
            )?
            .query_row([asset_id], |row| row.get(0))
            .optional()
        })?;
        Ok(bytes.map(bytes_path))
    }

    /// Records that the content `asset_id` was found at `path`. A new asset starts as
    /// `discovered`; a known one that is not organized goes back to `discovered` (a new
    /// attempt) with the new path; an organized one is left alone (its content is already
    /// filed, whatever happens to this copy).
    pub fn upsert_discovered(&self, asset_id: &str, path: &Path, size: u64) -> Result<()> {
        self.write("recording a discovered asset", |tx| {
            upsert_discovered_tx(tx, asset_id, path, size)
                .map_err(self.db("recording a discovered asset"))
        })
    }

    /// Stores the extracted metadata of an asset. Returns `false` when the asset is unknown
    /// (nothing is stored then: the discovery has to be recorded first).
    pub fn set_metadata(&self, asset_id: &str, media: &MediaInfo) -> Result<bool> {
        let json = self.media_json(asset_id, media)?;
        self.write("storing asset metadata", |tx| {
            set_metadata_tx(tx, asset_id, &json).map_err(self.db("storing asset metadata"))
        })
    }

    /// Sets the status (and reason) of an asset that is not organized. Returns `false` when
    /// the asset is unknown or organized: an organized asset's content is filed, so a later
    /// failure or duplicate concerns another copy of it, not the asset. `Organized` is refused
    /// ([`CatalogError::InvalidStatus`]): use [`Catalog::complete_placement`].
    pub fn mark_status(
        &self,
        asset_id: &str,
        status: AssetStatus,
        reason: Option<&str>,
    ) -> Result<bool> {
        self.check_markable(status)?;
        self.write("setting an asset status", |tx| {
            mark_status_tx(tx, asset_id, status, reason).map_err(self.db("setting an asset status"))
        })
    }

    /// Number of assets in each status, for `alice status` and scan summaries.
    pub fn status_counts(&self) -> Result<StatusCounts> {
        let rows: Vec<(AssetStatus, i64)> = self.read("counting assets", |c| {
            c.prepare_cached("SELECT status, count(*) FROM assets GROUP BY status")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })?;
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            let n = sql_u64(n);
            match status {
                AssetStatus::Discovered => counts.discovered = n,
                AssetStatus::Organized => counts.organized = n,
                AssetStatus::Duplicate => counts.duplicate = n,
                AssetStatus::Skipped => counts.skipped = n,
                AssetStatus::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// Finishes the placement's journal operation and records the asset as organized at its
    /// destination, in one transaction: the catalog never says an operation is done without
    /// the asset being organized, or the reverse. Repeating a completed placement is a no-op.
    ///
    /// Refuses (and changes nothing) when the operation is not pending (or done at this same
    /// destination), belongs to another asset, or is not a `copy`/`move`; when the asset is
    /// already organized elsewhere ([`CatalogError::AlreadyOrganized`]); or when the
    /// destination is another asset's organized path ([`CatalogError::DestinationTaken`]).
    pub fn complete_placement(&self, placement: &Placement<'_>) -> Result<()> {
        const OP: &str = "completing a placement";
        let media_json = placement
            .media
            .map(|m| self.media_json(placement.asset_id, m))
            .transpose()?;
        self.write(OP, |tx| {
            self.complete_placement_tx(tx, placement, media_json.as_deref())
        })
    }

    /// [`Catalog::complete_placement`] inside a transaction.
    pub(crate) fn complete_placement_tx(
        &self,
        tx: &Transaction<'_>,
        placement: &Placement<'_>,
        media_json: Option<&str>,
    ) -> Result<()> {
        const OP: &str = "completing a placement";
        {
            let op = self.load_op_tx(tx, placement.op_id)?;
            if op.asset_id != placement.asset_id {
                return Err(CatalogError::OpAssetMismatch {
                    path: self.path.clone(),
                    op_id: op.op_id,
                    op_asset: op.asset_id,
                    asset_id: placement.asset_id.to_owned(),
                });
            }
            if !matches!(op.kind, OpKind::Copy | OpKind::Move) {
                return Err(CatalogError::OpState {
                    path: self.path.clone(),
                    op_id: op.op_id,
                    state: op.state,
                    expected: "a copy or move",
                    op: OP,
                });
            }
            self.finish_op_tx(tx, &op, placement.destination, OP)?;

            self.check_destination_tx(tx, placement)?;

            self.upsert_organized_tx(tx, placement, &op, media_json)?;
            tracing::debug!(
                catalog = %self.path.display(),
                op_id = op.op_id,
                asset_id = placement.asset_id,
                destination = %placement.destination.display(),
                "placement recorded"
            );
            Ok(())
        }
    }

    /// Refuses a placement whose asset is organized elsewhere, or whose destination the
    /// catalog gives to another asset.
    fn check_destination_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        placement: &Placement<'_>,
    ) -> Result<()> {
        const OP: &str = "completing a placement";
        let current: Option<(AssetStatus, Option<Vec<u8>>)> = tx
            .prepare_cached("SELECT status, organized_path FROM assets WHERE asset_id = ?1")
            .and_then(|mut s| {
                s.query_row([placement.asset_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(self.db(OP))?;
        if let Some((AssetStatus::Organized, Some(existing))) = current
            && existing != path_bytes(placement.destination)
        {
            return Err(CatalogError::AlreadyOrganized {
                path: self.path.clone(),
                asset_id: placement.asset_id.to_owned(),
                existing: bytes_path(existing),
                requested: placement.destination.to_path_buf(),
            });
        }
        let owner: Option<String> = tx
            .prepare_cached(
                "SELECT asset_id FROM assets WHERE organized_path = ?1 AND asset_id <> ?2",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![path_bytes(placement.destination), placement.asset_id],
                    |r| r.get(0),
                )
                .optional()
            })
            .map_err(self.db(OP))?;
        if let Some(other) = owner {
            return Err(CatalogError::DestinationTaken {
                path: self.path.clone(),
                destination: placement.destination.to_path_buf(),
                other,
            });
        }
        Ok(())
    }

    /// Marks the asset organized at the placement's destination (inserted or updated).
    fn upsert_organized_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        placement: &Placement<'_>,
        op: &crate::OpRecord,
        media_json: Option<&str>,
    ) -> Result<()> {
        const OP: &str = "completing a placement";
        let now = now_us();
        tx.prepare_cached(
            "INSERT INTO assets (asset_id, status, original_path, size, first_seen, updated_at,
             organized_path, organized_at, project, source, style, op_id, media)
         VALUES (?1, 'organized', ?2, ?3, ?4, ?4, ?5, ?4, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (asset_id) DO UPDATE SET
             status = 'organized', status_reason = NULL,
             size = excluded.size, updated_at = excluded.updated_at,
             organized_path = excluded.organized_path,
             organized_at = coalesce(assets.organized_at, excluded.organized_at),
             project = excluded.project, source = excluded.source,
             style = excluded.style, op_id = excluded.op_id,
             media = coalesce(excluded.media, assets.media)",
        )
        .and_then(|mut s| {
            s.execute(params![
                placement.asset_id,
                path_bytes(&op.source),
                u64_sql(placement.size),
                now,
                path_bytes(placement.destination),
                placement.project,
                placement.source,
                placement.style,
                op.op_id,
                media_json,
            ])
        })
        .map_err(self.db(OP))?;
        // Apart, and only when it differs: naming an indexed column in an update rewrites its
        // index entry even when the value stays (a page written per file, nearly always for
        // nothing: the file is organized from where it was discovered).
        tx.prepare_cached(
            "UPDATE assets SET original_path = ?2 WHERE asset_id = ?1 AND original_path IS NOT ?2",
        )
        .and_then(|mut s| s.execute(params![placement.asset_id, path_bytes(&op.source)]))
        .map_err(self.db(OP))?;
        Ok(())
    }

    /// The stored form of an asset's media: its JSON without the members that are null (a
    /// missing member reads back as `None`, and as SQL NULL through `json_extract`), which is
    /// about a fifth of the text for a typical image.
    pub(crate) fn media_json(&self, asset_id: &str, media: &MediaInfo) -> Result<String> {
        let encode_err = |source| CatalogError::Encode {
            path: self.path.clone(),
            asset_id: asset_id.to_owned(),
            source,
        };
        let mut value = serde_json::to_value(media).map_err(encode_err)?;
        drop_null_members(&mut value);
        serde_json::to_string(&value).map_err(encode_err)
    }

    pub(crate) fn check_markable(&self, status: AssetStatus) -> Result<()> {
        if status == AssetStatus::Organized {
            return Err(CatalogError::InvalidStatus {
                path: self.path.clone(),
                status: status.as_str(),
            });
        }
        Ok(())
    }

    /// Applies an [`AssetUpdate`] inside a transaction (used by event recording).
    pub(crate) fn apply_update_tx(
        &self,
        tx: &Transaction<'_>,
        update: &AssetUpdate<'_>,
    ) -> Result<()> {
        const OP: &str = "applying an event to its asset";
        match *update {
            AssetUpdate::None => Ok(()),
            AssetUpdate::Discovered {
                asset_id,
                path,
                size,
            } => upsert_discovered_tx(tx, asset_id, path, size).map_err(self.db(OP)),
            AssetUpdate::Metadata { asset_id, media } => {
                let json = self.media_json(asset_id, media)?;
                set_metadata_tx(tx, asset_id, &json)
                    .map(drop)
                    .map_err(self.db(OP))
            }
            AssetUpdate::Status {
                asset_id,
                status,
                reason,
            } => {
                self.check_markable(status)?;
                mark_status_tx(tx, asset_id, status, reason)
                    .map(drop)
                    .map_err(self.db(OP))
            }
            AssetUpdate::Visual(record) => {
                crate::visual::set_visual_tx(tx, record).map_err(self.db(OP))
            }
        }
    }
}

fn upsert_discovered_tx(
    tx: &Transaction<'_>,
    asset_id: &str,
    path: &Path,
    size: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO assets (asset_id, status, original_path, size, first_seen, updated_at)
         VALUES (?1, 'discovered', ?2, ?3, ?4, ?4)
         ON CONFLICT (asset_id) DO UPDATE SET
             status = 'discovered', status_reason = NULL,
             original_path = excluded.original_path, size = excluded.size,
             updated_at = excluded.updated_at
         WHERE assets.status <> 'organized'",
    )?
    .execute(params![asset_id, path_bytes(path), u64_sql(size), now_us()])?;
    Ok(())
}

fn set_metadata_tx(tx: &Transaction<'_>, asset_id: &str, json: &str) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached("UPDATE assets SET media = ?2, updated_at = ?3 WHERE asset_id = ?1")?
        .execute(params![asset_id, json, now_us()])?;
    Ok(changed > 0)
}

fn mark_status_tx(
    tx: &Transaction<'_>,
    asset_id: &str,
    status: AssetStatus,
    reason: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE assets SET status = ?2, status_reason = ?3, updated_at = ?4
             WHERE asset_id = ?1 AND status <> 'organized'",
        )?
        .execute(params![asset_id, status, reason, now_us()])?;
    Ok(changed > 0)
}

/// Removes every object member whose value is null, at any depth (array elements stay).
fn drop_null_members(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_null_members);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_members),
        _ => {}
    }
}
