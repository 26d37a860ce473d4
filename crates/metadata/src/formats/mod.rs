//! One reader per container format. Each reads only headers and metadata segments through
//! [`Source`] and records what it finds in [`Found`].

use std::io::{Read, Seek};

use crate::source::Source;
use crate::{Found, MetadataError};

pub(crate) mod avi;
pub(crate) mod bmp;
pub(crate) mod cr3;
pub(crate) mod gif;
pub(crate) mod isobmff;
pub(crate) mod jpeg;
pub(crate) mod jxl;
pub(crate) mod matroska;
pub(crate) mod mpeg;
pub(crate) mod png;
pub(crate) mod raf;
pub(crate) mod tiff;
pub(crate) mod webp;

/// Cap for one XMP packet.
pub(crate) const XMP_CAP: u64 = 1024 * 1024;
/// Cap for one EXIF block outside JPEG (where the segment limits it to 64 KiB anyway).
pub(crate) const EXIF_CAP: u64 = 1024 * 1024;
/// How much of a C2PA manifest store is scanned for strings; the claim comes first, larger
/// stores are mostly embedded thumbnails and certificates.
pub(crate) const C2PA_CAP: u64 = 4 * 1024 * 1024;
/// Cap for one free-text value (comments, tags).
pub(crate) const TEXT_CAP: u64 = 64 * 1024;
/// Most `other_text` entries kept per file.
pub(crate) const MAX_OTHER_TEXT: usize = 256;

/// Dispatches to the reader for `format` (one of [`crate::sniff`]'s format names).
pub(crate) fn parse<R: Read + Seek>(
    format: &'static str,
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    match format {
        "jpeg" => jpeg::parse(src, found),
        "png" => png::parse(src, found),
        "webp" => webp::parse(src, found),
        "gif" => gif::parse(src, found),
        "bmp" => bmp::parse(src, found),
        "tiff" | "cr2" | "orf" | "rw2" => tiff::parse(src, found),
        "raf" => raf::parse(src, found),
        "heic" | "avif" | "mp4" | "mov" => isobmff::parse(src, found),
        "cr3" => cr3::parse(src, found),
        "jxl" => jxl::parse(src, found),
        "webm" | "mkv" => matroska::parse(src, found),
        "avi" => avi::parse(src, found),
        "mts" => mpeg::parse_ts(src, found),
        "mpg" => mpeg::parse_ps(src, found),
        _ => Ok(()),
    }
}

/// Records a text tag for AI detection, trimmed, skipping empties, bounded in count.
pub(crate) fn push_other(found: &mut Found, key: impl Into<String>, value: &str) {
    let value = crate::dates::trim_field(value);
    if !value.is_empty() && found.signals.other_text.len() < MAX_OTHER_TEXT {
        found
            .signals
            .other_text
            .push((key.into(), value.to_owned()));
    }
}

/// Records an XMP packet (lossy UTF-8, padding trimmed).
pub(crate) fn push_xmp(found: &mut Found, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    let s = crate::dates::trim_field(&s);
    if !s.is_empty() && found.budget(s.len()) {
        found.signals.xmp.push(s.to_owned());
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A four-character code for messages: printable ASCII as is, other bytes escaped.
pub(crate) fn fourcc(t: &[u8]) -> String {
    t.iter()
        .map(|&b| match b {
            0xA9 => "©".to_owned(),
            0x20..=0x7E => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// Reads EXIF stored behind a 4-byte offset to its TIFF header, as HEIF Exif items and
/// JPEG XL `Exif` boxes store it. A fault is noted, not returned: EXIF is optional there.
pub(crate) fn exif_after_offset(data: &[u8], found: &mut Found, what: impl std::fmt::Display) {
    let skip = be32(data, 0).and_then(|o| usize::try_from(o).ok()?.checked_add(4));
    let err = match skip.and_then(|s| data.get(s..)) {
        Some(tiff) => match crate::exif_block::read(tiff.to_vec(), found) {
            Ok(()) => return,
            Err(e) => format!("{what}: {e}"),
        },
        None => format!("{what} has a bad TIFF offset"),
    };
    found.note(MetadataError::corrupt(found.format, err));
}
