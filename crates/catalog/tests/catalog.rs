//! Catalog behaviour against real SQLite files in temporary directories.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog::{
    AssetStatus, AssetUpdate, Catalog, CatalogError, ContextKey, FileIdentity, KnownFile, NewEvent,
    NewOp, OpKind, OpState, Placement, SCHEMA_VERSION, Transfer,
};
use chrono::{DateTime, TimeZone, Utc};
use events::media::{AiInfo, AiSignal, AiSource, MediaInfo, MediaType};

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite3");
        Fixture { _dir: dir, path }
    }

    fn open(&self) -> Catalog {
        Catalog::open(&self.path).unwrap()
    }
}

fn raw_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn id(n: u64) -> FileIdentity {
    FileIdentity {
        dev: 2049,
        ino: 1_000_000 + n,
        size: 4096 + n,
        mtime_ns: 1_700_000_000_000_000_000 + n as i64,
        ctime_ns: 1_700_000_000_000_000_000 + n as i64,
    }
}

fn asset_id(n: u64) -> String {
    format!("{n:064x}")
}

fn non_utf8(name: &[u8]) -> PathBuf {
    let mut bytes = b"/inbox/".to_vec();
    bytes.extend_from_slice(name);
    PathBuf::from(OsStr::from_bytes(&bytes))
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_710_000_000 + secs, 0).unwrap()
}

fn event<'a>(id: &'a str, asset: Option<&'a str>, time: DateTime<Utc>) -> NewEvent<'a> {
    NewEvent {
        id,
        event_type: "com.alicemultiverse.asset.discovered",
        time,
        asset_id: asset,
        correlation_id: Some("corr-1"),
        json: r#"{"specversion":"1.0"}"#,
    }
}

fn media_with_prompt(prompt: &str) -> MediaInfo {
    let mut media = MediaInfo::empty(MediaType::Image);
    media.format = Some("png".into());
    media.taken_at = Some("2024-03-15T12:34:56".parse().unwrap());
    let mut ai = AiInfo::new(
        AiSource::Midjourney,
        AiSignal::Metadata,
        "png:tEXt Description",
    );
    ai.prompt = Some(prompt.into());
    ai.model = Some("v6".into());
    media.ai = Some(ai);
    media
}

/// Discovers `asset` at `src`, begins a copy to `dest` and completes it.
fn organize(cat: &Catalog, asset: &str, src: &Path, dest: &Path) -> i64 {
    cat.upsert_discovered(asset, src, 10).unwrap();
    let op = cat
        .begin_op(&NewOp {
            asset_id: asset,
            kind: OpKind::Copy,
            source: src,
            destination: dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.complete_placement(&placement(op, asset, dest)).unwrap();
    op
}

fn placement<'a>(op_id: i64, asset: &'a str, dest: &'a Path) -> Placement<'a> {
    Placement {
        op_id,
        asset_id: asset,
        destination: dest,
        size: 10,
        project: "cyberpunk",
        source: "midjourney",
        style: None,
        media: None,
    }
}

#[test]
fn catalog_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
    assert_send_sync::<CatalogError>();
}

#[test]
fn opening_an_empty_directory_creates_the_latest_schema_in_wal_mode() {
    let fx = Fixture::new();
    let cat = fx.open();
    assert_eq!(cat.status_counts().unwrap().total(), 0);
    drop(cat);
    assert_eq!(raw_version(&fx.path), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Opening again is a no-op for the schema.
    drop(conn);
    fx.open();
    assert_eq!(raw_version(&fx.path), SCHEMA_VERSION);
}

#[test]
fn reopening_keeps_data() {
    let fx = Fixture::new();
    let a = asset_id(1);
    {
        let cat = fx.open();
        cat.upsert_discovered(&a, Path::new("/inbox/a.png"), 10)
            .unwrap();
        cat.set_metadata(&a, &media_with_prompt("neon rain"))
            .unwrap();
    }
    let cat = fx.open();
    let rec = cat.asset(&a).unwrap().unwrap();
    assert_eq!(rec.status, AssetStatus::Discovered);
    assert_eq!(rec.original_path, Path::new("/inbox/a.png"));
    assert_eq!(rec.size, 10);
    assert_eq!(rec.media, Some(media_with_prompt("neon rain")));
}

#[test]
fn a_catalog_from_a_newer_alice_is_refused_with_an_upgrade_hint() {
    let fx = Fixture::new();
    drop(fx.open());
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);

    let err = Catalog::open(&fx.path).unwrap_err();
    assert!(
        matches!(err, CatalogError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("upgrade alice"), "{msg}");
    assert!(msg.contains(&fx.path.display().to_string()), "{msg}");
    assert!(matches!(
        Catalog::open_readonly(&fx.path),
        Err(CatalogError::TooNew { .. })
    ));
    // The refused open did not touch the version.
    assert_eq!(raw_version(&fx.path), SCHEMA_VERSION + 1);
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_corrupt() {
    let fx = Fixture::new();
    std::fs::write(&fx.path, vec![b'x'; 8192]).unwrap();
    let err = Catalog::open(&fx.path).unwrap_err();
    assert!(matches!(err, CatalogError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("move the file aside"), "{err}");
}

#[test]
fn a_missing_state_directory_or_catalog_says_which_file() {
    let fx = Fixture::new();
    let inside_missing_dir = fx
        .path
        .parent()
        .unwrap()
        .join("nope")
        .join("catalog.sqlite3");
    let err = Catalog::open(&inside_missing_dir).unwrap_err();
    assert!(matches!(err, CatalogError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("nope/catalog.sqlite3"), "{err}");

    let err = Catalog::open_readonly(&fx.path).unwrap_err();
    assert!(matches!(err, CatalogError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("start the daemon"), "{err}");
}

#[test]
fn identities_round_trip_including_non_utf8_paths() {
    let fx = Fixture::new();
    let cat = fx.open();
    let path = non_utf8(b"caf\xe9-\xff.png");
    assert!(path.to_str().is_none());

    assert_eq!(cat.load_identities().unwrap().get(&id(1)).cloned(), None);
    cat.remember_identity(&id(1), &path, &asset_id(1)).unwrap();
    assert_eq!(
        cat.load_identities().unwrap().get(&id(1)).cloned(),
        Some(asset_id(1))
    );
    assert_eq!(
        cat.load_identities().unwrap().get(&id(1)),
        Some(&asset_id(1))
    );

    // Same path, changed file: the old identity no longer matches.
    let mut changed = id(1);
    changed.mtime_ns += 1;
    cat.remember_identity(&changed, &path, &asset_id(2))
        .unwrap();
    assert_eq!(cat.load_identities().unwrap().get(&id(1)).cloned(), None);
    assert_eq!(
        cat.load_identities().unwrap().get(&changed).cloned(),
        Some(asset_id(2))
    );

    // Forgetting needs the exact bytes: a lossy UTF-8 version of the path is another path.
    let lossy = PathBuf::from(path.to_string_lossy().into_owned());
    assert!(!cat.forget_identity(&lossy).unwrap());
    assert!(cat.forget_identity(&path).unwrap());
    assert_eq!(cat.load_identities().unwrap().get(&changed).cloned(), None);
    assert!(!cat.forget_identity(&path).unwrap());
}

#[test]
fn identities_with_full_64_bit_values_round_trip() {
    let fx = Fixture::new();
    let cat = fx.open();
    let big = FileIdentity {
        dev: u64::MAX,
        ino: 1 << 63,
        size: u64::MAX - 1,
        mtime_ns: -1_500_000_000,
        ctime_ns: -1,
    };
    cat.remember_identity(&big, Path::new("/inbox/big"), &asset_id(9))
        .unwrap();
    assert_eq!(
        cat.load_identities().unwrap().get(&big).cloned(),
        Some(asset_id(9))
    );
    let all = cat.load_identities().unwrap();
    assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![big]);
}

#[test]
fn a_hundred_thousand_identities_load_in_bulk() {
    let fx = Fixture::new();
    let cat = fx.open();
    let files: Vec<KnownFile> = (0..100_000)
        .map(|n| KnownFile {
            identity: id(n),
            path: PathBuf::from(format!("/inbox/{}/{n}.png", n % 97)),
            asset_id: asset_id(n),
        })
        .collect();
    for chunk in files.chunks(10_000) {
        cat.remember_identities(chunk).unwrap();
    }
    drop(cat);
    let cat = fx.open();
    let all = cat.load_identities().unwrap();
    assert_eq!(all.len(), 100_000);
    for n in [0, 1, 4_242, 99_999] {
        assert_eq!(all.get(&id(n)), Some(&asset_id(n)));
    }
    assert_eq!(all.get(&id(100_000)), None);
}

#[test]
fn sequences_count_per_key_and_never_reuse_across_reopen() {
    let fx = Fixture::new();
    {
        let cat = fx.open();
        assert_eq!(cat.next_seq("cyberpunk", "midjourney").unwrap(), 1);
        assert_eq!(cat.next_seq("cyberpunk", "midjourney").unwrap(), 2);
        assert_eq!(cat.next_seq("cyberpunk", "flux").unwrap(), 1);
        assert_eq!(cat.next_seq("other", "midjourney").unwrap(), 1);
    }
    let cat = fx.open();
    assert_eq!(cat.next_seq("cyberpunk", "midjourney").unwrap(), 3);
}

#[test]
fn sequences_are_unique_across_threads_and_connections() {
    let fx = Fixture::new();
    let first = Arc::new(fx.open());
    let second = Arc::new(fx.open());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let cat = if t % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| cat.next_seq("p", "s").unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>());
}

#[test]
fn recording_an_event_twice_has_one_effect() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    let discovered = AssetUpdate::Discovered {
        asset_id: &a,
        path: Path::new("/inbox/a.png"),
        size: 10,
    };
    let e1 = event("e1", Some(&a), at(0));
    assert!(cat.record_event_with(&e1, &discovered).unwrap());
    let failed = AssetUpdate::Status {
        asset_id: &a,
        status: AssetStatus::Failed,
        reason: Some("unreadable"),
    };
    assert!(
        cat.record_event_with(&event("e2", Some(&a), at(1)), &failed)
            .unwrap()
    );

    // A redelivery of e1 must not send the asset back to `discovered`.
    assert!(!cat.record_event_with(&e1, &discovered).unwrap());
    assert!(!cat.record_event(&e1).unwrap());
    let rec = cat.asset(&a).unwrap().unwrap();
    assert_eq!(rec.status, AssetStatus::Failed);
    assert_eq!(rec.status_reason.as_deref(), Some("unreadable"));
    assert_eq!(cat.events_for_asset(&a).unwrap().len(), 2);

    // The same holds inside one batch.
    let fresh = cat
        .record_batch(&[
            (event("e3", None, at(2)), AssetUpdate::None),
            (event("e3", None, at(2)), AssetUpdate::None),
            (event("e1", Some(&a), at(0)), AssetUpdate::None),
        ])
        .unwrap();
    assert_eq!(fresh, vec![true, false, false]);
}

#[test]
fn consumed_marks_survive_reopen_and_the_catalog_stage_means_recorded() {
    let fx = Fixture::new();
    {
        let cat = fx.open();
        assert!(!cat.consumed("metadata", "e1").unwrap());
        assert!(!cat.consumed("catalog", "e1").unwrap());
        let fresh = cat
            .record_batch_consumed(
                &[(event("e1", None, at(0)), AssetUpdate::None)],
                &[("metadata", "e0"), ("metadata", "e0"), ("organizer", "e9")],
            )
            .unwrap();
        assert_eq!(fresh, vec![true]);
        // Marks alone, without events, are fine too.
        cat.record_batch_consumed(&[], &[("organizer", "e8")])
            .unwrap();
    }
    let cat = fx.open();
    assert!(cat.consumed("metadata", "e0").unwrap());
    assert!(
        !cat.consumed("organizer", "e0").unwrap(),
        "marks are per stage"
    );
    assert!(cat.consumed("organizer", "e9").unwrap());
    assert!(cat.consumed("organizer", "e8").unwrap());
    assert!(
        cat.consumed("catalog", "e1").unwrap(),
        "recorded = consumed by the catalog"
    );
    assert!(!cat.consumed("metadata", "e1").unwrap());

    // Old marks can be forgotten; recent ones stay.
    assert_eq!(cat.prune_consumed(at(0)).unwrap(), 0);
    assert!(cat.consumed("metadata", "e0").unwrap());
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(cat.prune_consumed(later).unwrap(), 3);
    assert!(!cat.consumed("metadata", "e0").unwrap());
    assert!(
        cat.consumed("catalog", "e1").unwrap(),
        "events are not marks"
    );
}

#[test]
fn a_refused_update_rolls_back_its_event() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    let bad = AssetUpdate::Status {
        asset_id: &a,
        status: AssetStatus::Organized,
        reason: None,
    };
    let err = cat
        .record_event_with(&event("e1", Some(&a), at(0)), &bad)
        .unwrap_err();
    assert!(matches!(err, CatalogError::InvalidStatus { .. }), "{err:?}");
    // Not recorded, so a corrected redelivery is still new.
    assert!(cat.record_event(&event("e1", Some(&a), at(0))).unwrap());
}

#[test]
fn events_for_an_asset_come_in_time_order() {
    let fx = Fixture::new();
    let cat = fx.open();
    let (a, b) = (asset_id(1), asset_id(2));
    let offset_time = DateTime::parse_from_rfc3339("2024-03-09T17:00:03+01:00")
        .unwrap()
        .with_timezone(&Utc);
    cat.record_event(&event("late", Some(&a), at(10))).unwrap();
    cat.record_event(&event("other-asset", Some(&b), at(5)))
        .unwrap();
    cat.record_event(&event("early", Some(&a), at(1))).unwrap();
    cat.record_event(&event("tie-first", Some(&a), at(5)))
        .unwrap();
    cat.record_event(&event("tie-second", Some(&a), at(5)))
        .unwrap();
    cat.record_event(&event("no-asset", None, at(0))).unwrap();
    cat.record_event(&event("offset", Some(&a), offset_time))
        .unwrap();

    let got = cat.events_for_asset(&a).unwrap();
    let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
    // at(0) is 2024-03-09T16:00:00Z, so the +01:00 event sits at 16:00:03Z.
    assert_eq!(ids, ["early", "offset", "tie-first", "tie-second", "late"]);
    assert_eq!(got[0].time, at(1));
    assert_eq!(got[0].correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(got[0].json, r#"{"specversion":"1.0"}"#);

    let first = cat.events_since(0, 2).unwrap();
    assert_eq!(
        first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["late", "other-asset"]
    );
    let rest = cat.events_since(first[1].seq, 100).unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[0].id, "early");

    // Events recorded before the asset had a row, and after it has one (found by its row),
    // are all the asset's; the other asset's never are, with a row of its own or not.
    cat.upsert_discovered(&a, Path::new("/inbox/a.png"), 1)
        .unwrap();
    cat.upsert_discovered(&b, Path::new("/inbox/b.png"), 1)
        .unwrap();
    cat.record_event(&event("with-row", Some(&a), at(7)))
        .unwrap();
    cat.record_event(&event("other-with-row", Some(&b), at(7)))
        .unwrap();
    let ids: Vec<String> = cat
        .events_for_asset(&a)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        [
            "early",
            "offset",
            "tie-first",
            "tie-second",
            "with-row",
            "late"
        ]
    );
    let ids: Vec<String> = cat
        .events_for_asset(&b)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["other-asset", "other-with-row"]);
}

#[test]
fn a_placement_from_another_path_than_the_discovery_records_where_it_came_from() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    cat.upsert_discovered(&a, Path::new("/inbox/first.png"), 10)
        .unwrap();
    let (src, dest) = (Path::new("/inbox/second.png"), Path::new("/org/a.png"));
    let op = cat
        .begin_op(&NewOp {
            asset_id: &a,
            kind: OpKind::Copy,
            source: src,
            destination: dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.complete_placement(&placement(op, &a, dest)).unwrap();
    let rec = cat.asset(&a).unwrap().unwrap();
    assert_eq!(rec.original_path, src);
    assert_eq!(
        cat.organized_from(src).unwrap().map(|r| r.asset_id),
        Some(a.clone())
    );
    assert!(
        cat.organized_from(Path::new("/inbox/first.png"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn events_name_their_asset_row_from_the_discovery_on() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    let discovered = AssetUpdate::Discovered {
        asset_id: &a,
        path: Path::new("/inbox/a.png"),
        size: 1,
    };
    cat.record_event_with(&event("found", Some(&a), at(1)), &discovered)
        .unwrap();
    cat.record_event(&event("later", Some(&a), at(2))).unwrap();
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    let rows: Vec<(String, Option<i64>)> = conn
        .prepare("SELECT event_id, asset FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let id: i64 = conn
        .query_row("SELECT id FROM assets WHERE asset_id = ?1", [&a], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        rows,
        [
            ("found".to_owned(), Some(id)),
            ("later".to_owned(), Some(id))
        ]
    );
}

#[test]
fn stored_media_leaves_out_null_members_and_reads_back_whole() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    cat.upsert_discovered(&a, Path::new("/inbox/a.png"), 1)
        .unwrap();
    let media = media_with_prompt("a lighthouse");
    assert!(serde_json::to_string(&media).unwrap().contains("null"));
    assert!(cat.set_metadata(&a, &media).unwrap());
    let stored: String = rusqlite::Connection::open(&fx.path)
        .unwrap()
        .query_row("SELECT media FROM assets WHERE asset_id = ?1", [&a], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!stored.contains("null"), "{stored}");
    assert!(stored.contains(r#""prompt":"a lighthouse""#), "{stored}");
    assert_eq!(cat.asset(&a).unwrap().unwrap().media, Some(media));
}

#[test]
fn complete_placement_finishes_the_op_and_organizes_the_asset_together() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    let src = non_utf8(b"\xe9t\xe9.png");
    let planned = Path::new("/org/2024-03-15/cyberpunk/midjourney/cyberpunk-00001.png");
    let actual = Path::new("/org/2024-03-15/cyberpunk/midjourney/cyberpunk-00001-1.png");
    cat.upsert_discovered(&a, &src, 10).unwrap();
    let op = cat
        .begin_op(&NewOp {
            asset_id: &a,
            kind: OpKind::Move,
            source: &src,
            destination: planned,
            mode: Transfer::Move,
        })
        .unwrap();
    assert_eq!(cat.is_organized(&a).unwrap(), None);
    let media = media_with_prompt("neon");
    let mut p = placement(op, &a, actual);
    p.media = Some(&media);
    p.style = Some("noir");
    cat.complete_placement(&p).unwrap();

    let rec = cat.op(op).unwrap().unwrap();
    assert_eq!(rec.state, OpState::Done);
    assert_eq!(rec.destination, actual);
    assert_eq!(rec.source, src);
    assert!(rec.finished_at.is_some());
    assert_eq!(cat.is_organized(&a).unwrap().as_deref(), Some(actual));
    let asset = cat.asset_by_organized_path(actual).unwrap().unwrap();
    assert_eq!(asset.asset_id, a);
    assert_eq!(asset.status, AssetStatus::Organized);
    assert_eq!(asset.project.as_deref(), Some("cyberpunk"));
    assert_eq!(asset.style.as_deref(), Some("noir"));
    assert_eq!(asset.op_id, Some(op));
    assert_eq!(asset.original_path, src);
    assert_eq!(asset.media.as_ref(), Some(&media));
    assert!(cat.pending_ops().unwrap().is_empty());

    // A retried completion is a no-op; a discovery of another copy leaves it organized.
    cat.complete_placement(&p).unwrap();
    cat.upsert_discovered(&a, Path::new("/inbox/copy.png"), 10)
        .unwrap();
    assert!(!cat.mark_status(&a, AssetStatus::Duplicate, None).unwrap());
    assert_eq!(cat.is_organized(&a).unwrap().as_deref(), Some(actual));
    let counts = cat.status_counts().unwrap();
    assert_eq!((counts.organized, counts.total()), (1, 1));
}

#[test]
fn a_refused_placement_changes_neither_the_op_nor_the_asset() {
    let fx = Fixture::new();
    let cat = fx.open();
    let (a, b) = (asset_id(1), asset_id(2));
    let dest = Path::new("/org/x.png");
    organize(&cat, &a, Path::new("/inbox/a.png"), dest);

    // Another asset may not take over an organized path.
    cat.upsert_discovered(&b, Path::new("/inbox/b.png"), 10)
        .unwrap();
    let op_b = cat
        .begin_op(&NewOp {
            asset_id: &b,
            kind: OpKind::Copy,
            source: Path::new("/inbox/b.png"),
            destination: dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    let err = cat
        .complete_placement(&placement(op_b, &b, dest))
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::DestinationTaken { ref other, .. } if *other == a),
        "{err:?}"
    );
    assert_eq!(cat.op(op_b).unwrap().unwrap().state, OpState::Pending);
    assert_eq!(cat.op(op_b).unwrap().unwrap().finished_at, None);
    assert_eq!(
        cat.asset(&b).unwrap().unwrap().status,
        AssetStatus::Discovered
    );

    // An organized asset is not organized a second time elsewhere.
    let op_a2 = cat
        .begin_op(&NewOp {
            asset_id: &a,
            kind: OpKind::Copy,
            source: Path::new("/inbox/a2.png"),
            destination: Path::new("/org/y.png"),
            mode: Transfer::Copy,
        })
        .unwrap();
    let err = cat
        .complete_placement(&placement(op_a2, &a, Path::new("/org/y.png")))
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::AlreadyOrganized { .. }),
        "{err:?}"
    );
    assert_eq!(cat.op(op_a2).unwrap().unwrap().state, OpState::Pending);
    assert_eq!(cat.is_organized(&a).unwrap().as_deref(), Some(dest));

    // The placement must name the operation's asset.
    let err = cat
        .complete_placement(&placement(op_b, &a, Path::new("/org/z.png")))
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::OpAssetMismatch { .. }),
        "{err:?}"
    );

    // A placement the catalog never heard of (no discovery recorded yet) still creates the asset.
    let c = asset_id(3);
    let op_c = cat
        .begin_op(&NewOp {
            asset_id: &c,
            kind: OpKind::Copy,
            source: Path::new("/inbox/c.png"),
            destination: Path::new("/org/c.png"),
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.complete_placement(&placement(op_c, &c, Path::new("/org/c.png")))
        .unwrap();
    let rec = cat.asset(&c).unwrap().unwrap();
    assert_eq!(rec.original_path, Path::new("/inbox/c.png"));
    assert_eq!(rec.status, AssetStatus::Organized);
}

#[test]
fn an_op_begun_before_a_crash_is_pending_after_restart() {
    let fx = Fixture::new();
    let a = asset_id(1);
    let planned = Path::new("/org/a.png");
    let op = {
        let cat = fx.open();
        cat.begin_op(&NewOp {
            asset_id: &a,
            kind: OpKind::Move,
            source: Path::new("/inbox/a.png"),
            destination: planned,
            mode: Transfer::Move,
        })
        .unwrap()
        // Dropped without finish_op: the process "crashed" after the WAL commit.
    };
    let cat = fx.open();
    let pending = cat.pending_ops().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].op_id, op);
    assert_eq!(pending[0].destination, planned);
    assert_eq!(pending[0].kind, OpKind::Move);
    assert_eq!(pending[0].state, OpState::Pending);

    cat.abandon_op(op, "destination missing after restart")
        .unwrap();
    cat.abandon_op(op, "again").unwrap();
    assert!(cat.pending_ops().unwrap().is_empty());
    let rec = cat.op(op).unwrap().unwrap();
    assert_eq!(rec.state, OpState::Abandoned);
    assert_eq!(
        rec.note.as_deref(),
        Some("destination missing after restart")
    );
    let err = cat.finish_op(op, planned).unwrap_err();
    assert!(
        matches!(
            err,
            CatalogError::OpState {
                state: OpState::Abandoned,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("abandoned"), "{err}");
    let err = cat.finish_op(op + 100, planned).unwrap_err();
    assert!(matches!(err, CatalogError::UnknownOp { .. }), "{err:?}");
}

#[test]
fn last_ops_lists_recent_undoable_ops_and_undo_unorganizes() {
    let fx = Fixture::new();
    let cat = fx.open();
    let ops: Vec<i64> = (1..=3)
        .map(|n| {
            organize(
                &cat,
                &asset_id(n),
                &PathBuf::from(format!("/inbox/{n}.png")),
                &PathBuf::from(format!("/org/{n}.png")),
            )
        })
        .collect();
    let quarantine = cat
        .begin_op(&NewOp {
            asset_id: &asset_id(9),
            kind: OpKind::Quarantine,
            source: Path::new("/inbox/bad.png"),
            destination: Path::new("/quarantine/bad.png"),
            mode: Transfer::Move,
        })
        .unwrap();
    let still_pending = cat
        .begin_op(&NewOp {
            asset_id: &asset_id(8),
            kind: OpKind::Copy,
            source: Path::new("/inbox/8.png"),
            destination: Path::new("/org/8.png"),
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.finish_op(quarantine, Path::new("/quarantine/bad.png"))
        .unwrap();

    let last: Vec<i64> = cat.last_ops(3).unwrap().iter().map(|o| o.op_id).collect();
    assert_eq!(last, vec![quarantine, ops[2], ops[1]]);

    // Undo the newest placement through an undo operation.
    let undo = cat
        .begin_op(&NewOp {
            asset_id: &asset_id(3),
            kind: OpKind::Undo,
            source: Path::new("/org/3.png"),
            destination: Path::new("/inbox/3.png"),
            mode: Transfer::Move,
        })
        .unwrap();
    assert!(
        !cat.undone_at(&asset_id(3), Path::new("/inbox/3.png"))
            .unwrap()
    );
    cat.complete_undo(undo, ops[2], Path::new("/inbox/3.png"))
        .unwrap();
    assert!(
        cat.undone_at(&asset_id(3), Path::new("/inbox/3.png"))
            .unwrap()
    );
    assert!(
        !cat.undone_at(&asset_id(3), Path::new("/inbox/x.png"))
            .unwrap()
    );
    assert!(
        !cat.undone_at(&asset_id(2), Path::new("/inbox/2.png"))
            .unwrap()
    );
    assert_eq!(cat.op(undo).unwrap().unwrap().mode, Transfer::Move);
    cat.mark_undone(quarantine).unwrap();
    cat.mark_undone(quarantine).unwrap();

    let last: Vec<i64> = cat.last_ops(10).unwrap().iter().map(|o| o.op_id).collect();
    assert_eq!(last, vec![ops[1], ops[0]]);
    assert_eq!(cat.op(ops[2]).unwrap().unwrap().state, OpState::Undone);
    assert_eq!(cat.is_organized(&asset_id(3)).unwrap(), None);
    assert_eq!(
        cat.asset_by_organized_path(Path::new("/org/3.png"))
            .unwrap(),
        None
    );
    let rec = cat.asset(&asset_id(3)).unwrap().unwrap();
    assert_eq!(rec.status, AssetStatus::Skipped);
    assert!(rec.status_reason.unwrap().contains(&ops[2].to_string()));
    assert!(
        cat.op(undo)
            .unwrap()
            .unwrap()
            .note
            .unwrap()
            .contains(&ops[2].to_string())
    );

    let err = cat.mark_undone(still_pending).unwrap_err();
    assert!(
        matches!(
            err,
            CatalogError::OpState {
                state: OpState::Pending,
                ..
            }
        ),
        "{err:?}"
    );
    let err = cat.mark_undone(undo).unwrap_err();
    assert!(matches!(err, CatalogError::OpState { .. }), "{err:?}");
}

#[test]
fn an_undo_stops_counting_once_the_asset_is_organized_again() {
    let fx = Fixture::new();
    let cat = fx.open();
    let (a, inbox) = (asset_id(1), Path::new("/inbox/1.png"));
    let op = organize(&cat, &a, inbox, Path::new("/org/1.png"));
    let undo = cat
        .begin_op(&NewOp {
            asset_id: &a,
            kind: OpKind::Undo,
            source: Path::new("/org/1.png"),
            destination: inbox,
            mode: Transfer::DeleteCopy,
        })
        .unwrap();
    cat.complete_undo(undo, op, inbox).unwrap();
    assert!(cat.undone_at(&a, inbox).unwrap());
    assert_eq!(cat.op(undo).unwrap().unwrap().mode, Transfer::DeleteCopy);
    organize(
        &cat,
        &a,
        Path::new("/inbox/other.png"),
        Path::new("/org/1b.png"),
    );
    assert!(!cat.undone_at(&a, inbox).unwrap());
}

#[test]
fn mark_status_never_organizes_and_never_touches_organized_assets() {
    let fx = Fixture::new();
    let cat = fx.open();
    let a = asset_id(1);
    assert!(!cat.mark_status(&a, AssetStatus::Failed, Some("x")).unwrap());
    cat.upsert_discovered(&a, Path::new("/inbox/a.png"), 1)
        .unwrap();
    let err = cat
        .mark_status(&a, AssetStatus::Organized, None)
        .unwrap_err();
    assert!(matches!(err, CatalogError::InvalidStatus { .. }), "{err:?}");
    assert!(
        cat.mark_status(&a, AssetStatus::Failed, Some("truncated PNG"))
            .unwrap()
    );
    let counts = cat.status_counts().unwrap();
    assert_eq!((counts.failed, counts.discovered), (1, 0));
    // A new attempt at the same content resets the failure.
    cat.upsert_discovered(&a, Path::new("/inbox/again.png"), 1)
        .unwrap();
    let rec = cat.asset(&a).unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.status_reason),
        (AssetStatus::Discovered, None)
    );
    assert_eq!(rec.original_path, Path::new("/inbox/again.png"));
    assert!(
        !cat.set_metadata(&asset_id(2), &MediaInfo::empty(MediaType::Other))
            .unwrap()
    );
}

#[test]
fn creative_context_survives_reopen() {
    let fx = Fixture::new();
    {
        let cat = fx.open();
        assert_eq!(cat.context().unwrap(), Default::default());
        cat.set_context(ContextKey::ActiveProject, Some("cyberpunk"))
            .unwrap();
        cat.set_context(ContextKey::ActiveStyle, Some("noir"))
            .unwrap();
        cat.set_context(ContextKey::ActiveStyle, Some("neon"))
            .unwrap();
    }
    let cat = fx.open();
    let ctx = cat.context().unwrap();
    assert_eq!(ctx.active_project.as_deref(), Some("cyberpunk"));
    assert_eq!(ctx.active_style.as_deref(), Some("neon"));
    cat.set_context(ContextKey::ActiveStyle, None).unwrap();
    assert_eq!(cat.context().unwrap().active_style, None);
}

#[test]
fn projects_are_listed_by_name_and_duplicates_refused() {
    let fx = Fixture::new();
    let cat = fx.open();
    cat.create_project("zeta", None).unwrap();
    let created = cat.create_project("cyberpunk", Some("neon city")).unwrap();
    let err = cat.create_project("cyberpunk", None).unwrap_err();
    assert!(
        matches!(err, CatalogError::ProjectExists { ref name, .. } if name == "cyberpunk"),
        "{err:?}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(matches!(
        cat.create_project("  ", None),
        Err(CatalogError::EmptyProjectName { .. })
    ));

    let list = cat.list_projects().unwrap();
    assert_eq!(
        list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["cyberpunk", "zeta"]
    );
    assert_eq!(list[0], created);
    assert_eq!(cat.project("cyberpunk").unwrap(), Some(created));
    assert_eq!(cat.project("nope").unwrap(), None);
}

#[test]
fn search_finds_assets_by_prompt_project_and_source() {
    let fx = Fixture::new();
    let cat = fx.open();
    let (a, b) = (asset_id(1), asset_id(2));
    cat.upsert_discovered(&a, Path::new("/inbox/a.png"), 1)
        .unwrap();
    cat.set_metadata(
        &a,
        &media_with_prompt("a neon Cyberpunk city at night, café"),
    )
    .unwrap();
    organize(&cat, &b, Path::new("/inbox/b.png"), Path::new("/org/b.png"));

    let found = |q: &str| -> Vec<String> {
        cat.search(q, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.asset_id)
            .collect()
    };
    let mut both = found("cyberpunk");
    both.sort();
    assert_eq!(both, [a.clone(), b.clone()]);
    assert_eq!(found("NEON city"), vec![a.clone()]);
    assert_eq!(found("cafe"), vec![a.clone()]);
    assert_eq!(found("midjourney"), vec![b.clone()]);
    assert!(found("watercolor").is_empty());
    assert!(found("   ").is_empty());
    // FTS5 syntax in user text is taken literally, not parsed.
    assert!(found("\"unbalanced -neon OR: *").is_empty());
}

#[test]
fn a_reader_sees_committed_data_while_a_writer_holds_the_catalog() {
    let fx = Fixture::new();
    let writer = fx.open();
    writer.create_project("committed", None).unwrap();

    // Another process holds the write lock with an uncommitted change.
    let mut other = rusqlite::Connection::open(&fx.path).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO projects (name, created_at) VALUES ('uncommitted', '2024-01-01T00:00:00.000000000Z')",
        [],
    )
    .unwrap();

    let reader = Catalog::open_readonly(&fx.path).unwrap();
    assert!(reader.is_read_only());
    let names: Vec<String> = reader
        .list_projects()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["committed"]);

    // The daemon's own writes wait for the lock, then fail with an actionable error.
    let err = writer.create_project("blocked", None).unwrap_err();
    assert!(matches!(err, CatalogError::Busy { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("locked by another process for more than 5 s"),
        "{err}"
    );

    tx.rollback().unwrap();
    writer.create_project("later", None).unwrap();
    let names: Vec<String> = reader
        .list_projects()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["committed", "later"]);

    let err = reader.create_project("nope", None).unwrap_err();
    assert!(matches!(err, CatalogError::ReadOnly { .. }), "{err:?}");
}

/// Regression: a new file that reuses a freed inode with the same size and mtime must not
/// inherit the old file's asset id; only the inode change time tells them apart.
#[test]
fn an_identity_with_another_ctime_is_a_different_file() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
    let old = id(1);
    cat.remember_identity(&old, Path::new("/inbox/a.png"), &asset_id(1))
        .unwrap();
    let reused = FileIdentity {
        ctime_ns: old.ctime_ns + 1,
        ..old
    };
    assert_eq!(
        cat.load_identities().unwrap().get(&old).cloned(),
        Some(asset_id(1))
    );
    assert_eq!(cat.load_identities().unwrap().get(&reused).cloned(), None);
    assert!(!cat.load_identities().unwrap().contains_key(&reused));
}

#[test]
fn visual_rows_come_with_their_event_and_list_what_is_left_to_see() {
    let fx = Fixture::new();
    let cat = fx.open();
    let (a, b, c) = (asset_id(1), asset_id(2), asset_id(3));
    organize(&cat, &a, Path::new("/in/a.png"), Path::new("/o/a.png"));
    organize(&cat, &b, Path::new("/in/b.png"), Path::new("/o/b.png"));
    organize(&cat, &c, Path::new("/in/c.mp4"), Path::new("/o/c.mp4"));
    let left: Vec<String> = cat
        .unvisualized("", 10)
        .unwrap()
        .into_iter()
        .map(|u| u.asset_id)
        .collect();
    assert_eq!(left.len(), 3);

    let seen_a = catalog::VisualRecord {
        asset_id: a.clone(),
        rendered: "image".into(),
        reason: None,
        width: Some(640),
        height: Some(480),
        fingerprint: Some(vec![7; 16]),
    };
    let placeholder_c = catalog::VisualRecord {
        asset_id: c.clone(),
        rendered: "video_placeholder".into(),
        reason: Some("no_ffmpeg".into()),
        width: None,
        height: None,
        fingerprint: None,
    };
    let fresh = cat
        .record_batch(&[
            (event("v-a", Some(&a), at(1)), AssetUpdate::Visual(&seen_a)),
            (
                event("v-c", Some(&c), at(2)),
                AssetUpdate::Visual(&placeholder_c),
            ),
        ])
        .unwrap();
    assert_eq!(fresh, vec![true, true]);
    // Recording only adds the visual row: the assets stay organized.
    assert_eq!(
        cat.asset(&a).unwrap().unwrap().status,
        AssetStatus::Organized
    );
    assert_eq!(cat.visual(&a).unwrap(), Some(seen_a));
    assert_eq!(cat.fingerprints().unwrap(), vec![(a.clone(), vec![7; 16])]);
    let left: Vec<String> = cat
        .unvisualized("", 10)
        .unwrap()
        .into_iter()
        .map(|u| u.asset_id)
        .collect();
    assert_eq!(left, vec![b.clone()]);
    assert_eq!(
        cat.unvisualized("", 10).unwrap()[0].organized_path,
        Path::new("/o/b.png")
    );
    assert_eq!(cat.visual(&b).unwrap(), None);
    assert_eq!(cat.count_unvisualized().unwrap(), 1);
    assert!(
        cat.unvisualized(&b, 10).unwrap().is_empty(),
        "paged past it"
    );
    assert_eq!(
        cat.asset_ids_with_prefix(&a[..62], 5).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(cat.asset_ids_with_prefix(&b, 5).unwrap(), vec![b.clone()]);
    assert!(cat.asset_ids_with_prefix("f", 5).unwrap().is_empty());
}

#[test]
fn a_live_photo_is_found_by_its_content_identifier() {
    let fx = Fixture::new();
    let cat = fx.open();
    let live = |t, id: &str| {
        let mut m = MediaInfo::empty(t);
        m.live_photo_id = Some(id.to_owned());
        m
    };
    let still = live(MediaType::Image, "ID-1");
    let (src, dest) = (Path::new("/in/IMG_1.HEIC"), Path::new("/org/IMG_1.HEIC"));
    cat.upsert_discovered("aa", src, 10).unwrap();
    let op = cat
        .begin_op(&NewOp {
            asset_id: "aa",
            kind: OpKind::Copy,
            source: src,
            destination: dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.complete_placement(&Placement {
        media: Some(&still),
        ..placement(op, "aa", dest)
    })
    .unwrap();
    let found = cat.organized_live_photo("ID-1").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].asset_id, "aa");
    assert_eq!(found[0].organized_path.as_deref(), Some(dest));
    assert!(cat.organized_live_photo("ID-2").unwrap().is_empty());
    // Known by identifier but not organized: not found.
    cat.upsert_discovered("bb", Path::new("/in/clip.MOV"), 10)
        .unwrap();
    cat.set_metadata("bb", &live(MediaType::Video, "ID-1"))
        .unwrap();
    assert_eq!(cat.organized_live_photo("ID-1").unwrap().len(), 1);
}
