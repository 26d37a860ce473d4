//! `alice inspect`: what the daemon would know about each file.

use std::process::ExitCode;

use anyhow::Result;

use crate::out::{Out, clean, clean_path};

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
        let (report, opened) = Report::of(path);
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

type Report<'a> = daemon::views::InspectReport<'a>;

fn print_human(out: &mut Out, r: &Report<'_>) {
    // Everything shown comes from the file: escaped, so it cannot steer the terminal.
    out.line(&clean_path(r.path));
    let mut lines = facts(r);
    lines.extend(ai_lines(r));
    lines.extend(provenance_lines(r));
    lines.extend(sidecar_lines(r));
    if let Some(e) = &r.error {
        lines.push(("error", e.clone()));
    }
    for (k, v) in lines {
        out.line(&format!("  {k:<12} {}", clean(&v)));
    }
}

/// Identity, format, size, date and camera.
fn facts(r: &Report<'_>) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(id) = &r.asset_id {
        lines.push(("asset id", id.clone()));
    }
    if let Some(t) = r.media_type {
        let format = r.format.as_deref().map(|f| format!(" ({f})"));
        lines.push(("type", format!("{t}{}", format.unwrap_or_default())));
    }
    if let (Some(w), Some(h)) = (r.width, r.height) {
        lines.push(("size", format!("{w}×{h}")));
    }
    if let Some(d) = r.duration_ms {
        lines.push(("duration", format!("{:.3} s", d as f64 / 1000.0)));
    }
    if let Some(t) = &r.taken_at {
        let from = r.taken_at_source.unwrap_or("?");
        lines.push(("taken", format!("{t} (from {from})")));
    }
    if let Some(c) = &r.camera {
        lines.push(("camera", camera_name(c.make.as_deref(), c.model.as_deref())));
    }
    lines
}

/// Which AI tool made it, and its generation parameters.
fn ai_lines(r: &Report<'_>) -> Vec<(&'static str, String)> {
    let Some(ai) = &r.ai else {
        return match r.media_type {
            Some(_) => vec![("ai source", "none detected".into())],
            None => Vec::new(),
        };
    };
    let signal = format!("{:?}", ai.signal).to_lowercase();
    let mut lines = vec![(
        "ai source",
        format!("{} ({signal}: {})", ai.source, ai.evidence),
    )];
    let mut opt = |k: &'static str, v: Option<String>| lines.extend(v.map(|v| (k, v)));
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
    opt(
        "midjourney",
        ai.midjourney
            .as_ref()
            .and_then(|mj| serde_json::to_string(mj).ok()),
    );
    opt("cfg scale", ai.cfg_scale.map(|s| s.to_string()));
    lines
}

/// Whether it is AI-made at all, and what its C2PA manifest says.
fn provenance_lines(r: &Report<'_>) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(g) = r.ai_generated {
        let why = r.provenance.as_ref().and_then(|p| p.evidence.clone());
        let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
        lines.push(("ai made", format!("{}{why}", if g { "yes" } else { "no" })));
    }
    if let Some(c) = r.provenance.as_ref().and_then(|p| p.c2pa.as_ref()) {
        let text = format!(
            "signature {:?}, content binding {:?}, signer {}",
            c.signature,
            c.hard_binding,
            c.signer.as_deref().unwrap_or("?")
        );
        lines.push(("c2pa", text.to_lowercase()));
    }
    lines
}

/// Rating and labels from an XMP sidecar, and which source each sidecar-backed field came from.
fn sidecar_lines(r: &Report<'_>) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(rating) = r.rating {
        lines.push(("rating", rating.to_string()));
    }
    if !r.labels.is_empty() {
        lines.push(("labels", r.labels.join(", ")));
    }
    for (field, source) in &r.sources {
        lines.push(("from", format!("{field}: {source}")));
    }
    lines
}
