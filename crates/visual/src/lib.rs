//! Seeing the library: bounded image decoding, cached thumbnails, video poster frames,
//! perceptual fingerprints and a near-duplicate index.
//!
//! What a pipeline stage calls, per asset: [`process`] (decode once, thumbnails into the
//! [`ThumbCache`], a [`Fingerprint`] out), [`Fingerprint::to_bytes`] to store it, and
//! [`NearIndex::query`] / [`NearIndex::insert`] to find and record near-duplicates; the
//! query's lookup reads a candidate's stored fingerprint and adds
//! [`ThumbCache::fine_grid`]. Now and
//! then [`ThumbCache::evict`] keeps the cache within its byte budget.
//!
//! Layout:
//! - [`process`] (this file): one asset in, thumbnails in the cache and a fingerprint out.
//! - `decode`: bounded decoding ([`decode_path`]): header first, pixel budget, EXIF orientation.
//! - `resize`: downscaling ([`resize::thumbnail`]).
//! - `cache`: the thumbnail cache ([`ThumbCache`]): paths by key, atomic writes, LRU eviction.
//! - `video`: poster frames through an `ffmpeg` child process ([`poster_frame`]).
//! - `placeholder`: generated stand-ins for videos without a poster and undecodable formats.
//! - `phash`: the perceptual [`Fingerprint`] (64-bit DCT hashes of the whole image and of two
//!   centred windows, a 32x32 luminance grid, and a 64x64 fine grid that is not stored).
//! - `fine`: the fine grid comparison at the best centred scale window ([`GridDistance`]).
//! - `align`: the 32x32 grid comparison at the best quarter turn and crop window, the
//!   fallback when a fine grid is missing.
//! - `matching`: [`Matcher`], the near-duplicate decision (thresholds measured by
//!   `examples/eval/`).
//! - `index`: multi-index hash tables over 64-bit hashes; `near`: [`NearIndex`] on top.
//!
//! The crate knows nothing of the bus or the catalog: it takes a path, a key and settings as
//! values, and returns values. Everything here is blocking CPU and file work; async callers
//! run it on a blocking thread.

mod align;
mod cache;
mod decode;
mod error;
mod fine;
mod index;
mod matching;
mod near;
mod phash;
mod placeholder;
pub mod resize;
mod video;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use events::media::MediaType;
use image::RgbImage;

pub use align::{GridDistance, MAX_CROP};
pub use cache::{Eviction, ThumbCache};
pub use decode::{DecodeFailure, decode_path, decode_reader};
pub use error::VisualError;
pub use fine::{FINE, FINE_CELLS, FineGrid, MIN_SCALE};
pub use matching::{Match, Matcher};
pub use near::NearIndex;
pub use phash::{
    FINGERPRINT_BYTES, FINGERPRINT_VERSION, Fingerprint, GRID, HASH_WINDOWS, HASHES, fingerprint,
    rotations,
};
pub use video::{NoPoster, poster_frame};

use placeholder::Glyph;

/// The longest side of the image the fingerprint is computed from, whatever the thumbnail
/// sizes, so that changing the sizes does not change fingerprints.
pub const HASH_BASE: u32 = 256;

/// Bounds on the work [`process`] does for one file, as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest image (width x height) decoded; larger ones fail with
    /// [`VisualError::TooLarge`] from their header, before any pixel is decoded. Decoding
    /// needs about 3 to 8 bytes per pixel.
    pub max_pixels: u64,
    /// The ffmpeg program for video poster frames (a bare name is looked up on `PATH`);
    /// `None`, or a program that cannot be started, gives videos a placeholder.
    pub ffmpeg: Option<PathBuf>,
    /// How long one ffmpeg run may take before it is killed.
    pub ffmpeg_timeout: Duration,
}

impl Default for Limits {
    /// 100 megapixels; `ffmpeg` from `PATH` with a 20 s timeout.
    fn default() -> Self {
        Limits {
            max_pixels: 100_000_000,
            ffmpeg: Some(PathBuf::from("ffmpeg")),
            ffmpeg_timeout: Duration::from_secs(20),
        }
    }
}

/// Where the pixels of the thumbnails came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    /// The decoded image.
    Image,
    /// A video's poster frame.
    VideoPoster,
    /// A video without a poster frame: the shared play-symbol placeholder.
    VideoPlaceholder(NoPoster),
    /// An image format with no decoder in this build (HEIC, AVIF): the shared frame
    /// placeholder.
    UnsupportedImage {
        /// The format's name (`heic`, `avif`).
        format: &'static str,
    },
}

/// One thumbnail in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// The requested size (longest side).
    pub size: u32,
    /// The file.
    pub path: PathBuf,
    /// Its pixel width.
    pub width: u32,
    /// Its pixel height.
    pub height: u32,
}

/// What [`process`] produced for one asset.
#[derive(Clone, Debug)]
pub struct VisualOutput {
    /// Where the pixels came from.
    pub rendered: Rendered,
    /// Upright width and height of the image (or the video frame); `None` for placeholders.
    pub dimensions: Option<(u32, u32)>,
    /// One per configured size, largest first.
    pub thumbnails: Vec<Thumbnail>,
    /// Perceptual fingerprint; `None` for placeholders.
    pub fingerprint: Option<Fingerprint>,
}

impl VisualOutput {
    /// The 64-bit perceptual hash, if there are pixels.
    pub fn phash(&self) -> Option<u64> {
        self.fingerprint.as_ref().map(Fingerprint::phash)
    }
}

/// Makes the thumbnails and fingerprint of one asset.
///
/// Decodes the file once (bounded by `limits.max_pixels`), writes a thumbnail of each of the
/// cache's sizes (by default 1024 and 256 px) atomically under `key` unless a non-empty one is
/// already there, and fingerprints a 256 px version (with its fine grid, which
/// [`ThumbCache::fine_grid`] can compute again later from the cached thumbnail). `key` names the content: use the BLAKE3
/// hex digest (an existing thumbnail under the key is taken as current). Videos get a poster
/// frame from ffmpeg or a placeholder; HEIC and AVIF get a placeholder; placeholders have no
/// fingerprint. Does not evict: call [`ThumbCache::evict`] now and then.
pub fn process(
    path: &Path,
    limits: &Limits,
    cache: &ThumbCache,
    key: &str,
) -> Result<VisualOutput, VisualError> {
    cache.path(key, cache.sizes()[0])?;
    let (media, format) = metadata::sniff(&read_header(path)?);
    match (media, format) {
        (MediaType::Image, Some(format @ ("heic" | "avif"))) => {
            placeholder(cache, Glyph::Frame, Rendered::UnsupportedImage { format })
        }
        (MediaType::Video, _) => {
            let Some(ffmpeg) = &limits.ffmpeg else {
                return placeholder(
                    cache,
                    Glyph::Play,
                    Rendered::VideoPlaceholder(NoPoster::NoFfmpeg),
                );
            };
            let dir = cache.dir();
            std::fs::create_dir_all(dir)
                .map_err(|e| VisualError::io("create cache dir", dir, e))?;
            let poster = poster_frame(path, ffmpeg, limits.ffmpeg_timeout, limits.max_pixels, dir)?;
            match poster {
                Ok(frame) => render(&frame, key, cache, Rendered::VideoPoster),
                Err(reason) => placeholder(cache, Glyph::Play, Rendered::VideoPlaceholder(reason)),
            }
        }
        // Anything else goes to the image decoder, which has the last word on what it reads.
        _ => render(
            &decode_path(path, limits.max_pixels)?,
            key,
            cache,
            Rendered::Image,
        ),
    }
}

/// The first bytes of the file, for sniffing.
fn read_header(path: &Path) -> Result<Vec<u8>, VisualError> {
    let file = File::open(path).map_err(|e| VisualError::io("open", path, e))?;
    let mut header = Vec::with_capacity(256);
    file.take(256)
        .read_to_end(&mut header)
        .map_err(|e| VisualError::io("read", path, e))?;
    Ok(header)
}

/// Thumbnails (each made from the next larger one), then the fingerprint.
fn render(
    image: &RgbImage,
    key: &str,
    cache: &ThumbCache,
    rendered: Rendered,
) -> Result<VisualOutput, VisualError> {
    let mut thumbnails = Vec::with_capacity(cache.sizes().len());
    let mut hash_source: Option<RgbImage> = None;
    let mut current: Option<RgbImage> = None;
    for &size in cache.sizes() {
        let thumb = resize::thumbnail(current.as_ref().unwrap_or(image), size);
        let path = cache.path(key, size)?;
        if !path.metadata().is_ok_and(|m| m.len() > 0) {
            cache.write_atomic(&path, &encode_jpeg(&thumb, cache.jpeg_quality())?)?;
        }
        thumbnails.push(Thumbnail {
            size,
            path,
            width: thumb.width(),
            height: thumb.height(),
        });
        if size >= HASH_BASE {
            hash_source = Some(resize::thumbnail(&thumb, HASH_BASE));
        }
        current = Some(thumb);
    }
    let hash_source = hash_source.unwrap_or_else(|| resize::thumbnail(image, HASH_BASE));
    Ok(VisualOutput {
        rendered,
        dimensions: Some(image.dimensions()),
        thumbnails,
        fingerprint: Some(fingerprint(&hash_source)),
    })
}

/// The shared placeholder at every size, drawn and cached on first use.
fn placeholder(
    cache: &ThumbCache,
    glyph: Glyph,
    rendered: Rendered,
) -> Result<VisualOutput, VisualError> {
    let mut thumbnails = Vec::with_capacity(cache.sizes().len());
    for &size in cache.sizes() {
        let path = cache.placeholder_path(glyph.name(), size);
        if !path.metadata().is_ok_and(|m| m.len() > 0) {
            let image = placeholder::draw(glyph, size);
            cache.write_atomic(&path, &encode_jpeg(&image, cache.jpeg_quality())?)?;
        }
        let side = placeholder::side(size);
        thumbnails.push(Thumbnail {
            size,
            path,
            width: side,
            height: side,
        });
    }
    Ok(VisualOutput {
        rendered,
        dimensions: None,
        thumbnails,
        fingerprint: None,
    })
}

/// JPEG bytes of an RGB image.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, VisualError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| VisualError::Encode(e.to_string()))?;
    Ok(out)
}
