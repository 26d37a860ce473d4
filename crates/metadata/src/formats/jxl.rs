//! JPEG XL (ISO/IEC 18181): a bare codestream (`FF 0A`) or the ISO-BMFF-style container
//! (`JXL ` signature box, `ftyp`, the codestream in `jxlc` or `jxlp` boxes, optional `Exif`
//! and `xml ` boxes).
//!
//! The size is the codestream's `SizeHeader`, the first few bits after its signature; the
//! container is walked by [`super::isobmff`], which hands the codestream's first bytes here.
//! Metadata boxes compressed with Brotli (`brob`) are not read.

use std::io::{Read, Seek};

use super::isobmff;
use crate::source::Source;
use crate::{Found, MetadataError};

/// A bare codestream starts with this.
pub(crate) const CODESTREAM: &[u8] = &[0xFF, 0x0A];
/// The container's signature box.
pub(crate) const CONTAINER: &[u8] = b"\0\0\0\x0cJXL \r\n\x87\n";

/// Height:width ratios of `SizeHeader.ratio` 1..=7.
const RATIOS: [(u64, u64); 7] = [(1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1)];

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let mut head = [0u8; 16];
    let n = src.read_upto(0, &mut head)?;
    if !head.starts_with(CODESTREAM) {
        return isobmff::parse(src, found);
    }
    match size_header(&head[..n]) {
        Some((w, h)) => {
            found.set_dims(w, h);
            Ok(())
        }
        None => Err(src.truncated("codestream size header", 16)),
    }
}

/// The start of a `jxlc` box, or of a `jxlp` box (after its 4-byte part index): only the
/// part that begins the codestream has the size header.
pub(crate) fn codestream_box(typ: &[u8; 4], data: &[u8], found: &mut Found) {
    let cs = if typ == b"jxlp" {
        data.get(4..).unwrap_or_default()
    } else {
        data
    };
    if cs.starts_with(CODESTREAM)
        && let Some((w, h)) = size_header(cs)
    {
        found.set_dims(w, h);
    }
}

/// Least-significant-bit-first reader, as the codestream packs its fields.
struct Bits<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v |= u32::from((byte >> (self.pos % 8)) & 1) << i;
            self.pos += 1;
        }
        Some(v)
    }

    /// `U32(Bits(9), Bits(13), Bits(18), Bits(30))`: a 2-bit selector, then that many bits.
    fn dimension(&mut self) -> Option<u32> {
        let bits = [9, 13, 18, 30][self.read(2)? as usize];
        self.read(bits)?.checked_add(1)
    }
}

/// Width and height from a codestream (starting with its `FF 0A` signature).
fn size_header(cs: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits {
        data: cs.get(2..)?,
        pos: 0,
    };
    let small = b.read(1)? == 1;
    let height = if small {
        (b.read(5)? + 1) * 8
    } else {
        b.dimension()?
    };
    let width = match b.read(3)? {
        0 if small => (b.read(5)? + 1) * 8,
        0 => b.dimension()?,
        r => {
            let (num, den) = RATIOS[r as usize - 1];
            u32::try_from(u64::from(height) * num / den).ok()?
        }
    };
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_header_small_large_and_ratio_forms() {
        // small: height (3+1)*8 = 32, ratio 0, width (1+1)*8 = 16. Bits LSB first:
        // 1 | 00011 | 000 | 00001
        let small = [0xFF, 0x0A, 0b0000_0111, 0b0000_0010, 0];
        assert_eq!(size_header(&small), Some((16, 32)));
        // large: selector 1 (13 bits), height-1 = 1079, ratio 5 (16:9) → 1920x1080.
        let mut bits: u64 = 0;
        let mut at = 0;
        for (v, n) in [(0u64, 1), (1, 2), (1079, 13), (5, 3)] {
            bits |= v << at;
            at += n;
        }
        let mut cs = vec![0xFF, 0x0A];
        cs.extend_from_slice(&bits.to_le_bytes()[..3]);
        assert_eq!(size_header(&cs), Some((1920, 1080)));
        assert_eq!(size_header(&[0xFF, 0x0A]), None);
    }
}
