//! The near-duplicate decision: hash distance finds candidates, the fine grids (or, without
//! them, the aligned 32x32 luminance grids) confirm them.

use crate::{Fingerprint, GridDistance};

/// The thresholds that call two fingerprints near-duplicates.
///
/// With both fine grids known ([`Fingerprint::fine`]) the decision is the hash within
/// `max_hash_distance` and the fine grids within `max_fine_offset`, `max_fine_relative` and
/// `max_fine_cell` at their best centred window. Without them it falls back to the coarse 32x32 grid, which cannot
/// tell a crop from a small camera pan and so is held to a tighter hash distance.
///
/// The defaults come from `examples/eval/` on generated images (see docs/performance.md,
/// `visual`): resized, re-encoded, metadata-stripped, cropped (up to 8% per side) and turned
/// copies match; burst shots (an object moved, the camera shifted, exposure changed) and other
/// renders of the same generator do not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matcher {
    /// Largest Hamming distance of the 64-bit hashes ([`Fingerprint::hash_distance`]) when
    /// both fine grids are known; also the radius a [`crate::NearIndex`] looks up candidates
    /// with, so it sets query time.
    pub max_hash_distance: u32,
    /// Largest [`GridDistance::offset`] of the fine grids at their best window (0–255):
    /// exposure.
    pub max_fine_offset: f32,
    /// Largest [`GridDistance::relative`] of the fine grids at their best window (about
    /// cells out of register).
    pub max_fine_relative: f32,
    /// Largest difference of any one fine grid cell at that window (0–255).
    pub max_fine_cell: f32,
    /// Largest hash distance when a fine grid is missing (the coarse decision).
    pub coarse_max_hash_distance: u32,
    /// Largest mean difference of the aligned 32x32 luminance grids (0–255), coarse decision.
    pub max_grid_mean: f32,
    /// Largest difference of any one aligned 32x32 grid cell (0–255), coarse decision.
    pub max_grid_cell: f32,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            max_hash_distance: 11,
            max_fine_offset: 4.0,
            max_fine_relative: 0.8,
            max_fine_cell: 60.0,
            coarse_max_hash_distance: 3,
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
    /// Distance of the grids at their best alignment: the fine grids when `fine`, else the
    /// 32x32 grids.
    pub grid: GridDistance,
    /// Whether the fine grids decided.
    pub fine: bool,
}

impl Matcher {
    /// `Some` when `a` and `b` show the same picture, with the distances that said so.
    pub fn check(&self, a: &Fingerprint, b: &Fingerprint) -> Option<Match> {
        let (hash_distance, turns) = a.hash_distance(b);
        if let (Some(fa), Some(fb)) = (&a.fine, &b.fine) {
            if hash_distance > self.max_hash_distance {
                return None;
            }
            let grid = crate::fine::fine_distance(fa, fb, turns);
            let close = grid.offset <= self.max_fine_offset
                && grid.relative <= self.max_fine_relative
                && grid.max <= self.max_fine_cell;
            return close.then_some(Match {
                hash_distance,
                grid,
                fine: true,
            });
        }
        if hash_distance > self.coarse_max_hash_distance {
            return None;
        }
        let grid = crate::align::grid_distance(&a.grid, &b.grid, turns);
        (grid.mean <= self.max_grid_mean && grid.max <= self.max_grid_cell).then_some(Match {
            hash_distance,
            grid,
            fine: false,
        })
    }

    /// Whether `a` and `b` show the same picture.
    pub fn is_near_duplicate(&self, a: &Fingerprint, b: &Fingerprint) -> bool {
        self.check(a, b).is_some()
    }
}
