//! The watcher's side of the pipeline: watcher items become discoveries, the identity cache
//! learns what was hashed, and files already handled in an earlier run are not published
//! again ([`already_handled`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use catalog::{Catalog, KnownFile};
use chrono::{DateTime, Utc};
use events::{
    AssetDiscovered, AssetFailed, DiscoveryKind, Event, FileIdentity, OrganizeMode, Payload,
};

use crate::ctx::Ctx;
use crate::decide::project_for;
use crate::{PipelineError, sources};

/// Identities are saved in batches: losing the last few in a crash only costs a rehash.
const IDENTITY_BATCH: usize = 256;

/// The file-identity cache in memory: loaded from the catalog for a watcher's first
/// reconciliation of its inboxes, kept current as files are hashed, let go of once that
/// reconciliation is over (the watcher's record of what it reported then covers every
/// unchanged file; at a million known files this is 48 MB of a watching daemon's memory),
/// and loaded again for the next watcher (after a reload). Identities are saved to the
/// catalog in batches whether or not the memory is held.
#[derive(Default)]
pub(crate) struct IdentityMemory {
    known: Mutex<Known>,
    /// Identities learned since the last flush to the catalog. Losing them in a crash only
    /// costs a rehash, so they are written in batches rather than one fsync per file.
    unsaved: Mutex<Vec<KnownFile>>,
}

/// A known identity in memory: 16 bytes of BLAKE3 over its fields (a collision among a
/// million files has a chance of about 2^-88), with the asset id as its 32 raw bytes: 48
/// bytes per known file instead of about 200 in a map of identities to hex strings.
type Key = u128;
type RawId = [u8; 32];

fn key_of(id: &FileIdentity) -> Key {
    let mut h = blake3::Hasher::new();
    for v in [id.dev, id.ino, id.size] {
        h.update(&v.to_le_bytes());
    }
    for v in [id.mtime_ns, id.ctime_ns] {
        h.update(&v.to_le_bytes());
    }
    let mut k = [0u8; 16];
    k.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Key::from_le_bytes(k)
}

/// The 32 bytes of a 64-hex-digit asset id; `None` for anything else (not cached).
fn raw_id(hex: &str) -> Option<RawId> {
    let mut out = [0u8; 32];
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| (b as char).to_digit(16);
        *o = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

fn hex_id(raw: &RawId) -> String {
    blake3::Hash::from_bytes(*raw).to_hex().to_string()
}

/// Known identities: a sorted array (what was loaded, and what was merged since) and the
/// few learned since the last merge, so memory stays at 48 bytes per file plus a bounded
/// map, whatever the library's size.
#[derive(Default)]
struct Known {
    sorted: Vec<(Key, RawId)>,
    recent: HashMap<Key, RawId>,
    /// False while the memory is let go of: nothing is kept, every look-up misses.
    held: bool,
}

/// Identities learned before they are merged into the sorted array.
const MERGE_AT: usize = 1 << 16;

impl Known {
    fn position(&self, k: Key) -> Result<usize, usize> {
        self.sorted.binary_search_by_key(&k, |e| e.0)
    }

    fn get(&self, k: Key) -> Option<RawId> {
        self.recent
            .get(&k)
            .copied()
            .or_else(|| self.position(k).ok().map(|i| self.sorted[i].1))
    }

    fn insert(&mut self, k: Key, id: RawId) {
        if let Ok(i) = self.position(k) {
            self.sorted[i].1 = id;
            return;
        }
        self.recent.insert(k, id);
        if self.recent.len() >= MERGE_AT {
            self.merge();
        }
    }

    fn remove(&mut self, k: Key) {
        self.recent.remove(&k);
        if let Ok(i) = self.position(k) {
            self.sorted.remove(i);
        }
    }

    fn merge(&mut self) {
        self.sorted.extend(self.recent.drain());
        self.sorted.sort_unstable_by_key(|e| e.0);
        self.sorted.dedup_by_key(|e| e.0);
    }
}

impl IdentityMemory {
    /// Loads every identity the catalog knows.
    pub(crate) fn load(catalog: &Catalog) -> Result<IdentityMemory, catalog::CatalogError> {
        let memory = IdentityMemory::default();
        memory.hold(catalog)?;
        Ok(memory)
    }

    /// Loads every identity the catalog knows (and those not saved yet), unless held already.
    pub(crate) fn hold(&self, catalog: &Catalog) -> Result<(), catalog::CatalogError> {
        if self.known.lock().is_ok_and(|k| k.held) {
            return Ok(());
        }
        let mut known = Known {
            held: true,
            ..Known::default()
        };
        known.sorted.reserve_exact(catalog.identity_count()?);
        catalog.each_identity(|identity, asset_id| {
            if let Some(raw) = raw_id(asset_id) {
                known.sorted.push((key_of(&identity), raw));
            }
        })?;
        if let Ok(unsaved) = self.unsaved.lock() {
            for f in unsaved.iter() {
                if let Some(raw) = raw_id(&f.asset_id) {
                    known.sorted.push((key_of(&f.identity), raw));
                }
            }
        }
        known.merge();
        if let Ok(mut k) = self.known.lock() {
            *k = known;
        }
        // The load read the whole identities table through the page cache; no later
        // look-up reads those pages in that order again.
        catalog.release_memory()
    }

    /// Lets go of the identities in memory until the next [`IdentityMemory::hold`].
    pub(crate) fn let_go(&self) {
        if let Ok(mut k) = self.known.lock() {
            *k = Known::default();
        }
    }

    pub(crate) fn lookup(&self, id: &FileIdentity) -> Option<String> {
        let raw = self.known.lock().ok()?.get(key_of(id))?;
        Some(hex_id(&raw))
    }

    /// Remembers a hashed file; true when a batch is ready to be saved.
    fn learn(&self, file: KnownFile) -> bool {
        if let (Ok(mut known), Some(raw)) = (self.known.lock(), raw_id(&file.asset_id))
            && known.held
        {
            known.insert(key_of(&file.identity), raw);
        }
        match self.unsaved.lock() {
            Ok(mut v) => {
                v.push(file);
                v.len() >= IDENTITY_BATCH
            }
            Err(_) => false,
        }
    }

    fn take_unsaved(&self) -> Vec<KnownFile> {
        match self.unsaved.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    /// Forgets, in memory, the file now at `path` (and whatever is unsaved about `path`).
    fn forget(&self, path: &Path) {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && let Ok(mut known) = self.known.lock()
        {
            known.remove(key_of(&FileIdentity::from_metadata(&meta)));
        }
        if let Ok(mut unsaved) = self.unsaved.lock() {
            unsaved.retain(|k| k.path != path);
        }
    }
}

/// Writes the identities learned since the last flush.
pub(crate) async fn flush_identities(ctx: &Ctx) -> Result<(), PipelineError> {
    let batch = ctx.identities.take_unsaved();
    if batch.is_empty() {
        return Ok(());
    }
    ctx.db(move |c| c.remember_identities(&batch)).await
}

/// Drops the identity cache entry of the file at `path` (memory and catalog), so it is
/// hashed afresh next time.
pub(crate) async fn forget_identity(ctx: &Ctx, path: &Path) {
    ctx.identities.forget(path);
    let p = path.to_path_buf();
    if let Err(e) = ctx.db(move |c| c.forget_identity(&p)).await {
        tracing::warn!(path = %path.display(), error = %e, "cannot forget a stale file identity");
    }
}

/// Turns watcher items into events; returns how many asset pipelines were started.
pub(crate) async fn ingest(
    ctx: &Arc<Ctx>,
    items: Vec<watcher::WatchItem>,
) -> Result<usize, PipelineError> {
    let mut discovered = Vec::new();
    for item in items {
        match item {
            watcher::WatchItem::Discovered(d) => discovered.push(d),
            watcher::WatchItem::Failed { path, inbox, error } => {
                report_unreadable(ctx, path, inbox, error).await?;
            }
            watcher::WatchItem::ScanStarted { inbox, reason } => {
                tracing::info!(inbox = %inbox.display(), reason = ?reason, "scan started");
            }
            watcher::WatchItem::ScanFinished {
                inbox,
                reason,
                files,
            } => {
                tracing::info!(inbox = %inbox.display(), reason = ?reason, files, "scan walked the inbox");
            }
        }
    }
    if discovered.is_empty() {
        return Ok(0);
    }
    learn_identities(ctx, &discovered).await?;
    let (handled, active_project) = check_handled(ctx, &discovered).await?;
    let mut started = 0;
    for (d, handled) in discovered.into_iter().zip(handled) {
        if let Some(why) = handled {
            tracing::debug!(asset_id = %d.asset_id, path = %d.path.display(), why, "already handled; nothing to do");
            continue;
        }
        publish_discovery(ctx, d, active_project.as_deref()).await?;
        started += 1;
    }
    Ok(started)
}

async fn report_unreadable(
    ctx: &Ctx,
    path: PathBuf,
    inbox: PathBuf,
    error: String,
) -> Result<(), PipelineError> {
    tracing::warn!(path = %path.display(), inbox = %inbox.display(), error = %error, "file cannot be read");
    ctx.tally.started(None);
    let ev = Event::new(
        sources::WATCHER,
        AssetFailed {
            asset_id: None,
            path,
            stage: "discover".into(),
            error,
            quarantined_to: None,
        },
    );
    ctx.publish(ev).await
}

async fn learn_identities(
    ctx: &Ctx,
    discovered: &[watcher::Discovered],
) -> Result<(), PipelineError> {
    for d in discovered.iter().filter(|d| d.hashed) {
        let full = ctx.identities.learn(KnownFile {
            identity: d.identity,
            path: d.path.clone(),
            asset_id: d.asset_id.clone(),
        });
        if full {
            flush_identities(ctx).await?;
        }
    }
    Ok(())
}

/// Per file, why it needs no pipeline (if so), and the active project: one catalog round
/// trip for the whole batch, since a restart over many known files is dominated by this.
async fn check_handled(
    ctx: &Ctx,
    discovered: &[watcher::Discovered],
) -> Result<(Vec<Option<&'static str>>, Option<String>), PipelineError> {
    let mode = ctx.settings().mode;
    let keys: Vec<(String, PathBuf)> = discovered
        .iter()
        .map(|d| (d.asset_id.clone(), d.path.clone()))
        .collect();
    ctx.db(move |c| {
        // The common answer for all of them in one read transaction; the full question
        // only for files whose asset is known but not organized from there.
        let pairs: Vec<(&str, &Path)> = keys
            .iter()
            .map(|(a, p)| (a.as_str(), p.as_path()))
            .collect();
        let first = c.organized_from_here_many(&pairs)?;
        let handled = keys
            .iter()
            .zip(first)
            .map(|((asset, path), here)| match here {
                None => Ok(None),
                Some(true) if mode == OrganizeMode::Copy => Ok(Some(ORGANIZED_HERE)),
                Some(_) => already_handled(c, asset, path, mode),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((handled, c.context()?.active_project))
    })
    .await
}

async fn publish_discovery(
    ctx: &Ctx,
    d: watcher::Discovered,
    active_project: Option<&str>,
) -> Result<(), PipelineError> {
    let project = project_for(d.project.as_deref(), active_project);
    let kind = match d.kind {
        watcher::DiscoveryKind::Scan => DiscoveryKind::Scan,
        watcher::DiscoveryKind::Watch => DiscoveryKind::Watch,
        watcher::DiscoveryKind::Manual => DiscoveryKind::Manual,
    };
    let ev = Event::new(
        sources::WATCHER,
        AssetDiscovered {
            asset_id: d.asset_id,
            path: d.path,
            size: d.identity.size,
            mtime: DateTime::<Utc>::from(d.mtime),
            inbox: d.inbox,
            project,
            kind,
            hashed_as: d.settled.then_some(d.identity),
        },
    );
    if ctx.options.tracks_discoveries() {
        ctx.tally.started_discovery(ev.subject.as_deref(), &ev.id);
    } else {
        ctx.tally.started(ev.subject.as_deref());
    }
    ctx.publish(ev).await
}

const ORGANIZED_HERE: &str = "organized from this path";

/// Why a file found in an inbox needs no new pipeline, if it does not: this content at this
/// path already reached a final outcome in an earlier run, or a user's undo put it (or left
/// it) there (`"undone"`: an undo sticks, see [`crate::undo`]).
pub fn already_handled(
    c: &Catalog,
    asset_id: &str,
    path: &Path,
    mode: OrganizeMode,
) -> Result<Option<&'static str>, catalog::CatalogError> {
    match c.organized_from_here(asset_id, path)? {
        None => return Ok(None),
        // Copy mode keeps the source: it is done. Move mode must still remove it (a crash
        // between recording and removal), so that one goes through the organizer again.
        Some(true) => return Ok((mode == OrganizeMode::Copy).then_some(ORGANIZED_HERE)),
        Some(false) => {}
    }
    for stored in c.events_for_asset(asset_id)? {
        let Ok(ev) = Event::from_json(&stored.json) else {
            continue;
        };
        match &ev.payload {
            Payload::AssetDuplicate(p) if p.path == path && p.moved_to.is_none() => {
                return Ok(Some("reported as a duplicate"));
            }
            // A sidecar skipped by an earlier version is looked at again: its media may be
            // organized by now.
            Payload::AssetSkipped(p) if p.path == path => {
                if crate::sidecar::is_sidecar(Some(c), path)? {
                    continue;
                }
                return Ok(Some("skipped: not media"));
            }
            // Copy mode keeps a placed sidecar's source; move mode must still remove it. A
            // sidecar waiting for its media is looked at again on every scan.
            Payload::SidecarFiled(p)
                if p.path == path && p.destination.is_some() && mode == OrganizeMode::Copy =>
            {
                return Ok(Some("sidecar placed beside its media"));
            }
            Payload::AssetFailed(p)
                if p.path == path && p.stage == "metadata" && p.quarantined_to.is_none() =>
            {
                return Ok(Some("failed: unreadable media"));
            }
            _ => {}
        }
    }
    // Outcomes whose events were folded out of the history window.
    for h in c.history(asset_id)? {
        if h.path != path {
            continue;
        }
        match (h.outcome.as_str(), &h.moved_to, h.stage.as_deref()) {
            ("duplicate", None, _) => return Ok(Some("reported as a duplicate")),
            ("skipped", _, _) => return Ok(Some("skipped: not media")),
            ("failed", None, Some("metadata")) => return Ok(Some("failed: unreadable media")),
            _ => {}
        }
    }
    if c.undone_at(asset_id, path)? {
        return Ok(Some("undone"));
    }
    Ok(None)
}

/// True when a discovery read back from the stream needs no pipeline any more: its file
/// reached a final outcome meanwhile (the start-up scan handled it, or it was organized and
/// moved away).
pub(crate) async fn replay_is_moot(ctx: &Ctx, event: &Event) -> Result<bool, PipelineError> {
    let Payload::AssetDiscovered(d) = &event.payload else {
        return Ok(false);
    };
    if crate::extract::organized_from_here_and_gone(ctx, &d.asset_id, &d.path)
        .await
        .is_some()
    {
        return Ok(true);
    }
    let (asset, path, mode) = (d.asset_id.clone(), d.path.clone(), ctx.settings().mode);
    let handled = ctx
        .db(move |c| already_handled(c, &asset, &path, mode))
        .await?;
    Ok(handled.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(ino: u64) -> FileIdentity {
        FileIdentity {
            dev: 2049,
            ino,
            size: 91,
            mtime_ns: 1_700_000_000_000_000_000 + ino as i64,
            ctime_ns: 1_700_000_000_000_000_001,
        }
    }

    fn hex(n: u64) -> String {
        format!("{n:064x}")
    }

    #[test]
    fn asset_ids_round_trip_through_their_raw_bytes() {
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(hex_id(&raw_id(&id).unwrap()), id);
        assert_eq!(raw_id("abc"), None);
        assert_eq!(raw_id(&"zz".repeat(32)), None);
    }

    /// Lookups find what was learned before and after a merge, an update replaces, a removal
    /// forgets, and an identity differing in any one field is another file.
    #[test]
    fn known_identities_survive_merges_updates_and_removals() {
        let mut k = Known::default();
        let n = MERGE_AT as u64 + 100;
        for ino in 0..n {
            k.insert(key_of(&identity(ino)), raw_id(&hex(ino)).unwrap());
        }
        assert_eq!(k.sorted.len(), MERGE_AT, "one merge happened");
        assert_eq!(k.recent.len(), 100);
        for ino in [0, 1, MERGE_AT as u64 - 1, MERGE_AT as u64, n - 1] {
            assert_eq!(
                k.get(key_of(&identity(ino))).map(|r| hex_id(&r)),
                Some(hex(ino))
            );
        }
        k.insert(key_of(&identity(5)), raw_id(&hex(999_999)).unwrap());
        assert_eq!(
            k.get(key_of(&identity(5))).map(|r| hex_id(&r)),
            Some(hex(999_999))
        );
        k.remove(key_of(&identity(6)));
        k.remove(key_of(&identity(n - 1)));
        assert_eq!(k.get(key_of(&identity(6))), None);
        assert_eq!(k.get(key_of(&identity(n - 1))), None);
        let mut other = identity(7);
        other.ctime_ns += 1;
        assert_eq!(k.get(key_of(&other)), None, "a new ctime is another file");
    }

    #[test]
    fn identities_are_let_go_of_between_reconciliations_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
        let file = |ino: u64| KnownFile {
            identity: identity(ino),
            path: PathBuf::from(format!("/in/{ino}.png")),
            asset_id: hex(ino),
        };
        catalog.remember_identities(&[file(1)]).unwrap();
        let memory = IdentityMemory::load(&catalog).unwrap();
        assert_eq!(memory.lookup(&identity(1)), Some(hex(1)));

        memory.let_go();
        assert_eq!(memory.lookup(&identity(1)), None, "nothing held");
        // Learned while let go of: saved later, not kept in memory.
        assert!(!memory.learn(file(2)));
        assert_eq!(memory.lookup(&identity(2)), None);
        assert!(memory.known.lock().unwrap().sorted.capacity() == 0);

        // The next reconciliation holds them again: the catalog's and the unsaved one.
        memory.hold(&catalog).unwrap();
        assert_eq!(memory.lookup(&identity(1)), Some(hex(1)));
        assert_eq!(memory.lookup(&identity(2)), Some(hex(2)));
        // Held: what is learned now is kept.
        memory.learn(file(3));
        assert_eq!(memory.lookup(&identity(3)), Some(hex(3)));
        // Holding again changes nothing.
        memory.hold(&catalog).unwrap();
        assert_eq!(memory.lookup(&identity(3)), Some(hex(3)));
    }
}
