//! Files that failed for a reason that may go away (a full disk, a folder that could not be
//! created, a stage that gave up after its retries) are tried again: the watcher rescans the
//! inboxes after a backoff (30 s, doubling to 15 min while failures keep coming), and at once
//! on `alice reload`. A rescan is cheap: known files are recognized by identity, handled ones
//! are skipped, and only files without a final outcome start again. Content failures (corrupt
//! media) are final and are not retried.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{Event, Payload};

const FIRST: Duration = Duration::from_secs(30);
const LONGEST: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
struct State {
    /// Files (paths, or asset ids when no path is known) waiting for a retry.
    waiting: BTreeSet<String>,
    /// When the next rescan is due.
    next: Option<Instant>,
    backoff: Duration,
    last_failure: Option<Instant>,
}

/// The files waiting to be tried again. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Retries(Arc<Mutex<State>>);

impl Default for Retries {
    fn default() -> Retries {
        Retries(Arc::new(Mutex::new(State {
            waiting: BTreeSet::new(),
            next: None,
            backoff: FIRST,
            last_failure: None,
        })))
    }
}

/// The file a failure is about, when the failure may go away.
pub(crate) fn retryable(event: &Event) -> Option<String> {
    match &event.payload {
        // Where the file could not be read or placed; not "metadata" (its content is bad).
        Payload::AssetFailed(f) if matches!(f.stage.as_str(), "organize" | "discover" | "read") => {
            Some(f.path.display().to_string())
        }
        // A stage gave up on a file after its retries (e.g. the disk stayed full).
        Payload::DeadLettered(d)
            if d.subscriber.starts_with("organizer-") || d.subscriber.starts_with("metadata-") =>
        {
            event.subject.clone()
        }
        _ => None,
    }
}

/// The keys (path, asset id) under which a file that reached a final outcome may wait.
fn settled(event: &Event) -> Vec<String> {
    match &event.payload {
        Payload::AssetOrganized(o) => vec![o.source_path.display().to_string(), o.asset_id.clone()],
        Payload::AssetDuplicate(d) => vec![d.path.display().to_string(), d.asset_id.clone()],
        _ => Vec::new(),
    }
}

impl Retries {
    /// Follows the bus: every retryable failure is noted, and a file that reaches an outcome
    /// (organized, duplicate) no longer waits.
    pub(crate) fn subscribe(&self, bus: &pipeline::EventBus) -> Result<(), bus::SubscribeError> {
        let me = self.clone();
        bus.subscribe(
            "retry",
            bus::Filter::types([
                events::types::ASSET_FAILED,
                events::types::DEAD_LETTERED,
                events::types::ASSET_ORGANIZED,
                events::types::ASSET_DUPLICATE,
            ]),
            move |m: pipeline::Msg| {
                let me = me.clone();
                async move {
                    match retryable(&m.0) {
                        Some(file) => me.note(file),
                        None => me.settle(&settled(&m.0)),
                    }
                    Ok(())
                }
            },
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a failed file; schedules a rescan if none is due.
    pub(crate) fn note(&self, file: String) {
        let mut s = self.lock();
        let now = Instant::now();
        // Quiet for a long while: start over with short waits.
        if s.last_failure.is_some_and(|t| now - t > s.backoff * 2) {
            s.backoff = FIRST;
        }
        s.last_failure = Some(now);
        s.waiting.insert(file);
        if s.next.is_none() {
            s.next = Some(now + s.backoff);
        }
    }

    /// Files that reached an outcome stop waiting; with none left, no rescan is due.
    pub(crate) fn settle(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let mut s = self.lock();
        for k in keys {
            s.waiting.remove(k);
        }
        if s.waiting.is_empty() {
            s.next = None;
        }
    }

    /// When the next rescan is due, if any file waits.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.lock().next
    }

    /// Starts a round: forgets the waiting files (they fail again if the cause stays) and
    /// lengthens the next wait. Returns how many were waiting.
    pub(crate) fn take(&self) -> usize {
        let mut s = self.lock();
        let n = s.waiting.len();
        s.waiting.clear();
        s.next = None;
        s.backoff = (s.backoff * 2).min(LONGEST);
        n
    }

    /// How many files wait, and in how long the next try is.
    pub(crate) fn snapshot(&self) -> (usize, Option<Duration>) {
        let s = self.lock();
        let left = s.next.map(|t| t.saturating_duration_since(Instant::now()));
        (s.waiting.len(), left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organize_failures_wait_and_content_failures_do_not() {
        let fail = |stage: &str| {
            Event::new(
                "/t",
                events::AssetFailed {
                    asset_id: None,
                    path: "/in/a.jpg".into(),
                    stage: stage.into(),
                    error: "e".into(),
                    quarantined_to: None,
                },
            )
        };
        assert_eq!(retryable(&fail("organize")).as_deref(), Some("/in/a.jpg"));
        assert_eq!(retryable(&fail("metadata")), None);
        // The visual stage works on organized files: a decode failure is no reason to rescan
        // the inboxes.
        assert_eq!(retryable(&fail("visual")), None);
        let visual_dead = Event::new(
            "/t",
            events::DeadLettered {
                subscriber: "visual-3".into(),
                event_id: "e".into(),
                event_type: events::types::ASSET_ORGANIZED.into(),
                error: "bus closed".into(),
                attempts: 5,
            },
        );
        assert_eq!(retryable(&visual_dead), None);
        let r = Retries::default();
        assert_eq!(r.due(), None);
        r.note("/in/a.jpg".into());
        r.note("/in/a.jpg".into());
        assert_eq!(r.snapshot().0, 1);
        let due = r.due().unwrap();
        assert!(due > Instant::now() + FIRST - Duration::from_secs(1));
        assert_eq!(r.take(), 1);
        assert_eq!(r.snapshot(), (0, None));
        r.note("/in/b.jpg".into());
        assert!(
            r.due().unwrap() > Instant::now() + FIRST,
            "the second wait is longer"
        );
    }
}
