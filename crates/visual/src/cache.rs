//! The thumbnail cache: one directory, files named by key, written atomically, trimmed to a
//! byte budget by evicting the least recently used files.
//!
//! Layout: `<dir>/<first two characters of the key>/<key>-<size>.jpg`, plus shared placeholders
//! `<dir>/placeholder-<kind>-<size>.jpg` that eviction leaves alone. "Recently used" is the
//! file's modification time: [`ThumbCache::lookup`] refreshes it, writing sets it. (Access
//! times are unreliable under `relatime`/`noatime`.)

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::VisualError;

/// How old a temporary must be before eviction takes it for a crash's leftover.
const TEMPORARY_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// Extension of every cached image.
const EXT: &str = "jpg";

/// Thumbnail sizes (longest side, px) of a new cache, largest first.
pub const DEFAULT_SIZES: [u32; 2] = [1024, 256];
/// JPEG quality of a new cache's thumbnails.
pub const DEFAULT_JPEG_QUALITY: u8 = 82;

/// A thumbnail cache rooted at one directory (created on first write): where thumbnails go,
/// which sizes are made, and how many bytes may stay.
#[derive(Clone, Debug)]
pub struct ThumbCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Largest first, no duplicates, none zero.
    sizes: Vec<u32>,
    jpeg_quality: u8,
}

/// What [`ThumbCache::evict`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Files removed.
    pub removed_files: u64,
    /// Bytes those files held.
    pub removed_bytes: u64,
    /// Files left.
    pub kept_files: u64,
    /// Bytes left (at most the budget unless removing failed).
    pub kept_bytes: u64,
}

impl ThumbCache {
    /// A cache in `dir` that [`ThumbCache::evict`] keeps within `max_bytes`, making
    /// [`DEFAULT_SIZES`] thumbnails at [`DEFAULT_JPEG_QUALITY`].
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        ThumbCache {
            dir: dir.into(),
            max_bytes,
            sizes: DEFAULT_SIZES.to_vec(),
            jpeg_quality: DEFAULT_JPEG_QUALITY,
        }
    }

    /// The same cache making thumbnails of `sizes` (longest side, px; any order) at
    /// `jpeg_quality` (1–100). Fails on no sizes, a zero size or a quality out of range.
    pub fn with_sizes(mut self, sizes: &[u32], jpeg_quality: u8) -> Result<Self, VisualError> {
        if sizes.is_empty() || sizes.contains(&0) {
            return Err(VisualError::Config(
                "thumbnail sizes must be non-empty and non-zero",
            ));
        }
        if !(1..=100).contains(&jpeg_quality) {
            return Err(VisualError::Config("jpeg_quality must be 1 to 100"));
        }
        self.sizes = sizes.to_vec();
        self.sizes.sort_unstable_by(|a, b| b.cmp(a));
        self.sizes.dedup();
        self.jpeg_quality = jpeg_quality;
        Ok(self)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sizes made, largest first.
    pub fn sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// The JPEG quality of thumbnails.
    pub fn jpeg_quality(&self) -> u8 {
        self.jpeg_quality
    }

    /// The byte budget [`ThumbCache::evict`] trims to.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Where the `size` px thumbnail of `key` lives (whether or not it exists).
    ///
    /// The key must be 1 to 128 lowercase ASCII letters or digits (a BLAKE3 hex digest, or a
    /// decimal asset id), so nothing but a plain file name below the cache directory can come
    /// out of it.
    pub fn path(&self, key: &str, size: u32) -> Result<PathBuf, VisualError> {
        let valid = (1..=128).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if !valid {
            return Err(VisualError::BadKey(key.to_owned()));
        }
        let shard = if key.len() == 1 {
            format!("0{key}")
        } else {
            key[..2].to_owned()
        };
        Ok(self.dir.join(shard).join(format!("{key}-{size}.{EXT}")))
    }

    /// The fine grid ([`crate::Fingerprint::fine`]) of `key`, computed from its cached
    /// thumbnail (the smallest size of at least [`crate::HASH_BASE`] px, else the largest),
    /// or `None` when that thumbnail is not cached or cannot be read. Put it into the
    /// fingerprint read from the catalog so that [`crate::Matcher`] can use the fine
    /// confirmation. Costs a decode of the thumbnail (about a millisecond at 256 px).
    pub fn fine_grid(&self, key: &str) -> Option<crate::FineGrid> {
        let size = self
            .sizes
            .iter()
            .rev()
            .find(|&&s| s >= crate::HASH_BASE)
            .or(self.sizes.first())?;
        let path = self.lookup(key, *size)?;
        let image = crate::decode_path(&path, u64::from(*size) * u64::from(*size)).ok()?;
        let source = crate::resize::thumbnail(&image, crate::HASH_BASE);
        Some(crate::fine::fine_grid(&source))
    }

    /// The shared placeholder of one kind and size.
    pub(crate) fn placeholder_path(&self, kind: &str, size: u32) -> PathBuf {
        self.dir.join(format!("placeholder-{kind}-{size}.{EXT}"))
    }

    /// The cached `size` px thumbnail of `key`, if present, marked as just used. `size` is
    /// one of [`ThumbCache::sizes`]; for placeholders (videos without a poster, HEIC) use the
    /// paths [`crate::process`] returned.
    pub fn lookup(&self, key: &str, size: u32) -> Option<PathBuf> {
        let path = self.path(key, size).ok()?;
        let file = File::options().write(true).open(&path).ok()?;
        // Failing to refresh the time only makes the file an earlier eviction candidate.
        let _ = file.set_modified(SystemTime::now());
        Some(path)
    }

    /// Writes `bytes` to `dest` atomically: a temporary file in the same directory, renamed
    /// over `dest`, so a reader never sees half a thumbnail.
    ///
    /// No fsync: a cache entry lost to a crash is rebuilt, and [`crate::process`] rewrites a
    /// thumbnail it finds empty.
    pub(crate) fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), VisualError> {
        let parent = dest.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(|e| VisualError::io("create cache dir", parent, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(parent)
            .map_err(|e| VisualError::io("create temporary", parent, e))?;
        tmp.write_all(bytes)
            .map_err(|e| VisualError::io("write thumbnail", tmp.path(), e))?;
        tmp.persist(dest)
            .map_err(|e| VisualError::io("rename thumbnail", dest, e.error))?;
        Ok(())
    }

    /// Removes least recently used thumbnails until the cache holds at most
    /// [`ThumbCache::max_bytes`].
    pub fn evict(&self) -> Result<Eviction, VisualError> {
        self.evict_to(self.max_bytes)
    }

    /// Removes least recently used thumbnails until the cache holds at most `max_bytes`.
    ///
    /// Walks the whole cache (one `stat` per file), so call it now and then (after a batch, on
    /// a timer), not per asset. Temporaries left by a crash (older than ten
    /// minutes) count and go first.
    pub fn evict_to(&self, max_bytes: u64) -> Result<Eviction, VisualError> {
        let mut files = self.entries()?;
        let mut kept_bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let mut report = Eviction::default();
        files.sort_by_key(|f| (!f.temporary, f.modified));
        for file in &files {
            if kept_bytes <= max_bytes {
                break;
            }
            match fs::remove_file(&file.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(VisualError::io("evict", &file.path, e)),
            }
            kept_bytes -= file.bytes;
            report.removed_files += 1;
            report.removed_bytes += file.bytes;
        }
        report.kept_files = files.len() as u64 - report.removed_files;
        report.kept_bytes = kept_bytes;
        Ok(report)
    }

    /// Every evictable file: those in the two-character subdirectories.
    fn entries(&self) -> Result<Vec<Entry>, VisualError> {
        let mut out = Vec::new();
        let top = match fs::read_dir(&self.dir) {
            Ok(top) => top,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(VisualError::io("list cache", &self.dir, e)),
        };
        for sub in top.flatten() {
            let name = sub.file_name();
            let is_shard = name.len() == 2
                && name.to_str().is_some_and(|n| {
                    n.bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
                });
            if !is_shard || !sub.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = sub.path();
            let listing = fs::read_dir(&dir).map_err(|e| VisualError::io("list cache", &dir, e))?;
            for item in listing.flatten() {
                let Ok(meta) = item.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let temporary = item.file_name().to_string_lossy().starts_with(".tmp-");
                // A young temporary is another writer's thumbnail in progress.
                if temporary && modified.elapsed().map_or(true, |age| age < TEMPORARY_GRACE) {
                    continue;
                }
                out.push(Entry {
                    path: item.path(),
                    bytes: meta.len(),
                    modified,
                    temporary,
                });
            }
        }
        Ok(out)
    }
}

struct Entry {
    path: PathBuf,
    bytes: u64,
    modified: SystemTime,
    temporary: bool,
}
