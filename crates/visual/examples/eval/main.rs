//! Precision and recall of near-duplicate detection on generated images.
//!
//!     cargo run -p visual --example eval --release -- [SCENES] [OUT_DIR]
//!
//! For each scene (five generators in turn), writes the original (JPEG with an EXIF segment)
//! and its copies: EXIF stripped, resized to 50%, re-encoded at JPEG quality 60, resized to
//! 75% as lossless WebP, cropped by 3%, 5% and 8% per side, cropped unevenly (8% off the left
//! and top, 2% off the right), turned 90°, 180° and 270°, and cropped 5% + turned 90° +
//! resized to 60% + JPEG quality 70. These thirteen are one picture: every pair among them is
//! a positive. It also writes hard negatives: burst shots (the small subject moved 70 px or
//! 35 px, the camera shifted 5% x 3% or 3% x 2%, exposure +25%) and the same generator with
//! another seed. Every other pair of files in the whole set is a negative. Each file goes
//! through `visual::process` (the real decode, thumbnail and fingerprint path); the
//! thresholds are then swept, and the default `Matcher` is run through a `NearIndex`.

mod scenes;

use std::path::{Path, PathBuf};

use image::RgbImage;
use scenes::{KINDS, Rng, VIEW, view, world};
use visual::{Fingerprint, GridDistance, Limits, NearIndex, ThumbCache};

/// One file of the set.
struct Sample {
    /// Files with the same group are the same picture.
    group: usize,
    variant: &'static str,
    fingerprint: Fingerprint,
    /// Its key in the thumbnail cache.
    key: String,
}

/// Distances of one pair.
#[derive(Clone, Copy)]
struct Pair {
    positive: bool,
    hash: u32,
    /// The 32x32 grids at their best alignment (the decision without fine grids).
    grid: GridDistance,
    /// The fine grids at their best centred window.
    fine: GridDistance,
    /// The variant that makes the pair interesting (the non-original side).
    variant: &'static str,
    /// Whether either side is a [`STRESS`] variant: reported, but not in the headline.
    stress: bool,
    /// The generator of the first side's scene (an index into `KINDS`).
    kind: usize,
}

/// Variants harder than the issue asks for, kept out of the headline figures and reported
/// row by row: an uneven crop (the window hashes are centred), a subject moved only 35 px,
/// a camera shifted only 3% x 2%.
const STRESS: [&str; 3] = ["crop-uneven", "burst-moved-35", "burst-shifted-3"];

/// How a file is written.
#[derive(Clone, Copy)]
enum Encoding {
    Jpeg { quality: u8, exif: bool },
    WebpLossless,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scenes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let keep = args.next().map(PathBuf::from);
    let scratch = tempfile::tempdir()?;
    let out = keep.unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&out)?;
    let cache = ThumbCache::new(out.join("cache"), 1 << 30);
    let limits = Limits::default();
    let started = std::time::Instant::now();
    let mut samples = Vec::new();
    for scene in 0..scenes {
        for (name, group, image, encoding) in variants(scene) {
            let ext = match encoding {
                Encoding::Jpeg { .. } => "jpg",
                Encoding::WebpLossless => "webp",
            };
            let path = out.join(format!("{scene:04}-{name}.{ext}"));
            write(&path, &image, encoding)?;
            let key = format!("{:064x}", samples.len() + 1);
            let fingerprint = visual::process(&path, &limits, &cache, &key)?
                .fingerprint
                .ok_or("no fingerprint")?;
            samples.push(Sample {
                group,
                variant: name,
                fingerprint,
                key,
            });
        }
    }
    println!(
        "{} files from {scenes} scenes in {:.1?}",
        samples.len(),
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let mut far_negatives = 0;
    let pairs = pairs(&samples, &mut far_negatives);
    println!(
        "{far_negatives} more negative pairs over {MAX_SWEEP} bits apart (never matched); pairs scored in {:.1?}",
        started.elapsed()
    );
    report(&pairs);
    through_index(&samples, &cache);
    Ok(())
}

/// The default `Matcher` through a `NearIndex`: every file queried against all the others.
/// Candidates come back as a daemon would read them: the stored fingerprint bytes, with the
/// fine grid computed again from the cached thumbnail.
fn through_index(samples: &[Sample], cache: &ThumbCache) {
    let started = std::time::Instant::now();
    let mut index = NearIndex::new(visual::Matcher::default());
    for (id, s) in samples.iter().enumerate() {
        index.insert(id as i64, &s.fingerprint);
    }
    let (mut tp, mut fp, mut positives) = (0usize, 0usize, 0usize);
    for (id, s) in samples.iter().enumerate() {
        positives += samples.iter().filter(|o| o.group == s.group).count() - 1;
        let lookup = |id: i64| {
            let stored = &samples[id as usize];
            let mut fingerprint = Fingerprint::from_bytes(&stored.fingerprint.to_bytes()).ok()?;
            fingerprint.fine = cache.fine_grid(&stored.key);
            Some(fingerprint)
        };
        for (other, _) in index.query(&s.fingerprint, lookup) {
            if other == id as i64 {
                continue;
            }
            if samples[other as usize].group == s.group {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    println!(
        "NearIndex with Matcher::default(): {} queries in {:.1?}; precision {:.2}%, recall {:.2}% (ordered pairs: {tp} found of {positives}, {fp} wrong)",
        samples.len(),
        started.elapsed(),
        100.0 * tp as f64 / (tp + fp).max(1) as f64,
        100.0 * tp as f64 / positives.max(1) as f64,
    );
}

/// A crop of `image` by fractions of its sides: (left, top, right, bottom).
fn crop(image: &RgbImage, (l, t, r, b): (f32, f32, f32, f32)) -> RgbImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (x0, y0) = ((w * l).round() as u32, (h * t).round() as u32);
    let (x1, y1) = (
        (w * (1.0 - r)).round() as u32,
        (h * (1.0 - b)).round() as u32,
    );
    image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
}

fn scaled(image: &RgbImage, factor: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    image::imageops::thumbnail(
        image,
        (w as f32 * factor) as u32,
        (h as f32 * factor) as u32,
    )
}

/// The files of one scene: (name, group, pixels, encoding).
fn variants(scene: usize) -> Vec<(&'static str, usize, RgbImage, Encoding)> {
    let kind = KINDS[scene % KINDS.len()];
    let seed = 1_000 + scene as u64;
    let subject = scenes::subject(kind, seed);
    let world_img = world(kind, seed, subject);
    let base = view(&world_img, 0, 0);
    // The original as a camera would have saved it, decoded again for the derived copies.
    let original = reencode(&base, 92);
    let (w, h) = VIEW;
    let mut rng = Rng::new(seed ^ 0xB0B);
    let angle = rng.range(0.0, std::f32::consts::TAU);
    let moved = |by: f32| {
        let mut s = subject;
        s.x += by * angle.cos();
        s.y += by * angle.sin();
        view(&world(kind, seed, s), 0, 0)
    };
    let shifted =
        |fx: u32, fy: u32| view(&world_img, (w * fx / 100) as i32, -((h * fy / 100) as i32));
    let other_seed = seed + 100_000;
    let group = scene * 10;
    let jpeg = |quality| Encoding::Jpeg {
        quality,
        exif: false,
    };
    let even = |c| (c, c, c, c);
    let combo = scaled(
        &image::imageops::rotate90(&crop(&original, even(0.05))),
        0.6,
    );
    vec![
        (
            "original",
            group,
            base.clone(),
            Encoding::Jpeg {
                quality: 92,
                exif: true,
            },
        ),
        ("exif-stripped", group, base.clone(), jpeg(92)),
        ("resized-50", group, scaled(&original, 0.5), jpeg(90)),
        ("jpeg-q60", group, original.clone(), jpeg(60)),
        (
            "webp-75",
            group,
            scaled(&original, 0.75),
            Encoding::WebpLossless,
        ),
        ("crop-3", group, crop(&original, even(0.03)), jpeg(90)),
        ("crop-5", group, crop(&original, even(0.05)), jpeg(90)),
        ("crop-8", group, crop(&original, even(0.08)), jpeg(90)),
        (
            "crop-uneven",
            group,
            crop(&original, (0.08, 0.08, 0.02, 0.0)),
            jpeg(90),
        ),
        (
            "rotated-90",
            group,
            image::imageops::rotate90(&original),
            jpeg(90),
        ),
        (
            "rotated-180",
            group,
            image::imageops::rotate180(&original),
            jpeg(90),
        ),
        (
            "rotated-270",
            group,
            image::imageops::rotate270(&original),
            jpeg(90),
        ),
        ("crop-turn-resize", group, combo, jpeg(70)),
        ("burst-moved", group + 1, moved(70.0), jpeg(92)),
        ("burst-moved-35", group + 2, moved(35.0), jpeg(92)),
        ("burst-shifted", group + 3, shifted(5, 3), jpeg(92)),
        ("burst-shifted-3", group + 4, shifted(3, 2), jpeg(92)),
        ("burst-exposure", group + 5, brighter(&base, 1.25), jpeg(92)),
        (
            "other-seed",
            group + 6,
            view(
                &world(kind, other_seed, scenes::subject(kind, other_seed)),
                0,
                0,
            ),
            jpeg(92),
        ),
    ]
}

fn brighter(image: &RgbImage, gain: f32) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        p.0 = p.0.map(|c| (f32::from(c) * gain).round().min(255.0) as u8);
    }
    out
}

/// `image` through a JPEG at `quality` and back.
fn reencode(image: &RgbImage, quality: u8) -> RgbImage {
    let bytes = visual::encode_jpeg(image, quality).expect("encode");
    image::load_from_memory(&bytes).expect("decode").into_rgb8()
}

/// Writes the file: lossless WebP, or a JPEG with a small EXIF segment (camera make) after
/// SOI when asked.
fn write(
    path: &Path,
    image: &RgbImage,
    encoding: Encoding,
) -> Result<(), Box<dyn std::error::Error>> {
    let (quality, with_exif) = match encoding {
        Encoding::WebpLossless => {
            return Ok(image.save_with_format(path, image::ImageFormat::WebP)?);
        }
        Encoding::Jpeg { quality, exif } => (quality, exif),
    };
    let jpeg = visual::encode_jpeg(image, quality)?;
    if !with_exif {
        return Ok(std::fs::write(path, jpeg)?);
    }
    // TIFF, little-endian, one IFD with Make = "Eval".
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
    tiff.extend_from_slice(&[0x0F, 0x01, 2, 0, 5, 0, 0, 0]);
    tiff.extend_from_slice(b"Eval\0\0\0\0\0");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    Ok(std::fs::write(path, out)?)
}

/// Every pair of files: positives all, negatives only when the hash could match at all (the
/// others are only counted).
fn pairs(samples: &[Sample], far_negatives: &mut usize) -> Vec<Pair> {
    let mut out = Vec::new();
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            let positive = a.group == b.group;
            let variant = label(a, b);
            let (hash, _) = a.fingerprint.hash_distance(&b.fingerprint);
            if !positive && hash > MAX_SWEEP {
                // No threshold swept matches it: a true negative whatever is chosen.
                *far_negatives += 1;
                continue;
            }
            let grid = a.fingerprint.grid_distance(&b.fingerprint);
            let fine = a
                .fingerprint
                .fine_distance(&b.fingerprint)
                .expect("process gives fine grids");
            out.push(Pair {
                kind: a.group / 10 % KINDS.len(),
                fine,
                stress: STRESS.contains(&a.variant) || STRESS.contains(&b.variant),
                positive,
                hash,
                grid,
                variant,
            });
        }
    }
    out
}

/// What a pair is about: the hard negative in it, or the copy compared with the original.
fn label(a: &Sample, b: &Sample) -> &'static str {
    let copy = |s: &Sample| s.group.is_multiple_of(10);
    match (a.group / 10 == b.group / 10, copy(a), copy(b)) {
        (false, _, _) => "unrelated",
        (true, true, true) if a.variant == "original" => b.variant,
        (true, true, true) => "copy-vs-copy",
        (true, true, false) => b.variant,
        (true, false, true) => a.variant,
        (true, false, false) => "burst-vs-burst",
    }
}

const MAX_SWEEP: u32 = 12;
const OFFSET_SWEEP: [f32; 9] = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, f32::MAX];
const RELATIVE_SWEEP: [f32; 10] = [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0, f32::MAX];
const CELL_SWEEP: [f32; 14] = [
    5.0,
    10.0,
    15.0,
    20.0,
    25.0,
    30.0,
    35.0,
    40.0,
    45.0,
    50.0,
    55.0,
    60.0,
    80.0,
    f32::MAX,
];

/// Thresholds: hash, fine grid offset, relative and cell.
type Thresholds = (u32, f32, f32, f32);

fn said(p: &Pair, (hash, offset, relative, cell): Thresholds) -> bool {
    p.hash <= hash && p.fine.offset <= offset && p.fine.relative <= relative && p.fine.max <= cell
}

/// (precision, recall) at the thresholds.
fn score(pairs: &[Pair], t: Thresholds) -> (f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for p in pairs {
        match (said(p, t), p.positive) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    (precision, tp as f64 / (tp + fn_).max(1) as f64)
}

/// The thresholds with the best recall at precision >= 99% (ties: the tightest).
fn best(
    pairs: &[Pair],
    hashes: impl Iterator<Item = u32> + Clone,
    offsets: &[f32],
    relatives: &[f32],
    cells: &[f32],
) -> Option<(Thresholds, f64, f64)> {
    let mut best: Option<(Thresholds, f64, f64)> = None;
    for h in hashes {
        for &m in offsets {
            for &q in relatives {
                for &c in cells {
                    let (p, r) = score(pairs, (h, m, q, c));
                    if p >= 0.99 && best.is_none_or(|b| r > b.2) {
                        best = Some(((h, m, q, c), p, r));
                    }
                }
            }
        }
    }
    best
}

fn report(all: &[Pair]) {
    let headline: Vec<Pair> = all.iter().filter(|p| !p.stress).copied().collect();
    let pairs = &headline[..];
    println!("headline set (without {STRESS:?}):");
    let positives = pairs.iter().filter(|p| p.positive).count();
    distributions(all);
    println!("{} pairs, {positives} positive", pairs.len());
    let none = [f32::MAX];
    match best(pairs, 0..=MAX_SWEEP, &none, &none, &none) {
        Some(((h, _, _, _), p, r)) => println!(
            "hash alone: best at hash <= {h}: precision {:.2}%, recall {:.2}%",
            p * 100.0,
            r * 100.0
        ),
        None => {
            let (p, r) = score(pairs, (10, f32::MAX, f32::MAX, f32::MAX));
            println!(
                "hash alone: no threshold reaches 99% precision (hash <= 10: precision {:.2}%, recall {:.2}%)",
                p * 100.0,
                r * 100.0
            );
        }
    }
    let Some((t, p, r)) = best(
        pairs,
        0..=MAX_SWEEP,
        &OFFSET_SWEEP,
        &RELATIVE_SWEEP,
        &CELL_SWEEP,
    ) else {
        println!("no thresholds reach 99% precision");
        return;
    };
    println!(
        "chosen: hash <= {}, fine offset <= {}, relative <= {}, cell <= {}: precision {:.2}%, recall {:.2}%",
        t.0,
        t.1,
        t.2,
        t.3,
        p * 100.0,
        r * 100.0
    );
    errors_by_variant(all, t);
    let matcher = visual::Matcher::default();
    // Without fine grids the 32x32 grids decide, at the coarse thresholds.
    let coarse: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair {
            fine: visual::GridDistance {
                offset: p.grid.mean,
                ..p.grid
            },
            ..*p
        })
        .collect();
    let (p, r) = score(
        &coarse,
        (
            matcher.coarse_max_hash_distance,
            matcher.max_grid_mean,
            f32::MAX,
            matcher.max_grid_cell,
        ),
    );
    println!(
        "Matcher::default() without fine grids (32x32 grids): precision {:.2}%, recall {:.2}%",
        p * 100.0,
        r * 100.0
    );
    let current = (
        matcher.max_hash_distance,
        matcher.max_fine_offset,
        matcher.max_fine_relative,
        matcher.max_fine_cell,
    );
    let (p, r) = score(pairs, current);
    println!(
        "Matcher::default() {current:?}: precision {:.2}%, recall {:.2}%",
        p * 100.0,
        r * 100.0
    );
    errors_by_variant(all, current);
    let (p, r) = score(all, current);
    println!(
        "with the stress variants too: precision {:.2}%, recall {:.2}%",
        p * 100.0,
        r * 100.0
    );
}

/// Percentiles of both distances per variant, to see where the classes sit.
fn distributions(pairs: &[Pair]) {
    let mut names: Vec<&str> = pairs.iter().map(|p| p.variant).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        for positive in [true, false] {
            let mut hashes: Vec<u32> = pairs
                .iter()
                .filter(|p| p.variant == name && p.positive == positive)
                .map(|p| p.hash)
                .collect();
            let of = || {
                pairs.iter().filter(|p| {
                    p.variant == name && p.positive == positive && p.fine.mean < f32::MAX
                })
            };
            let mut means: Vec<f32> = of().map(|p| p.fine.offset).collect();
            let mut cells: Vec<f32> = of().map(|p| p.fine.max).collect();
            let mut relatives: Vec<f32> = of().map(|p| p.fine.relative).collect();
            relatives.sort_by(f32::total_cmp);
            if hashes.is_empty() {
                continue;
            }
            hashes.sort_unstable();
            means.sort_by(f32::total_cmp);
            cells.sort_by(f32::total_cmp);
            let q = |v: &[u32], f: f64| v[((v.len() - 1) as f64 * f) as usize];
            let qg = |v: &[f32]| {
                let at = |f: f64| {
                    if v.is_empty() {
                        f32::NAN
                    } else {
                        v[((v.len() - 1) as f64 * f) as usize]
                    }
                };
                format!(
                    "{:.2}/{:.2}/{:.2}/{:.2}/{:.2}",
                    at(0.0),
                    at(0.05),
                    at(0.5),
                    at(0.95),
                    at(1.0)
                )
            };
            println!(
                "{name:>15} {}: n={:7} hash min/p5/p50/p95/max {:2}/{:2}/{:2}/{:2}/{:2}  offset {}  relative {}  cell {}",
                if positive { "pos" } else { "neg" },
                hashes.len(),
                q(&hashes, 0.0),
                q(&hashes, 0.05),
                q(&hashes, 0.5),
                q(&hashes, 0.95),
                q(&hashes, 1.0),
                qg(&means),
                qg(&relatives),
                qg(&cells),
            );
        }
    }
}

fn errors_by_variant(pairs: &[Pair], t: Thresholds) {
    let mut names: Vec<&str> = pairs.iter().map(|p| p.variant).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let of: Vec<&Pair> = pairs.iter().filter(|p| p.variant == name).collect();
        let said = |p: &&Pair| said(p, t);
        let pos = of.iter().filter(|p| p.positive).count();
        let found = of.iter().filter(|p| p.positive && said(p)).count();
        let neg = of.len() - pos;
        let wrong = of.iter().filter(|p| !p.positive && said(p)).count();
        println!("{name:>15}: positives found {found}/{pos}, negatives matched {wrong}/{neg}");
    }
    let headline = pairs.iter().filter(|p| !p.stress);
    let mut missed = [0usize; KINDS.len()];
    let mut wrong = [0usize; KINDS.len()];
    for p in headline {
        match (p.positive, said(p, t)) {
            (true, false) => missed[p.kind] += 1,
            (false, true) => wrong[p.kind] += 1,
            _ => {}
        }
    }
    println!(
        "headline errors by generator {KINDS:?}: positives missed {missed:?}, negatives matched {wrong:?}"
    );
}
