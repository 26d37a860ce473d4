//! Provenance end to end: files signed here with the `c2pa` crate's own Builder and the
//! test-only chain in tests/fixtures/c2pa (made by its `make_test_cert.sh`), XMP with IPTC
//! properties, and the committed AI fixtures, through `metadata::extract_path`.
//!
//! With the `c2pa` feature (the default) signatures and hard bindings are checked; without
//! it the same files must report `not_checked`, never `valid`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use c2pa::{Builder, Context, SigningAlg, create_signer};
use events::media::{C2pa, Check, MediaInfo, Trust};
use serde_json::json;
use tempfile::TempDir;

const VALIDATES: bool = cfg!(feature = "c2pa");
const TRAINED: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
const CAPTURE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// `src` signed with one `c2pa.created` action of source type `source_type`.
fn signed(src: &str, mime: &str, source_type: &str) -> Vec<u8> {
    let chain = std::fs::read(fixture("c2pa/signer_chain.pem")).unwrap();
    let key = std::fs::read(fixture("c2pa/signer.key")).unwrap();
    let signer = create_signer::from_keys(&chain, &key, SigningAlg::Es256, None).unwrap();
    let definition = json!({
        "claim_generator_info": [{"name": "alice-tests", "version": "1.0"}],
        "title": "fixture",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": source_type,
            "softwareAgent": {"name": "Unlabelled Generator", "version": "2"}
        }]}}]
    });
    let mut builder = Builder::from_context(Context::new())
        .with_definition(definition)
        .unwrap();
    let source = std::fs::read(fixture(src)).unwrap();
    let mut out = Cursor::new(Vec::new());
    builder
        .sign(signer.as_ref(), mime, &mut Cursor::new(source), &mut out)
        .unwrap();
    out.into_inner()
}

/// Writes `bytes` as `name` in `dir` and extracts it.
fn extract(dir: &TempDir, name: &str, bytes: &[u8]) -> MediaInfo {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    metadata::extract_path(&path).unwrap().info
}

fn c2pa_of(info: &MediaInfo) -> &C2pa {
    info.provenance
        .as_ref()
        .and_then(|p| p.c2pa.as_ref())
        .unwrap_or_else(|| panic!("no C2PA record: {info:?}"))
}

fn evidence(info: &MediaInfo) -> &str {
    info.provenance
        .as_ref()
        .and_then(|p| p.evidence.as_deref())
        .unwrap_or_default()
}

/// Position of `needle` in `hay`, once.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not in file", String::from_utf8_lossy(needle)))
}

fn expect_checks(c: &C2pa, signature: Check, hard_binding: Check) {
    if VALIDATES {
        assert_eq!(
            (c.signature, c.hard_binding),
            (signature, hard_binding),
            "{c:?}"
        );
    } else {
        assert_eq!(
            (c.signature, c.hard_binding),
            (Check::NotChecked, Check::NotChecked),
            "{c:?}"
        );
    }
    assert_eq!(c.trust, Trust::Unknown, "no trust list is configured");
}

#[test]
fn signed_jpeg_and_png_validate_and_say_ai_without_a_tool_label() {
    let dir = TempDir::new().unwrap();
    for (src, mime, name) in [
        ("media/plain.jpg", "image/jpeg", "signed.jpg"),
        ("media/time_chunk.png", "image/png", "signed.png"),
    ] {
        let info = extract(&dir, name, &signed(src, mime, TRAINED));
        let c = c2pa_of(&info);
        expect_checks(c, Check::Valid, Check::Valid);
        assert!(c.failures.is_empty(), "{name}: {:?}", c.failures);
        if VALIDATES {
            assert_eq!(c.claim_generator.as_deref(), Some("alice-tests 1.0"));
            assert_eq!(c.signer.as_deref(), Some("AliceMultiverse Test Signer"));
            assert_eq!(c.issuer.as_deref(), Some("AliceMultiverse tests"));
            assert_eq!(c.actions.len(), 1, "{name}: {:?}", c.actions);
            assert_eq!(c.actions[0].action, "c2pa.created");
            assert_eq!(
                c.actions[0].digital_source_type.as_deref(),
                Some("trainedAlgorithmicMedia")
            );
            assert_eq!(
                c.actions[0].software_agent.as_deref(),
                Some("Unlabelled Generator 2")
            );
        }
        // No tool we can name, yet the file says it was generated.
        assert_eq!(info.ai, None, "{name}");
        assert_eq!(info.ai_generated, Some(true), "{name}");
        let want = if VALIDATES {
            "c2pa:c2pa.created digitalSourceType=trainedAlgorithmicMedia"
        } else {
            "c2pa:digitalSourceType=trainedAlgorithmicMedia"
        };
        assert_eq!(evidence(&info), want, "{name}");
    }
}

#[test]
fn a_flipped_pixel_byte_breaks_the_hard_binding_only() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = signed("media/plain.jpg", "image/jpeg", TRAINED);
    // The entropy-coded data sits between the last marker segment and EOI; the manifest
    // (APP11) comes before it.
    let n = jpeg.len();
    jpeg[n - 8] ^= 0x01;
    let info = extract(&dir, "tampered.jpg", &jpeg);
    let c = c2pa_of(&info);
    expect_checks(c, Check::Valid, Check::Invalid);
    if VALIDATES {
        assert!(
            c.failures
                .iter()
                .any(|f| f == "assertion.dataHash.mismatch"),
            "{:?}",
            c.failures
        );
    }
    // A generated image stays generated when its manifest breaks.
    assert_eq!(info.ai_generated, Some(true));

    let mut png = signed("media/time_chunk.png", "image/png", TRAINED);
    let idat = find(&png, b"IDAT");
    png[idat + 6] ^= 0x01;
    let c = c2pa_of(&extract(&dir, "tampered.png", &png)).clone();
    expect_checks(&c, Check::Valid, Check::Invalid);
}

#[test]
fn an_edited_claim_breaks_the_signature() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = signed("media/plain.jpg", "image/jpeg", TRAINED);
    // The claim generator's name lives in the signed claim itself.
    let at = find(&jpeg, b"alice-tests");
    jpeg[at] = b'A';
    let info = extract(&dir, "forged.jpg", &jpeg);
    let c = c2pa_of(&info);
    expect_checks(c, Check::Invalid, Check::Valid);
    if VALIDATES {
        assert!(
            c.failures.iter().any(|f| f.starts_with("claimSignature.")),
            "{:?}",
            c.failures
        );
    }
}

#[test]
fn an_edited_assertion_breaks_the_signature() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = signed("media/plain.jpg", "image/jpeg", TRAINED);
    // The actions assertion is covered by a hash in the claim, not by the signature bytes.
    let at = find(&jpeg, b"Unlabelled Generator");
    jpeg[at] = b'u';
    let c = c2pa_of(&extract(&dir, "forged_action.jpg", &jpeg)).clone();
    expect_checks(&c, Check::Invalid, Check::Valid);
}

#[test]
fn garbage_in_the_manifest_store_is_invalid_not_a_crash() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = signed("media/plain.jpg", "image/jpeg", TRAINED);
    let start = find(&jpeg, b"jumb");
    for b in &mut jpeg[start + 40..start + 200] {
        *b = 0x5A;
    }
    let info = extract(&dir, "garbage.jpg", &jpeg);
    let c = c2pa_of(&info);
    if VALIDATES {
        assert_eq!(c.signature, Check::Invalid, "{c:?}");
        assert!(!c.failures.is_empty());
    } else {
        assert_eq!(c.signature, Check::NotChecked);
    }
}

#[test]
fn no_manifest_means_no_c2pa_record() {
    let dir = TempDir::new().unwrap();
    let plain = std::fs::read(fixture("media/plain.jpg")).unwrap();
    let info = extract(&dir, "plain.jpg", &plain);
    assert_eq!(info.provenance, None);
    assert_eq!(info.ai_generated, None);
    let json = serde_json::to_value(&info).unwrap();
    assert!(json.get("provenance").is_none() && json.get("ai_generated").is_none());
}

#[test]
fn a_valid_camera_claim_says_not_generated_and_a_broken_one_says_nothing() {
    let dir = TempDir::new().unwrap();
    let mut jpeg = signed("media/plain.jpg", "image/jpeg", CAPTURE);
    let info = extract(&dir, "camera.jpg", &jpeg);
    assert_eq!(
        c2pa_of(&info)
            .actions
            .first()
            .map(|a| a.digital_source_type.clone()),
        VALIDATES.then(|| Some("digitalCapture".to_owned()))
    );
    if VALIDATES {
        assert_eq!(info.ai_generated, Some(false));
        assert_eq!(
            evidence(&info),
            "c2pa:c2pa.created digitalSourceType=digitalCapture"
        );
    } else {
        assert_eq!(info.ai_generated, None);
    }

    let n = jpeg.len();
    jpeg[n - 8] ^= 0x01;
    let info = extract(&dir, "camera_edited.jpg", &jpeg);
    assert_eq!(info.ai_generated, None, "{:?}", info.provenance);
}

/// `plain.jpg` with an XMP APP1 segment holding `properties` in an `rdf:Description`.
fn jpeg_with_xmp(properties: &str) -> Vec<u8> {
    let packet = format!(
        r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">{properties}</rdf:Description></rdf:RDF></x:xmpmeta>"#
    );
    let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    payload.extend_from_slice(packet.as_bytes());
    let plain = std::fs::read(fixture("media/plain.jpg")).unwrap();
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

#[test]
fn iptc_2025_ai_properties_are_reported_and_mark_the_file() {
    let dir = TempDir::new().unwrap();
    let jpeg = jpeg_with_xmp(&format!(
        r#"<Iptc4xmpExt:DigitalSourceType>{TRAINED}</Iptc4xmpExt:DigitalSourceType>
<Iptc4xmpExt:AISystemUsed>Unlabelled Generator</Iptc4xmpExt:AISystemUsed>
<Iptc4xmpExt:AISystemVersionUsed>2.1</Iptc4xmpExt:AISystemVersionUsed>
<Iptc4xmpExt:AIPromptInformation>a red fox in snow</Iptc4xmpExt:AIPromptInformation>
<Iptc4xmpExt:AIPromptWriterName>Jane Doe</Iptc4xmpExt:AIPromptWriterName>"#
    ));
    let info = extract(&dir, "iptc_ai.jpg", &jpeg);
    let p = info.provenance.as_ref().expect("provenance");
    assert_eq!(
        p.digital_source_type.as_deref(),
        Some("trainedAlgorithmicMedia")
    );
    assert_eq!(p.ai_system.as_deref(), Some("Unlabelled Generator"));
    assert_eq!(p.ai_system_version.as_deref(), Some("2.1"));
    assert_eq!(p.ai_prompt.as_deref(), Some("a red fox in snow"));
    assert_eq!(p.ai_prompt_writer.as_deref(), Some("Jane Doe"));
    assert_eq!(p.c2pa, None);
    assert_eq!(info.ai, None);
    assert_eq!(info.ai_generated, Some(true));
    assert_eq!(
        evidence(&info),
        "xmp:DigitalSourceType=trainedAlgorithmicMedia + xmp:AISystemUsed + \
         xmp:AISystemVersionUsed + xmp:AIPromptInformation + xmp:AIPromptWriterName"
    );

    // An AI property alone is enough.
    let jpeg = jpeg_with_xmp(r#"<Iptc4xmpExt:AISystemUsed>Some Model</Iptc4xmpExt:AISystemUsed>"#);
    let info = extract(&dir, "iptc_system.jpg", &jpeg);
    assert_eq!(info.ai_generated, Some(true));
    assert_eq!(evidence(&info), "xmp:AISystemUsed");
}

#[test]
fn digital_source_types_decide_in_both_directions() {
    let dir = TempDir::new().unwrap();
    for (value, want) in [
        (CAPTURE, Some(false)),
        ("digsrctype:negativeFilm", Some(false)),
        (
            "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
            Some(true),
        ),
        (
            "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic",
            None,
        ),
    ] {
        let jpeg = jpeg_with_xmp(&format!(
            r#"<Iptc4xmpExt:DigitalSourceType rdf:resource="{value}"/>"#
        ));
        let info = extract(&dir, "dst.jpg", &jpeg);
        assert_eq!(info.ai_generated, want, "{value}: {:?}", info.provenance);
        assert!(info.provenance.is_some(), "{value}");
    }
}

#[test]
fn committed_ai_fixtures() {
    let x = |name: &str| {
        metadata::extract_path(&fixture(&format!("ai/{name}")))
            .unwrap()
            .info
    };
    // A labelled tool is the evidence.
    let a1111 = x("a1111.png");
    assert_eq!(a1111.ai_generated, Some(true));
    assert_eq!(evidence(&a1111), "ai.source=stable-diffusion");
    // Photoshop Generative Fill: no tool label, but generated parts.
    let fill = x("generative_fill.png");
    assert_eq!(fill.ai, None);
    assert_eq!(fill.ai_generated, Some(true));
    assert_eq!(
        evidence(&fill),
        "xmp:DigitalSourceType=compositeWithTrainedAlgorithmicMedia"
    );
    // A phone photo without any statement: unknown, not "not generated".
    let phone = x("IMG_20240315_123456.jpg");
    assert_eq!(phone.ai_generated, None);
}

#[test]
fn old_media_json_without_the_new_fields_still_parses() {
    let old = r#"{"media_type":"image","format":"png","width":1,"height":1,"duration_ms":null,
        "taken_at":null,"taken_at_source":null,"camera":null,"ai":null}"#;
    let info: MediaInfo = serde_json::from_str(old).unwrap();
    assert_eq!((info.ai_generated, info.provenance), (None, None));
}
