//! Connecting, and turning raw stream replies into entries.
//!
//! Replies are parsed from `redis::Value` by hand rather than through the crate's typed stream
//! replies because an entry trimmed away while pending comes back with nil fields, which the
//! typed replies do not accept.

use std::time::Duration;

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::config::{StreamConfig, redact};
use crate::error::{Error, Result};

/// A connection whose response timeout is `response_timeout` (above any BLOCK it will carry).
pub(crate) async fn connect(
    cfg: &StreamConfig,
    response_timeout: Duration,
) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(cfg.url.as_str()).map_err(|source| Error::InvalidUrl {
        url: redact(&cfg.url),
        source,
    })?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(cfg.timeout)
        .set_response_timeout(response_timeout);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|source| Error::Redis {
            op: "connect",
            url: redact(&cfg.url),
            source,
        })
}

/// `XGROUP CREATE <stream> <group> <start> MKSTREAM`; true when created, false when the group
/// already existed (it keeps its position).
pub(crate) async fn create_group(
    conn: &mut MultiplexedConnection,
    cfg: &StreamConfig,
    group: &str,
    start: &str,
) -> Result<bool> {
    let created = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(cfg.stream_key())
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async::<()>(conn)
        .await;
    match created {
        Ok(()) => {
            let at = if start == "$" { "end" } else { "start" };
            tracing::info!(group, stream = %cfg.stream_key(), at, "consumer group created");
            Ok(true)
        }
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
        Err(source) => Err(Error::Redis {
            op: "XGROUP CREATE",
            url: redact(&cfg.url),
            source,
        }),
    }
}

/// One stream entry. `fields` is `None` for an entry that was deleted (trimmed) while pending.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub id: String,
    pub fields: Option<Vec<(String, String)>>,
}

impl Entry {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".to_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// Entries of an `XRANGE` reply, or the entry list inside an `XREAD`/`XAUTOCLAIM` reply.
pub(crate) fn entries(v: &Value) -> Result<Vec<Entry>, String> {
    let items = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(format!("expected an entry list, got {other:?}")),
    };
    items.iter().map(entry).collect()
}

fn entry(v: &Value) -> Result<Entry, String> {
    let Value::Array(parts) = v else {
        return Err(format!("expected an entry [id, fields], got {v:?}"));
    };
    let id = parts
        .first()
        .and_then(text)
        .ok_or_else(|| format!("entry without an id: {v:?}"))?;
    let fields = match parts.get(1) {
        None | Some(Value::Nil) => None,
        Some(Value::Array(kv)) => Some(
            kv.chunks(2)
                .map(|pair| match pair {
                    [k, val] => match (text(k), text(val)) {
                        (Some(k), Some(val)) => Ok((k, val)),
                        _ => Err(format!("non-text field in entry {id}")),
                    },
                    _ => Err(format!("odd field list in entry {id}")),
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
        Some(Value::Map(kv)) => Some(
            kv.iter()
                .map(|(k, val)| match (text(k), text(val)) {
                    (Some(k), Some(val)) => Ok((k, val)),
                    _ => Err(format!("non-text field in entry {id}")),
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
        Some(other) => return Err(format!("entry {id} has fields {other:?}")),
    };
    Ok(Entry { id, fields })
}

/// Entries of the one stream in an `XREAD`/`XREADGROUP` reply; nil (BLOCK timed out) is none.
pub(crate) fn read_reply(v: &Value) -> Result<Vec<Entry>, String> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => {
            let mut out = Vec::new();
            for s in streams {
                let Value::Array(pair) = s else {
                    return Err(format!("expected [stream, entries], got {s:?}"));
                };
                if let Some(list) = pair.get(1) {
                    out.extend(entries(list)?);
                }
            }
            Ok(out)
        }
        Value::Map(streams) => {
            let mut out = Vec::new();
            for (_, list) in streams {
                out.extend(entries(list)?);
            }
            Ok(out)
        }
        other => Err(format!("expected a stream list, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_entries_including_trimmed_ones() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("alice:events"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("type"), bulk("t"), bulk("id"), bulk("e1")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let got = read_reply(&reply).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].field("id"), Some("e1"));
        assert_eq!(got[0].field("event"), None);
        assert!(got[1].fields.is_none());
        assert!(read_reply(&Value::Nil).unwrap().is_empty());
        assert!(read_reply(&bulk("x")).is_err());
    }
}
