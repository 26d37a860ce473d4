//! The daemon with `[redis]`: every event lands in a Redis stream that tools other than ours
//! can read, survives a Redis outage (local spool, appended in order when Redis is back), and
//! can be replayed. Each test starts its own `redis-server` on a free loopback port with its
//! own data dir and AOF on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use support::{ALICE, Daemon, FIXTURES, files_under, wait_for};

struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Redis {
            child: None,
            port,
            dir: dir.to_path_buf(),
        };
        std::fs::create_dir_all(dir).unwrap();
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: apt-get install redis-server");
        self.child = Some(child);
        wait_for("redis-server to answer PING", || {
            self.cli(&["PING"]).trim() == "PONG"
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw"])
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Every entry's `event` field, in stream order, parsed as JSON.
    fn events(&self) -> Vec<serde_json::Value> {
        let raw = self.cli(&["XRANGE", "alice:events", "-", "+"]);
        let lines: Vec<&str> = raw.lines().collect();
        lines
            .windows(2)
            .filter(|w| w[0] == "event")
            .map(|w| {
                serde_json::from_str(w[1]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", w[1]))
            })
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(dir: &Path, port: u16) -> PathBuf {
    let cfg = dir.join("alice.toml");
    std::fs::write(
        &cfg,
        format!(
            "inboxes = [\"{0}/inbox\"]\norganized = \"{0}/organized\"\nmode = \"move\"\nstate_dir = \"{0}/state\"\n[watch]\nsettle_ms = 100\n[redis]\nurl = \"redis://127.0.0.1:{port}/0\"\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// Unique valid PNGs: the fixture with a private chunk before IEND.
fn drop_pngs(inbox: &Path, tag: &str, n: usize) {
    let png = std::fs::read(format!("{FIXTURES}/media/creation_time.png")).unwrap();
    let (body, iend) = png.split_at(png.len() - 12);
    for i in 0..n {
        let data = format!("{tag}-{i}");
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"prVt");
        chunk.extend_from_slice(data.as_bytes());
        let mut crc_in = b"prVt".to_vec();
        crc_in.extend_from_slice(data.as_bytes());
        chunk.extend_from_slice(&crc32(&crc_in).to_be_bytes());
        let staging = inbox.parent().unwrap().join(format!("{tag}-{i}.png"));
        std::fs::write(&staging, [body, &chunk, iend].concat()).unwrap();
        std::fs::rename(&staging, inbox.join(format!("{tag}-{i}.png"))).unwrap();
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn events_land_in_the_stream_readable_by_redis_cli_and_replayable() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let cfg = config(dir.path(), redis.port);
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    let daemon = Daemon::start(&cfg, dir.path());
    drop_pngs(&dir.path().join("inbox"), "a", 3);
    wait_for("3 files organized", || {
        files_under(&dir.path().join("organized")).len() == 3
    });
    daemon.stop();

    let events = redis.events();
    let organized: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "alice.asset.organized.v1")
        .collect();
    assert_eq!(organized.len(), 3, "{events:#?}");
    for e in &events {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["datacontenttype"], "application/json");
        assert!(
            e["id"].is_string()
                && e["source"].is_string()
                && e["time"].is_string()
                && e["data"].is_object(),
            "{e}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "alice.workflow.run_started.v1")
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "alice.workflow.completed.v1"),
        "shutdown events reach Redis too"
    );

    // `alice events replay` prints the same events; --type filters.
    let out = Command::new(ALICE)
        .args(["events", "replay", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        events.len()
    );
    let out = Command::new(ALICE)
        .args([
            "events",
            "replay",
            "--type",
            "alice.asset.organized.v1",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

#[test]
fn a_redis_outage_during_an_import_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Redis::start(&dir.path().join("redis"));
    let cfg = config(dir.path(), redis.port);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let daemon = Daemon::start(&cfg, dir.path());
    let log = daemon.log.clone();

    drop_pngs(&inbox, "before", 10);
    wait_for("10 organized", || {
        files_under(&dir.path().join("organized")).len() == 10
    });
    redis.kill(); // SIGKILL; AOF (appendfsync always) keeps what was acknowledged
    drop_pngs(&inbox, "during", 15);
    wait_for("25 organized while Redis is down", || {
        files_under(&dir.path().join("organized")).len() == 25
    });
    std::thread::sleep(Duration::from_millis(500));
    redis.spawn(); // same port, same data dir
    drop_pngs(&inbox, "after", 5);
    wait_for("30 organized", || {
        files_under(&dir.path().join("organized")).len() == 30
    });
    let status = || {
        let out = Command::new(ALICE)
            .args(["status", "--json", "--config"])
            .arg(&cfg)
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    wait_for("the spool to drain", || {
        let s = status();
        s["redis"]["connected"] == true && s["redis"]["spooled"] == 0
    });
    daemon.stop();

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("Redis unreachable").count(),
        1,
        "the outage is logged once, not per event"
    );
    assert_eq!(text.matches("Redis reachable again").count(), 1);

    let events = redis.events();
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "an event is in the stream twice");
    let organized = events
        .iter()
        .filter(|e| e["type"] == "alice.asset.organized.v1")
        .count();
    assert_eq!(
        organized, 30,
        "every file's organized event is in the stream"
    );
    // Per asset, the stream keeps the pipeline's order.
    let stage = |t: &str| {
        [
            "alice.asset.discovered.v1",
            "alice.asset.metadata_extracted.v1",
            "alice.asset.organized.v1",
        ]
        .iter()
        .position(|s| *s == t)
    };
    let mut last: std::collections::HashMap<String, usize> = Default::default();
    for e in &events {
        if let (Some(asset), Some(st)) = (e["subject"].as_str(), stage(e["type"].as_str().unwrap()))
        {
            let prev = last.insert(asset.to_owned(), st);
            assert!(
                prev.is_none_or(|p| p < st),
                "out of order for {asset}: {} after stage {prev:?}; that asset's events: {:#?}",
                e["type"],
                events
                    .iter()
                    .filter(|x| x["subject"] == asset)
                    .map(|x| (
                        x["type"].clone(),
                        x["id"].clone(),
                        x["time"].clone(),
                        x["data"]["path"].clone(),
                        x["data"]["kind"].clone()
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }
    // The password never shows: config show masks it.
    let with_pw = dir.path().join("pw.toml");
    std::fs::write(
        &with_pw,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("redis://127.0.0.1", "redis://alice:hunter2@127.0.0.1"),
    )
    .unwrap();
    let out = Command::new(ALICE)
        .args(["config", "show", "--config"])
        .arg(&with_pw)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("alice:***@127.0.0.1") && !shown.contains("hunter2"),
        "{shown}"
    );
}
