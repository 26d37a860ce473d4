//! Keeps docs/events.md honest: every example parses as the real type, re-serializes to the
//! same JSON, and every known event type has an example.

use events::{Event, Payload};

fn examples() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md"))
        .expect("docs/events.md is readable");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```json") => cur = Some(String::new()),
            (Some(buf), "```") => {
                out.push(std::mem::take(buf));
                cur = None;
            }
            (Some(buf), l) => {
                buf.push_str(l);
                buf.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn every_example_parses_and_round_trips() {
    let examples = examples();
    assert!(!examples.is_empty());
    for ex in &examples {
        let ev = Event::from_json(ex).unwrap_or_else(|e| panic!("{e}\n{ex}"));
        assert!(
            !matches!(ev.payload, Payload::Unknown { .. }),
            "unknown type in docs:\n{ex}"
        );
        let original: serde_json::Value = serde_json::from_str(ex).unwrap();
        let again: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(
            again["data"],
            original["data"],
            "data drifted for {}",
            ev.type_name()
        );
        for key in [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "datacontenttype",
            "correlationid",
        ] {
            assert_eq!(again[key], original[key], "{key} of {}", ev.type_name());
        }
    }
}

#[test]
fn every_known_type_is_documented() {
    let documented: Vec<String> = examples()
        .iter()
        .map(|ex| Event::from_json(ex).unwrap().type_name().to_owned())
        .collect();
    for t in Payload::KNOWN_TYPES {
        assert!(
            documented.iter().any(|d| d == t),
            "{t} has no example in docs/events.md"
        );
    }
}
