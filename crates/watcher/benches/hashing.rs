//! `hash_file` throughput by file size, against a single-threaded streaming hash of the same
//! file, to show what `update_rayon` buys on this machine (and that small files lose nothing).

use std::io::Write;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn single_threaded(path: &Path) -> blake3::Hash {
    let file = std::fs::File::open(path).unwrap();
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).unwrap();
    hasher.finalize()
}

fn hashing(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("hash_file");
    group.sample_size(10);
    for size in [4usize << 10, 512 << 10, 8 << 20, 64 << 20] {
        let path = dir.path().join(format!("f{size}"));
        let mut f = std::fs::File::create(&path).unwrap();
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        drop(f);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("watcher", size), &path, |b, p| {
            b.iter(|| watcher::hash_file(p).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("single_thread", size), &path, |b, p| {
            b.iter(|| single_threaded(p))
        });
    }
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
