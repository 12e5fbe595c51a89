//! An async Send v3 client for the reliability suite: many at once in one process, each
//! operation classified into an outcome the history records.
//!
//! The server never decrypts, so the "ciphertext" uploaded here is shaped like one (an
//! aes128gcm header with 64 KiB records, and a length that a ciphertext can have, which
//! is all the server checks) around a slice of a shared random pool; a download is
//! checked against the SHA-256 of the bytes sent as it streams, never held whole.
//!
//! Uploads go through `POST /api/upload` ([`Client::upload`]), whose answer carries the
//! id, or through the WebSocket ([`Client::upload_ws`]), whose first answer carries it
//! before a byte of the file is sent: what lets a reader race the upload's commit. Both
//! record when the last byte left the client ([`Uploaded::body_done`]), which the
//! history's "never visible before acknowledged" invariant is measured against.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt};
use sealdrop_protocol::api::{
    HEADER_DOWNLOAD_LIMIT, HEADER_EXPIRE_SECONDS, HEADER_FILE_METADATA, UploadResponse,
    WS_END_MARKER, WsStatus, WsUploadRequest,
};
use sealdrop_protocol::auth::{self, b64u};
use sealdrop_protocol::keys::AuthKey;
use sealdrop_protocol::{Metadata, Secret, ece};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::{self, Message};

/// Size of the random pool file contents are cut from.
const POOL: usize = 8 << 20;
/// Chunk size of uploaded bodies.
const CHUNK: usize = 64 * 1024;

fn pool() -> &'static Bytes {
    static POOL_BYTES: OnceLock<Bytes> = OnceLock::new();
    POOL_BYTES.get_or_init(|| Bytes::from(crate::content(POOL, 0x5ea1_d209)))
}

/// The bytes of a file: an aes128gcm header, then bytes of the pool from `offset`,
/// wrapping around, up to `len` (the ciphertext size of some plaintext).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    /// Where in the pool it starts.
    pub offset: usize,
    /// Its length (ciphertext bytes).
    pub len: u64,
}

impl Content {
    /// The "ciphertext" of a `plain`-byte file, chosen by `seed`.
    pub fn new(plain: u64, seed: u64) -> Self {
        Self {
            offset: usize::try_from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) % POOL as u64)
                .unwrap_or(0),
            len: ece::encrypted_size(plain).expect("a plaintext size with a ciphertext size"),
        }
    }

    /// The file as chunks (the header, then slices of the pool, nothing copied).
    pub fn chunks(self) -> impl Iterator<Item = Bytes> + Send + 'static {
        let pool = pool().clone();
        // A salt from the pool, 64 KiB records, no key id.
        let mut header = pool
            .slice(self.offset % (POOL - 16)..self.offset % (POOL - 16) + 16)
            .to_vec();
        header.extend_from_slice(&(ece::RECORD_SIZE as u32).to_be_bytes());
        header.push(0);
        let mut at = self.offset;
        let mut left = self.len - ece::HEADER_LEN as u64;
        std::iter::once(Bytes::from(header)).chain(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let n = CHUNK
                .min(POOL - at)
                .min(usize::try_from(left).unwrap_or(CHUNK));
            let chunk = pool.slice(at..at + n);
            at = (at + n) % POOL;
            left -= n as u64;
            Some(chunk)
        }))
    }

    /// SHA-256 of the file.
    pub fn sha256(self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for chunk in self.chunks() {
            hash.update(&chunk);
        }
        hash.finalize().into()
    }
}

/// A file as uploaded: what downloads and owner operations need.
#[allow(
    missing_debug_implementations,
    reason = "holds a key, which has no Debug"
)]
pub struct Share {
    /// The file id.
    pub id: String,
    /// The owner token.
    pub owner: String,
    auth: AuthKey,
    /// The last nonce seen (every answer carries the next one).
    nonce: Mutex<Option<String>>,
    /// What was uploaded.
    pub content: Content,
    /// SHA-256 of what was uploaded.
    pub sha256: [u8; 32],
}

/// What an upload did, for the history.
#[allow(
    missing_debug_implementations,
    reason = "holds a share, which has no Debug"
)]
pub struct Uploaded {
    /// How it ended.
    pub outcome: UploadOutcome,
    /// The share, if acknowledged.
    pub share: Option<Arc<Share>>,
    /// The file id, once the server gave it: with the acknowledgement on the HTTP route,
    /// in the WebSocket's first answer (before the file is sent) on the other.
    pub id: Option<String>,
    /// When the client handed the last byte of the body (or the WebSocket's end marker)
    /// to its connection, if it got that far: the server cannot have committed the file
    /// before, so a read that succeeded and ended earlier saw a file it should not have.
    pub body_done: Option<Instant>,
}

impl Uploaded {
    fn failed(outcome: UploadOutcome, id: Option<String>, body_done: Option<Instant>) -> Self {
        Self {
            outcome,
            share: None,
            id,
            body_done,
        }
    }
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Acknowledged: the server answered 200 with a link.
    Ok,
    /// An HTTP error answer: status and the JSON body's `error` code (empty if the body
    /// was not the JSON error).
    Refused(u16, String),
    /// No answer: a transport error or a timeout on our side.
    Transport(String),
}

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// Every byte received, and they are the bytes uploaded.
    Complete,
    /// Every byte received but they differ from the upload: an invariant violation.
    Corrupt,
    /// 404: gone, expired, exhausted, or every remaining download in progress.
    NotFound,
    /// Another HTTP error answer: status and JSON `error` code.
    Refused(u16, String),
    /// The body stopped before its end (the server cut it, or a transport error).
    Cut(u64),
    /// No answer: a transport error or a timeout on our side.
    Transport(String),
}

/// One client, pooling connections to each server instance.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Longest an operation may take before it counts as hung.
    pub deadline: Duration,
}

impl Client {
    /// A client whose operations time out after `deadline`.
    pub fn new(deadline: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            // Below the server's idle timeout (60 s): a pooled connection the server is
            // closing at that moment would fail the next request with no answer at all
            // (the keep-alive race, seen once in 70,000 soak operations).
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self { http, deadline }
    }

    /// Uploads `content` to the server at `base` with a download limit and an expiry,
    /// through `POST /api/upload`.
    pub async fn upload(
        &self,
        base: &str,
        content: Content,
        dlimit: u32,
        expire_seconds: u64,
    ) -> Uploaded {
        let secret = Secret::generate().expect("random secret");
        let metadata = Metadata::single("file.bin", content.len, "application/octet-stream")
            .encrypt(&secret.metadata_key());
        let auth = secret.auth_key();
        // The moment the last chunk is handed to the connection (the stream yields it,
        // then it is sent): the earliest the server can have the whole body.
        let body_done: Arc<Mutex<Option<Instant>>> = Arc::default();
        let mut left = content.len;
        let done = body_done.clone();
        let chunks = content.chunks().map(move |chunk| {
            left -= chunk.len() as u64;
            if left == 0 {
                *done.lock().expect("body_done") = Some(Instant::now());
            }
            Ok::<_, std::io::Error>(chunk)
        });
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let request = self
            .http
            .post(format!("{base}/api/upload"))
            .header(HEADER_FILE_METADATA, metadata)
            .header(
                reqwest::header::AUTHORIZATION,
                auth::format_header(&auth.to_base64url()),
            )
            .header(HEADER_DOWNLOAD_LIMIT, dlimit.to_string())
            .header(HEADER_EXPIRE_SECONDS, expire_seconds.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, content.len)
            .body(body);
        let answer = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        };
        let answer = tokio::time::timeout(self.deadline, answer).await;
        let body_done = *body_done.lock().expect("body_done");
        let (status, bytes) = match answer {
            Err(_) => {
                return Uploaded::failed(UploadOutcome::Transport("hung".into()), None, body_done);
            }
            Ok(Err(e)) => {
                return Uploaded::failed(UploadOutcome::Transport(kind_of(&e)), None, body_done);
            }
            Ok(Ok(answer)) => answer,
        };
        if status != 200 {
            let outcome = UploadOutcome::Refused(status, error_code(&bytes));
            return Uploaded::failed(outcome, None, body_done);
        }
        let Ok(answer) = serde_json::from_slice::<UploadResponse>(&bytes) else {
            let outcome = UploadOutcome::Refused(status, "not-json".into());
            return Uploaded::failed(outcome, None, body_done);
        };
        let share = Arc::new(Share {
            id: answer.id.clone(),
            owner: answer.token().to_owned(),
            auth,
            nonce: Mutex::new(None),
            content,
            sha256: content.sha256(),
        });
        Uploaded {
            outcome: UploadOutcome::Ok,
            id: Some(share.id.clone()),
            share: Some(share),
            body_done,
        }
    }

    /// Uploads `content` through the WebSocket (`/api/ws`), handing the share to `on_id`
    /// as soon as the server's first answer names its id, before any byte of the file is
    /// sent: a reader given it then races the upload's commit.
    pub async fn upload_ws(
        &self,
        base: &str,
        content: Content,
        dlimit: u32,
        expire_seconds: u64,
        on_id: impl FnOnce(Arc<Share>) + Send,
    ) -> Uploaded {
        let secret = Secret::generate().expect("random secret");
        let request = WsUploadRequest {
            file_metadata: Metadata::single("file.bin", content.len, "application/octet-stream")
                .encrypt(&secret.metadata_key()),
            authorization: auth::format_header(&secret.auth_key().to_base64url()),
            bearer: None,
            time_limit: Some(expire_seconds),
            dlimit: Some(dlimit),
        };
        let mut known: Option<Arc<Share>> = None;
        let mut body_done = None;
        let url = format!(
            "ws://{}/api/ws",
            base.strip_prefix("http://").unwrap_or(base)
        );
        let upload = async {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .map_err(|e| ws_failure(&e))?;
            let text = serde_json::to_string(&request).expect("JSON of the upload request");
            ws.send(Message::text(text))
                .await
                .map_err(|e| ws_failure(&e))?;
            let first = next_text(&mut ws).await?;
            let Ok(answer) = serde_json::from_str::<UploadResponse>(&first) else {
                return Err(ws_refusal(&first));
            };
            let share = Arc::new(Share {
                id: answer.id.clone(),
                owner: answer.token().to_owned(),
                auth: secret.auth_key(),
                nonce: Mutex::new(None),
                content,
                sha256: content.sha256(),
            });
            known = Some(share.clone());
            on_id(share);
            for chunk in content.chunks() {
                ws.send(Message::binary(chunk))
                    .await
                    .map_err(|e| ws_failure(&e))?;
            }
            body_done = Some(Instant::now());
            ws.send(Message::binary(WS_END_MARKER.to_vec()))
                .await
                .map_err(|e| ws_failure(&e))?;
            let last = next_text(&mut ws).await?;
            match serde_json::from_str::<WsStatus>(&last) {
                Ok(WsStatus::Ok { ok: true }) => {
                    let _ = ws.close(None).await;
                    Ok(())
                }
                _ => Err(ws_refusal(&last)),
            }
        };
        let result = tokio::time::timeout(self.deadline, upload)
            .await
            .unwrap_or_else(|_| Err(UploadOutcome::Transport("hung".into())));
        let id = known.as_ref().map(|s| s.id.clone());
        match result {
            Ok(()) => Uploaded {
                outcome: UploadOutcome::Ok,
                share: known,
                id,
                body_done,
            },
            Err(outcome) => Uploaded::failed(outcome, id, body_done),
        }
    }

    /// `GET /api/exists/<id>`: the status (200 when the file is live, 404 when not), 0
    /// without an answer.
    pub async fn exists(&self, base: &str, id: &str) -> u16 {
        let request = self.http.get(format!("{base}/api/exists/{id}")).send();
        match tokio::time::timeout(self.deadline, request).await {
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                // Read the body, so the connection goes back to the pool.
                let _ = response.bytes().await;
                status
            }
            _ => 0,
        }
    }

    /// Downloads `share` from `base`, signing with the last nonce seen and retrying with
    /// the server's current one when another client used it first.
    pub async fn download(&self, base: &str, share: &Share) -> DownloadOutcome {
        match tokio::time::timeout(self.deadline, self.download_inner(base, share)).await {
            Ok(outcome) => outcome,
            Err(_) => DownloadOutcome::Transport("hung".into()),
        }
    }

    async fn download_inner(&self, base: &str, share: &Share) -> DownloadOutcome {
        let response = match self.signed_download(base, share, 200).await {
            Ok(Some(r)) => r,
            Ok(None) => return DownloadOutcome::Refused(401, "nonce-race-lost-200-times".into()),
            Err(e) => return DownloadOutcome::Transport(kind_of(&e)),
        };
        match response.status().as_u16() {
            200 => check_body(response, share).await,
            404 => DownloadOutcome::NotFound,
            status => {
                let bytes = response.bytes().await.unwrap_or_default();
                DownloadOutcome::Refused(status, error_code(&bytes))
            }
        }
    }

    /// Starts a download and reads its first chunk, then hands the response back unread:
    /// a download in progress (its slot reserved) for as long as the caller holds it.
    pub async fn start_download(&self, base: &str, share: &Share) -> Option<reqwest::Response> {
        let mut response = self.signed_download(base, share, 20).await.ok()??;
        if response.status() != reqwest::StatusCode::OK {
            return None;
        }
        response.chunk().await.ok()??;
        Some(response)
    }

    /// `GET /api/download/<id>` signed with the share's nonce, signed again with the next
    /// one while the answer is a 401 (another racer spent the nonce): the first answer
    /// that is not a 401, `None` after `tries` of them, or the transport error.
    async fn signed_download(
        &self,
        base: &str,
        share: &Share,
        tries: usize,
    ) -> Result<Option<reqwest::Response>, reqwest::Error> {
        for _ in 0..tries {
            let nonce = share.nonce.lock().expect("nonce").clone();
            let mut request = self.http.get(format!("{base}/api/download/{}", share.id));
            if let Some(nonce) = nonce.and_then(|n| b64u::decode_lenient(&n).ok()) {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    auth::format_header(&share.auth.sign(&nonce)),
                );
            }
            let response = request.send().await?;
            if let Some(next) = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge)
            {
                *share.nonce.lock().expect("nonce") = Some(next.to_owned());
            }
            if response.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Ok(Some(response));
            }
        }
        Ok(None)
    }

    /// `POST /api/info/<id>` with the owner token: the answer's status and body, for
    /// failure messages.
    pub async fn info(&self, base: &str, share: &Share) -> String {
        let request = self
            .http
            .post(format!("{base}/api/info/{}", share.id))
            .json(&serde_json::json!({ "owner_token": share.owner }));
        match request.send().await {
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => format!("no answer: {e}"),
        }
    }

    /// `POST /api/delete/<id>` with the owner token: the status, or 0 without an answer.
    pub async fn delete(&self, base: &str, share: &Share) -> u16 {
        let request = self
            .http
            .post(format!("{base}/api/delete/{}", share.id))
            .json(&serde_json::json!({ "owner_token": share.owner }));
        match tokio::time::timeout(self.deadline, request.send()).await {
            Ok(Ok(r)) => r.status().as_u16(),
            _ => 0,
        }
    }
}

async fn check_body(response: reqwest::Response, share: &Share) -> DownloadOutcome {
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                got += chunk.len() as u64;
                hash.update(&chunk);
            }
            Err(_) => return DownloadOutcome::Cut(got),
        }
    }
    if got != share.content.len {
        return if got < share.content.len {
            DownloadOutcome::Cut(got)
        } else {
            DownloadOutcome::Corrupt
        };
    }
    if <[u8; 32]>::from(hash.finalize()) == share.sha256 {
        DownloadOutcome::Complete
    } else {
        DownloadOutcome::Corrupt
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message of the WebSocket (skipping control frames), or how the
/// connection ended without one.
async fn next_text(ws: &mut WsStream) -> Result<String, UploadOutcome> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Close(_))) | None => {
                return Err(UploadOutcome::Transport("closed".into()));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ws_failure(&e)),
        }
    }
}

/// A WebSocket answer other than the expected one: `{"error":N,"code":…}` is the
/// server's refusal; anything else is counted as a refusal with status 0.
fn ws_refusal(text: &str) -> UploadOutcome {
    match serde_json::from_str::<WsStatus>(text) {
        Ok(WsStatus::Error { error, code, .. }) => {
            UploadOutcome::Refused(error, code.unwrap_or_else(|| "no-code".into()))
        }
        _ => UploadOutcome::Refused(0, "unexpected-message".into()),
    }
}

/// A transport failure of the WebSocket; a refused upgrade is the server's answer.
fn ws_failure(e: &tungstenite::Error) -> UploadOutcome {
    match e {
        tungstenite::Error::Http(response) => {
            UploadOutcome::Refused(response.status().as_u16(), "upgrade-refused".into())
        }
        tungstenite::Error::Io(_) => UploadOutcome::Transport("transport".into()),
        _ => UploadOutcome::Transport("websocket".into()),
    }
}

/// The `error` code of a JSON error body, or a note that there was none.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(ToOwned::to_owned))
        .unwrap_or_else(|| "no-json-error".into())
}

/// A short name for a transport error.
fn kind_of(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "transport".into()
    }
}
