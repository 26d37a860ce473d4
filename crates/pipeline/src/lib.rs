//! The pipeline: the durable subscribers that join the watcher, the metadata extractor, the
//! organizer and the catalog through the event bus.
//!
//! ```text
//! watcher ─(WatchItem)─▶ Pipeline::ingest ──AssetDiscovered──▶ bus
//!   bus ──▶ "metadata"  : extract ──MetadataExtracted──▶ bus
//!   bus ──▶ "organizer" : dedup, plan, journal, place, record ──Organized/Duplicate/Skipped/Failed──▶ bus
//!   bus ──▶ "visual"    : (when on) thumbnails + fingerprint of each organized file ──AssetVisualized──▶ bus
//!   bus ──▶ "catalog"   : record every event (idempotent on event id), log it
//!   bus ──▶ "tally"     : count outcomes so `alice scan` knows when it is done
//! ```
//!
//! Each stage only reacts to events and publishes events; the crates it calls (metadata,
//! organizer, catalog) know nothing of the bus. Every handler is idempotent: an event seen twice
//! (retry, replay) leaves the same end state.
//!
//! Layout:
//! - `visual`: the visual stage ([`VisualSettings`]): thumbnails and fingerprints of organized
//!   files, through the `visual` crate.
//! - `intake`: watcher items to discoveries, the identity cache, [`already_handled`].
//! - `extract`, `organize`, `record`: the metadata, organizer and catalog stages; `ctx` is
//!   what they share (settings, catalog calls off the runtime, publishing).
//! - [`decide`]: the organizer's decisions as pure functions; `plan`: destinations and the
//!   read-only [`Planner`] dry runs use, so a dry run decides exactly as the stage does.
//! - `transfer`: the one journaled placement ([`place_journaled`]); [`undo`]: its reverse.
//! - `stage`: stages by name and one delivery's handling; `gate`: the exactly-once gate;
//!   `tally`: outcome counters; `recover`: start-up recovery; `writer`: group commit.
//! - `error`: [`PipelineError`], split into critical and recoverable.

mod batch;
mod ctx;
pub mod decide;
mod error;
mod extract;
pub use extract::extract_with_sidecars;
mod gate;
mod group;
mod intake;
mod organize;
mod plan;
mod ratelimit;
mod recent;
mod record;
mod recover;
mod sidecar;
mod stage;
mod tally;
mod transfer;
pub mod undo;
mod visual;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bus::{Bus, Filter, SubscriberOptions};
use catalog::Catalog;
use events::{Event, OrganizeMode, types};
use organizer::Template;

use crate::ctx::Ctx;

pub use batch::{BatchLimits, Fault, Record, Unit, UnitFile, set_fault};
pub use decide::{Decision, KnownOrganized, UNCATEGORIZED};
pub use error::PipelineError;
pub use intake::already_handled;
pub use plan::{
    OrganizedCopy, PlanError, PlannedAction, PlannedFile, Planner, organized_copy, plan_destination,
};
pub use recover::RecoveryReport;
pub use sidecar::{Sidecar, find_beside, organized_media};
pub use stage::{Handled, Stage, UnknownStage};
pub use tally::{Tally, TallySnapshot};
pub use transfer::{TransferError, TransferRequest, Transferred, place_journaled};
pub use undo::{UndoError, Undone, undo_op};
pub use visual::{VISUAL_STAGE, VisualSettings, fingerprint_bytes};

/// An event as it travels on the bus: shared, never copied.
#[derive(Clone, Debug)]
pub struct Msg(pub Arc<Event>);

impl bus::Message for Msg {
    fn id(&self) -> &str {
        &self.0.id
    }
    fn type_name(&self) -> &str {
        self.0.type_name()
    }
    fn category(&self) -> &str {
        self.0.category().as_str()
    }
    fn shard(&self, shards: usize) -> usize {
        lane_of(&self.0, shards)
    }
}

impl From<Event> for Msg {
    fn from(e: Event) -> Msg {
        Msg(Arc::new(e))
    }
}

/// The daemon's event bus.
pub type EventBus = Bus<Msg>;

/// What the organizer needs to know; can be swapped at runtime (config reload) and applies to
/// files discovered afterwards.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Root of the organized tree.
    pub organized: PathBuf,
    /// Copy or move.
    pub mode: OrganizeMode,
    /// Destination template.
    pub template: Template,
    /// Where duplicates go in move mode.
    pub duplicates: PathBuf,
    /// Where unreadable media go; `None` leaves them in place.
    pub quarantine: Option<PathBuf>,
    /// File media without a capture date (none, or only the modification time) under the
    /// date `undated` instead of their modification date.
    pub undated: bool,
    /// The visual stage's settings; `None` turns the stage off (it is then not subscribed at
    /// start).
    pub visual: Option<VisualSettings>,
    /// How placements are batched (one durability barrier and one catalog transaction per
    /// batch).
    pub batch: BatchLimits,
    /// How much full event history the catalog keeps (older events are folded into their
    /// asset's record every [`COMPACT_EVERY`] events recorded, and at shutdown).
    pub history: catalog::HistoryWindow,
    /// How long a file that may be a member of a pair (a camera RAW, a Live Photo's video)
    /// waits for its still before it is organized on its own. A still that comes later still
    /// takes it into its group then, from wherever it was organized.
    pub group_wait: std::time::Duration,
}

/// The catalog's history is compacted after this many events were recorded.
pub const COMPACT_EVERY: u64 = 20_000;

/// A callback for events that reach this process only through the stream.
pub type ForeignListener = Arc<dyn Fn(&Event) + Send + Sync>;

/// How a pipeline runs its stages.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Stages subscribed to the in-process bus. A stage left out runs elsewhere (an
    /// `alice worker` reading the Redis stream) or, in a worker, is this process's one stage.
    pub in_process: Vec<Stage>,
    /// Record, per stage, which events were consumed, so deliveries from a Redis consumer
    /// group ([`Pipeline::handle_delivered`]) skip what was already handled. Needed whenever
    /// events can arrive from Redis; costs a catalog row per stage and event. Also makes the
    /// catalog stage wait for each event's commit (so a delivery is acknowledged only once
    /// its record is durable); without it the stage hands events to the group commit and
    /// goes on.
    pub track_consumed: bool,
    /// A handler returns only once every subscriber has taken what it published (for an
    /// `alice worker`, whose only subscriber is the Redis writer: the output is in Redis or
    /// the spool before the input is acknowledged).
    pub confirm_outputs: bool,
}

impl Default for PipelineOptions {
    /// Every stage in process, no tracking: the embedded default.
    fn default() -> PipelineOptions {
        PipelineOptions {
            in_process: Stage::ALL.to_vec(),
            track_consumed: false,
            confirm_outputs: false,
        }
    }
}

impl PipelineOptions {
    /// The catalog stage runs here, so outcomes are counted here: only then does a discovery
    /// read from Redis start a pipeline in the tally.
    pub fn counts_outcomes(&self) -> bool {
        self.in_process.contains(&Stage::Catalog)
    }

    /// The metadata stage runs here and may see a discovery twice (bus and Redis): the tally
    /// remembers which discoveries it published until their metadata step runs.
    pub fn tracks_discoveries(&self) -> bool {
        self.track_consumed && self.in_process.contains(&Stage::Metadata)
    }
}

/// Lanes of the metadata and visual stages, and gates per stage of the exactly-once gate.
/// Events of one asset always go to the same shard (by asset id), so each asset's events are
/// handled in order while different assets proceed in parallel. With consumption tracked
/// (Redis) a shard holds its gate until its event's mark is committed, so this also bounds
/// how many files a placement batch gathers there: 32 rather than 8 made a first import of
/// tiny files about 1.4x faster and wrote a third less to the catalog; 128 rather than 32
/// again 1.26x faster and a third less written (docs/performance.md).
pub const SHARDS: usize = 128;

/// Lanes of the organizer stage. A lane waits for its file's placement batch to be recorded,
/// so the lanes bound how many files a batch can gather and how many are in flight: with 128,
/// a bulk import placed about 27 files per batch (each batch closing on its 20 ms window),
/// two catalog commits and two `syncfs` calls for every 27 files. 2,048 lanes (the bus routes
/// an event straight to its lane, so lanes cost no publishing time) and batches of up to
/// 1,024 files imported 20,000 tiny files 1.5x faster and wrote 40 % less per file
/// (docs/performance.md). Under the exactly-once gate (Redis) lanes still share
/// [`SHARDS`] gates.
pub const ORGANIZER_LANES: usize = 2048;

/// Lanes of the catalog stage. Its handlers only hand their event to the group-committing
/// writer (and, with consumption tracked, wait for the commit, so each lane then holds one
/// event of the next commit: more lanes, larger and fewer commits). An asset's events still
/// share a lane.
pub const CATALOG_LANES: usize = 128;

/// Smallest queue bound of one lane: the organizer's 2,048 lanes would otherwise queue 16
/// times what one subscriber may (8 each: a bulk import's peak RSS was 113 MiB instead of 98).
const MIN_LANE_QUEUE: usize = 2;

/// Registers `stage-0` … `stage-{lanes-1}`; each handles only the events of its lane, with
/// `ctx` handed to every call.
fn subscribe_sharded<C, F, Fut>(
    bus: &EventBus,
    ctx: &C,
    (stage, lanes): (&str, usize),
    filter: Filter,
    handler: F,
) -> Result<(), bus::SubscribeError>
where
    C: Clone + Send + Sync + 'static,
    F: Fn(C, Msg) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), bus::HandlerError>> + Send,
{
    // The bus queues each event for its own lane only; the lanes share the queue bound one
    // subscriber has (at least MIN_LANE_QUEUE each: 2,048 organizer lanes queue 4,096), so a
    // fast producer (a scan of a million known files) is held back instead of filling memory
    // with queued events.
    let whole = SubscriberOptions::default();
    let options = SubscriberOptions {
        capacity: (whole.capacity / lanes).max(MIN_LANE_QUEUE),
        ..whole
    };
    bus.subscribe_lanes(stage, filter, lanes, options, |_| {
        let (c, h) = (ctx.clone(), handler.clone());
        move |m: Msg| {
            let (c, h) = (c.clone(), h.clone());
            async move { h(c, m).await }
        }
    })?;
    Ok(())
}

/// Adds a durable subscriber to `bus` that runs as [`SHARDS`] shards by asset id, like the
/// pipeline's own stages: one asset's events in order, different assets in parallel.
pub fn subscribe_sharded_on<F, Fut>(
    bus: &EventBus,
    stage: &str,
    filter: Filter,
    handler: F,
) -> Result<(), PipelineError>
where
    F: Fn(Msg) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), bus::HandlerError>> + Send,
{
    subscribe_sharded(bus, &(), (stage, SHARDS), filter, move |(), m| handler(m))?;
    Ok(())
}

/// The shard an event belongs to: by its subject (the asset id), workflow events to shard 0.
pub fn shard_of(event: &Event) -> usize {
    lane_of(event, SHARDS)
}

fn lane_of(event: &Event, shards: usize) -> usize {
    // Four hex digits of the asset id: up to 65,536 lanes.
    event
        .subject
        .as_deref()
        .and_then(|s| s.get(..4))
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .map_or(0, |n| n % shards.max(1))
}

/// The running pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    ctx: Arc<Ctx>,
}

/// Event sources, as CloudEvents `source` attributes.
pub mod sources {
    /// The inbox watcher.
    pub const WATCHER: &str = "/alice/watcher";
    /// The metadata extractor.
    pub const METADATA: &str = "/alice/metadata";
    /// The organizer.
    pub const ORGANIZER: &str = "/alice/organizer";
    /// The visual stage (thumbnails, fingerprints).
    pub const VISUAL: &str = "/alice/visual";
    /// The daemon itself (runs, scans).
    pub const DAEMON: &str = "/alice/daemon";
    /// The bus (dead letters).
    pub const BUS: &str = "/alice/bus";
    /// A Redis consumer group (entries it dead-lettered).
    pub const STREAMS: &str = "/alice/streams";
}

impl Pipeline {
    /// Builds the bus, loads the identity cache and starts the durable subscribers. Must be
    /// called inside a tokio runtime.
    pub async fn start(
        catalog: Arc<Catalog>,
        settings: Settings,
    ) -> Result<Pipeline, PipelineError> {
        Self::start_with(catalog, settings, |_| Ok(())).await
    }

    /// Like [`Pipeline::start`], registering `sinks` (subscribers that only record or forward
    /// events: Redis, metrics) before the pipeline's stages. The bus enqueues an event for its
    /// subscribers in registration order, so a sink registered first has every event queued
    /// before any stage can react to it: the events a stage publishes in response always reach
    /// the sink after their cause.
    pub async fn start_with(
        catalog: Arc<Catalog>,
        settings: Settings,
        sinks: impl FnOnce(&EventBus) -> Result<(), PipelineError>,
    ) -> Result<Pipeline, PipelineError> {
        Self::start_configured(catalog, settings, PipelineOptions::default(), sinks).await
    }

    /// Like [`Pipeline::start_with`], running the stages `options` names in process.
    pub async fn start_configured(
        catalog: Arc<Catalog>,
        settings: Settings,
        options: PipelineOptions,
        sinks: impl FnOnce(&EventBus) -> Result<(), PipelineError>,
    ) -> Result<Pipeline, PipelineError> {
        let published: Arc<Mutex<recent::RecentIds>> = Arc::default();
        let bus = build_bus(published.clone());
        sinks(&bus)?;

        let cat = catalog.clone();
        let identities = tokio::task::spawn_blocking(move || intake::IdentityMemory::load(&cat))
            .await
            .map_err(PipelineError::join)??;
        let writer = writer::EventWriter::start(catalog.clone(), settings.history);
        let batcher = batch::Batcher::start(catalog.clone(), writer.clone(), settings.batch);
        let ctx = Arc::new(Ctx {
            bus: bus.clone(),
            batcher,
            writer,
            log_limit: ratelimit::LogLimiter::default(),
            catalog,
            settings: RwLock::new(Arc::new(settings)),
            tally: Tally::default(),
            identities,
            options: options.clone(),
            published,
            foreign: RwLock::new(Vec::new()),
            gate: gate::OnceGate::default(),
            visual: visual::VisualWork::default(),
        });

        // Catalog first: an event is queued for the record before any stage reacts to it.
        let visual_on = ctx.settings().visual.is_some();
        for st in [
            Stage::Catalog,
            Stage::Metadata,
            Stage::Organizer,
            Stage::Visual,
        ] {
            if options.in_process.contains(&st) && (st != Stage::Visual || visual_on) {
                let lanes = if st == Stage::Catalog {
                    CATALOG_LANES
                } else if st == Stage::Organizer {
                    ORGANIZER_LANES
                } else {
                    SHARDS
                };
                subscribe_sharded(
                    &bus,
                    &ctx,
                    (st.name(), lanes),
                    st.filter(),
                    move |c, m| async move {
                        stage::handle_once(&c, st, m, false)
                            .await
                            .map(|_| ())
                            .map_err(bus::HandlerError::from)
                    },
                )?;
            }
        }
        let c = ctx.clone();
        bus.subscribe_with(
            "tally",
            Filter::types(
                tally::OUTCOME_TYPES
                    .iter()
                    .copied()
                    .chain([types::DEAD_LETTERED]),
            ),
            SubscriberOptions::default(),
            move |m: Msg| {
                let c = c.clone();
                async move {
                    c.tally.count(&m.0);
                    Ok(())
                }
            },
        )?;
        Ok(Pipeline { ctx })
    }

    /// Hands `stage` an event read from its Redis consumer group. Returns once the effect is
    /// durable (acknowledge the entry then) or the event turned out to be handled already or
    /// not for this stage (acknowledge too); an error means "not handled, deliver again".
    pub async fn handle_delivered(
        &self,
        stage: Stage,
        event: Event,
    ) -> Result<Handled, PipelineError> {
        stage::handle_once(&self.ctx, stage, Msg::from(event), true).await
    }

    /// The bus, for publishing workflow events and observing.
    pub fn bus(&self) -> &EventBus {
        &self.ctx.bus
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.ctx.catalog
    }

    /// Outcome counters.
    pub fn tally(&self) -> TallySnapshot {
        self.ctx.tally.snapshot()
    }

    /// Replaces the settings; applies to files discovered from now on.
    pub fn update_settings(&self, settings: Settings) {
        self.ctx.batcher.set_limits(settings.batch);
        self.ctx.writer.set_history(settings.history);
        if let Ok(mut s) = self.ctx.settings.write() {
            *s = Arc::new(settings);
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.ctx.settings()
    }

    /// An identity cache for the watcher: in memory, loaded from the catalog for each
    /// watcher's first reconciliation and let go of after it (see `intake::IdentityMemory`).
    pub fn identity_cache(&self) -> Arc<dyn watcher::IdentityCache> {
        Arc::new(IdentityView(self.ctx.clone()))
    }

    /// Publishes an event.
    pub async fn publish(&self, event: Event) -> Result<(), PipelineError> {
        self.ctx.publish(event).await
    }

    /// Calls `listener` once for every event that reaches this process only through the Redis
    /// stream (written by an `alice worker`), when the catalog stage records it. Events
    /// published here reach bus subscribers instead: a subscriber plus this listener sees
    /// every event once (the metrics do so).
    pub fn on_foreign_event(&self, listener: ForeignListener) {
        if let Ok(mut l) = self.ctx.foreign.write() {
            l.push(listener);
        }
    }

    /// Turns watcher items into events. Files already handled in an earlier run (same content
    /// at the same path, with a final outcome) are not published again, so a second scan
    /// changes nothing. Returns how many asset pipelines were started.
    pub async fn ingest(&self, items: Vec<watcher::WatchItem>) -> Result<usize, PipelineError> {
        intake::ingest(&self.ctx, items).await
    }

    /// Runs the visual stage on an organized file outside of any delivery (catching up with
    /// a library organized while the stage was off) and publishes what it made
    /// (`AssetVisualized`, or `AssetFailed` with stage `visual`). Returns whether it
    /// succeeded; `Ok(false)` when the stage is off.
    pub async fn visualize(
        &self,
        asset_id: &str,
        organized_path: &std::path::Path,
    ) -> Result<bool, PipelineError> {
        let Some(settings) = self.ctx.settings().visual.clone() else {
            return Ok(false);
        };
        let payload = visual::run(&self.ctx, &settings, asset_id, organized_path).await?;
        let ok = matches!(payload, events::Payload::AssetVisualized(_));
        self.ctx
            .publish(Event::new(sources::VISUAL, payload))
            .await?;
        Ok(ok)
    }

    /// Waits until the visual stage has made what the files organized so far need (nothing
    /// to wait for when it is off). Call after [`Pipeline::wait_idle`], before shutting down.
    pub async fn wait_visual_idle(&self) {
        if self.ctx.settings().visual.is_some() {
            visual::wait_idle(&self.ctx).await;
        }
    }

    /// Waits until every asset pipeline started so far has reached an outcome.
    pub async fn wait_idle(&self) {
        self.ctx.tally.wait_idle().await
    }

    /// Resolves operations a crash left pending in the journal. Run before watching.
    pub async fn recover(&self) -> Result<RecoveryReport, PipelineError> {
        recover::recover(&self.ctx).await
    }

    /// Stops intake, drains queued events within `deadline`, and saves the identity cache.
    pub async fn shutdown(&self, deadline: Duration) -> bus::ShutdownReport {
        let report = self.ctx.bus.shutdown(deadline).await;
        if let Err(e) = self.ctx.writer.flush().await {
            tracing::warn!(error = %e, "cannot commit the last events to the catalog");
        }
        self.ctx.batcher.close();
        self.ctx.log_limit.flush();
        if let Err(e) = intake::flush_identities(&self.ctx).await {
            tracing::warn!(error = %e, "cannot save the file-identity cache; the next start rehashes those files");
        }
        let window = self.ctx.settings().history;
        if let Err(e) = self
            .ctx
            .db(move |c| c.compact_history(window, chrono::Utc::now()))
            .await
        {
            tracing::warn!(error = %e, "cannot compact the event history; the catalog keeps it");
        }
        if let Err(e) = self.ctx.db(|c| c.checkpoint()).await {
            tracing::warn!(error = %e, "cannot checkpoint the catalog; it stays correct, its -wal file just stays large");
        }
        report
    }
}

/// The bus, with a dead-letter sink that announces each dead letter as a `DeadLettered`
/// event (noted in `published` as this process's own).
fn build_bus(published: Arc<Mutex<recent::RecentIds>>) -> EventBus {
    let bus_slot: Arc<OnceLock<EventBus>> = Arc::new(OnceLock::new());
    let sink_slot = bus_slot.clone();
    let bus = Bus::<Msg>::builder()
        .dead_letter_sink(move |dl: bus::DeadLetter<Msg>| {
            // The sink runs on the failing subscriber's task: publish from a new task so a
            // full queue can never wait on the subscriber that is reporting.
            if let Some(bus) = sink_slot.get().cloned() {
                let mut event = dl.message.0.follow(
                    sources::BUS,
                    events::DeadLettered {
                        subscriber: dl.subscriber.clone(),
                        event_id: dl.message.0.id.clone(),
                        event_type: dl.message.0.type_name().to_owned(),
                        error: dl.error.clone(),
                        attempts: dl.attempts,
                    },
                );
                // About the same asset: its shard, its tally entry.
                event.subject = dl.message.0.subject.clone();
                if let Ok(mut p) = published.lock() {
                    p.insert(&event.id);
                }
                tokio::spawn(async move {
                    if bus.publish(event.into()).await.is_err() {
                        tracing::debug!(
                            "bus closed before a dead letter could be announced; it was logged"
                        );
                    }
                });
            }
        })
        .build();
    let _ = bus_slot.set(bus.clone());
    bus
}

struct IdentityView(Arc<Ctx>);

impl watcher::IdentityCache for IdentityView {
    fn lookup(&self, id: &events::FileIdentity) -> Option<String> {
        self.0.identities.lookup(id)
    }

    fn reconciling(&self) {
        if let Err(e) = self.0.identities.hold(&self.0.catalog) {
            tracing::warn!(error = %e, "cannot load the known file identities; files will be hashed");
        }
    }

    fn reconciled(&self) {
        self.0.identities.let_go();
        tracing::debug!("start-up scan over: known identities let go of until the next one");
    }
}
