//! The metadata store: one row per live file, download reservations, and tombstones of
//! blobs waiting to be deleted.
//!
//! Every read checks expiry in the same step (`expires_at > now`), so an expired file is
//! never served however late the sweeper is. Every state change that decides who may
//! download is one atomic step of the store (a SQLite transaction, a Redis script), so
//! the guarantees hold under any concurrency and across server instances.
//!
//! Deleting a file removes its row and records a tombstone for its blob in the same
//! step; the blob is deleted afterwards, and the tombstone removed only once that
//! succeeded, so a failed blob delete is retried by the sweeper.
//!
//! # Reported files
//!
//! A file someone reported ([`MetaStore::report`]) is held for the operator: it is served
//! no more (every read and state change of the download and owner flows treats it as
//! gone, and its downloads in progress lose their reservations, so they cannot complete),
//! and it is not expired either (the sweeper's [`MetaStore::take_expired`] and
//! [`MetaStore::next_expiry`] skip it, and Redis keeps its keys without a TTL), whatever
//! its `expires_at`, until the operator takes it down ([`MetaStore::take_down`]) or
//! restores it ([`MetaStore::restore`]). Its download count and limit are kept as they
//! were; a restored file has the downloads it had left, and its expiry, unless that
//! passed meanwhile: then it gets a grace period chosen by the caller.

pub mod redis;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod conformance;

use async_trait::async_trait;
use sealdrop_protocol::api::FileId;

/// Milliseconds since the Unix epoch: the time unit of the stores.
pub type Millis = u64;

/// A file as uploaded, before it has a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// The file id.
    pub id: FileId,
    /// Where the blob lives in the blob store.
    pub blob_key: String,
    /// SHA-256 of the owner token.
    pub owner_hash: [u8; 32],
    /// The encrypted metadata as uploaded (base64url).
    pub metadata: String,
    /// The HMAC key downloaders must prove they know.
    pub auth_key: Vec<u8>,
    /// The first download nonce (standard base64).
    pub nonce: String,
    /// Download limit (at least 1).
    pub dlimit: u32,
    /// When the file expires.
    pub expires_at: Millis,
    /// Ciphertext size in bytes.
    pub size: u64,
}

/// A live file as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The upload's fields.
    pub file: NewFile,
    /// Completed downloads.
    pub downloads: u32,
    /// Downloads in progress (reservations whose lease has not run out).
    pub reserved: u32,
    /// Whether a password has been set (the auth key is then password-derived).
    pub password: bool,
    /// The report holding the file, if any. Only [`MetaStore::find`] and
    /// [`MetaStore::list_reported`] return reported rows; [`MetaStore::get`] never does.
    pub report: Option<Report>,
}

/// Why someone reported a file: one of a fixed list, so nothing free-form decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportReason {
    /// Malicious software.
    Malware,
    /// Phishing or another fraud.
    Phishing,
    /// Illegal content.
    Illegal,
    /// A copyright infringement.
    Copyright,
    /// Anything else (the details say what).
    Other,
}

impl ReportReason {
    /// Every reason, in the order forms list them.
    pub const ALL: [Self; 5] = [
        Self::Malware,
        Self::Phishing,
        Self::Illegal,
        Self::Copyright,
        Self::Other,
    ];

    /// The reason as the API and the stores spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malware => "malware",
            Self::Phishing => "phishing",
            Self::Illegal => "illegal",
            Self::Copyright => "copyright",
            Self::Other => "other",
        }
    }

    /// Parses [`Self::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for ReportReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The report held on a file. The reporter's key is never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The first report's reason.
    pub reason: ReportReason,
    /// The first report's details (short, single-line text; may be empty).
    pub details: String,
    /// When the first report came.
    pub reported_at: Millis,
    /// How many reports came (with a valid key) while the file was held.
    pub count: u32,
}

/// Outcome of [`MetaStore::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// The file is now held.
    Held,
    /// The file was held already; its report count went up, the first report stays.
    AlreadyHeld,
    /// No live or reported row.
    Missing,
}

/// Outcome of [`MetaStore::reserve_download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    /// A slot is held until `lease_until` (renew it while streaming).
    Reserved {
        /// Identifies the reservation when completing or releasing it.
        reservation: String,
    },
    /// The file is gone, expired, or every remaining download is taken or in progress.
    Unavailable,
}

/// Outcome of [`MetaStore::complete_download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Complete {
    /// Counted; downloads remain.
    Counted,
    /// Counted, and it was the last allowed download: the row is gone and the blob has a
    /// tombstone (delete it, then [`MetaStore::clear_tombstone`]).
    Last {
        /// The blob to delete.
        blob_key: String,
    },
    /// The reservation had lapsed or the file expired meanwhile: not counted, and the
    /// last bytes must not be sent.
    Refused,
}

/// Errors of a metadata store: always internal (the caller answers 500 or 503).
pub type MetaResult<T> = Result<T, anyhow::Error>;

/// Where file metadata, download counters and reservations live.
///
/// Implementations: [`sqlite::SqliteStore`] (embedded default) and, for several server
/// instances, Redis. One conformance suite (`conformance.rs`) runs against each.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Inserts the row of a committed upload. Fails if the id exists.
    async fn insert(&self, file: NewFile) -> MetaResult<()>;

    /// The live row of `id`, or `None` if missing or expired at `now`.
    async fn get(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>>;

    /// Replaces the nonce only if it is still `expected` and the file is live: one signed
    /// request authorises one request. `false` if the nonce had already changed.
    async fn rotate_nonce(
        &self,
        id: &FileId,
        expected: &str,
        new: &str,
        now: Millis,
    ) -> MetaResult<bool>;

    /// Reserves a download slot if `downloads + reserved < dlimit` and the file is live.
    /// The reservation lapses at `lease_until` unless renewed.
    async fn reserve_download(
        &self,
        id: &FileId,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<Reserve>;

    /// Extends a reservation's lease (never shortens it); `false` if it has lapsed or the
    /// file is gone.
    async fn renew_reservation(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<bool>;

    /// Turns a reservation into a completed download (see [`Complete`]).
    async fn complete_download(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
    ) -> MetaResult<Complete>;

    /// Gives a reservation back (the client aborted). Unknown reservations are ignored.
    async fn release_download(&self, id: &FileId, reservation: &str) -> MetaResult<()>;

    /// Sets the download limit. If it is now at or below the completed downloads the file
    /// is finished: the row is deleted and the blob key returned (tombstoned).
    /// `None` if the file is missing or expired.
    async fn set_dlimit(
        &self,
        id: &FileId,
        dlimit: u32,
        now: Millis,
    ) -> MetaResult<Option<SetLimit>>;

    /// Replaces the auth key by a password-derived one and marks the file as password
    /// protected; the nonce is rotated to `new_nonce`. `false` if missing or expired.
    async fn set_password(
        &self,
        id: &FileId,
        auth_key: &[u8],
        new_nonce: &str,
        now: Millis,
    ) -> MetaResult<bool>;

    /// Deletes the row (tombstoning its blob) and returns the blob key, or `None` if it
    /// was missing or already expired.
    async fn delete(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>>;

    /// Deletes up to `limit` rows expired at `now`, tombstoning their blobs; returns the
    /// blob keys.
    async fn take_expired(&self, now: Millis, limit: usize) -> MetaResult<Vec<String>>;

    /// The earliest `expires_at` among stored rows (expired ones not yet swept included),
    /// for the sweeper's next wake-up.
    async fn next_expiry(&self) -> MetaResult<Option<Millis>>;

    /// Up to `limit` blob keys with a tombstone older than `before`, to retry deleting.
    async fn tombstones(&self, before: Millis, limit: usize) -> MetaResult<Vec<String>>;

    /// Forgets tombstones once their blobs are deleted, in one step of the store (the
    /// sweeper clears a whole batch at once). Keys without a tombstone are ignored.
    async fn clear_tombstones(&self, blob_keys: &[String]) -> MetaResult<()>;

    /// Forgets one tombstone once its blob is deleted.
    async fn clear_tombstone(&self, blob_key: &str) -> MetaResult<()> {
        self.clear_tombstones(&[blob_key.to_owned()]).await
    }

    /// Whether a row or a tombstone refers to `blob_key` (orphan detection).
    async fn knows_blob(&self, blob_key: &str) -> MetaResult<bool>;

    /// Checks the store answers.
    async fn ping(&self) -> MetaResult<()>;

    /// The row of `id` if it is live at `now`, or reported (whatever its expiry): what a
    /// report and the operator's commands look at. `None` otherwise.
    async fn find(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>>;

    /// Holds the file `id` for the operator (see the module's "Reported files"): a live
    /// file is marked with `reason`, `details` and `now`, and its reservations are
    /// dropped; a file already held only counts one more report.
    async fn report(
        &self,
        id: &FileId,
        reason: ReportReason,
        details: &str,
        now: Millis,
    ) -> MetaResult<Reported>;

    /// Up to `limit` held files, the oldest report first.
    async fn list_reported(&self, limit: usize) -> MetaResult<Vec<FileRecord>>;

    /// Releases the held file `id`: it is served again, with the expiry it had if that is
    /// still after `now`, else until `grace_until`. Returns the expiry now in force, or
    /// `None` if `id` is not held.
    async fn restore(
        &self,
        id: &FileId,
        now: Millis,
        grace_until: Millis,
    ) -> MetaResult<Option<Millis>>;

    /// Deletes the row of `id` whatever its state (live, held, or expired and not yet
    /// swept), tombstoning its blob at `now`; returns the blob key, or `None` if there is
    /// no row.
    async fn take_down(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>>;
}

/// Outcome of [`MetaStore::set_dlimit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetLimit {
    /// The new limit is in force.
    Updated,
    /// The limit is already reached: the file is finished and its blob tombstoned.
    Finished {
        /// The blob to delete.
        blob_key: String,
    },
}
