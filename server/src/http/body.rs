//! Request bodies against slow and oversized clients.
//!
//! Every request body goes through [`guard`]: a declared `Content-Length` over the
//! route's limit is refused with 413 before a byte of the body is read (the ciphertext
//! limit on `POST /api/upload`, 16 KiB everywhere else), and the body is wrapped in a
//! [`PacedBody`] that fails when the client sends nothing for `upload_idle_timeout`, or
//! when, after `min_upload_rate_grace`, its average rate is below `min_upload_rate`.
//! WebSocket uploads use the same [`Pace`] on their messages.
//!
//! An upload refused before its body was read in full (429 from the rate limiter, 413,
//! 401, 507…) gets a lingering close ([`linger`]): the rest of the body is read and
//! discarded in the background, within [`LINGER_FOR`] and [`LINGER_BYTES`], while the
//! answer goes out. Without it the connection closes with the client's data unread, the
//! kernel answers that data with a reset, and a client still sending sees "broken pipe"
//! or "connection reset" instead of the answer (a `Retry-After` it would have honoured).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest body of a request that is not an upload (owner operations and other JSON).
pub(super) const SMALL_BODY_LIMIT: usize = 16 * 1024;

/// How long the server goes on reading a refused upload after its answer (the WebSocket's
/// lingering close and [`linger`]).
pub(crate) const LINGER_FOR: Duration = Duration::from_secs(10);

/// How many bytes of a refused upload the server reads and discards after its answer.
/// More than the socket buffers and data in flight of a client that reads while it sends,
/// and the rest of any refused file up to that size for one that reads only at the end.
pub(crate) const LINGER_BYTES: u64 = 32 << 20;

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PaceError {
    /// Nothing arrived for the idle timeout.
    #[error("the client stopped sending")]
    Idle,
    /// The average rate is below the minimum after the grace period.
    #[error("the client sends too slowly")]
    TooSlow,
}

impl From<PaceError> for ApiError {
    fn from(e: PaceError) -> Self {
        match e {
            PaceError::Idle => ApiError::Timeout,
            PaceError::TooSlow => ApiError::TooSlow,
        }
    }
}

/// The pace rules of one transfer. Only the time the server spends waiting for the
/// client counts: while the server is busy with what it received (storage writes,
/// back-pressure), a client that sends nothing is not to blame.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    idle: Duration,
    min_rate: u64,
    grace: Duration,
    /// Time spent waiting for the client before the current wait.
    waited: Duration,
    /// When the current wait began, if the server is waiting.
    waiting_since: Option<Instant>,
    bytes: u64,
}

impl Pace {
    /// A transfer with the configured rules: `upload_idle_timeout`, `min_upload_rate`
    /// after `min_upload_rate_grace`.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            idle: config.upload_idle_timeout,
            min_rate: config.min_upload_rate,
            grace: config.min_upload_rate_grace,
            waited: Duration::ZERO,
            waiting_since: None,
            bytes: 0,
        }
    }

    /// The server waits for bytes (from now, or since the wait already running). Returns
    /// when the transfer fails unless bytes arrive first, and why: the idle timeout, or
    /// the moment the client's average rate would fall below the minimum (never before
    /// the grace period is over).
    pub(crate) fn wait(&mut self) -> (Instant, PaceError) {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let idle_at = since + self.idle;
        if self.min_rate == 0 {
            return (idle_at, PaceError::Idle);
        }
        // The client time these bytes are worth at the minimum rate.
        let earned = Duration::from_millis(self.bytes.saturating_mul(1000) / self.min_rate);
        let slow_at = since + self.grace.max(earned).saturating_sub(self.waited);
        if slow_at < idle_at {
            (slow_at, PaceError::TooSlow)
        } else {
            (idle_at, PaceError::Idle)
        }
    }

    /// Counts `n` bytes that just arrived; the wait is over.
    pub(crate) fn observe(&mut self, n: usize) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
        self.bytes = self.bytes.saturating_add(n as u64);
    }
}

/// A request body with the pace rules: the server waits whenever the body has no data
/// ready when polled. Its errors are boxed [`PaceError`]s or the inner body's.
pub(crate) struct PacedBody {
    inner: Body,
    pace: Pace,
    timer: Option<Pin<Box<Sleep>>>,
    failed: Option<PaceError>,
}

impl PacedBody {
    pub(crate) fn new(inner: Body, config: &Config) -> Self {
        Self {
            inner,
            pace: Pace::new(config),
            timer: None,
            failed: None,
        }
    }
}

impl HttpBody for PacedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(e) = this.failed {
            return Poll::Ready(Some(Err(Box::new(e))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.pace.observe(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let (at, why) = this.pace.wait();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    this.failed = Some(why);
                    return Poll::Ready(Some(Err(Box::new(why))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The middleware: refuses a declared body over the route's limit, paces the rest.
pub(super) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let upload = req.uri().path() == "/api/upload";
    let limit = if upload {
        state.config.max_encrypted_size
    } else {
        SMALL_BODY_LIMIT as u64
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (parts, body) = req.into_parts();
    let body = PacedBody::new(body, &state.config);
    if declared.is_some_and(|len| len > limit) {
        if !upload {
            return ApiError::BodyTooLarge.into_response();
        }
        tokio::spawn(linger(body));
        return ApiError::PayloadTooLarge.into_response();
    }
    if !upload {
        return next.run(Request::from_parts(parts, Body::new(body))).await;
    }
    let held = Arc::new(Mutex::new(Some(body)));
    let lent = Lent(held.clone());
    let response = next.run(Request::from_parts(parts, Body::new(lent))).await;
    let rest = held.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(rest) = rest
        && !response.status().is_success()
        && !rest.is_end_stream()
    {
        tokio::spawn(linger(rest));
    }
    response
}

/// An upload's body lent to its handler: the middleware keeps it too, to drain what the
/// handler left unread once the answer is decided.
struct Lent(Arc<Mutex<Option<PacedBody>>>);

impl HttpBody for Lent {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Never contended: the middleware takes the body back only after the handler ended.
        let mut body = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let body = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let body = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        body.as_ref().map(HttpBody::size_hint).unwrap_or_default()
    }
}

/// The lingering close of an upload answered before its body's end: reads and discards
/// the rest until its end, a read error (the pace rules still apply), [`LINGER_FOR`] or
/// [`LINGER_BYTES`], whichever comes first; only then is the body dropped and the
/// connection allowed to close. The bytes are never stored nor counted.
async fn linger(body: PacedBody) {
    let deadline = Instant::now() + LINGER_FOR;
    let mut data = Body::new(body).into_data_stream();
    let mut drained: u64 = 0;
    let end = loop {
        match tokio::time::timeout_at(deadline, data.next()).await {
            Err(_) => break "timeout",
            Ok(None) => break "end of body",
            Ok(Some(Err(_))) => break "read error",
            Ok(Some(Ok(bytes))) => drained = drained.saturating_add(bytes.len() as u64),
        }
        if drained > LINGER_BYTES {
            break "byte limit";
        }
    };
    tracing::debug!(drained, end, "refused upload drained");
}

/// The pace failure behind a body error, if that is what it is.
pub(crate) fn pace_error(err: &(dyn std::error::Error + 'static)) -> Option<PaceError> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(pace) = e.downcast_ref::<PaceError>() {
            return Some(*pace);
        }
        source = e.source();
    }
    None
}

/// Whether a body could not be read because the client went away (the connection closed
/// or reset before the body's end), rather than because of what it sent.
pub(super) fn client_gone(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The API error for a body that could not be read in full.
pub(super) fn read_error(err: &axum::Error) -> ApiError {
    match pace_error(err) {
        Some(pace) => pace.into(),
        None => ApiError::BadRequest("the request body was interrupted"),
    }
}

/// The API error for a small body the `Bytes` extractor refused: 413 over the limit,
/// 408 for a slow client, else 400.
pub(super) fn rejection(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge;
    }
    match pace_error(rejection) {
        Some(pace) => pace.into(),
        None => ApiError::BadRequest("the request body could not be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(idle: u64, rate: u64, grace: u64) -> Pace {
        let mut c = Config::with_data_dir("unused");
        c.upload_idle_timeout = Duration::from_secs(idle);
        c.min_upload_rate = rate;
        c.min_upload_rate_grace = Duration::from_secs(grace);
        Pace::new(&c)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_rule_sets_the_deadline() {
        let mut p = pace(60, 1000, 30);
        let t0 = Instant::now();
        // Nothing yet: the rate check at the end of the grace period comes first.
        assert_eq!(p.wait(), (t0 + secs(30), PaceError::TooSlow));
        // Waiting on: the same wait, the same deadline.
        tokio::time::advance(secs(10)).await;
        assert_eq!(p.wait(), (t0 + secs(30), PaceError::TooSlow));
        // 45 s worth of bytes after 10 s of waiting: 35 s of client time left.
        p.observe(45_000);
        let t1 = Instant::now();
        assert_eq!(p.wait(), (t1 + secs(35), PaceError::TooSlow));
        p.observe(0);
        // 100 s the server spends busy do not count against the client.
        tokio::time::advance(secs(100)).await;
        let t2 = Instant::now();
        assert_eq!(p.wait(), (t2 + secs(35), PaceError::TooSlow));
        // Plenty of bytes: only the idle rule is left.
        p.observe(10_000_000);
        let t3 = Instant::now();
        assert_eq!(p.wait(), (t3 + secs(60), PaceError::Idle));
        // No minimum rate: idle only.
        let mut p = pace(5, 0, 0);
        assert_eq!(p.wait(), (Instant::now() + secs(5), PaceError::Idle));
    }

    #[test]
    fn pace_errors_are_found_inside_axum_errors() {
        let err = axum::Error::new(Box::new(PaceError::TooSlow) as axum::BoxError);
        assert_eq!(pace_error(&err), Some(PaceError::TooSlow));
        assert!(matches!(read_error(&err), ApiError::TooSlow));
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert!(matches!(read_error(&other), ApiError::BadRequest(_)));
    }
}
