//! Helpers shared by the test binaries that drive the real `alice` binary (ops, redis,
//! regressions). Each binary uses a part of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const ALICE: &str = env!("CARGO_BIN_EXE_alice");
/// The committed media and AI fixtures.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../metadata/tests/fixtures");

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(cfg: &Path, dir: &Path) -> Daemon {
        let log = dir.join("daemon.log");
        let child = Command::new(ALICE)
            .args(["run", "--log-format", "json", "--config"])
            .arg(cfg)
            .env_remove("RUST_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let d = Daemon { child, log };
        d.wait_log("watching", |l| {
            l.contains("\"watching; drop files into an inbox\"")
        });
        d
    }

    pub fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| pred(l)) {
                return l.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line for {what} within 60 s; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert!(s.success(), "exit status {s}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    /// A test that fails before `stop` must not leave its daemon running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A copy-mode config in `dir` (inbox, organized, state inside), `extra` TOML before `[watch]`.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("alice.toml");
    std::fs::write(
        &cfg,
        format!(
            "inboxes = [\"{0}/inbox\"]\norganized = \"{0}/organized\"\nmode = \"copy\"\nstate_dir = \"{0}/state\"\n{extra}[watch]\nsettle_ms = 100\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// Runs an `alice` command with `--config cfg`.
pub fn alice(cfg: &Path, args: &[&str]) -> std::process::Output {
    Command::new(ALICE)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap()
}

/// Polls `cond` every 50 ms for up to 60 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file below `root`.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
