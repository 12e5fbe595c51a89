//! `GET /.well-known/security.txt` (RFC 9116): where to report a vulnerability in this
//! instance, served when `--security-contact` is set, else the JSON 404.
//!
//! The file is built at each request: `Contact:` (the checked `mailto:` or `https:` URI),
//! `Expires:` 180 days ahead (RFC 9116 wants less than a year, and a file that is never
//! edited by hand never goes stale), `Policy:` when `--security-policy` is set,
//! `Preferred-Languages: en`, and `Canonical:` (where the file lives) when the base URL is
//! https — RFC 9116 allows only https web URIs, so a plain-http instance names none.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// How far ahead `Expires:` is.
pub const EXPIRES_IN: Duration = Duration::from_secs(180 * 86400);

/// `GET /.well-known/security.txt`.
pub(super) async fn file(State(state): State<AppState>) -> Result<Response, ApiError> {
    let config = &state.config;
    let contact = config
        .security_contact
        .as_deref()
        .ok_or(ApiError::NotFound)?;
    let now = UNIX_EPOCH + Duration::from_millis(state.clock.now());
    let mut body = format!(
        "Contact: {contact}\nExpires: {}\n",
        humantime::format_rfc3339_seconds(now + EXPIRES_IN)
    );
    if let Some(policy) = &config.security_policy {
        body.push_str(&format!("Policy: {policy}\n"));
    }
    body.push_str("Preferred-Languages: en\n");
    if config.base_url.starts_with("https://") {
        body.push_str(&format!(
            "Canonical: {}/.well-known/security.txt\n",
            config.base_url
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}
