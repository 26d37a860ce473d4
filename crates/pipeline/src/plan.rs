//! Where a file goes and what becomes of it, with read-only lookups: shared by the organizer
//! stage and `alice scan --dry-run` ([`Planner`]). The decisions themselves are in
//! [`crate::decide`].

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use catalog::{AssetStatus, Catalog, CatalogError};
use chrono::{DateTime, Local, Utc};
use events::media::{MediaInfo, MediaType};
use organizer::{PlanVars, TemplateError};

use crate::Settings;
use crate::decide::{self, Decision, KnownOrganized};

/// The file a destination is planned for: its name, content id, modification time, and the
/// group it leads (`{group}`).
#[derive(Debug, Clone, Copy)]
pub struct PlannedFile<'a> {
    /// Its file name.
    pub name: &'a OsStr,
    /// Its content id.
    pub asset_id: &'a str,
    /// Its modification time.
    pub mtime: DateTime<Utc>,
    /// What `{group}` says ([`organizer::group_label`]).
    pub group: &'a str,
}

/// The destination of a file relative to the organized root, from the settings' template.
///
/// `date` is the capture date (wall-clock date where it was taken), else the local date of
/// `mtime` (or, with [`Settings::undated`], `undated`: a date that is only the modification
/// time is no date either); `source` is the AI label, else `camera`, else `other`. A group's
/// members are planned by their leader's `media`: one folder, one date.
pub fn plan_destination(
    settings: &Settings,
    media: &MediaInfo,
    project: &str,
    file: PlannedFile<'_>,
    seq: Option<u64>,
) -> Result<PathBuf, TemplateError> {
    let mtime = file.mtime;
    let dated = media
        .taken_at
        .filter(|_| media.taken_at_source != Some(events::media::DateSource::Mtime));
    let date = match (&dated, settings.undated) {
        (Some(t), _) => Some(t.local.date()),
        (None, true) => None,
        (None, false) => Some(match &media.taken_at {
            Some(t) => t.local.date(),
            None => mtime.with_timezone(&Local).date_naive(),
        }),
    };
    let camera = media.camera.as_ref().and_then(organizer::camera_label);
    settings.template.render(&PlanVars {
        date,
        project,
        source: events::source_label(media),
        media: media_kind(media),
        group: file.group,
        name: file.name,
        asset_id: file.asset_id,
        camera: camera.as_deref(),
        seq,
    })
}

/// Formats that are camera RAW files (for `{media}`).
const RAW_FORMATS: [&str; 9] = [
    "dng", "cr2", "cr3", "nef", "arw", "pef", "orf", "rw2", "raf",
];

/// The `{media}` of a file: `photo`, `video`, `raw` or `other`.
fn media_kind(media: &MediaInfo) -> &'static str {
    match media.media_type {
        MediaType::Video => "video",
        MediaType::Image
            if media
                .format
                .as_deref()
                .is_some_and(|f| RAW_FORMATS.contains(&f)) =>
        {
            "raw"
        }
        MediaType::Image => "photo",
        MediaType::Other => "other",
    }
}

/// What the catalog knows of an asset's organized copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizedCopy {
    /// The asset is not organized.
    None,
    /// Organized, and the copy is still there with its recorded size.
    Present(KnownOrganized),
    /// Organized, but the copy was deleted or changed since: the content is organized again
    /// rather than called a duplicate of something that is gone.
    Gone(PathBuf),
}

/// Looks up the organized copy of `asset_id`: a catalog read and a `stat`, nothing written.
pub fn organized_copy(c: &Catalog, asset_id: &str) -> Result<OrganizedCopy, CatalogError> {
    let Some(rec) = c.asset(asset_id)? else {
        return Ok(OrganizedCopy::None);
    };
    let Some(organized) = rec
        .organized_path
        .filter(|_| rec.status == AssetStatus::Organized)
    else {
        return Ok(OrganizedCopy::None);
    };
    let there =
        std::fs::symlink_metadata(&organized).is_ok_and(|m| m.is_file() && m.len() == rec.size);
    Ok(if there {
        OrganizedCopy::Present(KnownOrganized {
            original: rec.original_path,
            organized,
        })
    } else {
        OrganizedCopy::Gone(organized)
    })
}

/// What the organizer would do with one file (a [`Decision`] with its destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedAction {
    /// Place it at this path (absolute, before collision renaming).
    Organize {
        /// Planned destination.
        destination: PathBuf,
        /// The members of its pair that travel with it (inbox paths); empty for a file alone.
        members: Vec<PathBuf>,
    },
    /// A member of a pair (a RAW beside its JPEG, a Live Photo's video): it travels with its
    /// still, into the still's folder.
    Member {
        /// The still it travels with, when it lies beside it in the inbox.
        leader: Option<PathBuf>,
        /// Beside the organized still, when that is organized already.
        destination: Option<PathBuf>,
    },
    /// This very file is already organized there (move mode: its source would be removed).
    SameFile {
        /// The organized copy.
        organized: PathBuf,
    },
    /// Same content is already organized there (or earlier in this plan).
    Duplicate {
        /// The organized copy.
        existing: PathBuf,
    },
    /// A sidecar file: placed beside its organized media at `destination`, or (`None`)
    /// taken along by its media file when that is organized, waiting in the inbox until then.
    Sidecar {
        /// Beside its organized media, when that is organized already.
        destination: Option<PathBuf>,
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

/// Why a file cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Reading the catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The template cannot render this file's destination.
    #[error("key `template`: {0}")]
    Template(#[from] TemplateError),
}

/// Plans files the way the organizer stage decides them, without side effects: the catalog
/// is only read, sequence numbers count from 1 within the plan, and content seen earlier in
/// the plan counts as organized there. For `alice scan --dry-run`.
pub struct Planner<'c> {
    catalog: Option<&'c Catalog>,
    settings: Settings,
    active_project: Option<String>,
    seen: HashMap<String, KnownOrganized>,
    seqs: HashMap<(String, String), u64>,
}

impl<'c> Planner<'c> {
    /// A plan over `catalog` (none: the daemon never ran) with `settings`.
    pub fn new(catalog: Option<&'c Catalog>, settings: &Settings) -> Result<Self, CatalogError> {
        let active_project = match catalog {
            Some(c) => c.context()?.active_project,
            None => None,
        };
        Ok(Planner {
            catalog,
            settings: settings.clone(),
            active_project,
            seen: HashMap::new(),
            seqs: HashMap::new(),
        })
    }

    /// Why the file needs nothing (see [`crate::already_handled`]); `None` without a catalog.
    pub fn already_handled(
        &self,
        asset_id: &str,
        path: &Path,
    ) -> Result<Option<&'static str>, CatalogError> {
        match self.catalog {
            Some(c) => crate::already_handled(c, asset_id, path, self.settings.mode),
            None => Ok(None),
        }
    }

    /// True when sequence numbers in this plan are counted from 1 for the plan only.
    pub fn numbers_are_local(&self) -> bool {
        self.settings.template.uses_seq()
    }

    /// What the organizer would do with `file`, whose metadata reader returned `media` (and
    /// `error` for unreadable media).
    pub fn plan(
        &mut self,
        file: &watcher::Discovered,
        media: &MediaInfo,
        error: Option<&str>,
    ) -> Result<PlannedAction, PlanError> {
        let known = match self.catalog {
            Some(c) => match organized_copy(c, &file.asset_id)? {
                OrganizedCopy::Present(k) => Some(k),
                OrganizedCopy::None | OrganizedCopy::Gone(_) => None,
            },
            None => None,
        }
        .or_else(|| self.seen.get(&file.asset_id).cloned());
        let is_media = media.media_type != events::media::MediaType::Other;
        let live = media.live_photo_id.as_deref();
        let follower = match is_media {
            false => crate::sidecar::is_sidecar(self.catalog, &file.path)?,
            true => {
                crate::sidecar::is_member(self.catalog, &file.path, media.live_photo_id.as_deref())?
            }
        };
        Ok(
            match decide::outcome(media, error, known.as_ref(), &file.path, follower) {
                Decision::Skip { reason } => PlannedAction::Skip { reason },
                Decision::Sidecar if is_media => PlannedAction::Member {
                    leader: file
                        .path
                        .parent()
                        .and_then(|folder| {
                            crate::sidecar::leader_beside(folder, file.path.file_name()?)
                        })
                        .or_else(|| crate::sidecar::live_still_beside(&file.path, live)),
                    destination: self.sidecar_destination(&file.path, live)?,
                },
                Decision::Sidecar => PlannedAction::Sidecar {
                    destination: self.sidecar_destination(&file.path, live)?,
                },
                Decision::Fail { error } => PlannedAction::Fail { error },
                Decision::SameFile { organized } => PlannedAction::SameFile { organized },
                Decision::Duplicate { existing } => PlannedAction::Duplicate { existing },
                Decision::Organize => {
                    let members =
                        crate::sidecar::members_beside(&file.path, media.live_photo_id.as_deref());
                    PlannedAction::Organize {
                        destination: self.destination(file, media, &members)?,
                        members,
                    }
                }
            },
        )
    }

    /// Where a sidecar would go now: beside its organized media, if that is organized.
    fn sidecar_destination(
        &self,
        path: &Path,
        live: Option<&str>,
    ) -> Result<Option<PathBuf>, CatalogError> {
        let Some(c) = self.catalog else {
            return Ok(None);
        };
        Ok(
            crate::sidecar::organized_leader(c, path, live)?.and_then(|(media, candidate)| {
                let organized = media.organized_path?;
                Some(organized.with_file_name(candidate.name_beside(organized.file_name()?)))
            }),
        )
    }

    fn destination(
        &mut self,
        file: &watcher::Discovered,
        media: &MediaInfo,
        members: &[PathBuf],
    ) -> Result<PathBuf, TemplateError> {
        let name = file.path.file_name().unwrap_or_default();
        let kinds = members.iter().filter_map(|m| {
            let member = m.file_name()?;
            organizer::sidecar_of(name, member)
                .map(|c| c.kind)
                .or_else(|| organizer::member_kind(member))
        });
        let group = organizer::group_label(kinds, media.motion_photo);
        let project = decide::project_for(file.project.as_deref(), self.active_project.as_deref());
        let source = events::source_label(media).to_owned();
        let seq = self.settings.template.uses_seq().then(|| {
            let n = self.seqs.entry((project.clone(), source)).or_insert(0);
            *n += 1;
            *n
        });
        let planned = PlannedFile {
            name,
            asset_id: &file.asset_id,
            mtime: file.mtime.into(),
            group,
        };
        let relative = plan_destination(&self.settings, media, &project, planned, seq)?;
        let destination = self.settings.organized.join(relative);
        self.seen.insert(
            file.asset_id.clone(),
            KnownOrganized {
                original: file.path.clone(),
                organized: destination.clone(),
            },
        );
        Ok(destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kind_tells_photos_raws_and_videos_apart() {
        let with = |t, f: Option<&str>| {
            let mut m = MediaInfo::empty(t);
            m.format = f.map(str::to_owned);
            media_kind(&m)
        };
        assert_eq!(with(MediaType::Image, Some("jpeg")), "photo");
        assert_eq!(with(MediaType::Image, Some("cr3")), "raw");
        assert_eq!(with(MediaType::Video, Some("mov")), "video");
        assert_eq!(with(MediaType::Other, None), "other");
    }
}
