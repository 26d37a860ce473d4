//! Payload types of every event, grouped by the ADR's three categories.
//!
//! Each payload struct ignores unknown fields when read (a newer producer may add some) and
//! names its event type with a `.vN` suffix; a breaking change gets a new type string.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::OrganizeMode;
use crate::media::{AiSource, MediaInfo, MediaType};

/// How a file was discovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscoveryKind {
    /// Found by a reconciliation scan (start-up, `alice scan`, queue overflow).
    Scan,
    /// Reported by the live watcher.
    Watch,
    /// Named explicitly by a user command.
    Manual,
}

// ----- asset events ------------------------------------------------------------------------

/// A finished file was found in an inbox and identified by content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetDiscovered {
    /// BLAKE3 of the whole content, lowercase hex.
    pub asset_id: String,
    /// Where the file is now.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time of the file when it was hashed.
    pub mtime: DateTime<Utc>,
    /// The inbox folder it was found under.
    #[serde(with = "crate::path")]
    pub inbox: PathBuf,
    /// The project it belongs to: first folder level under the inbox, else the active project,
    /// else `uncategorized`.
    pub project: String,
    /// Scan, watch or manual.
    pub kind: DiscoveryKind,
    /// The file's identity (device, inode, size, mtime, ctime) when it was hashed, present
    /// when that identity tells every later change (its ctime was already past when the
    /// hash began, so any write after it gives the file a new ctime): a mover may then
    /// compare identities instead of reading the file again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed_as: Option<crate::FileIdentity>,
}

/// The metadata extractor read a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataExtracted {
    /// The asset.
    pub asset_id: String,
    /// The file that was read.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// Size in bytes (from discovery).
    pub size: u64,
    /// Modification time of the file when it was hashed (from discovery).
    pub mtime: DateTime<Utc>,
    /// The inbox folder it was found under (from discovery).
    #[serde(with = "crate::path")]
    pub inbox: PathBuf,
    /// The project it belongs to (from discovery).
    pub project: String,
    /// Everything that was learned.
    pub media: MediaInfo,
    /// Set when the file is recognized media but could not be read completely (truncated,
    /// corrupt): what is wrong, for a human. The organizer then reports `AssetFailed`.
    #[serde(default)]
    pub error: Option<String>,
    /// From discovery: see [`AssetDiscovered::hashed_as`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed_as: Option<crate::FileIdentity>,
}

/// A file was placed in the organized tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetOrganized {
    /// The asset.
    pub asset_id: String,
    /// Where it came from.
    #[serde(with = "crate::path")]
    pub source_path: PathBuf,
    /// Where it is now.
    #[serde(with = "crate::path")]
    pub destination: PathBuf,
    /// Copy or move.
    pub mode: OrganizeMode,
    /// Project folder it was filed under.
    pub project: String,
    /// Source folder (`stable-diffusion`, …, `camera`, `other`).
    pub source: String,
    /// Style active when it was filed, if any.
    pub style: Option<String>,
    /// Bytes placed.
    pub size: u64,
    /// True when the planned name was taken by a different file and a new name was chosen.
    pub renamed_for_collision: bool,
    /// Sidecar files (XMP, Takeout JSON, generation parameters, …) placed beside it in the
    /// same journaled operation; omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<PlacedSidecar>,
}

/// A sidecar file placed beside its media file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedSidecar {
    /// Where it was in the inbox.
    #[serde(with = "crate::path")]
    pub source_path: PathBuf,
    /// Where it is now, beside the media file.
    #[serde(with = "crate::path")]
    pub destination: PathBuf,
    /// What it holds: `xmp`, `aae`, `takeout`, `parameters`, `generator`.
    pub kind: String,
}

/// A sidecar file (not media itself) was handled on its own: placed beside its media file,
/// which was organized before it arrived, or left in the inbox to wait for its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidecarFiled {
    /// The sidecar's own content id.
    pub asset_id: String,
    /// The sidecar in the inbox.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// What it holds: `xmp`, `aae`, `takeout`, `parameters`, `generator` (what its name says,
    /// when its media is not known yet).
    pub kind: String,
    /// The media asset it belongs to, when known.
    pub media_asset_id: Option<String>,
    /// Where it was placed beside its media; `null` while it waits in the inbox.
    #[serde(with = "crate::path::option")]
    pub destination: Option<PathBuf>,
}

/// The same content (same BLAKE3) is already organized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetDuplicate {
    /// The asset.
    pub asset_id: String,
    /// The duplicate file in the inbox (where it was found).
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// The organized copy that already holds this content.
    #[serde(with = "crate::path")]
    pub existing: PathBuf,
    /// Where the duplicate went (move mode: the duplicates folder), `null` when left in place.
    #[serde(with = "crate::path::option")]
    pub moved_to: Option<PathBuf>,
}

/// A file was deliberately left alone (not recognized media).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSkipped {
    /// The asset.
    pub asset_id: String,
    /// The file, left in place.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// Why, for a human.
    pub reason: String,
}

/// Processing a file failed; it stays in place (or was moved to quarantine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetFailed {
    /// The asset, when it was hashed before the failure.
    pub asset_id: Option<String>,
    /// The file.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// Pipeline stage that failed: `discover`, `read`, `metadata`, `organize`, `visual`.
    pub stage: String,
    /// What went wrong, for a human.
    pub error: String,
    /// Where the file was moved, when a quarantine folder is configured.
    #[serde(with = "crate::path::option")]
    pub quarantined_to: Option<PathBuf>,
}

/// An organized file was taken back out (e.g. `alice undo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetRemoved {
    /// The asset.
    pub asset_id: String,
    /// The organized path that no longer holds it.
    #[serde(with = "crate::path")]
    pub path: PathBuf,
    /// Where the content is now, if it was moved back.
    #[serde(with = "crate::path::option")]
    pub restored_to: Option<PathBuf>,
    /// Why.
    pub reason: String,
}

/// The visual stage made an organized asset's thumbnails and, when it has pixels, its
/// perceptual fingerprint (`alice.asset.visualized.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetVisualized {
    /// The asset.
    pub asset_id: String,
    /// Where the thumbnails' pixels came from: one of [`rendered`]'s values.
    pub rendered: String,
    /// Why there is a placeholder instead of pixels (`video_placeholder`,
    /// `unsupported_image`): no ffmpeg, ffmpeg failed, the format (`heic`, `avif`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Upright width of the image or video frame; `None` for placeholders.
    #[serde(default)]
    pub width: Option<u32>,
    /// Upright height; `None` for placeholders.
    #[serde(default)]
    pub height: Option<u32>,
    /// Thumbnail sizes written to the cache (longest side, px), largest first.
    #[serde(default)]
    pub thumbnails: Vec<u32>,
    /// The perceptual fingerprint (the visual crate's bytes, standard base64); `None` for
    /// placeholders.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Values of [`AssetVisualized::rendered`].
pub mod rendered {
    /// The decoded image.
    pub const IMAGE: &str = "image";
    /// A video's poster frame (from ffmpeg).
    pub const VIDEO_POSTER: &str = "video_poster";
    /// A video without a poster frame: a placeholder, no fingerprint.
    pub const VIDEO_PLACEHOLDER: &str = "video_placeholder";
    /// An image format this build cannot decode (HEIC, AVIF): a placeholder, no fingerprint.
    pub const UNSUPPORTED_IMAGE: &str = "unsupported_image";
}

// ----- workflow events ---------------------------------------------------------------------

/// The daemon started a run (watching) or a one-off scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// Identifies the run; later workflow events carry it.
    pub run_id: String,
    /// `watch` or `scan`.
    pub kind: String,
    /// Inboxes covered.
    #[serde(with = "crate::path::vec")]
    pub inboxes: Vec<PathBuf>,
    /// True when nothing will be changed.
    pub dry_run: bool,
}

/// A reconciliation scan of one inbox started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanStarted {
    /// The run it belongs to.
    pub run_id: String,
    /// The inbox scanned.
    #[serde(with = "crate::path")]
    pub inbox: PathBuf,
    /// Why: `startup`, `overflow`, `new-folder`, `command`, `poll`.
    pub reason: String,
}

/// An asset moved from one pipeline stage to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageChanged {
    /// The asset.
    pub asset_id: String,
    /// Stage left.
    pub from: String,
    /// Stage entered.
    pub to: String,
}

/// A run or scan finished, with its tallies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCompleted {
    /// The run.
    pub run_id: String,
    /// Files organized.
    pub organized: u64,
    /// Duplicates found.
    pub duplicates: u64,
    /// Files skipped (not media).
    pub skipped: u64,
    /// Files that failed.
    pub failed: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// A run failed as a whole, or a subscriber gave up on an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFailed {
    /// The run.
    pub run_id: String,
    /// What went wrong.
    pub error: String,
}

/// A durable subscriber gave up on an event after its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLettered {
    /// The subscriber that failed.
    pub subscriber: String,
    /// Id of the event it could not handle.
    pub event_id: String,
    /// Type of that event.
    pub event_type: String,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
}

// ----- creative events ---------------------------------------------------------------------

/// A project was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectCreated {
    /// Project name (already validated as a path component).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
}

/// A style was chosen (or cleared with `name: null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleChosen {
    /// The style, `null` when cleared.
    pub name: Option<String>,
    /// Free text.
    pub note: Option<String>,
}

/// The active creative context changed; applies to files discovered from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextUpdated {
    /// Active project, `null` for none (`uncategorized`).
    pub project: Option<String>,
    /// Active style, `null` for none.
    pub style: Option<String>,
}

/// Summary helpers for consumers that only want the classification.
impl MetadataExtracted {
    /// The source folder name the organizer uses: the AI label, else `camera` when a camera
    /// make or model is known, else `other`.
    pub fn source_label(&self) -> &'static str {
        source_label(&self.media)
    }
}

/// The source folder name for a file: AI label, else `camera`, else `other`.
pub fn source_label(media: &MediaInfo) -> &'static str {
    if let Some(ai) = &media.ai {
        return AiSource::as_str(ai.source);
    }
    match &media.camera {
        Some(c) if c.make.is_some() || c.model.is_some() => "camera",
        _ => "other",
    }
}

/// True for images and videos.
pub fn is_media(media: &MediaInfo) -> bool {
    media.media_type != MediaType::Other
}
