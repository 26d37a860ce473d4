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

/// Sources of the plan's `duplicate`, `skip` and `fail` lines.
type Others = (Vec<String>, Vec<String>, Vec<String>);

/// The plan's lines by kind: `organize` source → destination, and the other kinds' sources.
fn parse_plan(stdout: &str) -> (Vec<(String, String)>, Others) {
    let (mut organize, mut dups, mut skips, mut fails) = (vec![], vec![], vec![], vec![]);
    for line in stdout.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        match kind {
            "organize" => {
                let (src, dest) = rest.split_once(" -> ").unwrap();
                // A still names the members of its pair after its destination.
                let dest = dest.split(" (group with ").next().unwrap();
                organize.push((src.to_owned(), dest.to_owned()));
            }
            "duplicate" => dups.push(rest.split(" (same").next().unwrap().to_owned()),
            "skip" => skips.push(rest.split(": ").next().unwrap().to_owned()),
            "fail" => fails.push(rest.split(": ").next().unwrap().to_owned()),
            _ => {}
        }
    }
    (organize, (dups, skips, fails))
}

#[test]
fn a_dry_runs_plan_is_what_the_real_run_then_does_on_a_mixed_inbox() {
    let env = Env::with(Opts {
        mode: "move",
        ..Opts::default()
    });
    // A copy of a file organized by an earlier run: a duplicate whatever the order of the
    // walk (two identical new files would make either one the "first").
    let twin = media::camera_jpeg("mix twin");
    env.put_file("earlier/a.jpg", &twin);
    env.scan(&[]).success();
    let mut expected_files = 0;
    for i in 0..4 {
        env.put_file(
            format!("trip/cam{i}.jpg"),
            &media::camera_jpeg(&format!("mix {i}")),
        );
        env.put_file(
            format!("sd/gen{i}.png"),
            &media::stable_diffusion_png(&format!("mix {i}")),
        );
        env.put_file(
            format!("mj/m{i}.png"),
            &media::midjourney_png(&format!("mix {i}")),
        );
        env.put_file(format!("plain{i}.png"), &media::png(&format!("mix {i}")));
        expected_files += 4;
    }
    // A RAW+JPEG pair: the plan names the RAW as a member travelling with its still.
    let raw = media::camera_raw("mix pair");
    env.put_file("trip/IMG_9.JPG", &media::camera_jpeg("mix pair"));
    env.put_file("trip/IMG_9.ARW", &raw);
    expected_files += 1;
    env.put_file("twin/b.jpg", &twin);
    env.put_file("notes.txt", b"not media\n");
    env.put_file("broken.png", &media::fixture_bytes("media/truncated.png"));

    let plan = env.scan(&["--dry-run"]).success();
    let (organize, (dups, skips, fails)) = parse_plan(&plan.stdout);
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.starts_with("member") && l.contains("IMG_9.ARW") && l.contains("IMG_9.JPG")),
        "{plan:?}"
    );
    let still = organize
        .iter()
        .find(|(src, _)| src.ends_with("IMG_9.JPG"))
        .map(|(_, dest)| std::path::PathBuf::from(dest))
        .unwrap();
    assert_eq!(organize.len(), expected_files, "{plan:?}");
    assert_eq!(
        (dups.len(), skips.len(), fails.len()),
        (1, 1, 1),
        "{plan:?}"
    );
    let contents: Vec<(String, Vec<u8>)> = organize
        .iter()
        .map(|(src, dest)| (dest.clone(), std::fs::read(src).unwrap()))
        .collect();

    let run = env.scan(&[]).success();
    let s = run.summary();
    assert_eq!(
        (s.organized, s.duplicates, s.skipped, s.failed),
        (organize.len() as u64, 1, 1, 1),
        "{run:?}"
    );
    // Every planned destination now holds the planned file, and nothing else was organized.
    for (dest, bytes) in &contents {
        assert_eq!(
            &std::fs::read(dest).unwrap_or_default(),
            bytes,
            "{dest} is not what the plan said"
        );
    }
    // The member landed beside its still's planned destination.
    assert_eq!(
        std::fs::read(still.with_file_name("IMG_9.ARW")).unwrap(),
        raw
    );
    assert_eq!(files_under(&env.organized).len(), organize.len() + 2);
    // The planned duplicate went to the duplicates folder; skip and fail stayed in the inbox.
    let dup_name = std::path::Path::new(&dups[0])
        .file_name()
        .unwrap()
        .to_owned();
    assert!(env.duplicates().join(&dup_name).exists(), "{run:?}");
    for left in skips.iter().chain(&fails) {
        assert!(std::path::Path::new(left).exists(), "{left} was moved");
    }
}
