//! JPEG: walk the marker segments up to the start of scan.
//!
//! Reads APP1 (EXIF, XMP), APP11 (JUMBF/C2PA), COM and the SOF header for dimensions.
//! Everything after SOS is entropy-coded image data and is never read.

use std::io::{Read, Seek};

use super::{C2PA_CAP, be16, push_other, push_xmp};
use crate::source::Source;
use crate::{Found, MetadataError, c2pa, exif_block};

/// Most segments before SOS; real files have about ten, the marker space allows few more
/// meaningful ones, so more is a crafted or broken file.
const MAX_SEGMENTS: usize = 4096;
const XMP_SIG: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    parse_at(src, found, 0)
}

/// Walks a JPEG whose SOI marker is at `start` (0 for a JPEG file, further on for a preview
/// embedded in a RAW).
pub(crate) fn parse_at<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
    start: u64,
) -> Result<(), MetadataError> {
    let mut pos = start + 2;
    let mut jumbf = Vec::new();
    let res = walk(src, found, &mut pos, &mut jumbf);
    if !jumbf.is_empty() {
        c2pa::strings(&jumbf, &mut found.signals.c2pa);
    }
    res
}

fn walk<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
    pos: &mut u64,
    jumbf: &mut Vec<u8>,
) -> Result<(), MetadataError> {
    for _ in 0..MAX_SEGMENTS {
        if *pos >= src.len() {
            return Err(MetadataError::truncated(
                "jpeg",
                format!(
                    "file ends at byte {} before the image data (no SOS marker)",
                    src.len()
                ),
            ));
        }
        let m: [u8; 2] = src.array(*pos, format_args!("marker at byte {pos}"))?;
        if m[0] != 0xFF {
            return Err(src.corrupt(format!(
                "expected a marker at byte {pos}, found 0x{:02x}",
                m[0]
            )));
        }
        let marker = m[1];
        match marker {
            // Fill byte: markers may be preceded by any number of 0xFF.
            0xFF => {
                *pos += 1;
                continue;
            }
            0x01 | 0xD0..=0xD7 => {
                *pos += 2;
                continue;
            }
            0xD9 => {
                return Err(src.corrupt(format!(
                    "end-of-image marker at byte {pos} before any image data"
                )));
            }
            0xD8 | 0x00 => {
                return Err(
                    src.corrupt(format!("unexpected marker 0xFF{marker:02X} at byte {pos}"))
                );
            }
            _ => {}
        }
        let l: [u8; 2] = src.array(
            *pos + 2,
            format_args!("segment 0xFF{marker:02X} length at byte {pos}"),
        )?;
        let len = u64::from(u16::from_be_bytes(l));
        if len < 2 {
            return Err(src.corrupt(format!(
                "segment 0xFF{marker:02X} at byte {pos} has length {len} (minimum 2)"
            )));
        }
        let data_at = *pos + 4;
        let data_len = len - 2;
        let end = data_at + data_len;
        if end > src.len() {
            return Err(src.truncated(format_args!("segment 0xFF{marker:02X} at byte {pos}"), end));
        }
        let what = format_args!("segment 0xFF{marker:02X} at byte {pos}");
        match marker {
            0xE1 => {
                // 64 KiB by construction: the length field is 16 bits.
                let data = src.bytes(data_at, data_len, 0xFFFF, what)?;
                app1(data, *pos, src, found);
            }
            0xEB => {
                let data = src.bytes(data_at, data_len, 0xFFFF, what)?;
                // "JP", 2-byte box instance, 4-byte sequence number, then the JUMBF bytes.
                if data.starts_with(b"JP") && data.len() > 8 && (jumbf.len() as u64) < C2PA_CAP {
                    jumbf.extend_from_slice(&data[8..]);
                }
            }
            0xFE => {
                let data = src.bytes(data_at, data_len, 0xFFFF, what)?;
                push_other(found, "jpeg:COM", &String::from_utf8_lossy(&data));
            }
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let d: [u8; 5] = src.array(data_at, what)?;
                let h = be16(&d, 1).unwrap_or(0);
                let w = be16(&d, 3).unwrap_or(0);
                found.set_dims(w.into(), h.into());
            }
            0xDA => return Ok(()),
            _ => {}
        }
        *pos = end;
    }
    Err(src.too_many("segments before the image data", MAX_SEGMENTS))
}

fn app1<R: Read + Seek>(mut data: Vec<u8>, pos: u64, src: &Source<'_, R>, found: &mut Found) {
    if data.starts_with(b"Exif\0") && data.len() >= 6 {
        data.drain(..6);
        if let Err(e) = exif_block::read(data, found) {
            found.note(src.corrupt(format!("APP1 segment at byte {pos}: {e}")));
        }
    } else if let Some(xmp) = data.strip_prefix(XMP_SIG) {
        push_xmp(found, xmp);
    }
}
