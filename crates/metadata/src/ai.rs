//! AI-source detection and generation parameters.
//!
//! [`detect`] looks at a file's [`Signals`] (filled by the container readers) and its name and
//! decides which tool made it, strongest evidence first:
//!
//! 1. Tool-specific generation metadata: ComfyUI graphs (PNG chunks or WebP/JPEG EXIF),
//!    InvokeAI, NovelAI (PNG chunks or their WebP EXIF form), Fooocus and SwarmUI JSON,
//!    A1111/Forge/Civitai infotext (PNG `parameters`, EXIF `UserComment`), Midjourney
//!    `Job ID` descriptions. These also carry the prompt, seed, model, sampler, scheduler
//!    and LoRAs.
//! 2. Provenance: C2PA claim generators and IPTC `DigitalSourceType` with XMP creator-tool
//!    fields, then software and vendor tags (EXIF `Make`, PNG `Source`) that name a tool.
//! 3. Documented file-name patterns, only when no metadata decided, the metadata does not say
//!    the file is a human work with generated parts (`compositeWithTrainedAlgorithmicMedia`),
//!    and the file carries no camera make/model.
//!
//! Labels: a specific front end (ComfyUI, InvokeAI, Fooocus, NovelAI) keeps its label whatever
//! model it ran. The generic `stable-diffusion` label (A1111, Forge, SD.Next, SwarmUI,
//! unidentified infotext) becomes `flux` when the checkpoint/UNet is a FLUX model, because a
//! FLUX image is not a Stable Diffusion image and `flux` is the more specific honest label.
//! The full rule set, with sources, is in docs/ai-detection.md.
//!
//! Nothing here panics on any input: JSON is parsed with size caps, graph walks are bounded and
//! cycle-safe, every kept string is capped at 64 KiB.

mod apps;
mod comfy;
mod comfy_ui;
mod filename;
mod infotext;
mod loras;
mod midjourney;
mod provenance;
mod text;

use events::media::{AiInfo, AiSignal, AiSource};
use serde_json::Value;

use crate::Signals;
use provenance::{SourceType, XmpFields, most_specific_tool, tool_named};
use text::{looks_like_json_object, non_empty, parse_json, short};

/// Decides which AI tool made a file, from its metadata signals first and its file name
/// second. Returns `None` for files with no reliable AI marking: camera and phone photos,
/// screenshots, images only edited in Photoshop (even with Generative Fill), and files whose
/// only marking is "AI-generated" without a tool we can name.
///
/// `file_name` may be a bare name or a path; only its last component is used.
pub fn detect(signals: &Signals, file_name: &str) -> Option<AiInfo> {
    let xmp = XmpFields::parse(&signals.xmp);
    let mut dst = SourceType::default();
    for v in xmp.values("DigitalSourceType") {
        dst.scan(v);
    }
    for s in &signals.c2pa {
        dst.scan(s);
    }

    let found = generator_metadata(signals)
        .or_else(|| midjourney_text(signals, &xmp))
        .or_else(|| provenance(signals, &xmp, dst, file_name));
    if let Some(info) = found {
        let info = refine_flux(info);
        tracing::debug!(source = %info.source, evidence = %info.evidence, "AI source from metadata");
        return Some(info);
    }

    // Metadata that speaks against a name-based guess.
    if dst.composite && !dst.trained {
        tracing::debug!(
            file_name,
            "composite with generated parts; not labelled as generated"
        );
        return None;
    }
    if camera_like(signals) {
        return None;
    }
    let m = filename::detect(file_name)?;
    let mut evidence = format!("filename:{} {}", m.source, m.rule);
    if dst.trained {
        evidence.push_str(" + xmp/c2pa:DigitalSourceType=trainedAlgorithmicMedia");
    }
    tracing::debug!(source = %m.source, evidence = %evidence, "AI source from file name");
    Some(AiInfo::new(m.source, AiSignal::Filename, evidence))
}

fn meta(source: AiSource, evidence: impl Into<String>) -> AiInfo {
    AiInfo::new(source, AiSignal::Metadata, evidence)
}

/// A PNG text chunk by keyword: exact match first, then ASCII case-insensitive (some writers
/// change the case of `Software`/`Comment`).
fn png<'a>(signals: &'a Signals, key: &str) -> Option<&'a str> {
    signals
        .png_text
        .iter()
        .find(|(k, _)| k == key)
        .or_else(|| {
            signals
                .png_text
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
        })
        .map(|(_, v)| v.as_str())
}

/// Tool-specific generation metadata, most specific first.
fn generator_metadata(s: &Signals) -> Option<AiInfo> {
    comfyui(s)
        .or_else(|| invokeai(s))
        .or_else(|| novelai(s))
        .or_else(|| fooocus(s))
        .or_else(|| swarmui(s))
        .or_else(|| a1111(s))
}

/// A ComfyUI graph found in a file, by format.
#[derive(Default)]
struct ComfyGraphs {
    api: Option<(Value, String)>,
    ui: Option<(Value, String)>,
    malformed: Option<String>,
}

impl ComfyGraphs {
    /// Files one parsed value: an API graph, a UI workflow, or an object wrapping them as
    /// `{"prompt": …, "workflow": …}` (values as objects or JSON text).
    fn add(&mut self, v: Value, key: &str, depth: u8) {
        if self.api.is_none() && comfy::is_api_graph(&v) {
            self.api = Some((v, format!("{key} (ComfyUI API graph)")));
        } else if comfy::is_ui_workflow(&v) {
            if self.ui.is_none() {
                self.ui = Some((v, format!("{key} (ComfyUI UI workflow)")));
            }
        } else if depth == 0
            && let Value::Object(mut m) = v
        {
            for part in ["prompt", "workflow"] {
                let inner = match m.remove(part) {
                    Some(Value::String(t)) => parse_json(&t),
                    other => other,
                };
                if let Some(inner) = inner {
                    self.add(inner, &format!("{key} {{\"{part}\"}}"), 1);
                }
            }
        }
    }
}

/// ComfyUI graph texts: PNG `prompt`/`workflow` chunks (core `SaveImage`), and the EXIF
/// fields WebP/JPEG save nodes use: core `SaveAnimatedWEBP` (`Model` = `prompt:{…}`, `Make` =
/// `workflow:{…}`), WAS `Image Save` (`Make` = `Prompt:{…}`, `ImageDescription` =
/// `Workflow:{…}`), SaveImgAdv (raw JSON in `Make` / `ImageDescription`),
/// ExtendedImageFormats (`UserComment` = `{"prompt": …, "workflow": …}`).
fn comfy_graphs(s: &Signals) -> ComfyGraphs {
    let candidates = [
        (png(s, "prompt"), "png:prompt", true),
        (s.exif_model.as_deref(), "exif:Model", false),
        (s.exif_make.as_deref(), "exif:Make", false),
        (
            s.exif_image_description.as_deref(),
            "exif:ImageDescription",
            false,
        ),
        (s.exif_user_comment.as_deref(), "exif:UserComment", false),
        (png(s, "workflow"), "png:workflow", true),
    ];
    let mut found = ComfyGraphs::default();
    for (text, key, own_chunk) in candidates {
        let Some(text) = text else { continue };
        let (body, prefix) = strip_graph_prefix(text);
        if !looks_like_json_object(body) {
            continue;
        }
        let marked = own_chunk || prefix.is_some();
        // Other tools' JSON (Fooocus, SwarmUI, NovelAI) sits in the same EXIF fields: parse
        // only what mentions a graph's keys.
        if !marked && !body.contains("class_type") && !body.contains("\"nodes\"") {
            continue;
        }
        let key = match prefix {
            Some(p) => format!("{key} {p}"),
            None => key.to_owned(),
        };
        match parse_json(body) {
            Some(v) => found.add(v, &key, 0),
            None if marked && found.malformed.is_none() => found.malformed = Some(key),
            None => {}
        }
        if found.api.is_some() {
            break;
        }
    }
    found
}

/// `prompt:` / `workflow:` (any case) before a JSON graph, as EXIF writers put it.
fn strip_graph_prefix(text: &str) -> (&str, Option<&str>) {
    let t = text.trim_start();
    for p in ["prompt:", "workflow:"] {
        if t.len() >= p.len() && t.is_char_boundary(p.len()) && t[..p.len()].eq_ignore_ascii_case(p)
        {
            return (t[p.len()..].trim_start(), Some(&t[..p.len()]));
        }
    }
    (t, None)
}

fn comfyui(s: &Signals) -> Option<AiInfo> {
    let graphs = comfy_graphs(s);
    let mut info = if let Some((v, evidence)) = &graphs.api {
        let mut i = meta(AiSource::Comfyui, evidence.clone());
        if let Some(g) = v.as_object() {
            comfy::read_api_graph(g, &mut i);
        }
        i
    } else if let Some((v, evidence)) = &graphs.ui {
        let mut i = meta(AiSource::Comfyui, evidence.clone());
        if let Some(g) = comfy_ui::to_api_graph(v) {
            comfy::read_api_graph(&g, &mut i);
        }
        i
    } else {
        // A `prompt`/`workflow` text holding a JSON object is ComfyUI's signature even when
        // the JSON is cut or corrupt; it just yields no parameters.
        let key = graphs.malformed?;
        meta(
            AiSource::Comfyui,
            format!("{key} (malformed ComfyUI JSON; no parameters)"),
        )
    };
    // Save nodes that also write A1111 parameters fill what the graph walk could not.
    let params = png(s, "parameters").or(s.exif_user_comment.as_deref());
    if let Some(it) = params.and_then(infotext::parse) {
        it.fill(&mut info);
    }
    Some(info)
}

fn invokeai(s: &Signals) -> Option<AiInfo> {
    if let Some(t) = png(s, "invokeai_metadata") {
        let mut i = meta(AiSource::Invokeai, "png:invokeai_metadata");
        if let Some(v) = parse_json(t) {
            apps::invokeai_metadata(&v, &mut i);
        }
        return Some(i);
    }
    if png(s, "invokeai_graph").is_some() {
        return Some(meta(AiSource::Invokeai, "png:invokeai_graph"));
    }
    if let Some(t) = png(s, "sd-metadata") {
        let mut i = meta(AiSource::Invokeai, "png:sd-metadata (InvokeAI 2.x)");
        if let Some(v) = parse_json(t) {
            apps::invokeai_sd_metadata(&v, &mut i);
        }
        return Some(i);
    }
    if let Some(t) = png(s, "Dream") {
        let mut i = meta(AiSource::Invokeai, "png:Dream (InvokeAI 1.x)");
        apps::invokeai_dream(t, &mut i);
        return Some(i);
    }
    None
}

fn is_novelai(v: &str) -> bool {
    v.trim().to_ascii_lowercase().starts_with("novelai")
}

/// NovelAI: PNG chunks `Software`/`Description`/`Source`/`Comment`, or (WebP, JPEG) the same
/// chunks as one JSON object in EXIF `UserComment`.
fn novelai(s: &Signals) -> Option<AiInfo> {
    let packed = s
        .exif_user_comment
        .as_deref()
        .filter(|t| looks_like_json_object(t) && t.contains("NovelAI"))
        .and_then(parse_json)
        .filter(|v| {
            v.get("Software")
                .and_then(Value::as_str)
                .is_some_and(is_novelai)
        });
    let chunk = |key: &str| png(s, key).or_else(|| packed.as_ref()?.get(key)?.as_str());
    let evidence = if png(s, "Software").is_some_and(is_novelai) {
        "png:Software=NovelAI"
    } else if packed.is_some() {
        "exif:UserComment (NovelAI chunks, Software=NovelAI)"
    } else if s.exif_software.as_deref().is_some_and(is_novelai) {
        "exif:Software=NovelAI"
    } else {
        return None;
    };
    let mut i = meta(AiSource::Novelai, evidence);
    let comment_text = chunk("Comment").or(if packed.is_none() {
        s.exif_user_comment.as_deref()
    } else {
        None
    });
    let comment = comment_text.and_then(parse_json);
    let description = chunk("Description").or(s.exif_image_description.as_deref());
    apps::novelai(description, comment.as_ref(), chunk("Source"), &mut i);
    Some(i)
}

fn fooocus(s: &Signals) -> Option<AiInfo> {
    let scheme = png(s, "fooocus_scheme");
    let params = png(s, "parameters")
        .map(|t| (t, "png:parameters"))
        .or_else(|| {
            s.exif_user_comment
                .as_deref()
                .map(|t| (t, "exif:UserComment"))
        });
    let software = s
        .exif_software
        .as_deref()
        .filter(|v| v.trim_start().to_ascii_lowercase().starts_with("fooocus"));

    if let Some((text, key)) = params {
        if let Some(v) = parse_json(text).filter(apps::is_fooocus_json) {
            let mut i = meta(AiSource::Fooocus, format!("{key} (Fooocus JSON)"));
            apps::fooocus_json(&v, &mut i);
            return Some(i);
        }
        if let Some(it) = infotext::parse(text)
            && (scheme.is_some()
                || software.is_some()
                || it.get("Version").is_some_and(|v| v.contains("Fooocus")))
        {
            let mut i = meta(
                AiSource::Fooocus,
                format!("{key} (A1111 scheme, Version: Fooocus)"),
            );
            it.fill(&mut i);
            return Some(i);
        }
    }
    if let Some(sc) = scheme {
        return Some(meta(
            AiSource::Fooocus,
            format!("png:fooocus_scheme={}", short(sc)),
        ));
    }
    software.map(|sw| meta(AiSource::Fooocus, format!("exif:Software={}", short(sw))))
}

fn swarmui(s: &Signals) -> Option<AiInfo> {
    let candidates = [
        png(s, "parameters").map(|t| (t, "png:parameters")),
        png(s, "sui_image_params").map(|t| (t, "png:sui_image_params")),
        s.exif_user_comment
            .as_deref()
            .map(|t| (t, "exif:UserComment")),
    ];
    for (text, key) in candidates.into_iter().flatten() {
        if !text.contains("sui_image_params") && key != "png:sui_image_params" {
            continue;
        }
        let Some(v) = parse_json(text) else { continue };
        let params = v.get("sui_image_params").unwrap_or(&v);
        let Some(obj) = params.as_object() else {
            continue;
        };
        let mut i = meta(
            AiSource::StableDiffusion,
            format!("{key} (SwarmUI sui_image_params)"),
        );
        apps::swarmui(obj, &mut i);
        return Some(i);
    }
    None
}

fn a1111(s: &Signals) -> Option<AiInfo> {
    let candidates = [
        png(s, "parameters").map(|t| (t, "png:parameters")),
        s.exif_user_comment
            .as_deref()
            .map(|t| (t, "exif:UserComment")),
        s.exif_image_description
            .as_deref()
            .map(|t| (t, "exif:ImageDescription")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|(text, key)| infotext_info(text, key))
}

/// The tool and generation parameters of A1111-style infotext `text`, found at `key`.
fn infotext_info(text: &str, key: &str) -> Option<AiInfo> {
    let it = infotext::parse(text)?;
    let version = it.get("Version").unwrap_or("");
    let (source, front_end) = if version == "ComfyUI" {
        // ComfyUI save nodes that write only A1111 infotext.
        (AiSource::Comfyui, " (A1111 infotext, Version: ComfyUI)")
    } else if version.starts_with('f') && version.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
    {
        (AiSource::StableDiffusion, " (Forge)")
    } else if it.get("App").is_some_and(|a| a.contains("SD.Next")) {
        (AiSource::StableDiffusion, " (SD.Next)")
    } else if it.civitai_resources.is_some() {
        (AiSource::StableDiffusion, " (Civitai generator)")
    } else {
        (AiSource::StableDiffusion, " (A1111 infotext)")
    };
    let mut i = meta(source, format!("{key}{front_end}"));
    it.fill(&mut i);
    Some(i)
}

/// The tool and generation parameters in an A1111/Forge parameters file (`00042-99.txt`
/// beside `00042-99.png`), named `key` in the evidence; `None` when the text is not infotext.
pub fn from_parameters_text(text: &str, key: &str) -> Option<AiInfo> {
    infotext_info(text, key).map(refine_flux)
}

/// Midjourney's own marking: `Job ID: <uuid>` after the prompt and its `--` parameters in
/// the PNG `Description` chunk, EXIF `ImageDescription` or XMP `dc:description`.
fn midjourney_text(s: &Signals, xmp: &XmpFields) -> Option<AiInfo> {
    let candidates = [
        png(s, "Description").map(|t| (t, "png:Description")),
        s.exif_image_description
            .as_deref()
            .map(|t| (t, "exif:ImageDescription")),
        xmp.first("description").map(|t| (t, "xmp:dc:description")),
    ];
    candidates.into_iter().flatten().find_map(|(text, key)| {
        let mut i = meta(AiSource::Midjourney, format!("{key} (Midjourney Job ID)"));
        midjourney::read_description(text, &mut i).then_some(i)
    })
}

/// C2PA, XMP and software tags that name a tool.
fn provenance(s: &Signals, xmp: &XmpFields, dst: SourceType, file_name: &str) -> Option<AiInfo> {
    if dst.composite && !dst.trained {
        // A human work with generated regions (Generative Fill, Magic Editor): the file was not
        // made by the tool, whatever tool names its manifest carries.
        return None;
    }
    let ai = dst.trained;
    let dst_note = if ai {
        " + DigitalSourceType=trainedAlgorithmicMedia"
    } else {
        ""
    };

    if let Some((source, c)) = most_specific_tool(s.c2pa.iter().map(String::as_str), ai) {
        let source = video_refine(source, file_name);
        let mut i = meta(
            source,
            format!("c2pa:claim_generator={}{dst_note}", short(c)),
        );
        i.prompt = xmp_prompt(xmp);
        return Some(i);
    }

    for key in [
        "CreatorTool",
        "AISystemUsed",
        "Software",
        "Credit",
        "softwareAgent",
        "creator",
    ] {
        // dc:creator names people as often as tools: only with the AI source type.
        let ctx_ok = key != "creator" || ai;
        if !ctx_ok {
            continue;
        }
        for v in xmp.values(key) {
            if let Some((source, _)) = tool_named(v, ai) {
                let source = video_refine(source, file_name);
                let prefix = if ai {
                    "xmp:DigitalSourceType=trainedAlgorithmicMedia + "
                } else {
                    ""
                };
                let mut i = meta(source, format!("{prefix}xmp:{key}={}", short(v)));
                i.prompt = xmp_prompt(xmp);
                return Some(i);
            }
        }
    }

    if let Some(sw) = s.exif_software.as_deref()
        && let Some((source, _)) = tool_named(sw, ai)
    {
        return Some(meta(
            source,
            format!("exif:Software={}{dst_note}", short(sw)),
        ));
    }
    if let Some(i) = vendor_tag(s, ai, dst_note) {
        return Some(i);
    }

    for (key, value) in &s.other_text {
        // Only fields that name the writing software; titles and comments are user text.
        let k = key.to_ascii_lowercase();
        let software_field = [
            "too",
            "swr",
            "writingapp",
            "muxingapp",
            "encoder",
            "software",
            "encoded_by",
            "creator",
        ]
        .iter()
        .any(|f| k.contains(f));
        if !software_field {
            continue;
        }
        if let Some((source, _)) = tool_named(value, ai) {
            return Some(meta(source, format!("{key}={}{dst_note}", short(value))));
        }
    }
    None
}

/// Google marks Imagen and Veo outputs alike ("Made with Google AI"), OpenAI signs DALL·E
/// and Sora outputs alike: a video from either is Veo or Sora.
fn video_refine(source: AiSource, file_name: &str) -> AiSource {
    match source {
        AiSource::Imagen if filename::is_video_name(file_name) => AiSource::Veo,
        AiSource::Dalle if filename::is_video_name(file_name) => AiSource::Sora,
        other => other,
    }
}

fn xmp_prompt(xmp: &XmpFields) -> Option<String> {
    xmp.first("AIPromptInformation").and_then(non_empty)
}

/// Short tags in which a generator names itself where a camera would name its maker: EXIF
/// `Make`/`Model`, PNG `Software`/`Source`, and a short PNG `Comment`. Graph and JSON blobs
/// stored in the same fields are not tags (their prompt text may name anything).
fn vendor_tag(s: &Signals, ai: bool, dst_note: &str) -> Option<AiInfo> {
    const MAX_TAG: usize = 200;
    let tags = [
        (s.exif_make.as_deref(), "exif:Make"),
        (s.exif_model.as_deref(), "exif:Model"),
        (png(s, "Software"), "png:Software"),
        (png(s, "Source"), "png:Source"),
        (png(s, "Comment"), "png:Comment"),
    ];
    tags.into_iter().find_map(|(value, key)| {
        let v = value?.trim();
        if v.len() > MAX_TAG || is_blob(v) {
            return None;
        }
        let (source, _) = tool_named(v, ai)?;
        Some(meta(source, format!("{key}={}{dst_note}", short(v))))
    })
}

/// A JSON object or a `prompt:`/`workflow:` graph, as save nodes put in EXIF text fields.
fn is_blob(v: &str) -> bool {
    looks_like_json_object(v) || strip_graph_prefix(v).1.is_some()
}

/// EXIF make or model that describe a device (not a save node's JSON blobs): such a file
/// came from a camera or phone, so name patterns are not trusted for it.
fn camera_like(s: &Signals) -> bool {
    [s.exif_make.as_deref(), s.exif_model.as_deref()]
        .into_iter()
        .flatten()
        .any(|v| {
            let t = v.trim();
            !t.is_empty() && !is_blob(t)
        })
}

/// Applies the FLUX rule to the generic `stable-diffusion` label.
fn refine_flux(mut info: AiInfo) -> AiInfo {
    if info.source == AiSource::StableDiffusion
        && let Some(model) = info.model.as_deref()
        && is_flux_model(model)
    {
        info.evidence = format!("{} + model family FLUX ({})", info.evidence, short(model));
        info.source = AiSource::Flux;
    }
    info
}

/// Whether a checkpoint/UNet name is a FLUX model: `flux` not preceded by a letter (as in
/// `flux1-dev`, `FLUX.1-schnell`, `Flux/flux1-dev-fp8`, `flux_dev`, fine-tunes such as
/// `fluxmania`), so `influx` or `refluxed` do not count.
pub(crate) fn is_flux_model(model: &str) -> bool {
    let lower = model.to_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("flux") {
        let start = from + pos;
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphabetic();
        if before_ok {
            return true;
        }
        from = start + 4;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_names() {
        for m in [
            "flux1-dev.safetensors",
            "FLUX.1-schnell",
            "Flux/flux1-dev-fp8",
            "flux_dev_fp8",
            "my-flux-finetune",
            "fluxmania_v3",
        ] {
            assert!(is_flux_model(m), "{m}");
        }
        for m in [
            "sd_xl_base_1.0",
            "influx_v2",
            "v1-5-pruned-emaonly",
            "refluxed",
        ] {
            assert!(!is_flux_model(m), "{m}");
        }
    }
}
