//! Owner operations: info, params, password, delete. The owner token travels in the JSON
//! body (never in a URL) and is compared, hashed, in constant time.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use sealdrop_protocol::api::{FileId, InfoResponse, OwnerRequest, ParamsRequest, PasswordRequest};
use sealdrop_protocol::auth::{self, OwnerToken, b64u};
use serde::de::DeserializeOwned;

use super::{PathId, ok, ttl};
use crate::error::ApiError;
use crate::meta::{FileRecord, SetLimit};
use crate::state::AppState;

/// A small request body as read by the `Bytes` extractor (at most 16 KiB, paced).
pub(super) type SmallBody = Result<Bytes, BytesRejection>;

/// Parses a JSON body whatever its content type (Send clients differ); a body that could
/// not be read is answered as JSON too (413, 408 or 400).
pub(super) fn json<T: DeserializeOwned>(body: SmallBody) -> Result<T, ApiError> {
    let body = body.map_err(|r| super::body::rejection(&r))?;
    serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("the request body is not the expected JSON"))
}

/// Loads the live record of `id` and checks the owner token.
async fn authorize(state: &AppState, id: &FileId, token: &str) -> Result<FileRecord, ApiError> {
    let record = state
        .meta
        .get(id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    if !OwnerToken::new(token).matches(&record.file.owner_hash) {
        return Err(ApiError::Unauthorized { nonce: None });
    }
    Ok(record)
}

pub(super) async fn info(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: SmallBody,
) -> Result<Json<InfoResponse>, ApiError> {
    let req: OwnerRequest = json(body)?;
    let record = authorize(&state, &id, &req.owner_token).await?;
    Ok(Json(InfoResponse {
        dlimit: record.file.dlimit,
        dtotal: record.downloads,
        ttl: ttl(record.file.expires_at, state.clock.now()),
    }))
}

pub(super) async fn params(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: SmallBody,
) -> Result<Response, ApiError> {
    let req: ParamsRequest = json(body)?;
    let record = authorize(&state, &id, &req.owner_token).await?;
    let dlimit = match req.dlimit {
        Some(n) if n >= 1 && n <= state.config.max_downloads => n,
        _ => {
            return Err(ApiError::BadRequest(
                "dlimit must be between 1 and the server's maximum",
            ));
        }
    };
    match state
        .meta
        .set_dlimit(&record.file.id, dlimit, state.clock.now())
        .await?
    {
        None => Err(ApiError::NotFound),
        Some(SetLimit::Updated) => Ok(ok()),
        Some(SetLimit::Finished { blob_key }) => {
            state.delete_blob_later(blob_key);
            Ok(ok())
        }
    }
}

pub(super) async fn password(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: SmallBody,
) -> Result<Response, ApiError> {
    let req: PasswordRequest = json(body)?;
    let record = authorize(&state, &id, &req.owner_token).await?;
    let key = b64u::decode_lenient(&req.auth)
        .ok()
        .filter(|k| (16..=128).contains(&k.len()))
        .ok_or(ApiError::BadRequest(
            "auth must be a base64 key of 16 to 128 bytes",
        ))?;
    let nonce = auth::new_nonce().map_err(anyhow::Error::from)?;
    if state
        .meta
        .set_password(&record.file.id, &key, &nonce, state.clock.now())
        .await?
    {
        Ok(ok())
    } else {
        Err(ApiError::NotFound)
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: SmallBody,
) -> Result<Response, ApiError> {
    let req: OwnerRequest = json(body)?;
    let record = authorize(&state, &id, &req.owner_token).await?;
    let blob_key = state
        .meta
        .delete(&record.file.id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    state.delete_blob(&blob_key).await;
    Ok(ok())
}
