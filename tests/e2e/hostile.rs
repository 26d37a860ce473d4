//! A hostile inbox (a shared drop folder others write into) cannot make the daemon read, move
//! or write anything outside the inboxes and the organized tree: one test per attack found.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::harness::*;
use crate::media;

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Swaps two names atomically (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) {
    let (a, b) = (c(a), c(b));
    // SAFETY: two valid NUL-terminated paths; the call touches no memory of ours.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
}

#[test]
fn a_folder_swapped_with_a_symlink_during_a_move_scan_never_moves_outside_files() {
    let env = Env::with(Opts {
        mode: "move",
        ..Opts::default()
    });
    let outside = env.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut before = Vec::new();
    for i in 0..50 {
        let p = outside.join(format!("o{i}.jpg"));
        let bytes = media::camera_jpeg(&format!("outside {i}"));
        std::fs::write(&p, &bytes).unwrap();
        before.push((p, bytes));
    }
    for i in 0..50 {
        env.put_file(
            format!("sub/i{i}.jpg"),
            &media::camera_jpeg(&format!("inside {i}")),
        );
    }
    let (sub, link) = (env.inbox.join("sub"), env.inbox.join("link"));
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                exchange(&sub, &link);
            }
        })
    };
    let run = env.scan(&[]);
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    for (p, bytes) in &before {
        assert_eq!(
            std::fs::read(p).ok().as_ref(),
            Some(bytes),
            "{} was touched: {run:?}",
            p.display()
        );
    }
    assert_eq!(files_under(&outside).len(), 50);
}

#[test]
fn an_organized_folder_inside_an_inbox_through_dotdot_or_a_symlink_is_refused() {
    let env = Env::new();
    let via_dotdot = format!("{}/state/../inbox/org", env.root.display());
    let link = env.root.join("to-inbox");
    std::os::unix::fs::symlink(&env.inbox, &link).unwrap();
    let via_link = format!("{}/org", link.display());
    for organized in [via_dotdot, via_link] {
        let text = env.config_text().replace(
            &format!("organized = \"{}\"", env.organized.display()),
            &format!("organized = \"{organized}\""),
        );
        assert!(text.contains(&organized));
        let cfg = env.root.join("nested.toml");
        std::fs::write(&cfg, text).unwrap();
        let mut check = alice();
        check.args(["config", "check"]).arg(&cfg);
        let run = run_to_end(check);
        assert_eq!(run.status.code(), Some(1), "{organized}: {run:?}");
        assert!(run.stderr.contains("inside one another"), "{run:?}");
        let mut scan = alice();
        scan.args(["scan", "--config"]).arg(&cfg);
        let run = run_to_end(scan);
        assert!(!run.status.success(), "{organized}: {run:?}");
        assert!(!env.inbox.join("org").exists(), "{run:?}");
    }
}

#[test]
fn a_symlink_planted_in_the_organized_tree_is_never_written_through() {
    let env = Env::new();
    let outside = env.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&env.organized).unwrap();
    // The date folder the next camera file goes to points outside.
    std::os::unix::fs::symlink(&outside, env.organized.join(media::CAMERA_DATE)).unwrap();
    env.drop_file("cam.jpg", &media::camera_jpeg("planted"));
    let run = env.scan(&[]);
    assert!(files_under(&outside).is_empty(), "written outside: {run:?}");
    let s = run.summary();
    assert_eq!((s.organized, s.failed), (0, 1), "{run:?}");
    assert!(
        run.stderr.contains("symlink"),
        "the failure names the symlink: {run:?}"
    );
    assert!(env.inbox.join("cam.jpg").exists());
}

#[test]
fn a_file_changed_by_truncate_while_watched_is_organized_again() {
    let env = Env::new();
    let mut d = env.start();
    d.wait_ready();
    let jpeg = media::camera_jpeg("truncated later");
    let mut padded = jpeg.clone();
    padded.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let path = env.drop_file("t.jpg", &padded);
    d.wait_events("alice.asset.organized.v1", 1);
    // truncate(2) by path: a change with IN_MODIFY and no IN_CLOSE_WRITE.
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::truncate(c(&path).as_ptr(), jpeg.len() as libc::off_t) };
    assert_eq!(rc, 0);
    d.wait_events("alice.asset.organized.v1", 2);
    let organized: Vec<Vec<u8>> = files_under(&env.organized)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        organized.contains(&jpeg),
        "the truncated content is organized"
    );
    d.terminate();
}

#[test]
fn a_file_that_failed_for_a_passing_reason_is_retried_on_reload_and_listed_in_status() {
    let env = Env::new();
    std::fs::create_dir_all(&env.organized).unwrap();
    // A file where the date folder must go: the placement fails until it is removed.
    let blocker = env.organized.join(media::CAMERA_DATE);
    std::fs::write(&blocker, b"in the way").unwrap();
    let mut d = env.start();
    d.wait_ready();
    env.drop_file("cam.jpg", &media::camera_jpeg("retry"));
    d.wait_events("alice.asset.failed.v1", 1);
    let status = |env: &Env| {
        let mut cmd = alice();
        cmd.args(["status", "--json", "--config"]).arg(&env.config);
        let run = run_to_end(cmd).success();
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let mut waiting = 0;
    for _ in 0..50 {
        waiting = status(&env)["retry"]["waiting"].as_u64().unwrap_or(0);
        if waiting == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(waiting, 1, "status lists the file waiting for a retry");
    std::fs::remove_file(&blocker).unwrap();
    let mut reload = alice();
    reload.args(["reload", "--config"]).arg(&env.config);
    run_to_end(reload).success();
    d.wait_events("alice.asset.organized.v1", 1);
    assert_eq!(status(&env)["retry"]["waiting"], 0);
    d.terminate();
}
