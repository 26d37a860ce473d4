//! Same content twice is a duplicate; same name with other content gets a new name.

use crate::harness::*;
use crate::media;

#[test]
fn same_content_twice_in_copy_mode_is_organized_once_and_the_duplicate_stays() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    let bytes = media::png("twins");
    let one = env.drop_file("p/one.png", &bytes);
    let two = env.drop_file("p/two.png", &bytes);
    daemon.wait_for("one organized and one duplicate", |r| {
        of_type(r, ev::ORGANIZED).len() + of_type(r, ev::DUPLICATE).len() >= 2
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    let organized = of_type(&records, ev::ORGANIZED);
    let dups = of_type(&records, ev::DUPLICATE);
    assert_eq!((organized.len(), dups.len()), (1, 1), "{records:#?}");
    assert_ne!(organized[0]["path"], dups[0]["path"]);
    assert_eq!(dups[0]["existing"], organized[0]["destination"]);
    assert_each_once(&env.organized, &[&bytes]);
    assert_eq!(
        std::fs::read(&one).unwrap(),
        bytes,
        "copy mode leaves both in the inbox"
    );
    assert_eq!(std::fs::read(&two).unwrap(), bytes);
    assert!(
        files_under(&env.duplicates()).is_empty(),
        "copy mode moves no duplicate"
    );
}

#[test]
fn same_content_twice_in_move_mode_puts_the_duplicate_in_the_duplicates_folder() {
    let env = Env::with(Opts {
        mode: "move",
        duplicates: true,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();
    let bytes = media::png("twins moved");
    env.drop_file("p/one.png", &bytes);
    env.drop_file("p/two.png", &bytes);
    daemon.wait_for("one organized and one duplicate", |r| {
        of_type(r, ev::ORGANIZED).len() + of_type(r, ev::DUPLICATE).len() >= 2
    });
    assert!(daemon.terminate().success());
    let records = daemon.records();
    let dups = of_type(&records, ev::DUPLICATE);
    assert_eq!(dups.len(), 1);
    assert_each_once(&env.organized, &[&bytes]);
    assert_each_once(&env.duplicates(), &[&bytes]);
    let dup_name = std::path::Path::new(dups[0]["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_owned();
    assert!(
        env.duplicates().join(&dup_name).is_file(),
        "the duplicate keeps its name in the duplicates folder: {:?}",
        files_under(&env.duplicates())
    );
    assert_eq!(
        dups[0]["destination"],
        env.duplicates().join(&dup_name).to_str().unwrap()
    );
    assert!(
        files_under(&env.inbox).is_empty(),
        "move mode empties the inbox"
    );
}

#[test]
fn same_name_with_other_content_keeps_both_under_distinct_names() {
    let env = Env::new();
    let mut daemon = env.start();
    daemon.wait_ready();
    // Same project (first level), same date, same source, same name: one destination name.
    let x = media::png("collision x");
    let y = media::png("collision y");
    env.drop_file("p/x/a.png", &x);
    env.drop_file("p/y/a.png", &y);
    daemon.wait_events(ev::ORGANIZED, 2);
    assert!(daemon.terminate().success());
    assert_each_once(&env.organized, &[&x, &y]);
    let folder = env.organized.join(rel(&[&drop_date(), "p", "other"]));
    let mut names: Vec<String> = files_under(&folder)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a (2).png", "a.png"],
        "second one gets a distinct name"
    );
}
