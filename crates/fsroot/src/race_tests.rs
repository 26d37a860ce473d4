//! Real-filesystem tests of the resolver, including races against a thread that swaps
//! folders for symlinks (`renameat2(RENAME_EXCHANGE)`) while files are opened and created.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{CWD, RenameFlags};

use crate::resolve::Strategy;
use crate::{EntryKind, NoReplace, Root, is_symlink_refusal};

const STRATEGIES: [Strategy; 2] = [Strategy::Auto, Strategy::Walk];

/// `tmp/root` (with `sub/f` = "inside") and `tmp/outside` (with `f` = "outside").
fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(root.join("sub/f"), b"inside").unwrap();
    std::fs::write(outside.join("f"), b"outside").unwrap();
    (tmp, root, outside)
}

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// Every (dev, ino) below `dir`, the folder itself included.
fn inodes(dir: &Path) -> HashSet<(u64, u64)> {
    let mut out = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).unwrap();
        out.insert((meta.dev(), meta.ino()));
        if meta.is_dir() {
            for e in std::fs::read_dir(&d).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

/// Names and contents below `dir`, to show nothing there changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let data = if p.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        out.push((p, data));
    }
    out.sort();
    out
}

#[test]
fn symlinks_anywhere_on_the_way_are_refused_by_both_strategies() {
    let (_tmp, root_path, outside) = fixture();
    symlink(&outside, root_path.join("link")).unwrap();
    symlink(root_path.join("sub/f"), root_path.join("sub/flink")).unwrap();
    let root = Root::open(&root_path).unwrap();
    for s in STRATEGIES {
        assert_eq!(
            read_all(root.open_file_with(Path::new("sub/f"), s).unwrap()),
            b"inside"
        );
        for rel in ["link/f", "sub/flink", "link"] {
            let err = root.open_file_with(Path::new(rel), s).unwrap_err();
            assert!(is_symlink_refusal(&err), "{rel} with {s:?}: {err}");
        }
        for rel in ["../outside/f", "/etc/passwd", "sub/../sub/f", "./sub/f"] {
            let err = root.open_file_with(Path::new(rel), s).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{rel}");
        }
    }
    // stat describes a final symlink instead of following it; one on the way is refused.
    assert!(
        root.stat(Path::new("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(is_symlink_refusal(
        &root.stat(Path::new("link/f")).unwrap_err()
    ));
    assert!(is_symlink_refusal(
        &root.open_dir(Path::new("link")).unwrap_err()
    ));
    assert_eq!(
        root.find_symlink(Path::new("link/f/g")),
        Some(root_path.join("link"))
    );
    assert_eq!(root.find_symlink(Path::new("sub/f")), None);
}

#[test]
fn folder_operations_name_one_entry_and_never_replace() {
    let (_tmp, root_path, _outside) = fixture();
    let root = Root::open(&root_path).unwrap();
    let sub = root.open_dir(Path::new("sub")).unwrap();
    assert_eq!(sub.path(), root_path.join("sub"));
    sub.create_dir(OsStr::new("d"), 0o755).unwrap();
    let d = sub.open_dir(OsStr::new("d")).unwrap();
    std::io::Write::write_all(&mut d.create_new(OsStr::new("a"), 0o600).unwrap(), b"A").unwrap();
    assert_eq!(
        d.create_new(OsStr::new("a"), 0o600).unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        sub.rename_noreplace(OsStr::new("f"), &d, OsStr::new("a"))
            .unwrap(),
        NoReplace::Exists
    );
    assert_eq!(
        sub.link_then_unlink(OsStr::new("f"), &d, OsStr::new("a"))
            .unwrap(),
        NoReplace::Exists
    );
    assert_eq!(
        sub.rename_noreplace(OsStr::new("f"), &d, OsStr::new("b"))
            .unwrap(),
        NoReplace::Renamed
    );
    assert_eq!(std::fs::read(root_path.join("sub/d/a")).unwrap(), b"A");
    assert_eq!(std::fs::read(root_path.join("sub/d/b")).unwrap(), b"inside");
    let mut names: Vec<_> = d
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![("a".into(), EntryKind::File), ("b".into(), EntryKind::File)]
    );
    d.remove_file(OsStr::new("a")).unwrap();
    assert!(d.open_file(OsStr::new("a/b")).is_err(), "only single names");
    assert!(d.stat(OsStr::new("..")).is_err(), "no `..`");
}

/// Swaps `a` and `b` (both beneath `dir`) until `stop`.
fn exchanger(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            if rustix::fs::renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).is_ok() {
                swaps += 1;
            }
        }
        swaps
    })
}

/// The attack on `alice scan` in move mode, at the resolver: a folder of the root is
/// exchanged with a symlink to an outside folder in a tight loop while its file is opened,
/// stat'ed, and a new file created and renamed in it. Nothing outside is ever opened,
/// created or renamed.
#[test]
fn exchange_loop_never_reaches_outside() {
    let (_tmp, root_path, outside) = fixture();
    symlink(&outside, root_path.join("link")).unwrap();
    let outside_before = snapshot(&outside);
    let outside_inodes = inodes(&outside);
    let root = Root::open(&root_path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = exchanger(root_path.join("sub"), root_path.join("link"), stop.clone());
    let (mut opened, mut refused, mut created) = (0u64, 0u64, 0u64);
    let until = Instant::now() + Duration::from_secs(2);
    let mut n = 0u64;
    while Instant::now() < until {
        let s = STRATEGIES[(n % 2) as usize];
        n += 1;
        match root.open_file_with(Path::new("sub/f"), s) {
            Ok(f) => {
                let meta = f.metadata().unwrap();
                assert!(!outside_inodes.contains(&(meta.dev(), meta.ino())));
                assert_eq!(read_all(f), b"inside");
                opened += 1;
            }
            Err(e) => {
                // NotADirectory: the walk met the symlink, and the folder was back when it
                // looked again.
                let kind = e.kind();
                assert!(
                    is_symlink_refusal(&e)
                        || kind == std::io::ErrorKind::NotFound
                        || kind == std::io::ErrorKind::NotADirectory,
                    "{e}"
                );
                refused += 1;
            }
        }
        if let Ok(meta) = root.stat(Path::new("sub/f")) {
            assert!(!outside_inodes.contains(&(meta.dev(), meta.ino())));
        }
        if let Ok(dir) = root.open_dir(Path::new("sub")) {
            let name = format!("new-{n}");
            if dir.create_new(OsStr::new(&name), 0o600).is_ok() {
                let moved = format!("moved-{n}");
                dir.rename_noreplace(OsStr::new(&name), &dir, OsStr::new(&moved))
                    .unwrap();
                dir.remove_file(OsStr::new(&moved)).unwrap();
                created += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 100, "the race hardly ran: {swaps} swaps");
    assert!(
        opened > 0 && refused > 0,
        "opened {opened}, refused {refused}"
    );
    assert!(created > 0);
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "something outside changed"
    );
}

/// A seeded random mix of renames, exchanges, symlink plants (to the outside, to `..`, to
/// absolute paths) and file swaps inside a root, raced against random opens, stats, listings
/// and creations through the resolver. Whatever the interleaving, no handle ever refers to
/// an inode outside the root and nothing outside changes.
#[test]
fn random_symlink_and_rename_races_never_reach_outside() {
    let seed = std::env::var("FSROOT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    for round in 0..4u64 {
        random_round(seed.wrapping_add(round));
    }
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn random_rel(rng: &mut fastrand::Rng) -> PathBuf {
    let depth = rng.usize(1..=3);
    (0..depth)
        .map(|_| NAMES[rng.usize(..NAMES.len())])
        .collect()
}

fn random_round(seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let root_path = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("a/b")).unwrap();
    for rel in ["a", "a/b", "a/b/c"] {
        std::fs::create_dir_all(root_path.join(rel)).unwrap();
        std::fs::write(root_path.join(rel).join("d"), b"in").unwrap();
    }
    for rel in ["d", "a/d", "a/b/d", "a/b/c"] {
        std::fs::write(outside.join(rel), b"out").unwrap();
    }
    let outside_before = snapshot(&outside);
    let outside_inodes = inodes(&outside);
    let root = Root::open(&root_path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mutator = {
        let (root_path, outside, stop) = (root_path.clone(), outside.clone(), stop.clone());
        std::thread::spawn(move || mutate(seed, &root_path, &outside, &stop))
    };
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xabcdef);
    let until = Instant::now() + Duration::from_millis(700);
    let mut checked = 0u64;
    while Instant::now() < until {
        let rel = random_rel(&mut rng);
        let s = STRATEGIES[rng.usize(..2)];
        if let Some(id) = probe(&root, &rel, s, rng.u8(..4)) {
            assert!(
                !outside_inodes.contains(&id),
                "seed {seed}: reached outside via {rel:?}"
            );
            checked += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    mutator.join().unwrap();
    assert!(checked > 0, "seed {seed}: nothing was ever opened");
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "seed {seed}: outside changed"
    );
    for sub in ["a", "a/b"] {
        let p = outside.join(sub);
        if p.is_dir() {
            assert!(!p.join("created").exists(), "seed {seed}: created outside");
        }
    }
}

/// One random operation through the resolver; the (dev, ino) of what it reached, if anything.
fn probe(root: &Root, rel: &Path, s: Strategy, op: u8) -> Option<(u64, u64)> {
    let meta = match op {
        0 => root.open_file_with(rel, s).ok()?.metadata(),
        1 => root.stat(rel),
        2 => {
            let d = root.open_dir(rel).ok()?;
            let _ = d.entries();
            let _ = d.create_new(OsStr::new("created"), 0o600);
            d.metadata()
        }
        _ => {
            let (d, name) = root.parent_of(rel).ok()?;
            d.open_file(name).ok()?.metadata()
        }
    };
    meta.ok().map(|m| (m.dev(), m.ino()))
}

/// Random changes inside `root` until `stop`: exchanges of entries, renames, and symlinks
/// to the outside, to `..` and to absolute paths planted at random names. The attacker, too,
/// works through handles beneath the root: otherwise its own path-based calls would follow
/// the symlinks it planted and change the outside folder the test watches.
fn mutate(seed: u64, root_path: &Path, outside: &Path, stop: &AtomicBool) {
    let root = Root::open(root_path).unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let targets = [
        outside.to_path_buf(),
        outside.join("a"),
        outside.join("a/b/c"),
        PathBuf::from(".."),
        PathBuf::from("../../outside"),
    ];
    while !stop.load(Ordering::Relaxed) {
        let (a, b) = (random_rel(&mut rng), random_rel(&mut rng));
        let (Ok((da, na)), Ok((db, nb))) = (root.parent_of(&a), root.parent_of(&b)) else {
            continue;
        };
        match rng.u8(..4) {
            0 => {
                let _ = rustix::fs::renameat_with(da.fd(), na, db.fd(), nb, RenameFlags::EXCHANGE);
            }
            1 => {
                let _ = rustix::fs::renameat(da.fd(), na, db.fd(), nb);
            }
            2 => {
                let target = &targets[rng.usize(..targets.len())];
                let _ = rustix::fs::symlinkat(target, da.fd(), na);
            }
            _ => {
                if da.stat(na).is_ok_and(|m| m.file_type().is_symlink()) {
                    let _ = da.remove_file(na);
                } else {
                    let _ = da.create_dir(na, 0o755);
                }
            }
        }
    }
}
