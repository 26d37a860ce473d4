//! ISO base media file format (HEIC/HEIF, AVIF, MP4, MOV): a bounded box walker.
//!
//! Container boxes on the way to metadata (`moov`, `trak`, `mdia`) are walked by seeking from
//! header to header; leaf boxes of interest (`mvhd`, `tkhd`, `mdhd`, `udta`, `meta`, `uuid`)
//! are read with a size cap; everything else — `mdat` above all, and the sample tables — is
//! skipped by offset. A 4 GB video's metadata therefore costs a few kilobytes of I/O.
//!
//! Size 0 means "to the end of the enclosing box or file", size 1 a 64-bit size; a size
//! smaller than the header, or a box overrunning its parent, is an error, never a loop.

use std::io::{Read, Seek};

use chrono::NaiveDate;
use events::media::MediaType;

use super::{
    C2PA_CAP, EXIF_CAP, XMP_CAP, be16, be32, be64, cr3, exif_after_offset, fourcc, jxl, push_other,
    push_xmp,
};
use crate::dates::{parse_datetime, utc_from_epoch};
use crate::source::Source;
use crate::{Found, MetadataError, c2pa};

/// Most boxes visited in one file, all levels together.
const MAX_BOXES: usize = 10_000;
/// Deepest nesting followed.
const MAX_DEPTH: usize = 8;
/// Cap for a box read whole (`udta`, `moov/meta`, HEIF `meta`).
const META_CAP: u64 = 4 * 1024 * 1024;
/// Most item extents in a HEIF `iloc`, all items together.
const MAX_EXTENTS: usize = 4096;
/// Cap for a small fixed header box (`mvhd`, `tkhd`, `mdhd`).
const SMALL_CAP: u64 = 256;

const UUID_XMP: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];
const UUID_C2PA: [u8; 16] = [
    0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81,
];

/// Decides the format from an `ftyp` box at the start of `h`.
pub(crate) fn sniff_ftyp(h: &[u8]) -> (MediaType, Option<&'static str>) {
    let size = be32(h, 0).unwrap_or(0) as usize;
    let end = size.min(h.len());
    let major = &h[8..12];
    let compatible: Vec<&[u8]> = h.get(16..end).unwrap_or_default().chunks_exact(4).collect();
    let has = |b: &[u8]| major == b || compatible.contains(&b);
    if major == b"qt  " {
        return (MediaType::Video, Some("mov"));
    }
    if has(b"avif") || has(b"avis") {
        return (MediaType::Image, Some("avif"));
    }
    let heif = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
    ];
    if heif.iter().any(|b| major == *b) {
        return (MediaType::Image, Some("heic"));
    }
    if major == b"crx " {
        return (MediaType::Image, Some("cr3"));
    }
    // Audio-only brands are not videos.
    if matches!(major, b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B ") {
        return (MediaType::Other, None);
    }
    (MediaType::Video, Some("mp4"))
}

#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    typ: [u8; 4],
    start: u64,
    /// Where the payload starts (after size, type, largesize and uuid).
    data: u64,
    end: u64,
    uuid: Option<[u8; 16]>,
}

impl BoxHeader {
    fn len(&self) -> u64 {
        self.end - self.data
    }
}

struct Walker<'s, 'a, R> {
    src: &'s mut Source<'a, R>,
    boxes: usize,
    /// Durations from `mdhd`, used when `mvhd` has none.
    media_duration_ms: Option<u64>,
}

impl<R: Read + Seek> Walker<'_, '_, R> {
    fn header(&mut self, pos: u64, parent_end: u64) -> Result<BoxHeader, MetadataError> {
        self.boxes += 1;
        if self.boxes > MAX_BOXES {
            return Err(self.src.too_many("boxes", MAX_BOXES));
        }
        let h: [u8; 8] = self
            .src
            .array(pos, format_args!("box header at byte {pos}"))?;
        let typ = [h[4], h[5], h[6], h[7]];
        let size32 = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let (size, mut data) = match size32 {
            0 => (parent_end - pos, pos + 8),
            1 => {
                let l: [u8; 8] = self.src.array(
                    pos + 8,
                    format_args!("box {} 64-bit size at byte {pos}", fourcc(&typ)),
                )?;
                (u64::from_be_bytes(l), pos + 16)
            }
            s => (s, pos + 8),
        };
        if size < data - pos {
            return Err(self.src.corrupt(format!(
                "box {} at byte {pos} has size {size}, smaller than its {}-byte header",
                fourcc(&typ),
                data - pos
            )));
        }
        let end = pos.saturating_add(size);
        if end > parent_end {
            return Err(if parent_end == self.src.len() {
                self.src
                    .truncated(format_args!("box {} at byte {pos}", fourcc(&typ)), end)
            } else {
                self.src.corrupt(format!(
                    "box {} at byte {pos} ends at byte {end}, past its parent's end at byte {parent_end}",
                    fourcc(&typ)
                ))
            });
        }
        let mut uuid = None;
        if &typ == b"uuid" {
            if end - data < 16 {
                return Err(self.src.corrupt(format!(
                    "uuid box at byte {pos} is shorter than its 16-byte id"
                )));
            }
            uuid = Some(self.src.array(data, "uuid box id")?);
            data += 16;
        }
        Ok(BoxHeader {
            typ,
            start: pos,
            data,
            end,
            uuid,
        })
    }

    fn read(&mut self, b: &BoxHeader, cap: u64) -> Result<Vec<u8>, MetadataError> {
        self.src.bytes(
            b.data,
            b.len(),
            cap,
            format_args!("box {} at byte {}", fourcc(&b.typ), b.start),
        )
    }

    /// Walks the children of a container between `start` and `end`.
    fn walk(
        &mut self,
        start: u64,
        end: u64,
        depth: usize,
        path: &[u8; 4],
        found: &mut Found,
    ) -> Result<(), MetadataError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let mut pos = start;
        while pos < end {
            if end - pos < 8 {
                // Trailing padding shorter than a box header; tolerated as some muxers do it.
                break;
            }
            let b = self.header(pos, end)?;
            self.visit(&b, depth, path, found)?;
            pos = b.end;
        }
        Ok(())
    }

    fn visit(
        &mut self,
        b: &BoxHeader,
        depth: usize,
        parent: &[u8; 4],
        found: &mut Found,
    ) -> Result<(), MetadataError> {
        match (&b.typ, parent) {
            (b"moov", b"\0\0\0\0") => self.walk(b.data, b.end, depth + 1, b"moov", found)?,
            (b"trak", b"moov") => self.walk(b.data, b.end, depth + 1, b"trak", found)?,
            (b"mdia", b"trak") => self.walk(b.data, b.end, depth + 1, b"mdia", found)?,
            (b"mvhd", b"moov") => {
                let d = self.read(b, SMALL_CAP)?;
                mvhd(&d, found);
            }
            (b"tkhd", b"trak") => {
                let d = self.read(b, SMALL_CAP)?;
                let (w_at, h_at) = if d.first() == Some(&1) {
                    (88, 92)
                } else {
                    (76, 80)
                };
                if let (Some(w), Some(h)) = (be32(&d, w_at), be32(&d, h_at)) {
                    // 16.16 fixed point; audio tracks have 0x0.
                    found.set_dims(w >> 16, h >> 16);
                }
            }
            (b"mdhd", b"mdia") => {
                let d = self.read(b, SMALL_CAP)?;
                let (ts, dur) = if d.first() == Some(&1) {
                    (be32(&d, 20), be64(&d, 24))
                } else {
                    (be32(&d, 12), be32(&d, 16).map(u64::from))
                };
                if let Some(ms) = duration_ms(ts, dur) {
                    self.media_duration_ms = Some(self.media_duration_ms.map_or(ms, |m| m.max(ms)));
                }
            }
            (b"udta", b"moov") => {
                let d = self.read(b, META_CAP)?;
                udta(&d, found);
            }
            (b"meta", b"moov") => {
                let d = self.read(b, META_CAP)?;
                meta_ilst(&d, found);
            }
            (b"meta", b"\0\0\0\0") => {
                let d = self.read(b, META_CAP)?;
                self.heif_meta(&d, found)?;
            }
            (b"uuid", b"moov") if b.uuid == Some(cr3::UUID_CANON) => {
                self.walk(b.data, b.end, depth + 1, b"uuid", found)?
            }
            (b"CMT1" | b"CMT2", b"uuid") => match self.read(b, EXIF_CAP) {
                Ok(d) => cr3::cmt(&b.typ, d, found),
                Err(e) => found.note(e),
            },
            (b"jxlc" | b"jxlp", b"\0\0\0\0") => {
                let d = self
                    .src
                    .bytes(b.data, b.len().min(64), 64, "JPEG XL codestream")?;
                jxl::codestream_box(&b.typ, &d, found);
            }
            (b"Exif", b"\0\0\0\0") => match self.read(b, EXIF_CAP) {
                Ok(d) => exif_after_offset(&d, found, format_args!("Exif box at byte {}", b.start)),
                Err(e) => found.note(e),
            },
            (b"xml ", b"\0\0\0\0") => match self.read(b, XMP_CAP) {
                Ok(d) => push_xmp(found, &d),
                Err(e) => found.note(e),
            },
            (b"uuid", _) => self.uuid(b, found)?,
            _ => {}
        }
        Ok(())
    }

    fn uuid(&mut self, b: &BoxHeader, found: &mut Found) -> Result<(), MetadataError> {
        match b.uuid {
            Some(UUID_XMP) => match self.read(b, XMP_CAP) {
                Ok(d) => push_xmp(found, &d),
                Err(e) => found.note(e),
            },
            Some(UUID_C2PA) => {
                let d = self
                    .src
                    .bytes(b.data, b.len().min(C2PA_CAP), C2PA_CAP, "C2PA uuid box")?;
                c2pa::strings(&d, &mut found.signals.c2pa);
            }
            _ => {}
        }
        Ok(())
    }

    /// HEIF `meta`: find the primary item's size (`ispe`) and the Exif and XMP items.
    fn heif_meta(&mut self, meta: &[u8], found: &mut Found) -> Result<(), MetadataError> {
        let body = meta.get(4..).unwrap_or_default();
        let mut items: Vec<ItemInfo> = Vec::new();
        let mut locs: Vec<ItemLoc> = Vec::new();
        let mut idat: &[u8] = &[];
        let mut primary = None;
        let mut ispe: Vec<(u32, u32)> = Vec::new();
        let mut assoc: Vec<(u32, Vec<u16>)> = Vec::new();
        for (typ, d) in SliceBoxes::new(body) {
            match &typ {
                b"pitm" => {
                    primary = if d.first() == Some(&0) {
                        be16(d, 4).map(u32::from)
                    } else {
                        be32(d, 4)
                    }
                }
                b"iinf" => items = iinf(d),
                b"iloc" => {
                    locs = iloc(d).ok_or_else(|| self.src.corrupt("HEIF iloc box is malformed"))?
                }
                b"idat" => idat = d,
                b"iprp" => {
                    for (t, d) in SliceBoxes::new(d) {
                        if &t == b"ipco" {
                            // Property indexes are 1-based over all ipco children, so keep a
                            // placeholder for the non-ispe ones.
                            ispe = SliceBoxes::new(d)
                                .map(|(t, p)| {
                                    if &t == b"ispe" {
                                        (be32(p, 4).unwrap_or(0), be32(p, 8).unwrap_or(0))
                                    } else {
                                        (0, 0)
                                    }
                                })
                                .collect();
                        } else if &t == b"ipma" {
                            assoc = ipma(d);
                        }
                    }
                }
                _ => {}
            }
        }
        let dims_of = |item: u32| {
            assoc
                .iter()
                .find(|(id, _)| *id == item)
                .and_then(|(_, props)| {
                    props.iter().find_map(|&p| {
                        ispe.get(usize::from(p).checked_sub(1)?)
                            .copied()
                            .filter(|d| d.0 > 0)
                    })
                })
        };
        let dims = primary.and_then(dims_of).or_else(|| {
            ispe.iter()
                .copied()
                .filter(|d| d.0 > 0)
                .max_by_key(|d| u64::from(d.0) * u64::from(d.1))
        });
        if let Some((w, h)) = dims {
            found.set_dims(w, h);
        }
        for item in &items {
            let is_exif = &item.typ == b"Exif";
            let is_xmp = &item.typ == b"mime" && item.content_type.contains("rdf+xml");
            if !is_exif && !is_xmp {
                continue;
            }
            let Some(loc) = locs.iter().find(|l| l.id == item.id) else {
                continue;
            };
            let data = match self.item_data(loc, idat, if is_exif { EXIF_CAP } else { XMP_CAP }) {
                Ok(d) => d,
                Err(e) => {
                    found.note(e);
                    continue;
                }
            };
            if is_xmp {
                push_xmp(found, &data);
                continue;
            }
            exif_after_offset(&data, found, format_args!("HEIF Exif item {}", item.id));
        }
        Ok(())
    }

    fn item_data(
        &mut self,
        loc: &ItemLoc,
        idat: &[u8],
        cap: u64,
    ) -> Result<Vec<u8>, MetadataError> {
        let total: u64 = loc.extents.iter().map(|e| e.1).fold(0, u64::saturating_add);
        if total > cap {
            return Err(self
                .src
                .too_large(format_args!("HEIF item {}", loc.id), total, cap));
        }
        let mut out = Vec::new();
        for &(off, len) in &loc.extents {
            let off = loc.base.saturating_add(off);
            match loc.method {
                0 => out.extend(self.src.bytes(
                    off,
                    len,
                    cap,
                    format_args!("HEIF item {}", loc.id),
                )?),
                1 => {
                    let d = usize::try_from(off)
                        .ok()
                        .zip(usize::try_from(len).ok())
                        .and_then(|(o, l)| idat.get(o..o.checked_add(l)?));
                    out.extend(d.ok_or_else(|| {
                        self.src
                            .corrupt(format!("HEIF item {} lies outside idat", loc.id))
                    })?);
                }
                m => {
                    return Err(self
                        .src
                        .corrupt(format!("HEIF item {} uses construction method {m}", loc.id)));
                }
            }
        }
        Ok(out)
    }
}

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let len = src.len();
    let mut w = Walker {
        src,
        boxes: 0,
        media_duration_ms: None,
    };
    let res = w.walk(0, len, 0, b"\0\0\0\0", found);
    if found.duration_ms.is_none() {
        found.duration_ms = w.media_duration_ms;
    }
    res
}

fn duration_ms(timescale: Option<u32>, duration: Option<u64>) -> Option<u64> {
    let (ts, d) = (u64::from(timescale?), duration?);
    // All-ones means "unknown" (fragmented files).
    if ts == 0 || d == 0 || d == u64::from(u32::MAX) || d == u64::MAX {
        return None;
    }
    Some((u128::from(d) * 1000 / u128::from(ts)) as u64)
}

fn mvhd(d: &[u8], found: &mut Found) {
    let (created, ts, dur) = if d.first() == Some(&1) {
        (be64(d, 4), be32(d, 20), be64(d, 24))
    } else {
        (
            be32(d, 4).map(u64::from),
            be32(d, 12),
            be32(d, 16).map(u64::from),
        )
    };
    found.duration_ms = found.duration_ms.or(duration_ms(ts, dur));
    // Seconds since 1904-01-01 UTC. Zero means unset; devices with an unset clock write small
    // values, so anything before 1970 is treated as unset too.
    const UNIX_FROM_1904: u64 = 2_082_844_800;
    if let Some(c) = created.filter(|&c| c >= UNIX_FROM_1904) {
        let epoch = NaiveDate::from_ymd_opt(1904, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
        if let (Some(epoch), Ok(secs)) = (epoch, i64::try_from(c)) {
            found.container_date = found.container_date.or(utc_from_epoch(epoch, secs, 0));
        }
    }
}

/// Iterates the boxes in an in-memory buffer; stops at the first malformed one.
struct SliceBoxes<'d> {
    data: &'d [u8],
    pos: usize,
    count: usize,
}

impl<'d> SliceBoxes<'d> {
    fn new(data: &'d [u8]) -> Self {
        SliceBoxes {
            data,
            pos: 0,
            count: 0,
        }
    }
}

impl<'d> Iterator for SliceBoxes<'d> {
    type Item = ([u8; 4], &'d [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.count += 1;
        if self.count > MAX_BOXES {
            return None;
        }
        let d = self.data;
        let p = self.pos;
        let size = be32(d, p)? as usize;
        let typ: [u8; 4] = d.get(p + 4..p + 8)?.try_into().ok()?;
        let (size, hdr) = match size {
            0 => (d.len() - p, 8),
            1 => (usize::try_from(be64(d, p + 8)?).ok()?, 16),
            s => (s, 8),
        };
        if size < hdr {
            return None;
        }
        let end = p.checked_add(size)?;
        let payload = d.get(p + hdr..end)?;
        self.pos = end;
        Some((typ, payload))
    }
}

/// QuickTime `meta` is a plain box, ISO `meta` a full box (4 bytes version/flags first).
fn meta_children(meta: &[u8]) -> &[u8] {
    if meta.get(4..8) == Some(b"hdlr") {
        meta
    } else {
        meta.get(4..).unwrap_or_default()
    }
}

fn udta(d: &[u8], found: &mut Found) {
    for (typ, p) in SliceBoxes::new(d) {
        match &typ {
            b"meta" => meta_ilst(p, found),
            b"XMP_" => push_xmp(found, p),
            [0xA9, ..] => {
                // QuickTime international text: u16 length, u16 language, text.
                let text = match be16(p, 0).map(usize::from) {
                    Some(n) if p.len() >= 4 + n && n > 0 => &p[4..4 + n],
                    _ => p,
                };
                push_other(
                    found,
                    format!("quicktime:{}", fourcc(&typ)),
                    &String::from_utf8_lossy(text),
                );
            }
            _ => {}
        }
    }
}

/// `meta` with `ilst` (iTunes-style `©too`… or `mdta` keys such as
/// `com.apple.quicktime.creationdate`).
fn meta_ilst(meta: &[u8], found: &mut Found) {
    let mut keys: Vec<String> = Vec::new();
    let mut ilst: &[u8] = &[];
    for (typ, p) in SliceBoxes::new(meta_children(meta)) {
        match &typ {
            b"keys" => {
                // Full box, u32 count, then (u32 size, u32 namespace, name).
                let mut pos = 8;
                while let Some(size) = be32(p, pos).map(|s| s as usize) {
                    if size < 8 || keys.len() >= 1024 {
                        break;
                    }
                    let Some(name) = p.get(pos + 8..pos + size) else {
                        break;
                    };
                    keys.push(String::from_utf8_lossy(name).into_owned());
                    pos += size;
                }
            }
            b"ilst" => ilst = p,
            _ => {}
        }
    }
    for (typ, item) in SliceBoxes::new(ilst) {
        let key = match typ {
            [0xA9, ..] => fourcc(&typ),
            _ => {
                let idx = u32::from_be_bytes(typ) as usize;
                match idx.checked_sub(1).and_then(|i| keys.get(i)) {
                    Some(k) => k.clone(),
                    None => fourcc(&typ),
                }
            }
        };
        for (dt, data) in SliceBoxes::new(item) {
            // data box: u32 type indicator (1 = UTF-8), u32 locale, value.
            if &dt != b"data" || be32(data, 0) != Some(1) {
                continue;
            }
            let text = String::from_utf8_lossy(data.get(8..).unwrap_or_default()).into_owned();
            if key == "com.apple.quicktime.creationdate" && found.qt_meta_date.is_none() {
                found.qt_meta_date = parse_datetime(&text);
            }
            if key == "com.apple.quicktime.content.identifier" && found.live_photo_id.is_none() {
                found.live_photo_id = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            }
            push_other(found, format!("quicktime:{key}"), &text);
        }
    }
}

struct ItemInfo {
    id: u32,
    typ: [u8; 4],
    content_type: String,
}

fn iinf(d: &[u8]) -> Vec<ItemInfo> {
    let start = if d.first() == Some(&0) { 6 } else { 8 };
    let mut out = Vec::new();
    for (typ, p) in SliceBoxes::new(d.get(start..).unwrap_or_default()) {
        if &typ != b"infe" || out.len() >= 4096 {
            continue;
        }
        let version = p.first().copied().unwrap_or(0);
        let (id, rest) = match version {
            2 => (be16(p, 4).map(u32::from), p.get(8..)),
            3 => (be32(p, 4), p.get(10..)),
            _ => continue,
        };
        let (Some(id), Some(rest)) = (id, rest) else {
            continue;
        };
        let Some(typ) = rest.get(0..4).and_then(|t| <[u8; 4]>::try_from(t).ok()) else {
            continue;
        };
        let mut strings = rest[4..].split(|&b| b == 0);
        let _name = strings.next();
        let content_type = strings
            .next()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        out.push(ItemInfo {
            id,
            typ,
            content_type,
        });
    }
    out
}

struct ItemLoc {
    id: u32,
    method: u8,
    base: u64,
    extents: Vec<(u64, u64)>,
}

fn iloc(d: &[u8]) -> Option<Vec<ItemLoc>> {
    let version = *d.first()?;
    let sizes = be16(d, 4)?;
    let (off_size, len_size, base_size) = (
        (sizes >> 12) as usize,
        ((sizes >> 8) & 0xF) as usize,
        ((sizes >> 4) & 0xF) as usize,
    );
    let index_size = if version >= 1 {
        (sizes & 0xF) as usize
    } else {
        0
    };
    let mut pos = 6;
    let read = |pos: &mut usize, n: usize| -> Option<u64> {
        let v = match n {
            0 => 0,
            4 => u64::from(be32(d, *pos)?),
            8 => be64(d, *pos)?,
            _ => return None,
        };
        *pos += n;
        Some(v)
    };
    let count = if version < 2 {
        u32::from(be16(d, pos)?)
    } else {
        be32(d, pos)?
    };
    pos += if version < 2 { 2 } else { 4 };
    let mut out = Vec::new();
    let mut total_extents = 0usize;
    for _ in 0..count.min(4096) {
        let id = if version < 2 {
            u32::from(be16(d, pos)?)
        } else {
            be32(d, pos)?
        };
        pos += if version < 2 { 2 } else { 4 };
        let method = if version >= 1 {
            let m = be16(d, pos)?;
            pos += 2;
            (m & 0xF) as u8
        } else {
            0
        };
        pos += 2; // data_reference_index
        let base = read(&mut pos, base_size)?;
        let n = be16(d, pos)?;
        pos += 2;
        // Field sizes may all be zero, so the data length alone does not bound the count.
        total_extents += usize::from(n);
        if total_extents > MAX_EXTENTS {
            return None;
        }
        let mut extents = Vec::new();
        for _ in 0..n {
            read(&mut pos, index_size)?;
            let off = read(&mut pos, off_size)?;
            let len = read(&mut pos, len_size)?;
            extents.push((off, len));
        }
        out.push(ItemLoc {
            id,
            method,
            base,
            extents,
        });
    }
    Some(out)
}

fn ipma(d: &[u8]) -> Vec<(u32, Vec<u16>)> {
    let version = d.first().copied().unwrap_or(0);
    let wide = d.get(3).is_some_and(|f| f & 1 == 1);
    let mut out = Vec::new();
    let Some(count) = be32(d, 4) else { return out };
    let mut pos = 8;
    for _ in 0..count.min(4096) {
        let id = if version < 1 {
            be16(d, pos).map(u32::from)
        } else {
            be32(d, pos)
        };
        let Some(id) = id else { break };
        pos += if version < 1 { 2 } else { 4 };
        let Some(&n) = d.get(pos) else { break };
        pos += 1;
        let mut props = Vec::new();
        for _ in 0..n {
            let p = if wide {
                be16(d, pos).map(|v| v & 0x7FFF)
            } else {
                d.get(pos).map(|v| u16::from(v & 0x7F))
            };
            let Some(p) = p else { break };
            pos += if wide { 2 } else { 1 };
            props.push(p);
        }
        out.push((id, props));
    }
    out
}
