//! BMP: dimensions from the DIB header.

use std::io::{Read, Seek};

use super::{le16, le32};
use crate::source::Source;
use crate::{Found, MetadataError};

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let h: [u8; 26] = src.array(0, "BMP and DIB headers")?;
    let dib = le32(&h, 14).unwrap_or(0);
    let (w, h) = if dib == 12 {
        // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes.
        (
            u32::from(le16(&h, 18).unwrap_or(0)),
            u32::from(le16(&h, 20).unwrap_or(0)),
        )
    } else {
        // Negative height means top-down rows; the size is the absolute value.
        let w = le32(&h, 18).unwrap_or(0) as i32;
        let hh = le32(&h, 22).unwrap_or(0) as i32;
        (w.unsigned_abs(), hh.unsigned_abs())
    };
    if w == 0 || h == 0 {
        return Err(src.corrupt(format!("DIB header gives a {w}x{h} image")));
    }
    found.set_dims(w, h);
    Ok(())
}
