//! The asset page: the image or video, its prompt (with a copy button), the generation
//! parameters, its sidecars and group members, every metadata field, and its event history as
//! a timeline.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::response::Html;
use catalog::{AssetRecord, SidecarRecord, StoredEvent};
use serde_json::{Value, json};

use crate::html::{Failure, Nav, caption, esc, is_video, json_html, page, shorten, tile};
use crate::{App, is_asset_id};

/// `GET /asset/{id}`.
pub(crate) async fn asset(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Html<String>, Failure> {
    if !is_asset_id(&id) {
        return Err(Failure::NotFound);
    }
    let (asset, history, companions) = app
        .readers
        .run(move |c| {
            // A catalog written before sidecars were recorded has none.
            let mut companions = c.sidecars_of_asset(&id).unwrap_or_default();
            companions.extend(c.placed_copy_of(&id).ok().flatten());
            Ok((c.asset(&id)?, c.events_for_asset(&id)?, companions))
        })
        .await?;
    let asset = asset.ok_or(Failure::NotFound)?;
    let near = near_duplicates(&app, &asset.asset_id).await?;
    let title = shorten(&caption(&asset), 60);
    let body = format!(
        "<article class=\"asset\"><div class=\"viewer\">{}</div><div class=\"details\">{}{}{near}{}\
         <section><h2>File</h2>{}</section><section><h2>History</h2>{}</section></div></article>",
        viewer(&asset),
        prompts(&asset),
        generation(&asset),
        sidecars(&asset.asset_id, &companions),
        json_html(&file_fields(&asset)),
        timeline(&history),
    );
    Ok(page(&title, Nav::None, app.keys.csrf(), &body))
}

/// Near-duplicates the daemon knows, as small tiles linking to them; nothing when there are
/// none.
async fn near_duplicates(app: &App, asset_id: &str) -> Result<String, Failure> {
    let found = app.parts.daemon.similar(asset_id.to_owned()).await;
    if found.is_empty() {
        return Ok(String::new());
    }
    let ids: Vec<String> = found.iter().map(|s| s.asset_id.clone()).collect();
    let records = app
        .readers
        .run(move |c| {
            ids.iter()
                .filter_map(|id| c.asset(id).transpose())
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut out = format!(
        "<section class=\"near\" id=\"near\"><h2>Near-duplicates ({})</h2>\
         <p class=\"muted\">The same picture resized, re-encoded, cropped or turned. Nothing is \
         deleted for being similar. <a href=\"/?q=similar:{}\">Show in the gallery</a></p>\
         <div class=\"grid neargrid\">",
        records.len(),
        &asset_id[..12]
    );
    out.extend(records.iter().map(tile));
    out.push_str("</div></section>");
    Ok(out)
}

/// The files that travel with this one (its sidecars, the other members of its group), or the
/// file it travels with; nothing when there are none.
fn sidecars(asset_id: &str, companions: &[SidecarRecord]) -> String {
    if companions.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section class=\"sidecars\"><h2>Sidecars and group</h2><table>\
         <tr><th>kind</th><th>file</th><th>size</th></tr>",
    );
    for s in companions {
        let name = s
            .destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // This asset is itself the member: name the file it travels with.
        let kind = if s.sidecar_id == asset_id && s.asset_id != asset_id {
            format!(
                "{} of <a href=\"/asset/{id}\">{}</a>",
                esc(&s.kind),
                &s.asset_id[..12.min(s.asset_id.len())],
                id = esc(&s.asset_id)
            )
        } else {
            esc(&s.kind)
        };
        let _ = write!(
            out,
            "<tr><td>{kind}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            human_size(s.size)
        );
    }
    out.push_str("</table></section>");
    out
}

fn viewer(asset: &AssetRecord) -> String {
    let id = &asset.asset_id;
    if is_video(asset) {
        format!("<video src=\"/media/{id}\" controls preload=\"metadata\"></video>")
    } else {
        format!(
            "<a href=\"/media/{id}\" title=\"Open the original\">\
             <img src=\"/thumb/{id}?size=1024\" alt=\"{}\"></a>",
            esc(&shorten(&caption(asset), 200))
        )
    }
}

fn prompts(asset: &AssetRecord) -> String {
    let Some(ai) = asset.media.as_ref().and_then(|m| m.ai.as_ref()) else {
        return String::new();
    };
    let mut out = String::new();
    for (id, label, text) in [
        ("prompt", "Prompt", &ai.prompt),
        ("negative", "Negative prompt", &ai.negative_prompt),
    ] {
        if let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) {
            let _ = write!(
                out,
                "<section class=\"prompt\"><div class=\"head\"><h2>{label}</h2>\
                 <button type=\"button\" class=\"copy\" data-copy=\"{id}\">Copy</button></div>\
                 <p id=\"{id}\" class=\"prompttext\">{}</p></section>",
                esc(text)
            );
        }
    }
    out
}

fn generation(asset: &AssetRecord) -> String {
    let Some(ai) = asset.media.as_ref().and_then(|m| m.ai.as_ref()) else {
        return String::new();
    };
    let mut value = serde_json::to_value(ai).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("prompt");
        map.remove("negative_prompt");
    }
    format!(
        "<section><h2>Generation</h2>{}</section>",
        json_html(&value)
    )
}

/// The catalog record and every metadata field but the AI ones (shown above).
fn file_fields(asset: &AssetRecord) -> Value {
    let mut fields = json!({
        "asset_id": asset.asset_id,
        "status": asset.status.as_str(),
        "status_reason": asset.status_reason,
        "source": asset.source,
        "project": asset.project,
        "style": asset.style,
        "size": human_size(asset.size),
        "organized_path": asset.organized_path.as_ref().map(|p| p.display().to_string()),
        "original_path": asset.original_path.display().to_string(),
        "first_seen": asset.first_seen.to_rfc3339(),
        "organized_at": asset.organized_at.map(|t| t.to_rfc3339()),
    });
    if let (Some(map), Some(Value::Object(media))) = (
        fields.as_object_mut(),
        asset
            .media
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok()),
    ) {
        for (k, v) in media.into_iter().filter(|(k, _)| k != "ai") {
            map.insert(k, v);
        }
    }
    fields
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit == "bytes" {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {unit} ({bytes} bytes)")
    }
}

/// `alice.asset.organized.v1` → `asset organized`.
fn short_type(t: &str) -> String {
    let t = t.strip_prefix("alice.").unwrap_or(t);
    let t = t.rsplit_once(".v").map_or(t, |(head, _)| head);
    t.replace(['.', '_'], " ")
}

/// The scalar fields of an event's data, as `key: value` pairs.
fn summary(json: &str) -> String {
    let data: Value = serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get("data").cloned())
        .unwrap_or_default();
    let Some(map) = data.as_object() else {
        return String::new();
    };
    let parts: Vec<String> = map
        .iter()
        .filter(|(k, v)| *k != "asset_id" && !v.is_null() && !v.is_object() && !v.is_array())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{}: {}", k.replace('_', " "), shorten(s, 160)),
            other => format!("{}: {other}", k.replace('_', " ")),
        })
        .collect();
    esc(&parts.join(" · "))
}

fn timeline(history: &[StoredEvent]) -> String {
    if history.is_empty() {
        return "<p class=\"muted\">No events recorded (older events are pruned).</p>".into();
    }
    let mut out = String::from("<ol class=\"timeline\">");
    for e in history {
        let _ = write!(
            out,
            "<li><time datetime=\"{}\">{}</time><span class=\"type\">{}</span>\
             <span class=\"detail\">{}</span></li>",
            e.time.to_rfc3339(),
            e.time.format("%Y-%m-%d %H:%M:%S"),
            esc(&short_type(&e.event_type)),
            summary(&e.json)
        );
    }
    out.push_str("</ol>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_sizes_read_well() {
        assert_eq!(short_type("alice.asset.organized.v1"), "asset organized");
        assert_eq!(
            short_type("alice.metadata_extracted.v2"),
            "metadata extracted"
        );
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB (3145728 bytes)");
        let s = summary(r#"{"data":{"asset_id":"x","destination":"/o/<a>.png","size":3,"m":{}}}"#);
        assert_eq!(s, "destination: /o/&lt;a&gt;.png · size: 3");
    }

    fn record(asset_id: &str, sidecar_id: &str, kind: &str, dest: &str) -> SidecarRecord {
        SidecarRecord {
            id: 1,
            op_id: 1,
            asset_id: asset_id.into(),
            sidecar_id: sidecar_id.into(),
            kind: kind.into(),
            size: 2048,
            source: "/in/x".into(),
            destination: dest.into(),
            state: catalog::SidecarState::Placed,
        }
    }

    #[test]
    fn sidecars_and_group_members_are_listed_escaped_and_a_member_names_its_still() {
        let (still, raw) = ("a".repeat(64), "b".repeat(64));
        assert_eq!(sidecars(&still, &[]), "");
        let own = sidecars(
            &still,
            &[
                record(&still, &"c".repeat(64), "xmp", "/o/<IMG_1>.jpg.xmp"),
                record(&still, &raw, "raw", "/o/IMG_1.CR2"),
            ],
        );
        assert!(own.contains("<td>xmp</td><td>&lt;IMG_1&gt;.jpg.xmp</td><td>2.0 KiB"));
        assert!(own.contains("<td>raw</td><td>IMG_1.CR2</td>"));
        let member = sidecars(&raw, &[record(&still, &raw, "raw", "/o/IMG_1.CR2")]);
        assert!(member.contains(&format!(
            "raw of <a href=\"/asset/{still}\">aaaaaaaaaaaa</a>"
        )));
    }
}
