//! `alice similar`: the near-duplicates of one organized file, from the running daemon's
//! index or, without a daemon, from an index built from the catalog in process.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use daemon::control::{Reply, Request};
use daemon::similar::{SimilarAsset, SimilarView};

use crate::ConfigArgs;
use crate::out::{Out, clean, clean_path};

/// `alice similar` arguments.
#[derive(Args)]
pub struct SimilarArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// An organized file, any copy of a known file (it is hashed), or an asset id.
    #[arg(value_name = "FILE|ASSET_ID")]
    target: String,
    /// Print one JSON object: the asset and its matches (path, size, distances).
    #[arg(long)]
    json: bool,
}

/// `alice similar`. Exit status 0 with near-duplicates, 1 without or on an error.
pub fn similar(args: &SimilarArgs) -> Result<ExitCode> {
    let (cfg, _) = crate::config::load(&args.config)?;
    let catalog = daemon::query::open(&cfg)?;
    let Some(asset) = daemon::query::resolve(&catalog, &args.target)? else {
        eprintln!(
            "alice: {} is not in the catalog (not an asset id, an organized path, or a file \
             whose content alice has seen)",
            clean(&args.target)
        );
        return Ok(ExitCode::from(1));
    };
    drop(catalog);
    let view = match ask_daemon(&cfg, &asset.asset_id) {
        Some(Ok(view)) => view,
        Some(Err(message)) => {
            eprintln!("alice: {message}");
            return Ok(ExitCode::from(1));
        }
        None => match daemon::similar::offline(&cfg, &asset.asset_id) {
            Ok(view) => view,
            Err(e) => {
                eprintln!("alice: {e}");
                return Ok(ExitCode::from(1));
            }
        },
    };
    let mut out = Out::stdout();
    if args.json {
        out.line(&serde_json::to_string(&view)?);
    } else {
        out.text(&describe(&view));
    }
    Ok(if view.matches.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The daemon's answer; `None` when no daemon runs for this config.
fn ask_daemon(cfg: &daemon::Config, asset_id: &str) -> Option<Result<SimilarView, String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let dir = crate::client::runtime_dir();
        let found = daemon::control::client::locate(&cfg.state_dir, dir.as_deref(), None)
            .await
            .ok()?;
        let request = Request::Similar {
            asset_id: asset_id.to_owned(),
        };
        Some(
            match daemon::control::client::request_at(&found.socket, request).await {
                Ok(Reply::Similar(view)) => Ok(*view),
                Ok(other) => Err(format!("the daemon answered {other:?}")),
                Err(e) => Err(e.to_string()),
            },
        )
    })
}

fn dimensions(a: &SimilarAsset) -> String {
    match (a.width, a.height) {
        (Some(w), Some(h)) => format!("{w}x{h}"),
        _ => "size unknown".into(),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.0} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// How a match differs from the asset asked about, in pixels and bytes.
fn differs(asked: &SimilarAsset, other: &SimilarAsset) -> String {
    let pixels = match (dimensions(asked), dimensions(other)) {
        (a, b) if a == b => format!("same size {b}"),
        (_, b) => b,
    };
    let size = if asked.size == other.size {
        "same bytes".to_owned()
    } else {
        bytes(other.size)
    };
    format!("{pixels}, {size}")
}

fn describe(view: &SimilarView) -> String {
    let path = |a: &SimilarAsset| {
        a.path
            .as_deref()
            .map_or_else(|| a.asset_id.clone(), clean_path)
    };
    let asked = &view.asset;
    let mut text = format!(
        "{} ({}, {}): {} near-duplicate{}\n",
        path(asked),
        dimensions(asked),
        bytes(asked.size),
        view.matches.len(),
        if view.matches.len() == 1 { "" } else { "s" }
    );
    for m in &view.matches {
        text.push_str(&format!(
            "  {}\n      {}; hash distance {}/64, grid difference {:.1}\n",
            path(&m.asset),
            differs(asked, &m.asset),
            m.hash_distance,
            m.grid_mean
        ));
    }
    text
}
