//! The AUTOMATIC1111 "infotext" format, also written by Forge, SD.Next, Fooocus (A1111
//! scheme) and many ComfyUI save nodes:
//!
//! ```text
//! prompt line 1
//! prompt line 2
//! Negative prompt: negative line 1
//! negative line 2
//! Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b
//! ```
//!
//! Parsing follows A1111's own `parse_generation_parameters` (modules/infotext_utils.py):
//! the last line is the parameter line only if it holds at least three `Key: value` pairs;
//! values may be JSON-quoted (`Key: "a, b"`) to carry commas.

use events::media::AiInfo;

use super::loras;
use super::text::{non_empty, parse_cfg, parse_seed, parse_steps};

/// Keys that only generation parameters carry; at least two must be present before a text is
/// treated as infotext, so a free-form comment with three colons is not mistaken for one.
const KNOWN_KEYS: [&str; 7] = [
    "Steps",
    "Sampler",
    "CFG scale",
    "Seed",
    "Size",
    "Model hash",
    "Model",
];

/// A parsed infotext.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Infotext {
    /// Positive prompt (may span lines).
    pub prompt: Option<String>,
    /// Negative prompt (may span lines).
    pub negative_prompt: Option<String>,
    /// `Key: value` pairs of the last line, in order, values unquoted.
    pub params: Vec<(String, String)>,
    /// Civitai's resource list (checkpoint and LoRAs), when the line carries one.
    pub civitai_resources: Option<serde_json::Value>,
}

impl Infotext {
    /// The value of the first parameter named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Copies the generation parameters into `info`, leaving fields already set alone.
    /// Values are kept as written: `Sampler: DPM++ 2M, Schedule type: Karras` gives sampler
    /// `DPM++ 2M` and scheduler `Karras`; a pre-1.9 `Sampler: DPM++ 2M Karras` stays whole.
    pub(crate) fn fill(&self, info: &mut AiInfo) {
        let text = |key| self.get(key).and_then(non_empty);
        fill_opt(&mut info.prompt, self.prompt.clone());
        fill_opt(&mut info.negative_prompt, self.negative_prompt.clone());
        fill_opt(&mut info.model, text("Model"));
        fill_opt(&mut info.model_hash, text("Model hash"));
        fill_opt(&mut info.seed, self.get("Seed").and_then(parse_seed));
        fill_opt(&mut info.steps, self.get("Steps").and_then(parse_steps));
        fill_opt(&mut info.sampler, text("Sampler"));
        fill_opt(&mut info.scheduler, text("Schedule type"));
        fill_opt(
            &mut info.cfg_scale,
            self.get("CFG scale").and_then(parse_cfg),
        );
        fill_opt(
            &mut info.guidance,
            self.get("Distilled CFG Scale").and_then(parse_cfg),
        );
        fill_opt(&mut info.size, text("Size"));
        if info.loras.is_empty() {
            if let Some(p) = &self.prompt {
                loras::prompt_tags(p, &mut info.loras);
            }
            if let Some(h) = self.get("Lora hashes") {
                loras::a1111_hashes(h, &mut info.loras);
            }
        }
        if let Some(resources) = &self.civitai_resources {
            civitai_resources(resources, info);
        }
    }
}

fn fill_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// Civitai's generator writes `Civitai resources: [{"type": "checkpoint", "modelName": …},
/// {"type": "lora", "modelName": …, "weight": …}]` (unquoted JSON) instead of `Model:`.
fn civitai_resources(resources: &serde_json::Value, info: &mut AiInfo) {
    for r in resources.as_array().into_iter().flatten() {
        let name = r.get("modelName").and_then(serde_json::Value::as_str);
        match (r.get("type").and_then(serde_json::Value::as_str), name) {
            (Some("checkpoint"), Some(n)) => fill_opt(&mut info.model, non_empty(n)),
            (Some("lora" | "lycoris" | "locon"), Some(n)) => loras::push(
                &mut info.loras,
                n,
                r.get("weight").and_then(serde_json::Value::as_f64),
                None,
            ),
            _ => {}
        }
    }
}

/// The JSON array after `Civitai resources: ` on the parameter line, if any.
fn civitai_json(line: &str) -> Option<serde_json::Value> {
    let at = line.find("Civitai resources:")?;
    let rest = line[at + "Civitai resources:".len()..].trim_start();
    serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()
}

/// Parses `text` as infotext; `None` when it does not look like generation parameters.
pub(crate) fn parse(text: &str) -> Option<Infotext> {
    // Work on a bounded slice: parameters never need megabytes, and the scan below is linear.
    let text = bounded(text.trim(), 4 * super::text::MAX_FIELD_BYTES);
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let last = lines.pop()?;
    let params = parse_param_line(last);
    if params.len() < 3 {
        return None;
    }
    let known = KNOWN_KEYS
        .iter()
        .filter(|k| params.iter().any(|(key, _)| key == *k))
        .count();
    if known < 2 {
        return None;
    }

    let mut prompt = String::new();
    let mut negative = String::new();
    let mut in_negative = false;
    for line in lines {
        let mut line = line.trim();
        if let Some(rest) = line.strip_prefix("Negative prompt:") {
            in_negative = true;
            line = rest.trim();
        }
        let target = if in_negative {
            &mut negative
        } else {
            &mut prompt
        };
        if !target.is_empty() {
            target.push('\n');
        }
        target.push_str(line);
    }
    Some(Infotext {
        prompt: non_empty(&prompt),
        negative_prompt: non_empty(&negative),
        civitai_resources: civitai_json(last),
        params,
    })
}

fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    // Keep the end: the parameter line is last and matters most.
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn is_key_start(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_key_char(c: char) -> bool {
    is_key_start(c) || c == ' ' || c == '-' || c == '/'
}

/// Equivalent of A1111's `re_param.findall(line)` with
/// `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`, written as a scanner so it runs in
/// linear time without a regex dependency.
fn parse_param_line(line: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match match_param(&chars, i) {
            Ok((key, value, next)) => {
                out.push((key, value));
                // A zero-length match cannot happen (a key is at least two chars), so `next > i`.
                i = next;
            }
            // Every start inside a run of key characters ends at the same non-colon character,
            // so the regex would fail from each of them too: skip the run (keeps this linear).
            Err(resume) => i = resume.max(i + 1),
        }
    }
    out
}

/// One match attempt at `start`: the pair and where to continue, or where to retry from.
fn match_param(chars: &[char], start: usize) -> Result<(String, String, usize), usize> {
    let mut i = start;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let key_start = i;
    if i >= chars.len() || !is_key_start(chars[i]) {
        return Err(start + 1);
    }
    i += 1;
    while i < chars.len() && is_key_char(chars[i]) {
        i += 1;
    }
    if i - key_start < 2 || i >= chars.len() || chars[i] != ':' {
        return Err(i);
    }
    let key: String = chars[key_start..i]
        .iter()
        .collect::<String>()
        .trim()
        .to_owned();
    i += 1;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if let Some((value, next)) = quoted_value(chars, i) {
        return Ok((key, value, next));
    }
    let value_start = i;
    while i < chars.len() && chars[i] != ',' {
        i += 1;
    }
    let value: String = chars[value_start..i]
        .iter()
        .collect::<String>()
        .trim()
        .to_owned();
    if i < chars.len() {
        i += 1; // the comma
    }
    Ok((key, value, i))
}

/// A `"…"` value with backslash escapes, accepted only when followed by `,` or the end (as in
/// the regex, otherwise the unquoted alternative applies).
fn quoted_value(chars: &[char], start: usize) -> Option<(String, usize)> {
    if chars.get(start) != Some(&'"') {
        return None;
    }
    let mut i = start + 1;
    let mut body_len = 0;
    loop {
        match chars.get(i)? {
            '\\' => {
                chars.get(i + 1)?;
                i += 2;
                body_len += 1;
            }
            '"' => break,
            _ => {
                i += 1;
                body_len += 1;
            }
        }
    }
    if body_len == 0 {
        return None;
    }
    let end = i + 1; // past the closing quote
    let next = match chars.get(end) {
        None => end,
        Some(',') => end + 1,
        Some(_) => return None,
    };
    let raw: String = chars[start..end].iter().collect();
    // A1111 quotes with json.dumps and unquotes with json.loads.
    let value =
        serde_json::from_str::<String>(&raw).unwrap_or_else(|_| raw[1..raw.len() - 1].to_owned());
    Some((value, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1111_docstring_example() {
        let t = "girl with an artist's beret, determined\nNegative prompt: ugly, fat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
        let p = parse(t).expect("test input");
        assert_eq!(
            p.prompt.as_deref(),
            Some("girl with an artist's beret, determined")
        );
        assert_eq!(p.negative_prompt.as_deref(), Some("ugly, fat"));
        assert_eq!(p.get("Seed"), Some("965400086"));
        assert_eq!(p.get("Model hash"), Some("45dee52b"));
        assert_eq!(p.get("Size"), Some("512x512"));
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let t = "p\nSteps: 20, Lora hashes: \"a: 1, b: 2\", Seed: 5, Sampler: Euler, Note: \"say \\\"hi\\\", ok\"";
        let p = parse(t).expect("test input");
        assert_eq!(p.get("Lora hashes"), Some("a: 1, b: 2"));
        assert_eq!(p.get("Seed"), Some("5"));
        assert_eq!(p.get("Note"), Some("say \"hi\", ok"));
    }

    #[test]
    fn multi_line_prompts_and_negatives() {
        let t = "line one\nline two\nNegative prompt: bad\nworse\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 1, Size: 832x1216";
        let p = parse(t).expect("test input");
        assert_eq!(p.prompt.as_deref(), Some("line one\nline two"));
        assert_eq!(p.negative_prompt.as_deref(), Some("bad\nworse"));
        let mut info = AiInfo::new(
            events::media::AiSource::StableDiffusion,
            events::media::AiSignal::Metadata,
            "x",
        );
        p.fill(&mut info);
        assert_eq!(info.sampler.as_deref(), Some("DPM++ 2M"));
        assert_eq!(info.scheduler.as_deref(), Some("Karras"));
        assert_eq!(info.cfg_scale, Some(5.5));
    }

    #[test]
    fn missing_negative_prompt_and_crlf() {
        let t = "a cat\r\nSteps: 4, Sampler: Euler, Seed: 9, Model: flux1-dev\r\n";
        let p = parse(t).expect("test input");
        assert_eq!(p.prompt.as_deref(), Some("a cat"));
        assert_eq!(p.negative_prompt, None);
        assert_eq!(p.get("Model"), Some("flux1-dev"));
    }

    #[test]
    fn parameters_only_has_no_prompt() {
        let p = parse("Steps: 20, Sampler: Euler a, Seed: 1").expect("test input");
        assert_eq!(p.prompt, None);
    }

    #[test]
    fn prose_is_not_infotext() {
        assert!(parse("Note: this is fine, Time: noon, Place: home").is_none());
        assert!(parse("just a description of a sunset").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn unterminated_quote_falls_back_to_plain_value() {
        let p = parse("x\nSteps: 20, Sampler: \"Euler, Seed: 3, Size: 1x1").expect("test input");
        assert_eq!(p.get("Sampler"), Some("\"Euler"));
        assert_eq!(p.get("Seed"), Some("3"));
    }
}
