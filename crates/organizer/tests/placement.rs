//! Real-filesystem tests of placement, removal, recovery and cleanup.

use std::ffi::OsStr;
use std::fs::{self, File, FileTimes};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use organizer::{
    Mode, OrganizeError, Outcome, PlaceBeneath, PlaceRequest, Placement, Root, SourceRemoval,
    Template, Via, cleanup_temporaries, find_placed, is_temporary_name, place, place_beneath,
    remove_source, remove_source_beneath,
};

struct Fixture {
    _dir: tempfile::TempDir,
    inbox: PathBuf,
    organized: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let organized = dir.path().join("organized");
    fs::create_dir(&inbox).unwrap();
    fs::create_dir(&organized).unwrap();
    Fixture {
        _dir: dir,
        inbox,
        organized,
    }
}

fn id_of(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

/// Content large enough to span several copy buffers.
fn big_content(seed: u8) -> Vec<u8> {
    (0..1_000_003u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
        .collect()
}

fn place_file(
    source: &Path,
    root: &Path,
    relative: &str,
    content: &[u8],
    mode: Mode,
) -> Result<Placement, OrganizeError> {
    let id = id_of(content);
    place(&PlaceRequest {
        source,
        dest_root: root,
        relative: Path::new(relative),
        asset_id: &id,
        expected_size: content.len() as u64,
        mode,
    })
}

/// Every file below `root` (relative paths, sorted).
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn copy_places_a_verified_copy_and_leaves_the_source_untouched() {
    let f = fixture();
    let content = big_content(1);
    let src = f.inbox.join("image.png");
    write(&src, &content);
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime))
        .unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    let before = fs::metadata(&src).unwrap();

    let p = place_file(
        &src,
        &f.organized,
        "2024-03-15/proj/midjourney/image.png",
        &content,
        Mode::Copy,
    )
    .unwrap();

    assert_eq!(
        p.destination,
        f.organized.join("2024-03-15/proj/midjourney/image.png")
    );
    assert_eq!(
        p.outcome,
        Outcome::Placed {
            renamed_for_collision: false,
            via: Via::Copy
        }
    );
    assert_eq!(p.bytes, content.len() as u64);
    assert_eq!(fs::read(&p.destination).unwrap(), content);

    let after = fs::metadata(&src).unwrap();
    assert_eq!(fs::read(&src).unwrap(), content);
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.mode(), before.mode());
    assert_eq!(
        p.source_identity,
        organizer::FileIdentity::from_metadata(&before)
    );

    let dest = fs::metadata(&p.destination).unwrap();
    assert_eq!(dest.modified().unwrap(), mtime);
    assert_eq!(dest.mode() & 0o777, 0o640);
    assert_eq!(
        files_under(&f.organized),
        vec![PathBuf::from("2024-03-15/proj/midjourney/image.png")]
    );
}

#[test]
fn move_on_one_filesystem_renames_the_same_inode() {
    let f = fixture();
    let content = b"move me".to_vec();
    let src = f.inbox.join("a.jpg");
    write(&src, &content);
    let ino = fs::metadata(&src).unwrap().ino();

    let p = place_file(&src, &f.organized, "d/a.jpg", &content, Mode::Move).unwrap();
    assert_eq!(
        p.outcome,
        Outcome::Placed {
            renamed_for_collision: false,
            via: Via::Rename
        }
    );
    assert!(!src.exists());
    assert_eq!(fs::metadata(&p.destination).unwrap().ino(), ino);
    assert_eq!(fs::read(&p.destination).unwrap(), content);
    // The caller's usual follow-up is a harmless no-op.
    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::AlreadyGone);
    assert_eq!(fs::read(&p.destination).unwrap(), content);
}

#[test]
fn move_across_filesystems_copies_then_removes_only_on_request() {
    let tmp_dev = fs::metadata(std::env::temp_dir()).unwrap().dev();
    let shm = Path::new("/dev/shm");
    let shm_dev = match fs::metadata(shm) {
        Ok(m) if m.is_dir() => m.dev(),
        _ => {
            println!("SKIPPED: /dev/shm is not available, no second filesystem to move across");
            return;
        }
    };
    if shm_dev == tmp_dev {
        println!("SKIPPED: /dev/shm is on the same filesystem as the temp dir");
        return;
    }
    let inbox = tempfile::tempdir_in(shm).unwrap();
    let f = fixture();
    let content = big_content(7);
    let src = inbox.path().join("clip.mp4");
    write(&src, &content);

    let p = place_file(&src, &f.organized, "v/clip.mp4", &content, Mode::Move).unwrap();
    assert_eq!(
        p.outcome,
        Outcome::Placed {
            renamed_for_collision: false,
            via: Via::Copy
        }
    );
    assert_eq!(
        fs::read(&src).unwrap(),
        content,
        "source stays until remove_source"
    );
    assert_eq!(fs::read(&p.destination).unwrap(), content);

    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::Removed);
    assert!(!src.exists());
    assert_eq!(fs::read(&p.destination).unwrap(), content);
    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::AlreadyGone);
}

#[test]
fn different_content_under_the_same_name_gets_a_new_name() {
    let f = fixture();
    let existing = f.organized.join("d/photo.png");
    write(&existing, b"first file");

    let second = b"second file".to_vec();
    let src = f.inbox.join("photo.png");
    write(&src, &second);
    let p = place_file(&src, &f.organized, "d/photo.png", &second, Mode::Copy).unwrap();
    assert_eq!(p.destination, f.organized.join("d/photo (2).png"));
    assert_eq!(
        p.outcome,
        Outcome::Placed {
            renamed_for_collision: true,
            via: Via::Copy
        }
    );

    // Same size as the first, different bytes: size alone must not make it a duplicate.
    let third = b"third file".to_vec();
    assert_eq!(third.len(), b"first file".len());
    let src3 = f.inbox.join("photo3.png");
    write(&src3, &third);
    let p3 = place_file(&src3, &f.organized, "d/photo.png", &third, Mode::Move).unwrap();
    assert_eq!(p3.destination, f.organized.join("d/photo (3).png"));

    assert_eq!(fs::read(&existing).unwrap(), b"first file");
    assert_eq!(fs::read(&p.destination).unwrap(), second);
    assert_eq!(fs::read(&p3.destination).unwrap(), third);
}

#[test]
fn identical_content_is_already_present_and_reruns_are_idempotent() {
    let f = fixture();
    let content = big_content(3);
    let src = f.inbox.join("x.webp");
    write(&src, &content);

    let first = place_file(&src, &f.organized, "d/x.webp", &content, Mode::Copy).unwrap();
    for _ in 0..2 {
        let again = place_file(&src, &f.organized, "d/x.webp", &content, Mode::Copy).unwrap();
        assert_eq!(again.outcome, Outcome::AlreadyPresent);
        assert_eq!(again.destination, first.destination);
        assert_eq!(again.bytes, content.len() as u64);
    }
    // Also in move mode: the duplicate's source stays, the caller decides.
    let again = place_file(&src, &f.organized, "d/x.webp", &content, Mode::Move).unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyPresent);
    assert!(src.exists());
    assert_eq!(files_under(&f.organized), vec![PathBuf::from("d/x.webp")]);
}

#[test]
fn identical_content_is_found_among_collision_names() {
    let f = fixture();
    write(&f.organized.join("d/x.png"), b"someone else");
    let content = b"mine".to_vec();
    let src = f.inbox.join("x.png");
    write(&src, &content);
    let first = place_file(&src, &f.organized, "d/x.png", &content, Mode::Copy).unwrap();
    assert_eq!(first.destination, f.organized.join("d/x (2).png"));
    let again = place_file(&src, &f.organized, "d/x.png", &content, Mode::Move).unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyPresent);
    assert_eq!(again.destination, first.destination);
    assert_eq!(files_under(&f.organized).len(), 2);
}

#[test]
fn a_symlink_with_the_same_content_is_not_a_duplicate() {
    let f = fixture();
    let content = b"linked".to_vec();
    let elsewhere = f.inbox.join("elsewhere.bin");
    write(&elsewhere, &content);
    fs::create_dir_all(f.organized.join("d")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, f.organized.join("d/x.bin")).unwrap();
    let src = f.inbox.join("x.bin");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/x.bin", &content, Mode::Copy).unwrap();
    assert_eq!(p.destination, f.organized.join("d/x (2).bin"));
    assert!(
        fs::symlink_metadata(f.organized.join("d/x.bin"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn a_source_changed_after_hashing_is_not_placed() {
    let f = fixture();
    let hashed = big_content(5);
    let src = f.inbox.join("late.png");
    let mut modified = hashed.clone();
    modified[500_000] ^= 0xff;
    write(&src, &modified);

    for mode in [Mode::Copy, Mode::Move] {
        let err = place_file(&src, &f.organized, "d/late.png", &hashed, mode).unwrap_err();
        assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
        assert!(
            err.to_string().contains("changed since it was hashed"),
            "{err}"
        );
        assert!(err.is_transient());
    }
    // Same size, different bytes: the hash catches it in both modes (a same-filesystem move
    // verifies before renaming). Nothing placed, no temporary left, source untouched.
    assert_eq!(files_under(&f.organized), Vec::<PathBuf>::new());
    assert_eq!(fs::read(&src).unwrap(), modified);

    // A size change is caught before anything is written, in both modes.
    write(&src, b"short");
    for mode in [Mode::Copy, Mode::Move] {
        let err = place_file(&src, &f.organized, "d/late.png", &hashed, mode).unwrap_err();
        assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
    }
    assert_eq!(fs::read(&src).unwrap(), b"short");
    assert_eq!(files_under(&f.organized), Vec::<PathBuf>::new());
}

#[test]
fn remove_source_verifies_before_unlinking() {
    let f = fixture();
    let content = b"keep me safe".to_vec();
    let src = f.inbox.join("k.png");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/k.png", &content, Mode::Copy).unwrap();

    // Destination truncated behind our back: the source must stay.
    fs::write(&p.destination, b"oops").unwrap();
    let err = remove_source(&src, &p).unwrap_err();
    assert!(
        matches!(err, OrganizeError::DestinationMissing { .. }),
        "{err}"
    );
    assert!(src.exists());

    // Destination gone: the source must stay.
    fs::remove_file(&p.destination).unwrap();
    let err = remove_source(&src, &p).unwrap_err();
    assert!(
        matches!(err, OrganizeError::DestinationMissing { .. }),
        "{err}"
    );
    assert_eq!(fs::read(&src).unwrap(), content);

    // Placed again properly: removal works, then is idempotent.
    let p = place_file(&src, &f.organized, "d/k.png", &content, Mode::Copy).unwrap();
    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::Removed);
    assert!(!src.exists());
    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::AlreadyGone);
    assert_eq!(fs::read(&p.destination).unwrap(), content);
}

#[test]
fn remove_source_leaves_a_new_file_at_the_source_path_alone() {
    let f = fixture();
    let content = b"original download".to_vec();
    let src = f.inbox.join("img.png");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/img.png", &content, Mode::Copy).unwrap();
    // The user downloads a new file with the same name before removal happens.
    fs::remove_file(&src).unwrap();
    write(&src, b"a brand new download");
    assert_eq!(remove_source(&src, &p).unwrap(), SourceRemoval::Replaced);
    assert_eq!(fs::read(&src).unwrap(), b"a brand new download");
}

#[test]
fn remove_source_refuses_to_remove_the_only_copy() {
    let f = fixture();
    // An inbox inside the organized tree: the "source" already is the organized file.
    let content = b"only copy".to_vec();
    let src = f.organized.join("d/only.png");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/only.png", &content, Mode::Move).unwrap();
    assert_eq!(p.outcome, Outcome::AlreadyPresent);
    assert_eq!(p.destination, src);
    let err = remove_source(&src, &p).unwrap_err();
    assert!(
        matches!(err, OrganizeError::SourceIsDestination { .. }),
        "{err}"
    );
    assert_eq!(fs::read(&src).unwrap(), content);
}

#[test]
fn find_placed_finds_a_collided_copy() {
    let f = fixture();
    write(&f.organized.join("d/p.png"), b"other");
    write(&f.organized.join("d/p (2).png"), b"other two");
    let content = b"target".to_vec();
    let src = f.inbox.join("p.png");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/p.png", &content, Mode::Copy).unwrap();
    assert_eq!(p.destination, f.organized.join("d/p (3).png"));

    let id = id_of(&content);
    assert_eq!(
        find_placed(&f.organized, Path::new("d/p.png"), &id).unwrap(),
        Some(p.destination.clone())
    );
    assert_eq!(
        find_placed(&f.organized, Path::new("d/p.png"), &id_of(b"never placed")).unwrap(),
        None
    );
    assert_eq!(
        find_placed(&f.organized, Path::new("missing/p.png"), &id).unwrap(),
        None
    );
}

#[test]
fn cleanup_removes_only_leftover_temporaries() {
    let f = fixture();
    let leftovers = [
        "a/.alice-tmp-0123456789abcdef-0",
        "a/b/c/.alice-tmp-fedcba9876543210-42",
        ".alice-tmp-00000000000000aa-7",
    ];
    for l in leftovers {
        write(&f.organized.join(l), b"partial");
    }
    let keep = [
        "a/photo.png",
        "a/.alice-tmp-notours",
        "a/.alice-tmp-0123456789abcdef-1.png",
        "a/_alice-tmp-0123456789abcdef-1",
        "a/b/.hidden",
    ];
    for k in keep {
        write(&f.organized.join(k), b"user file");
    }
    // A folder and a symlink shaped like temporaries are not ours to remove.
    fs::create_dir_all(f.organized.join("a/.alice-tmp-1111111111111111-1")).unwrap();
    std::os::unix::fs::symlink(
        f.organized.join("a/photo.png"),
        f.organized.join("a/.alice-tmp-2222222222222222-1"),
    )
    .unwrap();

    assert_eq!(cleanup_temporaries(&f.organized).unwrap(), leftovers.len());
    for l in leftovers {
        assert!(!f.organized.join(l).exists(), "{l}");
    }
    for k in keep {
        assert_eq!(fs::read(f.organized.join(k)).unwrap(), b"user file", "{k}");
    }
    assert!(f.organized.join("a/.alice-tmp-1111111111111111-1").is_dir());
    assert!(
        fs::symlink_metadata(f.organized.join("a/.alice-tmp-2222222222222222-1"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(cleanup_temporaries(&f.organized).unwrap(), 0);
    assert_eq!(
        cleanup_temporaries(&f.organized.join("missing")).unwrap(),
        0
    );
    assert!(is_temporary_name(OsStr::new(
        ".alice-tmp-0123456789abcdef-0"
    )));
}

/// Makes a folder unwritable for the rest of its life, even for root (who ignores mode
/// bits): by mode bits when not root, else by the ext4/tmpfs immutable attribute.
struct Unwritable {
    path: PathBuf,
    immutable: bool,
}

const FS_IMMUTABLE_FL: libc::c_int = 0x10;

fn set_flags(path: &Path, on: bool) -> std::io::Result<()> {
    let dir = File::open(path)?;
    use std::os::fd::AsRawFd;
    let mut flags: libc::c_int = 0;
    // SAFETY: valid fd and a pointer to an int, as these ioctls expect.
    if unsafe { libc::ioctl(dir.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if on {
        flags |= FS_IMMUTABLE_FL;
    } else {
        flags &= !FS_IMMUTABLE_FL;
    }
    // SAFETY: as above.
    if unsafe { libc::ioctl(dir.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Unwritable {
    fn new(path: &Path) -> Unwritable {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            set_flags(path, true).expect(
                "running as root: need the immutable attribute (CAP_LINUX_IMMUTABLE) \
                 to make a folder unwritable",
            );
        } else {
            fs::set_permissions(path, fs::Permissions::from_mode(0o555)).unwrap();
        }
        Unwritable {
            path: path.to_owned(),
            immutable: root,
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.immutable {
            let _ = set_flags(&self.path, false);
        } else {
            let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn read_only_destination_gives_a_clear_error_and_loses_nothing() {
    let f = fixture();
    let content = b"precious".to_vec();
    let src = f.inbox.join("precious.png");
    write(&src, &content);
    let _guard = Unwritable::new(&f.organized);

    for mode in [Mode::Copy, Mode::Move] {
        let err = place_file(&src, &f.organized, "2024/precious.png", &content, mode).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, OrganizeError::CreateFolder { .. }), "{msg}");
        assert!(
            msg.contains(&*f.organized.join("2024").to_string_lossy()),
            "{msg}"
        );
        assert!(msg.contains("writable"), "{msg}");
        assert!(!err.is_transient());

        // No folder to create: the temporary (copy) or the rename (move) fails instead.
        let err = place_file(&src, &f.organized, "precious.png", &content, mode).unwrap_err();
        match mode {
            Mode::Copy => assert!(
                matches!(err, OrganizeError::WriteDestination { .. }),
                "{err}"
            ),
            Mode::Move => assert!(matches!(err, OrganizeError::Rename { .. }), "{err}"),
        }
        assert!(err.to_string().contains("writable"), "{err}");
    }
    assert_eq!(fs::read(&src).unwrap(), content);
    assert_eq!(files_under(&f.organized), Vec::<PathBuf>::new());
}

#[test]
fn unusable_inputs_are_refused_with_the_path() {
    let f = fixture();
    let content = b"data".to_vec();
    let src = f.inbox.join("f.png");
    write(&src, &content);

    let err = place_file(
        &src,
        &f.organized.join("unmounted"),
        "a/f.png",
        &content,
        Mode::Copy,
    )
    .unwrap_err();
    assert!(
        matches!(err, OrganizeError::DestRootMissing { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("unmounted"), "{err}");

    write(&f.organized.join("a"), b"a file where a folder should be");
    let err = place_file(&src, &f.organized, "a/f.png", &content, Mode::Copy).unwrap_err();
    assert!(matches!(err, OrganizeError::NotAFolder { .. }), "{err}");

    for bad in ["../f.png", "/abs/f.png", "b/../../f.png", "./f.png", ""] {
        let err = place_file(&src, &f.organized, bad, &content, Mode::Copy).unwrap_err();
        assert!(
            matches!(err, OrganizeError::InvalidRelative { .. }),
            "{bad}: {err}"
        );
    }

    let err = place(&PlaceRequest {
        source: &src,
        dest_root: &f.organized,
        relative: Path::new("b/f.png"),
        asset_id: "not-a-hash",
        expected_size: 4,
        mode: Mode::Copy,
    })
    .unwrap_err();
    assert!(matches!(err, OrganizeError::InvalidAssetId { .. }), "{err}");

    let link = f.inbox.join("link.png");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let err = place_file(&link, &f.organized, "b/f.png", &content, Mode::Move).unwrap_err();
    assert!(matches!(err, OrganizeError::NotRegularFile { .. }), "{err}");

    let err = place_file(
        &f.inbox.join("gone.png"),
        &f.organized,
        "b/f.png",
        &content,
        Mode::Copy,
    )
    .unwrap_err();
    assert!(matches!(err, OrganizeError::ReadSource { .. }), "{err}");

    assert_eq!(fs::read(&src).unwrap(), content);
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(files_under(&f.organized), vec![PathBuf::from("a")]);
}

#[test]
fn non_utf8_names_are_placed_byte_exact() {
    let f = fixture();
    let content = b"bytes".to_vec();
    let raw = OsStr::from_bytes(b"caf\xe9-\xff.png");
    let src = f.inbox.join(raw);
    write(&src, &content);
    let template = Template::parse("{date}/{project}/{name}").unwrap();
    let id = id_of(&content);
    let relative = template
        .render(&organizer::PlanVars {
            date: chrono::NaiveDate::from_ymd_opt(2024, 1, 2),
            project: "p",
            source: "other",
            media: "photo",
            group: "single",
            name: raw,
            asset_id: &id,
            camera: None,
            seq: None,
        })
        .unwrap();
    let p = place(&PlaceRequest {
        source: &src,
        dest_root: &f.organized,
        relative: &relative,
        asset_id: &id,
        expected_size: content.len() as u64,
        mode: Mode::Copy,
    })
    .unwrap();
    assert_eq!(
        p.destination.file_name().unwrap().as_bytes(),
        raw.as_bytes()
    );
    assert_eq!(p.destination, f.organized.join("2024-01-02/p").join(raw));
    assert_eq!(fs::read(&p.destination).unwrap(), content);
}

#[test]
fn concurrent_placements_of_the_same_content_leave_one_file() {
    let f = fixture();
    let content = big_content(9);
    let srcs: Vec<PathBuf> = (0..4).map(|i| f.inbox.join(format!("c{i}.png"))).collect();
    for s in &srcs {
        write(s, &content);
    }
    let results: Vec<Placement> = std::thread::scope(|scope| {
        let handles: Vec<_> = srcs
            .iter()
            .map(|s| {
                let (root, content) = (&f.organized, &content);
                scope.spawn(move || place_file(s, root, "d/c.png", content, Mode::Copy).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let placed = results
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Placed { .. }))
        .count();
    assert_eq!(placed, 1);
    assert!(
        results
            .iter()
            .all(|p| p.destination == f.organized.join("d/c.png"))
    );
    assert_eq!(files_under(&f.organized), vec![PathBuf::from("d/c.png")]);
    assert_eq!(fs::read(f.organized.join("d/c.png")).unwrap(), content);
}

/// Regression: a new file that inherited an organized file's identity (a reused inode with
/// the same size and mtime) was reported as already present without being read, and the
/// caller then removed it in move mode: its content was lost.
#[test]
fn already_present_is_only_reported_for_a_source_that_really_has_that_content() {
    let f = fixture();
    let old = big_content(7);
    let src = f.inbox.join("a.png");
    write(&src, &old);
    let first = place_file(&src, &f.organized, "d/a.png", &old, Mode::Copy).unwrap();
    assert!(matches!(first.outcome, Outcome::Placed { .. }));

    // Same name, same size, different bytes; the caller still believes it is `old`.
    let new = big_content(8);
    assert_eq!(new.len(), old.len());
    write(&src, &new);
    for mode in [Mode::Copy, Mode::Move] {
        let err = place(&PlaceRequest {
            source: &src,
            dest_root: &f.organized,
            relative: Path::new("d/a.png"),
            asset_id: &id_of(&old),
            expected_size: old.len() as u64,
            mode,
        })
        .unwrap_err();
        assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
    }
    assert_eq!(fs::read(&src).unwrap(), new, "the new file is untouched");
}

/// Attack: a folder of the organized tree (`organized/<today>`) replaced by a symlink to an
/// outside folder, or to the inbox. Placement fails naming the symlink; nothing is written
/// outside or into the inbox, and the source stays.
#[test]
fn a_symlinked_folder_in_the_organized_tree_is_refused_never_written_through() {
    let f = fixture();
    let outside = f.organized.parent().unwrap().join("outside");
    fs::create_dir(&outside).unwrap();
    let content = b"photo".to_vec();
    let src = f.inbox.join("p.png");
    write(&src, &content);
    for (target, mode) in [(&outside, Mode::Copy), (&f.inbox, Mode::Move)] {
        let day = f.organized.join("2024-03-15");
        let _ = fs::remove_file(&day);
        std::os::unix::fs::symlink(target, &day).unwrap();
        let err = place_file(&src, &f.organized, "2024-03-15/p.png", &content, mode).unwrap_err();
        match &err {
            OrganizeError::SymlinkRefused { path } => assert_eq!(path, &day),
            other => panic!("expected SymlinkRefused, got {other}"),
        }
        assert!(err.to_string().contains("2024-03-15"), "{err}");
        assert!(!err.is_transient());
    }
    assert_eq!(files_under(&outside), Vec::<PathBuf>::new());
    assert_eq!(files_under(&f.inbox), vec![PathBuf::from("p.png")]);
    assert_eq!(fs::read(&src).unwrap(), content);
    assert!(
        find_placed(
            &f.organized,
            Path::new("2024-03-15/p.png"),
            &id_of(&content)
        )
        .is_err()
    );
}

/// `renameat2(RENAME_EXCHANGE)` of `a` and `b` until `stop`.
fn exchange_loop(
    a: PathBuf,
    b: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
        let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
        let mut swaps = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: valid NUL-terminated paths.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    ca.as_ptr(),
                    libc::AT_FDCWD,
                    cb.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            swaps += u64::from(rc == 0);
        }
        swaps
    })
}

/// Attack 1 at the library level: in move mode, an inbox folder is exchanged with a symlink
/// to an outside folder holding a file of the same name and content, while placements run.
/// The outside file is never moved, opened for the copy or changed; everything placed is an
/// inbox file.
#[test]
fn move_mode_under_a_folder_symlink_swap_loop_never_moves_an_outside_file() {
    let f = fixture();
    let outside = f.organized.parent().unwrap().join("outside");
    fs::create_dir(&outside).unwrap();
    let content = b"same bytes inside and outside".to_vec();
    write(&outside.join("f.png"), &content);
    let outside_ino = fs::metadata(outside.join("f.png")).unwrap().ino();
    fs::create_dir(f.inbox.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, f.inbox.join("link")).unwrap();
    let inbox = Root::open(&f.inbox).unwrap();
    let organized = Root::open(&f.organized).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = exchange_loop(f.inbox.join("sub"), f.inbox.join("link"), stop.clone());
    let id = id_of(&content);
    let source = f.inbox.join("sub/f.png");
    let (mut placed, mut refused) = (0u32, 0u32);
    let until = std::time::Instant::now() + Duration::from_secs(2);
    for n in 0u32.. {
        if std::time::Instant::now() >= until {
            break;
        }
        // The test's own writes go through the inbox handle too, never through the swap.
        if let Ok(sub) = inbox.open_dir(Path::new("sub"))
            && let Ok(mut file) = sub.create_new(OsStr::new("f.png"), 0o644)
        {
            std::io::Write::write_all(&mut file, &content).unwrap();
        }
        let relative = format!("d/f-{n}.png");
        let result = place_beneath(&PlaceBeneath {
            source_root: &inbox,
            source: &source,
            dest_root: &organized,
            relative: Path::new(&relative),
            asset_id: &id,
            expected_size: content.len() as u64,
            mode: Mode::Move,
            hashed_as: None,
        });
        match result {
            Ok(p) => {
                assert_ne!(fs::metadata(&p.destination).unwrap().ino(), outside_ino);
                placed += 1;
            }
            Err(_) => refused += 1,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 100, "the race hardly ran: {swaps} swaps");
    assert!(
        placed > 0 && refused > 0,
        "placed {placed}, refused {refused}"
    );
    assert_eq!(fs::read(outside.join("f.png")).unwrap(), content);
    assert_eq!(
        fs::metadata(outside.join("f.png")).unwrap().ino(),
        outside_ino
    );
    assert_eq!(files_under(&outside), vec![PathBuf::from("f.png")]);
}

/// Source removal (move mode) goes through the inbox handle too: with the source's folder
/// swapped for a symlink to an outside folder, the outside file of the same name stays.
#[test]
fn remove_source_never_unlinks_through_a_symlinked_folder() {
    let f = fixture();
    let outside = f.organized.parent().unwrap().join("outside");
    fs::create_dir(&outside).unwrap();
    let content = b"twin".to_vec();
    let src = f.inbox.join("sub/t.png");
    write(&src, &content);
    let inbox = Root::open(&f.inbox).unwrap();
    let organized = Root::open(&f.organized).unwrap();
    let placed = place_beneath(&PlaceBeneath {
        source_root: &inbox,
        source: &src,
        dest_root: &organized,
        relative: Path::new("t.png"),
        asset_id: &id_of(&content),
        expected_size: content.len() as u64,
        mode: Mode::Copy,
        hashed_as: None,
    })
    .unwrap();
    // The inbox folder goes away and a symlink to the outside takes its name, where a file
    // with the very identity cannot be, but one with the same name is.
    fs::rename(f.inbox.join("sub"), outside.join("moved-away")).unwrap();
    write(&outside.join("t.png"), &content);
    std::os::unix::fs::symlink(&outside, f.inbox.join("sub")).unwrap();
    let outcome = remove_source_beneath(&inbox, &src, &organized, &placed).unwrap();
    assert_eq!(outcome, SourceRemoval::AlreadyGone);
    assert_eq!(fs::read(outside.join("t.png")).unwrap(), content);
    assert_eq!(fs::read(outside.join("moved-away/t.png")).unwrap(), content);
}

/// The identity of the file at `path` as the watcher would report it.
fn identity_of(path: &Path) -> organizer::FileIdentity {
    organizer::FileIdentity::from_metadata(&fs::symlink_metadata(path).unwrap())
}

fn place_trusting(
    f: &Fixture,
    src: &Path,
    (id, size): (&str, u64),
    hashed_as: organizer::FileIdentity,
    mode: Mode,
) -> Result<Placement, OrganizeError> {
    let inbox = Root::open(&f.inbox).unwrap();
    let organized = Root::open(&f.organized).unwrap();
    place_beneath(&PlaceBeneath {
        source_root: &inbox,
        source: src,
        dest_root: &organized,
        relative: Path::new("d/f.png"),
        asset_id: id,
        expected_size: size,
        mode,
        hashed_as: Some(hashed_as),
    })
}

/// A move trusts the identity the file was hashed under only while the file still has it:
/// the normal case is renamed without a second read, a file written since (same size, mtime
/// set back) is refused and stays in the inbox.
#[test]
fn a_move_trusts_the_hashed_identity_only_while_the_file_keeps_it() {
    let f = fixture();
    let content = b"settled content".to_vec();
    let src = src_of(&f);
    write(&src, &content);
    let hashed_as = identity_of(&src);
    let placed = place_trusting(
        &f,
        &src,
        (&id_of(&content), content.len() as u64),
        hashed_as,
        Mode::Move,
    )
    .unwrap();
    assert!(matches!(
        placed.outcome,
        Outcome::Placed {
            via: Via::Rename,
            ..
        }
    ));
    assert_eq!(fs::read(&placed.destination).unwrap(), content);

    // Rewritten in place after the hash, same size, mtime put back: ctime tells.
    let f = fixture();
    let src = src_of(&f);
    write(&src, &content);
    let hashed_as = identity_of(&src);
    std::thread::sleep(Duration::from_millis(30));
    let mtime = fs::metadata(&src).unwrap().modified().unwrap();
    fs::write(&src, b"SETTLED CONTENT").unwrap();
    File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime))
        .unwrap();
    let err = place_trusting(
        &f,
        &src,
        (&id_of(&content), content.len() as u64),
        hashed_as,
        Mode::Move,
    )
    .unwrap_err();
    assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
    assert_eq!(fs::read(&src).unwrap(), b"SETTLED CONTENT");
    assert!(files_under(&f.organized).is_empty());
}

fn src_of(f: &Fixture) -> PathBuf {
    f.inbox.join("f.png")
}

/// A write through a shared writable mapping after the hash changes the file's ctime too, so
/// a trusted identity never lets changed content be filed under the old asset id.
#[test]
fn a_write_through_a_shared_mapping_after_the_hash_is_caught() {
    let f = fixture();
    let content = vec![7u8; 8192];
    let src = src_of(&f);
    write(&src, &content);
    let hashed_as = identity_of(&src);
    std::thread::sleep(Duration::from_millis(30));
    {
        use std::os::fd::AsRawFd;
        let file = File::options().read(true).write(true).open(&src).unwrap();
        // SAFETY: a fresh shared mapping of a file this test owns, unmapped before return.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                content.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            *(p as *mut u8).add(100) = 9;
            libc::munmap(p, content.len());
        }
    }
    let err = place_trusting(
        &f,
        &src,
        (&id_of(&content), content.len() as u64),
        hashed_as,
        Mode::Move,
    )
    .unwrap_err();
    assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
    assert!(files_under(&f.organized).is_empty());
    assert_eq!(fs::read(&src).unwrap()[100], 9);
}

/// A copy trusts the hashed identity the same way: the kernel's copy of an unchanged file is
/// not read back; a file rewritten since its hash (same size) is read back, found to differ,
/// and nothing is left in the organized tree.
#[test]
fn a_copy_is_read_back_unless_the_source_kept_its_hashed_identity() {
    let f = fixture();
    let content = b"copied once".to_vec();
    let src = src_of(&f);
    write(&src, &content);
    let hashed_as = identity_of(&src);
    let id = id_of(&content);
    let placed = place_trusting(&f, &src, (&id, 11), hashed_as, Mode::Copy).unwrap();
    assert_eq!(fs::read(&placed.destination).unwrap(), content);
    assert_eq!(
        fs::read(&src).unwrap(),
        content,
        "copy mode keeps the source"
    );

    let f = fixture();
    let src = src_of(&f);
    write(&src, &content);
    let hashed_as = identity_of(&src);
    std::thread::sleep(Duration::from_millis(30));
    fs::write(&src, b"COPIED ONCE").unwrap();
    let err = place_trusting(&f, &src, (&id, 11), hashed_as, Mode::Copy).unwrap_err();
    assert!(matches!(err, OrganizeError::SourceChanged { .. }), "{err}");
    assert!(
        files_under(&f.organized).is_empty(),
        "no copy, no temporary"
    );
}

/// The collision chain is searched only when its first name is taken (listing the folder for
/// every placement made filling a large folder quadratic): identical content left at
/// `p (2).png` after `p.png` was deleted is not found, and the file lands at the free name,
/// a second copy and never an overwrite. A taken first name still finds identical content
/// anywhere along the chain.
#[test]
fn the_chain_is_searched_when_its_first_name_is_taken() {
    let f = fixture();
    let content = b"same content".to_vec();
    write(&f.organized.join("d/p (2).png"), &content);
    let src = f.inbox.join("p.png");
    write(&src, &content);
    let p = place_file(&src, &f.organized, "d/p.png", &content, Mode::Copy).unwrap();
    assert_eq!(p.destination, f.organized.join("d/p.png"));
    assert!(
        matches!(p.outcome, Outcome::Placed { .. }),
        "{:?}",
        p.outcome
    );
    assert_eq!(fs::read(f.organized.join("d/p (2).png")).unwrap(), content);

    // Now the first name is taken (by this content): a third arrival finds it there.
    let again = f.inbox.join("again/p.png");
    write(&again, &content);
    let q = place_file(&again, &f.organized, "d/p.png", &content, Mode::Copy).unwrap();
    assert_eq!(q.outcome, Outcome::AlreadyPresent);

    // Other content at the first name: the chain is searched past it.
    write(&f.organized.join("e/q.png"), b"other");
    write(&f.organized.join("e/q (3).png"), &content);
    let r = place_file(&again, &f.organized, "e/q.png", &content, Mode::Copy).unwrap();
    assert_eq!(r.outcome, Outcome::AlreadyPresent);
    assert_eq!(r.destination, f.organized.join("e/q (3).png"));
}
