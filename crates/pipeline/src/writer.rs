//! Group commit for the catalog's event log.
//!
//! Every catalog commit is an fsync. The catalog subscribers (one per lane) hand their event
//! to this writer; the writer takes whatever has queued up meanwhile and records it in one
//! transaction. With consumption tracked (Redis), a lane waits for its event's commit and
//! acknowledges only after it is durable ([`EventWriter::record`]): N lanes share one fsync
//! instead of paying N. Without it nothing outside waits for the record (the filesystem is
//! the queue), so a lane hands its event over and goes on ([`EventWriter::hand_over`],
//! bounded by [`IN_FLIGHT`]): a lane no longer holds one event per commit, and the thread
//! hand-offs of each wait are gone.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use catalog::{
    AssetStatus, AssetUpdate, Catalog, CatalogError, HistoryWindow, NewEvent, VisualRecord,
};
use events::{AssetFailed, Event, Payload};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::PipelineError;

type Reply = oneshot::Sender<Result<bool, String>>;

/// What the writer commits: an event to record, or a stage's mark that it consumed an event.
enum Job {
    Record(Arc<Event>),
    /// Recorded with nobody waiting; holds its place in [`IN_FLIGHT`] until committed.
    Handed(Arc<Event>, OwnedSemaphorePermit),
    Consumed(&'static str, String),
    /// Answered once everything queued before it is committed.
    Flush,
}

/// Handle to the writer thread; dropping every handle ends the thread after it drains.
#[derive(Clone)]
pub(crate) struct EventWriter {
    tx: std_mpsc::Sender<(Job, Reply)>,
    history: Arc<Mutex<HistoryWindow>>,
    in_flight: Arc<Semaphore>,
}

/// Most events handed over ([`EventWriter::hand_over`]) that may be queued or in a commit at
/// once (waiting for each commit bounded it to one per catalog lane, 128): a full queue holds
/// the catalog lanes back, and with them the bus's publishers.
const IN_FLIGHT: usize = 4096;

/// Pauses between the further attempts at recording a handed-over event that failed.
const RETRY_HANDED: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_secs(1),
];

/// Handed-over events given up on, in this process.
static GIVEN_UP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Most events recorded in one transaction.
const MAX_BATCH: usize = 1024;

/// While the writer is busy (its last commit ended less than [`BUSY`] ago), a commit waits up
/// to [`LINGER`] for more work to join it: each commit rewrites every index page it touches,
/// so a few large commits write far less than many small ones. A request that arrives when
/// the writer was idle is committed at once.
const LINGER: std::time::Duration = std::time::Duration::from_millis(3);
const BUSY: std::time::Duration = std::time::Duration::from_millis(20);

/// After this long without work the writer gives back the memory the work used: the
/// catalog's page caches (24 MiB when full) and the allocator's free pages. A daemon watching
/// a large library spends nearly all its life like this.
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

impl EventWriter {
    pub(crate) fn start(catalog: Arc<Catalog>, history: HistoryWindow) -> EventWriter {
        let (tx, rx) = std_mpsc::channel::<(Job, Reply)>();
        let history = Arc::new(Mutex::new(history));
        let window = history.clone();
        let spawned = std::thread::Builder::new()
            .name("alice-catalog-writer".into())
            .spawn(move || {
                let mut since_compaction = 0u64;
                let mut last_commit: Option<std::time::Instant> = None;
                let mut idle = Idle::new(&catalog);
                loop {
                    let first = match rx.recv_timeout(IDLE) {
                        Ok(first) => first,
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {
                            idle.tick(&catalog);
                            continue;
                        }
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let busy = last_commit.is_some_and(|t| t.elapsed() < BUSY);
                    let batch = gather(&rx, first, busy);
                    since_compaction += batch.len() as u64;
                    commit(&catalog, batch);
                    last_commit = Some(std::time::Instant::now());
                    if since_compaction >= crate::COMPACT_EVERY {
                        since_compaction = 0;
                        let w = *window.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Err(e) = catalog.compact_history(w, chrono::Utc::now()) {
                            tracing::warn!(error = %e, "cannot compact the event history; the catalog keeps it for now");
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread every record call reports the failure; the bus retries and
            // dead-letters, which is loud enough.
            tracing::error!(error = %e, "cannot start the catalog writer thread");
        }
        EventWriter {
            tx,
            history,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Queues one event (and its asset update) for the next commit without waiting for it. A
    /// failure to record it is logged by the writer (the effect the event tells of is
    /// durable already; only its line in the history is missing).
    pub(crate) async fn hand_over(&self, event: Arc<Event>) -> Result<(), PipelineError> {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PipelineError::WriterStopped)?;
        self.enqueue(Job::Handed(event, permit)).map(drop)
    }

    /// Returns once everything queued before the call is committed (at shutdown: the events
    /// handed over are in the catalog before it is checkpointed and closed).
    pub(crate) async fn flush(&self) -> Result<(), PipelineError> {
        self.send(Job::Flush).await.map(|_| ())
    }

    /// [`EventWriter::flush`] for a thread outside the async runtime (a placement thread).
    pub(crate) fn flush_blocking(&self) -> Result<(), PipelineError> {
        answered(self.enqueue(Job::Flush)?.blocking_recv()).map(drop)
    }

    /// Applies a new history window to the next compaction.
    pub(crate) fn set_history(&self, window: HistoryWindow) {
        *self.history.lock().unwrap_or_else(PoisonError::into_inner) = window;
    }

    /// Records one event (and its asset update) durably; true when it was new.
    pub(crate) async fn record(&self, event: Arc<Event>) -> Result<bool, PipelineError> {
        self.send(Job::Record(event)).await
    }

    /// Marks, durably, that `stage` consumed the event `event_id`.
    pub(crate) async fn mark_consumed(
        &self,
        stage: &'static str,
        event_id: String,
    ) -> Result<bool, PipelineError> {
        self.send(Job::Consumed(stage, event_id)).await
    }

    async fn send(&self, job: Job) -> Result<bool, PipelineError> {
        answered(self.enqueue(job)?.await)
    }

    /// Queues `job`; its answer comes on the returned receiver (dropped for a handed-over
    /// event: nobody waits for it).
    fn enqueue(&self, job: Job) -> Result<oneshot::Receiver<Result<bool, String>>, PipelineError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((job, reply))
            .map_err(|_| PipelineError::WriterStopped)?;
        Ok(wait)
    }
}

/// The writer's answer to a job; a dropped reply means the thread died with the request.
fn answered(
    reply: Result<Result<bool, String>, oneshot::error::RecvError>,
) -> Result<bool, PipelineError> {
    reply
        .map_err(|_| PipelineError::WriterStopped)?
        .map_err(PipelineError::Record)
}

/// When to give memory back: once the catalog has not been used (by this writer, the
/// placement batches or any reader, such as the start-up scan's look-ups) for a whole
/// [`IDLE`] period, and not again until it has been used.
struct Idle {
    seen: u64,
    released: Option<u64>,
}

impl Idle {
    fn new(catalog: &Catalog) -> Idle {
        Idle {
            seen: catalog.activity(),
            released: None,
        }
    }

    /// Called every [`IDLE`] without work for the writer.
    fn tick(&mut self, catalog: &Catalog) {
        let now = catalog.activity();
        if now == self.seen && self.released != Some(now) {
            release_idle_memory(catalog);
            self.released = Some(now);
        }
        self.seen = now;
    }
}

/// Gives the memory of an idle daemon back to the system: the catalog's page caches, then the
/// allocator's free pages (glibc keeps freed memory mapped until asked).
fn release_idle_memory(catalog: &Catalog) {
    if let Err(e) = catalog.release_memory() {
        tracing::debug!(error = %e, "cannot release the catalog's cache");
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes its locks.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!("idle: released the catalog's page caches and free heap pages");
}

/// `first` and whatever else is queued (up to [`MAX_BATCH`]); while `busy`, what arrives
/// within [`LINGER`] too.
fn gather(
    rx: &std_mpsc::Receiver<(Job, Reply)>,
    first: (Job, Reply),
    busy: bool,
) -> Vec<(Job, Reply)> {
    let mut batch = vec![first];
    let deadline = std::time::Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(std_mpsc::TryRecvError::Disconnected) => break,
            Err(std_mpsc::TryRecvError::Empty) if !busy => break,
            Err(std_mpsc::TryRecvError::Empty) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
    }
    batch
}

fn commit(catalog: &Catalog, batch: Vec<(Job, Reply)>) {
    let mut events = Vec::new();
    let mut event_replies = Vec::new();
    let mut marks = Vec::new();
    let mut mark_replies = Vec::new();
    let mut flush_replies = Vec::new();
    // Given back once the commit is over, whatever its outcome.
    let mut permits = Vec::new();
    for (job, reply) in batch {
        match job {
            Job::Record(e) => {
                events.push(e);
                event_replies.push(Some(reply));
            }
            Job::Handed(e, permit) => {
                events.push(e);
                event_replies.push(None);
                permits.push(permit);
            }
            Job::Flush => flush_replies.push(reply),
            Job::Consumed(stage, id) => {
                marks.push((stage, id));
                mark_replies.push(reply);
            }
        }
    }
    let jsons: Vec<String> = events.iter().map(|e| e.to_json()).collect();
    let visuals: Vec<Option<VisualRecord>> = events.iter().map(|e| visual_record(e)).collect();
    let items: Vec<(NewEvent<'_>, AssetUpdate<'_>)> = events
        .iter()
        .zip(&jsons)
        .zip(&visuals)
        .map(|((e, json), v)| (new_event(e, json), update(e, v.as_ref())))
        .collect();
    let marks: Vec<(&str, &str)> = marks.iter().map(|(s, id)| (*s, id.as_str())).collect();
    match catalog.record_batch_consumed(&items, &marks) {
        Ok(fresh) => {
            for (reply, new) in event_replies.into_iter().zip(fresh) {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(new));
                }
            }
            for reply in mark_replies {
                let _ = reply.send(Ok(true));
            }
        }
        Err(e) if items.len() + marks.len() > 1 || event_replies.iter().any(Option::is_none) => {
            // One bad item fails the whole transaction: record them one by one so only the
            // bad one fails (retried, then dead-lettered, by the bus when a delivery waits for
            // it; logged when it was handed over).
            tracing::debug!(error = %e, size = items.len() + marks.len(), "batch failed; recording one by one");
            for (reply, (new, upd)) in event_replies.into_iter().zip(&items) {
                let mut r = catalog.record_event_with(new, upd);
                if reply.is_none() {
                    // Nobody retries a handed-over event but this writer: a few more attempts
                    // (a passing lock or I/O error), then it is given up.
                    for pause in RETRY_HANDED {
                        if r.is_ok() {
                            break;
                        }
                        std::thread::sleep(pause);
                        r = catalog.record_event_with(new, upd);
                    }
                }
                answer(reply, new, r.map_err(|e: CatalogError| e.to_string()));
            }
            for (reply, mark) in mark_replies.into_iter().zip(&marks) {
                let r = catalog
                    .record_batch_consumed(&[], &[*mark])
                    .map(|_| true)
                    .map_err(|e: CatalogError| e.to_string());
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            for (reply, (new, _)) in event_replies.into_iter().zip(&items) {
                answer(reply, new, Err(e.to_string()));
            }
            for reply in mark_replies {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
    drop(permits);
    // Everything queued before a flush has been committed, or its failure answered or logged.
    for reply in flush_replies {
        let _ = reply.send(Ok(true));
    }
}

/// Gives a recorded event's outcome to the delivery waiting for it; with nobody waiting
/// (handed over), a failure is logged here, once: the bus never sees it.
fn answer(reply: Option<Reply>, event: &NewEvent<'_>, result: Result<bool, String>) {
    match (reply, result) {
        (Some(reply), r) => {
            let _ = reply.send(r);
        }
        (None, Err(e)) => {
            let n = GIVEN_UP.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            // The first few, then one in a thousand: a full disk fails every event.
            if n <= 20 || n.is_multiple_of(1000) {
                tracing::error!(
                    event_id = event.id,
                    event_type = event.event_type,
                    error = %e,
                    given_up = n,
                    "cannot record the event in the catalog: its entry in the history and the \
                     change it makes to its asset's record (status, metadata, thumbnails) are \
                     missing; files already placed stay recorded by their placement"
                );
            }
        }
        (None, Ok(_)) => {}
    }
}

fn new_event<'a>(ev: &'a Event, json: &'a str) -> NewEvent<'a> {
    NewEvent {
        id: &ev.id,
        event_type: ev.type_name(),
        time: ev.time,
        asset_id: ev.payload.asset_id(),
        correlation_id: ev.correlation_id.as_deref(),
        json,
    }
}

/// What the visual stage learned, from its event: what it made, or that the file cannot be
/// decoded (so a catch-up does not try it again at every start).
fn visual_record(ev: &Event) -> Option<VisualRecord> {
    match &ev.payload {
        Payload::AssetVisualized(v) => Some(VisualRecord {
            asset_id: v.asset_id.clone(),
            rendered: v.rendered.clone(),
            reason: v.reason.clone(),
            width: v.width,
            height: v.height,
            fingerprint: crate::visual::fingerprint_bytes(v),
        }),
        Payload::AssetFailed(AssetFailed {
            asset_id: Some(id),
            stage,
            error,
            ..
        }) if stage == crate::visual::STAGE => Some(VisualRecord {
            asset_id: id.clone(),
            rendered: catalog::RENDERED_FAILED.into(),
            reason: Some(error.clone()),
            width: None,
            height: None,
            fingerprint: None,
        }),
        _ => None,
    }
}

fn update<'a>(ev: &'a Event, visual: Option<&'a VisualRecord>) -> AssetUpdate<'a> {
    if let Some(v) = visual {
        // Never a status change: the file is organized already.
        return AssetUpdate::Visual(v);
    }
    match &ev.payload {
        Payload::AssetDiscovered(p) => AssetUpdate::Discovered {
            asset_id: &p.asset_id,
            path: &p.path,
            size: p.size,
        },
        Payload::MetadataExtracted(p) => AssetUpdate::Metadata {
            asset_id: &p.asset_id,
            media: &p.media,
        },
        Payload::AssetSkipped(p) => AssetUpdate::Status {
            asset_id: &p.asset_id,
            status: AssetStatus::Skipped,
            reason: Some(&p.reason),
        },
        Payload::SidecarFiled(p) => AssetUpdate::Status {
            asset_id: &p.asset_id,
            status: AssetStatus::Skipped,
            reason: Some(crate::decide::follower_reason(
                &p.kind,
                p.destination.is_some(),
            )),
        },
        Payload::AssetDuplicate(p) => AssetUpdate::Status {
            asset_id: &p.asset_id,
            status: AssetStatus::Duplicate,
            reason: None,
        },
        Payload::AssetFailed(AssetFailed {
            asset_id: Some(id),
            error,
            ..
        }) => AssetUpdate::Status {
            asset_id: id,
            status: AssetStatus::Failed,
            reason: Some(error),
        },
        _ => AssetUpdate::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(n: u32) -> Arc<Event> {
        Arc::new(Event::new(
            crate::sources::WATCHER,
            events::AssetDiscovered {
                asset_id: format!("{n:064x}"),
                path: format!("/inbox/{n}.jpg").into(),
                size: 1,
                mtime: chrono::Utc::now(),
                inbox: "/inbox".into(),
                project: "inbox".into(),
                kind: events::DiscoveryKind::Scan,
                hashed_as: None,
            },
        ))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_handed_over_are_recorded_in_order_by_the_time_a_flush_returns() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Arc::new(Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap());
        let writer = EventWriter::start(catalog.clone(), HistoryWindow::default());
        // More than the in-flight bound: handing over waits for commits instead of piling up.
        let sent: Vec<Arc<Event>> = (0..(IN_FLIGHT as u32 + 500)).map(discovery).collect();
        for e in &sent {
            writer.hand_over(e.clone()).await.unwrap();
        }
        writer.flush().await.unwrap();
        let recorded = catalog.events_since(0, usize::MAX).unwrap();
        let ids: Vec<&str> = recorded.iter().map(|e| e.id.as_str()).collect();
        let want: Vec<&str> = sent.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, want);
        // Each with its asset update: the discoveries made their asset rows.
        let last = sent.last().unwrap().payload.asset_id().unwrap();
        assert!(catalog.asset(last).unwrap().is_some());
        // Every place in flight was given back.
        assert_eq!(writer.in_flight.available_permits(), IN_FLIGHT);
    }

    #[test]
    fn memory_is_released_after_a_quiet_period_and_once_per_quiet_spell() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        let mut idle = Idle::new(&catalog);
        // Used during the first period: not idle yet.
        catalog.identity_count().unwrap();
        idle.tick(&catalog);
        assert_eq!(idle.released, None);
        // A whole period untouched: released.
        idle.tick(&catalog);
        let first = idle.released.expect("released after a quiet period");
        // Still quiet: nothing more to give back.
        idle.tick(&catalog);
        assert_eq!(idle.released, Some(first));
        // Used again (a read is enough), then quiet again: released again.
        catalog.identity_count().unwrap();
        idle.tick(&catalog);
        assert_eq!(idle.released, Some(first));
        idle.tick(&catalog);
        assert!(idle.released.is_some_and(|n| n > first));
    }
}
