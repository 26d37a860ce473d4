//! replay and tail against a real redis-server.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{RedisServer, field};
use streams::{ReplayFrom, StreamWriter, replay, tail};

/// Entries with ids chosen by the test, so times are exact: (entry id, event id, type).
fn seed(redis: &RedisServer) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for i in 0..2500u64 {
        let entry = format!("{}-{}", 1_700_000_000_000 + i / 10, i % 10);
        let ty = if i % 3 == 0 {
            "alice.asset.organized.v1"
        } else {
            "alice.asset.discovered.v1"
        };
        let id = format!("event-{i}");
        out.push((entry, id, ty.to_owned()));
    }
    // Through a plain client pipeline: one redis-cli call per entry would be slow.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut pipe = redis::pipe();
    for (entry, id, ty) in &out {
        pipe.cmd("XADD")
            .arg("alice:events")
            .arg(entry)
            .arg("type")
            .arg(ty)
            .arg("id")
            .arg(id)
            .arg("event")
            .arg(json_of(id))
            .ignore();
    }
    pipe.exec(&mut conn).unwrap();
    assert_eq!(redis.cli(&["XLEN", "alice:events"])[0], "2500");
    out
}

fn json_of(id: &str) -> String {
    format!("{{\"id\":\"{id}\"}}")
}

#[tokio::test]
async fn replay_from_start_id_and_time_with_a_type_filter() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    let all = seed(&redis);

    // From the start, across three XRANGE pages.
    let mut got = Vec::new();
    let n = replay(&cfg, ReplayFrom::Start, None, |j| got.push(j.to_owned()))
        .await
        .unwrap();
    assert_eq!(n, 2500);
    let want: Vec<String> = all.iter().map(|(_, id, _)| json_of(id)).collect();
    assert_eq!(got, want);

    // From an entry id, included.
    let mut got = Vec::new();
    let n = replay(&cfg, ReplayFrom::Id(all[1234].0.clone()), None, |j| {
        got.push(j.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(n, 2500 - 1234);
    assert_eq!(got[0], json_of(&all[1234].1));

    // Since a time: entry ms 1_700_000_000_200 is the 2001st entry.
    let since = Utc.timestamp_millis_opt(1_700_000_000_200).unwrap();
    let mut got = Vec::new();
    replay(&cfg, ReplayFrom::Since(since), None, |j| {
        got.push(j.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(got, want[2000..].to_vec());

    // Type filter, combined with a start.
    let mut got = Vec::new();
    let n = replay(
        &cfg,
        ReplayFrom::Since(since),
        Some("alice.asset.organized.v1"),
        |j| got.push(j.to_owned()),
    )
    .await
    .unwrap();
    let want: Vec<String> = all[2000..]
        .iter()
        .filter(|(_, _, ty)| ty == "alice.asset.organized.v1")
        .map(|(_, id, _)| json_of(id))
        .collect();
    assert_eq!(n as usize, want.len());
    assert_eq!(got, want);

    // An empty stream replays nothing.
    let mut other = cfg.clone();
    other.prefix = "empty".into();
    assert_eq!(
        replay(&other, ReplayFrom::Start, None, |_| panic!(
            "nothing to replay"
        ))
        .await
        .unwrap(),
        0
    );
}

#[tokio::test]
async fn tail_sees_only_events_written_after_it_started() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    redis.cli(&[
        "XADD",
        "alice:events",
        "*",
        "type",
        "t",
        "id",
        "old",
        "event",
        "{\"id\":\"old\"}",
    ]);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tail_cfg = cfg.clone();
    let task = tokio::spawn(async move { tail(&tail_cfg, |j| drop(tx.send(j.to_owned()))).await });
    // tail reads from `$`: wait until its first blocking read is parked in Redis.
    common::wait_for("tail to block on XREAD", || {
        redis
            .cli(&["CLIENT", "LIST"])
            .iter()
            .any(|l| l.contains("cmd=xread"))
    })
    .await;

    let writer = StreamWriter::start(cfg).await.unwrap();
    let mut sent = Vec::new();
    for n in 0..3 {
        let (id, ty, json) = common::event(n);
        writer.append(&id, &ty, &json).await.unwrap();
        sent.push(json);
    }
    writer.close().await;
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let j = tokio::time::timeout(common::PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(j);
    }
    assert_eq!(got, sent);
    task.abort();
    let _ = task.await;
    // Nothing from before the tail started.
    assert!(
        tokio::time::timeout(Duration::from_millis(10), rx.recv())
            .await
            .map_or(true, |j| j.is_none())
    );
    let entries = redis.xrange("alice:events");
    assert_eq!(field(&entries[0].1, "id"), "old");
}
