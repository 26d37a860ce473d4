//! Generation parameters of the local front ends that write their own JSON: InvokeAI,
//! Fooocus, NovelAI and SwarmUI, plus Midjourney's description text.

use events::media::AiInfo;
use serde_json::{Map, Value};

use super::loras;
use super::text::{json_f64, json_seed, json_size, json_steps, json_str, non_empty};

/// InvokeAI ≥ 3 `invokeai_metadata` chunk: a flat object (`positive_prompt`,
/// `negative_prompt`, `model: {name|model_name, hash}`, `seed`, `steps`, `cfg_scale`,
/// `scheduler`, `width`, `height`, `loras`). InvokeAI's `scheduler` names the sampler
/// (`dpmpp_2m_k`, `euler_a`) and is kept as the sampler, as written.
pub(crate) fn invokeai_metadata(v: &Value, info: &mut AiInfo) {
    let Some(m) = v.as_object() else { return };
    info.prompt = m.get("positive_prompt").and_then(json_str);
    info.negative_prompt = m.get("negative_prompt").and_then(json_str);
    if let Some(model) = m.get("model") {
        info.model = model
            .get("name")
            .or_else(|| model.get("model_name"))
            .and_then(json_str)
            .or_else(|| json_str(model));
        info.model_hash = model.get("hash").and_then(json_str);
    }
    info.seed = m.get("seed").and_then(json_seed);
    info.steps = m.get("steps").and_then(json_steps);
    info.cfg_scale = m.get("cfg_scale").and_then(json_f64);
    info.sampler = m.get("scheduler").and_then(json_str);
    info.size = json_size(m.get("width"), m.get("height"));
    loras::invokeai(m.get("loras"), &mut info.loras);
}

/// InvokeAI 2.x `sd-metadata` chunk: `{"model_weights", "model_hash", "image": {"prompt":
/// [{"prompt": "text [negative]"}], "seed", "steps", "cfg_scale", "sampler", "width",
/// "height"}}`.
pub(crate) fn invokeai_sd_metadata(v: &Value, info: &mut AiInfo) {
    info.model = v.get("model_weights").and_then(json_str);
    info.model_hash = v.get("model_hash").and_then(json_str);
    let Some(image) = v.get("image").and_then(Value::as_object) else {
        return;
    };
    let combined = match image.get("prompt") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => items
            .iter()
            .find_map(|p| p.get("prompt").and_then(Value::as_str).map(str::to_owned)),
        _ => None,
    };
    if let Some(c) = combined {
        let (pos, neg) = split_bracket_negatives(&c);
        info.prompt = non_empty(&pos);
        info.negative_prompt = non_empty(&neg);
    }
    info.seed = image.get("seed").and_then(json_seed);
    info.steps = image.get("steps").and_then(json_steps);
    info.cfg_scale = image.get("cfg_scale").and_then(json_f64);
    info.sampler = image.get("sampler").and_then(json_str);
    info.size = json_size(image.get("width"), image.get("height"));
}

/// InvokeAI 1.x `Dream` chunk: `"prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`.
pub(crate) fn invokeai_dream(text: &str, info: &mut AiInfo) {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('"') else {
        return;
    };
    let Some(end) = rest.find('"') else { return };
    let (pos, neg) = split_bracket_negatives(&rest[..end]);
    info.prompt = non_empty(&pos);
    info.negative_prompt = non_empty(&neg);
    let args: Vec<&str> = rest[end + 1..].split_whitespace().collect();
    let (mut w, mut h) = (None, None);
    for pair in args.windows(2) {
        let value = pair[1];
        match pair[0] {
            "-s" => info.steps = super::text::parse_steps(value),
            "-S" => info.seed = super::text::parse_seed(value),
            "-C" => info.cfg_scale = super::text::parse_cfg(value),
            "-A" => info.sampler = non_empty(value),
            "-W" => w = super::text::parse_steps(value),
            "-H" => h = super::text::parse_steps(value),
            _ => {}
        }
    }
    if let (Some(w), Some(h)) = (w, h) {
        info.size = Some(format!("{w}x{h}"));
    }
}

/// Splits InvokeAI's legacy `positive [negative] more positive` syntax.
fn split_bracket_negatives(s: &str) -> (String, String) {
    let mut pos = String::new();
    let mut neg: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find(']') else {
            break;
        };
        pos.push_str(&rest[..open]);
        let inner = rest[open + 1..open + close_rel].trim();
        if !inner.is_empty() {
            neg.push(inner.to_owned());
        }
        rest = &rest[open + close_rel + 1..];
    }
    pos.push_str(rest);
    let pos = pos.split_whitespace().collect::<Vec<_>>().join(" ");
    (
        pos.trim_matches(|c: char| c == ',' || c.is_whitespace())
            .to_owned(),
        neg.join(", "),
    )
}

/// Whether a parsed `parameters` JSON object is Fooocus's own scheme (modules/meta_parser.py
/// `FooocusMetadataParser`): a `version` of `Fooocus v…`, or its distinctive key set.
pub(crate) fn is_fooocus_json(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    let version_says = m
        .get("version")
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains("fooocus"));
    let software_says = m
        .get("software")
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains("fooocus"));
    let keys_say = m.contains_key("base_model")
        && m.contains_key("guidance_scale")
        && (m.contains_key("performance")
            || m.contains_key("sharpness")
            || m.contains_key("full_prompt"));
    version_says || software_says || keys_say
}

/// Fooocus scheme JSON: `prompt`, `negative_prompt`, `base_model`, `base_model_hash`,
/// `sampler`, `scheduler`, `seed` (a string), `steps`, `guidance_scale`, `resolution`
/// (`"(1024, 1024)"`).
pub(crate) fn fooocus_json(v: &Value, info: &mut AiInfo) {
    let Some(m) = v.as_object() else { return };
    info.prompt = m
        .get("prompt")
        .and_then(json_str)
        .or_else(|| joined(m.get("full_prompt")));
    info.negative_prompt = m
        .get("negative_prompt")
        .and_then(json_str)
        .or_else(|| joined(m.get("full_negative_prompt")));
    info.model = m.get("base_model").and_then(json_str);
    info.model_hash = m.get("base_model_hash").and_then(json_str);
    info.seed = m.get("seed").and_then(json_seed);
    info.steps = m.get("steps").and_then(json_steps);
    info.cfg_scale = m.get("guidance_scale").and_then(json_f64);
    info.sampler = m.get("sampler").and_then(json_str);
    info.scheduler = m.get("scheduler").and_then(json_str);
    info.size = m
        .get("resolution")
        .and_then(Value::as_str)
        .and_then(tuple_size);
    loras::fooocus(m, &mut info.loras);
}

fn joined(v: Option<&Value>) -> Option<String> {
    let parts: Vec<&str> = v?.as_array()?.iter().filter_map(Value::as_str).collect();
    non_empty(&parts.join(", "))
}

/// `"(1024, 1024)"` → `1024x1024`.
fn tuple_size(s: &str) -> Option<String> {
    let inner = s.trim().trim_start_matches('(').trim_end_matches(')');
    let mut it = inner
        .split(',')
        .map(|p| p.trim().trim_matches('\'').trim_matches('"'));
    let w: u32 = it.next()?.parse().ok()?;
    let h: u32 = it.next()?.parse().ok()?;
    (w > 0 && h > 0).then(|| format!("{w}x{h}"))
}

/// NovelAI PNG chunks: `Description` holds the prompt, `Comment` a JSON object (`prompt`,
/// `uc` = negative, `seed`, `steps`, `scale`, `sampler`, `noise_schedule`, `width`,
/// `height`; V4 adds `v4_prompt.caption.base_caption`), `Source` the model with its hash
/// (`NovelAI Diffusion V4.5 4BDE2A90`), kept whole as the model; the hash is also the
/// model hash.
pub(crate) fn novelai(
    description: Option<&str>,
    comment: Option<&Value>,
    source: Option<&str>,
    info: &mut AiInfo,
) {
    if let Some(c) = comment.and_then(Value::as_object) {
        let base_caption = |key: &str| {
            c.get(key)
                .and_then(|v| v.pointer("/caption/base_caption"))
                .and_then(json_str)
        };
        info.prompt = c
            .get("prompt")
            .and_then(json_str)
            .or_else(|| base_caption("v4_prompt"));
        info.negative_prompt = c
            .get("uc")
            .and_then(json_str)
            .or_else(|| base_caption("v4_negative_prompt"));
        info.seed = c.get("seed").and_then(json_seed);
        info.steps = c.get("steps").and_then(json_steps);
        info.cfg_scale = c.get("scale").and_then(json_f64);
        info.sampler = c.get("sampler").and_then(json_str);
        info.scheduler = c.get("noise_schedule").and_then(json_str);
        info.size = json_size(c.get("width"), c.get("height"));
    }
    if info.prompt.is_none() {
        info.prompt = description.and_then(non_empty);
    }
    if let Some(src) = source.and_then(non_empty) {
        if let Some((_, hash)) = src.rsplit_once(' ').filter(|(_, h)| is_upper_hex(h)) {
            info.model_hash = non_empty(hash);
        }
        info.model = Some(src);
    }
}

fn is_upper_hex(s: &str) -> bool {
    s.len() >= 6
        && s.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// SwarmUI `sui_image_params` object (docs/Image Metadata Format.md in SwarmUI): `prompt`,
/// `negativeprompt`, `model`, `seed`, `steps`, `cfgscale`, `sampler`, `scheduler`, `width`,
/// `height`.
pub(crate) fn swarmui(params: &Map<String, Value>, info: &mut AiInfo) {
    info.prompt = params.get("prompt").and_then(json_str);
    info.negative_prompt = params.get("negativeprompt").and_then(json_str);
    info.model = params.get("model").and_then(json_str);
    info.seed = params.get("seed").and_then(json_seed);
    info.steps = params.get("steps").and_then(json_steps);
    info.cfg_scale = params.get("cfgscale").and_then(json_f64);
    info.sampler = params.get("sampler").and_then(json_str);
    info.scheduler = params.get("scheduler").and_then(json_str);
    info.size = json_size(params.get("width"), params.get("height"));
    // `loras` and `loraweights` are parallel lists of names and weights.
    let weights = params.get("loraweights").and_then(Value::as_array);
    for (i, name) in params
        .get("loras")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(n) = name.as_str() {
            let w = weights.and_then(|w| w.get(i)).and_then(json_f64);
            loras::push(&mut info.loras, n, w, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::media::{AiSignal, AiSource};
    use serde_json::json;

    fn blank() -> AiInfo {
        AiInfo::new(AiSource::Invokeai, AiSignal::Metadata, "t")
    }

    #[test]
    fn dream_line() {
        let mut i = blank();
        invokeai_dream(
            "\"a castle [blurry, dark] at dawn\" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms",
            &mut i,
        );
        assert_eq!(i.prompt.as_deref(), Some("a castle at dawn"));
        assert_eq!(i.negative_prompt.as_deref(), Some("blurry, dark"));
        assert_eq!(
            (i.steps, i.seed, i.cfg_scale),
            (Some(50), Some(42), Some(7.5))
        );
        assert_eq!(i.size.as_deref(), Some("512x768"));
        assert_eq!(i.sampler.as_deref(), Some("k_lms"));
    }

    #[test]
    fn sd_metadata_prompt_list() {
        let mut i = blank();
        let v = json!({"model_weights": "stable-diffusion-1.5", "model_hash": "cc6cb27103",
            "image": {"prompt": [{"prompt": "a dog [cat]", "weight": 1.0}], "steps": 30, "cfg_scale": 7.5,
                      "seed": 1, "sampler": "k_euler_a", "width": 512, "height": 512}});
        invokeai_sd_metadata(&v, &mut i);
        assert_eq!(i.prompt.as_deref(), Some("a dog"));
        assert_eq!(i.negative_prompt.as_deref(), Some("cat"));
        assert_eq!(i.model.as_deref(), Some("stable-diffusion-1.5"));
    }

    #[test]
    fn fooocus_resolution_tuple() {
        assert_eq!(tuple_size("(1024, 1024)").as_deref(), Some("1024x1024"));
        assert_eq!(tuple_size("('896', '1152')").as_deref(), Some("896x1152"));
        assert_eq!(tuple_size("nonsense"), None);
    }
}
