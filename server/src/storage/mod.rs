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

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// Errors of a blob store: always internal (the caller answers 500 or 503).
pub type BlobResult<T> = Result<T, anyhow::Error>;

/// A stream of a blob's bytes.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An open blob: its length and its bytes.
pub struct BlobReader {
    /// Length in bytes.
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

/// Where blobs live. Implementations: [`fs::FsStore`] (default) and S3.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing the blob `key`. Nothing is visible under `key` until commit.
    async fn begin(&self, key: &str) -> BlobResult<Box<dyn BlobWriter>>;

    /// Opens a committed blob; `None` if there is none.
    async fn open(&self, key: &str) -> BlobResult<Option<BlobReader>>;

    /// Deletes a blob; deleting a missing blob succeeds.
    async fn delete(&self, key: &str) -> BlobResult<()>;

    /// Committed blobs last modified before `before`, up to `limit` (orphan cleanup).
    async fn list_older_than(&self, before: SystemTime, limit: usize) -> BlobResult<Vec<String>>;

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
