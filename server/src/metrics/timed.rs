//! The stores, timed: wrappers around any [`BlobStore`] and [`MetaStore`] that record how
//! long each call takes, in one place for every backend. [`crate::AppState::new`] wraps
//! the stores it is given.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use sealdrop_protocol::api::FileId;

use super::{BlobOp, MetaOp, Metrics, timed};
use crate::meta::{
    Complete, FileRecord, MetaResult, MetaStore, Millis, NewFile, ReportReason, Reported, Reserve,
    SetLimit,
};
use crate::storage::{BlobReader, BlobResult, BlobStore, BlobWriter, ListedBlob};

/// A blob store whose calls are timed (`sealdrop_storage_operation_duration_seconds`).
pub(crate) struct TimedBlobs {
    inner: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
}

impl TimedBlobs {
    pub(crate) fn new(inner: Arc<dyn BlobStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn time<T>(&self, op: BlobOp, call: impl Future<Output = T>) -> T {
        timed(self.metrics.blob_op(op), call).await
    }
}

#[async_trait]
impl BlobStore for TimedBlobs {
    async fn begin(&self, key: &str) -> BlobResult<Box<dyn BlobWriter>> {
        let inner = self.time(BlobOp::Begin, self.inner.begin(key)).await?;
        Ok(Box::new(TimedWriter {
            inner,
            metrics: self.metrics.clone(),
        }))
    }

    async fn open(&self, key: &str) -> BlobResult<Option<BlobReader>> {
        self.time(BlobOp::Open, self.inner.open(key)).await
    }

    async fn open_range(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> BlobResult<Option<BlobReader>> {
        self.time(BlobOp::Open, self.inner.open_range(key, range))
            .await
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        self.time(BlobOp::Delete, self.inner.delete(key)).await
    }

    async fn delete_many(&self, keys: &[String]) -> Vec<BlobResult<()>> {
        self.time(BlobOp::DeleteMany, self.inner.delete_many(keys))
            .await
    }

    async fn list_past_deadline(
        &self,
        at: SystemTime,
        after: Option<&str>,
        limit: usize,
    ) -> BlobResult<Vec<ListedBlob>> {
        self.time(
            BlobOp::ListPastDeadline,
            self.inner.list_past_deadline(at, after, limit),
        )
        .await
    }

    async fn is_own(&self, key: &str) -> BlobResult<bool> {
        self.time(BlobOp::IsOwn, self.inner.is_own(key)).await
    }

    async fn discard_pending(&self, before: SystemTime) -> BlobResult<usize> {
        self.time(BlobOp::DiscardPending, self.inner.discard_pending(before))
            .await
    }

    async fn ping(&self) -> BlobResult<()> {
        self.time(BlobOp::Ping, self.inner.ping()).await
    }

    async fn health(&self) -> BlobResult<()> {
        self.time(BlobOp::Health, self.inner.health()).await
    }
}

/// A blob being written: commit and abort are timed, single chunk writes are not.
struct TimedWriter {
    inner: Box<dyn BlobWriter>,
    metrics: Arc<Metrics>,
}

#[async_trait]
impl BlobWriter for TimedWriter {
    async fn write(&mut self, chunk: Bytes) -> BlobResult<()> {
        self.inner.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> BlobResult<u64> {
        let Self { inner, metrics } = *self;
        timed(metrics.blob_op(BlobOp::Commit), inner.commit()).await
    }

    async fn abort(self: Box<Self>) {
        let Self { inner, metrics } = *self;
        timed(metrics.blob_op(BlobOp::Abort), inner.abort()).await;
    }
}

/// A metadata store whose calls are timed (`sealdrop_meta_operation_duration_seconds`).
pub(crate) struct TimedMeta {
    inner: Arc<dyn MetaStore>,
    metrics: Arc<Metrics>,
}

impl TimedMeta {
    pub(crate) fn new(inner: Arc<dyn MetaStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn time<T>(&self, op: MetaOp, call: impl Future<Output = T>) -> T {
        timed(self.metrics.meta_op(op), call).await
    }
}

#[async_trait]
impl MetaStore for TimedMeta {
    async fn insert(&self, file: NewFile) -> MetaResult<()> {
        self.time(MetaOp::Insert, self.inner.insert(file)).await
    }

    async fn get(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        self.time(MetaOp::Get, self.inner.get(id, now)).await
    }

    async fn rotate_nonce(
        &self,
        id: &FileId,
        expected: &str,
        new: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        self.time(
            MetaOp::RotateNonce,
            self.inner.rotate_nonce(id, expected, new, now),
        )
        .await
    }

    async fn reserve_download(
        &self,
        id: &FileId,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<Reserve> {
        self.time(
            MetaOp::ReserveDownload,
            self.inner.reserve_download(id, now, lease_until),
        )
        .await
    }

    async fn renew_reservation(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
        lease_until: Millis,
    ) -> MetaResult<bool> {
        self.time(
            MetaOp::RenewReservation,
            self.inner
                .renew_reservation(id, reservation, now, lease_until),
        )
        .await
    }

    async fn complete_download(
        &self,
        id: &FileId,
        reservation: &str,
        now: Millis,
    ) -> MetaResult<Complete> {
        self.time(
            MetaOp::CompleteDownload,
            self.inner.complete_download(id, reservation, now),
        )
        .await
    }

    async fn release_download(&self, id: &FileId, reservation: &str) -> MetaResult<()> {
        self.time(
            MetaOp::ReleaseDownload,
            self.inner.release_download(id, reservation),
        )
        .await
    }

    async fn set_dlimit(
        &self,
        id: &FileId,
        dlimit: u32,
        now: Millis,
    ) -> MetaResult<Option<SetLimit>> {
        self.time(MetaOp::SetDlimit, self.inner.set_dlimit(id, dlimit, now))
            .await
    }

    async fn set_password(
        &self,
        id: &FileId,
        auth_key: &[u8],
        new_nonce: &str,
        now: Millis,
    ) -> MetaResult<bool> {
        self.time(
            MetaOp::SetPassword,
            self.inner.set_password(id, auth_key, new_nonce, now),
        )
        .await
    }

    async fn delete(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        self.time(MetaOp::Delete, self.inner.delete(id, now)).await
    }

    async fn take_expired(&self, now: Millis, limit: usize) -> MetaResult<Vec<String>> {
        self.time(MetaOp::TakeExpired, self.inner.take_expired(now, limit))
            .await
    }

    async fn next_expiry(&self) -> MetaResult<Option<Millis>> {
        self.time(MetaOp::NextExpiry, self.inner.next_expiry())
            .await
    }

    async fn tombstones(&self, before: Millis, limit: usize) -> MetaResult<Vec<String>> {
        self.time(MetaOp::Tombstones, self.inner.tombstones(before, limit))
            .await
    }

    async fn clear_tombstones(&self, blob_keys: &[String]) -> MetaResult<()> {
        self.time(
            MetaOp::ClearTombstones,
            self.inner.clear_tombstones(blob_keys),
        )
        .await
    }

    async fn knows_blob(&self, blob_key: &str) -> MetaResult<bool> {
        self.time(MetaOp::KnowsBlob, self.inner.knows_blob(blob_key))
            .await
    }

    async fn ping(&self) -> MetaResult<()> {
        self.time(MetaOp::Ping, self.inner.ping()).await
    }

    async fn find(&self, id: &FileId, now: Millis) -> MetaResult<Option<FileRecord>> {
        self.time(MetaOp::Find, self.inner.find(id, now)).await
    }

    async fn report(
        &self,
        id: &FileId,
        reason: ReportReason,
        details: &str,
        now: Millis,
    ) -> MetaResult<Reported> {
        self.time(MetaOp::Report, self.inner.report(id, reason, details, now))
            .await
    }

    async fn list_reported(&self, limit: usize) -> MetaResult<Vec<FileRecord>> {
        self.time(MetaOp::ListReported, self.inner.list_reported(limit))
            .await
    }

    async fn restore(
        &self,
        id: &FileId,
        now: Millis,
        grace_until: Millis,
    ) -> MetaResult<Option<Millis>> {
        self.time(MetaOp::Restore, self.inner.restore(id, now, grace_until))
            .await
    }

    async fn take_down(&self, id: &FileId, now: Millis) -> MetaResult<Option<String>> {
        self.time(MetaOp::TakeDown, self.inner.take_down(id, now))
            .await
    }
}
