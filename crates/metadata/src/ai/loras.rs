//! LoRA references as the tools write them: A1111 `<lora:name:weight>` prompt tags with the
//! `Lora hashes: "name: hash, …"` parameter, ComfyUI loader nodes, InvokeAI and Fooocus lists.

use events::media::LoraRef;
use serde_json::Value;

use super::text::{cap, json_f64, json_str, parse_cfg};

/// Most LoRAs kept for one image (a prompt can repeat tags; a list is not a document).
pub(crate) const MAX_LORAS: usize = 64;

/// Adds `name` unless a LoRA of that name is already listed; fills in a missing weight or
/// hash on the listed one.
pub(crate) fn push(list: &mut Vec<LoraRef>, name: &str, weight: Option<f64>, hash: Option<String>) {
    let name = name.trim();
    if name.is_empty() {
        return;
    }
    if let Some(l) = list.iter_mut().find(|l| l.name == name) {
        l.weight = l.weight.or(weight);
        l.hash = l.hash.take().or(hash);
        return;
    }
    if list.len() < MAX_LORAS {
        list.push(LoraRef {
            name: cap(name),
            weight,
            hash,
        });
    }
}

/// `<lora:name:weight>` and `<lyco:name:weight>` tags of an A1111 prompt, in prompt order.
/// A tag may carry a second (UNet) weight, `<lora:name:0.8:0.6>`; the first weight is kept.
pub(crate) fn prompt_tags(prompt: &str, list: &mut Vec<LoraRef>) {
    let mut rest = prompt;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let Some(body) = tag
            .strip_prefix("lora:")
            .or_else(|| tag.strip_prefix("lyco:"))
        else {
            continue;
        };
        let mut parts = body.split(':');
        let name = parts.next().unwrap_or_default();
        let weight = parts.next().and_then(parse_cfg);
        push(list, name, weight, None);
    }
}

/// A1111 `Lora hashes: "name: hash, name2: hash2"` (already unquoted).
pub(crate) fn a1111_hashes(value: &str, list: &mut Vec<LoraRef>) {
    for pair in value.split(',') {
        if let Some((name, hash)) = pair.rsplit_once(':') {
            let hash = hash.trim();
            push(list, name, None, (!hash.is_empty()).then(|| cap(hash)));
        }
    }
}

/// InvokeAI `loras`: `[{"model": {"name", "hash"}, "weight"}]` (4.x/5.x) or
/// `[{"lora": {"model_name"}, "weight"}]` (3.x).
pub(crate) fn invokeai(v: Option<&Value>, list: &mut Vec<LoraRef>) {
    for item in v.and_then(Value::as_array).into_iter().flatten() {
        let model = item.get("model").or_else(|| item.get("lora"));
        let Some(name) = model
            .and_then(|m| m.get("name").or_else(|| m.get("model_name")))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let hash = model.and_then(|m| m.get("hash")).and_then(json_str);
        push(list, name, item.get("weight").and_then(json_f64), hash);
    }
}

/// Fooocus `loras`: `[[name, weight, hash], …]`; older files only have
/// `lora_combined_N: "name.safetensors : weight"`.
pub(crate) fn fooocus(m: &serde_json::Map<String, Value>, list: &mut Vec<LoraRef>) {
    for item in m
        .get("loras")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(fields) = item.as_array() else {
            continue;
        };
        if let Some(name) = fields.first().and_then(Value::as_str) {
            let weight = fields.get(1).and_then(json_f64);
            let hash = fields.get(2).and_then(json_str);
            push(list, name, weight, hash);
        }
    }
    if !list.is_empty() {
        return;
    }
    for i in 1..=MAX_LORAS {
        let Some(v) = m.get(&format!("lora_combined_{i}")).and_then(Value::as_str) else {
            break;
        };
        if let Some((name, weight)) = v.rsplit_once(" : ") {
            push(list, name, parse_cfg(weight), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[LoraRef]) -> Vec<(&str, Option<f64>, Option<&str>)> {
        list.iter()
            .map(|l| (l.name.as_str(), l.weight, l.hash.as_deref()))
            .collect()
    }

    #[test]
    fn a1111_tags_and_hashes_merge() {
        let mut l = Vec::new();
        prompt_tags(
            "a castle, <lora:add_detail:0.8>, <lyco:film:1:0.5> <hypernet:x:1> <lora:broken",
            &mut l,
        );
        a1111_hashes("add_detail: 7c6bad76eb54, other: 123", &mut l);
        assert_eq!(
            names(&l),
            vec![
                ("add_detail", Some(0.8), Some("7c6bad76eb54")),
                ("film", Some(1.0), None),
                ("other", None, Some("123")),
            ]
        );
    }

    #[test]
    fn fooocus_lists_and_combined_strings() {
        let v: Value = serde_json::json!({"loras": [["a", 0.5, "h1"], "junk", []]});
        let mut l = Vec::new();
        fooocus(v.as_object().expect("test input"), &mut l);
        assert_eq!(names(&l), vec![("a", Some(0.5), Some("h1"))]);
        let v: Value = serde_json::json!({"lora_combined_1": "b.safetensors : 0.25"});
        let mut l = Vec::new();
        fooocus(v.as_object().expect("test input"), &mut l);
        assert_eq!(names(&l), vec![("b.safetensors", Some(0.25), None)]);
    }
}
