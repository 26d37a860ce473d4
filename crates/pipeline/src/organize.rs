//! The organizer stage: for each `MetadataExtracted`, decide ([`crate::decide::outcome`]),
//! then skip, fail (quarantining if configured), finish an earlier placement of the same file,
//! set a duplicate aside, or plan and place a new file under the journal
//! ([`crate::place_journaled`]). Publishes exactly one outcome per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog::{Catalog, CatalogError, OpKind};
use events::{
    AssetDuplicate, AssetFailed, AssetOrganized, AssetSkipped, MetadataExtracted, OrganizeMode,
    Payload,
};
use organizer::{OrganizeError, Outcome, PlaceBeneath};

use crate::batch::{Preparing, Record, Unit, UnitFile};
use crate::ctx::Ctx;
use crate::decide::{self, Decision};
use crate::plan::{OrganizedCopy, organized_copy, plan_destination};
use crate::transfer::{TransferError, TransferRequest, place_journaled};
use crate::{Msg, PipelineError, Settings, intake, sources};

/// Handles one `MetadataExtracted`.
pub(crate) async fn organize(ctx: &Ctx, m: Msg) -> Result<(), PipelineError> {
    let Payload::MetadataExtracted(x) = &m.0.payload else {
        return Ok(());
    };
    let s = ctx.settings();
    // A batch being filled waits (briefly) for this file, should it need placing.
    let prepared = ctx.batcher.preparing();
    let next = match organize_one(ctx, &s, x, prepared).await {
        Ok(payload) => payload,
        Err(Step::Retry(e)) => return Err(e),
        Err(Step::Fail(error)) => failed(x, "organize", error, None),
        Err(Step::Changed(error)) => {
            // The content is not what was hashed: forget what we thought we knew about this
            // file so the next scan (or its next change) hashes it afresh.
            intake::forget_identity(ctx, &x.path).await;
            // The error itself says the file will be hashed and organized again.
            failed(x, "organize", error, None)
        }
    };
    ctx.publish(m.0.follow(sources::ORGANIZER, next)).await
}

/// How a step of the organizer ends when it does not produce an outcome.
enum Step {
    /// Worth another attempt (the bus retries with backoff).
    Retry(PipelineError),
    /// Final: report `AssetFailed`.
    Fail(String),
    /// The file is not the content that was hashed: report it and forget its identity.
    Changed(String),
}

impl From<PipelineError> for Step {
    fn from(e: PipelineError) -> Step {
        Step::Retry(e)
    }
}

impl From<OrganizeError> for Step {
    fn from(e: OrganizeError) -> Step {
        if matches!(e, OrganizeError::SourceChanged { .. }) {
            Step::Changed(e.to_string())
        } else if e.is_transient() {
            Step::Retry(e.into())
        } else {
            Step::Fail(e.to_string())
        }
    }
}

impl From<TransferError> for Step {
    fn from(e: TransferError) -> Step {
        match e {
            TransferError::Catalog(c) => Step::Retry(c.into()),
            TransferError::Batch(e) => Step::Retry(PipelineError::Batch(e)),
            TransferError::Place(e) | TransferError::RemoveSource(e) => e.into(),
        }
    }
}

/// Runs `f` on a blocking thread; a panic there is worth a retry.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Step> + Send + 'static,
) -> Result<T, Step> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Step::Retry(PipelineError::join(e)))?
}

async fn organize_one(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    prepared: Preparing,
) -> Result<Payload, Step> {
    let id = x.asset_id.clone();
    let copy = ctx.db(move |c| organized_copy(c, &id)).await?;
    let known = match &copy {
        OrganizedCopy::Present(k) => Some(k),
        OrganizedCopy::None | OrganizedCopy::Gone(_) => None,
    };
    match decide::outcome(&x.media, x.error.as_deref(), known, &x.path) {
        Decision::Skip { reason } => Ok(Payload::AssetSkipped(AssetSkipped {
            asset_id: x.asset_id.clone(),
            path: x.path.clone(),
            reason,
        })),
        Decision::Fail { error } => {
            let quarantined = match &s.quarantine {
                Some(q) => Some(set_aside(ctx, x, q, OpKind::Quarantine).await?),
                None => None,
            };
            Ok(failed(x, "metadata", error, quarantined))
        }
        Decision::SameFile { organized } => finish_same_file(s, x, organized).await,
        Decision::Duplicate { existing } => {
            let moved_to = match s.mode {
                OrganizeMode::Copy => None,
                OrganizeMode::Move => {
                    Some(set_aside(ctx, x, &s.duplicates, OpKind::DuplicateMove).await?)
                }
            };
            Ok(Payload::AssetDuplicate(AssetDuplicate {
                asset_id: x.asset_id.clone(),
                path: x.path.clone(),
                existing,
                moved_to,
            }))
        }
        Decision::Organize => {
            if let OrganizedCopy::Gone(missing) = copy {
                // Organize this file again rather than calling it a duplicate of something
                // that is gone.
                tracing::info!(asset_id = %x.asset_id, missing = %missing.display(), "the organized copy of this content is gone; organizing it again");
                let id = x.asset_id.clone();
                ctx.db(move |c| forget_organized(c, &id)).await?;
            }
            organize_new(ctx, s, x, prepared).await
        }
    }
}

/// Plans a file whose content is not organized yet and places it in the next batch.
async fn organize_new(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    prepared: Preparing,
) -> Result<Payload, Step> {
    let source = events::source_label(&x.media);
    let (seq, style) = seq_and_style(ctx, s, &x.project, source).await?;
    let relative = plan_destination(
        &s.template,
        &x.media,
        &x.project,
        x.path.file_name().unwrap_or_default(),
        &x.asset_id,
        x.mtime,
        seq,
    )
    .map_err(|e| Step::Fail(format!("template {:?}: {e}", s.template.as_str())))?;
    let kind = match s.mode {
        OrganizeMode::Move => OpKind::Move,
        OrganizeMode::Copy => OpKind::Copy,
    };
    let unit = Unit {
        files: vec![UnitFile {
            asset_id: x.asset_id.clone(),
            kind,
            source_root: x.inbox.clone(),
            source: x.path.clone(),
            dest_root: s.organized.clone(),
            relative,
            size: x.size,
            mode: s.mode,
            record: Record::Organized {
                project: x.project.clone(),
                source: source.to_owned(),
                style: style.clone(),
                media: Box::new(x.media.clone()),
            },
        }],
    };
    let placed = ctx.batcher.place(unit, prepared).await?;
    let placement = placed
        .into_iter()
        .next()
        .ok_or_else(|| Step::Retry(PipelineError::Batch("no result for the file".into())))??;
    let renamed = matches!(
        placement.outcome,
        Outcome::Placed {
            renamed_for_collision: true,
            ..
        }
    );
    Ok(Payload::AssetOrganized(AssetOrganized {
        asset_id: x.asset_id.clone(),
        source_path: x.path.clone(),
        destination: placement.destination,
        mode: s.mode,
        project: x.project.clone(),
        source: source.to_owned(),
        style,
        size: x.size,
        renamed_for_collision: renamed,
    }))
}

/// The next sequence number (when the template uses one) and the active style.
async fn seq_and_style(
    ctx: &Ctx,
    s: &Settings,
    project: &str,
    source: &str,
) -> Result<(Option<u64>, Option<String>), PipelineError> {
    let uses_seq = s.template.uses_seq();
    let (project, source) = (project.to_owned(), source.to_owned());
    ctx.db(move |c| {
        let seq = if uses_seq {
            Some(c.next_seq(&project, &source)?)
        } else {
            None
        };
        Ok((seq, c.context()?.active_style))
    })
    .await
}

/// Marks the asset organized at its placement (step 3 of the journal protocol).
pub(crate) fn record_placement(
    c: &Catalog,
    placement: &catalog::Placement<'_>,
) -> Result<(), CatalogError> {
    match c.complete_placement(placement) {
        // The catalog still names another asset at this path, but the name was free on disk
        // (the no-replace rename succeeded): that file was deleted or moved away by the user.
        // Its record is stale: un-organize it, then record this one.
        Err(CatalogError::DestinationTaken { other, .. }) => {
            forget_organized(c, &other)?;
            c.complete_placement(placement)
        }
        other => other,
    }
}

/// Un-organizes an asset whose organized file is gone (its operation is marked undone).
fn forget_organized(c: &Catalog, asset_id: &str) -> Result<(), CatalogError> {
    match c.asset(asset_id)?.and_then(|r| r.op_id) {
        Some(op) => c.mark_undone(op),
        None => Ok(()),
    }
}

/// This very file was organized before: a replay, or a move interrupted after it was
/// recorded. In move mode, confirm the organized copy holds this content (placing it again
/// finds it already present), then remove the source. A source already gone was removed by an
/// earlier delivery of this same file.
async fn finish_same_file(
    s: &Settings,
    x: &MetadataExtracted,
    organized: PathBuf,
) -> Result<Payload, Step> {
    if s.mode == OrganizeMode::Move
        && std::fs::symlink_metadata(&x.path).is_ok()
        && let (Some(dir), Some(name)) = (organized.parent(), organized.file_name())
    {
        // Wherever it was organized (the organized root may have changed since).
        let (dir, name, file) = (dir.to_path_buf(), PathBuf::from(name), x.clone());
        blocking(move || {
            let (src, dst) = crate::transfer::open_roots(&file.inbox, &dir)?;
            let placement = organizer::place_beneath(&PlaceBeneath {
                source_root: &src,
                source: &file.path,
                dest_root: &dst,
                relative: &name,
                asset_id: &file.asset_id,
                expected_size: file.size,
                mode: OrganizeMode::Copy,
            })?;
            if placement.outcome == Outcome::AlreadyPresent {
                organizer::remove_source_beneath(&src, &file.path, &dst, &placement)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(Payload::AssetOrganized(AssetOrganized {
        asset_id: x.asset_id.clone(),
        source_path: x.path.clone(),
        destination: organized,
        mode: s.mode,
        project: x.project.clone(),
        source: events::source_label(&x.media).to_owned(),
        style: None,
        size: x.size,
        renamed_for_collision: false,
    }))
}

/// Moves the inbox file into `root` (duplicates or quarantine) under its own name, without
/// replacing anything, journaled like any placement.
async fn set_aside(
    ctx: &Ctx,
    x: &MetadataExtracted,
    root: &Path,
    kind: OpKind,
) -> Result<PathBuf, Step> {
    let (catalog, file, root) = (ctx.catalog.clone(), x.clone(), root.to_path_buf());
    blocking(move || {
        std::fs::create_dir_all(&root)
            .map_err(|e| Step::Fail(format!("cannot create folder {}: {e}", root.display())))?;
        let relative = PathBuf::from(organizer::sanitize_name(
            file.path.file_name().unwrap_or_default(),
        ));
        let t = TransferRequest {
            asset_id: &file.asset_id,
            kind,
            source_root: &file.inbox,
            source: &file.path,
            dest_root: &root,
            relative: &relative,
            size: file.size,
            mode: OrganizeMode::Move,
        };
        let placed = place_journaled(&catalog, &t, |c, op_id, p| {
            c.finish_op(op_id, &p.destination)
        })?;
        Ok(placed.destination)
    })
    .await
}

fn failed(
    x: &MetadataExtracted,
    stage: &str,
    error: String,
    quarantined_to: Option<PathBuf>,
) -> Payload {
    Payload::AssetFailed(AssetFailed {
        asset_id: Some(x.asset_id.clone()),
        path: x.path.clone(),
        stage: stage.into(),
        error,
        quarantined_to,
    })
}
