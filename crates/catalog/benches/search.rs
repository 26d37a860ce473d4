//! Search latency over a catalog of 100,000 organized assets.
//!
//! The corpus is generated deterministically (fixed seed) and inserted through the catalog
//! API the way the organizer does it: `upsert_discovered`, `begin_op`, `complete_placement`
//! with the metadata. Prompts are 6–20 words drawn from a 120-word vocabulary with a Zipf-like
//! skew (a few words are in a large share of prompts, most are rare), as real prompt
//! collections are. Sources are skewed too (Midjourney most common, DALL·E rare); a tenth are
//! camera photos without a prompt.
//!
//! Two measurements:
//! - a percentile pass: 2,000 two-word queries with a source filter, the words and source
//!   drawn from the same skewed distributions, timed one by one; p50/p90/p99/max printed;
//! - criterion benches for fixed queries: a typical two-word query with a source filter,
//!   a worst case (the two most common words, no filter), a filter-only listing.
//!
//! The catalog lives in /dev/shm when there is one, because building it is one fsync-ed
//! transaction pair per asset (minutes on a disk, seconds in memory); searching reads pages
//! from the page cache either way.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catalog::{Catalog, NewOp, OpKind, Placement, SearchQuery, Transfer};
use criterion::{Criterion, criterion_group, criterion_main};
use events::media::{AiInfo, AiSignal, AiSource, CaptureTime, MediaInfo, MediaType};

const ASSETS: u64 = 100_000;
const SEED: u64 = 0x5eed_a11c_e000_0001;
const PERCENTILE_QUERIES: usize = 2_000;

const WORDS: &[&str] = &[
    "portrait",
    "neon",
    "city",
    "night",
    "cinematic",
    "lighting",
    "detailed",
    "woman",
    "man",
    "forest",
    "mountain",
    "sunset",
    "rain",
    "street",
    "cyberpunk",
    "fantasy",
    "castle",
    "dragon",
    "ocean",
    "wave",
    "sky",
    "cloud",
    "snow",
    "winter",
    "summer",
    "autumn",
    "spring",
    "flower",
    "garden",
    "river",
    "lake",
    "bridge",
    "tower",
    "lighthouse",
    "harbour",
    "boat",
    "ship",
    "train",
    "tram",
    "car",
    "motorcycle",
    "robot",
    "android",
    "astronaut",
    "space",
    "planet",
    "galaxy",
    "nebula",
    "star",
    "moon",
    "sun",
    "desert",
    "canyon",
    "jungle",
    "temple",
    "ruins",
    "statue",
    "warrior",
    "knight",
    "wizard",
    "witch",
    "elf",
    "dwarf",
    "cat",
    "dog",
    "fox",
    "wolf",
    "owl",
    "eagle",
    "horse",
    "deer",
    "bear",
    "tiger",
    "koi",
    "pond",
    "maple",
    "birch",
    "oak",
    "fog",
    "mist",
    "storm",
    "lightning",
    "fire",
    "smoke",
    "glass",
    "metal",
    "gold",
    "silver",
    "red",
    "blue",
    "green",
    "purple",
    "orange",
    "black",
    "white",
    "pastel",
    "watercolor",
    "oil",
    "painting",
    "sketch",
    "pencil",
    "ink",
    "photo",
    "analog",
    "film",
    "grain",
    "bokeh",
    "macro",
    "wide",
    "angle",
    "aerial",
    "view",
    "close",
    "up",
    "soft",
    "dramatic",
    "moody",
    "vibrant",
    "minimal",
    "surreal",
];

/// (label, weight): how often each source appears.
const SOURCES: &[(&str, u64)] = &[
    ("midjourney", 35),
    ("stable-diffusion", 20),
    ("flux", 15),
    ("comfyui", 10),
    ("dalle", 5),
    ("firefly", 5),
    ("camera", 10),
];

const PROJECTS: &[&str] = &[
    "default",
    "cyberpunk",
    "portraits",
    "landscapes",
    "client-acme",
    "zine",
    "tests",
];
const MODELS: &[&str] = &[
    "v6.1",
    "sd_xl_base_1.0",
    "juggernautXL_v9",
    "flux1-dev",
    "dreamshaper_8",
    "realvisxl_v4",
];

/// splitmix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A word with a Zipf-like skew: the word at index k has weight about 1/(k+5), so the
    /// most common word is in about half of the prompts and a mid-list word in about a tenth.
    fn word(&mut self) -> &'static str {
        const OFFSET: f64 = 5.0;
        // Inverse-transform sampling of the continuous law 1/(x+OFFSET) over [0, n).
        let n = WORDS.len() as f64;
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let k = (OFFSET * ((n + OFFSET) / OFFSET).powf(u) - OFFSET) as usize;
        WORDS[k.min(WORDS.len() - 1)]
    }

    fn source(&mut self) -> &'static str {
        let total: u64 = SOURCES.iter().map(|(_, w)| w).sum();
        let mut pick = self.below(total);
        for (label, weight) in SOURCES {
            if pick < *weight {
                return label;
            }
            pick -= weight;
        }
        SOURCES[0].0
    }
}

fn prompt(rng: &mut Rng) -> String {
    let len = 6 + rng.below(15);
    (0..len).map(|_| rng.word()).collect::<Vec<_>>().join(" ")
}

fn media(rng: &mut Rng, n: u64, source: &str) -> MediaInfo {
    let mut m = MediaInfo::empty(MediaType::Image);
    m.format = Some("png".into());
    m.width = Some(1024);
    m.height = Some(1024);
    let day = 1 + n % 28;
    let month = 1 + (n / 28) % 12;
    let taken = format!("2024-{month:02}-{day:02}T{:02}:{:02}:00", n % 24, n % 60);
    m.taken_at = Some(
        taken
            .parse::<CaptureTime>()
            .expect("generated capture time"),
    );
    if source != "camera" {
        let label = source.parse::<AiSource>().expect("generated AI label");
        let mut ai = AiInfo::new(label, AiSignal::Metadata, "png:tEXt parameters");
        ai.prompt = Some(prompt(rng));
        if rng.below(3) == 0 {
            ai.negative_prompt = Some(format!("{} {}, blurry", rng.word(), rng.word()));
        }
        ai.model = Some(MODELS[rng.below(MODELS.len() as u64) as usize].into());
        ai.seed = Some(rng.next());
        m.ai = Some(ai);
    }
    m
}

fn build(dir: &Path) -> Catalog {
    let cat = Catalog::open(&dir.join("catalog.sqlite3")).expect("open catalog");
    let mut rng = Rng(SEED);
    let started = Instant::now();
    for n in 0..ASSETS {
        let id = format!("{:064x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15);
        let source = rng.source();
        let project = PROJECTS[rng.below(PROJECTS.len() as u64) as usize];
        let src = PathBuf::from(format!("/home/user/inbox/batch-{}/img_{n:06}.png", n % 50));
        let dest = PathBuf::from(format!(
            "/home/user/organized/2024/{project}/{source}/{project}-{n:06}.png"
        ));
        let m = media(&mut rng, n, source);
        cat.upsert_discovered(&id, &src, 1_000_000 + n)
            .expect("discover");
        let op = cat
            .begin_op(&NewOp {
                asset_id: &id,
                kind: OpKind::Copy,
                source: &src,
                destination: &dest,
                mode: Transfer::Copy,
            })
            .expect("begin op");
        cat.complete_placement(&Placement {
            op_id: op,
            asset_id: &id,
            destination: &dest,
            size: 1_000_000 + n,
            project,
            source,
            style: (n % 5 == 0).then_some("noir"),
            media: Some(&m),
        })
        .expect("complete placement");
    }
    eprintln!(
        "built a catalog of {ASSETS} assets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    cat
}

fn query(text: &str, source: Option<&str>) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        source: source.map(str::to_owned),
        ..SearchQuery::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn percentiles(cat: &Catalog) {
    let mut rng = Rng(SEED ^ 0xffff);
    let queries: Vec<SearchQuery> = (0..PERCENTILE_QUERIES)
        .map(|_| {
            let (a, b) = (rng.word(), rng.word());
            query(&format!("{a} {b}"), Some(rng.source()))
        })
        .collect();
    // One untimed pass warms the page cache and the statement cache.
    for q in &queries {
        black_box(cat.find(q).expect("search"));
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for q in &queries {
        let start = Instant::now();
        hits += black_box(cat.find(q).expect("search")).len();
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "search_100k two-word + source, {} queries ({:.1} hits each on average): \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        queries.len(),
        hits as f64 / queries.len() as f64,
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.90)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
    );
}

fn bench(c: &mut Criterion) {
    let dir = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let cat = build(dir.path());
    percentiles(&cat);

    let mut group = c.benchmark_group("search_100k");
    let cases = [
        ("two_words_source", query("neon city", Some("midjourney"))),
        ("two_common_words", query("portrait neon", None)),
        (
            "filters_only",
            SearchQuery {
                project: Some("cyberpunk".into()),
                source: Some("flux".into()),
                ..SearchQuery::default()
            },
        ),
    ];
    for (name, q) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(cat.find(q).expect("search")).len())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
