//! In-process publish/subscribe for the daemon's events: per-subscriber bounded queues,
//! retries, dead letters, acknowledgements and drain.
//!
//! The bus knows nothing about payloads. It carries any [`Message`] (the `events` crate's
//! envelope, usually behind an `Arc`) and routes on its type name and category with a
//! [`Filter`].
//!
//! # Layout
//!
//! - `message.rs`: the [`Message`] trait and [`Filter`].
//! - `handler.rs`: the [`Handler`] trait, [`RetryPolicy`], [`SubscriberOptions`], [`DeadLetter`].
//! - `bus.rs`: [`Bus`] (publish, subscribe, observe, stats, shutdown) and its errors.
//! - `subscriber.rs`: a durable subscriber's queue and the task that drains it.
//! - `observer.rs`: lossy [`Observer`]s.
//! - `receipt.rs`: acknowledgement tracking behind [`Bus::publish_tracked`].
//!
//! # Delivery guarantees
//!
//! **Durable subscribers** ([`Bus::subscribe`]) each own a bounded queue and a task that runs
//! their async handler on one message at a time.
//!
//! - *Nothing is dropped.* `publish` resolves only once the message is queued for every
//!   matching durable subscriber. The only way a message misses one is that `publish` returned
//!   [`BusClosed`] (or was cancelled), which the publisher sees.
//! - *Backpressure.* A subscriber's `capacity` bounds the messages it has accepted but not
//!   finished. When it is full, `publish` waits; the slowest subscriber paces the publishers.
//!   Handlers must therefore never publish to a subscriber that can wait on them.
//! - *Order.* Each subscriber handles messages in the order they were queued for it. A
//!   `publish` queues its message for all matching subscribers before it returns, so messages
//!   published one after another by one task reach every subscriber in that order. Messages
//!   from concurrent publishers are interleaved, possibly differently per subscriber.
//! - *At least once.* A handler error or panic is retried with bounded exponential backoff
//!   ([`RetryPolicy`]), holding back later messages for that subscriber meanwhile. After the
//!   last attempt the message becomes a [`DeadLetter`]: it is passed to the dead-letter sink,
//!   logged with `tracing::error!`, and the subscriber continues with the next message. A
//!   panic never stops the subscriber. Since a message can be handled more than once (retries
//!   here, replays from a durable transport), handlers must be idempotent; [`Message::id`] is
//!   the key for de-duplication.
//! - *Acknowledgement.* A handler returning `Ok` acknowledges the message.
//!   [`Bus::publish_tracked`] returns a [`Receipt`] that tells, per subscriber, whether the
//!   message was acked, dead-lettered, or abandoned at shutdown, so a durable transport can
//!   acknowledge upstream only what was really finished. Plain `publish` tracks nothing.
//! - *Drain.* [`Bus::shutdown`] stops intake, lets subscribers finish what they accepted
//!   until the deadline, then stops them and reports what each left unfinished.
//!
//! **Observers** ([`Bus::observe`]) are lossy by design, for live tails and metrics: a
//! publisher never waits for one. When an observer's buffer is full, messages are dropped for
//! it, counted, and announced in its stream as [`Observed::Lagged`].
//!
//! A subscriber or observer receives messages published after it registered.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use bus::{Bus, Filter, HandlerError, Message};
//!
//! #[derive(Debug)]
//! struct Event { id: String, kind: &'static str }
//!
//! impl Message for Event {
//!     fn id(&self) -> &str { &self.id }
//!     fn type_name(&self) -> &str { self.kind }
//!     fn category(&self) -> &str { "asset" }
//! }
//! # impl Clone for Event { fn clone(&self) -> Self { Event { id: self.id.clone(), kind: self.kind } } }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bus: Bus<Arc<Event>> = Bus::new();
//! bus.subscribe("catalog", Filter::categories(["asset"]), |event: Arc<Event>| async move {
//!     println!("recording {}", event.id());
//!     Ok::<(), HandlerError>(())
//! })?;
//!
//! let event = Arc::new(Event { id: "0001".into(), kind: "alice.asset.discovered.v1" });
//! let outcome = bus.publish_tracked(event).await?.await?;
//! assert!(outcome.is_fully_acked());
//! assert!(bus.shutdown(std::time::Duration::from_secs(5)).await.is_clean());
//! # Ok(())
//! # }
//! ```

mod bus;
mod handler;
mod message;
mod observer;
mod receipt;
mod subscriber;

pub use bus::{
    Bus, BusBuilder, BusClosed, BusStats, ObserverStats, ShutdownReport, SubscribeError,
    SubscriberStats, Unfinished,
};
pub use handler::{DeadLetter, Handler, HandlerError, RetryPolicy, Shard, SubscriberOptions};
pub use message::{Filter, Message};
pub use observer::{Observed, Observer};
pub use receipt::{Delivery, DeliveryStatus, Outcome, Receipt, ReceiptLost};
