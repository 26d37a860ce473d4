//! The control socket: a Unix socket in the runtime dir through which the CLI talks to a
//! running daemon (`alice status`, `alice events tail`, `alice reload`, creative commands).
//!
//! Protocol: the client sends one JSON request line; the daemon answers with one JSON line
//! `{"ok": true, "data": …}` or `{"ok": false, "error": "…"}`. `tail` instead streams one
//! CloudEvents JSON line per event, and `{"missed": N}` lines when the observer lagged.
//! The socket is mode 0600 in a 0700 folder, and the daemon also checks the peer's uid.

use std::collections::VecDeque;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::config::Config;

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the control socket of the daemon using `state_dir` lives: in `$XDG_RUNTIME_DIR/alice/`
/// (private to the user, cleared at logout), named after the state dir so several instances
/// can run side by side; `state_dir/control.sock` when there is no runtime dir.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
    {
        Some(run) => run.join("alice").join(format!(
            "{:016x}.sock",
            fnv1a(state_dir.as_os_str().as_encoded_bytes())
        )),
        None => state_dir.join("control.sock"),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the control server can see and do in the daemon.
pub struct DaemonView {
    pub pipeline: pipeline::Pipeline,
    pub started: Instant,
    pub config_path: String,
    pub config: watch::Receiver<Config>,
    pub watch_stats: watch::Receiver<Arc<watcher::WatchStats>>,
    pub reload: mpsc::Sender<&'static str>,
    pub last_errors: Arc<Mutex<VecDeque<Value>>>,
    /// The Redis writer and its redacted URL, when `[redis]` is configured.
    pub redis: Option<(Arc<streams::StreamWriter>, String)>,
    /// The stream settings, to show the consumer groups.
    pub stream: Option<streams::StreamConfig>,
}

/// Keeps the last few failures for `alice status`, from a lossy observer (never slows the
/// pipeline).
pub fn collect_errors(pipeline: &pipeline::Pipeline, keep: usize) -> Arc<Mutex<VecDeque<Value>>> {
    let store = Arc::new(Mutex::new(VecDeque::with_capacity(keep)));
    let mut obs = pipeline.bus().observe(
        bus::Filter::types([
            "alice.asset.failed.v1",
            "alice.workflow.dead_lettered.v1",
            "alice.workflow.failed.v1",
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
                q.push_back(json!({"time": m.0.time, "type": m.0.type_name(), "data": serde_json::to_value(&*m.0).ok().and_then(|v| v.get("data").cloned())}));
            }
        }
    });
    store
}

/// Binds the socket (replacing a stale one from a dead daemon) and serves until the task is
/// dropped.
pub fn serve(
    path: PathBuf,
    advertise_in: Option<&Path>,
    view: Arc<DaemonView>,
) -> Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    if path.exists() {
        // The state-dir lock guarantees no other daemon of this instance runs: it is stale.
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on control socket {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    if let Some(state_dir) = advertise_in {
        let note = state_dir.join(ADVERTISEMENT);
        if let Err(e) = std::fs::write(&note, path.as_os_str().as_bytes()) {
            tracing::warn!(path = %note.display(), error = %e, "cannot record where the control socket is; clients will compute it");
        }
    }
    tracing::info!(socket = %path.display(), "control socket ready");
    // SAFETY: getuid has no failure mode.
    let me = unsafe { libc::getuid() };
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "control socket cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
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
    }))
}

async fn handle(stream: UnixStream, view: &DaemonView) -> Result<()> {
    let (read, mut write) = stream.into_split();
    // One request line, bounded in size and time: a client that never finishes its line
    // must not hold a task or memory.
    let mut lines = BufReader::new(read.take(MAX_REQUEST)).lines();
    let line = match tokio::time::timeout(REQUEST_TIMEOUT, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => bail!("no request within {} s", REQUEST_TIMEOUT.as_secs()),
    };
    let req: Value = serde_json::from_str(&line).context("request is not JSON")?;
    let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or("");
    if cmd == "tail" {
        let pattern = req.get("type").and_then(Value::as_str).map(str::to_owned);
        return tail(pattern, write, view).await;
    }
    let reply = match respond(cmd, &req, view).await {
        Ok(data) => json!({"ok": true, "data": data}),
        Err(e) => json!({"ok": false, "error": format!("{e:#}")}),
    };
    write.write_all(format!("{reply}\n").as_bytes()).await?;
    Ok(())
}

/// `*` matches any run of characters; everything else literally.
pub fn type_matches(pattern: &str, type_name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = type_name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Streams live events to the client until it goes away. Lossy: a slow client misses events
/// (and is told how many) rather than slowing the pipeline.
async fn tail(
    pattern: Option<String>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    view: &DaemonView,
) -> Result<()> {
    let mut obs = view.pipeline.bus().observe(bus::Filter::All, 1024);
    write
        .write_all(b"{\"ok\":true,\"data\":\"tailing\"}\n")
        .await?;
    while let Some(item) = obs.recv().await {
        let line = match item {
            bus::Observed::Message(m) => {
                if pattern
                    .as_deref()
                    .is_some_and(|p| !type_matches(p, m.0.type_name()))
                {
                    continue;
                }
                m.0.to_json()
            }
            bus::Observed::Lagged(n) => json!({"missed": n}).to_string(),
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

async fn respond(cmd: &str, req: &Value, view: &DaemonView) -> Result<Value> {
    let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_owned);
    match cmd {
        "status" => Ok(status(view).await),
        "reload" => {
            view.reload
                .send("alice reload")
                .await
                .context("the daemon is stopping")?;
            Ok(json!("reload requested; see the log for what changed"))
        }
        "project_create" => {
            let name = project_name(text("name"))?;
            crate::creative::create_project(&view.pipeline, &name, text("description")).await
        }
        "project_use" => {
            let name = project_name(text("name"))?;
            crate::creative::use_project(&view.pipeline, &name).await
        }
        "style_choose" => {
            let name = text("name")
                .filter(|n| !n.trim().is_empty())
                .context("a style needs a name")?;
            crate::creative::choose_style(&view.pipeline, Some(name), text("note")).await
        }
        "style_clear" => crate::creative::choose_style(&view.pipeline, None, None).await,
        other => bail!(
            "unknown command {other:?}; this daemon knows status, tail, reload, project_create, project_use, style_choose, style_clear"
        ),
    }
}

fn project_name(name: Option<String>) -> Result<String> {
    let name = name.context("a project needs a name")?;
    crate::creative::validate_project_name(&name)?;
    Ok(name)
}

async fn status(view: &DaemonView) -> Value {
    let cfg = view.config.borrow().clone();
    // Asked of Redis, briefly: `null` while it does not answer.
    let groups = match (&view.stream, &view.redis) {
        (Some(sc), Some((w, _))) if w.is_connected() => {
            match tokio::time::timeout(std::time::Duration::from_secs(1), streams::groups(sc)).await {
                Ok(Ok(list)) => json!(
                    list.iter()
                        .map(|g| json!({"group": g.name, "consumers": g.consumers, "pending": g.pending, "unread": g.lag}))
                        .collect::<Vec<_>>()
                ),
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    };
    let ws = view.watch_stats.borrow().clone();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let bus = view.pipeline.bus().stats();
    let t = view.pipeline.tally();
    let catalog = view.pipeline.catalog().clone();
    let counts = tokio::task::spawn_blocking(move || {
        catalog.status_counts().ok().zip(catalog.context().ok())
    })
    .await
    .ok()
    .flatten();
    let errors: Vec<Value> = view
        .last_errors
        .lock()
        .map(|q| q.iter().cloned().collect())
        .unwrap_or_default();
    json!({
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": view.started.elapsed().as_secs(),
        "config": view.config_path,
        "mode": format!("{:?}", cfg.mode).to_lowercase(),
        "organized": cfg.organized,
        "inboxes": cfg.inboxes,
        "watch": {
            "watches": load(&ws.watches),
            "polling_inboxes": load(&ws.polling_inboxes),
            "rescans": load(&ws.rescans),
            "files_hashed": load(&ws.files_hashed),
            "bytes_hashed": load(&ws.bytes_hashed),
            "identity_cache_hits": load(&ws.cache_hits),
            "hashing_now": load(&ws.hashing),
        },
        "this_run": {"started": t.started, "organized": t.organized, "duplicates": t.duplicates, "skipped": t.skipped, "failed": t.failed},
        "catalog": counts.as_ref().map(|(c, _)| json!({"organized": c.organized, "duplicate": c.duplicate, "skipped": c.skipped, "failed": c.failed, "discovered": c.discovered})),
        "context": counts.as_ref().map(|(_, x)| json!({"project": x.active_project, "style": x.active_style})),
        "queues": bus.subscribers.iter().map(|s| json!({"subscriber": s.name, "queued": s.queued, "capacity": s.capacity, "delivered": s.delivered, "failed": s.failed, "dead_lettered": s.dead_lettered})).collect::<Vec<_>>(),
        "observers": bus.observers.iter().map(|o| json!({"id": o.id, "received": o.received, "missed": o.missed})).collect::<Vec<_>>(),
        "redis": match &view.redis {
            Some((w, url)) => json!({"url": url, "connected": w.is_connected(), "spooled": w.spooled(), "outages": w.outages(), "workers": cfg.redis.as_ref().map(|r| r.workers.clone()).unwrap_or_default(), "groups": groups}),
            None => json!("not configured"),
        },
        "last_errors": errors,
    })
}

/// Sends one request to the daemon of `cfg` and returns its `data`.
pub async fn request(cfg: &Config, req: Value) -> Result<Value> {
    let mut stream = connect(cfg).await?;
    stream.write_all(format!("{req}\n").as_bytes()).await?;
    let mut lines = BufReader::new(stream).lines();
    let line = lines
        .next_line()
        .await?
        .context("the daemon closed the connection without answering")?;
    let reply: Value = serde_json::from_str(&line).context("the daemon's answer is not JSON")?;
    if reply.get("ok") == Some(&Value::Bool(true)) {
        Ok(reply.get("data").cloned().unwrap_or(Value::Null))
    } else {
        bail!(
            "{}",
            reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the daemon refused the request")
        )
    }
}

/// Where a running daemon says its socket is: `state_dir/control.socket` holds the path it
/// listens on, so a client with another runtime dir (e.g. an admin talking to the system
/// service) still finds it; the computed path otherwise.
fn advertised_path(state_dir: &Path) -> PathBuf {
    std::fs::read(state_dir.join(ADVERTISEMENT))
        .ok()
        .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| socket_path(state_dir))
}

/// The file in the state dir that names the socket of the running daemon.
pub const ADVERTISEMENT: &str = "control.socket";

/// Connects to the daemon of `cfg`, with an error that says how to start one.
pub async fn connect(cfg: &Config) -> Result<UnixStream> {
    let path = advertised_path(&cfg.state_dir);
    UnixStream::connect(&path).await.with_context(|| {
        format!(
            "no alice daemon is running for state_dir {} (control socket {}); start it with `alice run` or `systemctl --user start alice`",
            cfg.state_dir.display(),
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::type_matches;

    #[test]
    fn type_patterns() {
        assert!(type_matches("alice.asset.*", "alice.asset.organized.v1"));
        assert!(type_matches("*.failed.*", "alice.asset.failed.v1"));
        assert!(type_matches(
            "alice.asset.organized.v1",
            "alice.asset.organized.v1"
        ));
        assert!(!type_matches(
            "alice.asset.organized.v1",
            "alice.asset.organized.v2"
        ));
        assert!(!type_matches("alice.workflow.*", "alice.asset.failed.v1"));
        assert!(type_matches("*", "anything"));
    }
}
