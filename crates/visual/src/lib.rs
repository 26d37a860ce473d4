//! Seeing the library: bounded image decoding, cached thumbnails, video poster frames,
//! perceptual fingerprints and a near-duplicate index.
//!
//! Layout:
//! - [`process`] (this file): one asset in, thumbnails in the cache and a fingerprint out.
//! - `decode`: bounded decoding ([`decode_path`]): header first, pixel budget, EXIF orientation.
//! - `resize`: downscaling ([`resize::thumbnail`]).
//! - `cache`: the thumbnail cache ([`ThumbCache`]): paths by asset id, atomic writes, LRU eviction.
//! - `video`: poster frames through an `ffmpeg` child process ([`poster_frame`]).
//! - `placeholder`: generated stand-ins for videos without a poster and undecodable formats.
//! - `phash`: the perceptual [`Fingerprint`] (64-bit DCT hash + 32x32 luminance grid).
//! - `index`: [`NearDupIndex`], multi-index hashing over the 64-bit hashes.
//! - `matching`: [`Matcher`], the near-duplicate decision (thresholds measured by
//!   `examples/eval.rs`).
//!
//! The crate knows nothing of the bus or the catalog: it takes a path, an asset id and a
//! [`VisualConfig`] value, and returns values. Everything here is blocking CPU and file work;
//! async callers run it on a blocking thread.

mod cache;
mod decode;
mod error;
mod index;
mod matching;
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

pub use cache::{Eviction, ThumbCache};
pub use decode::{DecodeFailure, decode_path, decode_reader};
pub use error::VisualError;
pub use index::NearDupIndex;
pub use matching::Matcher;
pub use phash::{FINGERPRINT_BYTES, Fingerprint, GRID, GridDistance, fingerprint, rotations};
pub use video::{NoPoster, poster_frame};

use placeholder::Glyph;

/// The longest side of the image the fingerprint is computed from, whatever the thumbnail
/// sizes, so that changing the sizes does not change fingerprints.
pub const HASH_BASE: u32 = 256;

/// Settings of [`process`], as a value.
#[derive(Clone, Debug)]
pub struct VisualConfig {
    /// Root of the thumbnail cache.
    pub cache_dir: PathBuf,
    /// Byte budget of the cache, for [`evict`].
    pub cache_max_bytes: u64,
    /// Largest image (width x height) decoded; larger ones fail with
    /// [`VisualError::TooLarge`]. Decoding needs about 3 to 8 bytes per pixel.
    pub max_pixels: u64,
    /// Thumbnail sizes (longest side, px); images are never upscaled.
    pub sizes: Vec<u32>,
    /// JPEG quality of thumbnails (1-100).
    pub jpeg_quality: u8,
    /// The ffmpeg program for video poster frames (a bare name is looked up on `PATH`);
    /// `None`, or a program that cannot be started, gives videos a placeholder.
    pub ffmpeg: Option<PathBuf>,
    /// How long one ffmpeg run may take before it is killed.
    pub ffmpeg_timeout: Duration,
}

impl VisualConfig {
    /// Defaults: 256 and 1024 px thumbnails at quality 82, 100 megapixels, 1 GiB of cache,
    /// `ffmpeg` from `PATH` with a 20 s timeout.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        VisualConfig {
            cache_dir: cache_dir.into(),
            cache_max_bytes: 1 << 30,
            max_pixels: 100_000_000,
            sizes: vec![256, 1024],
            jpeg_quality: 82,
            ffmpeg: Some(PathBuf::from("ffmpeg")),
            ffmpeg_timeout: Duration::from_secs(20),
        }
    }

    fn check(&self) -> Result<(), VisualError> {
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return Err(VisualError::Config(
                "thumbnail sizes must be non-empty and non-zero",
            ));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(VisualError::Config("jpeg_quality must be 1 to 100"));
        }
        Ok(())
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
        self.fingerprint.as_ref().map(|f| f.phash)
    }
}

/// Makes the thumbnails and fingerprint of one asset.
///
/// Decodes the file once (bounded by `cfg.max_pixels`), writes each thumbnail atomically to
/// the cache unless a non-empty one is already there (the id names the content, so an existing
/// file is current), and fingerprints a 256 px version. Videos get a poster frame from ffmpeg
/// or a placeholder; HEIC and AVIF get a placeholder. Does not evict: call [`evict`] now and
/// then.
pub fn process(
    path: &Path,
    asset_id: &str,
    cfg: &VisualConfig,
) -> Result<VisualOutput, VisualError> {
    cfg.check()?;
    let cache = ThumbCache::new(&cfg.cache_dir);
    cache.path(asset_id, cfg.sizes[0])?;
    let (media, format) = metadata::sniff(&read_header(path)?);
    match (media, format) {
        (MediaType::Image, Some(format @ ("heic" | "avif"))) => placeholder(
            &cache,
            cfg,
            Glyph::Frame,
            Rendered::UnsupportedImage { format },
        ),
        (MediaType::Video, _) => {
            let Some(ffmpeg) = &cfg.ffmpeg else {
                return placeholder(
                    &cache,
                    cfg,
                    Glyph::Play,
                    Rendered::VideoPlaceholder(NoPoster::NoFfmpeg),
                );
            };
            std::fs::create_dir_all(&cfg.cache_dir)
                .map_err(|e| VisualError::io("create cache dir", &cfg.cache_dir, e))?;
            match poster_frame(
                path,
                ffmpeg,
                cfg.ffmpeg_timeout,
                cfg.max_pixels,
                &cfg.cache_dir,
            )? {
                Ok(frame) => render(&frame, asset_id, &cache, cfg, Rendered::VideoPoster),
                Err(reason) => {
                    placeholder(&cache, cfg, Glyph::Play, Rendered::VideoPlaceholder(reason))
                }
            }
        }
        // Anything else goes to the image decoder, which has the last word on what it reads.
        _ => render(
            &decode_path(path, cfg.max_pixels)?,
            asset_id,
            &cache,
            cfg,
            Rendered::Image,
        ),
    }
}

/// Removes least recently used thumbnails until the cache is within `cfg.cache_max_bytes`.
pub fn evict(cfg: &VisualConfig) -> Result<Eviction, VisualError> {
    ThumbCache::new(&cfg.cache_dir).evict(cfg.cache_max_bytes)
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
    asset_id: &str,
    cache: &ThumbCache,
    cfg: &VisualConfig,
    rendered: Rendered,
) -> Result<VisualOutput, VisualError> {
    let mut sizes = cfg.sizes.clone();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let mut thumbnails = Vec::with_capacity(sizes.len());
    let mut hash_source: Option<RgbImage> = None;
    let mut current: Option<RgbImage> = None;
    for &size in &sizes {
        let thumb = resize::thumbnail(current.as_ref().unwrap_or(image), size);
        let path = cache.path(asset_id, size)?;
        if !path.metadata().is_ok_and(|m| m.len() > 0) {
            cache.write_atomic(&path, &encode_jpeg(&thumb, cfg.jpeg_quality)?)?;
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
    cfg: &VisualConfig,
    glyph: Glyph,
    rendered: Rendered,
) -> Result<VisualOutput, VisualError> {
    let mut thumbnails = Vec::with_capacity(cfg.sizes.len());
    for &size in &cfg.sizes {
        let path = cache.placeholder_path(glyph.name(), size);
        if !path.metadata().is_ok_and(|m| m.len() > 0) {
            let image = placeholder::draw(glyph, size);
            cache.write_atomic(&path, &encode_jpeg(&image, cfg.jpeg_quality)?)?;
        }
        let side = placeholder::side(size);
        thumbnails.push(Thumbnail {
            size,
            path,
            width: side,
            height: side,
        });
    }
    thumbnails.sort_unstable_by_key(|t| std::cmp::Reverse(t.size));
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
