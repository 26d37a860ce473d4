//! Files that belong together travel together: sidecars (`.xmp`, `.aae`, Takeout `.json`,
//! A1111 `.txt`) go with their media file in the same journaled operation, in both modes, keep
//! their pairing on collisions, follow media organized before they came, wait for media that
//! has not come, are undone with their media, and survive kill -9 without half groups.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;
use crate::media;

const XMP: &[u8] = b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF \
    xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description \
    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmp:Rating=\"4\"/></rdf:RDF></x:xmpmeta>\n";

fn parameters(prompt: &str) -> Vec<u8> {
    format!(
        "{prompt}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, \
         Seed: 42, Size: 64x64, Model: dreamshaper\n"
    )
    .into_bytes()
}

/// The one file named `name` under `root`.
pub(crate) fn find_one(root: &Path, name: &str) -> PathBuf {
    let found: Vec<PathBuf> = files_under(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == name))
        .collect();
    assert_eq!(found.len(), 1, "{name} under {}: {found:?}", root.display());
    found.into_iter().next().unwrap()
}

pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub(crate) fn env(mode: &'static str) -> Env {
    Env::with(Opts {
        mode,
        ..Opts::default()
    })
}

/// A camera JPEG with an XMP and an AAE, a Takeout photo with its JSON, an A1111 image with
/// its parameters: every sidecar lands beside its media, nothing is "skipped".
fn put_groups(env: &Env) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("p/IMG_0001.jpg".to_owned(), media::jpeg("side one")),
        ("p/IMG_0001.jpg.xmp".to_owned(), XMP.to_vec()),
        (
            "p/IMG_0001.aae".to_owned(),
            b"<plist>edits</plist>\n".to_vec(),
        ),
        ("p/PXL_0002.jpg".to_owned(), media::jpeg("side two")),
        (
            "p/PXL_0002.jpg.json".to_owned(),
            br#"{"photoTakenTime":{"timestamp":"1600000000"}}"#.to_vec(),
        ),
        ("p/00042-99.png".to_owned(), media::png("side three")),
        (
            "p/00042-99.txt".to_owned(),
            parameters("a lighthouse in a storm"),
        ),
    ];
    for (rel, bytes) in &files {
        env.put_file(rel, bytes);
    }
    files
}

fn check_groups_beside_their_media(env: &Env, files: &[(String, Vec<u8>)]) {
    for media in ["IMG_0001.jpg", "PXL_0002.jpg", "00042-99.png"] {
        let placed = find_one(&env.organized, media);
        let dir = placed.parent().unwrap();
        let stem = media.split('.').next().unwrap();
        for (rel, bytes) in files {
            let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
            if name.starts_with(stem) {
                assert_eq!(
                    std::fs::read(dir.join(name)).ok().as_deref(),
                    Some(bytes.as_slice()),
                    "{name} beside {}: {:?}",
                    placed.display(),
                    names_in(dir)
                );
            }
        }
    }
}

#[test]
fn sidecars_dropped_with_their_media_travel_with_it_in_copy_and_move_mode() {
    for mode in ["copy", "move"] {
        let env = env(mode);
        let files = put_groups(&env);
        let scan = env.scan(&[]).success();
        let s = scan.summary();
        assert_eq!(
            (s.organized, s.skipped, s.failed),
            (3, 0, 0),
            "{mode}: {scan:?}"
        );
        check_groups_beside_their_media(&env, &files);
        assert_eq!(files_under(&env.organized).len(), files.len(), "{mode}");
        let left = files_under(&env.inbox);
        match mode {
            "move" => assert!(left.is_empty(), "move leaves nothing: {left:?}"),
            _ => assert_eq!(left.len(), files.len(), "copy keeps every source"),
        }
        // A second pass has nothing to do and changes nothing.
        let before = (snapshot(&env.inbox), snapshot(&env.organized));
        let again = env.scan(&[]).success();
        assert_eq!(again.summary().organized, 0, "{mode}: {again:?}");
        assert!(
            (snapshot(&env.inbox), snapshot(&env.organized)) == before,
            "{mode}: the second pass changed files: {again:?}"
        );
    }
}

#[test]
fn a_sidecar_arriving_after_its_media_is_placed_beside_it() {
    for mode in ["copy", "move"] {
        let env = env(mode);
        let mut daemon = env.start();
        daemon.wait_ready();
        env.drop_file("p/IMG_0003.jpg", &media::jpeg("late"));
        daemon.wait_events(ev::ORGANIZED, 1);
        let xmp = env.drop_file("p/IMG_0003.jpg.xmp", XMP);
        daemon.wait_events(ev::SIDECAR, 1);
        let placed = find_one(&env.organized, "IMG_0003.jpg");
        let beside = placed.with_file_name("IMG_0003.jpg.xmp");
        assert_eq!(std::fs::read(&beside).unwrap(), XMP, "{mode}");
        let e = &daemon.events(ev::SIDECAR)[0];
        assert_eq!(e["destination"].as_str(), beside.to_str(), "{mode}: {e}");
        assert_eq!(xmp.exists(), mode == "copy", "{mode}");
        assert!(daemon.events(ev::SKIPPED).is_empty(), "{mode}");
        assert!(daemon.terminate().success());
    }
}

#[test]
fn a_sidecar_before_its_media_waits_is_listed_as_an_orphan_then_travels_with_it() {
    let env = env("move");
    let config = env.root.join("waiting.toml");
    std::fs::write(&config, env.config_text() + "orphan_sidecar_s = 0\n").unwrap();
    let mut daemon = env.start_with(&config);
    daemon.wait_ready();
    let xmp = env.drop_file("p/IMG_0004.xmp", XMP);
    daemon.wait_events(ev::SIDECAR, 1);
    let waiting = &daemon.events(ev::SIDECAR)[0];
    assert_eq!(waiting["destination"], "", "waits: {waiting}");
    assert!(xmp.exists(), "a waiting sidecar stays in the inbox");
    // The catalog records the event just after it is logged: ask until it is there.
    let status = |config: &Path| {
        let mut c = alice();
        c.args(["status", "--config"]).arg(config);
        run_to_end(c).success().stdout
    };
    let start = std::time::Instant::now();
    while !status(&config).contains("IMG_0004.xmp") {
        assert!(
            start.elapsed() < TIMEOUT,
            "never listed: {}",
            status(&config)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = |text: &str| text.lines().any(|l| l.starts_with("orphan "));
    assert!(listed(&status(&config)));

    env.drop_file("p/IMG_0004.jpg", &media::jpeg("early sidecar"));
    daemon.wait_events(ev::ORGANIZED, 1);
    let placed = find_one(&env.organized, "IMG_0004.jpg");
    assert_eq!(
        std::fs::read(placed.with_file_name("IMG_0004.xmp")).unwrap(),
        XMP
    );
    let organized = &daemon.events(ev::ORGANIZED)[0];
    assert_eq!(organized["sidecars"], 1, "{organized}");
    assert!(
        files_under(&env.inbox).is_empty(),
        "{:?}",
        files_under(&env.inbox)
    );
    let now = status(&config);
    assert!(!listed(&now), "{now}");
    assert!(daemon.terminate().success());
}

#[test]
fn on_a_name_collision_the_group_is_renamed_together() {
    let env = env("copy");
    env.put_file("p/a/same.jpg", &media::jpeg("first"));
    env.put_file("p/a/same.jpg.xmp", b"<first/>");
    env.put_file("p/b/same.jpg", &media::jpeg("second"));
    env.put_file("p/b/same.jpg.xmp", b"<second/>");
    env.scan(&[]).success();
    let first = find_one(&env.organized, "same.jpg");
    let dir = first.parent().unwrap().to_path_buf();
    assert_eq!(
        names_in(&dir),
        [
            "same (2).jpg",
            "same (2).jpg.xmp",
            "same.jpg",
            "same.jpg.xmp"
        ]
    );
    // Each XMP is beside the image it came with.
    for (img, xmp) in [
        ("same.jpg", "same.jpg.xmp"),
        ("same (2).jpg", "same (2).jpg.xmp"),
    ] {
        let want = if std::fs::read(dir.join(img)).unwrap() == media::jpeg("first") {
            &b"<first/>"[..]
        } else {
            &b"<second/>"[..]
        };
        assert_eq!(std::fs::read(dir.join(xmp)).unwrap(), want, "{xmp}");
    }

    // Only the sidecar's name is taken (by a stray file): the whole group moves to the next
    // free name, and the stray file is left alone.
    std::fs::write(dir.join("lone.jpg.xmp"), b"stray").unwrap();
    env.put_file("p/c/lone.jpg", &media::jpeg("third"));
    env.put_file("p/c/lone.jpg.xmp", b"<third/>");
    env.scan(&[]).success();
    assert_eq!(std::fs::read(dir.join("lone.jpg.xmp")).unwrap(), b"stray");
    assert_eq!(
        std::fs::read(dir.join("lone (2).jpg")).unwrap(),
        media::jpeg("third")
    );
    assert_eq!(
        std::fs::read(dir.join("lone (2).jpg.xmp")).unwrap(),
        b"<third/>"
    );
    assert!(!dir.join("lone.jpg").exists());
}

#[test]
fn undo_takes_a_file_back_with_its_sidecars_including_one_that_came_later() {
    let env = env("move");
    let img = env.put_file("p/IMG_0005.jpg", &media::jpeg("undo"));
    let xmp = env.put_file("p/IMG_0005.jpg.xmp", XMP);
    env.scan(&[]).success();
    assert!(!img.exists() && !xmp.exists());
    // A sidecar that comes later joins the organized file (and its operation).
    let aae = env.put_file("p/IMG_0005.aae", b"<plist/>");
    let scan = env.scan(&[]).success();
    assert!(!aae.exists(), "{scan:?}");
    assert_eq!(files_under(&env.organized).len(), 3);

    let undo = env.undo(1).success();
    assert!(undo.stdout.contains("sidecars"), "{undo:?}");
    assert_eq!(std::fs::read(&img).unwrap(), media::jpeg("undo"));
    assert_eq!(std::fs::read(&xmp).unwrap(), XMP);
    assert_eq!(std::fs::read(&aae).unwrap(), b"<plist/>");
    assert!(
        files_under(&env.organized).is_empty(),
        "{:?}",
        files_under(&env.organized)
    );
}

#[test]
fn undo_of_a_copy_removes_the_sidecar_copies_and_keeps_the_originals() {
    let env = env("copy");
    let img = env.put_file("p/00077-1.png", &media::png("undo copy"));
    let txt = env.put_file("p/00077-1.txt", &parameters("a quiet harbour"));
    env.scan(&[]).success();
    assert_eq!(files_under(&env.organized).len(), 2);
    env.undo(1).success();
    assert!(files_under(&env.organized).is_empty());
    assert!(img.exists() && txt.exists());
}

#[test]
fn the_dry_run_shows_sidecars() {
    let env = env("move");
    let files = put_groups(&env);
    let before = snapshot(&env.root);
    let plan = env.scan(&["--dry-run"]).success();
    for (rel, _) in &files {
        let path = env.inbox.join(rel);
        let line = plan
            .stdout
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|t| Path::new(t.trim_end_matches(':')) == path)
            })
            .unwrap_or_else(|| panic!("{rel} missing from the plan: {plan:?}"));
        let expected = if rel.ends_with(".jpg") || rel.ends_with(".png") {
            "organize"
        } else {
            "sidecar"
        };
        assert!(line.starts_with(expected), "{line}");
    }
    assert!(snapshot(&env.root) == before, "a dry run changes nothing");
}

/// kill -9 at random moments while groups are moved: after recovery (a daemon started on an
/// empty inbox, so it only recovers) no media file is in the organized tree without its
/// sidecars, and no sidecar without its media; at the end every group is complete, once.
#[test]
fn kill_9_while_moving_groups_never_leaves_half_a_group_after_recovery() {
    let group = |i: usize| -> Vec<(String, Vec<u8>)> {
        vec![
            (
                format!("k{}/g-{i:03}.png", i % 3),
                media::png_padded(&format!("kill {i}"), 64 * 1024 + i * 512),
            ),
            (
                format!("k{}/g-{i:03}.png.xmp", i % 3),
                format!("<x{i}/>").into_bytes(),
            ),
            (
                format!("k{}/g-{i:03}.txt", i % 3),
                parameters(&format!("kill {i}")),
            ),
        ]
    };
    kill_9_cycles(60, group, |stem| {
        vec![
            format!("{stem}.png"),
            format!("{stem}.png.xmp"),
            format!("{stem}.txt"),
        ]
    });
}

#[test]
fn kill_9_while_moving_pairs_never_leaves_half_a_pair_after_recovery() {
    let group = |i: usize| -> Vec<(String, Vec<u8>)> {
        let mut raw = media::camera_raw(&format!("kill raw {i}"));
        raw.resize(raw.len() + 96 * 1024 + i * 512, 0);
        vec![
            (
                format!("k{}/r-{i:03}.JPG", i % 3),
                media::camera_jpeg_padded(&format!("kill jpeg {i}"), 32 * 1024),
            ),
            (format!("k{}/r-{i:03}.ARW", i % 3), raw),
            (
                format!("k{}/r-{i:03}.JPG.xmp", i % 3),
                format!("<x{i}/>").into_bytes(),
            ),
        ]
    };
    kill_9_cycles(45, group, |stem| {
        vec![
            format!("{stem}.JPG"),
            format!("{stem}.ARW"),
            format!("{stem}.JPG.xmp"),
        ]
    });
}

/// Drops `count` groups (`group(i)`: paths and bytes) into a moving daemon killed with
/// SIGKILL at several points, recovers each time with an empty inbox, and checks that the
/// organized tree never holds part of a group (`members(stem)`: every name of the group of
/// the file whose name starts with `stem`, its first 5 bytes), and at the end every file once.
fn kill_9_cycles(
    count: usize,
    group: impl Fn(usize) -> Vec<(String, Vec<u8>)>,
    members: impl Fn(&str) -> Vec<String>,
) {
    let env = Env::with(Opts {
        mode: "move",
        settle_ms: 100,
        ..Opts::default()
    });
    let empty = env.root.join("empty-inbox");
    std::fs::create_dir_all(&empty).unwrap();
    let recover_only = env.root.join("recover.toml");
    let text = env.config_text().replacen(
        &toml::Value::String(env.inbox.to_str().unwrap().to_owned()).to_string(),
        &toml::Value::String(empty.to_str().unwrap().to_owned()).to_string(),
        1,
    );
    std::fs::write(&recover_only, text).unwrap();

    let all: Vec<(String, Vec<u8>)> = (0..count).flat_map(&group).collect();
    let delays = [120u64, 260, 40, 420, 180, 90];
    let per = count.div_ceil(delays.len());
    let mut interrupted = 0;
    for (cycle, delay) in delays.iter().enumerate() {
        let mut daemon = env.start();
        for i in cycle * per..((cycle + 1) * per).min(count) {
            for (rel, bytes) in group(i) {
                env.drop_file(&rel, &bytes);
            }
        }
        std::thread::sleep(Duration::from_millis(*delay));
        daemon.kill9();
        let pending = files_under(&env.inbox).len();
        interrupted += usize::from(pending > 0);

        let mut recovering = env.start_with(&recover_only);
        recovering.wait_ready();
        let recovered = recovering
            .records()
            .into_iter()
            .filter(|r| {
                r["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("sidecar") || m.contains("interrupted"))
            })
            .count();
        assert!(recovering.terminate().success());
        eprintln!(
            "cycle {cycle}: killed after {delay} ms with {pending} files in the inbox; {recovered} recovery records"
        );
        assert_no_half_group(&env.organized, cycle, &members);
    }
    assert!(
        interrupted > 0,
        "no kill landed while files were in the inbox"
    );
    let mut daemon = env.start();
    daemon.wait_ready();
    daemon.wait_for("the inbox to empty", |_| files_under(&env.inbox).is_empty());
    assert!(daemon.terminate().success());
    let bytes: Vec<&[u8]> = all.iter().map(|(_, b)| b.as_slice()).collect();
    assert_each_once(&env.organized, &bytes);
    assert_no_half_group(&env.organized, delays.len(), &members);
    for (rel, b) in &all {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        assert_eq!(
            &std::fs::read(find_one(&env.organized, name)).unwrap(),
            b,
            "{name}"
        );
    }
    assert!(
        temporaries(&env.root).is_empty(),
        "{:?}",
        temporaries(&env.root)
    );
}

/// Every file in the tree has the rest of its group beside it (`members`, from the first 5
/// bytes of its name).
fn assert_no_half_group(organized: &Path, cycle: usize, members: impl Fn(&str) -> Vec<String>) {
    let files = files_under(organized);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for p in &files {
        let name = p.file_name().unwrap().to_str().unwrap();
        let stem = &name[..5];
        let dir = p.parent().unwrap();
        for member in members(stem) {
            assert!(
                dir.join(&member).exists(),
                "cycle {cycle}: {name} without {member} in {}: {names:?}",
                dir.display()
            );
        }
    }
}

fn cli(env: &Env, args: &[&str]) -> Run {
    let mut cmd = alice();
    cmd.args(args).arg("--config").arg(&env.config);
    run_to_end(cmd)
}

fn inspect_json(path: &Path) -> serde_json::Value {
    let mut cmd = alice();
    cmd.args(["inspect", "--json"]).arg(path);
    let run = run_to_end(cmd).success();
    serde_json::from_str(run.stdout.trim()).unwrap()
}

#[test]
fn sidecar_metadata_is_merged_searchable_and_shown_with_the_file() {
    let env = env("copy");
    put_groups(&env);
    env.scan(&[]).success();

    // The parameters file gives the plain PNG its tool (its folder) and its prompt (search).
    let png = find_one(&env.organized, "00042-99.png");
    assert!(
        png.to_str().unwrap().contains("/stable-diffusion/"),
        "{}",
        png.display()
    );
    let found = cli(&env, &["search", "--json", "lighthouse storm"]).success();
    assert!(found.stdout.contains("00042-99.png"), "{found:?}");
    // Takeout's photoTakenTime dates a JPEG that has no date of its own.
    let pxl = find_one(&env.organized, "PXL_0002.jpg");
    assert!(
        pxl.to_str().unwrap().contains("2020-09-13"),
        "{}",
        pxl.display()
    );

    // inspect says where each merged field came from.
    let i = inspect_json(&env.inbox.join("p/00042-99.png"));
    assert_eq!(i["ai"]["prompt"], "a lighthouse in a storm", "{i}");
    assert_eq!(i["sources"]["ai"], "sidecar:00042-99.txt", "{i}");
    let i = inspect_json(&env.inbox.join("p/IMG_0001.jpg"));
    assert_eq!(i["rating"], 4, "{i}");
    assert_eq!(i["sources"]["rating"], "sidecar:IMG_0001.jpg.xmp", "{i}");
    let i = inspect_json(&env.inbox.join("p/PXL_0002.jpg"));
    assert_eq!(i["taken_at_source"], "takeout", "{i}");
    assert_eq!(i["sources"]["taken_at"], "sidecar:PXL_0002.jpg.json", "{i}");

    // show lists a file's sidecars.
    let img = find_one(&env.organized, "IMG_0001.jpg");
    let show = cli(&env, &["show", img.to_str().unwrap()]).success();
    assert!(show.stdout.contains("IMG_0001.jpg.xmp (xmp)"), "{show:?}");
    assert!(show.stdout.contains("IMG_0001.aae (aae)"), "{show:?}");
    let show = cli(&env, &["show", "--json", img.to_str().unwrap()]).success();
    let record: serde_json::Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(record["sidecars"].as_array().unwrap().len(), 2, "{record}");

    // A parameters file that comes after its image makes the image searchable by its words.
    env.put_file("p/00050-1.png", &media::png("late words"));
    env.scan(&[]).success();
    let none = cli(&env, &["search", "windmill"]);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    env.put_file("p/00050-1.txt", &parameters("a windmill at dawn"));
    env.scan(&[]).success();
    let found = cli(&env, &["search", "--json", "windmill"]).success();
    assert!(found.stdout.contains("00050-1.png"), "{found:?}");
}

#[test]
fn undated_files_and_the_media_placeholder() {
    let env = Env::with(Opts {
        template: Some("{media}/{date}/{name}".into()),
        ..Opts::default()
    });
    let config = env.root.join("undated.toml");
    let text = env
        .config_text()
        .replace("[watch]\n", "undated = true\n[watch]\n");
    std::fs::write(&config, text).unwrap();
    env.put_file("p/plain.png", &media::png("no date"));
    env.put_file("p/PXL_0009.jpg", &media::jpeg("dated by takeout"));
    env.put_file(
        "p/PXL_0009.jpg.json",
        br#"{"photoTakenTime":{"timestamp":"1600000000"}}"#,
    );
    let mut cmd = alice();
    cmd.args(["scan", "--config"]).arg(&config);
    let scan = run_to_end(cmd).success();
    assert_eq!(scan.summary().organized, 2, "{scan:?}");
    assert!(
        env.organized.join("photo/undated/plain.png").is_file(),
        "{:?}",
        files_under(&env.organized)
    );
    assert!(
        env.organized
            .join("photo/2020-09-13/PXL_0009.jpg")
            .is_file()
    );
    assert!(
        env.organized
            .join("photo/2020-09-13/PXL_0009.jpg.json")
            .is_file()
    );
}

/// A RAW+JPEG pair with an XMP for each half, and a Live Photo whose video is dated in UTC on the
/// day after its still's local date.
fn put_pairs(env: &Env, tag: &str) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        (
            "p/IMG_0001.JPG".to_owned(),
            media::camera_jpeg(&format!("{tag} jpeg")),
        ),
        (
            "p/IMG_0001.ARW".to_owned(),
            media::camera_raw(&format!("{tag} raw")),
        ),
        ("p/IMG_0001.JPG.xmp".to_owned(), XMP.to_vec()),
        ("p/IMG_0001.ARW.xmp".to_owned(), b"<raw-edits/>\n".to_vec()),
        (
            "p/IMG_0007.HEIC".to_owned(),
            media::live_still(&format!("{tag} still")),
        ),
        (
            "p/IMG_0007.MOV".to_owned(),
            media::live_video(&format!("{tag} video")),
        ),
    ];
    for (rel, bytes) in &files {
        env.put_file(rel, bytes);
    }
    files
}

/// Each pair lies in one folder, the still's: the JPEG's date, and the Live Photo still's
/// local date (2024-02-29), not its video's UTC one.
fn check_pairs(env: &Env) {
    let jpeg = find_one(&env.organized, "IMG_0001.JPG");
    let dir = jpeg.parent().unwrap();
    assert!(
        dir.to_string_lossy().contains("2024-03-15"),
        "{}",
        dir.display()
    );
    assert_eq!(
        names_in(dir),
        [
            "IMG_0001.ARW",
            "IMG_0001.ARW.xmp",
            "IMG_0001.JPG",
            "IMG_0001.JPG.xmp"
        ]
    );
    let still = find_one(&env.organized, "IMG_0007.HEIC");
    let dir = still.parent().unwrap();
    assert!(
        dir.to_string_lossy().contains("2024-02-29"),
        "{}",
        dir.display()
    );
    assert_eq!(names_in(dir), ["IMG_0007.HEIC", "IMG_0007.MOV"]);
    assert_eq!(files_under(&env.organized).len(), 6);
}

#[test]
fn pairs_travel_as_one_group_in_copy_and_move_mode() {
    for mode in ["copy", "move"] {
        let env = env(mode);
        let files = put_pairs(&env, mode);
        // The video alone would be filed under its own (UTC) day.
        let video = inspect_json(&env.inbox.join("p/IMG_0007.MOV"));
        assert!(
            video["taken_at"]
                .as_str()
                .unwrap()
                .starts_with("2024-03-01"),
            "{video}"
        );

        let plan = env.scan(&["--dry-run"]).success();
        let text = plan.stdout.clone();
        assert!(text.contains("(group with"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("member") && l.contains("IMG_0007.MOV")),
            "{text}"
        );
        assert!(
            files_under(&env.organized).is_empty(),
            "a dry run places nothing"
        );

        let run = env.scan(&[]).success();
        assert_eq!(run.summary().failed, 0, "{mode}: {}", run.stdout);
        check_pairs(&env);
        let left = files_under(&env.inbox).len();
        assert_eq!(left, if mode == "copy" { files.len() } else { 0 }, "{mode}");
        // A second scan changes nothing.
        env.scan(&[]).success();
        check_pairs(&env);

        let jpeg = find_one(&env.organized, "IMG_0001.JPG");
        let shown = cli(&env, &["show", "--json", jpeg.to_str().unwrap()]).success();
        let v: serde_json::Value = serde_json::from_str(shown.stdout.trim()).unwrap();
        let members: Vec<&serde_json::Value> = v["sidecars"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["member"] == true)
            .collect();
        assert_eq!(members.len(), 1, "{v}");
        assert_eq!(members[0]["kind"], "raw");
    }
}

#[test]
fn a_raw_jpeg_pair_is_a_duplicate_only_when_both_halves_are() {
    let env = env("move");
    let jpeg = media::camera_jpeg("dup jpeg");
    let raw = media::camera_raw("dup raw");
    env.put_file("a/IMG_0001.JPG", &jpeg);
    env.put_file("a/IMG_0001.ARW", &raw);
    env.scan(&[]).success();
    assert_eq!(files_under(&env.organized).len(), 2);

    // Same JPEG, new RAW: not a duplicate; the pair is organized together.
    env.put_file("b/IMG_0002.JPG", &jpeg);
    env.put_file("b/IMG_0002.ARW", &media::camera_raw("new raw"));
    let run = env.scan(&[]).success();
    assert_eq!(run.summary().duplicates, 0, "{}", run.stdout);
    let raw2 = find_one(&env.organized, "IMG_0002.ARW");
    assert_eq!(
        names_in(raw2.parent().unwrap())
            .into_iter()
            .filter(|n| n.starts_with("IMG_0002"))
            .collect::<Vec<_>>(),
        ["IMG_0002.ARW", "IMG_0002.JPG"]
    );
    assert!(files_under(&env.duplicates()).is_empty());

    // Both halves known: the pair is a duplicate, set aside together.
    env.put_file("c/IMG_0003.JPG", &jpeg);
    env.put_file("c/IMG_0003.ARW", &raw);
    let run = env.scan(&[]).success();
    assert_eq!(run.summary().duplicates, 1, "{}", run.stdout);
    let dups: Vec<String> = files_under(&env.duplicates())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert!(dups.contains(&"IMG_0003.ARW".to_owned()), "{dups:?}");
    assert!(files_under(&env.inbox).is_empty());
    assert_eq!(files_under(&env.organized).len(), 4);
}

#[test]
fn undo_takes_a_pair_back_together() {
    let env = env("move");
    let files = put_pairs(&env, "undo");
    env.scan(&[]).success();
    check_pairs(&env);
    // The Live Photo was organized last or first; undo both operations.
    env.undo(2).success();
    assert!(
        files_under(&env.organized).is_empty(),
        "{:?}",
        files_under(&env.organized)
    );
    for (rel, bytes) in &files {
        assert_eq!(&std::fs::read(env.inbox.join(rel)).unwrap(), bytes, "{rel}");
    }
}

#[test]
fn a_live_photo_is_told_by_its_content_identifier() {
    let env = env("move");
    env.put_file("p/IMG_0100.JPG", &media::live_jpeg("AAAA-1", "one"));
    env.put_file("p/IMG_0100.MOV", &media::live_video_of("BBBB-2", "one"));
    env.put_file("p/IMG_0101.JPG", &media::live_jpeg("CCCC-3", "two"));
    env.put_file("p/IMG_0101.MOV", &media::live_video_of("CCCC-3", "two"));
    let still = inspect_json(&env.inbox.join("p/IMG_0101.JPG"));
    let video = inspect_json(&env.inbox.join("p/IMG_0101.MOV"));
    assert_eq!(still["live_photo_id"], "CCCC-3", "{still}");
    assert_eq!(video["live_photo_id"], "CCCC-3", "{video}");

    let run = env.scan(&[]).success();
    assert_eq!(run.summary().failed, 0, "{}", run.stdout);
    // Same identifier: one group, in the still's folder.
    let pair = find_one(&env.organized, "IMG_0101.JPG");
    assert_eq!(
        names_in(pair.parent().unwrap())
            .into_iter()
            .filter(|n| n.starts_with("IMG_0101"))
            .collect::<Vec<_>>(),
        ["IMG_0101.JPG", "IMG_0101.MOV"]
    );
    // Same stem, other identifier: not a pair; the video is filed by its own date.
    let still = find_one(&env.organized, "IMG_0100.JPG");
    let video = find_one(&env.organized, "IMG_0100.MOV");
    assert!(
        still.to_string_lossy().contains("2024-02-29"),
        "{}",
        still.display()
    );
    assert!(
        video.to_string_lossy().contains("2024-03-01"),
        "{}",
        video.display()
    );
    assert!(files_under(&env.inbox).is_empty());
}

#[test]
fn a_raws_own_sidecar_arriving_later_joins_its_pair_and_is_undone_with_it() {
    let env = env("move");
    let files = [
        ("p/IMG_0005.JPG", media::camera_jpeg("late pair")),
        ("p/IMG_0005.ARW", media::camera_raw("late pair")),
    ];
    for (rel, bytes) in &files {
        env.put_file(rel, bytes);
    }
    env.scan(&[]).success();
    let raw = find_one(&env.organized, "IMG_0005.ARW");

    let late = b"<raw-edits later/>\n".to_vec();
    env.put_file("p/IMG_0005.ARW.xmp", &late);
    let run = env.scan(&[]).success();
    assert_eq!(run.summary().skipped, 0, "{}", run.stdout);
    assert_eq!(
        std::fs::read(raw.with_file_name("IMG_0005.ARW.xmp")).unwrap(),
        late
    );
    assert!(files_under(&env.inbox).is_empty());

    env.undo(1).success();
    assert!(
        files_under(&env.organized).is_empty(),
        "{:?}",
        files_under(&env.organized)
    );
    assert_eq!(
        std::fs::read(env.inbox.join("p/IMG_0005.ARW.xmp")).unwrap(),
        late
    );
    for (rel, bytes) in &files {
        assert_eq!(&std::fs::read(env.inbox.join(rel)).unwrap(), bytes, "{rel}");
    }
}

#[test]
fn in_copy_mode_a_duplicate_pair_is_reported_duplicate_whole() {
    let env = env("copy");
    let (jpeg, raw) = (
        media::camera_jpeg("copy dup"),
        media::camera_raw("copy dup"),
    );
    env.put_file("a/IMG_0001.JPG", &jpeg);
    env.put_file("a/IMG_0001.ARW", &raw);
    env.scan(&[]).success();
    env.put_file("c/IMG_0003.JPG", &jpeg);
    env.put_file("c/IMG_0003.ARW", &raw);
    let run = env.scan(&[]).success();
    let s = run.summary();
    // Both halves, not the still alone with its RAW left waiting as if it were an orphan.
    assert_eq!((s.organized, s.duplicates), (0, 2), "{}", run.stdout);
    assert_eq!(files_under(&env.organized).len(), 2);
    assert_eq!(files_under(&env.inbox).len(), 4);
}
