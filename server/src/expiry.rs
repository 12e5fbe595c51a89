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
//! The sweeper only ever touches what sealdrop can prove is its own (see "What is ours"
//! in [`crate::storage::s3`]): blobs and pending uploads named exactly as it names them,
//! and carrying its mark where the store can hold one.
//!
//! A pending upload is abandoned when the blob store says so for the cut-off
//! `now - grace` (see [`crate::storage::BlobStore::discard_pending`]: uploads in
//! progress in this process are never discarded). A blob no row refers to is deleted
//! when its own deadline has passed (the days its key encodes plus two, from its last
//! modification: [`crate::storage::own_key_deadline`]), it is older than the grace, an
//! earlier round, at least the grace or a minute before (whichever is shorter), already
//! found it without a row, and the store says it carries sealdrop's mark
//! ([`crate::storage::BlobStore::is_own`]). Before its deadline a blob without a row may
//! be a live file whose row is in a metadata store this instance does not see (a wrong
//! `--meta`, an emptied or restored store, another deployment sharing the bucket): it is
//! never deleted, so such a mistake costs space, never data. An upload commits its
//! blob and then writes its row, and some stores date a blob made by a multipart upload
//! from the upload's start: a blob between its commit and its row can look old, but it
//! never stays without a row from one such round to the next. When the grace is shorter
//! than a minute, rounds come at least once per grace period, so what is due goes soon.
//!
//! With `--sweeper false` this instance runs no sweeper at all (see [`crate::serve`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::meta::Millis;
use crate::state::AppState;

/// Longest sleep between two rounds.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Longest wait between the first and the confirming sighting of a blob without a row.
const CONFIRM_ORPHAN: Duration = Duration::from_secs(60);

/// Blobs that a round found without a row, and when a round first did (see the
/// [module docs](self)), and where the next round's listing resumes. Kept in memory: a
/// restart starts over.
#[derive(Debug, Default)]
pub struct OrphanSightings(Mutex<Sightings>);

#[derive(Debug, Default)]
struct Sightings {
    /// When each key was first found without a row (the state's clock).
    first: HashMap<String, Millis>,
    /// The last key of the previous round's page, when the listing went on after it.
    cursor: Option<String>,
}

impl OrphanSightings {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sightings> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When `key` was first found without a row (`now`, if it was not before).
    fn first(&self, key: &str, now: Millis) -> Millis {
        *self.lock().first.entry(key.to_owned()).or_insert(now)
    }

    /// Where this round's listing starts: after the previous page's last key.
    fn cursor(&self) -> Option<String> {
        self.lock().cursor.clone()
    }

    /// A round listed the keys after `after` up to `last` (to the end if `None`): it
    /// forgets the sightings in that range but those of `waiting`, and the next round
    /// resumes after `last` (from the start once a round reached the end).
    fn listed(&self, after: Option<&str>, last: Option<String>, waiting: &[String]) {
        let mut sightings = self.lock();
        sightings.first.retain(|key, _| {
            let in_range = after.is_none_or(|after| key.as_str() > after)
                && last.as_deref().is_none_or(|last| key.as_str() <= last);
            !in_range || waiting.contains(key)
        });
        sightings.cursor = last;
    }
}

/// Rows or blobs handled per batch (as many as one S3 DeleteObjects request takes).
const BATCH: usize = 1000;

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
    /// Blobs past their deadline without a row that are named like sealdrop's but lack
    /// its mark (another program's, or written before the mark existed): left alone.
    pub foreign_kept: usize,
}

/// One round of the sweeper.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<SweepReport> {
    sweep(state, BATCH).await
}

/// One round, handling rows and blobs `batch` at a time.
async fn sweep(state: &AppState, batch: usize) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = state.clock.now();
    loop {
        let keys = state.meta.take_expired(now, batch).await?;
        report.expired += keys.len();
        let done = keys.len() < batch;
        if done {
            break;
        }
    }
    // Every tombstone, including the ones just made and earlier failures: a batch of
    // blobs in as few store requests as the store allows, then their tombstones at once.
    loop {
        let keys = state.meta.tombstones(now.saturating_add(1), batch).await?;
        let results = state.blobs.delete_many(&keys).await;
        let mut deleted = Vec::with_capacity(keys.len());
        let mut failures = 0usize;
        for (key, result) in keys.iter().zip(results) {
            match result {
                Ok(()) => deleted.push(key.clone()),
                Err(e) => {
                    failures += 1;
                    // One line a batch, not one per blob of a store that is down.
                    if failures == 1 {
                        tracing::warn!(error = format!("{e:#}"), "blob delete failed, will retry");
                    }
                }
            }
        }
        if failures > 1 {
            tracing::warn!(failures, "blob deletes failed in this batch, will retry");
        }
        state.meta.clear_tombstones(&deleted).await?;
        report.blobs_deleted += deleted.len();
        if keys.len() < batch || deleted.is_empty() {
            break;
        }
    }
    // The grace is judged on times the stores set (files' and objects' modification
    // times, uploads' initiation), so on the real clock; deadlines and sightings are the
    // state's clock's, as the rows' times are.
    let grace_start = SystemTime::now()
        .checked_sub(state.config.orphan_grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let clock_now = SystemTime::UNIX_EPOCH + Duration::from_millis(now);
    report.pending_discarded = state.blobs.discard_pending(grace_start).await?;
    let confirm = u64::try_from(state.config.orphan_grace.min(CONFIRM_ORPHAN).as_millis())
        .unwrap_or(u64::MAX);
    let mut waiting = Vec::new();
    // Only blobs whose own deadline has passed: until then a blob without a row may be
    // a live file whose row is in a metadata store this instance does not see.
    // A page a round, resuming after the previous one: blobs the sweeper must keep (held
    // files, foreign objects) never hide the ones after them.
    let after = state.orphans.cursor();
    let listed = state
        .blobs
        .list_past_deadline(clock_now, after.as_deref(), batch)
        .await?;
    let last = (listed.len() >= batch)
        .then(|| listed.last().map(|b| b.key.clone()))
        .flatten();
    for blob in listed {
        if blob.modified >= grace_start || state.meta.knows_blob(&blob.key).await? {
            continue;
        }
        if now.saturating_sub(state.orphans.first(&blob.key, now)) < confirm {
            waiting.push(blob.key);
            continue;
        }
        // Named like ours is not enough: it must carry sealdrop's mark. One object the
        // store will not describe must not stop the sweep of the others.
        match state.blobs.is_own(&blob.key).await {
            Ok(true) => {
                state.blobs.delete(&blob.key).await?;
                report.orphans_deleted += 1;
            }
            Ok(false) => report.foreign_kept += 1,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot tell whether a blob is sealdrop's: left alone"
                );
                report.foreign_kept += 1;
            }
        }
    }
    state.orphans.listed(after.as_deref(), last, &waiting);
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
                foreign_kept = r.foreign_kept,
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
    use crate::clock::{Clock, ManualClock, SystemClock};
    use crate::config::Config;

    /// Sets the modification time of `path` `by` back.
    fn age(path: &std::path::Path, by: Duration) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - by)
            .unwrap();
    }

    const DAY: Duration = Duration::from_secs(86_400);

    /// A server's state on the embedded stores in a new directory, with an orphan grace
    /// of 1 s, and its clock: a manual one, started at the real time (the files' times
    /// are real), which the tests move on instead of sleeping.
    async fn with_a_grace_of_1s() -> (tempfile::TempDir, AppState, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.orphan_grace = Duration::from_secs(1);
        let clock = ManualClock::new(SystemClock.now());
        let state = crate::open_state(config, clock.clone()).await.unwrap();
        (dir, state, clock)
    }

    /// More than the grace of [`with_a_grace_of_1s`].
    const PAST_GRACE: Duration = Duration::from_millis(1100);

    /// A blob without a row is kept until its own deadline (its key's days plus two),
    /// however many rounds find it: a wrong or emptied metadata store deletes nothing
    /// live. Past it, it goes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_stays_until_its_own_deadline() {
        let (dir, state, clock) = with_a_grace_of_1s().await;
        let blobs = dir.path().join("blobs");
        let (week, day) = ("7-00000000000000cc", "1-00000000000000dd");
        for key in [week, day] {
            let mut writer = state.blobs.begin(key).await.unwrap();
            writer.write(Bytes::from_static(b"no row")).await.unwrap();
            writer.commit().await.unwrap();
        }
        // Both four days old: the 7-day blob may be live, the 1-day one may not.
        age(&blobs.join(week), 4 * DAY);
        age(&blobs.join(day), 4 * DAY);
        for _ in 0..3 {
            sweep_once(&state).await.unwrap();
            clock.advance(PAST_GRACE);
        }
        assert!(blobs.join(week).exists(), "deleted before its deadline");
        assert!(!blobs.join(day).exists(), "kept after its deadline");
        age(&blobs.join(week), 10 * DAY);
        for _ in 0..2 {
            sweep_once(&state).await.unwrap();
            clock.advance(PAST_GRACE);
        }
        assert!(!blobs.join(week).exists(), "kept after its deadline");
    }

    /// With a grace of 1 s: a blob without a row past its deadline goes on the round that
    /// finds it again a grace later, never on the first; the temp file of an open writer
    /// stays however old it looks, and its writer commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_goes_when_found_again_and_an_open_upload_never() {
        let (dir, state, clock) = with_a_grace_of_1s().await;
        let blobs = dir.path().join("blobs");
        let orphan = "1-00000000000000aa";
        let mut writer = state.blobs.begin(orphan).await.unwrap();
        writer.write(Bytes::from_static(b"no row")).await.unwrap();
        writer.commit().await.unwrap();
        age(&blobs.join(orphan), 4 * DAY);
        let mut open = state.blobs.begin("1-00000000000000bb").await.unwrap();
        open.write(Bytes::from(vec![7u8; 300_000])).await.unwrap();
        let pending: Vec<_> = std::fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".pending-"))
            .collect();
        assert_eq!(pending.len(), 1);
        age(&pending[0], Duration::from_secs(2 * 3600));

        let first = sweep_once(&state).await.unwrap();
        assert_eq!((first.orphans_deleted, first.pending_discarded), (0, 0));
        assert!(blobs.join(orphan).exists(), "gone on its first sighting");
        clock.advance(PAST_GRACE);
        let second = sweep_once(&state).await.unwrap();
        assert_eq!((second.orphans_deleted, second.pending_discarded), (1, 0));
        assert!(!blobs.join(orphan).exists());
        assert!(
            pending[0].exists(),
            "an open writer's temp file was removed"
        );
        assert_eq!(open.commit().await.unwrap(), 300_000);
    }

    /// Blobs the sweeper must keep (here past their deadline but with a row, as a held
    /// file's) fill the first page; the orphans after them still go, since each round
    /// resumes after the previous round's page, and a sighting on one page is remembered
    /// while the rounds go through the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_blobs_never_hide_the_orphans_after_them() {
        let (dir, state, clock) = with_a_grace_of_1s().await;
        let blobs = dir.path().join("blobs");
        let kept = [
            "1-0000000000000001",
            "1-0000000000000002",
            "1-0000000000000003",
        ];
        let orphans = ["2-0000000000000004", "2-0000000000000005"];
        for key in kept.iter().chain(&orphans) {
            let mut writer = state.blobs.begin(key).await.unwrap();
            writer.write(Bytes::from_static(b"a blob")).await.unwrap();
            writer.commit().await.unwrap();
            age(&blobs.join(key), 10 * DAY);
        }
        for key in kept {
            state
                .meta
                .insert(crate::meta::NewFile {
                    id: sealdrop_protocol::api::FileId::generate().unwrap(),
                    blob_key: key.to_owned(),
                    owner_hash: [7; 32],
                    metadata: "bWV0YQ".to_owned(),
                    auth_key: vec![1, 2, 3],
                    nonce: "bm9uY2U=".to_owned(),
                    dlimit: 1,
                    expires_at: state.clock.now() + 3_600_000,
                    size: 6,
                })
                .await
                .unwrap();
        }
        let mut deleted = 0;
        for _ in 0..8 {
            deleted += sweep(&state, 2).await.unwrap().orphans_deleted;
            clock.advance(PAST_GRACE);
        }
        assert_eq!(deleted, 2);
        for key in kept {
            assert!(blobs.join(key).exists(), "{key} has a row and was deleted");
        }
        for key in orphans {
            assert!(!blobs.join(key).exists(), "{key} was never reached");
        }
    }
}
