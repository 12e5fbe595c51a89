//! Request bodies against slow and oversized clients.
//!
//! Every request body goes through [`guard`]: a declared `Content-Length` over the
//! route's limit is refused with 413 before a byte of the body is read (the ciphertext
//! limit on `POST /api/upload`, 16 KiB everywhere else), and the body is wrapped in a
//! [`PacedBody`] that fails when the client sends nothing for `upload_idle_timeout`, or
//! when, after `min_upload_rate_grace`, its average rate is below `min_upload_rate`.
//! WebSocket uploads use the same [`Pace`] on their messages.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest body of a request that is not an upload (owner operations and other JSON).
pub(super) const SMALL_BODY_LIMIT: usize = 16 * 1024;

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

/// The pace rules of one transfer: bytes seen, when it started, when the last bytes came.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    idle: Duration,
    min_rate: u64,
    grace: Duration,
    start: Instant,
    last: Instant,
    bytes: u64,
}

impl Pace {
    /// A transfer starting now, with the configured rules.
    pub(crate) fn start(config: &Config) -> Self {
        let now = Instant::now();
        Self {
            idle: config.upload_idle_timeout,
            min_rate: config.min_upload_rate,
            grace: config.min_upload_rate_grace,
            start: now,
            last: now,
            bytes: 0,
        }
    }

    /// Counts `n` bytes that just arrived.
    pub(crate) fn observe(&mut self, n: usize) {
        self.last = Instant::now();
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    /// When the transfer fails unless more bytes arrive first, and why: the idle
    /// deadline, or the moment the average rate would drop below the minimum (never
    /// before the grace period is over).
    pub(crate) fn deadline(&self) -> (Instant, PaceError) {
        let idle_at = self.last + self.idle;
        if self.min_rate == 0 {
            return (idle_at, PaceError::Idle);
        }
        let earned = Duration::from_millis(self.bytes.saturating_mul(1000) / self.min_rate);
        let slow_at = self.start + self.grace.max(earned);
        if slow_at < idle_at {
            (slow_at, PaceError::TooSlow)
        } else {
            (idle_at, PaceError::Idle)
        }
    }
}

/// A request body with the pace rules; the timer starts at the first poll (when the
/// handler starts reading). Its errors are boxed [`PaceError`]s or the inner body's.
pub(crate) struct PacedBody {
    inner: Body,
    config: std::sync::Arc<Config>,
    pace: Option<Pace>,
    timer: Option<Pin<Box<Sleep>>>,
    failed: Option<PaceError>,
}

impl PacedBody {
    pub(crate) fn new(inner: Body, config: std::sync::Arc<Config>) -> Self {
        Self {
            inner,
            config,
            pace: None,
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
        let pace = this.pace.get_or_insert_with(|| Pace::start(&this.config));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    pace.observe(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let (at, why) = pace.deadline();
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
    if declared.is_some_and(|len| len > limit) {
        let error = if upload {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BodyTooLarge
        };
        return error.into_response();
    }
    let config = state.config.clone();
    next.run(req.map(|body| Body::new(PacedBody::new(body, config))))
        .await
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
        Pace::start(&c)
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_rule_sets_the_deadline() {
        let mut p = pace(60, 1000, 30);
        let t0 = p.start;
        // Nothing yet: the rate check at the end of the grace period comes first.
        assert_eq!(
            p.deadline(),
            (t0 + Duration::from_secs(30), PaceError::TooSlow)
        );
        // 45 s worth of bytes at the minimum rate: the rate deadline moves to 45 s.
        p.observe(45_000);
        assert_eq!(
            p.deadline(),
            (t0 + Duration::from_secs(45), PaceError::TooSlow)
        );
        // Plenty of bytes: only the idle rule is left.
        p.observe(10_000_000);
        assert_eq!(
            p.deadline(),
            (t0 + Duration::from_secs(60), PaceError::Idle)
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        p.observe(1);
        assert_eq!(
            p.deadline(),
            (t0 + Duration::from_secs(70), PaceError::Idle)
        );
        // No minimum rate: idle only.
        let p = pace(5, 0, 0);
        assert_eq!(
            p.deadline(),
            (p.start + Duration::from_secs(5), PaceError::Idle)
        );
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
