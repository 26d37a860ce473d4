//! Format sniffing, EXIF/XMP/PNG-chunk/ISO-BMFF metadata reading, AI-source detection and
//! generation parameters.
//!
//! Entry points: [`extract_path`] (opens one file, bounded reads) and [`extract`] (any
//! `Read + Seek`). The result is an [`Extraction`]: the [`events::media::MediaInfo`] known so
//! far plus an optional typed error when the file is corrupt.
//!
//! # Layout
//!
//! - [`sniff`] decides media type and format from magic bytes, never from the extension.
//! - `formats/*` walk one container each (JPEG segments, PNG chunks, RIFF/WebP, RIFF/AVI,
//!   GIF blocks, BMP, TIFF and the TIFF-based RAWs, Fujifilm RAF, ISO-BMFF boxes for
//!   HEIC/AVIF/MP4/MOV/CR3/JPEG XL, the JPEG XL codestream, EBML for WebM/Matroska, MPEG
//!   transport and program streams). They read
//!   headers and metadata segments only, through a bounded `Source`: never pixel data or
//!   `mdat`, every length checked against the file size and a cap before allocating.
//! - They fill a `Found` (dates per source, dimensions, duration) and the [`Signals`];
//!   `finish` applies the capture-time priority chain, then [`ai::detect`] reads the signals.
//! - Only when a reader found a C2PA manifest store, `c2pa::validate` reads the whole file
//!   once more to check its signature and hard binding; `provenance` then builds the
//!   provenance record and the `ai_generated` verdict from every signal.
//!
//! # Capture-time priority
//!
//! EXIF `DateTimeOriginal` (+ `OffsetTimeOriginal`, `SubSecTimeOriginal`) → EXIF
//! `DateTimeDigitized` (with its offset/sub-second tags) → XMP `exif:DateTimeOriginal`,
//! `xmp:CreateDate`, `photoshop:DateCreated` → EXIF `DateTime` (the last edit, so after
//! every creation date) → PNG `Creation Time` text, then `tIME` → QuickTime `com.apple.quicktime.creationdate`, then `mvhd` creation time /
//! Matroska `DateUTC` → a file-name date ([`filename_date`]) → the file's mtime in local time.

pub mod ai;
mod c2pa;
mod dates;
mod error;
mod exif_block;
pub mod filename_date;
mod formats;
mod provenance;
pub mod sidecar;
pub mod signals;
mod source;
mod xmp;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use std::time::SystemTime;

use events::media::{C2pa, Camera, CaptureTime, DateSource, MediaInfo, MediaType};

pub use error::MetadataError;
pub use signals::Signals;

use source::Source;

/// What one file's content says.
#[derive(Debug)]
pub struct Extraction {
    /// Media type, format, dimensions, duration, capture time, camera and AI information.
    pub info: MediaInfo,
    /// The raw metadata strings AI detection looked at; useful for `alice inspect`.
    pub signals: Signals,
    /// Set when the content is corrupt or truncated; `info` then holds what was learned before
    /// the fault (at least the media type and format when the magic bytes are known).
    pub error: Option<MetadataError>,
}

/// Facts gathered by the container readers, before the priority chain picks among them.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) signals: Signals,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    /// Dimensions from EXIF tags, used only when the container itself has none (TIFF).
    pub(crate) exif_dims: Option<(u32, u32)>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) exif_original: Option<CaptureTime>,
    /// EXIF `DateTimeDigitized`.
    pub(crate) exif_other: Option<CaptureTime>,
    /// EXIF `DateTime`: when the file was last changed, so below every creation date.
    pub(crate) exif_modified: Option<CaptureTime>,
    pub(crate) png_creation: Option<CaptureTime>,
    pub(crate) png_time: Option<CaptureTime>,
    /// QuickTime metadata date (`com.apple.quicktime.creationdate`), local time with offset.
    pub(crate) qt_meta_date: Option<CaptureTime>,
    /// Container creation instant: `mvhd` creation time, Matroska `DateUTC`.
    pub(crate) container_date: Option<CaptureTime>,
    /// Apple's Live Photo content identifier: the still's MakerNote `ContentIdentifier`, the
    /// video's `com.apple.quicktime.content.identifier`.
    pub(crate) live_photo_id: Option<String>,
    /// The sniffed format; a reader may replace it with a more precise name (`tiff` → `dng`).
    pub(crate) format: &'static str,
    /// Bytes of text kept in `signals` so far, against [`SIGNALS_BUDGET`].
    pub(crate) signal_bytes: usize,
    /// A fault in an optional part (say a broken EXIF block in a fine PNG), kept so that the
    /// rest of the file is still read; reported if nothing worse happens.
    pub(crate) soft_error: Option<MetadataError>,
}

/// Most bytes of text (PNG text, XMP) kept per file. Each piece is capped on its own, but a
/// crafted file can repeat pieces (or zip bombs in zTXt) thousands of times.
pub(crate) const SIGNALS_BUDGET: usize = 16 * 1024 * 1024;

impl Found {
    /// Reserves room for `n` more bytes of signal text; `false` (and a noted error) once the
    /// per-file budget is spent.
    pub(crate) fn budget(&mut self, n: usize) -> bool {
        if self.signal_bytes.saturating_add(n) > SIGNALS_BUDGET {
            if self.soft_error.is_none() {
                self.note(MetadataError::TooLarge {
                    format: self.format,
                    what: "metadata text in total".to_owned(),
                    size: (self.signal_bytes.saturating_add(n)) as u64,
                    limit: SIGNALS_BUDGET as u64,
                });
            }
            return false;
        }
        self.signal_bytes += n;
        true
    }

    pub(crate) fn note(&mut self, err: MetadataError) {
        tracing::debug!(error = %err, "metadata: non-fatal problem");
        if self.soft_error.is_none() {
            self.soft_error = Some(err);
        }
    }

    pub(crate) fn set_dims(&mut self, w: u32, h: u32) {
        if self.width.is_none() && w > 0 && h > 0 {
            self.width = Some(w);
            self.height = Some(h);
        }
    }
}

/// How many leading bytes [`sniff`] looks at: enough for five MPEG transport-stream packets.
const SNIFF_LEN: usize = 1024;

/// Decides the media type and format from a file's first bytes (up to 1024 are used).
///
/// Images: `jpeg`, `png`, `webp`, `gif`, `heic` (HEIF), `avif`, `jxl`, `tiff`, `bmp`, and the
/// camera RAWs `cr2`, `cr3`, `orf`, `rw2`, `raf`. Videos: `mp4`, `mov`, `webm`, `mkv`, `avi`,
/// `mts` (MPEG transport stream, 188- or 192-byte packets), `mpg` (MPEG program stream).
/// Anything else is [`MediaType::Other`] with no format.
///
/// RAWs that are plain TIFF up front (`dng`, `nef`, `arw`, `pef`) sniff as `tiff`; the TIFF
/// reader names them from their tags, and [`extract`] reports that name.
pub fn sniff(header: &[u8]) -> (MediaType, Option<&'static str>) {
    use MediaType::{Image, Other, Video};
    let h = header;
    if h.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return (Image, Some("jpeg"));
    }
    if h.starts_with(b"\x89PNG\r\n\x1a\n") {
        return (Image, Some("png"));
    }
    if h.len() >= 12 && &h[0..4] == b"RIFF" {
        match &h[8..12] {
            b"WEBP" => return (Image, Some("webp")),
            b"AVI " => return (Video, Some("avi")),
            _ => {}
        }
    }
    if h.starts_with(b"GIF87a") || h.starts_with(b"GIF89a") {
        return (Image, Some("gif"));
    }
    if let Some(f) = sniff_tiff(h) {
        return (Image, Some(f));
    }
    if h.starts_with(formats::raf::MAGIC) {
        return (Image, Some("raf"));
    }
    if h.starts_with(formats::jxl::CODESTREAM) || h.starts_with(formats::jxl::CONTAINER) {
        return (Image, Some("jxl"));
    }
    if h.len() >= 18 && h.starts_with(b"BM") {
        let dib = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
        if matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124) {
            return (Image, Some("bmp"));
        }
    }
    if h.len() >= 12 && &h[4..8] == b"ftyp" {
        return formats::isobmff::sniff_ftyp(h);
    }
    // QuickTime files from before `ftyp` existed start straight with one of these atoms.
    if h.len() >= 8 && matches!(&h[4..8], b"moov" | b"mdat" | b"wide" | b"pnot") {
        return (Video, Some("mov"));
    }
    if h.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return match formats::matroska::doc_type(h).as_deref() {
            Some("webm") => (Video, Some("webm")),
            Some("matroska") => (Video, Some("mkv")),
            _ => (Other, None),
        };
    }
    if formats::mpeg::ts_packet_size(h).is_some() {
        return (Video, Some("mts"));
    }
    if h.starts_with(formats::mpeg::PACK_START) {
        return (Video, Some("mpg"));
    }
    (Other, None)
}

/// TIFF and the RAWs that mark themselves in the TIFF header.
fn sniff_tiff(h: &[u8]) -> Option<&'static str> {
    if h.starts_with(b"IIRO") || h.starts_with(b"IIRS") || h.starts_with(b"MMOR") {
        return Some("orf");
    }
    if h.starts_with(b"IIU\0") {
        return Some("rw2");
    }
    if !(h.starts_with(b"II*\0")
        || h.starts_with(b"MM\0*")
        || h.starts_with(b"II+\0")
        || h.starts_with(b"MM\0+"))
    {
        return None;
    }
    // Canon CR2: "CR", major version 2, right after the TIFF header.
    if h.get(8..11) == Some(b"CR\x02") {
        return Some("cr2");
    }
    Some("tiff")
}

/// Reads one file's metadata. Fails only when the file cannot be opened or read at all; a
/// corrupt file gives `Ok` with [`Extraction::error`] set.
pub fn extract_path(path: &Path) -> Result<Extraction, MetadataError> {
    let io_err = |source| MetadataError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Checked before opening: opening a FIFO would block until someone writes to it.
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(io_err(std::io::Error::other("not a regular file")));
    }
    let mut file = File::open(path).map_err(io_err)?;
    let name = path.file_name().unwrap_or(path.as_os_str());
    let extraction = extract_inner(&mut file, path, name, meta.modified().ok());
    match extraction {
        // Nothing could be read at all: the caller should retry or report, not file it.
        Extraction {
            error: Some(e @ MetadataError::Io { .. }),
            ref info,
            ..
        } if info.format.is_none() => Err(e),
        x => Ok(x),
    }
}

/// Reads metadata from any seekable reader. `file_name` feeds the file-name date patterns
/// and AI file-name detection; `mtime` is the last-resort capture time. The reader is `Send`
/// because the C2PA validator requires it.
pub fn extract<R: Read + Seek + Send>(
    reader: &mut R,
    file_name: &OsStr,
    mtime: Option<SystemTime>,
) -> Extraction {
    extract_inner(reader, Path::new(file_name), file_name, mtime)
}

fn extract_inner<R: Read + Seek + Send>(
    reader: &mut R,
    path: &Path,
    file_name: &OsStr,
    mtime: Option<SystemTime>,
) -> Extraction {
    let mut found = Found::default();
    let mut media_type = MediaType::Other;
    let mut format = None;
    let mut bytes_read = 0;
    let hard_error = match Source::new(reader, path) {
        Err(e) => Some(e),
        Ok(mut src) => {
            let res = (|| {
                if src.len() == 0 {
                    return Err(MetadataError::Empty);
                }
                let mut head = [0u8; SNIFF_LEN];
                let n = src.read_upto(0, &mut head)?;
                (media_type, format) = sniff(&head[..n]);
                match format {
                    Some(f) => {
                        src.set_format(f);
                        found.format = f;
                        let res = formats::parse(f, &mut src, &mut found);
                        // A reader may name the format more precisely (a TIFF that is a DNG).
                        format = Some(found.format);
                        res
                    }
                    None => Ok(()),
                }
            })();
            bytes_read = src.bytes_read();
            res.err()
        }
    };
    let error = hard_error.or(found.soft_error.take());
    // Hashing the whole file is only worth it where a reader saw a manifest store.
    let c2pa = match format {
        Some(f) if !found.signals.c2pa.is_empty() => Some(c2pa::validate(reader, f)),
        _ => None,
    };
    let name = file_name.to_string_lossy();
    tracing::debug!(
        file = %name,
        format = format.unwrap_or("-"),
        bytes_read,
        error = error.as_ref().map(tracing::field::display),
        "metadata extracted"
    );
    finish(found, media_type, format, &name, mtime, error, c2pa)
}

fn finish(
    found: Found,
    media_type: MediaType,
    format: Option<&'static str>,
    file_name: &str,
    mtime: Option<SystemTime>,
    error: Option<MetadataError>,
    c2pa: Option<C2pa>,
) -> Extraction {
    let mut info = MediaInfo::empty(media_type);
    info.format = format.map(str::to_owned);
    match (found.width, found.height, found.exif_dims) {
        (Some(w), Some(h), _) => (info.width, info.height) = (Some(w), Some(h)),
        (_, _, Some((w, h))) => (info.width, info.height) = (Some(w), Some(h)),
        _ => {}
    }
    info.duration_ms = found.duration_ms;

    let xmp_date = || found.signals.xmp.iter().find_map(|p| xmp::capture_date(p));
    let chain = [
        (found.exif_original, DateSource::Exif),
        (found.exif_other, DateSource::Exif),
        (xmp_date(), DateSource::Xmp),
        (found.exif_modified, DateSource::Exif),
        (found.png_creation, DateSource::Png),
        (found.png_time, DateSource::Png),
        (found.qt_meta_date, DateSource::Quicktime),
        (found.container_date, DateSource::Quicktime),
        (
            filename_date::date_from_file_name(file_name),
            DateSource::Filename,
        ),
        (mtime.and_then(dates::from_mtime), DateSource::Mtime),
    ];
    if let Some((t, src)) = chain.into_iter().find_map(|(t, s)| t.map(|t| (t, s))) {
        info.taken_at = Some(t);
        info.taken_at_source = Some(src);
    }

    let make = found.signals.exif_make.clone();
    let model = found.signals.exif_model.clone();
    if make.is_some() || model.is_some() {
        info.camera = Some(Camera { make, model });
    }
    info.motion_photo = found.signals.xmp.iter().any(|p| xmp::motion_photo(p));
    info.live_photo_id = found.live_photo_id.clone();
    info.ai = ai::detect(&found.signals, file_name);
    (info.ai_generated, info.provenance) =
        provenance::build(&found.signals, info.ai.as_ref(), c2pa);
    Extraction {
        info,
        signals: found.signals,
        error,
    }
}
