//! Originals and thumbnails, by asset id only. The file's path comes from the catalog and is
//! opened beneath a handle on the organized folder (`fsroot`), so neither the request nor a
//! symlink planted in the organized tree can lead anywhere else.

use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use catalog::AssetStatus;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::html::Failure;
use crate::{App, ThumbSize, is_asset_id};

/// The MIME type for a format name as the metadata reader writes it (or a file extension).
fn content_type(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpeg" | "jpg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "avif" => "image/avif",
        "bmp" => "image/bmp",
        "tiff" | "tif" => "image/tiff",
        "jxl" => "image/jxl",
        "heic" | "heif" => "image/heic",
        "mp4" | "m4v" => "video/mp4",
        "mov" | "quicktime" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" | "matroska" => "video/x-matroska",
        _ => "application/octet-stream",
    }
}

/// `GET /media/{id}`: the organized file.
pub(crate) async fn original(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    if !is_asset_id(&id) {
        return Err(Failure::NotFound);
    }
    let lookup = id.clone();
    let asset = app
        .readers
        .run(move |c| c.asset(&lookup))
        .await?
        .filter(|a| a.status == AssetStatus::Organized)
        .ok_or(Failure::NotFound)?;
    let path = asset.organized_path.ok_or(Failure::NotFound)?;
    let format = asset
        .media
        .and_then(|m| m.format)
        .or_else(|| extension(&path))
        .unwrap_or_default();
    let organized = app.settings.organized.clone();
    let file = tokio::task::spawn_blocking(move || {
        let root = fsroot::Root::open(&organized)?;
        let rel = root.relative(&path)?.to_path_buf();
        root.open_file(&rel)
    })
    .await
    .map_err(|e| Failure::Internal(e.to_string()))?
    .map_err(|e| {
        tracing::debug!(asset_id = %id, error = %e, "organized file cannot be opened");
        Failure::NotFound
    })?;
    send(
        tokio::fs::File::from_std(file),
        content_type(&format),
        &headers,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ThumbQuery {
    size: Option<u32>,
}

/// `GET /thumb/{id}?size=256|1024`: the thumbnail, or the original when there is none.
pub(crate) async fn thumbnail(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<ThumbQuery>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    if !is_asset_id(&id) {
        return Err(Failure::NotFound);
    }
    let size = match q.size {
        Some(s) if s > 256 => ThumbSize::Large,
        _ => ThumbSize::Small,
    };
    if let Some(path) = app.parts.thumbnails.thumbnail(&id, size)
        && let Ok(file) = tokio::fs::File::open(&path).await
    {
        let format = extension(&path).unwrap_or_default();
        return send(file, content_type(&format), &headers).await;
    }
    original(State(app), UrlPath(id), headers).await
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().into_owned())
}

/// A single byte range `start..=end` asked by `Range: bytes=…` within `len` bytes; `None`
/// for the whole file (no header, or one this server does not honour: several ranges).
fn range(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let parsed = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) => (s, e.min(len.saturating_sub(1))),
        (Some(s), None) if b.is_empty() => (s, len.saturating_sub(1)),
        (None, Some(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return Some(Err(())),
    };
    Some(if parsed.0 <= parsed.1 && parsed.0 < len {
        Ok(parsed)
    } else {
        Err(())
    })
}

async fn send(
    mut file: tokio::fs::File,
    mime: &'static str,
    headers: &HeaderMap,
) -> Result<Response, Failure> {
    let len = file
        .metadata()
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?
        .len();
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Content never changes under an asset id (it is the content's hash).
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    let (status, start, count) = match range(headers, len) {
        None => (StatusCode::OK, 0, len),
        Some(Ok((s, e))) => {
            let value = format!("bytes {s}-{e}/{len}");
            if let Ok(v) = HeaderValue::from_str(&value) {
                out.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Some(Err(())) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                out.insert(header::CONTENT_RANGE, v);
            }
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
        }
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    let body = Body::from_stream(ReaderStream::new(file.take(count)));
    Ok((status, out, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        range(&h, len)
    }

    #[test]
    fn byte_ranges_are_read_as_browsers_send_them() {
        assert_eq!(asked("bytes=0-", 100), Some(Ok((0, 99))));
        assert_eq!(asked("bytes=10-19", 100), Some(Ok((10, 19))));
        assert_eq!(asked("bytes=90-200", 100), Some(Ok((90, 99))));
        assert_eq!(asked("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(asked("bytes=100-", 100), Some(Err(())));
        assert_eq!(asked("bytes=5-1", 100), Some(Err(())));
        assert_eq!(asked("bytes=x-y", 100), Some(Err(())));
        assert_eq!(asked("bytes=0-1,5-6", 100), None);
        assert_eq!(range(&HeaderMap::new(), 100), None);
        assert_eq!(content_type("PNG"), "image/png");
        assert_eq!(content_type("exe"), "application/octet-stream");
    }
}
