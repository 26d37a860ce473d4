//! The library's near-duplicate index, in memory: built from the catalog's fingerprints at
//! start and kept current from `AssetVisualized` events (the bus, and the stream for a
//! visual worker's). `alice similar` and the gallery ask it; without a daemon, `alice
//! similar` builds one from the catalog in process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use events::{Event, Payload};

/// How close a near-duplicate is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closeness {
    /// Hamming distance of the 64-bit perceptual hashes (0–64), best quarter turn.
    pub hash_distance: u32,
    /// Mean difference of the luminance grids (0–255) at their best alignment: the 64x64
    /// grids read back from the thumbnails, else the stored 32x32 ones.
    pub grid_mean: f32,
}

/// Where the index finds a candidate's whole fingerprint to confirm it: the catalog, with the
/// fine grid read back from the cached thumbnail (the daemon: only hashes stay in memory), or
/// memory (an index filled by hand).
enum Prints {
    Memory(HashMap<i64, visual::Fingerprint>),
    Stored {
        catalog: Arc<catalog::Catalog>,
        cache: Option<visual::ThumbCache>,
    },
}

struct Inner {
    index: visual::NearIndex,
    prints: Prints,
    ids: HashMap<String, i64>,
    names: HashMap<i64, String>,
    next: i64,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner::with(Prints::Memory(HashMap::new()))
    }
}

impl Inner {
    fn with(prints: Prints) -> Inner {
        Inner {
            index: visual::NearIndex::new(visual::Matcher::default()),
            prints,
            ids: HashMap::new(),
            names: HashMap::new(),
            next: 0,
        }
    }

    /// `print` with its fine grid from the thumbnail cache, when there is one.
    fn refined(&self, asset_id: &str, mut print: visual::Fingerprint) -> visual::Fingerprint {
        if let Prints::Stored {
            cache: Some(cache), ..
        } = &self.prints
        {
            print.fine = cache.fine_grid(asset_id);
        }
        print
    }

    /// The whole fingerprint of indexed `id`.
    fn full(&self, id: i64) -> Option<visual::Fingerprint> {
        match &self.prints {
            Prints::Memory(m) => m.get(&id).cloned(),
            Prints::Stored { catalog, .. } => {
                let name = self.names.get(&id)?;
                let bytes = catalog.visual(name).ok()??.fingerprint?;
                let print = visual::Fingerprint::from_bytes(&bytes).ok()?;
                Some(self.refined(name, print))
            }
        }
    }
}

/// The near-duplicate index of one library. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Near {
    inner: RwLock<Inner>,
}

impl Near {
    /// An empty index whose candidates are confirmed from `catalog` (the stored fingerprint)
    /// and `cache` (the fine grid, from the thumbnail): only hashes are kept in memory.
    pub fn stored(catalog: Arc<catalog::Catalog>, cache: Option<visual::ThumbCache>) -> Near {
        Near {
            inner: RwLock::new(Inner::with(Prints::Stored { catalog, cache })),
        }
    }

    /// An index of every organized asset's fingerprint in `catalog` ([`Near::stored`]).
    /// Fingerprints the `visual` crate cannot read (written by another version) are left out,
    /// with a count in the log.
    pub fn load(
        catalog: Arc<catalog::Catalog>,
        cache: Option<visual::ThumbCache>,
    ) -> Result<Near, catalog::CatalogError> {
        let near = Near::stored(catalog.clone(), cache);
        near.load_into(&catalog)?;
        Ok(near)
    }

    /// Adds every organized asset's fingerprint in `catalog`; returns how many.
    pub fn load_into(&self, catalog: &catalog::Catalog) -> Result<usize, catalog::CatalogError> {
        let rows = catalog.fingerprints()?;
        let mut unreadable = 0usize;
        for (asset_id, bytes) in &rows {
            if !self.insert(asset_id, bytes) {
                unreadable += 1;
            }
        }
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "some fingerprints were written by another version and are left out of near-duplicate lookups"
            );
        }
        Ok(rows.len() - unreadable)
    }

    /// Indexes `asset_id` with the fingerprint `bytes`; false when they are not a fingerprint.
    pub fn insert(&self, asset_id: &str, bytes: &[u8]) -> bool {
        let Ok(print) = visual::Fingerprint::from_bytes(bytes) else {
            return false;
        };
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let id = match inner.ids.get(asset_id) {
            Some(&id) => id,
            None => {
                inner.next += 1;
                let id = inner.next;
                inner.ids.insert(asset_id.to_owned(), id);
                inner.names.insert(id, asset_id.to_owned());
                id
            }
        };
        inner.index.insert(id, &print);
        if let Prints::Memory(m) = &mut inner.prints {
            m.insert(id, print);
        }
        true
    }

    /// Takes `asset_id` out (it left the organized tree).
    pub fn remove(&self, asset_id: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = inner.ids.remove(asset_id) {
            inner.names.remove(&id);
            inner.index.remove(id);
            if let Prints::Memory(m) = &mut inner.prints {
                m.remove(&id);
            }
        }
    }

    /// How many assets are indexed.
    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |i| i.ids.len())
    }

    /// Whether no asset is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The near-duplicates of the asset whose fingerprint is `bytes`, closest first, itself
    /// left out; `None` when `bytes` is not a fingerprint.
    pub fn similar(&self, asset_id: &str, bytes: &[u8]) -> Option<Vec<(String, Closeness)>> {
        let print = visual::Fingerprint::from_bytes(bytes).ok()?;
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let print = inner.refined(asset_id, print);
        Some(
            inner
                .index
                .query(&print, |id| inner.full(id))
                .into_iter()
                .filter_map(|(id, m)| {
                    let closeness = Closeness {
                        hash_distance: m.hash_distance,
                        grid_mean: m.grid.mean,
                    };
                    Some((inner.names.get(&id)?.clone(), closeness))
                })
                .filter(|(id, _)| id != asset_id)
                .collect(),
        )
    }

    /// Applies one event: a new fingerprint, or an asset taken out.
    pub fn apply(&self, event: &Event) {
        match &event.payload {
            Payload::AssetVisualized(v) => {
                if let Some(bytes) = pipeline::fingerprint_bytes(v) {
                    self.insert(&v.asset_id, &bytes);
                }
            }
            Payload::AssetRemoved(r) => self.remove(&r.asset_id),
            _ => {}
        }
    }

    /// Follows `bus`: every fingerprint recorded from now on. Registered with the sinks,
    /// before the stages, so no `AssetVisualized` is published before it follows.
    pub(crate) fn subscribe(
        self: &Arc<Near>,
        bus: &pipeline::EventBus,
    ) -> Result<(), bus::SubscribeError> {
        let me = self.clone();
        bus.subscribe(
            "near-duplicates",
            bus::Filter::types([
                events::types::ASSET_VISUALIZED,
                events::types::ASSET_REMOVED,
            ]),
            move |m: pipeline::Msg| {
                me.apply(&m.0);
                async { Ok(()) }
            },
        )
    }

    /// Also follows the events a visual worker wrote to the stream (they reach this process
    /// through the catalog stage's group, not the bus).
    pub(crate) fn listen(self: &Arc<Near>, pipeline: &pipeline::Pipeline) {
        let me = self.clone();
        pipeline.on_foreign_event(Arc::new(move |e: &Event| me.apply(e)));
    }

    /// Adds what the catalog holds, off the runtime.
    pub(crate) async fn fill(
        self: &Arc<Near>,
        catalog: Arc<catalog::Catalog>,
    ) -> crate::error::Result<()> {
        let me = self.clone();
        let n = tokio::task::spawn_blocking(move || me.load_into(&catalog))
            .await
            .map_err(|e| crate::error::Error::Task(e.to_string()))??;
        tracing::info!(fingerprints = n, "near-duplicate index ready");
        Ok(())
    }
}

/// The thumbnail cache of `cfg`'s visual stage, for reading fine grids back; `None` when the
/// stage is off.
pub(crate) fn thumbnails(cfg: &crate::config::Config) -> Option<visual::ThumbCache> {
    cfg.visual_settings()
        .map(|v| visual::ThumbCache::new(v.cache_dir, v.max_cache_bytes))
}

/// Files in hand at once while catching up: few, so files organized meanwhile are not kept
/// waiting behind a whole library.
const CATCH_UP_CONCURRENCY: usize = 2;

/// Makes thumbnails and fingerprints for the organized files that have none (organized while
/// the visual stage was off, or cut off by a stop), in the background. Returns the task (abort
/// it to stop).
pub(crate) fn catch_up(pipeline: &pipeline::Pipeline) -> tokio::task::JoinHandle<()> {
    let pipeline = pipeline.clone();
    tokio::spawn(async move {
        let catalog = pipeline.catalog().clone();
        let total = match tokio::task::spawn_blocking(move || catalog.count_unvisualized()).await {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list files without thumbnails; they get them when organized again");
                return;
            }
            Err(_) => return,
        };
        tracing::info!(
            files = total,
            "making thumbnails and fingerprints of files organized while the visual stage was off"
        );
        let (made, failed) = catch_up_all(&pipeline).await;
        tracing::info!(
            made,
            failed,
            "thumbnails and fingerprints caught up with the library"
        );
    })
}

/// Works through the list in id order; returns (made, failed).
async fn catch_up_all(pipeline: &pipeline::Pipeline) -> (u64, u64) {
    let (mut made, mut failed) = (0u64, 0u64);
    let mut after = String::new();
    loop {
        let (catalog, from) = (pipeline.catalog().clone(), after.clone());
        let batch = match tokio::task::spawn_blocking(move || catalog.unvisualized(&from, 64)).await
        {
            Ok(Ok(b)) if !b.is_empty() => b,
            _ => return (made, failed),
        };
        after = batch.last().map(|u| u.asset_id.clone()).unwrap_or_default();
        let mut running = tokio::task::JoinSet::new();
        for item in batch {
            while running.len() >= CATCH_UP_CONCURRENCY {
                tally(running.join_next().await, &mut made, &mut failed);
            }
            let p = pipeline.clone();
            running.spawn(async move { p.visualize(&item.asset_id, &item.organized_path).await });
        }
        while let Some(done) = running.join_next().await {
            if !tally(Some(done), &mut made, &mut failed) {
                return (made, failed);
            }
        }
    }
}

/// Counts one result; false when the pipeline is closing (stop catching up).
fn tally(
    done: Option<Result<Result<bool, pipeline::PipelineError>, tokio::task::JoinError>>,
    made: &mut u64,
    failed: &mut u64,
) -> bool {
    match done {
        Some(Ok(Ok(true))) => *made += 1,
        Some(Ok(Ok(false))) => *failed += 1,
        Some(Ok(Err(e))) => {
            tracing::debug!(error = %e, "catching up with thumbnails stopped");
            return false;
        }
        Some(Err(_)) | None => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(img: &image::RgbImage) -> Vec<u8> {
        visual::fingerprint(img).to_bytes().to_vec()
    }

    fn scene(seed: u32) -> image::RgbImage {
        image::RgbImage::from_fn(320, 240, |x, y| {
            let v = (x * (3 + seed) + y * (5 + 2 * seed)) % 256;
            let disc = (x as i32 - 100 - seed as i32 * 40).pow(2) + (y as i32 - 120).pow(2) < 3000;
            if disc {
                image::Rgb([250, 220, 30])
            } else {
                image::Rgb([v as u8, (x / 2) as u8, (y / 2) as u8])
            }
        })
    }

    #[test]
    fn finds_a_resized_copy_leaves_itself_out_and_forgets_removed_assets() {
        let near = Near::default();
        let original = scene(1);
        let copy =
            image::imageops::resize(&original, 160, 120, image::imageops::FilterType::Triangle);
        assert!(near.insert("a", &print(&original)));
        assert!(near.insert("b", &print(&copy)));
        assert!(near.insert("c", &print(&scene(4))));
        assert!(!near.insert("d", b"not a fingerprint"));
        assert_eq!(near.len(), 3);

        let found = near.similar("a", &print(&original)).unwrap();
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["b"]);
        assert!(found[0].1.hash_distance <= visual::Matcher::default().max_hash_distance);

        near.apply(&Event::new(
            "/t",
            events::AssetRemoved {
                asset_id: "b".into(),
                path: "/o/b.png".into(),
                restored_to: None,
                reason: "alice undo".into(),
            },
        ));
        assert_eq!(near.similar("a", &print(&original)).unwrap(), vec![]);
        assert_eq!(near.len(), 2);
        assert_eq!(near.similar("a", b"short"), None);
    }
}
