//! The bus itself: routing table, publishing, registration, stats and shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::handler::{DeadLetter, Handler, SubscriberOptions};
use crate::observer::{Observer, ObserverRoute};
use crate::receipt::{AckToken, Receipt, Tracker};
use crate::subscriber::{DeadLetterSink, Inbox, Item, SubscriberRoute, SubscriberState, Worker};
use crate::{Filter, Message};

/// How long aborted subscriber tasks get to unwind after the drain deadline, so their
/// unfinished message ids can be collected. Only a handler that blocks its thread without
/// yielding needs longer, and then its ids are reported as unknown.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Publishing failed because the bus is shut down (or shutting down). The message was not
/// delivered to every subscriber; keep it with its producer (e.g. leave the file in the inbox)
/// so it is picked up again after restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the event bus is shut down; the event was not (fully) published and should be retried after restart"
)]
pub struct BusClosed;

/// Registering a durable subscriber failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The bus is shut down.
    #[error("cannot subscribe {name:?}: the event bus is shut down")]
    Closed {
        /// Subscriber name.
        name: String,
    },
    /// Another subscriber already uses this name; names identify subscribers in stats, logs
    /// and dead letters, so they must be unique.
    #[error(
        "cannot subscribe {name:?}: a subscriber with that name already exists; pick a unique name"
    )]
    DuplicateName {
        /// Subscriber name.
        name: String,
    },
    /// The capacity is 0 or larger than a tokio semaphore can count.
    #[error("cannot subscribe {name:?}: capacity {capacity} is out of range; use 1..={max}")]
    InvalidCapacity {
        /// Subscriber name.
        name: String,
        /// The rejected capacity.
        capacity: usize,
        /// The largest accepted capacity.
        max: usize,
    },
    /// `max_attempts` is 0, which would never run the handler.
    #[error("cannot subscribe {name:?}: retry max_attempts is 0; use at least 1")]
    InvalidRetry {
        /// Subscriber name.
        name: String,
    },
    /// The subscriber's lane is not below its lane count.
    #[error(
        "cannot subscribe {name:?}: lane {index} of {of} does not exist; use a lane below the count"
    )]
    InvalidShard {
        /// Subscriber name.
        name: String,
        /// The rejected lane.
        index: usize,
        /// The lane count.
        of: usize,
    },
    /// `subscribe` was called outside a tokio runtime, so the subscriber task cannot start.
    #[error(
        "cannot subscribe {name:?}: no tokio runtime is running; call subscribe from inside the runtime"
    )]
    NoRuntime {
        /// Subscriber name.
        name: String,
    },
}

/// Counters of one durable subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Subscriber name.
    pub name: String,
    /// Its queue bound.
    pub capacity: usize,
    /// Messages accepted and not yet finished, including the one being handled.
    pub queued: usize,
    /// Messages handled successfully (acked).
    pub delivered: u64,
    /// Failed handler attempts, retries included.
    pub failed: u64,
    /// Messages given up on after the last attempt.
    pub dead_lettered: u64,
}

/// Counters of one observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverStats {
    /// See [`Observer::id`].
    pub id: u64,
    /// Its buffer size.
    pub capacity: usize,
    /// Messages that reached its buffer.
    pub received: u64,
    /// Messages dropped because its buffer was full.
    pub missed: u64,
}

/// A snapshot of the bus's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusStats {
    /// Whether [`Bus::shutdown`] has been called.
    pub closed: bool,
    /// Every durable subscriber ever registered, in registration order.
    pub subscribers: Vec<SubscriberStats>,
    /// Observers currently registered.
    pub observers: Vec<ObserverStats>,
}

/// What a subscriber left unfinished at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Subscriber name.
    pub subscriber: String,
    /// Messages accepted but neither acked nor dead-lettered (the one being handled included).
    pub unprocessed: usize,
    /// Their ids in queue order; `None` when the subscriber's handler did not yield to let
    /// them be collected.
    pub event_ids: Option<Vec<String>>,
}

/// Result of [`Bus::shutdown`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Subscribers that did not drain before the deadline; empty when all did.
    pub unfinished: Vec<Unfinished>,
}

impl ShutdownReport {
    /// True when every subscriber finished every accepted message.
    pub fn is_clean(&self) -> bool {
        self.unfinished.is_empty()
    }
}

/// Who receives what. Replaced as a whole on (un)registration so that publishing only clones
/// an `Arc` under a briefly held read lock.
pub(crate) struct Routes<M> {
    subscribers: Vec<Arc<SubscriberRoute<M>>>,
    /// `subscribers` as publishing visits them, in registration order: the lanes of one
    /// sharded stage are one target, so a message is matched against its filter once and
    /// goes straight to its lane (a stage of 1,024 lanes costs a publish one look, not 1,024).
    targets: Vec<Target>,
    observers: Vec<Arc<ObserverRoute<M>>>,
}

/// Where publishing looks: one subscriber, or the lanes of a sharded one (indexes into
/// [`Routes::subscribers`]).
#[derive(Clone)]
enum Target {
    One(usize),
    Lanes {
        of: usize,
        filter: Filter,
        lanes: Vec<Option<usize>>,
    },
}

/// The runtime a subscriber's task starts on.
fn runtime_for(name: &str) -> Result<tokio::runtime::Handle, SubscribeError> {
    tokio::runtime::Handle::try_current().map_err(|_| SubscribeError::NoRuntime {
        name: name.to_owned(),
    })
}

impl<M: Message> Routes<M> {
    fn empty() -> Routes<M> {
        Routes {
            subscribers: Vec::new(),
            targets: Vec::new(),
            observers: Vec::new(),
        }
    }

    fn add(&mut self, route: Arc<SubscriberRoute<M>>) {
        let index = self.subscribers.len();
        let target = match route.shard {
            Some(shard) => {
                // Only the target registered last: a stage's lanes come one after another, and
                // a lane never joins an earlier subscriber's target (which would change the
                // order in which publishing reaches subscribers).
                let joined = match self.targets.last_mut() {
                    Some(Target::Lanes { of, filter, lanes })
                        if *of == shard.of
                            && *filter == route.filter
                            && lanes.get(shard.index) == Some(&None) =>
                    {
                        Some(lanes)
                    }
                    _ => None,
                };
                match joined {
                    Some(lanes) => {
                        lanes[shard.index] = Some(index);
                        None
                    }
                    None => {
                        let mut lanes = vec![None; shard.of];
                        if let Some(slot) = lanes.get_mut(shard.index) {
                            *slot = Some(index);
                        }
                        Some(Target::Lanes {
                            of: shard.of,
                            filter: route.filter.clone(),
                            lanes,
                        })
                    }
                }
            }
            None => Some(Target::One(index)),
        };
        self.targets.extend(target);
        self.subscribers.push(route);
    }

    /// The subscribers `message` goes to, in registration order.
    fn recipients<'a>(
        &'a self,
        message: &'a M,
    ) -> impl Iterator<Item = &'a Arc<SubscriberRoute<M>>> + 'a {
        self.targets.iter().filter_map(move |t| match t {
            Target::One(i) => Some(&self.subscribers[*i]).filter(|s| s.wants(message)),
            Target::Lanes { of, filter, lanes } => {
                if !filter.matches(message) {
                    return None;
                }
                let lane = message.shard(*of);
                lanes
                    .get(lane)
                    .copied()
                    .flatten()
                    .map(|i| &self.subscribers[i])
            }
        })
    }
}

struct Registered {
    state: Arc<SubscriberState>,
    task: Option<JoinHandle<()>>,
}

pub(crate) struct Shared<M> {
    closed: AtomicBool,
    routes: RwLock<Arc<Routes<M>>>,
    /// Registration and shutdown serialize on this lock.
    registry: Mutex<Vec<Registered>>,
    next_observer: AtomicU64,
    sink: Option<DeadLetterSink<M>>,
    defaults: SubscriberOptions,
}

impl<M: Message> Shared<M> {
    fn routes(&self) -> Arc<Routes<M>> {
        Arc::clone(&self.routes.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn update_routes(&self, change: impl FnOnce(&mut Routes<M>)) {
        let mut guard = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = Routes {
            subscribers: guard.subscribers.clone(),
            targets: guard.targets.clone(),
            observers: guard.observers.clone(),
        };
        change(&mut next);
        *guard = Arc::new(next);
    }

    pub(crate) fn remove_observer(&self, id: u64) {
        self.update_routes(|routes| routes.observers.retain(|o| o.id != id));
    }
}

/// Configures a [`Bus`] before it is built.
pub struct BusBuilder<M: Message> {
    sink: Option<DeadLetterSink<M>>,
    defaults: SubscriberOptions,
}

impl<M: Message> BusBuilder<M> {
    /// Calls `sink` with every dead letter, on the failing subscriber's task (keep it quick:
    /// the subscriber waits for it). A panicking sink is caught and logged.
    pub fn dead_letter_sink(
        mut self,
        sink: impl Fn(DeadLetter<M>) + Send + Sync + 'static,
    ) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Options used by [`Bus::subscribe`].
    pub fn subscriber_defaults(mut self, options: SubscriberOptions) -> Self {
        self.defaults = options;
        self
    }

    /// Builds the bus.
    pub fn build(self) -> Bus<M> {
        Bus {
            shared: Arc::new(Shared {
                closed: AtomicBool::new(false),
                routes: RwLock::new(Arc::new(Routes::empty())),
                registry: Mutex::new(Vec::new()),
                next_observer: AtomicU64::new(1),
                sink: self.sink,
                defaults: self.defaults,
            }),
        }
    }
}

/// The in-process event bus. Cheap to clone; every clone is the same bus.
///
/// See the [crate documentation](crate) for the delivery guarantees.
pub struct Bus<M: Message> {
    shared: Arc<Shared<M>>,
}

impl<M: Message> Clone for Bus<M> {
    fn clone(&self) -> Self {
        Bus {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Message> Default for Bus<M> {
    fn default() -> Self {
        Bus::new()
    }
}

impl<M: Message> std::fmt::Debug for Bus<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<M: Message> Bus<M> {
    /// A bus with default subscriber options and no dead-letter sink (dead letters are logged).
    pub fn new() -> Bus<M> {
        Bus::builder().build()
    }

    /// Starts configuring a bus.
    pub fn builder() -> BusBuilder<M> {
        BusBuilder {
            sink: None,
            defaults: SubscriberOptions::default(),
        }
    }

    /// Registers a durable subscriber with the bus's default options. See
    /// [`Bus::subscribe_with`].
    pub fn subscribe<H: Handler<M>>(
        &self,
        name: impl Into<String>,
        filter: Filter,
        handler: H,
    ) -> Result<(), SubscribeError> {
        self.subscribe_with(name, filter, self.shared.defaults.clone(), handler)
    }

    /// Registers a durable subscriber and starts its task on the current tokio runtime.
    ///
    /// It receives every matching message published after this call returns, in publish
    /// order, one at a time.
    pub fn subscribe_with<H: Handler<M>>(
        &self,
        name: impl Into<String>,
        filter: Filter,
        options: SubscriberOptions,
        handler: H,
    ) -> Result<(), SubscribeError> {
        let name = name.into();
        let runtime = runtime_for(&name)?;
        let mut registry = self.registry_open(&name)?;
        if registry.iter().any(|r| *r.state.name == *name) {
            return Err(SubscribeError::DuplicateName { name });
        }
        let capacity = options.capacity;
        let route = self.start(&mut registry, &runtime, name, &filter, options, handler)?;
        tracing::debug!(subscriber = %route.state.name, capacity, filter = ?filter, "subscriber registered");
        self.shared.update_routes(|routes| routes.add(route));
        Ok(())
    }

    /// Registers the `lanes` lanes of a sharded subscriber, `{stage}-0` … `{stage}-{lanes-1}`,
    /// lane `i` handled by `handler(i)` with `options` and [`SubscriberOptions::shard`] set
    /// to its lane. Like [`Bus::subscribe_with`] once per lane, but the lanes start receiving
    /// together and registering them costs the same for each lane however many there are.
    pub fn subscribe_lanes<H: Handler<M>>(
        &self,
        stage: &str,
        filter: Filter,
        lanes: usize,
        options: SubscriberOptions,
        mut handler: impl FnMut(usize) -> H,
    ) -> Result<(), SubscribeError> {
        let runtime = runtime_for(stage)?;
        let mut registry = self.registry_open(stage)?;
        let taken: std::collections::HashSet<Arc<str>> =
            registry.iter().map(|r| Arc::clone(&r.state.name)).collect();
        let names: Vec<String> = (0..lanes).map(|i| format!("{stage}-{i}")).collect();
        if let Some(name) = names.iter().find(|n| taken.contains(n.as_str())) {
            return Err(SubscribeError::DuplicateName { name: name.clone() });
        }
        let mut routes = Vec::with_capacity(lanes);
        for (index, name) in names.into_iter().enumerate() {
            let opts = SubscriberOptions {
                shard: Some(crate::Shard { index, of: lanes }),
                ..options.clone()
            };
            routes.push(self.start(
                &mut registry,
                &runtime,
                name,
                &filter,
                opts,
                handler(index),
            )?);
        }
        self.shared
            .update_routes(|r| routes.into_iter().for_each(|route| r.add(route)));
        tracing::debug!(subscriber = stage, lanes, capacity = options.capacity, filter = ?filter, "subscriber registered as lanes");
        Ok(())
    }

    /// The registry, locked, unless the bus is shut down.
    fn registry_open(&self, name: &str) -> Result<MutexGuard<'_, Vec<Registered>>, SubscribeError> {
        let registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::Closed {
                name: name.to_owned(),
            });
        }
        Ok(registry)
    }

    /// Checks `options`, starts the subscriber's task and records it in `registry`; the
    /// caller adds the returned route (the subscriber receives nothing before).
    fn start<H: Handler<M>>(
        &self,
        registry: &mut Vec<Registered>,
        runtime: &tokio::runtime::Handle,
        name: String,
        filter: &Filter,
        options: SubscriberOptions,
        handler: H,
    ) -> Result<Arc<SubscriberRoute<M>>, SubscribeError> {
        if options.capacity == 0 || options.capacity > Semaphore::MAX_PERMITS {
            return Err(SubscribeError::InvalidCapacity {
                name,
                capacity: options.capacity,
                max: Semaphore::MAX_PERMITS,
            });
        }
        if options.retry.max_attempts == 0 {
            return Err(SubscribeError::InvalidRetry { name });
        }
        if let Some(shard) = options.shard
            && shard.index >= shard.of
        {
            return Err(SubscribeError::InvalidShard {
                name,
                index: shard.index,
                of: shard.of,
            });
        }
        let state = Arc::new(SubscriberState::new(
            Arc::from(name.as_str()),
            options.capacity,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            state: Arc::clone(&state),
            handler,
            retry: options.retry,
            sink: self.shared.sink.clone(),
        };
        let task = runtime.spawn(worker.run(Inbox::new(rx, Arc::clone(&state))));
        registry.push(Registered {
            state: Arc::clone(&state),
            task: Some(task),
        });
        Ok(Arc::new(SubscriberRoute {
            filter: filter.clone(),
            shard: options.shard,
            tx,
            state,
        }))
    }

    /// Registers a lossy observer with a buffer of `capacity` messages (at least 1; larger
    /// values than a tokio channel supports are reduced to its maximum).
    ///
    /// After shutdown the observer is returned already ended.
    pub fn observe(&self, filter: Filter, capacity: usize) -> Observer<M> {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let id = self.shared.next_observer.fetch_add(1, Ordering::Relaxed);
        let (observer, route) = Observer::new(id, filter, capacity, Arc::downgrade(&self.shared));
        // Holding the registry lock orders this against shutdown clearing the routes.
        let _registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.shared.closed.load(Ordering::Acquire) {
            let route = Arc::new(route);
            self.shared
                .update_routes(|routes| routes.observers.push(route));
        }
        observer
    }

    /// Publishes `message` to every matching durable subscriber and observer.
    ///
    /// Resolves once the message is queued for every matching durable subscriber, waiting for
    /// room where a queue is full (backpressure); it does not wait for handlers. Messages
    /// published one after another by the same task reach each subscriber in that order.
    /// Cancelling the future part-way may leave the message queued for some subscribers only.
    pub async fn publish(&self, message: M) -> Result<(), BusClosed> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(BusClosed);
        }
        let routes = self.shared.routes();
        for subscriber in routes.recipients(&message) {
            subscriber
                .enqueue(Item {
                    message: message.clone(),
                    ack: None,
                })
                .await?;
        }
        offer_to_observers(&routes, &message);
        Ok(())
    }

    /// Like [`Bus::publish`], and returns a [`Receipt`] that resolves once every matching
    /// durable subscriber has finished the message (acked, dead-lettered or abandoned).
    pub async fn publish_tracked(&self, message: M) -> Result<Receipt, BusClosed> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(BusClosed);
        }
        let routes = self.shared.routes();
        let (tracker, receipt) = Tracker::new(message.id());
        for subscriber in routes.recipients(&message) {
            let token = AckToken::new(Arc::clone(&tracker), Arc::clone(&subscriber.state.name));
            subscriber
                .enqueue(Item {
                    message: message.clone(),
                    ack: Some(token),
                })
                .await?;
        }
        offer_to_observers(&routes, &message);
        Ok(receipt)
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> BusStats {
        let subscribers = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| SubscriberStats {
                name: r.state.name.to_string(),
                capacity: r.state.capacity,
                queued: r.state.queued(),
                delivered: r.state.delivered.load(Ordering::Relaxed),
                failed: r.state.failed.load(Ordering::Relaxed),
                dead_lettered: r.state.dead_lettered.load(Ordering::Relaxed),
            })
            .collect();
        let observers = self
            .shared
            .routes()
            .observers
            .iter()
            .map(|o| ObserverStats {
                id: o.id,
                capacity: o.capacity,
                received: o.counters.received.load(Ordering::Relaxed),
                missed: o.counters.missed.load(Ordering::Relaxed),
            })
            .collect();
        BusStats {
            closed: self.shared.closed.load(Ordering::Acquire),
            subscribers,
            observers,
        }
    }

    /// Stops intake and drains.
    ///
    /// From now on `publish` returns [`BusClosed`] (publishers waiting for room get it too).
    /// Subscribers keep handling what they already accepted until `deadline` has passed;
    /// those still busy then are stopped, and the report lists what each left unfinished.
    /// Observers end once their buffers are read. Calling it again returns an empty report.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let deadline = Instant::now() + deadline;
        let draining: Vec<(Arc<SubscriberState>, JoinHandle<()>)> = {
            let mut registry = self
                .shared
                .registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.closed.store(true, Ordering::Release);
            for registered in registry.iter() {
                registered.state.room.close();
            }
            // Dropping the routes drops the queue senders: each subscriber ends once its queue
            // is empty (publishers still holding a snapshot finish or fail within a moment).
            self.shared
                .update_routes(|routes| *routes = Routes::empty());
            registry
                .iter_mut()
                .filter_map(|r| Some((Arc::clone(&r.state), r.task.take()?)))
                .collect()
        };
        if draining.is_empty() {
            return ShutdownReport::default();
        }
        tracing::debug!(
            subscribers = draining.len(),
            "bus shutting down; draining subscribers"
        );

        let mut late = Vec::new();
        for (state, mut task) in draining {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                late.push((state, task));
            }
        }

        let grace = Instant::now() + ABORT_GRACE;
        let mut report = ShutdownReport::default();
        for (state, task) in late {
            let stopped = tokio::time::timeout_at(grace, task).await.is_ok();
            let event_ids = if stopped {
                state.take_abandoned()
            } else {
                None
            };
            let unprocessed = match &event_ids {
                Some(ids) => ids.len(),
                None => state.queued(),
            };
            if unprocessed == 0 {
                continue;
            }
            tracing::warn!(
                subscriber = %state.name,
                unprocessed,
                ids_known = event_ids.is_some(),
                "subscriber did not drain before the shutdown deadline"
            );
            report.unfinished.push(Unfinished {
                subscriber: state.name.to_string(),
                unprocessed,
                event_ids,
            });
        }
        if report.is_clean() {
            tracing::debug!("bus shut down");
        } else {
            tracing::info!(clean = false, "bus shut down with events left");
        }
        report
    }
}

fn offer_to_observers<M: Message>(routes: &Routes<M>, message: &M) {
    for observer in &routes.observers {
        if observer.filter.matches(message) {
            observer.offer(message);
        }
    }
}
