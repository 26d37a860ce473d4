//! Bad input gets a clear event and stays where it is (or goes to quarantine); the daemon
//! keeps going. Symlinks are never followed.

use crate::harness::*;
use crate::media;

#[test]
fn text_is_skipped_corrupt_media_fails_in_place_and_the_daemon_keeps_organizing() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    let text = b"shopping list: milk, eggs\n".to_vec();
    let notes = env.drop_file("p/notes.txt", &text);
    let broken_bytes = media::fixture_bytes("media/truncated.png");
    let broken = env.drop_file("p/broken.png", &broken_bytes);
    let torn_jpeg_bytes = media::fixture_bytes("media/truncated.jpg");
    let torn = env.drop_file("p/torn.jpg", &torn_jpeg_bytes);
    daemon.wait_for("skip and two failures", |r| {
        about(r, ev::SKIPPED, &notes).len() == 1
            && about(r, ev::FAILED, &broken).len() == 1
            && about(r, ev::FAILED, &torn).len() == 1
    });
    let good_bytes = media::png("good after bad");
    let good = env.drop_file("p/good.png", &good_bytes);
    daemon.wait_for("the good file to be organized", |r| {
        !about(r, ev::ORGANIZED, &good).is_empty()
    });
    assert!(daemon.is_running());
    assert!(daemon.terminate().success());
    let records = daemon.records();
    let fail = about(&records, ev::FAILED, &broken)[0];
    assert_eq!(fail["stage"], "metadata");
    assert!(
        fail["error"].as_str().unwrap().contains("truncated"),
        "the error says why: {fail}"
    );
    assert!(
        fail["asset_id"].as_str().is_some_and(|a| a.len() == 64),
        "{fail}"
    );
    assert_eq!(std::fs::read(&notes).unwrap(), text, "skipped file stays");
    assert_eq!(
        std::fs::read(&broken).unwrap(),
        broken_bytes,
        "failed file stays"
    );
    assert_eq!(
        std::fs::read(&torn).unwrap(),
        torn_jpeg_bytes,
        "failed file stays"
    );
    assert_each_once(&env.organized, &[&good_bytes]);

    // Nothing is retried on the next pass.
    let s = env.scan(&[]).success().summary();
    assert_eq!((s.organized, s.failed, s.skipped), (0, 0, 0), "{s:?}");
}

#[test]
fn corrupt_media_goes_to_quarantine_when_configured() {
    let env = Env::with(Opts {
        quarantine: true,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();
    let broken_bytes = media::fixture_bytes("media/truncated.png");
    let broken = env.drop_file("p/broken.png", &broken_bytes);
    let text = b"not media\n".to_vec();
    let notes = env.drop_file("p/notes.txt", &text);
    daemon.wait_for("a failure and a skip", |r| {
        about(r, ev::FAILED, &broken).len() == 1 && about(r, ev::SKIPPED, &notes).len() == 1
    });
    let good_bytes = media::png("good after quarantine");
    let good = env.drop_file("p/good.png", &good_bytes);
    daemon.wait_for("the good file to be organized", |r| {
        !about(r, ev::ORGANIZED, &good).is_empty()
    });
    assert!(daemon.terminate().success());
    assert!(!broken.exists(), "quarantined file left the inbox");
    assert_eq!(
        std::fs::read(env.quarantine().join("broken.png")).unwrap(),
        broken_bytes
    );
    assert_eq!(
        std::fs::read(&notes).unwrap(),
        text,
        "non-media is not quarantined"
    );
    assert_each_once(&env.quarantine(), &[&broken_bytes]);
    assert_each_once(&env.organized, &[&good_bytes]);
}

#[test]
fn symlink_loops_and_links_to_outside_are_never_followed() {
    // Move mode: following a link would move a file from outside the inbox.
    let env = Env::with(Opts {
        mode: "move",
        ..Opts::default()
    });
    let outside = env.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.png"), media::png("outside file")).unwrap();
    std::fs::create_dir_all(env.inbox.join("p")).unwrap();
    let link = |target: &std::path::Path, at: &str| {
        std::os::unix::fs::symlink(target, env.inbox.join(at)).unwrap();
    };
    link(std::path::Path::new("."), "loop");
    link(std::path::Path::new(".."), "p/up");
    link(&outside, "out");
    link(&outside.join("secret.png"), "p/linked.png");
    let real = media::png("real inbox file");
    env.put_file("p/real.png", &real);
    let outside_before = snapshot(&outside);
    let links_before = snapshot(&env.inbox);

    let scan = env.scan(&[]).success();
    assert_eq!(scan.summary().organized, 1, "{scan:?}");
    assert_each_once(&env.organized, &[&real]);
    assert!(snapshot(&outside) == outside_before, "outside changed");

    // The watcher as well.
    let mut daemon = env.start();
    daemon.wait_ready();
    let later = media::png("dropped while watching");
    let later_path = env.drop_file("p/later.png", &later);
    daemon.wait_for("the later file to be organized", |r| {
        !about(r, ev::ORGANIZED, &later_path).is_empty()
    });
    assert!(daemon.terminate().success());
    assert_each_once(&env.organized, &[&real, &later]);
    assert!(snapshot(&outside) == outside_before, "outside changed");
    let links_now: Vec<_> = snapshot(&env.inbox)
        .into_iter()
        .filter(|(_, n)| matches!(n, Node::Link(_)))
        .collect();
    let links_then: Vec<_> = links_before
        .into_iter()
        .filter(|(_, n)| matches!(n, Node::Link(_)))
        .collect();
    assert_eq!(links_now, links_then, "symlinks stay as they are");
}
