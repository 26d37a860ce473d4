//! `alice run`, `scan`, `worker`, `undo`: set up logging and a runtime, call the daemon
//! library, print what it reports.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use daemon::dry_run::PlanItem;
use daemon::notify::Notifier;
use daemon::signals::StopSignals;
use daemon::{Host, StopReport};

use crate::out::{Out, clean, clean_path};
use crate::{ConfigArgs, client, config, logging};

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .context("cannot start the async runtime")
}

fn exit_code(report: &StopReport) -> ExitCode {
    if report.failure.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `alice run`.
pub fn watch(args: &ConfigArgs) -> Result<ExitCode> {
    let (cfg, origin) = config::load(args)?;
    config::create_default_folders(&cfg, &origin)?;
    let levels = logging::init(&cfg, crate::log_format_flag(), true);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "alice starting");
    let rt = runtime("alice")?;
    let report = rt.block_on(async move {
        let signals = StopSignals::install();
        let host = Host {
            config_origin: origin.description.clone(),
            config_file: Some(origin.follow.clone()),
            load_config: Box::new(move || config::reload(&origin)),
            set_log_level: Box::new(move |level| levels.set(level)),
            notifier: Notifier::from_env(),
            runtime_dir: client::runtime_dir(),
        };
        daemon::running::watch(cfg, host, signals).await
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(exit_code(&report?))
}

/// `alice scan [--dry-run]`.
pub fn scan(args: &ConfigArgs, dry_run: bool) -> Result<ExitCode> {
    let (cfg, origin) = config::load(args)?;
    if !dry_run {
        config::create_default_folders(&cfg, &origin)?;
    }
    let _levels = logging::init(&cfg, crate::log_format_flag(), false);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "alice starting");
    let rt = runtime("alice")?;
    let code = rt.block_on(async move {
        if dry_run {
            return plan(&cfg).await;
        }
        let bar = crate::progress::Bar::start();
        let report = daemon::scan::scan(cfg, bar.as_ref().map(|b| b.callback())).await?;
        if let Some(bar) = bar {
            bar.finish();
        }
        let t = &report.run;
        Out::stdout().line(&format!(
            "organized {}, duplicates {}, skipped {}, failed {}{} ({} files hashed, {} known by identity, {:.1} s)",
            t.organized,
            t.duplicates,
            t.skipped,
            t.failed,
            sidecar_count(t.sidecars),
            report.files_hashed,
            report.identity_cache_hits,
            report.elapsed_ms as f64 / 1000.0
        ));
        Ok(exit_code(&report))
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

/// ", sidecars N" when sidecars were handled on their own (nothing otherwise, so the line
/// reads as before for inboxes without them).
fn sidecar_count(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", sidecars {n}")
    }
}

/// " (group with a, b)" for a file whose pair members travel with it.
fn group_note(members: &[std::path::PathBuf]) -> String {
    if members.is_empty() {
        return String::new();
    }
    let names: Vec<String> = members.iter().map(|m| clean_path(m)).collect();
    format!(" (group with {})", names.join(", "))
}

fn plan_line(item: &PlanItem) -> String {
    use daemon::dry_run::PlannedAction as A;
    // Names come from whoever wrote the inbox: escaped, one line per file whatever they hold.
    let p = clean_path(&item.path);
    match &item.action {
        A::Organize {
            destination,
            members,
        } => format!(
            "organize  {p} -> {}{}",
            clean_path(destination),
            group_note(members)
        ),
        A::Member {
            leader: Some(l), ..
        } => format!(
            "member    {p}: travels with {} as one group, into its folder",
            clean_path(l)
        ),
        A::Member {
            leader: None,
            destination,
        } => match destination {
            Some(d) => format!(
                "member    {p} -> {} (beside its organized still)",
                clean_path(d)
            ),
            None => format!("member    {p}: travels with its still; waits in the inbox until then"),
        },
        A::Duplicate { existing } => {
            format!("duplicate {p} (same content as {})", clean_path(existing))
        }
        A::SameFile { organized } => format!(
            "finish    {p}: already organized as {}; only the move is finished",
            clean_path(organized)
        ),
        A::Skip { reason } => format!("skip      {p}: {}", clean(reason)),
        A::Fail { error } => format!("fail      {p}: {}", clean(error)),
        A::Sidecar {
            destination: Some(d),
        } => format!(
            "sidecar   {p} -> {} (beside its organized media)",
            clean_path(d)
        ),
        A::Sidecar { destination: None } => format!(
            "sidecar   {p}: travels with its media file when that is organized; waits in the inbox until then"
        ),
    }
}

async fn plan(cfg: &daemon::Config) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let s = daemon::dry_run::dry_run(cfg, |item| out.line(&plan_line(item))).await?;
    out.line(&format!(
        "dry run: would organize {}, duplicates {}, skipped {}, failed {}{}; nothing was changed{}",
        s.organize,
        s.duplicates,
        s.skipped,
        s.failed,
        sidecar_count(s.sidecars),
        if s.uses_seq {
            " (sequence numbers shown are counted from 1 for this plan only)"
        } else {
            ""
        }
    ));
    Ok(ExitCode::SUCCESS)
}

/// `alice worker <stage>`.
pub fn worker(
    args: &ConfigArgs,
    stage: daemon::Stage,
    consumer: Option<String>,
) -> Result<ExitCode> {
    let (cfg, origin) = config::load(args)?;
    let _levels = logging::init(&cfg, crate::log_format_flag(), true);
    let rt = runtime("alice-worker")?;
    let spec = daemon::worker::WorkerSpec {
        stage,
        consumer,
        origin: origin.description,
        runtime_dir: client::runtime_dir(),
        notifier: Notifier::from_env(),
    };
    let done =
        rt.block_on(async move { daemon::worker::run(cfg, spec, StopSignals::install()).await });
    rt.shutdown_timeout(Duration::from_secs(2));
    done?;
    Ok(ExitCode::SUCCESS)
}

/// `alice undo --last N`.
pub fn undo(args: &ConfigArgs, last: usize) -> Result<ExitCode> {
    let (cfg, _) = config::load(args)?;
    logging::init(&cfg, crate::log_format_flag(), false);
    let results = daemon::undo::undo(&cfg, last)?;
    let mut out = Out::stdout();
    if results.is_empty() {
        out.line("nothing to undo");
    }
    let mut failures = 0;
    for r in results {
        match r.outcome {
            Ok(msg) => out.line(&format!("undone #{}: {msg}", r.op_id)),
            Err(e) => {
                failures += 1;
                out.line(&format!("not undone #{}: {e}", r.op_id));
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
