//! `alice scan --dry-run` prints the plan and changes nothing at all.

use crate::harness::*;
use crate::media;

/// Everything in the env except the logs: inbox, organized, state, staging, config.
fn world(env: &Env) -> std::collections::BTreeMap<std::path::PathBuf, Node> {
    snapshot(&env.root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("logs"))
        .collect()
}

#[test]
fn dry_run_on_a_first_start_prints_the_plan_and_creates_nothing() {
    let env = Env::new();
    let a = env.put_file("p/a.png", &media::png("dry a"));
    let cam = env.put_file("trip/cam.jpg", &media::camera_jpeg("dry cam"));
    let notes = env.put_file("notes.txt", b"not media\n");
    let broken = env.put_file("p/broken.png", &media::fixture_bytes("media/truncated.png"));
    let before = world(&env);
    let run = env.scan(&["--dry-run"]).success();
    assert!(world(&env) == before, "dry run changed files: {run:?}");
    assert!(!env.organized.exists() && !env.state.exists(), "{run:?}");

    let dest_a = env.organized.join(drop_date()).join("p/other/a.png");
    let dest_cam = env
        .organized
        .join(media::CAMERA_DATE)
        .join("trip/camera/cam.jpg");
    let has = |needle: String| {
        assert!(
            run.stdout.lines().any(|l| l.contains(&needle)),
            "plan lacks {needle:?}: {run:?}"
        );
    };
    has(format!("{} -> {}", a.display(), dest_a.display()));
    has(format!("{} -> {}", cam.display(), dest_cam.display()));
    has(format!("skip      {}", notes.display()));
    has(format!("fail      {}", broken.display()));
    has("would organize 2, duplicates 0, skipped 1, failed 1".to_owned());
}

#[test]
fn dry_run_over_an_existing_catalog_leaves_every_byte_and_mtime_of_the_state_alone() {
    let env = Env::new();
    let first = media::png("dry existing");
    env.put_file("p/first.png", &first);
    env.scan(&[]).success();
    let new = env.put_file("p/new.png", &media::png("dry new"));
    let dup = env.put_file("p/copy-of-first.png", &first);
    let before = world(&env);
    assert!(
        before.keys().any(|p| p.starts_with("state")),
        "the catalog exists"
    );
    let run = env.scan(&["--dry-run"]).success();
    let after = world(&env);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(changed.is_empty(), "dry run changed {changed:?}: {run:?}");
    let dest_new = env.organized.join(drop_date()).join("p/other/new.png");
    assert!(
        run.stdout
            .contains(&format!("{} -> {}", new.display(), dest_new.display())),
        "{run:?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("duplicate") && l.contains(dup.to_str().unwrap())),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("would organize 1, duplicates 1"),
        "the already organized file is not planned again: {run:?}"
    );
}
