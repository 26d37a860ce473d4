//! Recorded events. The catalog is a durable subscriber: it stores every event once, keyed on
//! the event id, so a redelivered event (replay, retry) changes nothing.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use crate::{AssetUpdate, Catalog, Result, now_text, time_text};

/// An event to record, as primitive values taken from the envelope.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// The envelope `id`; unique per event, stable across retries and replays.
    pub id: &'a str,
    /// The envelope `type`.
    pub event_type: &'a str,
    /// The envelope `time`.
    pub time: DateTime<Utc>,
    /// The asset the event is about, if any (usually the envelope `subject`).
    pub asset_id: Option<&'a str>,
    /// The correlation id that follows an asset through its pipeline, if any.
    pub correlation_id: Option<&'a str>,
    /// The whole envelope as JSON, stored verbatim.
    pub json: &'a str,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Arrival order in this catalog (a cursor for [`Catalog::events_since`]).
    pub seq: i64,
    /// The envelope `id`.
    pub id: String,
    /// The envelope `type`.
    pub event_type: String,
    /// The envelope `time`.
    pub time: DateTime<Utc>,
    /// The asset, if any.
    pub asset_id: Option<String>,
    /// The correlation id, if any.
    pub correlation_id: Option<String>,
    /// The envelope as JSON.
    pub json: String,
    /// When the catalog recorded it.
    pub recorded_at: DateTime<Utc>,
}

const EVENT_COLUMNS: &str =
    "seq, event_id, type, time, asset_id, correlation_id, json, recorded_at";

struct RawEvent {
    seq: i64,
    id: String,
    event_type: String,
    time: String,
    asset_id: Option<String>,
    correlation_id: Option<String>,
    json: String,
    recorded_at: String,
}

impl RawEvent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
        Ok(RawEvent {
            seq: row.get(0)?,
            id: row.get(1)?,
            event_type: row.get(2)?,
            time: row.get(3)?,
            asset_id: row.get(4)?,
            correlation_id: row.get(5)?,
            json: row.get(6)?,
            recorded_at: row.get(7)?,
        })
    }
}

impl Catalog {
    fn decode_event(&self, raw: RawEvent) -> Result<StoredEvent> {
        let key = format!("event {}", raw.id);
        Ok(StoredEvent {
            time: self.parse_time("time", &key, &raw.time)?,
            recorded_at: self.parse_time("recorded_at", &key, &raw.recorded_at)?,
            seq: raw.seq,
            id: raw.id,
            event_type: raw.event_type,
            asset_id: raw.asset_id,
            correlation_id: raw.correlation_id,
            json: raw.json,
        })
    }

    fn query_events(
        &self,
        op: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredEvent>> {
        let raws: Vec<RawEvent> = self.read(op, |c| {
            c.prepare_cached(sql)?
                .query_map(params, RawEvent::from_row)?
                .collect()
        })?;
        raws.into_iter().map(|r| self.decode_event(r)).collect()
    }

    /// Records an event. Returns `true` if it was new, `false` if this id was already
    /// recorded (nothing changes then).
    pub fn record_event(&self, event: &NewEvent<'_>) -> Result<bool> {
        self.record_event_with(event, &AssetUpdate::None)
    }

    /// Records an event and, only if it was new, applies `update` in the same transaction:
    /// a redelivered event has no second effect, and a crash never keeps the event without
    /// its effect (the redelivery then applies both).
    pub fn record_event_with(
        &self,
        event: &NewEvent<'_>,
        update: &AssetUpdate<'_>,
    ) -> Result<bool> {
        let fresh = self.record_batch(&[(*event, *update)])?;
        Ok(fresh.first().copied().unwrap_or(false))
    }

    /// [`Catalog::record_event_with`] for a batch, in one transaction (one fsync). Returns,
    /// for each item, whether its event was new. An item whose update is refused (e.g. a
    /// `Status` update to `Organized`) fails the whole batch, which then records nothing.
    pub fn record_batch(&self, items: &[(NewEvent<'_>, AssetUpdate<'_>)]) -> Result<Vec<bool>> {
        self.record_batch_consumed(items, &[])
    }

    /// [`Catalog::record_batch`], also marking `(stage, event_id)` pairs consumed in the same
    /// transaction (see [`Catalog::consumed`]).
    pub fn record_batch_consumed(
        &self,
        items: &[(NewEvent<'_>, AssetUpdate<'_>)],
        consumed: &[(&str, &str)],
    ) -> Result<Vec<bool>> {
        const OP: &str = "recording events";
        if items.is_empty() && consumed.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_text();
        self.write(OP, |tx| {
            for (stage, event_id) in consumed {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO consumed (stage, event_id, consumed_at)
                     VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![stage, event_id, now]))
                .map_err(self.db(OP))?;
            }
            let mut fresh = Vec::with_capacity(items.len());
            for (event, update) in items {
                let inserted = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events
                             (event_id, type, time, asset_id, correlation_id, json, recorded_at,
                              asset)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                                 (SELECT id FROM assets WHERE asset_id = ?4))",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            event.id,
                            event.event_type,
                            time_text(event.time),
                            event.asset_id,
                            event.correlation_id,
                            event.json,
                            now,
                        ])
                    })
                    .map_err(self.db(OP))?
                    > 0;
                if inserted {
                    let seq = tx.last_insert_rowid();
                    self.apply_update_tx(tx, update)?;
                    if matches!(update, AssetUpdate::Discovered { .. }) {
                        // A discovery (the first event about a content) comes before its
                        // asset row: name the row the update just made.
                        tx.prepare_cached(
                            "UPDATE events SET asset = (SELECT id FROM assets WHERE asset_id = ?2)
                             WHERE seq = ?1 AND asset IS NULL",
                        )
                        .and_then(|mut s| s.execute(params![seq, event.asset_id]))
                        .map_err(self.db(OP))?;
                    }
                } else {
                    tracing::debug!(
                        catalog = %self.path.display(),
                        event_id = event.id,
                        event_type = event.event_type,
                        "event already recorded; ignored"
                    );
                }
                fresh.push(inserted);
            }
            Ok(fresh)
        })
    }

    /// Whether `stage` has consumed the event `event_id`: for the stage `catalog`, whether the
    /// event is recorded; for the others, whether it was marked with
    /// [`Catalog::record_batch_consumed`] after its effect was durable.
    pub fn consumed(&self, stage: &str, event_id: &str) -> Result<bool> {
        const OP: &str = "checking whether an event was handled";
        let found: Option<i64> = if stage == "catalog" {
            self.read(OP, |c| {
                c.prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")
                    .and_then(|mut s| s.query_row([event_id], |r| r.get(0)).optional())
            })?
        } else {
            self.read(OP, |c| {
                c.prepare_cached("SELECT 1 FROM consumed WHERE stage = ?1 AND event_id = ?2")
                    .and_then(|mut s| s.query_row([stage, event_id], |r| r.get(0)).optional())
            })?
        };
        Ok(found.is_some())
    }

    /// Forgets consumed marks written before `before`; returns how many. A mark is only
    /// needed while the stream may still deliver its event; one delivered after its mark was
    /// forgotten is handled again, which every stage tolerates.
    pub fn prune_consumed(&self, before: DateTime<Utc>) -> Result<usize> {
        let cutoff = time_text(before);
        self.write("forgetting old consumed marks", |tx| {
            tx.prepare_cached("DELETE FROM consumed WHERE consumed_at < ?1")
                .and_then(|mut s| s.execute([&cutoff]))
                .map_err(self.db("forgetting old consumed marks"))
        })
    }

    /// Every event about `asset_id`, in event-time order (arrival order among equal times),
    /// for `alice show`.
    pub fn events_for_asset(&self, asset_id: &str) -> Result<Vec<StoredEvent>> {
        // By the asset's row (`events_by_asset`), and the events about it recorded while it had
        // none (`events_orphan`).
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE asset = (SELECT id FROM assets WHERE asset_id = ?1)
             UNION ALL
             SELECT {EVENT_COLUMNS} FROM events WHERE asset IS NULL AND asset_id = ?1
             ORDER BY time, seq"
        );
        self.query_events("reading an asset's events", &sql, [asset_id])
    }

    /// Up to `limit` events recorded after arrival number `after_seq` (0 for the start), in
    /// arrival order. Pass the last returned [`StoredEvent::seq`] to continue.
    pub fn events_since(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_events("reading recent events", &sql, params![after_seq, limit])
    }
}
