//! WebP: walk the RIFF chunks. Dimensions from `VP8X`, `VP8 ` or `VP8L`; metadata from
//! `EXIF` and `XMP `. Image chunks are skipped by seeking.

use std::io::{Read, Seek};

use super::{EXIF_CAP, XMP_CAP, fourcc, le16, le32, push_xmp};
use crate::source::Source;
use crate::{Found, MetadataError, exif_block};

/// Most chunks walked; animated files have one `ANMF` per frame.
const MAX_CHUNKS: usize = 100_000;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let hdr: [u8; 12] = src.array(0, "RIFF header")?;
    let riff_end = 8 + u64::from(le32(&hdr, 4).unwrap_or(0));
    if riff_end > src.len() {
        // Keep reading what is there; report the cut at the end.
        found.note(src.truncated("RIFF container", riff_end));
    }
    let end = riff_end.min(src.len());
    let mut pos = 12u64;
    let mut count = 0;
    while pos + 8 <= end {
        count += 1;
        if count > MAX_CHUNKS {
            return Err(src.too_many("chunks", MAX_CHUNKS));
        }
        let h: [u8; 8] = src.array(pos, format_args!("chunk header at byte {pos}"))?;
        let typ = [h[0], h[1], h[2], h[3]];
        let name = fourcc(&typ);
        let len = u64::from(le32(&h, 4).unwrap_or(0));
        let data_at = pos + 8;
        let data_end = data_at + len;
        if data_end > src.len() {
            return Err(src.truncated(format_args!("chunk {name:?} at byte {pos}"), data_end));
        }
        let what = format_args!("chunk {name:?} at byte {pos}");
        match &typ {
            b"VP8X" => {
                let d: [u8; 10] = src.array(data_at, what)?;
                let w = u32::from_le_bytes([d[4], d[5], d[6], 0]) + 1;
                let h = u32::from_le_bytes([d[7], d[8], d[9], 0]) + 1;
                found.set_dims(w, h);
            }
            b"VP8 " => {
                let d: [u8; 10] = src.array(data_at, what)?;
                if d[3..6] != [0x9D, 0x01, 0x2A] {
                    return Err(src.corrupt(format!(
                        "chunk \"VP8 \" at byte {pos} lacks the VP8 start code"
                    )));
                }
                let w = le16(&d, 6).unwrap_or(0) & 0x3FFF;
                let h = le16(&d, 8).unwrap_or(0) & 0x3FFF;
                found.set_dims(w.into(), h.into());
            }
            b"VP8L" => {
                let d: [u8; 5] = src.array(data_at, what)?;
                if d[0] != 0x2F {
                    return Err(
                        src.corrupt(format!("chunk VP8L at byte {pos} lacks the 0x2F signature"))
                    );
                }
                let bits = le32(&d, 1).unwrap_or(0);
                found.set_dims((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
            }
            b"EXIF" => match src.bytes(data_at, len, EXIF_CAP, what) {
                Ok(mut data) => {
                    // Some writers keep the JPEG-style "Exif\0\0" prefix.
                    if data.starts_with(b"Exif\0\0") {
                        data.drain(..6);
                    }
                    if let Err(e) = exif_block::read(data, found) {
                        found.note(src.corrupt(format!("chunk EXIF at byte {pos}: {e}")));
                    }
                }
                Err(e) => found.note(e),
            },
            b"XMP " => match src.bytes(data_at, len, XMP_CAP, what) {
                Ok(data) => push_xmp(found, &data),
                Err(e) => found.note(e),
            },
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = data_end + (len & 1);
    }
    Ok(())
}
