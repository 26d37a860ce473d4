//! Sidecar files journaled with the media they travel with.
//!
//! Protocol (the media's journal protocol, extended): the sidecars of a transfer are
//! inserted as `pending` in the same transaction that begins the media's operation
//! ([`Catalog::begin_op_with_sidecars`]); a sidecar that arrives after its media was placed
//! is begun on its own under the media's operation ([`Catalog::begin_sidecar`]). Once a file
//! is at its destination it is [`Catalog::place_sidecars`]; one that was not placed is
//! [`Catalog::abandon_sidecars`]. [`Catalog::pending_sidecars`] lists what a crash
//! interrupted.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::{
    AssetRecord, Catalog, NewOp, Result, SidecarState, bytes_path, now_text, path_bytes, sql_u64,
    u64_sql,
};

/// A sidecar file about to be transferred with its media.
#[derive(Debug, Clone, Copy)]
pub struct NewSidecar<'a> {
    /// The sidecar's own content id (BLAKE3 hex).
    pub sidecar_id: &'a str,
    /// What kind of sidecar (`xmp`, `aae`, `takeout`, `parameters`, `generator`).
    pub kind: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Its path in the inbox.
    pub source: &'a Path,
    /// Its planned destination beside the media.
    pub destination: &'a Path,
}

/// A sidecar as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarRecord {
    /// Row id.
    pub id: i64,
    /// The journal operation it is placed under (its media's).
    pub op_id: i64,
    /// The media asset it belongs to.
    pub asset_id: String,
    /// Its own content id.
    pub sidecar_id: String,
    /// What kind of sidecar.
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
    /// Its path in the inbox.
    pub source: PathBuf,
    /// Planned destination while pending, the final one once placed.
    pub destination: PathBuf,
    /// Where it stands.
    pub state: SidecarState,
}

const COLUMNS: &str =
    "id, op_id, asset_id, sidecar_id, kind, size, source_path, destination_path, state";

fn from_row(row: &Row<'_>) -> rusqlite::Result<SidecarRecord> {
    Ok(SidecarRecord {
        id: row.get(0)?,
        op_id: row.get(1)?,
        asset_id: row.get(2)?,
        sidecar_id: row.get(3)?,
        kind: row.get(4)?,
        size: sql_u64(row.get(5)?),
        source: bytes_path(row.get(6)?),
        destination: bytes_path(row.get(7)?),
        state: row.get(8)?,
    })
}

impl Catalog {
    /// [`Catalog::begin_op`] with the sidecars that travel with the file, all pending in one
    /// transaction. Returns the operation id and the sidecar row ids, in order.
    pub fn begin_op_with_sidecars(
        &self,
        op: &NewOp<'_>,
        sidecars: &[NewSidecar<'_>],
    ) -> Result<(i64, Vec<i64>)> {
        self.write("beginning an operation", |tx| {
            let op_id = self.begin_op_tx(tx, op)?;
            let ids = sidecars
                .iter()
                .map(|s| self.insert_sidecar_tx(tx, op_id, op.asset_id, s))
                .collect::<Result<Vec<_>>>()?;
            Ok((op_id, ids))
        })
    }

    /// Journals a sidecar that joins media already placed by operation `op_id` (asset
    /// `asset_id`), before the sidecar is touched. Returns its row id.
    pub fn begin_sidecar(&self, op_id: i64, asset_id: &str, s: &NewSidecar<'_>) -> Result<i64> {
        self.write("beginning a sidecar transfer", |tx| {
            self.insert_sidecar_tx(tx, op_id, asset_id, s)
        })
    }

    fn insert_sidecar_tx(
        &self,
        tx: &Transaction<'_>,
        op_id: i64,
        asset_id: &str,
        s: &NewSidecar<'_>,
    ) -> Result<i64> {
        tx.prepare_cached(
            "INSERT INTO sidecars (op_id, asset_id, sidecar_id, kind, size, source_path,
                 destination_path, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
        )
        .and_then(|mut st| {
            st.execute(params![
                op_id,
                asset_id,
                s.sidecar_id,
                s.kind,
                u64_sql(s.size),
                path_bytes(s.source),
                path_bytes(s.destination),
                now_text(),
            ])
        })
        .map_err(self.db("journaling a sidecar"))?;
        Ok(tx.last_insert_rowid())
    }

    /// Records sidecars as placed at their final destinations, in one transaction.
    pub fn place_sidecars(&self, placed: &[(i64, &Path)]) -> Result<()> {
        self.set_sidecar_states(
            "recording placed sidecars",
            placed.iter().map(|(id, d)| (*id, Some(*d))),
            SidecarState::Placed,
        )
    }

    /// Marks sidecars abandoned (not placed; they are in the inbox).
    pub fn abandon_sidecars(&self, ids: &[i64]) -> Result<()> {
        self.set_sidecar_states(
            "abandoning sidecars",
            ids.iter().map(|id| (*id, None)),
            SidecarState::Abandoned,
        )
    }

    /// Marks placed sidecars undone (taken back out with their media).
    pub fn undo_sidecars(&self, moved: &[(i64, &Path)]) -> Result<()> {
        self.set_sidecar_states(
            "recording undone sidecars",
            moved.iter().map(|(id, d)| (*id, Some(*d))),
            SidecarState::Undone,
        )
    }

    fn set_sidecar_states<'p>(
        &self,
        op: &'static str,
        rows: impl Iterator<Item = (i64, Option<&'p Path>)>,
        state: SidecarState,
    ) -> Result<()> {
        let rows: Vec<_> = rows.collect();
        self.write(op, |tx| {
            for (id, dest) in &rows {
                tx.prepare_cached(
                    "UPDATE sidecars SET state = ?2, finished_at = ?3,
                         destination_path = coalesce(?4, destination_path)
                     WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, state, now_text(), dest.map(path_bytes)]))
                .map_err(self.db(op))?;
            }
            Ok(())
        })
    }

    fn query_sidecars(
        &self,
        op: &'static str,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<SidecarRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM sidecars WHERE {filter} ORDER BY id");
        self.read(op, |c| {
            c.prepare_cached(&sql)?
                .query_map(params, from_row)?
                .collect()
        })
    }

    /// Every sidecar journaled under operation `op_id`, whatever its state.
    pub fn sidecars_of_op(&self, op_id: i64) -> Result<Vec<SidecarRecord>> {
        self.query_sidecars("listing an operation's sidecars", "op_id = ?1", [op_id])
    }

    /// The sidecars placed beside the organized file of `asset_id`, each file once (a
    /// sidecar recorded twice, by its media's group and on its own, is listed once).
    pub fn sidecars_of_asset(&self, asset_id: &str) -> Result<Vec<SidecarRecord>> {
        let mut all = self.query_sidecars(
            "listing an asset's sidecars",
            "asset_id = ?1 AND state = 'placed'",
            [asset_id],
        )?;
        let mut seen = std::collections::HashSet::new();
        all.retain(|s| seen.insert(s.destination.clone()));
        Ok(all)
    }

    /// Sidecar transfers a crash interrupted, oldest first.
    pub fn pending_sidecars(&self) -> Result<Vec<SidecarRecord>> {
        self.query_sidecars("listing pending sidecars", "state = 'pending'", [])
    }

    /// The placed sidecar with content `sidecar_id` that came from `source`, if any.
    pub fn sidecar_placed_from(
        &self,
        source: &Path,
        sidecar_id: &str,
    ) -> Result<Option<SidecarRecord>> {
        self.sidecar_from(source, sidecar_id, "state = 'placed'")
    }

    /// The sidecar or group member with content `sidecar_id` from `source` that a group has
    /// journaled (pending: its group is being placed now, or was when a crash came) or placed.
    pub fn sidecar_journaled_from(
        &self,
        source: &Path,
        sidecar_id: &str,
    ) -> Result<Option<SidecarRecord>> {
        self.sidecar_from(source, sidecar_id, "state IN ('pending', 'placed')")
    }

    /// The newest member of a pair (kind `raw`, `live-video` or `still`) placed from `source`,
    /// whatever its content: where a member's own late sidecar goes.
    pub fn member_placed_from(&self, source: &Path) -> Result<Option<SidecarRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sidecars
             WHERE source_path = ?1 AND state = 'placed'
               AND kind IN ('raw', 'live-video', 'still')
             ORDER BY id DESC LIMIT 1"
        );
        self.read("looking up a placed member", |c| {
            c.prepare_cached(&sql)?
                .query_row(params![path_bytes(source)], from_row)
                .optional()
        })
    }

    fn sidecar_from(
        &self,
        source: &Path,
        sidecar_id: &str,
        state: &str,
    ) -> Result<Option<SidecarRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sidecars
             WHERE source_path = ?1 AND sidecar_id = ?2 AND {state}
             ORDER BY id DESC LIMIT 1"
        );
        self.read("looking up a sidecar by its source", |c| {
            c.prepare_cached(&sql)?
                .query_row(params![path_bytes(source), sidecar_id], from_row)
                .optional()
        })
    }

    /// The newest placed group member or sidecar with content `sidecar_id`, wherever it came
    /// from: content organized as part of another file's group (a RAW of a RAW+JPEG pair).
    pub fn placed_copy_of(&self, sidecar_id: &str) -> Result<Option<SidecarRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sidecars
             WHERE sidecar_id = ?1 AND state = 'placed'
             ORDER BY id DESC LIMIT 1"
        );
        self.read("looking up placed content", |c| {
            c.prepare_cached(&sql)?
                .query_row(params![sidecar_id], from_row)
                .optional()
        })
    }

    /// Assets whose status is `skipped` with exactly `reason`, first seen before `before`,
    /// oldest first, at most `limit`: e.g. sidecars still waiting for their media.
    pub fn skipped_since(
        &self,
        reason: &str,
        before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<AssetRecord>> {
        let sql = format!(
            "SELECT {} FROM assets a
             WHERE a.status = 'skipped' AND a.status_reason = ?1 AND a.first_seen < ?2
             ORDER BY a.first_seen LIMIT ?3",
            crate::assets::ASSET_COLUMNS
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let raws = self.read("listing skipped assets", |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![reason, crate::time_us(before), limit],
                    crate::assets::RawAsset::from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter().map(|r| self.decode_asset(r)).collect()
    }

    /// The asset organized from the inbox path `path`, if one is (the newest, should the
    /// path have held several contents).
    pub fn organized_from(&self, path: &Path) -> Result<Option<AssetRecord>> {
        let sql = format!(
            "SELECT {} FROM assets a
             WHERE a.original_path = ?1 AND a.status = 'organized'
             ORDER BY a.organized_at DESC LIMIT 1",
            crate::assets::ASSET_COLUMNS
        );
        let raw = self.read("looking up the media organized from a path", |c| {
            c.prepare_cached(&sql)?
                .query_row([path_bytes(path)], crate::assets::RawAsset::from_row)
                .optional()
        })?;
        raw.map(|r| self.decode_asset(r)).transpose()
    }

    /// The organized assets of the Live Photo `live_photo_id` (Apple's content identifier,
    /// shared by its still and its video), newest first, at most a few.
    pub fn organized_live_photo(&self, live_photo_id: &str) -> Result<Vec<AssetRecord>> {
        let sql = format!(
            "SELECT {} FROM assets a
             WHERE json_extract(a.media, '$.live_photo_id') = ?1 AND a.status = 'organized'
             ORDER BY a.organized_at DESC LIMIT 8",
            crate::assets::ASSET_COLUMNS
        );
        let raws = self.read("looking up a Live Photo by its identifier", |c| {
            c.prepare_cached(&sql)?
                .query_map([live_photo_id], crate::assets::RawAsset::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter().map(|r| self.decode_asset(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpKind, Transfer};

    fn open() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        (dir, cat)
    }

    fn sidecar<'a>(source: &'a Path, dest: &'a Path) -> NewSidecar<'a> {
        NewSidecar {
            sidecar_id: "5c",
            kind: "xmp",
            size: 3,
            source,
            destination: dest,
        }
    }

    #[test]
    fn sidecars_are_pending_with_their_operation_then_placed() {
        let (_d, cat) = open();
        let (src, dst) = (Path::new("/in/a.jpg.xmp"), Path::new("/org/a.jpg.xmp"));
        let op = NewOp {
            asset_id: "aa",
            kind: OpKind::Move,
            source: Path::new("/in/a.jpg"),
            destination: Path::new("/org/a.jpg"),
            mode: Transfer::Move,
        };
        let (op_id, ids) = cat
            .begin_op_with_sidecars(&op, &[sidecar(src, dst)])
            .unwrap();
        assert_eq!(cat.pending_ops().unwrap().len(), 1);
        let pending = cat.pending_sidecars().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].op_id, pending[0].id), (op_id, ids[0]));
        assert!(cat.sidecars_of_asset("aa").unwrap().is_empty());

        let final_dest = Path::new("/org/a (2).jpg.xmp");
        cat.place_sidecars(&[(ids[0], final_dest)]).unwrap();
        assert!(cat.pending_sidecars().unwrap().is_empty());
        let placed = cat.sidecars_of_asset("aa").unwrap();
        assert_eq!(placed[0].destination, final_dest);
        assert_eq!(placed[0].state, SidecarState::Placed);
        assert_eq!(
            cat.sidecar_placed_from(src, "5c").unwrap().unwrap().id,
            ids[0]
        );
        assert!(cat.sidecar_placed_from(src, "other").unwrap().is_none());

        cat.undo_sidecars(&[(ids[0], src)]).unwrap();
        assert!(cat.sidecars_of_asset("aa").unwrap().is_empty());
        assert_eq!(
            cat.sidecars_of_op(op_id).unwrap()[0].state,
            SidecarState::Undone
        );
    }

    #[test]
    fn abandoned_sidecars_are_neither_pending_nor_placed() {
        let (_d, cat) = open();
        let (src, dst) = (Path::new("/in/b.txt"), Path::new("/org/b.txt"));
        let op_id = cat
            .begin_op(&NewOp {
                asset_id: "bb",
                kind: OpKind::Copy,
                source: Path::new("/in/b.png"),
                destination: Path::new("/org/b.png"),
                mode: Transfer::Copy,
            })
            .unwrap();
        let id = cat.begin_sidecar(op_id, "bb", &sidecar(src, dst)).unwrap();
        cat.abandon_sidecars(&[id]).unwrap();
        assert!(cat.pending_sidecars().unwrap().is_empty());
        assert!(cat.sidecars_of_asset("bb").unwrap().is_empty());
    }
}
