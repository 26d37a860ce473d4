//! The near-duplicate decision: hash distance finds candidates, the luminance grid confirms.

use crate::Fingerprint;

/// Thresholds for calling two fingerprints near-duplicates.
///
/// The defaults come from `examples/eval.rs` on generated images (see docs/performance.md,
/// `visual`): resized, re-encoded, metadata-stripped, slightly cropped and quarter-turned
/// copies match; burst shots (an object moved, the camera shifted, exposure changed) and
/// other renders of the same generator do not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matcher {
    /// Largest Hamming distance of the 64-bit hashes (best rotation); also the distance to
    /// query a [`crate::NearDupIndex`] with.
    pub max_hash_distance: u32,
    /// Largest mean absolute difference of the 32x32 luminance grids (0-255).
    pub max_grid_mean: f32,
    /// Largest difference of any one grid cell (0-255).
    pub max_grid_cell: f32,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            max_hash_distance: 13,
            max_grid_mean: 2.0,
            max_grid_cell: 20.0,
        }
    }
}

impl Matcher {
    /// Whether `a` and `b` show the same picture.
    pub fn is_near_duplicate(&self, a: &Fingerprint, b: &Fingerprint) -> bool {
        if a.hash_distance(b).0 > self.max_hash_distance {
            return false;
        }
        let grid = a.grid_distance(b);
        grid.mean <= self.max_grid_mean && grid.max <= self.max_grid_cell
    }
}
