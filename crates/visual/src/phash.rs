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
//! A crop changes the whole-image hash; the hashes of two centred windows ([`HASH_WINDOWS`])
//! are kept too, so a crop of this picture hashes like one of its windows.
//!
//! The hash ignores global brightness and barely sees a small object moving; burst shots
//! therefore collide with it. The grid keeps the coarse picture itself, so
//! [`Fingerprint::grid_distance`] can tell them apart ([`crate::align`]): its mean sees
//! exposure, its largest cell sees a local change (see docs/performance.md, `visual`).

use std::sync::OnceLock;

use image::RgbImage;

use crate::VisualError;
use crate::align::GridDistance;
use crate::fine::FineGrid;
use crate::resize::resize_rgb;

/// Side of the grayscale square the hash is computed from.
const DCT_N: usize = 32;
/// Side of the square of low frequencies that become hash bits.
const BITS_N: usize = 8;
/// Side of the luminance grid kept for confirmation.
pub const GRID: usize = 32;

/// Centred windows, as a fraction of each side, whose hashes a fingerprint keeps besides the
/// whole image's. A copy cropped by `c` per side hashes like the original's window `1 - 2c`,
/// so these bring crops of up to about 10% per side within reach of an index lookup.
pub const HASH_WINDOWS: [f32; HASHES - 1] = [0.92, 0.84];
/// Hashes per fingerprint: the whole image, then one per [`HASH_WINDOWS`].
pub const HASHES: usize = 3;

/// What [`fingerprint`] keeps of an image.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fingerprint {
    /// 64-bit perceptual hashes (bit `u * 8 + v` is the sign of DCT coefficient (u, v); bit
    /// 0, the DC term, is always 0): `hashes[0]` of the whole image, the others of the centred
    /// windows [`HASH_WINDOWS`].
    pub hashes: [u64; HASHES],
    /// 32x32 luminance of the whole image (lightly blurred), row by row.
    pub grid: [u8; GRID * GRID],
    /// The 64x64 luminance grid for the fine confirmation (see `fine.rs`), when known: not
    /// part of [`Fingerprint::to_bytes`]; [`crate::ThumbCache::fine_grid`] computes it from
    /// the cached thumbnail.
    pub fine: Option<FineGrid>,
}

/// Version byte that starts [`Fingerprint::to_bytes`]; it changes whenever the hashes or the
/// grid are computed differently, so a stored fingerprint of an older kind is recognised
/// ([`Fingerprint::from_bytes`] refuses it) and computed again.
pub const FINGERPRINT_VERSION: u8 = 2;

/// Bytes of [`Fingerprint::to_bytes`]: version, hashes (big-endian), grid.
pub const FINGERPRINT_BYTES: usize = 1 + 8 * HASHES + GRID * GRID;

impl Fingerprint {
    /// The whole image's 64-bit hash.
    pub fn phash(&self) -> u64 {
        self.hashes[0]
    }

    /// A compact form to store: [`FINGERPRINT_VERSION`], the hashes big-endian, the grid
    /// ([`FINGERPRINT_BYTES`] bytes). The fine grid is not included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FINGERPRINT_BYTES);
        out.push(FINGERPRINT_VERSION);
        for hash in self.hashes {
            out.extend_from_slice(&hash.to_be_bytes());
        }
        out.extend_from_slice(&self.grid);
        out
    }

    /// Reads [`Fingerprint::to_bytes`] (without a fine grid); fails with [`VisualError::BadFingerprint`] on a wrong
    /// length or another version (a fingerprint of an older kind: compute it again).
    pub fn from_bytes(bytes: &[u8]) -> Result<Fingerprint, VisualError> {
        let bad = || VisualError::BadFingerprint {
            len: bytes.len(),
            version: bytes.first().copied(),
        };
        if bytes.len() != FINGERPRINT_BYTES || bytes[0] != FINGERPRINT_VERSION {
            return Err(bad());
        }
        let (hashes, grid) = bytes[1..].split_at(8 * HASHES);
        let mut out = Fingerprint {
            hashes: [0; HASHES],
            grid: grid.try_into().map_err(|_| bad())?,
            fine: None,
        };
        for (hash, chunk) in out.hashes.iter_mut().zip(hashes.chunks_exact(8)) {
            *hash = u64::from_be_bytes(chunk.try_into().map_err(|_| bad())?);
        }
        Ok(out)
    }

    /// The smallest Hamming distance between a hash of `self` and a hash of `other` turned by
    /// 0–3 quarters, over the pairs a [`crate::NearIndex`] compares: whole image against whole
    /// image or window, either way round (one side may be a crop of the other); window against
    /// window is not compared. Also gives the quarter turns of `other` that reached it.
    pub fn hash_distance(&self, other: &Fingerprint) -> (u32, usize) {
        hash_distance(&self.hashes, &other.hashes)
    }

    /// How far apart the luminance grids are at their best alignment: any quarter turn, and
    /// either side a crop of the other ([`crate::align`]).
    pub fn grid_distance(&self, other: &Fingerprint) -> GridDistance {
        let (_, turns) = self.hash_distance(other);
        crate::align::grid_distance(&self.grid, &other.grid, turns)
    }

    /// How far apart the fine grids are at their best centred window (see `fine.rs`), at
    /// the quarter turn the hashes agree on; `None` unless both have one.
    pub fn fine_distance(&self, other: &Fingerprint) -> Option<GridDistance> {
        let (_, turns) = self.hash_distance(other);
        Some(crate::fine::fine_distance(
            self.fine.as_ref()?,
            other.fine.as_ref()?,
            turns,
        ))
    }
}

/// [`Fingerprint::hash_distance`] of two fingerprints' hashes.
pub(crate) fn hash_distance(a: &[u64; HASHES], b: &[u64; HASHES]) -> (u32, usize) {
    let mut best = (64, 0);
    for (i, &mine) in a.iter().enumerate() {
        for (j, &theirs) in b.iter().enumerate() {
            if i != 0 && j != 0 {
                continue;
            }
            for (turns, turned) in rotations(theirs).into_iter().enumerate() {
                best = best.min(((mine ^ turned).count_ones(), turns));
            }
        }
    }
    best
}

/// Computes the fingerprint of an image (any size; a thumbnail of 256 px is plenty and is what
/// [`crate::process`] uses).
pub fn fingerprint(image: &RgbImage) -> Fingerprint {
    let luma = luma32(image);
    let mut hashes = [dct_hash(&luma); HASHES];
    let (w, h) = image.dimensions();
    for (hash, scale) in hashes[1..].iter_mut().zip(HASH_WINDOWS) {
        let (cw, ch) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let window = image::imageops::crop_imm(image, (w - cw) / 2, (h - ch) / 2, cw, ch);
        *hash = dct_hash(&luma32(&window.to_image()));
    }
    Fingerprint {
        hashes,
        grid: pool_grid(&luma),
        fine: Some(crate::fine::fine_grid(image)),
    }
}

/// The image squeezed to 32x32 luminance.
fn luma32(image: &RgbImage) -> Vec<f32> {
    luma(&resize_rgb(image, DCT_N as u32, DCT_N as u32))
}

/// Luminance (BT.601) of every pixel, row by row.
pub(crate) fn luma(image: &RgbImage) -> Vec<f32> {
    image
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
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
    let luma = blur(luma, DCT_N);
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

/// A separable [1 2 1] / 4 blur of an `n` x `n` luminance square, edges clamped.
pub(crate) fn blur(luma: &[f32], n: usize) -> Vec<f32> {
    let n = n as isize;
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
        let hash = fingerprint(&img).phash();
        let turned = [
            image::imageops::rotate90(&img),
            image::imageops::rotate180(&img),
            image::imageops::rotate270(&img),
        ];
        let candidates = rotations(hash);
        for t in &turned {
            let h = fingerprint(t).phash();
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
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), FINGERPRINT_BYTES);
        let read = Fingerprint::from_bytes(&bytes).unwrap();
        assert_eq!(
            (read.hashes, read.grid, read.fine),
            (f.hashes, f.grid, None)
        );
        assert!(matches!(
            Fingerprint::from_bytes(&[0; 3]),
            Err(VisualError::BadFingerprint { len: 3, .. })
        ));
        let mut older = bytes.clone();
        older[0] = FINGERPRINT_VERSION - 1;
        assert!(Fingerprint::from_bytes(&older).is_err());
    }
}
