//! ComfyUI graphs.
//!
//! ComfyUI's `SaveImage` node (nodes.py) writes two PNG text chunks: `prompt`, the executed
//! graph in API format (`{"<node id>": {"class_type": "KSampler", "inputs": {...}}}`, where a
//! link is `["<node id>", <output index>]`), and `workflow`, the editor's UI graph
//! (`{"nodes": [...], "links": [...]}`). Generation parameters come from the API graph: find
//! the sampler, then walk its links back to the text encoders, the model loader and the
//! latent. Walks are bounded in depth and node count and never revisit a node, so cycles and
//! dangling links end the walk instead of hanging or panicking.

use std::collections::HashSet;

use events::media::{AiInfo, LoraRef};
use serde_json::{Map, Value};

use super::text::{json_f64, json_seed, json_size, json_steps, non_empty};

/// Deepest chain of links followed from the sampler.
const MAX_DEPTH: usize = 48;
/// Most nodes visited by one walk (wide graphs of conditioning combiners).
const MAX_VISITS: usize = 1024;
/// Most prompt fragments collected for one polarity.
const MAX_TEXTS: usize = 32;

/// Node classes that sample (core ComfyUI plus the common custom samplers).
const SAMPLER_CLASSES: [&str; 6] = [
    "KSampler",
    "KSamplerAdvanced",
    "SamplerCustom",
    "SamplerCustomAdvanced",
    "KSampler (Efficient)",
    "KSamplerAdvanced (Efficient)",
];

/// Inputs of a text encoder that hold the prompt, best first. `CLIPTextEncodeFlux` has `t5xxl`
/// and `clip_l`, `CLIPTextEncodeSDXL` has `text_g` and `text_l`.
const TEXT_KEYS: [&str; 7] = [
    "text", "t5xxl", "text_g", "prompt", "clip_l", "text_l", "string",
];

/// Inputs that name the loaded model, on loader nodes.
const MODEL_NAME_KEYS: [&str; 5] = [
    "ckpt_name",
    "unet_name",
    "model_path",
    "gguf_name",
    "base_ckpt_name",
];

/// Whether `v` is an API-format graph: an object of nodes that carry a `class_type`.
pub(crate) fn is_api_graph(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.values()
            .any(|n| n.get("class_type").is_some_and(Value::is_string))
    })
}

/// Whether `v` is a UI-format workflow (`{"nodes": [...], ...}`).
pub(crate) fn is_ui_workflow(v: &Value) -> bool {
    v.get("nodes").is_some_and(Value::is_array)
}

/// Reads the generation parameters of an API graph into `info`. Returns `false` when the
/// graph has no sampler.
pub(crate) fn read_api_graph(graph: &Map<String, Value>, info: &mut AiInfo) -> bool {
    let g = Graph { nodes: graph };
    let Some(inputs) = g.pick_sampler().and_then(|id| g.inputs(id)) else {
        return false;
    };
    let guider = g.linked_inputs(inputs, "guider");
    let sigmas = g.linked_inputs(inputs, "sigmas");
    let noise = g.linked_inputs(inputs, "noise");
    let sampler_select = g.linked_inputs(inputs, "sampler");

    info.seed = g
        .number(inputs, &["seed", "noise_seed"], json_seed)
        .or_else(|| noise.and_then(|n| g.number(n, &["noise_seed", "seed"], json_seed)));
    info.steps = g
        .number(inputs, &["steps"], json_steps)
        .or_else(|| sigmas.and_then(|s| g.number(s, &["steps"], json_steps)));
    info.cfg_scale = g
        .number(inputs, &["cfg"], json_f64)
        .or_else(|| guider.and_then(|gd| g.number(gd, &["cfg"], json_f64)));
    info.sampler = g
        .string(inputs, "sampler_name")
        .or_else(|| sampler_select.and_then(|s| g.string(s, "sampler_name")));
    info.scheduler = g
        .string(inputs, "scheduler")
        .or_else(|| sigmas.and_then(|s| g.string(s, "scheduler")));

    // Conditioning enters either on the sampler itself or on its guider (CFGGuider has
    // positive/negative, BasicGuider a single `conditioning`).
    let cond_source = |key: &str| -> Option<&str> {
        if let Some(id) = link_target_of(inputs, key) {
            return Some(id);
        }
        let gd = guider?;
        link_target_of(gd, key).or_else(|| {
            if key == "positive" {
                link_target_of(gd, "conditioning")
            } else {
                None
            }
        })
    };
    if let Some(id) = cond_source("positive") {
        let walk = g.prompt_walk(id, Polarity::Positive);
        info.prompt = walk.text();
        info.guidance = walk.guidance;
    }
    info.negative_prompt =
        cond_source("negative").and_then(|id| g.prompt_walk(id, Polarity::Negative).text());

    let model_root = link_target_of(inputs, "model")
        .or_else(|| guider.and_then(|gd| link_target_of(gd, "model")))
        .or_else(|| sigmas.and_then(|s| link_target_of(s, "model")));
    if let Some(id) = model_root {
        info.model = g.model_chain(id, &mut info.loras);
    }
    info.size = link_target_of(inputs, "latent_image").and_then(|id| g.latent_size(id));
    true
}

/// What a walk back from a sampler's conditioning input found.
struct PromptWalk {
    texts: Vec<String>,
    guidance: Option<f64>,
}

impl PromptWalk {
    fn text(&self) -> Option<String> {
        non_empty(&self.texts.join("\n"))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Polarity {
    Positive,
    Negative,
}

impl Polarity {
    fn key(self) -> &'static str {
        match self {
            Polarity::Positive => "positive",
            Polarity::Negative => "negative",
        }
    }
}

/// A link `["<id>", <slot>]` (ids are strings in saved graphs, numbers in some exporters).
fn link_target(v: &Value) -> Option<&str> {
    let arr = v.as_array()?;
    if arr.len() != 2 || !arr[1].is_number() {
        return None;
    }
    arr[0].as_str()
}

fn link_target_of<'a>(inputs: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    link_target(inputs.get(key)?)
}

struct Graph<'a> {
    nodes: &'a Map<String, Value>,
}

impl<'a> Graph<'a> {
    fn node(&self, id: &str) -> Option<&'a Map<String, Value>> {
        self.nodes.get(id)?.as_object()
    }

    fn class(&self, id: &str) -> Option<&'a str> {
        self.node(id)?.get("class_type")?.as_str()
    }

    fn inputs(&self, id: &str) -> Option<&'a Map<String, Value>> {
        self.node(id)?.get("inputs")?.as_object()
    }

    fn linked_inputs(
        &self,
        inputs: &Map<String, Value>,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        self.inputs(link_target(inputs.get(key)?)?)
    }

    /// The sampler whose parameters describe the image. Hires-fix graphs have a second pass
    /// with `denoise < 1` that re-samples the first pass's latent; the first pass carries the
    /// real prompt and seed, so full-denoise samplers win, then the lowest node id (the order
    /// the user built the graph in).
    fn pick_sampler(&self) -> Option<&'a str> {
        let mut best: Option<(bool, u64, &'a str)> = None;
        for (id, node) in self.nodes {
            let Some(inputs) = node.get("inputs").and_then(Value::as_object) else {
                continue;
            };
            let class = node.get("class_type").and_then(Value::as_str).unwrap_or("");
            let known = SAMPLER_CLASSES.contains(&class);
            let looks_like = inputs.contains_key("steps")
                && (inputs.contains_key("seed") || inputs.contains_key("noise_seed"))
                && inputs.contains_key("positive");
            if !(known || looks_like) {
                continue;
            }
            // A refiner or hires pass: denoise < 1, or a KSamplerAdvanced that adds no noise
            // or starts late (`add_noise: disable`, `start_at_step > 0`).
            let partial = inputs
                .get("denoise")
                .and_then(Value::as_f64)
                .is_some_and(|d| d < 1.0)
                || inputs.get("add_noise").and_then(Value::as_str) == Some("disable")
                || inputs
                    .get("start_at_step")
                    .and_then(Value::as_u64)
                    .is_some_and(|s| s > 0);
            let key = (partial, id.parse::<u64>().unwrap_or(u64::MAX), id.as_str());
            if best.is_none_or(|b| (key.0, key.1, key.2) < b) {
                best = Some(key);
            }
        }
        best.map(|b| b.2)
    }

    /// A string input, following links to primitive / text nodes.
    fn string(&self, inputs: &Map<String, Value>, key: &str) -> Option<String> {
        self.resolve_string(inputs.get(key)?, 0)
    }

    fn resolve_string(&self, v: &Value, depth: usize) -> Option<String> {
        if let Some(s) = v.as_str() {
            return non_empty(s);
        }
        if depth >= 8 {
            return None;
        }
        let inputs = self.inputs(link_target(v)?)?;
        ["text", "string", "value", "prompt", "text_a", "STRING"]
            .iter()
            .filter_map(|k| inputs.get(*k))
            .find_map(|v| self.resolve_string(v, depth + 1))
    }

    /// A numeric input, following links to primitive / seed nodes.
    fn number<T>(
        &self,
        inputs: &Map<String, Value>,
        keys: &[&str],
        read: fn(&Value) -> Option<T>,
    ) -> Option<T> {
        keys.iter()
            .filter_map(|k| inputs.get(*k))
            .find_map(|v| self.resolve_number(v, keys, read, 0))
    }

    fn resolve_number<T>(
        &self,
        v: &Value,
        keys: &[&str],
        read: fn(&Value) -> Option<T>,
        depth: usize,
    ) -> Option<T> {
        if let Some(x) = read(v) {
            return Some(x);
        }
        if depth >= 8 {
            return None;
        }
        let inputs = self.inputs(link_target(v)?)?;
        keys.iter()
            .copied()
            .chain(["value", "int", "float", "number", "seed"])
            .filter_map(|k| inputs.get(k))
            .find_map(|v| self.resolve_number(v, keys, read, depth + 1))
    }

    /// The prompt text reaching the sampler's `positive` or `negative` input: the texts of all
    /// encoders found by walking back through conditioning nodes (ConditioningCombine,
    /// ControlNetApply, FluxGuidance, …), in walk order, without duplicates; and the distilled
    /// guidance of a `FluxGuidance` node met on the way.
    fn prompt_walk(&self, root: &'a str, polarity: Polarity) -> PromptWalk {
        let mut walk = PromptWalk {
            texts: Vec::new(),
            guidance: None,
        };
        let mut visited: HashSet<&str> = HashSet::new();
        self.collect_texts(root, polarity, 0, &mut visited, &mut walk);
        walk
    }

    fn collect_texts(
        &self,
        id: &'a str,
        polarity: Polarity,
        depth: usize,
        visited: &mut HashSet<&'a str>,
        walk: &mut PromptWalk,
    ) {
        if depth > MAX_DEPTH
            || visited.len() >= MAX_VISITS
            || walk.texts.len() >= MAX_TEXTS
            || !visited.insert(id)
        {
            return;
        }
        let Some(inputs) = self.inputs(id) else {
            return;
        };
        let class = self.class(id).unwrap_or("");
        if class == "FluxGuidance" && walk.guidance.is_none() {
            walk.guidance = self.number(inputs, &["guidance"], json_f64);
        }

        if class.contains("TextEncode")
            || TEXT_KEYS
                .iter()
                .any(|k| inputs.get(*k).is_some_and(Value::is_string))
        {
            // Efficiency-style loaders carry both prompts as string inputs named by polarity.
            let text = inputs
                .get(polarity.key())
                .filter(|v| v.is_string())
                .and_then(|v| self.resolve_string(v, 0))
                .or_else(|| {
                    TEXT_KEYS
                        .iter()
                        .filter_map(|k| inputs.get(*k))
                        .find_map(|v| self.resolve_string(v, 0))
                });
            if let Some(t) = text {
                if !walk.texts.contains(&t) {
                    walk.texts.push(t);
                }
                return;
            }
        }

        // Pass-through and combining nodes: follow conditioning inputs. A node with both
        // positive and negative (ControlNetApplyAdvanced) is followed on our polarity only.
        let mut next: Vec<&'a str> = Vec::new();
        if let Some(t) = inputs.get(polarity.key()).and_then(link_target) {
            next.push(t);
        }
        let mut cond_keys: Vec<&'a String> = inputs
            .keys()
            .filter(|k| k.starts_with("conditioning"))
            .collect();
        cond_keys.sort_by(|a, b| cond_order(a).cmp(&cond_order(b)).then_with(|| a.cmp(b)));
        for k in cond_keys {
            if let Some(t) = inputs.get(k.as_str()).and_then(link_target) {
                next.push(t);
            }
        }
        for t in next {
            self.collect_texts(t, polarity, depth + 1, visited, walk);
        }
    }

    /// The checkpoint or UNet name at the end of the model chain (through LoRA loaders,
    /// model-sampling patches and the like, which all pass the model on their `model` input).
    /// LoRA loaders met on the way are added to `loras` in the order they were applied
    /// (nearest the checkpoint first).
    fn model_chain(&self, root: &'a str, loras: &mut Vec<LoraRef>) -> Option<String> {
        let mut id = root;
        let mut visited: HashSet<&str> = HashSet::new();
        let mut found: Vec<LoraRef> = Vec::new();
        let mut name = None;
        for _ in 0..MAX_DEPTH {
            if !visited.insert(id) {
                break;
            }
            let Some(inputs) = self.inputs(id) else { break };
            self.lora_loader(inputs, &mut found);
            name = MODEL_NAME_KEYS
                .iter()
                .filter_map(|k| inputs.get(*k))
                .find_map(|v| self.resolve_string(v, 0));
            if name.is_some() {
                break;
            }
            match link_target_of(inputs, "model") {
                Some(next) => id = next,
                None => break,
            }
        }
        for l in found.into_iter().rev() {
            super::loras::push(loras, &l.name, l.weight, l.hash);
        }
        name
    }

    /// The LoRAs a loader node applies: `LoraLoader`/`LoraLoaderModelOnly` (`lora_name`,
    /// `strength_model`), and stack nodes whose inputs are `{on, lora, strength}` objects
    /// (rgthree Power Lora Loader). Collected in walk order (nearest the sampler first).
    fn lora_loader(&self, inputs: &Map<String, Value>, out: &mut Vec<LoraRef>) {
        let strength = |m: &Map<String, Value>, keys: &[&str]| {
            keys.iter()
                .filter_map(|k| m.get(*k))
                .find_map(|v| self.resolve_number(v, &["strength"], json_f64, 0))
        };
        if let Some(name) = self.string(inputs, "lora_name") {
            let w = strength(inputs, &["strength_model", "strength"]);
            out.push(LoraRef {
                name,
                weight: w,
                hash: None,
            });
        }
        let mut stacked: Vec<(&String, &Map<String, Value>)> = inputs
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_object()?)))
            .filter(|(_, m)| m.get("on").and_then(Value::as_bool) == Some(true))
            .collect();
        stacked.sort_by_key(|(k, _)| (k.len(), *k));
        // Applied in key order, so walk order (nearest the sampler first) is the reverse.
        for (_, m) in stacked.into_iter().rev() {
            if let Some(name) = m.get("lora").and_then(Value::as_str).and_then(non_empty) {
                let w = strength(m, &["strength", "strength_model"]);
                out.push(LoraRef {
                    name,
                    weight: w,
                    hash: None,
                });
            }
        }
    }

    /// `WxH` of the empty latent the sampler starts from (EmptyLatentImage,
    /// EmptySD3LatentImage, …), following latent pass-through nodes.
    fn latent_size(&self, root: &'a str) -> Option<String> {
        let mut id = root;
        let mut visited: HashSet<&str> = HashSet::new();
        for _ in 0..MAX_DEPTH {
            if !visited.insert(id) {
                return None;
            }
            let inputs = self.inputs(id)?;
            let w = inputs
                .get("width")
                .and_then(|v| self.resolve_number(v, &["width"], json_steps, 0));
            let h = inputs
                .get("height")
                .and_then(|v| self.resolve_number(v, &["height"], json_steps, 0));
            if let (Some(w), Some(h)) = (w, h) {
                return json_size(Some(&Value::from(w)), Some(&Value::from(h)));
            }
            id = ["samples", "latent_image", "latent", "latents"]
                .iter()
                .find_map(|k| link_target_of(inputs, k))?;
        }
        None
    }
}

/// `conditioning` first, then `conditioning_1`, `conditioning_2`, …, then `_to`/`_from`.
fn cond_order(key: &str) -> u32 {
    match key {
        "conditioning" => 0,
        "conditioning_to" => 1000,
        "conditioning_from" => 1001,
        k => k
            .strip_prefix("conditioning_")
            .and_then(|n| n.parse::<u32>().ok())
            .map_or(2000, |n| n.saturating_add(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::media::{AiSignal, AiSource};
    use serde_json::json;

    fn parse(v: Value) -> AiInfo {
        let mut info = AiInfo::new(AiSource::Comfyui, AiSignal::Metadata, "t");
        assert!(read_api_graph(
            v.as_object().expect("test input"),
            &mut info
        ));
        info
    }

    #[test]
    fn default_txt2img_graph() {
        let g = json!({
            "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286u64, "steps": 20, "cfg": 8.0,
                  "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                  "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}}
        });
        let p = parse(g);
        assert_eq!(p.prompt.as_deref(), Some("beautiful scenery"));
        assert_eq!(p.negative_prompt.as_deref(), Some("text, watermark"));
        assert_eq!(p.model.as_deref(), Some("v1-5-pruned-emaonly.safetensors"));
        assert_eq!(p.seed, Some(156680208700286));
        assert_eq!(p.steps, Some(20));
        assert_eq!(p.cfg_scale, Some(8.0));
        assert_eq!(p.sampler.as_deref(), Some("euler"));
        assert_eq!(p.scheduler.as_deref(), Some("normal"));
        assert_eq!(p.size.as_deref(), Some("512x512"));
    }

    #[test]
    fn flux_custom_advanced_graph() {
        let g = json!({
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["11", 0]}},
            "12": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
            "13": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["25", 0], "guider": ["22", 0],
                   "sampler": ["16", 0], "sigmas": ["17", 0], "latent_image": ["27", 0]}},
            "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
            "17": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 28, "denoise": 1.0, "model": ["30", 0]}},
            "22": {"class_type": "BasicGuider", "inputs": {"model": ["30", 0], "conditioning": ["26", 0]}},
            "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 42}},
            "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["6", 0]}},
            "27": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
            "30": {"class_type": "ModelSamplingFlux", "inputs": {"model": ["31", 0], "max_shift": 1.15}},
            "31": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["12", 0], "lora_name": "x.safetensors"}}
        });
        let p = parse(g);
        assert_eq!(p.prompt.as_deref(), Some("a fox"));
        assert_eq!(p.negative_prompt, None);
        assert_eq!(p.model.as_deref(), Some("flux1-dev.safetensors"));
        assert_eq!(p.seed, Some(42));
        assert_eq!(p.steps, Some(28));
        assert_eq!(p.sampler.as_deref(), Some("euler"));
        assert_eq!(p.scheduler.as_deref(), Some("simple"));
        assert_eq!(p.size.as_deref(), Some("1024x768"));
        assert_eq!(p.guidance, Some(3.5));
        assert_eq!(p.cfg_scale, None);
        assert_eq!(p.loras.len(), 1);
        assert_eq!(p.loras[0].name, "x.safetensors");
    }

    #[test]
    fn cycles_and_dangling_links_end_the_walk() {
        let g = json!({
            "1": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 3, "sampler_name": "euler",
                  "scheduler": "normal", "model": ["2", 0], "positive": ["3", 0], "negative": ["99", 0], "latent_image": ["4", 0]}},
            "2": {"class_type": "LoraLoader", "inputs": {"model": ["5", 0]}},
            "5": {"class_type": "LoraLoader", "inputs": {"model": ["2", 0]}},
            "3": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0], "conditioning_2": ["3", 0]}},
            "6": {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["3", 0]}},
            "4": {"class_type": "LatentUpscale", "inputs": {"samples": ["4", 0]}}
        });
        let p = parse(g);
        assert_eq!(p.prompt, None);
        assert_eq!(p.negative_prompt, None);
        assert_eq!(p.model, None);
        assert_eq!(p.size, None);
        assert_eq!(p.seed, Some(1));
    }

    #[test]
    fn no_sampler_means_no_params() {
        let g = json!({"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}});
        let mut info = AiInfo::new(AiSource::Comfyui, AiSignal::Metadata, "t");
        assert!(!read_api_graph(
            g.as_object().expect("test input"),
            &mut info
        ));
    }

    #[test]
    fn deep_chains_are_bounded() {
        let mut m = Map::new();
        m.insert(
            "0".into(),
            json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 1, "positive": ["1", 0], "model": ["1", 0]}}),
        );
        for i in 1..5000 {
            m.insert(
                i.to_string(),
                json!({"class_type": "X", "inputs": {"conditioning": [(i + 1).to_string(), 0], "model": [(i + 1).to_string(), 0]}}),
            );
        }
        m.insert(
            "5000".into(),
            json!({"class_type": "CLIPTextEncode", "inputs": {"text": "too deep"}}),
        );
        let mut p = AiInfo::new(AiSource::Comfyui, AiSignal::Metadata, "t");
        assert!(read_api_graph(&m, &mut p));
        assert_eq!(p.prompt, None);
        assert_eq!(p.model, None);
    }
}
