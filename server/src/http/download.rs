//! Download routes: the page (the web client's, with the nonce), exists, signed metadata
//! and the signed, counted blob download.
//!
//! Signed requests on a password-protected file go through its wrong-password bucket
//! ([`super::limits`]): refused while it is empty, a token taken for a wrong signature.
//!
//! A download reserves a slot before the first byte and turns it into a completed
//! download just before the last chunk is handed to the connection: the last bytes are
//! only sent if the store agrees the download counts, so there are never more than
//! `dlimit` complete downloads, and a download whose last byte was written is counted
//! whatever the client does next. A download that stops earlier gives its slot back,
//! including one whose client stops reading: the connection takes each chunk on demand,
//! and when it has not asked for the next one within `download_idle_timeout` the download
//! ends (see [`on_demand`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{Stream, StreamExt};
use sealdrop_protocol::api::{ExistsResponse, FileId, MetadataResponse};
use sealdrop_protocol::auth::{self, b64u};
use sealdrop_protocol::range::{self, Requested};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::limits::Limits;
use super::{PathId, nonce_header, ttl, web};
use crate::error::ApiError;
use crate::meta::{Complete, FileRecord, Reserve};
use crate::metrics::DownloadTracker;
use crate::state::AppState;
use crate::storage::BlobStream;

/// How often a running download renews its reservation: a third of the lease, so two
/// renewals may fail (a store briefly unreachable) before the slot lapses.
fn renew_every(state: &AppState) -> Duration {
    state.config.download_lease / 3
}

async fn live(state: &AppState, id: &FileId) -> Result<FileRecord, ApiError> {
    state
        .meta
        .get(id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /download/:id` and `/download/:id/`: the web client's download page. For a
/// live file it is a 200 with the current nonce in `WWW-Authenticate` (ffsend reads it
/// there); for an unknown, expired or malformed id the same page with a 404 (the page
/// then shows that the file is gone, and Send clients see a non-2xx as expired).
pub(super) async fn page(
    State(state): State<AppState>,
    id: Result<PathId, ApiError>,
) -> Result<Response, ApiError> {
    let record = match id {
        Ok(PathId(id)) => match live(&state, &id).await {
            Ok(record) => Some(record),
            Err(ApiError::NotFound) => None,
            Err(e) => return Err(e),
        },
        Err(_) => None,
    };
    match record {
        Some(record) => {
            let page = web::download_page(&state, StatusCode::OK).await?;
            Ok((nonce_header(&record.file.nonce), page).into_response())
        }
        None => {
            let mut page = web::download_page(&state, StatusCode::NOT_FOUND).await?;
            let code = ApiError::NotFound.code();
            page.extensions_mut().insert(crate::error::ErrorCode(code));
            Ok(page)
        }
    }
}

/// `GET /api/exists/:id`.
pub(super) async fn exists(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let record = live(&state, &id).await?;
    let body = ExistsResponse {
        requires_password: record.password,
    };
    Ok((nonce_header(&record.file.nonce), Json(body)).into_response())
}

/// Checks `Authorization: send-v1 <sig>` against the current nonce and rotates the nonce
/// by compare-and-swap, so one signature authorises one request. Returns the record and
/// the new nonce. A password-protected file whose wrong-password bucket is empty is
/// answered 429 without the signature being checked.
async fn authorize(
    state: &AppState,
    limits: &Limits,
    id: &FileId,
    headers: &HeaderMap,
) -> Result<(FileRecord, String), ApiError> {
    let record = live(state, id).await?;
    let current = record.file.nonce.clone();
    let unauthorized = || ApiError::Unauthorized {
        nonce: Some(current.clone()),
    };
    let signature = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| auth::parse_header(v).ok())
        .ok_or_else(unauthorized)?;
    let nonce = b64u::decode_lenient(&current).map_err(|_| unauthorized())?;
    let key = &record.file.auth_key;
    let right = if record.password {
        limits.check_password_signature(&record.file.id, key, &nonce, &signature)?
    } else {
        auth::verify_signature(key, &nonce, &signature)
    };
    if !right {
        return Err(unauthorized());
    }
    if record.password {
        // Before the rotation: whoever sees the next nonce in the store can already
        // recognise a signature over this one as a lost race.
        limits.nonce_retired(&record.file.id, nonce);
    }
    let next = auth::new_nonce().map_err(anyhow::Error::from)?;
    let now = state.clock.now();
    if !state
        .meta
        .rotate_nonce(&record.file.id, &current, &next, now)
        .await?
    {
        // Someone else used this nonce first: answer with the nonce now in force.
        let latest = state.meta.get(&record.file.id, now).await?;
        return Err(ApiError::Unauthorized {
            nonce: latest.map(|r| r.file.nonce),
        });
    }
    Ok((record, next))
}

/// `GET /api/metadata/:id` (signed).
pub(super) async fn metadata(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (record, nonce) = authorize(&state, &limits, &id, &headers).await?;
    let body = MetadataResponse {
        metadata: record.file.metadata.clone(),
        final_download: record.downloads.saturating_add(1) >= record.file.dlimit,
        ttl: ttl(record.file.expires_at, state.clock.now()),
        downloads_left: Some(record.file.dlimit.saturating_sub(record.downloads)),
    };
    Ok((nonce_header(&nonce), Json(body)).into_response())
}

/// `GET /api/download/:id` and `/api/download/blob/:id` (signed, counted). The
/// ciphertext is an `application/octet-stream` attachment with a sandboxing content
/// security policy, so a browser opening the URL directly never renders it.
///
/// With one `Range` (a sealdrop extension, see [`sealdrop_protocol::range`]) the answer is
/// a `206` carrying the download's reservation; the following ranges of that download
/// send the reservation back instead of a signature. The download counts once, when the
/// range that ends the file is sent; a range that does not end it keeps the slot (until
/// its lease runs out) for the next one.
pub(super) async fn download(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let continued = match headers.get(range::HEADER_DOWNLOAD_RESERVATION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|token| range::is_reservation(token))
                .ok_or(ApiError::BadRequest(
                    "the download reservation is malformed",
                ))?
                .to_owned(),
        ),
    };
    let (record, nonce) = match continued {
        Some(_) => (live(&state, &id).await?, None),
        None => {
            let (record, nonce) = authorize(&state, &limits, &id, &headers).await?;
            (record, Some(nonce))
        }
    };
    let size = record.file.size;
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let part = match range::requested(asked, size) {
        Requested::Whole => None,
        Requested::Part(part) => Some(part),
        Requested::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { len: size }),
    };
    let id = record.file.id.clone();
    let now = state.clock.now();
    let token = match continued {
        Some(token) => {
            let until = lease_until(&state, now);
            if !state
                .meta
                .renew_reservation(&id, &token, now, until)
                .await?
            {
                // Lapsed, completed, or not this file's: the download is over.
                return Err(ApiError::NotFound);
            }
            token
        }
        None => match state
            .meta
            .reserve_download(&id, now, lease_until(&state, now))
            .await?
        {
            Reserve::Reserved { reservation } => reservation,
            Reserve::Unavailable => return Err(ApiError::NotFound),
        },
    };
    // A ranged download keeps its slot between ranges, so whoever holds the reservation
    // may continue; a whole download gives it back when it stops short.
    let ranged = part.is_some() || nonce.is_none();
    let guard = Reservation {
        state: state.clone(),
        id,
        token,
        settled: false,
        keep: ranged,
    };
    let key = &record.file.blob_key;
    let mut part = part;
    let mut opened = match &part {
        Some(part) => state.blobs.open_range(key, part.clone()).await?,
        None => state.blobs.open(key).await?,
    };
    if let (Some(asked), Some(blob)) = (&part, &opened)
        && Some(blob.len) != asked.end().checked_sub(*asked.start()).map(|n| n + 1)
    {
        // The stored blob is shorter than its record: damaged. It is sent whole, as a
        // Send server would, so the client's decryption finds and reports the damage.
        tracing::error!("a blob is shorter than its recorded size");
        part = None;
        opened = state.blobs.open(key).await?;
    }
    let Some(blob) = opened else {
        // A download reserved at the file's last moment can find its blob swept: the
        // file expired in between, a 404 like any other. Only a file still live without
        // its blob is an error.
        if state
            .meta
            .get(&guard.id, state.clock.now())
            .await?
            .is_some()
        {
            tracing::error!("a live file has no blob");
        } else {
            tracing::debug!("the file expired as its download began");
        }
        return Err(ApiError::NotFound);
    };
    let len = blob.len;
    let ends_file = part
        .as_ref()
        .is_none_or(|p| p.end().saturating_add(1) == size);
    let reservation = ranged.then(|| guard.token.clone());
    let chunks = counted(
        blob.stream,
        len,
        ends_file,
        guard,
        state.metrics.download_started(),
    );
    let body = Body::from_stream(on_demand(chunks, state.config.download_idle_timeout));
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_owned(),
            ),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(nonce) = nonce {
        headers.extend(nonce_header(&nonce));
    }
    if let Some(token) = reservation.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert(range::HEADER_DOWNLOAD_RESERVATION, token);
    }
    if let Some(part) = &part {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(value) = HeaderValue::from_str(&range::content_range(part, size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}

fn lease_until(state: &AppState, now: u64) -> u64 {
    let lease = u64::try_from(state.config.download_lease.as_millis()).unwrap_or(u64::MAX);
    now.saturating_add(lease)
}

/// A held download slot; released in the background if dropped unsettled, unless it is
/// a ranged download's, which its client may continue until the lease runs out.
struct Reservation {
    state: AppState,
    id: FileId,
    token: String,
    settled: bool,
    keep: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled || self.keep {
            return;
        }
        let state = self.state.clone();
        let id = self.id.clone();
        let token = std::mem::take(&mut self.token);
        tokio::spawn(async move {
            if let Err(e) = state.meta.release_download(&id, &token).await {
                tracing::warn!(error = format!("{e:#}"), "releasing a download slot failed");
            }
        });
    }
}

struct Transfer {
    blob: BlobStream,
    len: u64,
    /// Whether the last of the `len` bytes is the file's last byte (and so counts).
    ends_file: bool,
    sent: u64,
    guard: Reservation,
    /// Counts the bytes and the outcome in the metrics.
    tracker: DownloadTracker,
    last_renew: Instant,
    finished: bool,
}

fn interrupted(msg: &'static str) -> std::io::Error {
    std::io::Error::other(msg)
}

/// Streams the blob (or a range of it: `len` bytes), renewing the reservation, and, when
/// its end is the file's end, settles it before the last chunk. `tracker` counts the
/// chunks handed on, and the download as completed when the store counted it (a range
/// that ends before the file as a part, aborted if the stream is dropped before).
fn counted(
    blob: BlobStream,
    len: u64,
    ends_file: bool,
    guard: Reservation,
    tracker: DownloadTracker,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    let transfer = Transfer {
        blob,
        len,
        ends_file,
        sent: 0,
        guard,
        tracker,
        last_renew: Instant::now(),
        finished: false,
    };
    futures_util::stream::unfold(transfer, |mut t| async move {
        if t.finished {
            return None;
        }
        let chunk = match t.blob.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                t.finished = true;
                return Some((Err(e), t));
            }
            None => {
                t.finished = true;
                if t.sent == t.len {
                    return None;
                }
                return Some((Err(interrupted("the blob ended early")), t));
            }
        };
        let sent = t.sent.saturating_add(chunk.len() as u64);
        if sent > t.len {
            t.finished = true;
            return Some((Err(interrupted("the blob is longer than recorded")), t));
        }
        t.sent = sent;
        let state = t.guard.state.clone();
        let now = state.clock.now();
        if sent == t.len && !t.ends_file {
            // The last chunk of a range before the file's end: the slot stays reserved.
            t.finished = true;
            t.tracker.part_sent();
            t.tracker.sent(chunk.len());
            return Some((Ok(chunk), t));
        }
        if sent == t.len {
            // The last chunk: it is only sent if the download counts.
            let settled = state
                .meta
                .complete_download(&t.guard.id, &t.guard.token, now)
                .await;
            t.finished = true;
            return match settled {
                Ok(Complete::Counted) => {
                    t.guard.settled = true;
                    t.tracker.completed();
                    t.tracker.sent(chunk.len());
                    Some((Ok(chunk), t))
                }
                Ok(Complete::Last { blob_key }) => {
                    t.guard.settled = true;
                    t.tracker.completed();
                    t.tracker.sent(chunk.len());
                    state.delete_blob_later(blob_key);
                    Some((Ok(chunk), t))
                }
                Ok(Complete::Refused) => {
                    t.guard.settled = true;
                    Some((
                        Err(interrupted("the download slot lapsed or the file expired")),
                        t,
                    ))
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "completing a download failed");
                    Some((Err(interrupted("completing the download failed")), t))
                }
            };
        }
        if t.last_renew.elapsed() >= renew_every(&state) {
            t.last_renew = Instant::now();
            let until = lease_until(&state, now);
            match state
                .meta
                .renew_reservation(&t.guard.id, &t.guard.token, now, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    t.finished = true;
                    t.guard.settled = true;
                    return Some((Err(interrupted("the download slot lapsed")), t));
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "renewing a lease failed"),
            }
        }
        t.tracker.sent(chunk.len());
        Some((Ok(chunk), t))
    })
}

/// A chunk of a download, or why it stopped.
type Chunk = std::io::Result<Bytes>;

/// Hands `chunks` to the connection one at a time, when it asks for the next one. A task
/// owns the stream (and so the download's reservation); when the connection has not asked
/// for a chunk within `idle` (the client stopped reading, its buffers are full) the task
/// drops the stream, which gives the slot back, and the response ends short of its
/// `Content-Length`, which closes the connection (HTTP/1.1) or resets the stream
/// (HTTP/2). Nothing is read ahead: a chunk is produced only once it is asked for, so
/// the last chunk is still only settled when the connection is ready to send it.
fn on_demand(
    chunks: impl Stream<Item = Chunk> + Send + 'static,
    idle: Duration,
) -> impl Stream<Item = Chunk> + Send {
    let (ask, mut asked) = mpsc::channel::<oneshot::Sender<Chunk>>(1);
    let producer = async move {
        let mut chunks = std::pin::pin!(chunks);
        loop {
            let reply = match tokio::time::timeout(idle, asked.recv()).await {
                Ok(Some(reply)) => reply,
                // The connection dropped the body: the client left.
                Ok(None) => return,
                Err(_) => {
                    tracing::info!("the client stopped reading: download ended");
                    return;
                }
            };
            match chunks.next().await {
                Some(chunk) => {
                    let _ = reply.send(chunk);
                }
                None => return,
            }
        }
    };
    tokio::spawn(producer.instrument(tracing::Span::current()));
    futures_util::stream::unfold(ask, |ask| async move {
        let (reply, answer) = oneshot::channel();
        ask.send(reply).await.ok()?;
        let chunk = answer.await.ok()?;
        Some((chunk, ask))
    })
}
