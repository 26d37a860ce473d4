//! What a restart over a 100,000-file inbox costs the identity cache: storing the identities
//! after the first scan, loading them all at start, and (for comparison) one lookup per file.

use std::hint::black_box;
use std::path::PathBuf;

use catalog::{Catalog, FileIdentity, KnownFile};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const FILES: u64 = 100_000;

fn files() -> Vec<KnownFile> {
    (0..FILES)
        .map(|n| KnownFile {
            identity: identity(n),
            path: PathBuf::from(format!(
                "/home/user/inbox/batch-{}/image-{n:06}.png",
                n % 100
            )),
            asset_id: format!("{:064x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        })
        .collect()
}

fn identity(n: u64) -> FileIdentity {
    FileIdentity {
        dev: 2049,
        ino: 5_000_000 + n * 7,
        size: 100_000 + n,
        mtime_ns: 1_700_000_000_000_000_000 + (n as i64) * 1_000_003,
        ctime_ns: 1_700_000_000_000_000_000 + (n as i64) * 1_000_003,
    }
}

fn fresh() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cat = Catalog::open(&dir.path().join("catalog.sqlite3")).expect("open catalog");
    (dir, cat)
}

fn bench(c: &mut Criterion) {
    let files = files();
    let mut group = c.benchmark_group("identities_100k");
    group.sample_size(10);

    group.bench_function("remember_in_one_batch", |b| {
        b.iter_batched(
            fresh,
            |(dir, cat)| {
                cat.remember_identities(&files).expect("remember");
                (dir, cat)
            },
            BatchSize::PerIteration,
        )
    });

    let (_dir, cat) = fresh();
    cat.remember_identities(&files).expect("remember");
    group.bench_function("load_all", |b| {
        b.iter(|| black_box(cat.load_identities().expect("load")).len())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
