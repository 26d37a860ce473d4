//! SIGKILL at random moments never loses, duplicates or half-places a file (brief invariant 1).

use std::time::Duration;

use crate::harness::*;
use crate::media;

/// xorshift64*: a fixed seed gives the same kill schedule on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const KILLS: usize = 40;

#[test]
fn killed_with_sigkill_40_times_while_moving_520_files_every_file_ends_up_organized_exactly_once() {
    let env = Env::with(Opts {
        mode: "move",
        settle_ms: 100,
        ..Opts::default()
    });
    // Fixed by default; ALICE_E2E_SEED=<n> explores other schedules when soak-testing.
    let seed = std::env::var("ALICE_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00a1_1ce0_0000_2024u64);
    let mut rng = Rng(seed | 1);
    let mut inputs: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for i in 0..500 {
        let project = format!("crash-{}", i % 10);
        let (name, bytes) = match i % 20 {
            0 => (
                format!("cam-{i:03}.jpg"),
                media::camera_jpeg(&format!("crash {i}")),
            ),
            1 => (
                format!("sd-{i:03}.png"),
                media::stable_diffusion_png(&format!("crash {i}")),
            ),
            2 | 3 => (
                format!("jpeg-{i:03}.jpg"),
                media::jpeg(&format!("crash {i}")),
            ),
            // One name in many sub-folders of one project: collisions, renamed under crashes.
            4 => (
                format!("sub-{i}/same.png"),
                media::png(&format!("crash {i}")),
            ),
            // Sizes vary so that copies, fsyncs and verifications take a while: kills land
            // in the middle of work, not only between files.
            _ => (
                format!("gen-{i:03}.png"),
                media::png_padded(&format!("crash {i}"), rng.between(16, 96) as usize * 1024),
            ),
        };
        inputs.push((format!("{project}/{name}"), bytes, true));
    }
    for i in 0..20 {
        inputs.push((
            format!("crash-{}/note-{i}.txt", i % 10),
            format!("note {i}\n").into_bytes(),
            false,
        ));
    }
    // Interleave text files with media.
    for i in 0..20 {
        let j = (rng.next() as usize) % inputs.len();
        inputs.swap(500 + i, j);
    }

    let per_cycle = inputs.len().div_ceil(KILLS);
    let mut next = 0;
    for cycle in 0..KILLS {
        let batch_end = (next + per_cycle).min(inputs.len());
        let half = next + (batch_end - next) / 2;
        for (rel, bytes, _) in &inputs[next..half] {
            env.drop_file(rel, bytes);
        }
        let mut daemon = env.start();
        for (rel, bytes, _) in &inputs[half..batch_end] {
            env.drop_file(rel, bytes);
        }
        next = batch_end;
        let delay = rng.between(50, 400);
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            daemon.is_running(),
            "cycle {cycle}: daemon died by itself\n{}",
            daemon.context()
        );
        daemon.kill9();
        let pending = files_under(&env.inbox)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e != "txt"))
            .count();
        let tmps = temporaries(&env.root).len();
        let organized = daemon.events(ev::ORGANIZED).len();
        eprintln!(
            "cycle {cycle}: killed after {delay} ms; {organized} organized in this run, {pending} media pending, {tmps} temporaries"
        );
    }
    assert_eq!(next, inputs.len());

    let texts: Vec<&(String, Vec<u8>, bool)> = inputs.iter().filter(|i| !i.2).collect();
    let mut daemon = env.start();
    daemon.wait_ready();
    daemon.wait_for("the inbox to hold only the non-media files", |r| {
        files_under(&env.inbox).len() == texts.len()
            && r.iter().any(|x| x["message"] == "scan walked the inbox")
    });
    let status = daemon.terminate();
    assert!(
        status.success(),
        "SIGTERM → 0, got {status}\n{}",
        daemon.context()
    );

    let media_bytes: Vec<&[u8]> = inputs
        .iter()
        .filter(|i| i.2)
        .map(|i| i.1.as_slice())
        .collect();
    assert_each_once(&env.organized, &media_bytes);
    let left: Vec<_> = temporaries(&env.root);
    assert!(left.is_empty(), "temporaries left behind: {left:?}");
    for (rel, bytes, _) in &texts {
        assert_eq!(
            std::fs::read(env.inbox.join(rel)).unwrap(),
            *bytes,
            "{rel} (not media) stays in the inbox"
        );
    }
    assert!(
        files_under(&env.duplicates()).is_empty(),
        "no input was a duplicate, yet: {:?}",
        files_under(&env.duplicates())
    );

    // The catalog agrees with the disk: a new pass has nothing to do and changes nothing.
    let before = (snapshot(&env.inbox), snapshot(&env.organized));
    let scan = env.scan(&[]).success();
    let s = scan.summary();
    assert_eq!((s.organized, s.failed, s.duplicates), (0, 0, 0), "{scan:?}");
    assert!(
        (snapshot(&env.inbox), snapshot(&env.organized)) == before,
        "the pass after recovery changed files: {scan:?}"
    );
}

#[test]
fn sigterm_with_files_in_flight_exits_0_and_the_next_pass_finishes_the_rest() {
    let env = Env::with(Opts {
        mode: "move",
        settle_ms: 100,
        ..Opts::default()
    });
    let mut daemon = env.start();
    daemon.wait_ready();
    let inputs: Vec<Vec<u8>> = (0..150)
        .map(|i| media::png_padded(&format!("term {i}"), 32 * 1024))
        .collect();
    for (i, bytes) in inputs.iter().enumerate() {
        env.drop_file(format!("p{}/f{i:03}.png", i % 3), bytes);
    }
    daemon.wait_events(ev::ORGANIZED, 1);
    let status = daemon.terminate();
    assert!(
        status.success(),
        "SIGTERM → 0, got {status}\n{}",
        daemon.context()
    );
    assert!(
        temporaries(&env.root).is_empty(),
        "{:?}",
        temporaries(&env.root)
    );
    let scan = env.scan(&[]).success();
    assert_eq!(scan.summary().failed, 0, "{scan:?}");
    let all: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    assert_each_once(&env.organized, &all);
    assert!(
        files_under(&env.inbox).is_empty(),
        "{:?}",
        files_under(&env.inbox)
    );
}
