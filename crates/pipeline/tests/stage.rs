//! A stage fed from two sources (the in-process bus and a Redis consumer group), as the
//! daemon runs with `[redis]`: each event handled once in effect, the tally exact, and a
//! worker's outputs taken by its sinks before its input counts as handled.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pipeline::{Handled, Msg, Pipeline, PipelineOptions, Settings, Stage};

const PNG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../metadata/tests/fixtures/media/creation_time.png"
);

fn settings(dir: &Path) -> Settings {
    std::fs::create_dir_all(dir.join("organized")).unwrap();
    Settings {
        organized: dir.join("organized"),
        mode: events::OrganizeMode::Copy,
        template: organizer::Template::parse("{project}/{name}").unwrap(),
        duplicates: dir.join("duplicates"),
        quarantine: None,
        undated: false,
        visual: None,
        batch: pipeline::BatchLimits::default(),
        history: catalog::HistoryWindow::default(),
        group_wait: std::time::Duration::ZERO,
    }
}

/// `n` distinct valid PNGs (the fixture with distinct trailing bytes).
fn fill_inbox(inbox: &Path, n: usize) {
    std::fs::create_dir_all(inbox).unwrap();
    let png = std::fs::read(PNG).unwrap();
    for i in 0..n {
        let mut p = png.clone();
        p.extend_from_slice(format!("trailer-{i}").as_bytes());
        std::fs::write(inbox.join(format!("f{i}.png")), p).unwrap();
    }
}

fn files_in(root: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Scans `inbox` once into `p`, as `alice scan` does.
async fn scan(p: &Pipeline, inbox: &Path) {
    let w = watcher::Watcher::new(
        watcher::WatchConfig {
            inboxes: vec![inbox.to_path_buf()],
            settle: Duration::from_millis(0),
            ..Default::default()
        },
        p.identity_cache(),
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let pp = p.clone();
    let ingest = tokio::spawn(async move {
        let mut items = Vec::new();
        while rx.recv_many(&mut items, 256).await > 0 {
            pp.ingest(std::mem::take(&mut items)).await.unwrap();
        }
    });
    w.scan_once(&tx).await.unwrap();
    drop(tx);
    ingest.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_also_read_back_from_redis_is_one_pipeline_in_the_tally() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let n = 200;
    fill_inbox(&inbox, n);
    let catalog = Arc::new(catalog::Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap());
    let slot: Arc<OnceLock<Pipeline>> = Arc::new(OnceLock::new());
    let group = slot.clone();
    let options = PipelineOptions {
        in_process: Stage::ALL.to_vec(),
        track_consumed: true,
        confirm_outputs: false,
    };
    let p = Pipeline::start_configured(catalog, settings(dir.path()), options, move |bus| {
        // Stands in for the daemon's metadata group, reading each discovery back from Redis
        // while the in-process stage may still have it queued: the two race for every event.
        pipeline::subscribe_sharded_on(
            bus,
            "group",
            bus::Filter::types(["alice.asset.discovered.v1"]),
            move |m: Msg| {
                let group = group.clone();
                async move {
                    let event = (*m.0).clone();
                    tokio::spawn(async move {
                        if let Some(p) = group.get() {
                            p.handle_delivered(Stage::Metadata, event).await.unwrap();
                        }
                    });
                    Ok(())
                }
            },
        )
    })
    .await
    .unwrap();
    let _ = slot.set(p.clone());
    scan(&p, &inbox).await;
    // A hang detector, not a timing assertion: before the fix a race left an asset "open"
    // forever and this never returned.
    let idle = tokio::time::timeout(Duration::from_secs(120), p.wait_idle()).await;
    let t = p.tally();
    assert!(
        idle.is_ok(),
        "wait_idle hung: started {} finished {}",
        t.started,
        t.finished()
    );
    assert_eq!((t.started, t.organized), (n as u64, n as u64), "{t:?}");
    assert_eq!(files_in(&dir.path().join("organized")), n);
    p.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stage_returns_only_once_its_output_is_taken_by_the_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    fill_inbox(&inbox, 1);
    let path = inbox.join("f0.png");
    let catalog = Arc::new(catalog::Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap());
    let taken: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = taken.clone();
    let options = PipelineOptions {
        in_process: Vec::new(),
        track_consumed: true,
        confirm_outputs: true,
    };
    let p = Pipeline::start_configured(catalog, settings(dir.path()), options, move |bus| {
        // A slow Redis writer: takes its time before the event counts as stored.
        bus.subscribe("writer", bus::Filter::All, move |m: Msg| {
            let sink = sink.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                sink.lock().unwrap().push(m.0.type_name().to_owned());
                Ok(())
            }
        })?;
        Ok(())
    })
    .await
    .unwrap();
    let discovered = events::Event::new(
        pipeline::sources::WATCHER,
        events::AssetDiscovered {
            asset_id: blake3::hash(&std::fs::read(&path).unwrap())
                .to_hex()
                .to_string(),
            path: path.clone(),
            size: std::fs::metadata(&path).unwrap().len(),
            mtime: chrono::Utc::now(),
            inbox: inbox.clone(),
            project: "p".into(),
            kind: events::DiscoveryKind::Watch,
            hashed_as: None,
        },
    );
    let handled = p
        .handle_delivered(Stage::Metadata, discovered.clone())
        .await
        .unwrap();
    assert_eq!(handled, Handled::Now);
    assert_eq!(
        *taken.lock().unwrap(),
        vec!["alice.asset.metadata_extracted.v1".to_owned()],
        "the output reached the writer before the input was reported handled"
    );
    // The same entry delivered again (after a crash before the acknowledgement) is only
    // acknowledged: no second extraction.
    assert_eq!(
        p.handle_delivered(Stage::Metadata, discovered)
            .await
            .unwrap(),
        Handled::Already
    );
    p.shutdown(Duration::from_secs(10)).await;
    assert_eq!(taken.lock().unwrap().len(), 1);
}
