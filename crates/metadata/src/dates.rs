//! Parsing the date strings found in metadata: EXIF (`YYYY:MM:DD HH:MM:SS` with separate
//! offset and sub-second tags), XMP/ISO 8601, PNG `Creation Time` and container epochs.
//!
//! A date without an offset stays local ([`CaptureTime::local`]); nothing here converts
//! between zones. Impossible dates (month 13, year 0000, the all-zero EXIF placeholder) are
//! rejected so the caller falls through to the next source.

use std::time::SystemTime;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use events::media::CaptureTime;

/// Strips the NULs and blanks that EXIF ASCII fields carry as padding.
pub(crate) fn trim_field(s: &str) -> &str {
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(n)?)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Builds a validated date-time; `None` for impossible values (year 0, month 13, 25:00…).
pub(crate) fn ymd_hms(
    y: i32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    nanos: u32,
) -> Option<NaiveDateTime> {
    if !(1..=9999).contains(&y) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y, mo, d)?;
    // chrono accepts second 60 only through nanos; a leap second in metadata is noise.
    let time = NaiveTime::from_hms_nano_opt(h, mi, s, nanos)?;
    Some(date.and_time(time))
}

/// Parses a fractional-second digit string (`"12"` = 0.12 s) into nanoseconds.
pub(crate) fn parse_subsec(s: &str) -> Option<u32> {
    let s = trim_field(s);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut nanos = 0u32;
    for i in 0..9 {
        let d = s.as_bytes().get(i).map_or(0, |c| u32::from(c - b'0'));
        nanos = nanos * 10 + d;
    }
    Some(nanos)
}

/// Parses a UTC offset: `+01:00`, `-0530`, `+05`, `Z`. Returns seconds east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i32> {
    let s = trim_field(s);
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = digits(b, 1, 2)?;
    let m = match b.len() {
        3 => 0,
        5 => digits(b, 3, 2)?,
        6 if b[3] == b':' => digits(b, 4, 2)?,
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60) as i32)
}

/// Parses the date-times metadata uses: EXIF `2024:03:15 12:34:56`, ISO 8601
/// `2024-03-15T12:34:56.12+01:00`, `2024-03-15T12:34Z`, or a bare date `2024-03-15` (taken as
/// midnight). An offset in the string is kept; without one the time is local.
pub(crate) fn parse_datetime(s: &str) -> Option<CaptureTime> {
    let s = trim_field(s);
    let b = s.as_bytes();
    let y = digits(b, 0, 4)? as i32;
    let sep = *b.get(4)?;
    if !(sep == b'-' || sep == b':') || b.get(7) != Some(&sep) {
        return None;
    }
    let mo = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if b.len() == 10 {
        return Some(CaptureTime::local(ymd_hms(y, mo, d, 0, 0, 0, 0)?));
    }
    if !matches!(b.get(10), Some(b'T' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let h = digits(b, 11, 2)?;
    let mi = digits(b, 14, 2)?;
    let mut i = 16;
    let mut sec = 0;
    let mut nanos = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b, i + 1, 2)?;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            let start = i + 1;
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            nanos = parse_subsec(&s[start..end])?;
            i = end;
        }
    }
    let local = ymd_hms(y, mo, d, h, mi, sec, nanos)?;
    let rest = trim_field(&s[i..]);
    if rest.is_empty() {
        return Some(CaptureTime::local(local));
    }
    Some(CaptureTime::with_offset(local, parse_offset(rest)?))
}

/// Parses a PNG `Creation Time` text value: free-form by spec, in practice RFC 1123/2822
/// (`Fri, 15 Mar 2024 12:34:56 +0000`) or ISO 8601.
pub(crate) fn parse_png_creation_time(s: &str) -> Option<CaptureTime> {
    let s = trim_field(s);
    if let Some(t) = parse_datetime(s) {
        return Some(t);
    }
    let dt = DateTime::parse_from_rfc2822(s).ok()?;
    Some(CaptureTime::with_offset(
        dt.naive_local(),
        dt.offset().local_minus_utc(),
    ))
}

/// A UTC instant given as seconds since `epoch`, reported with offset `+00:00`.
pub(crate) fn utc_from_epoch(epoch: NaiveDateTime, secs: i64, nanos: u32) -> Option<CaptureTime> {
    let t = epoch.checked_add_signed(chrono::Duration::try_seconds(secs)?)?;
    let t = t.checked_add_signed(chrono::Duration::nanoseconds(i64::from(nanos)))?;
    if !(1..=9999).contains(&chrono::Datelike::year(&t)) {
        return None;
    }
    Some(CaptureTime::with_offset(t, 0))
}

/// A file modification time in the machine's local zone, with that zone's offset.
pub(crate) fn from_mtime(mtime: SystemTime) -> Option<CaptureTime> {
    let utc: DateTime<Utc> = mtime.into();
    let local = Local.from_utc_datetime(&utc.naive_utc());
    Some(CaptureTime::with_offset(
        local.naive_local(),
        local.offset().local_minus_utc(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: Option<CaptureTime>) -> Option<String> {
        t.map(|t| t.to_string())
    }

    #[test]
    fn exif_and_iso_forms_parse() {
        assert_eq!(
            s(parse_datetime("2024:03:15 12:34:56\0")).as_deref(),
            Some("2024-03-15T12:34:56")
        );
        assert_eq!(
            s(parse_datetime("2024-03-15T12:34:56.12+01:00")).as_deref(),
            Some("2024-03-15T12:34:56.120+01:00")
        );
        assert_eq!(
            s(parse_datetime("2024-03-15T12:34Z")).as_deref(),
            Some("2024-03-15T12:34:00+00:00")
        );
        assert_eq!(
            s(parse_datetime("2024-03-15")).as_deref(),
            Some("2024-03-15T00:00:00")
        );
        assert_eq!(
            s(parse_datetime("2024-03-15T12:34:56-0530")).as_deref(),
            Some("2024-03-15T12:34:56-05:30")
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for bad in [
            "0000:00:00 00:00:00",
            "    :  :     :  :  ",
            "2024:13:01 00:00:00",
            "0000:01:01 00:00:00",
            "2024:02:30 00:00:00",
            "2024:03:15 25:00:00",
            "2024:03:15 12:34:56 garbage",
            "2024:03-15 12:34:56",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn offsets_and_subsec() {
        assert_eq!(parse_offset("+01:00\0"), Some(3600));
        assert_eq!(parse_offset("-05:30"), Some(-19800));
        assert_eq!(parse_offset("+0200"), Some(7200));
        assert_eq!(parse_offset("+25:00"), None);
        assert_eq!(parse_offset("01:00"), None);
        assert_eq!(parse_subsec("12"), Some(120_000_000));
        assert_eq!(parse_subsec("1234567891234"), Some(123_456_789));
        assert_eq!(parse_subsec("ab"), None);
    }

    #[test]
    fn png_creation_time_rfc2822() {
        assert_eq!(
            s(parse_png_creation_time("Fri, 15 Mar 2024 12:34:56 +0100")).as_deref(),
            Some("2024-03-15T12:34:56+01:00")
        );
    }
}
