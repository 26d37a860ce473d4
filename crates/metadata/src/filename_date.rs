//! Capture dates in well-known file-name patterns, the fallback after embedded metadata.
//!
//! | pattern (example)                                  | from                         | time zone        |
//! |----------------------------------------------------|------------------------------|------------------|
//! | `PXL_20240315_123456789.jpg`                       | Google Pixel camera          | UTC (`+00:00`)   |
//! | `IMG_20240315_123456.jpg`, `VID_…`, `PANO_…`, `MVIMG_…` | Android cameras         | local            |
//! | `20240315_123456.jpg`, `20240315_123456(1).mp4`    | Samsung camera               | local            |
//! | `Screenshot_20240315-123456.png`                   | Samsung screenshots          | local            |
//! | `Screenshot_2024-03-15-12-34-56.png`               | Android screenshots          | local            |
//! | `2024-03-15 12.34.56.jpg`, `2024-03-15_12-34-56.mkv` | Dropbox camera upload, OBS | local            |
//! | `Screenshot 2024-03-15 at 12.34.56.png` (optional ` AM`/` PM`) | macOS screenshots | local          |
//! | `IMG-20240315-WA0001.jpg`, `VID-20240315-WA0001.mp4` | WhatsApp (date only: 00:00:00) | local        |
//! | `1710505896123.jpg` (exactly 13 digits)            | Unix milliseconds (chat apps, web exports) | UTC (`+00:00`) |
//!
//! Rules that keep false positives out:
//! - digit groups must stand alone: `ComfyUI_00001_.png`, `seed_1234567890123456.png` or a
//!   hash never match, because the groups must have exactly the lengths above and not touch
//!   other digits;
//! - every date must be a real calendar date and time, with a year from 1990 to next year
//!   (unix-millisecond names: from 2000-01-01 to one year from now).
//!
//! The first matching row, top to bottom, wins.

use chrono::{Datelike, Utc};
use events::media::CaptureTime;

use crate::dates::{utc_from_epoch, ymd_hms};

fn digits_at(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(n)?)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |v, &c| v * 10 + u32::from(c - b'0')))
}

fn is_digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

/// Start positions of digit runs of exactly `n` digits.
fn runs(b: &[u8], n: usize) -> impl Iterator<Item = usize> + '_ {
    (0..b.len()).filter(move |&i| {
        (i == 0 || !b[i - 1].is_ascii_digit())
            && b.len() >= i + n
            && b[i..i + n].iter().all(u8::is_ascii_digit)
            && !is_digit_at(b, i + n)
    })
}

fn plausible_year(y: i32) -> bool {
    (1990..=Utc::now().year() + 1).contains(&y)
}

fn local(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<CaptureTime> {
    let y = y as i32;
    if !plausible_year(y) {
        return None;
    }
    ymd_hms(y, mo, d, h, mi, s, 0).map(CaptureTime::local)
}

/// `YYYYMMDD[_-]HHMMSS` with an optional 3-digit millisecond tail (Pixel).
fn compact(b: &[u8]) -> Option<(CaptureTime, usize)> {
    (0..b.len()).find_map(|i| {
        if i > 0 && b[i - 1].is_ascii_digit() {
            return None;
        }
        let date = digits_at(b, i, 8)?;
        if !matches!(b.get(i + 8), Some(b'_' | b'-')) {
            return None;
        }
        let time = digits_at(b, i + 9, 6)?;
        let millis = match (is_digit_at(b, i + 15), digits_at(b, i + 15, 3)) {
            (false, _) => None,
            (true, Some(ms)) if !is_digit_at(b, i + 18) => Some(ms),
            _ => return None,
        };
        let (y, mo, d) = (date / 10000, date / 100 % 100, date % 100);
        let (h, mi, s) = (time / 10000, time / 100 % 100, time % 100);
        let mut t = local(y, mo, d, h, mi, s)?;
        if let Some(ms) = millis {
            t.local += chrono::Duration::milliseconds(i64::from(ms));
        }
        Some((t, i))
    })
}

/// `YYYY-MM-DD` + separator + `HH?MM?SS`, with the macOS ` at ` form and 12-hour suffix.
fn dashed(b: &[u8]) -> Option<CaptureTime> {
    (0..b.len()).find_map(|i| {
        if i > 0 && b[i - 1].is_ascii_digit() {
            return None;
        }
        let y = digits_at(b, i, 4)?;
        if b.get(i + 4) != Some(&b'-') || b.get(i + 7) != Some(&b'-') {
            return None;
        }
        let mo = digits_at(b, i + 5, 2)?;
        let d = digits_at(b, i + 8, 2)?;
        let mut j = i + 10;
        if b[j..].starts_with(b" at ") {
            j += 4;
        } else if matches!(b.get(j), Some(b' ' | b'_' | b'-' | b'T')) {
            j += 1;
        } else {
            return None;
        }
        // macOS writes hours without a leading zero in 12-hour locales ("at 1.23.45 PM").
        let hour_len = if is_digit_at(b, j + 1) { 2 } else { 1 };
        let mut h = digits_at(b, j, hour_len)?;
        j += hour_len;
        let sep = *b.get(j)?;
        if !matches!(sep, b'.' | b'-' | b':' | b'_') || b.get(j + 3) != Some(&sep) {
            return None;
        }
        let mi = digits_at(b, j + 1, 2)?;
        let s = digits_at(b, j + 4, 2)?;
        j += 6;
        if is_digit_at(b, j) {
            return None;
        }
        // Skip a space or U+202F NARROW NO-BREAK SPACE before AM/PM.
        let rest = &b[j..];
        let rest = rest
            .strip_prefix(b" ")
            .or_else(|| rest.strip_prefix("\u{202f}".as_bytes()))
            .unwrap_or(rest);
        if rest.starts_with(b"PM") && h < 12 {
            h += 12;
        } else if rest.starts_with(b"AM") && h == 12 {
            h = 0;
        }
        local(y, mo, d, h, mi, s)
    })
}

/// WhatsApp: `IMG-YYYYMMDD-WA0001` (date only).
fn whatsapp(b: &[u8]) -> Option<CaptureTime> {
    runs(b, 8).find_map(|i| {
        if !b[i + 8..].starts_with(b"-WA") || i == 0 || b[i - 1] != b'-' {
            return None;
        }
        let date = digits_at(b, i, 8)?;
        local(date / 10000, date / 100 % 100, date % 100, 0, 0, 0)
    })
}

/// A standalone 13-digit Unix-millisecond timestamp.
fn unix_millis(b: &[u8]) -> Option<CaptureTime> {
    runs(b, 13).find_map(|i| {
        let s = std::str::from_utf8(&b[i..i + 13]).ok()?;
        let ms: i64 = s.parse().ok()?;
        let lo = 946_684_800_000; // 2000-01-01T00:00:00Z
        let hi = Utc::now().timestamp_millis() + 366 * 86_400_000;
        if !(lo..=hi).contains(&ms) {
            return None;
        }
        let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
        utc_from_epoch(
            epoch,
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
        )
    })
}

/// Finds a capture date in a file name, by the table in this module's documentation.
pub fn date_from_file_name(name: &str) -> Option<CaptureTime> {
    let b = name.as_bytes();
    if let Some((t, at)) = compact(b) {
        // Pixel names are UTC; everything else in this form is the camera's local time.
        if at >= 4 && &b[at - 4..at] == b"PXL_" {
            return Some(CaptureTime::with_offset(t.local, 0));
        }
        return Some(t);
    }
    dashed(b).or_else(|| whatsapp(b)).or_else(|| unix_millis(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> Option<String> {
        date_from_file_name(name).map(|t| t.to_string())
    }

    #[test]
    fn documented_patterns() {
        let cases = [
            (
                "PXL_20240315_123456789.jpg",
                "2024-03-15T12:34:56.789+00:00",
            ),
            (
                "PXL_20240315_123456789.NIGHT.jpg",
                "2024-03-15T12:34:56.789+00:00",
            ),
            ("IMG_20240315_123456.jpg", "2024-03-15T12:34:56"),
            ("VID_20240315_123456.mp4", "2024-03-15T12:34:56"),
            ("MVIMG_20240315_123456.jpg", "2024-03-15T12:34:56"),
            ("20240315_123456.jpg", "2024-03-15T12:34:56"),
            ("20240315_123456(1).mp4", "2024-03-15T12:34:56"),
            ("Screenshot_20240315-123456.png", "2024-03-15T12:34:56"),
            ("Screenshot_2024-03-15-12-34-56.png", "2024-03-15T12:34:56"),
            (
                "Screenshot_2024-03-15-12-34-56-789_com.app.png",
                "2024-03-15T12:34:56",
            ),
            ("2024-03-15 12.34.56.jpg", "2024-03-15T12:34:56"),
            ("2024-03-15_12-34-56.mkv", "2024-03-15T12:34:56"),
            (
                "Screenshot 2024-03-15 at 12.34.56.png",
                "2024-03-15T12:34:56",
            ),
            (
                "Screen Shot 2024-03-15 at 1.34.56 PM.png",
                "2024-03-15T13:34:56",
            ),
            (
                "Screenshot 2024-03-15 at 12.04.56\u{202f}AM.png",
                "2024-03-15T00:04:56",
            ),
            ("IMG-20240315-WA0001.jpg", "2024-03-15T00:00:00"),
            ("VID-20240315-WA0012.mp4", "2024-03-15T00:00:00"),
            ("1710505896123.jpg", "2024-03-15T12:31:36.123+00:00"),
        ];
        for (name, want) in cases {
            assert_eq!(d(name).as_deref(), Some(want), "{name}");
        }
    }

    #[test]
    fn non_dates_do_not_match() {
        for name in [
            "ComfyUI_00001_.png",
            "ComfyUI_temp_abcd_00042_.png",
            "00012-1234567890.png",
            "seed_1234567890123456.png",
            "IMG_20241315_123456.jpg",
            "IMG_20240315_253456.jpg",
            "IMG_120240315_123456.jpg",
            "19000101_000000.jpg",
            "0123456789012.jpg",
            "9999999999999.jpg",
            "photo.jpg",
            "2024-03-15.jpg",
            "IMG-20240315.jpg",
        ] {
            assert_eq!(d(name), None, "{name}");
        }
    }
}
