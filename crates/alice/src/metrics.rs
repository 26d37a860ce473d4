//! Optional Prometheus endpoint (`[metrics] enabled = true`): plain text exposition over a
//! minimal HTTP/1.1 responder on a loopback address by default. Counting is a durable bus
//! subscriber doing a few atomic adds per event, so counts are exact.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
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

    fn count(&self, ev: &Event) {
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

    fn render(
        &self,
        pipeline: &pipeline::Pipeline,
        stats: &watcher::WatchStats,
        redis: Option<&streams::StreamWriter>,
    ) -> String {
        let mut out = String::new();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP alice_events_total Events published, by type.\n# TYPE alice_events_total counter"
        );
        if let Ok(s) = self.0.lock() {
            for (t, n) in &s.by_type {
                let _ = writeln!(out, "alice_events_total{{type=\"{t}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP alice_organize_latency_seconds From discovery to organized.\n# TYPE alice_organize_latency_seconds histogram"
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "alice_organize_latency_seconds_bucket{{le=\"{b}\"}} {}",
                    s.latency_counts[i]
                );
            }
            let _ = writeln!(
                out,
                "alice_organize_latency_seconds_bucket{{le=\"+Inf\"}} {}",
                s.latency_n
            );
            let _ = writeln!(out, "alice_organize_latency_seconds_sum {}", s.latency_sum);
            let _ = writeln!(out, "alice_organize_latency_seconds_count {}", s.latency_n);
        }
        let t = pipeline.tally();
        let _ = writeln!(
            out,
            "# HELP alice_outcomes_total Files by outcome since start.\n# TYPE alice_outcomes_total counter"
        );
        for (k, v) in [
            ("organized", t.organized),
            ("duplicate", t.duplicates),
            ("skipped", t.skipped),
            ("failed", t.failed),
        ] {
            let _ = writeln!(out, "alice_outcomes_total{{outcome=\"{k}\"}} {v}");
        }
        let bus = pipeline.bus().stats();
        let _ = writeln!(
            out,
            "# HELP alice_queue_depth Events queued per durable subscriber.\n# TYPE alice_queue_depth gauge"
        );
        for s in &bus.subscribers {
            let _ = writeln!(
                out,
                "alice_queue_depth{{subscriber=\"{}\"}} {}",
                s.name, s.queued
            );
        }
        let _ = writeln!(
            out,
            "# HELP alice_dead_letters_total Events a subscriber gave up on.\n# TYPE alice_dead_letters_total counter"
        );
        for s in &bus.subscribers {
            let _ = writeln!(
                out,
                "alice_dead_letters_total{{subscriber=\"{}\"}} {}",
                s.name, s.dead_lettered
            );
        }
        let _ = writeln!(
            out,
            "# HELP alice_observer_missed_total Events lossy observers missed.\n# TYPE alice_observer_missed_total counter"
        );
        let _ = writeln!(
            out,
            "alice_observer_missed_total {}",
            bus.observers.iter().map(|o| o.missed).sum::<u64>()
        );
        let _ = writeln!(
            out,
            "# TYPE alice_bytes_hashed_total counter\nalice_bytes_hashed_total {}",
            load(&stats.bytes_hashed)
        );
        let _ = writeln!(
            out,
            "# TYPE alice_files_hashed_total counter\nalice_files_hashed_total {}",
            load(&stats.files_hashed)
        );
        let _ = writeln!(
            out,
            "# TYPE alice_identity_cache_hits_total counter\nalice_identity_cache_hits_total {}",
            load(&stats.cache_hits)
        );
        let _ = writeln!(
            out,
            "# TYPE alice_inotify_watches gauge\nalice_inotify_watches {}",
            load(&stats.watches)
        );
        let _ = writeln!(
            out,
            "# HELP alice_redis_spool_events Events waiting in the local spool for Redis (0: Redis not configured).\n# TYPE alice_redis_spool_events gauge\nalice_redis_spool_events {}",
            redis.map_or(0, |w| w.spooled())
        );
        out
    }

    /// Serves `GET /metrics` on `addr`.
    pub async fn serve(
        self,
        addr: SocketAddr,
        pipeline: pipeline::Pipeline,
        stats: tokio::sync::watch::Receiver<Arc<watcher::WatchStats>>,
        redis: Option<Arc<streams::StreamWriter>>,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen for metrics on {addr} (key `metrics.listen`)")
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
