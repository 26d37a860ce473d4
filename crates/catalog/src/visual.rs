//! What the visual stage learned about each organized asset: how its thumbnails were made, its
//! size in pixels, and its perceptual fingerprint (opaque bytes of the `visual` crate). Written
//! when the catalog stage records an `alice.asset.visualized.v1` event (or a content failure of
//! the visual stage, so a file that cannot be decoded is not tried again at every start); read
//! to build the near-duplicate index and to find what the visual stage has not seen yet.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::{Catalog, Result, bytes_path, now_text};

/// `rendered` of a row the visual stage could not decode (too many pixels, corrupt).
pub const RENDERED_FAILED: &str = "failed";

/// One asset's row in the `visual` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisualRecord {
    /// The asset.
    pub asset_id: String,
    /// How its thumbnails were made (`image`, `video_poster`, `video_placeholder`,
    /// `unsupported_image`), or [`RENDERED_FAILED`].
    pub rendered: String,
    /// Why a placeholder or a failure.
    pub reason: Option<String>,
    /// Upright width in pixels, when decoded.
    pub width: Option<u32>,
    /// Upright height in pixels, when decoded.
    pub height: Option<u32>,
    /// The fingerprint bytes, when there are pixels.
    pub fingerprint: Option<Vec<u8>>,
}

/// An organized asset the visual stage has not recorded anything for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unvisualized {
    /// The asset.
    pub asset_id: String,
    /// Where it is organized.
    pub organized_path: PathBuf,
}

impl Catalog {
    /// The visual row of `asset_id`, if the visual stage recorded one.
    pub fn visual(&self, asset_id: &str) -> Result<Option<VisualRecord>> {
        self.read("reading an asset's visual record", |c| {
            c.prepare_cached(
                "SELECT asset_id, rendered, reason, width, height, fingerprint
                 FROM visual WHERE asset_id = ?1",
            )?
            .query_row([asset_id], |r| {
                Ok(VisualRecord {
                    asset_id: r.get(0)?,
                    rendered: r.get(1)?,
                    reason: r.get(2)?,
                    width: r.get(3)?,
                    height: r.get(4)?,
                    fingerprint: r.get(5)?,
                })
            })
            .optional()
        })
    }

    /// Every organized asset's fingerprint, `(asset id, bytes)`, to build the near-duplicate
    /// index from.
    pub fn fingerprints(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.read("reading fingerprints", |c| {
            c.prepare_cached(
                "SELECT v.asset_id, v.fingerprint FROM visual v
                 JOIN assets a ON a.asset_id = v.asset_id
                 WHERE v.fingerprint IS NOT NULL AND a.status = 'organized'",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
    }

    /// Organized assets without a visual row whose id sorts after `after` (`""` for the
    /// start), in id order, at most `limit`: what a visual stage turned on for an existing
    /// library has to catch up with. Pass the last id returned to continue.
    pub fn unvisualized(&self, after: &str, limit: usize) -> Result<Vec<Unvisualized>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing assets without thumbnails", |c| {
            c.prepare_cached(
                "SELECT a.asset_id, a.organized_path FROM assets a
                 WHERE a.status = 'organized' AND a.organized_path IS NOT NULL
                   AND a.asset_id > ?1
                   AND NOT EXISTS (SELECT 1 FROM visual v WHERE v.asset_id = a.asset_id)
                 ORDER BY a.asset_id LIMIT ?2",
            )?
            .query_map(params![after, limit], |r| {
                Ok(Unvisualized {
                    asset_id: r.get(0)?,
                    organized_path: bytes_path(r.get(1)?),
                })
            })?
            .collect()
        })
    }

    /// How many organized assets have no visual row.
    pub fn count_unvisualized(&self) -> Result<u64> {
        self.read("counting assets without thumbnails", |c| {
            c.prepare_cached(
                "SELECT count(*) FROM assets a
                 WHERE a.status = 'organized' AND a.organized_path IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM visual v WHERE v.asset_id = a.asset_id)",
            )?
            .query_row([], |r| r.get::<_, i64>(0))
            .map(crate::sql_u64)
        })
    }

    /// Writes (or replaces) `record`, outside of event recording.
    pub fn set_visual(&self, record: &VisualRecord) -> Result<()> {
        self.write("recording an asset's visual record", |tx| {
            set_visual_tx(tx, record).map_err(self.db("recording an asset's visual record"))
        })
    }
}

/// Replaces the visual row of `record.asset_id`.
pub(crate) fn set_visual_tx(tx: &Transaction<'_>, record: &VisualRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO visual
             (asset_id, rendered, reason, width, height, fingerprint, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        record.asset_id,
        record.rendered,
        record.reason,
        record.width,
        record.height,
        record.fingerprint,
        now_text()
    ])?;
    Ok(())
}

impl Catalog {
    /// Ids of up to `limit` assets whose id starts with `prefix` (lowercase hex), in id order:
    /// resolving the short ids people copy from pages and logs.
    pub fn asset_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Ids are lowercase hex: every id with the prefix sorts before the prefix followed by
        // a character above 'f'.
        let end = format!("{prefix}g");
        self.read("looking up an asset id prefix", |c| {
            c.prepare_cached(
                "SELECT asset_id FROM assets WHERE asset_id >= ?1 AND asset_id < ?2
                 ORDER BY asset_id LIMIT ?3",
            )?
            .query_map(params![prefix, end, limit], |r| r.get(0))?
            .collect()
        })
    }
}
