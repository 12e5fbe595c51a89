//! Rate limits and the upload quota, all in this process's memory (several instances
//! behind one load balancer each keep their own).
//!
//! | bucket | key | counts | default |
//! |---|---|---|---|
//! | uploads | client | `GET /api/ws`, `POST /api/upload` | 60 at once, then one every 2 s |
//! | upload quota | client | bytes received, as they arrive | 10 GiB per 24 hours |
//! | downloads | client | download pages, exists, metadata, downloads | 100 at once, then one every 0.5 s |
//! | wrong passwords | file | wrong signatures on a password-protected file | 20 at once, then one every 30 s |
//! | owner | client | info, params, password, delete | 60 at once, then one every 1 s |
//!
//! The upload default lets a person's loop or a script send a batch of 60 files at once
//! and 30 a minute after that, while a flood of small uploads from one address gets no
//! more than 1,800 an hour (each costs a row, a file and its metadata, which the quota
//! does not count); the bytes of any number of uploads are bounded by the quota.
//!
//! The client is the address [`super::client_ip`] finds (an IPv6 client's `/64`). The three
//! per-client request buckets are `tower_governor` layers on their routes; over the limit
//! they answer 429 with `Retry-After` before the handler runs.
//!
//! The wrong-password bucket cannot be a request counter: it must count only failed
//! attempts, so that any number of people holding the right password can download a
//! popular share at once, and it must be checked before the signature is (an attempt
//! answered after the bucket is empty would still tell a guesser whether it was right).
//! So it is checked, the signature verified and, if wrong, a token taken, in one step
//! under one lock (a few microseconds, no I/O): concurrent requests see each other's
//! outcome, and a burst of parallel guesses cannot all slip past the check. A wrong
//! signature that is right for a nonce this instance rotated away in the last two minutes
//! is a downloader who lost a race for the shared nonce, not a guess, and takes nothing.
//! When the bucket is empty, every signed request on that file is answered 429 until a
//! token comes back, without checking its signature. Files without a password are not
//! counted (their auth key comes from the 128-bit secret of the link, so there is nothing
//! to guess, and a per-file lock would only let whoever knows an id block its downloads).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use governor::middleware::NoOpMiddleware;
use sealdrop_protocol::api::FileId;
use sealdrop_protocol::auth;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

use super::client_ip::ClientIp;
use crate::config::{self, Rate};
use crate::error::ApiError;
use crate::state::AppState;

/// The window of the upload quota.
const QUOTA_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How long a rotated nonce is remembered to recognise downloaders who lost a race.
const RETIRED_FOR: Duration = Duration::from_secs(120);

/// At most this many rotated nonces are remembered per file.
const RETIRED_MAX: usize = 64;

/// How often idle entries are dropped from the buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The `tower_governor` key of a request: its client's bucket ([`ClientIp::bucket`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        // The request middleware always sets the client; without it (impossible in the
        // router) everything shares the unspecified address's bucket.
        Ok(req
            .extensions()
            .get::<ClientIp>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.bucket()))
    }
}

/// A per-client request bucket.
struct Bucket {
    config: Arc<GovernorConfig<ClientKey, NoOpMiddleware>>,
    what: &'static str,
}

impl Bucket {
    fn new(rate: Option<Rate>, what: &'static str) -> Option<Self> {
        let rate = rate?;
        let config = GovernorConfigBuilder::default()
            .key_extractor(ClientKey)
            .period(rate.every)
            .burst_size(rate.burst)
            .finish()?;
        Some(Self {
            config: Arc::new(config),
            what,
        })
    }

    fn layer(&self) -> GovernorLayer<ClientKey, NoOpMiddleware, Body> {
        let what = self.what;
        GovernorLayer::new(self.config.clone()).error_handler(move |err| rejection(err, what))
    }
}

/// The answer of a per-client bucket: 429 with `Retry-After` and the JSON error.
fn rejection(err: GovernorError, what: &'static str) -> Response<Body> {
    match err {
        // tower_governor rounds the wait down to whole seconds: one more is never early.
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::RateLimited {
            what,
            retry_after: wait_time.saturating_add(1),
        }
        .into_response(),
        other => ApiError::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}

/// Every bucket of one server instance.
pub struct Limits {
    uploads: Option<Bucket>,
    downloads: Option<Bucket>,
    owner: Option<Bucket>,
    passwords: Option<PasswordGuard>,
    quota: Option<UploadQuota>,
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

/// Locks a mutex, also one a panicking thread left poisoned (the maps stay consistent:
/// every update is one insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whole seconds from `now` to `then`, rounded up, at least 1.
fn seconds_until(then: Instant, now: Instant) -> u64 {
    let wait = then.saturating_duration_since(now);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl Limits {
    /// The buckets `limits` asks for.
    pub fn new(limits: &config::Limits) -> Self {
        Self {
            uploads: Bucket::new(limits.uploads, "too many uploads from your address"),
            downloads: Bucket::new(
                limits.downloads,
                "too many download requests from your address",
            ),
            owner: Bucket::new(limits.owner, "too many owner requests from your address"),
            passwords: limits.wrong_passwords.map(PasswordGuard::new),
            quota: (limits.upload_quota > 0).then(|| UploadQuota {
                limit: limits.upload_quota,
                usage: Mutex::new(HashMap::new()),
            }),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    fn limit(bucket: Option<&Bucket>, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        match bucket {
            Some(bucket) => route.route_layer(bucket.layer()),
            None => route,
        }
    }

    /// `route` counted in the uploads bucket.
    pub(super) fn uploads(&self, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        Self::limit(self.uploads.as_ref(), route)
    }

    /// `route` counted in the downloads bucket.
    pub(super) fn downloads(&self, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        Self::limit(self.downloads.as_ref(), route)
    }

    /// `route` counted in the owner bucket.
    pub(super) fn owner(&self, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        Self::limit(self.owner.as_ref(), route)
    }

    /// Drops bucket entries that are back to full, at most once a minute (called on every
    /// request, so memory follows the number of recent clients).
    pub(super) fn sweep_if_due(&self) {
        let now = Instant::now();
        {
            let Ok(mut last) = self.last_sweep.try_lock() else {
                return;
            };
            if now.duration_since(*last) < SWEEP_EVERY {
                return;
            }
            *last = now;
        }
        for bucket in [&self.uploads, &self.downloads, &self.owner]
            .into_iter()
            .flatten()
        {
            let limiter = bucket.config.limiter();
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(passwords) = &self.passwords {
            passwords.sweep(now);
        }
        if let Some(quota) = &self.quota {
            lock(&quota.usage).retain(|_, u| now.duration_since(u.since) < QUOTA_WINDOW);
        }
    }

    /// Checks `signature` over `nonce` with `auth_key` for `id`, a password-protected
    /// file, under its wrong-password bucket: 429 without checking when the bucket is
    /// empty, else whether the signature is right (a wrong one takes a token, unless it is
    /// a lost race).
    pub(super) fn check_password_signature(
        &self,
        id: &FileId,
        auth_key: &[u8],
        nonce: &[u8],
        signature: &[u8],
    ) -> Result<bool, ApiError> {
        match &self.passwords {
            None => Ok(auth::verify_signature(auth_key, nonce, signature)),
            Some(guard) => guard.check(id, auth_key, nonce, signature),
        }
    }

    /// Runs `right`, a check of the password of `id` (a password-protected file) other
    /// than a download signature (a report proves the link with it), under the file's
    /// wrong-password bucket: 429 without running it when the bucket is empty; a wrong
    /// password takes a token.
    pub(super) fn check_password(
        &self,
        id: &FileId,
        right: impl FnOnce() -> bool,
    ) -> Result<bool, ApiError> {
        match &self.passwords {
            None => Ok(right()),
            Some(guard) => guard.check_with(id, right, |_, _| false),
        }
    }

    /// Remembers that `nonce` of `id` (a password-protected file) was just rotated away.
    pub(super) fn nonce_retired(&self, id: &FileId, nonce: Vec<u8>) {
        if let Some(guard) = &self.passwords {
            guard.retire(id, nonce);
        }
    }

    /// Answers early when an upload that announces `len` bytes would exceed the client's
    /// quota: 413 when it is larger than the whole quota, 429 until enough is left.
    pub(super) fn check_declared_upload(&self, client: ClientIp, len: u64) -> Result<(), ApiError> {
        match &self.quota {
            None => Ok(()),
            Some(quota) => quota.check(client.bucket(), len),
        }
    }

    /// Counts `bytes` received from `client` against its quota; 429 (and nothing counted)
    /// when they do not fit.
    pub(super) fn charge_upload(&self, client: ClientIp, bytes: u64) -> Result<(), ApiError> {
        match &self.quota {
            None => Ok(()),
            Some(quota) => quota.charge(client.bucket(), bytes),
        }
    }
}

/// The wrong-password buckets of password-protected files: GCRA, like `governor`, whose
/// check, signature verification and charge happen under one lock.
struct PasswordGuard {
    every: Duration,
    /// How far ahead of now the bucket's next-token time may be: `(burst - 1) × every`.
    tolerance: Duration,
    files: Mutex<HashMap<FileId, FileState>>,
}

#[derive(Default)]
struct FileState {
    /// When the bucket is full again (GCRA's theoretical arrival time); `None`: full.
    full_at: Option<Instant>,
    /// Nonces rotated away lately, with when.
    retired: VecDeque<(Instant, Vec<u8>)>,
}

impl PasswordGuard {
    fn new(rate: Rate) -> Self {
        Self {
            every: rate.every,
            tolerance: rate.every.saturating_mul(rate.burst.saturating_sub(1)),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn check(
        &self,
        id: &FileId,
        auth_key: &[u8],
        nonce: &[u8],
        signature: &[u8],
    ) -> Result<bool, ApiError> {
        self.check_with(
            id,
            || auth::verify_signature(auth_key, nonce, signature),
            |retired, now| {
                retired.iter().any(|(at, old)| {
                    now.duration_since(*at) < RETIRED_FOR
                        && auth::verify_signature(auth_key, old, signature)
                })
            },
        )
    }

    /// 429 when `id`'s bucket is empty; else runs `right` and, when it is false and the
    /// attempt was not a lost race (`lost_race` over the nonces retired lately), takes a
    /// token. All under the lock.
    fn check_with(
        &self,
        id: &FileId,
        right: impl FnOnce() -> bool,
        lost_race: impl FnOnce(&VecDeque<(Instant, Vec<u8>)>, Instant) -> bool,
    ) -> Result<bool, ApiError> {
        let now = Instant::now();
        let mut files = lock(&self.files);
        let state = files.get(id);
        let full_at = state
            .and_then(|s| s.full_at)
            .filter(|t| *t > now)
            .unwrap_or(now);
        let ahead = full_at.duration_since(now);
        if ahead > self.tolerance {
            return Err(ApiError::RateLimited {
                what: "too many wrong passwords for this file",
                retry_after: seconds_until(now + (ahead - self.tolerance), now),
            });
        }
        if right() {
            return Ok(true);
        }
        if !state.is_some_and(|s| lost_race(&s.retired, now)) {
            files.entry(id.clone()).or_default().full_at = Some(full_at + self.every);
        }
        Ok(false)
    }

    fn retire(&self, id: &FileId, nonce: Vec<u8>) {
        let now = Instant::now();
        let mut files = lock(&self.files);
        let retired = &mut files.entry(id.clone()).or_default().retired;
        if retired.len() >= RETIRED_MAX {
            retired.pop_front();
        }
        retired.push_back((now, nonce));
    }

    fn sweep(&self, now: Instant) {
        lock(&self.files).retain(|_, state| {
            state
                .retired
                .retain(|(at, _)| now.duration_since(*at) < RETIRED_FOR);
            state.full_at.is_some_and(|t| t > now) || !state.retired.is_empty()
        });
    }
}

/// Bytes uploaded per client in a 24-hour window that starts with its first byte.
struct UploadQuota {
    limit: u64,
    usage: Mutex<HashMap<IpAddr, Usage>>,
}

struct Usage {
    since: Instant,
    bytes: u64,
}

impl UploadQuota {
    const WHAT: &'static str = "your address has used its upload quota for today";

    /// Bytes used by `key` now, and when its window ends (`None`: no window open).
    fn used(&self, key: IpAddr, now: Instant) -> (u64, Option<Instant>) {
        match lock(&self.usage).get(&key) {
            Some(u) if now.duration_since(u.since) < QUOTA_WINDOW => {
                (u.bytes, Some(u.since + QUOTA_WINDOW))
            }
            _ => (0, None),
        }
    }

    fn check(&self, key: IpAddr, len: u64) -> Result<(), ApiError> {
        if len > self.limit {
            return Err(ApiError::PayloadTooLarge);
        }
        let now = Instant::now();
        match self.used(key, now) {
            (used, Some(end)) if used.saturating_add(len) > self.limit => {
                Err(ApiError::RateLimited {
                    what: Self::WHAT,
                    retry_after: seconds_until(end, now),
                })
            }
            _ => Ok(()),
        }
    }

    fn charge(&self, key: IpAddr, bytes: u64) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut usage = lock(&self.usage);
        let u = usage.entry(key).or_insert(Usage {
            since: now,
            bytes: 0,
        });
        if now.duration_since(u.since) >= QUOTA_WINDOW {
            *u = Usage {
                since: now,
                bytes: 0,
            };
        }
        let total = u.bytes.saturating_add(bytes);
        if total > self.limit {
            return Err(ApiError::RateLimited {
                what: Self::WHAT,
                retry_after: seconds_until(u.since + QUOTA_WINDOW, now),
            });
        }
        u.bytes = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> FileId {
        FileId::parse(&format!("{n:016x}")).unwrap()
    }

    fn signature(key: &[u8; 64], nonce: &[u8]) -> Vec<u8> {
        let text = sealdrop_protocol::keys::AuthKey::from_bytes(*key).sign(nonce);
        auth::b64u::decode_lenient(&text).unwrap()
    }

    #[test]
    fn the_password_bucket_counts_only_wrong_signatures() {
        let guard = PasswordGuard::new(Rate {
            burst: 3,
            every: Duration::from_secs(3600),
        });
        let (key, nonce) = ([7u8; 64], [1u8; 16]);
        let right = signature(&key, &nonce);
        let wrong = signature(&[8u8; 64], &nonce);
        // Right signatures are free, however many.
        for _ in 0..100 {
            assert!(guard.check(&id(1), &key, &nonce, &right).unwrap());
        }
        // Three wrong ones are answered; then nothing is checked, not even a right one,
        // and the wait is until one token comes back.
        for _ in 0..3 {
            assert!(!guard.check(&id(1), &key, &nonce, &wrong).unwrap());
        }
        for sig in [&wrong, &right] {
            match guard.check(&id(1), &key, &nonce, sig) {
                Err(ApiError::RateLimited { retry_after, .. }) => {
                    assert!((3590..=3600).contains(&retry_after), "{retry_after}");
                }
                other => panic!("{other:?}"),
            }
        }
        // Another file has its own bucket.
        assert!(!guard.check(&id(2), &key, &nonce, &wrong).unwrap());
    }

    #[test]
    fn a_signature_over_a_retired_nonce_is_a_lost_race() {
        let guard = PasswordGuard::new(Rate {
            burst: 1,
            every: Duration::from_secs(3600),
        });
        let key = [7u8; 64];
        let (old, current) = ([1u8; 16], [2u8; 16]);
        guard.retire(&id(1), old.to_vec());
        // Signed with the right key over the retired nonce: wrong, but costs nothing.
        for _ in 0..5 {
            let sig = signature(&key, &old);
            assert!(!guard.check(&id(1), &key, &current, &sig).unwrap());
        }
        // With another key over the retired nonce: a guess, and the only one allowed.
        let guess = signature(&[8u8; 64], &old);
        assert!(!guard.check(&id(1), &key, &current, &guess).unwrap());
        assert!(guard.check(&id(1), &key, &current, &guess).is_err());
        // Another file's retired nonces do not count.
        let sig = signature(&key, &old);
        assert!(!guard.check(&id(2), &key, &current, &sig).unwrap());
        assert!(guard.check(&id(2), &key, &current, &sig).is_err());
    }

    #[test]
    fn the_quota_refuses_what_does_not_fit() {
        let quota = UploadQuota {
            limit: 1000,
            usage: Mutex::new(HashMap::new()),
        };
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        quota.check(a, 1000).unwrap();
        assert!(matches!(
            quota.check(a, 1001),
            Err(ApiError::PayloadTooLarge)
        ));
        quota.charge(a, 600).unwrap();
        assert!(matches!(
            quota.check(a, 500),
            Err(ApiError::RateLimited { .. })
        ));
        assert!(matches!(
            quota.charge(a, 401),
            Err(ApiError::RateLimited { retry_after, .. }) if retry_after > 86000
        ));
        quota.charge(a, 400).unwrap();
        quota.charge(b, 1000).unwrap();
    }
}
