//! Thumbnail generation rate through `visual::process` (decode, 1024 and 256 px thumbnails,
//! JPEG encode, atomic write, fingerprint), and the resizer against `image::imageops`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use image::{Rgb, RgbImage};
use std::hint::black_box;
use visual::{Limits, ThumbCache};

/// A photo-like picture: smooth gradients, large shapes and sensor-like grain, so the JPEG
/// is about as large as a camera's.
fn photo(w: u32, h: u32) -> RgbImage {
    let mut seed = 0x1234_5678u32;
    RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let grain = (seed % 24) as f32 - 12.0;
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let wave = ((u * 11.0).sin() * (v * 7.0).cos() * 60.0)
            + if (u - 0.6).hypot(v - 0.4) < 0.2 {
                70.0
            } else {
                0.0
            };
        let c = |base: f32| (base + wave + grain).clamp(0.0, 255.0) as u8;
        Rgb([c(90.0 + 100.0 * u), c(120.0 - 40.0 * v), c(60.0 + 80.0 * v)])
    })
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let big = photo(4000, 3000);
    let jpeg = dir.path().join("camera.jpg");
    std::fs::write(&jpeg, visual::encode_jpeg(&big, 90).unwrap()).unwrap();
    let png = dir.path().join("render.png");
    photo(1024, 1024).save(&png).unwrap();
    let cache = ThumbCache::new(dir.path().join("cache"), 1 << 30);
    let limits = Limits::default();
    for (name, path) in [("4000x3000 JPEG", &jpeg), ("1024 PNG", &png)] {
        let out =
            visual::process(path, &limits, &cache, &format!("{:064x}", file_size(path))).unwrap();
        let bytes: Vec<u64> = out.thumbnails.iter().map(|t| file_size(&t.path)).collect();
        println!(
            "{name}: source {} bytes, thumbnails {:?} bytes (sizes {:?})",
            file_size(path),
            bytes,
            cache.sizes()
        );
    }
    let mut group = c.benchmark_group("thumbnails");
    for (name, path) in [
        ("process_4000x3000_jpeg", &jpeg),
        ("process_1024_png", &png),
    ] {
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                // A new id each time, so the thumbnails are really written.
                n += 1;
                black_box(visual::process(path, &limits, &cache, &format!("{n:064x}")).unwrap())
            })
        });
        std::fs::remove_dir_all(cache.dir()).unwrap();
    }
    group.bench_function("decode_4000x3000_jpeg", |b| {
        b.iter(|| black_box(visual::decode_path(&jpeg, 100_000_000).unwrap()))
    });
    group.bench_function("resize_4000x3000_to_1024/fast_image_resize", |b| {
        b.iter(|| black_box(visual::resize::resize_rgb(&big, 1024, 768)))
    });
    group.bench_function("resize_4000x3000_to_1024/image_imageops", |b| {
        b.iter(|| {
            black_box(image::imageops::resize(
                &big,
                1024,
                768,
                image::imageops::FilterType::CatmullRom,
            ))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
