//! Uploads: the Send v3 WebSocket route and sealdrop's plain HTTP route, one pipeline.
//!
//! Bytes stream into a pending blob, counted against the ciphertext limit; the blob is
//! committed and then the row written, only after the client's end of data. Any error,
//! timeout or disconnect discards the pending blob: nothing half-written is ever visible.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sealdrop_protocol::api::{self, FileId, UploadResponse, WsStatus, WsUploadRequest};
use sealdrop_protocol::auth::{self, OwnerToken, b64u};
use sealdrop_protocol::ece;
use tracing::Instrument;

use super::nonce_header;
use crate::error::ApiError;
use crate::meta::NewFile;
use crate::state::AppState;
use crate::storage::BlobWriter;

/// The header every sealdrop ciphertext starts with, after its 16-byte salt:
/// record size 65536, no key id.
const HEADER_PARAMS: [u8; 5] = [0, 1, 0, 0, 0];

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
            .filter(|m| !m.is_empty() && m.len() <= 64 * 1024)
            .ok_or(ApiError::BadRequest("fileMetadata is missing or too long"))?;
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

/// An upload in progress. Dropping it discards the pending blob.
struct Pending {
    id: FileId,
    owner: OwnerToken,
    blob_key: String,
    writer: Box<dyn BlobWriter>,
    written: u64,
    limit: u64,
    header: Vec<u8>,
    params: Params,
}

impl Pending {
    async fn begin(state: &AppState, params: Params) -> Result<Self, ApiError> {
        let id = FileId::generate().map_err(anyhow::Error::from)?;
        let owner = OwnerToken::generate().map_err(anyhow::Error::from)?;
        // Send's `<days>-<id>` prefix, so bucket lifecycle rules can act as a backstop.
        let days = (params.expire_secs / 86400).max(1);
        let blob_key = format!("{days}-{id}");
        let writer = state.blobs.begin(&blob_key).await?;
        Ok(Self {
            id,
            owner,
            blob_key,
            writer,
            written: 0,
            limit: state.config.max_encrypted_size,
            header: Vec::with_capacity(ece::HEADER_LEN),
            params,
        })
    }

    fn response(&self, state: &AppState) -> UploadResponse {
        UploadResponse {
            url: format!("{}/download/{}/", state.config.base_url, self.id),
            owner_token: self.owner.expose().to_owned(),
            id: self.id.to_string(),
            owner: None,
        }
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        self.written = self.written.saturating_add(chunk.len() as u64);
        if self.written > self.limit {
            return Err(ApiError::PayloadTooLarge);
        }
        if self.header.len() < ece::HEADER_LEN {
            let want = ece::HEADER_LEN - self.header.len();
            self.header
                .extend_from_slice(&chunk[..want.min(chunk.len())]);
            if self.header.len() == ece::HEADER_LEN && self.header[16..] != HEADER_PARAMS {
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
            return Err(e.into());
        }
        state.sweeper.notify_one();
        tracing::info!(id = %self.id, size, "upload committed");
        Ok(nonce)
    }
}

/// `GET /api/ws`: the Send v3 WebSocket upload.
pub(super) async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
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
            ws_session(socket, state).instrument(span).await;
            drop(running);
        })
}

async fn ws_session(mut socket: WebSocket, state: AppState) {
    let status = match ws_upload(&mut socket, &state).await {
        Ok(()) => WsStatus::Ok { ok: true },
        Err(None) => return, // the client went away; nothing to answer
        Err(Some(err)) => {
            err.log();
            WsStatus::Error {
                error: err.status().as_u16(),
            }
        }
    };
    let text = serde_json::to_string(&status).unwrap_or_default();
    let _ = socket.send(Message::Text(text.into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
}

/// Receives the next message within the idle timeout. `Err(None)`: the client is gone.
async fn next_message(
    socket: &mut WebSocket,
    state: &AppState,
) -> Result<Message, Option<ApiError>> {
    match tokio::time::timeout(state.config.upload_idle_timeout, socket.recv()).await {
        Err(_) => Err(Some(ApiError::Timeout)),
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => Err(None),
        Ok(Some(Ok(message))) => Ok(message),
    }
}

async fn ws_upload(socket: &mut WebSocket, state: &AppState) -> Result<(), Option<ApiError>> {
    let request = loop {
        match next_message(socket, state).await? {
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
    let params = Params::validate(
        state,
        Some(&request.file_metadata),
        Some(&request.authorization),
        request.time_limit,
        request.dlimit.map(u64::from),
    )?;
    let mut pending = Pending::begin(state, params).await?;
    let answer = serde_json::to_string(&pending.response(state))
        .map_err(|e| Some(ApiError::Internal(e.into())))?;
    socket
        .send(Message::Text(answer.into()))
        .await
        .map_err(|_| None)?;
    loop {
        match next_message(socket, state).await? {
            Message::Binary(data) if data.as_ref() == api::WS_END_MARKER => break,
            Message::Binary(data) => pending.write(data).await?,
            Message::Ping(_) | Message::Pong(_) => {}
            _ => {
                return Err(Some(ApiError::BadRequest(
                    "unexpected text during the upload",
                )));
            }
        }
    }
    pending.commit(state).await?;
    Ok(())
}

/// `POST /api/upload`: the ciphertext as the request body, for scripts and proxies that
/// cannot pass WebSockets. Headers: `X-File-Metadata`, `Authorization: send-v1 <key>`,
/// optional `X-Expire-Seconds` and `X-Download-Limit`.
pub(super) async fn http(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
        text(header::AUTHORIZATION.as_str()),
        number(api::HEADER_EXPIRE_SECONDS)?,
        number(api::HEADER_DOWNLOAD_LIMIT)?,
    )?;
    if let Some(len) = number(header::CONTENT_LENGTH.as_str())?
        && len > state.config.max_encrypted_size
    {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut pending = Pending::begin(&state, params).await?;
    let mut stream = body.into_data_stream();
    loop {
        let next = tokio::time::timeout(state.config.upload_idle_timeout, stream.next())
            .await
            .map_err(|_| ApiError::Timeout)?;
        match next {
            None => break,
            Some(Ok(chunk)) => pending.write(chunk).await?,
            Some(Err(_)) => return Err(ApiError::BadRequest("the upload was interrupted")),
        }
    }
    let mut answer = pending.response(&state);
    answer.owner = Some(answer.owner_token.clone());
    let nonce = pending.commit(&state).await?;
    Ok((nonce_header(&nonce), Json(answer)).into_response())
}
