//! Extraction throughput over the committed fixture corpus (every format, broken files
//! included), and the cost of the worst hostile fixture (a zTXt zip bomb, bounded by the
//! per-file text budget) on its own. `scripts/bench_metadata.sh` compares the same work
//! against exiftool on a larger corpus.

use std::fs;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BOMB: &str = "ztxt_bomb.png";

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn bench(c: &mut Criterion) {
    let (bomb, files): (Vec<PathBuf>, Vec<PathBuf>) = corpus()
        .into_iter()
        .partition(|p| p.file_name().is_some_and(|n| n == BOMB));
    assert!(
        !files.is_empty() && !bomb.is_empty(),
        "fixtures missing: run scripts/fixtures/make_media_fixtures.py"
    );
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("fixture_corpus", |b| {
        b.iter(|| {
            for f in &files {
                let _ = std::hint::black_box(metadata::extract_path(f));
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("ztxt_bomb", |b| {
        b.iter(|| std::hint::black_box(metadata::extract_path(&bomb[0])))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
