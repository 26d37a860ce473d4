//! The durable stages by name, and handling an event exactly once in effect when it can
//! arrive twice: from the in-process bus and from a Redis consumer group.
//!
//! With consumption tracking on (the daemon has `[redis]`), every stage handles an event under
//! a gate per (stage, shard), so the two deliveries of one event never run at the same time;
//! the second finds the first in the in-memory `done` set (or, after a restart, in the
//! catalog's `consumed` marks) and only acknowledges. Marks are written after the effect is
//! durable, through the group-commit writer: a crash in between makes the stage handle the
//! event again, which every handler tolerates (at least once, idempotent effects).

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bus::{Filter, HandlerError};
use events::Event;

use crate::recent::RecentIds;
use crate::{Inner, Msg, SHARDS, handlers, shard_of};

/// A durable subscriber of the pipeline. Each is a consumer group of the same name in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reads each discovered file's metadata (`alice.asset.discovered.v1`).
    Metadata,
    /// Places each file (`alice.asset.metadata_extracted.v1`).
    Organizer,
    /// Records every event in the catalog.
    Catalog,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Metadata, Stage::Organizer, Stage::Catalog];

    /// The stage's name: subscriber prefix, consumer group, `alice worker` argument.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Metadata => "metadata",
            Stage::Organizer => "organizer",
            Stage::Catalog => "catalog",
        }
    }

    /// The event type this stage reacts to; `None` for every type.
    pub fn input_type(self) -> Option<&'static str> {
        match self {
            Stage::Metadata => Some("alice.asset.discovered.v1"),
            Stage::Organizer => Some("alice.asset.metadata_extracted.v1"),
            Stage::Catalog => None,
        }
    }

    pub(crate) fn filter(self) -> Filter {
        match self.input_type() {
            Some(t) => Filter::types([t]),
            None => Filter::All,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown stage {s:?}: expected metadata, organizer or catalog"))
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The stage handled it now; its effect is durable.
    Now,
    /// The stage had already handled it (in this process or, per the catalog, before).
    Already,
    /// Not an event this stage reacts to.
    NotForStage,
}

/// Ids each stage handled recently in this process, so the second delivery of an event is
/// recognized without a catalog read. Bounded: the oldest are forgotten (the catalog marks
/// still answer for them).
#[derive(Default)]
pub(crate) struct Done {
    sets: Mutex<[RecentIds; 3]>,
}

impl Done {
    fn contains(&self, stage: Stage, id: &str) -> bool {
        self.sets
            .lock()
            .is_ok_and(|s| s[stage.index()].contains(id))
    }

    fn insert(&self, stage: Stage, id: &str) {
        if let Ok(mut sets) = self.sets.lock() {
            sets[stage.index()].insert(id);
        }
    }
}

/// One async gate per (stage, shard).
pub(crate) type Gates = [[tokio::sync::Mutex<()>; SHARDS]; 3];

/// Runs `stage`'s handler on `m` unless it already ran; `from_stream` deliveries also consult
/// the catalog's marks (a replay after a restart).
pub(crate) async fn handle_once(
    inner: &Arc<Inner>,
    stage: Stage,
    m: Msg,
    from_stream: bool,
) -> Result<Handled, HandlerError> {
    if stage.input_type().is_some_and(|t| t != m.0.type_name()) {
        return Ok(Handled::NotForStage);
    }
    let id = m.0.id.clone();
    // Was this discovery published (and counted as started) by this process?
    let ours = stage == Stage::Metadata && inner.tally.take_discovery(&id);
    if !inner.track_consumed {
        if let Err(e) = run(inner, stage, m).await {
            if ours {
                inner.tally.return_discovery(&id);
            }
            return Err(e);
        }
        return Ok(Handled::Now);
    }
    let _gate = inner.gates[stage.index()][shard_of(&m.0)].lock().await;
    if inner.done.contains(stage, &id) {
        return Ok(Handled::Already);
    }
    if from_stream {
        let probe = id.clone();
        let seen = handlers::db(inner, move |c| c.consumed(stage.name(), &probe))
            .await
            .map_err(|e| e.to_string())?;
        if seen {
            inner.done.insert(stage, &id);
            return Ok(Handled::Already);
        }
    }
    let event = m.0.clone();
    // A discovery another process (or an earlier run) published starts a pipeline here.
    let replayed = from_stream && stage == Stage::Metadata && !ours;
    if replayed
        && handlers::replay_is_moot(inner, &event)
            .await
            .map_err(|e| e.to_string())?
    {
        tracing::debug!(event_id = %id, "discovery read back from the stream is already handled; nothing to do");
        inner.done.insert(stage, &id);
        mark_consumed(inner, stage, &id).await;
        return Ok(Handled::Already);
    }
    // Counted where outcomes are counted, so scans and shutdown wait for it.
    let counted = replayed && inner.counts_outcomes;
    if counted {
        inner.tally.started(event.subject.as_deref());
    }
    if let Err(e) = run(inner, stage, m).await {
        if counted {
            inner.tally.abandon(event.subject.as_deref());
        }
        if ours {
            inner.tally.return_discovery(&id);
        }
        return Err(e);
    }
    inner.done.insert(stage, &id);
    if stage != Stage::Catalog {
        // The catalog stage's mark is the recorded event itself.
        mark_consumed(inner, stage, &id).await;
    } else if from_stream {
        // Events another process produced (a worker) reach this process's tally only here.
        inner.tally.count(&event);
        let foreign = inner.published.lock().is_ok_and(|p| !p.contains(&event.id));
        if foreign && let Ok(listeners) = inner.foreign.read() {
            for l in listeners.iter() {
                l(&event);
            }
        }
    }
    Ok(Handled::Now)
}

/// Records that `stage` consumed `id`. The effect is already durable: if the mark cannot be
/// written, a later delivery (after a restart) runs the stage again, which is idempotent, so
/// this is a warning and not a reason to run it again now.
async fn mark_consumed(inner: &Arc<Inner>, stage: Stage, id: &str) {
    if let Err(e) = inner
        .writer
        .mark_consumed(stage.name(), id.to_owned())
        .await
    {
        tracing::warn!(stage = stage.name(), event_id = id, error = %e, "cannot record that the event was handled; after a restart it may be handled again (harmlessly)");
    }
}

async fn run(inner: &Arc<Inner>, stage: Stage, m: Msg) -> Result<(), HandlerError> {
    match stage {
        Stage::Metadata => handlers::extract(inner, m).await,
        Stage::Organizer => handlers::organize(inner, m).await,
        Stage::Catalog => handlers::record(inner, m).await,
    }
}

/// An event read from the stream, for [`crate::Pipeline::handle_delivered`].
pub(crate) fn msg(event: Event) -> Msg {
    Msg(Arc::new(event))
}
