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
