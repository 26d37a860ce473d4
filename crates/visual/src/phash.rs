//! Perceptual fingerprints: a 64-bit DCT hash for finding candidates quickly, and a 32x32
//! luminance grid for confirming them.
//!
//! The hash is the sign of the 63 lowest-frequency DCT coefficients (DC excluded) of a 32x32
//! grayscale version of the image. Signs rather than the classic "above the median" make the
//! hash of a rotated image a pure bit operation on the original hash: mirroring a 2-D DCT
//! negates the coefficients of odd frequency along the mirrored axis, and transposing swaps
//! the two frequency indices. [`rotations`] therefore gives the hashes of the 90°, 180° and
//! 270° turns without touching pixels, and a lookup tries all four.
//!
//! The hash ignores global brightness and barely sees a small object moving; burst shots
//! therefore collide with it. The grid keeps the coarse picture itself, so
//! [`Fingerprint::grid_distance`] can tell them apart: its mean sees exposure, its largest
//! cell sees a local change (see docs/performance.md, `visual`).

use std::sync::OnceLock;

use image::RgbImage;

use crate::resize::resize_rgb;

/// Side of the grayscale square the hash is computed from.
const DCT_N: usize = 32;
/// Side of the square of low frequencies that become hash bits.
const BITS_N: usize = 8;
/// Side of the luminance grid kept for confirmation.
pub const GRID: usize = 32;

/// What [`fingerprint`] keeps of an image.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fingerprint {
    /// The 64-bit perceptual hash (bit `u * 8 + v` is the sign of DCT coefficient (u, v); bit
    /// 0, the DC term, is always 0).
    pub phash: u64,
    /// 32x32 luminance (lightly blurred), row by row.
    pub grid: [u8; GRID * GRID],
}

/// Bytes of [`Fingerprint::to_bytes`].
pub const FINGERPRINT_BYTES: usize = 8 + GRID * GRID;

impl Fingerprint {
    /// A compact form to store (hash big-endian, then the grid).
    pub fn to_bytes(&self) -> [u8; FINGERPRINT_BYTES] {
        let mut out = [0u8; FINGERPRINT_BYTES];
        out[..8].copy_from_slice(&self.phash.to_be_bytes());
        out[8..].copy_from_slice(&self.grid);
        out
    }

    /// Reads [`Fingerprint::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprint> {
        let bytes: &[u8; FINGERPRINT_BYTES] = bytes.try_into().ok()?;
        let (hash, grid) = bytes.split_at(8);
        Some(Fingerprint {
            phash: u64::from_be_bytes(hash.try_into().ok()?),
            grid: grid.try_into().ok()?,
        })
    }

    /// Hamming distance of the hashes, the best over the four rotations of `other`, with the
    /// rotation (quarter turns) that gave it.
    pub fn hash_distance(&self, other: &Fingerprint) -> (u32, usize) {
        rotations(other.phash)
            .iter()
            .enumerate()
            .map(|(turns, h)| ((self.phash ^ h).count_ones(), turns))
            .min()
            .unwrap_or((64, 0))
    }

    /// How far apart the luminance grids are, at the best of the four rotations of `other`
    /// and of a few zooms about the centre of either side (up to 8%, which a small crop
    /// amounts to; a shift of the camera is not compensated).
    pub fn grid_distance(&self, other: &Fingerprint) -> GridDistance {
        let a = self.grid.map(f32::from);
        let mut b = other.grid.map(f32::from);
        let mut best = GridDistance {
            mean: f32::MAX,
            max: f32::MAX,
        };
        for _ in 0..4 {
            for zoom in ZOOMS {
                for (x, y) in [(zoomed(&a, zoom), b), (a, zoomed(&b, zoom))] {
                    let diffs = x.iter().zip(&y).map(|(p, q)| (p - q).abs());
                    let (sum, max) = diffs.fold((0.0, 0.0f32), |(s, m), d| (s + d, m.max(d)));
                    best.mean = best.mean.min(sum / (GRID * GRID) as f32);
                    best.max = best.max.min(max);
                }
            }
            b = rotate_grid(&b);
        }
        best
    }
}

/// How far apart two luminance grids are (0-255 per cell), each the best over the alignments
/// tried by [`Fingerprint::grid_distance`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridDistance {
    /// Mean absolute difference: large when exposure or the whole picture differs.
    pub mean: f32,
    /// Largest difference of one cell: large when something moved or changed locally.
    pub max: f32,
}

/// Zoom factors tried by [`Fingerprint::grid_distance`] (1 / 0.95 is a 5% crop).
const ZOOMS: [f32; 7] = [1.0, 1.013, 1.026, 1.04, 1.053, 1.066, 1.08];

/// The grid magnified by `zoom` about its centre (bilinear).
fn zoomed(grid: &[f32; GRID * GRID], zoom: f32) -> [f32; GRID * GRID] {
    if zoom == 1.0 {
        return *grid;
    }
    let c = (GRID - 1) as f32 / 2.0;
    let at = |x: usize, y: usize| grid[y.min(GRID - 1) * GRID + x.min(GRID - 1)];
    std::array::from_fn(|i| {
        let (sx, sy) = (
            ((i % GRID) as f32 - c) / zoom + c,
            ((i / GRID) as f32 - c) / zoom + c,
        );
        let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * fx;
        let bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * fx;
        top + (bottom - top) * fy
    })
}

/// Computes the fingerprint of an image (any size; a thumbnail of 256 px is plenty and is what
/// [`crate::process`] uses).
pub fn fingerprint(image: &RgbImage) -> Fingerprint {
    let small = resize_rgb(image, DCT_N as u32, DCT_N as u32);
    let luma: Vec<f32> = small
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    Fingerprint {
        phash: dct_hash(&luma),
        grid: pool_grid(&luma),
    }
}

/// The signs of the low 8x8 DCT-II coefficients of a 32x32 block, as bits.
fn dct_hash(luma: &[f32]) -> u64 {
    let cos = cos_table();
    // rows[y][v]: the horizontal transform of row y, only the low frequencies.
    let mut rows = [[0f32; BITS_N]; DCT_N];
    for (y, row) in rows.iter_mut().enumerate() {
        for (v, out) in row.iter_mut().enumerate() {
            *out = (0..DCT_N).map(|x| luma[y * DCT_N + x] * cos[v][x]).sum();
        }
    }
    let mut hash = 0u64;
    for (u, cos_u) in cos.iter().enumerate() {
        for v in 0..BITS_N {
            let coefficient: f32 = rows.iter().zip(cos_u).map(|(row, c)| row[v] * c).sum();
            if (u, v) != (0, 0) && coefficient > 0.0 {
                hash |= 1 << (u * BITS_N + v);
            }
        }
    }
    hash
}

/// `cos(pi * (2x + 1) * k / 2N)` for the low `k`.
fn cos_table() -> &'static [[f32; DCT_N]; BITS_N] {
    static TABLE: OnceLock<[[f32; DCT_N]; BITS_N]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0f32; DCT_N]; BITS_N];
        for (k, row) in t.iter_mut().enumerate() {
            for (x, c) in row.iter_mut().enumerate() {
                let angle =
                    std::f64::consts::PI * (2 * x + 1) as f64 * k as f64 / (2 * DCT_N) as f64;
                *c = angle.cos() as f32;
            }
        }
        t
    })
}

/// The 32x32 luminance (pooled to [`GRID`] if smaller) after a [1 2 1] blur, which keeps detail finer than a
/// cell (lines of text) from aliasing into cell values that jump when the picture is cropped.
fn pool_grid(luma: &[f32]) -> [u8; GRID * GRID] {
    let luma = blur(luma);
    let step = DCT_N / GRID;
    let mut grid = [0u8; GRID * GRID];
    for (i, cell) in grid.iter_mut().enumerate() {
        let (gy, gx) = (i / GRID * step, i % GRID * step);
        let sum: f32 = (0..step * step)
            .map(|k| luma[(gy + k / step) * DCT_N + gx + k % step])
            .sum();
        *cell = (sum / (step * step) as f32).round().clamp(0.0, 255.0) as u8;
    }
    grid
}

/// A separable [1 2 1] / 4 blur of the 32x32 luminance, edges clamped.
fn blur(luma: &[f32]) -> Vec<f32> {
    let n = DCT_N as isize;
    let pass = |src: &[f32], dx: isize, dy: isize| -> Vec<f32> {
        let at = |x: isize, y: isize| src[(y.clamp(0, n - 1) * n + x.clamp(0, n - 1)) as usize];
        (0..n * n)
            .map(|i| {
                let (x, y) = (i % n, i / n);
                (at(x - dx, y - dy) + 2.0 * at(x, y) + at(x + dx, y + dy)) / 4.0
            })
            .collect()
    };
    pass(&pass(luma, 1, 0), 0, 1)
}

/// The grid turned a quarter clockwise.
fn rotate_grid(grid: &[f32; GRID * GRID]) -> [f32; GRID * GRID] {
    let mut out = [0f32; GRID * GRID];
    for y in 0..GRID {
        for x in 0..GRID {
            out[x * GRID + (GRID - 1 - y)] = grid[y * GRID + x];
        }
    }
    out
}

/// Bits (u, v) with odd u: their coefficients change sign when the image is mirrored top to
/// bottom.
const ODD_ROWS: u64 = 0xFF00_FF00_FF00_FF00;
/// Bits (u, v) with odd v: they change sign when the image is mirrored left to right.
const ODD_COLUMNS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

/// The hash of the same image turned by 0, 1, 2 and 3 quarter turns (which direction does not
/// matter to a lookup that tries all four).
pub fn rotations(hash: u64) -> [u64; 4] {
    let quarter = transpose(hash) ^ ODD_COLUMNS;
    let half = ODD_ROWS ^ ODD_COLUMNS;
    // Bit 0 (DC) stays 0: neither mask includes it and transposing keeps it in place.
    [
        hash,
        quarter & !1,
        (hash ^ half) & !1,
        (quarter ^ half) & !1,
    ]
}

/// Swaps bit (u, v) with bit (v, u) of an 8x8 bit matrix.
fn transpose(mut x: u64) -> u64 {
    // The classic three-step delta swap (Hacker's Delight, 7-3).
    let mut t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^= t ^ (t << 28);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(seed: u32) -> RgbImage {
        RgbImage::from_fn(96, 96, |x, y| {
            let v = (x * 3 + y * seed) % 251 + if (x / 20 + y / 30) % 2 == 0 { 0 } else { 60 };
            image::Rgb([v as u8, (v / 2) as u8, (255 - v.min(255)) as u8])
        })
    }

    #[test]
    fn transpose_matches_a_plain_loop() {
        let x = 0x0123_4567_89AB_CDEFu64;
        let mut expected = 0u64;
        for u in 0..8 {
            for v in 0..8 {
                if x >> (u * 8 + v) & 1 == 1 {
                    expected |= 1 << (v * 8 + u);
                }
            }
        }
        assert_eq!(transpose(x), expected);
    }

    #[test]
    fn rotated_pixels_give_a_rotated_hash() {
        let img = scene(7);
        let hash = fingerprint(&img).phash;
        let turned = [
            image::imageops::rotate90(&img),
            image::imageops::rotate180(&img),
            image::imageops::rotate270(&img),
        ];
        let candidates = rotations(hash);
        for t in &turned {
            let h = fingerprint(t).phash;
            let best = candidates
                .iter()
                .map(|c| (c ^ h).count_ones())
                .min()
                .unwrap();
            assert!(best <= 1, "rotated hash is {best} bits from every rotation");
        }
        assert!(
            fingerprint(&scene(7))
                .hash_distance(&fingerprint(&turned[0]))
                .0
                <= 1
        );
    }

    #[test]
    fn grid_distance_sees_rotation_and_brightness() {
        let img = scene(3);
        let a = fingerprint(&img);
        let turned = fingerprint(&image::imageops::rotate90(&img));
        assert!(a.grid_distance(&turned).max < 3.0);
        let brighter = RgbImage::from_fn(96, 96, |x, y| {
            image::Rgb(img.get_pixel(x, y).0.map(|c| c.saturating_add(40)))
        });
        assert!(a.grid_distance(&fingerprint(&brighter)).mean > 20.0);
    }

    #[test]
    fn bytes_round_trip() {
        let f = fingerprint(&scene(5));
        assert_eq!(Fingerprint::from_bytes(&f.to_bytes()), Some(f));
        assert_eq!(Fingerprint::from_bytes(&[0; 3]), None);
    }
}
