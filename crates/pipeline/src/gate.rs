//! The exactly-once gate: a stage's effect runs at most once per event in this process, and
//! once per event across restarts as far as the catalog's `consumed` marks tell.
//!
//! An event may reach a stage twice: from the in-process bus and from a Redis consumer group.
//! Each stage handles events under a gate per (stage, shard), so the two deliveries never run
//! at the same time; the second finds the first in the in-memory done set (or, after a
//! restart, in the catalog's marks) and only acknowledges. Marks are written after the effect
//! is durable, through the group-commit writer: a crash in between makes the stage handle the
//! event again, which every handler tolerates (at least once, idempotent effects).
//!
//! The gate knows nothing of the tally: the caller passes a `prelude` (run inside the gate,
//! before the effect; it may declare the event moot) and the `effect`.

use std::future::Future;
use std::sync::Mutex;

use events::Event;

use crate::ctx::Ctx;
use crate::recent::RecentIds;
use crate::{Handled, PipelineError, SHARDS, Stage, shard_of};

/// What the prelude found, inside the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prelude {
    /// Run the effect.
    Run,
    /// Nothing to do any more: count the event as consumed without running the effect.
    Moot,
}

/// Gates per (stage, shard) and the ids each stage handled recently.
pub(crate) struct OnceGate {
    gates: [[tokio::sync::Mutex<()>; SHARDS]; Stage::ALL.len()],
    /// Bounded: the oldest ids are forgotten (the catalog marks still answer for them).
    done: Mutex<[RecentIds; Stage::ALL.len()]>,
}

impl Default for OnceGate {
    fn default() -> OnceGate {
        OnceGate {
            gates: std::array::from_fn(|_| std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
            done: Mutex::default(),
        }
    }
}

impl OnceGate {
    fn is_done(&self, stage: Stage, id: &str) -> bool {
        self.done
            .lock()
            .is_ok_and(|s| s[stage.index()].contains(id))
    }

    fn set_done(&self, stage: Stage, id: &str) {
        if let Ok(mut sets) = self.done.lock() {
            sets[stage.index()].insert(id);
        }
    }

    /// Runs `effect` for `event` unless `stage` already did; `from_stream` deliveries also
    /// consult the catalog's marks (a replay after a restart).
    pub(crate) async fn run<PF, EF>(
        &self,
        ctx: &Ctx,
        stage: Stage,
        event: &Event,
        from_stream: bool,
        prelude: impl FnOnce() -> PF,
        effect: impl FnOnce() -> EF,
    ) -> Result<Handled, PipelineError>
    where
        PF: Future<Output = Result<Prelude, PipelineError>>,
        EF: Future<Output = Result<(), PipelineError>>,
    {
        let id = event.id.as_str();
        let _gate = self.gates[stage.index()][shard_of(event)].lock().await;
        if self.is_done(stage, id) {
            return Ok(Handled::Already);
        }
        if from_stream {
            let probe = id.to_owned();
            if ctx.db(move |c| c.consumed(stage.name(), &probe)).await? {
                self.set_done(stage, id);
                return Ok(Handled::Already);
            }
        }
        if prelude().await? == Prelude::Moot {
            self.set_done(stage, id);
            mark_consumed(ctx, stage, id).await;
            return Ok(Handled::Already);
        }
        effect().await?;
        self.set_done(stage, id);
        if stage != Stage::Catalog {
            // The catalog stage's mark is the recorded event itself.
            mark_consumed(ctx, stage, id).await;
        }
        Ok(Handled::Now)
    }
}

/// Records that `stage` consumed `id`. The effect is already durable: if the mark cannot be
/// written, a later delivery (after a restart) runs the stage again, which is idempotent, so
/// this is a warning and not a reason to run it again now.
async fn mark_consumed(ctx: &Ctx, stage: Stage, id: &str) {
    if let Err(e) = ctx.writer.mark_consumed(stage.name(), id.to_owned()).await {
        tracing::warn!(stage = stage.name(), event_id = id, error = %e, "cannot record that the event was handled; after a restart it may be handled again (harmlessly)");
    }
}
