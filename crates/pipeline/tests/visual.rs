//! The visual stage in a real pipeline: an organized picture gets thumbnails in the cache, a
//! visual row and an `AssetVisualized` event; a decompression bomb is an `AssetFailed` of
//! stage `visual` that leaves the asset organized and the outcome counts alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use catalog::{AssetStatus, Catalog};
use events::{FileIdentity, OrganizeMode, Payload};
use pipeline::{Pipeline, Settings, VisualSettings};

#[path = "../../../tests/support/png_bomb.rs"]
mod png_bomb;
use png_bomb::png_declaring;

/// A 600x400 PNG with some structure.
fn picture() -> Vec<u8> {
    let img = image::RgbImage::from_fn(600, 400, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

struct Env {
    dir: tempfile::TempDir,
    catalog: Arc<Catalog>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["organized", "inbox"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let catalog = Arc::new(Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap());
        Env { dir, catalog }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("thumbnails")
    }

    async fn start(&self) -> Pipeline {
        let settings = Settings {
            organized: self.dir.path().join("organized"),
            mode: OrganizeMode::Copy,
            template: organizer::Template::parse("{project}/{name}").unwrap(),
            duplicates: self.dir.path().join("duplicates"),
            quarantine: None,
            undated: false,
            batch: pipeline::BatchLimits::default(),
            history: catalog::HistoryWindow::default(),
            group_wait: Duration::ZERO,
            visual: Some(VisualSettings {
                max_pixels: 50_000_000,
                ffmpeg: None,
                ffmpeg_timeout: Duration::from_secs(5),
                cache_dir: self.cache(),
                sizes: vec![1024, 256],
                max_cache_bytes: 1 << 30,
            }),
        };
        Pipeline::start(self.catalog.clone(), settings)
            .await
            .unwrap()
    }

    fn put(&self, name: &str, bytes: &[u8]) -> (PathBuf, String) {
        let path = self.dir.path().join("inbox").join(name);
        std::fs::write(&path, bytes).unwrap();
        (path, blake3::hash(bytes).to_hex().to_string())
    }

    fn item(&self, path: &Path, asset_id: &str) -> watcher::WatchItem {
        let meta = std::fs::symlink_metadata(path).unwrap();
        watcher::WatchItem::Discovered(watcher::Discovered {
            path: path.to_path_buf(),
            inbox: self.dir.path().join("inbox"),
            project: None,
            identity: FileIdentity::from_metadata(&meta),
            mtime: meta.modified().unwrap(),
            asset_id: asset_id.to_owned(),
            hashed: true,
            settled: false,
            kind: watcher::DiscoveryKind::Manual,
        })
    }
}

fn types_for(cat: &Catalog, asset: &str) -> Vec<Payload> {
    cat.events_for_asset(asset)
        .unwrap()
        .into_iter()
        .map(|s| events::Event::from_json(&s.json).unwrap().payload)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organized_pictures_get_thumbnails_and_bombs_fail_only_the_visual_stage() {
    let env = Env::new();
    let p = env.start().await;
    let (pic, pic_id) = env.put("pic.png", &picture());
    let (bomb, bomb_id) = env.put("bomb.png", &png_declaring(100_000, 100_000));
    let items = vec![env.item(&pic, &pic_id), env.item(&bomb, &bomb_id)];
    assert_eq!(p.ingest(items).await.unwrap(), 2);
    tokio::time::timeout(Duration::from_secs(60), p.wait_idle())
        .await
        .expect("both reach an outcome");
    tokio::time::timeout(Duration::from_secs(60), p.wait_visual_idle())
        .await
        .expect("the visual stage finishes");
    let report = p.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    let t = p.tally();
    assert_eq!((t.organized, t.failed), (2, 0), "{t:?}");

    // The picture: a visual row with a fingerprint, and two thumbnails in the cache.
    let row = env.catalog.visual(&pic_id).unwrap().expect("visual row");
    assert_eq!(row.rendered, "image");
    assert_eq!((row.width, row.height), (Some(600), Some(400)));
    assert!(row.fingerprint.is_some());
    let cache = visual::ThumbCache::new(env.cache(), 1 << 30);
    for size in [256, 1024] {
        let thumb = cache.lookup(&pic_id, size).expect("thumbnail in the cache");
        assert!(std::fs::metadata(thumb).unwrap().len() > 0);
    }
    let visualized = types_for(&env.catalog, &pic_id)
        .into_iter()
        .find_map(|p| match p {
            Payload::AssetVisualized(v) => Some(v),
            _ => None,
        })
        .expect("AssetVisualized recorded");
    assert_eq!(visualized.thumbnails, vec![1024, 256]);
    assert_eq!(env.catalog.fingerprints().unwrap().len(), 1);

    // The bomb: organized, with a failed visual step that changed nothing else.
    let rec = env.catalog.asset(&bomb_id).unwrap().unwrap();
    assert_eq!(rec.status, AssetStatus::Organized);
    let failure = types_for(&env.catalog, &bomb_id)
        .into_iter()
        .find_map(|p| match p {
            Payload::AssetFailed(f) => Some(f),
            _ => None,
        })
        .expect("AssetFailed recorded");
    assert_eq!(failure.stage, "visual");
    assert!(failure.error.contains("100000x100000"), "{}", failure.error);
    assert_eq!(
        env.catalog.visual(&bomb_id).unwrap().unwrap().rendered,
        catalog::RENDERED_FAILED
    );
    // Neither is left for a catch-up.
    assert!(env.catalog.unvisualized("", 10).unwrap().is_empty());
}
