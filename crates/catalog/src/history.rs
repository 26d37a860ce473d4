//! A bounded event log: full events are kept for a window ([`HistoryWindow`]); older ones are
//! folded into their asset's record and deleted, so the catalog stays small however many files
//! it has seen (with `[redis]`, the stream is the long-term log).
//!
//! What folding keeps: an asset row already says where the content came from, where it was
//! organized, when, and how (`original_path`, `organized_path`, `first_seen`,
//! `organized_at`, `op_id`; the journal keeps every operation for undo). What it cannot say
//! is which *other* paths of the same content reached a final outcome without being organized
//! (a duplicate left in place, a file skipped, a file that failed): those become
//! [`HistoryEntry`] items in `assets.history`, so a restart still knows them as handled.
//! Discoveries, metadata and organized events are dropped; workflow events too.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use events::{AssetDuplicate, AssetFailed, AssetSkipped, Event, Payload};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Catalog, Result, time_text};

/// How much full event history the catalog keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    /// Events recorded longer ago than this are folded.
    pub days: u32,
    /// At most this many of the newest events are kept in full.
    pub events: u64,
}

impl Default for HistoryWindow {
    /// 7 days, 50,000 events.
    fn default() -> HistoryWindow {
        HistoryWindow {
            days: 7,
            events: 50_000,
        }
    }
}

/// A final outcome of one path of an asset, kept after its event was folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it happened (the event time).
    pub time: DateTime<Utc>,
    /// `duplicate`, `skipped` or `failed`.
    pub outcome: String,
    /// The inbox path it was about.
    pub path: PathBuf,
    /// Where the file went, if it was set aside (duplicates or quarantine folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<PathBuf>,
    /// The failing stage (`metadata`, `organize`), for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The reason or error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HistoryEntry {
    fn of(ev: &Event) -> Option<(String, HistoryEntry)> {
        let entry = |outcome: &str, path: &PathBuf| HistoryEntry {
            time: ev.time,
            outcome: outcome.into(),
            path: path.clone(),
            moved_to: None,
            stage: None,
            note: None,
        };
        Some(match &ev.payload {
            Payload::AssetDuplicate(AssetDuplicate {
                asset_id,
                path,
                moved_to,
                ..
            }) => (
                asset_id.clone(),
                HistoryEntry {
                    moved_to: moved_to.clone(),
                    ..entry("duplicate", path)
                },
            ),
            Payload::AssetSkipped(AssetSkipped {
                asset_id,
                path,
                reason,
            }) => (
                asset_id.clone(),
                HistoryEntry {
                    note: Some(reason.clone()),
                    ..entry("skipped", path)
                },
            ),
            Payload::AssetFailed(AssetFailed {
                asset_id: Some(asset_id),
                path,
                stage,
                error,
                quarantined_to,
            }) => (
                asset_id.clone(),
                HistoryEntry {
                    moved_to: quarantined_to.clone(),
                    stage: Some(stage.clone()),
                    note: Some(error.clone()),
                    ..entry("failed", path)
                },
            ),
            _ => return None,
        })
    }
}

/// Events folded per transaction.
const CHUNK: i64 = 10_000;

impl Catalog {
    /// Folds every event outside `window` into its asset's record and deletes it; returns how
    /// many were folded. Idempotent; safe to run while events are being recorded.
    pub fn compact_history(&self, window: HistoryWindow, now: DateTime<Utc>) -> Result<u64> {
        const OP: &str = "compacting the event history";
        let cutoff = time_text(now - chrono::Duration::days(i64::from(window.days)));
        let keep = i64::try_from(window.events).unwrap_or(i64::MAX);
        let mut folded = 0u64;
        loop {
            let n = self.write(OP, |tx| {
                let newest: i64 = tx
                    .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
                    .map_err(self.db(OP))?;
                // Oldest first, up to the first event inside the window: the cost is what is
                // folded, not the size of the log (events arrive in time order).
                let rows: Vec<(i64, String)> = tx
                    .prepare_cached(
                        "SELECT seq, json, seq <= ?1 OR recorded_at < ?2 FROM events
                         ORDER BY seq LIMIT ?3",
                    )
                    .and_then(|mut s| {
                        s.query_map(params![newest - keep, cutoff, CHUNK], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get::<_, bool>(2)?))
                        })?
                        .take_while(|r| r.as_ref().map_or(true, |(_, _, old)| *old))
                        .map(|r| r.map(|(seq, json, _)| (seq, json)))
                        .collect()
                    })
                    .map_err(self.db(OP))?;
                for (seq, json) in &rows {
                    if let Some((asset_id, entry)) = Event::from_json(json)
                        .ok()
                        .as_ref()
                        .and_then(HistoryEntry::of)
                    {
                        self.append_history_tx(tx, &asset_id, &entry)?;
                    }
                    tx.prepare_cached("DELETE FROM events WHERE seq = ?1")
                        .and_then(|mut s| s.execute([seq]))
                        .map_err(self.db(OP))?;
                }
                Ok(rows.len())
            })?;
            folded += n as u64;
            if (n as i64) < CHUNK {
                break;
            }
        }
        if folded > 0 {
            // Gives the freed pages back (a catalog created with auto_vacuum; a no-op else).
            // Each step of the pragma frees one page: step it to the end.
            let conn = self.lock();
            conn.prepare("PRAGMA incremental_vacuum")
                .and_then(|mut s| {
                    let mut rows = s.query([])?;
                    while rows.next()?.is_some() {}
                    Ok(())
                })
                .map_err(self.db(OP))?;
            tracing::debug!(catalog = %self.path.display(), folded, "event history compacted");
        }
        Ok(folded)
    }

    fn append_history_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        asset_id: &str,
        entry: &HistoryEntry,
    ) -> Result<()> {
        const OP: &str = "compacting the event history";
        let json = serde_json::to_string(entry).map_err(|source| crate::CatalogError::Encode {
            path: self.path.clone(),
            asset_id: asset_id.to_owned(),
            source,
        })?;
        tx.prepare_cached(
            "UPDATE assets SET history = json_insert(coalesce(history, '[]'), '$[#]', json(?2))
             WHERE asset_id = ?1",
        )
        .and_then(|mut s| s.execute(params![asset_id, json]))
        .map_err(self.db(OP))?;
        Ok(())
    }

    /// The folded outcomes of `asset_id` (see the module docs), oldest first.
    pub fn history(&self, asset_id: &str) -> Result<Vec<HistoryEntry>> {
        let text: Option<Option<String>> = self.read("reading an asset's history", |c| {
            c.prepare_cached("SELECT history FROM assets WHERE asset_id = ?1")?
                .query_row([asset_id], |r| r.get(0))
                .optional()
        })?;
        match text.flatten() {
            None => Ok(Vec::new()),
            Some(t) => serde_json::from_str(&t).map_err(|e| self.bad_row("history", asset_id, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;
    use events::{AssetSkipped, Payload};
    use std::path::Path;

    fn record(cat: &Catalog, payload: impl Into<Payload>) {
        let ev = Event::new("/test", payload);
        let json = ev.to_json();
        cat.record_event(&NewEvent {
            id: &ev.id,
            event_type: ev.type_name(),
            time: ev.time,
            asset_id: ev.payload.asset_id(),
            correlation_id: ev.correlation_id.as_deref(),
            json: &json,
        })
        .unwrap();
    }

    #[test]
    fn events_outside_the_window_are_folded_into_the_asset_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        let a = "ab".repeat(32);
        cat.upsert_discovered(&a, Path::new("/in/a.png"), 3)
            .unwrap();
        record(
            &cat,
            AssetDuplicate {
                asset_id: a.clone(),
                path: "/in/copy of a.png".into(),
                existing: "/org/a.png".into(),
                moved_to: None,
            },
        );
        record(
            &cat,
            AssetSkipped {
                asset_id: a.clone(),
                path: "/in/a.txt".into(),
                reason: "not media".into(),
            },
        );
        for _ in 0..3 {
            record(
                &cat,
                AssetSkipped {
                    asset_id: "cd".repeat(32),
                    path: "/in/unknown-asset".into(),
                    reason: "no asset row: dropped".into(),
                },
            );
        }
        let now = Utc::now();
        // Inside the window (by time and by count): nothing moves.
        let keep_all = HistoryWindow {
            days: 1,
            events: 100,
        };
        assert_eq!(cat.compact_history(keep_all, now).unwrap(), 0);
        assert_eq!(cat.events_for_asset(&a).unwrap().len(), 2);
        // Keep only the newest 3 events: the asset's two are folded.
        let keep_three = HistoryWindow { days: 1, events: 3 };
        assert_eq!(cat.compact_history(keep_three, now).unwrap(), 2);
        assert!(cat.events_for_asset(&a).unwrap().is_empty());
        let h = cat.history(&a).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(
            (h[0].outcome.as_str(), h[0].path.as_path()),
            ("duplicate", Path::new("/in/copy of a.png"))
        );
        assert_eq!(h[1].note.as_deref(), Some("not media"));
        // By age: a window of 0 days folds everything.
        let none = HistoryWindow {
            days: 0,
            events: 100,
        };
        assert_eq!(
            cat.compact_history(none, now + chrono::Duration::seconds(1))
                .unwrap(),
            3
        );
        assert_eq!(cat.events_since(0, 100).unwrap().len(), 0);
        assert_eq!(cat.history(&a).unwrap(), h, "folding again changes nothing");
        assert!(cat.asset(&a).unwrap().is_some(), "the asset record stays");
    }

    #[test]
    fn a_new_catalog_gives_folded_pages_back_to_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite3");
        let cat = Catalog::open(&path).unwrap();
        let vacuum: i64 = cat
            .lock()
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(vacuum, 2, "incremental");
        for i in 0..2000 {
            record(
                &cat,
                AssetSkipped {
                    asset_id: format!("{i:064x}"),
                    path: format!("/in/{i}.txt").into(),
                    reason: "x".repeat(400),
                },
            );
        }
        cat.checkpoint().unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let none = HistoryWindow { days: 0, events: 0 };
        assert_eq!(cat.compact_history(none, Utc::now()).unwrap(), 2000);
        cat.checkpoint().unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after * 4 < before, "{before} bytes before, {after} after");
    }
}
