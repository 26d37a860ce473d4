//! `alice similar`: the near-duplicates of one asset, as the CLI prints them and the control
//! socket sends them. The daemon answers from its in-memory index; without a daemon the index
//! is built from the catalog in process. Either way, why an asset has no fingerprint comes
//! from its visual row, so the message can say what to do.

use std::path::PathBuf;

use catalog::{AssetStatus, Catalog};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::near::Near;

/// One side of a comparison: an organized asset and its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarAsset {
    /// The asset.
    pub asset_id: String,
    /// Where it is organized.
    pub path: Option<PathBuf>,
    /// Upright width in pixels.
    pub width: Option<u32>,
    /// Upright height in pixels.
    pub height: Option<u32>,
    /// File size in bytes.
    pub size: u64,
}

/// A near-duplicate and how close it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarMatch {
    /// The other asset.
    #[serde(flatten)]
    pub asset: SimilarAsset,
    /// Hamming distance of the perceptual hashes (0–64, best quarter turn).
    pub hash_distance: u32,
    /// Mean difference of the luminance grids (0–255) at their best alignment.
    pub grid_mean: f32,
}

/// What `alice similar --json` prints (a contract for scripts: fields are only added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarView {
    /// The asset asked about.
    pub asset: SimilarAsset,
    /// Its near-duplicates, closest first.
    pub matches: Vec<SimilarMatch>,
}

/// The asset's fingerprint, or a message saying why it has none and what to do.
pub fn fingerprint_of(catalog: &Catalog, cfg: &Config, asset_id: &str) -> Result<Vec<u8>> {
    let short = &asset_id[..asset_id.len().min(12)];
    let asset = catalog
        .asset(asset_id)?
        .ok_or_else(|| Error::Config(format!("asset {short} is not in the catalog")))?;
    if asset.status != AssetStatus::Organized {
        return Err(Error::Config(format!(
            "asset {short} is not organized (status: {}); only organized files have near-duplicates",
            asset.status.as_str()
        )));
    }
    let Some(row) = catalog.visual(asset_id)? else {
        return Err(Error::Config(if cfg.visual_enabled() {
            format!(
                "asset {short} has no fingerprint yet: the visual stage has not reached it (it runs after organizing, and a daemon that starts catches up with the library); try again in a moment"
            )
        } else {
            "this library has no fingerprints: the visual stage is off. Add a [visual] section (or [web]) to the config and restart the daemon; it then fingerprints the whole library".into()
        }));
    };
    if let Some(bytes) = row.fingerprint {
        return Ok(bytes);
    }
    let reason = row.reason.unwrap_or_default();
    Err(Error::Config(match row.rendered.as_str() {
        events::rendered::VIDEO_PLACEHOLDER => format!(
            "asset {short} is a video without a poster frame ({reason}), so it has no fingerprint; install ffmpeg (or set visual.ffmpeg) and it gets one for videos organized from then on"
        ),
        events::rendered::UNSUPPORTED_IMAGE => format!(
            "asset {short} is {reason}, which this build cannot decode, so it has no fingerprint"
        ),
        catalog::RENDERED_FAILED => {
            format!("the visual stage could not decode asset {short}: {reason}")
        }
        other => format!("asset {short} has no fingerprint ({other})"),
    }))
}

fn described(catalog: &Catalog, asset_id: &str) -> Result<Option<SimilarAsset>> {
    let Some(asset) = catalog.asset(asset_id)? else {
        return Ok(None);
    };
    if asset.status != AssetStatus::Organized {
        return Ok(None);
    }
    let visual = catalog.visual(asset_id)?;
    Ok(Some(SimilarAsset {
        asset_id: asset.asset_id,
        path: asset.organized_path,
        width: visual.as_ref().and_then(|v| v.width),
        height: visual.as_ref().and_then(|v| v.height),
        size: asset.size,
    }))
}

/// The near-duplicates of `asset_id` in `near`, described from `catalog`.
pub fn view(catalog: &Catalog, cfg: &Config, near: &Near, asset_id: &str) -> Result<SimilarView> {
    let bytes = fingerprint_of(catalog, cfg, asset_id)?;
    let found = near.similar(asset_id, &bytes).ok_or_else(|| {
        Error::Config(format!(
            "the fingerprint of asset {asset_id} was written by another version of alice; it is made again when the file is organized again"
        ))
    })?;
    let asset = described(catalog, asset_id)?
        .ok_or_else(|| Error::Config(format!("asset {asset_id} is not organized")))?;
    let mut matches = Vec::with_capacity(found.len());
    for (id, c) in found {
        // Left the organized tree since it was indexed: not a match any more.
        if let Some(asset) = described(catalog, &id)? {
            matches.push(SimilarMatch {
                asset,
                hash_distance: c.hash_distance,
                grid_mean: c.grid_mean,
            });
        }
    }
    Ok(SimilarView { asset, matches })
}

/// [`view`] without a daemon: the index is built from the catalog of `cfg` (read-only).
pub fn offline(cfg: &Config, asset_id: &str) -> Result<SimilarView> {
    let catalog = std::sync::Arc::new(crate::query::open(cfg)?);
    fingerprint_of(&catalog, cfg, asset_id)?;
    let near = Near::load(catalog.clone(), crate::near::thumbnails(cfg))?;
    view(&catalog, cfg, &near, asset_id)
}
