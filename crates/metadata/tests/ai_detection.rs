//! AI-source detection through the public API, with `Signals` built by hand (no container
//! parsing involved). One test per tool marking, the negatives the product must never label,
//! name/metadata disagreement, the FLUX rule, infotext edge cases and ComfyUI graph walks.

use events::media::{AiInfo, AiSignal, AiSource};
use metadata::Signals;
use metadata::ai::detect;

fn png(chunks: &[(&str, &str)]) -> Signals {
    Signals {
        png_text: chunks
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Signals::default()
    }
}

fn must(signals: &Signals, name: &str) -> AiInfo {
    detect(signals, name).unwrap_or_else(|| panic!("expected an AI source for {name}"))
}

const A1111: &str = "a lighthouse at dusk, (oil painting:1.2)\nNegative prompt: blurry, lowres\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.10.1";

#[test]
fn a1111_png_parameters() {
    let i = must(&png(&[("parameters", A1111)]), "00012-3141592653.png");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert_eq!(i.signal, AiSignal::Metadata);
    assert!(i.evidence.starts_with("png:parameters"), "{}", i.evidence);
    assert_eq!(
        i.prompt.as_deref(),
        Some("a lighthouse at dusk, (oil painting:1.2)")
    );
    assert_eq!(i.negative_prompt.as_deref(), Some("blurry, lowres"));
    assert_eq!(i.model.as_deref(), Some("sd_xl_base_1.0"));
    assert_eq!(i.model_hash.as_deref(), Some("31e35c80fc"));
    assert_eq!(i.seed, Some(3_141_592_653));
    assert_eq!(i.steps, Some(28));
    assert_eq!(i.sampler.as_deref(), Some("DPM++ 2M"));
    assert_eq!(i.scheduler.as_deref(), Some("Karras"));
    assert_eq!(i.cfg_scale, Some(6.5));
    assert_eq!(i.size.as_deref(), Some("832x1216"));
}

#[test]
fn a1111_jpeg_user_comment() {
    let s = Signals {
        exif_user_comment: Some(A1111.to_owned()),
        ..Signals::default()
    };
    let i = must(&s, "00012-3141592653.jpg");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert!(i.evidence.starts_with("exif:UserComment"), "{}", i.evidence);
    assert_eq!(i.seed, Some(3_141_592_653));
}

#[test]
fn forge_is_stable_diffusion_with_forge_evidence() {
    let t = "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model: dreamshaper_8, Version: f2.0.1v1.10.1-previous-313";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert!(i.evidence.contains("Forge"), "{}", i.evidence);
}

#[test]
fn infotext_edge_cases() {
    // Quoted values containing commas, multi-line prompt, no negative prompt.
    let t = "line one,\nline two\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Lora hashes: \"detail: abc123, style: def456\", Model: \"my, model\"";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.prompt.as_deref(), Some("line one,\nline two"));
    assert_eq!(i.negative_prompt, None);
    assert_eq!(i.model.as_deref(), Some("my, model"));
    assert_eq!(i.seed, Some(42));

    // Only a parameter line: still A1111, no prompt.
    let i = must(
        &png(&[(
            "parameters",
            "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 5",
        )]),
        "x.png",
    );
    assert_eq!(i.prompt, None);
    assert_eq!(i.steps, Some(20));

    // Negative prompt only, spanning lines.
    let t = "\nNegative prompt: bad hands\nbad feet\nSteps: 20, Sampler: Euler, Seed: 5";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.prompt, None);
    assert_eq!(i.negative_prompt.as_deref(), Some("bad hands\nbad feet"));

    // A `parameters` chunk that is prose is not infotext.
    assert_eq!(
        detect(
            &png(&[("parameters", "exported from my app, version 2")]),
            "x.png"
        ),
        None
    );
}

#[test]
fn comfyui_prompt_and_workflow() {
    let prompt = r#"{"3": {"class_type": "KSampler", "inputs": {"seed": 8, "steps": 20, "cfg": 7.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0, "model": ["10", 0], "positive": ["6", 0], "negative": ["6", 1], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "juggernautXL_v9.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["11", 0], "clip": ["11", 1], "lora_name": "a.safetensors"}},
        "11": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "b.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "6": {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["12", 0], "negative": ["13", 0], "strength": 1.0}},
        "12": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["14", 0], "conditioning_2": ["15", 0]}},
        "14": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "a glass teapot", "text_l": "a glass teapot", "clip": ["4", 1]}},
        "15": {"class_type": "CLIPTextEncode", "inputs": {"text": "studio lighting", "clip": ["4", 1]}},
        "13": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}}}"#;
    let workflow = r#"{"last_node_id": 15, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}"#;
    let i = must(
        &png(&[("prompt", prompt), ("workflow", workflow)]),
        "ComfyUI_00001_.png",
    );
    assert_eq!(i.source, AiSource::Comfyui);
    assert_eq!(i.signal, AiSignal::Metadata);
    assert_eq!(i.evidence, "png:prompt (ComfyUI API graph)");
    assert_eq!(i.prompt.as_deref(), Some("a glass teapot\nstudio lighting"));
    // ControlNetApplyAdvanced passes both polarities; only its `negative` input is followed.
    assert_eq!(i.negative_prompt.as_deref(), Some("lowres"));
    assert_eq!(i.model.as_deref(), Some("juggernautXL_v9.safetensors"));
    assert_eq!(i.seed, Some(8));
    assert_eq!(i.steps, Some(20));
    assert_eq!(i.cfg_scale, Some(7.5));
    assert_eq!(i.sampler.as_deref(), Some("dpmpp_2m"));
    assert_eq!(i.scheduler.as_deref(), Some("karras"));
    // LoRA loaders on the model chain, nearest the checkpoint first.
    let loras: Vec<&str> = i.loras.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(loras, ["b.safetensors", "a.safetensors"]);
    assert_eq!(i.size.as_deref(), Some("1024x1024"));
}

#[test]
fn comfyui_graph_cycle_and_dangling_link_do_not_hang() {
    let prompt = r#"{"1": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 3, "sampler_name": "euler", "scheduler": "normal",
        "model": ["2", 0], "positive": ["3", 0], "negative": ["404", 0], "latent_image": ["9", 0]}},
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["2", 0]}},
        "3": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0], "conditioning_2": ["4", 0]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "reachable text"}}}"#;
    let i = must(&png(&[("prompt", prompt)]), "x.png");
    assert_eq!(i.source, AiSource::Comfyui);
    assert_eq!(i.prompt.as_deref(), Some("reachable text"));
    assert_eq!(i.negative_prompt, None);
    assert_eq!(i.model, None);
    assert_eq!(i.size, None);
    assert_eq!(i.seed, Some(1));
}

#[test]
fn comfyui_linked_primitives() {
    let prompt = r#"{"1": {"class_type": "KSampler", "inputs": {"seed": ["20", 0], "steps": 30, "cfg": 4, "sampler_name": "euler", "scheduler": "simple",
        "model": ["2", 0], "positive": ["3", 0], "negative": ["4", 0], "latent_image": ["5", 0]}},
        "20": {"class_type": "Seed (rgthree)", "inputs": {"seed": 777}},
        "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev-fp8.safetensors"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["21", 0]}},
        "21": {"class_type": "PrimitiveString", "inputs": {"value": "a linked prompt"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
        "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 896, "height": 1152}}}"#;
    let i = must(&png(&[("prompt", prompt)]), "x.png");
    assert_eq!(i.seed, Some(777));
    assert_eq!(i.prompt.as_deref(), Some("a linked prompt"));
    assert_eq!(i.negative_prompt, None);
    // FLUX rule: a specific front end keeps its label.
    assert_eq!(i.source, AiSource::Comfyui);
    assert_eq!(i.model.as_deref(), Some("flux1-dev-fp8.safetensors"));
}

#[test]
fn comfyui_malformed_json_is_still_comfyui() {
    let i = must(
        &png(&[("prompt", "{\"3\": {\"class_type\": \"KSa")]),
        "x.png",
    );
    assert_eq!(i.source, AiSource::Comfyui);
    assert!(i.evidence.contains("malformed"), "{}", i.evidence);
    assert_eq!(i.prompt, None);
    assert_eq!(i.seed, None);

    let i = must(
        &png(&[("workflow", r#"{"nodes": [], "links": []}"#)]),
        "x.png",
    );
    assert_eq!(i.source, AiSource::Comfyui);
    assert!(i.evidence.contains("workflow"), "{}", i.evidence);

    // A plain-text `prompt` chunk from some other program is not ComfyUI.
    assert_eq!(
        detect(&png(&[("prompt", "a sunset over the sea")]), "x.png"),
        None
    );
}

#[test]
fn comfyui_webp_exif_blobs() {
    let s = Signals {
        exif_model: Some(
            r#"prompt:{"1": {"class_type": "KSampler", "inputs": {"seed": 3, "steps": 9}}}"#
                .to_owned(),
        ),
        exif_make: Some(r#"workflow:{"nodes": []}"#.to_owned()),
        ..Signals::default()
    };
    let i = must(&s, "ComfyUI_00003_.webp");
    assert_eq!(i.source, AiSource::Comfyui);
    assert_eq!(i.signal, AiSignal::Metadata);
    assert_eq!(i.seed, Some(3));
}

#[test]
fn invokeai_variants() {
    let meta = r#"{"generation_mode": "txt2img", "positive_prompt": "a koi pond", "negative_prompt": "text", "width": 1024, "height": 1024,
        "seed": 4242, "cfg_scale": 5.0, "steps": 30, "scheduler": "dpmpp_2m_k",
        "model": {"key": "k", "hash": "blake3:abc", "name": "Juggernaut XL v9", "base": "sdxl", "type": "main"}, "app_version": "4.2.0"}"#;
    let i = must(
        &png(&[("invokeai_metadata", meta), ("invokeai_graph", "{}")]),
        "f3b8e5a2.png",
    );
    assert_eq!(i.source, AiSource::Invokeai);
    assert_eq!(i.evidence, "png:invokeai_metadata");
    assert_eq!(i.prompt.as_deref(), Some("a koi pond"));
    assert_eq!(i.model.as_deref(), Some("Juggernaut XL v9"));
    assert_eq!(i.model_hash.as_deref(), Some("blake3:abc"));
    assert_eq!(i.seed, Some(4242));
    assert_eq!(i.sampler.as_deref(), Some("dpmpp_2m_k"));
    assert_eq!(i.size.as_deref(), Some("1024x1024"));

    let i = must(&png(&[("invokeai_graph", "{}")]), "x.png");
    assert_eq!(i.source, AiSource::Invokeai);

    let i = must(
        &png(&[(
            "Dream",
            "\"a moon [clouds]\" -s 40 -S 9 -W 512 -H 512 -C 7.0 -A k_euler",
        )]),
        "x.png",
    );
    assert_eq!(
        (i.source, i.seed, i.steps),
        (AiSource::Invokeai, Some(9), Some(40))
    );
    assert_eq!(i.negative_prompt.as_deref(), Some("clouds"));
}

#[test]
fn fooocus_variants() {
    let json = r#"{"adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion", "base_model_hash": "aeb7e9e689",
        "full_negative_prompt": ["bad"], "full_prompt": ["a red bicycle", "cinematic"], "guidance_scale": 4.0, "loras": [],
        "negative_prompt": "", "performance": "Speed", "prompt": "a red bicycle", "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras", "seed": "1234567890123", "sharpness": 2.0, "steps": 30, "styles": "['Fooocus V2']", "version": "Fooocus v2.5.5"}"#;
    let i = must(
        &png(&[("parameters", json), ("fooocus_scheme", "fooocus")]),
        "2024-03-15_12-34-56_1234.png",
    );
    assert_eq!(i.source, AiSource::Fooocus);
    assert_eq!(i.signal, AiSignal::Metadata);
    assert_eq!(i.prompt.as_deref(), Some("a red bicycle"));
    assert_eq!(i.negative_prompt.as_deref(), Some("bad"));
    assert_eq!(i.seed, Some(1_234_567_890_123));
    assert_eq!(i.model.as_deref(), Some("juggernautXL_v8Rundiffusion"));
    assert_eq!(i.cfg_scale, Some(4.0));
    assert_eq!(i.size.as_deref(), Some("1152x896"));
    assert_eq!(i.sampler.as_deref(), Some("dpmpp_2m_sde_gpu"));
    assert_eq!(i.scheduler.as_deref(), Some("karras"));

    // A1111 scheme, Fooocus version in the parameter line.
    let t = "a red bicycle\nSteps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 7, Size: 1152x896, CFG scale: 4, Model: juggernautXL, Version: Fooocus v2.5.5";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.source, AiSource::Fooocus);

    // JPEG: EXIF UserComment JSON + Software.
    let s = Signals {
        exif_user_comment: Some(json.to_owned()),
        exif_software: Some("Fooocus v2.5.5".to_owned()),
        ..Signals::default()
    };
    assert_eq!(must(&s, "x.jpg").source, AiSource::Fooocus);
}

#[test]
fn novelai_png() {
    let comment = r#"{"prompt": "1girl, cherry blossoms", "steps": 28, "height": 1216, "width": 832, "scale": 5.0, "uncond_scale": 0.0,
        "cfg_rescale": 0.0, "seed": 3718234906, "n_samples": 1, "noise_schedule": "karras", "sampler": "k_euler_ancestral", "uc": "lowres, bad anatomy"}"#;
    let s = png(&[
        ("Title", "NovelAI generated image"),
        ("Description", "1girl, cherry blossoms"),
        ("Software", "NovelAI"),
        ("Source", "NovelAI Diffusion V4.5 4BDE2A90"),
        ("Comment", comment),
    ]);
    let i = must(&s, "image.png");
    assert_eq!(i.source, AiSource::Novelai);
    assert_eq!(i.evidence, "png:Software=NovelAI");
    assert_eq!(i.prompt.as_deref(), Some("1girl, cherry blossoms"));
    assert_eq!(i.negative_prompt.as_deref(), Some("lowres, bad anatomy"));
    // The model is kept as written, hash included; the hash is also the model hash.
    assert_eq!(i.model.as_deref(), Some("NovelAI Diffusion V4.5 4BDE2A90"));
    assert_eq!(i.model_hash.as_deref(), Some("4BDE2A90"));
    assert_eq!(i.seed, Some(3_718_234_906));
    assert_eq!(i.sampler.as_deref(), Some("k_euler_ancestral"));
    assert_eq!(i.scheduler.as_deref(), Some("karras"));
    assert_eq!(i.size.as_deref(), Some("832x1216"));
}

#[test]
fn swarmui_json_and_the_flux_rule() {
    let sdxl = r#"{"sui_image_params": {"prompt": "a tram in fog", "negativeprompt": "", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 305223794, "steps": 25, "cfgscale": 6.0, "width": 1024, "height": 1024, "sampler": "euler", "scheduler": "normal", "swarm_version": "0.9.1.1"}}"#;
    let i = must(&png(&[("parameters", sdxl)]), "x.png");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert!(i.evidence.contains("SwarmUI"), "{}", i.evidence);
    assert_eq!(i.prompt.as_deref(), Some("a tram in fog"));
    assert_eq!(i.negative_prompt, None);
    assert_eq!(i.seed, Some(305_223_794));

    let flux = sdxl.replace(
        "OfficialStableDiffusion/sd_xl_base_1.0",
        "Flux/flux1-dev-fp8",
    );
    let i = must(&png(&[("parameters", &flux)]), "x.png");
    assert_eq!(i.source, AiSource::Flux);
    assert!(i.evidence.contains("model family FLUX"), "{}", i.evidence);
}

#[test]
fn flux_rule_for_a1111_infotext() {
    let t = "a fox\nSteps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 1, Size: 896x1152, Model: flux1-dev-bnb-nf4-v2";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.source, AiSource::Flux);
    assert_eq!(i.signal, AiSignal::Metadata);
    assert_eq!(i.model.as_deref(), Some("flux1-dev-bnb-nf4-v2"));
    // Not fooled by a model name that merely contains the letters.
    let t = "a fox\nSteps: 20, Sampler: Euler, Seed: 1, Model: influx_realism";
    assert_eq!(
        must(&png(&[("parameters", t)]), "x.png").source,
        AiSource::StableDiffusion
    );
}

#[test]
fn midjourney_description_and_names() {
    let s = png(&[
        ("Author", "jane"),
        (
            "Description",
            "a red fox in snow --ar 3:2 --v 6.1 Job ID: 0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70",
        ),
    ]);
    let i = must(&s, "whatever.png");
    assert_eq!(i.source, AiSource::Midjourney);
    assert_eq!(i.signal, AiSignal::Metadata);
    // The prompt stops before the first parameter; the parameters get their own fields.
    assert_eq!(i.prompt.as_deref(), Some("a red fox in snow"));
    let p = i.midjourney.expect("midjourney parameters");
    assert_eq!(
        (p.aspect_ratio.as_deref(), p.version.as_deref()),
        (Some("3:2"), Some("6.1"))
    );
    assert_eq!(
        p.job_id.as_deref(),
        Some("0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70")
    );

    let i = must(
        &Signals::default(),
        "jane_a_red_fox_in_snow_0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70.png",
    );
    assert_eq!(
        (i.source, i.signal),
        (AiSource::Midjourney, AiSignal::Filename)
    );
    assert!(
        i.evidence.starts_with("filename:midjourney"),
        "{}",
        i.evidence
    );
    let i = must(
        &Signals::default(),
        "jane_a_red_fox_0f4a5d7e-8a2c-4b3e-9d1a-2c3b4d5e6f70_3.png",
    );
    assert_eq!(i.source, AiSource::Midjourney);
}

#[test]
fn dalle_from_c2pa_and_from_name() {
    let s = Signals {
        c2pa: vec![
            "ChatGPT".to_owned(),
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia".to_owned(),
        ],
        ..Signals::default()
    };
    let i = must(&s, "file_000000001.png");
    assert_eq!(i.source, AiSource::Dalle);
    assert!(i.evidence.starts_with("c2pa:"), "{}", i.evidence);

    let i = must(
        &Signals::default(),
        "DALL·E 2024-03-15 12.34.56 - a red fox in snow.png",
    );
    assert_eq!((i.source, i.signal), (AiSource::Dalle, AiSignal::Filename));
}

const XMP_FIREFLY: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 xmp:CreatorTool="Adobe Firefly" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
</rdf:RDF></x:xmpmeta>"#;

#[test]
fn firefly_needs_trained_source_type() {
    let s = Signals {
        xmp: vec![XMP_FIREFLY.to_owned()],
        ..Signals::default()
    };
    let i = must(&s, "IMG_0001.png");
    assert_eq!(i.source, AiSource::Firefly);
    assert_eq!(
        i.evidence,
        "xmp:DigitalSourceType=trainedAlgorithmicMedia + xmp:CreatorTool=Adobe Firefly"
    );

    // Same tool name without the source type: not enough.
    let no_dst = XMP_FIREFLY.replace("trainedAlgorithmicMedia", "digitalCapture");
    assert_eq!(
        detect(
            &Signals {
                xmp: vec![no_dst],
                ..Signals::default()
            },
            "x.png"
        ),
        None
    );

    // C2PA claim generator from Firefly with the source type.
    let s = Signals {
        c2pa: vec![
            "Adobe_Firefly adobe_c2pa/0.12.2 c2pa-rs/0.33.1".to_owned(),
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia".to_owned(),
        ],
        ..Signals::default()
    };
    assert_eq!(must(&s, "x.jpg").source, AiSource::Firefly);
}

#[test]
fn photoshop_edits_are_not_generated() {
    let ps = Signals {
        exif_software: Some("Adobe Photoshop 25.0 (Windows)".to_owned()),
        ..Signals::default()
    };
    assert_eq!(detect(&ps, "edited.jpg"), None);

    let xmp = XMP_FIREFLY
        .replace("Adobe Firefly", "Adobe Photoshop 25.0 (Macintosh)")
        .replace("trainedAlgorithmicMedia", "digitalCapture");
    assert_eq!(
        detect(
            &Signals {
                xmp: vec![xmp],
                ..Signals::default()
            },
            "edited.jpg"
        ),
        None
    );

    // C2PA from Photoshop without generative actions.
    let c2pa = Signals {
        c2pa: vec!["Adobe_Photoshop_25.0 adobe_c2pa/0.7.6 c2pa-rs/0.25.2".to_owned()],
        ..Signals::default()
    };
    assert_eq!(detect(&c2pa, "edited.jpg"), None);

    // Generative Fill: composite with generated parts, Firefly named as the agent.
    let fill = Signals {
        c2pa: vec![
            "Adobe_Photoshop_25.0 adobe_c2pa/0.7.6 c2pa-rs/0.25.2".to_owned(),
            "Adobe Firefly".to_owned(),
            "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
                .to_owned(),
        ],
        ..Signals::default()
    };
    assert_eq!(detect(&fill, "edited.jpg"), None);
    // … and the composite marking also vetoes a name-based guess.
    assert_eq!(detect(&fill, "Firefly a castle at dawn 47291.jpg"), None);
}

#[test]
fn camera_phone_and_screenshot_names_are_not_ai() {
    for name in [
        "IMG_20240315_123456.jpg",
        "PXL_20240315_123456789.jpg",
        "1710505496123.jpg",
        "1710505496.jpg",
        "sd_card_backup.jpg",
        "DSC01234.JPG",
        "Screenshot_20240315-123456.png",
        "Screenshot 2024-03-15 at 12.34.56.png",
        "VID_20240315_123456.mp4",
        "00001-1234567890.png",
    ] {
        assert_eq!(detect(&Signals::default(), name), None, "{name}");
    }
    // A real phone photo with its EXIF.
    let phone = Signals {
        exif_make: Some("Google".to_owned()),
        exif_model: Some("Pixel 8".to_owned()),
        exif_software: Some("HDR+ 1.0.612345".to_owned()),
        c2pa: vec!["Pixel Camera".to_owned(), "Google LLC".to_owned()],
        ..Signals::default()
    };
    assert_eq!(detect(&phone, "PXL_20240315_123456789.jpg"), None);
}

#[test]
fn camera_exif_vetoes_name_patterns() {
    let camera = Signals {
        exif_make: Some("SONY".to_owned()),
        exif_model: Some("ILCE-7M4".to_owned()),
        ..Signals::default()
    };
    assert_eq!(detect(&camera, "2024-03-15_12-34-56_1234.jpg"), None);
    assert_eq!(
        detect(&Signals::default(), "2024-03-15_12-34-56_1234.png").map(|i| i.source),
        Some(AiSource::Fooocus)
    );
}

#[test]
fn metadata_wins_over_name() {
    let i = must(&png(&[("parameters", A1111)]), "ComfyUI_00001_.png");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert_eq!(i.signal, AiSignal::Metadata);

    let i = must(&Signals::default(), "ComfyUI_00001_.png");
    assert_eq!(
        (i.source, i.signal),
        (AiSource::Comfyui, AiSignal::Filename)
    );
}

#[test]
fn trained_source_type_with_name_says_both() {
    let s = Signals {
        xmp: vec![XMP_FIREFLY.replace("Adobe Firefly", "Some Web App")],
        ..Signals::default()
    };
    // AI-generated but no tool named in metadata: no label from metadata alone …
    assert_eq!(detect(&s, "picture.png"), None);
    // … the name names the tool.
    let i = must(&s, "kling_20240806_a_fox_1234.mp4");
    assert_eq!((i.source, i.signal), (AiSource::Kling, AiSignal::Filename));
    assert!(
        i.evidence.contains("trainedAlgorithmicMedia"),
        "{}",
        i.evidence
    );
}

#[test]
fn google_imagen_and_veo() {
    let xmp = XMP_FIREFLY.replace("xmp:CreatorTool=\"Adobe Firefly\"", "xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\" photoshop:Credit=\"Made with Google AI\"");
    let s = Signals {
        xmp: vec![xmp],
        ..Signals::default()
    };
    assert_eq!(must(&s, "image.png").source, AiSource::Imagen);
    assert_eq!(must(&s, "clip.mp4").source, AiSource::Veo);
}

#[test]
fn video_tools_from_container_software_fields() {
    let s = Signals {
        other_text: vec![("©too".to_owned(), "Hailuo AI".to_owned())],
        ..Signals::default()
    };
    assert_eq!(must(&s, "v.mp4").source, AiSource::Hailuo);
    // A title mentioning a tool is user text.
    let s = Signals {
        other_text: vec![("©nam".to_owned(), "Made with Kling".to_owned())],
        ..Signals::default()
    };
    assert_eq!(detect(&s, "v.mp4"), None);
    // Ordinary encoders are not tools.
    let s = Signals {
        other_text: vec![("WritingApp".to_owned(), "Lavf60.16.100".to_owned())],
        ..Signals::default()
    };
    assert_eq!(detect(&s, "v.mkv"), None);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let huge = "x".repeat(3 * 1024 * 1024);
    let deep = "[".repeat(100_000);
    let colons = "a:".repeat(200_000);
    let s = Signals {
        png_text: vec![
            (
                "parameters".to_owned(),
                format!("{huge}\nSteps: 1, Sampler: {huge}, Seed: 1"),
            ),
            ("prompt".to_owned(), format!("{{{deep}")),
            ("workflow".to_owned(), deep.clone()),
            ("invokeai_metadata".to_owned(), "{\u{0}\u{fffd}".to_owned()),
            ("Comment".to_owned(), colons.clone()),
        ],
        exif_user_comment: Some(colons),
        xmp: vec![format!("<x:xmpmeta>{deep}"), "<<<>>>&&&".to_owned()],
        c2pa: vec![huge.clone()],
        ..Signals::default()
    };
    // ComfyUI wins (its malformed JSON chunk) and nothing panics.
    let i = must(&s, &huge);
    assert_eq!(i.source, AiSource::Comfyui);

    let s = png(&[(
        "parameters",
        &format!("{huge}\nSteps: 20, Sampler: Euler, Seed: 5"),
    )]);
    let i = must(&s, "x.png");
    assert!(i.prompt.is_some_and(|p| p.len() <= 64 * 1024));
}

#[test]
fn openai_video_is_sora_whatever_the_string_order() {
    let trained =
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia".to_owned();
    let s = Signals {
        c2pa: vec!["OpenAI".to_owned(), "Sora".to_owned(), trained.clone()],
        ..Signals::default()
    };
    assert_eq!(must(&s, "clip.png").source, AiSource::Sora);
    let s = Signals {
        c2pa: vec!["OpenAI".to_owned(), trained],
        ..Signals::default()
    };
    assert_eq!(must(&s, "clip.mp4").source, AiSource::Sora);
    assert_eq!(must(&s, "image.png").source, AiSource::Dalle);
}

#[test]
fn legacy_a1111_sampler_stays_as_written() {
    let t = "a cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512";
    let i = must(&png(&[("parameters", t)]), "x.png");
    assert_eq!(i.sampler.as_deref(), Some("DPM++ 2M Karras"));
    assert_eq!(i.scheduler, None);
}

#[test]
fn comfyui_graphs_in_exif_fields() {
    const API: &str = r#"{"3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 9, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple", "positive": ["6", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a quiet harbour"}}}"#;
    let cases = [
        // WAS Image Save: capitalised prefixes, workflow in ImageDescription.
        Signals {
            exif_make: Some(format!("Prompt:{API}")),
            exif_image_description: Some(r#"Workflow:{"nodes": []}"#.to_owned()),
            ..Signals::default()
        },
        // SaveImgAdv: raw JSON in Make.
        Signals {
            exif_make: Some(API.to_owned()),
            ..Signals::default()
        },
        // ExtendedImageFormats: both graphs in UserComment, the prompt as JSON text.
        Signals {
            exif_user_comment: Some(
                serde_json::json!({"prompt": API, "workflow": {"nodes": []}}).to_string(),
            ),
            ..Signals::default()
        },
    ];
    for s in cases {
        let i = must(&s, "out.webp");
        assert_eq!(i.source, AiSource::Comfyui, "{}", i.evidence);
        assert_eq!(
            i.prompt.as_deref(),
            Some("a quiet harbour"),
            "{}",
            i.evidence
        );
        assert_eq!(i.seed, Some(5));
    }
    // A camera's Make is not a graph, and a cut `Prompt:` blob is ComfyUI without parameters.
    let cut = Signals {
        exif_make: Some("Prompt:{\"3\": {\"class_ty".to_owned()),
        ..Signals::default()
    };
    assert!(must(&cut, "x.webp").evidence.contains("malformed"));
}

#[test]
fn comfyui_ui_workflow_alone() {
    let wf = r#"{"nodes": [
        {"id": 1, "type": "KSamplerAdvanced", "widgets_values": ["enable", 77, "fixed", 30, 4.5, "dpmpp_2m", "karras", 0, 30, "disable"],
         "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 2}]},
        {"id": 2, "type": "UNETLoader", "widgets_values": ["sd3.5_large.safetensors", "default"]},
        {"id": 3, "type": "CLIPTextEncode", "widgets_values": ["a paper boat"]}],
        "links": [[1, 2, 0, 1, 0, "MODEL"], [2, 3, 0, 1, 1, "CONDITIONING"]]}"#;
    let i = must(&png(&[("workflow", wf)]), "x.png");
    assert_eq!(i.source, AiSource::Comfyui);
    assert!(i.evidence.contains("UI workflow"), "{}", i.evidence);
    assert_eq!(i.prompt.as_deref(), Some("a paper boat"));
    assert_eq!(i.seed, Some(77));
    assert_eq!(i.steps, Some(30));
    assert_eq!(i.cfg_scale, Some(4.5));
    assert_eq!(
        (i.sampler.as_deref(), i.scheduler.as_deref()),
        (Some("dpmpp_2m"), Some("karras"))
    );
    assert_eq!(i.model.as_deref(), Some("sd3.5_large.safetensors"));
}

#[test]
fn comfyui_cfg_guider_and_power_lora_stack() {
    let prompt = r#"{"1": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["2", 0], "guider": ["3", 0], "sampler": ["4", 0], "sigmas": ["5", 0]}},
        "2": {"class_type": "RandomNoise", "inputs": {"noise_seed": 11}},
        "3": {"class_type": "CFGGuider", "inputs": {"cfg": 4.0, "model": ["7", 0], "positive": ["8", 0], "negative": ["9", 0]}},
        "4": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}},
        "5": {"class_type": "BasicScheduler", "inputs": {"scheduler": "sgm_uniform", "steps": 40, "model": ["7", 0]}},
        "7": {"class_type": "Power Lora Loader (rgthree)", "inputs": {"model": ["10", 0],
              "lora_1": {"on": true, "lora": "a.safetensors", "strength": 0.5}, "lora_2": {"on": false, "lora": "off.safetensors", "strength": 1},
              "lora_3": {"on": true, "lora": "c.safetensors", "strength": 1.0}}},
        "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lantern"}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "dark"}},
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_medium.safetensors"}}}"#;
    let i = must(&png(&[("prompt", prompt)]), "x.png");
    assert_eq!(
        (i.seed, i.steps, i.cfg_scale),
        (Some(11), Some(40), Some(4.0))
    );
    assert_eq!(i.negative_prompt.as_deref(), Some("dark"));
    let loras: Vec<(&str, Option<f64>)> = i
        .loras
        .iter()
        .map(|l| (l.name.as_str(), l.weight))
        .collect();
    assert_eq!(
        loras,
        [("a.safetensors", Some(0.5)), ("c.safetensors", Some(1.0))]
    );
}

#[test]
fn infotext_from_comfyui_and_civitai() {
    let t =
        "a cat\nSteps: 20, Sampler: euler, CFG scale: 7, Seed: 1, Size: 512x512, Version: ComfyUI";
    assert_eq!(
        must(&png(&[("parameters", t)]), "x.png").source,
        AiSource::Comfyui
    );

    let t = "a cat, <lora:pixel:0.6>\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 9, Size: 832x1216, \
             Clip skip: 2, Created Date: 2024-08-01T10:00:00.000Z, Civitai resources: [{\"type\":\"checkpoint\",\
             \"modelVersionId\":290640,\"modelName\":\"Pony Diffusion V6 XL\",\"modelVersionName\":\"V6\"},\
             {\"type\":\"lora\",\"weight\":0.6,\"modelVersionId\":1,\"modelName\":\"pixel\",\"modelVersionName\":\"v1\"}], \
             Civitai metadata: {}";
    let i = must(&png(&[("parameters", t)]), "x.jpeg");
    assert_eq!(i.source, AiSource::StableDiffusion);
    assert!(i.evidence.contains("Civitai"), "{}", i.evidence);
    assert_eq!(i.model.as_deref(), Some("Pony Diffusion V6 XL"));
    assert_eq!(i.loras.len(), 1);
    assert_eq!(i.loras[0].weight, Some(0.6));
}

#[test]
fn vendor_tags_name_the_tool_and_blobs_do_not() {
    let make = Signals {
        exif_make: Some("NovelAI".to_owned()),
        ..Signals::default()
    };
    let i = must(&make, "image.jpg");
    assert_eq!(
        (i.source, i.evidence.as_str()),
        (AiSource::Novelai, "exif:Make=NovelAI")
    );
    assert_eq!(
        must(&png(&[("Source", "Midjourney")]), "x.png").source,
        AiSource::Midjourney
    );
    // Ordinary words need the AI source type; long comments are user text; a graph blob in
    // Make names whatever its prompt says.
    assert_eq!(
        detect(&png(&[("Comment", "shot on a runway")]), "x.png"),
        None
    );
    let long = format!("notes about midjourney {}", "x".repeat(300));
    assert_eq!(detect(&png(&[("Comment", long.as_str())]), "x.png"), None);
    let blob = Signals {
        exif_make: Some(r#"{"note": "in the style of midjourney"}"#.to_owned()),
        ..Signals::default()
    };
    assert_eq!(detect(&blob, "x.jpg"), None);
    // Camera makes are not tools, and they veto name patterns.
    let camera = Signals {
        exif_make: Some("Canon".to_owned()),
        exif_model: Some("Canon EOS R5".to_owned()),
        ..Signals::default()
    };
    assert_eq!(
        detect(&camera, "ChatGPT Image Apr 1, 2025, 11_38_59 AM.jpg"),
        None
    );
}

#[test]
fn novelai_webp_user_comment() {
    let comment = r#"{"prompt": "1girl", "steps": 23, "scale": 5.0, "seed": 7, "sampler": "k_euler", "noise_schedule": "native", "uc": "bad"}"#;
    let packed = serde_json::json!({"Comment": comment, "Description": "1girl", "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4 F4D50568", "Title": "NovelAI generated image"});
    let s = Signals {
        exif_user_comment: Some(packed.to_string()),
        exif_image_description: Some("1girl".to_owned()),
        ..Signals::default()
    };
    let i = must(&s, "image.webp");
    assert_eq!(i.source, AiSource::Novelai);
    assert!(i.evidence.starts_with("exif:UserComment"), "{}", i.evidence);
    assert_eq!(i.model.as_deref(), Some("NovelAI Diffusion V4 F4D50568"));
    assert_eq!((i.seed, i.steps), (Some(7), Some(23)));
    assert_eq!(i.scheduler.as_deref(), Some("native"));
    assert_eq!(i.negative_prompt.as_deref(), Some("bad"));
}

#[test]
fn openai_download_names() {
    let i = must(
        &Signals::default(),
        "ChatGPT Image Apr 1, 2025, 11_38_59 AM.png",
    );
    assert_eq!((i.source, i.signal), (AiSource::Dalle, AiSignal::Filename));
    let i = must(
        &Signals::default(),
        "20250330_1524_Gorilla Graffiti Masterpiece_simple_compose_01jqkkjej6e398ftyja8f6zg8c.mp4",
    );
    assert_eq!(i.source, AiSource::Sora);
}
