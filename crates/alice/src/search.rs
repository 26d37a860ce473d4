//! `alice search` and `alice show`: read the catalog directly, read-only.
//!
//! Both open the catalog with `Catalog::open_readonly`: SQLite's WAL lets them read the last
//! committed state while the daemon writes, and they work just as well with no daemon running.
//! The search index is updated by triggers in the transaction that records a placement, so a
//! file is findable as soon as the daemon reports it organized.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Local, Utc};
use clap::{Args, ValueEnum};
use daemon::query::{
    AssetRecord, Catalog, Edge, HistoryEntry, SearchHit, SearchQuery, Snippet, StoredEvent,
    TimeBound,
};
use events::media::{AiSignal, MediaType};
use serde_json::Value;

use crate::ConfigArgs;
use crate::out::{Out, clean, clean_path};

/// Arguments of `alice search`.
#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Words to find in prompts, negative prompts, original file names, models, projects and
    /// styles. Every word must match (case and accents do not matter); the last one also
    /// matches as a prefix. Quotes, `-`, `*`, `OR` and the like are plain text. Leave it out
    /// to list by the filters alone (newest capture date first).
    #[arg(value_name = "QUERY")]
    query: Vec<String>,
    /// Only this source label: midjourney, stable-diffusion, flux, camera, other, …
    #[arg(long, value_name = "LABEL")]
    source: Option<String>,
    /// Only this project.
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
    /// Only this style.
    #[arg(long, value_name = "NAME")]
    style: Option<String>,
    /// Only models whose name contains this (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    model: Option<String>,
    /// Only files made with a LoRA whose name contains this (case-insensitive).
    #[arg(long, value_name = "NAME")]
    lora: Option<String>,
    /// Taken (else organized) at or after: 2024-03-15, 2024-03-15T14:30, or an age: 12h,
    /// 7d, 2w. Capture times are compared as the wall-clock time where they were taken.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Taken (else organized) before; a bare date includes that whole day.
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only images or only videos.
    #[arg(long, value_enum, value_name = "KIND")]
    media: Option<MediaKind>,
    /// Only AI-generated files (`yes`: the provenance verdict says so, or an AI tool was
    /// recognized) or only the others (`no`).
    #[arg(long, value_enum, value_name = "YES|NO")]
    ai: Option<YesNo>,
    /// At most this many results (0: all of them). When there are more, stderr says so.
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: usize,
    /// One JSON object per result and line, with the full record.
    #[arg(long)]
    json: bool,
}

/// Arguments of `alice show`.
#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// An organized file, any copy of a known file (it is hashed), or an asset id.
    #[arg(value_name = "PATH|ASSET_ID")]
    target: String,
    /// Print one JSON object: the record and its events.
    #[arg(long)]
    json: bool,
}

/// `--ai`.
#[derive(Clone, Copy, ValueEnum)]
pub enum YesNo {
    /// Only these.
    Yes,
    /// Only the others.
    No,
}

/// `--media`.
#[derive(Clone, Copy, ValueEnum)]
pub enum MediaKind {
    /// Still images.
    Image,
    /// Videos.
    Video,
}

fn open_catalog(args: &ConfigArgs) -> Result<Catalog> {
    let (cfg, _) = crate::config::load(args)?;
    Ok(daemon::query::open(&cfg)?)
}

fn bound(text: Option<&str>, edge: Edge, flag: &str) -> Result<Option<TimeBound>> {
    text.map(|t| {
        TimeBound::parse(t, edge, &Local::now()).with_context(|| format!("invalid {flag}"))
    })
    .transpose()
}

/// `alice search`. Exit status 0 with results, 1 without (like grep).
pub fn search(args: &SearchArgs) -> Result<ExitCode> {
    let query = SearchQuery {
        text: args.query.join(" "),
        source: args.source.clone(),
        project: args.project.clone(),
        style: args.style.clone(),
        model: args.model.clone(),
        lora: args.lora.clone(),
        since: bound(args.since.as_deref(), Edge::Since, "--since")?,
        until: bound(args.until.as_deref(), Edge::Until, "--until")?,
        media_type: args.media.map(|m| match m {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
        }),
        ai: args.ai.map(|a| matches!(a, YesNo::Yes)),
        // One more than shown, to know whether there are more.
        limit: match args.limit {
            0 => usize::MAX,
            n => n + 1,
        },
        ..SearchQuery::default()
    };
    let catalog = open_catalog(&args.config)?;
    let mut hits = catalog.find(&query)?;
    let more = args.limit > 0 && hits.len() > args.limit;
    hits.truncate(if args.limit == 0 {
        hits.len()
    } else {
        args.limit
    });
    tracing::debug!(query = %query.text, hits = hits.len(), "search done");
    let mut out = Out::stdout();
    let marks = Marks::for_stdout();
    for hit in &hits {
        if args.json {
            let line = serde_json::to_string(&daemon::views::HitJson {
                asset: daemon::views::AssetJson::from(&hit.asset),
                score: hit.score,
                snippet: hit.snippet.as_ref().map(|s| s.render("[", "]")),
            })?;
            out.line(&line);
        } else {
            out.line(&result_line(hit, &marks));
        }
        if out.closed() {
            break;
        }
    }
    if more && !out.closed() {
        eprintln!(
            "alice: showing the first {} matches; there are more (--limit N to see more, --limit 0 for all, or narrow the search)",
            args.limit
        );
    }
    Ok(if hits.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How matches are marked on the human output.
struct Marks {
    open: &'static str,
    close: &'static str,
}

impl Marks {
    /// ANSI bold on a terminal (unless NO_COLOR is set), nothing otherwise: brackets would
    /// read as prompt syntax (A1111 writes `[word]` itself).
    fn for_stdout() -> Marks {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        if color {
            Marks {
                open: "\x1b[1m",
                close: "\x1b[0m",
            }
        } else {
            Marks {
                open: "",
                close: "",
            }
        }
    }
}

fn render_snippet(s: &Snippet, marks: &Marks) -> String {
    let mut out = String::new();
    let mut at = 0;
    for m in &s.marks {
        out.push_str(&clean(&s.text[at..m.start]));
        out.push_str(marks.open);
        out.push_str(&clean(&s.text[m.clone()]));
        out.push_str(marks.close);
        at = m.end;
    }
    out.push_str(&clean(&s.text[at..]));
    out
}

/// The date shown for an asset: its capture time as taken, else when it was organized (local
/// time).
fn shown_date(a: &AssetRecord) -> String {
    if let Some(t) = a.media.as_ref().and_then(|m| m.taken_at) {
        return t.local.format("%Y-%m-%d %H:%M").to_string();
    }
    a.organized_at
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

fn prompt(a: &AssetRecord) -> Option<&str> {
    a.media.as_ref()?.ai.as_ref()?.prompt.as_deref()
}

/// `organized-path<TAB>date<TAB>source<TAB>snippet`.
fn result_line(hit: &SearchHit, marks: &Marks) -> String {
    let a = &hit.asset;
    let path = a.organized_path.as_ref().unwrap_or(&a.original_path);
    let text = match (&hit.snippet, prompt(a)) {
        (Some(s), _) => render_snippet(s, marks),
        (None, Some(p)) => {
            let short: String = p.chars().take(100).collect();
            let cut = if short.len() < p.len() { "…" } else { "" };
            format!("{}{cut}", clean(&short))
        }
        (None, None) => String::new(),
    };
    format!(
        "{}\t{}\t{}\t{}",
        clean_path(path),
        shown_date(a),
        clean(a.source.as_deref().unwrap_or("-")),
        text
    )
}

/// `alice show`. Exit status 1 when the catalog does not know the target.
pub fn show(args: &ShowArgs) -> Result<ExitCode> {
    let catalog = open_catalog(&args.config)?;
    let Some(asset) = daemon::query::resolve(&catalog, &args.target)? else {
        eprintln!(
            "alice: {} is not in the catalog (not an asset id, an organized path, or a file \
             whose content alice has seen)",
            clean(&args.target)
        );
        return Ok(ExitCode::from(1));
    };
    let events = catalog.events_for_asset(&asset.asset_id)?;
    // A catalog written before sidecars were recorded (read, not migrated) has none.
    let mut sidecars: Vec<daemon::views::SidecarJson> = catalog
        .sidecars_of_asset(&asset.asset_id)
        .unwrap_or_default()
        .iter()
        .map(daemon::views::SidecarJson::from)
        .collect();
    // A file placed as a member of another file's group: that group's placement of it.
    if let Ok(Some(placed)) = catalog.placed_copy_of(&asset.asset_id) {
        sidecars.push(daemon::views::SidecarJson::from(&placed));
    }
    let history = catalog.history(&asset.asset_id)?;
    let mut out = Out::stdout();
    if args.json {
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                serde_json::from_str(&e.json).unwrap_or_else(|_| Value::String(e.json.clone()))
            })
            .collect();
        let mut record = serde_json::to_value(daemon::views::AssetJson::from(&asset))?;
        record["sidecars"] = serde_json::to_value(&sidecars)?;
        record["events"] = Value::Array(events);
        if !history.is_empty() {
            record["history"] = serde_json::to_value(&history)?;
        }
        out.line(&record.to_string());
    } else {
        out.text(&describe(&asset, &sidecars, &events, &history));
    }
    Ok(ExitCode::SUCCESS)
}

/// One folded outcome of another path of the asset, for `alice show`.
fn history_line(h: &HistoryEntry) -> String {
    let to = h.moved_to.as_deref().map(clean_path);
    let detail = [
        h.stage.clone(),
        h.note.as_deref().map(|n| clean(n).into_owned()),
        to,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    format!(
        "  {}  {}  {}  {}\n",
        local_time(h.time),
        clean(&h.outcome),
        clean_path(&h.path),
        detail
    )
}

/// The AI generation facts of `alice show`.
fn describe_ai(ai: &events::media::AiInfo, add: &mut impl FnMut(&'static str, Option<String>)) {
    add(
        "ai tool",
        Some(format!(
            "{} (from {}: {})",
            ai.source,
            match ai.signal {
                AiSignal::Metadata => "metadata",
                AiSignal::Filename => "file name",
            },
            clean(&ai.evidence)
        )),
    );
    let text = |v: &Option<String>| v.as_deref().map(|s| clean(s).into_owned());
    add("prompt", text(&ai.prompt));
    add("negative", text(&ai.negative_prompt));
    add(
        "model",
        ai.model.as_deref().map(|m| match &ai.model_hash {
            Some(h) => format!("{} ({})", clean(m), clean(h)),
            None => clean(m).into_owned(),
        }),
    );
    add("seed", ai.seed.map(|s| s.to_string()));
    add("steps", ai.steps.map(|s| s.to_string()));
    add("sampler", text(&ai.sampler));
    add("scheduler", text(&ai.scheduler));
    add("cfg scale", ai.cfg_scale.map(|s| s.to_string()));
    add("guidance", ai.guidance.map(|s| s.to_string()));
    for l in &ai.loras {
        let weight = l.weight.map(|w| format!(" ×{w}")).unwrap_or_default();
        add("lora", Some(format!("{}{weight}", clean(&l.name))));
    }
    add("size asked", text(&ai.size));
}

/// A file's sidecars and group members, one line each.
fn sidecar_lines(sidecars: &[daemon::views::SidecarJson]) -> Vec<(&'static str, String)> {
    sidecars
        .iter()
        .map(|s| {
            let label = if s.member { "group member" } else { "sidecar" };
            (
                label,
                format!("{} ({})", clean_path(&s.path), clean(&s.kind)),
            )
        })
        .collect()
}

/// The media facts of `alice show`: kind, capture time, camera, AI generation.
fn describe_media(
    m: &events::media::MediaInfo,
    add: &mut impl FnMut(&'static str, Option<String>),
) {
    let mut kind = m.media_type.as_str().to_owned();
    if let Some(f) = &m.format {
        kind += &format!(" {}", clean(f));
    }
    if let (Some(w), Some(h)) = (m.width, m.height) {
        kind += &format!(" {w}x{h}");
    }
    if let Some(d) = m.duration_ms {
        kind += &format!(" {:.1} s", d as f64 / 1000.0);
    }
    add("media", Some(kind));
    add(
        "taken",
        m.taken_at.map(|t| match m.taken_at_source {
            Some(s) => format!("{t} (from {})", s.as_str()),
            None => t.to_string(),
        }),
    );
    if let Some(c) = &m.camera {
        let name = crate::inspect::camera_name(c.make.as_deref(), c.model.as_deref());
        add("camera", Some(clean(&name).into_owned()));
    }
    if let Some(ai) = &m.ai {
        describe_ai(ai, add);
    }
}

/// The human form of `alice show`: one `label  value` line per known fact.
fn describe(
    a: &AssetRecord,
    sidecars: &[daemon::views::SidecarJson],
    events: &[StoredEvent],
    history: &[HistoryEntry],
) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    let mut add = |label, value: Option<String>| {
        if let Some(v) = value {
            lines.push((label, v));
        }
    };
    add("asset", Some(a.asset_id.clone()));
    add(
        "status",
        Some(match &a.status_reason {
            Some(r) => format!("{} ({})", a.status, clean(r)),
            None => a.status.to_string(),
        }),
    );
    add("organized", a.organized_path.as_deref().map(clean_path));
    add("came from", Some(clean_path(&a.original_path)));
    add("size", Some(format!("{} bytes", a.size)));
    add("source", a.source.as_deref().map(|s| clean(s).into_owned()));
    add(
        "project",
        a.project.as_deref().map(|s| clean(s).into_owned()),
    );
    add("style", a.style.as_deref().map(|s| clean(s).into_owned()));
    if let Some(m) = &a.media {
        describe_media(m, &mut add);
    }
    for (label, value) in sidecar_lines(sidecars) {
        add(label, Some(value));
    }
    add("first seen", Some(local_time(a.first_seen)));
    add("organized at", a.organized_at.map(local_time));
    add("updated at", Some(local_time(a.updated_at)));

    let mut out = String::new();
    for (label, value) in &lines {
        out += &format!("{label:<13}{value}\n");
    }
    out += &format!(
        "history      {} event(s){}\n",
        events.len(),
        match history.len() {
            0 => String::new(),
            n => format!(", {n} older outcome(s) of other paths"),
        }
    );
    for h in history {
        out += &history_line(h);
    }
    for e in events {
        out += &format!(
            "  {}  {}  {}\n",
            local_time(e.time),
            clean(&e.event_type),
            clean(&event_summary(&e.json))
        );
    }
    out
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// What an event says about its file, in a few words: where it went, or why not.
fn event_summary(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return String::new();
    };
    let d = &v["data"];
    let s = |key: &str| -> Option<String> {
        match &d[key] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let path = s("path").or_else(|| s("source_path")).unwrap_or_default();
    if let Some(dest) = s("destination") {
        return format!("{path} → {dest}");
    }
    if let Some(existing) = s("existing") {
        return format!("{path}: same content as {existing}");
    }
    if let Some(restored) = s("restored_to") {
        return format!("{path} → {restored}");
    }
    if let Some(why) = s("error").or_else(|| s("reason")) {
        return format!("{path}: {why}");
    }
    if let Some(ai) = d["media"]["ai"]["source"].as_str() {
        return format!("{path}: made by {ai}");
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(clean("plain text"), "plain text");
        assert_eq!(clean("a\nb\t\x1b[31mred"), "a\\nb\\t\\u{1b}[31mred");
    }

    #[test]
    fn snippets_mark_matches_and_escape_the_rest() {
        let s = Snippet {
            text: "neon\ncyberpunk city".into(),
            marks: std::iter::once(5..14).collect(),
        };
        let brackets = Marks {
            open: "[",
            close: "]",
        };
        assert_eq!(render_snippet(&s, &brackets), "neon\\n[cyberpunk] city");
    }

    #[test]
    fn event_summaries_say_where_a_file_went_or_why_not() {
        let organized = r#"{"data":{"source_path":"/in/a.png","destination":"/org/a.png"}}"#;
        assert_eq!(event_summary(organized), "/in/a.png → /org/a.png");
        let failed = r#"{"data":{"path":"/in/b.png","error":"truncated"}}"#;
        assert_eq!(event_summary(failed), "/in/b.png: truncated");
        assert_eq!(event_summary("not json"), "");
    }
}
