//! The sweeper: reclaims the space of expired and finished files.
//!
//! It never decides visibility (every read checks expiry itself); it only deletes. It
//! wakes at the next deadline, when a new upload arrives, or at least once a minute, and
//! each round: deletes expired rows (tombstoning their blobs), deletes tombstoned blobs
//! (retrying failures), discards abandoned pending uploads and deletes blobs no row
//! refers to, both older than a grace period.

use std::time::{Duration, SystemTime};

use crate::state::AppState;

/// Longest sleep between two rounds.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Rows or blobs handled per batch.
const BATCH: usize = 500;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired rows deleted.
    pub expired: usize,
    /// Blobs deleted.
    pub blobs_deleted: usize,
    /// Abandoned pending uploads discarded.
    pub pending_discarded: usize,
    /// Orphan blobs deleted.
    pub orphans_deleted: usize,
}

/// One round of the sweeper.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = state.clock.now();
    loop {
        let keys = state.meta.take_expired(now, BATCH).await?;
        report.expired += keys.len();
        let done = keys.len() < BATCH;
        if done {
            break;
        }
    }
    // Every tombstone, including the ones just made and earlier failures.
    loop {
        let keys = state.meta.tombstones(now.saturating_add(1), BATCH).await?;
        let mut progress = false;
        for key in &keys {
            match state.blobs.delete(key).await {
                Ok(()) => {
                    state.meta.clear_tombstone(key).await?;
                    report.blobs_deleted += 1;
                    progress = true;
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "blob delete failed, will retry")
                }
            }
        }
        if keys.len() < BATCH || !progress {
            break;
        }
    }
    let grace_start = SystemTime::now()
        .checked_sub(state.config.orphan_grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    report.pending_discarded = state.blobs.discard_pending(grace_start).await?;
    for key in state.blobs.list_older_than(grace_start, BATCH).await? {
        if !state.meta.knows_blob(&key).await? {
            state.blobs.delete(&key).await?;
            report.orphans_deleted += 1;
        }
    }
    Ok(report)
}

/// Runs the sweeper until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let result = sweep_once(&state).await;
        state.metrics.sweep_done(result.as_ref().ok());
        match result {
            Ok(r) if r != SweepReport::default() => tracing::info!(
                expired = r.expired,
                blobs_deleted = r.blobs_deleted,
                pending_discarded = r.pending_discarded,
                orphans_deleted = r.orphans_deleted,
                "sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = format!("{e:#}"), "sweep failed"),
        }
        let sleep = match state.meta.next_expiry().await {
            Ok(Some(at)) => Duration::from_millis(at.saturating_sub(state.clock.now()))
                .saturating_add(Duration::from_millis(5))
                .min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(sleep) => {}
            () = state.sweeper.notified() => {}
        }
    }
}
