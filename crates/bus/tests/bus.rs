//! Behaviour of the bus as its users see it: delivery, order, backpressure, retries, dead
//! letters, panics, acknowledgements, observers and shutdown.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bus::{
    Bus, BusClosed, DeadLetter, DeliveryStatus, Filter, Handler, HandlerError, Message, Observed,
    RetryPolicy, SubscribeError, SubscriberOptions,
};
use tokio::sync::{Notify, Semaphore};

/// Generous bound so a broken bus fails the test instead of hanging it; never reached when
/// the bus works.
const HANG_GUARD: Duration = Duration::from_secs(30);

const DISCOVERED: &str = "alice.asset.discovered.v1";
const ORGANIZED: &str = "alice.asset.organized.v1";
const PROJECT: &str = "alice.creative.project_created.v1";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    id: String,
    type_name: &'static str,
    category: &'static str,
    publisher: u64,
    seq: u64,
}

impl Message for Event {
    fn id(&self) -> &str {
        &self.id
    }
    fn type_name(&self) -> &str {
        self.type_name
    }
    fn category(&self) -> &str {
        self.category
    }
    fn shard(&self, shards: usize) -> usize {
        (self.seq % shards as u64) as usize
    }
}

type Msg = Arc<Event>;

fn event(seq: u64) -> Msg {
    typed(seq, DISCOVERED, "asset")
}

fn typed(seq: u64, type_name: &'static str, category: &'static str) -> Msg {
    Arc::new(Event {
        id: format!("ev-{seq}"),
        type_name,
        category,
        publisher: 0,
        seq,
    })
}

fn options(capacity: usize) -> SubscriberOptions {
    SubscriberOptions {
        capacity,
        retry: quick_retry(3),
        shard: None,
    }
}

fn quick_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    }
}

type Log = Arc<Mutex<Vec<u64>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn seen(log: &Log) -> Vec<u64> {
    log.lock().unwrap().clone()
}

/// A handler that records the sequence numbers it handled.
fn recorder(log: Log) -> impl Handler<Msg> {
    move |event: Msg| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    }
}

/// Collects dead letters handed to the sink.
type Letters = Arc<Mutex<Vec<DeadLetter<Msg>>>>;

fn bus_with_letters() -> (Bus<Msg>, Letters) {
    let letters: Letters = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&letters);
    let bus = Bus::builder()
        .dead_letter_sink(move |letter| sink.lock().unwrap().push(letter))
        .build();
    (bus, letters)
}

async fn drain(bus: &Bus<Msg>) {
    let report = tokio::time::timeout(HANG_GUARD, bus.shutdown(HANG_GUARD))
        .await
        .expect("shutdown hung");
    assert!(report.is_clean(), "unexpected unfinished work: {report:?}");
}

fn stats_of(bus: &Bus<Msg>, name: &str) -> bus::SubscriberStats {
    bus.stats()
        .subscribers
        .into_iter()
        .find(|s| s.name == name)
        .expect("subscriber in stats")
}

/// Waits (yielding to the runtime) until `condition` holds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let wait = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for: {what}"));
}

#[tokio::test]
async fn subscriber_sees_events_in_publish_order() {
    let bus = Bus::new();
    let log = log();
    bus.subscribe_with(
        "ordered",
        Filter::All,
        options(4),
        recorder(Arc::clone(&log)),
    )
    .unwrap();

    for seq in 0..1000 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;

    assert_eq!(seen(&log), (0..1000).collect::<Vec<_>>());
    let stats = stats_of(&bus, "ordered");
    assert_eq!(
        (
            stats.delivered,
            stats.failed,
            stats.dead_lettered,
            stats.queued
        ),
        (1000, 0, 0, 0)
    );
}

#[tokio::test]
async fn a_sharded_subscriber_gets_only_its_lane_in_order() {
    let bus = Bus::new();
    let logs: Vec<Log> = (0..4).map(|_| log()).collect();
    for (index, l) in logs.iter().enumerate() {
        let opts = SubscriberOptions {
            shard: Some(bus::Shard { index, of: 4 }),
            ..options(2)
        };
        bus.subscribe_with(
            format!("lane-{index}"),
            Filter::All,
            opts,
            recorder(Arc::clone(l)),
        )
        .unwrap();
    }
    for seq in 0..1000 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;
    for (index, l) in logs.iter().enumerate() {
        let want: Vec<u64> = (0..1000).filter(|s| s % 4 == index as u64).collect();
        assert_eq!(seen(l), want, "lane {index}");
        // Never queued for the other lanes: nothing counted there either.
        assert_eq!(stats_of(&bus, &format!("lane-{index}")).delivered, 250);
    }
    let wrong = SubscriberOptions {
        shard: Some(bus::Shard { index: 4, of: 4 }),
        ..options(2)
    };
    let bus = Bus::<Msg>::new();
    assert!(matches!(
        bus.subscribe_with("lane-4", Filter::All, wrong, recorder(log())),
        Err(bus::SubscribeError::InvalidShard {
            index: 4,
            of: 4,
            ..
        })
    ));
}

#[tokio::test]
async fn lanes_of_stages_with_different_filters_and_widths_each_get_their_own_messages() {
    // As the daemon registers them: a plain subscriber, a stage of 3 lanes for one type, a
    // stage of 5 lanes for another, and a stage of 3 lanes for every type (published to one
    // look per stage, not per lane).
    let bus = Bus::new();
    let all = log();
    bus.subscribe("all", Filter::All, recorder(Arc::clone(&all)))
        .unwrap();
    let mut stages: Vec<(&str, Filter, usize, Vec<Log>)> = vec![
        ("discovered", Filter::types([DISCOVERED]), 3, Vec::new()),
        ("organized", Filter::types([ORGANIZED]), 5, Vec::new()),
        ("every", Filter::All, 3, Vec::new()),
    ];
    for (name, filter, of, logs) in &mut stages {
        logs.extend((0..*of).map(|_| log()));
        if *name == "organized" {
            // All lanes at once.
            let lanes = logs.clone();
            bus.subscribe_lanes(name, filter.clone(), *of, options(4), |i| {
                recorder(Arc::clone(&lanes[i]))
            })
            .unwrap();
            continue;
        }
        for (index, l) in logs.iter().enumerate() {
            let opts = SubscriberOptions {
                shard: Some(bus::Shard { index, of: *of }),
                ..options(4)
            };
            bus.subscribe_with(
                format!("{name}-{index}"),
                filter.clone(),
                opts,
                recorder(Arc::clone(l)),
            )
            .unwrap();
        }
    }
    // A lane's name is taken like any other.
    assert!(matches!(
        bus.subscribe_lanes("discovered", Filter::All, 2, options(4), |_| recorder(log())),
        Err(SubscribeError::DuplicateName { name }) if name == "discovered-0"
    ));
    let kind = |seq: u64| {
        if seq.is_multiple_of(2) {
            DISCOVERED
        } else {
            ORGANIZED
        }
    };
    for seq in 0..300 {
        bus.publish(typed(seq, kind(seq), "asset")).await.unwrap();
    }
    drain(&bus).await;
    assert_eq!(seen(&all), (0..300).collect::<Vec<u64>>());
    for (name, filter, of, logs) in &stages {
        for (index, l) in logs.iter().enumerate() {
            let want: Vec<u64> = (0..300)
                .filter(|s| *filter == Filter::All || kind(*s) == types_of(filter))
                .filter(|s| s % *of as u64 == index as u64)
                .collect();
            assert_eq!(seen(l), want, "{name} lane {index}");
        }
    }
}

fn types_of(filter: &Filter) -> &'static str {
    if *filter == Filter::types([DISCOVERED]) {
        DISCOVERED
    } else {
        ORGANIZED
    }
}

#[tokio::test]
async fn full_subscriber_blocks_publisher_until_room_and_loses_nothing() {
    let bus = Bus::new();
    let log = log();
    let gate = Arc::new(Semaphore::new(0));
    let (handler_log, handler_gate) = (Arc::clone(&log), Arc::clone(&gate));
    bus.subscribe_with("gated", Filter::All, options(3), move |event: Msg| {
        let log = Arc::clone(&handler_log);
        let gate = Arc::clone(&handler_gate);
        async move {
            gate.acquire().await?.forget();
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();

    // Publish until one publish cannot complete.
    let mut completed = 0;
    let mut blocked = loop {
        let mut publish = Box::pin(bus.publish(event(completed)));
        match futures::poll!(&mut publish) {
            Poll::Ready(result) => {
                result.unwrap();
                completed += 1;
                assert!(completed <= 3, "publish never blocked on a full queue");
            }
            Poll::Pending => break publish,
        }
    };
    assert_eq!(completed, 3, "the queue bound is the capacity");
    assert_eq!(stats_of(&bus, "gated").queued, 3);

    // However long the runtime runs, the publish stays blocked while the handler is gated.
    for _ in 0..200 {
        tokio::task::yield_now().await;
        assert!(futures::poll!(&mut blocked).is_pending());
    }
    assert!(seen(&log).is_empty());

    // Finishing one event makes room for exactly the blocked one.
    gate.add_permits(1);
    tokio::time::timeout(HANG_GUARD, &mut blocked)
        .await
        .expect("publish stayed blocked after room was made")
        .unwrap();
    assert_eq!(seen(&log), vec![0]);

    gate.add_permits(1000);
    for seq in 4..20 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;
    assert_eq!(seen(&log), (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_fast_subscribers_both_get_everything_in_order() {
    let bus = Bus::new();
    let (fast, slow) = (log(), log());
    bus.subscribe_with(
        "fast",
        Filter::All,
        options(64),
        recorder(Arc::clone(&fast)),
    )
    .unwrap();
    let slow_log = Arc::clone(&slow);
    bus.subscribe_with("slow", Filter::All, options(2), move |event: Msg| {
        let log = Arc::clone(&slow_log);
        async move {
            if event.seq.is_multiple_of(10) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();

    for seq in 0..300 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;

    let expected: Vec<u64> = (0..300).collect();
    assert_eq!(seen(&fast), expected);
    assert_eq!(seen(&slow), expected);
}

#[tokio::test]
async fn failed_handler_is_retried_until_it_succeeds() {
    let (bus, letters) = bus_with_letters();
    let log = log();
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let (handler_log, handler_attempts) = (Arc::clone(&log), Arc::clone(&attempts));
    bus.subscribe_with("flaky", Filter::All, options(8), move |event: Msg| {
        let log = Arc::clone(&handler_log);
        let attempts = Arc::clone(&handler_attempts);
        async move {
            let attempt = {
                let mut attempts = attempts.lock().unwrap();
                let n = attempts.entry(event.seq).or_default();
                *n += 1;
                *n
            };
            if event.seq == 5 && attempt < 3 {
                return Err(format!("database busy (attempt {attempt})").into());
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();

    for seq in 0..10 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;

    assert_eq!(seen(&log), (0..10).collect::<Vec<_>>());
    assert_eq!(attempts.lock().unwrap()[&5], 3);
    assert!(letters.lock().unwrap().is_empty());
    let stats = stats_of(&bus, "flaky");
    assert_eq!(
        (stats.delivered, stats.failed, stats.dead_lettered),
        (10, 2, 0)
    );
}

/// Captures formatted log lines while the returned guard lives (current-thread runtime only).
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let buffer = Buffer(Arc::clone(&bytes));
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || buffer.clone())
        .finish();
    (bytes, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn exhausted_retries_dead_letter_the_event_and_the_subscriber_continues() {
    let (logs, _guard) = capture_logs();
    let (bus, letters) = bus_with_letters();
    let log = log();
    let handler_log = Arc::clone(&log);
    bus.subscribe_with("catalog", Filter::All, options(8), move |event: Msg| {
        let log = Arc::clone(&handler_log);
        async move {
            if event.seq == 3 {
                let cause = std::io::Error::other("disk full");
                return Err(HandlerError::from(cause));
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();

    for seq in 0..10 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;

    assert_eq!(seen(&log), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let letters = letters.lock().unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.subscriber, "catalog");
    assert_eq!(letter.message.id(), "ev-3");
    assert_eq!(letter.attempts, 3);
    assert!(letter.error.contains("disk full"), "{}", letter.error);

    let stats = stats_of(&bus, "catalog");
    assert_eq!(
        (stats.delivered, stats.failed, stats.dead_lettered),
        (9, 3, 1)
    );

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("dead-lettered"))
        .unwrap_or_else(|| panic!("no dead-letter error line in:\n{text}"));
    for field in [
        "subscriber=catalog",
        "event_id=ev-3",
        "event_type=alice.asset.discovered.v1",
        "attempts=3",
        "disk full",
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
}

#[tokio::test]
async fn panicking_handler_is_isolated_and_dead_lettered() {
    let (bus, letters) = bus_with_letters();
    let log = log();
    let handler_log = Arc::clone(&log);
    let policy = SubscriberOptions {
        capacity: 8,
        retry: quick_retry(2),
        shard: None,
    };
    bus.subscribe_with("fragile", Filter::All, policy, move |event: Msg| {
        let log = Arc::clone(&handler_log);
        async move {
            if event.seq == 2 {
                panic!("boom at {}", event.seq);
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();
    // A panic while building the future, before the first await, is caught as well.
    bus.subscribe_with(
        "eager",
        Filter::types([ORGANIZED]),
        options(8),
        |_event: Msg| {
            panic!("eager panic");
            #[allow(unreachable_code)]
            std::future::ready(Ok(()))
        },
    )
    .unwrap();

    for seq in 0..6 {
        bus.publish(event(seq)).await.unwrap();
    }
    bus.publish(typed(6, ORGANIZED, "asset")).await.unwrap();
    drain(&bus).await;

    assert_eq!(seen(&log), vec![0, 1, 3, 4, 5, 6]);
    let letters = letters.lock().unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let fragile = letters.iter().find(|l| l.subscriber == "fragile").unwrap();
    assert_eq!(fragile.message.id(), "ev-2");
    assert_eq!(fragile.attempts, 2);
    assert!(
        fragile.error.contains("panicked") && fragile.error.contains("boom at 2"),
        "{}",
        fragile.error
    );
    let eager = letters.iter().find(|l| l.subscriber == "eager").unwrap();
    assert!(
        eager.error.contains("panicked") && eager.error.contains("eager panic"),
        "{}",
        eager.error
    );
    assert_eq!(stats_of(&bus, "fragile").dead_lettered, 1);
}

#[tokio::test]
async fn panicking_dead_letter_sink_does_not_stop_the_subscriber() {
    let bus: Bus<Msg> = Bus::builder()
        .dead_letter_sink(|letter: DeadLetter<Msg>| panic!("sink broke on {}", letter.message.id()))
        .build();
    let log = log();
    let handler_log = Arc::clone(&log);
    let policy = SubscriberOptions {
        capacity: 4,
        retry: quick_retry(1),
        shard: None,
    };
    bus.subscribe_with("organizer", Filter::All, policy, move |event: Msg| {
        let log = Arc::clone(&handler_log);
        async move {
            if event.seq.is_multiple_of(2) {
                return Err("unsupported format".into());
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();

    for seq in 0..8 {
        bus.publish(event(seq)).await.unwrap();
    }
    drain(&bus).await;

    assert_eq!(seen(&log), vec![1, 3, 5, 7]);
    let stats = stats_of(&bus, "organizer");
    assert_eq!(
        (stats.delivered, stats.failed, stats.dead_lettered),
        (4, 4, 4)
    );
}

#[tokio::test]
async fn shutdown_drains_queued_events_then_refuses_intake() {
    let bus = Bus::new();
    let log = log();
    let handler_log = Arc::clone(&log);
    bus.subscribe_with("drainer", Filter::All, options(64), move |event: Msg| {
        let log = Arc::clone(&handler_log);
        async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            log.lock().unwrap().push(event.seq);
            Ok(())
        }
    })
    .unwrap();
    let mut observer = bus.observe(Filter::All, 64);

    for seq in 0..50 {
        bus.publish(event(seq)).await.unwrap();
    }
    // Single-threaded runtime: the subscriber has not run yet, everything is still queued.
    assert_eq!(stats_of(&bus, "drainer").queued, 50);

    drain(&bus).await;
    assert_eq!(seen(&log), (0..50).collect::<Vec<_>>());
    assert_eq!(bus.publish(event(50)).await, Err(BusClosed));
    assert!(matches!(
        bus.publish_tracked(event(51)).await,
        Err(BusClosed)
    ));
    assert!(matches!(
        bus.subscribe("late", Filter::All, recorder(Arc::default())),
        Err(SubscribeError::Closed { .. })
    ));
    let stats = bus.stats();
    assert!(stats.closed);
    assert_eq!(stats.subscribers[0].queued, 0);

    // Observers end after what they buffered.
    for seq in 0..50 {
        match observer.recv().await {
            Some(Observed::Message(event)) => assert_eq!(event.seq, seq),
            other => panic!("expected event {seq}, got {other:?}"),
        }
    }
    assert_eq!(observer.recv().await, None);
    assert!(
        bus.shutdown(Duration::ZERO).await.is_clean(),
        "second shutdown has nothing to do"
    );
}

#[tokio::test]
async fn shutdown_reports_what_could_not_finish_before_the_deadline() {
    let bus = Bus::new();
    let stuck_started = Arc::new(Notify::new());
    let notify = Arc::clone(&stuck_started);
    bus.subscribe_with("stuck", Filter::All, options(16), move |event: Msg| {
        let notify = Arc::clone(&notify);
        async move {
            if event.seq == 2 {
                notify.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    })
    .unwrap();
    let quick = log();
    bus.subscribe_with(
        "quick",
        Filter::All,
        options(16),
        recorder(Arc::clone(&quick)),
    )
    .unwrap();

    for seq in 0..6 {
        bus.publish(event(seq)).await.unwrap();
    }
    let receipt = bus.publish_tracked(event(6)).await.unwrap();
    tokio::time::timeout(HANG_GUARD, stuck_started.notified())
        .await
        .expect("stuck handler never started");
    until("quick subscriber handled all", || seen(&quick).len() == 7).await;

    let report = tokio::time::timeout(HANG_GUARD, bus.shutdown(Duration::from_millis(300)))
        .await
        .expect("shutdown ignored its deadline");

    assert_eq!(report.unfinished.len(), 1, "{report:?}");
    let unfinished = &report.unfinished[0];
    assert_eq!(unfinished.subscriber, "stuck");
    assert_eq!(unfinished.unprocessed, 5);
    let expected: Vec<String> = (2..7).map(|n| format!("ev-{n}")).collect();
    assert_eq!(unfinished.event_ids.as_ref(), Some(&expected));

    let outcome = tokio::time::timeout(HANG_GUARD, receipt)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.message_id, "ev-6");
    assert_eq!(outcome.status_of("quick"), Some(&DeliveryStatus::Acked));
    assert_eq!(outcome.status_of("stuck"), Some(&DeliveryStatus::Abandoned));
    assert!(!outcome.is_fully_acked());
}

/// (publisher, seq) pairs in handling order.
type PairLog = Arc<Mutex<Vec<(u64, u64)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_deliver_every_event_exactly_once_per_subscriber() {
    const PUBLISHERS: u64 = 8;
    const PER_PUBLISHER: u64 = 250;
    let bus: Bus<Msg> = Bus::new();
    let logs: Vec<PairLog> = (0..2).map(|_| Arc::default()).collect();
    for (n, log) in logs.iter().enumerate() {
        let log = Arc::clone(log);
        bus.subscribe_with(
            format!("sub-{n}"),
            Filter::All,
            options(4),
            move |event: Msg| {
                let log = Arc::clone(&log);
                async move {
                    log.lock().unwrap().push((event.publisher, event.seq));
                    Ok(())
                }
            },
        )
        .unwrap();
    }

    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|publisher| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for seq in 0..PER_PUBLISHER {
                    let event = Arc::new(Event {
                        id: format!("p{publisher}-{seq}"),
                        type_name: DISCOVERED,
                        category: "asset",
                        publisher,
                        seq,
                    });
                    bus.publish(event).await.unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        tokio::time::timeout(HANG_GUARD, publisher)
            .await
            .unwrap()
            .unwrap();
    }
    drain(&bus).await;

    for log in &logs {
        let log = log.lock().unwrap();
        assert_eq!(log.len() as u64, PUBLISHERS * PER_PUBLISHER);
        let distinct: BTreeSet<_> = log.iter().copied().collect();
        assert_eq!(distinct.len(), log.len(), "an event was delivered twice");
        for publisher in 0..PUBLISHERS {
            let order: Vec<u64> = log
                .iter()
                .filter(|(p, _)| *p == publisher)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(
                order,
                (0..PER_PUBLISHER).collect::<Vec<_>>(),
                "publisher {publisher} reordered"
            );
        }
    }
}

#[tokio::test]
async fn observer_lag_is_counted_exactly_and_reported_in_stream() {
    let bus: Bus<Msg> = Bus::new();
    let mut observer = bus.observe(Filter::All, 3);
    let mut unrelated = bus.observe(Filter::types([PROJECT]), 3);

    // Nobody reads: publishing must still complete, dropping for the observer.
    for seq in 0..10 {
        bus.publish(event(seq)).await.unwrap();
    }
    assert_eq!((observer.received(), observer.missed()), (3, 7));
    let stats = bus.stats();
    let entry = stats
        .observers
        .iter()
        .find(|o| o.id == observer.id())
        .unwrap();
    assert_eq!((entry.received, entry.missed, entry.capacity), (3, 7, 3));

    for seq in 0..3 {
        assert_eq!(observer.recv().await, Some(Observed::Message(event(seq))));
    }
    bus.publish(event(10)).await.unwrap();
    assert_eq!(observer.recv().await, Some(Observed::Lagged(7)));
    assert_eq!(observer.recv().await, Some(Observed::Message(event(10))));

    for seq in 11..16 {
        bus.publish(event(seq)).await.unwrap();
    }
    assert_eq!(observer.missed(), 9);
    drain(&bus).await;
    for seq in 11..14 {
        assert_eq!(observer.recv().await, Some(Observed::Message(event(seq))));
    }
    assert_eq!(
        observer.recv().await,
        Some(Observed::Lagged(2)),
        "trailing gap is reported before the end"
    );
    assert_eq!(observer.recv().await, None);

    assert_eq!((unrelated.received(), unrelated.missed()), (0, 0));
    assert_eq!(unrelated.recv().await, None);
}

#[tokio::test]
async fn dropped_observer_is_unregistered() {
    let bus: Bus<Msg> = Bus::new();
    let observer = bus.observe(Filter::All, 1);
    assert_eq!(bus.stats().observers.len(), 1);
    drop(observer);
    assert!(bus.stats().observers.is_empty());
    bus.publish(event(0)).await.unwrap();
}

#[tokio::test]
async fn tracked_publish_resolves_once_every_matching_subscriber_finished() {
    let bus = Bus::new();
    let acked = log();
    bus.subscribe_with("ok", Filter::All, options(8), recorder(Arc::clone(&acked)))
        .unwrap();
    let policy = SubscriberOptions {
        capacity: 8,
        retry: quick_retry(2),
        shard: None,
    };
    bus.subscribe_with(
        "bad",
        Filter::categories(["asset"]),
        policy,
        |_event: Msg| async move { Err::<(), HandlerError>("schema mismatch".into()) },
    )
    .unwrap();
    bus.subscribe_with(
        "other",
        Filter::types(["alice.never.v1"]),
        options(8),
        recorder(log()),
    )
    .unwrap();

    let receipt = bus.publish_tracked(event(1)).await.unwrap();
    assert_eq!(receipt.message_id(), "ev-1");
    let outcome = tokio::time::timeout(HANG_GUARD, receipt)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.deliveries.len(), 2, "{outcome:?}");
    assert_eq!(outcome.status_of("ok"), Some(&DeliveryStatus::Acked));
    assert_eq!(
        outcome.status_of("bad"),
        Some(&DeliveryStatus::DeadLettered {
            error: "schema mismatch".to_owned(),
            attempts: 2
        })
    );
    assert_eq!(outcome.status_of("other"), None);
    assert!(!outcome.is_fully_acked());
    // The receipt resolved only after the handler ran.
    assert_eq!(seen(&acked), vec![1]);

    let creative = bus
        .publish_tracked(typed(2, PROJECT, "creative"))
        .await
        .unwrap();
    let outcome = tokio::time::timeout(HANG_GUARD, creative)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.deliveries.len(), 1);
    assert!(outcome.is_fully_acked());
    drain(&bus).await;

    let lonely: Bus<Msg> = Bus::new();
    let outcome = lonely
        .publish_tracked(event(3))
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(outcome.deliveries.is_empty() && outcome.is_fully_acked());
}

/// A handler written as a type rather than a closure.
struct Recorder(Log);

impl Handler<Msg> for Recorder {
    async fn handle(&self, event: Msg) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(event.seq);
        Ok(())
    }
}

#[tokio::test]
async fn filters_route_by_type_category_or_everything() {
    let bus = Bus::new();
    let (all, discovered, creative, multi) = (log(), log(), log(), log());
    bus.subscribe("all", Filter::All, Recorder(Arc::clone(&all)))
        .unwrap();
    bus.subscribe(
        "discovered",
        Filter::types([DISCOVERED]),
        Recorder(Arc::clone(&discovered)),
    )
    .unwrap();
    bus.subscribe(
        "creative",
        Filter::categories(["creative"]),
        Recorder(Arc::clone(&creative)),
    )
    .unwrap();
    bus.subscribe(
        "multi",
        Filter::types([ORGANIZED, PROJECT]),
        Recorder(Arc::clone(&multi)),
    )
    .unwrap();

    let events = [
        typed(0, DISCOVERED, "asset"),
        typed(1, ORGANIZED, "asset"),
        typed(2, PROJECT, "creative"),
        typed(3, DISCOVERED, "asset"),
        typed(4, "alice.workflow.scan_started.v1", "workflow"),
    ];
    for event in events {
        bus.publish(event).await.unwrap();
    }
    drain(&bus).await;

    assert_eq!(seen(&all), vec![0, 1, 2, 3, 4]);
    assert_eq!(seen(&discovered), vec![0, 3]);
    assert_eq!(seen(&creative), vec![2]);
    assert_eq!(seen(&multi), vec![1, 2]);
}

#[tokio::test]
async fn invalid_subscriptions_are_rejected_with_the_reason() {
    let bus: Bus<Msg> = Bus::new();
    bus.subscribe("catalog", Filter::All, recorder(log()))
        .unwrap();
    assert!(matches!(
        bus.subscribe("catalog", Filter::All, recorder(log())),
        Err(SubscribeError::DuplicateName { name }) if name == "catalog"
    ));
    assert!(matches!(
        bus.subscribe_with("empty", Filter::All, options(0), recorder(log())),
        Err(SubscribeError::InvalidCapacity { capacity: 0, .. })
    ));
    let never = SubscriberOptions {
        capacity: 1,
        retry: quick_retry(0),
        shard: None,
    };
    assert!(matches!(
        bus.subscribe_with("never", Filter::All, never, recorder(log())),
        Err(SubscribeError::InvalidRetry { .. })
    ));
    assert_eq!(bus.stats().subscribers.len(), 1);
}

#[test]
fn subscribing_outside_a_runtime_is_an_error_not_a_panic() {
    let bus: Bus<Msg> = Bus::new();
    let error = bus
        .subscribe("orphan", Filter::All, recorder(log()))
        .unwrap_err();
    assert!(matches!(error, SubscribeError::NoRuntime { .. }));
    assert!(error.to_string().contains("tokio runtime"));
}
