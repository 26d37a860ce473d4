//! Generated stand-ins for assets without pixels to show: a play symbol for a video without a
//! poster frame, a picture frame for an image format without a decoder here (HEIC, AVIF).

use image::{Rgb, RgbImage};

/// What a placeholder shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Glyph {
    /// A play triangle.
    Play,
    /// An empty frame.
    Frame,
}

impl Glyph {
    /// Names the placeholder's cache file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Glyph::Play => "video",
            Glyph::Frame => "image",
        }
    }
}

const BACKGROUND: Rgb<u8> = Rgb([48, 48, 52]);
const FOREGROUND: Rgb<u8> = Rgb([210, 210, 215]);

/// The side of the square placeholder for a thumbnail size (tiny sizes are raised to 8 px).
pub(crate) fn side(size: u32) -> u32 {
    size.max(8)
}

/// A square placeholder of [`side`]`(size)` pixels.
pub(crate) fn draw(glyph: Glyph, size: u32) -> RgbImage {
    let side = side(size);
    let s = side as f32;
    RgbImage::from_fn(side, side, |x, y| {
        // Coordinates in 0..1, sampled at the pixel centre.
        let (u, v) = ((x as f32 + 0.5) / s, (y as f32 + 0.5) / s);
        let inside = match glyph {
            // Triangle (0.38, 0.3) - (0.38, 0.7) - (0.7, 0.5).
            Glyph::Play => u >= 0.38 && (v - 0.5).abs() <= 0.2 * (0.7 - u) / 0.32,
            Glyph::Frame => {
                let (du, dv) = ((u - 0.5).abs(), (v - 0.5).abs());
                du.max(dv) <= 0.25 && du.max(dv) >= 0.21
            }
        };
        if inside { FOREGROUND } else { BACKGROUND }
    })
}
