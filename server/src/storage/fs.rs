//! The filesystem blob store: one file per blob in one directory.
//!
//! # Layout on disk
//!
//! ```text
//! <dir>/
//!   7-0123456789abcdef          a committed blob, named by its key
//!   .pending-<uuid v4>          a pending object: an upload in progress, or a leftover
//! ```
//!
//! Keys are validated before they touch the filesystem: 1 to 128 characters of
//! `[A-Za-z0-9_-]`, not starting with `-`. A key can therefore never contain a `/`, never
//! be `.` or `..`, and never start with `.`, so it can neither escape the directory nor
//! collide with a pending object. Names of pending objects come from a uuid, never from
//! user input.
//!
//! # Commit protocol
//!
//! 1. [`BlobStore::begin`] creates `.pending-<uuid>` (`create_new`, in the same directory
//!    so the final rename stays within one filesystem and is atomic).
//! 2. Chunks are appended through a buffer and counted.
//! 3. [`BlobWriter::commit`] flushes the buffer and `fsync`s the file, so its contents are
//!    durable before it gets a name anyone reads;
//! 4. renames it onto the key, atomically replacing nothing but that one name;
//! 5. `fsync`s the directory, so the rename itself survives a crash.
//!
//! # Why a partial file can never be served
//!
//! Readers only ever open names that are valid keys, and a key name only comes into
//! existence through the rename of step 4, which happens after the complete contents were
//! written and synced. A crash or disconnect before that leaves only a `.pending-*` file,
//! which no key can name; [`BlobWriter::abort`], dropping the writer, or
//! [`BlobStore::discard_pending`] (the sweeper, after a crash) remove it. A writer whose
//! `write` failed refuses to commit, and a writer whose temp file was discarded fails at
//! the rename. An open reader holds its own file handle, so a concurrent delete cannot
//! truncate what it is streaming.
//!
//! A failed write, flush, background write-back, `fsync` or rename (a full disk among
//! them) is returned with its [`std::io::Error`] in the error's chain, and the writer's
//! drop removes the temp file, so a failed upload leaves nothing behind.
//!
//! # Which pending files are abandoned
//!
//! `discard_pending(before)` never removes the temp file of a writer of this store that
//! is still open, however long its upload has been running or idle: the store knows their
//! names. Any other `.pending-*` file (one left by a crash, or by another process) is
//! removed once its modification time is before `before`: a process writing a file keeps
//! moving that time.

use std::collections::HashSet;
use std::fmt;
use std::io::{ErrorKind, SeekFrom};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};
use tokio::sync::Semaphore;

use super::{
    BlobReader, BlobResult, BlobStore, BlobWriter, ListedBlob, own_key_deadline, range_len,
};

/// Prefix of pending objects (temp files).
const PENDING_PREFIX: &str = ".pending-";
/// Whether `name` is exactly what [`FsStore`] names a temp file: the prefix and a
/// simple uuid (32 lowercase hex digits). Nothing else is ever discarded.
fn is_pending_name(name: &str) -> bool {
    name.strip_prefix(PENDING_PREFIX)
        .is_some_and(|id| crate::storage::is_lower_hex(id, 32))
}

/// Write buffer per upload.
const WRITE_BUFFER: usize = 256 * 1024;
/// Read chunk size of downloads.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes an upload writes between two background flushes of its pending file
/// ([`Flusher`]).
const FLUSH_EVERY: u64 = 16 << 20;
/// Background flushes running at once over all uploads of a store: each holds a thread of
/// the blocking pool, which the metadata store needs too.
const FLUSHES_AT_ONCE: usize = 4;

/// Blobs as files in one directory. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
    /// Permits for background flushes ([`FLUSHES_AT_ONCE`]).
    flushes: Arc<Semaphore>,
    /// Names of the temp files of this store's open writers, which `discard_pending`
    /// leaves alone.
    writing: Arc<Mutex<HashSet<String>>>,
}

impl FsStore {
    /// Opens (creating it if needed) the blob directory `dir` and checks it is writable.
    pub async fn open(dir: &Path) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create blob directory {}", dir.display()))?;
        let store = Self {
            dir: dir.to_path_buf(),
            flushes: Arc::new(Semaphore::new(FLUSHES_AT_ONCE)),
            writing: Arc::default(),
        };
        store
            .ping()
            .await
            .with_context(|| format!("blob directory {} is not writable", dir.display()))?;
        Ok(store)
    }

    /// The directory holding the blobs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the blob `key`, after validating the key.
    /// Opens the committed blob `key` and reads its length: `None` if there is none.
    async fn open_file(&self, key: &str) -> BlobResult<Option<(tokio::fs::File, u64)>> {
        let path = self.blob_path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening blob {key}")),
        };
        // Length of the very file we opened: a concurrent delete cannot change it.
        let meta = file
            .metadata()
            .await
            .with_context(|| format!("reading metadata of blob {key}"))?;
        if !meta.is_file() {
            anyhow::bail!("blob {key} is not a regular file");
        }
        Ok(Some((file, meta.len())))
    }

    fn blob_path(&self, key: &str) -> BlobResult<PathBuf> {
        crate::storage::validate_key(key)?;
        Ok(self.dir.join(key))
    }

    /// A fresh pending-object path.
    fn pending_path(&self) -> PathBuf {
        self.dir
            .join(format!("{PENDING_PREFIX}{}", uuid::Uuid::new_v4().simple()))
    }

    /// Marks the temp file `path` as being written, until the returned guard goes.
    fn register(&self, path: &Path) -> Writing {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        lock(&self.writing).insert(name.clone());
        Writing {
            set: Arc::clone(&self.writing),
            name,
        }
    }
}

/// The registration of an open writer's temp file (see [`FsStore::register`]).
#[derive(Debug)]
struct Writing {
    set: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl Drop for Writing {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.name);
    }
}

/// Locks the set of open writers; plain inserts and removals cannot leave it
/// inconsistent, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fsyncs a directory so renames and unlinks in it are durable.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(std::io::Error::other)?
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened (or need no fsync) on other platforms.
        let _ = dir;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn begin(&self, key: &str) -> BlobResult<Box<dyn BlobWriter>> {
        let final_path = self.blob_path(key)?;
        let tmp_path = self.pending_path();
        // Registered before the file exists, so no sweep can take it for a leftover.
        let writing = self.register(&tmp_path);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .await
            .with_context(|| {
                format!(
                    "creating pending file for blob {key} in {}",
                    self.dir.display()
                )
            })?;
        let flusher = Flusher::new(&file, self.flushes.clone());
        Ok(Box::new(FsWriter {
            flusher,
            key: key.to_owned(),
            dir: self.dir.clone(),
            tmp_path,
            final_path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            len: 0,
            failed: false,
            finished: false,
            _writing: writing,
        }))
    }

    async fn open(&self, key: &str) -> BlobResult<Option<BlobReader>> {
        let Some((file, len)) = self.open_file(key).await? else {
            return Ok(None);
        };
        Ok(Some(BlobReader {
            len,
            stream: Box::pin(tokio_util::io::ReaderStream::with_capacity(
                file, READ_CHUNK,
            )),
        }))
    }

    async fn open_range(
        &self,
        key: &str,
        range: RangeInclusive<u64>,
    ) -> BlobResult<Option<BlobReader>> {
        let part = range_len(&range)?;
        let Some((mut file, len)) = self.open_file(key).await? else {
            return Ok(None);
        };
        if *range.start() >= len {
            anyhow::bail!("blob {key} has {len} bytes, it ends before the range {range:?}");
        }
        let part = part.min(len - range.start());
        file.seek(SeekFrom::Start(*range.start()))
            .await
            .with_context(|| format!("seeking in blob {key}"))?;
        Ok(Some(BlobReader {
            len: part,
            stream: Box::pin(tokio_util::io::ReaderStream::with_capacity(
                file.take(part),
                READ_CHUNK,
            )),
        }))
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.blob_path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting blob {key}")),
        }
    }

    /// The blob directory is sealdrop's own (`<data-dir>/blobs`, made by the server), so
    /// any blob there is; `false` only if it is not there (any more).
    async fn is_own(&self, key: &str) -> BlobResult<bool> {
        let path = self.blob_path(key)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("reading metadata of blob {key}")),
        }
    }

    async fn list_past_deadline(
        &self,
        at: SystemTime,
        after: Option<&str>,
        limit: usize,
    ) -> BlobResult<Vec<ListedBlob>> {
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .with_context(|| format!("listing blob directory {}", self.dir.display()))?;
        // The names first (a directory lists in no order), then their metadata in key
        // order until the page is full.
        let mut names = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .with_context(|| format!("listing blob directory {}", self.dir.display()))?
        {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Pending objects start with `.`; a name not in the exact shape of sealdrop's
            // keys is not ours, whatever else it looks like.
            if crate::storage::own_key_days(&name).is_none()
                || after.is_some_and(|after| name.as_str() <= after)
            {
                continue;
            }
            names.push(name);
        }
        names.sort_unstable();
        for name in names {
            let meta = match tokio::fs::symlink_metadata(self.dir.join(&name)).await {
                Ok(meta) => meta,
                // Deleted while we were listing.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading metadata of blob {name}"));
                }
            };
            if !meta.is_file() {
                continue;
            }
            let modified = meta
                .modified()
                .with_context(|| format!("reading mtime of blob {name}"))?;
            if own_key_deadline(&name, modified).is_some_and(|deadline| deadline < at) {
                found.push(ListedBlob {
                    key: name,
                    modified,
                });
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn discard_pending(&self, before: SystemTime) -> BlobResult<usize> {
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .with_context(|| format!("listing blob directory {}", self.dir.display()))?;
        let mut removed = 0;
        while let Some(entry) = entries
            .next_entry()
            .await
            .with_context(|| format!("listing blob directory {}", self.dir.display()))?
        {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !is_pending_name(&name) || lock(&self.writing).contains(&name) {
                continue;
            }
            let modified = match entry.metadata().await.and_then(|m| m.modified()) {
                Ok(modified) => modified,
                // Committed or aborted meanwhile.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot stat pending blob file");
                    continue;
                }
            };
            if modified >= before {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                // One stubborn file must not stop the sweep of the others.
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot remove pending blob file");
                }
            }
        }
        Ok(removed)
    }

    async fn ping(&self) -> BlobResult<()> {
        let probe = self.pending_path();
        let result = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .await
                .context("creating probe file")?;
            file.write_all(b"ping")
                .await
                .context("writing probe file")?;
            file.flush().await.context("writing probe file")?;
            drop(file);
            tokio::fs::remove_file(&probe)
                .await
                .context("removing probe file")
        }
        .await;
        if result.is_err() {
            // Best effort: leave no probe behind (the sweeper would get it otherwise).
            let _ = tokio::fs::remove_file(&probe).await;
        }
        result.with_context(|| format!("blob directory {} unusable", self.dir.display()))
    }
}

/// A blob being written to `.pending-<uuid>`.
struct FsWriter {
    key: String,
    dir: PathBuf,
    tmp_path: PathBuf,
    final_path: PathBuf,
    /// `None` once closed.
    file: Option<BufWriter<tokio::fs::File>>,
    /// Bytes accepted so far.
    len: u64,
    /// A write failed: the contents are unknown, so this writer must never commit.
    failed: bool,
    /// Committed or aborted: nothing left for `Drop` to clean up.
    finished: bool,
    /// Starts the pending file's write-back while the upload goes on.
    flusher: Flusher,
    /// Keeps `discard_pending` away from the temp file while the writer lives (dropped
    /// after [`Drop::drop`] has removed the file).
    _writing: Writing,
}

/// Early write-back of a pending file.
///
/// Linux starts writing dirty pages back only once they are 30 s old or a share of memory
/// is dirty, so on a machine with memory to spare a whole upload would reach the disk
/// inside [`BlobWriter::commit`]'s `fsync`, after its last byte arrived: on a disk that
/// writes 600 MB/s, a 1 GiB upload would wait 1.7 s at the end with the network idle.
/// Every [`FLUSH_EVERY`] bytes the flusher runs `fdatasync` on a second handle of the
/// file in the blocking pool, at most one per upload and [`FLUSHES_AT_ONCE`] per store
/// (when none is free the flush is skipped: the final `fsync` still covers everything),
/// while the upload continues; the disk then works while the network does, and the final
/// `fsync` only waits for the tail.
///
/// A failed background sync fails the commit: Linux reports a write-back error once per
/// open file, and the second handle shares the open file with the writer, so the final
/// `fsync` might not see it again. The result of every flush is therefore awaited, never
/// dropped.
struct Flusher {
    /// A second handle of the pending file (a `dup`); `None` if it could not be made
    /// (then only the final `fsync` runs, as before).
    file: Option<Arc<std::fs::File>>,
    /// Permits shared by the store's uploads.
    permits: Arc<Semaphore>,
    /// Bytes written since the last flush started.
    since: u64,
    /// The running (or finished but not yet collected) flush.
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The first error of a collected flush.
    error: Option<std::io::Error>,
}

impl Flusher {
    fn new(file: &tokio::fs::File, permits: Arc<Semaphore>) -> Self {
        Self {
            file: second_handle(file).map(Arc::new),
            permits,
            since: 0,
            running: None,
            error: None,
        }
    }

    /// Counts `n` bytes written, and starts a flush when enough were and none runs.
    fn wrote(&mut self, n: usize) {
        self.since += n as u64;
        if self.since < FLUSH_EVERY {
            return;
        }
        if let Some(mut running) = self.running.take() {
            if !running.is_finished() {
                self.running = Some(running);
                return;
            }
            // Finished, but polling may still say "pending" when the task's cooperative
            // budget is spent: then keep it, to be collected later or by `finish`.
            match futures_util::FutureExt::now_or_never(&mut running) {
                Some(result) => self.collect(result),
                None => {
                    self.running = Some(running);
                    return;
                }
            }
        }
        let Some(file) = self.file.clone() else {
            return;
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return;
        };
        self.since = 0;
        self.running = Some(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            file.sync_data()
        }));
    }

    fn collect(&mut self, result: Result<std::io::Result<()>, tokio::task::JoinError>) {
        let error = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => std::io::Error::other(e),
        };
        self.error.get_or_insert(error);
    }

    /// Waits for the running flush; the first background error, if any.
    async fn finish(&mut self) -> std::io::Result<()> {
        if let Some(running) = self.running.take() {
            let result = running.await;
            self.collect(result);
        }
        self.error.take().map_or(Ok(()), Err)
    }
}

/// A second handle of an open file (`dup`, no I/O), for the flusher.
#[cfg(unix)]
fn second_handle(file: &tokio::fs::File) -> Option<std::fs::File> {
    use std::os::fd::AsFd as _;
    file.as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
}

/// Other platforms: no early write-back; the final `fsync` does all.
#[cfg(not(unix))]
fn second_handle(_file: &tokio::fs::File) -> Option<std::fs::File> {
    None
}

impl fmt::Debug for FsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsWriter")
            .field("key", &self.key)
            .field("tmp_path", &self.tmp_path)
            .field("len", &self.len)
            .field("failed", &self.failed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl FsWriter {
    /// Flushes, syncs and renames; on error the caller's drop removes the temp file.
    async fn commit_inner(&mut self) -> BlobResult<u64> {
        let key = &self.key;
        if self.failed {
            anyhow::bail!("blob {key}: refusing to commit after a failed write");
        }
        let mut file = self
            .file
            .take()
            .with_context(|| format!("blob {key}: writer already closed"))?;
        file.flush()
            .await
            .with_context(|| format!("flushing blob {key}"))?;
        self.flusher
            .finish()
            .await
            .with_context(|| format!("syncing blob {key} (background write-back)"))?;
        let file = file.into_inner();
        file.sync_all()
            .await
            .with_context(|| format!("syncing blob {key}"))?;
        drop(file);
        tokio::fs::rename(&self.tmp_path, &self.final_path)
            .await
            .with_context(|| format!("committing blob {key} (rename of its pending file)"))?;
        // The temp name is gone: nothing for `Drop` to remove any more.
        self.finished = true;
        if let Err(e) = sync_dir(&self.dir).await {
            // Not durable: take the blob back (best effort) so the caller's failure
            // leaves nothing behind; the orphan sweep gets it otherwise.
            let _ = tokio::fs::remove_file(&self.final_path).await;
            return Err(e)
                .with_context(|| format!("syncing blob directory after committing blob {key}"));
        }
        Ok(self.len)
    }
}

#[async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, chunk: Bytes) -> BlobResult<()> {
        let key = &self.key;
        if self.failed {
            anyhow::bail!("blob {key}: writing after a failed write");
        }
        let file = self
            .file
            .as_mut()
            .with_context(|| format!("blob {key}: writer already closed"))?;
        if let Err(e) = file.write_all(&chunk).await {
            self.failed = true;
            return Err(e).with_context(|| format!("writing blob {key}"));
        }
        self.len += chunk.len() as u64;
        self.flusher.wrote(chunk.len());
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> BlobResult<u64> {
        self.commit_inner().await
        // On error, dropping `self` removes the temp file.
    }

    async fn abort(mut self: Box<Self>) {
        // Close the file before unlinking it.
        drop(self.file.take());
        self.finished = true;
        match tokio::fs::remove_file(&self.tmp_path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(
                    key = %self.key,
                    error = %e,
                    "cannot remove pending blob file; the sweeper will"
                );
            }
        }
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn store() -> (tempfile::TempDir, FsStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsStore::open(&tmp.path().join("blobs")).await.unwrap();
        (tmp, store)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn conformance() {
        let (_tmp, store) = store().await;
        super::super::conformance::run_all(&store).await;
        // The suite cleans up after itself, pending objects included.
        assert_eq!(entries(store.dir()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn open_creates_nested_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("b");
        let store = FsStore::open(&dir).await.unwrap();
        assert!(dir.is_dir());
        // The writability probe leaves nothing behind.
        assert!(entries(store.dir()).is_empty());
    }

    #[tokio::test]
    async fn open_fails_on_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("not-a-dir");
        std::fs::write(&path, b"x").unwrap();
        let err = FsStore::open(&path).await.unwrap_err();
        assert!(format!("{err:#}").contains("not-a-dir"), "{err:#}");
    }

    #[tokio::test]
    async fn aborted_writer_leaves_no_file() {
        let (_tmp, store) = store().await;
        let mut w = store.begin("1-00000000000000aa").await.unwrap();
        w.write(Bytes::from(vec![7u8; 300_000])).await.unwrap();
        assert_eq!(entries(store.dir()).len(), 1, "the pending file exists");
        w.abort().await;
        assert!(entries(store.dir()).is_empty());
    }

    #[tokio::test]
    async fn dropped_writer_leaves_no_file() {
        let (_tmp, store) = store().await;
        let mut w = store.begin("1-00000000000000bb").await.unwrap();
        w.write(Bytes::from(vec![7u8; 300_000])).await.unwrap();
        drop(w);
        assert!(entries(store.dir()).is_empty());
    }

    #[tokio::test]
    async fn committed_blob_is_the_only_file() {
        let (_tmp, store) = store().await;
        let mut w = store.begin("1-00000000000000cc").await.unwrap();
        w.write(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), 5);
        assert_eq!(entries(store.dir()), vec!["1-00000000000000cc".to_owned()]);
        assert_eq!(
            std::fs::read(store.dir().join("1-00000000000000cc")).unwrap(),
            b"hello"
        );
    }

    /// Several background flushes run (and are collected) during a big upload, none is
    /// left running after the commit, and the blob is intact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_big_upload_flushes_in_the_background_and_commits_intact() {
        let (_tmp, store) = store().await;
        let mut w = store.begin("1-00000000000000dd").await.unwrap();
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
        let chunks = 3 * (FLUSH_EVERY >> 20) + 5;
        for _ in 0..chunks {
            w.write(Bytes::from(chunk.clone())).await.unwrap();
        }
        assert_eq!(w.commit().await.unwrap(), chunks << 20);
        assert_eq!(
            store.flushes.available_permits(),
            FLUSHES_AT_ONCE,
            "a flush still holds its permit after the commit"
        );
        let blob = std::fs::read(store.dir().join("1-00000000000000dd")).unwrap();
        assert_eq!(blob.len() as u64, chunks << 20);
        assert!(blob.chunks(1 << 20).all(|c| c == chunk.as_slice()));
        assert_eq!(entries(store.dir()), vec!["1-00000000000000dd".to_owned()]);
    }

    #[tokio::test]
    async fn invalid_keys_are_rejected() {
        let (tmp, store) = store().await;
        let long = "a".repeat(129);
        for key in [
            "../x",
            ".pending-x",
            "",
            "a/b",
            ".",
            "..",
            "-a",
            "a b",
            "a\\b",
            "a\0b",
            "é",
            "/etc/passwd",
            long.as_str(),
        ] {
            assert!(store.begin(key).await.is_err(), "begin {key:?}");
            assert!(store.open(key).await.is_err(), "open {key:?}");
            assert!(store.delete(key).await.is_err(), "delete {key:?}");
        }
        assert!(entries(store.dir()).is_empty());
        // Nothing was created next to the blob directory either.
        assert_eq!(entries(tmp.path()), vec!["blobs".to_owned()]);
        // The extremes that are valid.
        for key in ["a", "A_-9", &"b".repeat(128)] {
            assert!(crate::storage::validate_key(key).is_ok(), "{key:?}");
        }
    }

    #[tokio::test]
    async fn leftovers_of_a_crash_are_discarded_by_age() {
        let (_tmp, store) = store().await;
        let old = store
            .dir()
            .join(".pending-0123456789abcdef0123456789abcdef");
        let fresh = store
            .dir()
            .join(".pending-fedcba9876543210fedcba9876543210");
        std::fs::write(&old, b"partial").unwrap();
        std::fs::write(&fresh, b"partial").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(store.discard_pending(hour_ago).await.unwrap(), 1);
        assert!(!old.exists());
        assert!(fresh.exists());
        // Pending files are never listed as blobs, however old.
        assert!(
            store
                .list_past_deadline(
                    SystemTime::now() + Duration::from_secs(4 * 86_400),
                    None,
                    100
                )
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn foreign_files_are_not_listed() {
        let (_tmp, store) = store().await;
        // Names of every shape, some made only of key characters or close to a key's.
        let foreign = [
            "README.txt",
            ".hidden",
            "backup",
            "index",
            "2024-report",
            "7-0123456789ABCDEF",
            "7-0123456789abcdef0",
            "07-0123456789abcdef",
            ".pending-notours",
            ".pending-0123456789abcdef0123456789abcdeF",
        ];
        for name in foreign {
            std::fs::write(store.dir().join(name), b"x").unwrap();
        }
        std::fs::create_dir(store.dir().join("subdir")).unwrap();
        std::fs::create_dir(store.dir().join("7-00000000000000aa")).unwrap();
        let later = SystemTime::now() + Duration::from_secs(365 * 86_400);
        assert!(
            store
                .list_past_deadline(later, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.discard_pending(later).await.unwrap(), 0);
        for name in foreign {
            assert!(store.dir().join(name).exists(), "{name} was removed");
        }
        // A directory named like a key is not a blob, nor ours.
        assert!(!store.is_own("7-00000000000000aa").await.unwrap());
        // A directory named like a key is not a blob.
        assert!(store.open("subdir").await.is_err());
    }
}
