//! Reading the library without the daemon: `alice search`, `show`, `project list`,
//! `inspect`. The catalog is opened read-only (SQLite's WAL lets a reader see the last
//! committed state while the daemon writes), so these work with or without a daemon running.

use std::path::Path;

pub use catalog::{
    AssetRecord, Catalog, Edge, HistoryEntry, Project, SearchHit, SearchQuery, SidecarRecord,
    Snippet, StoredEvent, TimeBound,
};
pub use metadata::Extraction;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// Opens the catalog of `cfg` read-only, with an error that says how to create one.
pub fn open(cfg: &Config) -> Result<Catalog> {
    let path = StateLayout::new(&cfg.state_dir).catalog();
    if !path.exists() {
        return Err(Error::Config(format!(
            "there is no catalog at {} yet; start the daemon (`alice run`) or run `alice scan` once with this config",
            path.display()
        )));
    }
    Ok(Catalog::open_readonly(&path)?)
}

/// The projects and the active one; `None` when there is no catalog yet.
pub fn projects(cfg: &Config) -> Result<Option<(Vec<Project>, Option<String>)>> {
    if !StateLayout::new(&cfg.state_dir).catalog().exists() {
        return Ok(None);
    }
    let c = open(cfg)?;
    Ok(Some((c.list_projects()?, c.context()?.active_project)))
}

/// Finds the asset `target` names: an asset id, an organized path, or any file whose content
/// the catalog knows (it is hashed).
pub fn resolve(catalog: &Catalog, target: &str) -> Result<Option<AssetRecord>> {
    let is_id = target.len() == 64 && target.bytes().all(|b| b.is_ascii_hexdigit());
    if is_id && let Some(a) = catalog.asset(&target.to_ascii_lowercase())? {
        return Ok(Some(a));
    }
    let given = Path::new(target);
    let absolute = std::path::absolute(given)
        .map_err(|e| Error::io("cannot make an absolute path of", given, e))?;
    if let Some(a) = catalog.asset_by_organized_path(&absolute)? {
        return Ok(Some(a));
    }
    if let Ok(real) = absolute.canonicalize()
        && let Some(a) = catalog.asset_by_organized_path(&real)?
    {
        return Ok(Some(a));
    }
    if absolute.is_file() {
        let (hash, _) =
            watcher::hash_file(&absolute).map_err(|e| Error::io("cannot read", &absolute, e))?;
        return Ok(catalog.asset(&hash.to_hex())?);
    }
    Ok(None)
}

/// What the daemon would know about one file: its asset id and metadata.
#[derive(Debug)]
pub struct Inspection {
    /// BLAKE3 of the content.
    pub asset_id: String,
    /// The metadata reader's result (with `error` for corrupt media).
    pub extraction: Extraction,
}

/// Hashes and reads `path` as the pipeline would, with the sidecars beside it; the error says
/// why it could not be opened.
pub fn inspect(path: &Path) -> std::result::Result<Inspection, String> {
    let (hash, _) =
        watcher::hash_file(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let folder = absolute.parent().unwrap_or(Path::new("/"));
    let extraction = pipeline::extract_with_sidecars(folder, &absolute)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Inspection {
        asset_id: hash.to_hex().to_string(),
        extraction,
    })
}

/// Where `alice events replay` starts.
pub use streams::ReplayFrom;

fn stream_config(cfg: &Config, origin: &str) -> Result<streams::StreamConfig> {
    let r = cfg.redis.as_ref().ok_or_else(|| {
        Error::Config(format!(
            "there is no [redis] section in {origin}; events are only kept in the catalog (alice show)"
        ))
    })?;
    r.stream_config(&cfg.state_dir, cfg.visual_enabled())
}

/// Calls `each` with every stored event's JSON from the Redis stream, from `start`; returns
/// how many were read and from where.
pub async fn stream_replay(
    cfg: &Config,
    origin: &str,
    start: ReplayFrom,
    each: impl FnMut(&str),
) -> Result<(u64, String)> {
    let sc = stream_config(cfg, origin)?;
    let n = streams::replay(&sc, start, None, each).await?;
    Ok((n, sc.to_string()))
}

/// Calls `each` with every event appended to the Redis stream from now on, until the
/// connection fails.
pub async fn stream_tail(cfg: &Config, origin: &str, each: impl FnMut(&str)) -> Result<()> {
    let sc = stream_config(cfg, origin)?;
    Ok(streams::tail(&sc, each).await?)
}
