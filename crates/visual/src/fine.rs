//! The fine confirmation: two 64x64 luminance grids compared at the best centred scale
//! window, found at sub-cell steps, with no slack.
//!
//! A centred crop (or a resize that changed the aspect ratio) is a centred window of the
//! original stretched to the full picture, so for the right window scale the two grids agree
//! everywhere up to resampling noise. A camera that moved, or a subject that moved, cannot be
//! explained by any centred window: some part of the picture stays displaced, by 3 cells at
//! this resolution for a 5% pan, which the residual shows. The window scale is searched on
//! each axis from [`MIN_SCALE`] to 1 (either side may be the crop): first in steps of
//! 0.02 on every other cell, then in steps of 0.005 around the best on every cell. The grid's
//! outer [`RING`] cells are left out; they were blurred against the picture's edge, which a
//! crop moves.
//!
//! The grid is 4 KB: too large for the fingerprint bytes stored per asset, so it is not
//! stored: [`crate::fingerprint`] computes it, [`crate::ThumbCache::fine_grid`] computes it
//! again from the cached thumbnail, and [`crate::Fingerprint::fine`] carries it when the
//! caller has it.

use image::RgbImage;

use crate::align::GridDistance;
use crate::resize::resize_rgb;

/// Side of the fine grid.
pub const FINE: usize = 64;
/// Cells (and bytes) of a fine grid.
pub const FINE_CELLS: usize = FINE * FINE;
/// The smallest window scale searched, per axis: crops of up to 10% per side.
pub const MIN_SCALE: f32 = 0.80;
/// Cells along each edge that are not compared.
const RING: usize = 3;

/// A 64x64 luminance grid, row by row.
pub type FineGrid = Box<[u8; FINE_CELLS]>;

/// The fine grid of an image: squeezed to 64x64, luminance, a [1 2 1] blur.
pub(crate) fn fine_grid(image: &RgbImage) -> FineGrid {
    let luma = crate::phash::luma(&resize_rgb(image, FINE as u32, FINE as u32));
    let blurred = crate::phash::blur(&luma, FINE);
    let mut out = Box::new([0u8; FINE_CELLS]);
    for (cell, v) in out.iter_mut().zip(blurred) {
        *cell = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// The distance of `a` and `b` (turned by `turns` quarters, as [`crate::align`] turns) at the
/// best centred window of either inside the other.
pub(crate) fn fine_distance(
    a: &[u8; FINE_CELLS],
    b: &[u8; FINE_CELLS],
    turns: usize,
) -> GridDistance {
    let a: Vec<f32> = a.iter().map(|&v| f32::from(v)).collect();
    let mut b: Vec<f32> = b.iter().map(|&v| f32::from(v)).collect();
    for _ in 0..turns % 4 {
        b = crate::align::rotate_square(&b, FINE);
    }
    let one = search(&a, &b);
    let other = search(&b, &a);
    let best = if one.mean <= other.mean { one } else { other };
    best.relative_to(&a, &b, FINE, RING)
}

/// The best centred window of `outer` for `inner`: a coarse pass, then a fine one around it.
fn search(inner: &[f32], outer: &[f32]) -> GridDistance {
    let steps = ((1.0 - MIN_SCALE) / 0.02).round() as usize;
    let mut best = (f32::MAX, 1.0, 1.0);
    for i in 0..=steps {
        for j in 0..=steps {
            let (sx, sy) = (1.0 - 0.02 * i as f32, 1.0 - 0.02 * j as f32);
            let d = residual(inner, outer, sx, sy, 2);
            if d.mean < best.0 {
                best = (d.mean, sx, sy);
            }
        }
    }
    let (_, cx, cy) = best;
    let mut out = GridDistance::WORST;
    for i in -4..=4 {
        for j in -4..=4 {
            let sx = (cx + 0.005 * i as f32).clamp(MIN_SCALE, 1.0);
            let sy = (cy + 0.005 * j as f32).clamp(MIN_SCALE, 1.0);
            let d = residual(inner, outer, sx, sy, 1);
            if d.mean < out.mean {
                out = d;
            }
        }
    }
    out
}

/// `inner` against the centred window (`sx`, `sy`) of `outer`, sampled bilinearly, over
/// every `stride`th cell inside the ring: mean and largest absolute difference.
fn residual(inner: &[f32], outer: &[f32], sx: f32, sy: f32, stride: usize) -> GridDistance {
    let n = FINE as f32;
    let at = |scale: f32, i: usize| {
        (((1.0 - scale) / 2.0 + (i as f32 + 0.5) / n * scale) * n - 0.5).clamp(0.0, n - 1.0)
    };
    let (mut sum, mut signed, mut max, mut count) = (0.0f32, 0.0f32, 0.0f32, 0usize);
    for y in (RING..FINE - RING).step_by(stride) {
        let fy = at(sy, y);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        let y1 = (y0 + 1).min(FINE - 1);
        for x in (RING..FINE - RING).step_by(stride) {
            let fx = at(sx, x);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let x1 = (x0 + 1).min(FINE - 1);
            let top = outer[y0 * FINE + x0] * (1.0 - tx) + outer[y0 * FINE + x1] * tx;
            let bottom = outer[y1 * FINE + x0] * (1.0 - tx) + outer[y1 * FINE + x1] * tx;
            let d = inner[y * FINE + x] - (top * (1.0 - ty) + bottom * ty);
            signed += d;
            let d = d.abs();
            sum += d;
            max = max.max(d);
            count += 1;
        }
    }
    GridDistance {
        mean: sum / count as f32,
        max,
        relative: f32::MAX,
        offset: (signed / count as f32).abs(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Matcher, fingerprint};
    use image::imageops::{crop_imm, rotate90};
    use image::{Rgb, RgbImage};

    /// A textured world larger than the view, with a dark disc at `disc`.
    fn world(disc: (f32, f32)) -> RgbImage {
        RgbImage::from_fn(480, 360, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let mut v = 128.0
                + 60.0 * (fx / 23.0).sin() * (fy / 31.0).cos()
                + 40.0 * (fx / 57.0 + fy / 41.0).sin();
            if (fx - disc.0).powi(2) + (fy - disc.1).powi(2) < 14.0f32.powi(2) {
                v = 10.0;
            }
            let v = v.clamp(0.0, 255.0) as u8;
            Rgb([v, v / 2 + 40, 255 - v])
        })
    }

    /// The 400x300 view at (40 + dx, 30 + dy).
    fn view(world: &RgbImage, dx: u32, dy: u32) -> RgbImage {
        crop_imm(world, 40 + dx, 30 + dy, 400, 300).to_image()
    }

    #[test]
    fn crops_and_turns_match_but_pans_moves_and_exposure_do_not() {
        let scene = world((200.0, 150.0));
        let original = view(&scene, 0, 0);
        let matcher = Matcher::default();
        let a = fingerprint(&original);
        let cropped = crop_imm(&original, 24, 18, 352, 264).to_image();
        for copy in [cropped.clone(), rotate90(&cropped), rotate90(&original)] {
            let found = matcher.check(&a, &fingerprint(&copy));
            assert!(found.is_some_and(|m| m.fine), "copy not matched: {found:?}");
        }
        let panned = view(&scene, 20, 9);
        let moved = view(&world((260.0, 190.0)), 0, 0);
        let mut brighter = original.clone();
        for p in brighter.pixels_mut() {
            p.0 = p.0.map(|c| (f32::from(c) * 1.25).min(255.0) as u8);
        }
        for (what, other) in [("panned", panned), ("moved", moved), ("brighter", brighter)] {
            let b = fingerprint(&other);
            let d = a.fine_distance(&b).unwrap();
            assert!(matcher.check(&a, &b).is_none(), "{what} matched: {d:?}");
        }
    }

    #[test]
    fn without_a_fine_grid_the_coarse_grid_decides() {
        let original = view(&world((200.0, 150.0)), 0, 0);
        let a = fingerprint(&original);
        let mut stored = a.clone();
        stored.fine = None;
        assert_eq!(a.fine_distance(&stored), None);
        let found = Matcher::default().check(&a, &stored).unwrap();
        assert!(!found.fine);
        assert_eq!(found.hash_distance, 0);
    }
}
