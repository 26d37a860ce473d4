//! Files dropped into a running daemon land where the template says, exactly once.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::harness::*;
use crate::media;

struct Input {
    inbox: PathBuf,
    bytes: Vec<u8>,
    /// Expected destination relative to the organized root; `None` for non-media.
    expect: Option<PathBuf>,
}

fn local_date(path: &std::path::Path) -> String {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    chrono::DateTime::<chrono::Local>::from(mtime)
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn two_hundred_mixed_files_dropped_while_running_are_organized_once_and_a_rescan_changes_nothing() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    let date = drop_date();
    let mut inputs: Vec<Input> = Vec::new();
    let mut add = |rel: PathBuf, bytes: Vec<u8>, expect: Option<PathBuf>, in_place: bool| {
        let inbox = if in_place {
            // Written in place by a slow-ish writer would be the same; this is open/write/close.
            let p = env.inbox.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
            p
        } else {
            env.drop_file(&rel, &bytes)
        };
        // In-place files are dated by their real mtime.
        let expect = expect.map(|e| {
            if in_place {
                let mut parts = e.components();
                parts.next();
                PathBuf::from(local_date(&inbox)).join(parts.as_path())
            } else {
                e
            }
        });
        inputs.push(Input {
            inbox,
            bytes,
            expect,
        });
    };
    for i in 0..100 {
        let project = format!("project-{}", i % 5);
        let name = format!("gen-{i:03}.png");
        add(
            rel(&[&project, &name]),
            media::png(&format!("bulk gen {i}")),
            Some(rel(&[&date, &project, "other", &name])),
            i % 2 == 1,
        );
    }
    for i in 0..30 {
        let name = format!("root-{i:02}.png");
        add(
            rel(&[&name]),
            media::png(&format!("bulk root {i}")),
            Some(rel(&[&date, "uncategorized", "other", &name])),
            false,
        );
    }
    for i in 0..30 {
        // Nested below the project folder: the project is the first level only.
        let name = format!("plain-{i:02}.jpg");
        add(
            rel(&["jpegs", &format!("sub{}", i % 3), &name]),
            media::jpeg(&format!("bulk jpeg {i}")),
            Some(rel(&[&date, "jpegs", "other", &name])),
            false,
        );
    }
    for i in 0..15 {
        let name = format!("cam-{i:02}.jpg");
        add(
            rel(&["trip", &name]),
            media::camera_jpeg(&format!("bulk camera {i}")),
            Some(rel(&[media::CAMERA_DATE, "trip", "camera", &name])),
            false,
        );
    }
    for i in 0..10 {
        let name = format!("sd-{i:02}.png");
        add(
            rel(&["ai", &name]),
            media::stable_diffusion_png(&format!("bulk sd {i}")),
            Some(rel(&[&date, "ai", "stable-diffusion", &name])),
            false,
        );
    }
    for i in 0..5 {
        let name = format!("mj-{i:02}.png");
        add(
            rel(&["ai", &name]),
            media::midjourney_png(&format!("bulk mj {i}")),
            Some(rel(&[&date, "ai", "midjourney", &name])),
            false,
        );
    }
    for i in 0..10 {
        let r = if i % 2 == 0 {
            rel(&["notes", &format!("note-{i}.txt")])
        } else {
            rel(&[&format!("readme-{i}.txt")])
        };
        add(
            r,
            format!("just text, not media #{i}\n").into_bytes(),
            None,
            false,
        );
    }
    assert_eq!(inputs.len(), 200);
    let media_count = inputs.iter().filter(|i| i.expect.is_some()).count();
    let text_count = inputs.len() - media_count;

    daemon.wait_for("every file to reach an outcome", |r| {
        of_type(r, ev::ORGANIZED).len() + of_type(r, ev::SKIPPED).len() >= inputs.len()
    });
    let status = daemon.terminate();
    assert!(
        status.success(),
        "SIGTERM must end the daemon with 0, got {status}"
    );

    let records = daemon.records();
    assert!(of_type(&records, ev::FAILED).is_empty(), "no file may fail");
    assert!(
        of_type(&records, ev::DUPLICATE).is_empty(),
        "no duplicates were dropped"
    );
    let mut organized_per_path: HashMap<String, usize> = HashMap::new();
    for r in of_type(&records, ev::ORGANIZED) {
        *organized_per_path
            .entry(r["path"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for input in &inputs {
        let p = input.inbox.to_string_lossy().into_owned();
        let n = organized_per_path.get(&p).copied().unwrap_or(0);
        match &input.expect {
            Some(expect) => {
                assert_eq!(n, 1, "{p} must be organized exactly once");
                let dest = env.organized.join(expect);
                let got = std::fs::read(&dest)
                    .unwrap_or_else(|e| panic!("{} expected at {}: {e}", p, dest.display()));
                assert_eq!(got, input.bytes, "{} has other bytes", dest.display());
            }
            None => {
                assert_eq!(n, 0, "{p} is not media and must not be organized");
                assert_eq!(
                    about(&records, ev::SKIPPED, &input.inbox).len(),
                    1,
                    "{p} skipped once"
                );
            }
        }
        // Copy mode: every inbox file stays, untouched.
        assert_eq!(
            std::fs::read(&input.inbox).unwrap(),
            input.bytes,
            "{p} changed"
        );
    }
    let media_bytes: Vec<&[u8]> = inputs
        .iter()
        .filter(|i| i.expect.is_some())
        .map(|i| i.bytes.as_slice())
        .collect();
    assert_each_once(&env.organized, &media_bytes);

    let stopped = records
        .iter()
        .find(|r| r["message"] == "stopped")
        .expect("a final `stopped` record");
    assert_eq!(stopped["organized"], media_count);
    assert_eq!(stopped["skipped"], text_count);
    assert_eq!(stopped["failed"], 0);
    assert_eq!(stopped["duplicates"], 0);

    let before = (snapshot(&env.inbox), snapshot(&env.organized));
    let scan = env.scan(&[]).success();
    let s = scan.summary();
    assert_eq!(
        (s.organized, s.duplicates, s.failed),
        (0, 0, 0),
        "a second pass must find nothing to do: {scan:?}"
    );
    let after = (snapshot(&env.inbox), snapshot(&env.organized));
    assert!(before == after, "the second pass changed the trees");
}

#[test]
fn mkdir_p_with_files_created_at_once_in_every_level_are_all_found() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    let deep = env.inbox.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let files = [
        (env.inbox.join("a/one.png"), media::png("mkdir level a")),
        (env.inbox.join("a/b/two.png"), media::png("mkdir level b")),
        (
            env.inbox.join("a/b/c/three.png"),
            media::png("mkdir level c"),
        ),
    ];
    for (path, bytes) in &files {
        std::fs::write(path, bytes).unwrap();
    }
    daemon.wait_events(ev::ORGANIZED, files.len());
    assert!(daemon.terminate().success());
    for (path, bytes) in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let dest = env
            .organized
            .join(local_date(path))
            .join(rel(&["a", "other", name]));
        assert_eq!(
            std::fs::read(&dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display())),
            *bytes
        );
    }
    let all: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
    assert_each_once(&env.organized, &all);
}

#[test]
fn a_name_that_is_not_utf8_is_kept_byte_exact() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    let name = b"caf\xe9.png";
    let bytes = media::png("latin-1 name");
    let src = env.drop_file(rel(&["p"]).join(bytes_path(name)), &bytes);
    daemon.wait_events(ev::ORGANIZED, 1);
    assert!(daemon.terminate().success());
    let dest = env
        .organized
        .join(rel(&[&drop_date(), "p", "other"]))
        .join(bytes_path(name));
    assert_eq!(
        std::fs::read(&dest).unwrap_or_else(|e| panic!(
            "expected {:?}: {e}; organized holds {:?}",
            dest,
            files_under(&env.organized)
        )),
        bytes
    );
    assert_each_once(&env.organized, &[&bytes]);
    assert!(src.exists(), "copy mode keeps the original");
}

/// The `discovered` events an env's catalog recorded, as JSON.
fn recorded_discoveries(env: &Env) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(env.state.join("catalog.sqlite3")).unwrap();
    let mut stmt = conn
        .prepare("SELECT json FROM events WHERE type = 'alice.asset.discovered.v1'")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|j| serde_json::from_str(&j.unwrap()).unwrap())
        .collect()
}

/// Move mode reads each file once: a file left alone before the scan is discovered with the
/// identity it was hashed under (`hashed_as`), and the organizer renames that very inode
/// into place instead of reading it a second time.
#[test]
fn a_settled_file_is_moved_on_the_identity_it_was_hashed_under() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::with(Opts {
        mode: "move",
        ..Opts::default()
    });
    let src = env.put_file("trip/one.png", &media::png("hashed once"));
    let before = std::fs::metadata(&src).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(250));
    env.scan(&[]).success();
    let placed = files_under(&env.organized);
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert!(!src.exists());
    let after = std::fs::metadata(env.organized.join(&placed[0])).unwrap();
    assert_eq!(after.ino(), before.ino(), "renamed, not copied");
    let found = recorded_discoveries(&env);
    assert_eq!(found.len(), 1);
    let hashed_as = &found[0]["data"]["hashed_as"];
    assert_eq!(hashed_as["ino"], before.ino(), "{:#}", found[0]);
    assert_eq!(hashed_as["size"], before.size());
    assert_eq!(
        hashed_as["ctime_ns"],
        before.ctime() * 1_000_000_000 + before.ctime_nsec()
    );
}
