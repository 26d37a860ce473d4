//! Matroska and WebM: the EBML header's DocType, then the Segment's `Info`, `Tracks` and
//! `Tags`. Clusters (the media data) are never read: the linear walk stops at the first
//! Cluster and jumps to any metadata element the SeekHead places after the media.

use std::io::{Read, Seek};

use chrono::NaiveDate;

use super::{TEXT_CAP, push_other};
use crate::dates::utc_from_epoch;
use crate::source::Source;
use crate::{Found, MetadataError};

const ID_EBML: u32 = 0x1A45_DFA3;
const ID_DOCTYPE: u32 = 0x4282;
const ID_SEGMENT: u32 = 0x1853_8067;
const ID_SEEKHEAD: u32 = 0x114D_9B74;
const ID_SEEK: u32 = 0x4DBB;
const ID_SEEKID: u32 = 0x53AB;
const ID_SEEKPOS: u32 = 0x53AC;
const ID_INFO: u32 = 0x1549_A966;
const ID_TIMECODESCALE: u32 = 0x2A_D7B1;
const ID_DURATION: u32 = 0x4489;
const ID_DATEUTC: u32 = 0x4461;
const ID_TITLE: u32 = 0x7BA9;
const ID_MUXINGAPP: u32 = 0x4D80;
const ID_WRITINGAPP: u32 = 0x5741;
const ID_TRACKS: u32 = 0x1654_AE6B;
const ID_TRACKENTRY: u32 = 0xAE;
const ID_VIDEO: u32 = 0xE0;
const ID_PIXELWIDTH: u32 = 0xB0;
const ID_PIXELHEIGHT: u32 = 0xBA;
const ID_TAGS: u32 = 0x1254_C367;
const ID_TAG: u32 = 0x7373;
const ID_SIMPLETAG: u32 = 0x67C8;
const ID_TAGNAME: u32 = 0x45A3;
const ID_TAGSTRING: u32 = 0x4487;
const ID_CLUSTER: u32 = 0x1F43_B675;

/// Most top-level elements walked inside the Segment before giving up.
const MAX_ELEMENTS: usize = 4096;
/// Caps for the metadata masters read whole.
const INFO_CAP: u64 = 64 * 1024;
const TRACKS_CAP: u64 = 1024 * 1024;
const TAGS_CAP: u64 = 1024 * 1024;

/// Reads an element ID (1–4 bytes, marker bit kept, as IDs are written in the spec).
fn read_id(b: &[u8]) -> Option<(u32, usize)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return None;
    }
    let v = b
        .get(..len)?
        .iter()
        .fold(0u32, |v, &x| (v << 8) | u32::from(x));
    Some((v, len))
}

/// Reads a data size (1–8 bytes). `None` in the value means "unknown size" (all ones).
fn read_size(b: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut v = u64::from(first & mask);
    for &x in b.get(1..len)? {
        v = (v << 8) | u64::from(x);
    }
    let all_ones = v == (1u64 << (7 * len)) - 1;
    Some((if all_ones { None } else { Some(v) }, len))
}

/// Children of an in-memory master element; stops at the first malformed or unknown-size one.
fn children(data: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut pos = 0usize;
    let mut count = 0usize;
    std::iter::from_fn(move || {
        count += 1;
        if count > 65_536 {
            return None;
        }
        let rest = data.get(pos..)?;
        let (id, il) = read_id(rest)?;
        let (size, sl) = read_size(rest.get(il..)?)?;
        let start = il + sl;
        let size = usize::try_from(size?).ok()?;
        let payload = rest.get(start..start.checked_add(size)?)?;
        pos += start + size;
        Some((id, payload))
    })
}

fn uint(b: &[u8]) -> Option<u64> {
    (b.len() <= 8).then(|| b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

fn float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f64::from(f32::from_be_bytes(b.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn text(b: &[u8]) -> String {
    let b = &b[..b.len().min(TEXT_CAP as usize)];
    String::from_utf8_lossy(b).into_owned()
}

/// The EBML header's DocType (`webm`, `matroska`) from a file's first bytes.
pub(crate) fn doc_type(head: &[u8]) -> Option<String> {
    let (id, il) = read_id(head)?;
    if id != ID_EBML {
        return None;
    }
    let (size, sl) = read_size(head.get(il..)?)?;
    let body = head.get(il + sl..)?;
    let body = &body[..body.len().min(usize::try_from(size?).ok()?)];
    children(body)
        .find(|(id, _)| *id == ID_DOCTYPE)
        .map(|(_, v)| text(v).trim_end_matches('\0').to_owned())
}

struct Header {
    id: u32,
    data: u64,
    size: Option<u64>,
}

fn header<R: Read + Seek>(src: &mut Source<'_, R>, pos: u64) -> Result<Header, MetadataError> {
    let mut b = [0u8; 12];
    let n = src.read_upto(pos, &mut b)?;
    let b = &b[..n];
    let bad = || src.corrupt(format!("invalid EBML element header at byte {pos}"));
    let (id, il) = read_id(b).ok_or_else(|| {
        if n < 4 {
            src.truncated(format_args!("element header at byte {pos}"), pos + 4)
        } else {
            bad()
        }
    })?;
    let (size, sl) = read_size(&b[il..]).ok_or_else(|| {
        if n < il + 8 {
            src.truncated(
                format_args!("element header at byte {pos}"),
                pos + (il + 8) as u64,
            )
        } else {
            bad()
        }
    })?;
    Ok(Header {
        id,
        data: pos + (il + sl) as u64,
        size,
    })
}

#[derive(Default)]
struct Seen {
    info: bool,
    tracks: bool,
    tags: bool,
}

/// Elements allowed between the EBML header and the Segment (real files have one or two).
const MAX_TOP_LEVEL: u32 = 64;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let len = src.len();
    let ebml = header(src, 0)?;
    let mut pos = match ebml.size {
        Some(s) => ebml.data.saturating_add(s),
        None => return Err(src.corrupt("EBML header has an unknown size")),
    };
    // Find the Segment; only Void/CRC-like elements may precede it.
    let mut seen = 0u32;
    let seg = loop {
        seen += 1;
        if seen > MAX_TOP_LEVEL {
            return Err(src.too_many("elements before the Segment", MAX_TOP_LEVEL as usize));
        }
        if pos >= len {
            return Err(src.truncated("file (no Segment element)", pos + 1));
        }
        let h = header(src, pos)?;
        if h.id == ID_SEGMENT {
            break h;
        }
        match h.size {
            Some(s) if pos < len => pos = h.data.saturating_add(s),
            _ => {
                return Err(src.corrupt(format!(
                    "unexpected element 0x{:X} at byte {pos} before the Segment",
                    h.id
                )));
            }
        }
    };
    let seg_end = match seg.size {
        Some(s) if seg.data.saturating_add(s) > len => {
            found.note(src.truncated("Segment", seg.data.saturating_add(s)));
            len
        }
        Some(s) => seg.data + s,
        None => len,
    };
    let mut seen = Seen::default();
    let mut targets: Vec<(u32, u64)> = Vec::new();
    let mut pos = seg.data;
    let mut count = 0;
    while pos < seg_end {
        count += 1;
        if count > MAX_ELEMENTS {
            found.note(src.too_many("elements in the Segment", MAX_ELEMENTS));
            break;
        }
        let h = header(src, pos)?;
        if h.id == ID_CLUSTER {
            break;
        }
        let Some(size) = h.size else {
            // An unknown-size element other than a Cluster cannot be skipped.
            break;
        };
        let end = h.data.saturating_add(size);
        if end > seg_end {
            return Err(src.truncated(format_args!("element 0x{:X} at byte {pos}", h.id), end));
        }
        element(src, &h, size, seg.data, &mut seen, &mut targets, found)?;
        pos = end;
    }
    // Metadata written after the media (e.g. Tags by some muxers), found through the SeekHead.
    for (id, at) in targets.into_iter().take(16) {
        let pending = match id {
            ID_INFO => !seen.info,
            ID_TRACKS => !seen.tracks,
            ID_TAGS => !seen.tags,
            _ => false,
        };
        if !pending || at >= seg_end {
            continue;
        }
        let h = header(src, at)?;
        match h.size {
            Some(size) if h.id == id && h.data.saturating_add(size) <= seg_end => {
                element(src, &h, size, seg.data, &mut seen, &mut Vec::new(), found)?;
            }
            _ => found.note(src.corrupt(format!(
                "SeekHead entry for 0x{id:X} points to byte {at}, which holds no such element"
            ))),
        }
    }
    Ok(())
}

fn element<R: Read + Seek>(
    src: &mut Source<'_, R>,
    h: &Header,
    size: u64,
    seg_data: u64,
    seen: &mut Seen,
    targets: &mut Vec<(u32, u64)>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let cap = match h.id {
        ID_SEEKHEAD | ID_INFO => INFO_CAP,
        ID_TRACKS => TRACKS_CAP,
        ID_TAGS => TAGS_CAP,
        _ => return Ok(()),
    };
    let data = match src.bytes(h.data, size, cap, format_args!("element 0x{:X}", h.id)) {
        Ok(d) => d,
        Err(e @ MetadataError::TooLarge { .. }) => {
            found.note(e);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    match h.id {
        ID_SEEKHEAD => {
            for (_, seek) in children(&data).filter(|(id, _)| *id == ID_SEEK) {
                let mut id = None;
                let mut at = None;
                for (cid, v) in children(seek) {
                    match cid {
                        ID_SEEKID => id = uint(v).and_then(|v| u32::try_from(v).ok()),
                        ID_SEEKPOS => at = uint(v),
                        _ => {}
                    }
                }
                if let (Some(id), Some(at)) = (id, at)
                    && targets.len() < 64
                {
                    targets.push((id, seg_data.saturating_add(at)));
                }
            }
        }
        ID_INFO => {
            seen.info = true;
            info(&data, found);
        }
        ID_TRACKS => {
            seen.tracks = true;
            for (_, entry) in children(&data).filter(|(id, _)| *id == ID_TRACKENTRY) {
                for (_, video) in children(entry).filter(|(id, _)| *id == ID_VIDEO) {
                    let mut w = None;
                    let mut hh = None;
                    for (id, v) in children(video) {
                        match id {
                            ID_PIXELWIDTH => w = uint(v),
                            ID_PIXELHEIGHT => hh = uint(v),
                            _ => {}
                        }
                    }
                    if let (Some(w), Some(hh)) = (w, hh) {
                        found.set_dims(
                            u32::try_from(w).unwrap_or(0),
                            u32::try_from(hh).unwrap_or(0),
                        );
                    }
                }
            }
        }
        _ => {
            seen.tags = true;
            for (_, tag) in children(&data).filter(|(id, _)| *id == ID_TAG) {
                simple_tags(tag, found, 0);
            }
        }
    }
    Ok(())
}

fn info(data: &[u8], found: &mut Found) {
    let mut scale = 1_000_000u64;
    let mut duration = None;
    for (id, v) in children(data) {
        match id {
            ID_TIMECODESCALE => scale = uint(v).filter(|&s| s > 0).unwrap_or(scale),
            ID_DURATION => duration = float(v),
            ID_DATEUTC if v.len() == 8 => {
                let ns = i64::from_be_bytes(v.try_into().unwrap_or([0; 8]));
                let epoch =
                    NaiveDate::from_ymd_opt(2001, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
                if let Some(epoch) = epoch {
                    let t = utc_from_epoch(
                        epoch,
                        ns.div_euclid(1_000_000_000),
                        ns.rem_euclid(1_000_000_000) as u32,
                    );
                    found.container_date = found.container_date.or(t);
                }
            }
            ID_TITLE => push_other(found, "matroska:Title", &text(v)),
            ID_MUXINGAPP => push_other(found, "matroska:MuxingApp", &text(v)),
            ID_WRITINGAPP => push_other(found, "matroska:WritingApp", &text(v)),
            _ => {}
        }
    }
    if let Some(d) = duration {
        // Duration is in Segment ticks of `scale` nanoseconds.
        let ms = d * scale as f64 / 1_000_000.0;
        if ms.is_finite() && ms > 0.0 && ms < 1e15 {
            found.duration_ms = found.duration_ms.or(Some(ms.round() as u64));
        }
    }
}

fn simple_tags(master: &[u8], found: &mut Found, depth: usize) {
    if depth > 4 {
        return;
    }
    for (_, st) in children(master).filter(|(id, _)| *id == ID_SIMPLETAG) {
        let mut name = None;
        let mut value = None;
        for (id, v) in children(st) {
            match id {
                ID_TAGNAME => name = Some(text(v)),
                ID_TAGSTRING => value = Some(text(v)),
                _ => {}
            }
        }
        if let (Some(n), Some(v)) = (name, value) {
            push_other(found, format!("matroska:tag:{n}"), &v);
        }
        simple_tags(st, found, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints() {
        assert_eq!(read_id(&[0x1A, 0x45, 0xDF, 0xA3]), Some((ID_EBML, 4)));
        assert_eq!(read_id(&[0x00]), None);
        assert_eq!(read_size(&[0x81]), Some((Some(1), 1)));
        assert_eq!(read_size(&[0x40, 0x02]), Some((Some(2), 2)));
        assert_eq!(read_size(&[0xFF]), Some((None, 1)));
        assert_eq!(
            read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some((None, 8))
        );
        assert_eq!(read_size(&[0x00]), None);
    }
}
