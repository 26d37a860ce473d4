//! The JSON views scripts read: `alice inspect --json`, `alice search --json`, `alice show
//! --json`. Fields are only ever added.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use events::media::MediaInfo;
use serde::Serialize;

use crate::query::AssetRecord;

/// One file as `alice inspect --json` prints it (a contract for scripts: fields are only
/// added).
#[derive(Debug, Serialize)]
pub struct InspectReport<'a> {
    #[serde(with = "events::path")]
    pub path: &'a Path,
    pub asset_id: Option<String>,
    pub media_type: Option<&'static str>,
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub taken_at: Option<String>,
    pub taken_at_source: Option<&'static str>,
    pub camera: Option<events::media::Camera>,
    pub ai: Option<events::media::AiInfo>,
    /// True / false when the file says whether it is AI-made (any signal); absent when
    /// nothing is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_generated: Option<bool>,
    /// IPTC/XMP source type, IPTC AI fields, C2PA manifest and whether it validates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<events::media::Provenance>,
    /// Star rating, from an XMP sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<i8>,
    /// Labels and keywords, from an XMP sidecar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Which source each field a sidecar spoke to came from (`file` or `sidecar:<name>`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: std::collections::BTreeMap<String, String>,
    /// True for a motion photo (a still with an embedded video); absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub motion_photo: bool,
    /// Apple's Live Photo content identifier (still and video share it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_photo_id: Option<String>,
    pub error: Option<String>,
}

impl<'a> InspectReport<'a> {
    /// What the daemon would know about the file at `path`; the flag is false when it could
    /// not be opened.
    pub fn of(path: &'a Path) -> (InspectReport<'a>, bool) {
        match crate::query::inspect(path) {
            Ok(i) => (
                InspectReport::from_info(
                    path,
                    i.asset_id,
                    i.extraction.info,
                    i.extraction.error.map(|e| e.to_string()),
                ),
                true,
            ),
            Err(e) => (InspectReport::unopened(path, e), false),
        }
    }

    fn unopened(path: &'a Path, error: String) -> InspectReport<'a> {
        InspectReport {
            path,
            asset_id: None,
            media_type: None,
            format: None,
            width: None,
            height: None,
            duration_ms: None,
            taken_at: None,
            taken_at_source: None,
            camera: None,
            ai: None,
            ai_generated: None,
            provenance: None,
            rating: None,
            labels: Vec::new(),
            sources: Default::default(),
            motion_photo: false,
            live_photo_id: None,
            error: Some(error),
        }
    }

    fn from_info(
        path: &'a Path,
        asset_id: String,
        info: MediaInfo,
        error: Option<String>,
    ) -> InspectReport<'a> {
        InspectReport {
            path,
            asset_id: Some(asset_id),
            media_type: Some(info.media_type.as_str()),
            format: info.format,
            width: info.width,
            height: info.height,
            duration_ms: info.duration_ms,
            taken_at: info.taken_at.map(|t| t.to_string()),
            taken_at_source: info.taken_at_source.map(|s| s.as_str()),
            camera: info.camera,
            ai: info.ai,
            ai_generated: info.ai_generated,
            provenance: info.provenance,
            rating: info.rating,
            labels: info.labels,
            sources: info.sources,
            motion_photo: info.motion_photo,
            live_photo_id: info.live_photo_id,
            error,
        }
    }
}

/// The JSON form of an asset record (a contract for scripts: fields are only added).
#[derive(Debug, Serialize)]
pub struct AssetJson<'a> {
    pub asset_id: &'a str,
    pub status: &'static str,
    pub status_reason: Option<&'a str>,
    #[serde(with = "events::path::option")]
    pub organized_path: &'a Option<PathBuf>,
    #[serde(with = "events::path")]
    pub original_path: &'a Path,
    pub project: Option<&'a str>,
    pub style: Option<&'a str>,
    pub source: Option<&'a str>,
    pub size: u64,
    pub taken_at: Option<String>,
    pub organized_at: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub media: Option<&'a MediaInfo>,
}

impl<'a> From<&'a AssetRecord> for AssetJson<'a> {
    fn from(a: &'a AssetRecord) -> Self {
        AssetJson {
            asset_id: &a.asset_id,
            status: a.status.as_str(),
            status_reason: a.status_reason.as_deref(),
            organized_path: &a.organized_path,
            original_path: &a.original_path,
            project: a.project.as_deref(),
            style: a.style.as_deref(),
            source: a.source.as_deref(),
            size: a.size,
            taken_at: a
                .media
                .as_ref()
                .and_then(|m| m.taken_at)
                .map(|t| t.to_string()),
            organized_at: a.organized_at,
            first_seen: a.first_seen,
            media: a.media.as_ref(),
        }
    }
}

/// A search hit as `alice search --json` prints it: the asset, its score and snippet.
#[derive(Debug, Serialize)]
pub struct HitJson<'a> {
    #[serde(flatten)]
    pub asset: AssetJson<'a>,
    pub score: Option<f64>,
    pub snippet: Option<String>,
}

/// A sidecar file of an asset, as `alice show --json` lists it.
#[derive(Debug, Serialize)]
pub struct SidecarJson {
    pub kind: String,
    #[serde(with = "events::path")]
    pub path: PathBuf,
    #[serde(with = "events::path")]
    pub came_from: PathBuf,
    /// True for a member of a pair (`raw`, `live-video`, `still`): media of its own.
    pub member: bool,
    /// The asset whose operation placed it (the group's primary).
    pub with: String,
}

impl From<&crate::query::SidecarRecord> for SidecarJson {
    fn from(s: &crate::query::SidecarRecord) -> Self {
        SidecarJson {
            kind: s.kind.clone(),
            path: s.destination.clone(),
            came_from: s.source.clone(),
            member: organizer::SidecarKind::is_member_name(&s.kind),
            with: s.asset_id.clone(),
        }
    }
}
