//! Sidecar files in the inbox: which ones lie beside a media file (found beneath the inbox's
//! folder handle, hashed), and which organized media a sidecar arriving on its own belongs
//! to. The names themselves are the organizer's ([`organizer::candidates`]).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use std::ffi::OsStr;

use catalog::{AssetRecord, Catalog, CatalogError};
use events::media::MediaInfo;
use metadata::sidecar::{MAX_SIDECAR_BYTES, SidecarFormat};
use organizer::{Candidate, Root, SidecarKind};

/// A folder is looked at this far (entries listed) for a Live Photo's other half told by
/// Apple's content identifier under another name...
const MAX_LIVE_ENTRIES: usize = 4096;
/// ...and at most this many of the files whose names fit are read.
const MAX_LIVE_READS: usize = 64;

/// Folder listings reused for the sidecar probes of every media file in a folder, on
/// filesystems whose ctime this kernel keeps with nanosecond resolution
/// ([`fsroot::ctime_kept_here`]; elsewhere every name is probed).
///
/// Each media file has about 16 candidate sidecar names, looked for twice (metadata and
/// organize stage); most are not there, and in a folder just filled each miss is a real
/// directory look-up. A folder's listing is reused while the folder's ctime is unchanged
/// and was at least [`listing::SETTLED`] older than the listing: any later change to its
/// entries (a sidecar arriving, a file leaving) gives it a later ctime, which user space
/// cannot set back. A folder that keeps changing (move mode empties it) is listed at most
/// once per [`listing::RELIST`]; in between its names are probed one by one.
mod listing {
    use std::collections::{HashMap, HashSet};
    use std::ffi::OsString;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// How much older than its listing a folder's ctime must be for the listing to count.
    pub(super) const SETTLED: Duration = Duration::from_millis(100);
    /// Least time between two listings of a folder whose entries keep changing.
    pub(super) const RELIST: Duration = Duration::from_secs(1);
    /// Larger folders are probed name by name, never listed here.
    const MAX_NAMES: usize = 8192;
    /// Folders remembered at once (the set is simply emptied when full).
    const MAX_FOLDERS: usize = 256;

    struct Listing {
        ctime: (i64, i64),
        /// Whether the folder was settled when listed (else only the rate limit counts).
        settled: bool,
        at: Instant,
        names: Option<Arc<HashSet<OsString>>>,
    }

    static LISTINGS: Mutex<Option<HashMap<(u64, u64), Listing>>> = Mutex::new(None);

    /// The names in `dir`, when a listing that is still true is at hand or can be made now.
    pub(super) fn of(dir: &fsroot::Dir) -> Option<Arc<HashSet<OsString>>> {
        // Only where every change to the folder's entries moves its ctime on (not FAT, whose
        // times step by 2 s; not a network or FUSE filesystem, whose attributes are cached).
        if !fsroot::ctime_kept_here(dir.fd()) {
            return None;
        }
        let meta = dir.metadata().ok()?;
        let key = (meta.dev(), meta.ino());
        let ctime = (meta.ctime(), meta.ctime_nsec());
        {
            let guard = LISTINGS.lock().ok()?;
            if let Some(l) = guard.as_ref().and_then(|m| m.get(&key)) {
                if l.settled && l.ctime == ctime {
                    return l.names.clone();
                }
                if l.at.elapsed() < RELIST {
                    return None;
                }
            }
        }
        let listed_at = SystemTime::now();
        let entries = dir.entries().ok()?;
        let names: Option<Arc<HashSet<OsString>>> = (entries.len() <= MAX_NAMES).then(|| {
            Arc::new(
                entries
                    .into_iter()
                    .filter(|e| e.kind == fsroot::EntryKind::File)
                    .map(|e| e.name)
                    .collect(),
            )
        });
        let changed_at = UNIX_EPOCH
            + Duration::new(
                u64::try_from(ctime.0).unwrap_or(0),
                u32::try_from(ctime.1).unwrap_or(0),
            );
        let settled = changed_at + SETTLED <= listed_at;
        if let Ok(mut guard) = LISTINGS.lock() {
            let map = guard.get_or_insert_with(HashMap::new);
            if map.len() >= MAX_FOLDERS {
                map.clear();
            }
            map.insert(
                key,
                Listing {
                    ctime,
                    settled,
                    at: Instant::now(),
                    names: names.clone(),
                },
            );
        }
        // Good for this probe either way: it was listed just now.
        names
    }
}

/// A sidecar file found beside its media file in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// Its path in the inbox.
    pub path: PathBuf,
    /// Its name's relation to the media's (kind, and its name beside a renamed media).
    pub candidate: Candidate,
    /// Its BLAKE3, hex.
    pub asset_id: String,
    /// Its size as hashed.
    pub size: u64,
}

/// The sidecars beside `media` (a file beneath `inbox`), each hashed. Names that are
/// missing, not regular files, or cannot be read are left out: a sidecar that cannot be read
/// stays in the inbox and is handled on its own.
pub fn find_beside(inbox: &Root, media: &Path) -> Vec<Sidecar> {
    each_beside(inbox, media, |candidate, rel, file| {
        hashed(inbox, candidate, rel, file)
    })
}

fn hashed(
    inbox: &Root,
    candidate: Candidate,
    rel: &Path,
    file: &mut std::fs::File,
) -> io::Result<Sidecar> {
    let mut hasher = blake3::Hasher::new();
    let size = io::copy(file, &mut hasher)?;
    Ok(Sidecar {
        path: inbox.path().join(rel),
        candidate,
        asset_id: hasher.finalize().to_hex().to_string(),
        size,
    })
}

/// The videos of the Live Photo `id` that lie beside its still `still` (a file beneath
/// `inbox`) under names of their own (`IMG_E0100.MOV` beside `IMG_0100.HEIC`), told by
/// Apple's content identifier, each hashed and named after the still's stem
/// ([`Candidate::renamed`]). Same-stem videos are [`find_beside`]'s and left out here.
pub fn live_videos_beside(inbox: &Root, still: &Path, id: &str) -> Vec<Sidecar> {
    let (Ok(rel), Some(name)) = (inbox.relative(still), still.file_name()) else {
        return Vec::new();
    };
    // Only a still leads a Live Photo (a video carries the identifier too).
    if !organizer::is_still(name) {
        return Vec::new();
    }
    let same_stem = organizer::candidates(name);
    let is_video = |n: &OsStr| {
        organizer::member_kind(n) == Some(SidecarKind::LiveVideo)
            && !same_stem.iter().any(|c| c.name == n)
    };
    let folder = rel.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for path in live_halves(&inbox.path().join(folder), id, is_video) {
        let Some(video) = path.file_name() else {
            continue;
        };
        let Some(candidate) = Candidate::renamed(video, SidecarKind::LiveVideo) else {
            continue;
        };
        let rel = folder.join(video);
        match open_regular(inbox, &rel).and_then(|f| match f {
            Some(mut f) => hashed(inbox, candidate, &rel, &mut f).map(Some),
            None => Ok(None),
        }) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a Live Photo's video; it stays in the inbox");
            }
        }
    }
    out
}

/// The files in `folder` whose names `fits` accepts and whose Live Photo identifier is `id`
/// (Apple's content identifier: a Live Photo's other half, whatever its name). Bounded: the
/// first [`MAX_LIVE_ENTRIES`] entries, of which at most [`MAX_LIVE_READS`] are read.
pub fn live_halves(folder: &Path, id: &str, fits: impl Fn(&OsStr) -> bool) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut reads = 0;
    let mut out = Vec::new();
    for entry in dir.take(MAX_LIVE_ENTRIES).flatten() {
        let name = entry.file_name();
        if !fits(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if reads == MAX_LIVE_READS {
            break;
        }
        reads += 1;
        let path = folder.join(&name);
        let theirs = metadata::extract_path(&path).map(|e| e.info.live_photo_id);
        if matches!(theirs, Ok(Some(t)) if t == id) {
            out.push(path);
        }
    }
    out
}

/// The regular file `rel` beneath `inbox`, opened without following symlinks; `None` when
/// it is missing, not a regular file, or a symlink.
fn open_regular(inbox: &Root, rel: &Path) -> io::Result<Option<std::fs::File>> {
    regular(inbox.open_file(rel))
}

/// [`open_regular`] for a name in an open folder.
fn open_regular_in(dir: &fsroot::Dir, name: &OsStr) -> io::Result<Option<std::fs::File>> {
    regular(dir.open_file(name))
}

fn regular(opened: io::Result<std::fs::File>) -> io::Result<Option<std::fs::File>> {
    let opened = match opened {
        Ok(file) => file.metadata().map(|m| (file, m.is_file())),
        Err(e) => Err(e),
    };
    match opened {
        Ok((file, true)) => Ok(Some(file)),
        Ok((_, false)) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound || fsroot::is_symlink_refusal(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Merges the metadata of the sidecars beside `media` (see [`metadata::sidecar`]) into
/// `info`. Sidecars larger than [`metadata::sidecar::MAX_SIDECAR_BYTES`] are not read.
pub fn merge_beside(inbox: &Root, media: &Path, info: &mut MediaInfo) {
    let found = each_beside(inbox, media, |candidate, _, file| {
        // Members of a pair are media of their own, not metadata of this file.
        if candidate.kind.is_member() {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.take(MAX_SIDECAR_BYTES).read_to_end(&mut bytes)?;
        Ok(Some((candidate, bytes)))
    });
    for (candidate, bytes) in found.into_iter().flatten() {
        merge_one(info, &candidate, &bytes);
    }
}

/// Merges one sidecar's `bytes` into `info`.
pub fn merge_one(info: &mut MediaInfo, candidate: &Candidate, bytes: &[u8]) {
    if let Some(format) = SidecarFormat::of_kind(candidate.kind.as_str()) {
        let name = candidate.name.to_string_lossy();
        let found = metadata::sidecar::read_sidecar(format, bytes, &name);
        metadata::sidecar::merge_sidecar(info, found, &name);
    }
}

/// `f` over each regular file beside `media` whose name is one of its sidecar candidates,
/// opened beneath `inbox` without following symlinks.
fn each_beside<T>(
    inbox: &Root,
    media: &Path,
    mut f: impl FnMut(Candidate, &Path, &mut std::fs::File) -> io::Result<T>,
) -> Vec<T> {
    let (Ok(rel), Some(name)) = (inbox.relative(media), media.file_name()) else {
        return Vec::new();
    };
    let folder = rel.parent().unwrap_or(Path::new(""));
    // The folder is opened once (confined beneath the inbox) and each candidate name probed
    // with one `fstatat` beside it: most media files have no sidecar, and a name that is not
    // there costs a dentry look-up instead of a confined open of the whole relative path.
    let dir = match inbox.open_dir(folder) {
        Ok(dir) => dir,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound && !fsroot::is_symlink_refusal(&e) {
                tracing::warn!(folder = %inbox.path().join(folder).display(), error = %e, "cannot look for sidecars; any stay in the inbox");
            }
            return Vec::new();
        }
    };
    let listed = listing::of(&dir);
    let mut out = Vec::new();
    for candidate in organizer::candidates(name) {
        let present = match &listed {
            Some(names) => names.contains(&candidate.name),
            None => dir.stat_entry(&candidate.name).is_ok_and(|st| st.is_file),
        };
        if !present {
            continue;
        }
        let rel = folder.join(&candidate.name);
        let result = match open_regular_in(&dir, &candidate.name) {
            Ok(Some(mut file)) => f(candidate, &rel, &mut file).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(t)) => out.push(t),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %inbox.path().join(&rel).display(), error = %e, "cannot read a sidecar; it stays in the inbox");
            }
        }
    }
    out
}

/// True when the file at `path` (not media) is a sidecar: named with an extension only
/// sidecars have (`.xmp`, `.aae`), or with a sidecar's extension (`.txt`, `.json`, `.yaml`)
/// and a media file of its name beside it in the inbox or organized from its folder. Reads
/// the catalog and `stat`s a few names; writes nothing.
pub fn is_sidecar(c: Option<&Catalog>, path: &Path) -> Result<bool, CatalogError> {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    if !organizer::has_sidecar_extension(name) {
        return Ok(false);
    }
    if organizer::has_sidecar_only_extension(name) {
        return Ok(true);
    }
    has_leader(c, path, folder, name)
}

/// True when the media file at `path` is a member of a pair (the RAW beside its JPEG, the
/// video beside its Live Photo still) whose still lies beside it in the inbox or was
/// organized from its folder: the still's group takes it along. A video whose Live Photo
/// identifier (`live_photo_id`) differs from the still's is not its member.
pub fn is_member(
    c: Option<&Catalog>,
    path: &Path,
    live_photo_id: Option<&str>,
) -> Result<bool, CatalogError> {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    if let Some(still) = leader_beside(folder, name) {
        return Ok(live_photo_id.is_none() || same_live_photo(live_photo_id, &still));
    }
    if live_still_beside(path, live_photo_id).is_some() {
        return Ok(true);
    }
    let Some(c) = c else {
        return Ok(false);
    };
    let by_name = organized_media(c, path)?.is_some_and(|(rec, _)| {
        let theirs = rec.media.as_ref().and_then(|m| m.live_photo_id.as_deref());
        !matches!((live_photo_id, theirs), (Some(a), Some(b)) if a != b)
    });
    Ok(by_name || organized_live_still(c, path, live_photo_id)?.is_some())
}

/// The still of the Live Photo `live_photo_id` beside the video at `path` under another name
/// (told by their content identifier), if one lies there.
pub fn live_still_beside(path: &Path, live_photo_id: Option<&str>) -> Option<PathBuf> {
    let (Some(id), Some(folder), Some(name)) = (live_photo_id, path.parent(), path.file_name())
    else {
        return None;
    };
    if organizer::member_kind(name) != Some(SidecarKind::LiveVideo) {
        return None;
    }
    live_halves(folder, id, organizer::is_still)
        .into_iter()
        .next()
}

/// The organized media the file at `path` travels with: [`organized_media`] (by name), or,
/// for a Live Photo's video (`.mov` with Apple's content identifier `live_photo_id`), its
/// still organized under another name ([`organized_live_still`]).
pub fn organized_leader(
    c: &Catalog,
    path: &Path,
    live_photo_id: Option<&str>,
) -> Result<Option<(AssetRecord, Candidate)>, CatalogError> {
    match organized_media(c, path)? {
        Some(found) => Ok(Some(found)),
        None => organized_live_still(c, path, live_photo_id),
    }
}

/// The still of the Live Photo `live_photo_id` organized already (whatever its name), with
/// its organized file still there, for the video at `path`: the record, and the video's name
/// beside it ([`Candidate::renamed`]). `None` for a file that is not a `.mov`.
pub fn organized_live_still(
    c: &Catalog,
    path: &Path,
    live_photo_id: Option<&str>,
) -> Result<Option<(AssetRecord, Candidate)>, CatalogError> {
    let (Some(id), Some(name)) = (live_photo_id, path.file_name()) else {
        return Ok(None);
    };
    if organizer::member_kind(name) != Some(SidecarKind::LiveVideo) {
        return Ok(None);
    }
    for rec in c.organized_live_photo(id)? {
        let still = rec.organized_path.as_ref().filter(|p| {
            p.file_name().is_some_and(organizer::is_still)
                && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
        });
        if still.is_some()
            && let Some(candidate) = Candidate::renamed(name, SidecarKind::LiveVideo)
        {
            return Ok(Some((rec, candidate)));
        }
    }
    Ok(None)
}

/// False when `id` and the Live Photo identifier read from the file at `other` are both
/// known and differ: two files of one stem that Apple says are not one Live Photo.
pub fn same_live_photo(id: Option<&str>, other: &Path) -> bool {
    let Some(id) = id else {
        return true;
    };
    match metadata::extract_path(other).map(|e| e.info.live_photo_id) {
        Ok(Some(theirs)) => theirs == id,
        _ => true,
    }
}

/// True when a file the one at `path` (named `name`, in `folder`) travels with lies beside
/// it, or was organized from there.
fn has_leader(
    c: Option<&Catalog>,
    path: &Path,
    folder: &Path,
    name: &std::ffi::OsStr,
) -> Result<bool, CatalogError> {
    if leader_beside(folder, name).is_some() {
        return Ok(true);
    }
    match c {
        Some(c) => Ok(organized_media(c, path)?.is_some()),
        None => Ok(false),
    }
}

/// The file in `folder` the file `name` travels with (its media, or its pair's still), if
/// one lies there. A `stat` per possible name.
pub fn leader_beside(folder: &Path, name: &std::ffi::OsStr) -> Option<PathBuf> {
    organizer::media_names_for(name)
        .into_iter()
        .map(|m| folder.join(m))
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
}

/// The members of the pair the media file at `path` leads (its RAW, its Live Photo video)
/// that lie beside it (a video Apple identifies as another Live Photo than `live_photo_id`
/// left out; one it identifies as this one's under another name in). A `stat` per possible
/// name, and for a Live Photo a bounded look at the folder's videos ([`live_halves`]).
pub fn members_beside(path: &Path, live_photo_id: Option<&str>) -> Vec<PathBuf> {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    organizer::candidates(name)
        .into_iter()
        .filter(|c| c.kind.is_member())
        .map(|c| (folder.join(&c.name), c.kind))
        .filter(|(p, _)| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .filter(|(p, kind)| {
            *kind != organizer::SidecarKind::LiveVideo || same_live_photo(live_photo_id, p)
        })
        .map(|(p, _)| p)
        .chain(
            live_photo_id
                .filter(|_| organizer::is_still(name))
                .into_iter()
                .flat_map(|id| {
                    let same_stem = organizer::candidates(name);
                    let other_video = move |n: &OsStr| {
                        organizer::member_kind(n) == Some(SidecarKind::LiveVideo)
                            && !same_stem.iter().any(|c| c.name == n)
                    };
                    live_halves(folder, id, other_video)
                }),
        )
        .collect()
}

/// The organized media the sidecar at `path` belongs to, if any: an asset organized from a
/// path beside it whose name it pairs with ([`organizer::media_names_for`]: a Takeout name
/// cut short is not found this way), or a pair's member placed from there (then the record
/// is its group's, at the member's organized path), with its organized file still there.
pub fn organized_media(
    c: &Catalog,
    path: &Path,
) -> Result<Option<(AssetRecord, Candidate)>, CatalogError> {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    for media_name in organizer::media_names_for(name) {
        let from = folder.join(&media_name);
        let rec = match c.organized_from(&from)? {
            Some(rec) => rec,
            None => match placed_member(c, &from)? {
                Some(rec) => rec,
                None => continue,
            },
        };
        let Some(candidate) = organizer::sidecar_of(&media_name, name) else {
            continue;
        };
        let present = rec
            .organized_path
            .as_ref()
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()));
        if present {
            return Ok(Some((rec, candidate)));
        }
    }
    Ok(None)
}

/// The record of the group a member placed from `from` belongs to, pointing at the member's
/// organized file and its group's operation.
fn placed_member(c: &Catalog, from: &Path) -> Result<Option<AssetRecord>, CatalogError> {
    let Some(member) = c.member_placed_from(from)? else {
        return Ok(None);
    };
    Ok(c.asset(&member.asset_id)?.map(|mut rec| {
        rec.organized_path = Some(member.destination);
        rec.op_id = Some(member.op_id);
        rec
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(found: &[Sidecar]) -> Vec<String> {
        let mut v: Vec<String> = found
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A folder's listing is reused only while it is still true: a sidecar that arrives
    /// after the folder was listed (settled or not, within the relisting interval or not) is
    /// found, and one that leaves is not reported.
    #[test]
    fn reused_listings_never_hide_a_sidecar_that_arrived_or_report_one_that_left() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("shoot");
        std::fs::create_dir(&folder).unwrap();
        for n in 0..5 {
            std::fs::write(folder.join(format!("img{n}.png")), b"png").unwrap();
        }
        let inbox = Root::open(dir.path()).unwrap();
        let media = |n: u32| folder.join(format!("img{n}.png"));
        // Listed while just changed (not settled), then again once settled.
        assert!(find_beside(&inbox, &media(0)).is_empty());
        std::thread::sleep(listing::SETTLED + std::time::Duration::from_millis(20));
        assert!(find_beside(&inbox, &media(1)).is_empty());
        std::thread::sleep(listing::RELIST);
        assert!(find_beside(&inbox, &media(1)).is_empty());

        // A sidecar arrives: found at once, though a settled listing without it was at hand.
        std::fs::write(folder.join("img1.xmp"), b"<x:xmpmeta/>").unwrap();
        assert_eq!(names(&find_beside(&inbox, &media(1))), ["img1.xmp"]);
        // Settled again and listed again: still found; the others still have none.
        std::thread::sleep(listing::RELIST + listing::SETTLED);
        assert!(find_beside(&inbox, &media(2)).is_empty());
        assert_eq!(names(&find_beside(&inbox, &media(1))), ["img1.xmp"]);
        // It leaves: not reported, right away.
        std::fs::remove_file(folder.join("img1.xmp")).unwrap();
        assert!(find_beside(&inbox, &media(1)).is_empty());
        // A symlink under a sidecar's name is never read.
        std::os::unix::fs::symlink("/etc/passwd", folder.join("img3.xmp")).unwrap();
        std::thread::sleep(listing::RELIST + listing::SETTLED);
        assert!(find_beside(&inbox, &media(4)).is_empty());
        assert!(find_beside(&inbox, &media(3)).is_empty());
    }
}
