//! File-name patterns that identify a tool. Only shapes a tool writes and cameras, phones,
//! screenshot tools and backups do not: every rule anchors on a tool name or on a structure
//! (trailing `_` counter, UUID after prompt words, `DALL·E <date> <time> - `) rather than on
//! "some digits". The rules and their sources are listed in docs/ai-detection.md.

use events::media::AiSource;

/// A file-name match: the tool and the rule that matched (for the evidence string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameMatch {
    pub source: AiSource,
    pub rule: &'static str,
}

const IMAGE_EXTS: [&str; 7] = ["png", "jpg", "jpeg", "webp", "gif", "avif", "heic"];
const VIDEO_EXTS: [&str; 5] = ["mp4", "mov", "webm", "mkv", "m4v"];

fn is_media_ext(ext: &str) -> bool {
    IMAGE_EXTS.contains(&ext) || VIDEO_EXTS.contains(&ext)
}

/// Whether the name ends in a video extension.
pub(crate) fn is_video_name(name: &str) -> bool {
    split_ext(base_name(name))
        .is_some_and(|(_, ext)| VIDEO_EXTS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// The last path component (callers may pass a path).
pub(crate) fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn split_ext(name: &str) -> Option<(&str, &str)> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some((stem, ext))
}

/// Whether `s` is a lowercase-hex UUID in 8-4-4-4-12 form.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// Matches `file_name` against the documented patterns.
pub(crate) fn detect(file_name: &str) -> Option<NameMatch> {
    let name = base_name(file_name);
    let (stem, ext) = split_ext(name)?;
    let ext = ext.to_ascii_lowercase();
    if !is_media_ext(&ext) {
        return None;
    }
    let image = IMAGE_EXTS.contains(&ext.as_str());
    let m = |source, rule| Some(NameMatch { source, rule });

    if image && dalle(stem) {
        return m(AiSource::Dalle, "DALL·E YYYY-MM-DD HH.MM.SS - <prompt>");
    }
    if image && chatgpt_image(stem) {
        return m(
            AiSource::Dalle,
            "ChatGPT Image <date>, HH_MM_SS (ChatGPT download)",
        );
    }
    if sora(stem) {
        // sora.com also makes images (with OpenAI's image model): those are `dalle`.
        return if image {
            m(
                AiSource::Dalle,
                "YYYYMMDD_HHMM_<title>_<mode>_<ulid> (sora.com image)",
            )
        } else {
            m(
                AiSource::Sora,
                "YYYYMMDD_HHMM_<title>_<mode>_<ulid> (Sora download)",
            )
        };
    }
    if comfyui(stem) {
        return m(
            AiSource::Comfyui,
            "<prefix>_NNNNN_ (ComfyUI SaveImage counter)",
        );
    }
    if midjourney(stem) {
        return m(AiSource::Midjourney, "<user>_<prompt>_<uuid>[_<n>]");
    }
    if image && fooocus(stem) {
        return m(
            AiSource::Fooocus,
            "YYYY-MM-DD_HH-MM-SS_NNNN (Fooocus outputs)",
        );
    }
    if image
        && stem.starts_with("Gemini_Generated_Image_")
        && stem.len() > "Gemini_Generated_Image_".len()
    {
        return m(AiSource::Imagen, "Gemini_Generated_Image_<id>");
    }
    if leonardo(stem) {
        return m(AiSource::Leonardo, "Leonardo_<model>_<prompt>_<n>");
    }
    if image && firefly(stem) {
        return m(AiSource::Firefly, "Firefly <prompt> <number>");
    }
    if runway(stem) {
        return m(AiSource::Runway, "Gen-N <…> <seed>, <prompt>");
    }
    tool_prefix(stem)
}

/// `DALL·E 2024-03-15 12.34.56 - prompt` (ChatGPT / labs.openai.com download names).
fn dalle(stem: &str) -> bool {
    let Some(rest) = stem
        .strip_prefix("DALL·E ")
        .or_else(|| stem.strip_prefix("DALL-E "))
    else {
        return false;
    };
    let b = rest.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let shape = b"dddd-dd-dd dd.dd.dd";
    let date_ok = shape.iter().zip(b).all(|(s, c)| {
        if *s == b'd' {
            c.is_ascii_digit()
        } else {
            s == c
        }
    });
    date_ok && (b.len() == 19 || rest[19..].starts_with(" - "))
}

/// Whether `b` holds `dd_dd_dd` (a download time with `_` for `:`) somewhere.
fn has_underscore_time(b: &[u8]) -> bool {
    b.windows(8).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b'_',
            _ => c.is_ascii_digit(),
        })
    })
}

/// ChatGPT image downloads: `ChatGPT Image Apr 1, 2025, 11_38_59 AM.png` (the date in the
/// browser's locale, the time with `_`), optionally with a browser's ` (2)` suffix.
fn chatgpt_image(stem: &str) -> bool {
    stem.strip_prefix("ChatGPT Image ")
        .is_some_and(|rest| has_underscore_time(rest.as_bytes()))
}

/// Sora downloads: `20250312_0050_<title>_simple_compose_01jp4efdj1fr8ba7nz1378bb8p`: date,
/// time, title, the generation mode (`simple_compose`, `remix`, `storyboard`, `blend`,
/// `loop`, `recut`) and the 26-character lowercase ULID of the generation.
fn sora(stem: &str) -> bool {
    const MODES: [&str; 6] = [
        "_simple_compose_",
        "_remix_",
        "_storyboard_",
        "_blend_",
        "_loop_",
        "_recut_",
    ];
    let stem = strip_copy_suffix(stem);
    let b = stem.as_bytes();
    let head_ok = b.len() > 14 + 26
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'_'
        && b[9..13].iter().all(u8::is_ascii_digit)
        && b[13] == b'_';
    if !head_ok || !stem.is_char_boundary(stem.len() - 26) {
        return false;
    }
    let (body, ulid) = stem.split_at(stem.len() - 26);
    is_ulid(ulid)
        && MODES
            .iter()
            .any(|m| body.ends_with(m) && body.len() > 13 + m.len())
}

/// A lowercase Crockford base32 ULID (no `i`, `l`, `o`, `u`; first character 0–7).
fn is_ulid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26
        && (b'0'..=b'7').contains(&b[0])
        && b.iter().all(|c| {
            c.is_ascii_digit()
                || (c.is_ascii_lowercase() && !matches!(c, b'i' | b'l' | b'o' | b'u'))
        })
}

/// `name (2)` → `name`: the suffix browsers add to a repeated download.
fn strip_copy_suffix(stem: &str) -> &str {
    match stem.strip_suffix(')').and_then(|s| s.rsplit_once(" (")) {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => head,
        _ => stem,
    }
}

/// ComfyUI `SaveImage`: `f"{filename}_{counter:05}_.png"`, e.g. `ComfyUI_00001_.png`. The
/// trailing underscore after a zero-padded counter is what no camera or phone writes.
fn comfyui(stem: &str) -> bool {
    let Some(body) = stem.strip_suffix('_') else {
        return false;
    };
    let Some((prefix, counter)) = body.rsplit_once('_') else {
        return false;
    };
    !prefix.is_empty() && counter.len() >= 5 && counter.bytes().all(|c| c.is_ascii_digit())
}

/// Midjourney downloads: `<user>_<prompt words>_<job uuid>` with an optional `_<index>`
/// (0–3 for the four grid images, larger for video frames / batches).
fn midjourney(stem: &str) -> bool {
    let body = match stem.rsplit_once('_') {
        Some((head, idx))
            if !idx.is_empty() && idx.len() <= 2 && idx.bytes().all(|c| c.is_ascii_digit()) =>
        {
            head
        }
        _ => stem,
    };
    if body.len() < 38 || !body.is_char_boundary(body.len() - 36) {
        return false;
    }
    let (head, uuid) = body.split_at(body.len() - 36);
    let Some(head) = head.strip_suffix('_') else {
        return false;
    };
    if !is_uuid(uuid) {
        return false;
    }
    // At least a user name and one prompt word, both containing a letter.
    let segments: Vec<&str> = head.split('_').collect();
    segments.len() >= 2
        && segments.iter().all(|s| !s.is_empty())
        && segments
            .iter()
            .filter(|s| s.chars().any(char::is_alphabetic))
            .count()
            >= 2
}

/// Fooocus `generate_temp_filename`: `%Y-%m-%d_%H-%M-%S_<random 1000..9999>`.
fn fooocus(stem: &str) -> bool {
    let b = stem.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let shape = b"dddd-dd-dd_dd-dd-dd_dddd";
    if !shape.iter().zip(b).all(|(s, c)| {
        if *s == b'd' {
            c.is_ascii_digit()
        } else {
            s == c
        }
    }) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| stem[r].parse::<u32>().unwrap_or(u32::MAX);
    let (month, day, hour, minute, second, random) = (
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
        num(20..24),
    );
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61
        && (1000..=9999).contains(&random)
}

/// Leonardo.Ai downloads: `Leonardo_<Model>_<prompt words>_<n>` (e.g.
/// `Leonardo_Phoenix_a_castle_0.jpg`, `Leonardo_Diffusion_XL_…_1.jpg`).
fn leonardo(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix("Leonardo_") else {
        return false;
    };
    let Some((head, idx)) = rest.rsplit_once('_') else {
        return false;
    };
    !idx.is_empty()
        && idx.len() <= 2
        && idx.bytes().all(|c| c.is_ascii_digit())
        && head.contains('_')
}

/// Adobe Firefly web downloads: `Firefly <prompt words> <number>`.
fn firefly(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix("Firefly ") else {
        return false;
    };
    let Some((prompt, number)) = rest.rsplit_once(' ') else {
        return false;
    };
    prompt.chars().any(char::is_alphabetic)
        && number.len() >= 4
        && number.bytes().all(|c| c.is_ascii_digit())
}

/// Runway downloads: `Gen-3 Alpha Turbo 2786445001, a fox running, M 5` — the model name
/// (`Gen-2`, `Gen-3 Alpha`, `Gen-4`…) first, a numeric seed of at least five digits after it.
fn runway(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix("Gen-") else {
        return false;
    };
    let mut chars = rest.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return false;
    }
    rest.split([' ', ','])
        .any(|tok| tok.len() >= 5 && tok.bytes().all(|c| c.is_ascii_digit()))
}

/// Names that start with a tool name that is not an ordinary word or person's name, followed
/// by a separator: `kling_…`, `hailuo-…`, `midjourney_…`. Catches tool downloads and user
/// renames alike. Ordinary words (`firefly`, `runway`, `luma`, `pika`, `sora`, `veo`, `flux`)
/// are deliberately absent.
fn tool_prefix(stem: &str) -> Option<NameMatch> {
    const PREFIXES: [(&str, AiSource, &str); 7] = [
        (
            "midjourney",
            AiSource::Midjourney,
            "midjourney_<…> (tool name prefix)",
        ),
        (
            "novelai",
            AiSource::Novelai,
            "novelai_<…> (tool name prefix)",
        ),
        (
            "ideogram",
            AiSource::Ideogram,
            "ideogram_<…> (tool name prefix)",
        ),
        ("kling", AiSource::Kling, "kling_<…> (tool name prefix)"),
        ("hailuo", AiSource::Hailuo, "hailuo_<…> (tool name prefix)"),
        ("haiper", AiSource::Haiper, "haiper_<…> (tool name prefix)"),
        (
            "comfyui",
            AiSource::Comfyui,
            "ComfyUI_<…> (tool name prefix)",
        ),
    ];
    let lower = stem.to_ascii_lowercase();
    PREFIXES.iter().find_map(|(p, source, rule)| {
        let rest = lower.strip_prefix(p)?;
        let sep_ok = rest.is_empty() || rest.starts_with(['_', '-', ' ', '(']);
        sep_ok.then_some(NameMatch {
            source: *source,
            rule,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(name: &str) -> Option<AiSource> {
        detect(name).map(|m| m.source)
    }

    #[test]
    fn tool_patterns() {
        assert_eq!(
            src("DALL·E 2024-03-15 12.34.56 - a red fox in snow.png"),
            Some(AiSource::Dalle)
        );
        assert_eq!(
            src("DALL-E 2023-11-02 09.01.02 - cat.webp"),
            Some(AiSource::Dalle)
        );
        assert_eq!(src("ComfyUI_00001_.png"), Some(AiSource::Comfyui));
        assert_eq!(src("portrait_flux_00042_.webp"), Some(AiSource::Comfyui));
        assert_eq!(
            src("jane_a_red_fox_in_snow_0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70.png"),
            Some(AiSource::Midjourney)
        );
        assert_eq!(
            src("jane_a_red_fox_0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70_2.png"),
            Some(AiSource::Midjourney)
        );
        assert_eq!(src("2024-03-15_12-34-56_1234.png"), Some(AiSource::Fooocus));
        assert_eq!(
            src("Gemini_Generated_Image_a1b2c3d4e5.png"),
            Some(AiSource::Imagen)
        );
        assert_eq!(
            src("Leonardo_Phoenix_a_castle_at_dawn_0.jpg"),
            Some(AiSource::Leonardo)
        );
        assert_eq!(
            src("Firefly a castle at dawn 47291.jpg"),
            Some(AiSource::Firefly)
        );
        assert_eq!(
            src("Gen-3 Alpha Turbo 2786445001, a fox running, M 5.mp4"),
            Some(AiSource::Runway)
        );
        assert_eq!(
            src("kling_20240806_Text_to_Video_a_fox_1234.mp4"),
            Some(AiSource::Kling)
        );
        assert_eq!(src("hailuo-video-01.mp4"), Some(AiSource::Hailuo));
        assert_eq!(
            src("/inbox/sub dir/ComfyUI_00007_.png"),
            Some(AiSource::Comfyui)
        );
        assert_eq!(
            src("ChatGPT Image Apr 1, 2025, 11_38_59 AM.png"),
            Some(AiSource::Dalle)
        );
        assert_eq!(
            src("ChatGPT Image 2026年6月29日 10_17_37 (3).png"),
            Some(AiSource::Dalle)
        );
        assert_eq!(
            src(
                "20250312_0050_Interview with AI Twist_simple_compose_01jp4efdj1fr8ba7nz1378bb8p.mp4"
            ),
            Some(AiSource::Sora)
        );
        assert_eq!(
            src("20250614_1259_High-Quality Gum Package_remix_01jxr0a3aseqn89rk2g8ykvx9n (2).png"),
            Some(AiSource::Dalle)
        );
    }

    #[test]
    fn ordinary_names_do_not_match() {
        for n in [
            "IMG_20240315_123456.jpg",
            "PXL_20240315_123456789.jpg",
            "1710505496123.jpg",
            "sd_card_backup.jpg",
            "DSC01234.JPG",
            "Screenshot_20240315-123456.png",
            "Screenshot 2024-03-15 at 12.34.56.png",
            "2024-03-15_12-34-56.png",
            "2024-03-15_12-34-56_0001.png",
            "VID_20240315_123456.mp4",
            "photo_0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70.jpg",
            "0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70.png",
            "firefly_in_the_garden.jpg",
            "runway_show.mp4",
            "sora_beach.mp4",
            "pikachu.png",
            "Leonardo.jpg",
            "DALL·E.png",
            "ComfyUI_00001_.txt",
            "ChatGPT Image.png",
            "ChatGPT Image ideas.png",
            "20250312_0050_holiday.mp4",
            "20250312_0050_trip_remix_01JP4EFDJ1FR8BA7NZ1378BB8P.mp4",
            "20250312_0050_trip_final_01jp4efdj1fr8ba7nz1378bb8p.mp4",
            "klingon.png",
            "",
            ".png",
            "_00001_.png",
        ] {
            assert_eq!(detect(n), None, "{n}");
        }
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70"));
        assert!(!is_uuid("0F4A5D7E-8A2C-4B3E-9D1A-2C3B4D5E6F70"));
        assert!(!is_uuid("0f4a5d7e8a2c4b3e9d1a2c3b4d5e6f70"));
    }
}
