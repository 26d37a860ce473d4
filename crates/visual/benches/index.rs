//! Query latency of `NearDupIndex` with 1,000,000 random hashes, 1,000 of them with planted
//! neighbours (a few bits away, some turned a quarter).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use visual::NearDupIndex;

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
    for _ in 0..(next(state) % 8) {
        out ^= 1 << (next(state) % 64);
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut state = 1;
    let mut index = NearDupIndex::new();
    let mut queries = Vec::new();
    for id in 0..1_000_000u64 {
        let hash = next(&mut state) & !1;
        index.insert(id, hash);
        if id % 1000 == 0 {
            queries.push(hash);
        }
    }
    for (n, &q) in queries.iter().enumerate() {
        let planted = if n % 2 == 0 {
            visual::rotations(q)[1]
        } else {
            q
        };
        index.insert(2_000_000 + n as u64, near(planted, &mut state));
    }
    let mut group = c.benchmark_group("near_dup_index_1m");
    for distance in [4u32, 8, 10, 13] {
        group.bench_with_input(BenchmarkId::new("query", distance), &distance, |b, &d| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(index.query(queries[i], d).len())
            })
        });
    }
    group.bench_function("query_rotations/13", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(index.query_rotations(queries[i], 13).len())
        })
    });
    group.bench_function("insert_remove", |b| {
        let mut id = 10_000_000u64;
        b.iter(|| {
            id += 1;
            index.insert(id, next(&mut state));
            index.remove(&id)
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
