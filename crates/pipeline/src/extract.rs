//! The metadata stage: reads each discovered file and publishes what it found
//! (`MetadataExtracted`), or `AssetFailed` when the file cannot be read at all.

use std::path::Path;

use catalog::AssetStatus;
use events::media::MediaType;
use events::{AssetFailed, AssetOrganized, MetadataExtracted, OrganizeMode, Payload, SidecarFiled};

use crate::ctx::Ctx;
use crate::{Msg, PipelineError, sources};

/// Handles one `AssetDiscovered`.
pub(crate) async fn extract(ctx: &Ctx, m: Msg) -> Result<(), PipelineError> {
    let Payload::AssetDiscovered(d) = &m.0.payload else {
        return Ok(());
    };
    let (path, inbox) = (d.path.clone(), d.inbox.clone());
    let result = tokio::task::spawn_blocking(move || extract_with_sidecars(&inbox, &path))
        .await
        .map_err(PipelineError::join)?;
    let next: Payload = match result {
        Ok(ex) => MetadataExtracted {
            asset_id: d.asset_id.clone(),
            path: d.path.clone(),
            size: d.size,
            mtime: d.mtime,
            inbox: d.inbox.clone(),
            project: d.project.clone(),
            media: ex.info,
            error: ex.error.map(|e| e.to_string()),
            hashed_as: d.hashed_as,
        }
        .into(),
        Err(_) if let Some(rec) = organized_from_here_and_gone(ctx, &d.asset_id, &d.path).await => {
            // Another delivery of this very file (a replay racing the start-up scan) moved it
            // into the organized tree meanwhile: that is this pipeline's outcome too.
            organized_record(&rec, &d.path, ctx.settings().mode)
        }
        Err(_) if let Some(rec) = placed_sidecar_gone(ctx, &d.asset_id, &d.path).await => {
            // A sidecar its media's group moved into the organized tree meanwhile.
            SidecarFiled {
                asset_id: d.asset_id.clone(),
                path: d.path.clone(),
                kind: rec.kind,
                media_asset_id: Some(rec.asset_id),
                destination: Some(rec.destination),
            }
            .into()
        }
        // The file could not be opened or read (gone for a moment, permissions): not a
        // verdict on its content, so stage "read", which later scans try again.
        Err(e) => AssetFailed {
            asset_id: Some(d.asset_id.clone()),
            path: d.path.clone(),
            stage: "read".into(),
            error: e.to_string(),
            quarantined_to: None,
        }
        .into(),
    };
    ctx.publish(m.0.follow(sources::METADATA, next)).await
}

/// The asset's record, when it was organized from `path` and `path` is gone (moved into the
/// organized tree by another delivery of the same file).
pub(crate) async fn organized_from_here_and_gone(
    ctx: &Ctx,
    asset_id: &str,
    path: &Path,
) -> Option<catalog::AssetRecord> {
    if std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    let id = asset_id.to_owned();
    let rec = ctx.db(move |c| c.asset(&id)).await.ok()??;
    (rec.status == AssetStatus::Organized
        && rec.original_path == path
        && rec.organized_path.is_some())
    .then_some(rec)
}

/// Reads the media file at `path` (beneath `inbox`), merged with what the sidecars beside it
/// say ([`crate::sidecar::merge_beside`]): what the metadata stage and dry runs both read.
/// Blocking.
pub fn extract_with_sidecars(
    inbox: &Path,
    path: &Path,
) -> Result<metadata::Extraction, metadata::MetadataError> {
    let mut ex = metadata::extract_path(path)?;
    if ex.info.media_type != MediaType::Other
        && let Ok(root) = organizer::Root::open(inbox)
    {
        crate::sidecar::merge_beside(&root, path, &mut ex.info);
    }
    Ok(ex)
}

/// The sidecar placed from `path` with content `asset_id`, when `path` is gone (moved with
/// its media).
async fn placed_sidecar_gone(
    ctx: &Ctx,
    asset_id: &str,
    path: &Path,
) -> Option<catalog::SidecarRecord> {
    if std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    let (id, p) = (asset_id.to_owned(), path.to_path_buf());
    ctx.db(move |c| c.sidecar_placed_from(&p, &id)).await.ok()?
}

/// `AssetOrganized` from the catalog's record of an earlier placement.
fn organized_record(rec: &catalog::AssetRecord, path: &Path, mode: OrganizeMode) -> Payload {
    Payload::AssetOrganized(AssetOrganized {
        asset_id: rec.asset_id.clone(),
        source_path: path.to_path_buf(),
        destination: rec.organized_path.clone().unwrap_or_default(),
        mode,
        project: rec.project.clone().unwrap_or_default(),
        source: rec.source.clone().unwrap_or_default(),
        style: rec.style.clone(),
        size: rec.size,
        renamed_for_collision: false,
        sidecars: Vec::new(),
    })
}
