//! `alice inspect`: what the daemon would know about each file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use events::media::MediaInfo;
use serde::Serialize;

use crate::out::Out;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(with = "events::path")]
    path: &'a Path,
    asset_id: Option<String>,
    media_type: Option<&'static str>,
    format: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    taken_at: Option<String>,
    taken_at_source: Option<&'static str>,
    camera: Option<events::media::Camera>,
    ai: Option<events::media::AiInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<i8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<String>,
    /// Which source each field a sidecar spoke to came from (`file` or `sidecar:<name>`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    sources: std::collections::BTreeMap<String, String>,
    error: Option<String>,
}

impl<'a> Report<'a> {
    fn unopened(path: &'a Path, error: String) -> Report<'a> {
        Report {
            path,
            asset_id: None,
            media_type: None,
            format: None,
            width: None,
            height: None,
            duration_ms: None,
            taken_at: None,
            taken_at_source: None,
            camera: None,
            ai: None,
            rating: None,
            labels: Vec::new(),
            sources: Default::default(),
            error: Some(error),
        }
    }

    fn from_info(
        path: &'a Path,
        asset_id: String,
        info: MediaInfo,
        error: Option<String>,
    ) -> Report<'a> {
        Report {
            path,
            asset_id: Some(asset_id),
            media_type: Some(info.media_type.as_str()),
            format: info.format,
            width: info.width,
            height: info.height,
            duration_ms: info.duration_ms,
            taken_at: info.taken_at.map(|t| t.to_string()),
            taken_at_source: info.taken_at_source.map(|s| s.as_str()),
            camera: info.camera,
            ai: info.ai,
            rating: info.rating,
            labels: info.labels,
            sources: info.sources,
            error,
        }
    }
}

fn inspect_one(path: &Path) -> (Report<'_>, bool) {
    match daemon::query::inspect(path) {
        Ok(i) => (
            Report::from_info(
                path,
                i.asset_id,
                i.extraction.info,
                i.extraction.error.map(|e| e.to_string()),
            ),
            true,
        ),
        Err(e) => (Report::unopened(path, e), false),
    }
}

/// A camera's name: many models repeat the make ("Canon" / "Canon EOS R5"); say it once.
pub fn camera_name(make: Option<&str>, model: Option<&str>) -> String {
    match (make, model) {
        (Some(make), Some(model)) if model.starts_with(make) => model.to_owned(),
        (Some(make), Some(model)) => format!("{make} {model}"),
        (one, other) => one.or(other).unwrap_or_default().to_owned(),
    }
}

/// Runs `alice inspect`.
pub fn run(json: bool, files: &[std::path::PathBuf]) -> Result<ExitCode> {
    let mut all_opened = true;
    let mut out = Out::stdout();
    for path in files {
        let (report, opened) = inspect_one(path);
        all_opened &= opened;
        if json {
            out.line(&serde_json::to_string(&report)?);
        } else {
            print_human(&mut out, &report);
        }
        if out.closed() {
            break;
        }
    }
    Ok(if all_opened {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_human(out: &mut Out, r: &Report<'_>) {
    out.line(&r.path.display().to_string());
    let mut line = |k: &str, v: String| out.line(&format!("  {k:<12} {v}"));
    if let Some(id) = &r.asset_id {
        line("asset id", id.clone());
    }
    if let Some(t) = r.media_type {
        line(
            "type",
            format!(
                "{t}{}",
                r.format
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ),
        );
    }
    if let (Some(w), Some(h)) = (r.width, r.height) {
        line("size", format!("{w}×{h}"));
    }
    if let Some(d) = r.duration_ms {
        line("duration", format!("{:.3} s", d as f64 / 1000.0));
    }
    if let Some(t) = &r.taken_at {
        line(
            "taken",
            format!("{t} (from {})", r.taken_at_source.unwrap_or("?")),
        );
    }
    if let Some(c) = &r.camera {
        line("camera", camera_name(c.make.as_deref(), c.model.as_deref()));
    }
    match &r.ai {
        Some(ai) => {
            line(
                "ai source",
                format!("{} ({:?}: {})", ai.source, ai.signal, ai.evidence)
                    .replace("Metadata", "metadata")
                    .replace("Filename", "filename"),
            );
            let mut opt = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    line(k, v);
                }
            };
            opt("prompt", ai.prompt.clone());
            opt("negative", ai.negative_prompt.clone());
            opt("model", ai.model.clone());
            opt("seed", ai.seed.map(|s| s.to_string()));
            opt("steps", ai.steps.map(|s| s.to_string()));
            opt("sampler", ai.sampler.clone());
            opt("scheduler", ai.scheduler.clone());
            opt("guidance", ai.guidance.map(|g| g.to_string()));
            for l in &ai.loras {
                let weight = l.weight.map(|w| format!(" ×{w}")).unwrap_or_default();
                opt("lora", Some(format!("{}{weight}", l.name)));
            }
            if let Some(mj) = &ai.midjourney {
                opt("midjourney", serde_json::to_string(mj).ok());
            }
            opt("cfg scale", ai.cfg_scale.map(|s| s.to_string()));
        }
        None if r.media_type.is_some() => line("ai source", "none detected".into()),
        None => {}
    }
    if let Some(rating) = r.rating {
        line("rating", rating.to_string());
    }
    if !r.labels.is_empty() {
        line("labels", r.labels.join(", "));
    }
    for (field, source) in &r.sources {
        line("from", format!("{field}: {source}"));
    }
    if let Some(e) = &r.error {
        line("error", e.clone());
    }
}
