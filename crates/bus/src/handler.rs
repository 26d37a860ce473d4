//! Subscriber handlers, retry policy and dead letters.

use std::future::Future;
use std::time::Duration;

use crate::Message;

/// The error a handler returns. Anything that converts into a boxed error works with `?`,
/// including `anyhow::Error` and `std::io::Error`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The async function a durable subscriber runs for each message it receives.
///
/// Returning `Ok(())` acknowledges the message. Returning an error (or panicking) makes the bus
/// retry it according to the subscriber's [`RetryPolicy`]; after the last attempt it becomes a
/// [`DeadLetter`]. Handlers must be idempotent: a message may be seen again after a retry or a
/// replay.
///
/// Implemented for every `Fn(M) -> impl Future<Output = Result<(), HandlerError>>` closure, so
/// `|msg: MyEvent| async move { ...; Ok(()) }` is a handler. Types can implement it directly
/// with `async fn handle(&self, message: M) -> Result<(), HandlerError>`.
pub trait Handler<M: Message>: Send + Sync + 'static {
    /// Handles one message.
    fn handle(&self, message: M) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<M, F, Fut> Handler<M> for F
where
    M: Message,
    F: Fn(M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(&self, message: M) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self(message)
    }
}

/// How a durable subscriber retries a message whose handler failed.
///
/// Attempt `n` (counting from 1) that fails is followed by a pause of
/// `initial_backoff * 2^(n-1)`, capped at `max_backoff`, until `max_attempts` attempts have
/// been made. The subscriber handles nothing else meanwhile, which keeps its order intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first one. Must be at least 1.
    pub max_attempts: u32,
    /// Pause after the first failed attempt.
    pub initial_backoff: Duration,
    /// Longest pause between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, pausing 100 ms, 200 ms, 400 ms and 800 ms in between.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (counting from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_backoff
            .checked_mul(1u32 << doublings)
            .map_or(self.max_backoff, |pause| pause.min(self.max_backoff))
    }
}

/// Settings of one durable subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberOptions {
    /// Most messages the subscriber may have accepted but not finished (queued plus the one
    /// being handled). When it is full, `publish` waits. Between 1 and
    /// [`tokio::sync::Semaphore::MAX_PERMITS`].
    pub capacity: usize,
    /// What happens when the handler fails.
    pub retry: RetryPolicy,
    /// With `Some`, the subscriber is one lane of a sharded stage and only receives the
    /// messages whose [`crate::Message::shard`] is its lane: the others are never queued
    /// for it (a stage of N lanes costs one queueing per message, not N).
    pub shard: Option<Shard>,
}

/// One lane of a subscriber that runs as `of` lanes ([`SubscriberOptions::shard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This lane, below `of`.
    pub index: usize,
    /// How many lanes the stage has (at least 1).
    pub of: usize,
}

impl Default for SubscriberOptions {
    /// 1024 messages of queue, default [`RetryPolicy`].
    fn default() -> Self {
        SubscriberOptions {
            capacity: 1024,
            retry: RetryPolicy::default(),
            shard: None,
        }
    }
}

/// A message a subscriber gave up on after exhausting its retries.
#[derive(Debug, Clone)]
pub struct DeadLetter<M> {
    /// Name of the subscriber that failed.
    pub subscriber: String,
    /// The message, unchanged.
    pub message: M,
    /// The last error (or panic) text.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(3), Duration::from_millis(400));
        assert_eq!(policy.backoff(4), Duration::from_millis(500));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn backoff_does_not_overflow_with_huge_delays() {
        let policy = RetryPolicy {
            max_attempts: 40,
            initial_backoff: Duration::from_secs(u64::MAX / 2),
            max_backoff: Duration::from_secs(60),
        };
        assert_eq!(policy.backoff(3), Duration::from_secs(60));
    }
}
