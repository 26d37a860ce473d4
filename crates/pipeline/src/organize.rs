//! The organizer stage: for each `MetadataExtracted`, decide ([`crate::decide::outcome`]),
//! then skip, fail (quarantining if configured), finish an earlier placement of the same file,
//! set a duplicate aside, or plan and place a new file under the journal
//! ([`crate::place_journaled`]). Publishes exactly one outcome per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use catalog::{AssetRecord, Catalog, CatalogError, NewSidecar, OpKind};
use events::media::MediaType;
use events::{
    AssetDuplicate, AssetFailed, AssetOrganized, AssetSkipped, MetadataExtracted, OrganizeMode,
    Payload, SidecarFiled,
};
use organizer::{Candidate, OrganizeError, Outcome, PlaceBeneath, Root, SidecarKind};

use crate::batch::{Preparing, Record, Unit as BatchUnit, UnitFile};
use crate::ctx::Ctx;
use crate::decide::{self, Decision};
use crate::group::{self, Unit};
use crate::plan::{OrganizedCopy, PlannedFile, organized_copy, plan_destination};
use crate::sidecar::{self, Sidecar};
use crate::transfer::{TransferError, TransferRequest, open_roots, place_journaled};
use crate::{Msg, PipelineError, Settings, intake, sources};

/// Handles one `MetadataExtracted`.
pub(crate) async fn organize(ctx: &Ctx, m: Msg) -> Result<(), PipelineError> {
    let Payload::MetadataExtracted(x) = &m.0.payload else {
        return Ok(());
    };
    let s = ctx.settings();
    // A batch being filled waits (briefly) for this file, should it need placing.
    let prepared = ctx.batcher.preparing();
    let next = match organize_one(ctx, &s, x, m.0.time, prepared).await {
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

impl From<CatalogError> for Step {
    fn from(e: CatalogError) -> Step {
        Step::Retry(e.into())
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
    arrived: DateTime<Utc>,
    prepared: Preparing,
) -> Result<Payload, Step> {
    let (mut copy, mut follower) = classify(ctx, x).await?;
    if !follower
        && copy == OrganizedCopy::None
        && group::may_await_still(x)
        && wait_for_still(s, x, arrived).await
    {
        (copy, follower) = classify(ctx, x).await?;
    }
    let known = match &copy {
        OrganizedCopy::Present(k) => Some(k),
        OrganizedCopy::None | OrganizedCopy::Gone(_) => None,
    };
    match decide::outcome(&x.media, x.error.as_deref(), known, &x.path, follower) {
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
        Decision::Sidecar => file_sidecar(ctx, s, x).await,
        Decision::SameFile { organized } => finish_same_file(s, x, organized).await,
        Decision::Duplicate { existing } => match gather(ctx, x, true).await? {
            // A member of its group is new: the group is not a duplicate.
            Some(unit) => organize_unit(ctx, s, x, unit, prepared, None).await,
            None => duplicate(ctx, s, x, existing).await,
        },
        Decision::Organize => {
            if let OrganizedCopy::Gone(missing) = copy {
                // Organize this file again rather than calling it a duplicate of something
                // that is gone.
                tracing::info!(asset_id = %x.asset_id, missing = %missing.display(), "the organized copy of this content is gone; organizing it again");
                let id = x.asset_id.clone();
                ctx.db(move |c| forget_organized(c, &id)).await?;
            }
            // One trip to the blocking pool (each costs thread wake-ups): its members organized
            // on their own before it came join it, its group is gathered, and its sequence
            // number and the active style are read.
            let (file, root, numbering) = (x.clone(), s.organized.clone(), numbering_of(s, x));
            let found = ctx
                .db(move |c| {
                    group::rejoin(c, &file, &root)?;
                    match group::gather(c, &file, false)? {
                        Some(unit) => Ok(Some((unit, numbering.read(c)?))),
                        None => Ok(None),
                    }
                })
                .await?;
            match found {
                Some((unit, seq_style)) => {
                    organize_unit(ctx, s, x, unit, prepared, Some(seq_style)).await
                }
                None => Err(Step::Fail("the file's group cannot be gathered".into())),
            }
        }
    }
}

/// Whether `x` travels with another file (a sidecar, or a member of a pair whose still is
/// beside it, organized, or has journaled it), and where its content is organized already.
async fn classify(ctx: &Ctx, x: &MetadataExtracted) -> Result<(OrganizedCopy, bool), Step> {
    let (id, path, other, live) = (
        x.asset_id.clone(),
        x.path.clone(),
        x.media.media_type == MediaType::Other,
        x.media.live_photo_id.clone(),
    );
    Ok(ctx
        .db(move |c| {
            // A member whose group journaled it is one even when its still is already renamed
            // into the tree and not yet recorded there.
            let follower = match other {
                true => sidecar::is_sidecar(Some(c), &path)?,
                false => {
                    sidecar::is_member(Some(c), &path, live.as_deref())?
                        || c.sidecar_journaled_from(&path, &id)?.is_some()
                }
            };
            // A file that leads its own group is a duplicate of content organized as another
            // group's member too; a member itself only asks whether it is organized.
            let copy = match follower {
                true => organized_copy(c, &id)?,
                false => group::content_copy(c, &id)?,
            };
            Ok((copy, follower))
        })
        .await?)
}

/// A file that may be a member of a pair whose still has not come ([`group::may_await_still`])
/// waits until `group_wait` after it `arrived` (the time of its `MetadataExtracted`, so files
/// that queued meanwhile do not wait again), or until a still of its stem appears beside it.
/// True when it waited at all: then it is looked at again.
async fn wait_for_still(s: &Settings, x: &MetadataExtracted, arrived: DateTime<Utc>) -> bool {
    const POLL: Duration = Duration::from_millis(100);
    let until = arrived + s.group_wait;
    let (Some(folder), Some(name)) = (x.path.parent(), x.path.file_name()) else {
        return false;
    };
    let mut waited = false;
    while let Ok(left) = (until - Utc::now()).to_std() {
        if left.is_zero() || sidecar::leader_beside(folder, name).is_some() {
            break;
        }
        waited = true;
        tokio::time::sleep(left.min(POLL)).await;
    }
    waited
}

/// The group `x` leads (see [`group::gather`]).
async fn gather(
    ctx: &Ctx,
    x: &MetadataExtracted,
    leader_known: bool,
) -> Result<Option<Unit>, Step> {
    let file = x.clone();
    Ok(ctx
        .db(move |c| group::gather(c, &file, leader_known))
        .await?)
}

/// The whole group is organized already: set aside (move mode) as one unit, or left.
async fn duplicate(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    existing: PathBuf,
) -> Result<Payload, Step> {
    let moved_to = match s.mode {
        OrganizeMode::Copy => None,
        OrganizeMode::Move => Some(set_aside(ctx, x, &s.duplicates, OpKind::DuplicateMove).await?),
    };
    Ok(Payload::AssetDuplicate(AssetDuplicate {
        asset_id: x.asset_id.clone(),
        path: x.path.clone(),
        existing,
        moved_to,
    }))
}

/// Plans and places the group `unit` led by `x` (see [`crate::group`]): one journaled
/// operation under its primary, in the leader's folder with the leader's date. A file alone
/// (no sidecar, no pair member) goes into the next batch of placements (see [`crate::batch`]);
/// a group is placed on its own, as one journaled operation.
async fn organize_unit(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    unit: Unit,
    prepared: Preparing,
    seq_style: Option<(Option<u64>, Option<String>)>,
) -> Result<Payload, Step> {
    let source = events::source_label(&x.media);
    let (seq, style) = match seq_style {
        Some(read) => read,
        None => {
            let numbering = numbering_of(s, x);
            ctx.db(move |c| numbering.read(c)).await?
        }
    };
    let planned = PlannedFile {
        name: unit.name(),
        asset_id: &unit.asset_id,
        mtime: x.mtime,
        group: unit.label,
    };
    let relative = plan_destination(s, &x.media, &x.project, planned, seq)
        .map_err(|e| Step::Fail(format!("template {:?}: {e}", s.template.as_str())))?;
    let placed = if unit.others.is_empty() && unit.led_by(&x.path) {
        place_alone(ctx, s, x, relative, source, &style, prepared).await?
    } else {
        drop(prepared);
        place_group(ctx, s, x, &unit, relative, source, &style).await?
    };
    Ok(unit_outcome(s, x, &unit, placed, style))
}

/// Places a file without companions in the next batch.
async fn place_alone(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    relative: PathBuf,
    source: &str,
    style: &Option<String>,
    prepared: Preparing,
) -> Result<crate::Transferred, Step> {
    let unit = BatchUnit {
        files: vec![UnitFile {
            asset_id: x.asset_id.clone(),
            kind: match s.mode {
                OrganizeMode::Move => OpKind::Move,
                OrganizeMode::Copy => OpKind::Copy,
            },
            source_root: x.inbox.clone(),
            source: x.path.clone(),
            dest_root: s.organized.clone(),
            relative,
            size: x.size,
            mode: s.mode,
            hashed_as: x.hashed_as,
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
    Ok(crate::Transferred {
        placement,
        sidecars: Vec::new(),
    })
}

/// Places a group as one journaled operation under its primary.
async fn place_group(
    ctx: &Ctx,
    s: &Arc<Settings>,
    x: &MetadataExtracted,
    unit: &Unit,
    relative: PathBuf,
    source: &'static str,
    style: &Option<String>,
) -> Result<crate::Transferred, Step> {
    let (catalog, settings, file, placing, style_kept) = (
        ctx.catalog.clone(),
        s.clone(),
        x.clone(),
        unit.clone(),
        style.clone(),
    );
    blocking(move || {
        let media = group::primary_media(&placing, &file);
        let t = TransferRequest {
            asset_id: &placing.asset_id,
            kind: match settings.mode {
                OrganizeMode::Move => OpKind::Move,
                OrganizeMode::Copy => OpKind::Copy,
            },
            source_root: &file.inbox,
            source: &placing.primary,
            dest_root: &settings.organized,
            relative: &relative,
            size: placing.size,
            mode: settings.mode,
            sidecars: &placing.others,
        };
        let placed = place_journaled(&catalog, &t, |c, op_id, p| {
            record_placement(
                c,
                &catalog::Placement {
                    op_id,
                    asset_id: &placing.asset_id,
                    destination: &p.destination,
                    size: p.bytes,
                    project: &file.project,
                    source,
                    style: style_kept.as_deref(),
                    media: Some(&media),
                },
            )
        })?;
        Ok(placed)
    })
    .await
}

/// The leader's outcome once its group is placed: organized, or (when a new member was the
/// primary) placed beside that member.
fn unit_outcome(
    s: &Settings,
    x: &MetadataExtracted,
    unit: &Unit,
    placed: crate::Transferred,
    style: Option<String>,
) -> Payload {
    if !unit.led_by(&x.path) {
        // The leader's content was organized already; it travels beside the new member.
        let dest = placed.sidecars.iter().find(|p| p.source_path == x.path);
        return sidecar_filed(
            x,
            SidecarKind::Still.as_str().to_owned(),
            Some(unit.asset_id.clone()),
            dest.map(|p| p.destination.clone()),
        );
    }
    let placement = placed.placement;
    let renamed = matches!(
        placement.outcome,
        Outcome::Placed {
            renamed_for_collision: true,
            ..
        }
    );
    Payload::AssetOrganized(AssetOrganized {
        asset_id: x.asset_id.clone(),
        source_path: x.path.clone(),
        destination: placement.destination,
        mode: s.mode,
        project: x.project.clone(),
        source: events::source_label(&x.media).to_owned(),
        style,
        size: x.size,
        renamed_for_collision: renamed,
        sidecars: placed.sidecars,
    })
}

/// The sidecars beside the inbox file `x`, hashed (none when its inbox cannot be opened:
/// the placement then fails on its own).
fn sidecars_beside(x: &MetadataExtracted) -> Vec<Sidecar> {
    match Root::open(&x.inbox) {
        Ok(inbox) => sidecar::find_beside(&inbox, &x.path),
        Err(_) => Vec::new(),
    }
}

/// What a placement of `x` reads for its name: the next sequence number of its project and
/// source (only when the template uses one) and the active style.
struct Numbering {
    seq_of: Option<(String, String)>,
}

fn numbering_of(s: &Settings, x: &MetadataExtracted) -> Numbering {
    let source = events::source_label(&x.media);
    Numbering {
        seq_of: s
            .template
            .uses_seq()
            .then(|| (x.project.clone(), source.to_owned())),
    }
}

impl Numbering {
    fn read(&self, c: &Catalog) -> Result<(Option<u64>, Option<String>), catalog::CatalogError> {
        let seq = match &self.seq_of {
            Some((project, source)) => Some(c.next_seq(project, source)?),
            None => None,
        };
        Ok((seq, c.context()?.active_style))
    }
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
    if s.mode == OrganizeMode::Move && std::fs::symlink_metadata(&x.path).is_ok() {
        let (file, organized) = (x.clone(), organized.clone());
        blocking(move || finish_move(&file, &organized)).await?;
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
        sidecars: Vec::new(),
    }))
}

/// Move mode, after a crash between recording and removing the source: confirms that
/// `organized` holds the content of the inbox file (placing it again finds it already
/// present), then removes the inbox file. Blocking.
fn finish_move(file: &MetadataExtracted, organized: &Path) -> Result<(), Step> {
    let (Some(dir), Some(name)) = (organized.parent(), organized.file_name()) else {
        return Ok(());
    };
    // Wherever it was organized (the organized root may have changed since).
    let (src, dst) = open_roots(&file.inbox, dir)?;
    let placement = organizer::place_beneath(&PlaceBeneath {
        source_root: &src,
        source: &file.path,
        dest_root: &dst,
        relative: Path::new(name),
        asset_id: &file.asset_id,
        expected_size: file.size,
        mode: OrganizeMode::Copy,
        hashed_as: None,
    })?;
    if placement.outcome == Outcome::AlreadyPresent {
        organizer::remove_source_beneath(&src, &file.path, &dst, &placement)?;
    }
    Ok(())
}

/// A sidecar file that arrived on its own: one already placed with its media finishes its
/// move; one whose media is organized is placed beside it, journaled under the media's
/// operation (so it is undone with it); any other waits in the inbox for its media.
async fn file_sidecar(ctx: &Ctx, s: &Settings, x: &MetadataExtracted) -> Result<Payload, Step> {
    let (catalog, file, mode) = (ctx.catalog.clone(), x.clone(), s.mode);
    blocking(move || match file_sidecar_now(&catalog, &file, mode) {
        // Its media's group moved it meanwhile (the group records before it removes).
        Err(_) if let Some(rec) = placed_and_gone(&catalog, &file) => Ok(sidecar_filed(
            &file,
            rec.kind,
            Some(rec.asset_id),
            Some(rec.destination),
        )),
        other => other,
    })
    .await
}

fn file_sidecar_now(
    catalog: &Catalog,
    file: &MetadataExtracted,
    mode: OrganizeMode,
) -> Result<Payload, Step> {
    if let Some(rec) = catalog.sidecar_placed_from(&file.path, &file.asset_id)? {
        if mode == OrganizeMode::Move && std::fs::symlink_metadata(&file.path).is_ok() {
            finish_move(file, &rec.destination)?;
        }
        return Ok(sidecar_filed(
            file,
            rec.kind,
            Some(rec.asset_id),
            Some(rec.destination),
        ));
    }
    let live = file.media.live_photo_id.as_deref();
    match sidecar::organized_leader(catalog, &file.path, live)? {
        Some((media, candidate)) => {
            let dest = place_late_sidecar(catalog, file, &media, &candidate, mode)?;
            let kind = candidate.kind.as_str().to_owned();
            Ok(sidecar_filed(file, kind, Some(media.asset_id), Some(dest)))
        }
        None => waiting(catalog, file, mode),
    }
}

/// A file that travels with another not organized yet. In copy mode a pair's member whose
/// content is organized already is reported a duplicate (nothing moves in copy mode, and its
/// still's group, a duplicate too or not, copies it along if it must), not left listed as
/// waiting forever; anything else waits for its media.
fn waiting(
    catalog: &Catalog,
    file: &MetadataExtracted,
    mode: OrganizeMode,
) -> Result<Payload, Step> {
    if mode == OrganizeMode::Copy
        && file.media.media_type != MediaType::Other
        && let Some(k) = group::known_copy(catalog, &file.asset_id)?
    {
        return Ok(Payload::AssetDuplicate(AssetDuplicate {
            asset_id: file.asset_id.clone(),
            path: file.path.clone(),
            existing: k.organized,
            moved_to: None,
        }));
    }
    Ok(sidecar_filed(file, extension_of(&file.path), None, None))
}

/// The placed sidecar's record, when the inbox file is gone.
fn placed_and_gone(catalog: &Catalog, file: &MetadataExtracted) -> Option<catalog::SidecarRecord> {
    if std::fs::symlink_metadata(&file.path).is_ok() {
        return None;
    }
    catalog
        .sidecar_placed_from(&file.path, &file.asset_id)
        .ok()
        .flatten()
}

/// Places the sidecar `file` beside the organized file of `media`, under the name that keeps
/// the pairing, journaled under the media's operation. Returns where it landed. Blocking.
fn place_late_sidecar(
    catalog: &Catalog,
    file: &MetadataExtracted,
    media: &AssetRecord,
    candidate: &Candidate,
    mode: OrganizeMode,
) -> Result<PathBuf, Step> {
    let (Some(organized), Some(op_id)) = (&media.organized_path, media.op_id) else {
        return Err(Step::Fail(format!(
            "the catalog has no placement of {}",
            media.asset_id
        )));
    };
    let (Some(dir), Some(media_name)) = (organized.parent(), organized.file_name()) else {
        return Err(Step::Fail(format!("{} has no folder", organized.display())));
    };
    let name = PathBuf::from(candidate.name_beside(media_name));
    let (src, dst) = open_roots(&file.inbox, dir)?;
    let planned = dir.join(&name);
    let id = catalog.begin_sidecar(
        op_id,
        &media.asset_id,
        &NewSidecar {
            sidecar_id: &file.asset_id,
            kind: candidate.kind.as_str(),
            size: file.size,
            source: &file.path,
            destination: &planned,
        },
    )?;
    let placed = organizer::place_beneath(&PlaceBeneath {
        source_root: &src,
        source: &file.path,
        dest_root: &dst,
        relative: &name,
        asset_id: &file.asset_id,
        expected_size: file.size,
        mode,
        hashed_as: file.hashed_as,
    });
    let placement = match placed {
        Ok(p) => p,
        Err(e) => {
            if let Err(journal) = catalog.abandon_sidecars(&[id]) {
                tracing::warn!(error = %journal, "cannot mark a failed sidecar placement abandoned; recovery will");
            }
            return Err(e.into());
        }
    };
    catalog.place_sidecars(&[(id, &placement.destination)])?;
    if mode == OrganizeMode::Move && placement.destination != file.path {
        organizer::remove_source_beneath(&src, &file.path, &dst, &placement)?;
    }
    if !candidate.kind.is_member() {
        merge_late_metadata(catalog, media, candidate, &placement.destination);
    }
    Ok(placement.destination)
}

/// What a late sidecar says joins its media's catalog record (so search finds the media by
/// the words of a parameters file that came after it). A sidecar that cannot be read leaves
/// the record as it was.
fn merge_late_metadata(
    catalog: &Catalog,
    media: &AssetRecord,
    candidate: &Candidate,
    placed: &Path,
) {
    let Some(mut info) = media.media.clone() else {
        return;
    };
    let bytes = std::fs::File::open(placed).and_then(|f| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(f, metadata::sidecar::MAX_SIDECAR_BYTES),
            &mut bytes,
        )?;
        Ok(bytes)
    });
    let before = info.clone();
    match bytes {
        Ok(bytes) => sidecar::merge_one(&mut info, candidate, &bytes),
        Err(e) => {
            tracing::warn!(path = %placed.display(), error = %e, "cannot read a placed sidecar's metadata");
            return;
        }
    }
    if info != before
        && let Err(e) = catalog.set_metadata(&media.asset_id, &info)
    {
        tracing::warn!(asset_id = %media.asset_id, error = %e, "cannot record a late sidecar's metadata");
    }
}

/// The kind a sidecar's name says, before its media is known: its extension.
fn extension_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn sidecar_filed(
    x: &MetadataExtracted,
    kind: String,
    media_asset_id: Option<String>,
    destination: Option<PathBuf>,
) -> Payload {
    Payload::SidecarFiled(SidecarFiled {
        asset_id: x.asset_id.clone(),
        path: x.path.clone(),
        kind,
        media_asset_id,
        destination,
    })
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
        let sidecars = sidecars_beside(&file);
        let t = TransferRequest {
            asset_id: &file.asset_id,
            kind,
            source_root: &file.inbox,
            source: &file.path,
            dest_root: &root,
            relative: &relative,
            size: file.size,
            mode: OrganizeMode::Move,
            sidecars: &sidecars,
        };
        let placed = place_journaled(&catalog, &t, |c, op_id, p| {
            c.finish_op(op_id, &p.destination)
        })?;
        Ok(placed.placement.destination)
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
