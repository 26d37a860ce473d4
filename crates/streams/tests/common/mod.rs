//! A real `redis-server` per test: its own free loopback port, its own temp dir, AOF with
//! `appendfsync always`, killed when the guard drops.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streams::StreamConfig;

/// Generous: the machine is shared and slow at times.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct RedisServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
            listener.local_addr().expect("local addr").port()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts (again) on the same port and data dir: AOF brings the data back.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let spawned = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--dir"])
            .arg(&data)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--logfile")
            .arg(data.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; these tests need a real one: apt-get install -y redis-server"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.path().join("data/redis.log"))
                    .unwrap_or_default();
                panic!(
                    "redis-server exited with {status} on port {}:\n{log}",
                    self.port
                );
            }
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} never answered PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// SIGKILL: no shutdown, no final fsync; only what AOF already has survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A config with short timings so reclaim and blocking reads turn over quickly.
    pub fn config(&self, spool_dir: &Path) -> StreamConfig {
        let mut cfg = StreamConfig::new(self.url(), spool_dir);
        cfg.consumer = "test-consumer".to_owned();
        cfg.block = Duration::from_millis(200);
        cfg.claim_idle = Duration::from_millis(200);
        cfg.timeout = Duration::from_secs(10);
        cfg
    }

    /// Runs `redis-cli` (another client than ours) and returns its raw output lines.
    pub fn cli(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"])
            .args(args)
            .output()
            .expect("run redis-cli (comes with redis-server: apt-get install -y redis-server)");
        assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
        String::from_utf8(out.stdout)
            .expect("utf-8 output")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `XRANGE key - +` through redis-cli: (entry id, fields in order).
    pub fn xrange(&self, key: &str) -> Vec<(String, Vec<(String, String)>)> {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--json",
                "XRANGE",
                key,
                "-",
                "+",
            ])
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli XRANGE failed: {out:?}");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("redis-cli --json output");
        v.as_array()
            .expect("XRANGE reply is an array")
            .iter()
            .map(|e| {
                let id = e[0].as_str().expect("entry id").to_owned();
                let flat: Vec<String> = e[1]
                    .as_array()
                    .expect("field list")
                    .iter()
                    .map(|f| f.as_str().expect("field text").to_owned())
                    .collect();
                let fields = flat
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect();
                (id, fields)
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

/// A real CloudEvents event of the project: (id, type, JSON).
pub fn event(n: usize) -> (String, String, String) {
    let e = events::Event::new(
        "/alice/test",
        events::ProjectCreated {
            name: format!("project-{n}"),
            description: Some(format!("event number {n}")),
        },
    );
    (e.id.clone(), e.type_name().to_owned(), e.to_json())
}

/// Collects log output of the current thread (tests run on a current-thread runtime).
#[derive(Clone, Default)]
pub struct LogCapture(pub Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures this thread's log records until the guard is dropped.
    pub fn install() -> (LogCapture, tracing::subscriber::DefaultGuard) {
        let logs = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Polls `cond` until it holds, failing the test after [`PATIENCE`].
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
