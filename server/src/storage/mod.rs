//! The blob store: where ciphertext lives.
//!
//! Writing goes through a [`BlobWriter`]: bytes stream into a pending object (a temp file
//! in the same directory, an S3 multipart upload) that nobody can read; only
//! [`BlobWriter::commit`] makes it a blob, atomically. Dropping a writer without
//! committing discards the pending object. Names of pending objects come from a uuid,
//! never from user input.

pub mod fs;
pub mod s3;

#[cfg(test)]
pub(crate) mod conformance;

use std::ops::RangeInclusive;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// Errors of a blob store: always internal (the caller answers 500 or 503).
pub type BlobResult<T> = Result<T, anyhow::Error>;

/// A stream of a blob's bytes.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An open blob, or the part of one asked for: its length and its bytes.
pub struct BlobReader {
    /// Length in bytes (of the part, for [`BlobStore::open_range`]).
    pub len: u64,
    /// The bytes, read with back-pressure.
    pub stream: BlobStream,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The number of bytes in `range`; an error for an empty (reversed) range.
fn range_len(range: &RangeInclusive<u64>) -> BlobResult<u64> {
    range
        .end()
        .checked_sub(*range.start())
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| anyhow::anyhow!("an empty byte range {range:?}"))
}

/// Where blobs live. Implementations: [`fs::FsStore`] (default) and S3.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing the blob `key`. Nothing is visible under `key` until commit.
    async fn begin(&self, key: &str) -> BlobResult<Box<dyn BlobWriter>>;

    /// Opens a committed blob; `None` if there is none.
    async fn open(&self, key: &str) -> BlobResult<Option<BlobReader>>;

    /// Opens the bytes `range` of a committed blob; `None` if there is none. The reader's
    /// `len` is the number of bytes of the range the blob holds: the range's length, or
    /// fewer when the blob ends before the range does. An error if it ends before the
    /// range starts.
    async fn open_range(
        &self,
        key: &str,
        range: RangeInclusive<u64>,
    ) -> BlobResult<Option<BlobReader>>;

    /// Deletes a blob; deleting a missing blob succeeds.
    async fn delete(&self, key: &str) -> BlobResult<()>;

    /// Deletes several blobs, as few requests as the store allows; one result per key, in
    /// the order of `keys`. Deleting a missing blob succeeds.
    async fn delete_many(&self, keys: &[String]) -> Vec<BlobResult<()>> {
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            results.push(self.delete(key).await);
        }
        results
    }

    /// Committed blobs whose own deadline ([`own_key_deadline`]) is before `at`, in key
    /// order, from the first key after `after` (all, if `None`), up to `limit` (orphan
    /// cleanup: the sweeper resumes after the last key of the previous page, so that a
    /// page full of blobs it must keep never hides the ones after it): only objects named
    /// exactly as sealdrop names blobs ([`own_key_days`]), never anything else in the
    /// directory, bucket or prefix, and never one that can still belong to a live file.
    async fn list_past_deadline(
        &self,
        at: SystemTime,
        after: Option<&str>,
        limit: usize,
    ) -> BlobResult<Vec<ListedBlob>>;

    /// Whether the blob `key` carries the mark sealdrop sets on every blob it writes
    /// (an S3 object's `sealdrop-id` metadata); `false` if there is no such blob. The
    /// sweeper deletes a blob no row refers to only if this says it is sealdrop's. A
    /// store whose blobs live in a place of sealdrop's own (the filesystem store's
    /// `blobs/` directory) answers `true` for any blob there.
    async fn is_own(&self, key: &str) -> BlobResult<bool>;

    /// Discards pending objects (temp files, incomplete multipart uploads) started before
    /// `before`, left by a crash; returns how many.
    async fn discard_pending(&self, before: SystemTime) -> BlobResult<usize>;

    /// Checks the store is reachable and writable (at start).
    async fn ping(&self) -> BlobResult<()>;

    /// A cheap reachability check for `/__heartbeat__`, which load balancers call every
    /// few seconds; by default the same as [`ping`](Self::ping).
    async fn health(&self) -> BlobResult<()> {
        self.ping().await
    }
}

/// A blob being written.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends bytes. Back-pressure: returns once the bytes are handed to the store.
    async fn write(&mut self, chunk: Bytes) -> BlobResult<()>;

    /// Makes the blob durable and visible under its key, atomically; returns its length.
    async fn commit(self: Box<Self>) -> BlobResult<u64>;

    /// Discards everything written. Dropping the writer does the same, later.
    async fn abort(self: Box<Self>);
}

/// A committed blob as [`BlobStore::list_past_deadline`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// Its key.
    pub key: String,
    /// When it was last modified, as the store says.
    pub modified: SystemTime,
}

/// Most days a blob key may encode (far beyond any expiry a server allows).
const MAX_KEY_DAYS: u32 = 100_000;

/// The days of a key in the exact shape sealdrop gives its blobs, `<days>-<16 hex>`
/// (Send's convention: the whole days the file may live, at least 1, then its id in
/// lowercase hex), or `None` for any other name. Only such keys are ever candidates for
/// the sweeper's clean-up; a name merely made of key characters is not.
pub fn own_key_days(key: &str) -> Option<u32> {
    let (days, id) = key.split_once('-')?;
    let days_ok = !days.is_empty()
        && days.len() <= 6
        && !days.starts_with('0')
        && days.bytes().all(|b| b.is_ascii_digit());
    let id_ok = is_lower_hex(id, 16);
    if !(days_ok && id_ok) {
        return None;
    }
    days.parse().ok().filter(|d| (1..=MAX_KEY_DAYS).contains(d))
}

/// Whether `text` is exactly `len` lowercase hex digits.
pub(crate) fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The moment after which a blob named `key`, last modified at `modified` by the store's
/// clock, can no longer belong to a live file of any sealdrop server: its key's whole
/// days plus two. The days are rounded down when the key is made, so the file expires
/// less than `days + 1` days after its upload completed; the extra day covers the time
/// the upload took (some stores date a multipart blob from its start) and the skew
/// between the store's clock and the servers'. A file held by a report outlives it (see
/// `docs/self-hosting.md`). `None` if `key` is not in sealdrop's shape.
pub fn own_key_deadline(key: &str, modified: SystemTime) -> Option<SystemTime> {
    let days = own_key_days(key)?;
    modified.checked_add(std::time::Duration::from_secs(
        (u64::from(days) + 2) * 86_400,
    ))
}

/// Longest blob key accepted.
const MAX_KEY_LEN: usize = 128;

/// Checks a key is safe as a file name: 1..=128 chars of `[A-Za-z0-9_-]`, not starting
/// with `.` or `-`.
pub(crate) fn validate_key(key: &str) -> BlobResult<()> {
    if key.is_empty() {
        anyhow::bail!("invalid blob key: empty");
    }
    if key.len() > MAX_KEY_LEN {
        anyhow::bail!(
            "invalid blob key: {} bytes, longer than {MAX_KEY_LEN}",
            key.len()
        );
    }
    let charset_ok = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !charset_ok || key.starts_with(['.', '-']) {
        anyhow::bail!("invalid blob key {key:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_shape_is_ours() {
        assert_eq!(own_key_days("7-0123456789abcdef"), Some(7));
        assert_eq!(own_key_days("1-00000000000000aa"), Some(1));
        assert_eq!(own_key_days("365-ffffffffffffffff"), Some(365));
        for foreign in [
            "backup",
            "index",
            "2024-report",
            "7-0123456789ABCDEF",
            "7-0123456789abcde",
            "7-0123456789abcdef0",
            "07-0123456789abcdef",
            "0-0123456789abcdef",
            "-0123456789abcdef",
            "7_0123456789abcdef",
            "x-0123456789abcdef",
            "7-0123456789abcdeg",
            "1234567-0123456789abcdef",
            "7-0123456789abcdef/x",
            ".pending-7-0123456789abcdef",
        ] {
            assert_eq!(own_key_days(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn a_key_may_be_live_for_its_days_plus_two() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        assert_eq!(
            own_key_deadline("2-0123456789abcdef", t),
            Some(t + std::time::Duration::from_secs(4 * 86_400))
        );
        // The longest expiry a `1-` key gets (a minute short of two days) ends a day
        // before the deadline, however long its upload took up to a day.
        let longest_1_day = std::time::Duration::from_secs(2 * 86_400 - 60);
        assert!(own_key_deadline("1-0123456789abcdef", t).unwrap() > t + longest_1_day);
        assert_eq!(own_key_deadline("report", t), None);
    }
}
