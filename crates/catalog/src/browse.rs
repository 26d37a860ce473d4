//! Read-only views for browsing the catalog (the web gallery): newest-first pages that
//! continue from a keyset cursor, files organized per day, and the values filters can take.
//!
//! A page is ordered by the time an asset was organized (first seen, for one never
//! organized), then by asset id, both descending. The cursor is the last row's pair, so the
//! next page starts exactly after it however many assets arrive in between: no row is shown
//! twice or skipped, and the cost of a page does not grow with how far one has scrolled.
//! Matching is [`Catalog::find`]'s: the same words, filters and dates.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value;

use crate::assets::{ASSET_COLUMNS, RawAsset};
use crate::search::{filter_sql, fts_query};
use crate::{AssetRecord, Catalog, Result, time_us};

fn sql_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The order key of an asset in a page.
const ORDER_KEY: &str = "coalesce(a.organized_at, a.first_seen)";

/// Where a page ends: the order key of its last asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    /// When the asset was organized (first seen, for one never organized).
    pub at: DateTime<Utc>,
    /// The asset.
    pub asset_id: String,
}

impl PageKey {
    /// The key of `asset`, to continue after it.
    pub fn of(asset: &AssetRecord) -> PageKey {
        PageKey {
            at: asset.organized_at.unwrap_or(asset.first_seen),
            asset_id: asset.asset_id.clone(),
        }
    }
}

/// Assets organized on one day (UTC) from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// The day, in UTC.
    pub day: NaiveDate,
    /// The source label (`unknown` when none was recorded).
    pub source: String,
    /// How many.
    pub count: u64,
}

/// The distinct values of the filterable labels among organized assets, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterValues {
    /// Source labels.
    pub sources: Vec<String>,
    /// Projects (those with files and those created empty).
    pub projects: Vec<String>,
    /// Styles.
    pub styles: Vec<String>,
}

/// How a page finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Down the `assets_newest` index, keeping what matches, until the page is full: reads
    /// about a page of rows divided by the share of assets that match.
    Newest,
    /// Every matching row (from the full-text index, or the source or project index), sorted:
    /// reads every match.
    Matches,
}

impl Walk {
    /// The cheaper walk, given that at most `matching` of `total` assets match and a page
    /// holds `limit`: walking the index reads about `limit * total / matching` rows, sorting
    /// the matches reads `matching`.
    fn cheaper(matching: u64, total: u64, limit: u64) -> Walk {
        if matching.saturating_mul(matching) >= limit.saturating_mul(total) {
            Walk::Newest
        } else {
            Walk::Matches
        }
    }
}

/// The SQL and parameters of a page; `None` when the text has words but none searchable.
fn page_sql(
    query: &crate::SearchQuery,
    after: Option<&PageKey>,
    walk: Walk,
) -> Option<(String, Vec<Value>)> {
    let mut params = Vec::new();
    let text = if query.text.trim().is_empty() {
        None
    } else {
        Some(fts_query(&query.text)?)
    };
    // Left to itself, the planner would take the status index and sort every organized asset
    // for each page; `INDEXED BY` and `CROSS JOIN` pin the walk chosen.
    let from = match (walk, text) {
        (Walk::Newest, None) => "assets a INDEXED BY assets_newest WHERE 1 = 1",
        (Walk::Newest, Some(fts)) => {
            params.push(Value::Text(fts));
            "assets a INDEXED BY assets_newest \
             WHERE a.id IN (SELECT rowid FROM assets_fts WHERE assets_fts MATCH ?)"
        }
        (Walk::Matches, None) => "assets a WHERE 1 = 1",
        (Walk::Matches, Some(fts)) => {
            params.push(Value::Text(fts));
            "assets_fts CROSS JOIN assets a ON a.id = assets_fts.rowid WHERE assets_fts MATCH ?"
        }
    };
    let mut sql = format!(
        "SELECT {ASSET_COLUMNS} FROM {from}{}",
        filter_sql(query, &mut params)
    );
    if let Some(key) = after {
        // The first condition alone is a range on the index (a seek to the cursor); the
        // second settles ties on the time.
        sql.push_str(&format!(
            " AND {ORDER_KEY} <= ? AND ({ORDER_KEY} < ? OR a.asset_id < ?)"
        ));
        let at = time_us(key.at);
        params.push(Value::Integer(at));
        params.push(Value::Integer(at));
        params.push(Value::Text(key.asset_id.clone()));
    }
    sql.push_str(&format!(
        " ORDER BY {ORDER_KEY} DESC, a.asset_id DESC LIMIT ?"
    ));
    params.push(Value::Integer(
        i64::try_from(query.limit).unwrap_or(i64::MAX),
    ));
    Some((sql, params))
}

impl Catalog {
    /// Up to `query.limit` assets matching `query` (text and filters as [`Catalog::find`];
    /// the order is newest first, not relevance), starting after `after` when given.
    pub fn page(
        &self,
        query: &crate::SearchQuery,
        after: Option<&PageKey>,
    ) -> Result<Vec<AssetRecord>> {
        let walk = self.cheaper_walk(query)?;
        let Some((sql, params)) = page_sql(query, after, walk) else {
            return Ok(Vec::new());
        };
        let rows: Vec<RawAsset> = self.read("reading a page of assets", |c| {
            c.prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(params), RawAsset::from_row)?
                .collect()
        })?;
        rows.into_iter().map(|raw| self.decode_asset(raw)).collect()
    }

    /// Counts what the narrowest indexed condition of `query` (the words, the source, the
    /// project) matches, and picks the walk that reads fewer rows.
    fn cheaper_walk(&self, query: &crate::SearchQuery) -> Result<Walk> {
        let mut counts: Vec<(&str, String)> = Vec::new();
        if let Some(fts) = fts_query(&query.text) {
            counts.push((
                "SELECT count(*) FROM assets_fts WHERE assets_fts MATCH ?",
                fts,
            ));
        }
        if let Some(s) = &query.source {
            counts.push((
                "SELECT count(*) FROM assets WHERE source = ? COLLATE NOCASE",
                s.clone(),
            ));
        }
        if let Some(p) = &query.project {
            counts.push((
                "SELECT count(*) FROM assets WHERE project = ? COLLATE NOCASE",
                p.clone(),
            ));
        }
        if counts.is_empty() {
            return Ok(Walk::Newest);
        }
        self.read("planning a page of assets", |c| {
            // The largest rowid stands in for the number of assets (rows are never deleted).
            let total: i64 =
                c.query_row("SELECT coalesce(max(id), 0) FROM assets", [], |r| r.get(0))?;
            let mut matching = i64::MAX;
            for (sql, value) in &counts {
                let n: i64 = c.prepare_cached(sql)?.query_row([value], |r| r.get(0))?;
                matching = matching.min(n);
            }
            let limit = u64::try_from(query.limit).unwrap_or(u64::MAX);
            Ok(Walk::cheaper(sql_count(matching), sql_count(total), limit))
        })
    }

    /// Organized assets per day (UTC) and source, for days from `since` on, oldest first.
    pub fn organized_per_day(&self, since: NaiveDate) -> Result<Vec<DayCount>> {
        let rows: Vec<(String, String, i64)> =
            self.read("counting assets organized per day", |c| {
                c.prepare_cached(
                    "SELECT date(organized_at / 1000000, 'unixepoch'),
                            coalesce(source, 'unknown'), count(*)
                     FROM assets WHERE status = 'organized' AND organized_at >= ?1
                     GROUP BY 1, 2 ORDER BY 1, 2",
                )?
                .query_map(
                    [time_us(since.and_time(chrono::NaiveTime::MIN).and_utc())],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect()
            })?;
        rows.into_iter()
            .map(|(day, source, count)| {
                Ok(DayCount {
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                        .map_err(|e| self.bad_row("organized_at", &day, e))?,
                    source,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The sources, projects and styles that organized assets carry (and every created
    /// project), for filter choices.
    pub fn filter_values(&self) -> Result<FilterValues> {
        let distinct = |column: &str| -> Result<Vec<String>> {
            let sql = format!(
                "SELECT DISTINCT {column} FROM assets
                 WHERE status = 'organized' AND {column} IS NOT NULL ORDER BY 1"
            );
            self.read("listing filter values", |c| {
                c.prepare_cached(&sql)?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
        };
        let mut projects = distinct("project")?;
        projects.extend(self.list_projects()?.into_iter().map(|p| p.name));
        projects.sort();
        projects.dedup();
        Ok(FilterValues {
            sources: distinct("source")?,
            projects,
            styles: distinct("style")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use events::media::{AiInfo, AiSignal, AiSource, MediaInfo, MediaType};

    use super::*;
    use crate::{NewOp, OpKind, Placement, SearchQuery, Transfer};

    fn organize(cat: &Catalog, n: u32, prompt: &str, source: &str) -> String {
        let id = format!("{n:064x}");
        let src = format!("/in/{n}.png");
        let dest = format!("/org/{n}.png");
        cat.upsert_discovered(&id, Path::new(&src), 10).unwrap();
        let op = cat
            .begin_op(&NewOp {
                asset_id: &id,
                kind: OpKind::Copy,
                source: Path::new(&src),
                destination: Path::new(&dest),
                mode: Transfer::Copy,
            })
            .unwrap();
        let mut media = MediaInfo::empty(MediaType::Image);
        let mut ai = AiInfo::new(
            source.parse::<AiSource>().unwrap(),
            AiSignal::Metadata,
            "test",
        );
        ai.prompt = Some(prompt.into());
        media.ai = Some(ai);
        cat.complete_placement(&Placement {
            op_id: op,
            asset_id: &id,
            destination: Path::new(&dest),
            size: 10,
            project: "p",
            source,
            style: None,
            media: Some(&media),
        })
        .unwrap();
        id
    }

    #[test]
    fn pages_continue_after_their_cursor_without_gaps_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.sqlite3")).unwrap();
        let ids: Vec<String> = (0..7)
            .map(|n| organize(&cat, n, "misty harbour", "flux"))
            .collect();
        let mut q = SearchQuery {
            limit: 3,
            ..SearchQuery::default()
        };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = cat.page(&q, after.as_ref()).unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(PageKey::of);
            seen.extend(page.into_iter().map(|a| a.asset_id));
        }
        let mut newest_first = ids.clone();
        newest_first.reverse();
        assert_eq!(seen, newest_first);
        q.text = "harb".into();
        q.limit = 10;
        assert_eq!(cat.page(&q, None).unwrap().len(), 7);
        q.text = "volcano".into();
        assert!(cat.page(&q, None).unwrap().is_empty());
        q.text = "- *".into();
        assert!(cat.page(&q, None).unwrap().is_empty());
    }

    /// A page without text walks the newest-first index (no sort of every asset), with or
    /// without a cursor and filters.
    #[test]
    fn pages_without_text_walk_the_newest_index() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.sqlite3")).unwrap();
        let key = PageKey {
            at: Utc::now(),
            asset_id: "ab".into(),
        };
        for (query, after) in [
            (SearchQuery::default(), None),
            (SearchQuery::default(), Some(&key)),
            (
                SearchQuery {
                    source: Some("flux".into()),
                    project: Some("p".into()),
                    ..SearchQuery::default()
                },
                Some(&key),
            ),
        ] {
            let (sql, params) = page_sql(&query, after, Walk::Newest).unwrap();
            let plan = cat.query_plan(&sql, params);
            assert!(plan[0].contains("assets_newest"), "{plan:?}");
            // Only assets with the same time are sorted among themselves.
            let sorts: Vec<&String> = plan.iter().filter(|p| p.contains("TEMP B-TREE")).collect();
            assert!(
                sorts
                    .iter()
                    .all(|p| p.contains("LAST TERM OF ORDER BY") || p.contains("RIGHT PART")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn the_walk_reading_fewer_rows_is_chosen() {
        assert_eq!(Walk::cheaper(50_000, 100_000, 48), Walk::Newest);
        assert_eq!(Walk::cheaper(100, 100_000, 48), Walk::Matches);
        assert_eq!(Walk::cheaper(0, 0, 48), Walk::Newest);
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.sqlite3")).unwrap();
        for n in 0..20 {
            organize(&cat, n, if n == 3 { "rare word" } else { "common" }, "flux");
        }
        let q = |text: &str, source: Option<&str>| SearchQuery {
            text: text.into(),
            source: source.map(str::to_owned),
            limit: 4,
            ..SearchQuery::default()
        };
        assert_eq!(cat.cheaper_walk(&q("", None)).unwrap(), Walk::Newest);
        assert_eq!(cat.cheaper_walk(&q("common", None)).unwrap(), Walk::Newest);
        assert_eq!(cat.cheaper_walk(&q("rare", None)).unwrap(), Walk::Matches);
        assert_eq!(
            cat.cheaper_walk(&q("common", Some("midjourney"))).unwrap(),
            Walk::Matches
        );
        // Both walks give the same page.
        for query in [q("common", None), q("rare", None), q("", Some("flux"))] {
            let run = |walk| {
                let (sql, params) = page_sql(&query, None, walk).unwrap();
                let conn = cat.lock();
                let mut stmt = conn.prepare(&sql).unwrap();
                stmt.query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(0)
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>()
            };
            assert_eq!(run(Walk::Newest), run(Walk::Matches), "{query:?}");
        }
    }

    #[test]
    fn per_day_counts_and_filter_values_cover_organized_assets() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.sqlite3")).unwrap();
        organize(&cat, 1, "a", "flux");
        organize(&cat, 2, "b", "flux");
        organize(&cat, 3, "c", "midjourney");
        let today = Utc::now().date_naive();
        let days = cat.organized_per_day(today).unwrap();
        let counts: Vec<(&str, u64)> = days.iter().map(|d| (d.source.as_str(), d.count)).collect();
        assert_eq!(counts, [("flux", 2), ("midjourney", 1)]);
        assert!(days.iter().all(|d| d.day == today));
        let tomorrow = today.succ_opt().unwrap();
        assert!(cat.organized_per_day(tomorrow).unwrap().is_empty());
        let values = cat.filter_values().unwrap();
        assert_eq!(values.sources, ["flux", "midjourney"]);
        assert_eq!(values.projects, ["p"]);
        assert!(values.styles.is_empty());
    }
}
