//! The web gallery against the real daemon: `alice run` with `[web]` on a free loopback port,
//! real fixture files organized, then
//! - in a real headless Chromium driven through chromedriver (WebDriver): the gallery lists
//!   the files, a search finds an image by a prompt word, the asset page shows prompt and
//!   seed, a file dropped into the inbox appears in the open live view without a reload, the
//!   status page sets the active project; screenshots of every page (laptop and phone
//!   widths) go to `target/web-screenshots/`; the asset page shows near-duplicates (a
//!   resized, re-encoded copy) and `similar:<id>` lists them in the gallery;
//! - over raw HTTP: without the session every page and media URL answers 401; path tricks
//!   reach nothing; a foreign Host header is refused; state changes need the CSRF token;
//!   a login URL works once.

#[path = "web/driver.rs"]
mod driver;
#[allow(dead_code)]
#[path = "e2e/harness.rs"]
mod harness;
#[path = "web/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "e2e/media.rs"]
mod media;
#[path = "e2e/pictures.rs"]
mod pictures;

use std::path::PathBuf;

use driver::{Browser, free_port};
use harness::{Env, TIMEOUT, alice, run_to_end};

const ORGANIZED: &str = "alice.asset.organized.v1";

/// AI fixtures of the metadata crate: (file, its prompt).
const FILES: &[(&str, &str)] = &[
    ("forge_flux.png", "a fox in a birch forest"),
    ("mj_description.png", "a red fox in snow, film photo"),
    ("a1111.png", "a lighthouse at dusk, (oil painting:1.2)"),
    ("novelai.png", "1girl, cherry blossoms, night"),
];

/// An XMP sidecar with a rating.
const SIDECAR: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>"#;

/// A daemon with the gallery on, the fixtures organized.
struct Gallery {
    env: Env,
    daemon: harness::Daemon,
    port: u16,
}

impl Gallery {
    fn start() -> Gallery {
        let env = Env::new();
        let port = free_port();
        let mut cfg = std::fs::read_to_string(&env.config).unwrap();
        cfg += &format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n");
        std::fs::write(&env.config, cfg).unwrap();
        for (name, _) in FILES {
            env.drop_file(name, &media::fixture_bytes(&format!("ai/{name}")));
        }
        // A sidecar that travels with one of them (listed on its asset page).
        env.drop_file("a1111.png.xmp", SIDECAR.as_bytes());
        let mut daemon = env.start();
        daemon.wait_events(ORGANIZED, FILES.len());
        Gallery { env, daemon, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `alice web --no-open`: the one-time login URL.
    fn login_url(&self) -> String {
        let mut cmd = alice();
        cmd.args(["web", "--no-open", "--config"])
            .arg(&self.env.config);
        let run = run_to_end(cmd).success();
        let url = run.stdout.trim().to_owned();
        assert!(
            url.starts_with(&format!("{}/login?token=", self.base())),
            "{url}"
        );
        url
    }

    /// The asset id of an organized file, from the daemon's events.
    fn asset_id(&self, name: &str) -> String {
        self.daemon
            .events(ORGANIZED)
            .iter()
            .find(|e| e["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .and_then(|e| e["asset_id"].as_str())
            .unwrap_or_else(|| panic!("no organized event for {name}"))
            .to_owned()
    }

    /// GET `path` over raw HTTP with the right Host header and `cookie` (if any).
    fn get(&self, path: &str, cookie: Option<&str>) -> http::Response {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        http::request(&self.addr(), "GET", path, Some(&self.addr()), &headers, b"")
    }

    /// Logs in over raw HTTP: the `name=value` of the session cookie.
    fn cookie(&self) -> String {
        let url = self.login_url();
        let path = url.trim_start_matches(&self.base()).to_owned();
        let r = self.get(&path, None);
        assert_eq!(r.status, 303, "{}", r.text());
        let set = r.header("set-cookie").expect("a session cookie").to_owned();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attr), "{set}");
        }
        set.split(';').next().unwrap().to_owned()
    }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots")
}

#[test]
fn the_gallery_in_a_real_browser() {
    let mut g = Gallery::start();
    let shots = screenshots();
    let browser = Browser::start();
    browser.resize(1366, 900);
    let wait = |what: &str, cond: &dyn Fn(&Browser) -> bool| browser.wait(what, TIMEOUT, cond);

    // Without the session, nothing.
    browser.goto(&g.base());
    assert!(
        browser.text().contains("Not logged in"),
        "{}",
        browser.text()
    );

    // The one-time URL logs in and lands on the gallery, which lists every organized file.
    browser.goto(&g.login_url());
    wait("the gallery's tiles", &|b| b.count(".tile") == FILES.len());
    assert_eq!(browser.url(), format!("{}/", g.base()));
    wait("every tile's image to load", &|b| {
        b.js(
            "return [...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth > 0);",
            vec![],
        ) == serde_json::json!(true)
    });
    browser.screenshot(&shots.join("gallery.png"));

    // A prompt word finds the matching image, and only it.
    browser.type_into("input[name=q]", "lighthouse\n");
    wait("the search results", &|b| b.url().contains("q=lighthouse"));
    wait("one result", &|b| b.count(".tile") == 1);
    assert!(browser.text().contains("a lighthouse at dusk"));
    browser.screenshot(&shots.join("search.png"));

    // The asset page shows the prompt and the seed.
    browser.click(".tile");
    wait("the asset page", &|b| b.count("#prompt") == 1);
    let prompt = browser.js(
        "return document.getElementById('prompt').textContent;",
        vec![],
    );
    assert_eq!(prompt, FILES[2].1);
    let text = browser.text();
    assert!(text.contains("3141592653"), "the seed: {text}");
    assert!(text.contains("sd_xl_base_1.0"), "the model: {text}");
    assert!(text.contains("asset organized"), "the history: {text}");
    assert!(
        browser.count("section.sidecars") == 1 && text.contains("a1111.png.xmp"),
        "the sidecar that travelled with it: {text}"
    );
    browser.screenshot(&shots.join("asset.png"));

    // The live view: a file dropped into the inbox appears without a reload.
    browser.goto(&g.base());
    wait("the gallery again", &|b| b.count(".tile") == FILES.len());
    browser.js("window.stillTheSamePage = true;", vec![]);
    wait("the live stream to connect", &|b| {
        b.count("#grid[data-connected]") == 1
    });
    g.env
        .drop_file("swarmui.png", &media::fixture_bytes("ai/swarmui.png"));
    g.daemon.wait_events(ORGANIZED, FILES.len() + 1);
    let fresh = g.asset_id("swarmui.png");
    wait("the new file's tile", &|b| {
        b.count(&format!(".tile[data-id=\"{fresh}\"]")) == 1
    });
    assert_eq!(
        browser.js("return window.stillTheSamePage === true;", vec![]),
        serde_json::json!(true),
        "the page was reloaded"
    );
    browser.screenshot(&shots.join("live.png"));

    // The status page: the chart, and setting the active project from the page.
    let created = run_to_end({
        let mut c = alice();
        c.args(["project", "create", "harbour-study", "--config"])
            .arg(&g.env.config);
        c
    });
    assert!(created.status.success(), "{}", created.stderr);
    browser.goto(&format!("{}/status", g.base()));
    wait("the chart", &|b| b.count("svg.chart rect") > 0);
    browser.js(
        "const s = document.querySelector('select[name=project]'); s.value = 'harbour-study';",
        vec![],
    );
    browser.type_into("input[name=style]", "ink wash");
    // Marks this page, so the wait below sees the page the form's answer loads, not this one
    // (whose select was set by hand above).
    browser.js("window.beforeSubmit = true;", vec![]);
    browser.click("form.context button");
    wait("the new context", &|b| {
        b.js(
            "const s = document.querySelector('select[name=project]'); \
             return !window.beforeSubmit && s && s.value;",
            vec![],
        ) == serde_json::json!("harbour-study")
    });
    let status = run_to_end({
        let mut c = alice();
        c.args(["status", "--json", "--config"]).arg(&g.env.config);
        c
    });
    let s: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(s["context"]["project"], "harbour-study");
    assert_eq!(s["context"]["style"], "ink wash");
    browser.screenshot(&shots.join("status.png"));

    // A phone-sized window.
    browser.resize(390, 844);
    browser.goto(&g.base());
    wait("the gallery on a phone", &|b| {
        b.count(".tile") == FILES.len() + 1
    });
    browser.screenshot(&shots.join("gallery-phone.png"));
    browser.goto(&format!("{}/asset/{}", g.base(), g.asset_id("a1111.png")));
    wait("the asset page on a phone", &|b| b.count("#prompt") == 1);
    browser.screenshot(&shots.join("asset-phone.png"));
    drop(browser);
    g.daemon.terminate();
}

#[test]
fn without_the_session_nothing_answers_and_urls_reach_only_assets() {
    let mut g = Gallery::start();
    let id = g.asset_id("a1111.png");

    // Without the cookie: 401 for every page, media URL and unknown path.
    for path in [
        "/".to_owned(),
        "/?q=fox".to_owned(),
        "/more?after=1.x".to_owned(),
        format!("/asset/{id}"),
        format!("/media/{id}"),
        format!("/thumb/{id}"),
        format!("/thumb/{id}?size=1024"),
        "/events".to_owned(),
        "/status".to_owned(),
        "/static/app.js".to_owned(),
        "/no/such/page".to_owned(),
        "/media/..%2f..%2fetc%2fpasswd".to_owned(),
    ] {
        let r = g.get(&path, None);
        assert_eq!(r.status, 401, "{path}");
        assert!(!r.text().contains(&id) || path.contains(&id), "{path}");
    }
    let wrong = "alice_session=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(g.get(&format!("/media/{id}"), Some(wrong)).status, 401);

    let cookie = g.cookie();
    let media = g.get(&format!("/media/{id}"), Some(&cookie));
    assert_eq!(media.status, 200);
    assert_eq!(media.header("content-type"), Some("image/png"));
    assert_eq!(
        media.body,
        media::fixture_bytes("ai/a1111.png"),
        "the original's content"
    );

    // Path tricks reach nothing, logged in or not.
    for path in [
        "/media/..%2f..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/media/../../../etc/passwd",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/thumb/..%2f..%2fstate%2fweb.secret",
        "/static/..%2f..%2fCargo.toml",
        "/static/../../Cargo.toml",
        "/asset/..%2f..%2fstate%2fcatalog.sqlite3",
        "//etc/passwd",
        "/etc/passwd",
    ] {
        let r = g.get(path, Some(&cookie));
        assert!(
            r.status == 404 || r.status == 400,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("root:"), "{path}");
    }
    let suffixed = g.get(
        &format!("/media/{id}%2f..%2f..%2fweb.secret"),
        Some(&cookie),
    );
    assert_eq!(suffixed.status, 404);

    // A foreign Host header is refused, with or without the session.
    for host in [Some("evil.example"), Some("evil.example:80"), None] {
        let headers = [("Cookie", cookie.as_str())];
        let r = http::request(&g.addr(), "GET", "/", host, &headers, b"");
        assert!(r.status == 421 || r.status == 400, "{host:?}: {}", r.status);
        assert!(!r.text().contains("<html"), "{host:?}");
    }
    for host in [format!("localhost:{}", g.port), format!("[::1]:{}", g.port)] {
        let headers = [("Cookie", cookie.as_str())];
        let r = http::request(&g.addr(), "GET", "/", Some(&host), &headers, b"");
        assert_eq!(r.status, 200, "{host}");
    }

    // A state change needs the page's CSRF token.
    let page = g.get("/status", Some(&cookie)).text();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's CSRF field")
        .to_owned();
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let post = |body: &str| {
        http::request(
            &g.addr(),
            "POST",
            "/context",
            Some(&g.addr()),
            &form,
            body.as_bytes(),
        )
    };
    assert_eq!(post("style=forged").status, 403);
    assert_eq!(post("style=forged&csrf=0000").status, 403);
    let r = post(&format!("style=chosen&csrf={token}"));
    assert_eq!(r.status, 303, "{}", r.text());
    g.daemon.wait_for("the style event", |records| {
        records
            .iter()
            .any(|r| r["event_type"] == "alice.creative.style_chosen.v1")
    });

    // A login URL works once.
    let url = g.login_url();
    let path = url.trim_start_matches(&g.base()).to_owned();
    assert_eq!(g.get(&path, None).status, 303);
    assert_eq!(g.get(&path, None).status, 401);
    assert_eq!(g.get("/login?token=1.2.3", None).status, 401);
    g.daemon.terminate();
}

#[test]
fn the_asset_page_shows_near_duplicates() {
    use pictures::{encode, picture, unrelated};
    let env = Env::new();
    let port = free_port();
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg += &format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n[log]\nlevel = \"debug\"\n");
    std::fs::write(&env.config, cfg).unwrap();
    let smaller =
        image::imageops::resize(&picture(), 400, 300, image::imageops::FilterType::Triangle);
    env.drop_file("original.png", &encode(&picture(), image::ImageFormat::Png));
    env.drop_file("copy.jpg", &encode(&smaller, image::ImageFormat::Jpeg));
    env.drop_file("other.png", &encode(&unrelated(), image::ImageFormat::Png));
    let mut daemon = env.start();
    daemon.wait_events("alice.asset.visualized.v1", 3);
    let g = Gallery { env, daemon, port };
    let (original, copy, other) = (
        g.asset_id("original.png"),
        g.asset_id("copy.jpg"),
        g.asset_id("other.png"),
    );
    let shots = screenshots();
    let browser = Browser::start();
    browser.resize(1366, 900);
    let wait = |what: &str, cond: &dyn Fn(&Browser) -> bool| browser.wait(what, TIMEOUT, cond);
    browser.goto(&g.login_url());
    wait("the gallery's tiles", &|b| b.count(".tile") == 3);

    // The asset page lists the resized copy (a thumbnail linking to it), not the other one.
    browser.goto(&format!("{}/asset/{original}", g.base()));
    wait("the near-duplicates section", &|b| {
        b.count("#near .tile") == 1
    });
    assert_eq!(
        browser.count(&format!("#near .tile[href=\"/asset/{copy}\"]")),
        1
    );
    assert_eq!(
        browser.count(&format!("#near .tile[data-id=\"{other}\"]")),
        0
    );
    assert!(
        browser
            .text()
            .to_lowercase()
            .contains("near-duplicates (1)")
    );
    wait("the near-duplicate's thumbnail", &|b| {
        b.js(
            "const i = document.querySelector('#near .tile img'); return !!i && i.complete && i.naturalWidth > 0 && i.naturalWidth <= 256;",
            vec![],
        ) == serde_json::json!(true)
    });
    browser.screenshot(&shots.join("asset-near-duplicates.png"));

    // The unrelated picture has no such section.
    browser.goto(&format!("{}/asset/{other}", g.base()));
    wait("the other asset page", &|b| b.count("ol.timeline") == 1);
    assert_eq!(browser.count("#near"), 0);

    // `similar:<id prefix>` in the search box lists the asset and its near-duplicates.
    browser.goto(&format!("{}/?q=similar:{}", g.base(), &original[..10]));
    wait("the similar results", &|b| b.count(".tile") == 2);
    assert_eq!(browser.count(&format!(".tile[data-id=\"{other}\"]")), 0);
    browser.screenshot(&shots.join("similar.png"));

    // A thumbnail from the cache is a 256 px JPEG, not the original.
    let cookie = g.cookie();
    let thumb = g.get(&format!("/thumb/{original}?size=256"), Some(&cookie));
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    drop(browser);
    let mut g = g;
    g.daemon.terminate();
}
