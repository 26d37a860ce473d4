//! TIFF, and the camera RAW formats built on it: DNG, CR2, NEF, ARW, PEF, ORF and RW2.
//!
//! The file is itself an EXIF structure. The parser gets the file's head rather than the whole
//! file: first [`FIRST_WINDOW`] bytes, and only when something the IFDs point at lies past
//! that, up to [`TIFF_HEAD_CAP`]. So a 2 GB scan or a 60 MB RAW costs a bounded read. Writers
//! that put the IFDs after the image data (libtiff does for large files) lose their EXIF past
//! that window; the error says so.
//!
//! Which RAW a file is: CR2, ORF and RW2 say so in their header (sniffed); DNG has a
//! `DNGVersion` tag; NEF, ARW and PEF are TIFFs whose IFD0 or a SubIFD holds CFA sensor data
//! (`PhotometricInterpretation` 32803 or 34892), told apart by `Make`. A plain TIFF from the
//! same maker (a scan, an export) stays `tiff`.
//!
//! Dimensions follow what a photo's viewer shows: the largest full-resolution IFD (IFD0 or a
//! SubIFD) for DNG, NEF, ARW, PEF and ORF; EXIF `PixelXDimension` for CR2, whose raw IFD has
//! no size tags; the sensor crop borders for RW2.

use std::io::{Read, Seek};

use exif::{Context, Exif, In, Tag};

use crate::source::Source;
use crate::{Found, MetadataError, exif_block};

/// Most bytes of a TIFF file handed to the EXIF parser.
pub(crate) const TIFF_HEAD_CAP: u64 = 4 * 1024 * 1024;
/// The first, usual read: IFDs, EXIF and maker notes sit at the start of every RAW layout.
const FIRST_WINDOW: u64 = 256 * 1024;
/// Most SubIFDs followed (a DNG has a handful: raw, previews).
const MAX_SUB_IFDS: usize = 8;

const TAG_NEW_SUBFILE_TYPE: Tag = Tag(Context::Tiff, 254);
const TAG_SUB_IFDS: Tag = Tag(Context::Tiff, 330);
const TAG_DNG_VERSION: Tag = Tag(Context::Tiff, 0xC612);
/// Panasonic RW2 IFD0: sensor top, left, bottom and right borders.
const RW2_BORDERS: [u16; 4] = [4, 5, 6, 7];

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
    let whole = src.len().min(TIFF_HEAD_CAP);
    let mut window = whole.min(FIRST_WINDOW.max(ifd0 + 4096));
    loop {
        let mut head = src.bytes(0, window, TIFF_HEAD_CAP, "TIFF head")?;
        standard_magic(&mut head);
        let (exif, err) = exif_block::parse(head);
        if err.is_some() && window < whole {
            // Something points past the first window: read the whole head once.
            window = whole;
            continue;
        }
        if let Some(exif) = &exif {
            exif_block::apply(exif, found);
            camera_raw(exif, found);
        }
        return err.map_or(Ok(()), |e| Err(src.corrupt(e)));
    }
}

/// ORF (`IIRO`, `IIRS`, `MMOR`) and RW2 (`IIU\0`) replace TIFF's 42 with their own mark; the
/// structure after it is plain TIFF, so the EXIF parser gets the standard one.
fn standard_magic(head: &mut [u8]) {
    match head.get(..4) {
        Some(b"IIRO" | b"IIRS" | b"IIU\0") => head[2..4].copy_from_slice(&[0x2A, 0]),
        Some(b"MMOR") => head[2..4].copy_from_slice(&[0, 0x2A]),
        _ => {}
    }
}

/// Names the RAW a generic TIFF is, and picks the image size a viewer would show.
fn camera_raw(exif: &Exif, found: &mut Found) {
    let dng = exif_block::field(exif, TAG_DNG_VERSION).is_some();
    let make = found
        .signals
        .exif_make
        .as_deref()
        .unwrap_or("")
        .to_ascii_uppercase();
    let maker_raw = match make.split_whitespace().next() {
        Some("NIKON") => Some("nef"),
        Some("SONY") => Some("arw"),
        Some("PENTAX" | "RICOH") => Some("pef"),
        _ => None,
    };
    let sniffed = found.format;
    if sniffed == "tiff" && !dng && maker_raw.is_none() {
        return;
    }
    let subs = sub_ifds(exif);
    let ifds = || std::iter::once(exif).chain(subs.iter());
    let raw_format = match (sniffed, dng, maker_raw) {
        ("tiff", true, _) => "dng",
        ("tiff", false, Some(f)) if ifds().any(holds_sensor_data) => f,
        ("tiff", ..) => return,
        (other, ..) => other,
    };
    found.format = raw_format;
    let dims = match raw_format {
        "cr2" => pixel_dimensions(exif),
        "rw2" => rw2_crop(exif),
        _ => ifds()
            .filter(|e| uint(e, TAG_NEW_SUBFILE_TYPE).unwrap_or(0) == 0)
            .filter_map(ifd_dims)
            .max_by_key(|&(w, h)| u64::from(w) * u64::from(h)),
    };
    if let Some(d) = dims {
        found.exif_dims = Some(d);
    }
}

/// Parses each SubIFD (tag 330) with the same parser, by pointing a copy of the header at it.
fn sub_ifds(exif: &Exif) -> Vec<Exif> {
    let Some(field) = exif_block::field(exif, TAG_SUB_IFDS) else {
        return Vec::new();
    };
    let le = exif.little_endian();
    let buf = exif.buf();
    (0..MAX_SUB_IFDS)
        .map_while(|i| field.value.get_uint(i))
        .filter(|&off| (off as usize) < buf.len())
        .filter_map(|off| {
            let mut copy = buf.to_vec();
            let bytes = if le {
                off.to_le_bytes()
            } else {
                off.to_be_bytes()
            };
            copy[4..8].copy_from_slice(&bytes);
            // A broken SubIFD only costs its own dimensions.
            exif_block::parse(copy).0
        })
        .collect()
}

fn uint(exif: &Exif, tag: Tag) -> Option<u32> {
    exif.get_field(tag, In::PRIMARY)?.value.get_uint(0)
}

/// CFA (32803) or linear raw (34892) sensor data, as opposed to an RGB or JPEG preview.
fn holds_sensor_data(exif: &Exif) -> bool {
    matches!(
        uint(exif, Tag::PhotometricInterpretation),
        Some(32803 | 34892)
    )
}

fn nonzero(w: Option<u32>, h: Option<u32>) -> Option<(u32, u32)> {
    w.zip(h).filter(|&(w, h)| w > 0 && h > 0)
}

fn ifd_dims(exif: &Exif) -> Option<(u32, u32)> {
    nonzero(uint(exif, Tag::ImageWidth), uint(exif, Tag::ImageLength))
}

fn pixel_dimensions(exif: &Exif) -> Option<(u32, u32)> {
    nonzero(
        uint(exif, Tag::PixelXDimension),
        uint(exif, Tag::PixelYDimension),
    )
}

fn rw2_crop(exif: &Exif) -> Option<(u32, u32)> {
    let [top, left, bottom, right] = RW2_BORDERS.map(|t| uint(exif, Tag(Context::Tiff, t)));
    nonzero(right?.checked_sub(left?), bottom?.checked_sub(top?))
}
