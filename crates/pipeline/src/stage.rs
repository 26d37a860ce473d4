//! The durable stages by name, and handling one delivery: the exactly-once gate
//! ([`crate::gate`]) wrapped in the tally's bookkeeping (which discoveries this process
//! started, which replayed ones start a pipeline here, which outcomes only reach this process
//! through the stream).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bus::Filter;
use events::{Event, types};

use crate::ctx::Ctx;
use crate::gate::Prelude;
use crate::{Msg, PipelineError, extract, intake, organize, record, visual};

/// A durable subscriber of the pipeline. Each is a consumer group of the same name in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reads each discovered file's metadata ([`types::ASSET_DISCOVERED`]).
    Metadata,
    /// Places each file ([`types::METADATA_EXTRACTED`]).
    Organizer,
    /// Records every event in the catalog.
    Catalog,
    /// Makes each organized file's thumbnails and fingerprint ([`types::ASSET_ORGANIZED`]);
    /// runs only when [`crate::Settings::visual`] is set.
    Visual,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 4] = [
        Stage::Metadata,
        Stage::Organizer,
        Stage::Catalog,
        Stage::Visual,
    ];

    /// The stage's name: subscriber prefix, consumer group, `alice worker` argument.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Metadata => "metadata",
            Stage::Organizer => "organizer",
            Stage::Catalog => "catalog",
            Stage::Visual => "visual",
        }
    }

    /// The event type this stage reacts to; `None` for every type.
    pub fn input_type(self) -> Option<&'static str> {
        match self {
            Stage::Metadata => Some(types::ASSET_DISCOVERED),
            Stage::Organizer => Some(types::METADATA_EXTRACTED),
            Stage::Catalog => None,
            Stage::Visual => Some(types::ASSET_ORGANIZED),
        }
    }

    pub(crate) fn filter(self) -> Filter {
        match self.input_type() {
            Some(t) => Filter::types([t]),
            None => Filter::All,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stage name that is not one of [`Stage::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage {0:?}: expected metadata, organizer, catalog or visual")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;
    fn from_str(s: &str) -> Result<Stage, UnknownStage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| UnknownStage(s.to_owned()))
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

/// Runs `stage` on `m`: through the exactly-once gate when consumption is tracked, with the
/// tally's bookkeeping around it.
pub(crate) async fn handle_once(
    ctx: &Arc<Ctx>,
    stage: Stage,
    m: Msg,
    from_stream: bool,
) -> Result<Handled, PipelineError> {
    if stage.input_type().is_some_and(|t| t != m.0.type_name()) {
        return Ok(Handled::NotForStage);
    }
    let event = m.0.clone();
    let mut books = TallyBooks::begin(ctx, stage, &event, from_stream);
    let result = if ctx.options.track_consumed {
        ctx.gate
            .run(
                ctx,
                stage,
                &event,
                from_stream,
                || books.before_effect(&event),
                || run(ctx, stage, m),
            )
            .await
    } else {
        run(ctx, stage, m).await.map(|()| Handled::Now)
    };
    books.end(&event, &result);
    result
}

async fn run(ctx: &Ctx, stage: Stage, m: Msg) -> Result<(), PipelineError> {
    match stage {
        Stage::Metadata => extract::extract(ctx, m).await,
        Stage::Organizer => organize::organize(ctx, m).await,
        Stage::Catalog => record::record(ctx, m).await,
        Stage::Visual => visual::visualize(ctx, m).await,
    }
}

/// The tally's view of one delivery.
struct TallyBooks<'a> {
    ctx: &'a Ctx,
    stage: Stage,
    from_stream: bool,
    /// This discovery was published (and counted as started) by this process.
    ours: bool,
    /// A replayed discovery was counted as a started pipeline here.
    counted: bool,
}

impl<'a> TallyBooks<'a> {
    fn begin(ctx: &'a Ctx, stage: Stage, event: &Event, from_stream: bool) -> TallyBooks<'a> {
        // Without the exactly-once gate this delivery is the one that runs the step; with it,
        // the delivery the gate lets run takes the discovery (`before_effect`).
        let ours = stage == Stage::Metadata
            && !ctx.options.track_consumed
            && ctx.tally.take_discovery(&event.id);
        TallyBooks {
            ctx,
            stage,
            from_stream,
            ours,
            counted: false,
        }
    }

    /// Inside the gate: a discovery another process (or an earlier run) published starts a
    /// pipeline here, unless its file reached an outcome meanwhile.
    async fn before_effect(&mut self, event: &Event) -> Result<Prelude, PipelineError> {
        // Taken here, inside the gate, by the delivery that runs the step: taken before it, by
        // the bus's copy, while the copy read back from the stream won the gate, the same
        // pipeline was counted twice and the tally never went idle.
        if self.stage == Stage::Metadata && !self.ours {
            self.ours = self.ctx.tally.take_discovery(&event.id);
        }
        let replayed = self.from_stream && self.stage == Stage::Metadata && !self.ours;
        if replayed && intake::replay_is_moot(self.ctx, event).await? {
            tracing::debug!(event_id = %event.id, "discovery read back from the stream is already handled; nothing to do");
            return Ok(Prelude::Moot);
        }
        // Counted where outcomes are counted, so scans and shutdown wait for it.
        if replayed && self.ctx.options.counts_outcomes() {
            self.ctx.tally.started(event.subject.as_deref());
            self.counted = true;
        }
        Ok(Prelude::Run)
    }

    fn end(self, event: &Event, result: &Result<Handled, PipelineError>) {
        let tally = &self.ctx.tally;
        match result {
            Err(_) => {
                if self.counted {
                    tally.abandon(event.subject.as_deref());
                }
                if self.ours {
                    tally.return_discovery(&event.id);
                }
            }
            Ok(Handled::Now)
                if self.ctx.options.track_consumed
                    && self.from_stream
                    && self.stage == Stage::Catalog =>
            {
                // Events another process produced (a worker) reach this process's tally only
                // here.
                tally.count(event);
                let ctx = self.ctx;
                let foreign = ctx.published.lock().is_ok_and(|p| !p.contains(&event.id));
                if foreign && let Ok(listeners) = ctx.foreign.read() {
                    for l in listeners.iter() {
                        l(event);
                    }
                }
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_round_trip_and_unknown_names_are_typed_errors() {
        for st in Stage::ALL {
            assert_eq!(st.name().parse::<Stage>(), Ok(st));
        }
        let err = "tally".parse::<Stage>().unwrap_err();
        assert_eq!(err, UnknownStage("tally".into()));
        assert!(
            err.to_string()
                .contains("metadata, organizer, catalog or visual")
        );
    }
}
