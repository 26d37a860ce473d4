//! The visual stage: for each organized file, thumbnails in the cache and a perceptual
//! fingerprint (`AssetVisualized`), through the `visual` crate on a blocking thread.
//!
//! A file that cannot be decoded (too many pixels for `max_pixels`, corrupt, unreadable) is
//! `AssetFailed` with stage [`VISUAL_STAGE`]: the file is organized already, so this changes
//! neither its catalog status nor the outcome tally, and the daemon does not rescan for it.
//! Decoding is bounded twice: in pixels per file (the crate checks the header first) and in
//! files at once (a semaphore, since the eight shards could otherwise decode eight large
//! images together).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use events::{AssetFailed, AssetVisualized, Payload, rendered};
use tokio::sync::Semaphore;

use crate::ctx::Ctx;
use crate::{Msg, PipelineError, sources};

/// `stage` of the `AssetFailed` the visual stage publishes.
pub const VISUAL_STAGE: &str = "visual";
pub(crate) const STAGE: &str = VISUAL_STAGE;

/// Thumbnails written between two evictions of the cache.
const EVICT_EVERY: u64 = 200;

/// The visual stage's settings, as values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisualSettings {
    /// Largest image (width x height) decoded; larger ones fail from their header.
    pub max_pixels: u64,
    /// The ffmpeg program for video poster frames; `None` gives videos a placeholder.
    pub ffmpeg: Option<PathBuf>,
    /// How long one ffmpeg run may take.
    pub ffmpeg_timeout: Duration,
    /// The thumbnail cache's folder.
    pub cache_dir: PathBuf,
    /// Thumbnail sizes (longest side, px).
    pub sizes: Vec<u32>,
    /// The cache's byte budget; least recently used thumbnails are evicted beyond it.
    pub max_cache_bytes: u64,
}

impl VisualSettings {
    /// The `visual` crate's bounds for these settings.
    fn limits(&self) -> visual::Limits {
        visual::Limits {
            max_pixels: self.max_pixels,
            ffmpeg: self.ffmpeg.clone(),
            ffmpeg_timeout: self.ffmpeg_timeout,
        }
    }

    /// The thumbnail cache these settings describe.
    fn cache(&self) -> Result<visual::ThumbCache, visual::VisualError> {
        visual::ThumbCache::new(&self.cache_dir, self.max_cache_bytes)
            .with_sizes(&self.sizes, JPEG_QUALITY)
    }
}

/// JPEG quality of thumbnails.
const JPEG_QUALITY: u8 = 82;

/// The stage's shared state: how many files decode at once, and thumbnails since the last
/// eviction.
pub(crate) struct VisualWork {
    slots: Semaphore,
    since_evict: AtomicU64,
    /// Files being worked on now.
    busy: AtomicU64,
}

impl Default for VisualWork {
    fn default() -> VisualWork {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        VisualWork {
            slots: Semaphore::new(cpus.clamp(1, 4)),
            since_evict: AtomicU64::new(0),
            busy: AtomicU64::new(0),
        }
    }
}

/// Handles one `AssetOrganized`.
pub(crate) async fn visualize(ctx: &Ctx, m: Msg) -> Result<(), PipelineError> {
    let Payload::AssetOrganized(o) = &m.0.payload else {
        return Ok(());
    };
    let Some(settings) = ctx.settings().visual.clone() else {
        return Ok(());
    };
    let next = run(ctx, &settings, &o.asset_id, &o.destination).await?;
    ctx.publish(m.0.follow(sources::VISUAL, next)).await
}

/// Makes the thumbnails and fingerprint of the file at `path`: the event that says what came
/// of it.
pub(crate) async fn run(
    ctx: &Ctx,
    settings: &VisualSettings,
    asset_id: &str,
    path: &Path,
) -> Result<Payload, PipelineError> {
    let limits = settings.limits();
    ctx.visual.busy.fetch_add(1, Ordering::SeqCst);
    let _busy = Busy(&ctx.visual.busy);
    let result = {
        let _slot = ctx.visual.slots.acquire().await;
        let (id, file, s) = (asset_id.to_owned(), path.to_path_buf(), settings.clone());
        tokio::task::spawn_blocking(move || visual::process(&file, &limits, &s.cache()?, &id))
            .await
            .map_err(PipelineError::join)?
    };
    let payload = match result {
        Ok(out) => Payload::AssetVisualized(visualized(asset_id, &out)),
        Err(e) => Payload::AssetFailed(AssetFailed {
            asset_id: Some(asset_id.to_owned()),
            path: path.to_path_buf(),
            stage: STAGE.into(),
            error: e.to_string(),
            quarantined_to: None,
        }),
    };
    if ctx.visual.since_evict.fetch_add(1, Ordering::Relaxed) + 1 >= EVICT_EVERY {
        ctx.visual.since_evict.store(0, Ordering::Relaxed);
        if let Ok(cache) = settings.cache() {
            evict(cache);
        }
    }
    Ok(payload)
}

/// Counts a file as worked on until dropped.
struct Busy<'a>(&'a AtomicU64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until the visual stage has nothing queued or in hand (checked twice, a moment apart,
/// since a delivery leaves the queue just before its handler counts it).
pub(crate) async fn wait_idle(ctx: &Ctx) {
    let idle = || {
        ctx.visual.busy.load(Ordering::SeqCst) == 0
            && ctx
                .bus
                .stats()
                .subscribers
                .iter()
                .filter(|s| s.name.starts_with("visual-"))
                .all(|s| s.queued == 0)
    };
    let mut quiet = 0;
    while quiet < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        quiet = if idle() { quiet + 1 } else { 0 };
    }
}

/// Trims the cache to its budget in the background.
fn evict(cache: visual::ThumbCache) {
    tokio::task::spawn_blocking(move || match cache.evict() {
        Ok(e) if e.removed_files > 0 => {
            tracing::info!(
                removed = e.removed_files,
                kept = e.kept_files,
                kept_bytes = e.kept_bytes,
                "thumbnail cache trimmed"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot trim the thumbnail cache"),
    });
}

/// The event payload for what [`visual::process`] made.
fn visualized(asset_id: &str, out: &visual::VisualOutput) -> AssetVisualized {
    let (kind, reason) = match &out.rendered {
        visual::Rendered::Image => (rendered::IMAGE, None),
        visual::Rendered::VideoPoster => (rendered::VIDEO_POSTER, None),
        visual::Rendered::VideoPlaceholder(why) => (
            rendered::VIDEO_PLACEHOLDER,
            Some(match why {
                visual::NoPoster::NoFfmpeg => "no_ffmpeg".to_owned(),
                visual::NoPoster::TimedOut => "ffmpeg_timed_out".to_owned(),
                visual::NoPoster::Failed(msg) => format!("ffmpeg failed: {msg}"),
            }),
        ),
        visual::Rendered::UnsupportedImage { format } => {
            (rendered::UNSUPPORTED_IMAGE, Some((*format).to_owned()))
        }
    };
    AssetVisualized {
        asset_id: asset_id.to_owned(),
        rendered: kind.to_owned(),
        reason,
        width: out.dimensions.map(|d| d.0),
        height: out.dimensions.map(|d| d.1),
        thumbnails: out.thumbnails.iter().map(|t| t.size).collect(),
        fingerprint: out
            .fingerprint
            .as_ref()
            .map(|f| base64::engine::general_purpose::STANDARD.encode(f.to_bytes())),
    }
}

/// The fingerprint bytes an `AssetVisualized` carries; `None` without one (or when it is not
/// base64, which only a foreign producer could write).
pub fn fingerprint_bytes(v: &AssetVisualized) -> Option<Vec<u8>> {
    let text = v.fingerprint.as_deref()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}
