//! The Send v3 client: HTTP through reqwest, uploads over the WebSocket route through
//! tokio-tungstenite, with the plain HTTP upload route as the fallback when a proxy
//! refuses the WebSocket upgrade.
//!
//! Every URL comes from [`ShareLink`] (or a canonical base), so no request ever carries
//! the `#secret`. Errors are mapped to the CLI's [`Kind`]s here, with sentences that name
//! the server's origin and never a key, token or password.
//!
//! Every request answered 429 goes through [`Patience`]: a short `Retry-After` is waited
//! and the request sent again, a long one is an error saying when to try again. For an
//! upload the 429 comes before any data is accepted (the answer to the WebSocket
//! upgrade, or to `POST /api/upload` before its body is read), so a retry starts the
//! ciphertext again from the first byte (`start` is called once per attempt).
//!
//! [`Kind`]: crate::error::Kind

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use sealdrop_protocol::api::{
    self, ConfigResponse, ExistsResponse, MetadataResponse, UploadResponse, WsStatus,
    WsUploadRequest,
};
use sealdrop_protocol::auth::{self, UploadCredentials, b64u};
use sealdrop_protocol::keys::AuthKey;
use sealdrop_protocol::link::ShareLink;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::args::Transport;
use crate::error::{Error, Result, describe_io};
use crate::ratelimit::{Limited, Patience, retry_after};

/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a whole control request (everything but the transfers).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence in the middle of a transfer before it is given up.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Time the server may take to commit an upload after its last byte.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(300);

const UA: &str = concat!("sealdrop/", env!("CARGO_PKG_VERSION"));

/// The ciphertext of an upload, produced on demand: frames of one record each, and the
/// task producing them, whose result reports local errors (a file that cannot be read).
#[derive(Debug)]
pub(crate) struct Frames {
    /// The frames, in order. An `Err` item means the producer failed; its task says why.
    pub(crate) rx: mpsc::Receiver<std::io::Result<Bytes>>,
    /// The producer.
    pub(crate) task: JoinHandle<Result<()>>,
}

/// What `GET /api/exists` says.
#[derive(Debug)]
pub(crate) struct Exists {
    pub(crate) requires_password: bool,
    pub(crate) nonce: Option<String>,
}

/// A Send v3 client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// What to do when the server answers 429.
    patience: Patience,
}

/// How one upload attempt ended.
enum Attempt {
    /// Done, well or not.
    Done(Result<UploadResponse>),
    /// Refused with 429 before any data was accepted; `route` is the route that refused.
    RateLimited {
        retry_after: Option<Duration>,
        route: Transport,
    },
}

impl Client {
    pub(crate) fn new(patience: Patience) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(UA)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::network(format!("cannot set up the HTTP client: {}", cause(&e))))?;
        Ok(Self { http, patience })
    }

    /// Sends the request `build` makes until it is answered with something other than
    /// 429, waiting as [`Patience`] allows (a refusal of `what` otherwise). Each attempt
    /// waits at most [`CONTROL_TIMEOUT`] for the answer's head.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        origin: &str,
        what: Limited,
    ) -> Result<Response> {
        let mut waits = 0;
        loop {
            let resp = tokio::time::timeout(CONTROL_TIMEOUT, build().send())
                .await
                .map_err(|_| timed_out(origin))?
                .map_err(|e| request_failed(origin, &e))?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(resp);
            }
            let wait = retry_after(resp.headers());
            drop(resp);
            self.patience.wait(wait, what, &mut waits, None).await?;
        }
    }

    /// `GET /config`: the server's limits. `None` if the server has no such route (old
    /// servers); an error only if the server cannot be reached.
    pub(crate) async fn config(&self, base: &str) -> Result<Option<ConfigResponse>> {
        let url = format!("{base}/config");
        let resp = self
            .send(
                || self.http.get(&url).timeout(CONTROL_TIMEOUT),
                base,
                Limited::Requests,
            )
            .await?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        Ok(resp.json::<ConfigResponse>().await.ok())
    }

    /// `GET /api/exists/:id`.
    pub(crate) async fn exists(&self, link: &ShareLink) -> Result<Exists> {
        let origin = link.base();
        let url = link.api_url("exists");
        let resp = self
            .send(
                || self.http.get(&url).timeout(CONTROL_TIMEOUT),
                origin,
                Limited::Downloads,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let nonce = nonce_of(&resp);
                let body: ExistsResponse = json(resp, origin).await?;
                Ok(Exists {
                    requires_password: body.requires_password,
                    nonce,
                })
            }
            StatusCode::NOT_FOUND => Err(Error::not_found()),
            s => Err(unexpected(s, origin)),
        }
    }

    /// The share's current nonce: from `exists` if it sent one, else from the download
    /// page's `WWW-Authenticate` header (where ffsend reads it).
    pub(crate) async fn nonce(
        &self,
        link: &ShareLink,
        from_exists: Option<String>,
    ) -> Result<String> {
        if let Some(nonce) = from_exists {
            return Ok(nonce);
        }
        let origin = link.base();
        let url = link.download_page();
        let resp = self
            .send(
                || self.http.get(&url).timeout(CONTROL_TIMEOUT),
                origin,
                Limited::Downloads,
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Err(Error::not_found()),
            _ => nonce_of(&resp).ok_or_else(|| {
                Error::network(format!(
                    "{origin} sent no download nonce; is it a Send v3 server?"
                ))
            }),
        }
    }

    /// A GET signed over `nonce`, retried once with the server's newer nonce if another
    /// download used ours first (Send's nonce is shared by all downloaders). A 429 leaves
    /// the nonce as it was, so the same signature is sent again after the wait.
    async fn signed_get(
        &self,
        url: &str,
        origin: &str,
        key: &AuthKey,
        nonce: &str,
    ) -> Result<Response> {
        let mut nonce = nonce.to_owned();
        let mut retried = false;
        loop {
            let raw = b64u::decode_lenient(&nonce)
                .map_err(|_| Error::network(format!("{origin} sent a malformed nonce")))?;
            let signature = auth::format_header(&key.sign(&raw));
            let resp = self
                .send(
                    || self.http.get(url).header(AUTHORIZATION, signature.as_str()),
                    origin,
                    Limited::Downloads,
                )
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED
                && !retried
                && let Some(newer) = nonce_of(&resp)
                && newer != nonce
            {
                nonce = newer;
                retried = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// `GET /api/metadata/:id`, signed. Returns the answer and the next nonce.
    pub(crate) async fn metadata(
        &self,
        link: &ShareLink,
        key: &AuthKey,
        nonce: &str,
        with_password: bool,
    ) -> Result<(MetadataResponse, String)> {
        let origin = link.base();
        let resp = self
            .signed_get(&link.api_url("metadata"), origin, key, nonce)
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let next = nonce_of(&resp);
                let body: MetadataResponse = json(resp, origin).await?;
                let next = match next {
                    Some(n) => n,
                    None => self.nonce(link, None).await?,
                };
                Ok((body, next))
            }
            StatusCode::NOT_FOUND => Err(Error::not_found()),
            StatusCode::UNAUTHORIZED if with_password => Err(Error::auth("the password is wrong")),
            StatusCode::UNAUTHORIZED => Err(Error::auth(
                "the server refused the link's key: the #secret part of the link is wrong",
            )),
            s => Err(unexpected(s, origin)),
        }
    }

    /// `GET /api/download/:id`, signed: the response, whose body is the ciphertext.
    pub(crate) async fn download(
        &self,
        link: &ShareLink,
        key: &AuthKey,
        nonce: &str,
    ) -> Result<Response> {
        let origin = link.base();
        let resp = self
            .signed_get(&link.api_url("download"), origin, key, nonce)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::NOT_FOUND => Err(Error::not_found()),
            StatusCode::UNAUTHORIZED => {
                Err(Error::auth("the server refused the download's signature"))
            }
            s => Err(unexpected(s, origin)),
        }
    }

    /// `POST /api/<op>/:id` with an owner request body. 404 is [`Error::not_found`], 401
    /// and 403 a refused owner token, 400 a usage error naming `op`.
    pub(crate) async fn owner<B: Serialize>(
        &self,
        link: &ShareLink,
        op: &str,
        body: &B,
    ) -> Result<Response> {
        let origin = link.base();
        let url = link.api_url(op);
        let resp = self
            .send(
                || self.http.post(&url).json(body).timeout(CONTROL_TIMEOUT),
                origin,
                Limited::Owner,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::NOT_FOUND => Err(Error::not_found()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(Error::auth("the server refused the owner token"))
            }
            StatusCode::BAD_REQUEST => Err(Error::usage(format!(
                "{origin} refused the {op} request as invalid"
            ))),
            s => Err(unexpected(s, origin)),
        }
    }

    /// Reads a JSON answer of an owner request.
    pub(crate) async fn owner_json<T: DeserializeOwned, B: Serialize>(
        &self,
        link: &ShareLink,
        op: &str,
        body: &B,
    ) -> Result<T> {
        let resp = self.owner(link, op, body).await?;
        json(resp, link.base()).await
    }

    /// Uploads: over the WebSocket route, or the HTTP route per `transport`. `start` is
    /// called once the route is open and produces the `encrypted_len` bytes of ciphertext,
    /// from the first byte each time (it is called again for an attempt after a 429).
    /// `credentials` go in the `Authorization` header of the WebSocket upgrade or of the
    /// HTTP request (which then carries the share's key in `X-Auth-Key`). A refusal of
    /// the credentials is an [`Error::auth`], whichever the route. `progress` is reset
    /// for each attempt and hidden while a wait is announced.
    #[allow(clippy::too_many_arguments)] // each is one piece of the request; a struct would only rename them
    pub(crate) async fn upload(
        &self,
        base: &str,
        transport: Transport,
        request: &WsUploadRequest,
        encrypted_len: u64,
        credentials: Option<&UploadCredentials>,
        progress: &indicatif::ProgressBar,
        mut start: impl FnMut() -> Frames,
    ) -> Result<UploadResponse> {
        let mut transport = transport;
        let mut waits = 0;
        loop {
            let attempt = self
                .upload_once(
                    base,
                    transport,
                    request,
                    encrypted_len,
                    credentials,
                    &mut start,
                )
                .await;
            match attempt {
                Attempt::Done(result) => return result,
                Attempt::RateLimited { retry_after, route } => {
                    // After a fallback, the next attempt goes straight to the HTTP route.
                    if route == Transport::Http {
                        transport = Transport::Http;
                    }
                    progress.reset();
                    self.patience
                        .wait(retry_after, Limited::Uploads, &mut waits, Some(progress))
                        .await?;
                }
            }
        }
    }

    /// One upload attempt.
    async fn upload_once(
        &self,
        base: &str,
        transport: Transport,
        request: &WsUploadRequest,
        encrypted_len: u64,
        credentials: Option<&UploadCredentials>,
        start: &mut impl FnMut() -> Frames,
    ) -> Attempt {
        if transport == Transport::Http {
            return self
                .upload_http(base, request, encrypted_len, credentials, start)
                .await;
        }
        let connected = match connect_ws(base, credentials).await {
            Ok(connected) => connected,
            Err(e) => return Attempt::Done(Err(e)),
        };
        match connected {
            Ok(ws) => Attempt::Done(upload_ws(ws, base, request, start).await),
            // The rate limiter answered the upgrade: nothing was sent, the route works.
            Err(Refused::RateLimited(retry_after)) => Attempt::RateLimited {
                retry_after,
                route: Transport::Ws,
            },
            // Refused credentials (a proxy refusing WebSockets answers 403 or 502: try HTTP).
            Err(Refused::Status(401)) => Attempt::Done(Err(upload_status_error(401, base))),
            Err(_) if transport == Transport::Auto => {
                self.upload_http(base, request, encrypted_len, credentials, start)
                    .await
            }
            Err(refused) => Attempt::Done(Err(Error::network(format!(
                "{base} refused the WebSocket upload ({refused}); try --transport http"
            )))),
        }
    }

    async fn upload_http(
        &self,
        base: &str,
        request: &WsUploadRequest,
        encrypted_len: u64,
        credentials: Option<&UploadCredentials>,
        start: &mut impl FnMut() -> Frames,
    ) -> Attempt {
        match self
            .upload_http_result(base, request, encrypted_len, credentials, start)
            .await
        {
            Ok(attempt) => attempt,
            Err(e) => Attempt::Done(Err(e)),
        }
    }

    async fn upload_http_result(
        &self,
        base: &str,
        request: &WsUploadRequest,
        encrypted_len: u64,
        credentials: Option<&UploadCredentials>,
        start: &mut impl FnMut() -> Frames,
    ) -> Result<Attempt> {
        let Frames { rx, task } = start();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut builder = self
            .http
            .post(format!("{base}/api/upload"))
            .header(api::HEADER_FILE_METADATA, request.file_metadata.as_str());
        builder = match credentials {
            Some(credentials) => builder
                .header(AUTHORIZATION, sensitive(&credentials.to_header())?)
                .header(api::HEADER_AUTH_KEY, request.authorization.as_str()),
            None => builder.header(AUTHORIZATION, request.authorization.as_str()),
        };
        let mut builder = builder
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, encrypted_len);
        if let Some(t) = request.time_limit {
            builder = builder.header(api::HEADER_EXPIRE_SECONDS, t);
        }
        if let Some(d) = request.dlimit {
            builder = builder.header(api::HEADER_DOWNLOAD_LIMIT, d);
        }
        let sent = builder
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        // The rate limiter answers before reading the body: this attempt's reader stops
        // once the request (and with it the body) is gone, and the next starts afresh.
        if let Ok(resp) = &sent
            && resp.status() == StatusCode::TOO_MANY_REQUESTS
        {
            let retry_after = retry_after(resp.headers());
            drop(sent);
            let _ = task.await;
            return Ok(Attempt::RateLimited {
                retry_after,
                route: Transport::Http,
            });
        }
        // A local failure (unreadable file) explains a failed request best.
        task.await
            .map_err(|_| Error::local("the upload's reader stopped unexpectedly"))??;
        let resp = sent.map_err(|e| request_failed(base, &e))?;
        match resp.status() {
            s if s.is_success() => {
                let answer: HttpUploadAnswer = json(resp, base).await?;
                let owner_token = answer.owner_token.or(answer.owner).ok_or_else(|| {
                    Error::network(format!("{base} answered the upload without an owner token"))
                })?;
                Ok(Attempt::Done(Ok(UploadResponse {
                    url: answer.url,
                    owner_token,
                    id: answer.id,
                    owner: None,
                })))
            }
            s => Err(upload_status_error(s.as_u16(), base)),
        }
    }
}

/// The answer of `POST /api/upload`: sealdrop sends the owner token as both `ownerToken`
/// and `owner` (Send v2's name), the reference server only `owner`. (`UploadResponse`
/// treats `owner` as an alias and so refuses an answer holding both.)
#[derive(Debug, serde::Deserialize)]
struct HttpUploadAnswer {
    url: String,
    id: String,
    #[serde(rename = "ownerToken", default)]
    owner_token: Option<String>,
    #[serde(default)]
    owner: Option<String>,
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An `Authorization` value marked sensitive (kept out of debug output).
fn sensitive(value: &str) -> Result<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        Error::usage("the upload credentials hold characters a header cannot carry")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Why a WebSocket upgrade was refused.
#[derive(Debug)]
enum Refused {
    /// The server answered 429, with this `Retry-After`.
    RateLimited(Option<Duration>),
    /// The server or a proxy answered with this HTTP status.
    Status(u16),
    /// The handshake failed otherwise.
    Handshake(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RateLimited(_) => f.write_str("HTTP 429"),
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::Handshake(why) => f.write_str(why),
        }
    }
}

/// Opens `/api/ws`, with `credentials` on the upgrade request. `Ok(Err(_))` when the
/// server (or a proxy) answered but refused the upgrade, which is when the HTTP route is
/// worth trying (unless it refused the credentials).
async fn connect_ws(
    base: &str,
    credentials: Option<&UploadCredentials>,
) -> Result<Result<WsStream, Refused>> {
    let url = ws_url(base);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| Error::usage(format!("{base} is not a server address")))?;
    if let Ok(ua) = UA.parse() {
        request.headers_mut().insert(USER_AGENT, ua);
    }
    if let Some(credentials) = credentials {
        request
            .headers_mut()
            .insert(AUTHORIZATION, sensitive(&credentials.to_header())?);
    }
    let connected =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| timed_out(base))?;
    match connected {
        Ok((ws, _)) => Ok(Ok(ws)),
        Err(tungstenite::Error::Http(resp)) if resp.status().as_u16() == 429 => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::ratelimit::parse_retry_after(v, std::time::SystemTime::now()));
            Ok(Err(Refused::RateLimited(retry_after)))
        }
        Err(tungstenite::Error::Http(resp)) => Ok(Err(Refused::Status(resp.status().as_u16()))),
        Err(tungstenite::Error::Protocol(e)) => Ok(Err(Refused::Handshake(format!("{e}")))),
        Err(tungstenite::Error::Io(e)) => Err(Error::network(format!(
            "cannot connect to {base}: {}",
            describe_io(&e)
        ))),
        Err(e) => Err(Error::network(format!(
            "cannot connect to {base}: {}",
            cause(&e)
        ))),
    }
}

/// `ws://host/api/ws` for `http://host`, `wss://` for `https://`.
fn ws_url(base: &str) -> String {
    match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}/api/ws"),
        None => format!(
            "ws://{}/api/ws",
            base.strip_prefix("http://").unwrap_or(base)
        ),
    }
}

async fn upload_ws(
    mut ws: WsStream,
    base: &str,
    request: &WsUploadRequest,
    start: &mut impl FnMut() -> Frames,
) -> Result<UploadResponse> {
    let lost = |_| Error::network(format!("the connection to {base} broke during the upload"));
    let text = serde_json::to_string(request)
        .map_err(|_| Error::local("cannot encode the upload request"))?;
    ws.send(Message::text(text)).await.map_err(lost)?;
    let first = next_text(&mut ws, CONTROL_TIMEOUT, base).await?;
    let answer = match serde_json::from_str::<UploadResponse>(&first) {
        Ok(answer) => answer,
        Err(_) => return Err(ws_status_error(&first, base)),
    };
    let Frames { mut rx, task } = start();
    let mut sent_all = true;
    while let Some(item) = rx.recv().await {
        match item {
            Ok(frame) => {
                if ws.send(Message::binary(frame)).await.is_err() {
                    sent_all = false;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    drop(rx);
    let produced = task
        .await
        .map_err(|_| Error::local("the upload's reader stopped unexpectedly"))?;
    if let Err(e) = produced {
        // Cancel: a close code other than 1000 makes the server discard the upload.
        let _ = ws
            .close(Some(tungstenite::protocol::CloseFrame {
                code: tungstenite::protocol::frame::coding::CloseCode::Error,
                reason: "cancelled".into(),
            }))
            .await;
        return Err(e);
    }
    if sent_all {
        let _ = ws.send(Message::binary(api::WS_END_MARKER.to_vec())).await;
    }
    let last = next_text(&mut ws, COMMIT_TIMEOUT, base).await?;
    match serde_json::from_str::<WsStatus>(&last) {
        Ok(WsStatus::Ok { ok: true }) => {
            let _ = ws.close(None).await;
            Ok(answer)
        }
        _ => Err(ws_status_error(&last, base)),
    }
}

/// The next text message, skipping pings and binary messages.
async fn next_text(ws: &mut WsStream, wait: Duration, base: &str) -> Result<String> {
    let closed = || {
        Error::network(format!(
            "{base} closed the connection during the upload without an answer"
        ))
    };
    loop {
        let next = tokio::time::timeout(wait, ws.next())
            .await
            .map_err(|_| timed_out(base))?;
        match next {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Close(_))) | None => return Err(closed()),
            Some(Ok(_)) => continue,
            Some(Err(_)) => return Err(closed()),
        }
    }
}

/// The error of a `{"error": N}` message (or any other unexpected message).
fn ws_status_error(text: &str, base: &str) -> Error {
    match serde_json::from_str::<WsStatus>(text) {
        Ok(WsStatus::Error { error, .. }) => upload_status_error(error, base),
        _ => Error::network(format!(
            "{base} answered the upload with something unexpected"
        )),
    }
}

/// The error of an upload refused with HTTP-like status `status`.
fn upload_status_error(status: u16, base: &str) -> Error {
    match status {
        400 => Error::usage(format!(
            "{base} refused the upload's parameters (expiry, download limit or format)"
        )),
        401 | 403 => Error::auth(format!("{base} requires authentication to upload")),
        408 => Error::network(format!("{base} cancelled the upload: it stalled")),
        413 => Error::usage(format!("{base} refuses files this large")),
        // Only a 429 without Retry-After gets here (over the WebSocket, `{"error":429}`:
        // an upload quota used up mid-upload).
        429 => Limited::Uploads.refused(None),
        s => Error::network(format!("{base} failed to store the upload (status {s})")),
    }
}

/// The nonce of a `WWW-Authenticate: send-v1 <nonce>` header.
fn nonce_of(resp: &Response) -> Option<String> {
    let value = resp.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
    auth::parse_challenge(value).map(str::to_owned)
}

async fn json<T: DeserializeOwned>(resp: Response, origin: &str) -> Result<T> {
    let bytes = tokio::time::timeout(CONTROL_TIMEOUT, resp.bytes())
        .await
        .map_err(|_| timed_out(origin))?
        .map_err(|e| request_failed(origin, &e))?;
    serde_json::from_slice(&bytes).map_err(|_| {
        Error::network(format!(
            "{origin} sent an answer sealdrop does not understand; is it a Send v3 server?"
        ))
    })
}

fn timed_out(origin: &str) -> Error {
    Error::network(format!("{origin} did not answer in time"))
}

/// The error of an unexpected HTTP status.
fn unexpected(status: StatusCode, origin: &str) -> Error {
    match status {
        // `send` waits or fails on a 429 itself; this is a fallback.
        StatusCode::TOO_MANY_REQUESTS => Limited::Requests.refused(None),
        s => Error::network(format!(
            "{origin} answered with an error ({} {})",
            s.as_u16(),
            s.canonical_reason().unwrap_or("unknown")
        )),
    }
}

/// The error of a request that got no answer.
pub(crate) fn request_failed(origin: &str, err: &reqwest::Error) -> Error {
    if err.is_timeout() {
        return timed_out(origin);
    }
    if err.is_connect() {
        return Error::network(format!("cannot connect to {origin}: {}", cause(err)));
    }
    Error::network(format!("the connection to {origin} failed: {}", cause(err)))
}

/// The innermost cause of `err`, as a short lower-case phrase.
pub(crate) fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    match current.downcast_ref::<std::io::Error>() {
        Some(io) => describe_io(io),
        None => {
            let text = current.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_follow_the_scheme() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/api/ws"
        );
        assert_eq!(
            ws_url("https://send.example.com"),
            "wss://send.example.com/api/ws"
        );
    }

    #[test]
    fn upload_refusals_read_as_sentences() {
        let e = ws_status_error("{\"error\":413}", "http://h");
        assert_eq!(e.to_string(), "http://h refuses files this large");
        let e = ws_status_error("nonsense", "http://h");
        assert_eq!(e.kind(), crate::error::Kind::Network);
    }
}
