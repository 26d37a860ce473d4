//! The web gallery (`[web]`): what it sees of the daemon, starting it, and its login URLs.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::control::server::DaemonView;
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// The daemon as the gallery sees it: the status `alice status` shows, and the creative
/// commands (so a change from the page is an event on the bus, like one from the CLI).
struct View(Arc<DaemonView>);

impl web::Daemon for View {
    fn status(&self) -> web::BoxFuture<'_, serde_json::Value> {
        Box::pin(async move {
            serde_json::to_value(crate::control::server::status(&self.0).await).unwrap_or_default()
        })
    }

    fn use_project(&self, name: String) -> web::BoxFuture<'_, Result<(), web::Refused>> {
        Box::pin(async move {
            crate::creative::use_project(&self.0.pipeline, &name)
                .await
                .map(drop)
                .map_err(|e| web::Refused(e.to_string()))
        })
    }

    fn choose_style(&self, name: Option<String>) -> web::BoxFuture<'_, Result<(), web::Refused>> {
        Box::pin(async move {
            crate::creative::choose_style(&self.0.pipeline, name, None)
                .await
                .map(drop)
                .map_err(|e| web::Refused(e.to_string()))
        })
    }

    fn similar(&self, asset_id: String) -> web::BoxFuture<'_, Vec<web::Similar>> {
        Box::pin(async move {
            if self.0.near.is_none() {
                return Vec::new();
            }
            match crate::control::server::similar(&self.0, asset_id.clone()).await {
                Ok(view) => view
                    .matches
                    .into_iter()
                    .map(|m| web::Similar {
                        asset_id: m.asset.asset_id,
                        hash_distance: m.hash_distance,
                        grid_mean: m.grid_mean,
                    })
                    .collect(),
                // No fingerprint (yet), or a video: nothing to show; the reason is logged for
                // whoever wonders why a page has no section.
                Err(e) => {
                    tracing::debug!(asset_id, reason = %e, "no near-duplicates shown on the asset page");
                    Vec::new()
                }
            }
        })
    }
}

/// Thumbnails from the visual stage's cache: 256 px tiles, 1024 px on the asset page.
struct CachedThumbnails(visual::ThumbCache);

impl web::Thumbnails for CachedThumbnails {
    fn thumbnail(&self, asset_id: &str, size: web::ThumbSize) -> Option<PathBuf> {
        let px = match size {
            web::ThumbSize::Small => 256,
            web::ThumbSize::Large => 1024,
        };
        self.0.lookup(asset_id, px)
    }
}

/// Starts the gallery when `[web]` is configured; its task runs until aborted.
pub(crate) async fn start(
    cfg: &Config,
    view: Arc<DaemonView>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(w) = &cfg.web else {
        return Ok(None);
    };
    let layout = StateLayout::new(&cfg.state_dir);
    let settings = web::WebSettings {
        listen: w.listen,
        allow_remote: w.allow_remote,
        hosts: w.hosts.clone(),
        catalog: layout.catalog(),
        organized: cfg.organized.clone(),
        secret_file: layout.web_secret(),
    };
    let thumbnails: Arc<dyn web::Thumbnails> = match cfg.visual_enabled() {
        true => Arc::new(CachedThumbnails(visual::ThumbCache::new(
            layout.thumbnails(),
            0,
        ))),
        false => Arc::new(web::NoThumbnails),
    };
    let parts = web::Parts {
        bus: view.pipeline.bus().clone(),
        daemon: Arc::new(View(view)),
        thumbnails,
    };
    web::serve(settings, parts)
        .await
        .map(|served| Some(served.task))
        .map_err(|e| Error::Config(e.to_string()))
}

/// A one-time URL that logs a browser in to the gallery of the daemon running with `cfg`.
pub fn login_url(cfg: &Config) -> Result<String> {
    let Some(w) = &cfg.web else {
        return Err(Error::Config(
            "the web gallery is off; add a [web] section with `listen = \"127.0.0.1:8470\"` to the config and restart the daemon".into(),
        ));
    };
    let secret = StateLayout::new(&cfg.state_dir).web_secret();
    let token = web::login_token(&secret, chrono::Utc::now().timestamp()).map_err(|e| {
        Error::Config(format!(
            "{e}; the daemon writes it when it starts with [web] configured: is it running?"
        ))
    })?;
    Ok(token.url(w.listen))
}
