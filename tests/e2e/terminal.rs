//! What `alice scan` shows a person at a terminal: the human log format (one short line per
//! file, no ids) pinned as a snapshot, and the progress bar drawn on a real pseudo-terminal.

use std::process::Command;

use crate::harness::{self, Env};
use crate::media;

/// A PNG signature followed by a chunk header cut short: fails metadata extraction with a
/// fixed message.
const BROKEN_PNG: &[u8] = b"\x89PNG\r\n\x1a\nbroken";

/// Replaces what differs between runs: the temp dir, the version, timings.
fn normalize(text: &str, env: &Env) -> String {
    let root = env.root.to_str().unwrap();
    text.replace(root, "$ROOT")
        .replace(env!("CARGO_PKG_VERSION"), "$VERSION")
        .lines()
        .map(|line| {
            let line = match line.find("elapsed_ms=") {
                Some(at) => format!("{}elapsed_ms=$MS", &line[..at]),
                None => line.to_owned(),
            };
            // The summary's seconds: `…, 0.1 s)`.
            match (line.rfind(", "), line.ends_with(" s)")) {
                (Some(at), true) => format!("{}, $S s)", &line[..at]),
                _ => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Files finish in any order: compares the lines as sets, showing both texts on a mismatch.
fn assert_same_lines(actual: &str, expected: &str) {
    let sorted = |t: &str| {
        let mut v: Vec<String> = t.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(
        sorted(actual),
        sorted(expected),
        "\n--- actual ---\n{actual}\n--- expected (any order) ---\n{expected}\n"
    );
}

fn is_hex_id(word: &str) -> bool {
    word.len() >= 32 && word.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn human_scan_output_is_one_short_line_per_file_without_ids() {
    let env = Env::new();
    let camera = media::fixture_bytes("media/camera.jpg");
    env.put_file("IMG_1234.JPG", &camera);
    // First scan on a fresh catalog: one line for the new catalog, not one per schema step;
    // the bus draining stays quiet.
    let first = env.scan(&["--log-format", "human"]).success();
    assert_same_lines(
        &normalize(&first.stderr, &env),
        "alice starting config=$ROOT/config.toml version=$VERSION
created folder path=$ROOT/state key=state_dir
created folder path=$ROOT/organized key=organized
catalog created catalog=$ROOT/state/catalog.sqlite3 version=6
scan started inbox=$ROOT/inbox reason=Manual
scan walked the inbox inbox=$ROOT/inbox reason=Manual files=1
organized  IMG_1234.JPG → 2024-03-15/uncategorized/camera/IMG_1234.JPG
stopped organized=1 duplicates=0 skipped=0 failed=0 files_hashed=1 bytes_hashed=990 identity_cache_hits=0 elapsed_ms=$MS",
    );
    // Second scan: a copy of it in a subfolder, a text file and a broken PNG.
    env.put_file("sub/copy.jpg", &camera);
    env.put_file("notes.txt", b"shopping list\n");
    env.put_file("broken.png", BROKEN_PNG);
    let second = env.scan(&["--log-format", "human"]).success();
    let stderr = normalize(&second.stderr, &env);
    assert_same_lines(
        &stderr,
        "alice starting config=$ROOT/config.toml version=$VERSION
scan started inbox=$ROOT/inbox reason=Manual
scan walked the inbox inbox=$ROOT/inbox reason=Manual files=4
duplicate  sub/copy.jpg (same as 2024-03-15/uncategorized/camera/IMG_1234.JPG)
skipped    notes.txt: not an image or video: no known format in its first bytes
failed     broken.png: png file is truncated: chunk header at byte 8 ends at byte 16 but the file has 14 bytes
stopped organized=0 duplicates=1 skipped=1 failed=1 files_hashed=3 bytes_hashed=1018 identity_cache_hits=1 elapsed_ms=$MS",
    );
    assert_eq!(
        normalize(&second.stdout, &env),
        "organized 0, duplicates 1, skipped 1, failed 1 (3 files hashed, 1 known by identity, $S s)"
    );
    for line in first.stderr.lines().chain(second.stderr.lines()) {
        assert!(
            !line.contains("_id=") && !line.split(['=', ' ']).any(is_hex_id),
            "an id on a human line: {line}"
        );
        assert!(
            !line.contains("=\"\"") && !line.ends_with('='),
            "an empty field: {line}"
        );
        assert!(!line.contains('\x1b'), "colours on a pipe: {line}");
    }
}

#[test]
fn human_format_with_debug_on_shows_the_ids_and_json_keeps_every_field() {
    let env = Env::new();
    env.put_file("IMG_1234.JPG", &media::fixture_bytes("media/camera.jpg"));
    let mut cmd = harness::alice();
    cmd.args(["scan", "--log-format", "human", "--config"])
        .arg(&env.config)
        .env("RUST_LOG", "debug");
    let run = harness::run_to_end(cmd).success();
    let organized = run
        .stderr
        .lines()
        .find(|l| l.starts_with("organized  IMG_1234.JPG → "))
        .unwrap_or_else(|| panic!("no organized line: {run:?}"));
    for field in ["event_id=", "correlation_id=", "asset_id=", "mode=Copy"] {
        assert!(organized.contains(field), "{field} missing: {organized}");
    }
    assert!(
        run.stderr.contains("catalog schema migrated"),
        "routine records show with debug on"
    );

    let json_env = Env::new();
    json_env.put_file("IMG_1234.JPG", &media::fixture_bytes("media/camera.jpg"));
    let run = json_env.scan(&["--log-format", "json"]).success();
    let records = harness::parse_records(&run.stderr);
    let p = json_env.inbox.join("IMG_1234.JPG");
    let organized = harness::about(&records, harness::ev::ORGANIZED, &p);
    assert_eq!(organized.len(), 1, "{run:?}");
    for field in [
        "event_id",
        "correlation_id",
        "asset_id",
        "destination",
        "mode",
        "source",
        "project",
    ] {
        assert!(
            organized[0][field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} missing from {}",
            organized[0]
        );
    }
    let created = records
        .iter()
        .filter(|r| r["message"] == "catalog created")
        .count();
    assert_eq!(
        created, 1,
        "JSON keeps the routine records, one per catalog"
    );
}

/// Runs `alice scan` on a pseudo-terminal (`script` from util-linux) and returns what the
/// terminal received.
fn scan_on_a_terminal(env: &Env) -> harness::Run {
    let command = format!(
        "{} scan --config {}",
        env!("CARGO_BIN_EXE_alice"),
        env.config.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("ALICE_CONFIG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color");
    match Command::new("script").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        other => {
            panic!("this test needs `script` from util-linux (apt-get install bsdutils): {other:?}")
        }
    }
    harness::run_to_end(cmd)
}

/// `text` without its ANSI control sequences (`ESC [ … letter`).
fn without_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn on_a_terminal_the_bar_ends_with_the_totals_and_log_lines_never_tear_it() {
    let env = Env::new();
    env.put_file("IMG_1234.JPG", &media::fixture_bytes("media/camera.jpg"));
    env.put_file("notes.txt", b"shopping list\n");
    env.put_file("broken.png", BROKEN_PNG);
    let run = scan_on_a_terminal(&env).success();
    let screen = &run.stdout;
    // The last frame of the bar holds the final totals: 3 of 3 files, all 990 + 14 + 14 bytes
    // identified.
    let last_frame = screen
        .rsplit("\x1b[2K")
        .find(|frame| frame.contains(" files, "))
        .unwrap_or_else(|| panic!("no progress bar drawn:\n{screen:?}"));
    assert!(
        last_frame.contains("] 3/3 files, 1018 B/1018 B identified, "),
        "final frame: {last_frame:?}"
    );
    // Auto format on a terminal is human, in colour; each log line starts on a cleared line,
    // never glued to a bar frame.
    for verb in ["organized ", "skipped   ", "failed    "] {
        let at = screen
            .find(&format!("{verb}\x1b[0m "))
            .unwrap_or_else(|| panic!("no {verb:?} line:\n{screen:?}"));
        let before = &screen[..at];
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        assert!(
            without_escapes(&before[line_start..]).is_empty(),
            "{verb:?} line torn by the bar: {:?}",
            &before[line_start..]
        );
    }
    assert!(
        screen.contains("organized 1, duplicates 0, skipped 1, failed 1"),
        "summary: {screen:?}"
    );
}
