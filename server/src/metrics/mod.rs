//! The server's own metrics, in the Prometheus text format, on a listener of their own.
//!
//! With `--metrics-listen ADDR` (off by default) the server answers `GET /metrics` on a
//! second, plain-HTTP listener ([`crate::serve_with_metrics`]), with the connection
//! layer's timeouts and a cap of 32 connections; any other path there is the JSON 404.
//! The main listener never serves them, so a reverse proxy that forwards everything
//! cannot publish them by accident. The metrics listener keeps answering while a graceful
//! shutdown lets the running transfers finish, and stops with the server.
//!
//! Every label has a small fixed set of values (routes, error codes, operation names):
//! never an id, key, token, client address or path. Counters and gauges are atomics, and
//! the series used on hot paths are resolved once, when the server starts: counting the
//! bytes of a chunk is one atomic add, and no lock is taken per chunk.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `sealdrop_build_info` | gauge | `version` | always 1 |
//! | `sealdrop_uploads_started_total` | counter | `route` | uploads accepted: credentials and parameters valid, pending blob opened |
//! | `sealdrop_uploads_completed_total` | counter | `route` | uploads committed (the file is live) |
//! | `sealdrop_uploads_failed_total` | counter | `route`, `reason` | started uploads that did not commit: an error code, or `disconnected` |
//! | `sealdrop_uploads_active` | gauge | | uploads running now |
//! | `sealdrop_downloads_completed_total` | counter | | downloads counted by the store (last byte handed to the connection) |
//! | `sealdrop_downloads_aborted_total` | counter | | downloads that began streaming and stopped short |
//! | `sealdrop_downloads_active` | gauge | | downloads streaming now |
//! | `sealdrop_received_bytes_total` | counter | | ciphertext received by uploads |
//! | `sealdrop_sent_bytes_total` | counter | | ciphertext handed to connections by downloads |
//! | `sealdrop_rejected_requests_total` | counter | `reason`, `class` | requests answered with an error: the error code, and `4xx` or `5xx` |
//! | `sealdrop_connections_open` | gauge | | connections open on the main listener |
//! | `sealdrop_sweeper_runs_total` | counter | `outcome` | sweeper rounds: `ok` or `error` |
//! | `sealdrop_sweeper_removed_total` | counter | `kind` | what the sweeper removed: `expired_file`, `blob`, `pending_upload`, `orphan_blob` |
//! | `sealdrop_sweeper_foreign_total` | counter | | objects named like sealdrop's blobs, past their deadline and without a row, left alone for lacking sealdrop's mark, at each sighting: above zero, something else writes into the bucket or prefix (or blobs predate the mark) |
//! | `sealdrop_storage_operation_duration_seconds` | histogram | `op` | blob store calls ([`BlobOp`]) |
//! | `sealdrop_meta_operation_duration_seconds` | histogram | `op` | metadata store calls ([`MetaOp`]) |

mod timed;

pub(crate) use timed::{TimedBlobs, TimedMeta};

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::ApiError;
use crate::expiry::SweepReport;

/// The `reason` of an upload whose client went away (or that the server cut at the end
/// of a shutdown's grace period).
pub const DISCONNECTED: &str = "disconnected";

/// A label set: fixed names, values from fixed lists.
type Labels<const N: usize> = [(&'static str, &'static str); N];

/// A family of histograms of store call durations, by `op`.
type Latencies = Family<Labels<1>, Histogram, fn() -> Histogram>;

/// Upper bounds of the latency buckets, in seconds: from half a millisecond (a SQLite
/// read) to half a minute (committing a large S3 multipart upload).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The two upload routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /api/ws`, the Send v3 WebSocket upload.
    Ws,
    /// `POST /api/upload`, the plain HTTP upload.
    Http,
}

impl Route {
    /// The `route` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Http => "http",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Ws => 0,
            Self::Http => 1,
        }
    }
}

/// Declares an operation enum with its label values, in order.
macro_rules! ops {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $label:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every operation, in the order of [`Self::as_str`]'s index.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The `op` label value: the trait method's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }
        }
    };
}

ops! {
    /// The calls of the blob store ([`crate::storage::BlobStore`] and its writers) that
    /// are timed. Writes of single chunks are not (they are the hot path; their bytes are
    /// counted).
    BlobOp {
        /// Starting a pending blob.
        Begin => "begin",
        /// Committing a pending blob.
        Commit => "commit",
        /// Discarding a pending blob.
        Abort => "abort",
        /// Opening a blob for reading.
        Open => "open",
        /// Deleting a blob.
        Delete => "delete",
        /// Deleting several blobs (the sweeper).
        DeleteMany => "delete_many",
        /// Checking a blob carries sealdrop's mark (before deleting an orphan).
        IsOwn => "is_own",
        /// Listing blobs past their own deadline (the sweeper's orphan check).
        ListPastDeadline => "list_past_deadline",
        /// Discarding old pending blobs.
        DiscardPending => "discard_pending",
        /// The start-up check.
        Ping => "ping",
        /// The `/__heartbeat__` check.
        Health => "health",
    }
}

ops! {
    /// The calls of the metadata store ([`crate::meta::MetaStore`]), all timed.
    MetaOp {
        /// [`crate::meta::MetaStore::insert`].
        Insert => "insert",
        /// [`crate::meta::MetaStore::get`].
        Get => "get",
        /// [`crate::meta::MetaStore::rotate_nonce`].
        RotateNonce => "rotate_nonce",
        /// [`crate::meta::MetaStore::reserve_download`].
        ReserveDownload => "reserve_download",
        /// [`crate::meta::MetaStore::renew_reservation`].
        RenewReservation => "renew_reservation",
        /// [`crate::meta::MetaStore::complete_download`].
        CompleteDownload => "complete_download",
        /// [`crate::meta::MetaStore::release_download`].
        ReleaseDownload => "release_download",
        /// [`crate::meta::MetaStore::set_dlimit`].
        SetDlimit => "set_dlimit",
        /// [`crate::meta::MetaStore::set_password`].
        SetPassword => "set_password",
        /// [`crate::meta::MetaStore::delete`].
        Delete => "delete",
        /// [`crate::meta::MetaStore::take_expired`].
        TakeExpired => "take_expired",
        /// [`crate::meta::MetaStore::next_expiry`].
        NextExpiry => "next_expiry",
        /// [`crate::meta::MetaStore::tombstones`].
        Tombstones => "tombstones",
        /// [`crate::meta::MetaStore::clear_tombstones`].
        ClearTombstones => "clear_tombstones",
        /// [`crate::meta::MetaStore::knows_blob`].
        KnowsBlob => "knows_blob",
        /// [`crate::meta::MetaStore::ping`].
        Ping => "ping",
        /// [`crate::meta::MetaStore::find`].
        Find => "find",
        /// [`crate::meta::MetaStore::report`].
        Report => "report",
        /// [`crate::meta::MetaStore::list_reported`].
        ListReported => "list_reported",
        /// [`crate::meta::MetaStore::restore`].
        Restore => "restore",
        /// [`crate::meta::MetaStore::take_down`].
        TakeDown => "take_down",
    }
}

/// The metrics of one server (its registry and every series it counts in). Cloned
/// handles share their values, so [`crate::AppState`] keeps one in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    uploads_started: [Counter; 2],
    uploads_completed: [Counter; 2],
    uploads_failed: Family<Labels<2>, Counter>,
    uploads_active: Gauge,
    downloads_completed: Counter,
    downloads_aborted: Counter,
    downloads_active: Gauge,
    received_bytes: Counter,
    sent_bytes: Counter,
    rejected: Family<Labels<2>, Counter>,
    connections_open: Gauge,
    sweeper_runs: Family<Labels<1>, Counter>,
    sweeper_removed: Family<Labels<1>, Counter>,
    sweeper_foreign: Counter,
    blob_ops: Vec<Histogram>,
    meta_ops: Vec<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sealdrop");
        registry.register(
            "build",
            "The sealdrop-server version (always 1)",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        let routes = |family: &Family<Labels<1>, Counter>| {
            [Route::Ws, Route::Http].map(|r| family.get_or_create_owned(&[("route", r.as_str())]))
        };
        let started = Family::<Labels<1>, Counter>::default();
        registry.register(
            "uploads_started",
            "Uploads accepted (credentials and parameters valid, pending blob opened)",
            started.clone(),
        );
        let completed = Family::<Labels<1>, Counter>::default();
        registry.register(
            "uploads_completed",
            "Uploads committed: the file is live",
            completed.clone(),
        );
        let uploads_failed = Family::<Labels<2>, Counter>::default();
        registry.register(
            "uploads_failed",
            "Started uploads that did not commit, by the error code answered or disconnected",
            uploads_failed.clone(),
        );
        let uploads_active = Gauge::default();
        registry.register(
            "uploads_active",
            "Uploads running now",
            uploads_active.clone(),
        );
        let downloads_completed = Counter::default();
        registry.register(
            "downloads_completed",
            "Downloads counted by the store: their last byte was handed to the connection",
            downloads_completed.clone(),
        );
        let downloads_aborted = Counter::default();
        registry.register(
            "downloads_aborted",
            "Downloads that began streaming and stopped short (client gone or stalled, slot lapsed, store error)",
            downloads_aborted.clone(),
        );
        let downloads_active = Gauge::default();
        registry.register(
            "downloads_active",
            "Downloads streaming now",
            downloads_active.clone(),
        );
        let received_bytes = Counter::default();
        registry.register_with_unit(
            "received",
            "Ciphertext received by uploads",
            Unit::Bytes,
            received_bytes.clone(),
        );
        let sent_bytes = Counter::default();
        registry.register_with_unit(
            "sent",
            "Ciphertext handed to connections by downloads",
            Unit::Bytes,
            sent_bytes.clone(),
        );
        let rejected = Family::<Labels<2>, Counter>::default();
        registry.register(
            "rejected_requests",
            "Requests answered with an error, by error code (other: an error status without one) and status class",
            rejected.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Connections open on the main listener (WebSocket uploads included)",
            connections_open.clone(),
        );
        let sweeper_runs = Family::<Labels<1>, Counter>::default();
        for outcome in ["ok", "error"] {
            sweeper_runs.get_or_create_owned(&[("outcome", outcome)]);
        }
        registry.register(
            "sweeper_runs",
            "Rounds of the sweeper, by outcome",
            sweeper_runs.clone(),
        );
        let sweeper_removed = Family::<Labels<1>, Counter>::default();
        for kind in ["expired_file", "blob", "pending_upload", "orphan_blob"] {
            sweeper_removed.get_or_create_owned(&[("kind", kind)]);
        }
        registry.register(
            "sweeper_removed",
            "What the sweeper removed: expired files, blobs of deleted files, abandoned pending uploads, orphan blobs",
            sweeper_removed.clone(),
        );
        let sweeper_foreign = Counter::default();
        registry.register(
            "sweeper_foreign",
            "Objects named like sealdrop's blobs, past their deadline and without a row, left alone because they lack sealdrop's mark (counted at each sighting)",
            sweeper_foreign.clone(),
        );
        let blobs: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "storage_operation_duration",
            "Duration of blob store calls, by operation",
            Unit::Seconds,
            blobs.clone(),
        );
        let metas: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "meta_operation_duration",
            "Duration of metadata store calls, by operation",
            Unit::Seconds,
            metas.clone(),
        );
        Self {
            uploads_started: routes(&started),
            uploads_completed: routes(&completed),
            uploads_failed,
            uploads_active,
            downloads_completed,
            downloads_aborted,
            downloads_active,
            received_bytes,
            sent_bytes,
            rejected,
            connections_open,
            sweeper_runs,
            sweeper_removed,
            sweeper_foreign,
            blob_ops: BlobOp::ALL
                .iter()
                .map(|op| blobs.get_or_create_owned(&[("op", op.as_str())]))
                .collect(),
            meta_ops: MetaOp::ALL
                .iter()
                .map(|op| metas.get_or_create_owned(&[("op", op.as_str())]))
                .collect(),
            registry,
        }
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// An upload has started on `route`; the returned guard counts how it ends.
    pub fn upload_started(self: &Arc<Self>, route: Route) -> UploadTracker {
        self.uploads_started[route.index()].inc();
        self.uploads_active.inc();
        UploadTracker {
            metrics: self.clone(),
            route,
            done: false,
        }
    }

    /// A download has begun streaming; the returned guard counts its bytes and how it ends.
    pub fn download_started(self: &Arc<Self>) -> DownloadTracker {
        self.downloads_active.inc();
        DownloadTracker {
            metrics: self.clone(),
            done: false,
        }
    }

    /// `n` bytes of ciphertext arrived for an upload.
    pub fn received(&self, n: u64) {
        self.received_bytes.inc_by(n);
    }

    /// A request was answered with an error: its code (or `other`) and status. Statuses
    /// below 400 are not counted.
    pub fn rejected(&self, reason: &'static str, status: StatusCode) {
        let class = match status.as_u16() {
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => return,
        };
        self.rejected
            .get_or_create(&[("reason", reason), ("class", class)])
            .inc();
    }

    /// A connection was accepted on the main listener.
    pub(crate) fn connection_opened(&self) {
        self.connections_open.inc();
    }

    /// A connection of the main listener ended.
    pub(crate) fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// A round of the sweeper ended: what it removed, or `None` if it failed.
    pub fn sweep_done(&self, report: Option<&SweepReport>) {
        let Some(r) = report else {
            self.sweeper_runs
                .get_or_create(&[("outcome", "error")])
                .inc();
            return;
        };
        self.sweeper_runs.get_or_create(&[("outcome", "ok")]).inc();
        for (kind, n) in [
            ("expired_file", r.expired),
            ("blob", r.blobs_deleted),
            ("pending_upload", r.pending_discarded),
            ("orphan_blob", r.orphans_deleted),
        ] {
            if n > 0 {
                self.sweeper_removed
                    .get_or_create(&[("kind", kind)])
                    .inc_by(n as u64);
            }
        }
        if r.foreign_kept > 0 {
            self.sweeper_foreign.inc_by(r.foreign_kept as u64);
        }
    }

    fn blob_op(&self, op: BlobOp) -> Option<&Histogram> {
        self.blob_ops.get(op as usize)
    }

    fn meta_op(&self, op: MetaOp) -> Option<&Histogram> {
        self.meta_ops.get(op as usize)
    }
}

/// Runs `call`, recording how long it took in `histogram` (also when it fails; not when
/// it is dropped before it ends).
async fn timed<T>(histogram: Option<&Histogram>, call: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = call.await;
    if let Some(h) = histogram {
        h.observe(start.elapsed().as_secs_f64());
    }
    out
}

/// An upload in progress. [`Self::completed`] or [`Self::failed`] ends it; dropped
/// without either (the client went away, the task was cut), it counts as failed with the
/// reason [`DISCONNECTED`]. The active gauge goes down exactly once either way.
#[derive(Debug)]
pub struct UploadTracker {
    metrics: Arc<Metrics>,
    route: Route,
    done: bool,
}

impl UploadTracker {
    /// The upload committed.
    pub fn completed(mut self) {
        self.done = true;
        self.metrics.uploads_active.dec();
        self.metrics.uploads_completed[self.route.index()].inc();
    }

    /// The upload failed with the error code `reason` (or [`DISCONNECTED`]).
    pub fn failed(mut self, reason: &'static str) {
        self.fail(reason);
    }

    fn fail(&mut self, reason: &'static str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.metrics.uploads_active.dec();
        self.metrics
            .uploads_failed
            .get_or_create(&[("route", self.route.as_str()), ("reason", reason)])
            .inc();
    }
}

impl Drop for UploadTracker {
    fn drop(&mut self) {
        self.fail(DISCONNECTED);
    }
}

/// A download streaming. [`Self::completed`] ends it; dropped without it, it counts as
/// aborted. The active gauge goes down exactly once either way.
#[derive(Debug)]
pub struct DownloadTracker {
    metrics: Arc<Metrics>,
    done: bool,
}

impl DownloadTracker {
    /// `n` bytes of ciphertext are handed to the connection.
    pub fn sent(&self, n: usize) {
        self.metrics.sent_bytes.inc_by(n as u64);
    }

    /// A range of a ranged download was sent, short of the file's end: neither completed
    /// nor aborted (the download goes on in the client's next request).
    pub fn part_sent(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.metrics.downloads_active.dec();
        }
    }

    /// The store counted the download.
    pub fn completed(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.metrics.downloads_active.dec();
        self.metrics.downloads_completed.inc();
    }
}

impl Drop for DownloadTracker {
    fn drop(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.metrics.downloads_active.dec();
            self.metrics.downloads_aborted.inc();
        }
    }
}

/// The router of the metrics listener: `GET /metrics`, and the JSON 404 for the rest.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(crate::error::not_found)
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            text,
        )
            .into_response(),
        Err(e) => {
            ApiError::Internal(anyhow::anyhow!("encoding the metrics failed: {e}")).into_response()
        }
    }
}

/// Most connections open at once on the metrics listener (a scraper needs one).
const MAX_METRICS_CONNECTIONS: usize = 32;

/// Serves [`router`] on `listener` (plain HTTP, the connection layer's timeouts, at most
/// [`MAX_METRICS_CONNECTIONS`] connections) until `shutdown` resolves; then lets its
/// connections finish for a second and closes them.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) {
    let mut config = config.clone();
    config.tls = None;
    config.max_connections = MAX_METRICS_CONNECTIONS;
    config.max_connections_per_client = 0;
    let connections = crate::conn::serve(listener, router(metrics), &config, shutdown, None).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), connections.finished()).await;
    connections.cut().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_objects_a_round_kept_are_counted() {
        let metrics = Metrics::new();
        let report = SweepReport {
            foreign_kept: 3,
            orphans_deleted: 1,
            ..SweepReport::default()
        };
        metrics.sweep_done(Some(&report));
        metrics.sweep_done(Some(&report));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("sealdrop_sweeper_foreign_total 6\n"),
            "{text}"
        );
        assert!(
            text.contains("sealdrop_sweeper_removed_total{kind=\"orphan_blob\"} 2\n"),
            "{text}"
        );
    }
}
