//! End to end: real files (made by scripts/fixtures/make_ai_fixtures.py, written the way each
//! tool writes them) through `metadata::extract_path`, container parsers and AI detection
//! together, compared with tests/fixtures/ai/expected.json.
//!
//! The same manifest is the labelled set for the detection figures in docs/ai-detection.md:
//!
//!     cargo test -p metadata --test ai_fixtures labelled_set_figures -- --nocapture

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ai")
}

fn load_expected() -> Map<String, Value> {
    let text = std::fs::read_to_string(fixtures().join("expected.json"))
        .expect("expected.json is committed");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// `info.ai` of a fixture as JSON (`null` when no AI source was found).
fn detected(name: &str) -> Value {
    let extraction = metadata::extract_path(&fixtures().join(name)).expect("fixture readable");
    serde_json::to_value(&extraction.info.ai).expect("AiInfo serializes")
}

/// The value of `field` in a detected `AiInfo`; nested objects (`midjourney`) are compared on
/// the keys the expectation names, so a new key does not break an old expectation.
fn field_matches(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => e
            .iter()
            .all(|(k, v)| field_matches(v, g.get(k).unwrap_or(&Value::Null))),
        (Value::Object(e), Value::Null) => e.values().all(Value::is_null),
        (Value::Array(e), Value::Null) => e.is_empty(),
        _ => expected == got,
    }
}

fn check(name: &str, expected: &Value, got: &Value) -> Result<(), String> {
    let Some(exp) = expected.as_object() else {
        return match got {
            Value::Null => Ok(()),
            ai => Err(format!(
                "{name}: expected no AI source, got {} ({})",
                ai["source"], ai["evidence"]
            )),
        };
    };
    if got.is_null() {
        return Err(format!(
            "{name}: expected {}, got no AI source",
            exp["source"]
        ));
    }
    let errs: Vec<String> = exp
        .iter()
        .filter(|(field, want)| !field_matches(want, &got[field.as_str()]))
        .map(|(field, want)| {
            format!(
                "{name}: {field} expected {want} got {} (evidence {})",
                got[field.as_str()],
                got["evidence"]
            )
        })
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

#[test]
fn every_fixture_matches_expected_json() {
    let dir = fixtures();
    let expected = load_expected();
    assert!(
        expected.len() >= 40,
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

    let failures: Vec<String> = expected
        .iter()
        .filter_map(|(name, exp)| check(name, exp, &detected(name)).err())
        .collect();
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

/// Fields whose exactness the labelled-set figures report, in print order.
const FIELDS: [&str; 9] = [
    "prompt",
    "model",
    "seed",
    "steps",
    "sampler",
    "cfg_scale",
    "scheduler",
    "loras",
    "midjourney",
];

/// The six generation parameters the headline "exact fields" figure counts.
const HEADLINE: [&str; 6] = ["prompt", "model", "seed", "steps", "sampler", "cfg_scale"];

/// Source accuracy (negatives included) and per-field exactness over the labelled set. A field
/// counts where the expectation gives it a value; a value reported where the file has none
/// counts as wrong too. Fails on any false positive (a hard negative given a label).
#[test]
fn labelled_set_figures() {
    let expected = load_expected();
    let (mut right, mut negatives, mut false_positives) = (0usize, 0usize, Vec::new());
    let mut per_field = vec![(0usize, 0usize); FIELDS.len()];
    for (name, exp) in &expected {
        let got = detected(name);
        let source_ok = match exp {
            Value::Null => {
                negatives += 1;
                if !got.is_null() {
                    false_positives.push(format!("{name} -> {}", got["source"]));
                }
                got.is_null()
            }
            _ => got["source"] == exp["source"],
        };
        right += usize::from(source_ok);
        let Some(exp) = exp.as_object() else { continue };
        for (i, field) in FIELDS.iter().enumerate() {
            let want = exp.get(*field).unwrap_or(&Value::Null);
            let have = &got[*field];
            let want_empty = field_matches(want, &Value::Null);
            let have_empty = field_matches(&Value::Null, have) || have.is_null();
            if want_empty && have_empty {
                continue;
            }
            per_field[i].1 += 1;
            per_field[i].0 += usize::from(field_matches(want, have) && !want_empty);
        }
    }
    let total = expected.len();
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "labelled set: {total} files ({negatives} hard negatives); source right {right}/{total} \
         = {:.1}%; false positives {}",
        pct(right, total),
        false_positives.len()
    );
    let (mut head_ok, mut head_n) = (0, 0);
    for (field, (ok, n)) in FIELDS.iter().zip(&per_field) {
        println!("  {field:<10} {ok:>3}/{n:<3} = {:.1}%", pct(*ok, *n));
        if HEADLINE.contains(field) {
            head_ok += ok;
            head_n += n;
        }
    }
    println!(
        "  prompt/model/seed/steps/sampler/cfg exact: {head_ok}/{head_n} = {:.1}%",
        pct(head_ok, head_n)
    );
    assert!(
        false_positives.is_empty(),
        "hard negatives labelled: {false_positives:?}"
    );
}
