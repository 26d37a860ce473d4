//! The local web gallery: browse, search and watch the catalog in a browser.
//!
//! ```text
//! browser ──HTTP──▶ guard (Host, session cookie, CSRF, security headers)
//!                     ├─ pages   : gallery (keyset pages, filters, search), asset, status
//!                     ├─ media   : originals and thumbnails, by asset id only
//!                     ├─ live    : server-sent events from a lossy bus observer
//!                     └─ context : active project and style, through the daemon
//! ```
//!
//! The server runs on the daemon's tokio runtime ([`serve`]); it reads the catalog through
//! its own read-only connections and changes nothing but the creative context, which goes
//! through the daemon ([`Daemon`]) so that it is an event on the bus like any other change.
//!
//! # Security
//!
//! A loopback port is reachable by every local user, and by any web page through DNS
//! rebinding. So (see `guard.rs` and `auth.rs`):
//! - every request but `/login` needs the session cookie (HttpOnly, SameSite=Strict), got by
//!   opening a one-time login URL (`alice web` prints it: [`login_token`]); without it,
//!   every page and media URL answers 401;
//! - the Host header must name the server as `127.0.0.1:PORT`, `localhost:PORT` or
//!   `[::1]:PORT` (or a configured name), which a rebinding page cannot send;
//! - every state-changing request carries a CSRF token tied to the session;
//! - a strict Content-Security-Policy (scripts and styles from files only);
//! - media are served by asset id: the path comes from the catalog and is opened beneath the
//!   organized folder, never taken from the request.
//!
//! The secret behind sessions and login tokens lives in a 0600 file in the state dir.

#![warn(missing_docs)]

mod asset;
mod auth;
mod chart;
mod guard;
mod html;
mod live;
mod media;
mod pages;
mod readers;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub use auth::{LoginToken, login_token};

/// A boxed future, for the [`Daemon`] trait's methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the gallery cannot do.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listen address is not loopback and remote access was not allowed.
    #[error(
        "key `web.listen`: {0} is reachable from other machines; listen on 127.0.0.1 or [::1] \
         (put a reverse proxy with TLS in front for remote access, see docs/operations.md), \
         or set `web.allow_remote = true` to mean it"
    )]
    Remote(SocketAddr),
    /// The port cannot be bound.
    #[error("key `web.listen`: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The secret file cannot be read or created.
    #[error("web secret {path}: {source}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The catalog cannot be opened for reading.
    #[error("cannot read the catalog for the web gallery: {0}")]
    Catalog(#[from] catalog::CatalogError),
}

/// The daemon refused a change asked from the page; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What the gallery asks of the daemon around it.
pub trait Daemon: Send + Sync + 'static {
    /// What `alice status` shows, as its JSON.
    fn status(&self) -> BoxFuture<'_, serde_json::Value>;
    /// Makes `name` the active project (it must exist).
    fn use_project(&self, name: String) -> BoxFuture<'_, Result<(), Refused>>;
    /// Chooses a style, or clears it with `None`.
    fn choose_style(&self, name: Option<String>) -> BoxFuture<'_, Result<(), Refused>>;
    /// The near-duplicates of an organized asset, closest first (none when the daemon has no
    /// fingerprints: the visual stage is off or has not reached it).
    fn similar(&self, asset_id: String) -> BoxFuture<'_, Vec<Similar>> {
        let _ = asset_id;
        Box::pin(async { Vec::new() })
    }
}

/// A near-duplicate of an asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    /// The other asset.
    pub asset_id: String,
    /// Hamming distance of the perceptual hashes (0–64).
    pub hash_distance: u32,
    /// Mean difference of the luminance grids (0–255).
    pub grid_mean: f32,
}

/// Thumbnail sizes, by their longer edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbSize {
    /// 256 px: gallery tiles.
    Small,
    /// 1024 px: the asset page.
    Large,
}

/// Where thumbnails come from. Without one (or when it has none for an asset yet), the
/// original is served and the browser scales it.
pub trait Thumbnails: Send + Sync + 'static {
    /// The thumbnail file of `asset_id` at `size`, if there is one.
    fn thumbnail(&self, asset_id: &str, size: ThumbSize) -> Option<PathBuf>;
}

/// No thumbnails: every tile shows the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoThumbnails;

impl Thumbnails for NoThumbnails {
    fn thumbnail(&self, _: &str, _: ThumbSize) -> Option<PathBuf> {
        None
    }
}

/// The gallery's settings (the `[web]` config section plus the daemon's folders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen`.
    pub allow_remote: bool,
    /// Host names (with port) accepted in the Host header besides the loopback ones, e.g.
    /// the name a reverse proxy forwards.
    pub hosts: Vec<String>,
    /// The catalog database.
    pub catalog: PathBuf,
    /// The root of the organized tree (media are opened beneath it).
    pub organized: PathBuf,
    /// The secret file (created 0600 when missing).
    pub secret_file: PathBuf,
}

/// Refuses a non-loopback address unless remote access is allowed explicitly.
pub fn check_listen(listen: SocketAddr, allow_remote: bool) -> Result<(), WebError> {
    if listen.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(WebError::Remote(listen))
    }
}

/// The parts of the daemon the gallery uses.
pub struct Parts {
    /// The pipeline's bus: the live view observes it (lossy).
    pub bus: pipeline::EventBus,
    /// Status and creative context.
    pub daemon: Arc<dyn Daemon>,
    /// Thumbnails.
    pub thumbnails: Arc<dyn Thumbnails>,
}

/// What every handler shares.
pub(crate) struct App {
    pub settings: WebSettings,
    pub parts: Parts,
    pub readers: readers::Readers,
    pub keys: auth::Keys,
    /// Host header values answered to (see `guard.rs`).
    pub hosts: Vec<String>,
    /// Filter choices and when they were read.
    pub filter_cache: std::sync::Mutex<Option<(std::time::Instant, catalog::FilterValues)>>,
}

/// A running gallery.
pub struct Served {
    /// Where it listens (the port chosen, when `listen` asked for port 0).
    pub addr: SocketAddr,
    /// The server; it runs until this is aborted.
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `settings.listen` and serves the gallery until the returned task is aborted.
pub async fn serve(settings: WebSettings, parts: Parts) -> Result<Served, WebError> {
    check_listen(settings.listen, settings.allow_remote)?;
    let keys = auth::Keys::load_or_create(&settings.secret_file)?;
    let readers = readers::Readers::open(&settings.catalog, 4)?;
    let addr = settings.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let hosts = guard::allowed_hosts(addr.port(), &settings.hosts);
    let app = Arc::new(App {
        hosts,
        filter_cache: std::sync::Mutex::new(None),
        settings,
        parts,
        readers,
        keys,
    });
    let router = pages::router(app);
    tracing::info!(address = %addr, "web gallery ready; `alice web` prints a login URL");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the web gallery stopped");
        }
    });
    Ok(Served { addr, task })
}

/// True for an asset id as the catalog writes them: 64 lowercase hex digits. Anything else in
/// a URL reaches nothing.
pub(crate) fn is_asset_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
