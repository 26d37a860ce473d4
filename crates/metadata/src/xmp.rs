//! Dates from XMP packets.
//!
//! Names are matched by namespace URI, not by prefix, because writers are free to choose
//! prefixes. Values may be element text or attributes of `rdf:Description`.

use events::media::CaptureTime;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::dates::parse_datetime;

const NS_EXIF: &[u8] = b"http://ns.adobe.com/exif/1.0/";
const NS_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const NS_PHOTOSHOP: &[u8] = b"http://ns.adobe.com/photoshop/1.0/";

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

const NS_DC: &[u8] = b"http://purl.org/dc/elements/1.1/";
const NS_RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
