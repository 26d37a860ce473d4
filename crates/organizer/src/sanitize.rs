//! Turning untrusted strings (project names, AI labels, camera models, file names) into safe
//! path components.
//!
//! Everything here is pure: no filesystem access. The rules are Linux rules: a component is
//! any byte string except `/` and NUL, at most 255 bytes, and must not be `""`, `.` or `..`.
//! On top of that we replace control characters (they break terminals, logs and shells) and
//! keep names from looking like this crate's own temporary files.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::temp::TEMP_PREFIX;

/// Longest folder name [`sanitize_component`] produces, in bytes.
///
/// Shorter than the filesystem limit (255) so that a template may combine a component with
/// literal text and still fit, and so that paths stay readable.
pub const MAX_COMPONENT_BYTES: usize = 128;

/// Longest file name, in bytes (the Linux `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// An extension longer than this is not kept whole when a name is shortened: it is then
/// probably not an extension at all but a dot inside a long title.
const MAX_KEPT_EXT_BYTES: usize = 32;

/// The replacement for every byte or character that may not appear in a path component.
const REPLACEMENT: char = '_';

/// Makes a folder name out of an untrusted string (a project name, an AI source label, a
/// camera model).
///
/// - `/`, `\`, NUL and every control character (C0, DEL, C1) become `_`;
/// - surrounding whitespace is trimmed and leading dots are dropped, so the result is never
///   `.`/`..` and never a hidden folder;
/// - the result is at most [`MAX_COMPONENT_BYTES`] bytes, cut at a character boundary;
/// - an empty result becomes `_`.
///
/// Letters, digits, spaces, punctuation and non-ASCII text are kept as they are: this is a
/// safety filter, not a slug generator.
pub fn sanitize_component(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                REPLACEMENT
            } else {
                c
            }
        })
        .collect();
    let trimmed = replaced.trim().trim_start_matches('.').trim_start();
    let mut out = truncate_str(trimmed, MAX_COMPONENT_BYTES)
        .trim_end()
        .to_owned();
    if out.is_empty() {
        out.push(REPLACEMENT);
    }
    out
}

/// Makes a safe file name out of an original file name, changing as little as possible.
///
/// - bytes are kept exactly, including names that are not valid UTF-8;
/// - `/`, NUL and ASCII control bytes become `_` (and, for UTF-8 names, C1 control
///   characters too);
/// - `""`, `.` and `..` become `_`, `_` and `__`;
/// - a name that starts like this crate's temporary files (`.alice-tmp-`) gets its leading
///   dot replaced, so that [`crate::cleanup_temporaries`] can never mistake it for a leftover;
/// - a name longer than [`MAX_NAME_BYTES`] is shortened in its stem, keeping the extension.
pub fn sanitize_name(name: &OsStr) -> OsString {
    let bytes = name.as_bytes();
    let mut out: Vec<u8> = match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut buf = [0u8; 4];
            let mut v = Vec::with_capacity(s.len());
            for c in s.chars() {
                if c == '/' || c.is_control() {
                    v.push(REPLACEMENT as u8);
                } else {
                    v.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            v
        }
        Err(_) => bytes
            .iter()
            .map(|&b| {
                if b == b'/' || b < 0x20 || b == 0x7f {
                    REPLACEMENT as u8
                } else {
                    b
                }
            })
            .collect(),
    };
    if out.is_empty() || out == b"." || out == b".." {
        out = vec![REPLACEMENT as u8; out.len().max(1)];
    }
    guard_temp_prefix(&mut out);
    OsString::from_vec(truncate_name(&out, MAX_NAME_BYTES))
}

/// The name of the `n`-th file that wants the name `name` in one folder.
///
/// `n <= 1` is the name itself; from 2 on, ` (n)` goes before the extension, the way file
/// managers do it: `photo.png`, `photo (2).png`, `photo (3).png`; `README` → `README (2)`;
/// `archive.tar.gz` → `archive.tar (2).gz`. The result is kept within [`MAX_NAME_BYTES`] by
/// shortening the stem, so the counter and the extension always survive.
pub fn collision_name(name: &OsStr, n: u32) -> OsString {
    if n <= 1 {
        return name.to_owned();
    }
    let bytes = name.as_bytes();
    let suffix = format!(" ({n})");
    let (stem, ext) = split_ext(bytes);
    let (stem, ext) = if ext.len() > MAX_KEPT_EXT_BYTES {
        (bytes, &[][..])
    } else {
        (stem, ext)
    };
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len());
    let mut out = truncate_bytes(stem, room).to_vec();
    out.extend_from_slice(suffix.as_bytes());
    out.extend_from_slice(ext);
    OsString::from_vec(out)
}

/// If `candidate` is `collision_name(name, n)` for some `n`, that `n` (1 for `name` itself).
pub(crate) fn collision_index(name: &OsStr, candidate: &OsStr) -> Option<u32> {
    if candidate == name {
        return Some(1);
    }
    let c = candidate.as_bytes();
    // The counter sits somewhere after " (": try each occurrence and confirm by rebuilding the
    // name, which also accounts for stems shortened to make room for the counter.
    let mut from = 0;
    while let Some(pos) = find(&c[from..], b" (") {
        let start = from + pos + 2;
        let digits = c[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0
            && c.get(start + digits) == Some(&b')')
            && let Some(n) = std::str::from_utf8(&c[start..start + digits])
                .ok()
                .and_then(|d| d.parse::<u32>().ok())
            && n >= 2
            && collision_name(name, n).as_bytes() == c
        {
            return Some(n);
        }
        from = start;
    }
    None
}

/// Splits a file name into stem and extension (with its dot). A leading dot does not start
/// an extension (`.bashrc` has none) and neither does a trailing one (`notes.`).
pub(crate) fn split_ext(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], &name[i..]),
        _ => (name, &[]),
    }
}

/// Shortens a file name to at most `max` bytes, keeping a plausible extension.
pub(crate) fn truncate_name(name: &[u8], max: usize) -> Vec<u8> {
    if name.len() <= max {
        return name.to_vec();
    }
    let (stem, ext) = split_ext(name);
    if !ext.is_empty() && ext.len() <= MAX_KEPT_EXT_BYTES && ext.len() < max {
        let kept = truncate_bytes(stem, max - ext.len());
        if !kept.is_empty() {
            let mut out = kept.to_vec();
            out.extend_from_slice(ext);
            return out;
        }
    }
    truncate_bytes(name, max).to_vec()
}

/// Cuts at most `max` bytes, backing off so as not to split a UTF-8 sequence. For bytes that
/// are not UTF-8 the back-off is at most three bytes and harmless.
pub(crate) fn truncate_bytes(b: &[u8], max: usize) -> &[u8] {
    if b.len() <= max {
        return b;
    }
    let mut cut = max;
    let mut backed = 0;
    while cut > 0 && backed < 3 && (b[cut] & 0b1100_0000) == 0b1000_0000 {
        cut -= 1;
        backed += 1;
    }
    &b[..cut]
}

fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// A rendered or sanitized name must never look like one of our temporary files.
pub(crate) fn guard_temp_prefix(name: &mut [u8]) {
    if name.starts_with(TEMP_PREFIX.as_bytes()) {
        name[0] = REPLACEMENT as u8;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A display label for a camera: make and model joined by a space, without repeating the
/// make when the model already starts with it (`Canon` + `Canon EOS R5` → `Canon EOS R5`).
/// `None` when the file names neither. The label is not yet sanitized: the template does it.
pub fn camera_label(camera: &events::media::Camera) -> Option<String> {
    let make = camera
        .make
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let model = camera
        .model
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (make, model) {
        (Some(make), Some(model)) => {
            if model.to_lowercase().starts_with(&make.to_lowercase()) {
                Some(model.to_owned())
            } else {
                Some(format!("{make} {model}"))
            }
        }
        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(b: &[u8]) -> &OsStr {
        OsStr::from_bytes(b)
    }

    #[test]
    fn component_removes_separators_controls_and_dots() {
        assert_eq!(sanitize_component("cyber/punk"), "cyber_punk");
        assert_eq!(sanitize_component("a\\b"), "a_b");
        assert_eq!(
            sanitize_component("new\nline\u{0}nul\u{7f}\u{85}"),
            "new_line_nul__"
        );
        assert_eq!(sanitize_component(".."), "_");
        assert_eq!(sanitize_component("."), "_");
        assert_eq!(sanitize_component("../../etc"), "_.._etc");
        assert_eq!(sanitize_component("/etc/passwd"), "_etc_passwd");
        assert_eq!(sanitize_component(".hidden"), "hidden");
        assert_eq!(sanitize_component("   "), "_");
        assert_eq!(sanitize_component(""), "_");
        assert_eq!(sanitize_component("  Café Noir  "), "Café Noir");
    }

    #[test]
    fn component_is_bounded_at_a_char_boundary() {
        let long = "é".repeat(200);
        let out = sanitize_component(&long);
        assert!(out.len() <= MAX_COMPONENT_BYTES);
        assert_eq!(out, "é".repeat(MAX_COMPONENT_BYTES / 2));
    }

    #[test]
    fn name_keeps_ordinary_names_exactly() {
        for n in [
            "photo.png",
            "IMG_0001.JPG",
            "my photo (1).jpeg",
            "日本語.webp",
            ".bashrc",
        ] {
            assert_eq!(sanitize_name(OsStr::new(n)), OsStr::new(n));
        }
    }

    #[test]
    fn name_replaces_separators_and_controls() {
        assert_eq!(
            sanitize_name(OsStr::new("a\tb\n.png")),
            OsStr::new("a_b_.png")
        );
        assert_eq!(sanitize_name(os(b"a/b\0c")), OsStr::new("a_b_c"));
        assert_eq!(sanitize_name(OsStr::new("x\u{9b}y")), OsStr::new("x_y"));
        assert_eq!(sanitize_name(OsStr::new("")), OsStr::new("_"));
        assert_eq!(sanitize_name(OsStr::new(".")), OsStr::new("_"));
        assert_eq!(sanitize_name(OsStr::new("..")), OsStr::new("__"));
    }

    #[test]
    fn name_is_byte_exact_for_non_utf8() {
        let raw = b"caf\xe9 \xff\xfe.png";
        assert_eq!(sanitize_name(os(raw)).as_bytes(), raw);
        assert_eq!(sanitize_name(os(b"\xff\x01x")).as_bytes(), b"\xff_x");
    }

    #[test]
    fn name_never_looks_like_a_temporary() {
        let out = sanitize_name(OsStr::new(".alice-tmp-0123456789abcdef-1"));
        assert_eq!(out, OsStr::new("_alice-tmp-0123456789abcdef-1"));
        assert!(!crate::is_temporary_name(&out));
    }

    #[test]
    fn long_name_keeps_extension() {
        let long = format!("{}.png", "a".repeat(400));
        let out = sanitize_name(OsStr::new(&long));
        assert_eq!(out.len(), MAX_NAME_BYTES);
        assert!(out.as_bytes().ends_with(b"aaa.png"));

        let multi = format!("{}.jpeg", "é".repeat(200));
        let out = sanitize_name(OsStr::new(&multi));
        assert!(out.len() <= MAX_NAME_BYTES);
        let s = out
            .to_str()
            .expect("still valid UTF-8 after cutting at a boundary");
        assert!(s.ends_with("é.jpeg"));

        // A "long extension" is a dot inside a title: cut the whole name instead.
        let odd = format!("x.{}", "b".repeat(300));
        assert_eq!(sanitize_name(OsStr::new(&odd)).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn collision_names() {
        assert_eq!(
            collision_name(OsStr::new("photo.png"), 1),
            OsStr::new("photo.png")
        );
        assert_eq!(
            collision_name(OsStr::new("photo.png"), 2),
            OsStr::new("photo (2).png")
        );
        assert_eq!(
            collision_name(OsStr::new("README"), 3),
            OsStr::new("README (3)")
        );
        assert_eq!(
            collision_name(OsStr::new(".bashrc"), 2),
            OsStr::new(".bashrc (2)")
        );
        assert_eq!(
            collision_name(OsStr::new("archive.tar.gz"), 10),
            OsStr::new("archive.tar (10).gz")
        );
        let long = OsString::from(format!("{}.png", "a".repeat(251)));
        let c = collision_name(&long, 9999);
        assert_eq!(c.len(), MAX_NAME_BYTES);
        assert!(c.as_bytes().ends_with(b"a (9999).png"));
    }

    #[test]
    fn collision_index_inverts_collision_name() {
        let names: [&OsStr; 4] = [
            OsStr::new("photo.png"),
            OsStr::new("my (2) photo.png"),
            OsStr::new("README"),
            os(b"\xffraw.jpg"),
        ];
        for name in names {
            for n in [1, 2, 3, 17, 10_000] {
                assert_eq!(collision_index(name, &collision_name(name, n)), Some(n));
            }
            assert_eq!(collision_index(name, OsStr::new("other.png")), None);
        }
        let long = OsString::from(format!("{}.png", "a".repeat(255 - 4)));
        assert_eq!(collision_index(&long, &collision_name(&long, 42)), Some(42));
        assert_eq!(
            collision_index(OsStr::new("photo.png"), OsStr::new("photo (1).png")),
            None
        );
        assert_eq!(
            collision_index(OsStr::new("photo.png"), OsStr::new("photo (x).png")),
            None
        );
    }

    #[test]
    fn camera_labels() {
        use events::media::Camera;
        let cam = |make: Option<&str>, model: Option<&str>| Camera {
            make: make.map(str::to_owned),
            model: model.map(str::to_owned),
        };
        assert_eq!(
            camera_label(&cam(Some("Canon"), Some("Canon EOS R5"))).as_deref(),
            Some("Canon EOS R5")
        );
        assert_eq!(
            camera_label(&cam(Some("Apple"), Some("iPhone 15 Pro"))).as_deref(),
            Some("Apple iPhone 15 Pro")
        );
        assert_eq!(
            camera_label(&cam(None, Some(" X100V "))).as_deref(),
            Some("X100V")
        );
        assert_eq!(camera_label(&cam(Some(" "), None)), None);
    }
}
