//! The cost of C2PA validation: `extract_path` on JPEGs of 1, 8 and 32 MiB, with and without
//! a signed manifest. Files without a manifest must cost the same as before (bounded reads of
//! the headers); a signed file is read and hashed whole. The padding is APP15 segments, which
//! the container reader skips by length, so the unsigned figure is the baseline walk alone.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use c2pa::{Builder, Context, SigningAlg, create_signer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const MIB: usize = 1024 * 1024;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// `plain.jpg` padded with APP15 segments to about `size` bytes.
fn padded_jpeg(size: usize) -> Vec<u8> {
    let plain = std::fs::read(fixture("media/plain.jpg")).expect("fixture");
    let mut out = plain[..2].to_vec();
    let chunk = 65_000usize;
    while out.len() + chunk < size {
        out.extend_from_slice(&[0xFF, 0xEF]);
        out.extend_from_slice(&u16::try_from(chunk + 2).unwrap_or(u16::MAX).to_be_bytes());
        out.extend((0..chunk).map(|i| (i % 251) as u8));
    }
    out.extend_from_slice(&plain[2..]);
    out
}

fn sign(jpeg: &[u8]) -> Vec<u8> {
    let chain = std::fs::read(fixture("c2pa/signer_chain.pem")).expect("chain");
    let key = std::fs::read(fixture("c2pa/signer.key")).expect("key");
    let signer = create_signer::from_keys(&chain, &key, SigningAlg::Es256, None).expect("signer");
    let definition = serde_json::json!({
        "claim_generator_info": [{"name": "alice-bench", "version": "1.0"}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        }]}}]
    });
    let mut builder = Builder::from_context(Context::new())
        .with_definition(definition)
        .expect("definition");
    let mut out = Cursor::new(Vec::new());
    builder
        .sign(
            signer.as_ref(),
            "image/jpeg",
            &mut Cursor::new(jpeg.to_vec()),
            &mut out,
        )
        .expect("sign");
    out.into_inner()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut group = c.benchmark_group("c2pa");
    group.sample_size(10);
    for mib in [1usize, 8, 32] {
        let unsigned = padded_jpeg(mib * MIB);
        let signed = sign(&unsigned);
        let u = dir.path().join(format!("unsigned_{mib}.jpg"));
        let s = dir.path().join(format!("signed_{mib}.jpg"));
        std::fs::write(&u, &unsigned).expect("write");
        std::fs::write(&s, &signed).expect("write");
        // Measure the path a real signed file takes, not an early failure.
        let checked = metadata::extract_path(&s).expect("extract").info.provenance;
        let c2pa = checked.and_then(|p| p.c2pa).expect("manifest found");
        assert_eq!(c2pa.hard_binding, events::media::Check::Valid, "{c2pa:?}");
        group.throughput(Throughput::Bytes(signed.len() as u64));
        for (name, path) in [("unsigned", &u), ("signed", &s)] {
            group.bench_with_input(BenchmarkId::new(name, format!("{mib}MiB")), path, |b, p| {
                b.iter(|| std::hint::black_box(metadata::extract_path(p)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
