//! One daemon per stream: the key `<prefix>:owner` names the daemon whose stages read it.

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
