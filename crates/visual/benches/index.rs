//! `NearIndex` with 1,000,000 fingerprints (random hashes and grids), 1,000 of them with a
//! planted near-duplicate (hashes a few bits away, half turned a quarter, same grid): one
//! query (candidates by hash, then the aligned grid confirm), and an insert plus remove.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use visual::{Fingerprint, GRID, HASHES, Matcher, NearIndex};

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn near(hash: u64, state: &mut u64) -> u64 {
    let mut out = hash;
    for _ in 0..(next(state) % 4) {
        out ^= 1 << (1 + next(state) % 63);
    }
    out
}

fn random(state: &mut u64) -> Fingerprint {
    let mut grid = [0u8; GRID * GRID];
    for cell in grid.iter_mut() {
        *cell = next(state) as u8;
    }
    Fingerprint {
        hashes: std::array::from_fn(|_| next(state) & !1),
        grid,
    }
}

fn bench(c: &mut Criterion) {
    let mut state = 1;
    let mut index = NearIndex::new(Matcher::default());
    let mut queries = Vec::new();
    for id in 0..1_000_000i64 {
        let fp = random(&mut state);
        index.insert(id, &fp);
        if id % 1000 == 0 {
            queries.push(fp);
        }
    }
    for (n, q) in queries.iter().enumerate() {
        let mut planted = q.clone();
        for hash in planted.hashes.iter_mut() {
            let turned = if n % 2 == 0 {
                visual::rotations(*hash)[1]
            } else {
                *hash
            };
            *hash = near(turned, &mut state);
        }
        index.insert(2_000_000 + n as i64, &planted);
    }
    let found: usize = queries.iter().map(|q| index.query(q).len()).sum();
    println!(
        "{} assets, {HASHES} hashes each; {} queries found {found} matches",
        index.len(),
        queries.len()
    );
    let mut group = c.benchmark_group("near_index_1m");
    group.bench_function("query", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(index.query(&queries[i]).len())
        })
    });
    group.bench_function("insert_remove", |b| {
        let mut id = 10_000_000i64;
        let fp = random(&mut state);
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
