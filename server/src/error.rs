//! One error type for every API answer.
//!
//! Each variant is a status code, a stable machine-readable code and one short sentence,
//! sent as `{"error": code, "message": sentence}`. Client errors are answered and logged
//! at debug level only; internal errors are logged with their cause (inside the request's
//! span, so with its request id) and answered with a generic sentence.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealdrop_protocol::api::ErrorBody;
use sealdrop_protocol::{auth, range};

use crate::config::UploadAuthMode;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Unknown, malformed or expired id, or no download left.
    #[error("this file does not exist or has expired")]
    NotFound,
    /// Missing or wrong signature or owner token. `nonce` is the file's current nonce,
    /// sent in `WWW-Authenticate` so the client can retry.
    #[error("authentication failed")]
    Unauthorized {
        /// The current download nonce, when the file is known.
        nonce: Option<String>,
    },
    /// A report of a password-protected share came without the password.
    #[error("this share is protected by a password: the report needs it too")]
    PasswordRequired,
    /// A malformed request; the text says what is wrong.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The upload is larger than the server accepts.
    #[error("the file is larger than this server accepts")]
    PayloadTooLarge,
    /// A ranged download asked for bytes past the file's end: 416 with the length in
    /// `Content-Range`.
    #[error("the range asked for is outside the file")]
    RangeNotSatisfiable {
        /// The file's ciphertext length.
        len: u64,
    },
    /// An upload without the credentials `--upload-auth` requires (`given: false`), or
    /// with wrong ones. Answered with a `WWW-Authenticate` challenge of the mode's scheme
    /// (`Basic` or `Bearer`), never `send-v1`.
    #[error("{}", upload_refusal(*.mode, *.given))]
    UploadUnauthorized {
        /// The mode in force.
        mode: UploadAuthMode,
        /// Whether credentials were presented.
        given: bool,
    },
    /// The upload is larger than the uploader's token allows.
    #[error("the file is larger than this upload token allows: at most {}", bytesize::ByteSize(*.max))]
    TokenTooLarge {
        /// The token's `max-size` (plaintext bytes).
        max: u64,
    },
    /// The token's daily upload quota is used up; `Retry-After` says when it renews.
    #[error("this upload token's daily quota is used up; it renews at midnight UTC")]
    QuotaExceeded {
        /// Seconds until the quota renews.
        retry_after: u64,
    },
    /// The client stopped sending.
    #[error("the client stopped sending")]
    Timeout,
    /// The upload's average rate fell below the server's minimum.
    #[error("the upload was slower than this server accepts")]
    TooSlow,
    /// A request body (other than an upload) over its route's limit.
    #[error("the request body is larger than this server accepts")]
    BodyTooLarge,
    /// Encrypted file metadata over the configured limit.
    #[error(
        "the file metadata is larger than this server accepts: send fewer files at once or shorter names"
    )]
    MetadataTooLarge,
    /// The connection cap is reached (answered by the connection layer, before HTTP).
    #[error("the server has too many connections, try again later")]
    Busy,
    /// A rate limit or the upload quota is exhausted: 429 with `Retry-After`.
    #[error("{what}; try again in {retry_after} seconds")]
    RateLimited {
        /// What is exhausted, as the start of a sentence.
        what: &'static str,
        /// Seconds until a request may succeed (sent in `Retry-After`).
        retry_after: u64,
    },
    /// A store (blobs or metadata) failed or is unreachable; the cause is logged, not
    /// sent. Clients may retry.
    #[error("a storage service is unavailable, try again later")]
    Unavailable(#[source] anyhow::Error),
    /// The blob or metadata store is out of space (the disk is full, a quota is used up);
    /// the cause is logged, not sent. Clients may retry later.
    #[error("the server is out of storage space, try again later")]
    InsufficientStorage(#[source] anyhow::Error),
    /// Something failed on our side; the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The HTTP status (also used as the WebSocket `{"error": N}` code).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized { .. } | Self::PasswordRequired => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::PayloadTooLarge
            | Self::TokenTooLarge { .. }
            | Self::BodyTooLarge
            | Self::MetadataTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UploadUnauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::TooSlow => StatusCode::REQUEST_TIMEOUT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthorized { .. } => "unauthorized",
            Self::PasswordRequired => "password_required",
            Self::BadRequest(_) => "bad_request",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::PayloadTooLarge | Self::BodyTooLarge | Self::MetadataTooLarge => "too_large",
            Self::TokenTooLarge { .. } => "too_large_for_token",
            Self::UploadUnauthorized { given: false, .. } => "upload_auth_required",
            Self::UploadUnauthorized { given: true, .. } => "upload_auth_refused",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Timeout => "timeout",
            Self::TooSlow => "too_slow",
            Self::Busy => "busy",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::InsufficientStorage(_) => "insufficient_storage",
            Self::Internal(_) => "internal",
        }
    }

    /// Logs the error at the level it deserves.
    pub fn log(&self) {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
            }
            Self::Unavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "storage unavailable");
            }
            Self::InsufficientStorage(cause) => {
                tracing::error!(error = format!("{cause:#}"), "storage full");
            }
            other => tracing::debug!(code = other.code(), "client error"),
        }
    }
}

/// Every `anyhow` error that reaches a handler comes from a store: answered as 507 when
/// the store is out of space, else 503.
impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        if out_of_space(&err) {
            Self::InsufficientStorage(err)
        } else {
            Self::Unavailable(err)
        }
    }
}

/// Whether a cause of `err` is a full disk or a used-up quota (of the filesystem, or of
/// SQLite writing to it).
fn out_of_space(err: &anyhow::Error) -> bool {
    /// ENOSPC and EDQUOT on Linux.
    const FULL: [i32; 2] = [28, 122];
    err.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || io.raw_os_error().is_some_and(|code| FULL.contains(&code));
        }
        if let Some(rusqlite::Error::SqliteFailure(e, _)) = cause.downcast_ref::<rusqlite::Error>()
        {
            return e.code == rusqlite::ErrorCode::DiskFull;
        }
        false
    })
}

impl ApiError {
    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// The code of the [`ApiError`] a response answers, set as a response extension so the
/// request middleware can count it in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized { nonce: Some(nonce) } => {
                if let Ok(value) = HeaderValue::from_str(&auth::format_challenge(nonce)) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::UploadUnauthorized { mode, given } => {
                let challenge = match (mode, given) {
                    (UploadAuthMode::Token, false) => "Bearer realm=\"sealdrop\"",
                    (UploadAuthMode::Token, true) => {
                        "Bearer realm=\"sealdrop\", error=\"invalid_token\""
                    }
                    _ => "Basic realm=\"sealdrop\", charset=\"UTF-8\"",
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            Self::QuotaExceeded { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::RangeNotSatisfiable { len } => {
                if let Ok(value) = HeaderValue::from_str(&range::unsatisfied_range(*len)) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        if let Self::RateLimited { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

/// The sentence of a refused upload: what is missing, or that it is wrong. Never echoes
/// what was presented.
fn upload_refusal(mode: UploadAuthMode, given: bool) -> &'static str {
    match (mode, given) {
        (UploadAuthMode::Token, false) => "this server requires an upload token",
        (UploadAuthMode::Token, true) => "the upload token is not valid",
        (_, false) => "this server requires a user name and password to upload",
        (_, true) => "the user name or password for uploads is wrong",
    }
}

/// The answer to any path that is not a route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_full_disk_is_507_and_other_store_failures_503() {
        let full: anyhow::Error =
            Err::<(), _>(std::io::Error::from(std::io::ErrorKind::StorageFull))
                .context("writing blob 1-abc")
                .unwrap_err();
        assert_eq!(
            ApiError::from(full).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        let raw = anyhow::Error::new(std::io::Error::from_raw_os_error(28)).context("fsync");
        assert_eq!(ApiError::from(raw).code(), "insufficient_storage");
        let sqlite = anyhow::Error::new(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ))
        .context("inserting a row");
        assert_eq!(
            ApiError::from(sqlite).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(
            ApiError::from(other).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::InsufficientStorage(anyhow::anyhow!("x")).to_string(),
            "the server is out of storage space, try again later"
        );
    }
}
