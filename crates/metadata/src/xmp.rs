//! Dates, IPTC provenance fields, rating and labels from XMP packets.
//!
//! Names are matched by namespace URI, not by prefix, because writers are free to choose
//! prefixes. Values may be element text, attributes of `rdf:Description`, or (for the
//! digital source type, a URI) an `rdf:resource` attribute.

use events::media::CaptureTime;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

use crate::dates::parse_datetime;

const NS_EXIF: &[u8] = b"http://ns.adobe.com/exif/1.0/";
const NS_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const NS_PHOTOSHOP: &[u8] = b"http://ns.adobe.com/photoshop/1.0/";
const NS_IPTC_EXT: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
const NS_RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// The XMP date properties, in priority order.
const DATE_PROPS: [(&[u8], &[u8]); 3] = [
    (NS_EXIF, b"DateTimeOriginal"),
    (NS_XMP, b"CreateDate"),
    (NS_PHOTOSHOP, b"DateCreated"),
];

/// Most events one packet may produce before we give up on it; real packets have hundreds.
const MAX_EVENTS: usize = 200_000;

fn prop_index(ns: &ResolveResult, local: &[u8]) -> Option<usize> {
    let ResolveResult::Bound(ns) = ns else {
        return None;
    };
    DATE_PROPS
        .iter()
        .position(|(u, l)| *u == ns.as_ref() && *l == local)
}

/// The best capture date in one XMP packet, by [`DATE_PROPS`] order. Malformed XML yields
/// whatever was read before the fault.
pub(crate) fn capture_date(packet: &str) -> Option<CaptureTime> {
    let mut found: [Option<CaptureTime>; 3] = [None; 3];
    let mut reader = NsReader::from_str(packet);
    let mut open: Option<usize> = None;
    for _ in 0..MAX_EVENTS {
        let (ns, ev) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(_) => break,
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                open = prop_index(&ns, e.local_name().as_ref());
                if matches!(ev, Event::Empty(_)) {
                    open = None;
                }
                for attr in e.attributes().flatten() {
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    if let Some(i) = prop_index(&ans, local.as_ref())
                        && let Ok(v) = attr.unescape_value()
                    {
                        found[i] = found[i].or_else(|| parse_datetime(&v));
                    }
                }
            }
            Event::Text(t) => {
                if let (Some(i), Ok(v)) = (open, t.unescape()) {
                    found[i] = found[i].or_else(|| parse_datetime(&v));
                }
            }
            Event::End(_) => open = None,
            Event::Eof => break,
            _ => {}
        }
    }
    found.into_iter().flatten().next()
}

/// The IPTC Extension properties of provenance: the digital source type and the four AI
/// properties of IPTC Photo Metadata 2025.1, first value of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IptcProvenance {
    /// `Iptc4xmpExt:DigitalSourceType`, as written (usually a NewsCodes URI).
    pub(crate) digital_source_type: Option<String>,
    /// `Iptc4xmpExt:AISystemUsed`.
    pub(crate) ai_system: Option<String>,
    /// `Iptc4xmpExt:AISystemVersionUsed`.
    pub(crate) ai_system_version: Option<String>,
    /// `Iptc4xmpExt:AIPromptInformation`.
    pub(crate) ai_prompt: Option<String>,
    /// `Iptc4xmpExt:AIPromptWriterName`.
    pub(crate) ai_prompt_writer: Option<String>,
}

/// Local names of the [`IptcProvenance`] properties, in field order.
const IPTC_PROPS: [&[u8]; 5] = [
    b"DigitalSourceType",
    b"AISystemUsed",
    b"AISystemVersionUsed",
    b"AIPromptInformation",
    b"AIPromptWriterName",
];

/// Longest value kept; a prompt is text, but a packet must not fill memory through it.
const MAX_VALUE: usize = 64 * 1024;

impl IptcProvenance {
    fn slot(&mut self, i: usize) -> &mut Option<String> {
        match i {
            0 => &mut self.digital_source_type,
            1 => &mut self.ai_system,
            2 => &mut self.ai_system_version,
            3 => &mut self.ai_prompt,
            _ => &mut self.ai_prompt_writer,
        }
    }

    /// Keeps the first non-empty value of property `i`.
    fn offer(&mut self, i: usize, value: &str) {
        let v = value.trim();
        let slot = self.slot(i);
        if slot.is_none() && !v.is_empty() {
            let mut end = v.len().min(MAX_VALUE);
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            *slot = Some(v[..end].to_owned());
        }
    }

    /// Fills what is still unknown from `other`.
    fn merge(&mut self, other: IptcProvenance) {
        for (i, v) in other.into_values().into_iter().enumerate() {
            if let Some(v) = v {
                self.offer(i, &v);
            }
        }
    }

    fn into_values(self) -> [Option<String>; 5] {
        [
            self.digital_source_type,
            self.ai_system,
            self.ai_system_version,
            self.ai_prompt,
            self.ai_prompt_writer,
        ]
    }
}

fn iptc_index(ns: &ResolveResult, local: &[u8]) -> Option<usize> {
    match ns {
        ResolveResult::Bound(ns) if ns.as_ref() == NS_IPTC_EXT => {
            IPTC_PROPS.iter().position(|p| *p == local)
        }
        _ => None,
    }
}

/// The IPTC provenance properties across all packets (the first packet that has a property
/// wins). Malformed XML yields whatever was read before the fault.
pub(crate) fn iptc_provenance(packets: &[String]) -> IptcProvenance {
    let mut out = IptcProvenance::default();
    for p in packets {
        out.merge(iptc_packet(p));
    }
    out
}

fn iptc_packet(packet: &str) -> IptcProvenance {
    let mut found = IptcProvenance::default();
    let mut reader = NsReader::from_str(packet);
    // The property being read and the element depth it opened at: its text may sit inside
    // `rdf:Alt`/`rdf:li` (language alternatives) below it.
    let mut open: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    for _ in 0..MAX_EVENTS {
        let Ok((ns, ev)) = reader.read_resolved_event() else {
            break;
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let prop = iptc_index(&ns, e.local_name().as_ref());
                for attr in e.attributes().flatten() {
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    let Ok(v) = attr.unescape_value() else {
                        continue;
                    };
                    let is_resource = matches!(&ans, ResolveResult::Bound(n) if n.as_ref() == NS_RDF)
                        && local.as_ref() == b"resource";
                    match (prop, iptc_index(&ans, local.as_ref())) {
                        (Some(i), _) if is_resource => found.offer(i, &v),
                        (_, Some(i)) => found.offer(i, &v),
                        _ => {}
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                    if open.is_none() {
                        open = prop.map(|i| (i, depth));
                    }
                }
            }
            Event::Text(t) => {
                if let (Some((i, _)), Ok(v)) = (open, t.unescape()) {
                    found.offer(i, &v);
                }
            }
            Event::End(_) => {
                if open.is_some_and(|(_, d)| d == depth) {
                    open = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

const NS_DC: &[u8] = b"http://purl.org/dc/elements/1.1/";

/// Most labels kept from one packet.
const MAX_LABELS: usize = 64;

/// Rating and labels of an XMP packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tags {
    /// `xmp:Rating` (-1 rejected, 0 to 5).
    pub rating: Option<i8>,
    /// `xmp:Label`, then the `dc:subject` keywords, each once.
    pub labels: Vec<String>,
}

impl Tags {
    fn label(&mut self, v: &str) {
        let v = v.trim();
        if !v.is_empty() && self.labels.len() < MAX_LABELS && !self.labels.iter().any(|l| l == v) {
            self.labels.push(v.to_owned());
        }
    }

    fn rating(&mut self, v: &str) {
        let r = v
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|r| (-1.0..=5.0).contains(r));
        self.rating = self.rating.or(r.map(|r| r.round() as i8));
    }
}

fn is(ns: &ResolveResult, uri: &[u8]) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == uri)
}

/// `xmp:Rating`, `xmp:Label` and `dc:subject` of one XMP packet, as element text or
/// attributes. Malformed XML yields whatever was read before the fault.
pub(crate) fn tags(packet: &str) -> Tags {
    let mut tags = Tags::default();
    let mut reader = NsReader::from_str(packet);
    // What the text being read is: 1 rating, 2 label, 3 a keyword (inside dc:subject).
    let (mut open, mut in_subject) = (0u8, false);
    for _ in 0..MAX_EVENTS {
        let (ns, ev) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(_) => break,
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name();
                open = match local.as_ref() {
                    b"Rating" if is(&ns, NS_XMP) => 1,
                    b"Label" if is(&ns, NS_XMP) => 2,
                    b"li" if in_subject && is(&ns, NS_RDF) => 3,
                    _ => 0,
                };
                if local.as_ref() == b"subject" && is(&ns, NS_DC) {
                    in_subject = matches!(ev, Event::Start(_));
                }
                for attr in e.attributes().flatten() {
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    let Ok(v) = attr.unescape_value() else {
                        continue;
                    };
                    match local.as_ref() {
                        b"Rating" if is(&ans, NS_XMP) => tags.rating(&v),
                        b"Label" if is(&ans, NS_XMP) => tags.label(&v),
                        _ => {}
                    }
                }
            }
            Event::Text(t) => {
                if let Ok(v) = t.unescape() {
                    match open {
                        1 => tags.rating(&v),
                        2 | 3 => tags.label(&v),
                        _ => {}
                    }
                }
            }
            Event::End(ref e) => {
                open = 0;
                if e.local_name().as_ref() == b"subject" {
                    in_subject = false;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    tags
}

const NS_GCAMERA: &[u8] = b"http://ns.google.com/photos/1.0/camera/";
const NS_CONTAINER_ITEM: &[u8] = b"http://ns.google.com/photos/1.0/container/item/";

/// True when the packet marks a motion photo (a still with an embedded video): Google's
/// `GCamera:MotionPhoto="1"` or older `GCamera:MicroVideo="1"` (Pixel, and Samsung since it
/// writes them), or a `Container:Directory` item whose `Item:Semantic` is `MotionPhoto`.
/// Values may be attributes or element text.
pub(crate) fn motion_photo(packet: &str) -> bool {
    let mut reader = NsReader::from_str(packet);
    let marks = |ns: &ResolveResult, local: &[u8], v: &str| match local {
        b"MotionPhoto" | b"MicroVideo" => is(ns, NS_GCAMERA) && v.trim() == "1",
        b"Semantic" => is(ns, NS_CONTAINER_ITEM) && v.trim() == "MotionPhoto",
        _ => false,
    };
    // The marker property whose text is being read, by its namespace and local name.
    let mut open: Option<(&[u8], Vec<u8>)> = None;
    for _ in 0..MAX_EVENTS {
        let Ok((ns, ev)) = reader.read_resolved_event() else {
            return false;
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_vec();
                open = [NS_GCAMERA, NS_CONTAINER_ITEM]
                    .into_iter()
                    .find(|uri| is(&ns, uri))
                    .map(|uri| (uri, local));
                for attr in e.attributes().flatten() {
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    if attr
                        .unescape_value()
                        .is_ok_and(|v| marks(&ans, local.as_ref(), &v))
                    {
                        return true;
                    }
                }
            }
            Event::Text(t) => {
                if let (Some((uri, local)), Ok(v)) = (&open, t.unescape())
                    && marks(&ResolveResult::Bound(Namespace(uri)), local, &v)
                {
                    return true;
                }
            }
            Event::End(_) => open = None,
            Event::Eof => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_and_attribute_forms() {
        let elem = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:p="http://ns.adobe.com/photoshop/1.0/" xmlns:e="http://ns.adobe.com/exif/1.0/">
<p:DateCreated>2020-01-01</p:DateCreated><e:DateTimeOriginal>2024-03-15T12:34:56+01:00</e:DateTimeOriginal>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        assert_eq!(
            capture_date(elem).map(|t| t.to_string()).as_deref(),
            Some("2024-03-15T12:34:56+01:00")
        );
        let attr = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="2023-07-01T08:00:00"/></rdf:RDF>"#;
        assert_eq!(
            capture_date(attr).map(|t| t.to_string()).as_deref(),
            Some("2023-07-01T08:00:00")
        );
    }

    #[test]
    fn wrong_namespace_and_garbage_yield_nothing() {
        let other = r#"<a xmlns:xmp="urn:other"><xmp:CreateDate>2023-07-01</xmp:CreateDate></a>"#;
        assert_eq!(capture_date(other), None);
        assert_eq!(capture_date("<<<not xml"), None);
        assert_eq!(capture_date(""), None);
    }

    #[test]
    fn iptc_provenance_in_every_form() {
        let packet = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:ie="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" ie:AISystemUsed="Test Diffusion">
<ie:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
<ie:AISystemVersionUsed>2.1</ie:AISystemVersionUsed>
<ie:AIPromptInformation><rdf:Alt><rdf:li xml:lang="x-default">a red fox &amp; snow</rdf:li></rdf:Alt></ie:AIPromptInformation>
<ie:AIPromptWriterName>Jane Doe</ie:AIPromptWriterName>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let p = iptc_provenance(&[packet.to_owned()]);
        assert_eq!(
            p,
            IptcProvenance {
                digital_source_type: Some(
                    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
                        .to_owned()
                ),
                ai_system: Some("Test Diffusion".to_owned()),
                ai_system_version: Some("2.1".to_owned()),
                ai_prompt: Some("a red fox & snow".to_owned()),
                ai_prompt_writer: Some("Jane Doe".to_owned()),
            }
        );
    }

    #[test]
    fn iptc_provenance_needs_the_iptc_namespace() {
        let wrong = r#"<a xmlns:ie="urn:other"><ie:AISystemUsed>X</ie:AISystemUsed></a>"#;
        let text = r#"<a xmlns:ie="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"><ie:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</ie:DigitalSourceType><b>not it</b></a>"#;
        let p = iptc_provenance(&[wrong.to_owned(), "<<<garbage".to_owned(), text.to_owned()]);
        assert_eq!(p.ai_system, None);
        assert_eq!(
            p.digital_source_type.as_deref(),
            Some("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
        );
    }

    #[test]
    fn rating_label_and_keywords_in_either_form() {
        let packet = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
            xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
            <rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"
                xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="4" xmp:Label="Red">
              <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>night</rdf:li></rdf:Bag></dc:subject>
            </rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let t = tags(packet);
        assert_eq!(t.rating, Some(4));
        assert_eq!(t.labels, ["Red", "harbour", "night"]);
        let elem = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
            xmlns:p="http://ns.adobe.com/xap/1.0/"><rdf:Description><p:Rating>-1</p:Rating>
            </rdf:Description></rdf:RDF>"#;
        assert_eq!(tags(elem).rating, Some(-1));
        assert_eq!(tags("<not xml").rating, None);
    }

    #[test]
    fn motion_photos_are_told_by_their_google_markers() {
        let attr = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
            <rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="1"
              GCamera:MotionPhotoVersion="1"/></rdf:RDF></x:xmpmeta>"#;
        assert!(motion_photo(attr));
        let micro = r#"<a xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"><GCamera:MicroVideo>1</GCamera:MicroVideo></a>"#;
        assert!(motion_photo(micro));
        let item = r#"<a xmlns:Item="http://ns.google.com/photos/1.0/container/item/"><li Item:Mime="video/mp4" Item:Semantic="MotionPhoto"/></a>"#;
        assert!(motion_photo(item));
        let off = r#"<a xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="0"/>"#;
        assert!(!motion_photo(off));
        let other_ns = r#"<a xmlns:G="urn:other" G:MotionPhoto="1"/>"#;
        assert!(!motion_photo(other_ns));
    }
}
