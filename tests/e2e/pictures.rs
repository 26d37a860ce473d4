//! Generated pictures for the visual stage's tests: one with shapes, and an unrelated one.

/// The image in `format`.
pub fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A 640x480 picture: soft gradients, a disc and a bar.
pub fn picture() -> image::RgbImage {
    image::RgbImage::from_fn(640, 480, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let disc = (fx - 220.0).powi(2) + (fy - 200.0).powi(2) < 110.0f32.powi(2);
        let bar = (420..560).contains(&x) && (60..420).contains(&y);
        if disc {
            image::Rgb([230, 200, 40])
        } else if bar {
            image::Rgb([30, 60, 160])
        } else {
            image::Rgb([(fx / 3.0) as u8, (fy / 2.5) as u8, 120])
        }
    })
}

/// Another picture altogether: stripes and a dark corner.
pub fn unrelated() -> image::RgbImage {
    image::RgbImage::from_fn(640, 480, |x, y| {
        if x < 200 && y > 300 {
            image::Rgb([10, 10, 10])
        } else if (x / 40 + y / 60) % 2 == 0 {
            image::Rgb([200, 90, 90])
        } else {
            image::Rgb([90, 200, 140])
        }
    })
}
