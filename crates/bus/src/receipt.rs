//! Acknowledgement tracking for `publish_tracked`.
//!
//! Each tracked delivery carries an [`AckToken`] holding a share of a [`Tracker`]. A token
//! records how its subscriber finished the message; a token dropped unfinished (its queue
//! was abandoned at shutdown) records that too. When the last share of the tracker goes, the
//! collected outcome is sent to the [`Receipt`]; tying completion to `Drop` means no path can
//! forget to report.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

/// How one durable subscriber finished a tracked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The handler returned `Ok`.
    Acked,
    /// Every attempt failed; the message went to the dead-letter sink.
    DeadLettered {
        /// The last error (or panic) text.
        error: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The subscriber never finished it: the bus shut down and the drain deadline passed, or
    /// the subscriber stopped. A durable transport should deliver it again.
    Abandoned,
}

/// One subscriber's part of an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Subscriber name.
    pub subscriber: String,
    /// How it finished.
    pub status: DeliveryStatus,
}

/// What became of a tracked message once every matching durable subscriber finished with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The message id.
    pub message_id: String,
    /// One entry per durable subscriber the message was queued for, in completion order.
    /// Empty when no durable subscriber matched.
    pub deliveries: Vec<Delivery>,
}

impl Outcome {
    /// True when every subscriber acknowledged the message (vacuously true when none matched):
    /// a durable transport may then acknowledge it upstream.
    pub fn is_fully_acked(&self) -> bool {
        self.deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Acked)
    }

    /// The status recorded for `subscriber`, if the message was queued for it.
    pub fn status_of(&self, subscriber: &str) -> Option<&DeliveryStatus> {
        self.deliveries
            .iter()
            .find(|d| d.subscriber == subscriber)
            .map(|d| &d.status)
    }
}

/// The outcome of `publish_tracked` was lost: its tracker vanished without reporting, which
/// only happens if a queued message was leaked rather than handled or dropped.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the delivery outcome of message {message_id:?} was lost; treat it as not acknowledged and deliver it again"
)]
pub struct ReceiptLost {
    /// The message id.
    pub message_id: String,
}

/// Resolves to the [`Outcome`] of a message published with `publish_tracked`, once every
/// matching durable subscriber has acknowledged it, dead-lettered it, or abandoned it.
#[derive(Debug)]
#[must_use = "a receipt does nothing unless awaited"]
pub struct Receipt {
    message_id: String,
    rx: oneshot::Receiver<Vec<Delivery>>,
}

impl Receipt {
    /// The id of the tracked message.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }
}

impl Future for Receipt {
    type Output = Result<Outcome, ReceiptLost>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = std::task::ready!(Pin::new(&mut this.rx).poll(cx));
        let message_id = std::mem::take(&mut this.message_id);
        Poll::Ready(match result {
            Ok(deliveries) => Ok(Outcome {
                message_id,
                deliveries,
            }),
            Err(_) => Err(ReceiptLost { message_id }),
        })
    }
}

struct TrackerState {
    deliveries: Vec<Delivery>,
    done: Option<oneshot::Sender<Vec<Delivery>>>,
}

/// Collects deliveries of one tracked message; reports them when the last share drops.
pub(crate) struct Tracker {
    state: Mutex<TrackerState>,
}

impl Tracker {
    pub(crate) fn new(message_id: &str) -> (Arc<Tracker>, Receipt) {
        let (tx, rx) = oneshot::channel();
        let tracker = Arc::new(Tracker {
            state: Mutex::new(TrackerState {
                deliveries: Vec::new(),
                done: Some(tx),
            }),
        });
        let receipt = Receipt {
            message_id: message_id.to_owned(),
            rx,
        };
        (tracker, receipt)
    }

    fn record(&self, delivery: Delivery) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deliveries
            .push(delivery);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(done) = state.done.take() {
            // The receipt may have been dropped by a caller that stopped caring; fine.
            let _ = done.send(std::mem::take(&mut state.deliveries));
        }
    }
}

/// One subscriber's share of a tracked message.
pub(crate) struct AckToken {
    tracker: Option<Arc<Tracker>>,
    subscriber: Arc<str>,
}

impl AckToken {
    pub(crate) fn new(tracker: Arc<Tracker>, subscriber: Arc<str>) -> AckToken {
        AckToken {
            tracker: Some(tracker),
            subscriber,
        }
    }

    pub(crate) fn complete(mut self, status: DeliveryStatus) {
        self.report(status);
    }

    fn report(&mut self, status: DeliveryStatus) {
        if let Some(tracker) = self.tracker.take() {
            tracker.record(Delivery {
                subscriber: self.subscriber.to_string(),
                status,
            });
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        self.report(DeliveryStatus::Abandoned);
    }
}
