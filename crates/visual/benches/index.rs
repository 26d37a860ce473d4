//! `NearIndex` with 1,000,000 fingerprints (random hashes and grids), 1,000 of them with a
//! planted near-duplicate (hashes a few bits away, same grids): one
//! query with `Matcher::default()` (candidates by hash, then the fine confirm against the
//! candidate's fingerprint), and an
//! insert plus remove. Also prints how much the process grew while the index was built.
//!
//! The index keeps only hashes; the confirm's lookup here regenerates a fingerprint from its
//! id (the same deterministic generator that made it), standing in for the catalog read a
//! daemon would do, so no fingerprints are held in memory outside the index either.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use visual::{FINE_CELLS, Fingerprint, GRID, HASHES, Matcher, NearIndex};

const ASSETS: i64 = 1_000_000;
/// Ids of the planted near-duplicates start here.
const PLANTED: i64 = 2_000_000;
/// One asset in this many has a planted near-duplicate.
const EVERY: i64 = 1000;

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `hash` with 0–3 bits flipped.
fn near(hash: u64, state: &mut u64) -> u64 {
    let mut out = hash;
    for _ in 0..(next(state) % 4) {
        out ^= 1 << (1 + next(state) % 63);
    }
    out
}

/// The random fingerprint of asset `id` (always the same for one id).
fn random(id: i64) -> Fingerprint {
    let mut state = (id as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut grid = [0u8; GRID * GRID];
    for cell in grid.iter_mut() {
        *cell = next(&mut state) as u8;
    }
    let mut fine = Box::new([0u8; FINE_CELLS]);
    for cell in fine.iter_mut() {
        *cell = next(&mut state) as u8;
    }
    Fingerprint {
        hashes: std::array::from_fn(|_| next(&mut state) & !1),
        grid,
        fine: Some(fine),
    }
}

/// The near-duplicate planted for the `n`th query: the same grids, hashes a few bits away.
/// (Not turned: the fine confirm turns the grid by the quarter the hashes agree on, so a
/// turned copy needs turned pixels, which random grids do not have.)
fn planted(n: i64) -> Fingerprint {
    let mut state = n as u64 ^ 0xABCD;
    let mut out = random(n * EVERY);
    for hash in out.hashes.iter_mut() {
        *hash = near(*hash, &mut state);
    }
    out
}

/// What a catalog read would give.
fn lookup(id: i64) -> Option<Fingerprint> {
    match id {
        0..ASSETS => Some(random(id)),
        PLANTED.. => Some(planted(id - PLANTED)),
        _ => None,
    }
}

/// Resident set size of this process, bytes (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn bench(c: &mut Criterion) {
    let before = rss();
    let mut index = NearIndex::new(Matcher::default());
    for id in 0..ASSETS {
        index.insert(id, &random(id));
    }
    let queries: Vec<Fingerprint> = (0..ASSETS / EVERY).map(|n| random(n * EVERY)).collect();
    for n in 0..ASSETS / EVERY {
        index.insert(PLANTED + n, &planted(n));
    }
    let grown = rss().saturating_sub(before);
    let found: usize = queries.iter().map(|q| index.query(q, lookup).len()).sum();
    println!(
        "{} assets, {HASHES} hashes each; {} queries found {found} matches; the process grew by {:.1} MB while indexing ({:.0} bytes per asset)",
        index.len(),
        queries.len(),
        grown as f64 / 1e6,
        grown as f64 / index.len() as f64,
    );
    let mut group = c.benchmark_group("near_index_1m");
    group.bench_function("query", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(index.query(&queries[i], lookup).len())
        })
    });
    group.bench_function("insert_remove", |b| {
        let mut id = 10_000_000i64;
        let fp = random(-1);
        b.iter(|| {
            id += 1;
            index.insert(id, &fp);
            index.remove(id)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
