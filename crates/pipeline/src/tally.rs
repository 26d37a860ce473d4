//! Outcome counters: how many asset pipelines started and how each ended.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use events::{Event, Payload, types};
use tokio::sync::Notify;

use crate::recent::RecentIds;

/// Event types that end an asset's pipeline.
pub const OUTCOME_TYPES: [&str; 5] = [
    types::ASSET_ORGANIZED,
    types::ASSET_DUPLICATE,
    types::ASSET_SKIPPED,
    types::ASSET_FAILED,
    types::SIDECAR_FILED,
];

/// Live counters; every started pipeline ends in exactly one outcome.
///
/// An outcome can be seen twice (from the bus and from a Redis consumer group) and can belong
/// to a pipeline this process did not start (a replay of an earlier run's events): outcomes
/// are counted once per event id, and "idle" means every pipeline started here has ended,
/// matched by asset id.
#[derive(Default)]
pub struct Tally {
    /// Pipelines started here and not ended yet, per asset id (`""` for none).
    open: Mutex<HashMap<String, u64>>,
    /// Outcome event ids counted recently.
    seen: Mutex<RecentIds>,
    /// Discoveries published here whose metadata step has not run yet: a copy of one read
    /// back from Redis is not a new pipeline.
    discoveries: Mutex<HashSet<String>>,
    started: AtomicU64,
    organized: AtomicU64,
    duplicates: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    sidecars: AtomicU64,
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
    /// Sidecar files handled on their own (placed beside media organized earlier, or left
    /// waiting for their media); sidecars that travel with their media are not counted.
    pub sidecars: u64,
}

impl TallySnapshot {
    /// Pipelines that reached an outcome.
    pub fn finished(&self) -> u64 {
        self.organized + self.duplicates + self.skipped + self.failed + self.sidecars
    }
}

impl Tally {
    pub(crate) fn started(&self, asset_id: Option<&str>) {
        if let Ok(mut open) = self.open.lock() {
            *open.entry(asset_id.unwrap_or("").to_owned()).or_default() += 1;
        }
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a discovery published by this process (see [`Tally::take_discovery`]).
    pub(crate) fn started_discovery(&self, asset_id: Option<&str>, event_id: &str) {
        if let Ok(mut d) = self.discoveries.lock() {
            d.insert(event_id.to_owned());
        }
        self.started(asset_id);
    }

    /// True when this discovery was published (and counted) here; its metadata step is now
    /// running, so it is no longer waiting.
    pub(crate) fn take_discovery(&self, event_id: &str) -> bool {
        self.discoveries
            .lock()
            .is_ok_and(|mut d| d.remove(event_id))
    }

    /// Puts a discovery back after its metadata step failed (it will run again).
    pub(crate) fn return_discovery(&self, event_id: &str) {
        if let Ok(mut d) = self.discoveries.lock() {
            d.insert(event_id.to_owned());
        }
    }

    /// Takes back a start whose pipeline will not run here after all.
    pub(crate) fn abandon(&self, asset_id: Option<&str>) {
        self.close(asset_id.unwrap_or(""));
        self.started.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Counts an outcome event (once per event id).
    pub(crate) fn count(&self, event: &Event) {
        let counter = match &event.payload {
            Payload::AssetOrganized(_) => &self.organized,
            Payload::AssetDuplicate(_) => &self.duplicates,
            Payload::AssetSkipped(_) => &self.skipped,
            // The visual stage works on files already organized: its failures end nothing.
            Payload::AssetFailed(f) if f.stage == crate::visual::STAGE => return,
            Payload::AssetFailed(_) => &self.failed,
            Payload::SidecarFiled(_) => &self.sidecars,
            // A pipeline stage that gave up on a step of an asset's pipeline ends it.
            Payload::DeadLettered(d)
                if d.subscriber.starts_with("metadata-")
                    || d.subscriber.starts_with("organizer-") =>
            {
                &self.failed
            }
            _ => return,
        };
        if let Ok(mut seen) = self.seen.lock()
            && !seen.insert(&event.id)
        {
            return;
        }
        self.close(event.subject.as_deref().unwrap_or(""));
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Ends one open pipeline of `key`, if any.
    fn close(&self, key: &str) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(key)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(key);
            }
        }
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> TallySnapshot {
        TallySnapshot {
            started: self.started.load(Ordering::SeqCst),
            organized: self.organized.load(Ordering::SeqCst),
            duplicates: self.duplicates.load(Ordering::SeqCst),
            skipped: self.skipped.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            sidecars: self.sidecars.load(Ordering::SeqCst),
        }
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.lock().map_or(true, |open| open.is_empty()) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stage: &str) -> Event {
        Event::new(
            "/t",
            events::AssetFailed {
                asset_id: Some("ab".repeat(32)),
                path: "/o/a.png".into(),
                stage: stage.into(),
                error: "image is 100000x100000, more than allowed".into(),
                quarantined_to: None,
            },
        )
    }

    #[test]
    fn a_visual_failure_is_not_an_outcome() {
        let tally = Tally::default();
        tally.started(Some(&"ab".repeat(32)));
        tally.count(&failed("visual"));
        assert_eq!(tally.snapshot().failed, 0);
        assert_eq!(tally.snapshot().finished(), 0);
        assert!(!tally.open.lock().unwrap().is_empty(), "still open");
        tally.count(&failed("metadata"));
        assert_eq!(tally.snapshot().failed, 1);
        assert!(tally.open.lock().unwrap().is_empty());
    }
}
