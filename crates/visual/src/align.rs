//! Comparing two luminance grids at their best alignment, so that a copy that was turned or
//! cropped is compared with the part of the original it shows.
//!
//! A centred crop of up to [`MAX_CROP`] per side is a window of the original stretched to the
//! full grid. For each quarter turn, and each side taken as the crop of the other, every
//! window with the same crop at both ends of an axis (the two axes independently, so a
//! changed aspect ratio is found too) is tried, and the one with the smallest mean difference
//! kept. The window must lie inside the other picture: content that only one side has (a
//! camera that moved) is never aligned away. Uneven crops (more off one side) are not
//! searched; see docs/performance.md.
//!
//! Cells are compared with a slack of half a cell: a cell of one grid is compared with the
//! range of values the other grid takes around the matching point, so detail at the grid's
//! own scale (text, hard edges) does not count as a difference when resampling lands between
//! cells, while something that moved by a cell or more still does. The two outer rings of
//! cells are left out: they were blurred against the picture's edge, which a crop moves.

use std::sync::OnceLock;

use crate::phash::GRID;

/// The largest crop per side that alignment looks for, as a fraction of the side.
pub const MAX_CROP: f32 = 0.10;
/// Crop amounts tried per side (fractions of the side, up to [`MAX_CROP`]).
const EDGES: [f32; 9] = [0.0, 0.0125, 0.025, 0.0375, 0.05, 0.0625, 0.075, 0.0875, 0.1];
/// How far around the matching point (in cells) the other grid's values count as equal.
const SLACK: f32 = 0.5;

const CELLS: usize = GRID * GRID;
/// Rows and columns compared: not the two outer rings, whose cells were blurred and resampled
/// against the picture's edge, which a crop moves.
const INNER: std::ops::Range<usize> = 2..GRID - 2;
const COMPARED: usize = (GRID - 4) * (GRID - 4);

/// How far apart two luminance grids are (0–255 per cell) at the alignment with the smallest
/// mean difference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridDistance {
    /// Mean difference: large when exposure or the whole picture differs.
    pub mean: f32,
    /// Largest difference of one cell: large when something moved or changed locally.
    pub max: f32,
    /// `mean` divided by the pictures' mean difference between neighbouring cells (at least
    /// one level): about how far, in cells, the pictures are out of register. Resampling
    /// leaves a fraction of a cell; a camera that moved leaves several, however much texture
    /// the picture has.
    pub relative: f32,
    /// The mean signed difference, as a magnitude: how much brighter or darker one picture is
    /// overall (exposure), which misregistration alone leaves near zero.
    pub offset: f32,
}

impl GridDistance {
    pub(crate) const WORST: GridDistance = GridDistance {
        mean: f32::MAX,
        max: f32::MAX,
        relative: f32::MAX,
        offset: f32::MAX,
    };

    /// The same distance with [`GridDistance::relative`] set for pictures `a` and `b`
    /// (`n` x `n` grids), leaving `ring` cells along the edges out.
    pub(crate) fn relative_to(self, a: &[f32], b: &[f32], n: usize, ring: usize) -> Self {
        let gradient = (texture(a, n, ring) + texture(b, n, ring)) / 2.0;
        GridDistance {
            relative: self.mean / gradient.max(1.0),
            ..self
        }
    }
}

/// Mean absolute difference between horizontally and vertically neighbouring cells of an
/// `n` x `n` grid, inside `ring` cells from the edges.
fn texture(grid: &[f32], n: usize, ring: usize) -> f32 {
    let (mut sum, mut count) = (0.0f32, 0usize);
    for y in ring..n - ring - 1 {
        for x in ring..n - ring - 1 {
            let v = grid[y * n + x];
            sum += (grid[y * n + x + 1] - v).abs() + (grid[(y + 1) * n + x] - v).abs();
            count += 2;
        }
    }
    sum / count.max(1) as f32
}

/// One axis of a window: for each output cell, the first and last source cell it may take
/// its value range from.
#[derive(Clone, Copy)]
struct Span {
    first: [u8; GRID],
    last: [u8; GRID],
}

/// Every window an axis can have: the same crop from [`EDGES`] at both ends; the full axis
/// first.
fn spans() -> &'static [Span] {
    static SPANS: OnceLock<Vec<Span>> = OnceLock::new();
    SPANS.get_or_init(|| {
        let mut out = Vec::with_capacity(EDGES.len());
        for near in EDGES {
            {
                let far = near;
                let mut span = Span {
                    first: [0; GRID],
                    last: [0; GRID],
                };
                let n = GRID as f32;
                for i in 0..GRID {
                    // Centre of output cell i, in source cell coordinates.
                    let at = (near + (i as f32 + 0.5) / n * (1.0 - near - far)) * n - 0.5;
                    span.first[i] = (at - SLACK).floor().clamp(0.0, n - 1.0) as u8;
                    span.last[i] = (at + SLACK).ceil().clamp(0.0, n - 1.0) as u8;
                }
                out.push(span);
            }
        }
        out
    })
}

/// The distance of grid `a` and grid `b` at their best alignment; `hint` is the quarter turn
/// of `b` to try first (the one its hash agrees with), which lets the others stop early.
pub(crate) fn grid_distance(a: &[u8; CELLS], b: &[u8; CELLS], hint: usize) -> GridDistance {
    let a = a.map(f32::from);
    let mut turned = [b.map(f32::from); 4];
    for t in 1..4 {
        let next = rotate_square(&turned[t - 1], GRID);
        turned[t].copy_from_slice(&next);
    }
    let mut best = (f32::MAX, GridDistance::WORST);
    for t in (0..4).map(|k| (hint + k) % 4) {
        search(&turned[t], &a, &mut best);
        search(&a, &turned[t], &mut best);
    }
    if best.1 == GridDistance::WORST {
        return best.1;
    }
    best.1.relative_to(&a, &turned[0], GRID, INNER.start)
}

/// Improves `best` (sum of differences, distance) with the best centred window of `outer`
/// that `inner` matches; every window is tried, each stopped once it cannot win.
fn search(inner: &[f32; CELLS], outer: &[f32; CELLS], best: &mut (f32, GridDistance)) {
    let spans = spans();
    for sy in spans {
        for sx in spans {
            if let Some(found) = compare(inner, outer, sx, sy, best.0) {
                *best = found;
            }
        }
    }
}

/// `inner` against the window (`sx`, `sy`) of `outer`: (sum, distance), or `None` as soon as
/// the sum reaches `bound`.
fn compare(
    inner: &[f32; CELLS],
    outer: &[f32; CELLS],
    sx: &Span,
    sy: &Span,
    bound: f32,
) -> Option<(f32, GridDistance)> {
    let (mut sum, mut signed, mut max) = (0.0f32, 0.0f32, 0.0f32);
    for j in INNER {
        let rows = usize::from(sy.first[j])..=usize::from(sy.last[j]);
        for i in INNER {
            let columns = usize::from(sx.first[i])..=usize::from(sx.last[i]);
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for row in rows.clone() {
                for &v in &outer[row * GRID..][columns.clone()] {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let v = inner[j * GRID + i];
            let d = (lo - v).max(v - hi).max(0.0);
            signed += if v < lo { -d } else { d };
            sum += d;
            max = max.max(d);
        }
        if sum >= bound {
            return None;
        }
    }
    Some((
        sum,
        GridDistance {
            mean: sum / COMPARED as f32,
            max,
            relative: f32::MAX,
            offset: (signed / COMPARED as f32).abs(),
        },
    ))
}

/// An `n` x `n` grid turned a quarter clockwise.
pub(crate) fn rotate_square(grid: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            out[x * n + (n - 1 - y)] = grid[y * n + x];
        }
    }
    out
}
