//! What every request handler shares.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::Config;
use crate::meta::MetaStore;
use crate::metrics::{Metrics, TimedBlobs, TimedMeta};
use crate::storage::BlobStore;
use crate::upload_auth::UploadAuth;

/// The shared state of the server: configuration, stores, clock, sweeper wake-up, metrics.
/// Make one with [`AppState::new`], which times the stores' calls.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The metadata store.
    pub meta: Arc<dyn MetaStore>,
    /// The blob store.
    pub blobs: Arc<dyn BlobStore>,
    /// The clock every expiry decision uses.
    pub clock: Arc<dyn Clock>,
    /// Wakes the sweeper (a new upload may expire before its current deadline).
    pub sweeper: Arc<Notify>,
    /// The sweeper's blobs without a row that wait for a confirming round.
    pub orphans: Arc<crate::expiry::OrphanSightings>,
    /// WebSocket uploads in progress: they outlive their HTTP connection, so a graceful
    /// shutdown waits for them here.
    pub transfers: TaskTracker,
    /// Who may upload (`--upload-auth`), and the daily usage of upload tokens.
    pub upload_auth: Arc<UploadAuth>,
    /// The server's metrics (served with `--metrics-listen`).
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server on these stores, with fresh metrics. Every call of the stores
    /// goes through a wrapper that times it for the metrics.
    pub fn new(
        config: Config,
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        upload_auth: Arc<UploadAuth>,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        Self {
            config: Arc::new(config),
            meta: Arc::new(TimedMeta::new(meta, metrics.clone())),
            blobs: Arc::new(TimedBlobs::new(blobs, metrics.clone())),
            clock,
            sweeper: Arc::new(Notify::new()),
            orphans: Arc::default(),
            transfers: TaskTracker::new(),
            upload_auth,
            metrics,
        }
    }

    /// Deletes a blob whose row is already gone, then its tombstone. Failures are logged;
    /// the tombstone stays and the sweeper retries.
    pub async fn delete_blob(&self, blob_key: &str) {
        match self.blobs.delete(blob_key).await {
            Ok(()) => {
                if let Err(e) = self.meta.clear_tombstone(blob_key).await {
                    tracing::warn!(error = format!("{e:#}"), "clearing a tombstone failed");
                }
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "deleting a blob failed; the sweeper will retry"
            ),
        }
    }

    /// Deletes a blob in the background (the caller has answered already).
    pub fn delete_blob_later(&self, blob_key: String) {
        let state = self.clone();
        tokio::spawn(async move { state.delete_blob(&blob_key).await });
    }
}
