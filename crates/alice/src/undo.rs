//! `alice undo --last N`: reverse the most recent organize operations, verifying every step.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use catalog::{Catalog, NewOp, OpKind, OpRecord};

use crate::ConfigArgs;
use crate::daemon::load_config;

/// Runs `alice undo`.
pub fn run(args: &ConfigArgs, last: usize) -> Result<ExitCode> {
    let (cfg, _) = load_config(args)?;
    crate::logging::init(
        args.log_format.unwrap_or(cfg.log.format),
        &cfg.log.level,
        false,
    );
    let lock = crate::daemon::lock_state_dir(&cfg.state_dir).context(
        "undo needs the daemon stopped (files moved back into an inbox would be organized again)",
    )?;
    let catalog = Catalog::open(&cfg.state_dir.join("catalog.sqlite3"))?;
    let ops = catalog.last_ops(last)?;
    if ops.is_empty() {
        println!("nothing to undo");
    }
    let mut failures = 0;
    for op in ops {
        match undo_one(&catalog, &op) {
            Ok(msg) => println!("undone #{}: {msg}", op.op_id),
            Err(e) => {
                failures += 1;
                println!("not undone #{}: {e:#}", op.op_id);
            }
        }
    }
    drop(lock);
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn undo_one(catalog: &Catalog, op: &OpRecord) -> Result<String> {
    let dest = &op.destination;
    let src = &op.source;
    match op.kind {
        OpKind::Copy => {
            // Delete the organized copy only when the original is still there, identical.
            let (d, _) = watcher::hash_file(dest)
                .with_context(|| format!("cannot read organized copy {}", dest.display()))?;
            let (s, _) = watcher::hash_file(src).with_context(|| {
                format!(
                    "the original {} is gone, so its copy {} is kept",
                    src.display(),
                    dest.display()
                )
            })?;
            if d.to_hex().as_str() != op.asset_id || s != d {
                bail!(
                    "{} and {} differ from what was organized; both kept",
                    src.display(),
                    dest.display()
                );
            }
            let undo = catalog.begin_op(&NewOp {
                asset_id: &op.asset_id,
                kind: OpKind::Undo,
                source: dest,
                destination: src,
                mode: "delete-copy",
            })?;
            std::fs::remove_file(dest)
                .with_context(|| format!("cannot remove {}", dest.display()))?;
            sync_parent(dest);
            catalog.complete_undo(undo, op.op_id, src)?;
            Ok(format!(
                "removed copy {} (original {} kept)",
                dest.display(),
                src.display()
            ))
        }
        OpKind::Move => {
            let size = std::fs::metadata(dest)
                .with_context(|| format!("organized file {} is missing", dest.display()))?
                .len();
            let (Some(parent), Some(name)) = (src.parent(), src.file_name()) else {
                bail!("original path {} has no folder", src.display());
            };
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot recreate {}", parent.display()))?;
            let undo = catalog.begin_op(&NewOp {
                asset_id: &op.asset_id,
                kind: OpKind::Undo,
                source: dest,
                destination: src,
                mode: "move",
            })?;
            let placement = organizer::place(&organizer::PlaceRequest {
                source: dest,
                dest_root: parent,
                relative: Path::new(name),
                asset_id: &op.asset_id,
                expected_size: size,
                mode: events::OrganizeMode::Move,
            })?;
            catalog.complete_undo(undo, op.op_id, &placement.destination)?;
            if placement.outcome != organizer::Outcome::AlreadyPresent
                || placement.destination != *dest
            {
                organizer::remove_source(dest, &placement)?;
            }
            Ok(format!(
                "moved {} back to {}",
                dest.display(),
                placement.destination.display()
            ))
        }
        other => bail!("operation kind {other} is not undone by this command"),
    }
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(f) = std::fs::File::open(dir)
    {
        let _ = f.sync_all();
    }
}
