//! HTML building blocks: escaping, the page frame, gallery tiles, and failures as pages.
//!
//! Pages are plain strings put together from escaped parts: every value that comes from the
//! catalog, a file or the request passes through [`esc`] (or [`attr`]) on its way in.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use catalog::AssetRecord;
use events::media::MediaType;

/// Escapes text for an HTML text node or a double-quoted attribute.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub(crate) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Gallery,
    Status,
    None,
}

/// A whole page: `body` is trusted HTML, `title` is escaped.
pub(crate) fn page(title: &str, nav: Nav, csrf: &str, body: &str) -> Html<String> {
    let link = |href: &str, label: &str, me: Nav| {
        let on = if nav == me { " class=\"on\"" } else { "" };
        format!("<a href=\"{href}\"{on}>{label}</a>")
    };
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{csrf}\">\
         <title>{title} · alice</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\">\
         <script src=\"/static/app.js\" defer></script></head>\
         <body><header class=\"top\"><a class=\"brand\" href=\"/\">alice</a><nav>{}{}</nav></header>\
         <main>{body}</main></body></html>",
        link("/", "Gallery", Nav::Gallery),
        link("/status", "Status", Nav::Status),
        csrf = esc(csrf),
        title = esc(title),
    ))
}

/// The first `max` characters of `text`, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

/// What a tile or a title calls an asset: its prompt, else its file name.
pub(crate) fn caption(asset: &AssetRecord) -> String {
    asset
        .media
        .as_ref()
        .and_then(|m| m.ai.as_ref())
        .and_then(|ai| ai.prompt.clone())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| {
            asset
                .organized_path
                .as_deref()
                .unwrap_or(&asset.original_path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

/// Whether the asset is a video.
pub(crate) fn is_video(asset: &AssetRecord) -> bool {
    asset
        .media
        .as_ref()
        .is_some_and(|m| m.media_type == MediaType::Video)
}

/// One gallery tile (a single line: the live view sends it as one server-sent event).
pub(crate) fn tile(asset: &AssetRecord) -> String {
    let id = &asset.asset_id;
    let label = caption(asset);
    let media = if is_video(asset) {
        format!("<video src=\"/media/{id}\" preload=\"metadata\" muted></video>")
    } else {
        format!(
            "<img src=\"/thumb/{id}\" loading=\"lazy\" decoding=\"async\" alt=\"{}\">",
            esc(&shorten(&label, 120))
        )
    };
    let when = asset
        .organized_at
        .unwrap_or(asset.first_seen)
        .format("%Y-%m-%d");
    format!(
        "<a class=\"tile\" href=\"/asset/{id}\" data-id=\"{id}\">{media}\
         <span class=\"cap\"><span class=\"src\">{}</span> <span class=\"when\">{when}</span>\
         <span class=\"text\">{}</span></span></a>",
        esc(asset.source.as_deref().unwrap_or("unknown")),
        esc(&shorten(&label, 90)),
    )
}

/// Why a request failed, answered as a small page.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Nothing here (unknown asset, path or file).
    NotFound,
    /// The request asks for something impossible; the text says what.
    BadRequest(String),
    /// The server failed (logged; the page says only that).
    Internal(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Failure::NotFound => (StatusCode::NOT_FOUND, "Nothing here.".to_owned()),
            Failure::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            Failure::Internal(why) => {
                tracing::error!(error = %why, "web request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server could not answer; see the daemon's log.".to_owned(),
                )
            }
        };
        let body = format!(
            "<section class=\"panel\"><h1>{}</h1><p>{}</p><p><a href=\"/\">Back to the gallery</a></p></section>",
            status.as_u16(),
            esc(&text)
        );
        (status, page(&status.to_string(), Nav::None, "", &body)).into_response()
    }
}

/// A JSON value as HTML: an object as a two-column table (nulls and empty lists left out),
/// a list of objects as a table with a column per key, other lists joined, scalars as text.
pub(crate) fn json_html(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => String::new(),
        Value::String(s) => esc(s),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Object(map) => {
            let mut out = String::from("<table class=\"kv\">");
            for (k, v) in map {
                if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
                    continue;
                }
                let _ = write!(
                    out,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    esc(&k.replace('_', " ")),
                    json_html(v)
                );
            }
            out.push_str("</table>");
            out
        }
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut columns: Vec<&String> = Vec::new();
            for item in items.iter().filter_map(Value::as_object) {
                for k in item.keys() {
                    if !columns.contains(&k) {
                        columns.push(k);
                    }
                }
            }
            let mut out = String::from("<div class=\"scroll\"><table class=\"list\"><tr>");
            for c in &columns {
                let _ = write!(out, "<th>{}</th>", esc(&c.replace('_', " ")));
            }
            out.push_str("</tr>");
            for item in items {
                out.push_str("<tr>");
                for c in &columns {
                    let _ = write!(out, "<td>{}</td>", json_html(&item[c.as_str()]));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table></div>");
            out
        }
        Value::Array(items) => items.iter().map(json_html).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>\u{1b}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{fffd}"
        );
        assert_eq!(query_value("a b/ü&"), "a%20b%2F%C3%BC%26");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
    }

    #[test]
    fn json_becomes_escaped_tables() {
        let v = serde_json::json!({
            "a_key": "<b>",
            "none": null,
            "empty": [],
            "rows": [{"x": 1}, {"y": true}],
            "list": ["p", "q"],
        });
        let html = json_html(&v);
        assert!(html.contains("<th>a key</th><td>&lt;b&gt;</td>"), "{html}");
        assert!(!html.contains("none") && !html.contains("empty"), "{html}");
        assert!(html.contains("<th>x</th><th>y</th>"), "{html}");
        assert!(html.contains("<td>1</td><td></td>"), "{html}");
        assert!(html.contains("p, q"), "{html}");
    }
}
