//! How files arrive: slow writers, renames, folders moved in, files that vanish.

use std::io::Write;
use std::time::Duration;

use crate::harness::*;
use crate::media;

/// When the slow writer starts, relative to the daemon.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The daemon watches the file's folder before the file is created.
    AfterDaemon,
    /// The first piece is written before the daemon starts (a restart during a download):
    /// the start-up scan finds a file whose writer is still busy.
    BeforeDaemon,
}

/// Writes a 64 KiB camera JPEG at `inbox/slow/slow.jpg` in 8 pieces with pauses longer than
/// settle_ms, keeping it open (only the close says the writer is done), then checks it was
/// discovered and organized exactly once, complete.
fn slow_writer_case(start: Start) {
    let env = Env::with(Opts {
        settle_ms: 300,
        ..Opts::default()
    });
    let path = env.inbox.join("slow/slow.jpg");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Its first piece already holds every header, so a half-written copy reads as valid.
    let bytes = media::camera_jpeg_padded("slow writer", 64 * 1024);
    let pieces: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(8)).collect();
    let mut file = None;
    if start == Start::BeforeDaemon {
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(pieces[0]).unwrap();
        file = Some(f);
    }
    let mut daemon = env.start();
    daemon.wait_ready();
    let mut f = file.unwrap_or_else(|| std::fs::File::create(&path).unwrap());
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 || start == Start::AfterDaemon {
            f.write_all(piece).unwrap();
            f.flush().unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(f);
    daemon.wait_for("the slow file to be organized", |r| {
        !about(r, ev::ORGANIZED, &path).is_empty()
    });
    // A later file shows the pipeline has moved on, so a second pipeline for the slow file
    // (if any) would have shown up by now.
    let marker = env.drop_file("marker.png", &media::png("slow marker"));
    daemon.wait_for("the marker file to be organized", |r| {
        !about(r, ev::ORGANIZED, &marker).is_empty()
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    let show = |t: &str| format!("{:#?}", about(&records, t, &path));
    assert!(
        about(&records, ev::FAILED, &path).is_empty(),
        "a half-written file was processed: {}",
        show(ev::FAILED)
    );
    for r in about(&records, ev::ORGANIZED, &path) {
        let dest = r["destination"].as_str().unwrap();
        let got = std::fs::read(dest).unwrap();
        assert!(
            got == bytes,
            "{dest} holds {} of {} bytes: a half-written file was organized",
            got.len(),
            bytes.len()
        );
    }
    assert_eq!(
        about(&records, ev::ORGANIZED, &path).len(),
        1,
        "organized once: {}",
        show(ev::ORGANIZED)
    );
    assert_eq!(
        about(&records, ev::DISCOVERED, &path).len(),
        1,
        "discovered once: {}",
        show(ev::DISCOVERED)
    );
    assert_each_once(&env.organized, &[&bytes, &media::png("slow marker")]);
}

#[test]
fn a_file_written_slowly_while_kept_open_is_organized_once_and_complete() {
    slow_writer_case(Start::AfterDaemon);
}

/// The same root cause shows in the `mkdir -p dir && slow-writer > dir/file` race, when the
/// first write lands before the new folder is watched; this variant is deterministic.
#[test]
fn a_file_still_being_written_when_the_daemon_starts_is_not_organized_half_written() {
    slow_writer_case(Start::BeforeDaemon);
}

#[test]
fn files_and_folders_moved_in_from_outside_are_organized_once() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    // One file renamed in.
    let single = media::png("moved in");
    let outside = env.staging().join("moved.png");
    std::fs::write(&outside, &single).unwrap();
    std::fs::create_dir_all(env.inbox.join("p")).unwrap();
    let inside = env.inbox.join("p/moved.png");
    std::fs::rename(&outside, &inside).unwrap();
    // A whole folder renamed in: its files arrive without any event of their own.
    let folder = env.staging().join("album");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    let a = media::png("album a");
    let b = media::png("album b");
    std::fs::write(folder.join("a.png"), &a).unwrap();
    std::fs::write(folder.join("sub/b.png"), &b).unwrap();
    std::fs::rename(&folder, env.inbox.join("album")).unwrap();

    daemon.wait_events(ev::ORGANIZED, 3);
    let marker = env.drop_file("marker.png", &media::png("moved marker"));
    daemon.wait_for("the marker file to be organized", |r| {
        !about(r, ev::ORGANIZED, &marker).is_empty()
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    for p in [
        inside.clone(),
        env.inbox.join("album/a.png"),
        env.inbox.join("album/sub/b.png"),
    ] {
        assert_eq!(
            about(&records, ev::ORGANIZED, &p).len(),
            1,
            "{p:?} organized once"
        );
    }
    let d = drop_date_of(&inside);
    assert_eq!(
        std::fs::read(env.organized.join(rel(&[&d, "p", "other", "moved.png"]))).unwrap(),
        single
    );
    assert_each_once(
        &env.organized,
        &[&single, &a, &b, &media::png("moved marker")],
    );
}

fn drop_date_of(path: &std::path::Path) -> String {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    chrono::DateTime::<chrono::Local>::from(mtime)
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn a_file_deleted_while_settling_leaves_no_trace_and_the_daemon_continues() {
    // A long settle time makes "deleted before it settled" certain, not a race.
    let env = Env::with(Opts {
        settle_ms: 3000,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();
    let gone = env.inbox.join("p/gone.png");
    std::fs::create_dir_all(gone.parent().unwrap()).unwrap();
    std::fs::write(&gone, media::png("deleted while settling")).unwrap();
    std::fs::remove_file(&gone).unwrap();
    let good = env.drop_file("p/good.png", &media::png("after the deleted one"));
    daemon.wait_for("the good file to be organized", |r| {
        !about(r, ev::ORGANIZED, &good).is_empty()
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    for t in [ev::DISCOVERED, ev::ORGANIZED, ev::FAILED, ev::SKIPPED] {
        assert!(
            about(&records, t, &gone).is_empty(),
            "no {t} for a file deleted before it settled"
        );
    }
    assert_each_once(&env.organized, &[&media::png("after the deleted one")]);
}

#[test]
fn files_deleted_at_any_stage_never_leave_partial_copies_and_the_daemon_continues() {
    let env = Env::with(Opts {
        settle_ms: 100,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();
    // Big enough that hashing, reading and copying take a moment; deleted at staggered times
    // so that some vanish while settling, some while hashed, some while copied.
    let mut victims = Vec::new();
    for i in 0..12 {
        let bytes = media::png_padded(&format!("victim {i}"), 2 * 1024 * 1024);
        let p = env.drop_file(format!("v/victim-{i:02}.png"), &bytes);
        victims.push((p, bytes));
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, (p, _)) in victims.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(25 * (i as u64 % 5)));
        std::fs::remove_file(p).unwrap();
    }
    let good = env.drop_file("after.png", &media::png("after the victims"));
    daemon.wait_for("the good file to be organized", |r| {
        !about(r, ev::ORGANIZED, &good).is_empty()
    });
    // Let every victim that did enter the pipeline reach its outcome.
    daemon.wait_for("every discovered victim to reach an outcome", |r| {
        victims.iter().all(|(p, _)| {
            let discovered = about(r, ev::DISCOVERED, p).len();
            let done = about(r, ev::ORGANIZED, p).len() + about(r, ev::FAILED, p).len();
            done >= discovered
        })
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    for (p, bytes) in &victims {
        for r in about(&records, ev::ORGANIZED, p) {
            let dest = r["destination"].as_str().unwrap();
            assert_eq!(
                std::fs::read(dest).unwrap().as_slice(),
                bytes.as_slice(),
                "{dest} must be complete"
            );
        }
    }
    // Whatever got organized is whole; nothing else is in the tree.
    for f in files_under(&env.organized) {
        let got = std::fs::read(&f).unwrap();
        assert!(
            got == media::png("after the victims") || victims.iter().any(|(_, b)| *b == got),
            "{f:?} is not a complete input"
        );
    }
    assert!(
        temporaries(&env.root).is_empty(),
        "temporaries left: {:?}",
        temporaries(&env.root)
    );
}
