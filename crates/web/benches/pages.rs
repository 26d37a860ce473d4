//! Page latency of the web gallery over a catalog of 100,000 organized assets.
//!
//! Fills a catalog through the catalog API the way the organizer does (`upsert_discovered`,
//! `begin_op`, `complete_placement` with metadata, so the search index is built by its
//! triggers), starts the real server (`web::serve`) on a loopback port, logs in with a
//! one-time token, and times requests one by one over HTTP/1.1 from the first byte sent to
//! the last byte received (a fresh connection each, as a browser tab's first request):
//!
//! - `gallery`: the first page, no filter (the live view);
//! - `gallery page N`: a page deep in the infinite scroll (keyset cursor);
//! - `gallery filtered`: source and project filters;
//! - `gallery rare filter`: a project that holds one asset in a thousand (the page walks the
//!   newest-first index until it has 48, i.e. most of it);
//! - `search`: two words from the prompt vocabulary, drawn at random (some common, most rare);
//! - `search + source`: the same with a source filter;
//! - `asset`: an asset page (record, metadata, event history);
//! - `thumbnail 256` / `thumbnail 1024`: a cached thumbnail of a random asset, looked up in
//!   the visual stage's `ThumbCache` exactly as the daemon does (`THUMBED` assets get real
//!   thumbnails made by `visual::process` before the timing starts).
//!
//! Prints p50/p90/p99/max per kind. The catalog lives in /dev/shm when there is one (building
//! it is one fsync-ed transaction pair per asset).
//!
//!     cargo bench -p web --bench pages

#[path = "../../../tests/web/http.rs"]
#[allow(dead_code)]
mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::{Catalog, NewOp, OpKind, Placement, Transfer};
use events::media::{AiInfo, AiSignal, AiSource, MediaInfo, MediaType};

const ASSETS: u64 = 100_000;
const REQUESTS: usize = 400;
/// Assets given real cached thumbnails for the thumbnail timings.
const THUMBED: u64 = 200;

const WORDS: &[&str] = &[
    "portrait",
    "neon",
    "city",
    "night",
    "cinematic",
    "forest",
    "mountain",
    "sunset",
    "rain",
    "street",
    "cyberpunk",
    "castle",
    "dragon",
    "ocean",
    "snow",
    "winter",
    "garden",
    "river",
    "bridge",
    "lighthouse",
    "harbour",
    "tram",
    "robot",
    "astronaut",
    "nebula",
    "moon",
    "desert",
    "temple",
    "wizard",
    "fox",
    "wolf",
    "owl",
    "koi",
    "maple",
    "fog",
    "storm",
    "glass",
    "gold",
    "watercolor",
    "ink",
    "film",
    "grain",
    "bokeh",
    "aerial",
    "moody",
    "surreal",
    "pastel",
    "sketch",
    "tiger",
    "deer",
];
const SOURCES: &[&str] = &["midjourney", "stable-diffusion", "flux", "comfyui", "dalle"];
const PROJECTS: &[&str] = &["default", "cyberpunk", "portraits", "landscapes", "zine"];

/// splitmix64: the same corpus on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    /// A word skewed towards the front of the list (the first is in about a third of the
    /// prompts, the last in a few percent).
    fn word(&mut self) -> &'static str {
        let a = self.next() % WORDS.len() as u64;
        let b = self.next() % WORDS.len() as u64;
        WORDS[a.min(b) as usize]
    }
}

fn build(path: &Path) -> Catalog {
    let cat = Catalog::open(path).expect("open catalog");
    let mut rng = Rng(0x5eed_0fca_11e1_2000);
    let started = Instant::now();
    for n in 0..ASSETS {
        let id = asset_key(n);
        let source = rng.pick(SOURCES);
        let src = PathBuf::from(format!("/inbox/{n}.png"));
        let dest = PathBuf::from(format!("/organized/{source}/{n}.png"));
        cat.upsert_discovered(&id, &src, 100_000 + n)
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
        let mut media = MediaInfo::empty(MediaType::Image);
        media.format = Some("png".into());
        media.width = Some(1024);
        media.height = Some(1024);
        let label = source.parse::<AiSource>().expect("AI label");
        let mut ai = AiInfo::new(label, AiSignal::Metadata, "png:tEXt parameters");
        let words = 6 + rng.next() % 12;
        ai.prompt = Some((0..words).map(|_| rng.word()).collect::<Vec<_>>().join(" "));
        ai.seed = Some(rng.next());
        media.ai = Some(ai);
        cat.complete_placement(&Placement {
            op_id: op,
            asset_id: &id,
            destination: &dest,
            size: 100_000 + n,
            // One asset in a thousand is in a small project: the worst case of a filter.
            project: if n % 1000 == 7 {
                "rare"
            } else {
                rng.pick(PROJECTS)
            },
            source,
            style: None,
            media: Some(&media),
        })
        .expect("place");
    }
    eprintln!(
        "built a catalog of {ASSETS} assets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    cat
}

struct Client {
    addr: String,
    cookie: String,
}

impl Client {
    fn get(&self, path: &str) -> (Duration, http::Response) {
        let headers = [("Cookie", self.cookie.as_str())];
        let t = Instant::now();
        let r = http::request(&self.addr, "GET", path, Some(&self.addr), &headers, b"");
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        (took, r)
    }
}

fn report(kind: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{kind:<20} n={:<4} p50 {:>6.1} ms  p90 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        times.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*times.last().unwrap())
    );
}

/// The `after` cursor in the page's "more" element.
fn next_link(html: &str) -> Option<String> {
    let rest = html.split("data-next=\"").nth(1)?;
    Some(rest.split('"').next()?.replace("&amp;", "&"))
}

fn measure(client: &Client) {
    let mut rng = Rng(42);
    let times = |f: &mut dyn FnMut(&mut Rng) -> String, rng: &mut Rng| -> Vec<Duration> {
        (0..REQUESTS).map(|_| client.get(&f(rng)).0).collect()
    };
    // Warm the OS page cache and the filter choices once, untimed.
    client.get("/");
    report("gallery", times(&mut |_| "/".into(), &mut rng));
    // Follow the scroll 200 pages deep (9,600 tiles), then time that page.
    let mut link = next_link(&client.get("/").1.text()).expect("a second page");
    for _ in 0..200 {
        link = next_link(&client.get(&link).1.text()).expect("more pages");
    }
    report("gallery page 200", times(&mut |_| link.clone(), &mut rng));
    report(
        "gallery filtered",
        times(
            &mut |r| format!("/?source={}&project={}", r.pick(SOURCES), r.pick(PROJECTS)),
            &mut rng,
        ),
    );
    report(
        "gallery rare filter",
        times(&mut |_| "/?project=rare".into(), &mut rng),
    );
    report(
        "search",
        times(
            &mut |r| format!("/?q={}+{}", r.word(), r.pick(WORDS)),
            &mut rng,
        ),
    );
    report(
        "search + source",
        times(
            &mut |r| {
                format!(
                    "/?q={}+{}&source={}",
                    r.word(),
                    r.pick(WORDS),
                    r.pick(SOURCES)
                )
            },
            &mut rng,
        ),
    );
    report(
        "asset",
        times(
            &mut |r| {
                let n = r.next() % ASSETS;
                format!("/asset/{}", asset_key(n))
            },
            &mut rng,
        ),
    );
    for size in [256, 1024] {
        report(
            &format!("thumbnail {size}"),
            times(
                &mut |r| {
                    let n = r.next() % THUMBED;
                    format!("/thumb/{}?size={size}", asset_key(n))
                },
                &mut rng,
            ),
        );
    }
}

fn asset_key(n: u64) -> String {
    blake3::hash(&n.to_le_bytes()).to_hex().to_string()
}

/// The daemon's thumbnail source: the visual stage's cache.
struct Cached(visual::ThumbCache);

impl web::Thumbnails for Cached {
    fn thumbnail(&self, asset_id: &str, size: web::ThumbSize) -> Option<PathBuf> {
        let px = match size {
            web::ThumbSize::Small => 256,
            web::ThumbSize::Large => 1024,
        };
        self.0.lookup(asset_id, px)
    }
}

/// A cache holding real 1024 and 256 px thumbnails of the first [`THUMBED`] assets, made from
/// a generated 2048x1536 picture.
fn thumbnails(dir: &Path) -> visual::ThumbCache {
    let source = dir.join("picture.png");
    image::RgbImage::from_fn(2048, 1536, |x, y| {
        image::Rgb([(x / 8) as u8, (y / 6) as u8, ((x ^ y) & 0xff) as u8])
    })
    .save(&source)
    .expect("picture");
    let cache = visual::ThumbCache::new(dir.join("thumbnails"), 1 << 30);
    for n in 0..THUMBED {
        visual::process(&source, &visual::Limits::default(), &cache, &asset_key(n))
            .expect("thumbnails");
    }
    cache
}

struct Idle;

impl web::Daemon for Idle {
    fn status(&self) -> web::BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::Value::Null })
    }
    fn use_project(&self, _: String) -> web::BoxFuture<'_, Result<(), web::Refused>> {
        Box::pin(async { Ok(()) })
    }
    fn choose_style(&self, _: Option<String>) -> web::BoxFuture<'_, Result<(), web::Refused>> {
        Box::pin(async { Ok(()) })
    }
}

fn main() {
    let base = Path::new("/dev/shm");
    let dir = tempfile::tempdir_in(if base.is_dir() {
        base
    } else {
        Path::new("/tmp")
    })
    .expect("temp dir");
    let catalog = dir.path().join("catalog.sqlite3");
    drop(build(&catalog));
    let cache = thumbnails(dir.path());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let served = runtime
        .block_on(web::serve(
            web::WebSettings {
                listen: "127.0.0.1:0".parse().expect("address"),
                allow_remote: false,
                hosts: Vec::new(),
                catalog,
                organized: dir.path().join("organized"),
                secret_file: dir.path().join("web.secret"),
            },
            web::Parts {
                bus: bus::Bus::new(),
                daemon: Arc::new(Idle),
                thumbnails: Arc::new(Cached(cache)),
            },
        ))
        .expect("serve");
    let addr = served.addr.to_string();
    let token = web::login_token(
        &dir.path().join("web.secret"),
        chrono::Utc::now().timestamp(),
    )
    .expect("token");
    let login = http::request(
        &addr,
        "GET",
        &format!("/login?token={}", token.0),
        Some(&addr),
        &[],
        b"",
    );
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    // The client runs on this thread; the server on the runtime's workers.
    measure(&Client { addr, cookie });
    served.task.abort();
}
