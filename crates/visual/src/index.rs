//! Near-duplicate lookup over 64-bit hashes by multi-index hashing.
//!
//! The hash is cut into four 16-bit chunks, each with its own table of exact-match buckets.
//! By the pigeonhole principle, two hashes within Hamming distance `d` agree to within
//! `d / 4` bits on at least one chunk, so a query probes, in each table, every bucket whose
//! key is within `d / 4` bits of the query's chunk, and checks the full distance of what it
//! finds. With a million random hashes a bucket holds about 15 entries; at `d = 8` a query
//! probes 4 x 137 buckets (see `benches/index.rs` for latency).
//!
//! A bucket entry is a bare `u32` (4 bytes per hash and chunk); the caller keeps the hashes
//! and resolves an entry to its hash, so the tables hold no copy of them.

const CHUNKS: usize = 4;
const CHUNK_BITS: u32 = 16;
const BUCKETS: usize = 1 << CHUNK_BITS;

/// Multi-index hash tables of `u32` entries, each standing for one 64-bit hash that the caller
/// keeps, which find every entry within a Hamming distance.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashTables {
    /// `tables[c][key]`: entries whose hash has chunk `c` equal to `key`. Empty until the
    /// first insert.
    tables: Vec<Vec<Vec<u32>>>,
}

fn chunk(hash: u64, c: usize) -> u16 {
    (hash >> (c as u32 * CHUNK_BITS)) as u16
}

impl HashTables {
    /// Adds `entry`, whose hash is `hash`.
    pub(crate) fn insert(&mut self, entry: u32, hash: u64) {
        if self.tables.is_empty() {
            self.tables = vec![vec![Vec::new(); BUCKETS]; CHUNKS];
        }
        for (c, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[usize::from(chunk(hash, c))];
            // Exact growth: a bucket holds a few dozen entries at a million hashes, so copying
            // it costs less than the third of the memory that doubling would leave unused.
            bucket.reserve_exact(1);
            bucket.push(entry);
        }
    }

    /// Removes `entry`, inserted with `hash`, if there.
    pub(crate) fn remove(&mut self, entry: u32, hash: u64) {
        for (c, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[usize::from(chunk(hash, c))];
            if let Some(at) = bucket.iter().position(|&e| e == entry) {
                bucket.swap_remove(at);
                bucket.shrink_to_fit();
            }
        }
    }

    /// Calls `f(entry, distance)` once for every entry within `max_distance` of `hash`;
    /// `hash_of` gives an entry's hash.
    pub(crate) fn for_each_within(
        &self,
        hash: u64,
        max_distance: u32,
        hash_of: impl Fn(u32) -> u64,
        mut f: impl FnMut(u32, u32),
    ) {
        if self.tables.is_empty() {
            return;
        }
        let radius = max_distance / CHUNKS as u32;
        for c in 0..CHUNKS {
            let table = &self.tables[c];
            for_each_key_within(chunk(hash, c), radius, &mut |key| {
                for &entry in &table[usize::from(key)] {
                    let other = hash_of(entry);
                    let distance = (hash ^ other).count_ones();
                    if distance > max_distance {
                        continue;
                    }
                    // Reported by the first chunk that is within the radius, and only there.
                    let earlier =
                        (0..c).any(|e| (chunk(hash, e) ^ chunk(other, e)).count_ones() <= radius);
                    if !earlier {
                        f(entry, distance);
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

    /// Entry `e` stands for `all[e] = (label, hash)`; reported as (label, distance).
    fn query(tables: &HashTables, all: &[(u32, u64)], q: u64, d: u32) -> Vec<(u32, u32)> {
        let mut got = Vec::new();
        tables.for_each_within(
            q,
            d,
            |e| all[e as usize].1,
            |e, distance| got.push((all[e as usize].0, distance)),
        );
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
                    query(&tables, &all, q, d),
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
        // Entry e is (label, hash); labels repeat, as a fingerprint's hashes share a slot.
        let mut all: Vec<(u32, u64)> = (0..4_000).map(|n| (n / 2, next(&mut state))).collect();
        for (e, &(_, h)) in all.iter().enumerate() {
            tables.insert(e as u32, h);
        }
        // Every third entry is removed, then reused with a new hash.
        let mut live = vec![true; all.len()];
        for e in (0..all.len()).step_by(3) {
            tables.remove(e as u32, all[e].1);
            live[e] = false;
        }
        let alive = |all: &[(u32, u64)], live: &[bool]| -> Vec<(u32, u64)> {
            all.iter()
                .zip(live)
                .filter(|(_, l)| **l)
                .map(|(a, _)| *a)
                .collect()
        };
        let probe = all[3].1;
        assert_eq!(
            query(&tables, &all, probe, 10),
            brute(&alive(&all, &live), probe, 10)
        );
        for e in (0..all.len()).step_by(6) {
            all[e].1 = next(&mut state);
            tables.insert(e as u32, all[e].1);
            live[e] = true;
        }
        let now = alive(&all, &live);
        for &(_, h) in all.iter().step_by(7) {
            assert_eq!(query(&tables, &all, h, 10), brute(&now, h, 10));
        }
    }
}
