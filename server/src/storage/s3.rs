//! The S3 blob store: one object per blob in a bucket of any S3-compatible store (AWS,
//! MinIO, garage, …).
//!
//! # Layout in the bucket
//!
//! ```text
//! <prefix>7-0123456789abcdef           a committed blob, named by its key
//! <prefix>.probe-<uuid v4>             the writability probe of `ping` (deleted at once)
//! multipart upload of <prefix><key>    a pending object: an upload in progress, or a leftover
//! <prefix>.uploading-<key>             the empty marker of that multipart upload
//! ```
//!
//! # What is ours
//!
//! The bucket, or the prefix, may hold other people's objects and uploads, and another
//! deployment's. The sweeper only ever deletes what sealdrop can prove it wrote:
//!
//! - a blob: an object named exactly `<prefix><days>-<16 lowercase hex>` (see
//!   [`crate::storage::own_key_days`]) whose metadata `sealdrop-id` is that key, set by
//!   every PutObject and CreateMultipartUpload of this module; the sweeper checks it with
//!   HeadObject ([`BlobStore::is_own`]) before deleting a blob no row refers to, and
//!   deletes none before its own deadline (the key's days plus two, from its last
//!   modification), so an emptied or wrong metadata store deletes nothing live;
//! - a multipart upload: named like a blob, and with its marker object
//!   `<prefix>.uploading-<key>` carrying the same metadata. S3 cannot show an upload's
//!   metadata before it completes, so the writer puts the marker before it starts the
//!   upload and deletes it once the upload is completed or aborted; a marker left by a
//!   crash is deleted by `discard_pending` once it is older than the cut-off and its key
//!   has no upload any more.
//!
//! Objects and uploads of any other name, or without the mark, are never deleted or
//! aborted, whatever their age. Blobs written by sealdrop before the mark existed carry
//! none: their rows and tombstones still delete them, and the lifecycle rules below are
//! their backstop.
//!
//! Keys are validated exactly like the filesystem store's: 1 to 128 characters of
//! `[A-Za-z0-9_-]`, not starting with `-`. They never contain a `/` and never start with
//! `.`, so a key can neither leave the prefix nor name the probe object, and listings skip
//! every object under the prefix that is not a key.
//!
//! # Commit protocol
//!
//! 1. [`BlobStore::begin`] validates the key and registers the upload as pending in this
//!    process; nothing is sent yet.
//! 2. Chunks are copied into a buffer of up to `part_size` bytes.
//! 3. When the buffer is full and more bytes arrive, the first time the writer starts a
//!    multipart upload of `<prefix><key>` (CreateMultipartUpload); each full buffer becomes
//!    one part (UploadPart), uploaded by a spawned task while the next part fills, with at
//!    most `parts_in_flight` parts in flight: a writer whose parts are all in flight
//!    waits for one of them before accepting more bytes (back-pressure).
//! 4. [`BlobWriter::commit`] of a blob that fits in one part is one PutObject. Otherwise
//!    it uploads the last buffer as the last part, waits for every part and sends
//!    CompleteMultipartUpload with the parts sorted by number.
//!
//! S3 makes an object visible only when its PutObject or CompleteMultipartUpload
//! succeeds, with the complete contents: a multipart upload in progress is never
//! readable under its key. A part that fails makes every later `write` and `commit` of
//! that writer fail. Any error, [`BlobWriter::abort`], or dropping the writer without
//! committing aborts the multipart upload at once (AbortMultipartUpload; from `Drop`, by a
//! task spawned on the current Tokio runtime). What a crash leaves behind, the sweeper
//! removes with [`BlobStore::discard_pending`], and the bucket lifecycle rule below is
//! the backstop.
//!
//! # Which pending uploads are abandoned
//!
//! `discard_pending(before)` lists the multipart uploads under the prefix
//! (ListMultipartUploads) and aborts those that look abandoned:
//!
//! - never an upload of a writer of this process that is still open (committing,
//!   writing or waiting for its client): those are known by their upload id;
//! - another upload counts as active at its latest sign of life: the newest of its parts
//!   (ListParts, asked only of uploads initiated before `before`), else its initiation;
//!   an upload without parts also counts as active when a sweep of this process first
//!   saw it, since some stores date every upload wrongly (moto reports 2010) and another
//!   instance's first part may still be on its way;
//! - an upload active before `before` is aborted (AbortMultipartUpload).
//!
//! The sweeper passes `now - --orphan-grace`. Another instance's upload in progress is
//! therefore safe as long as it completes a part at least once per grace period: keep
//! the grace above the longest time one part (`--s3-part-size`) can take to arrive from
//! the slowest client and reach the store, and to be sure above the longest upload.
//!
//! # Timeouts
//!
//! Every request attempt (connecting, sending the request and its body, waiting for the
//! answer's headers) fails after `--s3-timeout` (connecting after at most 5 s), and a
//! download whose object body yields nothing for that long ends with an
//! [`std::io::ErrorKind::TimedOut`] error. The SDK makes at most [`MAX_ATTEMPTS`]
//! attempts of a request (standard retry mode, set here whatever the AWS environment
//! says), sleeping up to 1 s and then up to 2 s (jittered exponential backoff) between
//! them. A stalled or vanished store therefore fails any one request within
//! `3 × --s3-timeout + 3 s` (99 s with the default 30 s), answered
//! `503 unavailable`; a download whose body stalls after it started is cut within one
//! timeout (its client sees a truncated body, never a hang).
//!
//! # Memory bound
//!
//! One upload holds at most `part_size × (parts_in_flight + 1)` bytes: one buffer being
//! filled plus the bodies of the parts in flight, whatever the size of the file. With the
//! defaults (8 MiB parts, 2 in flight) that is 24 MiB per upload. Blobs below one part
//! grow their buffer as they go, so a small file costs little. Downloads stream the
//! GetObject body chunk by chunk, as the client reads it.
//!
//! # No conditional writes
//!
//! Nothing here depends on `If-None-Match`/`If-Match`: several S3-compatible stores
//! (garage among them) ignore them, and moto does not apply them atomically. Keys are
//! unique (a random id per upload), so a commit never has to guard against a concurrent
//! writer of the same key, and every counter, lock and compare-and-swap lives in the
//! metadata store. A file is visible only once its metadata row exists, which is written
//! after the commit here succeeded.
//!
//! # Key convention and a lifecycle rule as a backstop
//!
//! Keys keep Send's `<days>-<id>` convention: the number of days the file may live, a
//! dash, then its id (`7-0123456789abcdef`). A bucket lifecycle rule per prefix can
//! therefore delete whatever the sweeper missed, and abort incomplete multipart uploads,
//! for example (`aws s3api put-bucket-lifecycle-configuration --bucket BUCKET
//! --lifecycle-configuration file://lifecycle.json`, with `<prefix>` prepended to each
//! `Prefix` when one is configured):
//!
//! ```json
//! {
//!   "Rules": [
//!     { "ID": "expire-1-day-files", "Status": "Enabled",
//!       "Filter": { "Prefix": "1-" }, "Expiration": { "Days": 2 } },
//!     { "ID": "expire-7-day-files", "Status": "Enabled",
//!       "Filter": { "Prefix": "7-" }, "Expiration": { "Days": 8 } },
//!     { "ID": "abort-incomplete-uploads", "Status": "Enabled",
//!       "Filter": { "Prefix": "" },
//!       "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 } }
//!   ]
//! }
//! ```
//!
//! One rule per allowed expiry (`1-`, `7-`, `30-`, …), each one day longer than the
//! expiry itself so the rule never races the server.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, ProvideCredentials as _, Region, RequestChecksumCalculation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::paginator::ListObjectsV2Paginator;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;
use tokio::task::JoinSet;

use super::{
    BlobReader, BlobResult, BlobStore, BlobWriter, ListedBlob, own_key_days, own_key_deadline,
    range_len,
};

mod moto_compat;
pub mod setup;

use crate::config::S3Config;
use moto_compat::PartsPage;

/// Smallest part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: usize = 5 << 30;
/// Most parts of one multipart upload.
const MAX_PARTS: i32 = 10_000;
/// Name of the writability probe under the prefix (followed by a uuid).
const PROBE_PREFIX: &str = ".probe-";
/// Object metadata sealdrop sets on every blob, and on the marker of every multipart
/// upload: the blob's key (`x-amz-meta-sealdrop-id`). See the module's "What is ours".
const MARK: &str = "sealdrop-id";
/// Name of the marker object of a multipart upload in progress (followed by the key).
const UPLOADING_PREFIX: &str = ".uploading-";
/// Most keys of one DeleteObjects request (S3's own limit).
const DELETE_BATCH: usize = 1000;
/// Default region when neither the configuration nor the environment has one.
const DEFAULT_REGION: &str = "us-east-1";
/// How long `ping` may take before the endpoint counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout of every request (or `--s3-timeout`, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts the SDK makes of one request, the first included (its standard retry mode).
pub const MAX_ATTEMPTS: u32 = 3;
/// Smallest buffer a small upload starts with.
const MIN_BUFFER: usize = 64 * 1024;

/// Blobs as objects in an S3 bucket. See the [module docs](self).
#[derive(Clone)]
pub struct S3Store {
    shared: Arc<Shared>,
}

/// What the store and its writers share.
struct Shared {
    client: Client,
    bucket: String,
    prefix: String,
    /// The endpoint for messages: without user info or query, or "AWS S3 (REGION)".
    endpoint_label: String,
    part_size: usize,
    parts_in_flight: usize,
    /// Longest wait for the next bytes of an object being downloaded.
    timeout: Duration,
    /// Writers of this process that have not committed or aborted yet.
    pending: Mutex<HashMap<u64, Arc<PendingState>>>,
    next_pending: AtomicU64,
    /// When `discard_pending` first saw each other upload that had no parts yet, by upload
    /// id (only uploads still listed are kept).
    first_seen: Mutex<HashMap<String, SystemTime>>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("S3Store")
            .field("bucket", &s.bucket)
            .field("prefix", &s.prefix)
            .field("endpoint", &s.endpoint_label)
            .field("part_size", &s.part_size)
            .field("parts_in_flight", &s.parts_in_flight)
            .finish_non_exhaustive()
    }
}

/// A writer's pending state as `discard_pending` sees it.
#[derive(Debug, Default)]
struct PendingState {
    /// The id of the writer's multipart upload, once it has one: never discarded.
    upload_id: Mutex<Option<String>>,
}

impl S3Store {
    /// Connects with the credentials of the configuration's files
    /// (`--s3-access-key-id-file`, `--s3-secret-access-key-file`), else from the standard
    /// AWS chain (environment, profile, …), the region as [`sdk_client`] finds it, then
    /// checks that the bucket is reachable and writable ([`BlobStore::ping`]).
    ///
    /// Fails with one sentence naming the bucket, the cause (unreachable endpoint, no
    /// such bucket, access denied, no credentials…) and the option to check; the SDK's
    /// details follow in the error chain (`{:#}`), without secrets.
    pub async fn connect(config: &S3Config) -> anyhow::Result<Self> {
        let (client, endpoint_label) = sdk_client(config).await?;
        Self::finish(config, client, endpoint_label).await
    }

    /// Like [`S3Store::connect`], with static credentials and without reading the
    /// environment at all (tests run in parallel and must not share process state).
    pub async fn connect_with_credentials(
        config: &S3Config,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<Self> {
        validate_config(config)?;
        let region = config
            .region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint_label = endpoint_label(config, &region);
        let builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "sealdrop-static",
            ));
        Self::finish(config, configured_client(config, builder), endpoint_label).await
    }

    /// Makes the store on `client`, then checks the bucket: a failure's sentence ends with
    /// what to check.
    async fn finish(
        config: &S3Config,
        client: Client,
        endpoint_label: String,
    ) -> anyhow::Result<Self> {
        let store = Self::unchecked(config, client, endpoint_label);
        if let Err(failure) = store.check().await {
            let sentence = format!(
                "{}: {}",
                store.check_sentence(&failure),
                failure.cause.hint(config)
            );
            return Err(anyhow::anyhow!("{}", failure.details).context(sentence));
        }
        Ok(store)
    }

    /// The store on `client`, without a ping.
    fn unchecked(config: &S3Config, client: Client, endpoint_label: String) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                bucket: config.bucket.clone(),
                prefix: config.prefix.clone(),
                endpoint_label,
                part_size: config.part_size,
                parts_in_flight: config.parts_in_flight,
                timeout: config.timeout,
                pending: Mutex::new(HashMap::new()),
                next_pending: AtomicU64::new(0),
                first_seen: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// The key prefix inside the bucket (empty, or ending in `/`).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The SDK client (tests inspect the bucket with it).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The object key of the blob `key`, after validating the key.
    /// `GetObject` of the blob `key`, or of its bytes `range`: `None` if there is none.
    async fn get(
        &self,
        key: &str,
        range: Option<&RangeInclusive<u64>>,
    ) -> BlobResult<Option<BlobReader>> {
        let object_key = self.object_key(key)?;
        let s = &self.shared;
        let out = match s
            .client
            .get_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .set_range(range.map(sealdrop_protocol::range::request_header))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e, "NoSuchKey") => return Ok(None),
            Err(e) => return Err(sdk_error(&e, format_args!("opening blob {key}"))),
        };
        let len = out
            .content_length()
            .and_then(|len| u64::try_from(len).ok())
            .with_context(|| format!("opening blob {key}: no content length"))?;
        // A store that stops sending mid-object ends the download, never hangs it.
        let idle = s.timeout;
        let stream = futures_util::stream::unfold(Some(out.body), move |body| async move {
            let mut body = body?;
            match tokio::time::timeout(idle, body.next()).await {
                Ok(chunk) => chunk.map(|chunk| (chunk.map_err(std::io::Error::other), Some(body))),
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the S3 store sent nothing for {idle:?}"),
                    )),
                    None,
                )),
            }
        });
        Ok(Some(BlobReader {
            len,
            stream: Box::pin(stream),
        }))
    }

    fn object_key(&self, key: &str) -> BlobResult<String> {
        crate::storage::validate_key(key)?;
        Ok(format!("{}{key}", self.shared.prefix))
    }

    /// The marker object of the multipart upload of the blob `key`.
    fn uploading_key(&self, key: &str) -> String {
        format!("{}{UPLOADING_PREFIX}{key}", self.shared.prefix)
    }

    /// Whether the object `object_key` exists and carries sealdrop's mark for `key`.
    async fn has_mark(&self, object_key: &str, key: &str) -> BlobResult<bool> {
        let s = &self.shared;
        match s
            .client
            .head_object()
            .bucket(&s.bucket)
            .key(object_key)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .metadata()
                .and_then(|m| m.get(MARK))
                .is_some_and(|mark| mark == key)),
            Err(e) if is_missing(&e, "NotFound") => Ok(false),
            Err(e) => Err(sdk_error(&e, format_args!("reading object {object_key}"))),
        }
    }

    /// Deletes the markers older than `before` whose upload is over (a crash or a failed
    /// delete between the upload's end and its marker's): those named for a key in
    /// sealdrop's shape that has no upload listed in `uploading`, and that carry the mark.
    async fn discard_stray_markers(
        &self,
        before: SystemTime,
        uploading: &HashSet<String>,
    ) -> BlobResult<()> {
        let s = &self.shared;
        let marker_prefix = format!("{}{UPLOADING_PREFIX}", s.prefix);
        let mut pages = self.list(&marker_prefix, None).send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error(&e, format_args!("listing bucket {}", s.bucket)))?;
            for object in page.contents() {
                let Some(marker) = object.key() else {
                    continue;
                };
                let Some(key) = marker
                    .strip_prefix(marker_prefix.as_str())
                    .filter(|key| own_key_days(key).is_some() && !uploading.contains(*key))
                else {
                    continue;
                };
                let old = object
                    .last_modified()
                    .and_then(system_time)
                    .is_some_and(|t| t < before);
                if !old {
                    continue;
                }
                match self.has_mark(marker, key).await {
                    Ok(true) => delete_marker(&s.client, &s.bucket, marker).await,
                    Ok(false) => {}
                    // One unreadable object must not stop the sweep of the others.
                    Err(e) => tracing::warn!(
                        marker = %marker,
                        error = %format!("{e:#}"),
                        "cannot read an object named like a marker: left alone"
                    ),
                }
            }
        }
        Ok(())
    }

    /// The pages of the objects under `prefix`, in key order, from the first after
    /// `start_after` (a whole object key).
    fn list(&self, prefix: &str, start_after: Option<String>) -> ListObjectsV2Paginator {
        let s = &self.shared;
        s.client
            .list_objects_v2()
            .bucket(&s.bucket)
            .prefix(prefix)
            .set_start_after(start_after)
            .into_paginator()
    }

    /// One DeleteObjects request for up to [`DELETE_BATCH`] blobs. An invalid key fails
    /// alone; a store that refuses DeleteObjects as such (some want Content-MD5, some lack
    /// it) gets one DeleteObject per key instead; an error S3 names no valid key for
    /// fails the whole batch, so no blob counts as deleted unless S3 said so.
    async fn delete_batch(&self, keys: &[String]) -> Vec<BlobResult<()>> {
        let s = &self.shared;
        let mut results: Vec<Option<BlobResult<()>>> = Vec::with_capacity(keys.len());
        let mut objects = Vec::with_capacity(keys.len());
        for key in keys {
            let object = self.object_key(key).and_then(|object_key| {
                ObjectIdentifier::builder()
                    .key(object_key)
                    .build()
                    .map_err(anyhow::Error::from)
            });
            match object {
                Ok(object) => {
                    objects.push(object);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e.context(format!("deleting blob {key}"))))),
            }
        }
        // Every key without a result yet: done, or failed for `why`.
        let finish =
            |results: Vec<Option<BlobResult<()>>>, why: Option<&str>| -> Vec<BlobResult<()>> {
                keys.iter()
                    .zip(results)
                    .map(|(key, result)| {
                        result.unwrap_or_else(|| match why {
                            None => Ok(()),
                            Some(why) => Err(anyhow::anyhow!("deleting blob {key}: {why}")),
                        })
                    })
                    .collect()
            };
        if objects.is_empty() {
            return finish(results, None);
        }
        let request = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| e.to_string());
        let out = match request {
            Ok(delete) => {
                s.client
                    .delete_objects()
                    .bucket(&s.bucket)
                    .delete(delete)
                    .send()
                    .await
            }
            Err(e) => return finish(results, Some(&e)),
        };
        let out = match out {
            Ok(out) => out,
            // The store refuses the request as such, not the keys: one request a key.
            Err(e) if refuses_delete_objects(&e) => {
                tracing::debug!(
                    error = %DisplayErrorContext(&e),
                    "the S3 store refuses DeleteObjects: deleting one object at a time"
                );
                for (key, result) in keys.iter().zip(results.iter_mut()) {
                    if result.is_none() {
                        *result = Some(self.delete(key).await);
                    }
                }
                return finish(results, None);
            }
            Err(e) => {
                let e = sdk_error(&e, format_args!("deleting {} blobs", keys.len()));
                return finish(results, Some(&format!("{e:#}")));
            }
        };
        let mut failed: HashMap<&str, String> = HashMap::new();
        for error in out.errors() {
            // A missing blob is deleted already.
            if error.code() == Some("NoSuchKey") {
                continue;
            }
            let why = format!(
                "{}: {}",
                error.code().unwrap_or("error"),
                error.message().unwrap_or("no message")
            );
            let Some(key) = error
                .key()
                .and_then(|k| k.strip_prefix(s.prefix.as_str()))
                .filter(|k| keys.iter().any(|key| key == k))
            else {
                // An error for no key we sent: trust none of the batch.
                return finish(results, Some(&why));
            };
            failed.insert(key, why);
        }
        keys.iter()
            .zip(results)
            .map(|(key, result)| match (result, failed.get(key.as_str())) {
                (Some(result), _) => result,
                (None, None) => Ok(()),
                (None, Some(why)) => Err(anyhow::anyhow!("deleting blob {key}: {why}")),
            })
            .collect()
    }

    /// The one sentence for a failed check (without what to check).
    fn check_sentence(&self, failure: &CheckFailure) -> String {
        format!(
            "cannot use S3 bucket {:?} at {}: {}",
            self.shared.bucket,
            self.shared.endpoint_label,
            failure.cause.describe(failure.step)
        )
    }

    /// A failed check as an error: the sentence, with the SDK's details in the chain.
    fn check_failed(&self, failure: &CheckFailure) -> anyhow::Error {
        anyhow::anyhow!("{}", failure.details).context(self.check_sentence(failure))
    }

    /// Checks that the bucket is reachable and writable, within [`PING_TIMEOUT`].
    async fn check(&self) -> Result<(), CheckFailure> {
        match tokio::time::timeout(PING_TIMEOUT, self.check_inner()).await {
            Ok(result) => result,
            Err(_) => Err(CheckFailure {
                step: "reading the bucket",
                cause: Cause::Unreachable,
                details: format!("no answer within {} s", PING_TIMEOUT.as_secs()),
            }),
        }
    }

    async fn check_inner(&self) -> Result<(), CheckFailure> {
        let s = &self.shared;
        s.client
            .head_bucket()
            .bucket(&s.bucket)
            .send()
            .await
            .map_err(|e| CheckFailure::new("reading the bucket", &e))?;
        let probe = format!(
            "{}{PROBE_PREFIX}{}",
            s.prefix,
            uuid::Uuid::new_v4().simple()
        );
        s.client
            .put_object()
            .bucket(&s.bucket)
            .key(&probe)
            .body(ByteStream::from_static(b"ping"))
            .send()
            .await
            .map_err(|e| CheckFailure::new("writing a probe object", &e))?;
        s.client
            .delete_object()
            .bucket(&s.bucket)
            .key(&probe)
            .send()
            .await
            .map_err(|e| CheckFailure::new("deleting the probe object", &e))?;
        Ok(())
    }

    /// Registers a new pending writer.
    fn register(&self) -> PendingGuard {
        let id = self.shared.next_pending.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(PendingState::default());
        lock(&self.shared.pending).insert(id, Arc::clone(&state));
        PendingGuard {
            shared: Arc::clone(&self.shared),
            id,
            state,
        }
    }

    /// Whether `upload_id` is the multipart upload of an open writer of this process.
    fn is_writing(&self, upload_id: &str) -> bool {
        lock(&self.shared.pending)
            .values()
            .any(|state| lock(&state.upload_id).as_deref() == Some(upload_id))
    }

    /// The latest sign of life of a multipart upload: when its newest part arrived.
    async fn newest_part(&self, object_key: &str, upload_id: &str) -> BlobResult<Activity> {
        let s = &self.shared;
        let mut newest: Option<SystemTime> = None;
        let mut marker: Option<String> = None;
        loop {
            let page = match s
                .client
                .list_parts()
                .bucket(&s.bucket)
                .key(object_key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
            {
                Ok(out) => PartsPage {
                    times: out
                        .parts()
                        .iter()
                        .filter_map(|p| p.last_modified().and_then(system_time))
                        .collect(),
                    next: out
                        .next_part_number_marker()
                        .filter(|_| out.is_truncated() == Some(true))
                        .map(ToOwned::to_owned),
                },
                Err(e) if is_missing(&e, "NoSuchUpload") => return Ok(Activity::Gone),
                Err(e) => match moto_compat::misnamed_list_parts(&e) {
                    Some(page) => page,
                    None => {
                        return Err(sdk_error(
                            &e,
                            format_args!(
                                "listing the parts of the multipart upload of {object_key}"
                            ),
                        ));
                    }
                },
            };
            if let Some(at) = page.times.into_iter().max() {
                newest = Some(newest.map_or(at, |n| n.max(at)));
            }
            match page.next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        Ok(newest.map_or(Activity::NoParts, Activity::LastPart))
    }
}

/// What [`S3Store::newest_part`] found.
enum Activity {
    /// The upload is gone (completed or aborted meanwhile).
    Gone,
    /// No part has arrived yet.
    NoParts,
    /// When the newest part arrived.
    LastPart(SystemTime),
}

/// The SDK client of `config` and the endpoint's label for messages, without sending
/// anything yet: credentials from the configuration's files, else from the standard AWS
/// chain (checked to resolve, so that "no credentials" is said plainly).
///
/// The region is the configuration's, else `AWS_REGION` or `AWS_DEFAULT_REGION`, else the
/// AWS profile's, else `us-east-1`; with no endpoint configured (AWS itself) it is also
/// asked of the EC2 instance metadata service before `us-east-1`. With an endpoint (MinIO,
/// garage, …) that service is never asked: off EC2, the SDK's default chain would wait
/// for it for over a second at every start and log a warning.
pub async fn sdk_client(config: &S3Config) -> anyhow::Result<(Client, String)> {
    validate_config(config)?;
    let configured = RegionProviderChain::first_try(config.region.clone().map(Region::new));
    let region = if config.endpoint.is_some() {
        configured
            .or_else(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
    } else {
        configured.or_default_provider()
    }
    .or_else(Region::from_static(DEFAULT_REGION));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
    if let Some(files) = &config.credentials {
        loader = loader.credentials_provider(Credentials::new(
            &files.access_key_id,
            &files.secret_access_key,
            None,
            None,
            "sealdrop-credential-files",
        ));
    }
    let sdk = loader.load().await;
    let region = sdk
        .region()
        .map_or_else(|| DEFAULT_REGION.to_owned(), ToString::to_string);
    let endpoint_label = endpoint_label(config, &region);
    let sentence = |cause: &str| {
        format!(
            "cannot use S3 bucket {:?} at {endpoint_label}: {cause}",
            config.bucket
        )
    };
    // Resolve the credentials first: "no credentials" is clearer than what a request
    // without them would answer.
    let Some(provider) = sdk.credentials_provider() else {
        anyhow::bail!(sentence(&format!("no credentials: {CREDENTIALS_HINT}")));
    };
    if let Err(e) = provider.provide_credentials().await {
        return Err(
            anyhow::anyhow!("{}", DisplayErrorContext(&e)).context(sentence(&format!(
                "no usable credentials: {CREDENTIALS_HINT}"
            ))),
        );
    }
    let builder = aws_sdk_s3::config::Builder::from(&sdk);
    Ok((configured_client(config, builder), endpoint_label))
}

/// What to do without credentials (`AWS_PROFILE` works too; the README says so, the
/// sentence stays short).
const CREDENTIALS_HINT: &str = "set --s3-access-key-id-file and --s3-secret-access-key-file, \
    or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/// The client of `builder` with the settings every connection shares.
fn configured_client(config: &S3Config, builder: aws_sdk_s3::config::Builder) -> Client {
    let mut builder = builder
        .force_path_style(config.path_style)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(config.timeout))
                .read_timeout(config.timeout)
                .operation_attempt_timeout(config.timeout)
                .build(),
        )
        // At most MAX_ATTEMPTS attempts of a request, whatever AWS_MAX_ATTEMPTS or a
        // profile say: the module docs promise the bound.
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        // No default CRC checksums on uploads: not every S3-compatible store takes
        // them, and the payload is signed (and the ciphertext authenticated) anyway.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Client::from_conf(builder.build())
}

/// Locks the registry; a panic elsewhere cannot leave it inconsistent (plain inserts and
/// removals), so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks the numbers S3 imposes (the configuration checks them too).
fn validate_config(config: &S3Config) -> anyhow::Result<()> {
    if config.bucket.is_empty() {
        anyhow::bail!("the S3 bucket name is empty");
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&config.part_size) {
        anyhow::bail!(
            "the S3 part size must be between 5 MiB and 5 GiB, not {} bytes",
            config.part_size
        );
    }
    if config.parts_in_flight == 0 {
        anyhow::bail!("at least one S3 part must be allowed in flight");
    }
    if !config.prefix.is_empty() && !config.prefix.ends_with('/') {
        anyhow::bail!("the S3 key prefix must be empty or end with '/'");
    }
    Ok(())
}

/// The endpoint for messages: the configured URL without user info or query, or AWS.
fn endpoint_label(config: &S3Config, region: &str) -> String {
    let Some(endpoint) = &config.endpoint else {
        return format!("AWS S3 ({region})");
    };
    let endpoint = endpoint
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        None => endpoint
            .rsplit_once('@')
            .map_or(endpoint, |(_, h)| h)
            .to_owned(),
    }
}

/// What went wrong, as an operator needs to know it.
#[derive(Debug, PartialEq, Eq)]
enum Cause {
    Unreachable,
    NoSuchBucket,
    AccessDenied,
    WrongRegion,
    Other(String),
}

impl Cause {
    /// What went wrong while `step` ("reading the bucket"), for a sentence.
    fn describe(&self, step: &str) -> String {
        match self {
            Self::Unreachable => "the endpoint is unreachable".to_owned(),
            Self::NoSuchBucket => "no such bucket".to_owned(),
            Self::AccessDenied => format!("access denied while {step}"),
            Self::WrongRegion => "the bucket is in another region".to_owned(),
            Self::Other(what) => format!("unexpected answer while {step} ({what})"),
        }
    }

    /// What to check, naming the options, when the store cannot be used at all.
    fn hint(&self, config: &S3Config) -> &'static str {
        let custom = config.endpoint.is_some();
        match self {
            Self::Unreachable if custom => "check --s3-endpoint",
            Self::Unreachable => {
                "check the network, or set --s3-endpoint for a store other than AWS"
            }
            Self::NoSuchBucket => {
                "check --storage, or create it with `sealdrop-server admin s3-setup`"
            }
            Self::AccessDenied => {
                "check the credentials (--s3-access-key-id-file, AWS_ACCESS_KEY_ID, …) and the \
                 bucket's permissions"
            }
            Self::WrongRegion => "check --s3-region",
            Self::Other(_) if custom => "check --s3-endpoint and --storage",
            Self::Other(_) => "check --storage and --s3-region",
        }
    }
}

/// A failed check of the bucket: the step, the cause, and the SDK's details.
#[derive(Debug)]
struct CheckFailure {
    step: &'static str,
    cause: Cause,
    details: String,
}

impl CheckFailure {
    fn new<E>(step: &'static str, e: &SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self {
            step,
            cause: classify(e),
            details: DisplayErrorContext(e).to_string(),
        }
    }
}

fn classify<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Cause {
    match e {
        // Connection refused or reset, DNS, TLS, timeouts.
        SdkError::DispatchFailure(d) if d.as_connector_error().is_some() && !d.is_user() => {
            return Cause::Unreachable;
        }
        SdkError::TimeoutError(_) => return Cause::Unreachable,
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {}
        // Not sent: credentials, request construction.
        _ => return Cause::Other("request not sent".to_owned()),
    }
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), status) {
        (Some("NoSuchBucket"), _) => Cause::NoSuchBucket,
        (
            Some(
                "AccessDenied"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AllAccessDisabled"
                | "InvalidToken"
                | "ExpiredToken",
            ),
            _,
        )
        | (_, Some(401 | 403)) => Cause::AccessDenied,
        (
            Some(
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException",
            ),
            _,
        )
        | (_, Some(301)) => Cause::WrongRegion,
        (_, Some(404)) => Cause::NoSuchBucket,
        (code, status) => Cause::Other(match (code, status) {
            (Some(code), Some(status)) => format!("HTTP {status} {code}"),
            (Some(code), None) => code.to_owned(),
            (None, Some(status)) => format!("HTTP {status}"),
            (None, None) => "no response".to_owned(),
        }),
    }
}

/// Whether an error says the object (or upload) is not there, as opposed to the bucket.
fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E>, missing_code: &str) -> bool {
    let code = e.code();
    code == Some(missing_code)
        || (code != Some("NoSuchBucket")
            && e.raw_response().map(|r| r.status().as_u16()) == Some(404))
}

/// Whether a DeleteObjects request was refused as such (a store that wants Content-MD5
/// or lacks the operation), rather than failing for a reason one request a key would
/// share (unreachable, access denied).
fn refuses_delete_objects<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    matches!(
        e.code(),
        Some("MissingContentMD5" | "InvalidDigest" | "InvalidRequest" | "NotImplemented")
    ) || matches!(status, Some(400 | 405 | 501))
}

/// An SDK error as a log-worthy error with context.
fn sdk_error<E>(e: &SdkError<E>, what: impl fmt::Display) -> anyhow::Error
where
    E: std::error::Error + 'static,
{
    anyhow::anyhow!("{what}: {}", DisplayErrorContext(e))
}

/// Converts an S3 timestamp.
fn system_time(t: &aws_sdk_s3::primitives::DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

#[async_trait]
impl BlobStore for S3Store {
    async fn begin(&self, key: &str) -> BlobResult<Box<dyn BlobWriter>> {
        let object_key = self.object_key(key)?;
        Ok(Box::new(S3Writer {
            shared: Arc::clone(&self.shared),
            key: key.to_owned(),
            object_key,
            uploading_key: self.uploading_key(key),
            buf: Vec::new(),
            spare: Vec::new(),
            len: 0,
            upload: None,
            failed: false,
            finished: false,
            guard: self.register(),
        }))
    }

    async fn open(&self, key: &str) -> BlobResult<Option<BlobReader>> {
        self.get(key, None).await
    }

    async fn open_range(
        &self,
        key: &str,
        range: RangeInclusive<u64>,
    ) -> BlobResult<Option<BlobReader>> {
        let part = range_len(&range)?;
        let Some(reader) = self.get(key, Some(&range)).await? else {
            return Ok(None);
        };
        // S3 answers a range that runs past the object with the bytes it has (and one
        // that starts past it with an error); more than the range would be a store that
        // ignored it.
        if reader.len > part {
            anyhow::bail!(
                "blob {key}: the store sent {} bytes for the range {range:?}",
                reader.len
            );
        }
        Ok(Some(reader))
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let object_key = self.object_key(key)?;
        let s = &self.shared;
        match s
            .client
            .delete_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e, "NoSuchKey") => Ok(()),
            Err(e) => Err(sdk_error(&e, format_args!("deleting blob {key}"))),
        }
    }

    /// DeleteObjects, up to 1,000 keys a request (quiet: S3 answers only the failures).
    async fn delete_many(&self, keys: &[String]) -> Vec<BlobResult<()>> {
        let mut results = Vec::with_capacity(keys.len());
        for batch in keys.chunks(DELETE_BATCH) {
            results.extend(self.delete_batch(batch).await);
        }
        results
    }

    async fn is_own(&self, key: &str) -> BlobResult<bool> {
        let object_key = self.object_key(key)?;
        self.has_mark(&object_key, key).await
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
        let s = &self.shared;
        let mut pages = self
            .list(&s.prefix, after.map(|key| format!("{}{key}", s.prefix)))
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error(&e, format_args!("listing bucket {}", s.bucket)))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(s.prefix.as_str())) else {
                    continue;
                };
                // The probe, markers, nested "directories", anything not named exactly as
                // sealdrop names blobs.
                if own_key_days(key).is_none() {
                    continue;
                }
                let Some(modified) = object.last_modified().and_then(system_time) else {
                    continue;
                };
                if own_key_deadline(key, modified).is_some_and(|deadline| deadline < at) {
                    found.push(ListedBlob {
                        key: key.to_owned(),
                        modified,
                    });
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn discard_pending(&self, before: SystemTime) -> BlobResult<usize> {
        let s = &self.shared;
        let now = SystemTime::now();
        let mut listed = HashSet::new();
        // Keys with an upload listed, whatever became of it: their markers stay.
        let mut uploading = HashSet::new();
        let complete;
        let mut discarded = 0;
        let mut key_marker: Option<String> = None;
        let mut upload_id_marker: Option<String> = None;
        loop {
            let out = s
                .client
                .list_multipart_uploads()
                .bucket(&s.bucket)
                .prefix(&s.prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_id_marker.take())
                .send()
                .await
                .map_err(|e| {
                    sdk_error(
                        &e,
                        format_args!("listing multipart uploads of bucket {}", s.bucket),
                    )
                })?;
            for upload in out.uploads() {
                let (Some(object_key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let Some(key) = object_key
                    .strip_prefix(s.prefix.as_str())
                    .filter(|key| own_key_days(key).is_some())
                else {
                    continue;
                };
                uploading.insert(key.to_owned());
                listed.insert(upload_id.to_owned());
                let initiated = upload.initiated().and_then(system_time);
                if self.is_writing(upload_id) || initiated.is_some_and(|t| t >= before) {
                    continue;
                }
                let active = match self.newest_part(object_key, upload_id).await {
                    Ok(Activity::Gone) => {
                        listed.remove(upload_id);
                        continue;
                    }
                    Ok(Activity::LastPart(at)) => initiated.map_or(at, |i| i.max(at)),
                    Ok(Activity::NoParts) => {
                        let seen = *lock(&s.first_seen)
                            .entry(upload_id.to_owned())
                            .or_insert(now);
                        initiated.map_or(seen, |i| i.max(seen))
                    }
                    Err(e) => {
                        tracing::warn!(key = %object_key, error = %format!("{e:#}"), "cannot list the parts of a multipart upload");
                        continue;
                    }
                };
                // Checked again: a writer of this process may have started it meanwhile.
                if active >= before || self.is_writing(upload_id) {
                    continue;
                }
                // Named like ours is not enough: sealdrop's uploads have their marker.
                let marker = self.uploading_key(key);
                match self.has_mark(&marker, key).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(key = %object_key, "an abandoned multipart upload without sealdrop's marker is not ours: left alone");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(key = %object_key, error = %format!("{e:#}"), "cannot read the marker of a multipart upload");
                        continue;
                    }
                }
                match abort_upload(&s.client, &s.bucket, object_key, upload_id).await {
                    Ok(true) => {
                        discarded += 1;
                        listed.remove(upload_id);
                        delete_marker(&s.client, &s.bucket, &marker).await;
                    }
                    // Completed or aborted meanwhile.
                    Ok(false) => {
                        listed.remove(upload_id);
                    }
                    // One stubborn upload must not stop the sweep of the others.
                    Err(e) => {
                        tracing::warn!(key = %object_key, error = %format!("{e:#}"), "cannot abort multipart upload");
                    }
                }
            }
            let next = (
                out.next_key_marker().map(ToOwned::to_owned),
                out.next_upload_id_marker().map(ToOwned::to_owned),
            );
            let truncated = out.is_truncated() == Some(true);
            match next {
                (Some(key), upload_id) if truncated => {
                    key_marker = Some(key);
                    upload_id_marker = upload_id;
                }
                _ => {
                    // Only a listing seen to its end tells which markers lost their upload.
                    complete = !truncated;
                    break;
                }
            }
        }
        lock(&s.first_seen).retain(|id, _| listed.contains(id));
        if complete {
            self.discard_stray_markers(before, &uploading).await?;
        }
        Ok(discarded)
    }

    /// HeadBucket only: no probe object is written on every load-balancer check.
    async fn health(&self) -> BlobResult<()> {
        let s = &self.shared;
        let head = s.client.head_bucket().bucket(&s.bucket).send();
        match tokio::time::timeout(PING_TIMEOUT, head).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.check_failed(&CheckFailure::new("reading the bucket", &e))),
            Err(_) => Err(anyhow::anyhow!(
                "S3 bucket {:?} at {}: no answer within {} s",
                s.bucket,
                s.endpoint_label,
                PING_TIMEOUT.as_secs()
            )),
        }
    }

    async fn ping(&self) -> BlobResult<()> {
        self.check()
            .await
            .map_err(|failure| self.check_failed(&failure))
    }
}

/// Aborts a multipart upload; `Ok(false)` if it was not there (any more).
async fn abort_upload(
    client: &Client,
    bucket: &str,
    object_key: &str,
    upload_id: &str,
) -> BlobResult<bool> {
    match client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(object_key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_missing(&e, "NoSuchUpload") => Ok(false),
        Err(e) => Err(sdk_error(
            &e,
            format_args!("aborting the multipart upload of {object_key}"),
        )),
    }
}

/// Aborts the multipart upload of a writer that will not commit, then deletes its marker;
/// a failure leaves both to the sweeper.
async fn abort_writers_upload(
    client: &Client,
    bucket: &str,
    object_key: &str,
    upload_id: &str,
    uploading_key: &str,
) {
    match abort_upload(client, bucket, object_key, upload_id).await {
        Ok(_) => delete_marker(client, bucket, uploading_key).await,
        Err(e) => tracing::warn!(
            key = %object_key,
            error = %format!("{e:#}"),
            "cannot abort multipart upload; the sweeper will"
        ),
    }
}

/// Deletes the marker object of a multipart upload that is over; a failure leaves it to
/// the sweeper (`discard_pending` removes markers without an upload).
async fn delete_marker(client: &Client, bucket: &str, uploading_key: &str) {
    if let Err(e) = client
        .delete_object()
        .bucket(bucket)
        .key(uploading_key)
        .send()
        .await
    {
        tracing::warn!(
            marker = %uploading_key,
            error = %format!("{}", DisplayErrorContext(&e)),
            "cannot delete the marker of a finished multipart upload; the sweeper will"
        );
    }
}

/// Removes a writer from the registry when it goes.
struct PendingGuard {
    shared: Arc<Shared>,
    id: u64,
    state: Arc<PendingState>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.id);
    }
}

/// A multipart upload in progress.
struct Upload {
    id: String,
    /// Number of the next part (1-based).
    next_part: i32,
    /// Parts being uploaded, each holding its body, which comes back for reuse.
    in_flight: JoinSet<PartOutcome>,
    /// Parts uploaded.
    done: Vec<CompletedPart>,
}

/// A blob being written: a buffer, then a multipart upload. See the [module docs](self).
struct S3Writer {
    shared: Arc<Shared>,
    key: String,
    object_key: String,
    /// The marker object of its multipart upload, if it starts one.
    uploading_key: String,
    /// Bytes not yet handed to S3: at most `part_size`.
    buf: Vec<u8>,
    /// Part buffers back from finished part uploads, reused for the next parts: a large
    /// upload allocates its `parts_in_flight + 1` buffers once instead of one per part,
    /// which keeps the allocator from holding on to freed part-sized blocks.
    spare: Vec<Vec<u8>>,
    /// Bytes accepted so far.
    len: u64,
    /// The multipart upload, once the blob is larger than one part.
    upload: Option<Upload>,
    /// A write failed: the upload is gone and this writer must never commit.
    failed: bool,
    /// Committed or aborted: nothing left for `Drop` to clean up.
    finished: bool,
    guard: PendingGuard,
}

impl fmt::Debug for S3Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Writer")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("buffered", &self.buf.len())
            .field("upload", &self.upload.as_ref().map(|u| &u.id))
            .field("failed", &self.failed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl S3Writer {
    /// Fails unless the writer may still write or commit.
    fn check_usable(&self) -> BlobResult<()> {
        let key = &self.key;
        if self.failed {
            anyhow::bail!("blob {key}: the upload failed before");
        }
        if self.finished {
            anyhow::bail!("blob {key}: writer already closed");
        }
        Ok(())
    }

    /// Appends to the buffer, growing it geometrically up to one part.
    fn buffer(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let part_size = self.shared.part_size;
            if self.upload.is_some()
                && self.buf.is_empty()
                && let Some(mut spare) = self.spare.pop()
            {
                spare.clear();
                self.buf = spare;
            }
            let target = if self.upload.is_some() {
                // A large blob: every buffer will be full.
                part_size
            } else {
                needed
                    .max(self.buf.capacity() * 2)
                    .max(MIN_BUFFER)
                    .min(part_size)
            };
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    async fn write_inner(&mut self, chunk: &[u8]) -> BlobResult<()> {
        let part_size = self.shared.part_size;
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.buf.len() >= part_size {
                self.send_part().await?;
            }
            let take = rest.len().min(part_size - self.buf.len());
            let (head, tail) = rest.split_at(take);
            self.buffer(head);
            rest = tail;
        }
        // Surface a failed part as soon as it is known.
        if let Some(upload) = &mut self.upload {
            while let Some(result) = upload.in_flight.try_join_next() {
                upload
                    .done
                    .push(part_result(result, &self.key, &mut self.spare)?);
            }
        }
        Ok(())
    }

    /// Uploads the buffer as the next part, starting the multipart upload if needed and
    /// waiting for a free slot first.
    async fn send_part(&mut self) -> BlobResult<()> {
        if self.upload.is_none() {
            let s = &self.shared;
            // The marker first: an upload of sealdrop's never exists without it, so the
            // sweeper can tell it from anyone else's (module docs, "What is ours").
            s.client
                .put_object()
                .bucket(&s.bucket)
                .key(&self.uploading_key)
                .metadata(MARK, &self.key)
                .body(ByteStream::from_static(b""))
                .send()
                .await
                .map_err(|e| {
                    sdk_error(
                        &e,
                        format_args!("marking the multipart upload of blob {}", self.key),
                    )
                })?;
            let out = match s
                .client
                .create_multipart_upload()
                .bucket(&s.bucket)
                .key(&self.object_key)
                .metadata(MARK, &self.key)
                .send()
                .await
            {
                Ok(out) => out,
                // The marker stays: the store may have made the upload although the
                // answer was lost. A marker without an upload goes by the sweeper.
                Err(e) => {
                    return Err(sdk_error(
                        &e,
                        format_args!("starting the multipart upload of blob {}", self.key),
                    ));
                }
            };
            let id = out.upload_id().with_context(|| {
                format!(
                    "starting the multipart upload of blob {}: no upload id",
                    self.key
                )
            })?;
            *lock(&self.guard.state.upload_id) = Some(id.to_owned());
            self.upload = Some(Upload {
                id: id.to_owned(),
                next_part: 1,
                in_flight: JoinSet::new(),
                done: Vec::new(),
            });
        }
        let parts_in_flight = self.shared.parts_in_flight;
        let Some(upload) = &mut self.upload else {
            anyhow::bail!("blob {}: no multipart upload", self.key);
        };
        while upload.in_flight.len() >= parts_in_flight {
            if let Some(result) = upload.in_flight.join_next().await {
                upload
                    .done
                    .push(part_result(result, &self.key, &mut self.spare)?);
            }
        }
        let number = upload.next_part;
        if number > MAX_PARTS {
            anyhow::bail!(
                "blob {}: more than {MAX_PARTS} parts of {} bytes",
                self.key,
                self.shared.part_size
            );
        }
        upload.next_part += 1;
        let body = Bytes::from(std::mem::take(&mut self.buf));
        let keep = body.clone();
        let client = self.shared.client.clone();
        let bucket = self.shared.bucket.clone();
        let object_key = self.object_key.clone();
        let upload_id = upload.id.clone();
        let key = self.key.clone();
        upload.in_flight.spawn(async move {
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(object_key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&e, format_args!("uploading part {number} of blob {key}"))
                })?;
            let etag = out
                .e_tag()
                .with_context(|| format!("uploading part {number} of blob {key}: no ETag"))?;
            let part = CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build();
            // The SDK has dropped its copies of the body by now; if so, reuse the buffer.
            Ok((part, keep.try_into_mut().ok().map(Vec::from)))
        });
        Ok(())
    }

    async fn commit_inner(&mut self) -> BlobResult<u64> {
        self.check_usable()?;
        let s = Arc::clone(&self.shared);
        if self.upload.is_none() {
            let body = Bytes::from(std::mem::take(&mut self.buf));
            s.client
                .put_object()
                .bucket(&s.bucket)
                .key(&self.object_key)
                .metadata(MARK, &self.key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| sdk_error(&e, format_args!("writing blob {}", self.key)))?;
            return Ok(self.len);
        }
        // The buffer is never empty here (a part is only sent when more bytes follow),
        // but an empty last part would be refused.
        if !self.buf.is_empty() {
            self.send_part().await?;
        }
        let Some(upload) = &mut self.upload else {
            anyhow::bail!("blob {}: no multipart upload", self.key);
        };
        while let Some(result) = upload.in_flight.join_next().await {
            upload
                .done
                .push(part_result(result, &self.key, &mut self.spare)?);
        }
        let mut parts = std::mem::take(&mut upload.done);
        parts.sort_by_key(|p| p.part_number());
        s.client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.object_key)
            .upload_id(&upload.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(&e, format_args!("completing blob {}", self.key)))?;
        // Complete: nothing left to abort, and the marker has served.
        self.upload = None;
        delete_marker(&s.client, &s.bucket, &self.uploading_key).await;
        Ok(self.len)
    }

    /// Stops the parts in flight and aborts the multipart upload, if there is one.
    async fn discard_upload(&mut self) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        upload.in_flight.shutdown().await;
        let s = &self.shared;
        abort_writers_upload(
            &s.client,
            &s.bucket,
            &self.object_key,
            &upload.id,
            &self.uploading_key,
        )
        .await;
    }
}

/// A finished part task as a part, or the error that ends the upload.
/// A finished part upload: the part, and its buffer when it can be reused.
type PartOutcome = BlobResult<(CompletedPart, Option<Vec<u8>>)>;

fn part_result(
    result: Result<PartOutcome, tokio::task::JoinError>,
    key: &str,
    spare: &mut Vec<Vec<u8>>,
) -> BlobResult<CompletedPart> {
    let (part, buffer) =
        result.with_context(|| format!("blob {key}: part upload task failed"))??;
    spare.extend(buffer);
    Ok(part)
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> BlobResult<()> {
        self.check_usable()?;
        if let Err(e) = self.write_inner(&chunk).await {
            self.failed = true;
            self.buf = Vec::new();
            self.discard_upload().await;
            return Err(e);
        }
        self.len += chunk.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> BlobResult<u64> {
        match self.commit_inner().await {
            Ok(len) => {
                self.finished = true;
                Ok(len)
            }
            Err(e) => {
                self.failed = true;
                self.discard_upload().await;
                self.finished = true;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.discard_upload().await;
        self.finished = true;
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        let Upload {
            id, mut in_flight, ..
        } = upload;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Dropping the tasks cancels them; the sweeper aborts the upload.
            tracing::warn!(key = %self.key, "writer dropped outside a runtime; the sweeper will abort its upload");
            return;
        };
        let client = self.shared.client.clone();
        let bucket = self.shared.bucket.clone();
        let object_key = self.object_key.clone();
        let uploading_key = self.uploading_key.clone();
        runtime.spawn(async move {
            in_flight.shutdown().await;
            abort_writers_upload(&client, &bucket, &object_key, &id, &uploading_key).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures_util::StreamExt as _;
    use sealdrop_testkit::{Garage, Moto, S3Endpoint, wait};

    use super::*;

    const PART: usize = MIN_PART_SIZE;
    const HOUR: Duration = Duration::from_secs(3600);

    fn config(s3: &S3Endpoint, bucket: &str, prefix: &str) -> S3Config {
        S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: Some(s3.endpoint.clone()),
            region: Some(s3.region.clone()),
            path_style: true,
            part_size: PART,
            parts_in_flight: 2,
            timeout: std::time::Duration::from_secs(30),
            credentials: None,
        }
    }

    async fn connect(s3: &S3Endpoint, bucket: &str, prefix: &str) -> S3Store {
        S3Store::connect_with_credentials(
            &config(s3, bucket, prefix),
            &s3.access_key,
            &s3.secret_key,
        )
        .await
        .unwrap()
    }

    /// `len` bytes in which every 8-byte word holds its offset and the seed: misplaced,
    /// repeated or missing parts show.
    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len + 8);
        let mut word = 0u64;
        while bytes.len() < len {
            bytes.extend_from_slice(&(word ^ (seed << 40)).to_le_bytes());
            word += 1;
        }
        bytes.truncate(len);
        bytes
    }

    async fn get(store: &S3Store, key: &str) -> Option<Vec<u8>> {
        let reader = store.open(key).await.unwrap()?;
        let mut bytes = Vec::with_capacity(usize::try_from(reader.len).unwrap());
        let mut stream = reader.stream;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(reader.len, bytes.len() as u64, "announced length of {key}");
        Some(bytes)
    }

    async fn uploads(store: &S3Store) -> Vec<String> {
        let out = store
            .client()
            .list_multipart_uploads()
            .bucket(store.bucket())
            .send()
            .await
            .unwrap();
        out.uploads()
            .iter()
            .map(|u| u.key().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits until the bucket has no incomplete multipart upload (a dropped writer's task
    /// aborts it), as long as their number keeps going down.
    async fn wait_no_uploads(store: &S3Store, what: &str) {
        wait::for_progress_async(what, wait::Patience::GENEROUS, async || {
            uploads(store).await
        })
        .await;
    }

    /// Waits until the bucket has no marker object left (a dropped writer's task deletes
    /// it), as long as their number keeps going down.
    async fn wait_no_markers(store: &S3Store, what: &str) {
        wait::for_progress_async(what, wait::Patience::GENEROUS, async || {
            markers(store).await
        })
        .await;
    }

    async fn etag(store: &S3Store, key: &str) -> String {
        let out = store
            .client()
            .head_object()
            .bucket(store.bucket())
            .key(format!("{}{key}", store.prefix()))
            .send()
            .await
            .unwrap();
        out.e_tag().unwrap_or_default().trim_matches('"').to_owned()
    }

    /// A fresh key in the server's shape (`1-<16 hex>`).
    fn key() -> String {
        format!("1-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
    }

    /// Puts the marker sealdrop's writer puts before a multipart upload of `key`.
    async fn mark(store: &S3Store, key: &str) {
        store
            .client()
            .put_object()
            .bucket(store.bucket())
            .key(store.uploading_key(key))
            .metadata(MARK, key)
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .unwrap();
    }

    /// The marker objects in the bucket.
    async fn markers(store: &S3Store) -> Vec<String> {
        let out = store
            .client()
            .list_objects_v2()
            .bucket(store.bucket())
            .prefix(format!("{}{UPLOADING_PREFIX}", store.prefix()))
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(ToOwned::to_owned))
            .collect()
    }

    /// Round trips at the sizes around the part size, written in chunks that straddle
    /// part boundaries and in one chunk larger than several parts.
    async fn sizes_round_trip(store: &S3Store) {
        for (i, size) in [0, 1, PART - 1, PART, PART + 1, 3 * PART + 1]
            .into_iter()
            .enumerate()
        {
            let bytes = data(size, i as u64 + 1);
            for chunk in [(1 << 20) + 7, 4 * PART] {
                let key = key();
                let mut writer = store.begin(&key).await.unwrap();
                for piece in bytes.chunks(chunk) {
                    writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
                }
                assert_eq!(writer.commit().await.unwrap(), size as u64, "size {size}");
                let back = get(store, &key).await.unwrap();
                assert!(
                    back == bytes,
                    "size {size}, chunks of {chunk}: bytes differ"
                );
                assert!(store.is_own(&key).await.unwrap(), "size {size}: no mark");
                assert!(markers(store).await.is_empty(), "size {size}: marker left");
                // One part or less is one PutObject; more is a multipart upload.
                let etag = etag(store, &key).await;
                let parts = size.div_ceil(PART);
                if parts <= 1 {
                    assert!(!etag.contains('-'), "size {size}: multipart ETag {etag}");
                } else {
                    assert!(
                        etag.ends_with(&format!("-{parts}")),
                        "size {size}: ETag {etag}"
                    );
                }
                store.delete(&key).await.unwrap();
            }
        }
        wait_no_uploads(store, "after the round trips").await;
    }

    /// Dropping or aborting a writer with parts in flight aborts its multipart upload.
    async fn dropped_and_aborted_writers_leave_no_upload(store: &S3Store) {
        for abort in [false, true] {
            let key = key();
            let mut writer = store.begin(&key).await.unwrap();
            writer
                .write(Bytes::from(data(2 * PART + 10, 7)))
                .await
                .unwrap();
            assert_eq!(uploads(store).await.len(), 1, "the multipart upload exists");
            assert_eq!(markers(store).await.len(), 1, "with its marker");
            if abort {
                writer.abort().await;
                assert!(uploads(store).await.is_empty(), "abort is immediate");
                assert!(markers(store).await.is_empty(), "the marker goes with it");
            } else {
                drop(writer);
                wait_no_uploads(store, "after dropping a writer").await;
                wait_no_markers(store, "after dropping a writer").await;
            }
            assert!(store.open(&key).await.unwrap().is_none());
        }
    }

    /// A part that fails (its upload aborted behind the writer's back) fails the writer.
    async fn failed_part_fails_the_writer(store: &S3Store) {
        let key = key();
        let mut writer = store.begin(&key).await.unwrap();
        writer.write(Bytes::from(data(PART + 1, 8))).await.unwrap();
        let out = store
            .client()
            .list_multipart_uploads()
            .bucket(store.bucket())
            .send()
            .await
            .unwrap();
        let upload = &out.uploads()[0];
        abort_upload(
            store.client(),
            store.bucket(),
            upload.key().unwrap(),
            upload.upload_id().unwrap(),
        )
        .await
        .unwrap();
        // Later parts fail; the writer refuses to go on, then to commit.
        let mut failed = false;
        for _ in 0..8 {
            if writer.write(Bytes::from(data(PART, 9))).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "writes go on after a part failed");
        assert!(writer.write(Bytes::from_static(b"x")).await.is_err());
        assert!(writer.commit().await.is_err());
        assert!(store.open(&key).await.unwrap().is_none());
        wait_no_uploads(store, "after a failed part").await;
    }

    /// `discard_pending` aborts an old multipart upload left by a crash, spares a recent
    /// one and anything outside the prefix or not named like a key. An upload is as
    /// recent as its newest part, so this holds on moto too, which reports every upload
    /// as initiated on 2010-11-10.
    async fn discard_pending_aborts_leftovers(store: &S3Store) {
        let client = store.client();
        let mut ids = Vec::new();
        let (ours, unmarked) = (key(), key());
        mark(store, &ours).await;
        for object_key in [
            format!("{}{ours}", store.prefix()),
            format!("{}.not-a-key", store.prefix()),
            "elsewhere/1-0123456789abcdef".to_owned(),
            // Named exactly like a blob of sealdrop's, but without its marker.
            format!("{}{unmarked}", store.prefix()),
        ] {
            let id = start_multipart(store, &object_key).await;
            client
                .upload_part()
                .bucket(store.bucket())
                .key(&object_key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"crash leftover"))
                .send()
                .await
                .unwrap();
            ids.push((object_key, id));
        }
        assert_eq!(
            store
                .discard_pending(SystemTime::now() - HOUR)
                .await
                .unwrap(),
            0
        );
        assert_eq!(uploads(store).await.len(), 4);
        for _ in 0..3 {
            store
                .discard_pending(SystemTime::now() + HOUR)
                .await
                .unwrap();
        }
        let mut left = uploads(store).await;
        left.sort();
        let mut foreign = vec![ids[1].0.clone(), ids[2].0.clone(), ids[3].0.clone()];
        foreign.sort();
        assert_eq!(left, foreign, "only sealdrop's marked upload is aborted");
        assert!(markers(store).await.is_empty(), "its marker goes with it");
        for (object_key, id) in &ids[1..] {
            assert!(
                abort_upload(client, store.bucket(), object_key, id)
                    .await
                    .unwrap()
            );
        }
    }

    /// A marker whose upload is over (a crash between the two) goes once older than the
    /// cut-off; one named like a marker without sealdrop's mark, or whose upload is still
    /// there, stays.
    async fn stray_markers_go_and_foreign_ones_stay(store: &S3Store) {
        let (stray, busy, foreign) = (key(), key(), key());
        mark(store, &stray).await;
        // An open writer's upload, with its marker.
        let mut writer = store.begin(&busy).await.unwrap();
        let bytes = data(PART + 1, 12);
        writer.write(Bytes::from(bytes.clone())).await.unwrap();
        store
            .client()
            .put_object()
            .bucket(store.bucket())
            .key(store.uploading_key(&foreign))
            .body(ByteStream::from_static(b"someone else's"))
            .send()
            .await
            .unwrap();
        store
            .discard_pending(SystemTime::now() - HOUR)
            .await
            .unwrap();
        assert_eq!(markers(store).await.len(), 3, "young markers stay");
        store
            .discard_pending(SystemTime::now() + HOUR)
            .await
            .unwrap();
        let mut left = markers(store).await;
        left.sort();
        let mut expected = vec![store.uploading_key(&busy), store.uploading_key(&foreign)];
        expected.sort();
        assert_eq!(left, expected, "only the stray marker of sealdrop's goes");
        assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64);
        assert_eq!(markers(store).await, [store.uploading_key(&foreign)]);
        store.delete(&busy).await.unwrap();
        store
            .client()
            .delete_object()
            .bucket(store.bucket())
            .key(store.uploading_key(&foreign))
            .send()
            .await
            .unwrap();
    }

    /// Starts a multipart upload of `object_key` directly, as a crashed writer would
    /// have: its upload id.
    async fn start_multipart(store: &S3Store, object_key: &str) -> String {
        let out = store
            .client()
            .create_multipart_upload()
            .bucket(store.bucket())
            .key(object_key)
            .send()
            .await
            .unwrap();
        out.upload_id().unwrap().to_owned()
    }

    /// An upload without parts yet (another instance's first part may be on its way)
    /// counts as active when a sweep first saw it; it goes once a later cut-off is past
    /// that sighting.
    async fn an_upload_without_parts_is_judged_from_its_first_sighting(store: &S3Store) {
        let key = key();
        let object_key = format!("{}{key}", store.prefix());
        mark(store, &key).await;
        start_multipart(store, &object_key).await;
        for _ in 0..2 {
            assert_eq!(
                store
                    .discard_pending(SystemTime::now() - HOUR)
                    .await
                    .unwrap(),
                0
            );
        }
        assert_eq!(uploads(store).await, [object_key]);
        assert_eq!(
            store
                .discard_pending(SystemTime::now() + HOUR)
                .await
                .unwrap(),
            1
        );
        assert!(uploads(store).await.is_empty());
        assert!(
            lock(&store.shared.first_seen).is_empty(),
            "forgotten once gone"
        );
    }

    /// The multipart upload of an open writer of this process is never discarded, however
    /// old the cut-off makes it look; the writer goes on and commits.
    async fn an_open_writers_upload_is_never_discarded(store: &S3Store) {
        let key = key();
        let bytes = data(3 * PART + 5, 11);
        let mut writer = store.begin(&key).await.unwrap();
        writer
            .write(Bytes::copy_from_slice(&bytes[..2 * PART + 1]))
            .await
            .unwrap();
        assert_eq!(uploads(store).await.len(), 1, "the multipart upload exists");
        assert_eq!(
            store
                .discard_pending(SystemTime::now() + HOUR)
                .await
                .unwrap(),
            0
        );
        writer
            .write(Bytes::copy_from_slice(&bytes[2 * PART + 1..]))
            .await
            .unwrap();
        assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64);
        assert!(get(store, &key).await.unwrap() == bytes);
        store.delete(&key).await.unwrap();
        wait_no_uploads(store, "after the commit").await;
    }

    /// Everything, against one S3 server whose bucket `bucket` exists.
    async fn exercise(s3: &S3Endpoint, bucket: &str) {
        let started = Instant::now();
        let store = connect(s3, bucket, "").await;
        super::super::conformance::run_all(&store).await;
        let conformance = started.elapsed();
        // Again under a prefix, with a foreign object beside it that must survive.
        store
            .client()
            .put_object()
            .bucket(bucket)
            .key("foreign")
            .body(ByteStream::from_static(b"not ours"))
            .send()
            .await
            .unwrap();
        let prefixed = connect(s3, bucket, "blobs/").await;
        super::super::conformance::run_all(&prefixed).await;
        let later = SystemTime::now() + 365 * 24 * HOUR;
        assert!(
            prefixed
                .list_past_deadline(later, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        // Not in the shape of a key: never listed, whatever its age.
        assert!(
            store
                .list_past_deadline(later, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        store.delete("foreign").await.unwrap();
        stray_markers_go_and_foreign_ones_stay(&prefixed).await;

        sizes_round_trip(&prefixed).await;
        dropped_and_aborted_writers_leave_no_upload(&store).await;
        failed_part_fails_the_writer(&store).await;
        discard_pending_aborts_leftovers(&prefixed).await;
        an_upload_without_parts_is_judged_from_its_first_sighting(&prefixed).await;
        an_open_writers_upload_is_never_discarded(&store).await;

        // Nothing left: no object (the probes included) and no upload.
        let objects = store
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        assert!(objects.contents().is_empty(), "{:?}", objects.contents());
        assert!(uploads(&store).await.is_empty());
        eprintln!(
            "{}: conformance {conformance:?}, all {:?}",
            s3.endpoint,
            started.elapsed()
        );
    }

    async fn create_bucket(s3: &S3Endpoint, bucket: &str) {
        let client = Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(s3.region.clone()))
                .credentials_provider(Credentials::new(
                    &s3.access_key,
                    &s3.secret_key,
                    None,
                    None,
                    "test",
                ))
                .endpoint_url(&s3.endpoint)
                .force_path_style(true)
                .build(),
        );
        client.create_bucket().bucket(bucket).send().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto() {
        let moto = Moto::start();
        create_bucket(&moto.s3, "blobs").await;
        exercise(&moto.s3, "blobs").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garage() {
        let garage = Garage::start();
        garage.create_bucket("blobs");
        exercise(&garage.s3, "blobs").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connect_fails_with_one_sentence() {
        let moto = Moto::start();
        let garage = Garage::start();
        garage.create_bucket("present");

        let err = S3Store::connect_with_credentials(&config(&moto.s3, "absent", ""), "a", "b")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot use S3 bucket \"absent\" at {}: no such bucket: check --storage, or \
                 create it with `sealdrop-server admin s3-setup`",
                moto.s3.endpoint
            )
        );
        // The SDK's details are in the chain only.
        assert!(format!("{err:#}").len() > err.to_string().len(), "{err:#}");

        let err = S3Store::connect_with_credentials(
            &config(&garage.s3, "absent", ""),
            &garage.s3.access_key,
            &garage.s3.secret_key,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains(": no such bucket: check --storage"),
            "{err:#}"
        );

        let secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let err = S3Store::connect_with_credentials(
            &config(&garage.s3, "present", ""),
            &garage.s3.access_key,
            secret,
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot use S3 bucket \"present\" at {}: access denied",
                garage.s3.endpoint
            )) && msg.contains("check the credentials (--s3-access-key-id-file"),
            "{err:#}"
        );
        assert!(!format!("{err:#}").contains(secret), "{err:#}");
        assert!(
            !format!("{err:#}").contains(&garage.s3.secret_key),
            "{err:#}"
        );

        let dead = S3Endpoint {
            endpoint: format!("http://user:pw@127.0.0.1:{}", sealdrop_testkit::free_port()),
            ..moto.s3.clone()
        };
        let started = Instant::now();
        let err = S3Store::connect_with_credentials(&config(&dead, "blobs", ""), "a", "b")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot use S3 bucket \"blobs\" at http://127.0.0.1:")
                && msg.ends_with(": the endpoint is unreachable: check --s3-endpoint"),
            "{err:#}"
        );
        assert!(!msg.contains("pw"), "{msg}");
        assert!(!msg.contains("DispatchFailure"), "{msg}");
        assert!(format!("{err:#}").contains("dispatch failure"), "{err:#}");
        eprintln!("dead endpoint detected in {:?}", started.elapsed());

        // A bad configuration fails before any request.
        let mut bad = config(&moto.s3, "blobs", "");
        bad.part_size = PART - 1;
        assert!(
            S3Store::connect_with_credentials(&bad, "a", "b")
                .await
                .is_err()
        );
        let mut bad = config(&moto.s3, "blobs", "no-slash");
        bad.part_size = PART;
        assert!(
            S3Store::connect_with_credentials(&bad, "a", "b")
                .await
                .is_err()
        );
    }

    /// A store that accepts connections, reads each request's headers and then stalls
    /// (after the headers and 10 bytes of a 1000-byte body, for a GetObject): every
    /// request fails within the bound of the module docs after MAX_ATTEMPTS attempts, and
    /// a body that stops mid-object ends its stream with a TimedOut error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_store_fails_within_the_bound() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    if head.starts_with(b"GET ") {
                        let _ = socket
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\
                                  Content-Type: application/octet-stream\r\n\r\n0123456789",
                            )
                            .await;
                    }
                    // Silent, with the connection open, until the client gives up.
                    let _ = socket.read(&mut buf).await;
                });
            }
        });
        let timeout = Duration::from_secs(1);
        let config = S3Config {
            bucket: "stalled".to_owned(),
            prefix: String::new(),
            endpoint: Some(format!("http://{addr}")),
            region: Some("us-east-1".to_owned()),
            path_style: true,
            part_size: PART,
            parts_in_flight: 2,
            timeout,
            credentials: None,
        };
        let builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"));
        let client = configured_client(&config, builder);
        let store = S3Store::unchecked(&config, client, endpoint_label(&config, "us-east-1"));
        // The documented bound, plus slack for a loaded machine's scheduling (still far
        // below what a missing timeout would take: forever).
        let bound = timeout * MAX_ATTEMPTS + Duration::from_secs(3) + Duration::from_secs(10);

        // A body that stops: the bytes sent, then TimedOut after one timeout.
        let reader = store.open("1-0123456789abcdef").await.unwrap().unwrap();
        assert_eq!(reader.len, 1000);
        let mut stream = reader.stream;
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"0123456789");
        let started = Instant::now();
        let err = stream.next().await.unwrap().unwrap_err();
        let waited = started.elapsed();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(
            waited >= timeout - Duration::from_millis(50)
                && waited < timeout + Duration::from_secs(10),
            "{waited:?}"
        );
        assert!(
            stream.next().await.is_none(),
            "the stream ends after the error"
        );

        // A request never answered: MAX_ATTEMPTS attempts, then an error, in time.
        requests.store(0, Ordering::SeqCst);
        let started = Instant::now();
        let err = store.delete("1-0123456789abcdef").await.unwrap_err();
        let took = started.elapsed();
        assert!(took < bound, "{took:?}: {err:#}");
        assert!(took >= timeout * MAX_ATTEMPTS, "{took:?}: {err:#}");
        assert_eq!(
            requests.load(Ordering::SeqCst),
            u64::from(MAX_ATTEMPTS),
            "{err:#}"
        );
        eprintln!("stalled DeleteObject failed after {took:?}: {err:#}");
    }

    #[test]
    fn endpoint_labels_hide_user_info() {
        let mut c = S3Config {
            bucket: "b".into(),
            prefix: String::new(),
            endpoint: Some("https://key:secret@minio.example:9000/?x=secret".into()),
            region: None,
            path_style: true,
            part_size: PART,
            parts_in_flight: 2,
            timeout: std::time::Duration::from_secs(30),
            credentials: None,
        };
        assert_eq!(
            endpoint_label(&c, "us-east-1"),
            "https://minio.example:9000"
        );
        c.endpoint = None;
        assert_eq!(endpoint_label(&c, "eu-west-3"), "AWS S3 (eu-west-3)");
    }

    #[test]
    fn keys_are_validated_like_the_filesystem_store() {
        for key in [
            "../x",
            ".probe-x",
            "",
            "a/b",
            "-a",
            "a b",
            "é",
            &"a".repeat(129),
        ] {
            assert!(crate::storage::validate_key(key).is_err(), "{key:?}");
        }
        for key in ["a", "A_-9", "7-0123456789abcdef", &"b".repeat(128)] {
            assert!(crate::storage::validate_key(key).is_ok(), "{key:?}");
        }
    }
}
