//! End to end: real files (made by scripts/fixtures/make_ai_fixtures.py) through
//! `metadata::extract_path`, container parsers and AI detection together, compared with
//! tests/fixtures/ai/expected.json.

use std::path::{Path, PathBuf};

use events::media::AiInfo;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ai")
}

fn check(name: &str, expected: &Value, got: Option<&AiInfo>) -> Result<(), String> {
    let Some(exp) = expected.as_object() else {
        return match got {
            None => Ok(()),
            Some(ai) => Err(format!(
                "{name}: expected no AI source, got {} ({})",
                ai.source, ai.evidence
            )),
        };
    };
    let Some(ai) = got else {
        return Err(format!(
            "{name}: expected {}, got no AI source",
            exp["source"]
        ));
    };
    let mut errs = Vec::new();
    let mut cmp = |field: &str, got: Value| {
        if exp[field] != got {
            errs.push(format!(
                "{name}: {field} expected {} got {got} (evidence {})",
                exp[field], ai.evidence
            ));
        }
    };
    cmp("source", Value::from(ai.source.as_str()));
    cmp(
        "signal",
        serde_json::to_value(ai.signal).unwrap_or(Value::Null),
    );
    cmp("prompt", ai.prompt.clone().map_or(Value::Null, Value::from));
    cmp("seed", ai.seed.map_or(Value::Null, Value::from));
    cmp("model", ai.model.clone().map_or(Value::Null, Value::from));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

fn load_expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixtures().join("expected.json"))
        .expect("expected.json is committed");
    serde_json::from_str(&text).expect("expected.json parses")
}

#[test]
fn every_fixture_matches_expected_json() {
    let dir = fixtures();
    let expected = load_expected();
    assert!(
        expected.len() >= 15,
        "manifest lists {} fixtures",
        expected.len()
    );

    // Every file in the directory is listed, so a new fixture cannot be silently skipped.
    for entry in std::fs::read_dir(&dir).expect("fixture dir") {
        let name = entry
            .expect("dir entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            name == "expected.json" || expected.contains_key(&name),
            "{name} missing from expected.json"
        );
    }

    let mut failures = Vec::new();
    for (name, exp) in &expected {
        let extraction = metadata::extract_path(&dir.join(name)).expect("fixture readable");
        if let Err(e) = check(name, exp, extraction.info.ai.as_ref()) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The generators' files are valid; none should be reported as corrupt. A1111 writes JPEG
/// EXIF with piexif, whose Exif sub-IFD has no next-IFD pointer (exiftool reads it fine).
#[test]
fn fixtures_extract_without_error() {
    let dir = fixtures();
    let mut failures = Vec::new();
    for name in load_expected().keys() {
        let extraction = metadata::extract_path(&dir.join(name)).expect("fixture readable");
        if let Some(err) = &extraction.error {
            failures.push(format!("{name}: {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) reported as corrupt:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
