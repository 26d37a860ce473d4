//! Where a file goes: shared by the organizer stage and `alice scan --dry-run`.

use std::ffi::OsStr;
use std::path::PathBuf;

use chrono::{DateTime, Local, Utc};
use events::media::MediaInfo;
use organizer::{PlanVars, Template, TemplateError};

/// What the organizer would do with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedAction {
    /// Place it at this path (absolute, before collision renaming).
    Organize {
        /// Planned destination.
        destination: PathBuf,
    },
    /// Same content is already organized there.
    Duplicate {
        /// The organized copy.
        existing: PathBuf,
    },
    /// Not media; left in place.
    Skip {
        /// Why.
        reason: String,
    },
    /// Recognized media that cannot be read; left in place (or quarantined).
    Fail {
        /// Why.
        error: String,
    },
}

/// The destination of a file relative to the organized root, from the template.
///
/// `date` is the capture date (wall-clock date where it was taken), else the local date of
/// `mtime`; `source` is the AI label, else `camera`, else `other`.
pub fn plan_destination(
    template: &Template,
    media: &MediaInfo,
    project: &str,
    name: &OsStr,
    asset_id: &str,
    mtime: DateTime<Utc>,
    seq: Option<u64>,
) -> Result<PathBuf, TemplateError> {
    let date = match &media.taken_at {
        Some(t) => t.local.date(),
        None => mtime.with_timezone(&Local).date_naive(),
    };
    let camera = media.camera.as_ref().and_then(organizer::camera_label);
    template.render(&PlanVars {
        date,
        project,
        source: events::source_label(media),
        name,
        asset_id,
        camera: camera.as_deref(),
        seq,
    })
}
