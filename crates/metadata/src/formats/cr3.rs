//! Canon CR3: an ISO-BMFF file (`crx ` brand) whose `moov` holds a Canon `uuid` box with the
//! EXIF split into TIFF blocks: `CMT1` is IFD0 (make, model, size), `CMT2` the Exif IFD
//! (capture dates), `CMT3` the maker notes and `CMT4` GPS; only the first two are read.
//!
//! The box walk is [`super::isobmff`]'s; this module only reads the CMT blocks and turns the
//! result into an image's: the `mvhd` duration of the container is not a video's length.

use std::io::{Read, Seek};

use super::isobmff;
use crate::source::Source;
use crate::{Found, MetadataError, exif_block};

/// The Canon metadata box inside `moov`.
pub(crate) const UUID_CANON: [u8; 16] = [
    0x85, 0xC0, 0xB6, 0x87, 0x82, 0x0F, 0x11, 0xE0, 0x81, 0x11, 0xF4, 0xCE, 0x46, 0x2B, 0x6A, 0x48,
];

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let res = isobmff::parse(src, found);
    found.duration_ms = None;
    // The tracks are the full-size JPEG, a small preview and the raw data; IFD0 states the
    // picture's size directly.
    if let Some((w, h)) = found.exif_dims {
        (found.width, found.height) = (Some(w), Some(h));
    }
    res
}

/// Reads one `CMT1` or `CMT2` block (a complete little TIFF structure).
pub(crate) fn cmt(typ: &[u8; 4], block: Vec<u8>, found: &mut Found) {
    let block = if typ == b"CMT2" {
        as_exif_ifd(block)
    } else {
        Some(block)
    };
    let res = match block {
        Some(b) => exif_block::read(b, found),
        None => Err("too short for a TIFF header".to_owned()),
    };
    if let Err(e) = res {
        let what = String::from_utf8_lossy(typ);
        found.note(MetadataError::corrupt(
            found.format,
            format!("Canon {what} block: {e}"),
        ));
    }
}

/// `CMT2` stores the Exif IFD as the block's first IFD, where the parser would read its tags
/// as TIFF ones. A one-entry IFD0 appended to the block, holding an Exif IFD pointer to the
/// original, makes them Exif tags again (`DateTimeOriginal` and the rest).
fn as_exif_ifd(mut block: Vec<u8>) -> Option<Vec<u8>> {
    let le = match block.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let original = block.get(4..8)?.to_vec();
    if block.len() % 2 == 1 {
        block.push(0);
    }
    let new_ifd0 = u32::try_from(block.len()).ok()?;
    let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    block.extend(u16b(1)); // one entry
    block.extend(u16b(0x8769)); // ExifIFDPointer
    block.extend(u16b(4)); // LONG
    block.extend(u32b(1));
    block.extend(&original);
    block.extend(u32b(0)); // no next IFD
    block[4..8].copy_from_slice(&u32b(new_ifd0));
    Some(block)
}
