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
        let (report, opened) = daemon::views::InspectReport::of(path);
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

fn print_human(out: &mut Out, r: &daemon::views::InspectReport<'_>) {
    // Everything shown comes from the file: escaped, so it cannot steer the terminal.
    out.line(&clean_path(r.path));
    let mut line = |k: &str, v: String| out.line(&format!("  {k:<12} {}", clean(&v)));
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
    if let Some(g) = r.ai_generated {
        let why = r
            .provenance
            .as_ref()
            .and_then(|p| p.evidence.clone())
            .unwrap_or_default();
        line(
            "ai made",
            format!(
                "{}{}",
                if g { "yes" } else { "no" },
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                }
            ),
        );
    }
    if let Some(c) = r.provenance.as_ref().and_then(|p| p.c2pa.as_ref()) {
        line(
            "c2pa",
            format!(
                "signature {:?}, content binding {:?}, signer {}",
                c.signature,
                c.hard_binding,
                c.signer.as_deref().unwrap_or("?")
            )
            .to_lowercase(),
        );
    }
    if let Some(e) = &r.error {
        line("error", e.clone());
    }
}
