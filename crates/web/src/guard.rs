//! The checks every request passes, in order: the Host header, the session cookie (all but
//! `/login`), the CSRF token (every request that is not GET or HEAD); and the security
//! headers every response carries.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// Scripts and styles from our own files only, no inline code, no framing, no plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   media-src 'self'; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Largest form body read to find its CSRF field.
const MAX_FORM: usize = 64 * 1024;

/// The header a script sends the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries the CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// The Host header values the server answers to on `port`, lowercase.
pub(crate) fn allowed_hosts(port: u16, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect();
    hosts.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
    hosts
}

fn host_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h.trim())))
}

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The middleware: see the module docs.
pub(crate) async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut response = check(&app, req, next).await;
    let h = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-resource-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn check(app: &App, req: Request, next: Next) -> Response {
    if !host_allowed(&app.hosts, req.headers()) {
        tracing::warn!(host = ?req.headers().get(header::HOST), "web request with a foreign Host header refused");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This server does not answer to that host name.\n",
        );
    }
    if req.uri().path() == "/login" {
        return next.run(req).await;
    }
    let session = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| app.keys.has_session(c));
    if !session {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Not logged in. Run `alice web` and open the URL it prints.\n",
        );
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    match csrf_checked(app, req).await {
        Some(req) => next.run(req).await,
        None => refuse(
            StatusCode::FORBIDDEN,
            "This request lacks the page's CSRF token; reload the page and try again.\n",
        ),
    }
}

/// The request again when it carries the session's CSRF token (in the header, or as the
/// `csrf` field of a form body); `None` otherwise.
async fn csrf_checked(app: &App, req: Request) -> Option<Request> {
    let in_header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| app.keys.is_csrf(t));
    if in_header {
        return Some(req);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.ok()?;
    let ok = form_urlencoded::parse(&bytes).any(|(k, v)| k == CSRF_FIELD && app.keys.is_csrf(&v));
    ok.then(|| Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_names_pass_the_host_check() {
        let allowed = allowed_hosts(8080, &["Gallery.example:443".into()]);
        let with = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            host_allowed(&allowed, &m)
        };
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "gallery.example:443",
        ] {
            assert!(with(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "localhost",
            "127.0.0.1:8081",
            "evil.example:8080",
            "localhost.evil.example:8080",
            "127.0.0.1:8080.evil",
        ] {
            assert!(!with(bad), "{bad}");
        }
        assert!(!host_allowed(&allowed, &HeaderMap::new()));
    }
}
