//! Near-duplicate lookup over 64-bit hashes by multi-index hashing.
//!
//! The hash is cut into four 16-bit chunks, each with its own table of exact-match buckets.
//! By the pigeonhole principle, two hashes within Hamming distance `d` agree to within
//! `d / 4` bits on at least one chunk, so a query probes, in each table, every bucket whose
//! key is within `d / 4` bits of the query's chunk, and checks the full distance of what it
//! finds. With a million random hashes a bucket holds about 15 entries; at `d = 8` a query
//! probes 4 x 137 buckets (see `benches/index.rs` for latency).

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

/// Multi-index hash tables of `(slot, 64-bit hash)` entries that find every entry within a
/// Hamming distance. A slot may hold several hashes; the caller maps slots to assets.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashTables {
    /// `tables[c][key]`: entries whose chunk `c` equals `key`. Empty until the first insert.
    tables: Vec<Vec<Vec<Bucketed>>>,
}

fn chunk(hash: u64, c: usize) -> u16 {
    (hash >> (c as u32 * CHUNK_BITS)) as u16
}

impl HashTables {
    /// Adds `hash` under `slot`.
    pub(crate) fn insert(&mut self, slot: u32, hash: u64) {
        if self.tables.is_empty() {
            self.tables = vec![vec![Vec::new(); BUCKETS]; CHUNKS];
        }
        for (c, table) in self.tables.iter_mut().enumerate() {
            table[usize::from(chunk(hash, c))].push(Bucketed { hash, slot });
        }
    }

    /// Removes one entry `(slot, hash)`, if there.
    pub(crate) fn remove(&mut self, slot: u32, hash: u64) {
        for (c, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[usize::from(chunk(hash, c))];
            if let Some(at) = bucket.iter().position(|b| b.slot == slot && b.hash == hash) {
                bucket.swap_remove(at);
            }
        }
    }

    /// Calls `f(slot, distance)` once for every entry within `max_distance` of `hash`.
    pub(crate) fn for_each_within(
        &self,
        hash: u64,
        max_distance: u32,
        mut f: impl FnMut(u32, u32),
    ) {
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

    fn query(tables: &HashTables, q: u64, d: u32) -> Vec<(u32, u32)> {
        let mut got = Vec::new();
        tables.for_each_within(q, d, |slot, distance| got.push((slot, distance)));
        got.sort();
        got
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        let mut state = 42;
        let mut tables = HashTables::default();
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
            tables.insert(id, hash);
            all.push((id, hash));
        }
        for _ in 0..300 {
            let base = all[(next(&mut state) % all.len() as u64) as usize].1;
            let q = flip(base, (next(&mut state) % 6) as u32, &mut state);
            for d in [0, 3, 4, 7, 8, 12, 15] {
                assert_eq!(
                    query(&tables, q, d),
                    brute(&all, q, d),
                    "query {q:016x} at distance {d}"
                );
            }
        }
    }

    #[test]
    fn remove_and_reinsert() {
        let mut state = 7;
        let mut tables = HashTables::default();
        // Two hashes per slot, as a fingerprint's windows are stored.
        let mut all: Vec<(u32, u64)> = (0..4_000).map(|n| (n / 2, next(&mut state))).collect();
        for &(slot, h) in &all {
            tables.insert(slot, h);
        }
        for &(slot, h) in all.iter().filter(|(slot, _)| slot % 3 == 0) {
            tables.remove(slot, h);
        }
        all.retain(|(slot, _)| slot % 3 != 0);
        // Slots are reused with new hashes.
        for slot in (0..2_000).step_by(3) {
            let h = next(&mut state);
            tables.insert(slot, h);
            all.push((slot, h));
        }
        all.sort();
        for &(_, h) in all.iter().step_by(7) {
            assert_eq!(query(&tables, h, 10), brute(&all, h, 10));
        }
    }
}
