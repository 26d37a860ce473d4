//! PNG: walk the chunks, skip image data by seeking.
//!
//! Reads `IHDR` (dimensions), `tEXt`/`zTXt`/`iTXt` (AI parameters, XMP, `Creation Time`),
//! `tIME`, `eXIf` and `caBX` (C2PA). CRCs are not checked: a bad CRC does not make the
//! metadata less useful, and checking would mean reading `IDAT`.

use std::io::{Read, Seek};

use events::media::CaptureTime;

use super::{C2PA_CAP, EXIF_CAP, fourcc, push_xmp};
use crate::dates::{parse_png_creation_time, ymd_hms};
use crate::source::Source;
use crate::{Found, MetadataError, SIGNALS_BUDGET, c2pa, exif_block};

/// Largest text chunk read (compressed size) and largest inflated text kept.
pub(crate) const PNG_TEXT_CAP: u64 = 4 * 1024 * 1024;
/// Most chunks walked; real files have a few dozen, large ones some thousand `IDAT`s.
const MAX_CHUNKS: usize = 100_000;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let mut pos = 8u64;
    for index in 0..MAX_CHUNKS {
        if pos == src.len() {
            return Err(MetadataError::truncated(
                "png",
                format!("file ends at byte {pos} without an IEND chunk"),
            ));
        }
        let hdr: [u8; 8] = src.array(pos, format_args!("chunk header at byte {pos}"))?;
        let len = u64::from(u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]));
        let typ = [hdr[4], hdr[5], hdr[6], hdr[7]];
        let name = fourcc(&typ);
        if !typ.iter().all(u8::is_ascii_alphabetic) {
            return Err(src.corrupt(format!("chunk at byte {pos} has invalid type {name:?}")));
        }
        if len > 0x7FFF_FFFF {
            return Err(src.corrupt(format!(
                "chunk {name} at byte {pos} claims {len} bytes, beyond the PNG maximum of 2^31-1"
            )));
        }
        let data_at = pos + 8;
        let end = data_at + len + 4;
        if end > src.len() {
            return Err(src.truncated(format_args!("chunk {name} at byte {pos}"), end));
        }
        if index == 0 && &typ != b"IHDR" {
            return Err(src.corrupt(format!("first chunk is {name}, not IHDR")));
        }
        match &typ {
            b"IHDR" => {
                if len != 13 {
                    return Err(src.corrupt(format!("chunk IHDR has length {len}, not 13")));
                }
                let d: [u8; 8] = src.array(data_at, "chunk IHDR")?;
                let w = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                let h = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                found.set_dims(w, h);
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let what = format_args!("chunk {name} at byte {pos}");
                match src.bytes(data_at, len, PNG_TEXT_CAP, what) {
                    Ok(data) => text_chunk(&typ, &data, found),
                    Err(e) => found.note(e),
                }
            }
            b"tIME" if len == 7 => {
                let d: [u8; 7] = src.array(data_at, "chunk tIME")?;
                let year = i32::from(u16::from_be_bytes([d[0], d[1]]));
                let t = ymd_hms(
                    year,
                    d[2].into(),
                    d[3].into(),
                    d[4].into(),
                    d[5].into(),
                    d[6].into(),
                    0,
                );
                // tIME is "last modification", in UTC by spec.
                found.png_time = found.png_time.or(t.map(|t| CaptureTime::with_offset(t, 0)));
            }
            b"eXIf" => match src.bytes(
                data_at,
                len,
                EXIF_CAP,
                format_args!("chunk eXIf at byte {pos}"),
            ) {
                Ok(data) => {
                    if let Err(e) = exif_block::read(data, found) {
                        found.note(src.corrupt(format!("chunk eXIf at byte {pos}: {e}")));
                    }
                }
                Err(e) => found.note(e),
            },
            b"caBX" => {
                let data = src.bytes(data_at, len.min(C2PA_CAP), C2PA_CAP, "chunk caBX")?;
                c2pa::strings(&data, &mut found.signals.c2pa);
            }
            b"IEND" => return Ok(()),
            _ => {}
        }
        pos = end;
    }
    Err(src.too_many("chunks", MAX_CHUNKS))
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// Inflates a zlib stream, keeping at most `limit` bytes of output.
fn inflate(data: &[u8], limit: usize) -> Option<Vec<u8>> {
    match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit) {
        Ok(v) => Some(v),
        // Over the cap: keep the head, which is where prompts and parameters start.
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Some(e.output),
        Err(_) => None,
    }
}

fn text_chunk(typ: &[u8; 4], data: &[u8], found: &mut Found) {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        // A keyword without terminator: a tEXt chunk whose whole content is the keyword.
        return;
    };
    let keyword = latin1(&data[..nul]);
    let rest = &data[nul + 1..];
    // Inflate no more than the text budget still allows: a zip bomb then costs at most the
    // budget in time and memory, not the cap times the number of chunks.
    let room = SIGNALS_BUDGET.saturating_sub(found.signal_bytes);
    if room == 0 {
        found.budget(1);
        return;
    }
    let limit = room.min(PNG_TEXT_CAP as usize);
    let text = match typ {
        b"tEXt" => Some(latin1(rest)),
        b"zTXt" => match rest.split_first() {
            Some((0, compressed)) => inflate(compressed, limit).map(|t| latin1(&t)),
            _ => None,
        },
        _ => itxt(rest, limit),
    };
    let Some(text) = text else {
        tracing::debug!(keyword = %keyword, "PNG text chunk could not be decoded");
        return;
    };
    if !found.budget(text.len()) {
        return;
    }
    if keyword == "XML:com.adobe.xmp" {
        push_xmp(found, text.as_bytes());
    }
    if keyword == "Creation Time" && found.png_creation.is_none() {
        found.png_creation = parse_png_creation_time(&text);
    }
    found.signals.png_text.push((keyword, text));
}

/// iTXt after the keyword: flag, method, language\0, translated keyword\0, UTF-8 text.
fn itxt(rest: &[u8], limit: usize) -> Option<String> {
    let (&flag, rest) = rest.split_first()?;
    let (&method, rest) = rest.split_first()?;
    let lang_end = rest.iter().position(|&b| b == 0)?;
    let rest = &rest[lang_end + 1..];
    let tk_end = rest.iter().position(|&b| b == 0)?;
    let body = &rest[tk_end + 1..];
    let bytes = match (flag, method) {
        (0, _) => body.to_vec(),
        (1, 0) => inflate(body, limit)?,
        _ => return None,
    };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
