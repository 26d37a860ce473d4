//! Outcome counters: how many asset pipelines started and how each ended.

use std::sync::atomic::{AtomicU64, Ordering};

use events::{Event, Payload};
use tokio::sync::Notify;

/// Event types that end an asset's pipeline.
pub const OUTCOME_TYPES: [&str; 4] = [
    "alice.asset.organized.v1",
    "alice.asset.duplicate.v1",
    "alice.asset.skipped.v1",
    "alice.asset.failed.v1",
];

/// Live counters; every started pipeline ends in exactly one outcome.
#[derive(Default)]
pub struct Tally {
    started: AtomicU64,
    organized: AtomicU64,
    duplicates: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    changed: Notify,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TallySnapshot {
    /// Asset pipelines started (discoveries published).
    pub started: u64,
    /// Files organized.
    pub organized: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Skipped (not media).
    pub skipped: u64,
    /// Failed (including pipelines a subscriber gave up on).
    pub failed: u64,
}

impl TallySnapshot {
    /// Pipelines that reached an outcome.
    pub fn finished(&self) -> u64 {
        self.organized + self.duplicates + self.skipped + self.failed
    }
}

impl Tally {
    pub(crate) fn started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts an outcome event.
    pub(crate) fn count(&self, event: &Event) {
        let counter = match &event.payload {
            Payload::AssetOrganized(_) => &self.organized,
            Payload::AssetDuplicate(_) => &self.duplicates,
            Payload::AssetSkipped(_) => &self.skipped,
            Payload::AssetFailed(_) => &self.failed,
            // A pipeline stage that gave up on a step of an asset's pipeline ends it.
            Payload::DeadLettered(d)
                if d.subscriber.starts_with("metadata-")
                    || d.subscriber.starts_with("organizer-") =>
            {
                &self.failed
            }
            _ => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> TallySnapshot {
        TallySnapshot {
            started: self.started.load(Ordering::SeqCst),
            organized: self.organized.load(Ordering::SeqCst),
            duplicates: self.duplicates.load(Ordering::SeqCst),
            skipped: self.skipped.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let s = self.snapshot();
            if s.finished() >= s.started {
                return;
            }
            notified.await;
        }
    }
}
