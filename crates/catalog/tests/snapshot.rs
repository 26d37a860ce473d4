//! `Catalog::open_snapshot` reads a stopped catalog without creating or touching any file.

use std::collections::BTreeMap;
use std::path::Path;

use catalog::Catalog;

fn listing(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.len(), m.modified().unwrap()),
            )
        })
        .collect()
}

#[test]
fn snapshot_reads_without_creating_or_touching_files() {
    let dir = tempfile::tempdir().unwrap();
    // A path that needs escaping in a file: URI.
    let sub = dir.path().join("state ?#%");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("catalog.sqlite3");
    {
        let c = Catalog::open(&path).unwrap();
        c.create_project("moodboard", None).unwrap();
    }
    let before = listing(&sub);
    assert!(!before.contains_key("catalog.sqlite3-shm"), "{before:?}");
    let snap = Catalog::open_snapshot(&path).unwrap();
    assert_eq!(snap.list_projects().unwrap()[0].name, "moodboard");
    assert!(snap.is_read_only());
    drop(snap);
    assert_eq!(
        listing(&sub),
        before,
        "the snapshot reader changed the state folder"
    );
    assert!(Catalog::open_snapshot(&sub.join("missing.sqlite3")).is_err());
}
