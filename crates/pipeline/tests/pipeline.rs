//! The pipeline in process, on a temporary catalog and real temporary folders: watcher items
//! for real files go in, and the files end up where each decision says; undo reverses each
//! kind of operation and sticks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use catalog::{Catalog, OpKind, OpState};
use events::{FileIdentity, OrganizeMode};
use pipeline::{Pipeline, PlannedAction, Planner, Settings, TallySnapshot, Undone};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../metadata/tests/fixtures/media"
);

/// A valid PNG, distinct per `tag` (trailing bytes after IEND).
fn png(tag: &str) -> Vec<u8> {
    let mut p = std::fs::read(Path::new(FIXTURES).join("creation_time.png")).unwrap();
    p.extend_from_slice(tag.as_bytes());
    p
}

/// A temporary inbox, organized tree and catalog.
struct Env {
    dir: tempfile::TempDir,
    catalog: Arc<Catalog>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("organized")).unwrap();
        std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
        let catalog = Arc::new(Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap());
        Env { dir, catalog }
    }

    fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    fn organized(&self) -> PathBuf {
        self.dir.path().join("organized")
    }

    fn duplicates(&self) -> PathBuf {
        self.dir.path().join("duplicates")
    }

    fn quarantine(&self) -> PathBuf {
        self.dir.path().join("quarantine")
    }

    fn settings(&self, mode: OrganizeMode, quarantine: bool) -> Settings {
        Settings {
            organized: self.organized(),
            mode,
            template: organizer::Template::parse("{project}/{name}").unwrap(),
            duplicates: self.duplicates(),
            quarantine: quarantine.then(|| self.quarantine()),
            undated: false,
            visual: None,
            batch: pipeline::BatchLimits::default(),
            history: catalog::HistoryWindow::default(),
            group_wait: std::time::Duration::ZERO,
        }
    }

    async fn start(&self, mode: OrganizeMode) -> Pipeline {
        self.start_with(mode, false).await
    }

    async fn start_with(&self, mode: OrganizeMode, quarantine: bool) -> Pipeline {
        Pipeline::start(self.catalog.clone(), self.settings(mode, quarantine))
            .await
            .unwrap()
    }

    /// Writes `bytes` at `inbox/rel`.
    fn put(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.inbox().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// What the watcher reports for the finished file at `path`.
    fn discovered(&self, path: &Path) -> watcher::Discovered {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let rel = path.strip_prefix(self.inbox()).unwrap();
        let project = (rel.components().count() > 1).then(|| {
            rel.components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned()
        });
        watcher::Discovered {
            path: path.to_path_buf(),
            inbox: self.inbox(),
            project,
            identity: FileIdentity::from_metadata(&meta),
            mtime: meta.modified().unwrap(),
            asset_id: blake3::hash(&std::fs::read(path).unwrap())
                .to_hex()
                .to_string(),
            hashed: true,
            settled: false,
            kind: watcher::DiscoveryKind::Manual,
        }
    }

    /// Hands the files at `paths` to `p` and waits for every outcome; returns the pipelines
    /// started.
    async fn ingest(&self, p: &Pipeline, paths: &[&Path]) -> usize {
        let items = paths
            .iter()
            .map(|path| watcher::WatchItem::Discovered(self.discovered(path)))
            .collect();
        let started = p.ingest(items).await.unwrap();
        // A hang detector, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(60), p.wait_idle())
            .await
            .expect("every started pipeline reaches an outcome");
        started
    }
}

/// Drains the bus (every event recorded) and returns the final counts.
async fn stop(p: Pipeline) -> TallySnapshot {
    let report = p.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    p.tally()
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_organized_duplicated_skipped_or_failed_as_decided() {
    let env = Env::new();
    let p = env.start(OrganizeMode::Copy).await;
    let a = env.put("cyber/a.png", &png("a"));
    let dup = env.put("other/copy-of-a.png", &png("a"));
    let text = env.put("notes.txt", b"just some words, not an image");
    let broken = env.put(
        "cyber/broken.png",
        &std::fs::read(Path::new(FIXTURES).join("truncated.png")).unwrap(),
    );
    // The duplicate goes in a batch of its own, after the original is organized.
    assert_eq!(env.ingest(&p, &[&a, &text, &broken]).await, 3);
    assert_eq!(env.ingest(&p, &[&dup]).await, 1);
    let t = stop(p).await;
    assert_eq!(
        (t.started, t.organized, t.duplicates, t.skipped, t.failed),
        (4, 1, 1, 1, 1),
        "{t:?}"
    );
    let organized = env.organized().join("cyber/a.png");
    assert_eq!(files_under(&env.organized()), vec![organized.clone()]);
    assert_eq!(std::fs::read(&organized).unwrap(), png("a"));
    // Copy mode and bad input leave every inbox file where it was.
    for f in [&a, &dup, &text, &broken] {
        assert!(f.exists(), "{} stays", f.display());
    }
    let broken_id = env.discovered(&broken).asset_id;
    let rec = env.catalog.asset(&broken_id).unwrap().unwrap();
    assert_eq!(rec.status, catalog::AssetStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scan_and_a_replayed_discovery_change_nothing() {
    let env = Env::new();
    let a = env.put("p/a.png", &png("replay"));
    let p = env.start(OrganizeMode::Copy).await;
    assert_eq!(env.ingest(&p, &[&a]).await, 1);
    // The same file found again: handled already, nothing started.
    assert_eq!(env.ingest(&p, &[&a]).await, 0);
    let t = stop(p).await;
    assert_eq!((t.started, t.organized), (1, 1));

    // The discovery event itself delivered again (a replay): same end state.
    let asset = env.discovered(&a).asset_id;
    let discovered = env
        .catalog
        .events_for_asset(&asset)
        .unwrap()
        .into_iter()
        .map(|s| events::Event::from_json(&s.json).unwrap())
        .find(|e| e.type_name() == events::types::ASSET_DISCOVERED)
        .unwrap();
    let p = env.start(OrganizeMode::Copy).await;
    let handled = p
        .handle_delivered(pipeline::Stage::Metadata, discovered)
        .await
        .unwrap();
    assert_eq!(handled, pipeline::Handled::Now);
    let organized_events = || -> Vec<events::Event> {
        env.catalog
            .events_for_asset(&asset)
            .unwrap()
            .into_iter()
            .map(|s| events::Event::from_json(&s.json).unwrap())
            .filter(|e| e.type_name() == events::types::ASSET_ORGANIZED)
            .collect()
    };
    // The replay's outcome is not a pipeline of the tally (it was not started here): wait
    // for it to be recorded. A hang detector, not a timing assertion.
    let mut waited = Duration::ZERO;
    while organized_events().len() < 2 && waited < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    stop(p).await;
    let outcomes = organized_events();
    assert_eq!(outcomes.len(), 2, "the replay reports the same outcome");
    for e in &outcomes {
        let events::Payload::AssetOrganized(o) = &e.payload else {
            unreachable!()
        };
        assert_eq!(o.destination, env.organized().join("p/a.png"));
    }
    assert_eq!(
        files_under(&env.organized()),
        vec![env.organized().join("p/a.png")]
    );
    assert_eq!(env.catalog.last_ops(10).unwrap().len(), 1, "placed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_mode_removes_sources_and_sets_duplicates_and_bad_files_aside() {
    let env = Env::new();
    let a = env.put("p/a.png", &png("move"));
    let dup = env.put("q/again.png", &png("move"));
    let broken = env.put(
        "p/broken.png",
        &std::fs::read(Path::new(FIXTURES).join("truncated.png")).unwrap(),
    );
    let p = env.start_with(OrganizeMode::Move, true).await;
    assert_eq!(env.ingest(&p, &[&a, &broken]).await, 2);
    assert_eq!(env.ingest(&p, &[&dup]).await, 1);
    let t = stop(p).await;
    assert_eq!((t.organized, t.duplicates, t.failed), (1, 1, 1), "{t:?}");
    assert!(!a.exists() && !dup.exists() && !broken.exists());
    assert_eq!(
        std::fs::read(env.organized().join("p/a.png")).unwrap(),
        png("move")
    );
    assert_eq!(
        std::fs::read(env.duplicates().join("again.png")).unwrap(),
        png("move")
    );
    assert!(env.quarantine().join("broken.png").exists());
    // The first batch's two files run in parallel (different shards): their order varies.
    let mut kinds: Vec<&str> = env
        .catalog
        .last_ops(10)
        .unwrap()
        .iter()
        .map(|o| o.kind.as_str())
        .collect();
    assert_eq!(kinds.remove(0), OpKind::DuplicateMove.as_str());
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![OpKind::Move.as_str(), OpKind::Quarantine.as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_reverses_a_copy_and_sticks() {
    let env = Env::new();
    let a = env.put("deep/a.png", &png("undo copy"));
    let p = env.start(OrganizeMode::Copy).await;
    env.ingest(&p, &[&a]).await;
    stop(p).await;
    let ops = env.catalog.last_ops(1).unwrap();
    let undone = pipeline::undo_op(&env.catalog, &ops[0], &env.organized()).unwrap();
    assert_eq!(
        undone,
        Undone::CopyRemoved {
            copy: env.organized().join("deep/a.png"),
            original: a.clone(),
            sidecars: Vec::new(),
        }
    );
    assert!(a.exists(), "the original stays");
    assert!(
        !env.organized().join("deep").exists(),
        "the folder the undo emptied is gone"
    );
    assert!(env.organized().is_dir(), "the organized root stays");
    assert_eq!(
        env.catalog.op(ops[0].op_id).unwrap().unwrap().state,
        OpState::Undone
    );
    // The next scan leaves the undone file alone.
    let p = env.start(OrganizeMode::Copy).await;
    assert_eq!(env.ingest(&p, &[&a]).await, 0);
    stop(p).await;
    assert!(files_under(&env.organized()).is_empty());
    // A second undo of the same operation finds nothing to remove and changes nothing.
    assert!(pipeline::undo_op(&env.catalog, &ops[0], &env.organized()).is_err());
    assert!(a.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_refuses_a_copy_whose_original_changed() {
    let env = Env::new();
    let a = env.put("p/a.png", &png("undo edited"));
    let p = env.start(OrganizeMode::Copy).await;
    env.ingest(&p, &[&a]).await;
    stop(p).await;
    std::fs::write(&a, png("edited afterwards")).unwrap();
    let ops = env.catalog.last_ops(1).unwrap();
    let err = pipeline::undo_op(&env.catalog, &ops[0], &env.organized()).unwrap_err();
    assert!(
        matches!(err, pipeline::UndoError::Changed { .. }),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(env.organized().join("p/a.png")).unwrap(),
        png("undo edited"),
        "the copy is the only record of what was organized"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_moves_back_moves_and_duplicate_moves() {
    let env = Env::new();
    let a = env.put("p/a.png", &png("undo move"));
    let dup = env.put("q/dup.png", &png("undo move"));
    let p = env.start(OrganizeMode::Move).await;
    env.ingest(&p, &[&a]).await;
    env.ingest(&p, &[&dup]).await;
    stop(p).await;
    assert!(!a.exists() && !dup.exists());
    let ops = env.catalog.last_ops(2).unwrap();
    assert_eq!(ops[0].kind, OpKind::DuplicateMove);
    assert_eq!(ops[1].kind, OpKind::Move);
    for op in &ops {
        let undone = pipeline::undo_op(&env.catalog, op, &env.organized()).unwrap();
        assert!(matches!(undone, Undone::MovedBack { .. }), "{undone:?}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), png("undo move"));
    assert_eq!(std::fs::read(&dup).unwrap(), png("undo move"));
    assert!(files_under(&env.duplicates()).is_empty());
    assert!(env.duplicates().is_dir(), "the duplicates root stays");
    assert!(files_under(&env.organized()).is_empty());
    assert!(!env.organized().join("p").exists());
    // Both files stay back in the inbox: the undo sticks in move mode too.
    let p = env.start(OrganizeMode::Move).await;
    assert_eq!(env.ingest(&p, &[&a, &dup]).await, 0);
    stop(p).await;
    assert!(a.exists() && dup.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_is_not_undone() {
    let env = Env::new();
    let broken = env.put(
        "p/broken.png",
        &std::fs::read(Path::new(FIXTURES).join("truncated.png")).unwrap(),
    );
    let p = env.start_with(OrganizeMode::Copy, true).await;
    env.ingest(&p, &[&broken]).await;
    stop(p).await;
    let ops = env.catalog.last_ops(1).unwrap();
    assert_eq!(ops[0].kind, OpKind::Quarantine);
    let err = pipeline::undo_op(&env.catalog, &ops[0], &env.organized()).unwrap_err();
    assert!(
        matches!(err, pipeline::UndoError::NotUndoable(OpKind::Quarantine)),
        "{err:?}"
    );
    assert!(env.quarantine().join("broken.png").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_what_the_stage_then_does() {
    let env = Env::new();
    let a = env.put("p/a.png", &png("plan"));
    let twin = env.put("p/twin.png", &png("plan"));
    let text = env.put("notes.txt", b"words");
    let settings = env.settings(OrganizeMode::Copy, false);

    let mut planner = Planner::new(Some(&env.catalog), &settings).unwrap();
    let mut plan = Vec::new();
    for path in [&a, &twin, &text] {
        let d = env.discovered(path);
        assert_eq!(planner.already_handled(&d.asset_id, &d.path).unwrap(), None);
        let ex = metadata::extract_path(path).unwrap();
        let error = ex.error.map(|e| e.to_string());
        plan.push(planner.plan(&d, &ex.info, error.as_deref()).unwrap());
    }
    let organized = env.organized().join("p/a.png");
    assert_eq!(
        plan[0],
        PlannedAction::Organize {
            destination: organized.clone(),
            members: Vec::new(),
        }
    );
    assert_eq!(
        plan[1],
        PlannedAction::Duplicate {
            existing: organized.clone()
        },
        "seen earlier in the same plan"
    );
    assert!(matches!(plan[2], PlannedAction::Skip { .. }));
    assert!(
        files_under(&env.organized()).is_empty(),
        "planning changes nothing"
    );

    let p = env.start(OrganizeMode::Copy).await;
    env.ingest(&p, &[&a]).await;
    stop(p).await;
    assert!(organized.exists(), "the stage put it where the plan said");
    let planner = Planner::new(Some(&env.catalog), &settings).unwrap();
    let d = env.discovered(&a);
    assert_eq!(
        planner.already_handled(&d.asset_id, &d.path).unwrap(),
        Some("organized from this path")
    );
}
