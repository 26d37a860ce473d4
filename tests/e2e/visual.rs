//! The visual stage and near-duplicates through the real binary: thumbnails in the cache,
//! `alice similar` with and without a daemon, a decompression bomb that fails only the visual
//! stage, and the messages when there is nothing to compare.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{Env, alice, files_under, run_to_end};
use crate::pictures::{encode, picture, unrelated};

/// The config of `env` with the visual stage on (no ffmpeg) and debug logs, where the
/// `visualized` lines are.
fn visual_on(env: &Env) {
    let text = env.config_text() + "[visual]\nffmpeg = \"\"\n[log]\nlevel = \"debug\"\n";
    std::fs::write(&env.config, text).unwrap();
}

/// The first organized file named `name`.
fn organized(env: &Env, name: &str) -> PathBuf {
    files_under(&env.organized)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("{name} is not organized"))
}

fn similar(env: &Env, target: &Path, json: bool) -> crate::harness::Run {
    let mut cmd = alice();
    cmd.arg("similar")
        .arg(target)
        .arg("--config")
        .arg(&env.config);
    if json {
        cmd.arg("--json");
    }
    run_to_end(cmd)
}

/// `alice similar --json` of `target`: the organized paths of its matches.
fn matches(env: &Env, target: &Path) -> Vec<String> {
    let run = similar(env, target, true);
    assert!(run.status.success(), "{run:?}");
    let view: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    view["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn similar_lists_a_resized_reencoded_copy_with_and_without_the_daemon() {
    let env = Env::new();
    visual_on(&env);
    let mut d = env.start();
    d.wait_ready();
    let original = picture();
    let smaller =
        image::imageops::resize(&original, 400, 300, image::imageops::FilterType::Triangle);
    env.drop_file("original.png", &encode(&original, image::ImageFormat::Png));
    env.drop_file("copy.jpg", &encode(&smaller, image::ImageFormat::Jpeg));
    env.drop_file("other.png", &encode(&unrelated(), image::ImageFormat::Png));
    d.wait_events("alice.asset.visualized.v1", 3);

    let (a, b, c) = (
        organized(&env, "original.png"),
        organized(&env, "copy.jpg"),
        organized(&env, "other.png"),
    );
    // Thumbnails of every file are in the cache under the state dir.
    let thumbs = files_under(&env.state.join("thumbnails"));
    assert_eq!(
        thumbs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .count(),
        6,
        "{thumbs:?}"
    );

    let b_path = b.display().to_string();
    assert_eq!(matches(&env, &a), vec![b_path.clone()], "with the daemon");
    let text = similar(&env, &a, false);
    assert!(text.status.success(), "{text:?}");
    assert!(text.stdout.contains(&b_path), "{text:?}");
    assert!(text.stdout.contains("400x300"), "how it differs: {text:?}");
    assert!(!text.stdout.contains(&c.display().to_string()), "{text:?}");
    // The unrelated picture has none: exit 1.
    let none = similar(&env, &c, false);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    assert!(none.stdout.contains("0 near-duplicates"), "{none:?}");

    assert!(d.terminate().success());
    assert_eq!(matches(&env, &a), vec![b_path], "without the daemon");
    assert_eq!(
        matches(&env, &b),
        vec![a.display().to_string()],
        "either way round"
    );
    let unknown = similar(&env, &env.root.join("config.toml"), false);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stderr.contains("not in the catalog"), "{unknown:?}");
}

#[test]
fn a_decompression_bomb_fails_the_visual_stage_and_stays_organized() {
    let env = Env::new();
    visual_on(&env);
    let mut d = env.start();
    d.wait_ready();
    env.drop_file(
        "bomb.png",
        &crate::png_bomb::png_declaring(100_000, 100_000),
    );
    d.wait_for("the visual stage to fail", |r| {
        r.iter()
            .any(|x| x["event_type"] == "alice.asset.failed.v1" && x["stage"] == "visual")
    });
    // The daemon goes on: a picture dropped afterwards is organized and fingerprinted.
    env.drop_file("after.png", &encode(&picture(), image::ImageFormat::Png));
    d.wait_events("alice.asset.visualized.v1", 1);
    assert!(d.is_running());
    assert_eq!(d.events("alice.asset.organized.v1").len(), 2);
    let path = organized(&env, "bomb.png");
    let show = run_to_end({
        let mut cmd = alice();
        cmd.arg("show")
            .arg(&path)
            .arg("--json")
            .arg("--config")
            .arg(&env.config);
        cmd
    })
    .success();
    let record: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(record["status"], "organized", "{record}");
    let why = similar(&env, &path, false);
    assert_eq!(why.status.code(), Some(1));
    assert!(why.stderr.contains("could not decode"), "{why:?}");
    assert!(d.terminate().success());
}

#[test]
fn similar_says_how_to_turn_the_visual_stage_on() {
    let env = Env::new();
    let file = env.put_file("a.png", &encode(&picture(), image::ImageFormat::Png));
    env.scan(&[]).success();
    let run = similar(&env, &file, false);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("visual stage is off"), "{run:?}");
    assert!(run.stderr.contains("[visual]"), "{run:?}");
}

#[test]
fn turning_the_visual_stage_on_later_catches_up_with_the_library() {
    let env = Env::new();
    let smaller =
        image::imageops::resize(&picture(), 320, 240, image::imageops::FilterType::Triangle);
    env.put_file("first.png", &encode(&picture(), image::ImageFormat::Png));
    env.put_file("second.jpg", &encode(&smaller, image::ImageFormat::Jpeg));
    env.scan(&[]).success();
    assert!(!env.state.join("thumbnails").exists(), "the stage is off");

    visual_on(&env);
    let mut d = env.start();
    d.wait_events("alice.asset.visualized.v1", 2);
    d.wait_for("the catch-up to finish", |r| {
        r.iter().any(|x| {
            x["message"] == "thumbnails and fingerprints caught up with the library"
                && x["made"] == 2
        })
    });
    let (first, second) = (organized(&env, "first.png"), organized(&env, "second.jpg"));
    assert_eq!(matches(&env, &first), vec![second.display().to_string()]);
    assert!(d.terminate().success());
}
