//! Downscaling with `fast_image_resize` (SIMD convolution; see docs/performance.md for why it
//! is used instead of `image::imageops`).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// The size of a `width` x `height` image whose longest side is at most `longest`, keeping the
/// aspect ratio; never larger than the original, never zero.
pub fn fit(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let side = width.max(height);
    if side <= longest {
        return (width, height);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(longest) + u64::from(side) / 2) / u64::from(side)).max(1) as u32
    };
    (scale(width), scale(height))
}

/// `src` resized to exactly `width` x `height` with a Catmull-Rom filter.
pub fn resize_rgb(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    let (sw, sh) = src.dimensions();
    // The buffer of an `RgbImage` always holds exactly `sw * sh * 3` bytes, which is all
    // `ImageRef::new` checks; likewise the destination is allocated here with the right size.
    let from = ImageRef::new(sw, sh, src.as_raw(), PixelType::U8x3)
        .expect("RgbImage buffer matches its dimensions");
    let mut to = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new()
        .resize(&from, &mut to, &options)
        .expect("source and destination are both U8x3");
    RgbImage::from_raw(width, height, to.into_vec())
        .expect("destination buffer has width*height*3 bytes")
}

/// `src` scaled so its longest side is at most `longest` (never upscaled).
pub fn thumbnail(src: &RgbImage, longest: u32) -> RgbImage {
    let (w, h) = fit(src.width(), src.height(), longest);
    resize_rgb(src, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit(4000, 3000, 1024), (1024, 768));
        assert_eq!(fit(3000, 4000, 256), (192, 256));
        assert_eq!(fit(200, 100, 256), (200, 100));
        assert_eq!(fit(10_000, 1, 256), (256, 1));
    }

    #[test]
    fn resize_gives_requested_size() {
        let src = RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let out = thumbnail(&src, 256);
        assert_eq!(out.dimensions(), (256, 192));
    }
}
