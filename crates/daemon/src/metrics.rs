//! Optional Prometheus endpoint (`[metrics] enabled = true`): plain text exposition over a
//! minimal HTTP/1.1 responder on a loopback address by default. Counting is a durable bus
//! subscriber doing a few atomic adds per event, so counts are exact.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use events::{Event, Payload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Upper bounds (seconds) of the organize-latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Default)]
struct State {
    by_type: BTreeMap<String, u64>,
    /// correlation id → time its pipeline started (bounded: removed on the outcome).
    started: HashMap<String, chrono::DateTime<chrono::Utc>>,
    latency_counts: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_n: u64,
}

/// Prometheus text exposition being written.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = match labels {
            "" => writeln!(self.0, "{name} {value}"),
            l => writeln!(self.0, "{name}{{{l}}} {value}"),
        };
    }
}

/// Queue depth and dead letters per durable subscriber.
fn render_queues(out: &mut Exposition, bus: &bus::BusStats) {
    out.family(
        "alice_queue_depth",
        "gauge",
        "Events queued per durable subscriber.",
    );
    for s in &bus.subscribers {
        out.sample(
            "alice_queue_depth",
            &format!("subscriber=\"{}\"", s.name),
            s.queued,
        );
    }
    out.family(
        "alice_dead_letters_total",
        "counter",
        "Events a subscriber gave up on.",
    );
    for s in &bus.subscribers {
        out.sample(
            "alice_dead_letters_total",
            &format!("subscriber=\"{}\"", s.name),
            s.dead_lettered,
        );
    }
}

/// The counters; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<State>>);

impl Metrics {
    /// Subscribes to every event.
    pub fn subscribe(&self, bus: &pipeline::EventBus) -> Result<(), pipeline::PipelineError> {
        let me = self.clone();
        bus.subscribe("metrics", bus::Filter::All, move |m: pipeline::Msg| {
            let me = me.clone();
            async move {
                me.count(&m.0);
                Ok(())
            }
        })?;
        Ok(())
    }

    /// Counts one event (for events that do not come through the bus: a worker's).
    pub fn count(&self, ev: &Event) {
        let Ok(mut s) = self.0.lock() else { return };
        *s.by_type.entry(ev.type_name().to_owned()).or_default() += 1;
        let corr = ev.correlation_id.clone().unwrap_or_default();
        match &ev.payload {
            // Bounded even if outcomes were never seen (e.g. a crash of a stage).
            Payload::AssetDiscovered(_) if s.started.len() < 100_000 => {
                s.started.insert(corr, ev.time);
            }
            Payload::AssetOrganized(_)
            | Payload::AssetDuplicate(_)
            | Payload::AssetSkipped(_)
            | Payload::AssetFailed(_) => {
                if let Some(t0) = s.started.remove(&corr)
                    && matches!(ev.payload, Payload::AssetOrganized(_))
                {
                    let secs = (ev.time - t0).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                    for (i, b) in BUCKETS.iter().enumerate() {
                        if secs <= *b {
                            s.latency_counts[i] += 1;
                        }
                    }
                    s.latency_sum += secs;
                    s.latency_n += 1;
                }
            }
            _ => {}
        }
    }

    /// Event counts and the latency histogram.
    fn render_counted(&self, out: &mut Exposition) {
        let Ok(s) = self.0.lock() else {
            return;
        };
        out.family(
            "alice_events_total",
            "counter",
            "Events published, by type.",
        );
        for (t, n) in &s.by_type {
            out.sample("alice_events_total", &format!("type=\"{t}\""), *n);
        }
        let h = "alice_organize_latency_seconds";
        out.family(h, "histogram", "From discovery to organized.");
        for (b, n) in BUCKETS.iter().zip(s.latency_counts) {
            out.sample(&format!("{h}_bucket"), &format!("le=\"{b}\""), n);
        }
        out.sample(&format!("{h}_bucket"), "le=\"+Inf\"", s.latency_n);
        out.sample(&format!("{h}_sum"), "", s.latency_sum);
        out.sample(&format!("{h}_count"), "", s.latency_n);
    }

    fn render(
        &self,
        pipeline: &pipeline::Pipeline,
        stats: &watcher::WatchStats,
        redis: Option<&streams::StreamWriter>,
    ) -> String {
        let mut out = Exposition::default();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        self.render_counted(&mut out);
        let t = pipeline.tally();
        out.family(
            "alice_outcomes_total",
            "counter",
            "Files by outcome since start.",
        );
        for (k, v) in [
            ("organized", t.organized),
            ("duplicate", t.duplicates),
            ("skipped", t.skipped),
            ("failed", t.failed),
        ] {
            out.sample("alice_outcomes_total", &format!("outcome=\"{k}\""), v);
        }
        let bus = pipeline.bus().stats();
        render_queues(&mut out, &bus);
        let gauges = [
            (
                "alice_observer_missed_total",
                "counter",
                "Events lossy observers missed.",
                bus.observers.iter().map(|o| o.missed).sum::<u64>(),
            ),
            (
                "alice_bytes_hashed_total",
                "counter",
                "Bytes read for hashing.",
                load(&stats.bytes_hashed),
            ),
            (
                "alice_files_hashed_total",
                "counter",
                "Files hashed.",
                load(&stats.files_hashed),
            ),
            (
                "alice_identity_cache_hits_total",
                "counter",
                "Files recognised without hashing.",
                load(&stats.cache_hits),
            ),
            (
                "alice_inotify_watches",
                "gauge",
                "inotify watches held.",
                load(&stats.watches),
            ),
            (
                "alice_redis_spool_events",
                "gauge",
                "Events waiting in the local spool for Redis (0: Redis not configured).",
                redis.map_or(0, |w| w.spooled()),
            ),
        ];
        for (name, kind, help, value) in gauges {
            out.family(name, kind, help);
            out.sample(name, "", value);
        }
        out.0
    }

    /// Serves `GET /metrics` on `addr`.
    pub async fn serve(
        self,
        addr: SocketAddr,
        pipeline: pipeline::Pipeline,
        stats: tokio::sync::watch::Receiver<Arc<watcher::WatchStats>>,
        redis: Option<Arc<streams::StreamWriter>>,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::Config(format!(
                "key `metrics.listen`: cannot listen for metrics on {addr}: {e}"
            ))
        })?;
        tracing::info!(address = %addr, "metrics endpoint ready at /metrics");
        Ok(tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                let body = {
                    let st = stats.borrow().clone();
                    self.render(&pipeline, &st, redis.as_deref())
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        conn.read(&mut buf),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let resp = if req.starts_with("GET /metrics") {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        }))
    }
}
