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
    let out = support::alice(&cfg, &["events", "replay"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        events.len()
    );
    let out = support::alice(
        &cfg,
        &["events", "replay", "--type", "alice.asset.organized.v1"],
    );
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
        let out = support::alice(&cfg, &["status", "--json"]);
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

    // The stream is at-least-once (streams::StreamWriter: a pipeline that fails half-way as
    // Redis goes away is sent again, so an entry can appear twice with the same event id);
    // readers de-duplicate on the id, and so does this check.
    let events = distinct_ids(redis.events());
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
    let out = support::alice(&with_pw, &["config", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("alice:***@127.0.0.1") && !shown.contains("hunter2"),
        "{shown}"
    );
}

// ----- consumer groups and workers ------------------------------------------------------------

/// A config like [`config`], with extra `[redis]` keys.
fn config_with(dir: &Path, port: u16, redis_extra: &str) -> PathBuf {
    let cfg = config(dir, port);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(redis_extra);
    text.push('\n');
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A temp dir with its own Redis, a config with `redis_extra` under `[redis]`, and an inbox.
fn setup(redis_extra: &str) -> (tempfile::TempDir, Redis, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let cfg = config_with(dir.path(), redis.port, redis_extra);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    (dir, redis, cfg, inbox)
}

/// `alice worker <stage>` as a child process, logging JSON to `<dir>/worker-<name>.log`.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(cfg: &Path, dir: &Path, stage: &str, name: &str) -> Worker {
        let w = Worker::spawn(cfg, dir, stage, name);
        wait_for(&format!("worker {name} to run"), || {
            w.text().contains("reading the consumer group")
        });
        w
    }

    /// Starts the worker without waiting for it to read its group.
    fn spawn(cfg: &Path, dir: &Path, stage: &str, name: &str) -> Worker {
        let log = dir.join(format!("worker-{name}.log"));
        let child = Command::new(ALICE)
            .args(["worker", stage, "--consumer", name, "--log-format", "json"])
            .arg("--config")
            .arg(cfg)
            .env_remove("RUST_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "worker exit status {status}");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kill9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Pending entries of `group` (the first line of the summary form of XPENDING).
fn pending(redis: &Redis, group: &str) -> u64 {
    redis
        .cli(&["XPENDING", "alice:events", group])
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// A stream entry id as numbers, to compare.
fn entry_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.trim().split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// The group's last-delivered-id (XINFO GROUPS).
fn last_delivered(redis: &Redis, group: &str) -> (u64, u64) {
    let raw = redis.cli(&["XINFO", "GROUPS", "alice:events"]);
    let lines: Vec<&str> = raw.lines().collect();
    let mut current = None;
    for w in lines.windows(2) {
        match w[0] {
            "name" => current = Some(w[1]),
            "last-delivered-id" if current == Some(group) => return entry_id(w[1]),
            _ => {}
        }
    }
    panic!("no group {group}: {raw}")
}

/// Stream ids of the entries of type `ty`, in order.
fn ids_of_type(redis: &Redis, ty: &str) -> Vec<(u64, u64)> {
    let raw = redis.cli(&["XRANGE", "alice:events", "-", "+"]);
    let lines: Vec<&str> = raw.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // --raw prints: id, then field/value lines; an id looks like "<ms>-<seq>".
    while i < lines.len() {
        let l = lines[i];
        if l.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }) && lines.get(i + 1) == Some(&"type")
            && lines.get(i + 2) == Some(&ty)
        {
            out.push(entry_id(l));
        }
        i += 1;
    }
    out
}

/// True when `group` has read every entry of type `ty` and acknowledged all it read.
fn group_done(redis: &Redis, group: &str, ty: &str) -> bool {
    let last = ids_of_type(redis, ty).last().copied().unwrap_or((0, 0));
    pending(redis, group) == 0 && last_delivered(redis, group) >= last
}

/// The stream's events with repeated entries of one event id (an append the writer had to
/// send again) kept once, in stream order.
fn distinct_ids(events: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut seen = std::collections::HashSet::new();
    events
        .into_iter()
        .filter(|e| seen.insert(e["id"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// Events per asset of one type, from the stream (each event id once).
fn per_asset(events: &[serde_json::Value], ty: &str) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for e in events
        .iter()
        .filter(|e| e["type"] == ty && seen.insert(e["id"].as_str().unwrap_or("")))
    {
        *out.entry(e["subject"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    out
}

/// Every file organized once, every asset with exactly one extraction and one outcome in the
/// stream, nothing failed, nothing left pending or unread by the stage groups.
fn assert_exactly_once(dir: &Path, redis: &Redis, files: usize) {
    assert_eq!(files_under(&dir.join("organized")).len(), files);
    assert!(
        files_under(&dir.join("inbox")).is_empty(),
        "move mode empties the inbox"
    );
    let events = redis.events();
    let extracted = per_asset(&events, "alice.asset.metadata_extracted.v1");
    let organized = per_asset(&events, "alice.asset.organized.v1");
    assert_eq!(organized.len(), files, "{organized:?}");
    assert!(
        organized
            .values()
            .chain(extracted.values())
            .all(|&n| n == 1),
        "an asset was handled twice: extracted {extracted:?} organized {organized:?}"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "alice.asset.failed.v1"),
        "nothing fails"
    );
    for (group, ty) in [
        ("metadata", "alice.asset.discovered.v1"),
        ("organizer", "alice.asset.metadata_extracted.v1"),
        ("catalog", "alice.asset.organized.v1"),
    ] {
        assert!(
            group_done(redis, group, ty),
            "group {group} left {ty} entries unread or pending: {}",
            redis.cli(&["XINFO", "GROUPS", "alice:events"])
        );
    }
}

#[test]
fn a_metadata_worker_in_its_own_process_feeds_the_daemon() {
    let (dir, redis, cfg, inbox) = setup("workers = [\"metadata\"]");
    let daemon = Daemon::start(&cfg, dir.path());
    drop_pngs(&inbox, "w", 6);
    daemon.wait_log("6 discoveries", |_| {
        std::fs::read_to_string(&daemon.log)
            .unwrap_or_default()
            .matches("\"discovered\"")
            .count()
            == 6
    });
    assert!(
        files_under(&dir.path().join("organized")).is_empty(),
        "without a metadata worker the files wait in the stream"
    );
    let out = support::alice(&cfg, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["redis"]["workers"], serde_json::json!(["metadata"]));
    // The files wait, unread, in the metadata group: status shows it.
    let groups = status["redis"]["groups"].as_array().unwrap();
    let metadata = groups.iter().find(|g| g["group"] == "metadata").unwrap();
    assert_eq!(metadata["consumers"], 0, "{groups:?}");
    assert!(metadata["unread"].as_u64().unwrap() >= 6, "{groups:?}");
    let human = support::alice(&cfg, &["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("groups     ") && human.contains("metadata 0 pending"),
        "{human}"
    );
    let worker = Worker::start(&cfg, dir.path(), "metadata", "w1");
    // A second worker under the same name is refused: they would share a spool and a
    // pending list.
    let twin = support::alice(&cfg, &["worker", "metadata", "--consumer", "w1"]);
    assert!(!twin.status.success());
    assert!(
        String::from_utf8_lossy(&twin.stderr).contains("--consumer"),
        "{}",
        String::from_utf8_lossy(&twin.stderr)
    );
    wait_for("6 organized", || {
        files_under(&dir.path().join("organized")).len() == 6
    });
    worker.stop();
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, 6);
    let events = redis.events();
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "alice.asset.metadata_extracted.v1")
            .all(|e| e["source"] == "/alice/metadata"),
        "extractions come from the worker"
    );
}

#[test]
fn a_visual_worker_fingerprints_for_the_daemon_index() {
    let (dir, redis, cfg, inbox) = setup("workers = [\"visual\"]\n[visual]\nffmpeg = \"\"");
    let daemon = Daemon::start(&cfg, dir.path());
    // One picture with different private chunks: three files, one picture.
    drop_pngs(&inbox, "v", 3);
    wait_for("3 organized", || {
        files_under(&dir.path().join("organized")).len() == 3
    });
    let visualized = |redis: &Redis| {
        redis
            .events()
            .into_iter()
            .filter(|e| e["type"] == "alice.asset.visualized.v1")
            .count()
    };
    assert_eq!(
        visualized(&redis),
        0,
        "the daemon leaves the stage to workers"
    );
    let worker = Worker::start(&cfg, dir.path(), "visual", "v1");
    wait_for("3 visualized", || visualized(&redis) == 3);
    assert!(
        redis
            .events()
            .iter()
            .filter(|e| e["type"] == "alice.asset.visualized.v1")
            .all(|e| e["source"] == "/alice/visual" && e["data"]["fingerprint"].is_string())
    );
    // The daemon's index learns the worker's fingerprints from the stream.
    let one = files_under(&dir.path().join("organized")).remove(0);
    let mut found = 0;
    wait_for("the daemon to index the worker's fingerprints", || {
        let out = support::alice(&cfg, &["similar", "--json", one.to_str().unwrap()]);
        let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        found = view["matches"].as_array().map_or(0, Vec::len);
        found == 2
    });
    worker.stop();
    daemon.stop();
}

#[test]
fn a_worker_killed_with_pending_entries_leaves_them_to_another() {
    let (dir, redis, cfg, inbox) = setup("workers = [\"metadata\"]\nclaim_idle_ms = 1000");
    let daemon = Daemon::start(&cfg, dir.path());
    let mut a = Worker::start(&cfg, dir.path(), "metadata", "a");
    // Frozen inside its blocking read: Redis still hands it the next entries, which then sit
    // in its pending list, never acknowledged. Frozen between two reads (a sub-millisecond
    // window), it gets nothing: let it run, handle that wave, and freeze it again.
    let held_by_a = || {
        redis
            .cli(&["XPENDING", "alice:events", "metadata"])
            .lines()
            .any(|l| l == "a")
    };
    let mut dropped = 0;
    for wave in 0..5 {
        a.signal(libc::SIGSTOP);
        drop_pngs(&inbox, &format!("k{wave}"), 12);
        dropped += 12;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !held_by_a() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if held_by_a() {
            break;
        }
        a.signal(libc::SIGCONT);
        wait_for("the unfrozen worker to finish its wave", || {
            files_under(&dir.path().join("organized")).len() == dropped
        });
    }
    assert!(held_by_a(), "the frozen worker never received entries");
    kill9(&mut a.child);

    // Two workers share what is left; the dead one's entries go to them after claim_idle.
    let b = Worker::start(&cfg, dir.path(), "metadata", "b");
    let c = Worker::start(&cfg, dir.path(), "metadata", "c");
    wait_for("every file organized", || {
        files_under(&dir.path().join("organized")).len() == dropped
    });
    wait_for("the dead worker's entries to be reclaimed", || {
        (b.text() + &c.text()).contains("reclaimed entries idle with another consumer")
    });
    b.stop();
    c.stop();
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, dropped);
}

#[test]
fn a_daemon_killed_after_appending_handles_the_events_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    // First run: discoveries are appended, but nothing extracts them (no metadata worker).
    let cfg = config_with(dir.path(), redis.port, "workers = [\"metadata\"]");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut daemon = Daemon::start(&cfg, dir.path());
    drop_pngs(&inbox, "r", 8);
    wait_for("8 discoveries in the stream", || {
        redis
            .events()
            .iter()
            .filter(|e| e["type"] == "alice.asset.discovered.v1")
            .count()
            == 8
    });
    assert!(
        last_delivered(&redis, "metadata") < ids_of_type(&redis, "alice.asset.discovered.v1")[0],
        "appended, not handled"
    );
    kill9(&mut daemon.child);

    // Second run with the stage back in process: the group's entries are handled, and the
    // start-up scan finding the same files does not handle them a second time.
    let cfg = config(dir.path(), redis.port);
    let log = dir.path().join("daemon.log");
    let _ = std::fs::rename(&log, dir.path().join("daemon-1.log"));
    let daemon = Daemon::start(&cfg, dir.path());
    wait_for("8 organized", || {
        files_under(&dir.path().join("organized")).len() == 8
    });
    let text = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(
        text.lines().any(|l| l.contains("caught up with the stream")
            && l.contains("\"group\":\"metadata\"")
            && l.contains("\"events\":8")),
        "the stream's 8 discoveries were handled before the scan:\n{text}"
    );
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, 8);
}

#[test]
fn a_poison_entry_goes_to_the_dead_letters_and_the_pipeline_goes_on() {
    let (dir, redis, cfg, inbox) = setup("max_deliveries = 2\nclaim_idle_ms = 300");
    let daemon = Daemon::start(&cfg, dir.path());
    redis.cli(&[
        "XADD",
        "alice:events",
        "*",
        "type",
        "alice.asset.discovered.v1",
        "id",
        "poison-1",
        "event",
        "{\"specversion\": \"1.0\", \"this is\": \"not an event\"",
    ]);
    wait_for("the poison entry in the dead-letter stream", || {
        let dead = redis.cli(&["XRANGE", "alice:dead", "-", "+"]);
        dead.contains("poison-1") && dead.contains("metadata")
    });
    let dead = redis.cli(&["XRANGE", "alice:dead", "-", "+"]);
    assert!(dead.contains("max_deliveries 2"), "{dead}");
    // Kept in the dead-letter stream for a human; gone from the event stream for the checks.
    let raw = redis.cli(&["XRANGE", "alice:events", "-", "+"]);
    let lines: Vec<&str> = raw.lines().collect();
    let at = lines.iter().position(|l| *l == "poison-1").unwrap();
    redis.cli(&["XDEL", "alice:events", lines[at - 4]]);
    drop_pngs(&inbox, "p", 3);
    wait_for("3 organized after the poison", || {
        files_under(&dir.path().join("organized")).len() == 3
    });
    let text = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(text.contains("left pending"), "the bad entry is logged");
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, 3);
    // Announced as an event too: recorded, listed by `alice status`, counted by the metrics.
    let announced: Vec<_> = redis
        .events()
        .into_iter()
        .filter(|e| {
            e["type"] == "alice.workflow.dead_lettered.v1" && e["data"]["event_id"] == "poison-1"
        })
        .collect();
    assert!(
        announced
            .iter()
            .any(|e| e["data"]["subscriber"] == "metadata-group" && e["source"] == "/alice/streams"),
        "{announced:#?}"
    );
}

#[test]
fn redis_killed_mid_stream_with_aof_redelivers_nothing_done_and_loses_nothing() {
    let (dir, mut redis, cfg, inbox) = setup("workers = [\"metadata\"]");
    let daemon = Daemon::start(&cfg, dir.path());
    let worker = Worker::start(&cfg, dir.path(), "metadata", "m1");
    drop_pngs(&inbox, "x", 10);
    wait_for("10 organized", || {
        files_under(&dir.path().join("organized")).len() == 10
    });
    redis.kill(); // SIGKILL, AOF with appendfsync always
    drop_pngs(&inbox, "y", 10);
    std::thread::sleep(Duration::from_millis(1500));
    redis.spawn();
    wait_for("20 organized after Redis is back", || {
        files_under(&dir.path().join("organized")).len() == 20
    });
    worker.stop();
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, 20);
}

#[test]
fn a_worker_says_what_is_missing_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let plain = support::config(dir.path(), "");
    let out = support::alice(&plain, &["worker", "metadata"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no [redis] section"), "{err}");

    // The stage is not left to workers: the daemon runs it itself.
    let cfg = config(dir.path(), 1);
    let out = support::alice(&cfg, &["worker", "organizer"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("redis.workers") && err.contains("organizer"),
        "{err}"
    );

    let out = support::alice(&cfg, &["worker", "catalog"]);
    assert!(!out.status.success(), "the catalog cannot be a worker");
}

#[test]
fn metadata_and_organizer_workers_do_all_the_work_while_the_daemon_records() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (dir, redis, cfg, inbox) = setup(&format!(
        "workers = [\"metadata\", \"organizer\"]\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:{port}\""
    ));
    let daemon = Daemon::start(&cfg, dir.path());
    let meta = Worker::start(&cfg, dir.path(), "metadata", "m");
    let org = Worker::start(&cfg, dir.path(), "organizer", "o");
    drop_pngs(&inbox, "both", 8);
    wait_for("8 organized by the workers", || {
        files_under(&dir.path().join("organized")).len() == 8
    });
    // The daemon's catalog records what the workers produced: `alice search` finds them.
    wait_for("8 organized in the catalog", || {
        let out = support::alice(&cfg, &["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|s| s["catalog"]["organized"] == 8 && s["this_run"]["organized"] == 8)
    });
    // The daemon's metrics count the workers' events once each, though they never crossed
    // its bus.
    let scrape = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    wait_for("the workers' events in the metrics", || {
        let body = scrape();
        body.contains("alice_events_total{type=\"alice.asset.metadata_extracted.v1\"} 8")
            && body.contains("alice_outcomes_total{outcome=\"organized\"} 8")
            && body.contains("alice_events_total{type=\"alice.asset.discovered.v1\"} 8")
    });
    meta.stop();
    org.stop();
    daemon.stop();
    assert_exactly_once(dir.path(), &redis, 8);
    let events = redis.events();
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "alice.asset.organized.v1")
            .all(|e| e["source"] == "/alice/organizer")
    );
}

#[test]
fn one_stream_per_daemon_and_workers_only_beside_a_daemon_that_left_them_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(a_dir.join("inbox")).unwrap();
    let a_cfg = config(&a_dir, redis.port);
    let daemon = Daemon::start(&a_cfg, &a_dir);

    // A second daemon (its own inbox and state) on the same stream would take A's files.
    let b_dir = dir.path().join("b");
    std::fs::create_dir_all(b_dir.join("inbox")).unwrap();
    let b_cfg = config(&b_dir, redis.port);
    let out = support::alice(&b_cfg, &["run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("redis.prefix") && err.contains("another alice daemon"),
        "{err}"
    );
    // With its own prefix it runs beside A.
    let b_own = config_with(&b_dir, redis.port, "prefix = \"b\"");
    let b = Daemon::start(&b_own, &b_dir);
    b.stop();

    // A worker for a stage the running daemon still runs itself is refused.
    // (Its own file: the daemon would reload an edit of its own config.)
    let with_worker = a_dir.join("worker.toml");
    std::fs::write(
        &with_worker,
        std::fs::read_to_string(&a_cfg).unwrap() + "workers = [\"metadata\"]\n",
    )
    .unwrap();
    let out = support::alice(&with_worker, &["worker", "metadata"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("still runs the metadata stage"), "{err}");
    daemon.stop();
}

#[test]
fn alice_scan_with_redis_and_a_worker_finishes_with_every_file_counted() {
    let (dir, redis, cfg, inbox) = setup("workers = [\"metadata\"]");
    drop_pngs(&inbox, "s", 20);
    // A scan writes the stream and is its owner while it runs; the worker joins it.
    let scan = Command::new(ALICE)
        .args(["scan", "--log-format", "json", "--config"])
        .arg(&cfg)
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let worker = Worker::start(&cfg, dir.path(), "metadata", "scan-w");
    let out = scan.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("organized 20"), "{stdout}");
    worker.stop();
    // Before exiting, the scan's group readers took a last look: nothing left unread.
    assert_exactly_once(dir.path(), &redis, 20);
    let again = support::alice(&cfg, &["scan"]);
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && again_out.contains("organized 0"),
        "{again_out}"
    );
}

/// A worker started before the daemon ever ran waits for the daemon to create its catalog:
/// had it created the catalog itself, the daemon's first start would take the state for an
/// existing one and refuse to create the organized folder (seen as a flake of the test above,
/// when the worker won the race).
#[test]
fn a_worker_started_before_the_first_daemon_run_waits_for_its_catalog() {
    let (dir, redis, cfg, inbox) = setup("workers = [\"metadata\"]");
    drop_pngs(&inbox, "w", 5);
    let worker = Worker::spawn(&cfg, dir.path(), "metadata", "early");
    wait_for("the worker to wait for the catalog", || {
        worker
            .text()
            .contains("waiting for the daemon to create its catalog")
    });
    assert!(!dir.path().join("organized").exists());
    let out = support::alice(&cfg, &["scan"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("organized 5"), "{stdout}");
    assert!(dir.path().join("organized").is_dir());
    // The worker went on once the catalog was there.
    wait_for("the worker to read its group", || {
        worker.text().contains("reading the consumer group")
    });
    worker.stop();
    assert_exactly_once(dir.path(), &redis, 5);
}

/// A worker of a newer alice beside a daemon of the older one (a package upgrade, the daemon
/// not restarted yet) must not upgrade the catalog under it: that daemon would go on writing
/// rows in the old form. It refuses, says what to do, and leaves the catalog as it was.
#[test]
fn a_worker_refuses_a_catalog_older_than_itself_and_leaves_it_as_it_was() {
    let (dir, _redis, cfg, inbox) = setup("");
    drop_pngs(&inbox, "w", 1);
    let out = support::alice(&cfg, &["scan"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = dir.path().join("state").join("catalog.sqlite3");
    let older = {
        let conn = rusqlite::Connection::open(&catalog).unwrap();
        let current: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "user_version", current - 1)
            .unwrap();
        current - 1
    };
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("workers = [\"metadata\"]\n");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(ALICE)
        .args(["worker", "metadata", "--consumer", "newer"])
        .arg("--config")
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            kill9(&mut child);
            panic!("the worker ran on a catalog older than itself");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("older than this alice"), "{all}");
    assert!(all.contains("restart"), "{all}");
    let conn = rusqlite::Connection::open(&catalog).unwrap();
    let now: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(now, older, "the worker changed the catalog's schema");
}
