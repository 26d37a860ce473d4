//! Regression tests, each named after the bug it pins, against the real `alice` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/mod.rs"]
mod support;

use support::{ALICE, FIXTURES};

fn config(dir: &Path, mode: &str) -> PathBuf {
    let cfg = dir.join("alice.toml");
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "inboxes = [\"{0}/inbox\"]\norganized = \"{0}/organized\"\nmode = \"{mode}\"\nstate_dir = \"{0}/state\"\n[watch]\nsettle_ms = 50\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

fn scan(cfg: &Path) -> Output {
    let out = Command::new(ALICE)
        .args(["scan", "--config"])
        .arg(cfg)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scan failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Two different camera JPEGs with the same capture date: same destination name.
fn jpeg(variant: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(format!("{FIXTURES}/media/camera.jpg")).unwrap();
    bytes.extend_from_slice(&[variant; 64]); // after EOI: still a valid JPEG, other content
    bytes
}

#[test]
fn a_new_file_landing_where_a_deleted_organized_file_was_is_recorded_and_the_daemon_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "copy");
    std::fs::write(dir.path().join("inbox/a.jpg"), jpeg(1)).unwrap();
    assert!(summary(&scan(&cfg)).starts_with("organized 1,"));
    let organized = dir
        .path()
        .join("organized/2024-03-15/uncategorized/camera/a.jpg");
    assert!(organized.exists());

    // The user deletes the organized copy, then drops a different file under the same name.
    std::fs::remove_file(&organized).unwrap();
    std::fs::remove_file(dir.path().join("inbox/a.jpg")).unwrap();
    std::fs::write(dir.path().join("inbox/a.jpg"), jpeg(2)).unwrap();
    assert!(
        summary(&scan(&cfg)).starts_with("organized 1,"),
        "the new file is organized"
    );
    assert_eq!(std::fs::read(&organized).unwrap(), jpeg(2));
    // And the next start is clean (no pending operation it cannot resolve).
    let again = scan(&cfg);
    assert!(
        summary(&again).starts_with("organized 0, duplicates 0, skipped 0, failed 0"),
        "{}",
        summary(&again)
    );
}

#[test]
fn content_whose_organized_copy_was_deleted_is_organized_again_not_called_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "move");
    std::fs::write(dir.path().join("inbox/a.jpg"), jpeg(3)).unwrap();
    assert!(summary(&scan(&cfg)).starts_with("organized 1,"));
    let organized = dir
        .path()
        .join("organized/2024-03-15/uncategorized/camera/a.jpg");
    std::fs::remove_file(&organized).unwrap();
    std::fs::write(dir.path().join("inbox/again.jpg"), jpeg(3)).unwrap();
    let out = scan(&cfg);
    assert!(
        summary(&out).starts_with("organized 1, duplicates 0"),
        "{}",
        summary(&out)
    );
    assert!(
        dir.path()
            .join("organized/2024-03-15/uncategorized/camera/again.jpg")
            .exists()
    );
    assert!(
        !dir.path().join("duplicates").exists(),
        "nothing went to duplicates"
    );
}

#[test]
fn a_missing_organized_root_after_the_first_run_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "copy");
    scan(&cfg); // first run creates it
    std::fs::remove_dir_all(dir.path().join("organized")).unwrap(); // "the drive is unmounted"
    std::fs::write(dir.path().join("inbox/a.jpg"), jpeg(4)).unwrap();
    let out = Command::new(ALICE)
        .args(["scan", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("`organized`"),
        "{err}"
    );
    assert!(
        !dir.path().join("organized").exists(),
        "not recreated under the mount point"
    );
    assert!(dir.path().join("inbox/a.jpg").exists());
}
