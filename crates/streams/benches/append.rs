//! Events/s appended by `StreamWriter` (batched pipelines), against `redis-benchmark` running
//! the same XADD on the same server in the same run, and publish→consumed latency through a
//! consumer group. Needs `redis-server` and `redis-benchmark` (apt-get install -y redis-server).
//!
//!     cargo bench -p streams --bench append

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use streams::{GroupConsumer, StreamWriter};

/// Appends kept in flight by the throughput bench (many producers at once).
const IN_FLIGHT: usize = 1024;
const PER_ITER: u64 = 2_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `redis-benchmark` with the writer's exact command shape and payload size.
fn redis_benchmark(redis: &RedisServer, ty: &str, id: &str, json: &str) -> String {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &redis.port.to_string()])
        .args(["-n", "200000", "-P", "16", "-q"])
        .args([
            "XADD", "bench", "MAXLEN", "~", "1000000", "*", "type", ty, "id", id, "event", json,
        ])
        .output()
        .expect("run redis-benchmark (apt-get install -y redis-server)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // -q prints progress with carriage returns; the summary is the last segment.
    text.rsplit('\r').next().unwrap_or("").trim().to_owned()
}

fn bench(c: &mut Criterion) {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().expect("temp dir");
    let cfg = redis.config(state.path());
    let (id, ty, json) = common::event(0);
    println!("event JSON: {} bytes", json.len());
    println!(
        "redis-benchmark XADD (-P 16, 50 clients): {}",
        redis_benchmark(&redis, &ty, &id, &json)
    );

    let rt = runtime();
    let writer = rt
        .block_on(StreamWriter::start(cfg.clone()))
        .expect("writer");
    let mut group = c.benchmark_group("stream_writer");
    group.throughput(Throughput::Elements(PER_ITER));
    group.sample_size(10);
    group.bench_function("append_1024_in_flight", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (writer, id, ty, json) = (&writer, &id, &ty, &json);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    futures::stream::iter(0..PER_ITER)
                        .map(|_| writer.append(id, ty, json))
                        .buffer_unordered(IN_FLIGHT)
                        .for_each(|r| async move {
                            r.expect("append");
                        })
                        .await;
                }
                start.elapsed()
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_one_at_a_time", |b| {
        b.to_async(&rt)
            .iter(|| async { writer.append(&id, &ty, &json).await.expect("append") })
    });
    group.finish();
    println!(
        "redis-benchmark XADD again (-P 16, 50 clients): {}",
        redis_benchmark(&redis, &ty, &id, &json)
    );
    rt.block_on(latency(&cfg, writer));
}

/// Publish→consumed latency through a consumer group: one event every 2 ms, the consumer
/// parked in `XREADGROUP BLOCK`, acknowledging each batch.
async fn latency(cfg: &streams::StreamConfig, writer: StreamWriter) {
    const EVENTS: usize = 2_000;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut consumer = GroupConsumer::join(cfg, "latency").await.expect("join");
    // Start after everything the throughput bench wrote.
    let mut c = redis::Client::open(cfg.url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("XGROUP")
        .arg("SETID")
        .arg(cfg.stream_key())
        .arg("latency")
        .arg("$")
        .exec_async(&mut c)
        .await
        .expect("XGROUP SETID");
    let seen = Arc::clone(&sent);
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(EVENTS);
        while lat.len() < EVENTS {
            let got = consumer.next().await.expect("next");
            let now = Instant::now();
            let ids: Vec<String> = got.iter().map(|d| d.stream_id.clone()).collect();
            for d in &got {
                if let Some(t) = seen.lock().expect("lock").get(&d.event_id) {
                    lat.push(now - *t);
                }
            }
            consumer.ack(&ids).await.expect("ack");
        }
        lat
    });
    let mut ticker = tokio::time::interval(Duration::from_millis(2));
    for n in 0..EVENTS {
        ticker.tick().await;
        let (id, ty, json) = common::event(n);
        sent.lock()
            .expect("lock")
            .insert(id.clone(), Instant::now());
        writer.append(&id, &ty, &json).await.expect("append");
    }
    let mut lat = reader.await.expect("reader");
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "publish->consumed through a group ({EVENTS} events, one per 2 ms): p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
    writer.close().await;
}

criterion_group!(benches, bench);
criterion_main!(benches);
