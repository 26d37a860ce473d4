//! The in-memory near-duplicate index of a library: the hashes of each asset by id, looked
//! up by Hamming distance; candidates are confirmed against their full fingerprint, which the
//! caller supplies.
//!
//! Two sets of multi-index hash tables ([`crate::index`]): one holds each asset's whole-image
//! hash, the other its window hashes. A query probes the first with all of its hashes and the
//! second with its whole-image hash, each in the four quarter turns, so a copy is found
//! whichever of the two is the crop. Candidates within [`Matcher::max_hash_distance`] are
//! then fetched through the caller's lookup (from the catalog, say) and confirmed by
//! [`Matcher::check`].

use std::collections::HashMap;

use crate::index::HashTables;
use crate::matching::{Match, Matcher};
use crate::phash::{Fingerprint, HASHES, rotations};

/// Near-duplicates among a set of assets, keyed by asset id; only their hashes stay in memory.
///
/// Memory: about 150 bytes per asset (hashes, id, table entries, the id map; see
/// docs/performance.md, `visual`).
#[derive(Clone, Debug, Default)]
pub struct NearIndex {
    matcher: Matcher,
    /// Slot -> asset id (meaningless for a freed slot).
    ids: Vec<i64>,
    /// Slot -> the asset's hashes (`Fingerprint::hashes`).
    hashes: Vec<[u64; HASHES]>,
    free: Vec<u32>,
    slots: HashMap<i64, u32>,
    /// Entries `slot << 2` (the whole-image hash).
    wholes: HashTables,
    /// Entries `slot << 2 | k` (window hash `k`, 1 or 2).
    windows: HashTables,
}

/// A table entry for hash `k` of `slot`.
fn entry(slot: u32, k: usize) -> u32 {
    slot << 2 | k as u32
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

    /// Adds asset `id` (its hashes only), replacing what it had.
    pub fn insert(&mut self, id: i64, fingerprint: &Fingerprint) {
        self.remove(id);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                assert!(
                    self.ids.len() < 1 << 30,
                    "NearIndex holds at most 2^30 assets"
                );
                self.ids.push(id);
                self.hashes.push([0; HASHES]);
                (self.ids.len() - 1) as u32
            }
        };
        let hashes = fingerprint.hashes;
        self.ids[slot as usize] = id;
        self.hashes[slot as usize] = hashes;
        self.wholes.insert(entry(slot, 0), hashes[0]);
        for (k, &hash) in hashes.iter().enumerate().skip(1) {
            self.windows.insert(entry(slot, k), hash);
        }
        self.slots.insert(id, slot);
    }

    /// Removes asset `id`; returns whether it was there.
    pub fn remove(&mut self, id: i64) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        let hashes = self.hashes[slot as usize];
        self.wholes.remove(entry(slot, 0), hashes[0]);
        for (k, &hash) in hashes.iter().enumerate().skip(1) {
            self.windows.remove(entry(slot, k), hash);
        }
        self.free.push(slot);
        true
    }

    /// The hashes of asset `id` (`Fingerprint::hashes`), if indexed.
    pub fn hashes(&self, id: i64) -> Option<[u64; HASHES]> {
        self.slots.get(&id).map(|&slot| self.hashes[slot as usize])
    }

    /// Every indexed asset that is a near-duplicate of `fingerprint`, best match first.
    ///
    /// Assets whose hashes are close enough are candidates; `lookup(id)` supplies each
    /// candidate's full fingerprint (from the catalog, say) for [`Matcher::check`], and a
    /// candidate it returns `None` for is skipped. An asset indexed with this very fingerprint
    /// is among the results: a caller that queries after inserting leaves its own id out.
    pub fn query(
        &self,
        fingerprint: &Fingerprint,
        lookup: impl Fn(i64) -> Option<Fingerprint>,
    ) -> Vec<(i64, Match)> {
        let mut found: Vec<(i64, Match)> = self
            .candidates(fingerprint)
            .into_iter()
            .filter_map(|slot| {
                let id = self.ids[slot as usize];
                Some((id, self.matcher.check(fingerprint, &lookup(id)?)?))
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
    /// quarter turn, over the pairs [`Fingerprint::hash_distance`] compares), each once.
    fn candidates(&self, fingerprint: &Fingerprint) -> Vec<u32> {
        let d = self.matcher.max_hash_distance;
        let hash_of = |e: u32| self.hashes[(e >> 2) as usize][(e & 3) as usize];
        let mut slots = Vec::new();
        for (k, &hash) in fingerprint.hashes.iter().enumerate() {
            for turned in rotations(hash) {
                self.wholes
                    .for_each_within(turned, d, hash_of, |e, _| slots.push(e >> 2));
                if k == 0 {
                    self.windows
                        .for_each_within(turned, d, hash_of, |e, _| slots.push(e >> 2));
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
        let stored = HashMap::from([
            (1, crate::fingerprint(&original)),
            (2, crate::fingerprint(&scene(11))),
        ]);
        for (&id, fingerprint) in &stored {
            index.insert(id, fingerprint);
        }
        let lookup = |id: i64| stored.get(&id).cloned();
        let turned = crate::fingerprint(&image::imageops::rotate90(&original));
        let cropped =
            crate::fingerprint(&image::imageops::crop_imm(&original, 10, 7, 220, 166).to_image());
        for copy in [&turned, &cropped] {
            let found: Vec<i64> = index
                .query(copy, lookup)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(found, vec![1]);
            // A candidate the lookup cannot supply is skipped.
            assert!(index.query(copy, |_| None).is_empty());
        }
        assert!(index.remove(1));
        assert!(!index.remove(1));
        assert!(index.query(&turned, lookup).is_empty());
        assert_eq!(index.len(), 1);
        assert_eq!(index.hashes(2), Some(stored[&2].hashes));
        assert_eq!(index.hashes(1), None);
    }
}
