//! What a burst of files costs the run loop: `cargo bench -p watcher --bench burst`.
//!
//! Not a criterion bench: each scenario is one long run against the real filesystem and
//! inotify, too slow to repeat dozens of times. It prints, per scenario:
//!
//! - `burst`: N files written into one watched folder, with a short settle (200 ms) and a
//!   long one (5 s: every file is waiting at once). Time from the last write to the last
//!   emitted item, and CPU time of the thread running the loop (hashing runs elsewhere).
//! - `moved-in folder`: a folder of N files renamed into the inbox, then one small file
//!   written next to it, known to the identity cache (so it needs no hashing). Time from
//!   that write to its emission (how long the loop was busy with the folder), and until the
//!   whole folder was emitted.
//!
//! `BURST_FILES` overrides N (default 20000).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use watcher::{FileIdentity, IdentityCache, WatchConfig, WatchItem, WatchStats, Watcher};

/// Knows only the identities the bench puts in.
#[derive(Default)]
struct Known(Mutex<HashSet<FileIdentity>>);

impl IdentityCache for Known {
    fn lookup(&self, id: &FileIdentity) -> Option<String> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        known.contains(id).then(|| "0".repeat(64))
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A watcher on its own single-threaded runtime (so that thread's CPU time is the loop's),
/// and a consumer thread that records when each path was emitted.
struct Bench {
    stop: watch::Sender<bool>,
    loop_thread: std::thread::JoinHandle<Duration>,
    emitted: std_mpsc::Receiver<(PathBuf, Instant)>,
    stats: Arc<WatchStats>,
}

impl Bench {
    fn start(inbox: &Path, settle: Duration, cache: Arc<Known>) -> Bench {
        let config = WatchConfig {
            inboxes: vec![inbox.to_path_buf()],
            settle,
            hash_concurrency: 2,
            ..WatchConfig::default()
        };
        let w = Watcher::new(config, cache).unwrap();
        let stats = w.stats();
        let (tx, mut rx) = mpsc::channel(256);
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let loop_thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let start = thread_cpu();
            rt.block_on(w.run(tx, stop_rx)).unwrap();
            thread_cpu() - start
        });
        let (emitted_tx, emitted) = std_mpsc::channel();
        std::thread::spawn(move || {
            while let Some(item) = rx.blocking_recv() {
                match item {
                    WatchItem::ScanFinished { .. } => {
                        let _ = ready_tx.send(());
                    }
                    WatchItem::Discovered(d) => {
                        let at = Instant::now();
                        if emitted_tx.send((d.path, at)).is_err() {
                            return;
                        }
                    }
                    WatchItem::Failed { path, error, .. } => {
                        panic!("{} failed: {error}", path.display())
                    }
                    _ => {}
                }
            }
        });
        ready_rx.recv().unwrap();
        Bench {
            stop,
            loop_thread,
            emitted,
            stats,
        }
    }

    /// Waits for `n` emissions; returns the time of the last one and, if seen, of `marker`.
    fn wait_for(&self, n: usize, marker: Option<&Path>) -> (Instant, Option<Instant>) {
        let mut last = Instant::now();
        let mut marked = None;
        for _ in 0..n {
            let (path, at) = self
                .emitted
                .recv_timeout(Duration::from_secs(300))
                .expect("files were not emitted within 5 minutes");
            if Some(path.as_path()) == marker {
                marked = Some(at);
            }
            last = at;
        }
        (last, marked)
    }

    fn stop(self) -> (Duration, u64) {
        let rescans = self
            .stats
            .rescans
            .load(std::sync::atomic::Ordering::Relaxed);
        self.stop.send(true).unwrap();
        (self.loop_thread.join().unwrap(), rescans)
    }
}

fn burst(n: usize, settle: Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let dir = inbox.join("burst");
    std::fs::create_dir_all(&dir).unwrap();
    let b = Bench::start(&inbox, settle, Arc::default());
    let begin = Instant::now();
    for i in 0..n {
        std::fs::write(dir.join(format!("{i:05}.png")), format!("burst file {i}")).unwrap();
    }
    let last_write = Instant::now();
    let (last_emit, _) = b.wait_for(n, None);
    let (cpu, rescans) = b.stop();
    println!(
        "burst of {n}, settle {} ms: writing {:.0} ms; last write -> last emitted {:.0} ms; loop CPU {:.0} ms; overflow rescans {rescans}",
        settle.as_millis(),
        (last_write - begin).as_secs_f64() * 1e3,
        (last_emit - last_write).as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
    );
}

fn moved_in_folder(n: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let outside = tmp.path().join("outside/batch");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let body = vec![7u8; 16 << 10];
    for i in 0..n {
        std::fs::write(outside.join(format!("{i:05}.png")), &body).unwrap();
    }
    let cache = Arc::new(Known::default());
    let b = Bench::start(&inbox, Duration::from_millis(200), cache.clone());
    std::fs::rename(&outside, inbox.join("batch")).unwrap();
    // Give the loop the folder's event before the marker's.
    std::thread::sleep(Duration::from_millis(50));
    let marker = inbox.join("marker.png");
    let written = Instant::now();
    std::fs::write(&marker, b"marker").unwrap();
    // Looked up only once the marker settled, 200 ms from now.
    let meta = std::fs::symlink_metadata(&marker).unwrap();
    cache
        .0
        .lock()
        .unwrap()
        .insert(FileIdentity::from_metadata(&meta));
    let (last_emit, marked) = b.wait_for(n + 1, Some(&marker));
    let (cpu, _) = b.stop();
    let marked = marked.expect("marker was emitted");
    println!(
        "moved-in folder of {n} x 16 KiB: marker written -> emitted {:.0} ms (settle 200 ms); all emitted after {:.0} ms; loop CPU {:.0} ms",
        (marked - written).as_secs_f64() * 1e3,
        (last_emit - written).as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let n = std::env::var("BURST_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    burst(n, Duration::from_millis(200));
    burst(n, Duration::from_secs(5));
    moved_in_folder(n);
}
