//! A restart over many known files hashes nothing again (brief: durability model).

use crate::harness::*;
use crate::media;

const FILES: u64 = 10_000;

#[test]
fn a_second_scan_over_ten_thousand_known_files_hashes_none_of_them() {
    let env = Env::new();
    for i in 0..FILES {
        // 100 projects of 100 tiny files.
        let p = env.inbox.join(format!("p{:02}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&p).unwrap();
        }
        std::fs::write(p.join(format!("f{i:05}.png")), media::png(&i.to_string())).unwrap();
    }
    let first = env.scan(&[]).success();
    let s = first.summary();
    assert_eq!((s.organized, s.failed), (FILES, 0), "{first:?}");
    assert_eq!(s.hashed, FILES, "every file is hashed once: {first:?}");
    assert_eq!(files_under(&env.organized).len() as u64, FILES);

    let second = env.scan(&[]).success();
    let s = second.summary();
    assert_eq!(s.hashed, 0, "a restart rehashes nothing: {second:?}");
    assert_eq!(s.known, FILES, "every file known by identity: {second:?}");
    assert_eq!(
        (s.organized, s.duplicates, s.failed),
        (0, 0, 0),
        "{second:?}"
    );
}
