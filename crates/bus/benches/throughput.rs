//! Fan-out throughput: one publisher, three durable subscribers with trivial handlers,
//! against the same fan-out written directly with bounded tokio channels.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bus::{Bus, Filter, HandlerError, Message, SubscriberOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::{Semaphore, mpsc};

/// Events per measured iteration.
const BATCH: u64 = 10_000;
const SUBSCRIBERS: usize = 3;
const CAPACITY: usize = 1024;

/// Shaped like the CloudEvents envelope the daemon carries, shared behind an `Arc`.
#[derive(Clone)]
struct Envelope {
    id: String,
    source: String,
    type_name: &'static str,
    category: &'static str,
    time: String,
    subject: String,
    data: Vec<u8>,
}

impl Message for Envelope {
    fn id(&self) -> &str {
        &self.id
    }
    fn type_name(&self) -> &str {
        self.type_name
    }
    fn category(&self) -> &str {
        self.category
    }
}

fn events() -> Vec<Arc<Envelope>> {
    (0..BATCH)
        .map(|n| {
            Arc::new(Envelope {
                id: format!("0190f5c2-7d1e-7000-8000-{n:012}"),
                source: "alice/watcher".to_owned(),
                type_name: "alice.asset.discovered.v1",
                category: "asset",
                time: "2024-03-15T12:00:00Z".to_owned(),
                subject: format!("/home/user/inbox/image-{n}.png"),
                data: vec![0u8; 256],
            })
        })
        .collect()
}

/// Counts handled events; adds one permit to `done` after every full batch so the
/// publisher can wait for all consumers to catch up.
struct Sink {
    handled: AtomicU64,
    done: Arc<Semaphore>,
}

impl Sink {
    fn handle(&self, event: &Envelope) {
        std::hint::black_box(
            event.source.len() + event.time.len() + event.subject.len() + event.data.len(),
        );
        if (self.handled.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(BATCH) {
            self.done.add_permits(1);
        }
    }
}

fn fan_out(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("cannot start tokio runtime: {error}"),
    };
    let events = events();

    let mut group = c.benchmark_group("fan_out_1_to_3");
    group.throughput(Throughput::Elements(BATCH));

    let bus_done = Arc::new(Semaphore::new(0));
    let bus: Bus<Arc<Envelope>> = runtime.block_on(async {
        let bus = Bus::new();
        for n in 0..SUBSCRIBERS {
            let sink = Arc::new(Sink {
                handled: AtomicU64::new(0),
                done: Arc::clone(&bus_done),
            });
            let options = SubscriberOptions {
                capacity: CAPACITY,
                ..SubscriberOptions::default()
            };
            let subscribed = bus.subscribe_with(
                format!("sub-{n}"),
                Filter::All,
                options,
                move |event: Arc<Envelope>| {
                    sink.handle(&event);
                    std::future::ready(Ok::<(), HandlerError>(()))
                },
            );
            if let Err(error) = subscribed {
                panic!("subscribe failed: {error}");
            }
        }
        bus
    });
    group.bench_function("bus", |b| {
        b.to_async(&runtime).iter(|| async {
            for event in &events {
                if bus.publish(Arc::clone(event)).await.is_err() {
                    panic!("bus closed during benchmark");
                }
            }
            wait_for_consumers(&bus_done).await;
        })
    });

    let raw_done = Arc::new(Semaphore::new(0));
    let senders = runtime.block_on(raw_consumers(&raw_done));
    // The plain way to fan out with bounded channels: await every send.
    group.bench_function("raw_mpsc", |b| {
        b.to_async(&runtime).iter(|| async {
            for event in &events {
                for tx in &senders {
                    if tx.send(Arc::clone(event)).await.is_err() {
                        panic!("consumer stopped during benchmark");
                    }
                }
            }
            wait_for_consumers(&raw_done).await;
        })
    });
    // The fastest way: try_send, awaiting only when a channel is full. The bus takes its
    // queue room the same way.
    group.bench_function("raw_mpsc_try_send", |b| {
        b.to_async(&runtime).iter(|| async {
            for event in &events {
                for tx in &senders {
                    let sent = match tx.try_send(Arc::clone(event)) {
                        Ok(()) => Ok(()),
                        Err(mpsc::error::TrySendError::Full(event)) => {
                            tx.send(event).await.map_err(|_| ())
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
                    };
                    if sent.is_err() {
                        panic!("consumer stopped during benchmark");
                    }
                }
            }
            wait_for_consumers(&raw_done).await;
        })
    });
    group.finish();
}

/// Three consumers draining bounded channels in batches, like the bus's subscribers do.
async fn raw_consumers(done: &Arc<Semaphore>) -> Vec<mpsc::Sender<Arc<Envelope>>> {
    (0..SUBSCRIBERS)
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<Arc<Envelope>>(CAPACITY);
            let sink = Sink {
                handled: AtomicU64::new(0),
                done: Arc::clone(done),
            };
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(128);
                while rx.recv_many(&mut batch, 128).await > 0 {
                    for event in batch.drain(..) {
                        sink.handle(&event);
                    }
                }
            });
            tx
        })
        .collect()
}

async fn wait_for_consumers(done: &Semaphore) {
    match done.acquire_many(SUBSCRIBERS as u32).await {
        Ok(permits) => permits.forget(),
        Err(_) => panic!("done semaphore closed"),
    }
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
