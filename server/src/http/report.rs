//! `POST /api/report/:id`: a report by someone holding the share link.
//!
//! The server sees only ciphertext, so it cannot judge a file; what it can check is that
//! the reporter holds the link. The request carries the link's secret (and the password,
//! for a password-protected share); the server derives the auth key from them exactly
//! as the uploader did (HKDF `authentication`, or Send's PBKDF2 over the password salted
//! with the full share link, rebuilt from `--base-url`) and compares it in constant time
//! with the stored one. A key that would only decrypt the metadata is not enough, and
//! neither is knowing the id. Then the file is held (see [`crate::meta`], "Reported
//! files") until the operator takes it down or restores it. The secret and the password
//! are used for this check only: never stored, logged or answered.
//!
//! | request | answer |
//! |---|---|
//! | malformed id, unknown, expired or deleted file | 404 `not_found` |
//! | malformed JSON, key, reason or details | 400 `bad_request` |
//! | wrong key or password | 401 `unauthorized` |
//! | password-protected share, no password | 401 `password_required` |
//! | right key | 200 `{"ok": true, "held": true}` (`"already": true` if it was held) |
//!
//! A held file answers 404 to everything, this route included, unless the request proves
//! the link: to anyone else it is indistinguishable from an expired file.
//!
//! The password of a protected share is checked under its wrong-password bucket, the same
//! as download signatures ([`super::limits`]): a report cannot be used to guess passwords
//! faster than a download, and while the bucket is empty the answer is 429 (404 for a
//! held file) without the password being checked.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sealdrop_protocol::Secret;
use sealdrop_protocol::api::ReportRequest;
use sealdrop_protocol::keys::{AuthKey, password_auth_key};
use sealdrop_protocol::link::{self, ShareLink};
use sealdrop_protocol::names::unsafe_char;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::PathId;
use super::limits::Limits;
use super::owner::{SmallBody, json};
use crate::error::ApiError;
use crate::meta::{ReportReason, Reported};
use crate::state::AppState;

/// Longest `details`, in characters.
pub const MAX_DETAILS: usize = 500;

/// `POST /api/report/:id`.
pub(super) async fn report(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    PathId(id): PathId,
    body: SmallBody,
) -> Result<Response, ApiError> {
    let req: ReportRequest = json(body)?;
    let password = req.password.map(Zeroizing::new);
    let key = Zeroizing::new(req.key);
    let reason = ReportReason::parse(req.reason.trim()).ok_or(ApiError::BadRequest(
        "reason must be one of malware, phishing, illegal, copyright or other",
    ))?;
    let details = clean_details(req.details.as_deref().unwrap_or_default())?;
    let secret = Secret::parse(key.trim()).map_err(|_| {
        ApiError::BadRequest("key must be the link's secret, the part after # (base64url)")
    })?;
    let now = state.clock.now();
    let record = state.meta.find(&id, now).await?.ok_or(ApiError::NotFound)?;
    // A held file looks gone to anyone who does not prove they hold its link.
    let held = record.report.is_some();
    let refuse = |err: ApiError| if held { ApiError::NotFound } else { err };
    let expected: AuthKey = if record.password {
        let Some(password) = password.as_ref().filter(|p| !p.is_empty()) else {
            return Err(refuse(ApiError::PasswordRequired));
        };
        let page = link::download_url(&state.config.base_url, id.as_str());
        let link = ShareLink::from_download_url(&page, secret)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("rebuilding a share link: {e}")))?;
        password_auth_key(password, &link.password_salt())
    } else {
        secret.auth_key()
    };
    let right = || -> bool {
        expected
            .as_bytes()
            .as_slice()
            .ct_eq(record.file.auth_key.as_slice())
            .into()
    };
    let matches = if record.password {
        limits.check_password(&id, right).map_err(refuse)?
    } else {
        right()
    };
    if !matches {
        return Err(refuse(ApiError::Unauthorized { nonce: None }));
    }
    match state.meta.report(&id, reason, &details, now).await? {
        Reported::Held => {
            tracing::warn!(
                reason = reason.as_str(),
                "a file was reported: it is held until an operator takes it down or restores it"
            );
            Ok(Json(serde_json::json!({ "ok": true, "held": true })).into_response())
        }
        Reported::AlreadyHeld => {
            tracing::info!(reason = reason.as_str(), "a held file was reported again");
            Ok(
                Json(serde_json::json!({ "ok": true, "held": true, "already": true }))
                    .into_response(),
            )
        }
        // Deleted, finished or expired since it was read.
        Reported::Missing => Err(ApiError::NotFound),
    }
}

/// The details as stored: at most [`MAX_DETAILS`] characters, control and bidirectional
/// formatting characters replaced by spaces (so the text is one safe line in a terminal),
/// trimmed.
fn clean_details(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > MAX_DETAILS {
        return Err(ApiError::BadRequest(
            "details must be at most 500 characters",
        ));
    }
    let cleaned: String = raw
        .chars()
        .map(|c| if unsafe_char(c) { ' ' } else { c })
        .collect();
    Ok(cleaned.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_one_safe_line() {
        assert_eq!(
            clean_details("  a\nb\u{202E}c\u{1b}[31m ").unwrap(),
            "a b c [31m"
        );
        assert_eq!(clean_details("").unwrap(), "");
        assert!(clean_details(&"é".repeat(500)).is_ok());
        assert!(clean_details(&"é".repeat(501)).is_err());
    }
}
