//! `alice scan --dry-run`: walks and reads everything, reports the plan, writes nothing (no
//! folders, no catalog, no files).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use pipeline::PlannedAction;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    /// The inbox file.
    pub path: PathBuf,
    /// What a real run would do with it.
    pub action: PlannedAction,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Files that would be organized.
    pub organize: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Not media.
    pub skipped: u64,
    /// Unreadable.
    pub failed: u64,
    /// Sidecar files and members of pairs (placed beside their organized media, or travelling
    /// with it).
    pub sidecars: u64,
    /// True when the template numbers files (`{seq}`): numbers are counted from 1 for this
    /// plan only.
    pub uses_seq: bool,
}

impl PlanSummary {
    fn count(&mut self, action: &PlannedAction) {
        match action {
            PlannedAction::Organize { .. } => self.organize += 1,
            PlannedAction::Duplicate { .. } => self.duplicates += 1,
            // Already organized from this very path: nothing new (a move would finish).
            PlannedAction::SameFile { .. } => {}
            PlannedAction::Skip { .. } => self.skipped += 1,
            PlannedAction::Fail { .. } => self.failed += 1,
            PlannedAction::Sidecar { .. } | PlannedAction::Member { .. } => self.sidecars += 1,
        }
    }
}

/// Opens the catalog without changing anything: an immutable snapshot when no daemon runs
/// and the last run ended cleanly (even SQLite's `-shm` file would be a change), read-only
/// otherwise.
fn open_catalog(layout: &StateLayout) -> Result<Option<catalog::Catalog>> {
    let path = layout.catalog();
    if !path.exists() {
        return Ok(None);
    }
    let wal_pending = std::fs::metadata(layout.catalog_wal()).is_ok_and(|m| m.len() > 0);
    let running = crate::lock::daemon_running(layout);
    if wal_pending && !running {
        tracing::warn!(wal = %layout.catalog_wal().display(), "the last run did not shut down cleanly; reading its log means SQLite creates a -shm file next to the catalog");
    }
    Ok(Some(if running || wal_pending {
        catalog::Catalog::open_readonly(&path)?
    } else {
        catalog::Catalog::open_snapshot(&path)?
    }))
}

/// Plans every file in the inboxes; `on_item` gets each planned file as it is decided. The
/// decisions are the organizer stage's own ([`pipeline::Planner`]), so a dry run cannot
/// disagree with the run that follows it.
pub async fn dry_run(cfg: &Config, mut on_item: impl FnMut(&PlanItem)) -> Result<PlanSummary> {
    for inbox in &cfg.inboxes {
        if !inbox.is_dir() {
            return Err(Error::Config(format!(
                "inbox {} does not exist (config key `inboxes`)",
                inbox.display()
            )));
        }
    }
    let catalog = open_catalog(&StateLayout::new(&cfg.state_dir))?;
    let known = match &catalog {
        Some(c) => c.load_identities()?,
        None => Default::default(),
    };
    let settings = cfg.settings()?;
    let mut planner = pipeline::Planner::new(catalog.as_ref(), &settings)?;
    let watcher = watcher::Watcher::new(cfg.watch_config(), Arc::new(DryCache(known)))?
        .exclude(cfg.outputs());
    let (tx, mut rx) = mpsc::channel(256);
    let scan = tokio::spawn(async move { watcher.scan_once(&tx).await });
    let mut summary = PlanSummary {
        uses_seq: planner.numbers_are_local(),
        ..PlanSummary::default()
    };
    while let Some(item) = rx.recv().await {
        if let Some(planned) = plan(&mut planner, item).await? {
            summary.count(&planned.action);
            on_item(&planned);
        }
    }
    scan.await??;
    Ok(summary)
}

/// One watcher item through the planner: `None` for items that are not files, and for files
/// an earlier run already handled.
async fn plan(
    planner: &mut pipeline::Planner<'_>,
    item: watcher::WatchItem,
) -> Result<Option<PlanItem>> {
    let d = match item {
        watcher::WatchItem::Discovered(d) => d,
        watcher::WatchItem::Failed { path, error, .. } => {
            let action = PlannedAction::Fail { error };
            return Ok(Some(PlanItem { path, action }));
        }
        _ => return Ok(None),
    };
    if let Some(why) = planner.already_handled(&d.asset_id, &d.path)? {
        tracing::debug!(path = %d.path.display(), why, "already handled");
        return Ok(None);
    }
    let (path, inbox) = (d.path.clone(), d.inbox.clone());
    let read = move || pipeline::extract_with_sidecars(&inbox, &path);
    let action = match tokio::task::spawn_blocking(read).await? {
        Err(e) => PlannedAction::Fail {
            error: format!("cannot read {}: {e}", d.path.display()),
        },
        Ok(ex) => {
            let error = ex.error.map(|e| e.to_string());
            planner
                .plan(&d, &ex.info, error.as_deref())
                .map_err(|e| Error::Config(e.to_string()))?
        }
    };
    Ok(Some(PlanItem {
        path: d.path,
        action,
    }))
}

struct DryCache(HashMap<events::FileIdentity, String>);

impl watcher::IdentityCache for DryCache {
    fn lookup(&self, id: &events::FileIdentity) -> Option<String> {
        self.0.get(id).cloned()
    }
}
