//! Placements in batches: many files journaled in one transaction, copied or renamed, made
//! durable by one barrier, and recorded in **one** transaction; only then are move-mode
//! sources removed.
//!
//! A batch holds **units**, each a list of files placed together (today the organizer sends
//! one file per unit). Per batch:
//! 1. Journal every file as a pending operation (`Catalog::begin_ops`, one fsync).
//! 2. Stage every file (`organizer::stage_beneath`, a few at a time in parallel): copies are
//!    written and verified in temporaries; moves on one filesystem are renamed.
//! 3. Barrier: one `syncfs` per destination filesystem makes the copies' data durable; then
//!    the temporaries are renamed into place (no-replace) and a second `syncfs` makes every
//!    new name durable (moves: only this one).
//! 4. One transaction settles every operation (`Catalog::settle_ops`): placed files are
//!    recorded (the asset marked organized), failed ones abandoned.
//! 5. Move mode, files placed by copy: the sources are removed.
//!
//! A crash before 4 leaves pending operations: start-up recovery (`crate::recover`) finds
//! each placed file by content and records it, so nothing is placed twice; an unplaced one is
//! abandoned and its file, still in the inbox, is found by the start-up scan.
//!
//! A batch closes when it reaches its limits ([`BatchLimits`]), or when no organizer shard
//! is still preparing a unit (so a file dropped alone is placed at once), or after
//! `window` at most.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use catalog::{Catalog, CatalogError, NewOp, OpKind, Settle};
use events::OrganizeMode;
use events::media::MediaInfo;
use organizer::{Outcome, PlaceBeneath, Placement, Root, Staged};
use tokio::sync::oneshot;

use crate::transfer::{TransferError, open_roots};
use crate::writer::EventWriter;

/// How large a batch may grow, and how long it may wait for more units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most files in one batch.
    pub files: usize,
    /// Most bytes in one batch (a batch always takes at least one unit).
    pub bytes: u64,
    /// Longest a batch stays open waiting for units still being prepared.
    pub window: Duration,
}

impl Default for BatchLimits {
    /// 1,024 files, 256 MiB, 20 ms.
    fn default() -> BatchLimits {
        BatchLimits {
            files: 1024,
            bytes: 256 << 20,
            window: Duration::from_millis(20),
        }
    }
}

/// A test-only fault: where a batch stops the process (`std::process::abort`), to check that
/// recovery completes what it left. Set by the binary from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never.
    None = 0,
    /// After the durability barrier, before the catalog transaction that records the batch.
    AfterBarrier = 1,
}

static FAULT: AtomicU8 = AtomicU8::new(0);

/// Arms a test-only fault for this process.
pub fn set_fault(fault: Fault) {
    FAULT.store(fault as u8, Ordering::Relaxed);
}

/// One file of a unit.
#[derive(Debug, Clone)]
pub struct UnitFile {
    /// The asset whose file it is.
    pub asset_id: String,
    /// What the operation is, for the journal.
    pub kind: OpKind,
    /// The folder the source lies beneath (its inbox).
    pub source_root: PathBuf,
    /// The file's current path.
    pub source: PathBuf,
    /// The root it goes under.
    pub dest_root: PathBuf,
    /// Its planned path below `dest_root`.
    pub relative: PathBuf,
    /// The size that was hashed.
    pub size: u64,
    /// Copy or move.
    pub mode: OrganizeMode,
    /// The source's identity when it was hashed, if it tells every later change
    /// (`AssetDiscovered::hashed_as`): then a move does not read the file again.
    pub hashed_as: Option<events::FileIdentity>,
    /// What to record once it is placed.
    pub record: Record,
}

/// What the catalog records for a placed file.
#[derive(Debug, Clone)]
pub enum Record {
    /// The asset is organized at the destination.
    Organized {
        /// Project filed under.
        project: String,
        /// Source label filed under.
        source: String,
        /// Active style, if any.
        style: Option<String>,
        /// The metadata.
        media: Box<MediaInfo>,
    },
    /// Only the operation is finished (a file set aside, a sidecar).
    Finished,
}

/// Files placed together; the results come back in the same order.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The files, in the order they are placed.
    pub files: Vec<UnitFile>,
}

/// Placement threads. Two, so that one batch is copied while the other waits for its
/// barrier: the disk and the processors both keep working.
const PLACERS: usize = 2;

type Reply = oneshot::Sender<Vec<Result<Placement, TransferError>>>;

struct Queue {
    units: Vec<(Unit, Reply)>,
    preparing: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    cond: Condvar,
    limits: Mutex<BatchLimits>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The placement batcher: [`PLACERS`] threads that carry out batches of units.
#[derive(Clone)]
pub(crate) struct Batcher {
    shared: Arc<Shared>,
}

/// Held while a shard prepares a unit it may submit: a batch waits (up to its window) for
/// units still being prepared.
pub(crate) struct Preparing {
    shared: Arc<Shared>,
}

impl Drop for Preparing {
    fn drop(&mut self) {
        self.shared.lock().preparing -= 1;
        self.shared.cond.notify_all();
    }
}

impl Batcher {
    pub(crate) fn start(
        catalog: Arc<Catalog>,
        writer: EventWriter,
        limits: BatchLimits,
    ) -> Batcher {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                units: Vec::new(),
                preparing: 0,
                closed: false,
            }),
            cond: Condvar::new(),
            limits: Mutex::new(limits),
        });
        for n in 0..PLACERS {
            let (s, catalog, writer) = (shared.clone(), catalog.clone(), writer.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("alice-placer-{n}"))
                .spawn(move || {
                    let _stopped = Stopped(s.clone());
                    while let Some(batch) = next_batch(&s) {
                        // What the catalog stage was handed about these files (their
                        // discoveries and metadata) is committed before they are journaled:
                        // recovery records an interrupted placement from it.
                        if let Err(e) = writer.flush_blocking() {
                            tracing::warn!(error = %e, "cannot commit the catalog's queued events before a batch");
                        }
                        run_batch(&catalog, batch);
                    }
                });
            if let Err(e) = spawned {
                // Every submit then reports the failure (critical: the daemon stops).
                tracing::error!(error = %e, "cannot start a placement thread");
                shared.lock().closed = true;
            }
        }
        Batcher { shared }
    }

    /// Applies new limits to the next batches.
    pub(crate) fn set_limits(&self, limits: BatchLimits) {
        *self
            .shared
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// Announces a unit being prepared (see [`Preparing`]).
    pub(crate) fn preparing(&self) -> Preparing {
        self.shared.lock().preparing += 1;
        Preparing {
            shared: self.shared.clone(),
        }
    }

    /// Places `unit` in the next batch; returns each file's result once the batch is
    /// recorded (and, in move mode, its sources removed).
    pub(crate) async fn place(
        &self,
        unit: Unit,
        prepared: Preparing,
    ) -> Result<Vec<Result<Placement, TransferError>>, crate::PipelineError> {
        let (reply, wait) = oneshot::channel();
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(crate::PipelineError::PlacerStopped);
            }
            q.units.push((unit, reply));
        }
        drop(prepared);
        self.shared.cond.notify_all();
        wait.await.map_err(|_| crate::PipelineError::PlacerStopped)
    }

    /// Lets the thread finish the queued units and end.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.cond.notify_all();
    }
}

/// Marks the batcher closed when its thread ends, however it ends: queued units get their
/// replies dropped (an error) and later ones are refused, instead of waiting forever.
struct Stopped(Arc<Shared>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.closed = true;
        q.units.clear();
    }
}

/// Waits for the next batch: at least one unit, then more while within the limits, some
/// shard is still preparing one, and the window lasts.
fn next_batch(s: &Shared) -> Option<Vec<(Unit, Reply)>> {
    let limits = *s.limits.lock().unwrap_or_else(PoisonError::into_inner);
    let mut q = s.lock();
    // The other placement thread may take the units while this one waits: start over then.
    while q.units.is_empty() {
        while q.units.is_empty() {
            if q.closed {
                return None;
            }
            q = s.cond.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
        let opened = Instant::now();
        loop {
            let (files, bytes) = size_of(&q.units);
            let left = limits.window.saturating_sub(opened.elapsed());
            if files >= limits.files
                || bytes >= limits.bytes
                || q.preparing == 0
                || left.is_zero()
                || files == 0
            {
                break;
            }
            q = s
                .cond
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
    let (mut files, mut bytes, mut take) = (0usize, 0u64, 0usize);
    for (unit, _) in &q.units {
        let (f, b) = (
            unit.files.len(),
            unit.files.iter().map(|f| f.size).sum::<u64>(),
        );
        if take > 0 && (files + f > limits.files || bytes + b > limits.bytes) {
            break;
        }
        (files, bytes, take) = (files + f, bytes + b, take + 1);
    }
    Some(q.units.drain(..take).collect())
}

fn size_of(units: &[(Unit, Reply)]) -> (usize, u64) {
    units.iter().fold((0, 0), |(n, b), (u, _)| {
        (
            n + u.files.len(),
            b + u.files.iter().map(|f| f.size).sum::<u64>(),
        )
    })
}

/// A file of the batch on its way: its operation, and where placing it stands.
struct InFlight<'a> {
    file: &'a UnitFile,
    op_id: i64,
    state: Result<Step, TransferError>,
}

enum Step {
    Staged(Staged, Arc<Root>, Arc<Root>),
    Placed(Placement, Arc<Root>, Arc<Root>),
}

fn run_batch(catalog: &Catalog, batch: Vec<(Unit, Reply)>) {
    let files: Vec<&UnitFile> = batch.iter().flat_map(|(u, _)| &u.files).collect();
    let planned: Vec<PathBuf> = files
        .iter()
        .map(|f| f.dest_root.join(&f.relative))
        .collect();
    let new_ops: Vec<NewOp<'_>> = files
        .iter()
        .zip(&planned)
        .map(|(f, destination)| NewOp {
            asset_id: &f.asset_id,
            kind: f.kind,
            source: &f.source,
            destination,
            mode: f.mode.into(),
        })
        .collect();
    let mut results = match catalog.begin_ops(&new_ops) {
        Ok(ids) => place_batch(catalog, &files, &ids),
        Err(e) => {
            let text = format!("journaling the batch: {e}");
            files
                .iter()
                .map(|_| Err(TransferError::Batch(text.clone())))
                .collect()
        }
    }
    .into_iter();
    for (unit, reply) in batch {
        let mine: Vec<_> = results.by_ref().take(unit.files.len()).collect();
        let _ = reply.send(mine);
    }
}

/// Steps 2 to 5 for journaled files.
fn place_batch(
    catalog: &Catalog,
    files: &[&UnitFile],
    op_ids: &[i64],
) -> Vec<Result<Placement, TransferError>> {
    let mut flight: Vec<InFlight<'_>> = stage_all(files, op_ids);
    barrier(&mut flight, |s| s.needs_data_sync());
    let mut flight: Vec<InFlight<'_>> = flight
        .into_iter()
        .map(|f| InFlight {
            state: f.state.and_then(|step| match step {
                Step::Staged(staged, src, dst) => staged
                    .finish()
                    .map(|done| Step::Placed(done.placement, src, dst))
                    .map_err(TransferError::Place),
                placed => Ok(placed),
            }),
            ..f
        })
        .collect();
    barrier(&mut flight, |_| true);
    if FAULT.load(Ordering::Relaxed) == Fault::AfterBarrier as u8 {
        tracing::error!(
            files = flight.len(),
            "test fault: stopping between the barrier and the catalog commit"
        );
        std::process::abort();
    }
    settle(catalog, &mut flight);
    flight
        .into_iter()
        .map(|f| {
            let (placement, src, dst) = match f.state? {
                Step::Placed(p, src, dst) => (p, src, dst),
                Step::Staged(..) => return Err(TransferError::Batch("not placed".into())),
            };
            // After a rename the source is already gone (removal says so); a placement that
            // found the source itself (the same path) must not delete it.
            if f.file.mode == OrganizeMode::Move && placement.destination != f.file.source {
                organizer::remove_source_beneath(&src, &f.file.source, &dst, &placement)
                    .map_err(TransferError::RemoveSource)?;
            }
            Ok(placement)
        })
        .collect()
}

/// Stages every file, a few at a time in parallel (copies hash and write).
fn stage_all<'a>(files: &[&'a UnitFile], op_ids: &[i64]) -> Vec<InFlight<'a>> {
    let workers = files.len().clamp(1, 4);
    let chunk = files.len().div_ceil(workers).max(1);
    let staged: Vec<Result<Step, TransferError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut roots = Roots::default();
                    part.iter()
                        .map(|f| stage_one(f, &mut roots))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    (0..chunk)
                        .map(|_| Err(TransferError::Batch("a placement thread panicked".into())))
                        .collect()
                })
            })
            .collect()
    });
    files
        .iter()
        .zip(op_ids)
        .zip(staged)
        .map(|((file, op_id), state)| InFlight {
            file,
            op_id: *op_id,
            state,
        })
        .collect()
}

/// The roots a placement thread opened, by path: a batch's files share a few (their inboxes,
/// the organized tree), each opened once per batch instead of once per file.
#[derive(Default)]
struct Roots(Vec<((PathBuf, PathBuf), RootPair)>);

/// A file's source root and destination root.
type RootPair = (Arc<Root>, Arc<Root>);

impl Roots {
    fn of(&mut self, f: &UnitFile) -> Result<RootPair, TransferError> {
        let found = self
            .0
            .iter()
            .find(|((s, d), _)| *s == f.source_root && *d == f.dest_root);
        if let Some((_, (src, dst))) = found {
            return Ok((src.clone(), dst.clone()));
        }
        let (src, dst) = open_roots(&f.source_root, &f.dest_root).map_err(TransferError::Place)?;
        let pair = (Arc::new(src), Arc::new(dst));
        self.0
            .push(((f.source_root.clone(), f.dest_root.clone()), pair.clone()));
        Ok(pair)
    }
}

fn stage_one(f: &UnitFile, roots: &mut Roots) -> Result<Step, TransferError> {
    let (src, dst) = roots.of(f)?;
    let staged = organizer::stage_beneath(&PlaceBeneath {
        source_root: &src,
        source: &f.source,
        dest_root: &dst,
        relative: &f.relative,
        asset_id: &f.asset_id,
        expected_size: f.size,
        mode: f.mode,
        hashed_as: f.hashed_as,
    })
    .map_err(TransferError::Place)?;
    Ok(Step::Staged(staged, src, dst))
}

/// One `syncfs` per destination filesystem among the files `wanted` selects; a failure fails
/// those files (their temporaries are removed, their operations abandoned).
fn barrier(flight: &mut [InFlight<'_>], wanted: impl Fn(&Staged) -> bool) {
    let mut synced: Vec<(u64, Result<(), String>)> = Vec::new();
    for f in flight.iter_mut() {
        let (dst, needed) = match &f.state {
            Ok(Step::Staged(s, _, dst)) => (dst, wanted(s)),
            Ok(Step::Placed(p, _, dst)) => (dst, matches!(p.outcome, Outcome::Placed { .. })),
            Err(_) => continue,
        };
        if !needed {
            continue;
        }
        let dev = dst.id().dev;
        let result = match synced.iter().find(|(d, _)| *d == dev) {
            Some((_, r)) => r.clone(),
            None => {
                let r = organizer::sync_filesystem(dst.dir()).map_err(|e| e.to_string());
                synced.push((dev, r.clone()));
                r
            }
        };
        if let Err(e) = result {
            f.state = Err(TransferError::Batch(format!("durability barrier: {e}")));
        }
    }
}

/// Step 4: one transaction for the whole batch.
fn settle(catalog: &Catalog, flight: &mut [InFlight<'_>]) {
    let notes: Vec<String> = flight
        .iter()
        .map(|f| match &f.state {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        })
        .collect();
    let items: Vec<Settle<'_>> = flight
        .iter()
        .zip(&notes)
        .map(|(f, note)| match &f.state {
            Ok(Step::Placed(p, ..)) => match organized_record(f, p) {
                Some(placement) => Settle::Placed(placement),
                None => Settle::Finished {
                    op_id: f.op_id,
                    destination: &p.destination,
                },
            },
            _ => Settle::Abandoned {
                op_id: f.op_id,
                reason: note,
            },
        })
        .collect();
    let outcomes = catalog.settle_ops(&items);
    drop(items);
    match outcomes {
        Ok(each) => {
            for (f, r) in flight.iter_mut().zip(each) {
                if let (Ok(Step::Placed(p, ..)), Err(e)) = (&f.state, r)
                    && let Err(e) = retry_placed(catalog, f, p, e)
                {
                    f.state = Err(e);
                }
            }
        }
        Err(e) => {
            // The files are placed and durable but unrecorded: their operations stay pending,
            // and recovery records them at the next start.
            let text = format!("recording the batch: {e}");
            for f in flight.iter_mut() {
                if f.state.is_ok() {
                    f.state = Err(TransferError::Batch(text.clone()));
                }
            }
        }
    }
}

/// A placement the batch transaction refused: the catalog still gives its destination to
/// another asset whose file is gone (the no-replace rename succeeded), so that record is
/// forgotten first ([`crate::organize::record_placement`]); anything else is an error.
fn retry_placed(
    catalog: &Catalog,
    f: &InFlight<'_>,
    p: &Placement,
    e: CatalogError,
) -> Result<(), TransferError> {
    match organized_record(f, p) {
        Some(placement) if matches!(e, CatalogError::DestinationTaken { .. }) => {
            crate::organize::record_placement(catalog, &placement)?;
            Ok(())
        }
        _ => Err(TransferError::Catalog(e)),
    }
}

/// The catalog record of a placed file that is organized (not one that only finishes its
/// operation, [`Record::Finished`]).
fn organized_record<'a>(f: &'a InFlight<'_>, p: &'a Placement) -> Option<catalog::Placement<'a>> {
    let Record::Organized {
        project,
        source,
        style,
        media,
    } = &f.file.record
    else {
        return None;
    };
    Some(catalog::Placement {
        op_id: f.op_id,
        asset_id: &f.file.asset_id,
        destination: &p.destination,
        size: p.bytes,
        project,
        source,
        style: style.as_deref(),
        media: Some(media),
    })
}
