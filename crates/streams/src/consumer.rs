//! Consumer groups: pending entries first, reclaim from dead consumers, dead letters.

use std::time::Duration;

use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::config::{StreamConfig, redact};
use crate::error::{Error, Result};
use crate::redis_io::{Entry, connect, entries, int, read_reply, text};

/// Entries asked for per read.
const COUNT: usize = 100;

/// One entry handed to a subscriber. Acknowledge it with [`GroupConsumer::ack`] once its
/// effect is durable; until then it stays pending and comes back after a restart or, if this
/// consumer dies, to another consumer of the group after `claim_idle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Stream entry id, to acknowledge.
    pub stream_id: String,
    /// The event id (the `id` field): de-duplicate on it.
    pub event_id: String,
    /// The event type (the `type` field).
    pub type_name: String,
    /// The whole CloudEvents JSON (the `event` field).
    pub json: String,
    /// How many times this entry has been delivered, this time included (1 = first time).
    pub deliveries: u64,
}

/// An entry this consumer moved to the dead-letter stream (see
/// [`GroupConsumer::take_dead_letters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Stream entry id of the original.
    pub stream_id: String,
    /// Its `id` field, if it had one.
    pub event_id: Option<String>,
    /// Its `type` field, if it had one.
    pub type_name: Option<String>,
    /// Its `event` field (the CloudEvents JSON), if it had one.
    pub json: Option<String>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// Deliveries so far.
    pub deliveries: u64,
}

/// One consumer in a consumer group: one group per durable subscriber (e.g. `organizer`),
/// one consumer name per process ([`StreamConfig::consumer`]).
///
/// A new group starts at the beginning of the stream (`XGROUP CREATE ... 0 MKSTREAM`), so
/// events written before the subscriber first ran are not missed (as far back as the
/// `MAXLEN` trimming kept them); an existing group keeps its position.
///
/// [`next`](Self::next) returns, in this order: this consumer's own pending entries (read from
/// id 0 until none are left, again after every reconnect, so a restart re-reads what it had
/// not acknowledged); entries pending with any consumer for longer than `claim_idle`
/// (`XAUTOCLAIM`, checked every `claim_idle`); then new entries, blocking up to `block`.
/// An entry delivered more than `max_deliveries` times, or that lacks the `id`, `type` or
/// `event` field, is copied to the dead-letter stream (fields `group`, `reason`, `stream_id`
/// and the original fields) and acknowledged in one `MULTI`, and is not returned.
///
/// Any command error drops the connection and is returned; the next call reconnects (and
/// re-creates the group if Redis lost it), so a caller just retries after a pause.
pub struct GroupConsumer {
    cfg: StreamConfig,
    group: String,
    /// Where a missing group is created: `0` (the beginning) or `$` (the end).
    start: &'static str,
    stream: String,
    dead: String,
    url: String,
    conn: Option<MultiplexedConnection>,
    /// `Some(after)` while re-reading this consumer's own pending entries.
    history: Option<String>,
    claim_cursor: String,
    next_claim: Instant,
    dead_letters: Vec<DeadLetter>,
}

enum Source {
    /// Read by `>`: delivered once so far.
    New,
    /// Own pending entries or claimed ones: the delivery count comes from `XPENDING`.
    Again,
}

impl GroupConsumer {
    /// Connects and creates the group if it does not exist yet (starting at the beginning).
    pub async fn join(cfg: &StreamConfig, group: &str) -> Result<Self> {
        Self::join_at(cfg, group, false).await
    }

    /// Like [`join`](Self::join); a group that does not exist yet is created at the end of
    /// the stream when `from_end` is true (only entries appended from now on), so a new
    /// subscriber does not handle the whole history.
    pub async fn join_at(cfg: &StreamConfig, group: &str, from_end: bool) -> Result<Self> {
        let mut me = Self {
            cfg: cfg.clone(),
            group: group.to_owned(),
            start: if from_end { "$" } else { "0" },
            stream: cfg.stream_key(),
            dead: cfg.dead_key(),
            url: redact(&cfg.url),
            conn: None,
            history: None,
            claim_cursor: "0-0".to_owned(),
            next_claim: Instant::now(),
            dead_letters: Vec::new(),
        };
        me.connection().await?;
        Ok(me)
    }

    /// The group name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The next entries for this consumer; empty when nothing arrived within `block`.
    pub async fn next(&mut self) -> Result<Vec<Delivery>> {
        self.next_within(Some(self.cfg.block)).await
    }

    /// Like [`next`](Self::next) without waiting for new entries: empty means this consumer
    /// has caught up (no pending entries of its own, none to reclaim now, none unread).
    pub async fn next_now(&mut self) -> Result<Vec<Delivery>> {
        self.next_within(None).await
    }

    async fn next_within(&mut self, block: Option<Duration>) -> Result<Vec<Delivery>> {
        let result = self.next_inner(block).await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// The entries moved to the dead-letter stream since the last call, so the caller can
    /// report them (they are acknowledged and will not be delivered again).
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead_letters)
    }

    /// Acknowledges entries (`XACK`): they will not be delivered to this group again.
    pub async fn ack(&mut self, stream_ids: &[String]) -> Result<()> {
        if stream_ids.is_empty() {
            return Ok(());
        }
        let (stream, group) = (self.stream.clone(), self.group.clone());
        let conn = self.connection().await?;
        let result = redis::cmd("XACK")
            .arg(&stream)
            .arg(&group)
            .arg(stream_ids)
            .query_async::<u64>(conn)
            .await;
        result.map(|_| ()).map_err(|source| {
            self.conn = None;
            Error::Redis {
                op: "XACK",
                url: self.url.clone(),
                source,
            }
        })
    }

    async fn next_inner(&mut self, block: Option<Duration>) -> Result<Vec<Delivery>> {
        self.connection().await?;
        while let Some(after) = self.history.clone() {
            let reply = self.read_group(&after, None).await?;
            let list = read_reply(&reply).map_err(|d| self.bad_reply("XREADGROUP", d))?;
            let Some(last) = list.last() else {
                self.history = None;
                break;
            };
            self.history = Some(last.id.clone());
            let (live, trimmed): (Vec<Entry>, Vec<Entry>) =
                list.into_iter().partition(|e| e.fields.is_some());
            if !trimmed.is_empty() {
                let ids: Vec<String> = trimmed.into_iter().map(|e| e.id).collect();
                tracing::warn!(group = %self.group, stream_ids = ?ids, "pending entries were trimmed from the stream before being handled; acknowledging them");
                self.ack(&ids).await?;
            }
            let out = self.sort(live, Source::Again).await?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        if Instant::now() >= self.next_claim {
            let out = self.claim().await?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        let reply = self.read_group(">", block).await?;
        let list = read_reply(&reply).map_err(|d| self.bad_reply("XREADGROUP", d))?;
        self.sort(list, Source::New).await
    }

    async fn read_group(&mut self, from: &str, block: Option<Duration>) -> Result<Value> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.cfg.consumer)
            .arg("COUNT")
            .arg(COUNT);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(from);
        let url = self.url.clone();
        let conn = self.connection().await?;
        cmd.query_async(conn).await.map_err(|source| Error::Redis {
            op: "XREADGROUP",
            url,
            source,
        })
    }

    /// One `XAUTOCLAIM` step; a scan of the whole pending list restarts every `claim_idle`.
    async fn claim(&mut self) -> Result<Vec<Delivery>> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.stream)
            .arg(&self.group)
            .arg(&self.cfg.consumer)
            .arg(self.cfg.claim_idle.as_millis() as u64)
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(COUNT);
        let url = self.url.clone();
        let conn = self.connection().await?;
        let reply: Value = cmd.query_async(conn).await.map_err(|source| Error::Redis {
            op: "XAUTOCLAIM",
            url,
            source,
        })?;
        let Value::Array(parts) = &reply else {
            return Err(self.bad_reply("XAUTOCLAIM", format!("{reply:?}")));
        };
        let cursor = parts
            .first()
            .and_then(text)
            .ok_or_else(|| self.bad_reply("XAUTOCLAIM", "no cursor".to_owned()))?;
        let claimed = match parts.get(1) {
            Some(list) => entries(list).map_err(|d| self.bad_reply("XAUTOCLAIM", d))?,
            None => Vec::new(),
        };
        if let Some(Value::Array(deleted)) = parts.get(2)
            && !deleted.is_empty()
        {
            let ids: Vec<String> = deleted.iter().filter_map(text).collect();
            tracing::warn!(group = %self.group, stream_ids = ?ids, "pending entries were trimmed from the stream before being handled; Redis dropped them from the group");
        }
        if cursor == "0-0" {
            self.next_claim = Instant::now() + self.cfg.claim_idle;
        }
        self.claim_cursor = cursor;
        if !claimed.is_empty() {
            tracing::info!(group = %self.group, consumer = %self.cfg.consumer, entries = claimed.len(), "reclaimed entries idle with another consumer");
        }
        self.sort(claimed, Source::Again).await
    }

    /// Turns entries into deliveries, dead-lettering the malformed and the over-delivered.
    async fn sort(&mut self, list: Vec<Entry>, source: Source) -> Result<Vec<Delivery>> {
        let counts = match source {
            Source::New => vec![Some(1); list.len()],
            Source::Again => self.delivery_counts(&list).await?,
        };
        let max = self.cfg.max_deliveries();
        let mut out = Vec::with_capacity(list.len());
        for (entry, count) in list.into_iter().zip(counts) {
            // Acknowledged meanwhile (by another consumer that still held it): not ours.
            let Some(count) = count else { continue };
            let fields = (entry.field("id"), entry.field("type"), entry.field("event"));
            let reason = match fields {
                (Some(event_id), Some(type_name), Some(json)) if count <= max => {
                    out.push(Delivery {
                        stream_id: entry.id.clone(),
                        event_id: event_id.to_owned(),
                        type_name: type_name.to_owned(),
                        json: json.to_owned(),
                        deliveries: count,
                    });
                    continue;
                }
                (Some(_), Some(_), Some(_)) => format!(
                    "delivered {count} times without acknowledgement (max_deliveries {max})"
                ),
                _ => "malformed entry: needs the fields id, type and event".to_owned(),
            };
            self.dead_letter(&entry, &reason).await?;
            self.dead_letters.push(DeadLetter {
                stream_id: entry.id.clone(),
                event_id: entry.field("id").map(str::to_owned),
                type_name: entry.field("type").map(str::to_owned),
                json: entry.field("event").map(str::to_owned),
                reason,
                deliveries: count,
            });
        }
        Ok(out)
    }

    /// Delivery counters from `XPENDING` (one pipelined query per entry; `None` if the entry
    /// is no longer pending).
    async fn delivery_counts(&mut self, list: &[Entry]) -> Result<Vec<Option<u64>>> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for e in list {
            pipe.cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(&e.id)
                .arg(&e.id)
                .arg(1);
        }
        let url = self.url.clone();
        let conn = self.connection().await?;
        let replies: Vec<Value> = pipe
            .query_async(conn)
            .await
            .map_err(|source| Error::Redis {
                op: "XPENDING",
                url,
                source,
            })?;
        Ok(replies
            .iter()
            .map(|r| match r {
                Value::Array(rows) => match rows.first() {
                    Some(Value::Array(row)) => row.get(3).and_then(int),
                    _ => None,
                },
                _ => None,
            })
            .collect())
    }

    async fn dead_letter(&mut self, entry: &Entry, reason: &str) -> Result<()> {
        tracing::warn!(
            group = %self.group,
            stream_id = %entry.id,
            event_id = entry.field("id").unwrap_or(""),
            event_type = entry.field("type").unwrap_or(""),
            dead_letters = %self.dead,
            reason,
            "entry moved to the dead-letter stream"
        );
        let mut pipe = redis::pipe();
        pipe.atomic();
        let cmd = pipe.cmd("XADD").arg(&self.dead);
        if self.cfg.maxlen_approx > 0 {
            cmd.arg("MAXLEN").arg("~").arg(self.cfg.maxlen_approx);
        }
        cmd.arg("*")
            .arg("group")
            .arg(&self.group)
            .arg("reason")
            .arg(reason)
            .arg("stream_id")
            .arg(&entry.id);
        for (k, v) in entry.fields.iter().flatten() {
            cmd.arg(k).arg(v);
        }
        pipe.cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&entry.id)
            .ignore();
        let url = self.url.clone();
        let conn = self.connection().await?;
        pipe.query_async::<()>(conn)
            .await
            .map_err(|source| Error::Redis {
                op: "XADD dead letter",
                url,
                source,
            })
    }

    /// The connection, (re)connecting first: a new connection re-creates the group if it is
    /// missing and restarts the re-read of own pending entries.
    async fn connection(&mut self) -> Result<&mut MultiplexedConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = self.open().await?;
                self.history = Some("0".to_owned());
                self.claim_cursor = "0-0".to_owned();
                conn
            }
        };
        Ok(self.conn.insert(conn))
    }

    async fn open(&self) -> Result<MultiplexedConnection> {
        // The blocking read shares this connection: its response timeout must outlast BLOCK.
        let mut conn = connect(&self.cfg, self.cfg.block + self.cfg.timeout).await?;
        crate::redis_io::create_group(&mut conn, &self.cfg, &self.group, self.start).await?;
        Ok(conn)
    }

    fn bad_reply(&self, op: &'static str, detail: String) -> Error {
        Error::Reply {
            op,
            url: self.url.clone(),
            detail,
        }
    }
}
