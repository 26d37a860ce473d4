//! The routes and the pages: gallery (with search, filters and infinite scroll), asset,
//! status, login, and the context form.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use catalog::{AssetRecord, Edge, FilterValues, PageKey, SearchQuery, TimeBound};
use chrono::{DateTime, Utc};
use events::media::MediaType;
use serde::Deserialize;

use crate::html::{Failure, Nav, esc, page, query_value, tile};
use crate::{App, is_asset_id};

/// Tiles per page of the gallery.
const PAGE: usize = 48;

/// Every route, behind the guard.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(gallery))
        .route("/more", get(more))
        .route("/asset/{id}", get(crate::asset::asset))
        .route("/media/{id}", get(crate::media::original))
        .route("/thumb/{id}", get(crate::media::thumbnail))
        .route("/events", get(crate::live::events))
        .route("/status", get(crate::status::status))
        .route("/context", post(crate::status::set_context))
        .route("/login", get(login))
        .route("/static/app.js", get(script))
        .route("/static/style.css", get(style))
        .fallback(|| async { Failure::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::guard::guard,
        ))
        .with_state(app)
}

async fn script() -> impl IntoResponse {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    )
}

fn static_file(mime: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=…`: a fresh one-time token sets the session cookie.
async fn login(State(app): State<Arc<App>>, Query(q): Query<LoginQuery>) -> Response {
    let now = Utc::now().timestamp();
    if !q
        .token
        .as_deref()
        .is_some_and(|t| app.keys.accept_login(t, now))
    {
        tracing::warn!("web login with a used, expired or wrong token refused");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This login link is used up, expired or wrong. Run `alice web` for a new one.\n",
        )
            .into_response();
    }
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000",
        crate::auth::COOKIE,
        app.keys.session()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The gallery's query string: search text, filters and the cursor.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    q: Option<String>,
    source: Option<String>,
    project: Option<String>,
    style: Option<String>,
    model: Option<String>,
    lora: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(rename = "type")]
    media: Option<String>,
    /// `ai` or `not-ai`.
    ai: Option<String>,
    after: Option<String>,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Filters {
    /// The catalog query these filters ask for.
    fn query(&self) -> Result<SearchQuery, Failure> {
        let now = chrono::Local::now();
        let bound = |v: &Option<String>, edge| {
            set(v)
                .map(|t| TimeBound::parse(&t, edge, &now))
                .transpose()
                .map_err(|e| Failure::BadRequest(e.to_string()))
        };
        let media_type = match set(&self.media).as_deref() {
            None => None,
            Some("image") => Some(MediaType::Image),
            Some("video") => Some(MediaType::Video),
            Some(other) => {
                return Err(Failure::BadRequest(format!(
                    "type {other:?} is neither image nor video"
                )));
            }
        };
        let ai = match set(&self.ai).as_deref() {
            None => None,
            Some("ai") => Some(true),
            Some("not-ai") => Some(false),
            Some(other) => {
                return Err(Failure::BadRequest(format!(
                    "ai {other:?} is neither ai nor not-ai"
                )));
            }
        };
        Ok(SearchQuery {
            text: set(&self.q).unwrap_or_default(),
            source: set(&self.source),
            project: set(&self.project),
            style: set(&self.style),
            model: set(&self.model),
            lora: set(&self.lora),
            since: bound(&self.since, Edge::Since)?,
            until: bound(&self.until, Edge::Until)?,
            media_type,
            ai,
            limit: PAGE,
            ..SearchQuery::default()
        })
    }

    /// The cursor to continue after, when given.
    fn after(&self) -> Result<Option<PageKey>, Failure> {
        let Some(text) = set(&self.after) else {
            return Ok(None);
        };
        let bad = || Failure::BadRequest("the page cursor is not one this server made".into());
        let (nanos, id) = text.split_once('.').ok_or_else(bad)?;
        let nanos: i64 = nanos.parse().map_err(|_| bad())?;
        if !is_asset_id(id) {
            return Err(bad());
        }
        Ok(Some(PageKey {
            at: DateTime::from_timestamp_nanos(nanos),
            asset_id: id.to_owned(),
        }))
    }

    /// The query string of these filters (without the cursor), `&`-joined.
    fn query_string(&self) -> String {
        [
            ("q", &self.q),
            ("source", &self.source),
            ("project", &self.project),
            ("style", &self.style),
            ("model", &self.model),
            ("lora", &self.lora),
            ("since", &self.since),
            ("until", &self.until),
            ("type", &self.media),
            ("ai", &self.ai),
        ]
        .iter()
        .filter_map(|(k, v)| set(v).map(|v| format!("{k}={}", query_value(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// Whether a filter other than the search text is set.
    fn narrowed(&self) -> bool {
        [
            &self.source,
            &self.project,
            &self.style,
            &self.model,
            &self.lora,
            &self.since,
            &self.until,
            &self.media,
            &self.ai,
        ]
        .iter()
        .any(|v| set(v).is_some())
    }

    fn is_empty(&self) -> bool {
        self.query_string().is_empty()
    }
}

fn cursor(asset: &AssetRecord) -> String {
    let key = PageKey::of(asset);
    format!(
        "{}.{}",
        key.at.timestamp_nanos_opt().unwrap_or_default(),
        key.asset_id
    )
}

/// The tiles of a page and, when it is full, the element that loads the next one.
fn tiles_and_more(assets: &[AssetRecord], filters: &Filters) -> String {
    let mut out: String = assets.iter().map(tile).collect();
    if assets.len() == PAGE
        && let Some(last) = assets.last()
    {
        let qs = filters.query_string();
        let sep = if qs.is_empty() { "" } else { "&" };
        let _ = write!(
            out,
            "<div class=\"more\" data-next=\"/more?{}{sep}after={}\"></div>",
            esc(&qs),
            cursor(last)
        );
    }
    out
}

async fn load_page(app: &App, filters: &Filters) -> Result<Vec<AssetRecord>, Failure> {
    let query = filters.query()?;
    let after = filters.after()?;
    app.readers
        .run(move |c| c.page(&query, after.as_ref()))
        .await
}

/// The asset id prefix of a `similar:<id prefix>` word in the search text, lowercased.
fn similar_prefix(filters: &Filters) -> Option<String> {
    let q = set(&filters.q)?;
    q.split_whitespace()
        .find_map(|w| w.strip_prefix("similar:"))
        .map(str::to_ascii_lowercase)
}

/// An asset and its near-duplicates, for `similar:<id prefix>`: one page, no cursor.
async fn similar_assets(app: &App, prefix: &str) -> Result<Vec<AssetRecord>, Failure> {
    let valid = (4..=64).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid {
        return Err(Failure::BadRequest(format!(
            "similar:{prefix} needs the first 4 to 64 hex digits of an asset id (the asset page shows it)"
        )));
    }
    let p = prefix.to_owned();
    let ids = app
        .readers
        .run(move |c| c.asset_ids_with_prefix(&p, 2))
        .await?;
    let [id] = ids.as_slice() else {
        return Err(Failure::BadRequest(if ids.is_empty() {
            format!("no asset id starts with {prefix}")
        } else {
            format!("several asset ids start with {prefix}; give more digits")
        }));
    };
    let mut wanted = vec![id.clone()];
    wanted.extend(
        app.parts
            .daemon
            .similar(id.clone())
            .await
            .into_iter()
            .map(|s| s.asset_id),
    );
    app.readers
        .run(move |c| {
            wanted
                .iter()
                .filter_map(|id| c.asset(id).transpose())
                .collect::<Result<Vec<_>, _>>()
        })
        .await
}

/// `GET /more?…&after=…`: the next tiles, as an HTML fragment.
async fn more(
    State(app): State<Arc<App>>,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, Failure> {
    if similar_prefix(&filters).is_some() {
        return Ok(Html(String::new()));
    }
    let assets = load_page(&app, &filters).await?;
    Ok(Html(tiles_and_more(&assets, &filters)))
}

/// `GET /`: the gallery. Unfiltered, it is also the live view.
async fn gallery(
    State(app): State<Arc<App>>,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, Failure> {
    let values = app.filter_values().await?;
    let assets = match similar_prefix(&filters) {
        Some(prefix) => similar_assets(&app, &prefix).await?,
        None => load_page(&app, &filters).await?,
    };
    let live = filters.is_empty() && set(&filters.after).is_none();
    let mut body = filter_form(&filters, &values);
    if assets.is_empty() {
        body.push_str(if live {
            "<p class=\"empty\" id=\"empty\">Nothing organized yet: drop files into an inbox and they appear here.</p>"
        } else {
            "<p class=\"empty\">No files match.</p>"
        });
    }
    let _ = write!(
        body,
        "<div class=\"grid\" id=\"grid\"{}>{}</div>",
        if live { " data-live=\"1\"" } else { "" },
        tiles_and_more(&assets, &filters)
    );
    let title = set(&filters.q).unwrap_or_else(|| "Gallery".into());
    Ok(page(&title, Nav::Gallery, app.keys.csrf(), &body))
}

fn options(name: &str, any: &str, values: &[String], chosen: &Option<String>) -> String {
    let chosen = set(chosen);
    let mut out =
        format!("<select name=\"{name}\" aria-label=\"{name}\"><option value=\"\">{any}</option>");
    let mut listed = false;
    for v in values {
        let on = chosen.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(v));
        listed |= on;
        let _ = write!(
            out,
            "<option value=\"{v}\"{}>{v}</option>",
            if on { " selected" } else { "" },
            v = esc(v)
        );
    }
    if let (Some(c), false) = (chosen, listed) {
        let _ = write!(
            out,
            "<option value=\"{c}\" selected>{c}</option>",
            c = esc(&c)
        );
    }
    out.push_str("</select>");
    out
}

fn filter_form(f: &Filters, values: &FilterValues) -> String {
    let input = |name: &str, kind: &str, label: &str, v: &Option<String>| {
        format!(
            "<input type=\"{kind}\" name=\"{name}\" placeholder=\"{label}\" aria-label=\"{label}\" value=\"{}\">",
            esc(set(v).as_deref().unwrap_or(""))
        )
    };
    let kinds = ["image".to_owned(), "video".to_owned()];
    let origins = ["ai".to_owned(), "not-ai".to_owned()];
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/\">\
         <div class=\"searchrow\">{}<button type=\"submit\">Search</button></div>\
         <details{}><summary>Filters</summary><div class=\"filterrow\">{}{}{}{}{}{}{}\
         <label>from {}</label><label>to {}</label>\
         <a class=\"clear\" href=\"/\">Clear</a></div></details></form>",
        input(
            "q",
            "search",
            "Search prompts, models, file names… (similar:ID for near-duplicates)",
            &f.q
        ),
        if f.narrowed() { " open" } else { "" },
        options("source", "any source", &values.sources, &f.source),
        options("project", "any project", &values.projects, &f.project),
        options("style", "any style", &values.styles, &f.style),
        options("type", "images and videos", &kinds, &f.media),
        options("ai", "AI or not", &origins, &f.ai),
        input("model", "text", "model", &f.model),
        input("lora", "text", "LoRA", &f.lora),
        input("since", "date", "since", &f.since),
        input("until", "date", "until", &f.until),
    )
}

impl App {
    /// The filter choices, read at most every 30 s (they change slowly, and listing styles
    /// scans the assets table).
    pub(crate) async fn filter_values(&self) -> Result<FilterValues, Failure> {
        if let Ok(cached) = self.filter_cache.lock()
            && let Some((at, v)) = cached.as_ref()
            && at.elapsed() < std::time::Duration::from_secs(30)
        {
            return Ok(v.clone());
        }
        let values = self.readers.run(|c| c.filter_values()).await?;
        if let Ok(mut cache) = self.filter_cache.lock() {
            *cache = Some((std::time::Instant::now(), values.clone()));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_similar_word_in_the_search_text_names_an_id_prefix() {
        let with = |q: &str| Filters {
            q: Some(q.into()),
            ..Filters::default()
        };
        assert_eq!(
            similar_prefix(&with("similar:7AB36b")).as_deref(),
            Some("7ab36b")
        );
        assert_eq!(
            similar_prefix(&with("fox similar:0f1e")).as_deref(),
            Some("0f1e")
        );
        assert_eq!(similar_prefix(&with("similarities")), None);
        assert_eq!(similar_prefix(&Filters::default()), None);
    }
}
