//! Metadata from sidecar files, and its merge into the media file's own.
//!
//! The caller reads the sidecar (at most [`MAX_SIDECAR_BYTES`]) and passes its bytes: this
//! crate still reads no file but the one it is given. What each format gives:
//! - XMP (`photo.jpg.xmp`, `photo.xmp`): capture date (the XMP date chain), `xmp:Rating`,
//!   `xmp:Label` and `dc:subject` keywords;
//! - Google Takeout JSON (`photo.jpg.json`): `photoTakenTime` (UTC);
//! - A1111/Forge parameters (`00042-99.txt`): the tool and generation parameters, through the
//!   same infotext parser as PNG `parameters` chunks.
//!
//! [`merge_sidecar`]: the file's own metadata wins where both speak (a capture date from the
//! file name or the modification time is not the file speaking, and gives way); each field a
//! sidecar spoke to is noted in [`MediaInfo::sources`].

use events::media::{AiInfo, CaptureTime, DateSource, MediaInfo};

use crate::dates::utc_from_epoch;

/// Larger sidecars are not read (real ones are a few kilobytes).
pub const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// The sidecar formats metadata is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarFormat {
    /// An XMP packet.
    Xmp,
    /// Google Takeout's JSON.
    Takeout,
    /// A1111/Forge generation parameters (infotext).
    Parameters,
}

impl SidecarFormat {
    /// The format of a sidecar of kind `kind` (`xmp`, `takeout`, `parameters`); `None` for
    /// kinds no metadata is read from (`aae`, `generator`).
    pub fn of_kind(kind: &str) -> Option<SidecarFormat> {
        match kind {
            "xmp" => Some(SidecarFormat::Xmp),
            "takeout" => Some(SidecarFormat::Takeout),
            "parameters" => Some(SidecarFormat::Parameters),
            _ => None,
        }
    }
}

/// What one sidecar says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SidecarMetadata {
    /// Capture time, with where in the sidecar it came from.
    pub taken_at: Option<(CaptureTime, DateSource)>,
    /// Star rating.
    pub rating: Option<i8>,
    /// Labels and keywords.
    pub labels: Vec<String>,
    /// Tool and generation parameters.
    pub ai: Option<AiInfo>,
}

/// Reads the sidecar `bytes` of `format`, named `name` (for evidence). Never fails: what
/// cannot be read is simply not there.
pub fn read_sidecar(format: SidecarFormat, bytes: &[u8], name: &str) -> SidecarMetadata {
    let text = String::from_utf8_lossy(bytes);
    match format {
        SidecarFormat::Xmp => {
            let tags = crate::xmp::tags(&text);
            SidecarMetadata {
                taken_at: crate::xmp::capture_date(&text).map(|t| (t, DateSource::Xmp)),
                rating: tags.rating,
                labels: tags.labels,
                ai: None,
            }
        }
        SidecarFormat::Takeout => SidecarMetadata {
            taken_at: takeout_taken_at(&text).map(|t| (t, DateSource::Takeout)),
            ..SidecarMetadata::default()
        },
        SidecarFormat::Parameters => SidecarMetadata {
            ai: crate::ai::from_parameters_text(&text, &format!("sidecar:{name}")),
            ..SidecarMetadata::default()
        },
    }
}

/// `photoTakenTime.timestamp` (seconds since 1970, a string or a number) of Takeout JSON.
fn takeout_taken_at(text: &str) -> Option<CaptureTime> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let ts = v.get("photoTakenTime")?.get("timestamp")?;
    let secs = match ts {
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        other => other.as_i64()?,
    };
    let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
    utc_from_epoch(epoch, secs, 0)
}

/// Merges what the sidecar `name` says into `info` (see the module docs).
pub fn merge_sidecar(info: &mut MediaInfo, found: SidecarMetadata, name: &str) {
    let from = format!("sidecar:{name}");
    let mut note = |info: &mut MediaInfo, field: &str, taken: bool| {
        let source = if taken {
            from.clone()
        } else {
            "file".to_owned()
        };
        info.sources.entry(field.to_owned()).or_insert(source);
    };
    if let Some((t, source)) = found.taken_at {
        let weak = matches!(
            info.taken_at_source,
            None | Some(DateSource::Filename | DateSource::Mtime)
        );
        let first = !info.sources.contains_key("taken_at");
        let take = weak && (first || info.taken_at.is_none());
        if take {
            info.taken_at = Some(t);
            info.taken_at_source = Some(source);
        }
        note(info, "taken_at", take);
    }
    if let Some(r) = found.rating {
        let take = info.rating.is_none();
        if take {
            info.rating = Some(r);
        }
        note(info, "rating", take);
    }
    if !found.labels.is_empty() {
        let take = info.labels.is_empty();
        if take {
            info.labels = found.labels;
        }
        note(info, "labels", take);
    }
    if let Some(ai) = found.ai {
        merge_ai(info, ai, &mut note);
    }
}

/// The file's AI info wins field by field; a file with none takes the sidecar's whole.
fn merge_ai(
    info: &mut MediaInfo,
    found: AiInfo,
    note: &mut impl FnMut(&mut MediaInfo, &str, bool),
) {
    let Some(own) = info.ai.as_mut() else {
        info.ai = Some(found);
        note(info, "ai", true);
        return;
    };
    let mut taken: Vec<(&str, bool)> = Vec::new();
    let mut fill = |field: &'static str, slot: &mut Option<String>, value: Option<String>| {
        if value.is_some() {
            let take = slot.is_none();
            if take {
                *slot = value;
            }
            taken.push((field, take));
        }
    };
    fill("ai.prompt", &mut own.prompt, found.prompt);
    fill(
        "ai.negative_prompt",
        &mut own.negative_prompt,
        found.negative_prompt,
    );
    fill("ai.model", &mut own.model, found.model);
    fill("ai.sampler", &mut own.sampler, found.sampler);
    fill("ai.size", &mut own.size, found.size);
    if own.seed.is_none() {
        own.seed = found.seed;
    }
    if own.steps.is_none() {
        own.steps = found.steps;
    }
    if own.cfg_scale.is_none() {
        own.cfg_scale = found.cfg_scale;
    }
    if own.loras.is_empty() {
        own.loras = found.loras;
    }
    for (field, take) in taken {
        note(info, field, take);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::media::MediaType;

    const PARAMS: &str = "a lighthouse in a storm\nNegative prompt: blurry\n\
        Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64, Model: dreamshaper";

    #[test]
    fn parameters_give_a_file_without_ai_info_its_tool_and_prompt() {
        let mut info = MediaInfo::empty(MediaType::Image);
        let found = read_sidecar(SidecarFormat::Parameters, PARAMS.as_bytes(), "00042-99.txt");
        merge_sidecar(&mut info, found, "00042-99.txt");
        let ai = info.ai.as_ref().unwrap();
        assert_eq!(ai.prompt.as_deref(), Some("a lighthouse in a storm"));
        assert_eq!((ai.seed, ai.steps), (Some(42), Some(20)));
        assert!(
            ai.evidence.contains("sidecar:00042-99.txt"),
            "{}",
            ai.evidence
        );
        assert_eq!(info.sources["ai"], "sidecar:00042-99.txt");
    }

    #[test]
    fn the_file_wins_where_both_speak() {
        let mut info = MediaInfo::empty(MediaType::Image);
        let mut own = crate::ai::from_parameters_text(
            "own prompt\nSteps: 5, Sampler: Euler, Seed: 1",
            "png:parameters",
        )
        .unwrap();
        own.model = None;
        info.ai = Some(own);
        info.taken_at = Some("2020-01-01T10:00:00".parse().unwrap());
        info.taken_at_source = Some(DateSource::Exif);
        merge_sidecar(
            &mut info,
            read_sidecar(SidecarFormat::Parameters, PARAMS.as_bytes(), "a.txt"),
            "a.txt",
        );
        let takeout = br#"{"photoTakenTime": {"timestamp": "1600000000"}}"#;
        merge_sidecar(
            &mut info,
            read_sidecar(SidecarFormat::Takeout, takeout, "a.png.json"),
            "a.png.json",
        );
        let ai = info.ai.as_ref().unwrap();
        assert_eq!(ai.prompt.as_deref(), Some("own prompt"));
        assert_eq!(
            ai.model.as_deref(),
            Some("dreamshaper"),
            "the file had none"
        );
        assert_eq!(info.sources["ai.prompt"], "file");
        assert_eq!(info.sources["ai.model"], "sidecar:a.txt");
        assert_eq!(info.taken_at_source, Some(DateSource::Exif));
        assert_eq!(info.sources["taken_at"], "file");
    }

    #[test]
    fn takeout_and_xmp_dates_replace_a_modification_time() {
        let mut info = MediaInfo::empty(MediaType::Image);
        info.taken_at = Some("2021-06-15T12:00:00".parse().unwrap());
        info.taken_at_source = Some(DateSource::Mtime);
        let takeout = br#"{"title": "x.jpg", "photoTakenTime": {"timestamp": 1600000000}}"#;
        merge_sidecar(
            &mut info,
            read_sidecar(SidecarFormat::Takeout, takeout, "x.jpg.json"),
            "x.jpg.json",
        );
        assert_eq!(
            info.taken_at.unwrap().to_string(),
            "2020-09-13T12:26:40+00:00"
        );
        assert_eq!(info.taken_at_source, Some(DateSource::Takeout));
        let xmp = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
            xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
            xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="2019-05-01T08:00:00"
            xmp:Rating="3"/></rdf:RDF></x:xmpmeta>"#;
        merge_sidecar(
            &mut info,
            read_sidecar(SidecarFormat::Xmp, xmp, "x.xmp"),
            "x.xmp",
        );
        assert_eq!(
            info.taken_at_source,
            Some(DateSource::Takeout),
            "the first sidecar's stays"
        );
        assert_eq!(info.rating, Some(3));
        assert_eq!(info.sources["rating"], "sidecar:x.xmp");
        assert!(
            read_sidecar(SidecarFormat::Takeout, b"not json", "y")
                .taken_at
                .is_none()
        );
    }
}
