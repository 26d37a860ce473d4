//! Search against real SQLite catalogs: ranking, filters, dates, hostile query text, and
//! visibility of fresh writes to a concurrent read-only reader.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use catalog::{
    AssetStatus, AssetUpdate, Catalog, Edge, NewEvent, NewOp, OpKind, Placement, SearchHit,
    SearchQuery, TimeBound, Transfer,
};
use chrono::{FixedOffset, Utc};
use events::media::{AiInfo, AiSignal, AiSource, LoraRef, MediaInfo, MediaType};

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    cat: Catalog,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite3");
        let cat = Catalog::open(&path).unwrap();
        Fixture {
            _dir: dir,
            path,
            cat,
        }
    }
}

/// What one test asset looks like; unset fields stay `None`.
#[derive(Clone, Default)]
struct Spec {
    name: &'static str,
    prompt: Option<&'static str>,
    negative: Option<&'static str>,
    model: Option<&'static str>,
    loras: &'static [&'static str],
    source: Option<AiSource>,
    project: &'static str,
    style: Option<&'static str>,
    taken_at: Option<&'static str>,
    video: bool,
}

fn media(spec: &Spec) -> MediaInfo {
    let mut m = MediaInfo::empty(if spec.video {
        MediaType::Video
    } else {
        MediaType::Image
    });
    m.format = Some(if spec.video { "mp4" } else { "png" }.into());
    m.taken_at = spec.taken_at.map(|t| t.parse().unwrap());
    if let Some(source) = spec.source {
        let mut ai = AiInfo::new(source, AiSignal::Metadata, "test");
        ai.prompt = spec.prompt.map(Into::into);
        ai.negative_prompt = spec.negative.map(Into::into);
        ai.model = spec.model.map(Into::into);
        ai.loras = spec
            .loras
            .iter()
            .map(|name| LoraRef {
                name: (*name).to_owned(),
                weight: Some(0.8),
                hash: None,
            })
            .collect();
        m.ai = Some(ai);
    }
    m
}

fn label(spec: &Spec) -> &'static str {
    spec.source.map_or("camera", AiSource::as_str)
}

/// Organizes an asset described by `spec`; returns its id (derived from the name).
fn organize(cat: &Catalog, spec: &Spec) -> String {
    organize_at(cat, spec, Path::new("/inbox").join(spec.name))
}

fn organize_at(cat: &Catalog, spec: &Spec, src: PathBuf) -> String {
    organize_with(cat, spec, src, &media(spec))
}

/// Organizes `name` with exactly the media facts `m`.
fn organize_media(cat: &Catalog, name: &'static str, m: &MediaInfo) -> String {
    let spec = Spec {
        name,
        project: "default",
        ..Spec::default()
    };
    organize_with(cat, &spec, Path::new("/inbox").join(name), m)
}

fn organize_with(cat: &Catalog, spec: &Spec, src: PathBuf, m: &MediaInfo) -> String {
    let id = format!("{:064x}", fxhash(src.as_os_str().as_bytes()));
    let dest = Path::new("/org").join(&id[..12]).join(spec.name);
    cat.upsert_discovered(&id, &src, 100).unwrap();
    let op = cat
        .begin_op(&NewOp {
            asset_id: &id,
            kind: OpKind::Copy,
            source: &src,
            destination: &dest,
            mode: Transfer::Copy,
        })
        .unwrap();
    cat.complete_placement(&Placement {
        op_id: op,
        asset_id: &id,
        destination: &dest,
        size: 100,
        project: spec.project,
        source: label(spec),
        style: spec.style,
        media: Some(m),
    })
    .unwrap();
    id
}

/// A stable small hash for test ids (FNV-1a).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn names(hits: &[SearchHit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            h.asset
                .original_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn text(t: &str) -> SearchQuery {
    SearchQuery {
        text: t.to_owned(),
        ..SearchQuery::default()
    }
}

fn find(cat: &Catalog, q: &SearchQuery) -> Vec<String> {
    names(&cat.find(q).unwrap())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ai(name: &'static str, source: AiSource, prompt: &'static str) -> Spec {
    Spec {
        name,
        prompt: Some(prompt),
        source: Some(source),
        project: "default",
        taken_at: Some("2024-03-15T12:00:00"),
        ..Spec::default()
    }
}

#[test]
fn a_prompt_match_outranks_every_other_field_and_the_negative_prompt_ranks_last() {
    let fx = Fixture::new();
    let base = Spec {
        source: Some(AiSource::StableDiffusion),
        project: "default",
        ..Spec::default()
    };
    // Inserted weakest first, so insertion order cannot explain the ranking.
    let specs = [
        Spec {
            name: "neg.png",
            prompt: Some("a quiet harbour"),
            negative: Some("fox"),
            ..base.clone()
        },
        Spec {
            name: "fox_sketch.png",
            prompt: Some("a pencil sketch"),
            ..base.clone()
        },
        Spec {
            name: "model.png",
            prompt: Some("a field at noon"),
            model: Some("fox"),
            ..base.clone()
        },
        Spec {
            name: "prompt.png",
            prompt: Some("a red fox in snow, winter light, long shadows"),
            ..base.clone()
        },
    ];
    for s in &specs {
        organize(&fx.cat, s);
    }
    let hits = fx.cat.find(&text("fox")).unwrap();
    assert_eq!(names(&hits)[0], "prompt.png");
    assert_eq!(names(&hits)[3], "neg.png");
    assert_eq!(hits.len(), 4);
    let scores: Vec<f64> = hits.iter().map(|h| h.score.unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // The snippet is from the prompt, with the match marked.
    let snippet = hits[0].snippet.as_ref().unwrap();
    assert_eq!(
        snippet.render("[", "]"),
        "a red [fox] in snow, winter light, long shadows"
    );
    // An asset that matched elsewhere still shows its prompt, unmarked.
    let snippet = hits[3].snippet.as_ref().unwrap();
    assert_eq!(
        (snippet.text.as_str(), snippet.marks.len()),
        ("a quiet harbour", 0)
    );
}

#[test]
fn every_word_must_match_and_the_last_one_may_be_a_prefix() {
    let fx = Fixture::new();
    organize(
        &fx.cat,
        &ai(
            "a.png",
            AiSource::Midjourney,
            "a neon cyberpunk city at night",
        ),
    );
    organize(
        &fx.cat,
        &ai("b.png", AiSource::Midjourney, "a cyber café in the rain"),
    );
    assert_eq!(sorted(find(&fx.cat, &text("cyber"))), ["a.png", "b.png"]);
    assert_eq!(find(&fx.cat, &text("neon cyber")), ["a.png"]);
    // Only the last word is a prefix.
    assert!(find(&fx.cat, &text("cyber neon")).is_empty());
    // Case and accents do not matter.
    assert_eq!(find(&fx.cat, &text("CAFE rain")), ["b.png"]);
    assert!(find(&fx.cat, &text("neon rain")).is_empty());
}

#[test]
fn negative_prompt_file_name_project_style_and_model_are_searchable() {
    let fx = Fixture::new();
    organize(
        &fx.cat,
        &Spec {
            name: "Lighthouse_Study_07.png",
            prompt: Some("a tower by the sea"),
            negative: Some("blurry watermark"),
            model: Some("juggernautXL_v8"),
            source: Some(AiSource::Fooocus),
            project: "coastline",
            style: Some("noir"),
            ..Spec::default()
        },
    );
    for q in [
        "watermark",
        "lighthouse study",
        "coastline",
        "noir",
        "juggernautXL_v8",
        "fooocus",
    ] {
        assert_eq!(find(&fx.cat, &text(q)), ["Lighthouse_Study_07.png"], "{q}");
    }
}

#[test]
fn a_non_utf8_file_name_is_searchable_by_its_readable_parts() {
    let fx = Fixture::new();
    let src = PathBuf::from(OsStr::from_bytes(b"/inbox/caf\xe9 harbour_night.png"));
    let id = organize_at(
        &fx.cat,
        &Spec {
            name: "x.png",
            project: "default",
            ..Spec::default()
        },
        src,
    );
    let hits = fx.cat.find(&text("harbour night")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].asset.asset_id, id);
}

#[test]
fn filters_narrow_text_results_and_work_without_text() {
    let fx = Fixture::new();
    let specs = [
        Spec {
            project: "cyberpunk",
            style: Some("Neon"),
            model: Some("sd_xl_base_1.0"),
            ..ai("mj.png", AiSource::Midjourney, "neon city street")
        },
        Spec {
            project: "cyberpunk",
            model: Some("flux1-dev"),
            ..ai("flux.png", AiSource::Flux, "neon city skyline")
        },
        Spec {
            project: "nature",
            video: true,
            ..ai("clip.mp4", AiSource::Runway, "a neon jellyfish")
        },
        Spec {
            name: "photo.jpg",
            project: "nature",
            taken_at: Some("2024-03-15T09:00:00"),
            ..Spec::default()
        },
    ];
    for s in &specs {
        organize(&fx.cat, s);
    }
    let q = |f: &dyn Fn(&mut SearchQuery)| {
        let mut q = text("neon");
        f(&mut q);
        sorted(find(&fx.cat, &q))
    };
    assert_eq!(q(&|_| {}), ["clip.mp4", "flux.png", "mj.png"]);
    assert_eq!(q(&|q| q.source = Some("MIDJOURNEY".into())), ["mj.png"]);
    assert_eq!(
        q(&|q| q.project = Some("Cyberpunk".into())),
        ["flux.png", "mj.png"]
    );
    assert_eq!(q(&|q| q.style = Some("neon".into())), ["mj.png"]);
    assert_eq!(q(&|q| q.model = Some("SD_XL".into())), ["mj.png"]);
    // `_` in a model filter is a literal underscore, not LIKE's any-character.
    assert!(q(&|q| q.model = Some("sd_xl_base_1_0".into())).is_empty());
    assert_eq!(q(&|q| q.media_type = Some(MediaType::Video)), ["clip.mp4"]);
    assert_eq!(
        q(&|q| {
            q.project = Some("cyberpunk".into());
            q.source = Some("flux".into());
        }),
        ["flux.png"]
    );
    assert!(q(&|q| q.source = Some("dalle".into())).is_empty());

    // Without text: filters alone, and the limit holds.
    let mut by_project = SearchQuery {
        project: Some("nature".into()),
        ..SearchQuery::default()
    };
    assert_eq!(
        sorted(find(&fx.cat, &by_project)),
        ["clip.mp4", "photo.jpg"]
    );
    by_project.limit = 1;
    assert_eq!(fx.cat.find(&by_project).unwrap().len(), 1);
    let cameras = SearchQuery {
        source: Some("camera".into()),
        ..SearchQuery::default()
    };
    let hits = fx.cat.find(&cameras).unwrap();
    assert_eq!(names(&hits), ["photo.jpg"]);
    assert_eq!((hits[0].score, &hits[0].snippet), (None, &None));

    // AI or not: by the recognized tool when no provenance verdict was stored.
    let ai_only = |ai| SearchQuery {
        ai: Some(ai),
        ..SearchQuery::default()
    };
    assert_eq!(
        sorted(find(&fx.cat, &ai_only(true))),
        ["clip.mp4", "flux.png", "mj.png"]
    );
    assert_eq!(sorted(find(&fx.cat, &ai_only(false))), ["photo.jpg"]);
    assert_eq!(q(&|q| q.ai = Some(false)), Vec::<String>::new());
    // A file whose metadata was never read is neither AI nor not.
    fx.cat
        .upsert_discovered(&"d".repeat(64), Path::new("/inbox/unread.png"), 1)
        .unwrap();
    let page = |ai| {
        let any_status = SearchQuery {
            ai: Some(ai),
            status: None,
            ..SearchQuery::default()
        };
        let recs = fx.cat.page(&any_status, None).unwrap();
        let mut names: Vec<String> = recs
            .iter()
            .map(|r| {
                r.original_path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(sorted(find(&fx.cat, &ai_only(false))), ["photo.jpg"]);
    assert_eq!(page(false), ["photo.jpg"]);
    assert_eq!(page(true), ["clip.mp4", "flux.png", "mj.png"]);
}

#[test]
fn the_ai_filter_follows_the_provenance_verdict_over_the_recognized_tool() {
    let fx = Fixture::new();
    // A camera photo a C2PA manifest says was made by AI, and an AI-looking file the verdict
    // clears: the verdict wins both ways.
    let mut declared = media(&Spec {
        name: "declared.jpg",
        ..Spec::default()
    });
    declared.ai_generated = Some(true);
    let mut cleared = media(&ai("cleared.png", AiSource::Midjourney, "a fox"));
    cleared.ai_generated = Some(false);
    organize_media(&fx.cat, "declared.jpg", &declared);
    organize_media(&fx.cat, "cleared.png", &cleared);
    let only = |ai| {
        sorted(find(
            &fx.cat,
            &SearchQuery {
                ai: Some(ai),
                ..SearchQuery::default()
            },
        ))
    };
    assert_eq!(only(true), ["declared.jpg"]);
    assert_eq!(only(false), ["cleared.png"]);
}

#[test]
fn only_organized_assets_are_found_unless_any_status_is_asked_for() {
    let fx = Fixture::new();
    organize(
        &fx.cat,
        &ai("done.png", AiSource::Midjourney, "a misty harbour"),
    );
    let pending = format!("{:064x}", 7);
    fx.cat
        .upsert_discovered(&pending, Path::new("/inbox/pending.png"), 5)
        .unwrap();
    fx.cat
        .set_metadata(
            &pending,
            &media(&ai("pending.png", AiSource::Flux, "a misty harbour")),
        )
        .unwrap();
    let failed = format!("{:064x}", 8);
    fx.cat
        .upsert_discovered(&failed, Path::new("/inbox/failed harbour.png"), 5)
        .unwrap();
    fx.cat
        .mark_status(&failed, AssetStatus::Failed, Some("truncated"))
        .unwrap();

    assert_eq!(find(&fx.cat, &text("harbour")), ["done.png"]);
    let any = SearchQuery {
        status: None,
        ..text("harbour")
    };
    assert_eq!(
        sorted(find(&fx.cat, &any)),
        ["done.png", "failed harbour.png", "pending.png"]
    );
    let failed_only = SearchQuery {
        status: Some(AssetStatus::Failed),
        ..SearchQuery::default()
    };
    assert_eq!(find(&fx.cat, &failed_only), ["failed harbour.png"]);
}

#[test]
fn date_filters_use_the_capture_wall_clock_else_the_organized_time() {
    let fx = Fixture::new();
    let base = ai("x", AiSource::Midjourney, "a harbour");
    let specs = [
        // 02:00 on the 15th where it was taken, still the 14th in UTC: it belongs to the
        // 15th, like its date folder.
        Spec {
            name: "early.png",
            taken_at: Some("2024-03-15T02:00:00+05:00"),
            ..base.clone()
        },
        Spec {
            name: "late.png",
            taken_at: Some("2024-03-16T23:59:59.500"),
            ..base.clone()
        },
        Spec {
            name: "before.png",
            taken_at: Some("2024-03-14T23:59:59"),
            ..base.clone()
        },
        // No capture time: organized now.
        Spec {
            name: "undated.png",
            taken_at: None,
            ..base.clone()
        },
    ];
    for s in &specs {
        organize(&fx.cat, s);
    }
    let utc_now = Utc::now();
    let range = |since: Option<&str>, until: Option<&str>| {
        let q = SearchQuery {
            since: since.map(|s| TimeBound::parse(s, Edge::Since, &utc_now).unwrap()),
            until: until.map(|s| TimeBound::parse(s, Edge::Until, &utc_now).unwrap()),
            ..text("harbour")
        };
        sorted(find(&fx.cat, &q))
    };
    assert_eq!(
        range(Some("2024-03-15"), Some("2024-03-16")),
        ["early.png", "late.png"]
    );
    assert_eq!(range(Some("2024-03-15"), Some("2024-03-15")), ["early.png"]);
    assert_eq!(range(None, Some("2024-03-14")), ["before.png"]);
    assert_eq!(
        range(Some("2024-03-16T23:59:59"), Some("2024-03-17")),
        ["late.png"]
    );
    // The undated asset was organized moments ago: inside "the last hour", after any 2024
    // date, and outside "older than an hour".
    assert_eq!(range(Some("1h"), None), ["undated.png"]);
    assert_eq!(range(Some("2024-03-17"), None), ["undated.png"]);
    assert_eq!(
        range(None, Some("1h")),
        ["before.png", "early.png", "late.png"]
    );
    assert!(range(Some("2024-03-15"), Some("2024-03-14")).is_empty());
}

#[test]
fn a_date_bound_in_another_zone_moves_only_the_organized_time_comparison() {
    let fx = Fixture::new();
    organize(
        &fx.cat,
        &Spec {
            taken_at: None,
            ..ai("undated.png", AiSource::Flux, "a harbour")
        },
    );
    let organized_at = fx.cat.find(&text("harbour")).unwrap()[0]
        .asset
        .organized_at
        .unwrap();
    // The asset's own wall-clock date in a zone 14 h ahead of UTC: "since that date" there
    // includes it, "since the next day" there excludes it.
    let zone = FixedOffset::east_opt(14 * 3600).unwrap();
    let now = organized_at.with_timezone(&zone);
    let day = now.date_naive();
    let since = |d: chrono::NaiveDate| SearchQuery {
        since: Some(TimeBound::parse(&d.to_string(), Edge::Since, &now).unwrap()),
        ..text("harbour")
    };
    assert_eq!(find(&fx.cat, &since(day)), ["undated.png"]);
    assert!(find(&fx.cat, &since(day.succ_opt().unwrap())).is_empty());
}

#[test]
fn fts_syntax_in_user_text_is_plain_text() {
    let fx = Fixture::new();
    organize(
        &fx.cat,
        &ai("fox.png", AiSource::Midjourney, "a red fox in snow"),
    );
    organize(
        &fx.cat,
        &ai(
            "or.png",
            AiSource::Midjourney,
            "fox or wolf, near the river",
        ),
    );
    let hostile = [
        "\"",
        "\"fox",
        "fox\"",
        "'",
        "*",
        "fox*",
        "^fox",
        "(fox",
        "fox)",
        "{prompt}: fox",
        "prompt:fox",
        "NEAR(fox snow)",
        "fox AND",
        "fox OR zebra",
        "fox NOT snow",
        "-snow",
        "+fox",
        "fox\u{0}snow",
        "fox \u{1}snow\u{2}",
        "; DROP TABLE assets; --",
        "') OR 1=1 --",
        "%",
        "_",
        "\\",
    ];
    for q in hostile {
        fx.cat
            .find(&text(q))
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
        fx.cat
            .find(&SearchQuery {
                model: Some(q.to_owned()),
                project: Some(q.to_owned()),
                ..SearchQuery::default()
            })
            .unwrap_or_else(|e| panic!("filter {q:?} failed: {e}"));
    }
    // Operators are words that must be present, not operators.
    assert!(find(&fx.cat, &text("fox OR zebra")).is_empty());
    assert!(find(&fx.cat, &text("fox NOT snow")).is_empty());
    assert_eq!(find(&fx.cat, &text("fox OR")), ["or.png"]);
    // As the NEAR operator this would match or.png; as text, `NEAR(fox` is the phrase
    // "near fox", which no prompt holds.
    assert!(find(&fx.cat, &text("NEAR(fox river)")).is_empty());
    assert_eq!(find(&fx.cat, &text("near the river")), ["or.png"]);
    // A column filter is two words.
    assert!(find(&fx.cat, &text("prompt:fox")).is_empty());
    // Punctuation around a word is not syntax either.
    assert_eq!(sorted(find(&fx.cat, &text("-fox"))), ["fox.png", "or.png"]);
    // Text without any word matches nothing (it is not "no text").
    assert!(find(&fx.cat, &text("\" * -")).is_empty());
    // The catalog is intact.
    assert_eq!(fx.cat.status_counts().unwrap().organized, 2);
}

#[test]
fn a_reader_opened_before_a_placement_sees_it_once_committed() {
    let fx = Fixture::new();
    let reader = Catalog::open_readonly(&fx.path).unwrap();
    assert!(reader.find(&text("lighthouse")).unwrap().is_empty());

    let id = organize(
        &fx.cat,
        &ai("l.png", AiSource::Flux, "a lighthouse at dusk"),
    );
    let hits = reader.find(&text("lighthouse")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].asset.asset_id, id);

    // New metadata replaces the indexed prompt in the same transaction.
    fx.cat
        .set_metadata(&id, &media(&ai("l.png", AiSource::Flux, "a tram in fog")))
        .unwrap();
    assert!(reader.find(&text("lighthouse")).unwrap().is_empty());
    assert_eq!(reader.find(&text("tram fog")).unwrap().len(), 1);
}

#[test]
fn without_text_the_newest_capture_comes_first() {
    let fx = Fixture::new();
    for (name, t) in [
        ("mid.png", "2024-03-15T12:00:00"),
        ("new.png", "2024-05-01T08:00:00+02:00"),
        ("old.png", "2023-01-01T00:00:00"),
    ] {
        organize(
            &fx.cat,
            &Spec {
                taken_at: Some(t),
                ..ai(name, AiSource::Midjourney, "x")
            },
        );
    }
    assert_eq!(
        find(&fx.cat, &SearchQuery::default()),
        ["new.png", "mid.png", "old.png"]
    );
}

#[test]
fn lora_filter_matches_a_part_of_any_lora_name() {
    let fx = Fixture::new();
    let specs = [
        Spec {
            loras: &["add_detail", "epiNoiseoffset_v2"],
            ..ai("two.png", AiSource::StableDiffusion, "a castle")
        },
        Spec {
            loras: &["flux_realism_lora.safetensors"],
            ..ai("flux.png", AiSource::Comfyui, "a castle at dawn")
        },
        ai("none.png", AiSource::Midjourney, "a castle in fog"),
        Spec {
            name: "photo.jpg",
            ..Spec::default()
        },
    ];
    for s in &specs {
        organize(&fx.cat, s);
    }
    let by_lora = |text_query: &str, lora: &str| {
        let mut q = text(text_query);
        q.lora = Some(lora.into());
        sorted(find(&fx.cat, &q))
    };
    assert_eq!(by_lora("castle", "DETAIL"), ["two.png"]);
    assert_eq!(by_lora("castle", "noiseoffset"), ["two.png"]);
    assert_eq!(by_lora("", "realism"), ["flux.png"]);
    assert_eq!(by_lora("", "lora"), ["flux.png"]);
    assert!(by_lora("", "add%detail").is_empty());
    assert!(by_lora("castle", "missing").is_empty());
}

/// Rows of the full-text index's data table: a new segment adds rows.
fn fts_rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM assets_fts_data", [], |r| r.get(0))
        .unwrap()
}

/// Recording the same values again (a placement, then its `organized` event; a file seen
/// again at the same path) leaves the full-text row alone; a changed value is indexed.
#[test]
fn the_full_text_row_is_rewritten_only_when_an_indexed_value_changes() {
    let fx = Fixture::new();
    let spec = Spec {
        project: "coast",
        ..ai("lighthouse.png", AiSource::Flux, "a lighthouse at dusk")
    };
    let id = organize(&fx.cat, &spec);
    let before = fts_rows(&fx.path);
    for _ in 0..3 {
        fx.cat
            .upsert_discovered(&id, &Path::new("/inbox").join(spec.name), 100)
            .unwrap();
    }
    assert_eq!(fts_rows(&fx.path), before, "nothing indexed changed");
    assert_eq!(find(&fx.cat, &text("lighthouse")), vec!["lighthouse.png"]);

    // The same metadata stored again: still nothing; a new prompt: indexed.
    let mut m = media(&spec);
    assert!(fx.cat.set_metadata(&id, &m).is_ok());
    assert_eq!(fts_rows(&fx.path), before, "the same metadata again");
    m.ai.as_mut().unwrap().prompt = Some("a harbour light in fog".into());
    fx.cat.set_metadata(&id, &m).unwrap();
    assert_eq!(find(&fx.cat, &text("harbour")), vec!["lighthouse.png"]);
    assert!(
        find(&fx.cat, &text("dusk")).is_empty(),
        "the old prompt is gone"
    );
}

/// Many assets discovered and given prompts in one transaction (one group commit) are indexed
/// together: one new full-text segment, not one per statement; every prompt is found.
#[test]
fn one_transaction_writes_one_full_text_segment() {
    let fx = Fixture::new();
    organize(&fx.cat, &ai("seed.png", AiSource::Flux, "a seed prompt"));
    let before = fts_rows(&fx.path);
    let n = 40;
    let ids: Vec<String> = (0..n).map(|i| format!("{:064x}", 0xabc000 + i)).collect();
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| PathBuf::from(format!("/inbox/b{i}.png")))
        .collect();
    let medias: Vec<MediaInfo> = (0..n)
        .map(|i| {
            let spec = ai("x.png", AiSource::Flux, "placeholder");
            let mut m = media(&spec);
            m.ai.as_mut().unwrap().prompt = Some(format!("lantern{i} over water"));
            m
        })
        .collect();
    let event_ids: Vec<String> = (0..2 * n).map(|i| format!("ev-{i}")).collect();
    let mut items = Vec::new();
    for i in 0..n as usize {
        for (k, update) in [
            AssetUpdate::Discovered {
                asset_id: &ids[i],
                path: &paths[i],
                size: 1,
            },
            AssetUpdate::Metadata {
                asset_id: &ids[i],
                media: &medias[i],
            },
        ]
        .into_iter()
        .enumerate()
        {
            let event = NewEvent {
                id: &event_ids[2 * i + k],
                event_type: "test.event",
                time: Utc::now(),
                asset_id: Some(&ids[i]),
                correlation_id: None,
                json: "{}",
            };
            items.push((event, update));
        }
    }
    fx.cat.record_batch_consumed(&items, &[]).unwrap();
    let added = fts_rows(&fx.path) - before;
    assert!(
        added <= 3,
        "{added} rows of full-text data for one transaction"
    );
    // Discovered, not organized: asked of the index itself.
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    let matching = |q: &str| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM assets_fts WHERE assets_fts MATCH ?1",
            [q],
            |r| r.get(0),
        )
        .unwrap()
    };
    for i in [0, 17, n - 1] {
        assert_eq!(matching(&format!("lantern{i}")), 1, "lantern{i}");
    }
    assert_eq!(matching("water"), n);
    let dirty: i64 = conn
        .query_row("SELECT count(*) FROM fts_dirty", [], |r| r.get(0))
        .unwrap();
    assert_eq!(dirty, 0, "nothing left to index after the commit");
}
