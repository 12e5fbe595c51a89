//! The HTTP API: Send v3 routes plus sealdrop's plain HTTP upload, and the static web
//! client.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET, HEAD | `/` | `index.html` of the web client |
//! | GET, HEAD | `/download/ID`, `/download/ID/` | `download.html`: 200 with the nonce, or 404 |
//! | GET | `/api/ws` | WebSocket upload (credentials per `--upload-auth`) |
//! | POST | `/api/upload` | plain HTTP upload (credentials per `--upload-auth`) |
//! | GET | `/api/exists/ID`, `/api/metadata/ID`, `/api/download/ID`, `/api/download/blob/ID` | download flow |
//! | POST | `/api/info/ID`, `/api/params/ID`, `/api/password/ID`, `/api/delete/ID` | owner operations |
//! | POST | `/api/report/ID` | a report by someone holding the link (see [`report`]) |
//! | GET | `/legal` | the operator's legal notice and abuse contact, 404 when unset |
//! | GET | `/.well-known/security.txt` | RFC 9116, with `--security-contact` (see [`security_txt`]); 404 when unset |
//! | GET | `/config`, `/__version__`, `/__heartbeat__`, `/__lbheartbeat__` | server information |
//! | GET, HEAD | any other path | the file of the web client at that path, else the JSON 404 |
//!
//! Paths under `/api/` that match no route are always the JSON 404.
//!
//! Uploads, download routes and owner operations are rate-limited per client, and wrong
//! passwords per file ([`limits`]); the client is found by [`client_ip`].

mod body;
pub mod client_ip;
mod download;
mod legal;
pub mod limits;
mod owner;
pub mod report;
pub mod security_txt;
mod upload;
mod web;

pub use web::embedded_files;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sealdrop_protocol::api::FileId;
use sealdrop_protocol::api::{ConfigResponse, Defaults, Limits, UploadAuth, VersionResponse};
use sealdrop_protocol::auth;
use tracing::Instrument;

use crate::config::UploadAuthMode;
use crate::error::ApiError;
use crate::state::AppState;

/// The Send protocol version sealdrop speaks; ffsend accepts any `v3.x`.
pub const SEND_VERSION: &str = "v3.4.27";

/// The router with every route and the common layers. Its rate-limit state is its own:
/// every router is one instance.
pub fn router(state: AppState) -> Router {
    let c = &state.config;
    let limits = Arc::new(limits::Limits::new(&c.limits));
    let context = Context {
        clients: Arc::new(
            client_ip::Resolver::new(c.trusted_proxies.clone(), c.trusted_proxy_header)
                .log_addresses(c.log_client_ip),
        ),
        limits: limits.clone(),
        log_client_ip: c.log_client_ip,
        hsts: c.base_url.starts_with("https://"),
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route("/", get(web::index))
        .route("/api/ws", limits.uploads(get(upload::websocket)))
        .route("/api/upload", limits.uploads(post(upload::http)))
        .route("/download/{id}", limits.downloads(get(download::page)))
        .route("/download/{id}/", limits.downloads(get(download::page)))
        // The web client's service worker answers these; should one reach the server
        // (no worker), 204 keeps the browser on the download page.
        .route(
            "/download/stream/{token}",
            get(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/api/exists/{id}", limits.downloads(get(download::exists)))
        .route(
            "/api/metadata/{id}",
            limits.downloads(get(download::metadata)),
        )
        .route(
            "/api/download/{id}",
            limits.downloads(get(download::download)),
        )
        .route(
            "/api/download/blob/{id}",
            limits.downloads(get(download::download)),
        )
        .route("/api/info/{id}", limits.owner(post(owner::info)))
        .route("/api/params/{id}", limits.owner(post(owner::params)))
        .route("/api/password/{id}", limits.owner(post(owner::password)))
        .route("/api/delete/{id}", limits.owner(post(owner::delete)))
        .route("/api/report/{id}", limits.owner(post(report::report)))
        .route("/legal", get(legal::page))
        .route("/.well-known/security.txt", get(security_txt::file))
        .route("/config", get(config))
        .route("/__version__", get(version))
        .route("/__heartbeat__", get(heartbeat))
        .route("/__lbheartbeat__", get(|| async { StatusCode::OK }))
        .fallback(web::fallback)
        .layer(axum::extract::DefaultBodyLimit::max(body::SMALL_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), body::guard))
        .layer(middleware::from_fn_with_state(context, request_context))
        .with_state(state)
}

/// What the request middleware needs.
#[derive(Debug, Clone)]
struct Context {
    clients: Arc<client_ip::Resolver>,
    limits: Arc<limits::Limits>,
    log_client_ip: bool,
    /// The base URL is https: send `Strict-Transport-Security`.
    hsts: bool,
    /// Where error answers are counted.
    metrics: Arc<crate::metrics::Metrics>,
}

/// The `Cache-Control` of API answers, and of everything whose handler set none.
const NO_STORE: &str = "private, no-cache, no-store, must-revalidate, max-age=0";

/// Whether `path` is answered by the API (JSON, or ciphertext) rather than the web client.
fn is_api(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || matches!(
            path,
            "/config" | "/__version__" | "/__heartbeat__" | "/__lbheartbeat__"
        )
}

/// Finds the client ([`client_ip::ClientIp`], set as a request extension with the
/// [`limits::Limits`]), gives every request an id (uuid v7, in `X-Request-Id` and in
/// every log line of the request), logs one line per request without headers, query,
/// body or (unless `--log-client-ip`) IP address, counts error answers in the metrics
/// (by their [`ErrorCode`](crate::error::ErrorCode), else as `other`), and sets the
/// security headers of every response.
///
/// The content security policy allows scripts, styles, images, workers, the manifest
/// and fetches from this origin only, and nothing inline: the web client has no inline
/// script or style. API answers are always `no-store`; anything else is `no-store`
/// unless its handler set its own `Cache-Control` (the static files of the web client:
/// `no-cache` with an `ETag`). With an https base URL every answer carries
/// `Strict-Transport-Security` for a year.
async fn request_context(State(cx): State<Context>, mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = cx.clients.client(peer, req.headers());
    cx.limits.sweep_if_due();
    req.extensions_mut().insert(client);
    req.extensions_mut().insert(cx.limits.clone());
    let api = is_api(req.uri().path());
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        client = tracing::field::Empty,
    );
    if cx.log_client_ip {
        span.record("client", tracing::field::display(client.0));
    }
    let start = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            ms = start.elapsed().as_millis() as u64,
            "answered"
        );
    });
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let code = response
            .extensions()
            .get::<crate::error::ErrorCode>()
            .map_or("other", |c| c.0);
        if code != crate::metrics::DISCONNECTED {
            cx.metrics.rejected(code, status);
        }
    }
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    }
    if cx.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    for (name, value) in [
        (header::CACHE_CONTROL, NO_STORE),
        (header::PRAGMA, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

async fn config(State(state): State<AppState>) -> Json<ConfigResponse> {
    let c = &state.config;
    Json(ConfigResponse {
        limits: Limits {
            MAX_FILE_SIZE: c.max_file_size,
            MAX_DOWNLOADS: c.max_downloads,
            MAX_EXPIRE_SECONDS: c.max_expiry,
            MAX_FILES_PER_ARCHIVE: 64,
            MAX_ARCHIVES_PER_USER: 16,
        },
        defaults: Defaults {
            DOWNLOADS: c.default_downloads,
            DOWNLOAD_COUNTS: c.download_choices.clone(),
            EXPIRE_TIMES_SECONDS: c.expiry_choices.clone(),
            EXPIRE_SECONDS: c.default_expiry,
        },
        web_ui: web_ui(c),
        upload_auth: match state.upload_auth.mode() {
            UploadAuthMode::None => UploadAuth::None,
            UploadAuthMode::Basic => UploadAuth::Basic,
            UploadAuthMode::Token => UploadAuth::Token,
        },
    })
}

/// sealdrop's own entries of `/config`'s `WEB_UI`: where the legal page is
/// (`LEGAL_PAGE`, when there is one) and the abuse contact (`ABUSE_CONTACT`, its `href`).
fn web_ui(c: &crate::config::Config) -> serde_json::Map<String, serde_json::Value> {
    let mut ui = serde_json::Map::new();
    if c.abuse_contact.is_some() || c.legal_notice.is_some() {
        ui.insert("LEGAL_PAGE".into(), "/legal".into());
    }
    if let Some(contact) = &c.abuse_contact {
        ui.insert("ABUSE_CONTACT".into(), contact.href().into());
    }
    ui
}

async fn version() -> Json<VersionResponse> {
    Json(VersionResponse {
        version: SEND_VERSION.to_owned(),
        commit: concat!("sealdrop-", env!("CARGO_PKG_VERSION")).to_owned(),
        source: env!("CARGO_PKG_REPOSITORY").to_owned(),
    })
}

async fn heartbeat(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.meta.ping().await?;
    state.blobs.health().await?;
    Ok(StatusCode::OK)
}

/// `WWW-Authenticate: send-v1 <nonce>`.
fn nonce_header(nonce: &str) -> [(HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&auth::format_challenge(nonce))
        .unwrap_or_else(|_| HeaderValue::from_static(auth::SCHEME));
    [(header::WWW_AUTHENTICATE, value)]
}

/// The `{id}` of a route, a well-formed file id. Any other (malformed, or not UTF-8 once
/// percent-decoded) cannot name a file: the JSON 404 of any unknown id, not axum's
/// plain-text rejection.
pub(super) struct PathId(pub FileId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|axum::extract::Path(id)| FileId::parse(&id))
            .map(Self)
            .ok_or(ApiError::NotFound)
    }
}

/// Time to live in milliseconds, as Send reports it.
fn ttl(expires_at: u64, now: u64) -> u64 {
    expires_at.saturating_sub(now)
}

/// A 200 answer with `{"ok":true}`, for owner operations.
fn ok() -> Response {
    Json(serde_json::json!({ "ok": true })).into_response()
}
