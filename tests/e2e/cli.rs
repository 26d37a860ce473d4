//! The one-shot commands: `config check`, `inspect`, start-up refusals, instance locking.

use serde_json::Value;

use crate::harness::*;
use crate::media;

#[test]
fn config_check_names_an_unknown_key_and_its_line() {
    let env = Env::new();
    let text = env.config_text().replace(
        &format!("settle_ms = {}", env.opts.settle_ms),
        "settle_ms = 150\nsetle_ms = 3",
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("setle_ms"))
        .unwrap()
        + 1;
    let bad = env.root.join("bad.toml");
    std::fs::write(&bad, &text).unwrap();
    let mut cmd = alice();
    cmd.arg("config").arg("check").arg(&bad);
    let run = run_to_end(cmd);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let want = format!("{}:{line}:", bad.display());
    assert!(
        run.stderr.contains(&want),
        "names file and line {want}: {run:?}"
    );
    assert!(run.stderr.contains("setle_ms"), "names the key: {run:?}");

    let mut cmd = alice();
    cmd.arg("config").arg("check").arg(&env.config);
    let ok = run_to_end(cmd).success();
    assert!(ok.stdout.contains("ok"), "{ok:?}");
}

#[test]
fn organized_inside_the_inbox_is_refused_at_start() {
    let env = Env::new();
    let nested = env.inbox.join("organized");
    let text = env.config_text().replace(
        &format!("organized = \"{}\"", env.organized.display()),
        &format!("organized = \"{}\"", nested.display()),
    );
    assert!(text.contains(nested.to_str().unwrap()));
    let cfg = env.root.join("nested.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut cmd = alice();
    cmd.arg("run").arg("--config").arg(&cfg);
    let run = run_to_end(cmd);
    assert!(!run.status.success(), "{run:?}");
    assert!(run.stderr.contains("organized"), "names the key: {run:?}");
    assert!(
        run.stderr.contains("inside one another"),
        "says why: {run:?}"
    );
    assert!(!nested.exists(), "nothing was created");
    assert!(!env.state.exists(), "nothing was created");
}

#[test]
fn two_instances_with_their_own_state_run_side_by_side_and_a_third_on_a_taken_state_dir_is_refused()
{
    let a = Env::new();
    let b = Env::new();
    let mut da = a.start();
    let mut db = b.start();
    da.wait_ready();
    db.wait_ready();
    let bytes_a = media::png("instance a");
    let bytes_b = media::png("instance b");
    a.drop_file("p/a.png", &bytes_a);
    b.drop_file("p/b.png", &bytes_b);
    da.wait_events(ev::ORGANIZED, 1);
    db.wait_events(ev::ORGANIZED, 1);

    // Same state dir as `a`, everything else its own.
    let c = Env::new();
    let text = c.config_text().replace(
        &format!("state_dir = \"{}\"", c.state.display()),
        &format!("state_dir = \"{}\"", a.state.display()),
    );
    assert!(text.contains(a.state.to_str().unwrap()));
    std::fs::write(&c.config, text).unwrap();
    let mut cmd = alice();
    cmd.arg("run").arg("--config").arg(&c.config);
    let refused = run_to_end(cmd);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        refused.stderr.contains("lock"),
        "mentions the lock: {refused:?}"
    );
    assert!(
        refused.stderr.contains(a.state.to_str().unwrap()),
        "names the state dir: {refused:?}"
    );

    assert!(da.terminate().success());
    assert!(db.terminate().success());
    assert_each_once(&a.organized, &[&bytes_a]);
    assert_each_once(&b.organized, &[&bytes_b]);
}

fn inspect(files: &[&std::path::Path]) -> (Run, Vec<Value>) {
    let mut cmd = alice();
    cmd.arg("inspect").arg("--json").args(files);
    let run = run_to_end(cmd);
    let lines = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (run, lines)
}

const FIELDS: [&str; 12] = [
    "path",
    "asset_id",
    "media_type",
    "format",
    "width",
    "height",
    "duration_ms",
    "taken_at",
    "taken_at_source",
    "camera",
    "ai",
    "error",
];

/// Fields present only when the file says something about them.
const OPTIONAL: [&str; 2] = ["ai_generated", "provenance"];

fn assert_fields(v: &Value) {
    let keys: std::collections::BTreeSet<&str> = v
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !OPTIONAL.contains(k))
        .collect();
    let want: std::collections::BTreeSet<&str> = FIELDS.into_iter().collect();
    assert_eq!(keys, want, "documented fields, each present: {v}");
}

#[test]
fn inspect_json_reports_camera_and_ai_fields_in_argument_order() {
    let env = Env::new();
    let camera = env.put_file("camera.jpg", &media::fixture_bytes("media/camera.jpg"));
    let ai = env.put_file("a1111.png", &media::fixture_bytes("ai/a1111.png"));
    let empty = env.put_file("empty.bin", b"");
    let (run, out) = inspect(&[&camera, &ai, &empty]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(out.len(), 3, "{run:?}");
    for v in &out {
        assert_fields(v);
    }

    let c = &out[0];
    assert_eq!(c["path"], camera.to_str().unwrap());
    assert!(c["asset_id"].as_str().is_some_and(|a| a.len() == 64));
    assert_eq!(c["media_type"], "image");
    assert_eq!(c["format"], "jpeg");
    assert_eq!(
        (c["width"].as_u64(), c["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(c["duration_ms"], Value::Null);
    assert!(
        c["taken_at"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-15T12:34:56"),
        "{c}"
    );
    assert_eq!(c["taken_at_source"], "exif");
    assert_eq!(c["camera"]["make"], "Canon");
    assert_eq!(c["camera"]["model"], "Canon EOS R5");
    assert_eq!(c["ai"], Value::Null);
    assert_eq!(c["error"], Value::Null);

    let a = &out[1];
    assert_eq!(a["path"], ai.to_str().unwrap());
    assert_eq!(a["format"], "png");
    assert_eq!(a["camera"], Value::Null);
    assert_eq!(a["error"], Value::Null);
    let x = &a["ai"];
    assert_eq!(x["source"], "stable-diffusion");
    assert_eq!(x["signal"], "metadata");
    assert!(x["evidence"].as_str().is_some_and(|e| !e.is_empty()), "{x}");
    assert_eq!(x["prompt"], "a lighthouse at dusk, (oil painting:1.2)");
    assert_eq!(x["model"], "sd_xl_base_1.0");
    assert_eq!(x["seed"], 3_141_592_653u64);
    assert_eq!(
        a["taken_at_source"], "mtime",
        "no capture date: the file's mtime"
    );

    // The asset id is the BLAKE3 of the content (the empty input's digest is a test vector).
    assert_eq!(
        out[2]["asset_id"],
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    let abc = env.put_file("abc.bin", b"abc");
    let (_, out) = inspect(&[&abc]);
    assert_eq!(
        out[0]["asset_id"],
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
}

#[test]
fn inspect_exits_0_for_corrupt_media_and_non_zero_for_a_missing_file() {
    let env = Env::new();
    let broken = env.put_file("broken.png", &media::fixture_bytes("media/truncated.png"));
    let (run, out) = inspect(&[&broken]);
    assert!(
        run.status.success(),
        "a corrupt file is still inspected: {run:?}"
    );
    assert_fields(&out[0]);
    assert_eq!(out[0]["media_type"], "image");
    assert!(
        out[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("truncated")),
        "{}",
        out[0]
    );

    let missing = env.root.join("missing.png");
    let (run, out) = inspect(&[&broken, &missing]);
    assert!(!run.status.success(), "a missing file fails: {run:?}");
    assert_eq!(out.len(), 2, "every argument still gets its line: {run:?}");
    assert_fields(&out[1]);
    assert_eq!(out[1]["path"], missing.to_str().unwrap());
    assert_eq!(out[1]["asset_id"], Value::Null);
    assert!(
        out[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing.png")),
        "{}",
        out[1]
    );
}
