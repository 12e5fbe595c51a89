//! Request and response types of every endpoint (PROTOCOL.md §2), with Send's field names.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Header carrying the encrypted metadata on the plain HTTP upload route.
pub const HEADER_FILE_METADATA: &str = "x-file-metadata";
/// Header carrying the expiry in seconds on the plain HTTP upload route.
pub const HEADER_EXPIRE_SECONDS: &str = "x-expire-seconds";
/// Header carrying the download limit on the plain HTTP upload route.
pub const HEADER_DOWNLOAD_LIMIT: &str = "x-download-limit";
/// Header carrying the share's auth key (`send-v1 <base64url key>`) on the plain HTTP
/// upload route when `Authorization` holds upload credentials (`Basic` or `Bearer`)
/// instead. Without upload credentials the key travels in `Authorization`, as Send
/// clients send it.
pub const HEADER_AUTH_KEY: &str = "x-auth-key";
/// The WebSocket subprotocol ffsend offers (and the server echoes).
pub const WS_SUBPROTOCOL: &str = "ffsend";
/// The one-byte binary frame that ends a WebSocket upload.
pub const WS_END_MARKER: [u8; 1] = [0];

/// A file id: 8 random bytes as 16 lowercase hex characters. Routes accept 10 to 16 hex
/// characters of either case, as Send servers do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileId(String);

impl FileId {
    /// Draws a new id.
    pub fn generate() -> Result<Self, Error> {
        let bytes: [u8; 8] = crate::random_bytes()?;
        Ok(Self(hex::encode(bytes)))
    }

    /// Parses an id from a path; `None` unless it is 10 to 16 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (10..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Self(text.to_ascii_lowercase()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FileId {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or("a file id is 10 to 16 hex characters")
    }
}

impl From<FileId> for String {
    fn from(id: FileId) -> Self {
        id.0
    }
}

/// First (text) message of a WebSocket upload at `/api/ws`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsUploadRequest {
    /// Encrypted metadata, base64url.
    #[serde(rename = "fileMetadata")]
    pub file_metadata: String,
    /// `send-v1 <base64url auth key>`.
    pub authorization: String,
    /// A bearer token. Send used it for Firefox Accounts; sealdrop reads it as the upload
    /// token when the server requires one (`/config` says `"UPLOAD_AUTH": "token"`),
    /// since browsers cannot set headers on a WebSocket.
    #[serde(default)]
    pub bearer: Option<String>,
    /// Expiry in seconds; missing, null or 0 means the server's default.
    #[serde(rename = "timeLimit", default)]
    pub time_limit: Option<u64>,
    /// Download limit; missing, null or 0 means the server's default.
    #[serde(default)]
    pub dlimit: Option<u32>,
}

/// The server's answer to an upload: first text message on the WebSocket, and the body
/// of the HTTP upload route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// The share URL without the fragment: `<base>/download/<id>/`.
    pub url: String,
    /// The owner token, returned only here. Send v2 servers name it `owner` instead:
    /// read [`UploadResponse::token`].
    #[serde(rename = "ownerToken", default)]
    pub owner_token: String,
    /// The file id.
    pub id: String,
    /// The owner token under Send v2's name; sealdrop's HTTP route sends both, for older
    /// clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl UploadResponse {
    /// The owner token, under whichever name the server used.
    pub fn token(&self) -> &str {
        match &self.owner {
            Some(owner) if self.owner_token.is_empty() => owner,
            _ => &self.owner_token,
        }
    }
}

/// The final text message of a WebSocket upload: `{"ok":true}` or `{"error":<status>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WsStatus {
    /// The file is committed and can be downloaded.
    Ok {
        /// Always `true`.
        ok: bool,
    },
    /// The upload failed with this HTTP-like status (400, 401, 413, 429, 500, …).
    Error {
        /// The status code.
        error: u16,
        /// One sentence saying why (sealdrop sends it; Send servers do not, and Send
        /// clients ignore it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The stable code of the HTTP routes' JSON errors (`quota_exceeded`, …), sent by
        /// sealdrop only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
}

/// `GET /api/exists/:id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistsResponse {
    /// Whether the downloader needs a password.
    #[serde(rename = "requiresPassword")]
    pub requires_password: bool,
}

/// `GET /api/metadata/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataResponse {
    /// The encrypted metadata as uploaded.
    pub metadata: String,
    /// Whether the next completed download is the last one allowed.
    #[serde(rename = "finalDownload")]
    pub final_download: bool,
    /// Time to live in milliseconds.
    pub ttl: u64,
    /// Completed downloads still allowed (a sealdrop extension: Send servers do not send
    /// it, and Send clients ignore it).
    #[serde(
        rename = "downloadsLeft",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub downloads_left: Option<u32>,
}

/// The body of every owner request (`info`, `delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRequest {
    /// The owner token returned at upload.
    pub owner_token: String,
}

/// `POST /api/info/:id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// Download limit.
    pub dlimit: u32,
    /// Completed downloads so far.
    pub dtotal: u32,
    /// Time to live in milliseconds.
    pub ttl: u64,
}

/// `POST /api/params/:id`. ffsend sends `download_limit` (PROTOCOL.md §8); both are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamsRequest {
    /// The owner token returned at upload.
    pub owner_token: String,
    /// The new download limit.
    #[serde(alias = "download_limit", default)]
    pub dlimit: Option<u32>,
}

/// `POST /api/password/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRequest {
    /// The owner token returned at upload.
    pub owner_token: String,
    /// The new auth key (base64url), derived from the password.
    pub auth: String,
}

/// `POST /api/report/:id` (a sealdrop route, not Send's): a report by someone holding the
/// share link. The server checks `key` (and `password`, for a password-protected share)
/// against the stored auth key, then holds the file for its operator; neither is stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRequest {
    /// The link's secret, the part after `#` (base64url).
    pub key: String,
    /// `malware`, `phishing`, `illegal`, `copyright` or `other`.
    pub reason: String,
    /// A short explanation (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The share's password, needed when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for ReportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportRequest")
            .field("reason", &self.reason)
            .field("details", &self.details)
            .finish_non_exhaustive()
    }
}

/// `GET /config`: the limits and choices a client should offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// Hard limits the server enforces.
    #[serde(rename = "LIMITS")]
    pub limits: Limits,
    /// Defaults and choices for the user interface.
    #[serde(rename = "DEFAULTS")]
    pub defaults: Defaults,
    /// Cosmetic settings of the Send web app; sealdrop sends an empty object.
    #[serde(rename = "WEB_UI", default)]
    pub web_ui: serde_json::Map<String, serde_json::Value>,
    /// Which credentials an upload needs (sealdrop's own key; missing on Send servers,
    /// which read as [`UploadAuth::None`]).
    #[serde(rename = "UPLOAD_AUTH", default)]
    pub upload_auth: UploadAuth,
}

/// What a server requires to accept an upload, as `/config` announces it. Downloads,
/// metadata and owner operations never need these credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadAuth {
    /// Anyone may upload.
    #[default]
    None,
    /// HTTP Basic credentials (`Authorization: Basic …`), on the WebSocket upgrade and on
    /// the HTTP route.
    Basic,
    /// An upload token: `Authorization: Bearer <token>` (HTTP route, or the WebSocket
    /// upgrade), or the `bearer` field of the WebSocket's first message.
    Token,
    /// A kind this client does not know: some credentials are needed.
    #[serde(other)]
    Other,
}

/// Hard limits in `/config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_snake_case, reason = "Send's field names")]
pub struct Limits {
    /// Largest plaintext in bytes.
    pub MAX_FILE_SIZE: u64,
    /// Largest download limit.
    pub MAX_DOWNLOADS: u32,
    /// Longest expiry in seconds.
    pub MAX_EXPIRE_SECONDS: u64,
    /// Most files in one archive (advisory, for the UI).
    pub MAX_FILES_PER_ARCHIVE: u32,
    /// Most archives per user (advisory, for the UI).
    pub MAX_ARCHIVES_PER_USER: u32,
}

/// Defaults and choices in `/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_snake_case, reason = "Send's field names")]
pub struct Defaults {
    /// Default download limit.
    pub DOWNLOADS: u32,
    /// Download limits to offer.
    pub DOWNLOAD_COUNTS: Vec<u32>,
    /// Expiry times to offer, in seconds.
    pub EXPIRE_TIMES_SECONDS: Vec<u64>,
    /// Default expiry in seconds.
    pub EXPIRE_SECONDS: u64,
}

/// `GET /__version__`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// The Send protocol version spoken (`v3.x.y`), which ffsend checks.
    pub version: String,
    /// The build's commit, if known.
    pub commit: String,
    /// Where the source lives.
    pub source: String,
}

/// The JSON body of every HTTP error sealdrop answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `not_found`.
    pub error: String,
    /// One short human sentence.
    pub message: String,
}
