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
    /// True when the template numbers files (`{seq}`): numbers are counted from 1 for this
    /// plan only.
    pub uses_seq: bool,
}

impl PlanSummary {
    fn count(&mut self, action: &PlannedAction) {
        match action {
            PlannedAction::Organize { .. } => self.organize += 1,
            PlannedAction::Duplicate { .. } => self.duplicates += 1,
            PlannedAction::Skip { .. } => self.skipped += 1,
            PlannedAction::Fail { .. } => self.failed += 1,
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

/// Plans every file in the inboxes; `on_item` gets each planned file as it is decided.
pub async fn dry_run(cfg: &Config, mut on_item: impl FnMut(&PlanItem)) -> Result<PlanSummary> {
    for inbox in &cfg.inboxes {
        if !inbox.is_dir() {
            return Err(Error::Config(format!(
                "inbox {} does not exist (config key `inboxes`)",
                inbox.display()
            )));
        }
    }
    let catalog = open_catalog(&StateLayout::new(&cfg.state_dir))?.map(Arc::new);
    let known = match &catalog {
        Some(c) => c.load_identities()?,
        None => Default::default(),
    };
    let cache: Arc<dyn watcher::IdentityCache> = Arc::new(DryCache(
        known
            .into_iter()
            .map(|(k, v)| {
                (
                    watcher::FileIdentity {
                        dev: k.dev,
                        ino: k.ino,
                        size: k.size,
                        mtime_ns: i128::from(k.mtime_ns),
                        ctime_ns: i128::from(k.ctime_ns),
                    },
                    v,
                )
            })
            .collect(),
    ));
    let mut planner = Planner {
        settings: cfg.settings()?,
        context: match &catalog {
            Some(c) => c.context()?,
            None => Default::default(),
        },
        catalog,
        seen: HashMap::new(),
        seqs: HashMap::new(),
    };
    let watcher = watcher::Watcher::new(cfg.watch_config(), cache)?.exclude(cfg.outputs());
    let (tx, mut rx) = mpsc::channel(256);
    let scan = tokio::spawn(async move { watcher.scan_once(&tx).await });
    let mut summary = PlanSummary {
        uses_seq: planner.settings.template.uses_seq(),
        ..PlanSummary::default()
    };
    while let Some(item) = rx.recv().await {
        if let Some(planned) = planner.plan(item).await? {
            summary.count(&planned.action);
            on_item(&planned);
        }
    }
    scan.await??;
    Ok(summary)
}

struct Planner {
    settings: pipeline::Settings,
    catalog: Option<Arc<catalog::Catalog>>,
    context: catalog::CreativeContext,
    seen: HashMap<String, PathBuf>,
    seqs: HashMap<(String, String), u64>,
}

impl Planner {
    async fn plan(&mut self, item: watcher::WatchItem) -> Result<Option<PlanItem>> {
        let d = match item {
            watcher::WatchItem::Discovered(d) => d,
            watcher::WatchItem::Failed { path, error, .. } => {
                return Ok(Some(PlanItem {
                    path,
                    action: PlannedAction::Fail { error },
                }));
            }
            _ => return Ok(None),
        };
        let s = &self.settings;
        if let Some(c) = &self.catalog {
            if let Some(why) = pipeline::already_handled(c, &d.asset_id, &d.path, s.mode)? {
                tracing::debug!(path = %d.path.display(), why, "already handled");
                return Ok(None);
            }
            if let Some(existing) = c.is_organized(&d.asset_id)? {
                return Ok(Some(PlanItem {
                    path: d.path,
                    action: PlannedAction::Duplicate { existing },
                }));
            }
        }
        let path = d.path.clone();
        let ex = tokio::task::spawn_blocking(move || metadata::extract_path(&path)).await?;
        let action = match ex {
            Err(e) => PlannedAction::Fail {
                error: e.to_string(),
            },
            Ok(ex) if ex.info.media_type == events::media::MediaType::Other => {
                PlannedAction::Skip {
                    reason: "not an image or video".into(),
                }
            }
            Ok(ex) => match (ex.error, self.seen.get(&d.asset_id)) {
                (Some(e), _) => PlannedAction::Fail {
                    error: e.to_string(),
                },
                (None, Some(first)) => PlannedAction::Duplicate {
                    existing: first.clone(),
                },
                (None, None) => {
                    let project = d
                        .project
                        .clone()
                        .or(self.context.active_project.clone())
                        .unwrap_or_else(|| pipeline::UNCATEGORIZED.into());
                    let source = events::source_label(&ex.info).to_owned();
                    let seq = s.template.uses_seq().then(|| {
                        let n = self.seqs.entry((project.clone(), source)).or_insert(0);
                        *n += 1;
                        *n
                    });
                    let rel = pipeline::plan_destination(
                        &s.template,
                        &ex.info,
                        &project,
                        d.path.file_name().unwrap_or_default(),
                        &d.asset_id,
                        d.mtime.into(),
                        seq,
                    )
                    .map_err(|e| Error::Config(format!("key `template`: {e}")))?;
                    let destination = s.organized.join(rel);
                    self.seen.insert(d.asset_id.clone(), destination.clone());
                    PlannedAction::Organize { destination }
                }
            },
        };
        Ok(Some(PlanItem {
            path: d.path,
            action,
        }))
    }
}

struct DryCache(HashMap<watcher::FileIdentity, String>);

impl watcher::IdentityCache for DryCache {
    fn lookup(&self, id: &watcher::FileIdentity) -> Option<String> {
        self.0.get(id).cloned()
    }
}
