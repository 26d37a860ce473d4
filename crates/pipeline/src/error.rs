//! What can go wrong in the pipeline as a whole (not for one file: a bad file is an event).
//!
//! Two kinds, told apart by [`PipelineError::is_critical`], as a daemon needs them:
//!
//! - **critical**: the pipeline cannot go on and the process should stop (and say why): a
//!   subscriber cannot be registered, the bus or the catalog writer is gone, the catalog
//!   cannot be used at all (missing, corrupt, newer schema, cannot open).
//! - **recoverable**: this delivery failed and is worth delivering again (the bus retries with
//!   backoff, a Redis entry stays pending): a busy or full catalog, a transient placement
//!   failure, an output a sink has not taken yet, a panicked blocking task.

use catalog::CatalogError;

/// Failures of the pipeline as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The catalog failed: critical when it cannot be used at all, else recoverable.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Placing a file failed in a way worth another attempt (recoverable).
    #[error(transparent)]
    Organize(#[from] organizer::OrganizeError),
    /// A subscriber could not be registered (critical).
    #[error("cannot start subscriber: {0}")]
    Subscribe(#[from] bus::SubscribeError),
    /// The bus is shut down (critical).
    #[error("the event bus is shut down")]
    Closed,
    /// The catalog writer thread has stopped (critical).
    #[error("the catalog writer has stopped")]
    WriterStopped,
    /// The catalog writer could not record a batch (recoverable).
    #[error("cannot record in the catalog: {0}")]
    Record(String),
    /// A blocking task panicked (recoverable: the delivery is retried).
    #[error("internal task failed: {0}")]
    Join(String),
    /// An output event was not taken by every subscriber, with `confirm_outputs`
    /// (recoverable: the input is delivered again).
    #[error("an event was not recorded by every subscriber (the Redis writer?): {0}")]
    NotDelivered(String),
    /// A batch of placements could not be carried out or recorded as a whole (journal,
    /// durability barrier, catalog transaction); recoverable: files already placed are
    /// pending operations that the retry or start-up recovery records.
    #[error("placing a batch failed: {0}")]
    Batch(String),
    /// The placement thread has stopped (critical).
    #[error("the placement thread has stopped")]
    PlacerStopped,
}

impl PipelineError {
    /// True when the pipeline cannot go on: stop rather than retry (see the module docs).
    pub fn is_critical(&self) -> bool {
        match self {
            PipelineError::Subscribe(_)
            | PipelineError::Closed
            | PipelineError::WriterStopped
            | PipelineError::PlacerStopped => true,
            PipelineError::Catalog(e) => matches!(
                e,
                CatalogError::Open { .. }
                    | CatalogError::Missing { .. }
                    | CatalogError::Corrupt { .. }
                    | CatalogError::NoWal { .. }
                    | CatalogError::TooNew { .. }
                    | CatalogError::NeedsMigration { .. }
                    | CatalogError::Migration { .. }
            ),
            PipelineError::Organize(_)
            | PipelineError::Record(_)
            | PipelineError::Join(_)
            | PipelineError::NotDelivered(_)
            | PipelineError::Batch(_) => false,
        }
    }

    pub(crate) fn join(e: tokio::task::JoinError) -> PipelineError {
        PipelineError::Join(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_explicit() {
        assert!(PipelineError::Closed.is_critical());
        assert!(PipelineError::WriterStopped.is_critical());
        assert!(!PipelineError::Record("busy".into()).is_critical());
        assert!(!PipelineError::Join("panic".into()).is_critical());
        assert!(!PipelineError::NotDelivered("writer".into()).is_critical());
        let unknown_op = CatalogError::UnknownOp {
            path: "/c".into(),
            op_id: 1,
        };
        assert!(!PipelineError::from(unknown_op).is_critical());
        let newer = CatalogError::TooNew {
            path: "/c".into(),
            found: 9,
            supported: 1,
        };
        assert!(PipelineError::from(newer).is_critical());
    }
}
