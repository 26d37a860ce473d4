//! What every stage shares: the bus, the catalog, the settings, and the two ways a stage
//! talks to the outside (a catalog call off the runtime, a publish).

use std::sync::{Arc, Mutex, RwLock};

use catalog::Catalog;
use events::Event;

use crate::gate::OnceGate;
use crate::intake::IdentityMemory;
use crate::recent::RecentIds;
use crate::{EventBus, ForeignListener, Msg, PipelineError, PipelineOptions, Settings, Tally};
use crate::{ratelimit, writer};

/// The running pipeline's state, shared by its stages.
pub(crate) struct Ctx {
    pub(crate) bus: EventBus,
    /// Carries out placements in batches.
    pub(crate) batcher: crate::batch::Batcher,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) settings: RwLock<Arc<Settings>>,
    pub(crate) options: PipelineOptions,
    pub(crate) tally: Tally,
    pub(crate) identities: IdentityMemory,
    pub(crate) writer: writer::EventWriter,
    pub(crate) log_limit: ratelimit::LogLimiter,
    pub(crate) gate: OnceGate,
    /// Ids of events published on this process's bus recently (with `track_consumed`), to
    /// tell them from events other processes wrote to the stream.
    pub(crate) published: Arc<Mutex<RecentIds>>,
    /// Called once for each event another process wrote (see
    /// [`crate::Pipeline::on_foreign_event`]).
    pub(crate) foreign: RwLock<Vec<ForeignListener>>,
    /// The visual stage's bound on concurrent decodes and its eviction count.
    pub(crate) visual: crate::visual::VisualWork,
}

impl Ctx {
    /// The current settings (a reload swaps them; a stage reads them once per event).
    pub(crate) fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Runs a catalog call off the async runtime.
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Catalog) -> Result<T, catalog::CatalogError> + Send + 'static,
    ) -> Result<T, PipelineError> {
        let cat = self.catalog.clone();
        tokio::task::spawn_blocking(move || f(&cat))
            .await
            .map_err(PipelineError::join)?
            .map_err(PipelineError::from)
    }

    /// Publishes `event`; with `confirm_outputs`, returns once every subscriber has taken it.
    pub(crate) async fn publish(&self, event: Event) -> Result<(), PipelineError> {
        if self.options.track_consumed
            && let Ok(mut p) = self.published.lock()
        {
            p.insert(&event.id);
        }
        let msg = Msg(Arc::new(event));
        if !self.options.confirm_outputs {
            return self
                .bus
                .publish(msg)
                .await
                .map_err(|_| PipelineError::Closed);
        }
        // A worker's only record of what it produced is the stream: the Redis writer must have
        // it (in Redis or in the fsynced spool) before the input is marked consumed and
        // acknowledged.
        let receipt = self
            .bus
            .publish_tracked(msg)
            .await
            .map_err(|_| PipelineError::Closed)?;
        let outcome = receipt
            .await
            .map_err(|e| PipelineError::NotDelivered(e.to_string()))?;
        if outcome.is_fully_acked() {
            Ok(())
        } else {
            Err(PipelineError::NotDelivered(format!(
                "{:?}",
                outcome.deliveries
            )))
        }
    }
}
