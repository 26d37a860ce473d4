//! Deterministic test media: small valid PNGs built from scratch, and committed fixtures made
//! unique by adding a chunk or segment that no metadata reader interprets.
//!
//! Every generated file differs in content (so it has its own BLAKE3 identity) while its
//! metadata, and therefore its destination, stays predictable.

use std::path::PathBuf;

/// A committed fixture of the metadata crate, e.g. `media/camera.jpg` or `ai/a1111.png`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../metadata/tests/fixtures")
        .join(rel)
}

/// The bytes of a committed fixture.
pub fn fixture_bytes(rel: &str) -> Vec<u8> {
    let path = fixture(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xedb8_8320 & mask);
            }
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    out
}

fn text_chunk(tag: &str) -> Vec<u8> {
    // A private keyword: no AI tool or date reader looks at it.
    let mut data = b"alice-e2e\0".to_vec();
    data.extend_from_slice(tag.as_bytes());
    chunk(b"tEXt", &data)
}

/// A valid 2×2 RGB PNG with no date, camera or AI metadata, made unique by `tag` (kept in a
/// private tEXt chunk). Its source label is `other` and its date is its mtime.
pub fn png(tag: &str) -> Vec<u8> {
    png_padded(tag, 0)
}

/// Like [`png`], with `pad` extra bytes in the text chunk, for files of a chosen size.
pub fn png_padded(tag: &str, pad: usize) -> Vec<u8> {
    let (w, h) = (2u32, 2u32);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend(chunk(b"IHDR", &ihdr));
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&[(x * 120) as u8, (y * 120) as u8, 200]);
        }
    }
    // zlib stream with one stored (uncompressed) deflate block.
    let mut z = vec![0x78, 0x01, 0x01];
    let len = u16::try_from(raw.len()).unwrap();
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(&raw);
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    out.extend(chunk(b"IDAT", &z));
    let mut tag = tag.to_owned();
    tag.extend(std::iter::repeat_n('.', pad));
    out.extend(text_chunk(&tag));
    out.extend(chunk(b"IEND", b""));
    out
}

/// A PNG (e.g. an AI fixture) with a private tEXt chunk holding `tag` inserted before IEND.
pub fn png_tagged(base: &[u8], tag: &str) -> Vec<u8> {
    let iend = base.len() - 12;
    assert_eq!(
        &base[iend + 4..iend + 8],
        b"IEND",
        "fixture must end with IEND"
    );
    let mut out = base[..iend].to_vec();
    out.extend(text_chunk(tag));
    out.extend_from_slice(&base[iend..]);
    out
}

/// A JPEG with a COM segment holding `tag` inserted right before its first scan, after all
/// application segments (EXIF stays where readers expect it).
pub fn jpeg_tagged(base: &[u8], tag: &str) -> Vec<u8> {
    assert_eq!(&base[..2], b"\xff\xd8", "fixture must be a JPEG");
    let mut i = 2;
    loop {
        assert_eq!(base[i], 0xff, "JPEG segment expected at byte {i}");
        let marker = base[i + 1];
        if marker == 0xda {
            break;
        }
        let len = usize::from(u16::from_be_bytes([base[i + 2], base[i + 3]]));
        i += 2 + len;
    }
    let payload = tag.as_bytes();
    let mut out = base[..i].to_vec();
    out.extend_from_slice(&[0xff, 0xfe]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&base[i..]);
    out
}

/// A plain JPEG (no date, no camera, no AI) made unique by `tag`.
pub fn jpeg(tag: &str) -> Vec<u8> {
    jpeg_tagged(&fixture_bytes("media/plain.jpg"), tag)
}

/// A camera JPEG (Canon EOS R5, EXIF capture date 2024-03-15) made unique by `tag`.
pub fn camera_jpeg(tag: &str) -> Vec<u8> {
    jpeg_tagged(&fixture_bytes("media/camera.jpg"), tag)
}

/// Capture date of [`camera_jpeg`] files (wall-clock date where they were taken).
pub const CAMERA_DATE: &str = "2024-03-15";

/// An A1111 (Stable Diffusion) PNG with its prompt, made unique by `tag`.
pub fn stable_diffusion_png(tag: &str) -> Vec<u8> {
    png_tagged(&fixture_bytes("ai/a1111.png"), tag)
}

/// A Midjourney PNG (Description chunk), made unique by `tag`.
pub fn midjourney_png(tag: &str) -> Vec<u8> {
    png_tagged(&fixture_bytes("ai/mj_description.png"), tag)
}

/// A [`camera_jpeg`] with `pad` more bytes of entropy-coded data before its end marker: a
/// large photo whose headers (EXIF, dimensions) come first, as in real ones.
pub fn camera_jpeg_padded(tag: &str, pad: usize) -> Vec<u8> {
    let mut out = camera_jpeg(tag);
    let eoi = out.len() - 2;
    assert_eq!(&out[eoi..], b"\xff\xd9", "fixture must end with EOI");
    // 0x55 never forms a marker (markers start with 0xFF).
    out.splice(eoi..eoi, std::iter::repeat_n(0x55, pad));
    out
}

/// An ISO-BMFF file (HEIC, MOV) made unique by a trailing `free` box holding `tag`.
pub fn bmff_tagged(base: &[u8], tag: &str) -> Vec<u8> {
    let mut out = base.to_vec();
    out.extend_from_slice(&u32::try_from(8 + tag.len()).unwrap().to_be_bytes());
    out.extend_from_slice(b"free");
    out.extend_from_slice(tag.as_bytes());
    out
}

/// A Sony ARW (EXIF capture date 2020-05-06) made unique by `tag` after its last byte (a TIFF
/// reader follows offsets and never reads there).
pub fn camera_raw(tag: &str) -> Vec<u8> {
    let mut out = fixture_bytes("media/camera.arw");
    out.extend_from_slice(tag.as_bytes());
    out
}

/// A HEIC still taken 2024-02-29 23:59:58 at UTC-8 (EXIF), made unique by `tag`.
pub fn live_still(tag: &str) -> Vec<u8> {
    bmff_tagged(&fixture_bytes("media/exif_item.heic"), tag)
}

/// A QuickTime video whose movie header dates it 2024-03-01 07:59:58 UTC: the same instant as
/// [`live_still`], on the next day in UTC (how a Live Photo's video is dated). Unique by `tag`.
pub fn live_video(tag: &str) -> Vec<u8> {
    let mut out = fixture_bytes("media/clip.mov");
    let mvhd = out.windows(4).position(|w| w == b"mvhd").expect("mvhd");
    assert_eq!(out[mvhd + 4], 0, "version 0 movie header");
    // Seconds since 1904-01-01 UTC.
    out[mvhd + 8..mvhd + 12].copy_from_slice(&3_792_124_798u32.to_be_bytes());
    bmff_tagged(&out, tag)
}

/// A JPEG taken 2024-02-29 23:59:58 (local time, EXIF) whose Apple MakerNote names it part of
/// the Live Photo `id`; unique by `tag`.
pub fn live_jpeg(id: &str, tag: &str) -> Vec<u8> {
    // MakerNote: header, a big-endian IFD of one entry (ContentIdentifier, ASCII, at an
    // offset from the note's first byte), then the text.
    let mut note = b"Apple iOS\0\0\x01MM".to_vec();
    note.extend_from_slice(&1u16.to_be_bytes());
    note.extend_from_slice(&[0x00, 0x11, 0x00, 0x02]);
    note.extend_from_slice(&u32::try_from(id.len() + 1).unwrap().to_be_bytes());
    note.extend_from_slice(&(16u32 + 12 + 4).to_be_bytes());
    note.extend_from_slice(&[0; 4]);
    note.extend_from_slice(id.as_bytes());
    note.push(0);
    // TIFF: IFD0 (Exif IFD pointer) at 8, Exif IFD at 26 (DateTimeOriginal, MakerNote),
    // values from 56.
    let entry = |tag: u16, typ: u16, count: usize, value: u32| {
        let mut e = tag.to_be_bytes().to_vec();
        e.extend_from_slice(&typ.to_be_bytes());
        e.extend_from_slice(&u32::try_from(count).unwrap().to_be_bytes());
        e.extend_from_slice(&value.to_be_bytes());
        e
    };
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend(entry(0x8769, 4, 1, 26));
    tiff.extend_from_slice(&[0; 4]);
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend(entry(0x9003, 2, 20, 56));
    tiff.extend(entry(0x927c, 7, note.len(), 76));
    tiff.extend_from_slice(&[0; 4]);
    tiff.extend_from_slice(b"2024:02:29 23:59:58\0");
    tiff.extend(note);
    let mut app1 = vec![0xff, 0xe1];
    app1.extend_from_slice(&u16::try_from(2 + 6 + tiff.len()).unwrap().to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend(tiff);
    let mut out = jpeg(tag);
    out.splice(2..2, app1);
    out
}

/// [`live_video`] whose QuickTime metadata names it part of the Live Photo `id`
/// (`com.apple.quicktime.content.identifier`, a `meta` box appended to `moov`).
pub fn live_video_of(id: &str, tag: &str) -> Vec<u8> {
    fn boxed(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = u32::try_from(8 + body.len())
            .unwrap()
            .to_be_bytes()
            .to_vec();
        b.extend_from_slice(typ);
        b.extend_from_slice(body);
        b
    }
    let key = b"com.apple.quicktime.content.identifier";
    let mut hdlr = vec![0; 8];
    hdlr.extend_from_slice(b"mdta");
    hdlr.extend_from_slice(&[0; 13]);
    let mut keys = vec![0, 0, 0, 0, 0, 0, 0, 1];
    keys.extend(boxed(b"mdta", key));
    let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
    data.extend_from_slice(id.as_bytes());
    let item = boxed(&1u32.to_be_bytes(), &boxed(b"data", &data));
    let mut meta = boxed(b"hdlr", &hdlr);
    meta.extend(boxed(b"keys", &keys));
    meta.extend(boxed(b"ilst", &item));
    let meta = boxed(b"meta", &meta);
    let mut out = live_video(tag);
    let moov = out.windows(4).position(|w| w == b"moov").expect("moov") - 4;
    let size = u32::from_be_bytes(out[moov..moov + 4].try_into().unwrap());
    let end = moov + usize::try_from(size).unwrap();
    out[moov..moov + 4].copy_from_slice(&(size + u32::try_from(meta.len()).unwrap()).to_be_bytes());
    out.splice(end..end, meta);
    out
}
