//! Small string helpers shared by the detection rules: bounded copies and word matching.

/// Longest prompt or parameter value we keep. Prompts can be long (wildcards, prompt
/// matrices), but a field is a label, not a document: anything longer is cut here.
pub(crate) const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Largest JSON text we hand to `serde_json`. ComfyUI workflows with many nodes reach a few
/// hundred KiB; anything far beyond that is not a generator's metadata and is not parsed.
pub(crate) const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

/// A trimmed copy of `s`, cut at a character boundary so it is at most [`MAX_FIELD_BYTES`].
pub(crate) fn cap(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_FIELD_BYTES {
        return s.to_owned();
    }
    let mut end = MAX_FIELD_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].trim_end().to_owned()
}

/// `Some(cap(s))` when `s` has any non-blank content.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let c = cap(s);
    if c.is_empty() { None } else { Some(c) }
}

/// Shortens a value for an evidence string (evidence is a one-line explanation).
pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 80;
    let one_line: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX).collect();
    out.push('…');
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whether `needle` (lowercase) occurs in `hay_lower` (already lowercased) as a whole word:
/// the characters around it are not letters or digits. `_`, `-`, `.`, `/` and spaces all
/// separate words, so `Adobe_Firefly` contains `firefly` but `pikachu` does not contain `pika`.
pub(crate) fn contains_word(hay_lower: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(pos) = hay_lower[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = hay_lower[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        let after_ok = hay_lower[end..]
            .chars()
            .next()
            .is_none_or(|c| !is_word_char(c));
        if before_ok && after_ok {
            return true;
        }
        // Advance by one character (not one byte) to stay on a char boundary.
        from = start + hay_lower[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Parses a seed as the tools write it: an integer, possibly as a string or as a float with
/// no fraction (JSON writers sometimes emit `1234.0`). Negative seeds mean "random" and are
/// not a seed.
pub(crate) fn parse_seed(s: &str) -> Option<u64> {
    let t = s.trim();
    if let Ok(v) = t.parse::<u64>() {
        return Some(v);
    }
    let f: f64 = t.parse().ok()?;
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

/// Parses a step count.
pub(crate) fn parse_steps(s: &str) -> Option<u32> {
    let t = s.trim();
    if let Ok(v) = t.parse::<u32>() {
        return Some(v);
    }
    let f: f64 = t.parse().ok()?;
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= f64::from(u32::MAX)).then_some(f as u32)
}

/// Parses a guidance scale.
pub(crate) fn parse_cfg(s: &str) -> Option<f64> {
    let f: f64 = s.trim().parse().ok()?;
    f.is_finite().then_some(f)
}

/// Reads a seed from a JSON number or numeric string.
pub(crate) fn json_seed(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().and_then(|f| parse_seed(&f.to_string()))),
        serde_json::Value::String(s) => parse_seed(s),
        _ => None,
    }
}

/// Reads a step count from a JSON number or numeric string.
pub(crate) fn json_steps(v: &serde_json::Value) -> Option<u32> {
    match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) => u32::try_from(u).ok(),
            None => n.as_f64().and_then(|f| parse_steps(&f.to_string())),
        },
        serde_json::Value::String(s) => parse_steps(s),
        _ => None,
    }
}

/// Reads a guidance scale from a JSON number or numeric string.
pub(crate) fn json_f64(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        serde_json::Value::String(s) => parse_cfg(s),
        _ => None,
    }
}

/// Reads a non-empty string field, capped.
pub(crate) fn json_str(v: &serde_json::Value) -> Option<String> {
    v.as_str().and_then(non_empty)
}

/// `WxH` from two JSON numbers (or numeric strings).
pub(crate) fn json_size(
    w: Option<&serde_json::Value>,
    h: Option<&serde_json::Value>,
) -> Option<String> {
    let w = json_steps(w?)?;
    let h = json_steps(h?)?;
    (w > 0 && h > 0).then(|| format!("{w}x{h}"))
}

/// Parses JSON text if it is small enough to be generator metadata.
pub(crate) fn parse_json(text: &str) -> Option<serde_json::Value> {
    if text.len() > MAX_JSON_BYTES {
        return None;
    }
    serde_json::from_str(text.trim()).ok()
}

/// Whether `s` looks like a JSON object (so a parse failure means "malformed", not "not JSON").
pub(crate) fn looks_like_json_object(s: &str) -> bool {
    s.trim_start().starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_cuts_at_char_boundary() {
        let s = "é".repeat(MAX_FIELD_BYTES); // 2 bytes each
        let c = cap(&s);
        assert!(c.len() <= MAX_FIELD_BYTES);
        assert!(c.chars().all(|ch| ch == 'é'));
    }

    #[test]
    fn words_need_boundaries() {
        assert!(contains_word("adobe_firefly", "firefly"));
        assert!(contains_word("made with pika", "pika"));
        assert!(!contains_word("pikachu.png", "pika"));
        assert!(!contains_word("influx", "flux"));
        assert!(contains_word("ünï flux", "flux"));
        assert!(!contains_word("", "flux"));
    }

    #[test]
    fn numbers_parse_leniently_but_honestly() {
        assert_eq!(parse_seed("1234"), Some(1234));
        assert_eq!(parse_seed("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_seed("-1"), None);
        assert_eq!(parse_seed("12.5"), None);
        assert_eq!(parse_seed("7.0"), Some(7));
        assert_eq!(parse_steps("30"), Some(30));
        assert_eq!(parse_cfg("7.5"), Some(7.5));
        assert_eq!(parse_cfg("NaN"), None);
    }
}
