//! Administration of the stream: which daemon owns it, and the state of its consumer groups.

use crate::config::{StreamConfig, redact};
use crate::error::{Error, Result};
use crate::redis_io::connect;

/// Claims `<prefix>:owner` for `owner` (`SET NX`), or confirms it already holds it. Returns
/// the other owner's name when the stream belongs to someone else: its consumer groups would
/// hand this daemon's events to that daemon's stages and back, so the caller must refuse to
/// run on it. The claim never expires; a stale one is removed with `DEL <prefix>:owner`.
pub async fn claim_owner(cfg: &StreamConfig, owner: &str) -> Result<Option<String>> {
    let key = cfg.owner_key();
    let url = redact(&cfg.url);
    let mut conn = connect(cfg, cfg.timeout).await?;
    let set: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(owner)
        .arg("NX")
        .query_async(&mut conn)
        .await
        .map_err(|source| Error::Redis {
            op: "SET NX owner",
            url: url.clone(),
            source,
        })?;
    if set.is_some() {
        tracing::info!(key, owner, "claimed the stream for this daemon");
        return Ok(None);
    }
    let current: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(|source| Error::Redis {
            op: "GET owner",
            url,
            source,
        })?;
    Ok(current.filter(|c| c != owner))
}

/// The current owner of `<prefix>:owner`, if any.
pub async fn owner(cfg: &StreamConfig) -> Result<Option<String>> {
    let mut conn = connect(cfg, cfg.timeout).await?;
    redis::cmd("GET")
        .arg(cfg.owner_key())
        .query_async(&mut conn)
        .await
        .map_err(|source| Error::Redis {
            op: "GET owner",
            url: redact(&cfg.url),
            source,
        })
}

/// One consumer group's state, from `XINFO GROUPS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name (a stage).
    pub name: String,
    /// Consumers that have read from it.
    pub consumers: u64,
    /// Entries delivered and not acknowledged yet.
    pub pending: u64,
    /// Entries not delivered to the group yet (`None` when Redis cannot tell, e.g. after
    /// trimming or deletions).
    pub lag: Option<u64>,
}

/// The consumer groups of the event stream (empty when the stream does not exist yet).
pub async fn groups(cfg: &StreamConfig) -> Result<Vec<GroupInfo>> {
    let mut conn = connect(cfg, cfg.timeout).await?;
    let reply: redis::Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(cfg.stream_key())
        .query_async(&mut conn)
        .await
        .or_else(|e| {
            // No stream yet: no groups either.
            if e.to_string().contains("no such key") {
                Ok(redis::Value::Array(Vec::new()))
            } else {
                Err(e)
            }
        })
        .map_err(|source| Error::Redis {
            op: "XINFO GROUPS",
            url: redact(&cfg.url),
            source,
        })?;
    let redis::Value::Array(list) = reply else {
        return Ok(Vec::new());
    };
    Ok(list.iter().filter_map(group_info).collect())
}

/// One group's entry: a flat key/value array (RESP2) or a map (RESP3).
fn group_info(v: &redis::Value) -> Option<GroupInfo> {
    let pairs: Vec<(String, &redis::Value)> = match v {
        redis::Value::Array(kv) => kv
            .chunks(2)
            .filter_map(|p| Some((crate::redis_io::text(p.first()?)?, p.get(1)?)))
            .collect(),
        redis::Value::Map(kv) => kv
            .iter()
            .filter_map(|(k, v)| Some((crate::redis_io::text(k)?, v)))
            .collect(),
        _ => return None,
    };
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    Some(GroupInfo {
        name: get("name").and_then(crate::redis_io::text)?,
        consumers: get("consumers").and_then(crate::redis_io::int).unwrap_or(0),
        pending: get("pending").and_then(crate::redis_io::int).unwrap_or(0),
        lag: get("lag").and_then(crate::redis_io::int),
    })
}
