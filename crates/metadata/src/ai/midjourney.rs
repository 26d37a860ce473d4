//! Midjourney's prompt text: `<prompt> --ar 16:9 --v 6.1 --s 250 … Job ID: <uuid>`, as its
//! PNG `Description`, EXIF `ImageDescription` or XMP `dc:description` carries it. The prompt
//! ends before the first ` --parameter`; each parameter goes to its own field.

use events::media::{AiInfo, MidjourneyParams};

use super::text::{non_empty, parse_seed};

const JOB_ID: &str = "Job ID:";

/// Reads a Midjourney description into `info` when it carries a job id; `false` otherwise.
pub(crate) fn read_description(text: &str, info: &mut AiInfo) -> bool {
    let Some(pos) = text.find(JOB_ID) else {
        return false;
    };
    let id = text[pos + JOB_ID.len()..].trim_start();
    let uuid: String = id.chars().take(36).collect();
    if !super::filename::is_uuid(&uuid) {
        return false;
    }
    let mut params = MidjourneyParams {
        job_id: Some(uuid),
        ..MidjourneyParams::default()
    };
    info.prompt = split_parameters(&text[..pos], &mut params, &mut info.seed);
    info.midjourney = Some(params);
    true
}

/// Splits `prompt --a 1 --b x y --flag` into the prompt (returned) and the parameters.
pub(crate) fn split_parameters(
    text: &str,
    params: &mut MidjourneyParams,
    seed: &mut Option<u64>,
) -> Option<String> {
    let start = parameter_start(text);
    let (prompt, rest) = text.split_at(start);
    let mut other: Vec<String> = Vec::new();
    for chunk in rest.split(" --").map(|c| c.trim().trim_start_matches("--")) {
        let (name, value) = chunk.split_once(' ').unwrap_or((chunk, ""));
        let value = value.trim();
        let slot = match name.to_ascii_lowercase().as_str() {
            "" => continue,
            "ar" | "aspect" => &mut params.aspect_ratio,
            "v" | "version" => &mut params.version,
            "niji" => &mut params.niji,
            "style" => &mut params.style,
            "s" | "stylize" => &mut params.stylize,
            "c" | "chaos" => &mut params.chaos,
            "w" | "weird" => &mut params.weird,
            "q" | "quality" => &mut params.quality,
            "seed" | "sameseed" => {
                *seed = seed.or_else(|| parse_seed(value));
                continue;
            }
            _ => {
                other.push(format!("--{chunk}"));
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
    }
    params.other = non_empty(&other.join(" "));
    non_empty(prompt)
}

/// Byte offset of the first ` --x` (a `--` at the start or after whitespace, followed by a
/// letter), or the text's length.
fn parameter_start(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(rel) = text[i..].find("--") {
        let at = i + rel;
        let after_space = at == 0 || b[at - 1].is_ascii_whitespace();
        let letter_next = b.get(at + 2).is_some_and(u8::is_ascii_alphabetic);
        if after_space && letter_next {
            return at;
        }
        i = at + 2;
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::media::{AiSignal, AiSource};

    #[test]
    fn parameters_leave_the_prompt() {
        let mut i = AiInfo::new(AiSource::Midjourney, AiSignal::Metadata, "t");
        let d = "a red fox -- in snow --ar 3:2 --v 6.1 --s 250 --no text, trees --tile --seed 42 \
                 Job ID: 0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70";
        assert!(read_description(d, &mut i));
        assert_eq!(i.prompt.as_deref(), Some("a red fox -- in snow"));
        assert_eq!(i.seed, Some(42));
        let p = i.midjourney.expect("params");
        assert_eq!(p.aspect_ratio.as_deref(), Some("3:2"));
        assert_eq!(p.version.as_deref(), Some("6.1"));
        assert_eq!(p.stylize.as_deref(), Some("250"));
        assert_eq!(p.other.as_deref(), Some("--no text, trees --tile"));
        assert_eq!(
            p.job_id.as_deref(),
            Some("0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70")
        );
        let mut i = AiInfo::new(AiSource::Midjourney, AiSignal::Metadata, "t");
        assert!(!read_description("Job ID: nope", &mut i));
    }

    #[test]
    fn niji_without_a_version_and_no_prompt() {
        let mut p = MidjourneyParams::default();
        let mut seed = None;
        assert_eq!(split_parameters("--niji --ar 1:1", &mut p, &mut seed), None);
        assert_eq!(p.niji.as_deref(), Some(""));
        assert_eq!(p.aspect_ratio.as_deref(), Some("1:1"));
    }
}
