//! The stream writer: batched `XADD`, and a local spool while Redis is unreachable.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::{StreamConfig, redact};
use crate::error::{Error, Result};
use crate::redis_io::connect;
use crate::spool::{Record, Spool};

/// Most events put in one pipeline (and one spool fsync).
const BATCH: usize = 512;
/// Connections writing batches at the same time. Redis reads a client's socket 16 KB per
/// event-loop turn and, with `appendfsync always`, fsyncs once per turn: one connection gets a
/// few dozen events into each fsync, several connections share it.
const LANES: usize = 8;
/// Appends waiting for the background task; a full queue makes `append` wait (backpressure).
const QUEUE: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// While idle, Redis is pinged this often, so an outage is reported (once) even when there
/// is nothing to append; the process's consumer groups stay quiet about it.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Where an appended event went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// In the Redis stream under this entry id.
    Stored {
        /// The stream entry id Redis assigned (`<ms>-<seq>`).
        stream_id: String,
    },
    /// Redis was unreachable (or older spooled events were still waiting): the event is
    /// fsynced in the local spool and will be appended, in order, when Redis is back.
    Spooled,
}

enum Request {
    Append {
        record: Record,
        reply: oneshot::Sender<Result<Appended>>,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
}

#[derive(Default)]
struct Shared {
    connected: AtomicBool,
    spooled: AtomicU64,
    outages: AtomicU64,
}

/// Appends events to `<prefix>:events`, each entry with the fields `type`, `id` and `event`
/// (the full CloudEvents JSON), trimmed with `MAXLEN ~`.
///
/// One background task owns the connections and the spool. Under load it takes whatever is
/// queued (up to 512 events) and sends it as one pipeline, on one of 8 connections, so up to
/// 8 batches are in flight. Order: an `append` that starts after another returned is stored
/// after it; appends running at the same time have no order among themselves.
///
/// When Redis is unreachable, `append` still succeeds: events go to the spool, and while
/// the spool is not empty new events go there too, behind the older ones. The task
/// reconnects with a backoff from 100 ms doubling to 5 s, appends the spool in file order,
/// truncates it, and only then writes directly again. It logs once that Redis is down and
/// once that it is back (with the number of spooled events replayed).
///
/// Delivery is at least once: an `XADD` pipeline that fails half-way, or a crash between
/// the last spooled `XADD` and the spool truncation, can append an event twice. Consumers
/// de-duplicate on the event id.
pub struct StreamWriter {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl StreamWriter {
    /// Opens the spool (appending one left by a previous process before anything new),
    /// tries to connect once, and starts the background task. An unreachable Redis is not an
    /// error here; an invalid URL or an unusable spool directory is.
    pub async fn start(cfg: StreamConfig) -> Result<Self> {
        redis::Client::open(cfg.url.as_str()).map_err(|source| Error::InvalidUrl {
            url: redact(&cfg.url),
            source,
        })?;
        let path = cfg.spool_path();
        let open_path = path.clone();
        let (spool, torn) = tokio::task::spawn_blocking(move || Spool::open(&open_path))
            .await
            .map_err(|_| Error::WriterStopped)?
            .map_err(|source| Error::Spool {
                path: path.clone(),
                op: "open",
                source,
            })?;
        if let Some(bytes) = torn {
            tracing::warn!(
                spool = %path.display(),
                bytes,
                "cut a half-written last spool line left by a crash (its append never returned)"
            );
        }
        let shared = Arc::new(Shared::default());
        shared.spooled.store(spool.count(), Ordering::Relaxed);
        if spool.count() > 0 {
            tracing::info!(
                spool = %path.display(),
                events = spool.count(),
                "spool left by a previous run; appending it to the stream before new events"
            );
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let url = redact(&cfg.url);
        let stream = cfg.stream_key();
        let mut task = Task {
            cfg,
            url,
            stream,
            rx,
            closed: false,
            shared: Arc::clone(&shared),
            up: false,
            idle: Vec::new(),
            busy: JoinSet::new(),
            spool_count: spool.count(),
            spool: Arc::new(Mutex::new(spool)),
            down_logged: false,
            replayed: 0,
            backoff: BACKOFF_MIN,
            next_retry: Instant::now(),
            next_ping: Instant::now() + PING_EVERY,
            flush_waiters: Vec::new(),
        };
        match open_lanes(&task.cfg).await {
            Ok(conns) => task.set_connected(conns),
            Err(e) => task.mark_down(&e).await,
        }
        let task = tokio::spawn(task.run());
        Ok(Self { tx, shared, task })
    }

    /// Appends one event: `id` is the event id, `type_name` its type, `json` the whole
    /// CloudEvents JSON. Returns once the event is in Redis or fsynced in the spool; fails only
    /// if neither is possible (the spool cannot be written) or the writer has stopped.
    pub async fn append(&self, id: &str, type_name: &str, json: &str) -> Result<Appended> {
        let (reply, rx) = oneshot::channel();
        let record = Record {
            id: id.to_owned(),
            type_name: type_name.to_owned(),
            json: json.to_owned(),
        };
        self.tx
            .send(Request::Append { record, reply })
            .await
            .map_err(|_| Error::WriterStopped)?;
        rx.await.map_err(|_| Error::WriterStopped)?
    }

    /// Whether the last contact with Redis succeeded.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Events in the local spool, not yet in Redis.
    pub fn spooled(&self) -> u64 {
        self.shared.spooled.load(Ordering::Relaxed)
    }

    /// How many times Redis went from reachable to unreachable (each logged once).
    pub fn outages(&self) -> u64 {
        self.shared.outages.load(Ordering::Relaxed)
    }

    /// Waits until every event appended before this call is in Redis, or, while Redis is
    /// unreachable, in the spool (check [`spooled`](Self::spooled)).
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::Flush { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops taking events and waits for the background task: queued events are stored or
    /// spooled, and a spool is appended first if Redis is reachable.
    pub async fn close(self) {
        let Self { tx, task, .. } = self;
        drop(tx);
        let _ = task.await;
    }
}

type Reply = oneshot::Sender<Result<Appended>>;

/// A batch written by one lane, handed back to the task with its connection.
struct Done {
    conn: MultiplexedConnection,
    records: Vec<Record>,
    replies: Vec<Reply>,
    result: Result<Vec<String>>,
}

struct Task {
    cfg: StreamConfig,
    url: String,
    stream: String,
    rx: mpsc::Receiver<Request>,
    closed: bool,
    shared: Arc<Shared>,
    /// Whether Redis counts as reachable. While it does, every lane's connection is either
    /// in `idle` or out in `busy`.
    up: bool,
    idle: Vec<MultiplexedConnection>,
    busy: JoinSet<Done>,
    spool: Arc<Mutex<Spool>>,
    /// Mirror of the spool's count, so the loop need not lock to decide.
    spool_count: u64,
    down_logged: bool,
    replayed: u64,
    backoff: Duration,
    next_retry: Instant,
    next_ping: Instant,
    flush_waiters: Vec<oneshot::Sender<()>>,
}

impl Task {
    async fn run(mut self) {
        loop {
            if self.up && self.spool_count > 0 && self.busy.is_empty() {
                self.drain_chunk().await;
                // A long spool must not stall appenders: what they send now goes behind it.
                let mut batch = Vec::new();
                self.fill(&mut batch);
                self.handle(batch).await;
                continue;
            }
            if !self.busy.is_empty() {
                // Flush waiters and the "back" message wait for the batches in flight.
            } else {
                if self.up && (self.down_logged || self.replayed > 0) {
                    if self.down_logged {
                        tracing::info!(url = %self.url, replayed = self.replayed, "Redis reachable again; spooled events appended");
                    } else {
                        tracing::info!(url = %self.url, replayed = self.replayed, "spool from a previous run appended to the stream");
                    }
                    self.down_logged = false;
                    self.replayed = 0;
                }
                for waiter in self.flush_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                if self.closed && (!self.up || self.spool_count == 0) {
                    break;
                }
            }
            // Requests wait in the channel while every lane is busy: the next batch grows.
            let take = !self.closed && (!self.up || !self.idle.is_empty());
            let in_flight = !self.busy.is_empty();
            let down = !self.up;
            tokio::select! {
                req = self.rx.recv(), if take => match req {
                    None => self.closed = true,
                    Some(req) => {
                        let mut batch = vec![req];
                        self.fill(&mut batch);
                        self.handle(batch).await;
                    }
                },
                Some(done) = self.busy.join_next(), if in_flight => self.finish(done).await,
                () = tokio::time::sleep_until(self.next_retry), if down => self.reconnect().await,
                () = tokio::time::sleep_until(self.next_ping), if !down && !in_flight => self.ping().await,
            }
        }
    }

    fn fill(&mut self, batch: &mut Vec<Request>) {
        while batch.len() < BATCH {
            match self.rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Request>) {
        let mut records = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for req in batch {
            match req {
                Request::Append { record, reply } => {
                    records.push(record);
                    replies.push(reply);
                }
                Request::Flush { reply } => self.flush_waiters.push(reply),
            }
        }
        if records.is_empty() {
            return;
        }
        while self.up && self.spool_count == 0 && self.idle.is_empty() {
            match self.busy.join_next().await {
                Some(done) => self.finish(done).await,
                None => break,
            }
        }
        if self.up
            && self.spool_count == 0
            && let Some(mut conn) = self.idle.pop()
        {
            let (stream, maxlen, url) = (
                self.stream.clone(),
                self.cfg.maxlen_approx,
                self.url.clone(),
            );
            self.busy.spawn(async move {
                let result = xadd(&mut conn, &stream, maxlen, &records, &url).await;
                Done {
                    conn,
                    records,
                    replies,
                    result,
                }
            });
            return;
        }
        self.spool_records(records, replies).await;
    }

    async fn finish(&mut self, done: std::result::Result<Done, tokio::task::JoinError>) {
        match done {
            Ok(Done {
                conn,
                replies,
                result: Ok(ids),
                ..
            }) => {
                self.backoff = BACKOFF_MIN;
                if self.up {
                    self.idle.push(conn);
                }
                for (reply, stream_id) in replies.into_iter().zip(ids) {
                    let _ = reply.send(Ok(Appended::Stored { stream_id }));
                }
            }
            Ok(Done {
                records,
                replies,
                result: Err(e),
                ..
            }) => {
                self.mark_down(&e).await;
                self.spool_records(records, replies).await;
            }
            Err(e) => {
                // The batch's appenders get WriterStopped from their dropped reply channel.
                tracing::error!(url = %self.url, error = %e, "a stream write task failed; reconnecting");
                self.stop_writing().await;
            }
        }
    }

    async fn spool_records(&mut self, records: Vec<Record>, replies: Vec<Reply>) {
        let n = records.len() as u64;
        match self.spool_io(move |s| s.append(&records)).await {
            Ok(()) => {
                self.spool_count += n;
                self.shared
                    .spooled
                    .store(self.spool_count, Ordering::Relaxed);
                for reply in replies {
                    let _ = reply.send(Ok(Appended::Spooled));
                }
            }
            Err(e) => {
                let path = self.cfg.spool_path();
                tracing::error!(spool = %path.display(), error = %e, events = n, "cannot spool events while Redis is unreachable");
                for reply in replies {
                    let _ = reply.send(Err(Error::Spool {
                        path: path.clone(),
                        op: "append",
                        source: std::io::Error::new(e.kind(), e.to_string()),
                    }));
                }
            }
        }
    }

    async fn drain_chunk(&mut self) {
        let chunk = match self.spool_io(|s| s.read_chunk(BATCH)).await {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!(spool = %self.cfg.spool_path().display(), error = %e, "cannot read the spool; retrying later");
                self.stop_writing().await;
                return;
            }
        };
        if !chunk.records.is_empty() {
            let Some(conn) = self.idle.last_mut() else {
                self.stop_writing().await;
                return;
            };
            if let Err(e) = xadd(
                conn,
                &self.stream,
                self.cfg.maxlen_approx,
                &chunk.records,
                &self.url,
            )
            .await
            {
                self.mark_down(&e).await;
                return;
            }
        }
        self.backoff = BACKOFF_MIN;
        self.replayed += chunk.records.len() as u64;
        let (offset, lines, at_end) = (chunk.end_offset, chunk.lines, chunk.at_end);
        let result = self
            .spool_io(move |s| {
                s.advance(offset, lines);
                if at_end {
                    s.truncate().map(|()| 0)
                } else {
                    Ok(s.count())
                }
            })
            .await;
        match result {
            Ok(left) => self.spool_count = left,
            Err(e) => {
                tracing::error!(spool = %self.cfg.spool_path().display(), error = %e, "cannot truncate the drained spool; retrying later");
                self.stop_writing().await;
            }
        }
        self.shared
            .spooled
            .store(self.spool_count, Ordering::Relaxed);
    }

    async fn spool_io<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let spool = Arc::clone(&self.spool);
        tokio::task::spawn_blocking(move || {
            let mut guard = spool
                .lock()
                .map_err(|_| std::io::Error::other("spool lock poisoned by an earlier panic"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| std::io::Error::other(format!("spool task failed: {e}")))?
    }

    /// An idle health check on one of the idle connections.
    async fn ping(&mut self) {
        self.next_ping = Instant::now() + PING_EVERY;
        let Some(mut conn) = self.idle.pop() else {
            return;
        };
        match redis::cmd("PING").query_async::<()>(&mut conn).await {
            Ok(()) => self.idle.push(conn),
            Err(source) => {
                let e = Error::Redis {
                    op: "PING",
                    url: self.url.clone(),
                    source,
                };
                self.mark_down(&e).await;
            }
        }
    }

    async fn reconnect(&mut self) {
        match open_lanes(&self.cfg).await {
            Ok(conns) => self.set_connected(conns),
            Err(e) => {
                tracing::debug!(url = %self.url, error = %e, retry_in_ms = self.backoff.as_millis() as u64, "Redis still unreachable");
                self.schedule_retry();
            }
        }
    }

    fn set_connected(&mut self, conns: Vec<MultiplexedConnection>) {
        self.idle = conns;
        self.up = true;
        self.shared.connected.store(true, Ordering::Relaxed);
    }

    async fn mark_down(&mut self, e: &Error) {
        if !self.down_logged {
            tracing::warn!(
                url = %self.url,
                error = %e,
                spooled = self.spool_count,
                spool = %self.cfg.spool_path().display(),
                "Redis unreachable; events go to the local spool until it is back"
            );
            self.down_logged = true;
            self.shared.outages.fetch_add(1, Ordering::Relaxed);
        }
        self.stop_writing().await;
    }

    /// Drops every connection, settles the batches still in flight (those that failed go to
    /// the spool; they were all concurrent with each other, so their order is free), and
    /// retries after the backoff.
    async fn stop_writing(&mut self) {
        self.up = false;
        self.idle.clear();
        self.shared.connected.store(false, Ordering::Relaxed);
        self.schedule_retry();
        while let Some(done) = self.busy.join_next().await {
            match done {
                Ok(Done {
                    replies,
                    result: Ok(ids),
                    ..
                }) => {
                    for (reply, stream_id) in replies.into_iter().zip(ids) {
                        let _ = reply.send(Ok(Appended::Stored { stream_id }));
                    }
                }
                Ok(Done {
                    records, replies, ..
                }) => self.spool_records(records, replies).await,
                Err(e) => {
                    tracing::error!(url = %self.url, error = %e, "a stream write task failed");
                }
            }
        }
    }

    /// The backoff grows until a write succeeds, so a Redis that accepts connections but
    /// fails every write is not hammered either.
    fn schedule_retry(&mut self) {
        self.next_retry = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection per lane.
async fn open_lanes(cfg: &StreamConfig) -> Result<Vec<MultiplexedConnection>> {
    let mut conns = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        conns.push(connect(cfg, cfg.timeout).await?);
    }
    if let Some(conn) = conns.first_mut() {
        for group in &cfg.groups {
            crate::redis_io::create_group(conn, cfg, group, "$").await?;
        }
    }
    Ok(conns)
}

/// One pipeline of `XADD`s; returns the entry ids in order.
async fn xadd(
    conn: &mut MultiplexedConnection,
    stream: &str,
    maxlen: u64,
    records: &[Record],
    url: &str,
) -> Result<Vec<String>> {
    let mut pipe = redis::pipe();
    for r in records {
        let cmd = pipe.cmd("XADD").arg(stream);
        if maxlen > 0 {
            cmd.arg("MAXLEN").arg("~").arg(maxlen);
        }
        cmd.arg("*")
            .arg("type")
            .arg(&r.type_name)
            .arg("id")
            .arg(&r.id)
            .arg("event")
            .arg(&r.json);
    }
    pipe.query_async::<Vec<String>>(conn)
        .await
        .map_err(|source| Error::Redis {
            op: "XADD",
            url: url.to_owned(),
            source,
        })
}
