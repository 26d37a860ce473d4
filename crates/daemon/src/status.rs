//! `alice status`: what the running daemon reports about itself, as a typed value the
//! control server builds and the CLI prints (`--json` prints it as is).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The daemon's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Process id.
    pub pid: u32,
    /// Version of the daemon.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Where the config came from.
    pub config: String,
    /// `copy` or `move`.
    pub mode: events::OrganizeMode,
    /// Root of the organized tree.
    pub organized: String,
    /// Watched folders.
    pub inboxes: Vec<String>,
    /// The watcher's counters.
    pub watch: WatchStatus,
    /// Outcomes since start.
    pub this_run: RunCounts,
    /// Assets in the catalog by status (`None` when the catalog could not be read).
    pub catalog: Option<CatalogCounts>,
    /// The creative context.
    pub context: Option<ContextStatus>,
    /// The bus's durable subscribers.
    pub queues: Vec<QueueStatus>,
    /// The bus's lossy observers.
    pub observers: Vec<ObserverStatus>,
    /// Redis, when configured.
    pub redis: RedisStatus,
    /// The last few failures.
    pub last_errors: Vec<ErrorEntry>,
    /// Files that failed for a reason that may go away, waiting to be tried again.
    #[serde(default)]
    pub retry: RetryStatus,
    /// Sidecar files waiting in the inbox for their media longer than
    /// `watch.orphan_sidecar_s` (oldest first, at most [`ORPHANS_SHOWN`]).
    #[serde(default)]
    pub orphan_sidecars: Vec<OrphanSidecar>,
}

/// At most this many orphan sidecars are listed.
pub const ORPHANS_SHOWN: usize = 20;

/// A sidecar whose media has not come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanSidecar {
    /// The sidecar in the inbox.
    pub path: String,
    /// Seconds since it was first seen.
    pub waiting_s: u64,
}

/// The sidecars waiting for their media longer than `wait`, still in the inbox.
pub fn orphan_sidecars(c: &catalog::Catalog, wait: std::time::Duration) -> Vec<OrphanSidecar> {
    let now = chrono::Utc::now();
    let before = now - chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    let found = c.skipped_since(pipeline::decide::SIDECAR_WAITING, before, ORPHANS_SHOWN);
    found
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.original_path.is_file())
        .map(|r| OrphanSidecar {
            path: r.original_path.display().to_string(),
            waiting_s: (now - r.first_seen).num_seconds().max(0) as u64,
        })
        .collect()
}

/// Files waiting to be tried again (see `alice status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryStatus {
    /// How many.
    pub waiting: u64,
    /// Seconds until the next try (`alice reload` tries at once).
    pub next_in_s: Option<u64>,
}

/// The watcher's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchStatus {
    /// inotify watches held.
    pub watches: u64,
    /// Inboxes scanned periodically instead of watched.
    pub polling_inboxes: u64,
    /// Rescans after overflows or errors.
    pub rescans: u64,
    /// Files hashed.
    pub files_hashed: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Files recognized by identity without hashing.
    pub identity_cache_hits: u64,
    /// Files being hashed right now.
    pub hashing_now: u64,
}

impl WatchStatus {
    /// A snapshot of the watcher's counters.
    pub fn from_stats(ws: &watcher::WatchStats) -> WatchStatus {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WatchStatus {
            watches: load(&ws.watches),
            polling_inboxes: load(&ws.polling_inboxes),
            rescans: load(&ws.rescans),
            files_hashed: load(&ws.files_hashed),
            bytes_hashed: load(&ws.bytes_hashed),
            identity_cache_hits: load(&ws.cache_hits),
            hashing_now: load(&ws.hashing),
        }
    }
}

/// Outcomes counted since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Asset pipelines started.
    pub started: u64,
    /// Organized.
    pub organized: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Skipped (not media).
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
    /// Sidecars handled on their own (placed beside media organized earlier, or waiting).
    #[serde(default)]
    pub sidecars: u64,
}

impl From<pipeline::TallySnapshot> for RunCounts {
    fn from(t: pipeline::TallySnapshot) -> RunCounts {
        RunCounts {
            started: t.started,
            organized: t.organized,
            duplicates: t.duplicates,
            skipped: t.skipped,
            failed: t.failed,
            sidecars: t.sidecars,
        }
    }
}

/// Assets in the catalog by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCounts {
    /// Organized.
    pub organized: u64,
    /// Duplicates.
    pub duplicate: u64,
    /// Skipped.
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
    /// Discovered and not finished.
    pub discovered: u64,
}

impl From<catalog::StatusCounts> for CatalogCounts {
    fn from(c: catalog::StatusCounts) -> CatalogCounts {
        CatalogCounts {
            organized: c.organized,
            duplicate: c.duplicate,
            skipped: c.skipped,
            failed: c.failed,
            discovered: c.discovered,
        }
    }
}

/// The active project and style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextStatus {
    /// Active project.
    pub project: Option<String>,
    /// Active style.
    pub style: Option<String>,
}

/// One durable subscriber's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// Subscriber name (`organizer-3`, `redis-0`, …).
    pub subscriber: String,
    /// Events waiting.
    pub queued: usize,
    /// Queue bound.
    pub capacity: usize,
    /// Events handled.
    pub delivered: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Events given up on.
    pub dead_lettered: u64,
}

/// One lossy observer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserverStatus {
    /// Observer id.
    pub id: u64,
    /// Events received.
    pub received: u64,
    /// Events missed.
    pub missed: u64,
}

/// Redis as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RedisStatus {
    /// Configured.
    Configured(Box<RedisDetail>),
    /// `"not configured"`.
    NotConfigured(String),
}

/// Redis details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisDetail {
    /// URL with the password masked.
    pub url: String,
    /// Whether the writer is connected.
    pub connected: bool,
    /// Events waiting in the local spool.
    pub spooled: u64,
    /// Outages since start.
    pub outages: u64,
    /// Stages left to `alice worker`.
    pub workers: Vec<String>,
    /// The consumer groups (`None` while Redis does not answer).
    pub groups: Option<Vec<GroupStatus>>,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// Group (stage) name.
    pub group: String,
    /// Consumers.
    pub consumers: u64,
    /// Delivered, not acknowledged.
    pub pending: u64,
    /// Not delivered yet (`None`: Redis cannot tell).
    pub unread: Option<u64>,
}

/// A recent failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// When.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Event type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The event's data.
    pub data: serde_json::Value,
}

impl Status {
    /// The one-line summary systemd shows (`STATUS=`).
    pub fn line(inboxes: usize, t: &pipeline::TallySnapshot) -> String {
        format!(
            "watching {} inbox{}; organized {}, duplicates {}, skipped {}, failed {}",
            inboxes,
            if inboxes == 1 { "" } else { "es" },
            t.organized,
            t.duplicates,
            t.skipped,
            t.failed
        )
    }
}
