//! C2PA manifests (JUMBF boxes holding CBOR claims): readable strings, and validation.
//!
//! Two levels, so that files without C2PA never pay for the second:
//!
//! - [`strings`]: AI detection needs only names such as the claim generator
//!   (`Adobe_Firefly`, `ChatGPT`…), so instead of a full JUMBF/CBOR/COSE decoder this scans
//!   the manifest bytes the container reader already holds for CBOR text strings and JUMBF box
//!   labels. It is bounded by the input (capped by the container reader) and by
//!   [`MAX_STRINGS`].
//! - [`validate`]: only for a file where that scan found a manifest store, the Content
//!   Authenticity Initiative's `c2pa` crate reads the store again from the whole file and
//!   checks the claim signature and the hard binding (the hash over the asset's bytes), offline
//!   and without a trust list. This reads and hashes the entire file. Without the `c2pa`
//!   feature the checks are reported as `not_checked`.

use std::io::{Read, Seek};

use events::media::{C2pa, Check, Trust};

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
    // First, so that a store full of other strings cannot crowd them out.
    source_type_uris(data, |s| push(s, out));
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

/// Digital source type vocabularies whose URIs are looked for as plain bytes.
const SOURCE_TYPE_SCHEMES: [&str; 2] = [
    "cv.iptc.org/newscodes/digitalsourcetype/",
    "c2pa.org/digitalsourcetype/",
];

/// Calls `found` with each digital source type URI in `data` (normalized to `http://`). The
/// CBOR scan misses them where the map key before them ends in a letter or digit (the header
/// of a 71-byte string is the byte `x`), and they decide whether a file is AI-generated.
fn source_type_uris(data: &[u8], mut found: impl FnMut(&str)) {
    for scheme in SOURCE_TYPE_SCHEMES {
        let needle = scheme.as_bytes();
        let mut from = 0;
        while let Some(pos) = data[from..].windows(needle.len()).position(|w| w == needle) {
            let start = from + pos + needle.len();
            let term = &data[start..];
            let len = term
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count()
                .min(MAX_LEN);
            if len > 0
                && let Ok(t) = std::str::from_utf8(&term[..len])
            {
                found(&format!("http://{scheme}{t}"));
            }
            from = start;
        }
    }
}

/// Validates the C2PA manifest store of a file whose container reader found one. `format`
/// is the sniffed format; the reader is read from its start to its end.
pub(crate) fn validate<R: Read + Seek + Send>(reader: &mut R, format: &str) -> C2pa {
    match mime_type(format) {
        Some(mime) => validator::run(reader, mime),
        None => not_checked(),
    }
}

/// The MIME type the validator reads for a sniffed format; `None` for containers it does not
/// support (WebM/Matroska, BMP).
fn mime_type(format: &str) -> Option<&'static str> {
    Some(match format {
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "tiff" => "image/tiff",
        "heic" => "image/heic",
        "avif" => "image/avif",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        _ => return None,
    })
}

/// A manifest store whose checks did not run.
fn not_checked() -> C2pa {
    C2pa {
        claim_generator: None,
        signer: None,
        issuer: None,
        signed_at: None,
        actions: Vec::new(),
        signature: Check::NotChecked,
        hard_binding: Check::NotChecked,
        trust: Trust::Unknown,
        failures: Vec::new(),
    }
}

/// A store present in the file that the validator cannot read: nothing it claims holds.
#[cfg_attr(not(feature = "c2pa"), allow(dead_code))]
fn unreadable(reason: String) -> C2pa {
    C2pa {
        signature: Check::Invalid,
        hard_binding: Check::Invalid,
        failures: vec![reason],
        ..not_checked()
    }
}

/// Validation status codes (prefixes) that break the signed claim itself: its COSE
/// signature, the signing certificate, or an assertion whose bytes no longer match the hash
/// the claim signed. An untrusted signer is not among them, nor is a bad time stamp (the
/// claim is still signed; the code stays in `failures`).
const SIGNATURE_FAILURES: [&str; 11] = [
    "claimSignature.",
    "signingCredential.invalid",
    "signingCredential.revoked",
    "signingCredential.expired",
    "signingCredential.ocsp.revoked",
    "algorithm.",
    "assertion.hashedURI.",
    "assertion.missing",
    "claim.missing",
    "claim.malformed",
    "claim.multiple",
];

/// Codes that say the content no longer matches the hard binding.
const BINDING_FAILURES: [&str; 4] = [
    "assertion.dataHash.",
    "assertion.bmffHash.",
    "assertion.boxesHash.",
    "assertion.collectionHash.",
];

/// Codes that say a hard binding was checked and matched.
const BINDING_OK: [&str; 4] = [
    "assertion.dataHash.match",
    "assertion.bmffHash.match",
    "assertion.boxesHash.match",
    "assertion.collectionHash.match",
];

/// The three verdicts from the active manifest's validation codes.
#[cfg_attr(not(feature = "c2pa"), allow(dead_code))]
fn verdicts(success: &[&str], failure: &[&str]) -> (Check, Check, Trust) {
    let failed = |prefixes: &[&str]| {
        failure
            .iter()
            .any(|c| prefixes.iter().any(|p| c.starts_with(p)))
    };
    let signature = if failed(&SIGNATURE_FAILURES) || !success.contains(&"claimSignature.validated")
    {
        Check::Invalid
    } else {
        Check::Valid
    };
    let hard_binding = if failure.contains(&"claim.hardBindings.missing") {
        Check::Missing
    } else if failed(&BINDING_FAILURES) {
        Check::Invalid
    } else if success.iter().any(|c| BINDING_OK.contains(c)) {
        Check::Valid
    } else {
        Check::Missing
    };
    let trust = if success.contains(&"signingCredential.trusted") {
        Trust::Trusted
    } else if failure.contains(&"signingCredential.untrusted") {
        Trust::Untrusted
    } else {
        Trust::Unknown
    };
    (signature, hard_binding, trust)
}

#[cfg(feature = "c2pa")]
mod validator {
    use std::io::{Read, Seek};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::{Arc, OnceLock};

    use ::c2pa::assertions::{Actions, SoftwareAgent};
    use ::c2pa::{ClaimGeneratorInfo, Context, Manifest, Reader};
    use events::media::{C2pa, C2paAction, Check};

    use crate::provenance::short_source_type;

    /// Offline validation: no trust list (trust is reported separately), no OCSP or remote
    /// manifest fetches, no thumbnails.
    const SETTINGS: &str = r#"{
        "verify": {
            "verify_trust": false,
            "verify_timestamp_trust": false,
            "ocsp_fetch": false,
            "remote_manifest_fetch": false
        }
    }"#;

    /// Most actions kept from one manifest.
    const MAX_ACTIONS: usize = 64;

    fn context() -> Result<Arc<Context>, String> {
        static CONTEXT: OnceLock<Result<Arc<Context>, String>> = OnceLock::new();
        CONTEXT
            .get_or_init(|| {
                Context::new()
                    .with_settings(SETTINGS)
                    .map(Arc::new)
                    .map_err(|e| format!("c2pa settings: {e}"))
            })
            .clone()
    }

    pub(super) fn run<R: Read + Seek + Send>(reader: &mut R, mime: &str) -> C2pa {
        let ctx = match context() {
            Ok(c) => c,
            Err(e) => return super::unreadable(e),
        };
        // The validator is a large third-party parser fed hostile files: a panic in it must
        // cost this file its C2PA verdict, not the worker.
        let read = catch_unwind(AssertUnwindSafe(|| {
            Reader::from_shared_context(&ctx).with_stream(mime, &mut *reader)
        }));
        match read {
            Ok(Ok(store)) => summarize(&store),
            Ok(Err(e)) => super::unreadable(format!("manifest store unreadable: {e}")),
            Err(_) => super::unreadable("manifest store unreadable: validator panicked".into()),
        }
    }

    fn summarize(store: &Reader) -> C2pa {
        let codes = store.validation_results().and_then(|v| v.active_manifest());
        let success: Vec<&str> = codes
            .map(|c| c.success().iter().map(|s| s.code()).collect())
            .unwrap_or_default();
        let failure: Vec<&str> = codes
            .map(|c| c.failure().iter().map(|s| s.code()).collect())
            .unwrap_or_default();
        let (signature, hard_binding, trust) = super::verdicts(&success, &failure);
        let mut out = C2pa {
            signature,
            hard_binding,
            trust,
            failures: failure.iter().map(|c| (*c).to_owned()).collect(),
            ..super::not_checked()
        };
        let Some(m) = store.active_manifest() else {
            out.signature = Check::Invalid;
            out.failures.push("no active manifest".to_owned());
            return out;
        };
        out.claim_generator = claim_generator(m);
        if let Some(sig) = m.signature_info() {
            out.signer = sig.common_name.clone();
            out.issuer = sig.issuer.clone();
            out.signed_at = sig.time.clone();
        }
        out.actions = actions(m);
        out
    }

    fn claim_generator(m: &Manifest) -> Option<String> {
        m.claim_generator_info
            .as_deref()
            .and_then(|infos| infos.first())
            .map(info_text)
            .or_else(|| m.claim_generator().map(str::to_owned))
    }

    fn info_text(i: &ClaimGeneratorInfo) -> String {
        match &i.version {
            Some(v) => format!("{} {v}", i.name),
            None => i.name.clone(),
        }
    }

    /// The actions of every `c2pa.actions` / `c2pa.actions.v2` assertion, in order.
    fn actions(m: &Manifest) -> Vec<C2paAction> {
        m.assertions()
            .iter()
            .filter(|a| a.label().starts_with(Actions::LABEL))
            .filter_map(|a| a.to_assertion::<Actions>().ok())
            .flat_map(|a| a.actions)
            .take(MAX_ACTIONS)
            .map(|a| C2paAction {
                action: a.action().to_owned(),
                digital_source_type: a.source_type().map(|t| short_source_type(&t.to_string())),
                software_agent: a.software_agent().map(|s| match s {
                    SoftwareAgent::String(s) => s.clone(),
                    SoftwareAgent::ClaimGeneratorInfo(i) => info_text(i),
                }),
            })
            .collect()
    }
}

#[cfg(not(feature = "c2pa"))]
mod validator {
    use std::io::{Read, Seek};

    use events::media::C2pa;

    pub(super) fn run<R: Read + Seek + Send>(_reader: &mut R, _mime: &str) -> C2pa {
        super::not_checked()
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
    fn finds_source_types_the_cbor_scan_misses() {
        // As c2pa-rs writes it: the key's last letter sits right before the `x` header.
        let mut data = b"\xa2qdigitalSourceTypexF".to_vec();
        data.extend_from_slice(
            b"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia\0\0",
        );
        let mut out = Vec::new();
        strings(&data, &mut out);
        assert!(
            out.contains(
                &"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
                    .to_owned()
            ),
            "{out:?}"
        );
    }

    #[test]
    fn bounded_on_noise() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut out = Vec::new();
        strings(&data, &mut out);
        assert!(out.len() <= MAX_STRINGS);
    }

    #[test]
    fn verdicts_keep_signature_binding_and_trust_apart() {
        let ok = [
            "claimSignature.validated",
            "claimSignature.insideValidity",
            "assertion.dataHash.match",
        ];
        assert_eq!(
            verdicts(&ok, &["signingCredential.untrusted"]),
            (Check::Valid, Check::Valid, Trust::Untrusted)
        );
        assert_eq!(
            verdicts(&ok[..2], &["assertion.dataHash.mismatch"]),
            (Check::Valid, Check::Invalid, Trust::Unknown)
        );
        assert_eq!(
            verdicts(&ok[2..], &["claimSignature.mismatch"]),
            (Check::Invalid, Check::Valid, Trust::Unknown)
        );
        assert_eq!(
            verdicts(&ok[..2], &["claim.hardBindings.missing"]),
            (Check::Valid, Check::Missing, Trust::Unknown)
        );
        // Nothing said the signature verified: not valid.
        assert_eq!(verdicts(&[], &[]).0, Check::Invalid);
    }

    #[test]
    fn unsupported_containers_are_not_checked() {
        let c = validate(&mut std::io::Cursor::new(b"anything"), "webm");
        assert_eq!(
            (c.signature, c.hard_binding, c.trust),
            (Check::NotChecked, Check::NotChecked, Trust::Unknown)
        );
    }
}
