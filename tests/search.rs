//! `alice search` and `alice show` against the real daemon: real fixture files (AI images with
//! prompts, a camera JPEG) dropped into a watched inbox, organized by `alice run`, then found
//! by prompt words, source, project and date while the daemon runs, after it stops, and after
//! a restart that must keep the active project.
//!
//! Shares the end-to-end harness (temp dirs, the binary as a child process, polling with a
//! generous timeout, never timing).

#[allow(dead_code)]
#[path = "e2e/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "e2e/media.rs"]
mod media;

use std::path::{Path, PathBuf};
use std::time::Instant;

use harness::{Env, Opts, Run, TIMEOUT, alice, ev, run_to_end};
use serde_json::Value;

/// AI fixtures of the metadata crate, with their prompt and source (from its expected.json).
const AI: &[(&str, &str, &str)] = &[
    ("forge_flux.png", "a fox in a birch forest", "flux"),
    (
        "mj_description.png",
        // The prompt stops before Midjourney's `--parameters` (they have their own fields).
        "a red fox in snow, film photo",
        "midjourney",
    ),
    (
        "a1111.png",
        "a lighthouse at dusk, (oil painting:1.2)",
        "stable-diffusion",
    ),
    (
        "swarmui.png",
        "a tram in fog, early morning",
        "stable-diffusion",
    ),
    ("novelai.png", "1girl, cherry blossoms, night", "novelai"),
];

/// Runs `alice <args> --config <env config>` to completion.
fn cli(env: &Env, args: &[&str]) -> Run {
    let mut cmd = alice();
    cmd.args(args).arg("--config").arg(&env.config);
    run_to_end(cmd)
}

fn exit_code(run: &Run) -> Option<i32> {
    run.status.code()
}

/// `alice search … --json`, parsed; asserts exit 0 (found) or 1 (nothing found).
fn search_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let run = cli(env, &all);
    let code = exit_code(&run);
    assert!(matches!(code, Some(0 | 1)), "search {args:?}: {run:?}");
    let hits: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{run:?}")))
        .collect();
    assert_eq!(
        code == Some(0),
        !hits.is_empty(),
        "exit status vs results: {run:?}"
    );
    hits
}

/// The original file names of search hits, sorted.
fn names(hits: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = hits
        .iter()
        .map(|h| {
            Path::new(h["original_path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Polls `alice search` until it returns `n` hits (the organized log line and the search may
/// race by a moment); panics after the harness timeout.
fn wait_for_hits(env: &Env, args: &[&str], n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let hits = search_json(env, args);
        if hits.len() == n {
            return hits;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "search {args:?} never returned {n} hits; last: {hits:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(str::to_owned).collect()
}

#[test]
fn files_organized_by_the_daemon_are_found_by_prompt_source_project_and_date() {
    let env = Env::with(Opts {
        settle_ms: 100,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();

    // A camera photo before any project is active, then AI images in project "cyberpunk".
    env.drop_file("camera.jpg", &media::fixture_bytes("media/camera.jpg"));
    daemon.wait_events(ev::ORGANIZED, 1);
    cli(&env, &["project", "create", "cyberpunk"]).success();
    cli(&env, &["project", "use", "cyberpunk"]).success();
    for (name, _, _) in AI {
        env.drop_file(name, &media::fixture_bytes(&format!("ai/{name}")));
    }
    daemon.wait_events(ev::ORGANIZED, 1 + AI.len());
    let all = wait_for_hits(&env, &["--limit", "100"], 1 + AI.len());

    // Every record is complete and points at a real organized file.
    for hit in &all {
        let organized = PathBuf::from(hit["organized_path"].as_str().unwrap());
        assert!(organized.starts_with(&env.organized), "{hit}");
        assert!(organized.is_file(), "{hit}");
        assert_eq!(hit["status"], "organized", "{hit}");
        assert!(hit["asset_id"].as_str().unwrap().len() == 64, "{hit}");
        assert!(hit["organized_at"].is_string(), "{hit}");
    }
    for (name, prompt, source) in AI {
        let hit = all
            .iter()
            .find(|h| h["original_path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing from {all:#?}"));
        assert_eq!(hit["media"]["ai"]["prompt"], *prompt, "{hit}");
        assert_eq!(hit["source"], *source, "{hit}");
        assert_eq!(hit["project"], "cyberpunk", "{hit}");
    }

    // By prompt words: every word must match, best match first, the match marked.
    assert_eq!(
        names(&search_json(&env, &["fox"])),
        ["forge_flux.png", "mj_description.png"]
    );
    assert_eq!(
        names(&search_json(&env, &["fox", "birch"])),
        ["forge_flux.png"]
    );
    assert_eq!(names(&search_json(&env, &["light"])), ["a1111.png"]);
    let run = cli(&env, &["search", "birch forest"]).success();
    let line = run.stdout.lines().next().unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert!(Path::new(fields[0]).is_file(), "{line}");
    assert_eq!(fields[2], "flux", "{line}");
    // Piped output marks nothing: brackets would read as prompt syntax.
    assert!(fields[3].contains("birch forest"), "{line}");
    assert!(!fields[3].contains("[birch]"), "{line}");

    let lighthouse = &search_json(&env, &["lighthouse"])[0];
    assert_eq!(lighthouse["media"]["ai"]["model"], "sd_xl_base_1.0");
    assert_eq!(lighthouse["media"]["ai"]["seed"], 3_141_592_653u64);
    assert_eq!(
        lighthouse["media"]["ai"]["negative_prompt"],
        "blurry, lowres"
    );
    assert!(
        lighthouse["snippet"]
            .as_str()
            .unwrap()
            .contains("[lighthouse]")
    );

    // By source and project, with and without words.
    assert_eq!(
        names(&search_json(&env, &["fox", "--source", "midjourney"])),
        ["mj_description.png"]
    );
    assert_eq!(
        names(&search_json(&env, &["--source", "stable-diffusion"])),
        ["a1111.png", "swarmui.png"]
    );
    let cameras = search_json(&env, &["--source", "camera"]);
    assert_eq!(names(&cameras), ["camera.jpg"]);
    assert_ne!(cameras[0]["project"], "cyberpunk");
    assert_eq!(
        names(&search_json(
            &env,
            &["--project", "cyberpunk", "--limit", "100"]
        )),
        sorted(AI.iter().map(|a| a.0).collect())
    );
    assert!(
        search_json(
            &env,
            &["fox", "--project", cameras[0]["project"].as_str().unwrap()]
        )
        .is_empty()
    );
    assert_eq!(
        names(&search_json(&env, &["--media", "image", "--limit", "1"])).len(),
        1
    );
    assert!(search_json(&env, &["--media", "video"]).is_empty());

    // By date: the camera photo was taken 2024-03-15 (EXIF); the AI images carry no capture
    // date, so their mtime (2021-06-15, set by the harness) is theirs.
    assert_eq!(
        names(&search_json(&env, &["--since", "2024-03-15"])),
        ["camera.jpg"]
    );
    assert!(search_json(&env, &["--since", "2024-03-16"]).is_empty());
    assert_eq!(
        names(&search_json(
            &env,
            &["--until", "2022-01-01", "--limit", "100"]
        )),
        sorted(AI.iter().map(|a| a.0).collect())
    );
    assert_eq!(
        names(&search_json(
            &env,
            &["fox", "--since", "2021-06-01", "--until", "2021-06-30"]
        )),
        ["forge_flux.png", "mj_description.png"]
    );
    assert!(search_json(&env, &["--since", "2d"]).is_empty());
    assert_eq!(
        search_json(&env, &["--until", "2d", "--limit", "100"]).len(),
        1 + AI.len()
    );
    let bad = cli(&env, &["search", "fox", "--since", "yesterday"]);
    assert_eq!(exit_code(&bad), Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("--since") && bad.stderr.contains("7d"),
        "{bad:?}"
    );

    // FTS syntax is plain text: no error, no operator. As operators, each of these would
    // match a fox; as text they ask for words no prompt has.
    for q in [
        "fox OR zebra",
        "fox NOT snow",
        "NEAR(fox",
        "*",
        "prompt:fox",
    ] {
        let run = cli(&env, &["search", q]);
        assert_eq!(exit_code(&run), Some(1), "{q}: {run:?}");
    }
    // A stray quote is punctuation.
    assert_eq!(names(&search_json(&env, &["\"fox"])).len(), 2);

    // `alice show` by organized path, by asset id, and by a copy of the content.
    let organized = lighthouse["organized_path"].as_str().unwrap();
    let show = cli(&env, &["show", organized]).success();
    for want in [
        "a lighthouse at dusk, (oil painting:1.2)",
        "3141592653",
        "sd_xl_base_1.0",
        "stable-diffusion",
        "cyberpunk",
        "a1111.png",
        organized,
        ev::DISCOVERED,
        ev::ORGANIZED,
    ] {
        assert!(
            show.stdout.contains(want),
            "missing {want:?} in:\n{}",
            show.stdout
        );
    }
    let id = lighthouse["asset_id"].as_str().unwrap();
    let show = cli(&env, &["show", "--json", id]).success();
    let record: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(record["organized_path"], organized);
    let types: Vec<&str> = record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&ev::ORGANIZED), "{types:?}");
    assert!(types.iter().all(|t| t.starts_with("alice.")), "{types:?}");
    // Copy mode left the inbox file; its content identifies the asset.
    let inbox_copy = env.inbox.join("a1111.png");
    let show = cli(&env, &["show", "--json", inbox_copy.to_str().unwrap()]).success();
    let record: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(record["asset_id"], id);
    let missing = cli(&env, &["show", env.root.join("nope.png").to_str().unwrap()]);
    assert_eq!(exit_code(&missing), Some(1), "{missing:?}");

    // Stopped: the catalog is still searchable.
    assert!(daemon.terminate().success(), "{}", daemon.context());
    assert_eq!(names(&search_json(&env, &["fox"])).len(), 2);

    // Restarted: the active project survived, and new files are still filed under it.
    let mut daemon = env.start();
    daemon.wait_ready();
    let status = cli(&env, &["status", "--json"]).success();
    let status: Value = serde_json::from_str(status.stdout.trim()).unwrap();
    assert_eq!(status["context"]["project"], "cyberpunk", "{status}");
    let list = cli(&env, &["project", "list"]).success();
    assert!(
        list.stdout.lines().any(|l| l.starts_with("* cyberpunk")),
        "{}",
        list.stdout
    );
    env.drop_file(
        "ComfyUI_00001_.png",
        &media::fixture_bytes("ai/ComfyUI_00001_.png"),
    );
    let bottle = wait_for_hits(&env, &["glass", "bottle"], 1);
    assert_eq!(bottle[0]["project"], "cyberpunk");
    assert_eq!(bottle[0]["source"], "comfyui");
    assert!(daemon.terminate().success(), "{}", daemon.context());
}
