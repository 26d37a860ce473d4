//! Groups of files placed together: a media file (the *leader*: the still of a pair, or any
//! media file with sidecars), its sidecars, and the members of its pair (the RAW of a
//! RAW+JPEG, a Live Photo's video; see [`organizer::candidates`]). A group is one unit: it is
//! placed in one journaled operation ([`crate::place_journaled`]), lands in one folder with
//! the leader's date, is undone together, and is a duplicate only when every member's content
//! is organized already.
//!
//! A group's operation is recorded under one of its files, its *primary* (the commit point):
//! the leader, unless the leader's content is organized already while a member's is not;
//! then the first new member is the primary and the leader travels beside it (kind `still`).

use std::path::{Path, PathBuf};

use catalog::{Catalog, CatalogError};
use events::MetadataExtracted;
use events::media::MediaInfo;
use organizer::{Candidate, Root, SidecarKind};

use crate::decide::KnownOrganized;
use crate::plan::{OrganizedCopy, organized_copy};
use crate::sidecar::{self, Sidecar};

/// A group of files placed together: one unit of placement.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The file the operation is recorded under.
    pub primary: PathBuf,
    /// Its content id.
    pub asset_id: String,
    /// Its size as hashed.
    pub size: u64,
    /// Every other file of the group, named relative to the primary.
    pub others: Vec<Sidecar>,
    /// What `{group}` says of it.
    pub label: &'static str,
}

impl Unit {
    /// True when the leader is the primary (the usual case).
    pub fn led_by(&self, leader: &Path) -> bool {
        self.primary == leader
    }

    /// The primary's file name.
    pub fn name(&self) -> &std::ffi::OsStr {
        self.primary.file_name().unwrap_or_default()
    }
}

/// The group led by the inbox file `x`, found beside it and hashed. With `leader_known`
/// (the leader's content is organized already), the first member whose content is new
/// becomes the primary; `None` then means every member is known too: the whole group is a
/// duplicate. Blocking.
pub fn gather(
    c: &Catalog,
    x: &MetadataExtracted,
    leader_known: bool,
) -> Result<Option<Unit>, CatalogError> {
    let id = x.media.live_photo_id.as_deref();
    let found = match Root::open(&x.inbox) {
        Ok(inbox) => {
            let mut found = sidecar::find_beside(&inbox, &x.path);
            // Its Live Photo video under another name, told by Apple's content identifier.
            if let Some(id) = id {
                found.extend(sidecar::live_videos_beside(&inbox, &x.path, id));
            }
            with_members_sidecars(&inbox, x, found)
        }
        Err(_) => Vec::new(),
    };
    // A video of the still's stem that Apple identifies as another Live Photo's stays out,
    // and so does a member organized on its own from this very path that could not be taken
    // back ([`rejoin`]): it is not placed twice.
    let mut kept = Vec::with_capacity(found.len());
    for s in found {
        let other_live =
            s.candidate.kind == SidecarKind::LiveVideo && !sidecar::same_live_photo(id, &s.path);
        let placed_alone = s.candidate.kind.is_member() && organized_here(c, &s)?;
        if !other_live && !placed_alone {
            kept.push(s);
        }
    }
    let found = kept;
    let label =
        organizer::group_label(found.iter().map(|s| s.candidate.kind), x.media.motion_photo);
    let led = Unit {
        primary: x.path.clone(),
        asset_id: x.asset_id.clone(),
        size: x.size,
        others: found,
        label,
    };
    if !leader_known {
        return Ok(Some(led));
    }
    for m in led.others.iter().filter(|s| s.candidate.kind.is_member()) {
        if known_copy(c, &m.asset_id)?.is_none() {
            return Ok(rebase(led.clone(), m, x));
        }
    }
    Ok(None)
}

/// True when the inbox file `x` may be a member of a pair whose still has not come yet: a
/// camera RAW, or a Live Photo's video (a `.mov` with Apple's content identifier). Such a
/// file waits a little for its still before it is organized on its own
/// (`Settings::group_wait`).
pub fn may_await_still(x: &MetadataExtracted) -> bool {
    match x.path.file_name().and_then(organizer::member_kind) {
        Some(SidecarKind::Raw) => true,
        Some(SidecarKind::LiveVideo) => x.media.live_photo_id.is_some(),
        _ => false,
    }
}

/// Takes back the members of the group the inbox still `x` leads that were organized on
/// their own from its folder before it came (they settled first and waited in vain): each
/// one's operation is undone ([`crate::undo_op`]: a move goes back to its inbox path, a
/// copy's organized file is deleted while its original is still in the inbox), so
/// [`gather`] finds it beside `x` again and the group places it, under the still's
/// operation, in the still's folder with the still's date. Every step is journaled: a crash
/// in between leaves the member in the inbox beside its still, which gathers it on the next
/// scan. A member that cannot be taken back stays where it is. Blocking.
pub fn rejoin(
    c: &Catalog,
    x: &MetadataExtracted,
    organized_root: &Path,
) -> Result<(), CatalogError> {
    for rec in organized_alone(c, x)? {
        let Some(op) = rec.op_id.map(|id| c.op(id)).transpose()?.flatten() else {
            continue;
        };
        match crate::undo_op(c, &op, organized_root) {
            Ok(undone) => {
                tracing::info!(asset_id = %rec.asset_id, still = %x.path.display(), undone = %undone, "a member organized before its still came rejoins its group");
            }
            Err(e) => {
                tracing::warn!(asset_id = %rec.asset_id, still = %x.path.display(), error = %e, "cannot take back a member organized before its still came; it stays where it is");
            }
        }
    }
    Ok(())
}

/// The members of the pair the inbox still `x` leads that are organized as assets of their
/// own from its folder: by name (`IMG_1.CR2`, `IMG_1.MOV`; a video of another Live Photo left
/// out) and, for a Live Photo, by Apple's content identifier.
fn organized_alone(
    c: &Catalog,
    x: &MetadataExtracted,
) -> Result<Vec<catalog::AssetRecord>, CatalogError> {
    let (Some(folder), Some(name)) = (x.path.parent(), x.path.file_name()) else {
        return Ok(Vec::new());
    };
    let id = x.media.live_photo_id.as_deref();
    let mut out: Vec<catalog::AssetRecord> = Vec::new();
    for m in organizer::candidates(name)
        .into_iter()
        .filter(|m| m.kind.is_member())
    {
        let Some(rec) = c.organized_from(&folder.join(&m.name))? else {
            continue;
        };
        let theirs = rec.media.as_ref().and_then(|m| m.live_photo_id.as_deref());
        let other_live = m.kind == SidecarKind::LiveVideo
            && matches!((id, theirs), (Some(a), Some(b)) if a != b);
        if !other_live {
            out.push(rec);
        }
    }
    if let Some(id) = id {
        for rec in c.organized_live_photo(id)? {
            let video = rec
                .original_path
                .file_name()
                .and_then(organizer::member_kind)
                == Some(SidecarKind::LiveVideo);
            if video
                && rec.original_path.parent() == Some(folder)
                && !out.iter().any(|o| o.asset_id == rec.asset_id)
            {
                out.push(rec);
            }
        }
    }
    Ok(out)
}

/// True when the member `m` was organized as an asset of its own from its inbox path.
fn organized_here(c: &Catalog, m: &Sidecar) -> Result<bool, CatalogError> {
    Ok(matches!(
        organized_copy(c, &m.asset_id)?,
        OrganizedCopy::Present(k) if k.original == m.path
    ))
}

/// `found` (beside the leader `x`) and the sidecars of its members that are not the
/// leader's too (`IMG_1.CR2.xmp` beside `IMG_1.CR2`), named after the leader's stem.
fn with_members_sidecars(inbox: &Root, x: &MetadataExtracted, found: Vec<Sidecar>) -> Vec<Sidecar> {
    let Some(leader) = x.path.file_name() else {
        return found;
    };
    let mut all = found.clone();
    for m in found.iter().filter(|s| s.candidate.kind.is_member()) {
        for s in sidecar::find_beside(inbox, &m.path) {
            if s.candidate.kind.is_member() || all.iter().any(|a| a.path == s.path) {
                continue;
            }
            if let Some(candidate) = s.candidate.rebased(leader) {
                all.push(Sidecar { candidate, ..s });
            }
        }
    }
    all
}

/// `unit` recorded under its member `m` instead of its leader `x`: every other file named
/// after `m`'s stem (those that cannot be are left out and stay in the inbox).
fn rebase(unit: Unit, m: &Sidecar, x: &MetadataExtracted) -> Option<Unit> {
    let name = m.path.file_name()?;
    let leader = Sidecar {
        path: x.path.clone(),
        candidate: Candidate::beside(x.path.file_name()?, name, SidecarKind::Still)?,
        asset_id: x.asset_id.clone(),
        size: x.size,
    };
    let others = std::iter::once(leader)
        .chain(unit.others.iter().filter(|s| s.path != m.path).cloned())
        .filter_map(|s| {
            let candidate = s.candidate.rebased(name)?;
            Some(Sidecar { candidate, ..s })
        })
        .collect();
    Some(Unit {
        primary: m.path.clone(),
        asset_id: m.asset_id.clone(),
        size: m.size,
        others,
        label: unit.label,
    })
}

/// Where content `asset_id` is organized: as an asset of its own ([`organized_copy`]) or,
/// failing that, as a member of another file's group, with its copy still there.
pub fn content_copy(c: &Catalog, asset_id: &str) -> Result<OrganizedCopy, CatalogError> {
    let copy = organized_copy(c, asset_id)?;
    if copy != OrganizedCopy::None {
        return Ok(copy);
    }
    Ok(match c.placed_copy_of(asset_id)? {
        Some(r)
            if std::fs::symlink_metadata(&r.destination)
                .is_ok_and(|m| m.is_file() && m.len() == r.size) =>
        {
            OrganizedCopy::Present(KnownOrganized {
                original: r.source,
                organized: r.destination,
            })
        }
        _ => OrganizedCopy::None,
    })
}

/// The organized copy of content `asset_id`, if it has one that is still there.
pub fn known_copy(c: &Catalog, asset_id: &str) -> Result<Option<KnownOrganized>, CatalogError> {
    Ok(match content_copy(c, asset_id)? {
        OrganizedCopy::Present(k) => Some(k),
        OrganizedCopy::None | OrganizedCopy::Gone(_) => None,
    })
}

/// The primary's own metadata, for its record: the leader's when the leader is the
/// primary, else read from the member's file (what cannot be read is recorded as unknown).
pub fn primary_media(unit: &Unit, x: &MetadataExtracted) -> MediaInfo {
    if unit.led_by(&x.path) {
        return x.media.clone();
    }
    match metadata::extract_path(&unit.primary) {
        Ok(e) => e.info,
        Err(_) => MediaInfo::empty(x.media.media_type),
    }
}
