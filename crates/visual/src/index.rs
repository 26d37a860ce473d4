//! Near-duplicate lookup over 64-bit hashes by multi-index hashing.
//!
//! The hash is cut into four 16-bit chunks, each with its own table of exact-match buckets.
//! By the pigeonhole principle, two hashes within Hamming distance `d` agree to within
//! `d / 4` bits on at least one chunk, so a query probes, in each table, every bucket whose
//! key is within `d / 4` bits of the query's chunk, and checks the full distance of what it
//! finds. With a million random hashes a bucket holds about 15 entries; at `d = 8` a query
//! probes 4 x 137 buckets (see `benches/index.rs` for latency).

use std::collections::HashMap;
use std::hash::Hash;

use crate::phash::rotations;

const CHUNKS: usize = 4;
const CHUNK_BITS: u32 = 16;
const BUCKETS: usize = 1 << CHUNK_BITS;

/// A bucket entry keeps its full hash, so a query measures distances without a random access
/// per candidate (which at a million entries would dominate its time).
#[derive(Clone, Copy, Debug)]
struct Bucketed {
    hash: u64,
    slot: u32,
}

/// An index of `(id, 64-bit hash)` that finds every hash within a Hamming distance.
#[derive(Clone, Debug)]
pub struct NearDupIndex<I> {
    /// Slot -> entry; `None` for a freed slot.
    entries: Vec<Option<(I, u64)>>,
    free: Vec<u32>,
    slots: HashMap<I, u32>,
    /// `tables[c][key]`: entries whose chunk `c` equals `key`. Empty until the first insert.
    tables: Vec<Vec<Vec<Bucketed>>>,
}

impl<I: Clone + Eq + Hash> Default for NearDupIndex<I> {
    fn default() -> Self {
        Self::new()
    }
}

fn chunk(hash: u64, c: usize) -> u16 {
    (hash >> (c as u32 * CHUNK_BITS)) as u16
}

impl<I: Clone + Eq + Hash> NearDupIndex<I> {
    /// An empty index.
    pub fn new() -> Self {
        NearDupIndex {
            entries: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            tables: Vec::new(),
        }
    }

    /// How many ids are indexed.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds `id` with `hash`, replacing the hash it had.
    pub fn insert(&mut self, id: I, hash: u64) {
        self.remove(&id);
        if self.tables.is_empty() {
            self.tables = vec![vec![Vec::new(); BUCKETS]; CHUNKS];
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = Some((id.clone(), hash));
                slot
            }
            None => {
                self.entries.push(Some((id.clone(), hash)));
                (self.entries.len() - 1) as u32
            }
        };
        for (c, table) in self.tables.iter_mut().enumerate() {
            table[usize::from(chunk(hash, c))].push(Bucketed { hash, slot });
        }
        self.slots.insert(id, slot);
    }

    /// Removes `id`; returns its hash if it was there.
    pub fn remove(&mut self, id: &I) -> Option<u64> {
        let slot = self.slots.remove(id)?;
        let (_, hash) = self.entries[slot as usize].take()?;
        for (c, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[usize::from(chunk(hash, c))];
            if let Some(at) = bucket.iter().position(|b| b.slot == slot) {
                bucket.swap_remove(at);
            }
        }
        self.free.push(slot);
        Some(hash)
    }

    /// The hash of `id`, if indexed.
    pub fn get(&self, id: &I) -> Option<u64> {
        let slot = *self.slots.get(id)?;
        self.entries[slot as usize].as_ref().map(|(_, h)| *h)
    }

    /// Every indexed id whose hash is within `max_distance` bits of `hash`, with its distance,
    /// nearest first.
    pub fn query(&self, hash: u64, max_distance: u32) -> Vec<(I, u32)> {
        let mut out = Vec::new();
        self.for_each_within(hash, max_distance, |slot, distance| {
            if let Some((id, _)) = &self.entries[slot as usize] {
                out.push((id.clone(), distance));
            }
        });
        out.sort_by_key(|&(_, d)| d);
        out
    }

    /// [`NearDupIndex::query`] for the hash and its three quarter-turn rotations
    /// ([`crate::rotations`]); each id once, with its smallest distance.
    pub fn query_rotations(&self, hash: u64, max_distance: u32) -> Vec<(I, u32)> {
        let mut best: HashMap<u32, u32> = HashMap::new();
        for turned in rotations(hash) {
            self.for_each_within(turned, max_distance, |slot, d| {
                best.entry(slot)
                    .and_modify(|b| *b = (*b).min(d))
                    .or_insert(d);
            });
        }
        let mut out: Vec<(I, u32)> = best
            .into_iter()
            .filter_map(|(slot, d)| {
                self.entries[slot as usize]
                    .as_ref()
                    .map(|(id, _)| (id.clone(), d))
            })
            .collect();
        out.sort_by_key(|&(_, d)| d);
        out
    }

    /// Groups of two or more ids whose hashes are within `max_distance` of another member (in
    /// any rotation), transitively.
    pub fn groups(&self, max_distance: u32) -> Vec<Vec<I>> {
        self.groups_confirmed(max_distance, |_, _| true)
    }

    /// [`NearDupIndex::groups`], joining two ids only when `confirm` also says they match
    /// (e.g. [`crate::Matcher::is_near_duplicate`] on their fingerprints).
    pub fn groups_confirmed(
        &self,
        max_distance: u32,
        mut confirm: impl FnMut(&I, &I) -> bool,
    ) -> Vec<Vec<I>> {
        let mut parent: Vec<u32> = (0..self.entries.len() as u32).collect();
        for (slot, entry) in self.entries.iter().enumerate() {
            let Some((id, hash)) = entry else { continue };
            for turned in rotations(*hash) {
                self.for_each_within(turned, max_distance, |other, _| {
                    let (a, b) = (find(&mut parent, slot as u32), find(&mut parent, other));
                    if a == b {
                        return;
                    }
                    if let Some((other_id, _)) = &self.entries[other as usize]
                        && confirm(id, other_id)
                    {
                        parent[a.max(b) as usize] = a.min(b);
                    }
                });
            }
        }
        let mut groups: HashMap<u32, Vec<I>> = HashMap::new();
        for (slot, entry) in self.entries.iter().enumerate() {
            if let Some((id, _)) = entry {
                groups
                    .entry(find(&mut parent, slot as u32))
                    .or_default()
                    .push(id.clone());
            }
        }
        let mut out: Vec<(u32, Vec<I>)> = groups.into_iter().filter(|(_, g)| g.len() > 1).collect();
        out.sort_by_key(|(root, _)| *root);
        out.into_iter().map(|(_, g)| g).collect()
    }

    /// Calls `f(slot, distance)` once for every slot within `max_distance` of `hash`.
    fn for_each_within(&self, hash: u64, max_distance: u32, mut f: impl FnMut(u32, u32)) {
        if self.tables.is_empty() {
            return;
        }
        let radius = max_distance / CHUNKS as u32;
        for c in 0..CHUNKS {
            let table = &self.tables[c];
            for_each_key_within(chunk(hash, c), radius, &mut |key| {
                for &Bucketed { hash: other, slot } in &table[usize::from(key)] {
                    let distance = (hash ^ other).count_ones();
                    if distance > max_distance {
                        continue;
                    }
                    // Reported by the first chunk that is within the radius, and only there.
                    let earlier =
                        (0..c).any(|e| (chunk(hash, e) ^ chunk(other, e)).count_ones() <= radius);
                    if !earlier {
                        f(slot, distance);
                    }
                }
            });
        }
    }
}

/// Calls `f` with every 16-bit key within `radius` bits of `key`, each once.
fn for_each_key_within(key: u16, radius: u32, f: &mut impl FnMut(u16)) {
    fn flip_from(key: u16, first_bit: u32, left: u32, f: &mut impl FnMut(u16)) {
        f(key);
        if left == 0 {
            return;
        }
        for bit in first_bit..CHUNK_BITS {
            flip_from(key ^ (1 << bit), bit + 1, left - 1, f);
        }
    }
    flip_from(key, 0, radius.min(CHUNK_BITS), f);
}

/// Union-find root, halving paths on the way.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: deterministic test data without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A hash exactly `bits` bits away from `hash`.
    fn flip(hash: u64, bits: u32, state: &mut u64) -> u64 {
        let mut out = hash;
        while (out ^ hash).count_ones() < bits {
            let bit = 1u64 << (next(state) % 64);
            if (out ^ hash) & bit == 0 {
                out ^= bit;
            }
        }
        out
    }

    fn brute(all: &[(u32, u64)], q: u64, d: u32) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = all
            .iter()
            .map(|&(id, h)| (id, (h ^ q).count_ones()))
            .filter(|&(_, x)| x <= d)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        let mut state = 42;
        let mut index = NearDupIndex::new();
        let mut all: Vec<(u32, u64)> = Vec::new();
        for id in 0..5_000u32 {
            // Half random, half planted near an earlier hash so there is something to find.
            let hash = if id % 2 == 1 {
                flip(
                    all[id as usize - 1].1,
                    (next(&mut state) % 14) as u32,
                    &mut state,
                )
            } else {
                next(&mut state)
            };
            index.insert(id, hash);
            all.push((id, hash));
        }
        for _ in 0..300 {
            let base = all[(next(&mut state) % all.len() as u64) as usize].1;
            let q = flip(base, (next(&mut state) % 6) as u32, &mut state);
            for d in [0, 3, 4, 7, 8, 12, 15] {
                let mut got = index.query(q, d);
                got.sort();
                assert_eq!(got, brute(&all, q, d), "query {q:016x} at distance {d}");
            }
        }
    }

    #[test]
    fn remove_and_reinsert() {
        let mut state = 7;
        let mut index = NearDupIndex::new();
        let mut all: Vec<(u32, u64)> = (0..2_000).map(|id| (id, next(&mut state))).collect();
        for &(id, h) in &all {
            index.insert(id, h);
        }
        for id in (0..2_000).step_by(3) {
            assert_eq!(index.remove(&id), Some(all[id as usize].1));
            assert_eq!(index.remove(&id), None);
        }
        all.retain(|(id, _)| id % 3 != 0);
        // Replace some hashes in place.
        for entry in all.iter_mut().filter(|(id, _)| id % 5 == 0) {
            entry.1 = next(&mut state);
            index.insert(entry.0, entry.1);
        }
        assert_eq!(index.len(), all.len());
        for &(_, h) in all.iter().step_by(7) {
            let mut got = index.query(h, 10);
            got.sort();
            assert_eq!(got, brute(&all, h, 10));
        }
    }

    #[test]
    fn rotated_queries_and_groups() {
        let mut state = 3;
        let mut index: NearDupIndex<&str> = NearDupIndex::new();
        let a = next(&mut state) & !1;
        let turned = rotations(a)[1];
        index.insert("a", a);
        index.insert("turned", turned ^ 0b110); // two bits of noise on top of the turn
        index.insert("near", a ^ (1 << 40));
        index.insert("far", !a);
        let found: Vec<&str> = index
            .query_rotations(a, 4)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(found.len(), 3);
        assert!(!found.contains(&"far"));
        let mut groups = index.groups(4);
        assert_eq!(groups.len(), 1);
        groups[0].sort();
        assert_eq!(groups[0], vec!["a", "near", "turned"]);
        let refused = index.groups_confirmed(4, |x, y| *x != "turned" && *y != "turned");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].len(), 2);
    }
}
