//! The write-ahead operation journal and per-(project, source) sequences.
//!
//! Protocol: [`Catalog::begin_op`] is committed (and fsynced) *before* the file is touched,
//! with the planned destination; after the file is in place, [`Catalog::complete_placement`]
//! (or [`Catalog::finish_op`] for operations that do not organize an asset) records the final
//! destination. On start, [`Catalog::pending_ops`] lists what a crash interrupted: for each,
//! the caller inspects the destination and either completes or abandons it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::{
    Catalog, CatalogError, OpKind, OpState, Result, Transfer, bytes_path, now_us, path_bytes,
    sql_u64,
};

/// A journal operation about to be carried out.
#[derive(Debug, Clone, Copy)]
pub struct NewOp<'a> {
    /// The asset whose file is moved or copied.
    pub asset_id: &'a str,
    /// What is done.
    pub kind: OpKind,
    /// The file's current path.
    pub source: &'a Path,
    /// The planned destination.
    pub destination: &'a Path,
    /// How the file is transferred.
    pub mode: Transfer,
}

/// How one operation of a batch ended, for [`Catalog::settle_ops`].
#[derive(Debug, Clone, Copy)]
pub enum Settle<'a> {
    /// Placed and organizing its asset: [`Catalog::complete_placement`].
    Placed(crate::Placement<'a>),
    /// Placed, nothing to organize (a file set aside): [`Catalog::finish_op`].
    Finished {
        /// The operation.
        op_id: i64,
        /// Where the file landed.
        destination: &'a Path,
    },
    /// Not placed: [`Catalog::abandon_op`].
    Abandoned {
        /// The operation.
        op_id: i64,
        /// Why.
        reason: &'a str,
    },
}

/// A journal operation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// Operation id; never reused.
    pub op_id: i64,
    /// The asset.
    pub asset_id: String,
    /// What is done.
    pub kind: OpKind,
    /// The file's path before the operation.
    pub source: PathBuf,
    /// The planned destination while pending; the final one once done.
    pub destination: PathBuf,
    /// How the file was transferred.
    pub mode: Transfer,
    /// Where the operation stands.
    pub state: OpState,
    /// When it was begun.
    pub created_at: DateTime<Utc>,
    /// When it was finished or abandoned.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it was abandoned or which operation it undid, when recorded.
    pub note: Option<String>,
}

const OP_COLUMNS: &str = "op_id, asset_id, kind, source_path, destination_path, mode, state, \
     created_at, finished_at, note";

struct RawOp {
    op_id: i64,
    asset_id: String,
    kind: OpKind,
    source: Vec<u8>,
    destination: Vec<u8>,
    mode: Transfer,
    state: OpState,
    created_at: i64,
    finished_at: Option<i64>,
    note: Option<String>,
}

impl RawOp {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawOp> {
        Ok(RawOp {
            op_id: row.get(0)?,
            asset_id: row.get(1)?,
            kind: row.get(2)?,
            source: row.get(3)?,
            destination: row.get(4)?,
            mode: row.get(5)?,
            state: row.get(6)?,
            created_at: row.get(7)?,
            finished_at: row.get(8)?,
            note: row.get(9)?,
        })
    }
}

impl Catalog {
    fn decode_op(&self, raw: RawOp) -> Result<OpRecord> {
        let key = format!("operation {}", raw.op_id);
        let finished_at = match raw.finished_at {
            Some(t) => Some(self.time_of_us("finished_at", &key, t)?),
            None => None,
        };
        Ok(OpRecord {
            op_id: raw.op_id,
            asset_id: raw.asset_id,
            kind: raw.kind,
            source: bytes_path(raw.source),
            destination: bytes_path(raw.destination),
            mode: raw.mode,
            state: raw.state,
            created_at: self.time_of_us("created_at", &key, raw.created_at)?,
            finished_at,
            note: raw.note,
        })
    }

    fn query_ops(
        &self,
        op: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<OpRecord>> {
        let raws: Vec<RawOp> = self.read(op, |c| {
            c.prepare_cached(sql)?
                .query_map(params, RawOp::from_row)?
                .collect()
        })?;
        raws.into_iter().map(|r| self.decode_op(r)).collect()
    }

    /// Records an operation as pending, durably, before the file is touched. Returns its id.
    pub fn begin_op(&self, new: &NewOp<'_>) -> Result<i64> {
        let ids = self.begin_ops(std::slice::from_ref(new))?;
        Ok(ids[0])
    }

    /// [`Catalog::begin_op`] for a batch, in one transaction (one fsync): the ids in order.
    pub fn begin_ops(&self, ops: &[NewOp<'_>]) -> Result<Vec<i64>> {
        let ids = self.write("beginning an operation", |tx| {
            ops.iter().map(|new| self.begin_op_tx(tx, new)).collect()
        })?;
        for (new, op_id) in ops.iter().zip(&ids) {
            tracing::debug!(
                catalog = %self.path.display(),
                op_id,
                asset_id = new.asset_id,
                kind = %new.kind,
                destination = %new.destination.display(),
                "operation begun"
            );
        }
        Ok(ids)
    }

    /// Ends a batch of operations in **one** transaction (one fsync), each item in a
    /// savepoint of its own: an item that fails (its result says why) leaves the others
    /// recorded. Only an error of the transaction itself fails the whole call.
    pub fn settle_ops(&self, items: &[Settle<'_>]) -> Result<Vec<Result<()>>> {
        const OP: &str = "settling a batch of operations";
        let media: Vec<Result<Option<String>>> = items
            .iter()
            .map(|item| match item {
                Settle::Placed(p) => p.media.map(|m| self.media_json(p.asset_id, m)).transpose(),
                _ => Ok(None),
            })
            .collect();
        self.write(OP, |tx| {
            let mut out = Vec::with_capacity(items.len());
            for (item, json) in items.iter().zip(media) {
                tx.execute_batch("SAVEPOINT settle").map_err(self.db(OP))?;
                let r = match (item, json) {
                    (_, Err(e)) => Err(e),
                    (Settle::Placed(p), Ok(json)) => {
                        self.complete_placement_tx(tx, p, json.as_deref())
                    }
                    (Settle::Finished { op_id, destination }, _) => self
                        .load_op_tx(tx, *op_id)
                        .and_then(|op| self.finish_op_tx(tx, &op, destination, OP)),
                    (Settle::Abandoned { op_id, reason }, _) => {
                        self.abandon_op_tx(tx, *op_id, reason)
                    }
                };
                let end = if r.is_ok() {
                    "RELEASE settle"
                } else {
                    "ROLLBACK TO settle; RELEASE settle"
                };
                tx.execute_batch(end).map_err(self.db(OP))?;
                out.push(r);
            }
            Ok(out)
        })
    }

    pub(crate) fn begin_op_tx(&self, tx: &Transaction<'_>, new: &NewOp<'_>) -> Result<i64> {
        tx.prepare_cached(
            "INSERT INTO journal (asset_id, kind, source_path, destination_path, mode, state,
                 created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                new.asset_id,
                new.kind,
                path_bytes(new.source),
                path_bytes(new.destination),
                new.mode,
                now_us(),
            ])
        })
        .map_err(self.db("beginning an operation"))?;
        Ok(tx.last_insert_rowid())
    }

    /// Marks a pending operation done at its final destination. Finishing an operation that
    /// is already done at the same destination is a no-op (a retried call); anything else
    /// that is not pending is [`CatalogError::OpState`]. To also record an organized asset,
    /// use [`Catalog::complete_placement`] instead.
    pub fn finish_op(&self, op_id: i64, final_destination: &Path) -> Result<()> {
        const OP: &str = "finishing an operation";
        self.write(OP, |tx| {
            let op = self.load_op_tx(tx, op_id)?;
            self.finish_op_tx(tx, &op, final_destination, OP)
        })
    }

    /// Gives up a pending operation (the file was not placed by it), noting why. Abandoning
    /// an abandoned operation is a no-op.
    pub fn abandon_op(&self, op_id: i64, reason: &str) -> Result<()> {
        const OP: &str = "abandoning an operation";
        self.write(OP, |tx| self.abandon_op_tx(tx, op_id, reason))
    }

    fn abandon_op_tx(&self, tx: &Transaction<'_>, op_id: i64, reason: &str) -> Result<()> {
        const OP: &str = "abandoning an operation";
        let op = self.load_op_tx(tx, op_id)?;
        match op.state {
            OpState::Abandoned => Ok(()),
            OpState::Pending => {
                tx.prepare_cached(
                    "UPDATE journal SET state = 'abandoned', finished_at = ?2, note = ?3
                     WHERE op_id = ?1",
                )
                .and_then(|mut s| s.execute(params![op_id, now_us(), reason]))
                .map_err(self.db(OP))?;
                Ok(())
            }
            state => Err(self.op_state_err(op_id, state, "pending", OP)),
        }
    }

    /// Operations begun and never finished or abandoned, oldest first: what a crash
    /// interrupted.
    pub fn pending_ops(&self) -> Result<Vec<OpRecord>> {
        let sql =
            format!("SELECT {OP_COLUMNS} FROM journal WHERE state = 'pending' ORDER BY op_id");
        self.query_ops("listing pending operations", &sql, [])
    }

    /// The `n` most recent done operations that can be undone (not undos themselves), newest
    /// first, for `alice undo --last N`.
    pub fn last_ops(&self, n: usize) -> Result<Vec<OpRecord>> {
        let sql = format!(
            "SELECT {OP_COLUMNS} FROM journal WHERE state = 'done' AND kind <> 'undo'
             ORDER BY op_id DESC LIMIT ?1"
        );
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        self.query_ops("listing recent operations", &sql, [limit])
    }

    /// One operation.
    pub fn op(&self, op_id: i64) -> Result<Option<OpRecord>> {
        let sql = format!("SELECT {OP_COLUMNS} FROM journal WHERE op_id = ?1");
        let raw = self.read("reading an operation", |c| {
            c.prepare_cached(&sql)?
                .query_row([op_id], RawOp::from_row)
                .optional()
        })?;
        raw.map(|r| self.decode_op(r)).transpose()
    }

    /// True when the latest word on `asset_id` at `path` is an undo: a done `undo` operation
    /// put (or left) the file at `path`, and no copy or move organized the asset since. The
    /// pipeline treats such a file as handled, so an undo sticks instead of being redone by
    /// the next scan.
    pub fn undone_at(&self, asset_id: &str, path: &Path) -> Result<bool> {
        self.read("checking for an undo", |c| {
            c.prepare_cached(
                // A copy or move that organized the asset after the undo is the one its row
                // names (`assets.op_id` is set by a placement and cleared by an undo), so the
                // journal is searched by asset only among undos (`journal_undo`).
                "SELECT EXISTS (
                     SELECT 1 FROM journal u
                     WHERE u.asset_id = ?1 AND u.kind = 'undo' AND u.state = 'done'
                       AND u.destination_path = ?2
                       AND NOT EXISTS (
                           SELECT 1 FROM assets a
                           WHERE a.asset_id = ?1 AND a.op_id > u.op_id))",
            )?
            .query_row(params![asset_id, path_bytes(path)], |r| r.get(0))
        })
    }

    /// Marks a done operation undone. For a `copy` or `move`, the asset it organized is no
    /// longer organized (if it still sits at that operation's destination): it becomes
    /// `skipped` with a reason naming the operation, so the dedup index stops pointing at the
    /// removed file. Marking an undone operation again is a no-op.
    pub fn mark_undone(&self, op_id: i64) -> Result<()> {
        self.write("marking an operation undone", |tx| {
            self.mark_undone_tx(tx, op_id)
        })
    }

    /// Finishes the `undo` operation `undo_op_id` at `final_destination` and marks
    /// `target_op_id` undone, in one transaction.
    pub fn complete_undo(
        &self,
        undo_op_id: i64,
        target_op_id: i64,
        final_destination: &Path,
    ) -> Result<()> {
        const OP: &str = "completing an undo";
        self.write(OP, |tx| {
            let undo = self.load_op_tx(tx, undo_op_id)?;
            if undo.kind != OpKind::Undo {
                return Err(self.op_state_err(undo_op_id, undo.state, "an undo operation", OP));
            }
            self.finish_op_tx(tx, &undo, final_destination, OP)?;
            tx.prepare_cached("UPDATE journal SET note = ?2 WHERE op_id = ?1")
                .and_then(|mut s| {
                    s.execute(params![
                        undo_op_id,
                        format!("undoes operation {target_op_id}")
                    ])
                })
                .map_err(self.db(OP))?;
            self.mark_undone_tx(tx, target_op_id)
        })
    }

    /// Hands out the next number of the `(project, source)` sequence, starting at 1. The
    /// increment is committed (fsynced) before the number is returned, so no number is ever
    /// handed out twice, even across crashes; a number whose user crashed is simply skipped.
    pub fn next_seq(&self, project: &str, source: &str) -> Result<u64> {
        const OP: &str = "taking a sequence number";
        let value: i64 = self.write(OP, |tx| {
            tx.prepare_cached(
                "INSERT INTO sequences (project, source, next_value) VALUES (?1, ?2, 2)
                 ON CONFLICT (project, source) DO UPDATE SET next_value = next_value + 1
                 RETURNING next_value - 1",
            )
            .and_then(|mut s| s.query_row(params![project, source], |r| r.get(0)))
            .map_err(self.db(OP))
        })?;
        Ok(sql_u64(value))
    }

    pub(crate) fn load_op_tx(&self, tx: &Transaction<'_>, op_id: i64) -> Result<OpRecord> {
        let sql = format!("SELECT {OP_COLUMNS} FROM journal WHERE op_id = ?1");
        let raw = tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([op_id], RawOp::from_row).optional())
            .map_err(self.db("reading an operation"))?
            .ok_or_else(|| CatalogError::UnknownOp {
                path: self.path.clone(),
                op_id,
            })?;
        self.decode_op(raw)
    }

    pub(crate) fn finish_op_tx(
        &self,
        tx: &Transaction<'_>,
        op: &OpRecord,
        final_destination: &Path,
        what: &'static str,
    ) -> Result<()> {
        match op.state {
            OpState::Pending => {
                tx.prepare_cached(
                    "UPDATE journal SET state = 'done', destination_path = ?2, finished_at = ?3
                     WHERE op_id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![op.op_id, path_bytes(final_destination), now_us()])
                })
                .map_err(self.db(what))?;
                Ok(())
            }
            OpState::Done if op.destination == final_destination => Ok(()),
            state => Err(self.op_state_err(op.op_id, state, "pending", what)),
        }
    }

    fn mark_undone_tx(&self, tx: &Transaction<'_>, op_id: i64) -> Result<()> {
        const OP: &str = "marking an operation undone";
        let op = self.load_op_tx(tx, op_id)?;
        match (op.state, op.kind) {
            (OpState::Undone, _) => return Ok(()),
            (OpState::Done, kind) if kind != OpKind::Undo => {}
            (state, _) => {
                return Err(self.op_state_err(op_id, state, "a done, non-undo operation", OP));
            }
        }
        tx.prepare_cached("UPDATE journal SET state = 'undone' WHERE op_id = ?1")
            .and_then(|mut s| s.execute([op_id]))
            .map_err(self.db(OP))?;
        if matches!(op.kind, OpKind::Copy | OpKind::Move) {
            tx.prepare_cached(
                "UPDATE assets SET status = 'skipped', status_reason = ?3, organized_path = NULL,
                     organized_at = NULL, op_id = NULL, updated_at = ?4
                 WHERE asset_id = ?1 AND organized_path = ?2",
            )
            .and_then(|mut s| {
                s.execute(params![
                    op.asset_id,
                    path_bytes(&op.destination),
                    format!("placement undone (operation {op_id})"),
                    now_us(),
                ])
            })
            .map_err(self.db(OP))?;
        }
        Ok(())
    }

    fn op_state_err(
        &self,
        op_id: i64,
        state: OpState,
        expected: &'static str,
        op: &'static str,
    ) -> CatalogError {
        CatalogError::OpState {
            path: self.path.clone(),
            op_id,
            state,
            expected,
            op,
        }
    }
}
