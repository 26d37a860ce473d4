//! Consumer groups against a real redis-server: pending first, reclaim, dead letters, and a
//! SIGKILL of Redis with AOF.

mod common;

use std::time::Instant;

use common::{PATIENCE, RedisServer, event, field};
use streams::{Delivery, GroupConsumer, StreamConfig, StreamWriter};

async fn write(cfg: &StreamConfig, n: std::ops::Range<usize>) -> Vec<String> {
    let writer = StreamWriter::start(cfg.clone()).await.unwrap();
    let mut ids = Vec::new();
    for i in n {
        let (id, ty, json) = event(i);
        writer.append(&id, &ty, &json).await.unwrap();
        ids.push(id);
    }
    writer.close().await;
    ids
}

/// Calls `next` until it returns something (an empty batch is a BLOCK timeout).
async fn next_batch(c: &mut GroupConsumer) -> Vec<Delivery> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = c.next().await.unwrap();
        if !got.is_empty() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered within {PATIENCE:?}"
        );
    }
}

fn event_ids(d: &[Delivery]) -> Vec<String> {
    d.iter().map(|d| d.event_id.clone()).collect()
}

fn stream_ids(d: &[Delivery]) -> Vec<String> {
    d.iter().map(|d| d.stream_id.clone()).collect()
}

#[tokio::test]
async fn a_restarted_consumer_rereads_its_pending_entries_first() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    let first = write(&cfg, 0..10).await;

    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    let got = next_batch(&mut c).await;
    assert_eq!(event_ids(&got), first);
    assert!(got.iter().all(|d| d.deliveries == 1));
    let parsed = events::Event::from_json(&got[0].json).unwrap();
    assert_eq!(parsed.id, got[0].event_id);
    assert_eq!(parsed.type_name(), got[0].type_name);
    c.ack(&stream_ids(&got[..4])).await.unwrap();
    drop(c);

    let later = write(&cfg, 10..13).await;
    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    let pending = next_batch(&mut c).await;
    assert_eq!(event_ids(&pending), first[4..].to_vec());
    assert!(pending.iter().all(|d| d.deliveries == 2), "{pending:?}");
    c.ack(&stream_ids(&pending)).await.unwrap();
    let fresh = next_batch(&mut c).await;
    assert_eq!(event_ids(&fresh), later);
    c.ack(&stream_ids(&fresh)).await.unwrap();
    // Nothing left: the next read times out empty.
    assert!(c.next().await.unwrap().is_empty());
    assert_eq!(
        redis.cli(&["XPENDING", "alice:events", "organizer"])[0],
        "0"
    );
}

#[tokio::test]
async fn entries_of_a_dead_consumer_are_reclaimed_by_another() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    let ids = write(&cfg, 0..5).await;

    let mut a_cfg = cfg.clone();
    a_cfg.consumer = "worker-a".into();
    let mut a = GroupConsumer::join(&a_cfg, "organizer").await.unwrap();
    assert_eq!(event_ids(&next_batch(&mut a).await), ids);
    drop(a); // killed without acknowledging

    let mut b_cfg = cfg.clone();
    b_cfg.consumer = "worker-b".into();
    let mut b = GroupConsumer::join(&b_cfg, "organizer").await.unwrap();
    let got = next_batch(&mut b).await;
    assert_eq!(event_ids(&got), ids);
    assert!(got.iter().all(|d| d.deliveries == 2), "{got:?}");
    // They are b's now.
    let pending = redis.cli(&[
        "XPENDING",
        "alice:events",
        "organizer",
        "-",
        "+",
        "10",
        "worker-b",
    ]);
    assert_eq!(pending.len(), 5 * 4, "{pending:?}");
    b.ack(&stream_ids(&got)).await.unwrap();
    assert_eq!(
        redis.cli(&["XPENDING", "alice:events", "organizer"])[0],
        "0"
    );
}

#[tokio::test]
async fn an_entry_never_acknowledged_goes_to_the_dead_letters() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut cfg = redis.config(state.path());
    cfg.max_deliveries = 3;
    let ids = write(&cfg, 0..2).await;

    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    let got = next_batch(&mut c).await;
    assert_eq!(event_ids(&got), ids);
    // The second is handled; the first keeps failing (never acknowledged).
    c.ack(&[got[1].stream_id.clone()]).await.unwrap();
    let poison = got[0].clone();
    let mut seen = vec![poison.deliveries];
    // Each restart re-reads it as pending; the fourth delivery would exceed 3.
    for _ in 0..2 {
        drop(c);
        c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
        let again = next_batch(&mut c).await;
        assert_eq!(stream_ids(&again), vec![poison.stream_id.clone()]);
        seen.push(again[0].deliveries);
    }
    assert_eq!(seen, vec![1, 2, 3]);
    drop(c);

    let later = write(&cfg, 2..4).await;
    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    let next = next_batch(&mut c).await;
    assert_eq!(
        event_ids(&next),
        later,
        "the group goes on with the next entries"
    );
    c.ack(&stream_ids(&next)).await.unwrap();
    // The caller learns what was dead-lettered, to report it.
    let reported = c.take_dead_letters();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].stream_id, poison.stream_id);
    assert_eq!(
        reported[0].event_id.as_deref(),
        Some(poison.event_id.as_str())
    );
    assert_eq!(reported[0].deliveries, 4);
    assert!(c.take_dead_letters().is_empty(), "reported once");

    let dead = redis.xrange("alice:dead");
    assert_eq!(dead.len(), 1);
    let fields = &dead[0].1;
    assert_eq!(field(fields, "group"), "organizer");
    assert_eq!(field(fields, "stream_id"), poison.stream_id);
    assert_eq!(field(fields, "id"), poison.event_id);
    assert_eq!(field(fields, "type"), poison.type_name);
    assert_eq!(field(fields, "event"), poison.json);
    assert!(
        field(fields, "reason").contains("delivered 4 times"),
        "{fields:?}"
    );
    assert_eq!(
        redis.cli(&["XPENDING", "alice:events", "organizer"])[0],
        "0"
    );
}

#[tokio::test]
async fn a_malformed_entry_goes_to_the_dead_letters_at_once() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    redis.cli(&[
        "XADD",
        "alice:events",
        "*",
        "type",
        "x",
        "note",
        "no event here",
    ]);
    let ids = write(&cfg, 0..1).await;
    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    assert_eq!(event_ids(&next_batch(&mut c).await), ids);
    let dead = redis.xrange("alice:dead");
    assert_eq!(dead.len(), 1);
    assert!(field(&dead[0].1, "reason").contains("malformed"));
    assert_eq!(field(&dead[0].1, "note"), "no event here");
    let reported = c.take_dead_letters();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].event_id, None);
    assert_eq!(reported[0].type_name.as_deref(), Some("x"));
}

#[tokio::test]
async fn after_a_redis_sigkill_acknowledged_entries_stay_done_and_the_rest_come_back() {
    let mut redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    let ids = write(&cfg, 0..10).await;

    let mut c = GroupConsumer::join(&cfg, "organizer").await.unwrap();
    let got = next_batch(&mut c).await;
    assert_eq!(event_ids(&got), ids);
    c.ack(&stream_ids(&got[..6])).await.unwrap();

    redis.kill();
    assert!(
        c.next().await.is_err(),
        "a read against a dead Redis must fail"
    );
    redis.restart();

    // The same consumer reconnects and re-reads what it had not acknowledged.
    let deadline = Instant::now() + PATIENCE;
    let again = loop {
        match c.next().await {
            Ok(got) if !got.is_empty() => break got,
            _ => assert!(Instant::now() < deadline, "no redelivery after restart"),
        }
    };
    assert_eq!(event_ids(&again), ids[6..].to_vec());
    c.ack(&stream_ids(&again)).await.unwrap();
    assert!(
        c.next().await.unwrap().is_empty(),
        "acknowledged entries must not come back"
    );
    assert_eq!(redis.xrange("alice:events").len(), 10);
}

#[tokio::test]
async fn a_group_created_at_the_end_skips_the_history_and_keeps_its_position() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    write(&cfg, 0..5).await;
    let mut c = GroupConsumer::join_at(&cfg, "metadata", true)
        .await
        .unwrap();
    let later = write(&cfg, 5..8).await;
    let got = next_batch(&mut c).await;
    assert_eq!(event_ids(&got), later, "only what came after the group");
    drop(c);
    // An existing group keeps its position whichever start is asked for.
    let more = write(&cfg, 8..9).await;
    let mut c = GroupConsumer::join(&cfg, "metadata").await.unwrap();
    let pending = next_batch(&mut c).await;
    assert_eq!(event_ids(&pending), later, "own pending entries first");
    c.ack(&stream_ids(&pending)).await.unwrap();
    assert_eq!(event_ids(&next_batch(&mut c).await), more);
}
