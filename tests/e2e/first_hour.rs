//! The first hour of a new user, one test per friction reported: mistyped paths, a config
//! written after a start on defaults, partial config files, closed pipes, which config
//! `config check` reads, search output, and config errors that name their key.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{Env, TIMEOUT, alice, files_under, run_to_end};
use crate::media;

/// `alice` with a fresh, empty home: no config file, XDG folders under `home`.
fn in_home(home: &Path) -> Command {
    let mut cmd = alice();
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_PICTURES_DIR")
        .env("XDG_RUNTIME_DIR", home.join("run"));
    std::fs::create_dir_all(home.join("run")).unwrap();
    cmd
}

#[test]
fn a_mistyped_inbox_is_refused_by_config_check_and_by_scan_and_nothing_is_created() {
    let env = Env::new();
    let typo = env.root.join("does-not-exist/inbox");
    let text = env.config_text().replace(
        &format!("\"{}\"", env.inbox.display()),
        &format!("\"{}\"", typo.display()),
    );
    std::fs::write(&env.config, text).unwrap();
    let mut check = alice();
    check.args(["config", "check"]).arg(&env.config);
    let run = run_to_end(check);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("inboxes") && run.stderr.contains("typo"),
        "{run:?}"
    );
    let run = env.scan(&[]);
    assert!(!run.status.success(), "{run:?}");
    assert!(run.stderr.contains("does-not-exist"), "{run:?}");
    assert!(!typo.exists() && !typo.parent().unwrap().exists());
}

#[test]
fn a_config_file_with_only_inboxes_gets_the_defaults_and_tilde_is_home() {
    let env = Env::new();
    let home = env.root.join("home");
    std::fs::create_dir_all(home.join("drop")).unwrap();
    let cfg = env.root.join("small.toml");
    std::fs::write(&cfg, "inboxes = [\"~/drop\"]\n").unwrap();
    let mut show = in_home(&home);
    show.args(["config", "show", "--config"]).arg(&cfg);
    let run = run_to_end(show).success();
    assert!(
        run.stdout
            .contains(&format!("\"{}\"", home.join("drop").display())),
        "{run:?}"
    );
    assert!(run.stdout.contains("organized = "), "{run:?}");
    let mut check = in_home(&home);
    check.args(["config", "check", "--config"]).arg(&cfg);
    run_to_end(check).success();
}

#[test]
fn config_check_reads_the_file_alice_config_names() {
    let env = Env::new();
    let bad = env.root.join("bad.toml");
    std::fs::write(&bad, "mode = \"sideways\"\n").unwrap();
    let mut check = alice();
    check.args(["config", "check"]).env("ALICE_CONFIG", &bad);
    let run = run_to_end(check);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    // The key is named, with the file and line.
    assert!(
        run.stderr.contains(&format!("{}:1:", bad.display())) && run.stderr.contains("`mode`"),
        "{run:?}"
    );
    let mut check = alice();
    check.args(["config", "check", "--config"]).arg(&env.config);
    run_to_end(check).success();
}

#[test]
fn output_piped_into_head_ends_quietly() {
    let env = Env::new();
    env.drop_file("a.jpg", &media::camera_jpeg("a"));
    env.scan(&[]).success();
    let mut d = env.start();
    d.wait_ready();
    let organized = files_under(&env.organized)[0].display().to_string();
    let cfg = env.config.display().to_string();
    let cases: [Vec<&str>; 5] = [
        vec!["status", "--config", &cfg],
        vec!["search", "--source", "camera", "--config", &cfg],
        vec!["show", &organized, "--config", &cfg],
        vec!["inspect", &organized, &organized, &organized],
        vec!["config", "show", "--config", &cfg],
    ];
    for args in cases {
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        // `head -c 1` leaves at once: the rest of the output meets a closed pipe.
        let script = format!(
            "'{}' {} | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_alice"),
            quoted.join(" ")
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
    d.terminate();
}

#[test]
fn search_says_when_there_are_more_matches_and_limit_0_shows_all() {
    let env = Env::new();
    for i in 0..3 {
        env.drop_file(format!("c{i}.jpg"), &media::camera_jpeg(&i.to_string()));
    }
    env.scan(&[]).success();
    let search = |extra: &[&str]| {
        let mut cmd = alice();
        cmd.args(["search", "--source", "camera", "--config"])
            .arg(&env.config)
            .args(extra);
        run_to_end(cmd)
    };
    let run = search(&["--limit", "2"]).success();
    assert_eq!(run.stdout.lines().count(), 2, "{run:?}");
    assert!(run.stderr.contains("there are more"), "{run:?}");
    let run = search(&["--limit", "0"]).success();
    assert_eq!(run.stdout.lines().count(), 3, "{run:?}");
    assert!(!run.stderr.contains("there are more"), "{run:?}");
}

#[test]
fn a_config_written_after_a_start_on_defaults_is_read_by_alice_reload() {
    let env = Env::new();
    let home = env.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut run = in_home(&home);
    let mut daemon = run
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let inbox = home.join("Pictures/alice/inbox");
    let t0 = std::time::Instant::now();
    let status = || {
        let mut s = in_home(&home);
        s.arg("status");
        run_to_end(s)
    };
    while !status().status.success() {
        assert!(
            t0.elapsed() < TIMEOUT,
            "the daemon did not start on defaults"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(inbox.is_dir(), "the default inbox is created");
    let config = home.join(".config/alice/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "template = \"{source}/{name}\"\n").unwrap();
    let mut reload = in_home(&home);
    reload.arg("reload");
    let out = run_to_end(reload).success();
    assert!(out.stdout.contains("template"), "{out:?}");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert!(daemon.wait().unwrap().success());
}
