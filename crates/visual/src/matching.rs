//! The near-duplicate decision: hash distance finds candidates, the aligned luminance grid
//! confirms them.

use crate::{Fingerprint, GridDistance};

/// Thresholds for calling two fingerprints near-duplicates.
///
/// The defaults come from `examples/eval/` on generated images (see docs/performance.md,
/// `visual`): resized, re-encoded, metadata-stripped, cropped (up to 8% per side) and turned
/// copies match; burst shots (an object moved, the camera shifted, exposure changed) and other
/// renders of the same generator do not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matcher {
    /// Largest Hamming distance of the 64-bit hashes ([`Fingerprint::hash_distance`]); also
    /// the radius a [`crate::NearIndex`] looks up candidates with, so it sets query time.
    pub max_hash_distance: u32,
    /// Largest mean difference of the aligned 32x32 luminance grids (0–255).
    pub max_grid_mean: f32,
    /// Largest difference of any one aligned grid cell (0–255).
    pub max_grid_cell: f32,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            max_hash_distance: 3,
            max_grid_mean: 1.0,
            max_grid_cell: 30.0,
        }
    }
}

/// Why two fingerprints were found to match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    /// Hamming distance of the closest pair of hashes (0–64).
    pub hash_distance: u32,
    /// Distance of the grids at their best alignment.
    pub grid: GridDistance,
}

impl Matcher {
    /// `Some` when `a` and `b` show the same picture, with the distances that said so.
    pub fn check(&self, a: &Fingerprint, b: &Fingerprint) -> Option<Match> {
        let (hash_distance, turns) = a.hash_distance(b);
        if hash_distance > self.max_hash_distance {
            return None;
        }
        let grid = crate::align::grid_distance(&a.grid, &b.grid, turns);
        (grid.mean <= self.max_grid_mean && grid.max <= self.max_grid_cell).then_some(Match {
            hash_distance,
            grid,
        })
    }

    /// Whether `a` and `b` show the same picture.
    pub fn is_near_duplicate(&self, a: &Fingerprint, b: &Fingerprint) -> bool {
        self.check(a, b).is_some()
    }
}
