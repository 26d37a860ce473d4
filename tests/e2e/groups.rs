//! A group ends in one folder with its still's date whatever the order its files arrive in,
//! and a Live Photo's still and video pair by Apple's content identifier whatever their
//! names: a lone RAW or Live Photo video waits `[watch] group_wait_ms` for its still; a still
//! that comes later still takes back the member organized before it, and `alice undo` returns
//! the whole group.

use std::path::Path;
use std::time::Duration;

use crate::harness::*;
use crate::media;
use crate::sidecars::{env, find_one, names_in};

/// The still's local date (the video's QuickTime date is 2024-03-01 in UTC).
const STILL_DATE: &str = "2024-02-29";

fn in_still_folder(env: &Env, still: &str) -> Vec<String> {
    let placed = find_one(&env.organized, still);
    let dir = placed.parent().unwrap();
    assert!(
        dir.to_string_lossy().contains(STILL_DATE),
        "{}",
        dir.display()
    );
    names_in(dir)
}

fn inbox_has(env: &Env, files: &[(&str, Vec<u8>)]) {
    for (rel, bytes) in files {
        assert_eq!(
            std::fs::read(env.inbox.join(rel)).ok().as_deref(),
            Some(bytes.as_slice()),
            "{rel} in the inbox: {:?}",
            files_under(&env.inbox)
        );
    }
}

#[test]
fn a_live_photo_of_different_names_is_one_group_in_copy_and_move_mode() {
    for mode in ["copy", "move"] {
        let env = env(mode);
        let files = [
            ("p/IMG_0200.JPG", media::live_jpeg("ID-0200", mode)),
            ("p/clip-0200.MOV", media::live_video_of("ID-0200", mode)),
            // Another Live Photo's video in the same folder stays out of the group.
            ("p/clip-0999.MOV", media::live_video_of("ID-0999", mode)),
        ];
        for (rel, bytes) in &files {
            env.put_file(rel, bytes);
        }
        let plan = env.scan(&["--dry-run"]).success().stdout;
        assert!(
            plan.lines().any(|l| l.starts_with("member")
                && l.contains("clip-0200.MOV")
                && l.contains("IMG_0200.JPG")),
            "{plan}"
        );
        assert!(!plan.contains("clip-0999.MOV: travels"), "{plan}");
        let run = env.scan(&[]).success();
        assert_eq!(run.summary().failed, 0, "{mode}: {}", run.stdout);
        // The video takes the still's stem beside it, in the still's folder.
        assert_eq!(
            in_still_folder(&env, "IMG_0200.JPG"),
            ["IMG_0200.JPG", "IMG_0200.MOV"],
            "{mode}"
        );
        assert_eq!(
            std::fs::read(find_one(&env.organized, "IMG_0200.MOV")).unwrap(),
            files[1].1
        );
        let other = find_one(&env.organized, "clip-0999.MOV");
        assert!(other.to_string_lossy().contains("2024-03-01"), "{mode}");
        match mode {
            "move" => assert!(files_under(&env.inbox).is_empty(), "{mode}"),
            _ => inbox_has(&env, &files),
        }
        // A second scan changes nothing.
        let before = (snapshot(&env.inbox), snapshot(&env.organized));
        let again = env.scan(&[]).success();
        assert_eq!(again.summary().organized, 0, "{mode}: {}", again.stdout);
        assert!(
            (snapshot(&env.inbox), snapshot(&env.organized)) == before,
            "{mode}: {}",
            again.stdout
        );
        // Undo takes the pair back (the lone video's operation was the other one).
        let undo = env.undo(2);
        assert!(
            undo.status.success(),
            "{mode}: {undo:?}\nfirst scan: {}\nsecond: {}",
            run.stdout,
            again.stdout
        );
        assert!(
            files_under(&env.organized).is_empty(),
            "{mode}: {:?}",
            files_under(&env.organized)
        );
        inbox_has(&env, &files);
    }
}

#[test]
fn a_video_whose_still_is_organized_already_joins_it_under_another_name() {
    let env = env("move");
    env.put_file("p/IMG_0210.JPG", &media::live_jpeg("ID-0210", "late"));
    env.scan(&[]).success();
    let video = media::live_video_of("ID-0210", "late");
    env.put_file("p/IMG_E0210.MOV", &video);
    let run = env.scan(&[]).success();
    assert_eq!(run.summary().organized, 0, "{}", run.stdout);
    assert_eq!(
        in_still_folder(&env, "IMG_0210.JPG"),
        ["IMG_0210.JPG", "IMG_0210.MOV"]
    );
    assert!(files_under(&env.inbox).is_empty());
    // Undone with the still's operation.
    env.undo(1).success();
    assert!(files_under(&env.organized).is_empty());
    assert_eq!(
        std::fs::read(env.inbox.join("p/IMG_E0210.MOV")).unwrap(),
        video
    );
}

/// Drops each video, waits until it is organized on its own (its wait for the still over),
/// then drops the stills, as a phone sync that sends videos first would.
fn videos_then_stills(env: &Env, pairs: &[[(&str, Vec<u8>); 2]]) -> Daemon {
    let mut daemon = env.start();
    daemon.wait_ready();
    for [_, (rel, bytes)] in pairs {
        env.drop_file(rel, bytes);
    }
    daemon.wait_events(ev::ORGANIZED, pairs.len());
    for [_, (rel, _)] in pairs {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let alone = find_one(&env.organized, name);
        assert!(alone.to_string_lossy().contains("2024-03-01"), "{alone:?}");
    }
    std::thread::sleep(Duration::from_secs(2));
    for [(rel, bytes), _] in pairs {
        env.drop_file(rel, bytes);
    }
    daemon.wait_events(ev::ORGANIZED, 2 * pairs.len());
    daemon
}

#[test]
fn a_still_after_the_wait_takes_back_its_video_and_undo_returns_both() {
    for mode in ["move", "copy"] {
        let env = env(mode);
        let pairs = [
            [
                ("p/IMG_0300.JPG", media::live_jpeg("ID-0300", mode)),
                ("p/IMG_0300.MOV", media::live_video_of("ID-0300", mode)),
            ],
            [
                ("p/IMG_0301.JPG", media::live_jpeg("ID-0301", mode)),
                ("p/clip-0301.MOV", media::live_video_of("ID-0301", mode)),
            ],
        ];
        let mut daemon = videos_then_stills(&env, &pairs);
        assert!(daemon.terminate().success());
        assert_eq!(
            in_still_folder(&env, "IMG_0300.JPG"),
            [
                "IMG_0300.JPG",
                "IMG_0300.MOV",
                "IMG_0301.JPG",
                "IMG_0301.MOV"
            ],
            "{mode}"
        );
        // Nothing is left in the video's own (UTC) day.
        assert_eq!(files_under(&env.organized).len(), 4, "{mode}");
        assert!(
            files_under(&env.organized)
                .iter()
                .all(|p| p.to_string_lossy().contains(STILL_DATE)),
            "{mode}: {:?}",
            files_under(&env.organized)
        );
        let all: Vec<(&str, Vec<u8>)> = pairs.iter().flatten().cloned().collect();
        match mode {
            "move" => assert!(files_under(&env.inbox).is_empty(), "{mode}"),
            _ => inbox_has(&env, &all),
        }
        // The two groups are the last two operations: undone, both halves of each return.
        env.undo(2).success();
        assert!(
            files_under(&env.organized).is_empty(),
            "{mode}: {:?}",
            files_under(&env.organized)
        );
        inbox_has(&env, &all);
        assert_eq!(files_under(&env.inbox).len(), 4, "{mode}");
    }
}

#[test]
fn a_video_whose_still_comes_within_the_wait_is_never_organized_alone() {
    let env = env("move");
    let mut daemon = env.start();
    daemon.wait_ready();
    let video = media::live_video_of("ID-0400", "within");
    let still = media::live_jpeg("ID-0400", "within");
    env.drop_file("p/IMG_0400.MOV", &video);
    std::thread::sleep(Duration::from_millis(1000));
    env.drop_file("p/IMG_0400.JPG", &still);
    daemon.wait_events(ev::ORGANIZED, 1);
    daemon.wait_events(ev::SIDECAR, 1);
    assert!(daemon.terminate().success());
    let organized = daemon.events(ev::ORGANIZED);
    assert_eq!(organized.len(), 1, "{organized:?}");
    assert!(
        organized[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("IMG_0400.JPG"),
        "{organized:?}"
    );
    assert_eq!(
        in_still_folder(&env, "IMG_0400.JPG"),
        ["IMG_0400.JPG", "IMG_0400.MOV"]
    );
    // One operation: one undo returns both.
    env.undo(1).success();
    assert!(files_under(&env.organized).is_empty());
    assert_eq!(
        std::fs::read(env.inbox.join("p/IMG_0400.MOV")).unwrap(),
        video
    );
    assert_eq!(
        std::fs::read(env.inbox.join("p/IMG_0400.JPG")).unwrap(),
        still
    );
}

#[test]
fn a_raw_organized_before_its_jpeg_came_moves_beside_it_with_its_own_sidecar() {
    let env = env("move");
    let files = [
        ("p/IMG_0500.ARW", media::camera_raw("raw first")),
        ("p/IMG_0500.ARW.xmp", b"<raw-edits/>\n".to_vec()),
        ("p/IMG_0500.JPG", media::camera_jpeg("raw first")),
    ];
    let mut daemon = env.start();
    daemon.wait_ready();
    env.drop_file(files[1].0, &files[1].1);
    env.drop_file(files[0].0, &files[0].1);
    daemon.wait_events(ev::ORGANIZED, 1);
    // Alone, the RAW is filed under its own date, its XMP beside it.
    let alone = find_one(&env.organized, "IMG_0500.ARW");
    assert!(alone.to_string_lossy().contains("2020-05-06"), "{alone:?}");
    assert!(alone.with_file_name("IMG_0500.ARW.xmp").is_file());
    env.drop_file(files[2].0, &files[2].1);
    daemon.wait_events(ev::ORGANIZED, 2);
    assert!(daemon.terminate().success());
    let jpeg = find_one(&env.organized, "IMG_0500.JPG");
    let dir = jpeg.parent().unwrap();
    assert!(
        dir.to_string_lossy().contains(media::CAMERA_DATE),
        "{dir:?}"
    );
    assert_eq!(
        names_in(dir),
        ["IMG_0500.ARW", "IMG_0500.ARW.xmp", "IMG_0500.JPG"]
    );
    assert_eq!(files_under(&env.organized).len(), 3);
    assert!(files_under(&env.inbox).is_empty());
    env.undo(1).success();
    assert!(files_under(&env.organized).is_empty());
    inbox_has(&env, &files);
}
