//! TIFF: the file is itself an EXIF structure.
//!
//! The parser gets the file's head (at most [`TIFF_HEAD_CAP`]) rather than the whole file, so
//! a 2 GB scan costs a bounded read. Writers that put the IFDs after the image data (libtiff
//! does for large files) lose their EXIF past that window; the error says so.

use std::io::{Read, Seek};

use crate::source::Source;
use crate::{Found, MetadataError, exif_block};

/// How much of a TIFF file is handed to the EXIF parser.
pub(crate) const TIFF_HEAD_CAP: u64 = 4 * 1024 * 1024;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let h: [u8; 8] = src.array(0, "TIFF header")?;
    if h[2] == 0x2B || h[3] == 0x2B {
        // BigTIFF: the EXIF parser does not read it; the format is still known.
        return Ok(());
    }
    let le = h[0] == b'I';
    let ifd0 = if le {
        u32::from_le_bytes([h[4], h[5], h[6], h[7]])
    } else {
        u32::from_be_bytes([h[4], h[5], h[6], h[7]])
    };
    let ifd0 = u64::from(ifd0);
    if ifd0 >= src.len() {
        return Err(src.truncated(format_args!("IFD0 at byte {ifd0}"), ifd0 + 2));
    }
    if ifd0 >= TIFF_HEAD_CAP {
        return Err(src.too_large(
            "offset of IFD0 (metadata after the image data)",
            ifd0,
            TIFF_HEAD_CAP,
        ));
    }
    let head = src.bytes(0, src.len().min(TIFF_HEAD_CAP), TIFF_HEAD_CAP, "TIFF head")?;
    exif_block::read(head, found).map_err(|e| src.corrupt(e))
}
