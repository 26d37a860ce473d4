//! Real filesystem, real inotify. Every wait is "eventually, within a generous bound"; no
//! test asserts how long something took.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use watcher::{
    Discovered, DiscoveryKind, FileIdentity, IdentityCache, ScanReason, WatchConfig, WatchError,
    WatchItem, WatchStats, Watcher,
};

const EVENTUALLY: Duration = Duration::from_secs(10);

/// The catalog's role, played by a map: a real implementation of the trait.
#[derive(Default)]
struct MapCache(Mutex<HashMap<FileIdentity, String>>);

impl IdentityCache for MapCache {
    fn lookup(&self, id: &FileIdentity) -> Option<String> {
        self.0.lock().unwrap().get(id).cloned()
    }
}

impl MapCache {
    fn remember(&self, d: &Discovered) {
        self.0
            .lock()
            .unwrap()
            .insert(d.identity, d.asset_id.clone());
    }
}

fn config(inbox: &Path) -> WatchConfig {
    WatchConfig {
        inboxes: vec![inbox.to_path_buf()],
        settle: Duration::from_millis(200),
        hash_concurrency: 2,
        poll_interval: Duration::from_millis(200),
        ..WatchConfig::default()
    }
}

fn hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// A temp dir with an `inbox/` and an `outside/` on the same filesystem.
struct Dirs {
    tmp: tempfile::TempDir,
    inbox: PathBuf,
    outside: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::create_dir(&outside).unwrap();
    Dirs {
        tmp,
        inbox,
        outside,
    }
}

/// A running watcher and everything it has sent so far.
struct Running {
    rx: mpsc::Receiver<WatchItem>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), WatchError>>,
    stats: Arc<WatchStats>,
    log: Vec<WatchItem>,
}

impl Running {
    /// Starts `run` and waits until the start-up reconciliation of every inbox finished, so
    /// every folder is watched when this returns.
    async fn start(config: WatchConfig, cache: Arc<dyn IdentityCache>) -> Running {
        let inboxes = config.inboxes.len();
        let w = Watcher::new(config, cache).unwrap();
        let stats = w.stats();
        let (tx, rx) = mpsc::channel(64);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(w.run(tx, stop_rx));
        let mut r = Running {
            rx,
            stop,
            task,
            stats,
            log: Vec::new(),
        };
        let mut finished = 0;
        while finished < inboxes {
            if let WatchItem::ScanFinished {
                reason: ScanReason::Startup,
                ..
            } = r.next().await
            {
                finished += 1;
            }
        }
        r
    }

    async fn next(&mut self) -> WatchItem {
        let item = tokio::time::timeout(EVENTUALLY, self.rx.recv())
            .await
            .expect("the watcher sent nothing within the time limit")
            .expect("the watcher stopped");
        self.log.push(item.clone());
        item
    }

    /// Waits for `path` to be discovered.
    async fn discovered(&mut self, path: &Path) -> Discovered {
        loop {
            match self.next().await {
                WatchItem::Discovered(d) if d.path == path => return d,
                WatchItem::Failed { path: p, error, .. } if p == path => {
                    panic!("{} failed: {error}", p.display())
                }
                _ => {}
            }
        }
    }

    /// Waits until every one of `paths` has been discovered (counting items already logged).
    async fn discovered_all(&mut self, paths: &[PathBuf]) -> HashMap<PathBuf, Discovered> {
        let mut found: HashMap<PathBuf, Discovered> = HashMap::new();
        for item in &self.log {
            if let WatchItem::Discovered(d) = item {
                found.insert(d.path.clone(), d.clone());
            }
        }
        while !paths.iter().all(|p| found.contains_key(p)) {
            if let WatchItem::Discovered(d) = self.next().await {
                found.insert(d.path.clone(), d);
            }
        }
        found
    }

    /// Everything logged about `path` that is a discovery.
    fn discoveries(&self, path: &Path) -> Vec<&Discovered> {
        self.log
            .iter()
            .filter_map(|i| match i {
                WatchItem::Discovered(d) if d.path == path => Some(d),
                _ => None,
            })
            .collect()
    }

    /// Paths of every Discovered or Failed item logged.
    fn paths(&self) -> Vec<PathBuf> {
        self.log
            .iter()
            .filter_map(|i| match i {
                WatchItem::Discovered(d) => Some(d.path.clone()),
                WatchItem::Failed { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Writes a sentinel file after everything the test did, and waits for it: items about
    /// earlier files that were going to come have come by then (same queue, earlier timers).
    async fn sentinel(&mut self, dir: &Path) {
        let path = dir.join("zz-sentinel.png");
        std::fs::write(&path, b"sentinel").unwrap();
        self.discovered(&path).await;
    }

    async fn stop(self) -> Vec<WatchItem> {
        let Running {
            mut rx,
            stop,
            task,
            mut log,
            ..
        } = self;
        stop.send(true).unwrap();
        let outcome = tokio::time::timeout(EVENTUALLY, task).await;
        outcome.expect("watcher did not stop").unwrap().unwrap();
        while let Ok(item) = rx.try_recv() {
            log.push(item);
        }
        log
    }
}

fn no_cache() -> Arc<dyn IdentityCache> {
    Arc::new(MapCache::default())
}

async fn scan_all(w: &Watcher) -> (watcher::ScanSummary, Vec<WatchItem>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collect = tokio::spawn(async move {
        let mut items = Vec::new();
        while let Some(i) = rx.recv().await {
            items.push(i);
        }
        items
    });
    let summary = tokio::time::timeout(EVENTUALLY, w.scan_once(&tx))
        .await
        .expect("scan did not finish")
        .unwrap();
    drop(tx);
    (summary, collect.await.unwrap())
}

fn discovered(items: &[WatchItem]) -> Vec<&Discovered> {
    items
        .iter()
        .filter_map(|i| match i {
            WatchItem::Discovered(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_and_closed_file_is_emitted_once_with_hash_and_project() {
    let d = dirs();
    std::fs::create_dir_all(d.inbox.join("cyberpunk/x")).unwrap();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;

    let path = d.inbox.join("cyberpunk/x/y.png");
    std::fs::write(&path, b"neon rain").unwrap();
    let got = r.discovered(&path).await;
    assert_eq!(got.asset_id, hex(b"neon rain"));
    assert_eq!(got.project.as_deref(), Some("cyberpunk"));
    assert_eq!(got.inbox, d.inbox);
    assert!(got.hashed);
    assert_eq!(got.kind, DiscoveryKind::Watch);
    assert_eq!(got.identity.size, 9);

    let top = d.inbox.join("top.png");
    std::fs::write(&top, b"no project").unwrap();
    assert_eq!(r.discovered(&top).await.project, None);

    r.sentinel(&d.inbox).await;
    assert_eq!(r.discoveries(&path).len(), 1);
    assert_eq!(r.stats.files_hashed.load(Ordering::Relaxed), 3);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_writer_is_emitted_once_and_complete() {
    let d = dirs();
    let mut cfg = config(&d.inbox);
    cfg.settle = Duration::from_millis(300);
    let mut r = Running::start(cfg, no_cache()).await;

    let path = d.inbox.join("slow.png");
    let writer_path = path.clone();
    // Pauses longer than `settle` with the file open: only the close may release it.
    let full = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::create(&writer_path).unwrap();
        let mut full = Vec::new();
        for i in 0..5u8 {
            let chunk = vec![i; 100_000];
            f.write_all(&chunk).unwrap();
            full.extend_from_slice(&chunk);
            std::thread::sleep(Duration::from_millis(450));
        }
        full
    })
    .await
    .unwrap();

    let got = r.discovered(&path).await;
    assert_eq!(got.asset_id, hex(&full));
    assert_eq!(got.identity.size, full.len() as u64);
    r.sentinel(&d.inbox).await;
    assert_eq!(r.discoveries(&path).len(), 1, "{:?}", r.discoveries(&path));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_moved_in_from_outside_is_emitted_once() {
    let d = dirs();
    std::fs::create_dir(d.inbox.join("proj")).unwrap();
    let src = d.outside.join("a.png");
    std::fs::write(&src, b"moved content").unwrap();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;

    let dst = d.inbox.join("proj/a.png");
    std::fs::rename(&src, &dst).unwrap();
    let got = r.discovered(&dst).await;
    assert_eq!(got.asset_id, hex(b"moved content"));
    assert_eq!(got.project.as_deref(), Some("proj"));

    // A browser finishing a download: partial name renamed to the final one.
    let partial = d.inbox.join("dl.png.crdownload");
    std::fs::write(&partial, b"downloaded").unwrap();
    let done = d.inbox.join("dl.png");
    std::fs::rename(&partial, &done).unwrap();
    assert_eq!(r.discovered(&done).await.asset_id, hex(b"downloaded"));

    r.sentinel(&d.inbox).await;
    assert_eq!(r.discoveries(&dst).len(), 1);
    assert!(!r.paths().contains(&partial));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_made_with_mkdir_p_and_filled_at_once_is_fully_emitted() {
    let d = dirs();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;

    // Several trees, to give the create-folder/add-watch race several chances to show.
    let mut expected = Vec::new();
    for t in 0..5 {
        let base = d.inbox.join(format!("t{t}"));
        std::fs::create_dir_all(base.join("b/c")).unwrap();
        for (rel, body) in [("1.png", "one"), ("b/2.png", "two"), ("b/c/3.png", "three")] {
            let path = base.join(rel);
            std::fs::write(&path, format!("{t}{body}")).unwrap();
            expected.push((path, hex(format!("{t}{body}").as_bytes())));
        }
    }
    let paths: Vec<PathBuf> = expected.iter().map(|(p, _)| p.clone()).collect();
    let found = r.discovered_all(&paths).await;
    for (path, hash) in &expected {
        let got = &found[path];
        assert_eq!(&got.asset_id, hash);
        assert!(got.project.as_deref().unwrap().starts_with('t'));
    }
    r.sentinel(&d.inbox).await;
    for (path, _) in &expected {
        assert_eq!(r.discoveries(path).len(), 1, "{}", path.display());
    }
    r.stop().await;
}

fn write_ignored(inbox: &Path, tag: &str) -> Vec<PathBuf> {
    let templates = [
        "{t}x.part",
        "{t}y.crdownload",
        "{t}z.tmp",
        "~{t}lock.png",
        "{t}b.png~",
        ".{t}hidden.png",
        ".syncthing.{t}q.png.tmp",
        "{t}draft.psd",
        "proj{t}/.dotdir/f.png",
        ".alice-tmp-{t}/inner.png",
    ];
    let mut paths = Vec::new();
    for template in templates {
        let path = inbox.join(template.replace("{t}", tag));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"ignored").unwrap();
        paths.push(path);
    }
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_names_are_never_emitted() {
    let d = dirs();
    let mut ignored = write_ignored(&d.inbox, "pre");
    let mut cfg = config(&d.inbox);
    cfg.ignore_globs = vec!["*.psd".into()];
    let mut r = Running::start(cfg.clone(), no_cache()).await;
    ignored.extend(write_ignored(&d.inbox, "post"));
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    let emitted: Vec<_> = log
        .iter()
        .filter_map(|i| match i {
            WatchItem::Discovered(d) => Some(d.path.clone()),
            WatchItem::Failed { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    for path in &ignored {
        assert!(path.exists(), "{}", path.display());
        assert!(!emitted.contains(path), "{} was emitted", path.display());
    }

    let w = Watcher::new(cfg, no_cache()).unwrap();
    let (summary, items) = scan_all(&w).await;
    let paths: Vec<_> = discovered(&items).iter().map(|d| d.path.clone()).collect();
    assert_eq!(paths, vec![d.inbox.join("zz-sentinel.png")]);
    assert_eq!(summary.files, 1);
    assert!(w.stats().ignored.load(Ordering::Relaxed) >= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_loops_and_links_out_of_the_inbox_are_not_followed() {
    let d = dirs();
    std::fs::write(d.outside.join("secret.png"), b"outside").unwrap();
    std::fs::create_dir(d.inbox.join("sub")).unwrap();
    std::fs::write(d.inbox.join("sub/real.png"), b"real").unwrap();
    std::os::unix::fs::symlink(&d.inbox, d.inbox.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.inbox.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(&d.outside, d.inbox.join("out")).unwrap();
    std::os::unix::fs::symlink(d.outside.join("secret.png"), d.inbox.join("link.png")).unwrap();

    let w = Watcher::new(config(&d.inbox), no_cache()).unwrap();
    let (summary, items) = scan_all(&w).await;
    let paths: Vec<_> = discovered(&items).iter().map(|d| d.path.clone()).collect();
    assert_eq!(paths, vec![d.inbox.join("sub/real.png")]);
    assert_eq!(summary.files, 1);

    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    // A symlink created while watching is not followed either.
    std::os::unix::fs::symlink(d.outside.join("secret.png"), d.inbox.join("late.png")).unwrap();
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    for item in &log {
        if let WatchItem::Discovered(found) = item {
            assert!(found.path.starts_with(&d.inbox));
            assert_ne!(found.asset_id, hex(b"outside"), "{}", found.path.display());
        }
        assert!(!matches!(item, WatchItem::Failed { .. }), "{item:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_file_names_are_emitted_byte_exact() {
    let d = dirs();
    let name = b"caf\xe9-\xff.png";
    let before = d.inbox.join(OsString::from_vec(b"old-\xfe.png".to_vec()));
    std::fs::write(&before, b"latin1 old").unwrap();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    // Found by the start-up scan (possibly only once it settled, right after start-up).
    let started = r.discovered_all(std::slice::from_ref(&before)).await;
    assert_eq!(
        started[&before].path.as_os_str().as_bytes(),
        before.as_os_str().as_bytes()
    );

    let path = d.inbox.join(OsString::from_vec(name.to_vec()));
    std::fs::write(&path, b"latin1").unwrap();
    let got = r.discovered(&path).await;
    assert_eq!(got.path.file_name().unwrap().as_bytes(), name);
    assert_eq!(got.asset_id, hex(b"latin1"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_deleted_before_settling_is_dropped_without_failure() {
    let d = dirs();
    let mut cfg = config(&d.inbox);
    cfg.settle = Duration::from_millis(1500);
    let mut r = Running::start(cfg, no_cache()).await;
    let doomed = d.inbox.join("doomed.png");
    let mut f = std::fs::File::create(&doomed).unwrap();
    f.write_all(b"short-lived").unwrap();
    drop(f);
    std::fs::remove_file(&doomed).unwrap();
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    for item in &log {
        match item {
            WatchItem::Discovered(found) => assert_ne!(found.path, doomed),
            WatchItem::Failed { path, error, .. } => panic!("{}: {error}", path.display()),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_over_10000_known_files_hashes_nothing_again() {
    let d = dirs();
    let n = 10_000;
    for p in 0..100 {
        let dir = d.inbox.join(format!("p{p}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..n / 100 {
            std::fs::write(dir.join(format!("{f}.png")), format!("{p}/{f}")).unwrap();
        }
    }
    // Give the files time to be "quiet" so the scans need not wait for them to settle.
    tokio::time::sleep(Duration::from_millis(250)).await;

    let cache = Arc::new(MapCache::default());
    let first = Watcher::new(config(&d.inbox), cache.clone()).unwrap();
    let (summary, items) = scan_all(&first).await;
    assert_eq!(summary.files, n);
    assert_eq!(summary.hashed, n);
    assert_eq!(first.stats().files_hashed.load(Ordering::Relaxed), n);
    for found in discovered(&items) {
        assert_eq!(found.kind, DiscoveryKind::Manual);
        cache.remember(found);
    }

    // The daemon restarts: the catalog knows every identity.
    let mut r = Running::start(config(&d.inbox), cache.clone()).await;
    let startup = r.log.clone();
    assert_eq!(r.stats.files_hashed.load(Ordering::Relaxed), 0);
    assert_eq!(r.stats.cache_hits.load(Ordering::Relaxed), n);
    let found = discovered(&startup);
    assert_eq!(found.len() as u64, n);
    assert!(
        found
            .iter()
            .all(|f| !f.hashed && f.kind == DiscoveryKind::Scan)
    );
    assert!(startup.iter().any(|i| matches!(
        i,
        WatchItem::ScanFinished { reason: ScanReason::Startup, files, .. } if *files == n
    )));
    // A known file's asset id is the one the cache holds.
    let sample = d.inbox.join("p7/42.png");
    let f = found.iter().find(|f| f.path == sample).unwrap();
    assert_eq!(f.asset_id, hex(b"7/42"));

    // New content is still hashed.
    let fresh = d.inbox.join("p7/new.png");
    std::fs::write(&fresh, b"fresh").unwrap();
    assert!(r.discovered(&fresh).await.hashed);
    assert_eq!(r.stats.files_hashed.load(Ordering::Relaxed), 1);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_rewritten_while_being_hashed_is_emitted_with_final_content() {
    let d = dirs();
    let mut cfg = config(&d.inbox);
    cfg.settle = Duration::from_millis(100);
    let mut r = Running::start(cfg, no_cache()).await;

    let size = 48 << 20;
    let v1 = vec![1u8; size];
    let v2: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
    let path = d.inbox.join("big.png");
    std::fs::write(&path, &v1).unwrap();
    let stats = r.stats.clone();
    let writer_path = path.clone();
    let writer_v2 = v2.clone();
    tokio::task::spawn_blocking(move || {
        // Start the rewrite once hashing of v1 is under way, or after a bound in case this
        // machine hashes too quickly to observe it; either way the final emission must be v2.
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        while stats.hashing.load(Ordering::Relaxed) == 0
            && stats.files_hashed.load(Ordering::Relaxed) == 0
            && std::time::Instant::now() < give_up
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .unwrap();
        for chunk in writer_v2.chunks(1 << 20) {
            f.write_all(chunk).unwrap();
        }
    })
    .await
    .unwrap();

    let (h1, h2) = (hex(&v1), hex(&v2));
    loop {
        let got = r.discovered(&path).await;
        assert!(
            got.asset_id == h1 || got.asset_id == h2,
            "emitted a mixed version"
        );
        if got.asset_id == h2 {
            break;
        }
    }
    r.sentinel(&d.inbox).await;
    let all = r.discoveries(&path);
    assert_eq!(all.last().unwrap().asset_id, h2);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_content_is_emitted_again_as_a_new_version() {
    let d = dirs();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    let path = d.inbox.join("a.png");
    std::fs::write(&path, b"version one").unwrap();
    let one = r.discovered(&path).await;
    std::fs::write(&path, b"version two, longer").unwrap();
    let two = r.discovered(&path).await;
    assert_eq!(one.asset_id, hex(b"version one"));
    assert_eq!(two.asset_id, hex(b"version two, longer"));
    assert_ne!(one.identity, two.identity);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_polling_still_finds_new_files() {
    let d = dirs();
    std::fs::create_dir(d.inbox.join("p")).unwrap();
    let mut cfg = config(&d.inbox);
    cfg.force_polling = true;
    let mut r = Running::start(cfg, no_cache()).await;
    assert_eq!(r.stats.watches.load(Ordering::Relaxed), 0);
    assert_eq!(r.stats.polling_inboxes.load(Ordering::Relaxed), 1);
    let path = d.inbox.join("p/polled.png");
    std::fs::write(&path, b"polled").unwrap();
    let got = r.discovered(&path).await;
    assert_eq!(got.asset_id, hex(b"polled"));
    assert_eq!(got.kind, DiscoveryKind::Scan);
    r.sentinel(&d.inbox).await;
    assert_eq!(r.discoveries(&path).len(), 1);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitting_the_watch_limit_falls_back_to_polling() {
    let d = dirs();
    for sub in ["a", "b", "c", "d/e"] {
        std::fs::create_dir_all(d.inbox.join(sub)).unwrap();
    }
    let mut cfg = config(&d.inbox);
    cfg.max_watches = Some(2);
    let mut r = Running::start(cfg, no_cache()).await;
    assert_eq!(r.stats.polling_inboxes.load(Ordering::Relaxed), 1);
    assert_eq!(r.stats.watches.load(Ordering::Relaxed), 0);
    let path = d.inbox.join("d/e/late.png");
    std::fs::write(&path, b"late").unwrap();
    let got = r.discovered(&path).await;
    assert_eq!(got.kind, DiscoveryKind::Scan);
    assert_eq!(got.project.as_deref(), Some("d"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_once_hashes_each_file_exactly_once() {
    let d = dirs();
    let mut bytes = 0u64;
    for i in 0..50usize {
        let body = vec![i as u8; i * 1000];
        bytes += body.len() as u64;
        let dir = d.inbox.join(format!("p{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{i}.png")), body).unwrap();
    }
    let w = Watcher::new(config(&d.inbox), no_cache()).unwrap();
    let (summary, items) = scan_all(&w).await;
    assert_eq!(summary.files, 50);
    assert_eq!(summary.hashed, 50);
    assert_eq!(summary.cache_hits, 0);
    assert_eq!(w.stats().files_hashed.load(Ordering::Relaxed), 50);
    assert_eq!(w.stats().bytes_hashed.load(Ordering::Relaxed), bytes);
    assert_eq!(discovered(&items).len(), 50);
    assert!(matches!(
        items.first(),
        Some(WatchItem::ScanStarted {
            reason: ScanReason::Manual,
            ..
        })
    ));
    assert!(matches!(
        items.last(),
        Some(WatchItem::ScanFinished { files: 50, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_finds_what_scan_once_looks_at() {
    let d = dirs();
    std::fs::create_dir_all(d.inbox.join("a/b")).unwrap();
    std::fs::write(d.inbox.join("one.png"), vec![1u8; 1000]).unwrap();
    std::fs::write(d.inbox.join("a/two.png"), vec![2u8; 3000]).unwrap();
    std::fs::write(d.inbox.join("a/b/three.png"), vec![3u8; 500]).unwrap();
    // A dotfile (always ignored) and a symlink to a file outside: neither is counted.
    std::fs::write(d.inbox.join("a/.DS_Store"), vec![0u8; 7000]).unwrap();
    std::fs::write(d.outside.join("big.png"), vec![4u8; 9000]).unwrap();
    std::os::unix::fs::symlink(d.outside.join("big.png"), d.inbox.join("link.png")).unwrap();
    let cache = Arc::new(MapCache::default());
    let w = Watcher::new(config(&d.inbox), cache.clone()).unwrap();
    let counted = watcher::ScanCount::default();
    w.count(&counted).await;
    assert_eq!(counted.files.load(Ordering::Relaxed), 3);
    assert_eq!(counted.bytes.load(Ordering::Relaxed), 4500);
    assert_eq!(
        w.stats().ignored.load(Ordering::Relaxed),
        0,
        "counting leaves the scan's counters alone"
    );
    let (summary, items) = scan_all(&w).await;
    assert_eq!(summary.files, 3);
    assert_eq!(w.stats().bytes_hashed.load(Ordering::Relaxed), 4500);
    assert_eq!(w.stats().bytes_known.load(Ordering::Relaxed), 0);
    for found in discovered(&items) {
        cache.remember(found);
    }
    // Known by identity now: the next scan finds the same bytes without reading them.
    let w = Watcher::new(config(&d.inbox), cache.clone()).unwrap();
    scan_all(&w).await;
    assert_eq!(w.stats().bytes_hashed.load(Ordering::Relaxed), 0);
    assert_eq!(w.stats().bytes_known.load(Ordering::Relaxed), 4500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_once_waits_for_a_file_still_being_written() {
    let d = dirs();
    let path = d.inbox.join("growing.png");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"part one;").unwrap();
    let w = Watcher::new(config(&d.inbox), no_cache()).unwrap();
    let writer = tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(100));
            f.write_all(b"more;").unwrap();
        }
    });
    let (summary, items) = scan_all(&w).await;
    writer.await.unwrap();
    let found = discovered(&items);
    assert_eq!(found.len(), 1);
    assert_eq!(summary.hashed, 1);
    // Whatever version the scan saw settle is a real one and matches its identity.
    let content = std::fs::read(&path).unwrap();
    if found[0].identity.size == content.len() as u64 {
        assert_eq!(found[0].asset_id, hex(&content));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_files_is_emitted_exactly_once_each() {
    // 3000 files make ~9000 events: usually more than the event queue holds, so this also
    // runs the overflow → drain → rescan path (WatchStats::rescans), though not provably.
    let d = dirs();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    let n = 3000;
    let dir = d.inbox.join("burst");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..n {
        std::fs::write(dir.join(format!("{i}.png")), format!("burst {i}")).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < n {
        if let WatchItem::Discovered(found) = r.next().await {
            assert!(
                seen.insert(found.path.clone()),
                "{} emitted twice",
                found.path.display()
            );
        }
    }
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    let mut counts: HashMap<PathBuf, usize> = HashMap::new();
    for item in &log {
        if let WatchItem::Discovered(found) = item {
            *counts.entry(found.path.clone()).or_default() += 1;
        }
    }
    assert!(counts.values().all(|&c| c == 1));
}

/// Root can read any file; give this thread (and the runtime threads it spawns) an
/// unprivileged filesystem uid, which drops the DAC override capabilities for file access.
fn as_unprivileged_fs_user<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: setfsuid only changes this thread's filesystem uid.
    let previous = unsafe { libc::setfsuid(65534) };
    let out = f();
    // SAFETY: as above, restoring the previous value.
    unsafe { libc::setfsuid(previous as libc::uid_t) };
    out
}

#[test]
fn unreadable_file_is_reported_as_failed() {
    use std::os::unix::fs::PermissionsExt;
    let d = dirs();
    for dir in [d.tmp.path(), &d.inbox] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let locked = d.inbox.join("locked.png");
    std::fs::write(&locked, b"secret").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let open = d.inbox.join("open.png");
    std::fs::write(&open, b"public").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::thread::sleep(Duration::from_millis(250));

    let (summary, items) = as_unprivileged_fs_user(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let w = Watcher::new(config(&d.inbox), no_cache()).unwrap();
            scan_all(&w).await
        })
    });
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.hashed, 1);
    let failed: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            WatchItem::Failed { path, error, .. } => Some((path.clone(), error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, locked);
    assert!(failed[0].1.contains("ermission denied"), "{}", failed[0].1);
    assert_eq!(discovered(&items)[0].path, open);
}

#[test]
fn bad_settings_are_rejected_with_the_setting_named() {
    let d = dirs();
    let mut cfg = config(&d.inbox);
    cfg.hash_concurrency = 0;
    let err = Watcher::new(cfg, no_cache()).err().unwrap();
    assert!(err.to_string().contains("hash_concurrency"), "{err}");

    let mut cfg = config(&d.inbox);
    cfg.inboxes.push(d.inbox.join("nested"));
    std::fs::create_dir(d.inbox.join("nested")).unwrap();
    assert!(matches!(
        Watcher::new(cfg, no_cache()),
        Err(WatchError::InboxesOverlap { .. })
    ));

    let cfg = config(&d.inbox.join("missing"));
    let err = Watcher::new(cfg, no_cache()).err().unwrap();
    assert!(err.to_string().contains("missing"), "{err}");

    let mut cfg = config(&d.inbox);
    cfg.ignore_globs = vec!["[".into()];
    assert!(matches!(
        Watcher::new(cfg, no_cache()),
        Err(WatchError::BadGlob { .. })
    ));
}

#[test]
fn unreadable_file_is_retried_once_its_permissions_are_fixed() {
    use std::os::unix::fs::PermissionsExt;
    let d = dirs();
    for dir in [d.tmp.path(), &d.inbox] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let locked = d.inbox.join("locked.png");
    std::fs::write(&locked, b"now readable").unwrap();
    // Owned by the unprivileged user, so that user may fix the mode below.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&locked, Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    as_unprivileged_fs_user(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r = Running::start(config(&d.inbox), no_cache()).await;
            loop {
                match r.next().await {
                    WatchItem::Failed { path, .. } if path == locked => break,
                    WatchItem::Discovered(found) if found.path == locked => {
                        panic!("an unreadable file was emitted")
                    }
                    _ => {}
                }
            }
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
            let got = r.discovered(&locked).await;
            assert_eq!(got.asset_id, hex(b"now readable"));
            r.stop().await;
        });
    });
}

/// Waits until `f` holds, polling; panics after [`EVENTUALLY`].
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < EVENTUALLY, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_5000_files_in_one_folder_is_emitted_once_each_with_its_content() {
    // Thousands of files wait to settle at once; a slow writer in the same folder must still
    // be held until it closes its file.
    let d = dirs();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    let dir = d.inbox.join("burst");
    std::fs::create_dir(&dir).unwrap();
    let slow = dir.join("slow.png");
    let mut writer = std::fs::File::create(&slow).unwrap();
    writer.write_all(b"slow part one;").unwrap();
    let n = 5000;
    let mut expected: HashMap<PathBuf, String> = HashMap::new();
    for i in 0..n {
        let path = dir.join(format!("{i}.png"));
        let body = format!("burst {i}");
        std::fs::write(&path, &body).unwrap();
        expected.insert(path, hex(body.as_bytes()));
    }
    let writer = tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(100));
            writer.write_all(b"more;").unwrap();
        }
    });
    writer.await.unwrap();
    expected.insert(slow.clone(), hex(b"slow part one;more;more;more;"));
    let paths: Vec<PathBuf> = expected.keys().cloned().collect();
    let found = r.discovered_all(&paths).await;
    for (path, asset_id) in &expected {
        assert_eq!(&found[path].asset_id, asset_id, "{}", path.display());
    }
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    let mut counts: HashMap<PathBuf, usize> = HashMap::new();
    for item in &log {
        if let WatchItem::Discovered(found) = item {
            *counts.entry(found.path.clone()).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), n + 2);
    assert!(counts.iter().all(|(_, &c)| c == 1), "some file came twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_moved_in_is_emitted_once_each_and_later_events_still_handled() {
    let d = dirs();
    let batch = d.outside.join("batch");
    std::fs::create_dir(&batch).unwrap();
    let n = 300;
    let mut expected: HashMap<PathBuf, String> = HashMap::new();
    for i in 0..n {
        let body = format!("moved {i}");
        std::fs::write(batch.join(format!("{i}.png")), &body).unwrap();
        expected.insert(d.inbox.join(format!("batch/{i}.png")), hex(body.as_bytes()));
    }
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    std::fs::rename(&batch, d.inbox.join("batch")).unwrap();
    // Changed while its folder's files are queued for hashing: its final content must come
    // out last, whichever version was hashed first.
    let changed = d.inbox.join("batch/0.png");
    std::fs::write(&changed, b"moved 0, then changed").unwrap();
    expected.insert(changed.clone(), hex(b"moved 0, then changed"));
    let beside = d.inbox.join("beside.png");
    std::fs::write(&beside, b"beside").unwrap();
    expected.insert(beside, hex(b"beside"));
    let paths: Vec<PathBuf> = expected.keys().cloned().collect();
    r.discovered_all(&paths).await;
    r.sentinel(&d.inbox).await;
    let log = r.stop().await;
    let mut last: HashMap<PathBuf, (usize, Discovered)> = HashMap::new();
    for item in &log {
        if let WatchItem::Discovered(found) = item {
            let e = last.entry(found.path.clone()).or_insert((0, found.clone()));
            e.0 += 1;
            e.1 = found.clone();
        }
    }
    for (path, asset_id) in &expected {
        let (count, found) = &last[path];
        assert_eq!(&found.asset_id, asset_id, "{}", path.display());
        if path != &changed {
            assert_eq!(*count, 1, "{} emitted {count} times", path.display());
        }
        if path.starts_with(d.inbox.join("batch")) {
            assert_eq!(found.kind, DiscoveryKind::Watch);
            assert_eq!(found.project.as_deref(), Some("batch"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_inbox_forgets_files_that_left_it() {
    // A polled inbox sends no removal events; what the watcher remembers about emitted files
    // must still shrink when they leave (as the organizer moves them out), or it grows with
    // every file ever seen.
    let d = dirs();
    let mut cfg = config(&d.inbox);
    cfg.force_polling = true;
    let mut r = Running::start(cfg, no_cache()).await;
    std::fs::create_dir(d.inbox.join("p")).unwrap();
    let paths: Vec<PathBuf> = (0..20)
        .map(|i| d.inbox.join(format!("p/{i}.png")))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        std::fs::write(path, format!("polled {i}")).unwrap();
    }
    r.discovered_all(&paths).await;
    let stats = r.stats.clone();
    let remembered = move || stats.reported_paths.load(Ordering::Relaxed);
    eventually("all 20 files remembered", || remembered() == 20).await;
    for (i, path) in paths.iter().enumerate().skip(1) {
        std::fs::rename(path, d.outside.join(format!("{i}.png"))).unwrap();
    }
    eventually("the 19 moved-out files forgotten", || remembered() == 1).await;
    // The one left behind is still known: it is not emitted again.
    r.sentinel(&d.inbox).await;
    eventually("the sentinel remembered", || remembered() == 2).await;
    assert_eq!(r.discoveries(&paths[0]).len(), 1);
    r.stop().await;
}

#[test]
fn polled_inbox_remembers_files_in_a_folder_it_cannot_list() {
    // Not listed is not gone: forgetting such a file would emit it again, unchanged, once
    // its folder can be listed again.
    use std::os::unix::fs::PermissionsExt;
    let d = dirs();
    for dir in [d.tmp.path(), &d.inbox] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (locked_dir, sentinels) = (d.inbox.join("locked"), d.inbox.join("s"));
    for dir in [&locked_dir, &sentinels] {
        std::fs::create_dir(dir).unwrap();
        // Owned by the unprivileged user, so that user may change its mode below.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
        }
    }
    let kept = locked_dir.join("kept.png");
    std::fs::write(&kept, b"kept").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cfg = config(&d.inbox);
    cfg.force_polling = true;

    as_unprivileged_fs_user(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r = Running::start(cfg, no_cache()).await;
            r.discovered_all(std::slice::from_ref(&kept)).await;
            // Searchable but not listable: the file is there, the walk cannot see it.
            std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o100)).unwrap();
            assert!(std::fs::read_dir(&locked_dir).is_err());
            // Found by a pass that started after the change, and emitted after that pass
            // finished (pruning included).
            r.sentinel(&sentinels).await;
            let stats = r.stats.clone();
            eventually("the unlisted file still remembered", || {
                stats.reported_paths.load(Ordering::Relaxed) == 2
            })
            .await;
            std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::write(sentinels.join("again.png"), b"again").unwrap();
            r.discovered(&sentinels.join("again.png")).await;
            let log = r.stop().await;
            let again: Vec<_> = log
                .iter()
                .filter(|i| matches!(i, WatchItem::Discovered(f) if f.path == kept))
                .collect();
            assert_eq!(again.len(), 1, "an unchanged file was emitted again");
        });
    });
}

/// `truncate(2)` by path: IN_MODIFY and no close at all.
fn truncate_by_path(path: &Path, len: u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), len as libc::off_t) }, 0);
}

/// Regression: a change made by `truncate(2)` raises IN_MODIFY but no IN_CLOSE_WRITE; the
/// watcher waited for a close that never came, so the new version was never emitted (and a
/// file truncated while the organizer copied it was never hashed again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_by_truncate_without_close_is_emitted_again() {
    let d = dirs();
    let path = d.inbox.join("t.png");
    std::fs::write(&path, b"0123456789 full content").unwrap();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    assert_eq!(
        r.discovered(&path).await.asset_id,
        hex(b"0123456789 full content")
    );

    truncate_by_path(&path, 10);
    let again = r.discovered(&path).await;
    assert_eq!(again.asset_id, hex(b"0123456789"));
    assert_eq!(again.identity.size, 10);
    r.stop().await;
}

/// The lease probe, not the missing close, holds back a file whose writer keeps it open
/// and is quiet for longer than `settle`; it comes out once closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_file_still_open_for_writing_waits_for_its_writer() {
    let d = dirs();
    let mut r = Running::start(config(&d.inbox), no_cache()).await;
    let path = d.inbox.join("open.png");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"first half").unwrap();
    // Several settle intervals with the writer idle: the probe sees it each time.
    r.sentinel(&d.inbox).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = d.inbox.join("later.png");
    std::fs::write(&later, b"later").unwrap();
    r.discovered(&later).await;
    assert!(r.discoveries(&path).is_empty(), "emitted while still open");
    f.write_all(b", second half").unwrap();
    drop(f);
    let got = r.discovered(&path).await;
    assert_eq!(got.asset_id, hex(b"first half, second half"));
    r.stop().await;
}

/// `renameat2(RENAME_EXCHANGE)` of `a` and `b` in a loop until `stop`.
fn exchange_loop(
    a: PathBuf,
    b: PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (ca, cb) = (
            std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap(),
            std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap(),
        );
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
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

/// The attack on `alice scan`: an inbox folder is exchanged with a symlink to an outside
/// folder in a tight loop while scans walk and hash. No outside file is ever hashed (its
/// content would show up as an asset id) and every emitted path is an inbox file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_swapped_with_a_symlink_during_scans_never_yields_outside_files() {
    let d = dirs();
    std::fs::create_dir(d.inbox.join("sub")).unwrap();
    let mut outside_ids = std::collections::HashSet::new();
    for i in 0..20 {
        std::fs::write(d.inbox.join(format!("sub/{i}.png")), format!("inside {i}")).unwrap();
        let outside = format!("outside {i}");
        std::fs::write(d.outside.join(format!("{i}.png")), &outside).unwrap();
        outside_ids.insert(hex(outside.as_bytes()));
    }
    std::os::unix::fs::symlink(&d.outside, d.inbox.join("link")).unwrap();
    let mut cfg = config(&d.inbox);
    cfg.settle = Duration::ZERO;
    let w = Watcher::new(cfg, no_cache()).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = exchange_loop(d.inbox.join("sub"), d.inbox.join("link"), stop.clone());
    let until = std::time::Instant::now() + Duration::from_secs(2);
    let (mut scans, mut emitted) = (0, 0);
    while std::time::Instant::now() < until {
        let (_, items) = scan_all(&w).await;
        for got in discovered(&items) {
            assert!(
                !outside_ids.contains(&got.asset_id),
                "hashed an outside file as {}",
                got.path.display()
            );
            assert!(got.path.starts_with(&d.inbox));
            emitted += 1;
        }
        scans += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(
        swaps > 100 && scans > 3,
        "the race hardly ran: {swaps} swaps, {scans} scans"
    );
    assert!(emitted > 0, "no inbox file was ever emitted");
}

/// The organized tree inside an inbox (by a config that slipped through, or moved there) is
/// never inbox input, under its own name or after a rename.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_folder_inside_an_inbox_is_never_input_even_renamed() {
    let d = dirs();
    let organized = d.inbox.join("organized");
    std::fs::create_dir_all(organized.join("2024-03-15")).unwrap();
    std::fs::write(organized.join("2024-03-15/a.png"), b"organized").unwrap();
    std::fs::write(d.inbox.join("new.png"), b"new").unwrap();
    let w = Watcher::new(config(&d.inbox), no_cache())
        .unwrap()
        .exclude(vec![organized.clone()]);
    let (_, items) = scan_all(&w).await;
    let paths: Vec<_> = discovered(&items).iter().map(|d| d.path.clone()).collect();
    assert_eq!(paths, vec![d.inbox.join("new.png")]);

    // Renamed inside the inbox: still the same folder by device and inode.
    let renamed = d.inbox.join("renamed");
    std::fs::rename(&organized, &renamed).unwrap();
    let (_, items) = scan_all(&w).await;
    assert!(
        discovered(&items)
            .iter()
            .all(|got| !got.path.starts_with(&renamed)),
        "{items:?}"
    );
    drop(d.tmp);
}

/// A cache that writes down what the watcher asks of it, in order.
#[derive(Default)]
struct RecordingCache {
    known: MapCache,
    calls: Mutex<Vec<String>>,
}

impl IdentityCache for RecordingCache {
    fn lookup(&self, id: &FileIdentity) -> Option<String> {
        self.calls.lock().unwrap().push("lookup".into());
        self.known.lookup(id)
    }

    fn reconciling(&self) {
        self.calls.lock().unwrap().push("reconciling".into());
    }

    fn reconciled(&self) {
        self.calls.lock().unwrap().push("reconciled".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_told_when_the_first_reconciliation_of_every_inbox_is_over() {
    let d = dirs();
    let second = d.tmp.path().join("inbox2");
    std::fs::create_dir(&second).unwrap();
    let files = [d.inbox.join("a.png"), second.join("b.png")];
    for f in &files {
        std::fs::write(f, f.as_os_str().as_bytes()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let cache = Arc::new(RecordingCache::default());
    let mut cfg = config(&d.inbox);
    cfg.inboxes.push(second.clone());
    let first = Watcher::new(cfg.clone(), no_cache()).unwrap();
    for found in discovered(&scan_all(&first).await.1) {
        cache.known.remember(found);
    }

    let mut r = Running::start(cfg, cache.clone()).await;
    assert_eq!(r.stats.cache_hits.load(Ordering::Relaxed), 2);
    let calls = || cache.calls.lock().unwrap().clone();
    let deadline = std::time::Instant::now() + EVENTUALLY;
    while !calls().contains(&"reconciled".to_owned()) {
        assert!(
            std::time::Instant::now() < deadline,
            "never told: {:?}",
            calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Told before its first look-up, and that it is over after both inboxes' look-ups.
    assert_eq!(calls(), ["reconciling", "lookup", "lookup", "reconciled"]);

    // A new file afterwards is hashed as usual; the cache is still asked, not told again.
    let fresh = second.join("new.png");
    std::fs::write(&fresh, b"fresh").unwrap();
    assert!(r.discovered(&fresh).await.hashed);
    let after = calls();
    assert_eq!(after.iter().filter(|c| *c == "reconciled").count(), 1);
    assert_eq!(after.iter().filter(|c| *c == "reconciling").count(), 1);
    r.stop().await;
}
