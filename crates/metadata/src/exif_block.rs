//! EXIF from a TIFF-structured block (JPEG APP1, PNG `eXIf`, WebP `EXIF`, HEIF Exif item,
//! a TIFF file's head), parsed with `kamadak-exif`.
//!
//! The caller hands over bytes it has already bounded. `kamadak-exif` then refuses IFD
//! cycles ("already visited IFD"), stops after 8 IFDs, range-checks every value against the
//! block, and parses values lazily, so only the tags read here cost anything.

use events::media::CaptureTime;
use exif::{Context, Exif, Field, In, Tag, Value};

use crate::Found;
use crate::dates::{parse_datetime, parse_offset, parse_subsec, trim_field};

/// TIFF tag 700 (XMLPacket): XMP embedded in a TIFF IFD0.
const TAG_XMP: Tag = Tag(Context::Tiff, 700);

/// Reads an EXIF block into `found`. An `Err` says why the block is (partly) unusable;
/// whatever parsed before the fault (an IFD cycle, a truncated IFD) has been applied anyway.
pub(crate) fn read(data: Vec<u8>, found: &mut Found) -> Result<(), String> {
    let (exif, err) = parse(data);
    if let Some(exif) = &exif {
        apply(exif, found);
    }
    err.map_or(Ok(()), Err)
}

/// Parses an EXIF block without applying it: what parsed (if anything) and, when part of the
/// block is unusable, why.
pub(crate) fn parse(data: Vec<u8>) -> (Option<Exif>, Option<String>) {
    match exif::Reader::new().continue_on_error(true).read_raw(data) {
        Ok(exif) => (Some(exif), None),
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            // piexif (which A1111 and many scripts use to write JPEG/WebP EXIF) leaves a
            // non-zero "next IFD" link after the Exif sub-IFD. Every field was read; the link
            // is simply not followed. That is not a damaged file.
            let serious = errors
                .iter()
                .find(|e| !e.to_string().contains("Unexpected next IFD"))
                .map(|first| format!("EXIF partly unreadable: {first}"));
            (Some(exif), serious)
        }
        Err(e) => (None, Some(format!("EXIF unreadable: {e}"))),
    }
}

pub(crate) fn field(exif: &Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

/// An ASCII (or byte/undefined, as some writers use) field as trimmed text; `None` if empty.
fn text(exif: &Exif, tag: Tag) -> Option<String> {
    let s = match &field(exif, tag)?.value {
        Value::Ascii(parts) => parts
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        Value::Byte(b) | Value::Undefined(b, _) => String::from_utf8_lossy(b).into_owned(),
        _ => return None,
    };
    let s = trim_field(&s);
    (!s.is_empty()).then(|| s.to_owned())
}

fn date(exif: &Exif, dt: Tag, offset: Tag, subsec: Tag) -> Option<CaptureTime> {
    let mut t = parse_datetime(&text(exif, dt)?)?;
    if let Some(nanos) = text(exif, subsec).and_then(|s| parse_subsec(&s))
        && t.local.and_utc().timestamp_subsec_nanos() == 0
    {
        t.local += chrono::Duration::nanoseconds(i64::from(nanos));
    }
    if t.offset_seconds.is_none() {
        t.offset_seconds = text(exif, offset).and_then(|s| parse_offset(&s));
    }
    Some(t)
}

/// Character-code prefixes of `UserComment` (EXIF 2.3, table 9).
const COMMENT_CODES: [&[u8; 8]; 4] = [b"ASCII\0\0\0", b"UNICODE\0", b"JIS\0\0\0\0\0", &[0; 8]];

/// Decodes `UserComment`: an 8-byte character-code prefix, then the text. Some writers
/// (NovelAI's WebP, ComfyUI save nodes) store the text without the prefix; it is then read
/// whole.
pub(crate) fn decode_user_comment(raw: &[u8], little_endian: bool) -> Option<String> {
    let (code, body) = match raw.get(..8) {
        Some(code) if COMMENT_CODES.iter().any(|c| c.as_slice() == code) => raw.split_at(8),
        _ => (&raw[..0], raw),
    };
    let s = if code == b"UNICODE\0" {
        // The byte order is meant to follow the TIFF header, but writers disagree; ASCII-range
        // text reveals it: the zero bytes sit at even offsets in big-endian UTF-16.
        let even_zeros = body.iter().step_by(2).filter(|&&b| b == 0).count();
        let odd_zeros = body.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        let be = if even_zeros == odd_zeros {
            !little_endian
        } else {
            even_zeros > odd_zeros
        };
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        // ASCII, JIS (no decoder here; lossy keeps the ASCII parts), undefined, or no prefix.
        String::from_utf8_lossy(body).into_owned()
    };
    let s = trim_field(&s);
    (!s.is_empty()).then(|| s.to_owned())
}

/// Apple's MakerNote: this header, then a big-endian IFD whose offsets count from the
/// MakerNote's first byte.
const APPLE_MAKER_NOTE: &[u8] = b"Apple iOS\0";

/// Tag of the Live Photo `ContentIdentifier` (ASCII) in Apple's MakerNote.
const APPLE_CONTENT_ID: u16 = 0x0011;

/// The Live Photo content identifier in an Apple MakerNote, if it has one. Bounded: at most
/// 256 entries are looked at, and every offset is range-checked.
pub(crate) fn apple_content_id(note: &[u8]) -> Option<String> {
    let be16 = |at: usize| Some(u16::from_be_bytes(note.get(at..at + 2)?.try_into().ok()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(note.get(at..at + 4)?.try_into().ok()?));
    if !note.starts_with(APPLE_MAKER_NOTE) || note.get(12..14) != Some(b"MM") {
        return None;
    }
    let count = usize::from(be16(14)?).min(256);
    for i in 0..count {
        let entry = 16 + i * 12;
        // An ASCII (type 2) value longer than 4 bytes lies at an offset.
        if be16(entry)? != APPLE_CONTENT_ID || be16(entry + 2)? != 2 {
            continue;
        }
        let len = usize::try_from(be32(entry + 4)?).ok()?;
        let at = match len {
            0..=4 => entry + 8,
            _ => usize::try_from(be32(entry + 8)?).ok()?,
        };
        let text = String::from_utf8_lossy(note.get(at..at.checked_add(len)?)?).into_owned();
        let text = trim_field(&text);
        return (!text.is_empty()).then(|| text.to_owned());
    }
    None
}

/// Copies the tags this crate uses from a parsed block into `found`; fields already set win.
pub(crate) fn apply(exif: &Exif, found: &mut Found) {
    if found.live_photo_id.is_none()
        && let Some(Value::Undefined(note, _)) = field(exif, Tag::MakerNote).map(|f| &f.value)
    {
        found.live_photo_id = apple_content_id(note);
    }
    let sig = &mut found.signals;
    if sig.exif_make.is_none() {
        sig.exif_make = text(exif, Tag::Make);
    }
    if sig.exif_model.is_none() {
        sig.exif_model = text(exif, Tag::Model);
    }
    sig.exif_software = sig
        .exif_software
        .take()
        .or_else(|| text(exif, Tag::Software));
    sig.exif_artist = sig.exif_artist.take().or_else(|| text(exif, Tag::Artist));
    sig.exif_copyright = sig
        .exif_copyright
        .take()
        .or_else(|| text(exif, Tag::Copyright));
    sig.exif_image_description = sig
        .exif_image_description
        .take()
        .or_else(|| text(exif, Tag::ImageDescription));
    if sig.exif_user_comment.is_none()
        && let Some(Value::Undefined(raw, _) | Value::Byte(raw)) =
            field(exif, Tag::UserComment).map(|f| &f.value)
    {
        sig.exif_user_comment = decode_user_comment(raw, exif.little_endian());
    }
    if let Some(Value::Byte(b) | Value::Undefined(b, _)) = field(exif, TAG_XMP).map(|f| &f.value) {
        let packet = String::from_utf8_lossy(b);
        let packet = trim_field(&packet);
        if !packet.is_empty() {
            sig.xmp.push(packet.to_owned());
        }
    }

    if found.exif_original.is_none() {
        found.exif_original = date(
            exif,
            Tag::DateTimeOriginal,
            Tag::OffsetTimeOriginal,
            Tag::SubSecTimeOriginal,
        );
    }
    if found.exif_other.is_none() {
        found.exif_other = date(
            exif,
            Tag::DateTimeDigitized,
            Tag::OffsetTimeDigitized,
            Tag::SubSecTimeDigitized,
        );
    }
    if found.exif_modified.is_none() {
        found.exif_modified = date(exif, Tag::DateTime, Tag::OffsetTime, Tag::SubSecTime);
    }
    if found.width.is_none() || found.height.is_none() {
        // Only TIFF files rely on this: other formats set dimensions from their own headers.
        let dim = |t| {
            field(exif, t)
                .and_then(|f| f.value.get_uint(0))
                .filter(|&v| v > 0)
        };
        if let (Some(w), Some(h)) = (dim(Tag::ImageWidth), dim(Tag::ImageLength)) {
            found.exif_dims = Some((w, h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_comment_prefixes() {
        assert_eq!(
            decode_user_comment(b"ASCII\0\0\0hello \0", false).as_deref(),
            Some("hello")
        );
        let mut be = b"UNICODE\0".to_vec();
        be.extend("hi ✓".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode_user_comment(&be, true).as_deref(), Some("hi ✓"));
        let mut le = b"UNICODE\0".to_vec();
        le.extend("steps: 20".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            decode_user_comment(&le, false).as_deref(),
            Some("steps: 20")
        );
        assert_eq!(
            decode_user_comment(b"\0\0\0\0\0\0\0\0\xffok", false).as_deref(),
            Some("\u{fffd}ok")
        );
        assert_eq!(decode_user_comment(b"\0\0\0\0\0\0\0\0", false), None);
        assert_eq!(
            decode_user_comment(br#"{"Software": "NovelAI"}"#, false).as_deref(),
            Some(r#"{"Software": "NovelAI"}"#)
        );
    }

    /// An Apple MakerNote holding `id` as its ContentIdentifier, after one other entry.
    fn apple_note(id: &str) -> Vec<u8> {
        let mut v = b"Apple iOS\0\0\x01MM".to_vec();
        v.extend_from_slice(&2u16.to_be_bytes());
        // Entry 1: tag 1, SLONG 1, value 9.
        v.extend_from_slice(&[0, 1, 0, 9, 0, 0, 0, 1, 0, 0, 0, 9]);
        let data_at = 16 + 2 * 12 + 4;
        let len = id.len() + 1;
        v.extend_from_slice(&APPLE_CONTENT_ID.to_be_bytes());
        v.extend_from_slice(&2u16.to_be_bytes());
        v.extend_from_slice(&(len as u32).to_be_bytes());
        v.extend_from_slice(&(data_at as u32).to_be_bytes());
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(id.as_bytes());
        v.push(0);
        v
    }

    #[test]
    fn an_apple_maker_note_gives_the_live_photo_id() {
        let id = "8A1D3E1C-2B5F-4C1E-9A7B-1F2E3D4C5B6A";
        assert_eq!(apple_content_id(&apple_note(id)).as_deref(), Some(id));
        let mut cut = apple_note(id);
        cut.truncate(cut.len() - 10);
        assert_eq!(
            apple_content_id(&cut),
            None,
            "an offset past the end is refused"
        );
        assert_eq!(apple_content_id(b"Nikon\0\x02\x10\0\0MM\0\x01"), None);
    }
}
