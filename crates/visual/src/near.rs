//! The in-memory near-duplicate index of a library: fingerprints by asset id, looked up by
//! hash and confirmed by the aligned grid.
//!
//! Two sets of multi-index hash tables ([`crate::index`]): one holds each asset's whole-image
//! hash, the other its window hashes. A query probes the first with all of its hashes and the
//! second with its whole-image hash, each in the four quarter turns, so a copy is found
//! whichever of the two is the crop. Candidates within [`Matcher::max_hash_distance`] are
//! then confirmed by [`Matcher::check`] against the stored fingerprint.

use std::collections::HashMap;

use crate::index::HashTables;
use crate::matching::{Match, Matcher};
use crate::phash::{Fingerprint, rotations};

/// Near-duplicates among a set of fingerprints, keyed by asset id.
///
/// Memory: the fingerprint (about 1 KB) plus about 200 bytes of table entries per asset (see
/// docs/performance.md, `visual`).
#[derive(Clone, Debug, Default)]
pub struct NearIndex {
    matcher: Matcher,
    /// Slot -> (asset id, fingerprint); `None` for a freed slot.
    entries: Vec<Option<(i64, Fingerprint)>>,
    free: Vec<u32>,
    slots: HashMap<i64, u32>,
    wholes: HashTables,
    windows: HashTables,
}

impl NearIndex {
    /// An empty index deciding with `matcher`.
    pub fn new(matcher: Matcher) -> Self {
        NearIndex {
            matcher,
            ..NearIndex::default()
        }
    }

    /// The thresholds in use.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// How many assets are indexed.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds asset `id`, replacing the fingerprint it had.
    pub fn insert(&mut self, id: i64, fingerprint: &Fingerprint) {
        self.remove(id);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(None);
                (self.entries.len() - 1) as u32
            }
        };
        let (whole, windows) = fingerprint.hashes.split_first().unwrap_or((&0, &[]));
        self.wholes.insert(slot, *whole);
        for &hash in windows {
            self.windows.insert(slot, hash);
        }
        self.entries[slot as usize] = Some((id, fingerprint.clone()));
        self.slots.insert(id, slot);
    }

    /// Removes asset `id`; returns whether it was there.
    pub fn remove(&mut self, id: i64) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        if let Some((_, fingerprint)) = self.entries[slot as usize].take() {
            let (whole, windows) = fingerprint.hashes.split_first().unwrap_or((&0, &[]));
            self.wholes.remove(slot, *whole);
            for &hash in windows {
                self.windows.remove(slot, hash);
            }
        }
        self.free.push(slot);
        true
    }

    /// The fingerprint of asset `id`, if indexed.
    pub fn get(&self, id: i64) -> Option<&Fingerprint> {
        let slot = *self.slots.get(&id)?;
        self.entries[slot as usize].as_ref().map(|(_, f)| f)
    }

    /// Every indexed asset that is a near-duplicate of `fingerprint` (confirmed by the grid),
    /// best match first. An asset indexed with this very fingerprint is among them: a caller
    /// that queries after inserting leaves its own id out.
    pub fn query(&self, fingerprint: &Fingerprint) -> Vec<(i64, Match)> {
        let mut found: Vec<(i64, Match)> = self
            .candidates(fingerprint)
            .into_iter()
            .filter_map(|slot| {
                let (id, stored) = self.entries[slot as usize].as_ref()?;
                Some((*id, self.matcher.check(fingerprint, stored)?))
            })
            .collect();
        found.sort_by(|a, b| {
            (a.1.grid.mean, a.1.hash_distance, a.0)
                .partial_cmp(&(b.1.grid.mean, b.1.hash_distance, b.0))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        found
    }

    /// Slots with a hash within the matcher's distance of one of `fingerprint`'s (in any
    /// quarter turn), each once.
    fn candidates(&self, fingerprint: &Fingerprint) -> Vec<u32> {
        let d = self.matcher.max_hash_distance;
        let mut slots = Vec::new();
        for (k, &hash) in fingerprint.hashes.iter().enumerate() {
            for turned in rotations(hash) {
                self.wholes
                    .for_each_within(turned, d, |slot, _| slots.push(slot));
                if k == 0 {
                    self.windows
                        .for_each_within(turned, d, |slot, _| slots.push(slot));
                }
            }
        }
        slots.sort_unstable();
        slots.dedup();
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn scene(seed: u32) -> RgbImage {
        RgbImage::from_fn(240, 180, |x, y| {
            let v = (x * 3 + y * seed) % 251 + if (x / 40 + y / 30) % 2 == 0 { 0 } else { 60 };
            Rgb([v as u8, (v / 2) as u8, (255 - v.min(255)) as u8])
        })
    }

    #[test]
    fn finds_turned_and_cropped_copies_and_forgets_removed_ones() {
        let original = scene(7);
        let mut index = NearIndex::new(Matcher::default());
        index.insert(1, &crate::fingerprint(&original));
        index.insert(2, &crate::fingerprint(&scene(11)));
        let turned = crate::fingerprint(&image::imageops::rotate90(&original));
        let cropped =
            crate::fingerprint(&image::imageops::crop_imm(&original, 10, 7, 220, 166).to_image());
        for copy in [&turned, &cropped] {
            let found: Vec<i64> = index.query(copy).into_iter().map(|(id, _)| id).collect();
            assert_eq!(found, vec![1]);
        }
        assert!(index.remove(1));
        assert!(!index.remove(1));
        assert!(index.query(&turned).is_empty());
        assert_eq!(index.len(), 1);
        assert!(index.get(2).is_some());
    }
}
