//! The organizer's decisions, as pure functions: one answer to each question, used by the live
//! organizer stage and by dry runs (through [`crate::Planner`]). Nothing here reads the
//! catalog or the filesystem; callers pass in what they found.

use std::path::{Path, PathBuf};

use events::media::{MediaInfo, MediaType};

/// Project used when a file lies directly in an inbox and no project is active.
pub const UNCATEGORIZED: &str = "uncategorized";

/// Why a file that is not media is left alone.
pub const NOT_MEDIA: &str = "not an image or video: no known format in its first bytes";

/// Why a sidecar file stays in the inbox (the catalog's status reason): its media is not
/// organized (yet).
pub const SIDECAR_WAITING: &str = "sidecar: waiting in the inbox for its media file";

/// The catalog's status reason for a sidecar placed beside its media file.
pub const SIDECAR_PLACED: &str = "sidecar: placed beside its media file";

/// The catalog's status reason for a member of a pair placed with its still.
pub const MEMBER_PLACED: &str = "group: placed with the still it pairs with";

/// The status reason of a file that travels with another (`kind` as in
/// [`events::SidecarFiled`]), placed or waiting. Every waiting file, sidecar or member, has
/// [`SIDECAR_WAITING`], which `alice status` lists as orphans.
pub fn follower_reason(kind: &str, placed: bool) -> &'static str {
    match (organizer::SidecarKind::is_member_name(kind), placed) {
        (true, true) => MEMBER_PLACED,
        (_, false) => SIDECAR_WAITING,
        (false, true) => SIDECAR_PLACED,
    }
}

/// The project a discovered file is filed under: its inbox folder's, else the active one,
/// else [`UNCATEGORIZED`].
pub fn project_for(discovered: Option<&str>, active: Option<&str>) -> String {
    discovered.or(active).unwrap_or(UNCATEGORIZED).to_owned()
}

/// Content that is already organized, with its organized copy still in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownOrganized {
    /// The inbox path it was organized from.
    pub original: PathBuf,
    /// Where it is in the organized tree.
    pub organized: PathBuf,
}

/// What the organizer does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A sidecar ([`crate::sidecar::is_sidecar`]) or a member of a pair
    /// ([`crate::sidecar::is_member`]): place it beside its media if that is organized, else
    /// leave it in the inbox for its media to take along ([`events::SidecarFiled`]).
    Sidecar,
    /// Not media: leave it where it is ([`events::AssetSkipped`]).
    Skip {
        /// Why.
        reason: String,
    },
    /// Recognized media that cannot be read: leave it (or quarantine it),
    /// [`events::AssetFailed`].
    Fail {
        /// What the metadata reader reported.
        error: String,
    },
    /// This very file was organized before (a replay, or a move interrupted before its
    /// source was removed): finish it, report it organized there.
    SameFile {
        /// Its organized copy.
        organized: PathBuf,
    },
    /// Other content-identical file already organized: a duplicate.
    Duplicate {
        /// The organized copy of the same content.
        existing: PathBuf,
    },
    /// New content: plan a destination and place it.
    Organize,
}

/// Decides what becomes of the file at `path` with metadata `media` (and the reader's
/// `error`, if it recognized the format but could not read it), given the organized copy of
/// the same content if there is one, and whether the file travels with another: a sidecar
/// ([`crate::sidecar::is_sidecar`]) or, for media, a member of a pair
/// ([`crate::sidecar::is_member`]).
pub fn outcome(
    media: &MediaInfo,
    error: Option<&str>,
    organized: Option<&KnownOrganized>,
    path: &Path,
    sidecar: bool,
) -> Decision {
    if media.media_type == MediaType::Other {
        if sidecar {
            return Decision::Sidecar;
        }
        return Decision::Skip {
            reason: NOT_MEDIA.to_owned(),
        };
    }
    // A member of a pair travels with its still, unless it was organized from here itself
    // (it became its group's primary).
    if sidecar && organized.is_none_or(|k| k.original != path) {
        return Decision::Sidecar;
    }
    if let Some(error) = error {
        return Decision::Fail {
            error: error.to_owned(),
        };
    }
    match organized {
        Some(k) if k.original == path => Decision::SameFile {
            organized: k.organized.clone(),
        },
        Some(k) => Decision::Duplicate {
            existing: k.organized.clone(),
        },
        None => Decision::Organize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(t: MediaType) -> MediaInfo {
        MediaInfo::empty(t)
    }

    fn known() -> KnownOrganized {
        KnownOrganized {
            original: "/in/a.png".into(),
            organized: "/org/a.png".into(),
        }
    }

    #[test]
    fn project_prefers_the_inbox_folder_then_the_active_project() {
        assert_eq!(project_for(Some("p"), Some("active")), "p");
        assert_eq!(project_for(None, Some("active")), "active");
        assert_eq!(project_for(None, None), UNCATEGORIZED);
    }

    #[test]
    fn non_media_is_skipped_whatever_else_is_known() {
        let d = outcome(
            &media(MediaType::Other),
            Some("bad"),
            Some(&known()),
            Path::new("/in/a.png"),
            false,
        );
        assert_eq!(
            d,
            Decision::Skip {
                reason: NOT_MEDIA.into()
            }
        );
    }

    #[test]
    fn sidecars_are_told_from_other_files_that_are_not_media() {
        let other = media(MediaType::Other);
        assert_eq!(
            outcome(&other, None, None, Path::new("/in/a.jpg.xmp"), true),
            Decision::Sidecar
        );
        assert!(matches!(
            outcome(&other, None, None, Path::new("/in/notes.txt"), false),
            Decision::Skip { .. }
        ));
        // A member of a pair waits for its still, unless it was organized from here.
        let raw = media(MediaType::Image);
        assert_eq!(
            outcome(&raw, None, None, Path::new("/in/a.CR2"), true),
            Decision::Sidecar
        );
        let own = KnownOrganized {
            original: "/in/a.CR2".into(),
            organized: "/org/a.CR2".into(),
        };
        assert_eq!(
            outcome(&raw, None, Some(&own), Path::new("/in/a.CR2"), true),
            Decision::SameFile {
                organized: "/org/a.CR2".into()
            }
        );
    }

    #[test]
    fn unreadable_media_fails() {
        let d = outcome(
            &media(MediaType::Image),
            Some("truncated"),
            None,
            Path::new("/x"),
            false,
        );
        assert_eq!(
            d,
            Decision::Fail {
                error: "truncated".into()
            }
        );
    }

    #[test]
    fn organized_content_is_the_same_file_from_its_path_else_a_duplicate() {
        let img = media(MediaType::Image);
        assert_eq!(
            outcome(&img, None, Some(&known()), Path::new("/in/a.png"), false),
            Decision::SameFile {
                organized: "/org/a.png".into()
            }
        );
        assert_eq!(
            outcome(&img, None, Some(&known()), Path::new("/in/b.png"), false),
            Decision::Duplicate {
                existing: "/org/a.png".into()
            }
        );
    }

    #[test]
    fn new_content_is_organized() {
        assert_eq!(
            outcome(
                &media(MediaType::Video),
                None,
                None,
                Path::new("/in/v.mp4"),
                false
            ),
            Decision::Organize
        );
    }
}
