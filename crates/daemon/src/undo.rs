//! `alice undo --last N`: reverse the most recent operations, verifying every step, through
//! the pipeline's one journal API ([`pipeline::undo_op`]).

use catalog::Catalog;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// What became of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The journal's operation id.
    pub op_id: i64,
    /// What was done, or why it was not.
    pub outcome: std::result::Result<String, String>,
}

/// Reverses the last `last` operations, most recent first. Needs the daemon stopped: it
/// takes the state dir's lock, so no daemon can start meanwhile either.
pub fn undo(cfg: &Config, last: usize) -> Result<Vec<Undone>> {
    let layout = StateLayout::new(&cfg.state_dir);
    let _lock = crate::lock::lock_state_dir(&layout).map_err(|e| {
        Error::Busy(format!(
            "undo needs the daemon stopped (it would see files come and go under its feet): {e}"
        ))
    })?;
    let catalog = Catalog::open(&layout.catalog())?;
    Ok(catalog
        .last_ops(last)?
        .into_iter()
        .map(|op| Undone {
            op_id: op.op_id,
            outcome: pipeline::undo_op(&catalog, &op, &cfg.organized)
                .map(|u| u.to_string())
                .map_err(|e| e.to_string()),
        })
        .collect())
}
