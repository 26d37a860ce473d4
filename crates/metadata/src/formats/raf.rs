//! Fujifilm RAF: a big-endian header, a directory of Fujifilm tags, and an embedded JPEG
//! preview that carries the EXIF (make, model, capture dates).
//!
//! Header: `FUJIFILMCCD-RAW ` magic, then at byte 84 the preview JPEG's offset and length, at
//! byte 92 the offset of the RAF directory (u32 count, then u16 tag, u16 size, value). The
//! picture's size is the directory's cropped raw size (tag 0x111, else the full raw size
//! 0x100: height then width); the preview's own size is smaller and not used.

use std::io::{Read, Seek};

use super::{be16, be32, jpeg};
use crate::source::Source;
use crate::{Found, MetadataError};

/// The first 16 bytes of every RAF.
pub(crate) const MAGIC: &[u8] = b"FUJIFILMCCD-RAW ";
/// Most directory entries read; real files have a few dozen.
const MAX_ENTRIES: u32 = 256;
const TAG_FULL_SIZE: u16 = 0x100;
const TAG_CROPPED_SIZE: u16 = 0x111;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let h: [u8; 100] = src.array(0, "RAF header")?;
    let (jpeg_at, jpeg_len, dir_at) = (
        u64::from(be32(&h, 84).unwrap_or(0)),
        u64::from(be32(&h, 88).unwrap_or(0)),
        u64::from(be32(&h, 92).unwrap_or(0)),
    );
    if dir_at != 0 {
        match directory_size(src, dir_at) {
            Ok(Some((w, h))) => found.set_dims(w, h),
            Ok(None) => {}
            Err(e) => found.note(e),
        }
    }
    if jpeg_len < 4 || jpeg_at.saturating_add(jpeg_len) > src.len() {
        return Err(src.truncated("embedded JPEG preview", jpeg_at.saturating_add(jpeg_len)));
    }
    let soi: [u8; 2] = src.array(jpeg_at, "embedded JPEG preview")?;
    if soi != [0xFF, 0xD8] {
        return Err(src.corrupt(format!(
            "the embedded JPEG preview at byte {jpeg_at} does not start with a JPEG marker"
        )));
    }
    jpeg::parse_at(src, found, jpeg_at)
}

/// The picture size from the RAF directory: the cropped size if stated, else the full size.
fn directory_size<R: Read + Seek>(
    src: &mut Source<'_, R>,
    dir_at: u64,
) -> Result<Option<(u32, u32)>, MetadataError> {
    let count: [u8; 4] = src.array(dir_at, "RAF directory")?;
    let count = u32::from_be_bytes(count);
    if count > MAX_ENTRIES {
        return Err(src.corrupt(format!(
            "RAF directory at byte {dir_at} claims {count} entries"
        )));
    }
    let mut pos = dir_at + 4;
    let (mut full, mut cropped) = (None, None);
    for _ in 0..count {
        let e: [u8; 4] = src.array(pos, format_args!("RAF directory entry at byte {pos}"))?;
        let (tag, size) = (be16(&e, 0).unwrap_or(0), be16(&e, 2).unwrap_or(0));
        if size == 4 && matches!(tag, TAG_FULL_SIZE | TAG_CROPPED_SIZE) {
            let v: [u8; 4] = src.array(pos + 4, format_args!("RAF tag 0x{tag:x}"))?;
            let (h, w) = (be16(&v, 0).unwrap_or(0), be16(&v, 2).unwrap_or(0));
            let dims = (w > 0 && h > 0).then(|| (u32::from(w), u32::from(h)));
            if tag == TAG_FULL_SIZE {
                full = full.or(dims);
            } else {
                cropped = cropped.or(dims);
            }
        }
        pos += 4 + u64::from(size);
    }
    Ok(cropped.or(full))
}
