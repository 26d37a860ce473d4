//! Full-text search over assets (FTS5) with filters, bm25 ranking and prompt snippets.
//!
//! The index (`assets_fts`, schema version 3) holds, per asset: prompt, negative prompt,
//! original file name, model, project, style, source label and format. Triggers keep it in
//! step with the `assets` table inside the writing transaction, so an asset is searchable the
//! moment [`Catalog::complete_placement`] or [`Catalog::set_metadata`] commits.
//!
//! User text never reaches FTS5 as syntax: every word is quoted (see [`fts_query`]), so `-`,
//! `:`, `*`, `"`, `AND`/`OR`/`NOT`/`NEAR` and parentheses are plain text. The last word also
//! matches as a prefix (`cyber` finds `cyberpunk`), which suits typing a query.
//!
//! # Dates
//!
//! `since`/`until` apply to the asset's *capture* time (`taken_at`) when it is known, and to
//! the time it was organized (first seen, for an asset never organized) otherwise. Capture
//! times are wall-clock times at the place of capture, the same date the organized tree's date
//! folder shows, so they are compared with the bound's wall-clock time; organized times are
//! instants and are compared with the bound's UTC instant. [`TimeBound`] carries both.

use std::ops::Range;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use events::media::MediaType;
use rusqlite::types::Value;

use crate::assets::{ASSET_COLUMNS, RawAsset};
use crate::{AssetRecord, AssetStatus, Catalog, Result, time_us};

/// bm25 weights, in `assets_fts` column order: prompt, negative prompt, file name, model,
/// project, style, source, format. The prompt is what people remember; a word in the negative
/// prompt is something the image is meant *not* to show, so it counts least.
const BM25: &str = "bm25(assets_fts, 10.0, 0.5, 3.0, 4.0, 4.0, 4.0, 2.0, 1.0)";

/// Where `snippet()` marks a match. Control characters, so they cannot be confused with the
/// brackets or asterisks prompts are full of; [`Snippet`] turns them into ranges.
const MARK_START: char = '\u{1}';
const MARK_END: char = '\u{2}';

/// Tokens around the match in a prompt snippet.
const SNIPPET_TOKENS: u32 = 16;

/// Re-indexes, in the writing transaction `tx`, the assets whose indexed values changed in
/// it (noted in `fts_dirty` by the triggers of schema 13), just before it commits: one FTS5
/// segment per transaction instead of one per statement. Costs one empty look-up when
/// nothing changed.
pub(crate) fn sync_full_text(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let dirty: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM fts_dirty)")?
        .query_row([], |r| r.get(0))?;
    if !dirty {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM assets_fts WHERE rowid IN (SELECT id FROM fts_dirty)")?
        .execute([])?;
    tx.prepare_cached(
        "INSERT INTO assets_fts
             (rowid, prompt, negative_prompt, name, model, project, style, source, format)
         SELECT a.id,
                json_extract(a.media, '$.ai.prompt'),
                json_extract(a.media, '$.ai.negative_prompt'),
                substr(CAST(a.original_path AS TEXT),
                       length(rtrim(CAST(a.original_path AS TEXT),
                                    replace(CAST(a.original_path AS TEXT), '/', ''))) + 1),
                json_extract(a.media, '$.ai.model'),
                a.project, a.style, a.source, a.format
         FROM fts_dirty d JOIN assets a ON a.id = d.id",
    )?
    .execute([])?;
    tx.prepare_cached("DELETE FROM fts_dirty")?.execute([])?;
    Ok(())
}

/// Words a query has: runs without whitespace or control characters that contain at least
/// one letter or digit. Control characters separate because FTS5 reads its query as a C
/// string (a NUL would end it mid-phrase) and no tokenizer keeps them anyway. A "word" of
/// punctuation only holds no token, and a quoted phrase without tokens matches nothing.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
}

/// Turns free text into an FTS5 query that matches assets containing every word, the last one
/// as a prefix. Each word is quoted, so user input can never be FTS5 syntax. `None` when the
/// text has no searchable word.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let quoted: Vec<String> = words(text)
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    let (last, rest) = quoted.split_last()?;
    let mut query = rest.join(" ");
    if !query.is_empty() {
        query.push(' ');
    }
    query.push_str(last);
    query.push_str(" *");
    Some(query)
}

/// Which end of a date range a [`TimeBound`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The start (inclusive). A bare date means its first instant.
    Since,
    /// The end (exclusive). A bare date means the whole day is included: the bound is the
    /// start of the next day.
    Until,
}

/// A bound of a date filter, as both a wall-clock time (compared with capture times) and a
/// UTC instant (compared with organized times). See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    local: NaiveDateTime,
    utc: DateTime<Utc>,
}

/// A date filter the user wrote that is neither a date nor an age.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a date or an age ({why}); use a date (2024-03-15), a date and time \
     (2024-03-15T14:30 or 2024-03-15T14:30:00), or an age before now (12h, 7d, 2w)"
)]
pub struct TimeBoundError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl TimeBound {
    /// Parses a date filter: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (or with a space instead
    /// of `T`), both in the time zone of `now`, or an age before `now`: a count of hours, days
    /// or weeks (`12h`, `7d`, `2w`). `now` is a parameter so that callers decide the clock
    /// and zone (the CLI passes `chrono::Local::now()`; tests pass a fixed instant).
    pub fn parse<Tz: TimeZone>(
        text: &str,
        edge: Edge,
        now: &DateTime<Tz>,
    ) -> std::result::Result<TimeBound, TimeBoundError> {
        let err = |why| TimeBoundError {
            text: text.to_owned(),
            why,
        };
        let t = text.trim();
        if let Some(unit) = t.chars().last().filter(char::is_ascii_alphabetic) {
            let count: i64 = t[..t.len() - 1]
                .parse()
                .map_err(|_| err("an age is a whole number followed by h, d or w"))?;
            if count < 0 {
                return Err(err("an age cannot be negative"));
            }
            let age = match unit.to_ascii_lowercase() {
                'h' => Duration::try_hours(count),
                'd' => Duration::try_days(count),
                'w' => Duration::try_weeks(count),
                _ => {
                    return Err(err(
                        "the unit of an age is h (hours), d (days) or w (weeks)",
                    ));
                }
            }
            .ok_or_else(|| err("the age is too large"))?;
            let at = now
                .clone()
                .checked_sub_signed(age)
                .ok_or_else(|| err("the age is too large"))?;
            return Ok(TimeBound {
                local: at.naive_local(),
                utc: at.with_timezone(&Utc),
            });
        }
        let zone = now.timezone();
        if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            let day = match edge {
                Edge::Since => date,
                Edge::Until => date.succ_opt().ok_or_else(|| err("the date is too late"))?,
            };
            return TimeBound::at_local(day.and_time(NaiveTime::MIN), &zone)
                .ok_or_else(|| err("that time does not exist in this time zone"));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(local) = NaiveDateTime::parse_from_str(t, format) {
                return TimeBound::at_local(local, &zone)
                    .ok_or_else(|| err("that time does not exist in this time zone"));
            }
        }
        Err(err("not a recognized form"))
    }

    /// The bound at wall-clock time `local` in `zone`. A time that a daylight-saving change
    /// skips is taken as the first existing instant after it (its UTC form is then an hour
    /// later at most); `None` only when not even that exists.
    pub fn at_local<Tz: TimeZone>(local: NaiveDateTime, zone: &Tz) -> Option<TimeBound> {
        let instant = zone.from_local_datetime(&local).earliest().or_else(|| {
            let later = local.checked_add_signed(Duration::hours(1))?;
            zone.from_local_datetime(&later).earliest()
        })?;
        Some(TimeBound {
            local,
            utc: instant.with_timezone(&Utc),
        })
    }

    /// The wall-clock time, compared with capture times.
    pub fn local(&self) -> NaiveDateTime {
        self.local
    }

    /// The instant, compared with organized times.
    pub fn utc(&self) -> DateTime<Utc> {
        self.utc
    }
}

/// What to look for. Every filter that is set must hold; text words must all be present.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// Free text; empty to list by filters alone. Text without any letter or digit matches
    /// nothing.
    pub text: String,
    /// Source label (`midjourney`, `camera`, …), exact, case-insensitive.
    pub source: Option<String>,
    /// Project, exact, case-insensitive.
    pub project: Option<String>,
    /// Style, exact, case-insensitive.
    pub style: Option<String>,
    /// A part of the model name, case-insensitive (`sd_xl` finds `sd_xl_base_1.0`).
    pub model: Option<String>,
    /// A part of the name of any LoRA the generation used, case-insensitive (`detail` finds
    /// `add_detail` and `detail_tweaker_xl.safetensors`).
    pub lora: Option<String>,
    /// Capture (else organized) time at or after this.
    pub since: Option<TimeBound>,
    /// Capture (else organized) time before this.
    pub until: Option<TimeBound>,
    /// Image or video.
    pub media_type: Option<MediaType>,
    /// Only AI-generated files (`Some(true)`: the `ai_generated` verdict is yes, or an AI tool
    /// was recognized) or only the others (`Some(false)`); `None` for both.
    pub ai: Option<bool>,
    /// Only assets in this status; `None` for any.
    pub status: Option<AssetStatus>,
    /// At most this many hits.
    pub limit: usize,
}

impl Default for SearchQuery {
    /// No text, no filter, organized assets only, 20 hits.
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            source: None,
            project: None,
            style: None,
            model: None,
            lora: None,
            since: None,
            until: None,
            media_type: None,
            ai: None,
            status: Some(AssetStatus::Organized),
            limit: 20,
        }
    }
}

/// A piece of text with the parts that matched the query marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The text (an excerpt of the prompt; `…` where it was cut).
    pub text: String,
    /// Byte ranges of `text` that matched, in order, not overlapping.
    pub marks: Vec<Range<usize>>,
}

impl Snippet {
    /// Reads FTS5 `snippet()` output with [`MARK_START`]/[`MARK_END`] around matches.
    fn from_marked(marked: &str) -> Snippet {
        let mut text = String::with_capacity(marked.len());
        let mut marks = Vec::new();
        let mut open = None;
        for c in marked.chars() {
            match c {
                MARK_START => open = Some(text.len()),
                MARK_END => {
                    if let Some(start) = open.take() {
                        marks.push(start..text.len());
                    }
                }
                c => text.push(c),
            }
        }
        Snippet { text, marks }
    }

    /// The text with every match wrapped in `before` and `after`, e.g. `[` and `]`.
    pub fn render(&self, before: &str, after: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + self.marks.len() * 8);
        let mut at = 0;
        for mark in &self.marks {
            out.push_str(&self.text[at..mark.start]);
            out.push_str(before);
            out.push_str(&self.text[mark.clone()]);
            out.push_str(after);
            at = mark.end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The asset.
    pub asset: AssetRecord,
    /// Relevance (the negated bm25 score: higher is better); `None` without query text.
    pub score: Option<f64>,
    /// An excerpt of the prompt around the match; `None` without query text or prompt.
    pub snippet: Option<Snippet>,
}

/// Escapes `%`, `_` and the escape character itself for `LIKE … ESCAPE '\'`.
fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The `AND …` conditions for the filters of `q`, with their parameters appended to `params`.
pub(crate) fn filter_sql(q: &SearchQuery, params: &mut Vec<Value>) -> String {
    let mut sql = String::new();
    let mut text_filter = |sql_part: &str, value: &Option<String>, params: &mut Vec<Value>| {
        if let Some(v) = value {
            sql.push_str(sql_part);
            params.push(Value::Text(v.clone()));
        }
    };
    text_filter(" AND a.source = ? COLLATE NOCASE", &q.source, params);
    text_filter(" AND a.project = ? COLLATE NOCASE", &q.project, params);
    text_filter(" AND a.style = ? COLLATE NOCASE", &q.style, params);
    text_filter(
        " AND json_extract(a.media, '$.ai.model') LIKE ? ESCAPE '\\'",
        &q.model.as_deref().map(like_contains),
        params,
    );
    // LoRAs are a list in the stored MediaInfo JSON (`ai.loras[].name`).
    text_filter(
        " AND EXISTS (SELECT 1 FROM json_each(a.media, '$.ai.loras') l \
         WHERE json_extract(l.value, '$.name') LIKE ? ESCAPE '\\')",
        &q.lora.as_deref().map(like_contains),
        params,
    );
    if let Some(t) = q.media_type {
        sql.push_str(" AND a.media_type = ?");
        params.push(Value::Text(t.as_str().to_owned()));
    }
    // AI-generated: the provenance verdict when there is one, else whether an AI tool was
    // recognized (catalogs written before the verdict existed). An asset whose metadata was
    // never read is neither.
    if let Some(ai) = q.ai {
        sql.push_str(
            " AND a.media IS NOT NULL AND coalesce(json_extract(a.media, '$.ai_generated'), \
             json_type(a.media, '$.ai') IS 'object') = ?",
        );
        params.push(Value::Integer(i64::from(ai)));
    }
    if let Some(s) = q.status {
        sql.push_str(" AND a.status = ?");
        params.push(Value::Text(s.as_str().to_owned()));
    }
    // substr(…, 1, 19) is the wall-clock `YYYY-MM-DDTHH:MM:SS` of a stored capture time,
    // whatever fraction or offset follows it.
    for (bound, op) in [(&q.since, ">="), (&q.until, "<")] {
        if let Some(b) = bound {
            sql.push_str(&format!(
                " AND (CASE WHEN a.taken_at IS NOT NULL THEN substr(a.taken_at, 1, 19) {op} ? \
                 ELSE coalesce(a.organized_at, a.first_seen) {op} ? END)"
            ));
            params.push(Value::Text(b.local.format("%Y-%m-%dT%H:%M:%S").to_string()));
            params.push(Value::Integer(time_us(b.utc)));
        }
    }
    sql
}

/// The SQL and parameters of a search; `None` when the text has words but none searchable.
fn search_sql(query: &SearchQuery) -> Option<(String, Vec<Value>)> {
    let mut params = Vec::new();
    let sql = if query.text.trim().is_empty() {
        let filters = filter_sql(query, &mut params);
        format!(
            "SELECT {ASSET_COLUMNS}, NULL, NULL FROM assets a WHERE 1 = 1{filters}
             ORDER BY coalesce(substr(a.taken_at, 1, 19),
                               strftime('%Y-%m-%dT%H:%M:%S',
                                        coalesce(a.organized_at, a.first_seen) / 1000000,
                                        'unixepoch')) DESC,
                      a.id DESC
             LIMIT ?"
        )
    } else {
        params.push(Value::Text(fts_query(&query.text)?));
        let filters = filter_sql(query, &mut params);
        // CROSS JOIN pins the full-text match as the outer loop. Left to itself, the planner
        // may drive from an index on a filter column and run the whole FTS query once per
        // asset: a minute instead of milliseconds over 100,000 assets.
        format!(
            "SELECT {ASSET_COLUMNS}, {BM25} AS score,
                    snippet(assets_fts, 0, char(1), char(2), '…', {SNIPPET_TOKENS})
             FROM assets_fts CROSS JOIN assets a ON a.id = assets_fts.rowid
             WHERE assets_fts MATCH ?{filters}
             ORDER BY score, a.id
             LIMIT ?"
        )
    };
    params.push(Value::Integer(
        i64::try_from(query.limit).unwrap_or(i64::MAX),
    ));
    Some((sql, params))
}

impl Catalog {
    /// Assets matching `query`: with text, best match first (bm25, prompt weighted highest);
    /// without, newest capture (else organized) time first. See the module docs for how text
    /// and dates are matched.
    pub fn find(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let Some((sql, params)) = search_sql(query) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(RawAsset, Option<f64>, Option<String>)> =
            self.read("searching assets", |c| {
                c.prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(params), |row| {
                        Ok((RawAsset::from_row(row)?, row.get(14)?, row.get(15)?))
                    })?
                    .collect()
            })?;
        rows.into_iter()
            .map(|(raw, bm25, snippet)| {
                Ok(SearchHit {
                    asset: self.decode_asset(raw)?,
                    score: bm25.map(|s| -s),
                    snippet: snippet
                        .filter(|s| !s.is_empty())
                        .map(|s| Snippet::from_marked(&s)),
                })
            })
            .collect()
    }

    /// Assets in any status whose indexed fields contain every word of `text` (case- and
    /// accent-insensitive, the last word as a prefix), best match first, at most `limit`.
    /// The shorthand of [`Catalog::find`] without filters.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<AssetRecord>> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let hits = self.find(&SearchQuery {
            text: text.to_owned(),
            status: None,
            limit,
            ..SearchQuery::default()
        })?;
        Ok(hits.into_iter().map(|h| h.asset).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn user_text_becomes_quoted_words_with_a_prefix_last() {
        assert_eq!(
            fts_query("  cyberpunk  city ").as_deref(),
            Some(r#""cyberpunk" "city" *"#)
        );
        assert_eq!(
            fts_query(r#"a"b -x NOT * ( :"#).as_deref(),
            Some(r#""a""b" "-x" "NOT" *"#)
        );
        assert_eq!(fts_query("   "), None);
        assert_eq!(fts_query("- * :: \"\""), None);
        assert_eq!(
            fts_query("fox\u{0}snow\u{1b}[1m").as_deref(),
            Some(r#""fox" "snow" "[1m" *"#)
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("sd_xl"), r"%sd\_xl%");
        assert_eq!(like_contains(r"50%\x"), r"%50\%\\x%");
    }

    #[test]
    fn snippets_turn_markers_into_ranges() {
        let s = Snippet::from_marked("a neon \u{1}cyberpunk\u{2} \u{1}city\u{2}…");
        assert_eq!(s.text, "a neon cyberpunk city…");
        assert_eq!(s.marks, vec![7..16, 17..21]);
        assert_eq!(s.render("[", "]"), "a neon [cyberpunk] [city]…");
        // A stray end marker (a prompt that contains one) is dropped, not a panic.
        let s = Snippet::from_marked("x\u{2}y");
        assert_eq!((s.text.as_str(), s.marks.len()), ("xy", 0));
    }

    /// The full-text match must drive every text search, whatever filters are set.
    #[test]
    fn text_searches_are_driven_by_the_full_text_index() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        let now = Utc::now();
        let query = SearchQuery {
            text: "neon city".into(),
            source: Some("midjourney".into()),
            project: Some("cyberpunk".into()),
            style: Some("noir".into()),
            model: Some("xl".into()),
            lora: Some("detail".into()),
            since: Some(TimeBound::parse("7d", Edge::Since, &now).unwrap()),
            until: Some(TimeBound::parse("1h", Edge::Until, &now).unwrap()),
            media_type: Some(MediaType::Image),
            ..SearchQuery::default()
        };
        let (sql, params) = search_sql(&query).unwrap();
        let plan = cat.query_plan(&sql, params);
        assert!(
            plan[0].starts_with("SCAN assets_fts VIRTUAL TABLE"),
            "{plan:?}"
        );
        assert!(plan[1].contains("INTEGER PRIMARY KEY"), "{plan:?}");
    }

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2024-03-20T10:30:00+01:00").unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn relative_ages_count_back_from_now() {
        let b = TimeBound::parse("7d", Edge::Since, &now()).unwrap();
        assert_eq!(b.local(), local("2024-03-13T10:30:00"));
        assert_eq!(b.utc().to_rfc3339(), "2024-03-13T09:30:00+00:00");
        let b = TimeBound::parse("12h", Edge::Until, &now()).unwrap();
        assert_eq!(b.local(), local("2024-03-19T22:30:00"));
        let b = TimeBound::parse("2W", Edge::Since, &now()).unwrap();
        assert_eq!(b.local(), local("2024-03-06T10:30:00"));
        assert_eq!(
            TimeBound::parse("0d", Edge::Since, &now()).unwrap().utc(),
            now().with_timezone(&Utc)
        );
    }

    #[test]
    fn a_bare_date_covers_the_whole_day() {
        let since = TimeBound::parse("2024-03-15", Edge::Since, &now()).unwrap();
        assert_eq!(since.local(), local("2024-03-15T00:00:00"));
        assert_eq!(since.utc().to_rfc3339(), "2024-03-14T23:00:00+00:00");
        let until = TimeBound::parse("2024-03-15", Edge::Until, &now()).unwrap();
        assert_eq!(until.local(), local("2024-03-16T00:00:00"));
        let exact = TimeBound::parse("2024-03-15T14:30", Edge::Until, &now()).unwrap();
        assert_eq!(exact.local(), local("2024-03-15T14:30:00"));
        let spaced = TimeBound::parse("2024-03-15 14:30:05", Edge::Since, &now()).unwrap();
        assert_eq!(spaced.local(), local("2024-03-15T14:30:05"));
    }

    #[test]
    fn nonsense_dates_are_refused_with_the_accepted_forms() {
        for bad in [
            "",
            "yesterday",
            "7",
            "7y",
            "-3d",
            "d",
            "2024-13-01",
            "2024-02-30",
            "15.03.2024",
            "99999999999999999999d",
            "9999999999w",
        ] {
            let err = TimeBound::parse(bad, Edge::Since, &now()).unwrap_err();
            assert_eq!(err.text, bad);
            assert!(err.to_string().contains("2024-03-15"), "{err}");
        }
    }
}
