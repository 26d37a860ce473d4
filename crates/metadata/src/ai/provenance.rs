//! Generic provenance: IPTC digital source type, XMP creator-tool fields, C2PA claim
//! generators and software tags that name a tool.

use events::media::AiSource;
use quick_xml::events::Event;

use super::text::contains_word;

/// What the IPTC Digital Source Type vocabulary (cv.iptc.org/newscodes/digitalsourcetype)
/// says, across every XMP packet and C2PA string of the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SourceType {
    /// `trainedAlgorithmicMedia`: made by a generative model.
    pub trained: bool,
    /// `compositeWithTrainedAlgorithmicMedia`: a human work with generated parts
    /// (Photoshop Generative Fill, Pixel Magic Editor…).
    pub composite: bool,
}

impl SourceType {
    /// Adds what `text` says.
    pub(crate) fn scan(&mut self, text: &str) {
        let lower = text.to_ascii_lowercase();
        const NEEDLE: &str = "trainedalgorithmicmedia";
        const COMPOSITE: &str = "compositewith";
        let mut from = 0;
        while let Some(pos) = lower[from..].find(NEEDLE) {
            let at = from + pos;
            if lower[..at].ends_with(COMPOSITE) {
                self.composite = true;
            } else {
                self.trained = true;
            }
            from = at + NEEDLE.len();
        }
    }
}

/// Fields of interest from XMP packets: (local property name, value) pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct XmpFields {
    pairs: Vec<(String, String)>,
}

/// Local names of XMP properties kept (namespace prefixes vary between writers).
const XMP_KEEP: [&str; 11] = [
    "DigitalSourceType",
    "CreatorTool",
    "Credit",
    "creator",
    "description",
    "AISystemUsed",
    "AISystemVersionUsed",
    "AIPromptInformation",
    "Software",
    "softwareAgent",
    "DigImageGUID",
];

/// Structural RDF element names that never name a property.
const RDF_STRUCTURE: [&str; 7] = ["RDF", "Description", "Seq", "Bag", "Alt", "li", "xmpmeta"];

/// Most events read from one packet; XMP packets are small, and a hostile one must not spin.
const MAX_XMP_EVENTS: usize = 200_000;

impl XmpFields {
    /// Reads the properties of interest from each packet, tolerating malformed XML (what was
    /// read before the error is kept).
    pub(crate) fn parse(packets: &[String]) -> Self {
        let mut out = XmpFields::default();
        for p in packets {
            out.parse_one(p);
        }
        out
    }

    fn parse_one(&mut self, packet: &str) {
        let mut reader = quick_xml::Reader::from_str(packet);
        reader.config_mut().trim_text(true);
        let mut stack: Vec<String> = Vec::new();
        for _ in 0..MAX_XMP_EVENTS {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    self.attributes(&name, &e);
                    stack.push(name);
                }
                Ok(Event::Empty(e)) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    self.attributes(&name, &e);
                }
                Ok(Event::Text(t)) => {
                    if let Some(prop) = stack
                        .iter()
                        .rev()
                        .find(|n| !RDF_STRUCTURE.contains(&n.as_str()))
                        && XMP_KEEP.contains(&prop.as_str())
                        && let Ok(text) = t.unescape()
                    {
                        self.push(prop.clone(), &text);
                    }
                }
                Ok(Event::End(_)) => {
                    stack.pop();
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Properties written as attributes (`<rdf:Description xmp:CreatorTool="…">`) and
    /// resource values (`<Iptc4xmpExt:DigitalSourceType rdf:resource="…"/>`).
    fn attributes(&mut self, element: &str, e: &quick_xml::events::BytesStart<'_>) {
        for attr in e.attributes().flatten() {
            let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
            let Ok(value) = attr.unescape_value() else {
                continue;
            };
            if key == "resource" && XMP_KEEP.contains(&element) {
                self.push(element.to_owned(), &value);
            } else if XMP_KEEP.contains(&key.as_str()) {
                self.push(key, &value);
            }
        }
    }

    fn push(&mut self, key: String, value: &str) {
        let v = value.trim();
        if !v.is_empty() && self.pairs.len() < 256 {
            self.pairs.push((key, super::text::cap(v)));
        }
    }

    /// Every value of the property `key`.
    pub(crate) fn values<'a, 'k>(
        &'a self,
        key: &'k str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`.
    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        self.values(key).next()
    }
}

/// How sure a tool-name keyword is on its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strength {
    /// Names only the tool (`midjourney`, `novelai`): enough in a software/generator field.
    Strict,
    /// Also an ordinary word or another product (`luma`, `runway`, `gemini`, `flux`, the
    /// word `adobe`): counts only when the file also says `trainedAlgorithmicMedia`.
    NeedsAiContext,
}

/// Tool names as they appear in generator and software fields, most specific first.
const KEYWORDS: &[(&str, AiSource, Strength)] = &[
    ("sora", AiSource::Sora, Strength::NeedsAiContext),
    ("firefly", AiSource::Firefly, Strength::NeedsAiContext),
    ("adobe", AiSource::Firefly, Strength::NeedsAiContext),
    ("chatgpt", AiSource::Dalle, Strength::Strict),
    ("dall-e", AiSource::Dalle, Strength::Strict),
    ("dall·e", AiSource::Dalle, Strength::Strict),
    ("dalle", AiSource::Dalle, Strength::Strict),
    ("gpt-image", AiSource::Dalle, Strength::Strict),
    ("openai", AiSource::Dalle, Strength::Strict),
    ("midjourney", AiSource::Midjourney, Strength::Strict),
    ("imagen", AiSource::Imagen, Strength::Strict),
    ("gemini", AiSource::Imagen, Strength::NeedsAiContext),
    (
        "made with google ai",
        AiSource::Imagen,
        Strength::NeedsAiContext,
    ),
    ("google veo", AiSource::Veo, Strength::Strict),
    ("veo 2", AiSource::Veo, Strength::Strict),
    ("veo-2", AiSource::Veo, Strength::Strict),
    ("veo 3", AiSource::Veo, Strength::Strict),
    ("veo-3", AiSource::Veo, Strength::Strict),
    ("veo", AiSource::Veo, Strength::NeedsAiContext),
    ("leonardo.ai", AiSource::Leonardo, Strength::Strict),
    ("leonardo ai", AiSource::Leonardo, Strength::Strict),
    ("leonardo", AiSource::Leonardo, Strength::NeedsAiContext),
    ("ideogram", AiSource::Ideogram, Strength::Strict),
    ("black forest labs", AiSource::Flux, Strength::Strict),
    ("flux.1", AiSource::Flux, Strength::Strict),
    ("flux", AiSource::Flux, Strength::NeedsAiContext),
    ("runwayml", AiSource::Runway, Strength::Strict),
    ("runway", AiSource::Runway, Strength::NeedsAiContext),
    ("kling", AiSource::Kling, Strength::Strict),
    ("kuaishou", AiSource::Kling, Strength::NeedsAiContext),
    ("pika labs", AiSource::Pika, Strength::Strict),
    ("pika.art", AiSource::Pika, Strength::Strict),
    ("pika", AiSource::Pika, Strength::NeedsAiContext),
    ("luma ai", AiSource::Luma, Strength::Strict),
    ("lumalabs", AiSource::Luma, Strength::Strict),
    ("dream machine", AiSource::Luma, Strength::Strict),
    ("luma", AiSource::Luma, Strength::NeedsAiContext),
    ("hailuo", AiSource::Hailuo, Strength::Strict),
    ("minimax", AiSource::Hailuo, Strength::NeedsAiContext),
    ("haiper", AiSource::Haiper, Strength::Strict),
    ("novelai", AiSource::Novelai, Strength::Strict),
    ("invokeai", AiSource::Invokeai, Strength::Strict),
    ("comfyui", AiSource::Comfyui, Strength::Strict),
    ("fooocus", AiSource::Fooocus, Strength::Strict),
    ("automatic1111", AiSource::StableDiffusion, Strength::Strict),
    (
        "stable-diffusion-webui",
        AiSource::StableDiffusion,
        Strength::Strict,
    ),
    (
        "stable diffusion",
        AiSource::StableDiffusion,
        Strength::Strict,
    ),
    ("swarmui", AiSource::StableDiffusion, Strength::Strict),
    ("dreamstudio", AiSource::StableDiffusion, Strength::Strict),
    (
        "stability ai",
        AiSource::StableDiffusion,
        Strength::NeedsAiContext,
    ),
];

/// The tool a generator/software string names, given whether the file is known to be
/// AI-generated (`trainedAlgorithmicMedia`). Firefly and the word `adobe` always need that
/// context: Photoshop, Lightroom and Illustrator write Adobe names on ordinary edits.
pub(crate) fn tool_named(text: &str, ai_context: bool) -> Option<(AiSource, &'static str)> {
    keyword_index(text, ai_context).map(|i| (KEYWORDS[i].1, KEYWORDS[i].0))
}

/// Index into `KEYWORDS` of the first keyword `text` contains (lower = more specific).
fn keyword_index(text: &str, ai_context: bool) -> Option<usize> {
    let lower = text.to_lowercase();
    KEYWORDS.iter().position(|(needle, _, strength)| {
        (ai_context || *strength == Strength::Strict) && contains_word(&lower, needle)
    })
}

/// The most specific tool named by any of `texts` (a C2PA manifest lists several strings:
/// `OpenAI` as signer and `Sora` as generator must give `sora` whatever their order), with
/// the text that named it.
pub(crate) fn most_specific_tool<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    ai_context: bool,
) -> Option<(AiSource, &'a str)> {
    texts
        .into_iter()
        .filter_map(|t| keyword_index(t, ai_context).map(|i| (i, t)))
        .min_by_key(|(i, _)| *i)
        .map(|(i, t)| (KEYWORDS[i].1, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_type_tells_composite_from_trained() {
        let mut s = SourceType::default();
        s.scan(
            "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
        );
        assert_eq!(
            s,
            SourceType {
                trained: false,
                composite: true
            }
        );
        s.scan("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia");
        assert!(s.trained && s.composite);
        let mut a = SourceType::default();
        a.scan("algorithmicMedia digitalCapture");
        assert_eq!(a, SourceType::default());
    }

    #[test]
    fn xmp_attributes_elements_and_resources() {
        let x = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:CreatorTool="Adobe Firefly">
<Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
<dc:creator><rdf:Seq><rdf:li>Jane &amp; Co</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let f = XmpFields::parse(&[x.to_owned()]);
        assert_eq!(f.first("CreatorTool"), Some("Adobe Firefly"));
        assert!(
            f.first("DigitalSourceType")
                .expect("test input")
                .ends_with("trainedAlgorithmicMedia")
        );
        assert_eq!(f.first("creator"), Some("Jane & Co"));
    }

    #[test]
    fn malformed_xmp_keeps_what_was_read() {
        let f = XmpFields::parse(&[
            "<a xmp:CreatorTool=\"Midjourney\"><b><<<".to_owned(),
            "\u{0}garbage".to_owned(),
        ]);
        assert_eq!(f.first("CreatorTool"), Some("Midjourney"));
    }

    #[test]
    fn keywords_respect_context() {
        assert_eq!(tool_named("Adobe_Firefly", false), None);
        assert_eq!(
            tool_named("Adobe_Firefly", true).map(|t| t.0),
            Some(AiSource::Firefly)
        );
        assert_eq!(tool_named("Adobe Photoshop 25.0", false), None);
        assert_eq!(
            tool_named("ChatGPT", false).map(|t| t.0),
            Some(AiSource::Dalle)
        );
        assert_eq!(tool_named("LumaFusion 4.1", true), None);
        assert_eq!(tool_named("Pixel Camera", true), None);
        assert_eq!(
            tool_named("OpenAI Sora", true).map(|t| t.0),
            Some(AiSource::Sora)
        );
    }

    #[test]
    fn most_specific_tool_ignores_string_order() {
        let texts = ["OpenAI-API c2pa-rs/0.31", "Sora"];
        assert_eq!(
            most_specific_tool(texts, true),
            Some((AiSource::Sora, "Sora"))
        );
        assert_eq!(
            most_specific_tool(texts, false),
            Some((AiSource::Dalle, "OpenAI-API c2pa-rs/0.31"))
        );
        assert_eq!(most_specific_tool(["Adobe_Photoshop_25.0"], false), None);
    }
}
