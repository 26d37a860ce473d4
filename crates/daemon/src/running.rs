//! `alice run`: start, serve (reloads, control socket, watchdog), stop.
//!
//! ```text
//! start(config, host) ─▶ Running ──serve(signals)──▶ reload(new) … ──▶ stop(deadline) ─▶ StopReport
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::Pipeline;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::control::ReloadOutcome;
use crate::control::server::{ControlServer, DaemonView, ReloadRequest};
use crate::core::{Core, RunKind, StopReport, ensure_inbox, require_organized};
use crate::diff::{ConfigDiff, Effect};
use crate::error::Result;
use crate::notify::Notifier;
use crate::signals::StopSignals;
use crate::status::Status;
use crate::watching::RunningWatcher;

/// A function the host provides.
pub type HostFn<T> = Box<dyn Fn() -> std::result::Result<T, String> + Send + Sync>;

/// Swaps the log filter; the error says why not.
pub type SetLogLevel = Box<dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync>;

/// What the process around the daemon provides: the daemon reads no files, environment or
/// flags of its own.
pub struct Host {
    /// Where the config came from (for logs and `alice status`).
    pub config_origin: String,
    /// The config file to follow for edits (it may not exist yet).
    pub config_file: Option<PathBuf>,
    /// Reads the config again, for a reload; the error names the file, line and key.
    pub load_config: HostFn<Config>,
    /// Swaps the log filter (`log.level`).
    pub set_log_level: SetLogLevel,
    /// The systemd notify target.
    pub notifier: Notifier,
    /// `$XDG_RUNTIME_DIR`, where the control socket goes.
    pub runtime_dir: Option<PathBuf>,
}

/// A running daemon.
pub struct Running {
    core: Core,
    host: Host,
    current: Config,
    watcher: RunningWatcher,
    shown: watch::Sender<Config>,
    stats: watch::Sender<Arc<watcher::WatchStats>>,
    reload_tx: mpsc::Sender<ReloadRequest>,
    reload_rx: mpsc::Receiver<ReloadRequest>,
    control: ControlServer,
    socket: PathBuf,
    background: Vec<tokio::task::JoinHandle<()>>,
    _config_watch: Option<notify::RecommendedWatcher>,
    /// Set when a reload could not restart the watcher: the daemon must stop.
    fatal: Option<String>,
    /// Files that failed for a reason that may go away.
    retries: crate::retry::Retries,
}

/// Starts the daemon: state, pipeline, recovery, watcher, control socket, metrics; returns
/// once every inbox is watched (its start-up scan under way) and systemd is told READY.
pub async fn start(cfg: Config, host: Host) -> Result<Running> {
    let mut core = Core::start(&cfg, RunKind::Watch).await?;
    let watcher = RunningWatcher::start(&cfg, &core.pipeline, core.intake.sender(), false)?;
    core.stats.push(watcher.stats.clone());
    if !core
        .intake
        .startup_scans_begun(cfg.inboxes.len(), Duration::from_secs(120))
        .await
    {
        tracing::warn!("inboxes took more than 120 s to be watched; reporting ready anyway");
    }
    let (shown, shown_rx) = watch::channel(cfg.clone());
    let (stats, stats_rx) = watch::channel(watcher.stats.clone());
    let (reload_tx, reload_rx) = mpsc::channel(8);
    let retries = crate::retry::Retries::default();
    retries
        .subscribe(core.pipeline.bus())
        .map_err(pipeline::PipelineError::from)?;
    let mut view = view(
        &core,
        &cfg,
        &host,
        shown_rx.clone(),
        stats_rx.clone(),
        reload_tx.clone(),
    );
    view.retries = retries.clone();
    let mut catching_up = None;
    if let Some(near) = &core.near {
        near.fill(core.pipeline.catalog().clone()).await?;
        view.near = Some(near.clone());
        catching_up = Some(crate::near::catch_up(&core.pipeline));
    }
    let view = Arc::new(view);
    let socket = core.layout.socket(host.runtime_dir.as_deref());
    let control = crate::control::server::serve(
        socket.clone(),
        core.layout.socket_advertisement(),
        view.clone(),
    )?;
    let mut background =
        spawn_background(&core, &cfg, &host, shown_rx, stats_rx, &reload_tx).await?;
    background.extend(catching_up);
    background.extend(crate::gallery::start(&cfg, view).await?);
    let config_watch = host
        .config_file
        .as_deref()
        .and_then(|p| watch_config_file(p, reload_tx.clone()));
    // Everything is up, config edits included: say so (tests and users wait for this line).
    tracing::info!(inboxes = ?cfg.inboxes, organized = %cfg.organized.display(), mode = ?cfg.mode, "watching; drop files into an inbox");
    host.notifier.send(&format!(
        "READY=1\nSTATUS={}",
        Status::line(cfg.inboxes.len(), &core.pipeline.tally())
    ));
    Ok(Running {
        core,
        host,
        current: cfg,
        watcher,
        shown,
        stats,
        reload_tx,
        reload_rx,
        control,
        socket,
        background,
        _config_watch: config_watch,
        fatal: None,
        retries,
    })
}

/// The heartbeat, the metrics endpoint, and SIGHUP turned into reload requests.
async fn spawn_background(
    core: &Core,
    cfg: &Config,
    host: &Host,
    shown_rx: watch::Receiver<Config>,
    stats_rx: watch::Receiver<Arc<watcher::WatchStats>>,
    reload_tx: &mpsc::Sender<ReloadRequest>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut background = vec![tokio::spawn(heartbeat(
        host.notifier.clone_target(),
        core.pipeline.clone(),
        shown_rx,
    ))];
    if let Some(m) = &core.metrics {
        background.push(
            m.clone()
                .serve(
                    cfg.metrics.listen,
                    core.pipeline.clone(),
                    stats_rx,
                    core.redis.clone(),
                )
                .await?,
        );
    }
    let hup = reload_tx.clone();
    background.push(tokio::spawn(crate::signals::forward_sighup(move || {
        hup.try_send(ReloadRequest {
            trigger: "SIGHUP",
            reply: None,
        })
        .keeps_forwarding()
    })));
    Ok(background)
}

/// What the control server sees of the daemon.
fn view(
    core: &Core,
    cfg: &Config,
    host: &Host,
    config: watch::Receiver<Config>,
    watch_stats: watch::Receiver<Arc<watcher::WatchStats>>,
    reload: mpsc::Sender<ReloadRequest>,
) -> DaemonView {
    DaemonView {
        pipeline: core.pipeline.clone(),
        started: core.started,
        config_path: host.config_origin.clone(),
        config,
        watch_stats,
        reload,
        last_errors: crate::control::server::collect_errors(&core.pipeline, 10),
        redis: core
            .redis
            .clone()
            .zip(cfg.redis.as_ref().map(|r| streams::redact(&r.url))),
        stream: core.stream.clone(),
        retries: Default::default(),
        near: None,
    }
}

trait SendOutcome {
    fn keeps_forwarding(self) -> bool;
}

impl<T> SendOutcome for std::result::Result<(), mpsc::error::TrySendError<T>> {
    /// A full queue means a reload is pending anyway; only a closed one ends forwarding.
    fn keeps_forwarding(self) -> bool {
        !matches!(self, Err(mpsc::error::TrySendError::Closed(_)))
    }
}

impl Running {
    /// The pipeline (counters, bus).
    pub fn pipeline(&self) -> &Pipeline {
        &self.core.pipeline
    }

    /// The config in effect.
    pub fn config(&self) -> &Config {
        &self.current
    }

    /// The control socket this daemon listens on.
    pub fn control_socket(&self) -> &Path {
        &self.socket
    }

    /// Serves until a stop signal (its name is returned) or a failure that ends the daemon
    /// (the watcher died, or could not restart after a reload).
    pub async fn serve(
        &mut self,
        signals: &mut StopSignals,
    ) -> std::result::Result<&'static str, String> {
        loop {
            let due = self.retries.due();
            let retry_at = tokio::time::Instant::from_std(due.unwrap_or_else(Instant::now));
            tokio::select! {
                sig = signals.recv() => return Ok(sig),
                Some(first) = self.reload_rx.recv() => self.reload_requested(first).await,
                _ = tokio::time::sleep_until(retry_at), if due.is_some() => {
                    let _ = self.retry_now("backoff").await;
                }
                res = &mut self.watcher.task => return Err(RunningWatcher::failure(res)),
            }
            if let Some(f) = self.fatal.take() {
                return Err(f);
            }
        }
    }

    /// Tries the files that failed for a passing reason again (the watcher rescans); returns
    /// how many were waiting.
    pub async fn retry_now(&mut self, why: &str) -> usize {
        let n = self.retries.take();
        if n > 0 {
            tracing::info!(files = n, trigger = why, "trying failed files again");
            let cfg = self.current.clone();
            self.restart_watcher(&cfg).await;
        }
        n
    }

    async fn restart_watcher(&mut self, cfg: &Config) {
        self.watcher.stop().await;
        match RunningWatcher::start(cfg, &self.core.pipeline, self.core.intake.sender(), true) {
            Ok(w) => {
                self.core.stats.push(w.stats.clone());
                let _ = self.stats.send(w.stats.clone());
                self.watcher = w;
            }
            Err(e) => self.fatal = Some(format!("cannot restart the watcher: {e}")),
        }
    }

    async fn reload_requested(&mut self, first: ReloadRequest) {
        // Editors write in several steps: let them finish, then read once.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut waiting = vec![first];
        while let Ok(r) = self.reload_rx.try_recv() {
            waiting.push(r);
        }
        self.host.notifier.reloading();
        let outcome = self.reload_from_host(waiting[0].trigger).await;
        // A reload is also the user's way to say "the cause is fixed": try failed files now.
        let retried = self.retry_now("reload").await as u64;
        for r in waiting {
            if let Some(tx) = r.reply {
                let _ = tx.send((outcome.clone(), retried));
            }
        }
        self.host.notifier.send(&format!(
            "READY=1\nSTATUS={}",
            Status::line(self.current.inboxes.len(), &self.core.pipeline.tally())
        ));
    }

    /// Reads the config through the host and applies it.
    pub async fn reload_from_host(&mut self, trigger: &str) -> ReloadOutcome {
        match (self.host.load_config)() {
            Ok(new) => self.reload(new, trigger).await,
            Err(reason) => {
                tracing::error!(trigger, error = %reason, "config edit rejected; the running config stays");
                ReloadOutcome::Rejected { reason }
            }
        }
    }

    /// Diff → validate → apply. A rejected edit changes nothing at all.
    pub async fn reload(&mut self, new: Config, trigger: &str) -> ReloadOutcome {
        let diff = ConfigDiff::between(&self.current, &new);
        if diff.is_empty() {
            tracing::debug!(trigger, "config unchanged");
            return ReloadOutcome::Unchanged;
        }
        let restart: Vec<String> = diff
            .keys(Effect::Restart)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for key in &restart {
            tracing::warn!(
                key,
                "this key cannot change while running; it takes effect after a restart"
            );
        }
        if diff.live_keys().is_empty() {
            return ReloadOutcome::NeedsRestart { keys: restart };
        }
        let next = diff.running_config(&self.current, &new);
        let settings = match validate_reload(&diff, &next) {
            Ok(s) => s,
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(trigger, error = %reason, "config edit rejected; the running config stays");
                return ReloadOutcome::Rejected { reason };
            }
        };
        let changed = self.apply(&diff, next, settings).await;
        tracing::info!(trigger, changed = ?changed, needs_restart = ?restart, "config reloaded; changes apply to files discovered from now on");
        ReloadOutcome::Applied {
            changed,
            needs_restart: restart,
        }
    }

    async fn apply(
        &mut self,
        diff: &ConfigDiff,
        mut next: Config,
        settings: Option<pipeline::Settings>,
    ) -> Vec<String> {
        let mut changed: Vec<String> = Vec::new();
        if diff.has(Effect::LogLevel) {
            match (self.host.set_log_level)(&next.log.level) {
                Ok(()) => changed.push("log.level".into()),
                Err(e) => {
                    tracing::warn!(error = %e, "log.level not applied");
                    next.log.level = self.current.log.level.clone();
                }
            }
        }
        if let Some(s) = settings {
            self.core.pipeline.update_settings(s);
            changed.extend(diff.keys(Effect::Organizer).into_iter().map(str::to_owned));
        }
        if diff.has(Effect::Watcher) {
            self.restart_watcher(&next).await;
            if self.fatal.is_none() {
                tracing::info!(inboxes = ?next.inboxes, "watcher restarted with the new settings");
            }
            changed.extend(diff.keys(Effect::Watcher).into_iter().map(str::to_owned));
        }
        let _ = self.shown.send(next.clone());
        self.current = next;
        changed
    }

    /// Stops watching, finishes files in flight within `deadline`, and reports. `failure`
    /// is why the daemon stops, when it is not a signal.
    pub async fn stop(mut self, failure: Option<String>, deadline: Duration) -> StopReport {
        self.host
            .notifier
            .send("STOPPING=1\nSTATUS=stopping: finishing files in flight");
        drop(self.control);
        self.watcher.stop().await;
        for task in &self.background {
            task.abort();
        }
        drop(self.reload_tx);
        self.core.finish(failure, deadline).await
    }
}

/// The organizer settings a reload needs, checked before anything is applied.
fn validate_reload(diff: &ConfigDiff, next: &Config) -> Result<Option<pipeline::Settings>> {
    next.validate()?;
    if diff.has(Effect::Watcher) {
        for inbox in &next.inboxes {
            ensure_inbox(inbox)?;
        }
    }
    if diff.has(Effect::Organizer) {
        require_organized(&next.organized)?;
        return Ok(Some(next.settings()?));
    }
    Ok(None)
}

/// Runs `alice run`: start, serve until SIGINT/SIGTERM or a failure, stop within 30 s.
pub async fn watch(cfg: Config, host: Host, mut signals: StopSignals) -> Result<StopReport> {
    let mut running = start(cfg, host).await?;
    let failure = match running.serve(&mut signals).await {
        Ok(sig) => {
            tracing::info!(signal = sig, "stopping: finishing files in flight");
            None
        }
        Err(msg) => {
            tracing::error!(error = %msg, "stopping");
            Some(msg)
        }
    };
    // Within systemd's TimeoutStopSec: what does not finish is found again by the next start.
    Ok(running.stop(failure, Duration::from_secs(30)).await)
}

/// No delivery for this long while events wait counts as stuck.
const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// Pings the systemd watchdog while the pipeline makes progress (or has nothing to do), and
/// refreshes the STATUS line.
async fn heartbeat(notifier: Notifier, pipeline: Pipeline, cfg: watch::Receiver<Config>) {
    let every = notifier
        .watchdog_every
        .unwrap_or(Duration::from_secs(5))
        .min(Duration::from_secs(5));
    let mut last_delivered = 0u64;
    let mut stuck_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let stats = pipeline.bus().stats();
        let queued: u64 = stats.subscribers.iter().map(|s| s.queued as u64).sum();
        let delivered: u64 = stats.subscribers.iter().map(|s| s.delivered).sum();
        let progressing = queued == 0 || delivered != last_delivered;
        last_delivered = delivered;
        stuck_since = if progressing {
            None
        } else {
            stuck_since.or(Some(Instant::now()))
        };
        // A handler may legitimately take a long while on a huge file on a slow disk, and a
        // restart would only start that copy over: call the pipeline stuck after
        // STUCK_AFTER without any progress.
        let healthy = stuck_since.is_none_or(|t| t.elapsed() < STUCK_AFTER);
        let inboxes = cfg.borrow().inboxes.len();
        let mut msg = format!("STATUS={}", Status::line(inboxes, &pipeline.tally()));
        if healthy && notifier.watchdog_every.is_some() {
            msg.push_str("\nWATCHDOG=1");
        } else if !healthy {
            tracing::error!(
                queued,
                minutes = STUCK_AFTER.as_secs() / 60,
                "pipeline made no progress; withholding watchdog pings"
            );
        }
        notifier.send(&msg);
    }
}

/// Watches the config file's folder (editors replace files rather than write them in place).
fn watch_config_file(
    path: &Path,
    tx: mpsc::Sender<ReloadRequest>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let dir = path.parent()?.to_path_buf();
    let name = path.file_name()?.to_owned();
    if !dir.is_dir() {
        tracing::info!(folder = %dir.display(), "the config folder does not exist; after writing a config there, run `alice reload` or send SIGHUP");
        return None;
    }
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !ev.kind.is_access()
            && ev
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            let _ = tx.try_send(ReloadRequest {
                trigger: "config file changed",
                reply: None,
            });
        }
    };
    let watched = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&dir, notify::RecursiveMode::NonRecursive)
            .map(|()| w)
    });
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(path = %dir.display(), error = %e, "cannot watch the config folder; reload with SIGHUP or `alice reload`");
            None
        }
    }
}
