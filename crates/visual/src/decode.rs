//! Bounded decoding: the header is read first, its dimensions are checked against the pixel
//! budget, and only then are pixels decoded, once, with the decoder's own allocation limit set.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};

use crate::VisualError;

/// Bytes the decoder may allocate beyond the output buffer (palettes, ICC profiles, rows).
const DECODER_SLACK: u64 = 64 << 20;

/// Decodes the image at `path` to 8-bit RGB, upright (EXIF orientation applied), transparent
/// areas flattened onto white.
///
/// Fails with [`VisualError::TooLarge`] before decoding any pixel when the header declares more
/// than `max_pixels` pixels, so a decompression bomb costs a header read, not memory.
pub fn decode_path(path: &Path, max_pixels: u64) -> Result<RgbImage, VisualError> {
    let file = File::open(path).map_err(|e| VisualError::io("open", path, e))?;
    decode_reader(BufReader::new(file), max_pixels).map_err(|err| match err {
        DecodeFailure::Io(e) => VisualError::io("read", path, e),
        DecodeFailure::Visual(v) => v,
    })
}

/// [`decode_path`] for an in-memory or already open image.
pub fn decode_reader(
    reader: impl BufRead + Seek,
    max_pixels: u64,
) -> Result<RgbImage, DecodeFailure> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(DecodeFailure::Io)?;
    let mut limits = Limits::default();
    // Room for the largest allowed image at 16 bits per channel with alpha, plus the slack.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(DECODER_SLACK));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(VisualError::Decode(format!("image is {width}x{height}")).into());
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(VisualError::TooLarge {
            width,
            height,
            max_pixels,
        }
        .into());
    }
    // A missing or unreadable orientation tag means "as stored", not a failure.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(flatten(image))
}

/// Why [`decode_reader`] failed: the reader itself, or the image.
#[derive(Debug)]
pub enum DecodeFailure {
    /// Reading failed.
    Io(std::io::Error),
    /// The image was refused or could not be decoded.
    Visual(VisualError),
}

impl From<VisualError> for DecodeFailure {
    fn from(v: VisualError) -> Self {
        DecodeFailure::Visual(v)
    }
}

fn image_error(err: ImageError) -> DecodeFailure {
    match err {
        ImageError::IoError(e) => DecodeFailure::Io(e),
        other => DecodeFailure::Visual(VisualError::Decode(other.to_string())),
    }
}

/// 8-bit RGB; alpha is composited over white so transparent areas look as a viewer shows them.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            let blended = (u16::from(src[c]) * a + 255 * (255 - a) + 127) / 255;
            dst[c] = blended as u8;
        }
    }
    out
}
