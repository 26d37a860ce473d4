//! `alice undo --last N` reverses the most recent operations, and only when it is safe.

use crate::harness::*;
use crate::media;

#[test]
fn undo_in_move_mode_puts_the_last_files_back_where_they_came_from() {
    let env = Env::with(Opts {
        mode: "move",
        ..Opts::default()
    });
    let inputs: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("p/file-{i}.png"),
                media::png(&format!("undo move {i}")),
            )
        })
        .collect();
    // One scan per file, so the journal order is known.
    for (rel, bytes) in &inputs {
        env.put_file(rel, bytes);
        assert_eq!(env.scan(&[]).success().summary().organized, 1);
        assert!(!env.inbox.join(rel).exists(), "moved out of the inbox");
    }
    let undo = env.undo(2);
    assert!(undo.status.success(), "{undo:?}");
    for (i, (rel, bytes)) in inputs.iter().enumerate() {
        let back = env.inbox.join(rel);
        let organized = env
            .organized
            .join(drop_date())
            .join("p/other")
            .join(back.file_name().unwrap());
        if i == 0 {
            assert!(!back.exists(), "the oldest operation is not undone");
            assert_eq!(std::fs::read(&organized).unwrap(), *bytes);
        } else {
            assert_eq!(std::fs::read(&back).unwrap(), *bytes, "{rel} is back");
            assert!(!organized.exists(), "{} removed", organized.display());
        }
    }
    assert_each_once(&env.organized, &[&inputs[0].1]);
    assert!(temporaries(&env.root).is_empty());
}

#[test]
fn undo_in_copy_mode_removes_a_copy_only_while_its_source_is_unchanged() {
    let env = Env::new();
    let same = media::png("undo copy kept source");
    let edited = media::png("undo copy edited source");
    let same_src = env.put_file("p/same.png", &same);
    assert_eq!(env.scan(&[]).success().summary().organized, 1);
    let edited_src = env.put_file("p/edited.png", &edited);
    assert_eq!(env.scan(&[]).success().summary().organized, 1);
    // The user edits one original after it was organized: its copy is now the only record of
    // the organized version and must survive.
    std::fs::write(&edited_src, media::png("edited afterwards")).unwrap();

    let undo = env.undo(2);
    assert!(
        !undo.status.success(),
        "one operation could not be undone: {undo:?}"
    );
    let folder = env.organized.join(drop_date()).join("p/other");
    assert!(!folder.join("same.png").exists(), "{undo:?}");
    assert_eq!(
        std::fs::read(folder.join("edited.png")).unwrap(),
        edited,
        "{undo:?}"
    );
    assert_eq!(
        std::fs::read(&same_src).unwrap(),
        same,
        "originals are never touched"
    );
    assert_eq!(
        std::fs::read(&edited_src).unwrap(),
        media::png("edited afterwards")
    );
}

#[test]
fn undo_is_refused_while_the_daemon_runs() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    env.drop_file("p/a.png", &media::png("undo while running"));
    daemon.wait_events(ev::ORGANIZED, 1);
    let undo = env.undo(1);
    assert!(!undo.status.success(), "{undo:?}");
    assert!(undo.stderr.contains("lock"), "{undo:?}");
    assert!(daemon.terminate().success());
    assert_each_once(&env.organized, &[&media::png("undo while running")]);
}
