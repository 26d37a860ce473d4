//! AVI: walk the RIFF chunks of the header lists, skip `movi` (the frames) and `idx1`.
//!
//! Size from `avih`; duration from the first video stream's `strh` (length × scale / rate),
//! else `avih`'s frame count × frame time; capture date from `IDIT` (cameras write
//! `Mon Mar 10 15:04:43 2003` or `2009:10:27 12:14:00`), else the `INFO` list's `ICRD`; XMP
//! from `_PMX`. Only the first `RIFF` is read; OpenDML files continue in `AVIX` ones.

use std::io::{Read, Seek};

use chrono::NaiveDateTime;
use events::media::CaptureTime;

use super::{TEXT_CAP, XMP_CAP, fourcc, le32, push_xmp};
use crate::dates::{parse_datetime, trim_field};
use crate::source::Source;
use crate::{Found, MetadataError};

/// Most chunks visited, all lists together.
const MAX_CHUNKS: usize = 10_000;
/// Deepest list nesting followed (`hdrl` → `strl` is two).
const MAX_DEPTH: usize = 3;

#[derive(Default)]
struct Avi {
    chunks: usize,
    /// The type (`vids`, `auds`) of the stream whose `strl` is being read.
    stream: Option<[u8; 4]>,
    stream_ms: Option<u64>,
    header_ms: Option<u64>,
    idit: Option<CaptureTime>,
    icrd: Option<CaptureTime>,
}

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let hdr: [u8; 12] = src.array(0, "RIFF header")?;
    let riff_end = 8 + u64::from(le32(&hdr, 4).unwrap_or(0));
    if riff_end > src.len() {
        found.note(src.truncated("RIFF container", riff_end));
    }
    let mut avi = Avi::default();
    let res = avi.walk(src, found, 12, riff_end.min(src.len()), 0);
    found.duration_ms = avi.stream_ms.or(avi.header_ms);
    found.container_date = avi.idit.or(avi.icrd);
    res
}

impl Avi {
    fn walk<R: Read + Seek>(
        &mut self,
        src: &mut Source<'_, R>,
        found: &mut Found,
        mut pos: u64,
        end: u64,
        depth: usize,
    ) -> Result<(), MetadataError> {
        while pos + 8 <= end {
            self.chunks += 1;
            if self.chunks > MAX_CHUNKS {
                return Err(src.too_many("chunks", MAX_CHUNKS));
            }
            let h: [u8; 8] = src.array(pos, format_args!("chunk header at byte {pos}"))?;
            let typ = [h[0], h[1], h[2], h[3]];
            let len = u64::from(le32(&h, 4).unwrap_or(0));
            let data = pos + 8;
            let data_end = data + len;
            if data_end > end {
                return Err(src.truncated(
                    format_args!("chunk {:?} at byte {pos}", fourcc(&typ)),
                    data_end,
                ));
            }
            self.chunk(src, found, typ, data, len, depth)?;
            // Chunks are padded to an even size.
            pos = data_end + (len & 1);
        }
        Ok(())
    }

    fn chunk<R: Read + Seek>(
        &mut self,
        src: &mut Source<'_, R>,
        found: &mut Found,
        typ: [u8; 4],
        data: u64,
        len: u64,
        depth: usize,
    ) -> Result<(), MetadataError> {
        let name = fourcc(&typ);
        let at = data - 8;
        let what = format_args!("chunk {name:?} at byte {at}");
        match &typ {
            b"LIST" if len >= 4 && depth < MAX_DEPTH => {
                let kind: [u8; 4] = src.array(data, what)?;
                if matches!(&kind, b"hdrl" | b"strl" | b"INFO") {
                    self.stream = None;
                    self.walk(src, found, data + 4, data + len, depth + 1)?;
                }
            }
            b"avih" => {
                let d: [u8; 40] = src.array(data, what)?;
                let (us_per_frame, frames) = (le32(&d, 0), le32(&d, 16));
                found.set_dims(le32(&d, 32).unwrap_or(0), le32(&d, 36).unwrap_or(0));
                self.header_ms = us_per_frame
                    .zip(frames)
                    .map(|(us, n)| u64::from(us) * u64::from(n) / 1000)
                    .filter(|&ms| ms > 0);
            }
            b"strh" => {
                let d: [u8; 36] = src.array(data, what)?;
                let kind = [d[0], d[1], d[2], d[3]];
                self.stream = Some(kind);
                let (scale, rate, length) = (le32(&d, 20), le32(&d, 24), le32(&d, 32));
                if &kind == b"vids" && self.stream_ms.is_none() {
                    self.stream_ms = match (scale, rate, length) {
                        // u128: frames × scale × 1000 overflows u64 for crafted values.
                        (Some(s), Some(r), Some(n)) if r > 0 && n > 0 => {
                            u64::try_from(u128::from(n) * u128::from(s) * 1000 / u128::from(r)).ok()
                        }
                        _ => None,
                    };
                }
            }
            b"IDIT" | b"ICRD" => {
                let d = src.bytes(data, len, TEXT_CAP, what)?;
                let t = riff_date(&String::from_utf8_lossy(&d));
                if &typ == b"IDIT" {
                    self.idit = self.idit.or(t);
                } else {
                    self.icrd = self.icrd.or(t);
                }
            }
            b"_PMX" => match src.bytes(data, len, XMP_CAP, what) {
                Ok(d) => push_xmp(found, &d),
                Err(e) => found.note(e),
            },
            _ => {}
        }
        Ok(())
    }
}

/// An AVI date: `Mon Mar 10 15:04:43 2003` (C `asctime`), or EXIF-like with `:`, `-` or
/// `/` between the date's parts. Local time: AVI states no offset.
fn riff_date(s: &str) -> Option<CaptureTime> {
    let s = trim_field(s);
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%a %b %e %H:%M:%S %Y") {
        return Some(CaptureTime::local(t));
    }
    parse_datetime(&s.replacen('/', ":", 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_date_forms() {
        let t = |s| riff_date(s).map(|t| t.to_string());
        assert_eq!(
            t("Mon Mar 10 15:04:43 2003\n\0").as_deref(),
            Some("2003-03-10T15:04:43")
        );
        assert_eq!(
            t("Tue Mar  4 05:06:07 2003").as_deref(),
            Some("2003-03-04T05:06:07")
        );
        assert_eq!(
            t("2009/10/27 12:14:00").as_deref(),
            Some("2009-10-27T12:14:00")
        );
        assert_eq!(t("2009:10:27").as_deref(), Some("2009-10-27T00:00:00"));
        assert_eq!(t("yesterday"), None);
    }
}
