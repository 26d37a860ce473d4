//! The provenance record of a file and the `ai_generated` verdict.
//!
//! [`build`] gathers what a file says about its origin (IPTC digital source type and the IPTC
//! 2025.1 AI properties from XMP, the validated C2PA manifest) and decides, from every signal
//! together with the AI-tool detection, whether the content was made by a generative model:
//!
//! - `true` on any AI signal: a detected AI tool, a digital source type of
//!   `trainedAlgorithmicMedia` or `compositeWithTrainedAlgorithmicMedia` (in XMP, in a C2PA
//!   action, or anywhere in the C2PA store), or any IPTC AI property. An AI signal in a C2PA
//!   manifest counts even when the manifest no longer validates: an edit that breaks the
//!   signature does not make a generated image a photograph.
//! - `false` only on a positive non-AI signal and no AI signal: a non-generative digital
//!   source type in XMP (`digitalCapture`, `humanEdits`, …), or a C2PA action with one in a
//!   manifest whose signature and hard binding are both valid.
//! - unknown otherwise.
//!
//! `provenance.evidence` names the deciding signals.

use events::media::{AiInfo, C2pa, Check, Provenance};

use crate::Signals;
use crate::xmp::iptc_provenance;

/// Prefixes of the IPTC Digital Source Type vocabulary: the scheme URI (both schemes appear
/// in the wild) and the QCode alias.
const IPTC_SCHEME: [&str; 3] = [
    "http://cv.iptc.org/newscodes/digitalsourcetype/",
    "https://cv.iptc.org/newscodes/digitalsourcetype/",
    "digsrctype:",
];

/// The short NewsCodes name of an IPTC digital source type URI or QCode
/// (`trainedAlgorithmicMedia`); any other value unchanged.
pub(crate) fn short_source_type(value: &str) -> String {
    let v = value.trim();
    IPTC_SCHEME
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .unwrap_or(v)
        .to_owned()
}

/// What a digital source type says about generative AI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Made, wholly or in part, by a trained model.
    Generated,
    /// Captured, digitised, or made by people or algorithms that are not trained models.
    NotGenerated,
    /// The term does not say (`composite`, `virtualRecording`, unknown terms).
    Unknown,
}

/// Classifies a digital source type by its last path segment, so the IPTC terms and the
/// C2PA-specific `http://c2pa.org/digitalsourcetype/…` terms are both understood.
fn origin(source_type: &str) -> Origin {
    let term = source_type.rsplit(['/', ':']).next().unwrap_or_default();
    match term {
        "trainedAlgorithmicMedia" | "compositeWithTrainedAlgorithmicMedia" => Origin::Generated,
        // C2PA: data (not media) produced by a trained model.
        "trainedAlgorithmicData" => Origin::Generated,
        "digitalCapture"
        | "computationalCapture"
        | "negativeFilm"
        | "positiveFilm"
        | "print"
        | "screenCapture"
        | "humanEdits"
        | "minorHumanEdits"
        | "algorithmicallyEnhanced"
        | "compositeCapture"
        | "digitalCreation"
        | "digitalArt"
        | "dataDrivenMedia"
        | "algorithmicMedia" => Origin::NotGenerated,
        _ => Origin::Unknown,
    }
}

/// Signals for and against generative AI, as evidence strings.
#[derive(Debug, Default)]
struct Tally {
    generated: Vec<String>,
    not_generated: Vec<String>,
}

impl Tally {
    fn source_type(&mut self, origin: Origin, evidence: String) {
        match origin {
            Origin::Generated => self.generated.push(evidence),
            Origin::NotGenerated => self.not_generated.push(evidence),
            Origin::Unknown => {}
        }
    }

    fn verdict(self) -> (Option<bool>, Option<String>) {
        if !self.generated.is_empty() {
            (Some(true), Some(self.generated.join(" + ")))
        } else if !self.not_generated.is_empty() {
            (Some(false), Some(self.not_generated.join(" + ")))
        } else {
            (None, None)
        }
    }
}

/// The provenance record and the `ai_generated` verdict of one file. `c2pa` is the validated
/// manifest store, when the file has one.
pub(crate) fn build(
    signals: &Signals,
    ai: Option<&AiInfo>,
    c2pa: Option<C2pa>,
) -> (Option<bool>, Option<Provenance>) {
    let iptc = iptc_provenance(&signals.xmp);
    let mut tally = Tally::default();
    if let Some(ai) = ai {
        tally.generated.push(format!("ai.source={}", ai.source));
    }
    let dst = iptc.digital_source_type.as_deref().map(short_source_type);
    if let Some(d) = &dst {
        tally.source_type(origin(d), format!("xmp:DigitalSourceType={d}"));
    }
    for (key, value) in [
        ("AISystemUsed", &iptc.ai_system),
        ("AISystemVersionUsed", &iptc.ai_system_version),
        ("AIPromptInformation", &iptc.ai_prompt),
        ("AIPromptWriterName", &iptc.ai_prompt_writer),
    ] {
        if value.is_some() {
            tally.generated.push(format!("xmp:{key}"));
        }
    }
    if let Some(c) = &c2pa {
        c2pa_signals(c, &mut tally);
    }
    c2pa_strings(signals, &mut tally);

    let (ai_generated, evidence) = tally.verdict();
    let provenance = Provenance {
        digital_source_type: dst,
        ai_system: iptc.ai_system,
        ai_system_version: iptc.ai_system_version,
        ai_prompt: iptc.ai_prompt,
        ai_prompt_writer: iptc.ai_prompt_writer,
        c2pa,
        evidence,
    };
    (ai_generated, (!provenance.is_empty()).then_some(provenance))
}

/// The source types of the manifest's actions. A non-AI claim counts only from a manifest
/// that validates: anyone can write "digitalCapture" into an unsigned or altered store.
fn c2pa_signals(c: &C2pa, tally: &mut Tally) {
    let validates = c.signature == Check::Valid && c.hard_binding == Check::Valid;
    for a in &c.actions {
        let Some(d) = &a.digital_source_type else {
            continue;
        };
        let origin = match origin(d) {
            Origin::NotGenerated if !validates => Origin::Unknown,
            o => o,
        };
        tally.source_type(origin, format!("c2pa:{} digitalSourceType={d}", a.action));
    }
}

/// `trainedAlgorithmicMedia` anywhere in the store's strings (an IPTC assertion, an action the
/// validator could not decode, or a build without the validator), when the actions did not
/// already say it.
fn c2pa_strings(signals: &Signals, tally: &mut Tally) {
    if tally.generated.iter().any(|e| e.starts_with("c2pa:")) {
        return;
    }
    let found = signals.c2pa.iter().find_map(|s| {
        let short = short_source_type(s);
        (origin(&short) == Origin::Generated).then_some(short)
    });
    if let Some(d) = found {
        tally.generated.push(format!("c2pa:digitalSourceType={d}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            short_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"),
            "digitalCapture"
        );
        assert_eq!(
            short_source_type(
                " https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia "
            ),
            "trainedAlgorithmicMedia"
        );
        assert_eq!(short_source_type("digsrctype:print"), "print");
        assert_eq!(
            short_source_type("http://c2pa.org/digitalsourcetype/empty"),
            "http://c2pa.org/digitalsourcetype/empty"
        );
        assert_eq!(short_source_type("camera"), "camera");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("compositeWithTrainedAlgorithmicMedia"),
            Origin::Generated
        );
        assert_eq!(
            origin("http://c2pa.org/digitalsourcetype/trainedAlgorithmicData"),
            Origin::Generated
        );
        assert_eq!(origin("digitalCapture"), Origin::NotGenerated);
        assert_eq!(origin("algorithmicMedia"), Origin::NotGenerated);
        assert_eq!(origin("compositeSynthetic"), Origin::Unknown);
        assert_eq!(
            origin("http://c2pa.org/digitalsourcetype/empty"),
            Origin::Unknown
        );
    }

    #[test]
    fn ai_wins_over_capture_and_nothing_is_unknown() {
        let mut t = Tally::default();
        t.source_type(Origin::NotGenerated, "a".into());
        t.source_type(Origin::Generated, "b".into());
        assert_eq!(t.verdict(), (Some(true), Some("b".to_owned())));
        assert_eq!(Tally::default().verdict(), (None, None));
    }
}
