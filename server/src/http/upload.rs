//! Uploads: the Send v3 WebSocket route and sealdrop's plain HTTP route, one pipeline.
//!
//! Bytes stream into a pending blob, counted against the ciphertext limit; the blob is
//! committed and then the row written, only after the client's end of data. Any error,
//! timeout or disconnect discards the pending blob: nothing half-written is ever visible.
//!
//! Both routes ask for the credentials `--upload-auth` requires before anything else
//! (see [`crate::upload_auth`]): the HTTP route in its `Authorization` header (the share's
//! key then travels in `X-Auth-Key`), the WebSocket on its upgrade request or, for an
//! upload token, in the first message's `bearer` field. A token's `max-size` lowers the
//! size limit of the upload, and its daily quota is charged as the bytes arrive.
//!
//! Every chunk is also counted against the client's own upload quota ([`super::limits`])
//! as it arrives (and, unlike a token's quota, not given back when the upload fails); an
//! upload whose `Content-Length` would not fit is refused before its body is read.
//!
//! A WebSocket upload ends with its answer and a close frame, then a lingering close
//! ([`linger`]): what the client still sends is read and discarded until its close frame,
//! so that a client refused midway reads the reason instead of a connection reset.
//!
//! The metrics count an upload as started once its pending blob is open, and then as
//! completed or failed exactly once: by the code of the error answered, or as
//! `disconnected` when the client went away (a guard counts an upload whose task ends
//! without saying). Refusals before that are only rejected requests.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use sealdrop_protocol::api::{self, FileId, UploadResponse, WsStatus, WsUploadRequest};
use sealdrop_protocol::auth::{self, OwnerToken, b64u};
use sealdrop_protocol::{ece, link};
use tracing::Instrument;

use super::body::{LINGER_BYTES, LINGER_FOR, Pace, client_gone, read_error};
use super::client_ip::ClientIp;
use super::limits::Limits;
use super::nonce_header;
use crate::error::{ApiError, ErrorCode};
use crate::meta::NewFile;
use crate::metrics::{DISCONNECTED, Metrics, Route};
use crate::state::AppState;
use crate::storage::BlobWriter;
use crate::upload_auth::{Charge, Gate, Grant};

/// Validated upload parameters.
struct Params {
    metadata: String,
    auth_key: Vec<u8>,
    expire_secs: u64,
    dlimit: u32,
}

impl Params {
    fn validate(
        state: &AppState,
        metadata: Option<&str>,
        authorization: Option<&str>,
        time_limit: Option<u64>,
        dlimit: Option<u64>,
    ) -> Result<Self, ApiError> {
        let c = &state.config;
        let metadata = metadata
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .ok_or(ApiError::BadRequest("fileMetadata is missing"))?;
        if metadata.len() > c.max_metadata_size {
            return Err(ApiError::MetadataTooLarge);
        }
        if b64u::decode_lenient(metadata).is_err() {
            return Err(ApiError::BadRequest("fileMetadata is not base64"));
        }
        let auth_key = authorization
            .and_then(|a| auth::parse_header(a).ok())
            .filter(|k| (16..=128).contains(&k.len()))
            .ok_or(ApiError::BadRequest(
                "authorization must be send-v1 and a base64 key",
            ))?;
        let expire_secs = match time_limit {
            None | Some(0) => c.default_expiry,
            Some(t) if t <= c.max_expiry => t,
            Some(_) => return Err(ApiError::BadRequest("the expiry is longer than allowed")),
        };
        let dlimit = match dlimit {
            None | Some(0) => c.default_downloads,
            Some(n) if n <= u64::from(c.max_downloads) => u32::try_from(n).unwrap_or(u32::MAX),
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "the download limit is higher than allowed",
                ));
            }
        };
        Ok(Self {
            metadata: metadata.to_owned(),
            auth_key,
            expire_secs,
            dlimit,
        })
    }
}

/// The largest ciphertext an upload by `grant` may have, and the error of going over it:
/// the server's limit, or the token's `max-size` when that is lower.
fn size_limit(state: &AppState, grant: Option<&Grant>) -> (u64, fn(u64) -> ApiError) {
    let server = state.config.max_encrypted_size;
    match grant.and_then(|g| g.max_size) {
        Some(max) => match ece::encrypted_size(max) {
            Some(limit) if limit < server => (limit, |max| ApiError::TokenTooLarge { max }),
            _ => (server, |_| ApiError::PayloadTooLarge),
        },
        None => (server, |_| ApiError::PayloadTooLarge),
    }
}

/// The uploading client and the quota its bytes count against.
struct Quota {
    limits: Arc<Limits>,
    client: ClientIp,
}

/// An upload in progress. Dropping it discards the pending blob (and gives the bytes
/// charged to a token's daily quota back).
struct Pending {
    quota: Quota,
    /// Where the bytes received are counted.
    metrics: Arc<Metrics>,
    id: FileId,
    owner: OwnerToken,
    blob_key: String,
    writer: Box<dyn BlobWriter>,
    written: u64,
    limit: u64,
    too_large: ApiError,
    header: Vec<u8>,
    params: Params,
    uploader: Option<String>,
    charge: Option<Charge>,
}

impl Pending {
    /// Opens the pending blob. `announced` is the ciphertext size the client declared
    /// (`Content-Length`), checked against the limits before anything is stored.
    async fn begin(
        state: &AppState,
        params: Params,
        grant: Option<Grant>,
        announced: Option<u64>,
        quota: Quota,
    ) -> Result<Self, ApiError> {
        let (limit, too_large) = size_limit(state, grant.as_ref());
        let max = grant
            .as_ref()
            .and_then(|g| g.max_size)
            .unwrap_or(state.config.max_file_size);
        if let Some(len) = announced {
            if len > limit {
                return Err(too_large(max));
            }
            quota.limits.check_declared_upload(quota.client, len)?;
        }
        let charge =
            state
                .upload_auth
                .begin_charge(grant.as_ref(), state.clock.now(), announced)?;
        let id = FileId::generate().map_err(anyhow::Error::from)?;
        let owner = OwnerToken::generate().map_err(anyhow::Error::from)?;
        // Send's `<days>-<id>` prefix, so bucket lifecycle rules can act as a backstop.
        let days = (params.expire_secs / 86400).max(1);
        let blob_key = format!("{days}-{id}");
        let writer = state.blobs.begin(&blob_key).await?;
        Ok(Self {
            quota,
            metrics: state.metrics.clone(),
            id,
            owner,
            blob_key,
            writer,
            written: 0,
            limit,
            too_large: too_large(max),
            header: Vec::with_capacity(ece::HEADER_LEN),
            params,
            uploader: grant.map(|g| g.label),
            charge,
        })
    }

    fn response(&self, state: &AppState) -> UploadResponse {
        UploadResponse {
            url: link::download_url(&state.config.base_url, self.id.as_str()),
            owner_token: self.owner.expose().to_owned(),
            id: self.id.to_string(),
            owner: None,
        }
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        self.metrics.received(chunk.len() as u64);
        self.written = self.written.saturating_add(chunk.len() as u64);
        if self.written > self.limit {
            return Err(std::mem::replace(
                &mut self.too_large,
                ApiError::PayloadTooLarge,
            ));
        }
        if let Some(charge) = &mut self.charge {
            charge.add(chunk.len() as u64)?;
        }
        self.quota
            .limits
            .charge_upload(self.quota.client, chunk.len() as u64)?;
        if self.header.len() < ece::HEADER_LEN {
            let want = ece::HEADER_LEN - self.header.len();
            self.header
                .extend_from_slice(&chunk[..want.min(chunk.len())]);
            if self.header.len() == ece::HEADER_LEN
                && self.header[ece::SALT_LEN..] != ece::HEADER_PARAMS
            {
                return Err(ApiError::BadRequest(
                    "the data is not aes128gcm with 64 KiB records",
                ));
            }
        }
        self.writer.write(chunk).await?;
        Ok(())
    }

    /// Commits the blob, then writes the row: from here on the file is visible. Returns
    /// the file's first download nonce.
    async fn commit(self, state: &AppState) -> Result<String, ApiError> {
        if ece::plaintext_size(self.written).is_none() {
            self.writer.abort().await;
            return Err(ApiError::BadRequest(
                "the upload is not a complete aes128gcm ciphertext",
            ));
        }
        let size = self.writer.commit().await?;
        let now = state.clock.now();
        let nonce = auth::new_nonce().map_err(anyhow::Error::from)?;
        let row = NewFile {
            id: self.id.clone(),
            blob_key: self.blob_key.clone(),
            owner_hash: self.owner.hash(),
            metadata: self.params.metadata,
            auth_key: self.params.auth_key,
            nonce: nonce.clone(),
            dlimit: self.params.dlimit,
            expires_at: now.saturating_add(self.params.expire_secs.saturating_mul(1000)),
            size,
        };
        if let Err(e) = state.meta.insert(row).await {
            if let Err(del) = state.blobs.delete(&self.blob_key).await {
                tracing::warn!(
                    error = format!("{del:#}"),
                    "deleting an uncommitted blob failed"
                );
            }
            // The insert may have happened all the same (its answer timed out): undo it
            // once the store answers again, so no row outlives a failed upload.
            tokio::spawn(undo_insert(state.clone(), self.id.clone()));
            return Err(e.into());
        }
        if let Some(charge) = self.charge {
            charge.commit();
        }
        state.sweeper.notify_one();
        tracing::info!(
            id = %self.id,
            size,
            uploader = self.uploader.as_deref(),
            "upload committed"
        );
        Ok(nonce)
    }
}

/// Removes the row of a failed upload if its insert went through after all: retried with
/// a growing pause (1 s to 16 s) for about two minutes while the store fails.
async fn undo_insert(state: AppState, id: FileId) {
    let mut pause = Duration::from_secs(1);
    for _ in 0..10 {
        match state.meta.take_down(&id, state.clock.now()).await {
            Ok(Some(blob_key)) => {
                tracing::warn!(id = %id, "removed the row of a failed upload");
                state.delete_blob(&blob_key).await;
                return;
            }
            Ok(None) => return,
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(16));
            }
        }
    }
    tracing::error!(id = %id, "could not check for the row of a failed upload; it lives until its expiry");
}

/// `GET /api/ws`: the Send v3 WebSocket upload. Upload credentials are checked before
/// the upgrade (a refusal is a plain 401), except an upload token that the first message
/// carries.
pub(super) async fn websocket(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    Extension(client): Extension<ClientIp>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let gate = match state.upload_auth.authorize_upgrade(&headers).await {
        Ok(gate) => gate,
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let offers_ffsend = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == api::WS_SUBPROTOCOL);
    let ws = if offers_ffsend {
        ws.protocols([api::WS_SUBPROTOCOL])
    } else {
        ws
    };
    let span = tracing::Span::current();
    let running = state.transfers.token();
    ws.max_message_size(4 * 1024 * 1024)
        .max_frame_size(4 * 1024 * 1024)
        .on_upgrade(move |socket| async move {
            ws_session(socket, state, gate, Quota { limits, client })
                .instrument(span)
                .await;
            drop(running);
        })
}

async fn ws_session(mut socket: WebSocket, state: AppState, gate: Gate, quota: Quota) {
    let status = match ws_upload(&mut socket, &state, gate, quota).await {
        Ok(()) => WsStatus::Ok { ok: true },
        Err(None) => return, // the client went away; nothing to answer
        Err(Some(err)) => {
            err.log();
            state.metrics.rejected(err.code(), err.status());
            WsStatus::Error {
                error: err.status().as_u16(),
                message: Some(err.to_string()),
                code: Some(err.code().to_owned()),
            }
        }
    };
    let text = serde_json::to_string(&status).unwrap_or_default();
    if socket.send(Message::Text(text.into())).await.is_err() {
        return;
    }
    let closed = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    if closed.is_ok() {
        linger(&mut socket).await;
    }
}

/// The lingering close of a WebSocket whose answer and close frame are sent: reads and
/// discards what the client still sends until its close frame, the end of the stream, or
/// [`LINGER_FOR`] or [`LINGER_BYTES`], whichever comes first; only then is the socket
/// dropped.
///
/// A client refused midway (413, 507, a timeout) or at its first message (400, 401) is
/// usually still sending: frames in flight, and clients such as ffsend that send the whole
/// file before they read. Closing a TCP socket whose unread data is waiting makes the
/// kernel answer with a reset, which discards whatever the client had not read yet, our
/// answer included, so the client would see "connection reset" instead of the reason.
/// Draining until the client's close frame lets the answer arrive. The bounds cap what a
/// refused upload costs: the bytes are never stored nor counted, at most 32 MiB (more
/// than the socket buffers and frames in flight of a client that reads while it sends,
/// and the rest of any refused file up to that size for one that reads only at the end)
/// and 10 s (a client that neither sends nor closes holds its connection no longer).
async fn linger(socket: &mut WebSocket) {
    let deadline = tokio::time::Instant::now() + LINGER_FOR;
    let mut drained: u64 = 0;
    let end = loop {
        let message = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => break "timeout",
            Ok(None | Some(Err(_))) => break "end of stream",
            Ok(Some(Ok(Message::Close(_)))) => break "close frame",
            Ok(Some(Ok(message))) => message,
        };
        drained = drained.saturating_add(match &message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            Message::Ping(p) | Message::Pong(p) => p.len(),
            Message::Close(_) => 0,
        } as u64);
        if drained > LINGER_BYTES {
            break "byte limit";
        }
    };
    tracing::debug!(drained, end, "websocket closed");
}

/// Receives the next message before the pace deadline (the idle timeout, or the moment
/// the upload would be slower than the minimum rate). `Err(None)`: the client is gone.
/// Pings and pongs do not count as sending.
async fn next_message(
    socket: &mut WebSocket,
    pace: &mut Pace,
) -> Result<Message, Option<ApiError>> {
    let (deadline, why) = pace.wait();
    match tokio::time::timeout_at(deadline, socket.recv()).await {
        Err(_) => Err(Some(why.into())),
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => Err(None),
        Ok(Some(Ok(message))) => {
            match &message {
                Message::Text(t) => pace.observe(t.len()),
                Message::Binary(b) => pace.observe(b.len()),
                _ => {}
            }
            Ok(message)
        }
    }
}

async fn ws_upload(
    socket: &mut WebSocket,
    state: &AppState,
    gate: Gate,
    quota: Quota,
) -> Result<(), Option<ApiError>> {
    let mut pace = Pace::new(&state.config);
    let request = loop {
        match next_message(socket, &mut pace).await? {
            Message::Text(text) => break text,
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => return Err(Some(ApiError::BadRequest("the first message must be JSON"))),
        }
    };
    let request: WsUploadRequest = serde_json::from_str(&request).map_err(|_| {
        Some(ApiError::BadRequest(
            "the first message is not the expected JSON",
        ))
    })?;
    let grant = match gate {
        Gate::Open(grant) => grant,
        Gate::NeedsBearer => Some(
            state
                .upload_auth
                .authorize_bearer(request.bearer.as_deref())?,
        ),
    };
    let params = Params::validate(
        state,
        Some(&request.file_metadata),
        Some(&request.authorization),
        request.time_limit,
        request.dlimit.map(u64::from),
    )?;
    let mut pending = Pending::begin(state, params, grant, None, quota).await?;
    let upload = state.metrics.upload_started(Route::Ws);
    let result = match ws_receive(socket, state, &mut pending, &mut pace).await {
        Ok(()) => pending.commit(state).await.map(drop).map_err(Some),
        Err(e) => Err(e),
    };
    match &result {
        Ok(()) => upload.completed(),
        Err(Some(e)) => upload.failed(e.code()),
        Err(None) => upload.failed(DISCONNECTED),
    }
    result
}

/// Answers the upload's id, then writes the binary messages until the end marker.
async fn ws_receive(
    socket: &mut WebSocket,
    state: &AppState,
    pending: &mut Pending,
    pace: &mut Pace,
) -> Result<(), Option<ApiError>> {
    let answer = serde_json::to_string(&pending.response(state))
        .map_err(|e| Some(ApiError::Internal(e.into())))?;
    socket
        .send(Message::Text(answer.into()))
        .await
        .map_err(|_| None)?;
    loop {
        match next_message(socket, pace).await? {
            Message::Binary(data) if data.as_ref() == api::WS_END_MARKER => return Ok(()),
            Message::Binary(data) => pending.write(data).await?,
            Message::Ping(_) | Message::Pong(_) => {}
            _ => {
                return Err(Some(ApiError::BadRequest(
                    "unexpected text during the upload",
                )));
            }
        }
    }
}

/// `POST /api/upload`: the ciphertext as the request body, for scripts and proxies that
/// cannot pass WebSockets. Headers: `X-File-Metadata`, `Authorization: send-v1 <key>`,
/// optional `X-Expire-Seconds` and `X-Download-Limit`. With upload credentials,
/// `Authorization` holds them (`Basic …` or `Bearer …`) and the key moves to
/// `X-Auth-Key: send-v1 <key>`.
pub(super) async fn http(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    Extension(client): Extension<ClientIp>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let grant = state.upload_auth.authorize(&headers).await?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        text(name)
            .map(|v| v.trim().parse::<u64>())
            .transpose()
            .map_err(|_| ApiError::BadRequest("X-Expire-Seconds and X-Download-Limit are numbers"))
    };
    let params = Params::validate(
        &state,
        text(api::HEADER_FILE_METADATA),
        auth_key_header(&headers),
        number(api::HEADER_EXPIRE_SECONDS)?,
        number(api::HEADER_DOWNLOAD_LIMIT)?,
    )?;
    // A declared Content-Length over the limit was refused before this handler (see
    // `body::guard`), and the body is paced there: idle timeout and minimum rate.
    let announced = number(header::CONTENT_LENGTH.as_str())?;
    let mut pending =
        Pending::begin(&state, params, grant, announced, Quota { limits, client }).await?;
    let upload = state.metrics.upload_started(Route::Http);
    let mut answer = pending.response(&state);
    answer.owner = Some(answer.owner_token.clone());
    // The error, and its reason in the metrics.
    let result = async {
        let mut stream = body.into_data_stream();
        while let Some(next) = stream.next().await {
            match next {
                Ok(chunk) => pending.write(chunk).await.map_err(|e| (e, None))?,
                Err(e) => {
                    let gone = client_gone(&e).then_some(DISCONNECTED);
                    return Err((read_error(&e), gone));
                }
            }
        }
        pending.commit(&state).await.map_err(|e| (e, None))
    }
    .await;
    match result {
        Ok(nonce) => {
            upload.completed();
            Ok((nonce_header(&nonce), Json(answer)).into_response())
        }
        Err((e, Some(reason))) => {
            // Nobody reads the answer: it is no rejection either.
            upload.failed(reason);
            let mut response = e.into_response();
            response.extensions_mut().insert(ErrorCode(reason));
            Ok(response)
        }
        Err((e, None)) => {
            upload.failed(e.code());
            Err(e)
        }
    }
}

/// The share's auth key on the HTTP route: `X-Auth-Key`, else the `Authorization` value
/// of scheme `send-v1` (Send clients), else the first `Authorization` value (refused by
/// validation with a sentence).
fn auth_key_header(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get(api::HEADER_AUTH_KEY) {
        return key.to_str().ok();
    }
    let values = || {
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
    };
    values()
        .find(|v| {
            v.trim()
                .split(' ')
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case(sealdrop_protocol::auth::SCHEME))
        })
        .or_else(|| values().next())
}
