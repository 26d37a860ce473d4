//! Reading the stream outside any group: replay a range, follow new entries.

use chrono::{DateTime, Utc};
use redis::Value;

use crate::config::{StreamConfig, redact};
use crate::error::{Error, Result};
use crate::redis_io::{Entry, connect, entries, read_reply};

/// Entries per `XRANGE` page.
const PAGE: usize = 1000;

/// Where a [`replay`] starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The oldest entry still in the stream.
    Start,
    /// This stream entry id, included (`<ms>-<seq>`, or `<ms>` for the first entry of that ms).
    Id(String),
    /// The first entry added at or after this time (entry ids start with their ms timestamp).
    Since(DateTime<Utc>),
}

impl ReplayFrom {
    fn start_id(&self) -> String {
        match self {
            ReplayFrom::Start => "-".to_owned(),
            ReplayFrom::Id(id) => id.clone(),
            ReplayFrom::Since(t) => format!("{}-0", t.timestamp_millis().max(0)),
        }
    }
}

/// Passes the event JSON of every entry from `from` to the end of the stream, in stream
/// order, to `out`, keeping only the type `type_filter` if given. Reads `XRANGE` pages of
/// 1000. Entries without an `event` field are skipped with a warning. Returns how many events
/// were passed.
pub async fn replay(
    cfg: &StreamConfig,
    from: ReplayFrom,
    type_filter: Option<&str>,
    mut out: impl FnMut(&str),
) -> Result<u64> {
    let url = redact(&cfg.url);
    let stream = cfg.stream_key();
    let mut conn = connect(cfg, cfg.timeout).await?;
    let mut start = from.start_id();
    let mut passed = 0;
    loop {
        let reply: Value = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut conn)
            .await
            .map_err(|source| Error::Redis {
                op: "XRANGE",
                url: url.clone(),
                source,
            })?;
        let page = entries(&reply).map_err(|detail| Error::Reply {
            op: "XRANGE",
            url: url.clone(),
            detail,
        })?;
        for e in &page {
            if emit(e, type_filter, &mut out) {
                passed += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => start = format!("({}", last.id),
            _ => return Ok(passed),
        }
    }
}

/// Follows the stream from now on (`XREAD BLOCK` from `$`), passing each new event JSON to
/// `out`; for `alice events tail --redis`. Runs until a Redis error (returned) or until the
/// future is dropped.
pub async fn tail(cfg: &StreamConfig, mut out: impl FnMut(&str)) -> Result<()> {
    let url = redact(&cfg.url);
    let stream = cfg.stream_key();
    // A blocking read: the response timeout must outlast BLOCK.
    let mut conn = connect(cfg, cfg.block + cfg.timeout).await?;
    let mut last = "$".to_owned();
    loop {
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(PAGE)
            .arg("BLOCK")
            .arg(cfg.block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last)
            .query_async(&mut conn)
            .await
            .map_err(|source| Error::Redis {
                op: "XREAD",
                url: url.clone(),
                source,
            })?;
        let list = read_reply(&reply).map_err(|detail| Error::Reply {
            op: "XREAD",
            url: url.clone(),
            detail,
        })?;
        for e in &list {
            emit(e, None, &mut out);
        }
        if let Some(e) = list.last() {
            last = e.id.clone();
        }
    }
}

fn emit(e: &Entry, type_filter: Option<&str>, out: &mut impl FnMut(&str)) -> bool {
    if type_filter.is_some_and(|t| e.field("type") != Some(t)) {
        return false;
    }
    match e.field("event") {
        Some(json) => {
            out(json);
            true
        }
        None => {
            tracing::warn!(stream_id = %e.id, "stream entry without an event field skipped");
            false
        }
    }
}
