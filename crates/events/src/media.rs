//! Media metadata as the metadata extractor reports it and as events carry it.
//!
//! These are plain data types: the `metadata` crate fills them, `alice inspect` prints them,
//! the organizer plans destinations from them and the catalog stores them.

use std::fmt;
use std::str::FromStr;

use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

/// Broad kind of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    /// A still image.
    Image,
    /// A video.
    Video,
    /// Anything not recognized as image or video.
    Other,
}

impl MediaType {
    /// The lowercase name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Other => "other",
        }
    }
}

/// Where a capture time came from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateSource {
    /// EXIF `DateTimeOriginal` or another EXIF date.
    Exif,
    /// An XMP date (`xmp:CreateDate`, `photoshop:DateCreated`, …).
    Xmp,
    /// A PNG `tIME` chunk or `Creation Time` text chunk.
    Png,
    /// QuickTime/MP4 `mvhd` creation time or a QuickTime metadata date.
    Quicktime,
    /// A date found in a well-known file-name pattern.
    Filename,
    /// Google Takeout's `photoTakenTime` in the file's JSON sidecar.
    Takeout,
    /// The file's modification time (the fallback).
    Mtime,
}

impl DateSource {
    /// The lowercase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::Exif => "exif",
            DateSource::Xmp => "xmp",
            DateSource::Png => "png",
            DateSource::Quicktime => "quicktime",
            DateSource::Filename => "filename",
            DateSource::Takeout => "takeout",
            DateSource::Mtime => "mtime",
        }
    }
}

/// A capture time: the wall-clock time where the picture was taken, plus its UTC offset when
/// the file says it. A time without an offset is *local* and is never silently shifted.
///
/// Serialized as RFC 3339 (`2024-03-15T12:34:56.120+01:00`) when the offset is known, and as
/// the same without offset (`2024-03-15T12:34:56`) when it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureTime {
    /// Wall-clock time at the place of capture.
    pub local: NaiveDateTime,
    /// Offset from UTC in seconds, when known.
    pub offset_seconds: Option<i32>,
}

impl CaptureTime {
    /// A local time without a known offset.
    pub fn local(local: NaiveDateTime) -> Self {
        CaptureTime {
            local,
            offset_seconds: None,
        }
    }

    /// A time with a known UTC offset.
    pub fn with_offset(local: NaiveDateTime, offset_seconds: i32) -> Self {
        CaptureTime {
            local,
            offset_seconds: Some(offset_seconds),
        }
    }

    /// The capture date as `YYYY-MM-DD` (wall-clock date at the place of capture).
    pub fn date_string(&self) -> String {
        self.local.format("%Y-%m-%d").to_string()
    }
}

impl fmt::Display for CaptureTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = if self.local.and_utc().timestamp_subsec_nanos() == 0 {
            self.local.format("%Y-%m-%dT%H:%M:%S").to_string()
        } else {
            self.local.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
        };
        match self.offset_seconds.and_then(FixedOffset::east_opt) {
            Some(off) => {
                // chrono renders +00:00 as "Z" only with to_rfc3339_opts; keep "+00:00" explicit.
                let dt = off.from_local_datetime(&self.local).single();
                match dt {
                    Some(dt) => write!(f, "{base}{}", dt.format("%:z")),
                    None => write!(f, "{base}"),
                }
            }
            None => write!(f, "{base}"),
        }
    }
}

/// Error for a capture time string that is neither RFC 3339 nor a local ISO date-time.
#[derive(Debug, thiserror::Error)]
#[error("not a capture time (expected RFC 3339 or YYYY-MM-DDTHH:MM:SS): {0:?}")]
pub struct CaptureTimeParseError(String);

impl FromStr for CaptureTime {
    type Err = CaptureTimeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
            return Ok(CaptureTime::with_offset(
                dt.naive_local(),
                dt.offset().local_minus_utc(),
            ));
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(local) = NaiveDateTime::parse_from_str(s, fmt) {
                return Ok(CaptureTime::local(local));
            }
        }
        Err(CaptureTimeParseError(s.to_owned()))
    }
}

impl Serialize for CaptureTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CaptureTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Camera make and model, as the file states them (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Camera {
    /// Manufacturer (`EXIF Make`).
    pub make: Option<String>,
    /// Model (`EXIF Model`).
    pub model: Option<String>,
}

/// The AI tools AliceMultiverse recognizes. This label set is a contract: folder names and
/// search filters use these exact strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AiSource {
    /// Stable Diffusion front ends not otherwise identified (A1111, Forge, SD.Next, SwarmUI…).
    StableDiffusion,
    /// ComfyUI.
    Comfyui,
    /// InvokeAI.
    Invokeai,
    /// Fooocus.
    Fooocus,
    /// NovelAI.
    Novelai,
    /// Midjourney.
    Midjourney,
    /// OpenAI DALL·E / GPT image generation.
    Dalle,
    /// Adobe Firefly.
    Firefly,
    /// Google Imagen.
    Imagen,
    /// Leonardo.Ai.
    Leonardo,
    /// Ideogram.
    Ideogram,
    /// Black Forest Labs FLUX.
    Flux,
    /// Runway.
    Runway,
    /// Kling.
    Kling,
    /// Pika.
    Pika,
    /// Luma (Dream Machine).
    Luma,
    /// OpenAI Sora.
    Sora,
    /// Google Veo.
    Veo,
    /// Hailuo (MiniMax).
    Hailuo,
    /// Haiper.
    Haiper,
}

impl AiSource {
    /// Every label, in documentation order.
    pub const ALL: [AiSource; 20] = [
        AiSource::StableDiffusion,
        AiSource::Comfyui,
        AiSource::Invokeai,
        AiSource::Fooocus,
        AiSource::Novelai,
        AiSource::Midjourney,
        AiSource::Dalle,
        AiSource::Firefly,
        AiSource::Imagen,
        AiSource::Leonardo,
        AiSource::Ideogram,
        AiSource::Flux,
        AiSource::Runway,
        AiSource::Kling,
        AiSource::Pika,
        AiSource::Luma,
        AiSource::Sora,
        AiSource::Veo,
        AiSource::Hailuo,
        AiSource::Haiper,
    ];

    /// The label string (`stable-diffusion`, `comfyui`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AiSource::StableDiffusion => "stable-diffusion",
            AiSource::Comfyui => "comfyui",
            AiSource::Invokeai => "invokeai",
            AiSource::Fooocus => "fooocus",
            AiSource::Novelai => "novelai",
            AiSource::Midjourney => "midjourney",
            AiSource::Dalle => "dalle",
            AiSource::Firefly => "firefly",
            AiSource::Imagen => "imagen",
            AiSource::Leonardo => "leonardo",
            AiSource::Ideogram => "ideogram",
            AiSource::Flux => "flux",
            AiSource::Runway => "runway",
            AiSource::Kling => "kling",
            AiSource::Pika => "pika",
            AiSource::Luma => "luma",
            AiSource::Sora => "sora",
            AiSource::Veo => "veo",
            AiSource::Hailuo => "hailuo",
            AiSource::Haiper => "haiper",
        }
    }
}

impl fmt::Display for AiSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AiSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AiSource::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown AI source {s:?}"))
    }
}

/// Which kind of signal identified the AI tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiSignal {
    /// Embedded metadata (PNG text, EXIF, XMP, C2PA).
    Metadata,
    /// A documented file-name pattern of the tool.
    Filename,
}

/// What is known about an AI-generated file: which tool, why we think so, and the generation
/// parameters where the file carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiInfo {
    /// The tool, from the fixed label set.
    pub source: AiSource,
    /// Metadata or file name.
    pub signal: AiSignal,
    /// The key, chunk or pattern that decided, e.g. `png:tEXt parameters` or
    /// `filename: <user>_<prompt>_<uuid>.png (midjourney)`.
    pub evidence: String,
    /// Positive prompt.
    pub prompt: Option<String>,
    /// Negative prompt.
    pub negative_prompt: Option<String>,
    /// Model / checkpoint name.
    pub model: Option<String>,
    /// Model hash as the tool reports it.
    pub model_hash: Option<String>,
    /// Seed. Some tools use 64-bit unsigned seeds.
    pub seed: Option<u64>,
    /// Sampling steps.
    pub steps: Option<u32>,
    /// Sampler as the tool wrote it, e.g. `DPM++ 2M`, `dpmpp_2m`, `k_euler_ancestral`.
    pub sampler: Option<String>,
    /// Classifier-free guidance scale.
    pub cfg_scale: Option<f64>,
    /// Generation size as the tool states it, e.g. `1024x1024`.
    pub size: Option<String>,
    /// Noise schedule as the tool wrote it, where it is a field of its own: `Karras`
    /// (A1111 `Schedule type`), `karras` (ComfyUI, Fooocus), `native` (NovelAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// Distilled guidance of guidance-distilled models (FLUX `FluxGuidance`, Forge
    /// `Distilled CFG Scale`), apart from the classifier-free `cfg_scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
    /// LoRA / LyCORIS adapters applied, in the order the tool lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loras: Vec<LoraRef>,
    /// Midjourney's prompt parameters and job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midjourney: Option<MidjourneyParams>,
}

/// A LoRA (or LyCORIS) adapter used for a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraRef {
    /// The name as the tool wrote it (`add_detail`, `flux_realism_lora.safetensors`).
    pub name: String,
    /// Strength (the model strength where the tool has a separate text-encoder strength).
    pub weight: Option<f64>,
    /// Hash as the tool reports it (A1111 `Lora hashes`, InvokeAI `blake3:…`, Fooocus).
    pub hash: Option<String>,
}

/// Midjourney's `--` parameters and job id, values as written (`--ar 16:9` → `16:9`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MidjourneyParams {
    /// The job id (a UUID) from `Job ID:` or IPTC `DigImageGUID`.
    pub job_id: Option<String>,
    /// `--ar` / `--aspect`.
    pub aspect_ratio: Option<String>,
    /// `--v` / `--version`.
    pub version: Option<String>,
    /// `--niji` (the anime model), its version or empty for the default.
    pub niji: Option<String>,
    /// `--style`.
    pub style: Option<String>,
    /// `--s` / `--stylize`.
    pub stylize: Option<String>,
    /// `--c` / `--chaos`.
    pub chaos: Option<String>,
    /// `--w` / `--weird`.
    pub weird: Option<String>,
    /// `--q` / `--quality`.
    pub quality: Option<String>,
    /// Every other parameter, as written (`--tile --no text`).
    pub other: Option<String>,
}

impl AiInfo {
    /// An `AiInfo` with only the source, signal and evidence set.
    pub fn new(source: AiSource, signal: AiSignal, evidence: impl Into<String>) -> Self {
        AiInfo {
            source,
            signal,
            evidence: evidence.into(),
            prompt: None,
            negative_prompt: None,
            model: None,
            model_hash: None,
            seed: None,
            steps: None,
            sampler: None,
            cfg_scale: None,
            size: None,
            scheduler: None,
            guidance: None,
            loras: Vec::new(),
            midjourney: None,
        }
    }
}

/// Everything the metadata extractor knows about one file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Image, video or other.
    pub media_type: MediaType,
    /// Container/format from magic bytes: `jpeg`, `png`, `webp`, `gif`, `heic`, `avif`, `jxl`,
    /// `tiff`, `bmp`, RAWs (`dng`, `cr2`, `cr3`, `nef`, `arw`, `pef`, `orf`, `rw2`, `raf`),
    /// `mp4`, `mov`, `webm`, `mkv`, `avi`, `mts`, `mpg`; `None` for other files.
    pub format: Option<String>,
    /// Pixel width.
    pub width: Option<u32>,
    /// Pixel height.
    pub height: Option<u32>,
    /// Duration of a video, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Capture time (see [`CaptureTime`]).
    pub taken_at: Option<CaptureTime>,
    /// Where `taken_at` came from.
    pub taken_at_source: Option<DateSource>,
    /// Camera make and model, when present.
    pub camera: Option<Camera>,
    /// AI tool and generation parameters, when the file was AI-generated.
    pub ai: Option<AiInfo>,
    /// Star rating (XMP `xmp:Rating`, -1 for rejected, 0 to 5), from an XMP sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i8>,
    /// Labels and keywords (XMP `xmp:Label`, `dc:subject`), from an XMP sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// For each field a sidecar file spoke to (`taken_at`, `rating`, `labels`, `ai`,
    /// `ai.prompt`, …), where the value kept came from: `file` (the file itself, which wins
    /// where both speak) or `sidecar:<name>`. Fields not listed come from the file alone.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: std::collections::BTreeMap<String, String>,
    /// A Pixel/Samsung motion photo: one still with a short video embedded in the same file
    /// (XMP `GCamera:MotionPhoto` / `GCamera:MicroVideo`, or a `Container:Directory` item with
    /// semantic `MotionPhoto`). It is one asset; omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub motion_photo: bool,
    /// Apple's Live Photo content identifier, shared by a Live Photo's still (MakerNote
    /// `ContentIdentifier`) and its video (`com.apple.quicktime.content.identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_photo_id: Option<String>,
    /// Whether the content was made by a generative model, from every signal together
    /// (`ai`, IPTC digital source type and AI fields, C2PA actions): `true` on any AI signal,
    /// `false` only on a positive non-AI signal (`digitalCapture`, a camera's C2PA claim),
    /// absent when nothing is known. `provenance.evidence` says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_generated: Option<bool>,
    /// What the file says about its origin: IPTC digital source type and AI fields, C2PA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl MediaInfo {
    /// An empty record of the given type.
    pub fn empty(media_type: MediaType) -> Self {
        MediaInfo {
            media_type,
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
            motion_photo: false,
            live_photo_id: None,
            ai_generated: None,
            provenance: None,
        }
    }
}

/// A file's statements about its origin. Every field is absent when the file does not say it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// IPTC digital source type (`Iptc4xmpExt:DigitalSourceType`): the short NewsCodes name
    /// (`trainedAlgorithmicMedia`, `digitalCapture`, …) when the value is a term of the IPTC
    /// vocabulary, otherwise the value as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digital_source_type: Option<String>,
    /// IPTC 2025.1 `Iptc4xmpExt:AISystemUsed`: the AI system or model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_system: Option<String>,
    /// IPTC 2025.1 `Iptc4xmpExt:AISystemVersionUsed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_system_version: Option<String>,
    /// IPTC 2025.1 `Iptc4xmpExt:AIPromptInformation`: the prompt(s) given to the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_prompt: Option<String>,
    /// IPTC 2025.1 `Iptc4xmpExt:AIPromptWriterName`: who wrote the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_prompt_writer: Option<String>,
    /// The embedded C2PA manifest store, when the file has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2pa: Option<C2pa>,
    /// The signals that decided `ai_generated`, joined by ` + `, in the style of
    /// [`AiInfo::evidence`] (e.g. `xmp:DigitalSourceType=trainedAlgorithmicMedia`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Provenance {
    /// Whether nothing at all is known.
    pub fn is_empty(&self) -> bool {
        *self == Provenance::default()
    }
}

/// The active manifest of a file's C2PA manifest store, and whether it validates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct C2pa {
    /// The claim generator (`Adobe_Firefly`, `ChatGPT`, `c2pa-rs/…` or the first
    /// `claim_generator_info` name and version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_generator: Option<String>,
    /// Common name of the signing certificate's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Organization that issued the signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Signing time from the manifest's time stamp (RFC 3339), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// The actions of the active manifest, in order (`c2pa.created`, `c2pa.edited`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<C2paAction>,
    /// Whether the claim signature verifies against the signing certificate.
    pub signature: Check,
    /// Whether the hard binding (the hash of the asset's bytes outside the manifest)
    /// matches the content.
    pub hard_binding: Check,
    /// Whether the signer chains to a trust anchor. `unknown` without a trust list, which is
    /// the default: an untrusted signer says nothing about whether the signature is valid.
    pub trust: Trust,
    /// C2PA validation failure codes (`assertion.dataHash.mismatch`,
    /// `claimSignature.mismatch`, …) or the reason the store could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// One action of a C2PA `c2pa.actions` assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct C2paAction {
    /// The action label, e.g. `c2pa.created`, `c2pa.edited`, `c2pa.opened`.
    pub action: String,
    /// The action's digital source type, shortened like
    /// [`Provenance::digital_source_type`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digital_source_type: Option<String>,
    /// The software agent that performed the action (name and version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_agent: Option<String>,
}

/// Outcome of one cryptographic check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Checked and correct.
    Valid,
    /// Checked and wrong: the content or the manifest changed after signing, or the
    /// manifest cannot be read.
    Invalid,
    /// The manifest has no such part (e.g. no hard-binding assertion).
    Missing,
    /// Not checked: this build has no C2PA validator (`metadata` without its `c2pa`
    /// feature), or the container is one the validator does not read.
    NotChecked,
}

/// Whether a C2PA signer is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// The signing certificate chains to a configured trust anchor.
    Trusted,
    /// Checked against a trust list and not found in it.
    Untrusted,
    /// Not checked against any trust list.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_time_round_trips_with_and_without_offset() {
        for s in [
            "2024-03-15T12:34:56+01:00",
            "2024-03-15T12:34:56",
            "2024-03-15T12:34:56.120-05:30",
        ] {
            let t: CaptureTime = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        let t: CaptureTime = "2024-03-15T12:34:56".parse().unwrap();
        assert_eq!(t.offset_seconds, None);
        assert_eq!(t.date_string(), "2024-03-15");
    }

    #[test]
    fn ai_labels_round_trip() {
        for a in AiSource::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(a.as_str().parse::<AiSource>().unwrap(), a);
        }
    }
}
