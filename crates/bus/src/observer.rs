//! Lossy observers: they see what passes through the bus without ever slowing it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::bus::Shared;
use crate::{Filter, Message};

/// What [`Observer::recv`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed<M> {
    /// The next message.
    Message(M),
    /// This many messages were dropped for this observer (it was full) at this point in the
    /// stream. Comes before the message that follows the gap, or last, before the end.
    Lagged(u64),
}

pub(crate) struct ObserverCounters {
    pub(crate) received: AtomicU64,
    pub(crate) missed: AtomicU64,
    /// Dropped since the last message that reached the queue; travels with the next one.
    gap: AtomicU64,
}

/// The publishing side of one observer, held in the bus's routing table.
pub(crate) struct ObserverRoute<M> {
    pub(crate) id: u64,
    pub(crate) filter: Filter,
    pub(crate) capacity: usize,
    tx: mpsc::Sender<(u64, M)>,
    pub(crate) counters: Arc<ObserverCounters>,
}

impl<M: Message> ObserverRoute<M> {
    /// Hands `message` over if there is room, otherwise counts it as missed. Never waits.
    pub(crate) fn offer(&self, message: &M) {
        match self.tx.try_reserve() {
            Ok(slot) => {
                // Claiming the gap only after room is reserved keeps the count exact when
                // publishers race: a drop either lands in this gap or in a later one.
                let gap = if self.counters.gap.load(Ordering::Relaxed) == 0 {
                    0
                } else {
                    self.counters.gap.swap(0, Ordering::AcqRel)
                };
                slot.send((gap, message.clone()));
                self.counters.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(())) => {
                self.counters.gap.fetch_add(1, Ordering::AcqRel);
                self.counters.missed.fetch_add(1, Ordering::Relaxed);
            }
            // The observer was dropped; its Drop removes this route.
            Err(TrySendError::Closed(())) => {}
        }
    }
}

/// A lossy view of the messages passing through the bus, for live tails and metrics.
///
/// It has a bounded buffer; when the buffer is full, new messages are dropped for this
/// observer only, counted, and announced by an [`Observed::Lagged`] item. Publishers never wait
/// for an observer. The stream ends (`recv` returns `None`) after the bus shuts down and the
/// buffer is empty. Dropping the observer unregisters it.
pub struct Observer<M: Message> {
    id: u64,
    rx: mpsc::Receiver<(u64, M)>,
    pending: Option<M>,
    counters: Arc<ObserverCounters>,
    bus: Weak<Shared<M>>,
}

impl<M: Message> Observer<M> {
    /// Creates an observer and the route the bus publishes to. `capacity` must already be
    /// valid for a tokio channel.
    pub(crate) fn new(
        id: u64,
        filter: Filter,
        capacity: usize,
        bus: Weak<Shared<M>>,
    ) -> (Observer<M>, ObserverRoute<M>) {
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new(ObserverCounters {
            received: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            gap: AtomicU64::new(0),
        });
        let route = ObserverRoute {
            id,
            filter,
            capacity,
            tx,
            counters: Arc::clone(&counters),
        };
        let observer = Observer {
            id,
            rx,
            pending: None,
            counters,
            bus,
        };
        (observer, route)
    }

    /// The next message, or a [`Observed::Lagged`] marker where messages were dropped.
    /// `None` once the bus has shut down and everything buffered was read.
    pub async fn recv(&mut self) -> Option<Observed<M>> {
        if let Some(message) = self.pending.take() {
            return Some(Observed::Message(message));
        }
        match self.rx.recv().await {
            Some((0, message)) => Some(Observed::Message(message)),
            Some((gap, message)) => {
                self.pending = Some(message);
                Some(Observed::Lagged(gap))
            }
            None => match self.counters.gap.swap(0, Ordering::AcqRel) {
                0 => None,
                gap => Some(Observed::Lagged(gap)),
            },
        }
    }

    /// Identifies this observer in [`crate::BusStats`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Total messages dropped for this observer so far.
    pub fn missed(&self) -> u64 {
        self.counters.missed.load(Ordering::Relaxed)
    }

    /// Total messages that reached this observer's buffer so far.
    pub fn received(&self) -> u64 {
        self.counters.received.load(Ordering::Relaxed)
    }
}

impl<M: Message> Drop for Observer<M> {
    fn drop(&mut self) {
        if let Some(shared) = self.bus.upgrade() {
            shared.remove_observer(self.id);
        }
        tracing::debug!(
            observer = self.id,
            received = self.received(),
            missed = self.missed(),
            "observer closed"
        );
    }
}
