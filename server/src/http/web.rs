//! The static web client: the files of `web/` in the repository, embedded in the binary at
//! build time, or read from `--web-dir` on every request (development: edit and reload).
//!
//! Every file is served at its path under `web/` (`/css/style.css` is
//! `web/css/style.css`), with GET and HEAD; `/` is `index.html`. The download page
//! (`/download/ID/`, in [`super::download`]) is `download.html`. Nothing else is served:
//! no directory listing, no hidden files (a segment starting with `.`), no path that
//! leaves the directory. Request paths are decoded segment by segment and a segment that
//! is empty, hidden, or holds a separator, a colon or a control character names no file,
//! so `..`, `%2e%2e`, `%2f` and `%5c` never reach the file system; with `--web-dir` the
//! resolved file must also still lie inside the (canonical) directory, which rules out
//! symbolic links leading out of it.
//!
//! Static files are answered with a strong `ETag` (the SHA-256 of the content; the same
//! value embedded or on disk) and `Cache-Control: no-cache`: browsers keep a copy but
//! revalidate it on every use, and an `If-None-Match` that matches gets a 304 without a
//! body. A new release is therefore picked up at once, and an unchanged file costs one
//! small round trip.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// The files of `web/`, in the binary (also in debug builds: `debug-embed`). `build.rs`
/// asks Cargo to rebuild when anything under `web/` changes, new files included.
#[derive(rust_embed::Embed)]
#[folder = "../web/"]
struct Embedded;

/// The page of a share link, answered (with its nonce, or with 404) for `/download/ID/`.
const DOWNLOAD_PAGE: &str = "download.html";

/// Served when the web client has no `download.html` (a `--web-dir` without it): ffsend
/// and other Send clients need the page's status and nonce header, not its content.
const FALLBACK_DOWNLOAD_PAGE: &str = "<!doctype html><html lang=\"en\"><head>\
    <meta charset=\"utf-8\"><title>sealdrop</title></head><body><p>If this link is still \
    valid, a file was shared with you: open it with a sealdrop or Send client.</p>\
    </body></html>";

/// `Content-Type` of HTML.
const HTML: &str = "text/html; charset=utf-8";

/// One file of the web client.
struct Asset {
    body: Bytes,
    /// Quoted strong entity tag.
    etag: String,
}

impl Asset {
    fn new(body: Bytes, sha256: [u8; 32]) -> Self {
        // 128 bits of the hash are plenty to tell versions of one file apart.
        let mut etag = String::with_capacity(34);
        etag.push('"');
        for byte in sha256.iter().take(16) {
            let _ = write!(etag, "{byte:02x}");
        }
        etag.push('"');
        Self { body, etag }
    }
}

/// The paths of the web client's files built into the binary (relative to `web/`, with
/// `/` separators, sorted). With `--web-dir` other files are served instead.
pub fn embedded_files() -> Vec<String> {
    Embedded::iter().map(Cow::into_owned).collect()
}

/// `GET /`: the send page, `index.html`.
pub(super) async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asset = load(&state, "index.html")
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(answer("index.html", asset, &headers))
}

/// Every path no route claims: a file of the web client for GET and HEAD, else the JSON
/// 404 of the API (always under `/api/`).
pub(super) async fn fallback(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return Err(ApiError::NotFound);
    }
    let rel = relative_path(path).ok_or(ApiError::NotFound)?;
    let asset = load(&state, &rel).await?.ok_or(ApiError::NotFound)?;
    if method != Method::GET && method != Method::HEAD {
        return Ok((
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response());
    }
    Ok(answer(&rel, asset, &headers))
}

/// The download page with `status`; never cached (the middleware's `no-store` stays),
/// since its status and nonce change with every request.
pub(super) async fn download_page(
    state: &AppState,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let body = match load(state, DOWNLOAD_PAGE).await? {
        Some(asset) => asset.body,
        None => Bytes::from_static(FALLBACK_DOWNLOAD_PAGE.as_bytes()),
    };
    Ok((status, [(header::CONTENT_TYPE, HTML)], body).into_response())
}

/// The text of the web client's file `rel` (a page that a route fills in), `None` when
/// the web client has no such file or it is not UTF-8.
pub(super) async fn text(state: &AppState, rel: &str) -> Result<Option<String>, ApiError> {
    Ok(load(state, rel)
        .await?
        .and_then(|asset| String::from_utf8(asset.body.to_vec()).ok()))
}

/// A 200 with the file, or a 304 when `If-None-Match` names its current version; both
/// with the `ETag` and `Cache-Control: no-cache`.
fn answer(rel: &str, asset: Asset, request: &HeaderMap) -> Response {
    let mut response = if none_match(request, &asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let content_type = HeaderValue::from_str(&content_type(rel))
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        (
            [(header::CONTENT_TYPE, content_type)],
            Body::from(asset.body),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// Whether `If-None-Match` matches `etag` (weak comparison, as RFC 9110 asks, and `*`).
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The file at `rel` (a path checked by [`relative_path`]), from `--web-dir` if set, else
/// from the binary. `None` when there is no such file.
async fn load(state: &AppState, rel: &str) -> Result<Option<Asset>, ApiError> {
    match &state.config.web_dir {
        Some(dir) => load_from_dir(dir, rel).await,
        None => Ok(Embedded::get(rel).map(|file| {
            let body = match file.data {
                Cow::Borrowed(data) => Bytes::from_static(data),
                Cow::Owned(data) => Bytes::from(data),
            };
            Asset::new(body, file.metadata.sha256_hash())
        })),
    }
}

async fn load_from_dir(dir: &Path, rel: &str) -> Result<Option<Asset>, ApiError> {
    let internal = |what: &str, path: &Path, e: std::io::Error| {
        ApiError::Internal(anyhow::anyhow!("{what} {}: {e}", path.display()))
    };
    let root = tokio::fs::canonicalize(dir)
        .await
        .map_err(|e| internal("cannot open the web directory", dir, e))?;
    let candidate = root.join(rel);
    let file = match tokio::fs::canonicalize(&candidate).await {
        Ok(file) => file,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(internal("cannot resolve", &candidate, e)),
    };
    if !file.starts_with(&root) {
        tracing::debug!("a file of the web directory links outside it");
        return Ok(None);
    }
    match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(internal("cannot read", &file, e)),
    }
    let data = match tokio::fs::read(&file).await {
        Ok(data) => data,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(internal("cannot read", &file, e)),
    };
    let hash: [u8; 32] = Sha256::digest(&data).into();
    Ok(Some(Asset::new(Bytes::from(data), hash)))
}

/// Errors that mean "no such file" rather than a failing disk.
fn absent(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
    )
}

/// The path relative to the web directory that a request path names (`/css/a.css` is
/// `css/a.css`, segments percent-decoded), or `None` when it names no servable file: a
/// directory (empty segment, trailing `/`), a hidden file or `.`/`..` (a segment starting
/// with `.`), or a segment holding `/`, `\`, `:`, a control character or a broken escape
/// once decoded.
fn relative_path(request_path: &str) -> Option<String> {
    let rest = request_path.strip_prefix('/')?;
    let mut rel = String::with_capacity(rest.len());
    for raw in rest.split('/') {
        let segment = percent_decode(raw)?;
        if segment.is_empty()
            || segment.starts_with('.')
            || segment
                .chars()
                .any(|c| matches!(c, '/' | '\\' | ':') || c.is_control())
        {
            return None;
        }
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(&segment);
    }
    Some(rel)
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` of a file, from its extension: UTF-8 for every text type;
/// JavaScript (`.js`, `.mjs`) as `text/javascript` (RFC 9239), web app manifests as
/// `application/manifest+json`; other types as `mime_guess` knows them.
fn content_type(rel: &str) -> Cow<'static, str> {
    let ext = rel
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let known = match ext.as_str() {
        "html" | "htm" => Some(HTML),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "svg" => Some("image/svg+xml; charset=utf-8"),
        "json" | "map" => Some("application/json"),
        "webmanifest" => Some("application/manifest+json"),
        "txt" => Some("text/plain; charset=utf-8"),
        "wasm" => Some("application/wasm"),
        _ => None,
    };
    if let Some(known) = known {
        return Cow::Borrowed(known);
    }
    match mime_guess::from_ext(&ext).first() {
        Some(mime) if mime.type_() == mime_guess::mime::TEXT => {
            Cow::Owned(format!("{}; charset=utf-8", mime.essence_str()))
        }
        Some(mime) => Cow::Owned(mime.essence_str().to_owned()),
        None => Cow::Borrowed("application/octet-stream"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_map_to_files_inside_the_directory() {
        for (path, rel) in [
            ("/sw.js", Some("sw.js")),
            ("/css/style.css", Some("css/style.css")),
            ("/a%20b.txt", Some("a b.txt")),
            ("/caf%C3%A9.js", Some("café.js")),
            ("/", None),
            ("/css/", None),
            ("//etc/passwd", None),
            ("/css//x.css", None),
            ("/../etc/passwd", None),
            ("/..%2f..%2fetc/passwd", None),
            ("/%2e%2e/%2e%2e/etc/passwd", None),
            ("/%2E%2E%2Fetc%2Fpasswd", None),
            ("/css/..", None),
            ("/./index.html", None),
            ("/.git/config", None),
            ("/%2fetc/passwd", None),
            ("/..%5c..%5cwindows", None),
            ("/c:/windows", None),
            ("/a%00.js", None),
            ("/a%zz.js", None),
            ("/a%2", None),
            ("/%ff.js", None),
            ("relative", None),
        ] {
            assert_eq!(relative_path(path).as_deref(), rel, "{path}");
        }
    }

    #[test]
    fn content_types() {
        for (rel, expected) in [
            ("index.html", "text/html; charset=utf-8"),
            ("js/app.js", "text/javascript; charset=utf-8"),
            ("js/APP.MJS", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("icon.svg", "image/svg+xml; charset=utf-8"),
            ("app.webmanifest", "application/manifest+json"),
            ("icon.png", "image/png"),
            ("font.woff2", "font/woff2"),
            ("notes.md", "text/markdown; charset=utf-8"),
            ("no-extension", "application/octet-stream"),
        ] {
            assert_eq!(content_type(rel), expected, "{rel}");
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let tag = "\"abc\"";
        for (value, hit) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            assert_eq!(none_match(&headers, tag), hit, "{value}");
        }
        assert!(!none_match(&HeaderMap::new(), tag));
    }
}
