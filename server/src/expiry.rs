//! The sweeper: reclaims the space of expired and finished files.
//!
//! It never decides visibility (every read checks expiry itself); it only deletes. It
//! wakes at the next deadline, when a new upload arrives, or at least once a minute, and
//! each round: deletes expired rows (tombstoning their blobs), deletes tombstoned blobs
//! (retrying failures), discards abandoned pending uploads and deletes blobs no row
//! refers to, both older than a grace period (`--orphan-grace`).
//!
//! # Orphans
//!
//! A pending upload is abandoned when the blob store says so for the cut-off
//! `now - grace` (see [`crate::storage::BlobStore::discard_pending`]: uploads in
//! progress in this process are never discarded). A blob no row refers to is deleted
//! when it is older than the grace and an earlier round, at least the grace or a minute
//! before (whichever is shorter), already found it without a row. An upload commits its
//! blob and then writes its row, and some stores date a blob made by a multipart upload
//! from the upload's start: a blob between its commit and its row can look old, but it
//! never stays without a row from one such round to the next. When the grace is shorter
//! than a minute, rounds come at least once per grace period, so what is due goes soon.
//!
//! With `--sweeper false` this instance runs no sweeper at all (see [`crate::serve`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::state::AppState;

/// Longest sleep between two rounds.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Longest wait between the first and the confirming sighting of a blob without a row.
const CONFIRM_ORPHAN: Duration = Duration::from_secs(60);

/// Blobs that a round found without a row, and when a round first did (see the
/// [module docs](self)). Kept in memory: a restart starts over.
#[derive(Debug, Default)]
pub struct OrphanSightings(Mutex<HashMap<String, Instant>>);

impl OrphanSightings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When `key` was first found without a row (now, if it was not before).
    fn first(&self, key: &str) -> Instant {
        *self
            .lock()
            .entry(key.to_owned())
            .or_insert_with(Instant::now)
    }

    /// Forgets every blob but those of `keep`.
    fn keep_only(&self, keep: &[String]) {
        self.lock().retain(|key, _| keep.contains(key));
    }
}
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
    let confirm = state.config.orphan_grace.min(CONFIRM_ORPHAN);
    let mut waiting = Vec::new();
    for key in state.blobs.list_older_than(grace_start, BATCH).await? {
        if state.meta.knows_blob(&key).await? {
            continue;
        }
        if state.orphans.first(&key).elapsed() >= confirm {
            state.blobs.delete(&key).await?;
            report.orphans_deleted += 1;
        } else {
            waiting.push(key);
        }
    }
    state.orphans.keep_only(&waiting);
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
        // A short grace period: what it lets go is removed within about two of them.
        let sleep = sleep.min(state.config.orphan_grace.max(Duration::from_secs(1)));
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(sleep) => {}
            () = state.sweeper.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::clock::SystemClock;
    use crate::config::Config;

    /// Sets the modification time of `path` two hours back.
    fn age(path: &std::path::Path) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
    }

    /// With a grace of 1 s: a blob without a row goes on the round that finds it again a
    /// grace later, never on the first; the temp file of an open writer stays however old
    /// it looks, and its writer commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_goes_when_found_again_and_an_open_upload_never() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.orphan_grace = Duration::from_secs(1);
        let state = crate::open_state(config, Arc::new(SystemClock))
            .await
            .unwrap();
        let blobs = dir.path().join("blobs");
        let orphan = "1-00000000000000aa";
        let mut writer = state.blobs.begin(orphan).await.unwrap();
        writer.write(Bytes::from_static(b"no row")).await.unwrap();
        writer.commit().await.unwrap();
        age(&blobs.join(orphan));
        let mut open = state.blobs.begin("1-00000000000000bb").await.unwrap();
        open.write(Bytes::from(vec![7u8; 300_000])).await.unwrap();
        let pending: Vec<_> = std::fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".pending-"))
            .collect();
        assert_eq!(pending.len(), 1);
        age(&pending[0]);

        let first = sweep_once(&state).await.unwrap();
        assert_eq!((first.orphans_deleted, first.pending_discarded), (0, 0));
        assert!(blobs.join(orphan).exists(), "gone on its first sighting");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second = sweep_once(&state).await.unwrap();
        assert_eq!((second.orphans_deleted, second.pending_discarded), (1, 0));
        assert!(!blobs.join(orphan).exists());
        assert!(
            pending[0].exists(),
            "an open writer's temp file was removed"
        );
        assert_eq!(open.commit().await.unwrap(), 300_000);
    }
}
