//! The control socket's server side, run by `alice run`.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::{ContextReply, PROTOCOL_VERSION, Reply, Request, RequestLine, ResponseLine};
use crate::config::Config;
use crate::error::{IoContext, Result};
use crate::status::{
    CatalogCounts, ContextStatus, ErrorEntry, GroupStatus, ObserverStatus, QueueStatus,
    RedisDetail, RedisStatus, Status, WatchStatus,
};

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A reload asked of the main loop, with where to send what it did.
pub(crate) struct ReloadRequest {
    /// What triggered it, for the log.
    pub trigger: &'static str,
    /// Gets the outcome (a control client waiting for it), if anyone asks.
    pub reply: Option<oneshot::Sender<(super::ReloadOutcome, u64)>>,
}

/// What the control server can see and do in the daemon.
pub(crate) struct DaemonView {
    pub pipeline: pipeline::Pipeline,
    pub started: Instant,
    pub config_path: String,
    pub config: watch::Receiver<Config>,
    pub watch_stats: watch::Receiver<Arc<watcher::WatchStats>>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub last_errors: Arc<Mutex<VecDeque<ErrorEntry>>>,
    /// The Redis writer and its redacted URL, when `[redis]` is configured.
    pub redis: Option<(Arc<streams::StreamWriter>, String)>,
    /// The stream settings, to show the consumer groups.
    pub stream: Option<streams::StreamConfig>,
    /// Files waiting to be tried again.
    pub retries: crate::retry::Retries,
    /// The near-duplicate index, when the visual stage is on.
    pub near: Option<Arc<crate::near::Near>>,
}

/// Keeps the last few failures for `alice status`, from a lossy observer (never slows the
/// pipeline).
pub(crate) fn collect_errors(
    pipeline: &pipeline::Pipeline,
    keep: usize,
) -> Arc<Mutex<VecDeque<ErrorEntry>>> {
    let store = Arc::new(Mutex::new(VecDeque::with_capacity(keep)));
    let mut obs = pipeline.bus().observe(
        bus::Filter::types([
            events::types::ASSET_FAILED,
            events::types::DEAD_LETTERED,
            events::types::RUN_FAILED,
        ]),
        64,
    );
    let out = store.clone();
    tokio::spawn(async move {
        while let Some(item) = obs.recv().await {
            if let bus::Observed::Message(m) = item
                && let Ok(mut q) = out.lock()
            {
                if q.len() == keep {
                    q.pop_front();
                }
                let data = serde_json::to_value(&*m.0)
                    .ok()
                    .and_then(|v| v.get("data").cloned())
                    .unwrap_or_default();
                q.push_back(ErrorEntry {
                    time: m.0.time,
                    type_name: m.0.type_name().to_owned(),
                    data,
                });
            }
        }
    });
    store
}

/// The control socket of a running daemon: removes its files when dropped.
pub(crate) struct ControlServer {
    task: tokio::task::JoinHandle<()>,
    socket: PathBuf,
    advertisement: PathBuf,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.advertisement);
    }
}

/// Binds the socket (replacing a stale one from a dead daemon), records where it is in
/// `advertisement`, and serves until the returned server is dropped.
pub(crate) fn serve(
    path: PathBuf,
    advertisement: PathBuf,
    view: Arc<DaemonView>,
) -> Result<ControlServer> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at(|| "cannot create".into(), dir)?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    if path.exists() {
        // The state-dir lock guarantees no other daemon of this instance runs: it is stale.
        std::fs::remove_file(&path).at(|| "cannot remove stale socket".into(), &path)?;
    }
    let listener =
        UnixListener::bind(&path).at(|| "cannot listen on control socket".into(), &path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .at(|| "cannot restrict".into(), &path)?;
    if let Err(e) = std::fs::write(&advertisement, path.as_os_str().as_bytes()) {
        tracing::warn!(path = %advertisement.display(), error = %e, "cannot record where the control socket is; clients will compute it");
    }
    tracing::info!(socket = %path.display(), "control socket ready");
    let task = tokio::spawn(accept_loop(listener, view));
    Ok(ControlServer {
        task,
        socket: path,
        advertisement,
    })
}

async fn accept_loop(listener: UnixListener, view: Arc<DaemonView>) {
    // SAFETY: getuid has no failure mode.
    let me = unsafe { libc::getuid() };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "control socket cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(c) if c.uid() == me => {}
            other => {
                tracing::warn!(peer = ?other.map(|c| c.uid()), "control connection from another user refused");
                continue;
            }
        }
        let view = view.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &view).await {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
}

async fn handle(stream: UnixStream, view: &DaemonView) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    // One request line, bounded in size and time: a client that never finishes its line
    // must not hold a task or memory.
    let mut lines = BufReader::new(read.take(MAX_REQUEST)).lines();
    let line = match tokio::time::timeout(REQUEST_TIMEOUT, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let answer = match parse(&line) {
        Ok(Request::Tail { type_pattern }) => return tail(type_pattern, write, view).await,
        Ok(req) => respond(req, view).await,
        Err(e) => Err(e),
    };
    let reply = serde_json::to_string(&ResponseLine::from(answer)).unwrap_or_default();
    write.write_all(format!("{reply}\n").as_bytes()).await
}

fn parse(line: &str) -> Result<Request, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("request is not JSON: {e}"))?;
    let v = value
        .get("v")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    if v > u64::from(PROTOCOL_VERSION) {
        return Err(format!(
            "this daemon speaks control protocol {PROTOCOL_VERSION}, the client {v}; restart the daemon after an upgrade"
        ));
    }
    serde_json::from_value::<RequestLine>(value)
        .map(|r| r.request)
        .map_err(|e| {
            format!(
                "bad request ({e}); this daemon knows {}",
                Request::NAMES.join(", ")
            )
        })
}

/// Streams live events to the client until it goes away. Lossy: a slow client misses events
/// (and is told how many) rather than slowing the pipeline.
async fn tail(
    pattern: Option<String>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    view: &DaemonView,
) -> std::io::Result<()> {
    let mut obs = view.pipeline.bus().observe(bus::Filter::All, 1024);
    let ok = serde_json::to_string(&ResponseLine::from(Ok(Reply::Tailing))).unwrap_or_default();
    write.write_all(format!("{ok}\n").as_bytes()).await?;
    while let Some(item) = obs.recv().await {
        let line = match item {
            bus::Observed::Message(m) => {
                if pattern
                    .as_deref()
                    .is_some_and(|p| !super::type_matches(p, m.0.type_name()))
                {
                    continue;
                }
                m.0.to_json()
            }
            bus::Observed::Lagged(n) => serde_json::json!({ "missed": n }).to_string(),
        };
        if write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

async fn respond(req: Request, view: &DaemonView) -> Result<Reply, String> {
    let p = &view.pipeline;
    let context = |c: ContextStatus| {
        Reply::Context(ContextReply {
            project: c.project,
            style: c.style,
        })
    };
    let result = match req {
        Request::Status => return Ok(Reply::Status(Box::new(status(view).await))),
        Request::Tail { .. } => return Ok(Reply::Tailing),
        Request::Reload => {
            let (tx, rx) = oneshot::channel();
            let asked = ReloadRequest {
                trigger: "alice reload",
                reply: Some(tx),
            };
            view.reload
                .send(asked)
                .await
                .map_err(|_| "the daemon is stopping".to_owned())?;
            let (outcome, retried) = rx
                .await
                .map_err(|_| "the daemon stopped before reloading".to_owned())?;
            return Ok(Reply::Reload { outcome, retried });
        }
        Request::ProjectCreate { name, description } => {
            crate::creative::create_project(p, &name, description)
                .await
                .map(|name| Reply::ProjectCreated { name })
        }
        Request::ProjectUse { name } => crate::creative::use_project(p, &name).await.map(context),
        Request::StyleChoose { name, note } => crate::creative::choose_style(p, Some(name), note)
            .await
            .map(context),
        Request::StyleClear => crate::creative::choose_style(p, None, None)
            .await
            .map(context),
        Request::Similar { asset_id } => {
            return similar(view, asset_id)
                .await
                .map(|v| Reply::Similar(Box::new(v)));
        }
    };
    result.map_err(|e| e.to_string())
}

/// The near-duplicates of `asset_id`, from the daemon's index (or, with the visual stage off,
/// one built from the catalog's fingerprints for this question).
pub(crate) async fn similar(
    view: &DaemonView,
    asset_id: String,
) -> Result<crate::similar::SimilarView, String> {
    if !is_asset_id(&asset_id) {
        return Err(format!("{asset_id:?} is not an asset id (64 hex digits)"));
    }
    let cfg = view.config.borrow().clone();
    let catalog = view.pipeline.catalog().clone();
    let near = view.near.clone();
    tokio::task::spawn_blocking(move || {
        let near = match near {
            Some(n) => n,
            None => Arc::new(crate::near::Near::load(
                catalog.clone(),
                crate::near::thumbnails(&cfg),
            )?),
        };
        crate::similar::view(&catalog, &cfg, &near, &asset_id)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

fn is_asset_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What `alice status` shows (the control socket and the web gallery both answer with it).
pub(crate) async fn status(view: &DaemonView) -> Status {
    let cfg = view.config.borrow().clone();
    let ws = view.watch_stats.borrow().clone();
    let bus = view.pipeline.bus().stats();
    let catalog = view.pipeline.catalog().clone();
    let orphan_wait = Duration::from_secs(cfg.watch.orphan_sidecar_s);
    let (counts, orphan_sidecars) = tokio::task::spawn_blocking(move || {
        let counts = catalog.status_counts().ok().zip(catalog.context().ok());
        (
            counts,
            crate::status::orphan_sidecars(&catalog, orphan_wait),
        )
    })
    .await
    .unwrap_or_default();
    Status {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: view.started.elapsed().as_secs(),
        config: view.config_path.clone(),
        mode: cfg.mode,
        organized: cfg.organized.display().to_string(),
        inboxes: cfg
            .inboxes
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        watch: WatchStatus::from_stats(&ws),
        this_run: view.pipeline.tally().into(),
        catalog: counts.as_ref().map(|(c, _)| CatalogCounts::from(*c)),
        context: counts.map(|(_, x)| ContextStatus {
            project: x.active_project,
            style: x.active_style,
        }),
        queues: bus
            .subscribers
            .iter()
            .map(|s| QueueStatus {
                subscriber: s.name.clone(),
                queued: s.queued,
                capacity: s.capacity,
                delivered: s.delivered,
                failed: s.failed,
                dead_lettered: s.dead_lettered,
            })
            .collect(),
        observers: bus
            .observers
            .iter()
            .map(|o| ObserverStatus {
                id: o.id,
                received: o.received,
                missed: o.missed,
            })
            .collect(),
        redis: redis_status(view, &cfg).await,
        last_errors: view
            .last_errors
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default(),
        retry: {
            let (waiting, next) = view.retries.snapshot();
            crate::status::RetryStatus {
                waiting: waiting as u64,
                next_in_s: next.map(|d| d.as_secs()),
            }
        },
        orphan_sidecars,
    }
}

async fn redis_status(view: &DaemonView, cfg: &Config) -> RedisStatus {
    let Some((w, url)) = &view.redis else {
        return RedisStatus::NotConfigured("not configured".into());
    };
    // Asked of Redis, briefly: `None` while it does not answer.
    let groups = match &view.stream {
        Some(sc) if w.is_connected() => {
            match tokio::time::timeout(Duration::from_secs(1), streams::groups(sc)).await {
                Ok(Ok(list)) => Some(
                    list.into_iter()
                        .map(|g| GroupStatus {
                            group: g.name,
                            consumers: g.consumers,
                            pending: g.pending,
                            unread: g.lag,
                        })
                        .collect(),
                ),
                _ => None,
            }
        }
        _ => None,
    };
    RedisStatus::Configured(Box::new(RedisDetail {
        url: url.clone(),
        connected: w.is_connected(),
        spooled: w.spooled(),
        outages: w.outages(),
        workers: cfg
            .redis
            .as_ref()
            .map(|r| r.workers.clone())
            .unwrap_or_default(),
        groups,
    }))
}
