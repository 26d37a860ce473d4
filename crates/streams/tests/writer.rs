//! StreamWriter against a real redis-server: the entry format, outages, the spool.

mod common;

use common::{LogCapture, RedisServer, event, field, wait_for};
use streams::{Appended, StreamWriter};

#[tokio::test]
async fn events_are_readable_by_another_client_as_cloudevents() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let writer = StreamWriter::start(redis.config(state.path()))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for n in 0..20 {
        let (id, ty, json) = event(n);
        let appended = writer.append(&id, &ty, &json).await.unwrap();
        assert!(matches!(appended, Appended::Stored { .. }), "{appended:?}");
        sent.push((id, ty, json));
    }
    assert!(writer.is_connected());
    assert_eq!(writer.spooled(), 0);
    writer.close().await;

    let entries = redis.xrange("alice:events");
    assert_eq!(entries.len(), sent.len());
    for ((_, fields), (id, ty, json)) in entries.iter().zip(&sent) {
        assert_eq!(field(fields, "type"), ty);
        assert_eq!(field(fields, "id"), id);
        let parsed = events::Event::from_json(field(fields, "event")).unwrap();
        assert_eq!(&parsed.id, id);
        assert_eq!(parsed.type_name(), ty);
        assert_eq!(field(fields, "event"), json);
    }
}

#[tokio::test]
async fn concurrent_appends_are_batched_and_all_stored() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let writer = StreamWriter::start(redis.config(state.path()))
        .await
        .unwrap();
    let sent: Vec<_> = (0..2000).map(event).collect();
    let results = futures::future::join_all(
        sent.iter()
            .map(|(id, ty, json)| writer.append(id, ty, json)),
    )
    .await;
    let mut stream_ids = Vec::new();
    for r in results {
        match r.unwrap() {
            Appended::Stored { stream_id } => stream_ids.push(stream_id),
            Appended::Spooled => panic!("spooled while Redis is up"),
        }
    }
    writer.close().await;
    // Concurrent appends have no order among themselves; each must be stored exactly once,
    // under the entry id its append returned.
    let entries = redis.xrange("alice:events");
    assert_eq!(entries.len(), sent.len());
    let by_entry: std::collections::HashMap<&str, &str> = entries
        .iter()
        .map(|(entry, f)| (entry.as_str(), field(f, "id")))
        .collect();
    for ((id, _, _), stream_id) in sent.iter().zip(&stream_ids) {
        assert_eq!(
            by_entry.get(stream_id.as_str()),
            Some(&id.as_str()),
            "entry {stream_id}"
        );
    }
}

#[tokio::test]
async fn an_outage_spools_in_order_and_is_logged_once() {
    let (logs, _guard) = LogCapture::install();

    let mut redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let writer = StreamWriter::start(redis.config(state.path()))
        .await
        .unwrap();
    let sent: Vec<_> = (0..30).map(event).collect();
    for (id, ty, json) in &sent[..10] {
        let a = writer.append(id, ty, json).await.unwrap();
        assert!(matches!(a, Appended::Stored { .. }));
    }

    redis.kill();
    for (id, ty, json) in &sent[10..20] {
        assert_eq!(
            writer.append(id, ty, json).await.unwrap(),
            Appended::Spooled
        );
    }
    assert_eq!(writer.spooled(), 10);
    assert!(!writer.is_connected());
    let spool = std::fs::read_to_string(state.path().join("alice.spool.jsonl")).unwrap();
    assert_eq!(spool.lines().count(), 10);

    redis.restart();
    wait_for("the spool to drain", || {
        writer.spooled() == 0 && writer.is_connected()
    })
    .await;
    for (id, ty, json) in &sent[20..] {
        let a = writer.append(id, ty, json).await.unwrap();
        assert!(matches!(a, Appended::Stored { .. }), "{a:?}");
    }
    writer.flush().await;

    let entries = redis.xrange("alice:events");
    let got: Vec<&str> = entries.iter().map(|(_, f)| field(f, "id")).collect();
    let want: Vec<&str> = sent.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(got, want, "every event exactly once, in append order");
    assert_eq!(
        std::fs::metadata(state.path().join("alice.spool.jsonl"))
            .unwrap()
            .len(),
        0
    );

    assert_eq!(writer.outages(), 1);
    writer.close().await;
    let text = logs.text();
    assert_eq!(text.matches("Redis unreachable").count(), 1, "{text}");
    assert_eq!(text.matches("Redis reachable again").count(), 1, "{text}");
    assert!(text.contains("replayed=10"), "{text}");
    assert!(
        text.contains(&format!("redis://127.0.0.1:{}/0", redis.port)),
        "{text}"
    );
}

#[tokio::test]
async fn a_spool_left_by_a_previous_process_is_appended_at_start() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let cfg = redis.config(state.path());
    let old: Vec<_> = (0..5).map(event).collect();
    let mut text = String::new();
    for (id, ty, json) in &old {
        let line = serde_json::json!({"id": id, "type": ty, "event": json});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    // A line torn by the crash: its append never returned, so it must not be replayed.
    text.push_str("{\"id\":\"half-writ");
    std::fs::write(cfg.spool_path(), text).unwrap();

    let writer = StreamWriter::start(cfg.clone()).await.unwrap();
    let (id, ty, json) = event(99);
    // The new event waits behind the old spool: it is spooled too, then appended after it.
    writer.append(&id, &ty, &json).await.unwrap();
    wait_for("the old spool to drain", || writer.spooled() == 0).await;
    writer.flush().await;
    writer.close().await;

    let entries = redis.xrange("alice:events");
    let got: Vec<&str> = entries.iter().map(|(_, f)| field(f, "id")).collect();
    let mut want: Vec<&str> = old.iter().map(|(id, _, _)| id.as_str()).collect();
    want.push(&id);
    assert_eq!(got, want);
    assert_eq!(std::fs::metadata(cfg.spool_path()).unwrap().len(), 0);
}

#[tokio::test]
async fn redis_down_at_start_is_not_an_error_and_an_invalid_url_is() {
    let state = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg =
        streams::StreamConfig::new(format!("redis://user:pw@127.0.0.1:{port}"), state.path());
    cfg.timeout = std::time::Duration::from_secs(2);
    let writer = StreamWriter::start(cfg.clone()).await.unwrap();
    let (id, ty, json) = event(1);
    assert_eq!(
        writer.append(&id, &ty, &json).await.unwrap(),
        Appended::Spooled
    );
    assert_eq!(writer.spooled(), 1);
    writer.close().await;

    cfg.url = "http://user:pw@nowhere".to_owned();
    let err = StreamWriter::start(cfg)
        .await
        .err()
        .expect("invalid URL must fail");
    let msg = err.to_string();
    assert!(msg.contains("invalid Redis URL"), "{msg}");
    assert!(!msg.contains("pw"), "password leaked: {msg}");
}

#[tokio::test]
async fn no_event_is_lost_when_redis_dies_under_concurrent_load() {
    let mut redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let writer = std::sync::Arc::new(
        StreamWriter::start(redis.config(state.path()))
            .await
            .unwrap(),
    );
    let sent: Vec<_> = (0..3000).map(event).collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let load = {
        let (writer, sent, done) = (writer.clone(), sent.clone(), done.clone());
        tokio::spawn(async move {
            use futures::StreamExt;
            futures::stream::iter(sent)
                .map(|(id, ty, json)| {
                    let (writer, done) = (writer.clone(), done.clone());
                    async move {
                        let r = writer.append(&id, &ty, &json).await;
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        r
                    }
                })
                .buffer_unordered(512)
                .collect::<Vec<_>>()
                .await
        })
    };
    wait_for("some appends", || {
        done.load(std::sync::atomic::Ordering::Relaxed) >= 500
    })
    .await;
    redis.kill();
    let results = load.await.unwrap();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "every append is stored or spooled"
    );
    redis.restart();
    wait_for("the spool to drain", || {
        writer.spooled() == 0 && writer.is_connected()
    })
    .await;
    writer.flush().await;

    // At least once: a pipeline cut by the kill may have been applied in part and spooled too.
    let entries = redis.xrange("alice:events");
    let stored: std::collections::HashSet<&str> =
        entries.iter().map(|(_, f)| field(f, "id")).collect();
    let missing = sent
        .iter()
        .filter(|(id, _, _)| !stored.contains(id.as_str()))
        .count();
    assert_eq!(missing, 0, "events lost across the kill");
}

#[tokio::test]
async fn groups_exist_before_a_spool_is_appended_so_a_late_reader_misses_nothing() {
    let mut redis = RedisServer::start();
    redis.kill();
    let state = tempfile::tempdir().unwrap();
    let mut cfg = redis.config(state.path());
    cfg.groups = vec!["metadata".into()];
    let writer = StreamWriter::start(cfg.clone()).await.unwrap();
    let sent: Vec<_> = (0..5).map(event).collect();
    for (id, ty, json) in &sent {
        assert_eq!(
            writer.append(id, ty, json).await.unwrap(),
            Appended::Spooled
        );
    }
    redis.restart();
    wait_for("the spool to drain", || {
        writer.spooled() == 0 && writer.is_connected()
    })
    .await;
    // A reader that joins only now, at the end of the stream (as a worker does), still gets
    // every spooled event: the writer created its group before appending them.
    let mut reader = streams::GroupConsumer::join_at(&cfg, "metadata", true)
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let batch = reader.next().await.unwrap();
        assert!(
            !batch.is_empty(),
            "only {} of {} delivered",
            got.len(),
            sent.len()
        );
        got.extend(batch.into_iter().map(|d| d.event_id));
    }
    let want: Vec<String> = sent.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_idle_writer_reports_an_outage_once_and_the_return_once() {
    let (logs, _guard) = LogCapture::install();

    let mut redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let writer = StreamWriter::start(redis.config(state.path()))
        .await
        .unwrap();
    // Nothing is appended: only the idle health check can notice.
    redis.kill();
    wait_for("the outage to be noticed", || !writer.is_connected()).await;
    redis.restart();
    wait_for("Redis to be back", || writer.is_connected()).await;
    writer.flush().await;
    let text = logs.text();
    assert_eq!(text.matches("Redis unreachable").count(), 1, "{text}");
    assert_eq!(text.matches("Redis reachable again").count(), 1, "{text}");
    assert_eq!(writer.outages(), 1);
}
