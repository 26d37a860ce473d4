//! `alice undo --last N`: reverse the most recent organize operations, verifying every step.

use std::process::ExitCode;

use anyhow::{Context, Result};
use catalog::Catalog;

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
        match pipeline::undo_op(&catalog, &op, &cfg.organized) {
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
