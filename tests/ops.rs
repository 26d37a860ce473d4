//! Operating the daemon: the control socket (status, tail, reload), live config edits, the
//! metrics endpoint and config errors — against the real `alice` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[path = "support/mod.rs"]
mod support;

use support::{ALICE, Daemon, FIXTURES, alice, config, files_under, wait_for};

#[test]
fn status_tail_and_creative_context_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let d = Daemon::start(&cfg, dir.path());

    // A tail that follows only asset events sees the file we drop next.
    let mut tail = Command::new(ALICE)
        .args([
            "events",
            "tail",
            "--json",
            "--type",
            "alice.asset.*",
            "--config",
        ])
        .arg(&cfg)
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = alice(
        &cfg,
        &["project", "create", "moodboard", "--description", "refs"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = alice(&cfg, &["project", "use", "moodboard"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = alice(&cfg, &["project", "use", "missing"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alice project create missing"));
    let out = alice(&cfg, &["project", "create", "../escape"]);
    assert!(
        !out.status.success(),
        "a path-like project name must be refused"
    );
    assert!(alice(&cfg, &["style", "choose", "noir"]).status.success());

    std::fs::copy(
        format!("{FIXTURES}/media/camera.jpg"),
        dir.path().join("inbox/camera.jpg"),
    )
    .unwrap();
    let organized = dir
        .path()
        .join("organized/2024-03-15/moodboard/camera/camera.jpg");
    wait_for("the file in the active project", || organized.exists());

    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut types = Vec::new();
    while !types
        .iter()
        .any(|t: &String| t == "alice.asset.organized.v1")
    {
        let line = lines.next().expect("tail ended").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let t = v["type"].as_str().unwrap().to_owned();
        assert!(t.starts_with("alice.asset."), "filter let {t} through");
        if t == "alice.asset.organized.v1" {
            assert_eq!(v["data"]["style"], "noir");
            assert_eq!(v["data"]["project"], "moodboard");
        }
        types.push(t);
    }
    let _ = tail.kill();
    let _ = tail.wait();

    let out = alice(&cfg, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["context"]["project"], "moodboard");
    assert_eq!(s["context"]["style"], "noir");
    assert_eq!(s["this_run"]["organized"], 1);
    assert!(
        s["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["subscriber"] == "organizer-0")
    );
    assert_eq!(s["config"], cfg.display().to_string());
    d.stop();

    // The context survives a restart; listing needs no daemon.
    let out = alice(&cfg, &["project", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("* moodboard"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let d = Daemon::start(&cfg, dir.path());
    let s: serde_json::Value =
        serde_json::from_slice(&alice(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(s["context"]["project"], "moodboard");
    d.stop();
    // With no daemon, a client says how to start one.
    let out = alice(&cfg, &["status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alice run"));
}

#[test]
fn config_edits_apply_live_and_bad_edits_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let d = Daemon::start(&cfg, dir.path());

    // A broken edit: rejected with file, line and key; the running config stays.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}bogus_key = 1\n")).unwrap();
    let line = d.wait_log("rejection", |l| l.contains("config edit rejected"));
    assert!(
        line.contains("bogus_key") && line.contains("alice.toml:"),
        "{line}"
    );

    // A good edit: a second inbox and the classic template, without a restart.
    let second = dir.path().join("inbox2");
    let edited = text.replace(
        &format!("inboxes = [\"{}/inbox\"]", dir.path().display()),
        &format!("inboxes = [\"{}/inbox\", \"{}\"]\ntemplate = \"{{date}}/{{project}}/{{source}}/{{project}}-{{seq:05}}{{ext}}\"", dir.path().display(), second.display()),
    );
    assert_ne!(edited, text);
    std::fs::write(&cfg, edited).unwrap();
    d.wait_log("reload", |l| l.contains("config reloaded"));
    d.wait_log("restarted watcher", |l| l.contains("watcher restarted"));
    std::fs::copy(
        format!("{FIXTURES}/media/camera.jpg"),
        second.join("camera.jpg"),
    )
    .unwrap();
    let want = dir
        .path()
        .join("organized/2024-03-15/uncategorized/camera/uncategorized-00001.jpg");
    wait_for("a file from the added inbox under the new template", || {
        want.exists()
    });

    // SIGHUP and `alice reload` both reload (nothing changed: no error).
    assert!(alice(&cfg, &["reload"]).status.success());
    d.stop();
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        !log.contains("\"level\":\"ERROR\"") || log.matches("\"level\":\"ERROR\"").count() == 1,
        "{log}"
    );
}

#[test]
fn metrics_endpoint_counts_events_on_a_loopback_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!("[metrics]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let d = Daemon::start(&cfg, dir.path());
    std::fs::copy(
        format!("{FIXTURES}/media/camera.jpg"),
        dir.path().join("inbox/camera.jpg"),
    )
    .unwrap();
    wait_for("organized", || {
        !files_under(&dir.path().join("organized")).is_empty()
    });
    let scrape = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    wait_for("the organized event counted", || {
        scrape().contains("alice_events_total{type=\"alice.asset.organized.v1\"} 1")
    });
    let body = scrape();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    for name in [
        "alice_organize_latency_seconds_count 1",
        "alice_outcomes_total{outcome=\"organized\"} 1",
        "alice_queue_depth{subscriber=",
        "alice_bytes_hashed_total",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }
    d.stop();
}

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = Command::new(ALICE)
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("settle_ms = 100", "settle_ms = 100\nsetle = 3"),
    )
    .unwrap();
    let out = Command::new(ALICE)
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:7:", cfg.display())) && err.contains("setle"),
        "{err}"
    );
    // `config show` prints the effective config with defaults filled in, and it parses.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("setle = 3\n", ""),
    )
    .unwrap();
    let out = Command::new(ALICE)
        .args(["config", "show", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("template = \"{date}/{project}/{source}/{name}\"")
            && shown.contains("[metrics]"),
        "{shown}"
    );
    let reparsed = dir.path().join("shown.toml");
    std::fs::write(&reparsed, shown.as_bytes()).unwrap();
    assert!(
        Command::new(ALICE)
            .args(["config", "check"])
            .arg(&reparsed)
            .status()
            .unwrap()
            .success()
    );
}
