//! Durable events in Redis Streams, for AliceMultiverse.
//!
//! Generic over `(event id, type, JSON)` strings: this crate knows neither the event types nor
//! the bus. Each event is one entry of `<prefix>:events` with the fields `type`, `id` and
//! `event` (the whole CloudEvents JSON), so any Redis client can read it.
//!
//! # Layout
//!
//! - `config`: [`StreamConfig`] and [`redact`] (URLs are never logged with their password).
//! - `writer`: [`StreamWriter`], batched `XADD` with `MAXLEN ~` trimming, and a local spool
//!   (`spool`) that keeps events, in order, while Redis is unreachable.
//! - `consumer`: [`GroupConsumer`], one consumer of a consumer group: own pending entries
//!   first, `XAUTOCLAIM` from dead consumers, dead letters after `max_deliveries`.
//! - `reader`: [`replay`] of a range and [`tail`] of new entries, outside any group.
//! - `admin`: [`claim_owner`] (one daemon per stream, `<prefix>:owner`) and [`groups`] (state of the consumer groups).
//!
//! # Guarantees
//!
//! At least once, end to end: an event may appear twice in the stream (a crash between a
//! spooled event's `XADD` and the spool truncation) and may be delivered twice to a group
//! (no acknowledgement before a crash). Event ids are stable, so consumers de-duplicate on
//! them. Acknowledged entries are not delivered again, as long as Redis persists its state
//! (AOF with `appendfsync always` for no loss at all).

mod admin;
mod config;
mod consumer;
mod error;
mod reader;
mod redis_io;
mod spool;
mod writer;

pub use admin::{GroupInfo, claim_owner, groups, owner};
pub use config::{StreamConfig, redact};
pub use consumer::{DeadLetter, Delivery, GroupConsumer};
pub use error::{Error, Result};
pub use reader::{ReplayFrom, replay, tail};
pub use writer::{Appended, StreamWriter};
