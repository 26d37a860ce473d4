//! Sidecar files in the inbox: which ones lie beside a media file (found beneath the inbox's
//! folder handle, hashed), and which organized media a sidecar arriving on its own belongs
//! to. The names themselves are the organizer's ([`organizer::candidates`]).

use std::io;
use std::path::{Path, PathBuf};

use catalog::{AssetRecord, Catalog, CatalogError};
use organizer::{Candidate, Root};

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
    let (Ok(rel), Some(name)) = (inbox.relative(media), media.file_name()) else {
        return Vec::new();
    };
    let folder = rel.parent().unwrap_or(Path::new(""));
    organizer::candidates(name)
        .into_iter()
        .filter_map(|candidate| {
            let rel = folder.join(&candidate.name);
            match hash_beneath(inbox, &rel) {
                Ok(Some((asset_id, size))) => Some(Sidecar {
                    path: inbox.path().join(&rel),
                    candidate,
                    asset_id,
                    size,
                }),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(path = %inbox.path().join(&rel).display(), error = %e, "cannot read a sidecar; it stays in the inbox");
                    None
                }
            }
        })
        .collect()
}

/// The BLAKE3 and size of the regular file `rel` beneath `root`; `None` when nothing (or
/// no regular file) is there.
fn hash_beneath(root: &Root, rel: &Path) -> io::Result<Option<(String, u64)>> {
    let mut file = match root.open_file(rel) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound || fsroot::is_symlink_refusal(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    let size = io::copy(&mut file, &mut hasher)?;
    Ok(Some((hasher.finalize().to_hex().to_string(), size)))
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
    let beside = organizer::media_names_for(name)
        .into_iter()
        .any(|m| std::fs::symlink_metadata(folder.join(m)).is_ok_and(|m| m.is_file()));
    if beside {
        return Ok(true);
    }
    match c {
        Some(c) => Ok(organized_media(c, path)?.is_some()),
        None => Ok(false),
    }
}

/// The organized media the sidecar at `path` belongs to, if any: an asset organized from
/// the sidecar's folder whose name it pairs with, with its organized file still there.
pub fn organized_media(
    c: &Catalog,
    path: &Path,
) -> Result<Option<(AssetRecord, Candidate)>, CatalogError> {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    for rec in c.organized_from_folder(folder)? {
        let Some(media_name) = rec.original_path.file_name() else {
            continue;
        };
        let Some(candidate) = organizer::sidecar_of(media_name, name) else {
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
