//! Media over real HTTP from a real server and catalog: thumbnails when the `Thumbnails`
//! source has one and the original otherwise; byte ranges; and a symlink planted in the
//! organized tree, or a catalog path outside it, serves nothing.

#[path = "../../../tests/web/http.rs"]
#[allow(dead_code)]
mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog::{Catalog, NewOp, OpKind, Placement, Transfer};
use events::media::{MediaInfo, MediaType};

/// Thumbnails for small sizes only, from a folder of `<id>.png` files.
struct SmallOnly(PathBuf);

impl web::Thumbnails for SmallOnly {
    fn thumbnail(&self, asset_id: &str, size: web::ThumbSize) -> Option<PathBuf> {
        let path = self.0.join(format!("{asset_id}.png"));
        (size == web::ThumbSize::Small && path.exists()).then_some(path)
    }
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

/// Records `dest` as where asset `n` was organized; returns its id.
fn organize(cat: &Catalog, n: u8, dest: &Path) -> String {
    let id = blake3::hash(&[n]).to_hex().to_string();
    let src = PathBuf::from(format!("/inbox/{n}.png"));
    cat.upsert_discovered(&id, &src, 3).unwrap();
    let op = cat
        .begin_op(&NewOp {
            asset_id: &id,
            kind: OpKind::Copy,
            source: &src,
            destination: dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    let mut media = MediaInfo::empty(MediaType::Image);
    media.format = Some("png".into());
    cat.complete_placement(&Placement {
        op_id: op,
        asset_id: &id,
        destination: dest,
        size: 3,
        project: "p",
        source: "flux",
        style: None,
        media: Some(&media),
    })
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_come_from_the_catalog_beneath_the_organized_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let organized = root.join("organized");
    let thumbs = root.join("thumbs");
    std::fs::create_dir_all(&organized).unwrap();
    std::fs::create_dir_all(&thumbs).unwrap();
    std::fs::write(root.join("outside.png"), b"SECRET").unwrap();
    std::fs::write(organized.join("a.png"), b"original bytes").unwrap();
    std::os::unix::fs::symlink(root.join("outside.png"), organized.join("link.png")).unwrap();
    let catalog = root.join("catalog.sqlite3");
    let cat = Catalog::open(&catalog).unwrap();
    let plain = organize(&cat, 1, &organized.join("a.png"));
    let linked = organize(&cat, 2, &organized.join("link.png"));
    let outside = organize(&cat, 3, &root.join("outside.png"));
    std::fs::write(thumbs.join(format!("{plain}.png")), b"thumb").unwrap();
    drop(cat);

    let served = web::serve(
        web::WebSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow_remote: false,
            hosts: Vec::new(),
            catalog,
            organized,
            secret_file: root.join("web.secret"),
        },
        web::Parts {
            bus: bus::Bus::new(),
            daemon: Arc::new(Idle),
            thumbnails: Arc::new(SmallOnly(thumbs)),
        },
    )
    .await
    .unwrap();
    let addr = served.addr.to_string();
    let secret = root.join("web.secret");
    let checks = tokio::task::spawn_blocking(move || {
        let token = web::login_token(&secret, chrono::Utc::now().timestamp()).unwrap();
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
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let get = |path: &str, extra: &[(&str, &str)]| {
            let mut headers = vec![("Cookie", cookie.as_str())];
            headers.extend_from_slice(extra);
            http::request(&addr, "GET", path, Some(&addr), &headers, b"")
        };
        let thumb = get(&format!("/thumb/{plain}"), &[]);
        assert_eq!((thumb.status, thumb.text().as_str()), (200, "thumb"));
        let large = get(&format!("/thumb/{plain}?size=1024"), &[]);
        assert_eq!(
            (large.status, large.text().as_str()),
            (200, "original bytes")
        );
        let part = get(&format!("/media/{plain}"), &[("Range", "bytes=9-13")]);
        assert_eq!((part.status, part.text().as_str()), (206, "bytes"));
        assert_eq!(part.header("content-range"), Some("bytes 9-13/14"));
        for id in [&linked, &outside] {
            for path in [format!("/media/{id}"), format!("/thumb/{id}")] {
                let r = get(&path, &[]);
                assert_eq!(r.status, 404, "{path}");
                assert!(!r.text().contains("SECRET"), "{path}");
            }
        }
    });
    checks.await.unwrap();
    served.task.abort();
}
