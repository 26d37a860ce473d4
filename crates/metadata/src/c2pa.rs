//! Readable strings from C2PA manifests (JUMBF boxes holding CBOR claims).
//!
//! Detection needs only names such as the claim generator (`Adobe_Firefly`, `ChatGPT`…), so
//! instead of a full JUMBF/CBOR/COSE decoder this scans for CBOR text strings and JUMBF box
//! labels. It is bounded by the input (already capped by the container reader) and by
//! [`MAX_STRINGS`].

/// Most strings kept from one manifest store.
const MAX_STRINGS: usize = 256;
/// Shortest string worth keeping; shorter ones are mostly CBOR noise.
const MIN_LEN: usize = 3;
/// Longest string kept; longer text (embedded XML, certificates) is not a tool name.
const MAX_LEN: usize = 512;

fn readable(s: &str) -> bool {
    s.chars().all(|c| !c.is_control()) && s.chars().any(|c| c.is_alphabetic())
}

/// Appends the readable strings of a C2PA/JUMBF blob to `out`, without duplicates.
pub(crate) fn strings(data: &[u8], out: &mut Vec<String>) {
    let push = |s: &str, out: &mut Vec<String>| {
        if out.len() < MAX_STRINGS && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    let mut i = 0;
    // End of the last string taken: a header byte right after it is a real CBOR item, while
    // a letter in the middle of a word (the `c` of `jumdc2pa`) is not.
    let mut last_end = 0;
    while i < data.len() && out.len() < MAX_STRINGS {
        let b = data[i];
        if i > 0
            && i != last_end
            && b.is_ascii_alphanumeric()
            && data[i - 1].is_ascii_alphanumeric()
        {
            i += 1;
            continue;
        }
        // CBOR major type 3 (text string): 0x60..=0x77 inline length, 0x78/0x79 with a 1- or
        // 2-byte length.
        let (len, hdr) = match b {
            0x60..=0x77 => (usize::from(b - 0x60), 1),
            0x78 => (data.get(i + 1).map_or(0, |&l| usize::from(l)), 2),
            0x79 => match data.get(i + 1..i + 3) {
                Some(l) => (usize::from(u16::from_be_bytes([l[0], l[1]])), 3),
                None => (0, 3),
            },
            _ => (0, 1),
        };
        if (MIN_LEN..=MAX_LEN).contains(&len)
            && let Some(Ok(s)) = data.get(i + hdr..i + hdr + len).map(std::str::from_utf8)
            && readable(s)
        {
            push(s, out);
            i += hdr + len;
            last_end = i;
            continue;
        }
        i += 1;
    }
    // JUMBF description boxes carry NUL-terminated labels such as `c2pa.claim`; catch those
    // the CBOR scan missed (they are not CBOR).
    for run in data.split(|&b| b == 0) {
        let tail = run
            .rsplit(|b| !b.is_ascii_graphic())
            .next()
            .unwrap_or_default();
        if tail.len() >= 4
            && tail.len() <= MAX_LEN
            && tail.starts_with(b"c2pa")
            && let Ok(s) = std::str::from_utf8(tail)
        {
            push(s, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_claim_generator_in_cbor() {
        let mut data = b"\x00\x00\x00\x20jumdc2pa\x00\x11\x00\x10c2pa.claim\x00\xa2".to_vec();
        data.push(0x6f);
        data.extend_from_slice(b"claim_generator");
        data.push(0x6d);
        data.extend_from_slice(b"Adobe_Firefly");
        let mut out = Vec::new();
        strings(&data, &mut out);
        assert!(out.contains(&"claim_generator".to_owned()), "{out:?}");
        assert!(out.contains(&"Adobe_Firefly".to_owned()), "{out:?}");
        assert!(out.contains(&"c2pa.claim".to_owned()), "{out:?}");
    }

    #[test]
    fn bounded_on_noise() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut out = Vec::new();
        strings(&data, &mut out);
        assert!(out.len() <= MAX_STRINGS);
    }
}
