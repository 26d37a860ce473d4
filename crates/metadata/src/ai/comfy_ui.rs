//! ComfyUI's UI-format workflow (`{"nodes": [...], "links": [...]}`) as an API-format graph,
//! so the same walk reads both. Some save nodes and exports keep only the workflow.
//!
//! A UI node keeps its widget values as a positional list (`widgets_values`), its linked
//! inputs as `{"name", "link"}`; `links` maps a link id to its origin node and slot. The
//! editor-only nodes are resolved the way the editor does before it queues a prompt: a
//! `Reroute` passes its input through, a `PrimitiveNode` puts its value into the widget it
//! feeds. Widget names are known for the core nodes the parameter walk reads; other nodes
//! keep only their links (or their widgets when a node saves them as an object).

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Most nodes converted (ComfyUI workflows with a few hundred nodes are large ones).
const MAX_NODES: usize = 4096;
/// Longest chain of reroutes followed.
const MAX_REROUTES: usize = 64;

/// Widget names in `widgets_values` order. The "control after generate" combo that follows
/// a seed widget is skipped where present (see [`is_seed_control`]).
const WIDGETS: &[(&str, &[&str])] = &[
    (
        "KSampler",
        &[
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise",
        ],
    ),
    (
        "KSamplerAdvanced",
        &[
            "add_noise",
            "noise_seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "start_at_step",
            "end_at_step",
            "return_with_leftover_noise",
        ],
    ),
    ("SamplerCustom", &["add_noise", "noise_seed", "cfg"]),
    ("RandomNoise", &["noise_seed"]),
    ("KSamplerSelect", &["sampler_name"]),
    ("BasicScheduler", &["scheduler", "steps", "denoise"]),
    ("CFGGuider", &["cfg"]),
    ("FluxGuidance", &["guidance"]),
    ("CLIPTextEncode", &["text"]),
    ("CLIPTextEncodeFlux", &["clip_l", "t5xxl", "guidance"]),
    (
        "CLIPTextEncodeSDXL",
        &[
            "width",
            "height",
            "crop_w",
            "crop_h",
            "target_width",
            "target_height",
            "text_g",
            "text_l",
        ],
    ),
    ("CheckpointLoaderSimple", &["ckpt_name"]),
    ("CheckpointLoader", &["config_name", "ckpt_name"]),
    ("UNETLoader", &["unet_name", "weight_dtype"]),
    ("UnetLoaderGGUF", &["unet_name"]),
    (
        "LoraLoader",
        &["lora_name", "strength_model", "strength_clip"],
    ),
    ("LoraLoaderModelOnly", &["lora_name", "strength_model"]),
    ("EmptyLatentImage", &["width", "height", "batch_size"]),
    ("EmptySD3LatentImage", &["width", "height", "batch_size"]),
];

fn is_seed_control(v: &Value) -> bool {
    matches!(
        v.as_str(),
        Some("fixed" | "increment" | "decrement" | "randomize")
    )
}

/// A node id as the API graph spells it (a string).
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Link id → (origin node id, origin slot), from `[id, origin, slot, target, slot, type]`
/// arrays or `{"id", "origin_id", "origin_slot"}` objects.
fn link_table(workflow: &Value) -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    for l in workflow
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_NODES * 8)
    {
        let parts = match l {
            Value::Array(a) => (a.first(), a.get(1), a.get(2)),
            Value::Object(o) => (o.get("id"), o.get("origin_id"), o.get("origin_slot")),
            _ => continue,
        };
        if let (Some(id), Some(origin), Some(slot)) = parts
            && let (Some(id), Some(origin)) = (id_of(id), id_of(origin))
        {
            out.insert(id, (origin, slot.clone()));
        }
    }
    out
}

struct Ui<'a> {
    nodes: HashMap<String, &'a Map<String, Value>>,
    links: HashMap<String, (String, Value)>,
}

impl Ui<'_> {
    fn node_type(&self, id: &str) -> &str {
        self.nodes
            .get(id)
            .and_then(|n| n.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// What an input linked by `link` receives: `["<origin id>", slot]`, or the literal value
    /// of a `PrimitiveNode`, after passing through reroutes.
    fn resolve(&self, link: &Value) -> Option<Value> {
        let mut key = id_of(link)?;
        for _ in 0..MAX_REROUTES {
            let (origin, slot) = self.links.get(&key)?;
            let node = self.nodes.get(origin)?;
            match self.node_type(origin) {
                "Reroute" => {
                    key = node
                        .get("inputs")
                        .and_then(Value::as_array)
                        .and_then(|i| i.first())
                        .and_then(|i| i.get("link"))
                        .and_then(id_of)?;
                }
                "PrimitiveNode" => {
                    return node
                        .get("widgets_values")
                        .and_then(Value::as_array)
                        .and_then(|w| w.first())
                        .cloned();
                }
                _ => {
                    return Some(Value::Array(vec![
                        Value::String(origin.clone()),
                        slot.clone(),
                    ]));
                }
            }
        }
        None
    }

    fn api_inputs(&self, class: &str, node: &Map<String, Value>) -> Map<String, Value> {
        let mut inputs = Map::new();
        match node.get("widgets_values") {
            Some(Value::Object(named)) => inputs.extend(named.clone()),
            Some(Value::Array(values)) => {
                if let Some((_, names)) = WIDGETS.iter().find(|(c, _)| *c == class) {
                    let mut values = values.iter().peekable();
                    for name in *names {
                        let Some(v) = values.next() else { break };
                        inputs.insert((*name).to_owned(), v.clone());
                        if name.ends_with("seed")
                            && values.peek().is_some_and(|v| is_seed_control(v))
                        {
                            values.next();
                        }
                    }
                }
            }
            _ => {}
        }
        for input in node
            .get("inputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(link)) = (
                input.get("name").and_then(Value::as_str),
                input.get("link").filter(|l| !l.is_null()),
            ) else {
                continue;
            };
            if let Some(v) = self.resolve(link) {
                inputs.insert(name.to_owned(), v);
            }
        }
        inputs
    }
}

/// The API-format equivalent of a UI workflow; `None` when `workflow` has no node list.
pub(crate) fn to_api_graph(workflow: &Value) -> Option<Map<String, Value>> {
    let list = workflow.get("nodes")?.as_array()?;
    let nodes: HashMap<String, &Map<String, Value>> = list
        .iter()
        .take(MAX_NODES)
        .filter_map(|n| {
            let n = n.as_object()?;
            Some((id_of(n.get("id")?)?, n))
        })
        .collect();
    let ui = Ui {
        nodes,
        links: link_table(workflow),
    };
    let mut graph = Map::new();
    for (id, node) in &ui.nodes {
        let class = ui.node_type(id);
        // Muted (2) and bypassed (4) nodes did not run.
        let mode = node.get("mode").and_then(Value::as_u64).unwrap_or(0);
        if class.is_empty()
            || matches!(class, "Reroute" | "PrimitiveNode" | "Note")
            || mode == 2
            || mode == 4
        {
            continue;
        }
        let mut api = Map::new();
        api.insert("class_type".to_owned(), Value::String(class.to_owned()));
        api.insert(
            "inputs".to_owned(),
            Value::Object(ui.api_inputs(class, node)),
        );
        graph.insert(id.clone(), Value::Object(api));
    }
    Some(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn primitives_and_reroutes_are_resolved() {
        let wf = json!({
            "nodes": [
                {"id": 1, "type": "KSampler", "mode": 0, "widgets_values": [5, "randomize", 20, 7.0, "euler", "normal", 1.0],
                 "inputs": [{"name": "model", "link": 2}, {"name": "seed", "link": 3, "widget": {"name": "seed"}},
                            {"name": "positive", "link": null}]},
                {"id": 2, "type": "Reroute", "inputs": [{"name": "", "link": 1}]},
                {"id": 3, "type": "CheckpointLoaderSimple", "widgets_values": ["m.safetensors"]},
                {"id": 4, "type": "PrimitiveNode", "widgets_values": [99, "fixed"]},
                {"id": 5, "type": "KSampler", "mode": 4, "widgets_values": [1, 1, 1, "x", "y", 1.0]}
            ],
            "links": [[1, 3, 0, 2, 0, "MODEL"], [2, 2, 0, 1, 0, "MODEL"], {"id": 3, "origin_id": 4, "origin_slot": 0}]
        });
        let g = to_api_graph(&wf).expect("graph");
        assert_eq!(g.len(), 2, "{g:?}");
        let k = &g["1"]["inputs"];
        assert_eq!(k["seed"], json!(99));
        assert_eq!(k["steps"], json!(20));
        assert_eq!(k["scheduler"], json!("normal"));
        assert_eq!(k["model"], json!(["3", 0]));
        assert!(k.get("positive").is_none());
    }

    #[test]
    fn reroute_cycles_and_missing_links_end() {
        let wf = json!({
            "nodes": [
                {"id": 1, "type": "KSampler", "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 9}]},
                {"id": 2, "type": "Reroute", "inputs": [{"name": "", "link": 1}]}
            ],
            "links": [[1, 2, 0, 1, 0, "MODEL"]]
        });
        let g = to_api_graph(&wf).expect("graph");
        assert!(g["1"]["inputs"].get("model").is_none());
        assert!(to_api_graph(&json!({"links": []})).is_none());
    }
}
