//! The test harness: one temp dir per test with its own inbox, organized tree, state dir and
//! config; the real `alice` binary as a child process; helpers to wait, signal and compare
//! trees. Nothing here is shared between tests, so they run in parallel.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tempfile::TempDir;

/// How long any condition may take before a test fails. Generous: the machine is shared.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The mtime given to dropped files: 2021-06-15 12:00:00 UTC. Files without a capture date
/// are filed under the local date of their mtime.
pub const DROP_MTIME_S: i64 = 1_623_758_400;

/// The date folder of files dropped with [`DROP_MTIME_S`] and no capture date.
pub fn drop_date() -> String {
    chrono::DateTime::from_timestamp(DROP_MTIME_S, 0)
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d")
        .to_string()
}

/// Settings of one test's config file.
#[derive(Clone, Debug)]
pub struct Opts {
    /// `copy` or `move`.
    pub mode: &'static str,
    /// `[watch] settle_ms`.
    pub settle_ms: u64,
    /// Configure `quarantine = <root>/quarantine`.
    pub quarantine: bool,
    /// Configure `duplicates = <root>/dups` (else the default `duplicates` beside organized).
    pub duplicates: bool,
    /// `template`, when not the default.
    pub template: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            mode: "copy",
            settle_ms: 150,
            quarantine: false,
            duplicates: false,
            template: None,
        }
    }
}

/// One test's world: a temp dir holding `inbox/`, `organized/`, `state/`, `config.toml`, a
/// staging folder outside the inbox (same filesystem) and the daemon's logs.
pub struct Env {
    _dir: TempDir,
    /// The temp dir.
    pub root: PathBuf,
    /// The inbox.
    pub inbox: PathBuf,
    /// The organized tree.
    pub organized: PathBuf,
    /// The state dir (catalog, lock).
    pub state: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The settings it was written with.
    pub opts: Opts,
    runs: AtomicUsize,
    drops: AtomicUsize,
}

fn toml_str(p: &Path) -> String {
    toml::Value::String(p.to_str().expect("temp paths are UTF-8").to_owned()).to_string()
}

impl Env {
    /// A copy-mode env with default settings.
    pub fn new() -> Env {
        Env::with(Opts::default())
    }

    /// An env with the given settings; creates the inbox (not organized or state: the daemon
    /// creates those).
    pub fn with(opts: Opts) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("alice-e2e-")
            .tempdir()
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        let env = Env {
            inbox: root.join("inbox"),
            organized: root.join("organized"),
            state: root.join("state"),
            config: root.join("config.toml"),
            root,
            _dir: dir,
            opts,
            runs: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
        };
        std::fs::create_dir_all(&env.inbox).unwrap();
        std::fs::create_dir_all(env.root.join("staging")).unwrap();
        std::fs::create_dir_all(env.root.join("logs")).unwrap();
        std::fs::write(&env.config, env.config_text()).unwrap();
        env
    }

    /// The config file's text.
    pub fn config_text(&self) -> String {
        let mut t = format!(
            "inboxes = [{}]\norganized = {}\nmode = \"{}\"\nstate_dir = {}\n",
            toml_str(&self.inbox),
            toml_str(&self.organized),
            self.opts.mode,
            toml_str(&self.state),
        );
        if let Some(tpl) = &self.opts.template {
            t += &format!("template = {}\n", toml::Value::String(tpl.clone()));
        }
        if self.opts.duplicates {
            t += &format!("duplicates = {}\n", toml_str(&self.duplicates()));
        }
        if self.opts.quarantine {
            t += &format!("quarantine = {}\n", toml_str(&self.quarantine()));
        }
        t += &format!("[watch]\nsettle_ms = {}\n", self.opts.settle_ms);
        t
    }

    /// Where duplicates go in move mode.
    pub fn duplicates(&self) -> PathBuf {
        if self.opts.duplicates {
            self.root.join("dups")
        } else {
            self.root.join("duplicates")
        }
    }

    /// The quarantine folder (used when `opts.quarantine`).
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// A folder outside the inbox on the same filesystem.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// Writes `bytes` in the staging folder, sets its mtime to [`DROP_MTIME_S`], then renames
    /// it to `inbox/rel` (the way a finished download lands). Returns the inbox path.
    pub fn drop_file(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
        let dest = self.inbox.join(rel);
        let n = self.drops.fetch_add(1, Ordering::Relaxed);
        let staged = self.staging().join(format!("drop-{n}"));
        write_with_mtime(&staged, bytes, DROP_MTIME_S);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::rename(&staged, &dest).unwrap();
        dest
    }

    /// Writes a file straight into the inbox (in place), with mtime [`DROP_MTIME_S`], for
    /// inboxes filled while no daemon runs.
    pub fn put_file(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
        let dest = self.inbox.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        write_with_mtime(&dest, bytes, DROP_MTIME_S);
        dest
    }

    /// Starts `alice run --config <config>` with stdout/stderr captured to files.
    pub fn start(&self) -> Daemon {
        self.start_with(&self.config)
    }

    /// Starts `alice run` with another config file (its logs still go to this env).
    pub fn start_with(&self, config: &Path) -> Daemon {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let stdout = self.root.join(format!("logs/run-{n}.stdout"));
        let stderr = self.root.join(format!("logs/run-{n}.stderr"));
        let child = alice()
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            stdout,
            stderr,
            exited: None,
        }
    }

    /// Runs `alice scan --config <config>` plus `extra` args to completion.
    pub fn scan(&self, extra: &[&str]) -> Run {
        let mut cmd = alice();
        cmd.arg("scan")
            .arg("--config")
            .arg(&self.config)
            .args(extra);
        run_to_end(cmd)
    }

    /// Runs `alice undo --last n`.
    pub fn undo(&self, n: usize) -> Run {
        let mut cmd = alice();
        cmd.arg("undo")
            .arg("--last")
            .arg(n.to_string())
            .arg("--config")
            .arg(&self.config);
        run_to_end(cmd)
    }
}

/// A bare `alice` command.
pub fn alice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alice"));
    cmd.env_remove("RUST_LOG").env_remove("ALICE_CONFIG");
    cmd
}

/// Writes `bytes` to `path` and sets its mtime.
pub fn write_with_mtime(path: &Path, bytes: &[u8], mtime_s: i64) {
    std::fs::write(path, bytes).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(mtime_s).unwrap());
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A finished one-shot command.
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// Panics (with both streams) unless the exit status is 0.
    pub fn success(self) -> Run {
        assert!(self.status.success(), "command failed: {self:?}");
        self
    }

    /// The `alice scan` summary line.
    pub fn summary(&self) -> Summary {
        Summary::parse(&self.stdout).unwrap_or_else(|| panic!("no summary line in {self:?}"))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout ---\n{}\n--- stderr (last 40 lines) ---\n{}",
            self.status,
            self.stdout,
            tail(&self.stderr, 40)
        )
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command to completion with [`TIMEOUT`]; kills it and panics on timeout.
pub fn run_to_end(mut cmd: Command) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
            panic!(
                "command did not finish within {TIMEOUT:?}: {cmd:?}\n{}",
                tail(&stderr, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The counters of `alice scan`'s summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Files organized.
    pub organized: u64,
    /// Duplicates found.
    pub duplicates: u64,
    /// Non-media files skipped.
    pub skipped: u64,
    /// Files that failed.
    pub failed: u64,
    /// Files hashed.
    pub hashed: u64,
    /// Files known by identity (not hashed again).
    pub known: u64,
}

impl Summary {
    /// Parses `organized N, duplicates N, skipped N, failed N (H files hashed, K known by
    /// identity, T s)` from the first line that starts with `organized `.
    pub fn parse(stdout: &str) -> Option<Summary> {
        let line = stdout.lines().find(|l| l.starts_with("organized "))?;
        let num_before = |label: &str| -> Option<u64> {
            let at = line.find(label)?;
            line[..at]
                .split_whitespace()
                .last()?
                .trim_start_matches('(')
                .parse()
                .ok()
        };
        let num_after = |label: &str| -> Option<u64> {
            let at = line.find(label)? + label.len();
            line[at..]
                .split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())?
                .parse()
                .ok()
        };
        Some(Summary {
            organized: num_after("organized ")?,
            duplicates: num_after("duplicates ")?,
            skipped: num_after("skipped ")?,
            failed: num_after("failed ")?,
            hashed: num_before(" files hashed")?,
            known: num_before(" known by identity")?,
        })
    }
}

/// Parses JSON lines, ignoring lines that are not JSON objects (and a partial last line).
pub fn parse_records(text: &str) -> Vec<Value> {
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// Event type names as logged in `event_type`.
pub mod ev {
    /// A file was found.
    pub const DISCOVERED: &str = "alice.asset.discovered.v1";
    /// A file was organized.
    pub const ORGANIZED: &str = "alice.asset.organized.v1";
    /// Same content is already organized.
    pub const DUPLICATE: &str = "alice.asset.duplicate.v1";
    /// Not media.
    pub const SKIPPED: &str = "alice.asset.skipped.v1";
    /// Unreadable.
    pub const FAILED: &str = "alice.asset.failed.v1";
    /// A sidecar handled on its own (placed beside media organized earlier, or waiting).
    pub const SIDECAR: &str = "alice.asset.sidecar.v1";
}

/// Records of one event type.
pub fn of_type<'a>(records: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["event_type"] == event_type)
        .collect()
}

/// Records of one event type about one inbox path.
pub fn about<'a>(records: &'a [Value], event_type: &str, path: &Path) -> Vec<&'a Value> {
    let p = path.to_string_lossy();
    records
        .iter()
        .filter(|r| r["event_type"] == event_type && r["path"].as_str() == Some(&p))
        .collect()
}

/// A running `alice run`.
pub struct Daemon {
    child: Child,
    /// Its stdout (JSON log lines).
    pub stdout: PathBuf,
    /// Its stderr.
    pub stderr: PathBuf,
    exited: Option<ExitStatus>,
}

impl Daemon {
    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Every complete JSON log record so far.
    pub fn records(&self) -> Vec<Value> {
        parse_records(&std::fs::read_to_string(&self.stdout).unwrap_or_default())
    }

    /// Records of one event type.
    pub fn events(&self, event_type: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r["event_type"] == event_type)
            .collect()
    }

    /// The last lines of both logs, for failure messages.
    pub fn context(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!(
            "--- daemon stdout (last 30 lines) ---\n{}\n--- daemon stderr ---\n{}",
            tail(&out, 30),
            tail(&err, 30)
        )
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            Some(status) => {
                self.exited = Some(status);
                false
            }
            None => true,
        }
    }

    /// Waits until `cond` holds over the log records; panics if the daemon exits first or
    /// after [`TIMEOUT`].
    pub fn wait_for(&mut self, what: &str, mut cond: impl FnMut(&[Value]) -> bool) {
        let start = Instant::now();
        loop {
            if cond(&self.records()) {
                return;
            }
            if !self.is_running() {
                panic!(
                    "daemon exited ({:?}) while waiting for: {what}\n{}",
                    self.exited,
                    self.context()
                );
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "timed out after {TIMEOUT:?} waiting for: {what}\n{}",
                    self.context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `n` records of `event_type` were logged.
    pub fn wait_events(&mut self, event_type: &str, n: usize) {
        self.wait_for(&format!("{n} × {event_type}"), |r| {
            of_type(r, event_type).len() >= n
        });
    }

    /// Waits for the start-up scan to be under way (the watcher is set up).
    pub fn wait_ready(&mut self) {
        self.wait_for("the daemon to start watching", |r| {
            r.iter().any(|x| {
                x["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("watching"))
            })
        });
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Sends SIGTERM and waits for the exit (panics after [`TIMEOUT`]).
    pub fn terminate(&mut self) -> ExitStatus {
        if self.is_running() {
            self.signal(libc::SIGTERM);
        }
        let start = Instant::now();
        while self.is_running() {
            if start.elapsed() > TIMEOUT {
                panic!(
                    "daemon did not exit within {TIMEOUT:?} of SIGTERM\n{}",
                    self.context()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exited.unwrap()
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if self.is_running() {
            self.signal(libc::SIGKILL);
        }
        let status = self.child.wait().unwrap();
        self.exited = Some(status);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a tree entry is, for before/after comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A folder (its mtime is not compared: creating and removing a temporary changes it).
    Dir,
    /// A regular file: bytes, mtime (ns) and permission bits.
    File {
        /// Content.
        bytes: Vec<u8>,
        /// Modification time in ns since the epoch.
        mtime_ns: i128,
        /// Permission bits.
        mode: u32,
    },
    /// A symlink and its target.
    Link(PathBuf),
}

/// Every entry below `root` (relative paths), without following symlinks. An absent root
/// gives an empty map.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    if root.symlink_metadata().is_err() {
        return out;
    }
    walk(root, &mut |path, meta| {
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let node = if meta.file_type().is_symlink() {
            Node::Link(std::fs::read_link(path).unwrap())
        } else if meta.is_dir() {
            Node::Dir
        } else {
            Node::File {
                bytes: std::fs::read(path).unwrap(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                mode: meta.permissions().mode(),
            }
        };
        out.insert(rel, node);
    });
    out
}

/// Calls `f` for every entry below `root` (not `root` itself), never following symlinks.
pub fn walk(root: &Path, f: &mut impl FnMut(&Path, &std::fs::Metadata)) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut entries: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = path.symlink_metadata() else {
            continue; // removed meanwhile
        };
        f(&path, &meta);
        if meta.is_dir() {
            walk(&path, f);
        }
    }
}

/// Regular files below `root`, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, &mut |p, m| {
        if m.is_file() {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// Regular files below `root`, by content: content → paths holding it.
pub fn contents(root: &Path) -> HashMap<Vec<u8>, Vec<PathBuf>> {
    let mut out: HashMap<Vec<u8>, Vec<PathBuf>> = HashMap::new();
    for p in files_under(root) {
        out.entry(std::fs::read(&p).unwrap()).or_default().push(p);
    }
    out
}

/// Entries anywhere below `root` named like the organizer's temporaries.
pub fn temporaries(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, &mut |p, _| {
        if p.file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b".alice-tmp-"))
        {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// Asserts that every content in `expected` is stored exactly once below `root` and that
/// nothing else is there.
pub fn assert_each_once(root: &Path, expected: &[&[u8]]) {
    let found = contents(root);
    let mut problems = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        match found.get(*want).map(Vec::len) {
            Some(1) => {}
            None => problems.push(format!("input #{i} ({} bytes) is missing", want.len())),
            Some(n) => problems.push(format!("input #{i} is there {n} times: {:?}", found[*want])),
        }
    }
    let wanted: std::collections::HashSet<&[u8]> = expected.iter().copied().collect();
    let extra: Vec<_> = found
        .iter()
        .filter(|(c, _)| !wanted.contains(c.as_slice()))
        .flat_map(|(_, p)| p.clone())
        .collect();
    if !extra.is_empty() {
        problems.push(format!("unexpected files: {extra:?}"));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) under {}:\n{}",
        problems.len(),
        root.display(),
        problems.join("\n")
    );
}

/// `a/b/c` as a path, for readable expectations.
pub fn rel(parts: &[&str]) -> PathBuf {
    parts.iter().collect()
}

/// A path from raw bytes (for names that are not UTF-8).
pub fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}
