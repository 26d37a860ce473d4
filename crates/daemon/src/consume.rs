//! Pipeline stages fed by their Redis consumer group (glue between `streams` and `pipeline`).
//!
//! Each stage the process runs reads its group (named after the stage) on `<prefix>:events`:
//! its own pending entries first, entries a stopped consumer left behind, then new ones. An
//! entry is acknowledged once the stage's effect is durable, or once it turns out the stage
//! had already handled the event (in process, before a restart) or does not react to its
//! type. An entry the stage fails on stays pending: it comes back after `claim_idle` and goes
//! to the dead-letter stream after `max_deliveries`.

use std::time::{Duration, Instant};

use events::Event;
use pipeline::{Handled, Pipeline, SHARDS, Stage, shard_of};
use streams::{Delivery, GroupConsumer, StreamConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Who runs the group, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The daemon: live events were handled in process already; what the group hands over
    /// that was not is a replay (e.g. after a crash) and worth an info line.
    Daemon,
    /// `alice worker`: the group is the only source.
    Worker,
}

/// A stage reading its consumer group until stopped.
pub struct GroupRunner {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    caught_up: watch::Receiver<bool>,
}

impl GroupRunner {
    /// Starts reading `stage`'s group as `cfg.consumer`. A group that does not exist yet is
    /// created at the end of the stream.
    pub fn spawn(pipeline: Pipeline, stage: Stage, cfg: StreamConfig, role: Role) -> GroupRunner {
        let (stop, stopped) = watch::channel(false);
        let (caught_tx, caught_up) = watch::channel(false);
        let task = tokio::spawn(run(pipeline, stage, cfg, role, stopped, caught_tx));
        GroupRunner {
            stop,
            task,
            caught_up,
        }
    }

    /// Resolves once the group's backlog is handled: this consumer's pending entries, and
    /// every entry appended before it first read (or at once when Redis cannot be read: the
    /// backlog is then handled when it can).
    pub async fn caught_up(&self) {
        let mut rx = self.caught_up.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Stops after the batch in hand (its entries are acknowledged or stay pending).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The reader's bookkeeping between reads: catching up, backoff, outage.
struct ReadState {
    group: &'static str,
    role: Role,
    catching_up: bool,
    backlog: usize,
    backoff: Duration,
    down_since: Option<Instant>,
    caught_up: watch::Sender<bool>,
}

impl ReadState {
    fn caught_up(&mut self) {
        if self.catching_up {
            self.catching_up = false;
            let _ = self.caught_up.send(true);
            if self.backlog > 0 {
                tracing::info!(
                    group = self.group,
                    events = self.backlog,
                    "caught up with the stream"
                );
            }
        }
    }

    /// A failed read: returns how long to wait before the next.
    fn failed(&mut self, e: &streams::Error) -> Duration {
        // Nothing more to catch up with while Redis cannot be read: the backlog is handled
        // when it can.
        if self.catching_up {
            self.catching_up = false;
            let _ = self.caught_up.send(true);
        }
        if self.down_since.is_none() {
            // Debug only: the process's Redis writer reports an outage, once.
            let effect = match self.role {
                Role::Daemon => "files keep being organized in process",
                Role::Worker => "this stage waits",
            };
            tracing::debug!(group = self.group, error = %e, effect, "cannot read the consumer group; retrying with backoff");
            self.down_since = Some(Instant::now());
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        wait
    }

    fn read(&mut self) {
        if let Some(since) = self.down_since.take() {
            tracing::debug!(
                group = self.group,
                down_ms = since.elapsed().as_millis() as u64,
                "reading the consumer group again"
            );
        }
        self.backoff = BACKOFF_MIN;
    }
}

async fn run(
    pipeline: Pipeline,
    stage: Stage,
    cfg: StreamConfig,
    role: Role,
    mut stop: watch::Receiver<bool>,
    caught_up: watch::Sender<bool>,
) {
    let group = stage.name();
    let mut consumer: Option<GroupConsumer> = None;
    let mut st = ReadState {
        group,
        role,
        catching_up: true,
        backlog: 0,
        backoff: BACKOFF_MIN,
        down_since: None,
        caught_up,
    };
    loop {
        if *stop.borrow() {
            if let Some(c) = consumer.as_mut() {
                finish(&pipeline, stage, c, role).await;
            }
            break;
        }
        let result = match consumer.as_mut() {
            // Catching up reads without waiting, so an empty answer means "caught up". Then a
            // blocking read is not interrupted by stop: entries it takes are handled, not left
            // pending until the next start.
            Some(c) if st.catching_up => tokio::select! {
                r = c.next_now() => r,
                _ = stop.changed() => break,
            },
            Some(c) => c.next().await,
            None => {
                let joined = tokio::select! {
                    r = GroupConsumer::join_at(&cfg, group, true) => r,
                    _ = stop.changed() => break,
                };
                match joined {
                    Ok(c) => {
                        tracing::info!(group, consumer = %cfg.consumer, stream = %cfg.stream_key(), "reading the consumer group");
                        consumer = Some(c);
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Err(e) => {
                let wait = st.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
            Ok(list) if list.is_empty() => {
                st.read();
                st.caught_up();
            }
            Ok(list) => {
                st.read();
                if let Some(c) = consumer.as_mut() {
                    report_dead_letters(&pipeline, stage, c).await;
                    let now = handle_batch(&pipeline, stage, c, list, role).await;
                    if st.catching_up {
                        st.backlog += now;
                    }
                }
            }
        }
    }
    tracing::debug!(group, "consumer group reader stopped");
}

/// On stop: what the group already holds for this consumer (pending, or appended before the
/// stop) is handled and acknowledged before the reader exits, briefly; what is left is
/// handled at the next start.
async fn finish(pipeline: &Pipeline, stage: Stage, consumer: &mut GroupConsumer, role: Role) {
    let drain = async {
        loop {
            match consumer.next_now().await {
                Ok(list) if !list.is_empty() => {
                    report_dead_letters(pipeline, stage, consumer).await;
                    handle_batch(pipeline, stage, consumer, list, role).await;
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::info!(group = stage.name(), error = %e, "cannot take a last look at the consumer group; what it holds is handled at the next start");
                    break;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tracing::info!(
            group = stage.name(),
            "stopping with entries still in the group; they are handled at the next start"
        );
    }
}

/// Announces entries the group moved to the dead-letter stream as `DeadLettered` events, so
/// the daemon records them (an asset's pipeline ends there: `alice scan` does not wait for
/// it), `alice status` lists them and the metrics count them.
async fn report_dead_letters(pipeline: &Pipeline, stage: Stage, consumer: &mut GroupConsumer) {
    for dead in consumer.take_dead_letters() {
        let original = dead.json.as_deref().and_then(|j| Event::from_json(j).ok());
        let payload = events::DeadLettered {
            subscriber: format!("{}-group", stage.name()),
            event_id: dead.event_id.clone().unwrap_or_default(),
            event_type: dead.type_name.clone().unwrap_or_default(),
            error: format!("stream entry {}: {}", dead.stream_id, dead.reason),
            attempts: u32::try_from(dead.deliveries).unwrap_or(u32::MAX),
        };
        let mut event = match &original {
            Some(o) => o.follow(pipeline::sources::STREAMS, payload),
            None => Event::new(pipeline::sources::STREAMS, payload),
        };
        event.subject = original.and_then(|o| o.subject);
        if let Err(e) = pipeline.publish(event).await {
            tracing::warn!(group = stage.name(), stream_id = %dead.stream_id, error = %e, "cannot announce a dead-lettered entry; it is in the dead-letter stream");
        }
    }
}

/// Handles one batch: one lane per shard (one asset's events in stream order, different
/// assets in parallel), then acknowledges what is done.
async fn handle_batch(
    pipeline: &Pipeline,
    stage: Stage,
    consumer: &mut GroupConsumer,
    list: Vec<Delivery>,
    role: Role,
) -> usize {
    let group = stage.name();
    let mut lanes: Vec<Vec<(Delivery, Event)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for d in list {
        match Event::from_json(&d.json) {
            Ok(ev) => lanes[shard_of(&ev)].push((d, ev)),
            Err(e) => {
                tracing::warn!(group, stream_id = %d.stream_id, event_id = %d.event_id, event_type = %d.type_name, deliveries = d.deliveries, error = %e, "stream entry is not a CloudEvents event this version can read; left pending (it goes to the dead-letter stream after max_deliveries)");
            }
        }
    }
    let mut tasks = JoinSet::new();
    for lane in lanes.into_iter().filter(|l| !l.is_empty()) {
        let p = pipeline.clone();
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(lane.len());
            let mut now = 0usize;
            for (d, ev) in lane {
                match p.handle_delivered(stage, ev).await {
                    Ok(h) => {
                        now += usize::from(h == Handled::Now);
                        done.push(d.stream_id);
                    }
                    Err(e) => {
                        tracing::warn!(group = stage.name(), stream_id = %d.stream_id, event_id = %d.event_id, event_type = %d.type_name, deliveries = d.deliveries, error = %e, "stage failed on a stream entry; left pending (delivered again after claim_idle, dead-lettered after max_deliveries)");
                    }
                }
            }
            (done, now)
        });
    }
    let mut acks = Vec::new();
    let mut handled_now = 0;
    while let Some(res) = tasks.join_next().await {
        match res {
            Ok((done, now)) => {
                acks.extend(done);
                handled_now += now;
            }
            Err(e) => {
                tracing::error!(group, error = %e, "a stream lane failed; its entries stay pending")
            }
        }
    }
    if handled_now > 0 {
        match role {
            // Mostly a live event whose stream copy came first, or a worker's output; what
            // an earlier run left behind is reported by "caught up with the stream".
            Role::Daemon => tracing::debug!(
                group,
                events = handled_now,
                "handled events read from the stream"
            ),
            Role::Worker => tracing::info!(group, events = handled_now, "handled events"),
        }
    }
    if let Err(e) = consumer.ack(&acks).await {
        // They come back and are found handled: only an acknowledgement is lost.
        tracing::warn!(group, error = %e, entries = acks.len(), "cannot acknowledge handled entries; they will be delivered again and acknowledged then");
    }
    handled_now
}
