//! The conformance suite every [`BlobStore`] implementation runs: the same properties,
//! no mocks.
//!
//! Give [`run_all`] a store nobody else uses while it runs: two properties discard
//! pending objects with a cut-off an hour in the future. Keys are random, and every property deletes the
//! blobs it created, so a store shared between runs (an S3 test bucket) stays clean.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::{BlobResult, BlobStore, BlobWriter};

const HOUR: Duration = Duration::from_secs(3600);
/// Past the deadline of a fresh `1-…` blob (its day plus two).
const PAST_DEADLINE: Duration = Duration::from_secs(4 * 86_400);

/// Runs every property against `store`, one after another.
pub(crate) async fn run_all(store: &dyn BlobStore) {
    ping_works(store).await;
    missing_blob_is_none(store).await;
    round_trips(store).await;
    ranges_read_exactly_their_bytes(store).await;
    invisible_before_commit(store).await;
    invisible_after_abort(store).await;
    invisible_after_drop(store).await;
    commit_replaces_nothing_else(store).await;
    delete_makes_invisible_and_is_idempotent(store).await;
    delete_many_deletes_each_and_missing_ones(store).await;
    written_blobs_are_own(store).await;
    list_past_deadline_lists_committed_only(store).await;
    list_past_deadline_respects_limit(store).await;
    discard_pending_spares_open_writers(store).await;
    discard_pending_spares_recent(store).await;
    concurrent_writers_do_not_interfere(store).await;
}

/// A fresh key in the server's format (`<days>-<16 hex>`).
fn key() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("1-{}", &id[..16])
}

/// `len` deterministic, seed-dependent bytes that show misplaced or repeated chunks.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` in chunks of the cycling `sizes` (a zero size writes an empty chunk).
async fn write_chunked(writer: &mut dyn BlobWriter, bytes: &[u8], sizes: &[usize]) {
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= bytes.len() {
            break;
        }
        let end = (pos + size).min(bytes.len());
        writer
            .write(Bytes::copy_from_slice(&bytes[pos..end]))
            .await
            .unwrap();
        pos = end;
    }
}

/// Writes and commits a blob in one go, checking the returned length.
async fn put(store: &dyn BlobStore, key: &str, bytes: &[u8]) {
    let mut writer = store.begin(key).await.unwrap();
    write_chunked(writer.as_mut(), bytes, &[65536]).await;
    assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64, "{key}");
}

/// Reads a blob back, checking the announced length against the bytes.
async fn get(store: &dyn BlobStore, key: &str) -> Option<Vec<u8>> {
    let reader = store.open(key).await.unwrap()?;
    let mut bytes = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(reader.len, bytes.len() as u64, "announced length of {key}");
    Some(bytes)
}

async fn ping_works(store: &dyn BlobStore) {
    store.ping().await.unwrap();
    store.ping().await.unwrap();
    store.health().await.unwrap();
}

async fn missing_blob_is_none(store: &dyn BlobStore) {
    assert!(store.open(&key()).await.unwrap().is_none());
}

async fn round_trips(store: &dyn BlobStore) {
    let chunkings: [&[usize]; 3] = [&[1, 7919, 0, 65536], &[65536], &[7919]];
    for (i, size) in [0, 1, 65536, 1024 * 1024 + 1].into_iter().enumerate() {
        for (j, sizes) in chunkings.iter().enumerate() {
            let key = key();
            let bytes = data(size, (i * 10 + j) as u64);
            let mut writer = store.begin(&key).await.unwrap();
            write_chunked(writer.as_mut(), &bytes, sizes).await;
            assert_eq!(writer.commit().await.unwrap(), size as u64, "size {size}");
            let back = get(store, &key).await.unwrap();
            assert!(back == bytes, "size {size}, chunks {sizes:?}: bytes differ");
            store.delete(&key).await.unwrap();
        }
    }
}

/// Reads `range` of a blob back, checking the announced length against the bytes.
async fn get_range(
    store: &dyn BlobStore,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
) -> BlobResult<Option<Vec<u8>>> {
    let Some(reader) = store.open_range(key, range.clone()).await? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    assert_eq!(
        reader.len,
        bytes.len() as u64,
        "announced length of {range:?}"
    );
    Ok(Some(bytes))
}

async fn ranges_read_exactly_their_bytes(store: &dyn BlobStore) {
    let key = key();
    let len = 3 * 65536 + 17;
    let bytes = data(len, 99);
    put(store, &key, &bytes).await;
    let last = len as u64 - 1;
    for range in [
        0..=0,
        0..=last,
        1..=65536,
        65535..=65536,
        65536..=2 * 65536 - 1,
        last..=last,
        100..=last,
    ] {
        let back = get_range(store, &key, range.clone())
            .await
            .unwrap()
            .unwrap();
        let want = &bytes[*range.start() as usize..=*range.end() as usize];
        assert!(back == want, "range {range:?}: bytes differ");
    }
    // A range that runs past the end says so with a shorter length; one that starts past
    // it is an error.
    let short = get_range(store, &key, last - 1..=last + 5)
        .await
        .unwrap()
        .unwrap();
    assert!(short == bytes[len - 2..], "a range past the end");
    assert!(get_range(store, &key, last + 1..=last + 10).await.is_err());
    store.delete(&key).await.unwrap();
    assert!(get_range(store, &key, 0..=0).await.unwrap().is_none());
}

async fn invisible_before_commit(store: &dyn BlobStore) {
    let key = key();
    let bytes = data(200_000, 1);
    let mut writer = store.begin(&key).await.unwrap();
    assert!(
        store.open(&key).await.unwrap().is_none(),
        "visible at begin"
    );
    write_chunked(writer.as_mut(), &bytes, &[7919]).await;
    assert!(
        store.open(&key).await.unwrap().is_none(),
        "visible while writing"
    );
    assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64);
    assert!(get(store, &key).await.unwrap() == bytes);
    store.delete(&key).await.unwrap();
}

async fn invisible_after_abort(store: &dyn BlobStore) {
    let key = key();
    let mut writer = store.begin(&key).await.unwrap();
    write_chunked(writer.as_mut(), &data(200_000, 2), &[65536]).await;
    writer.abort().await;
    assert!(store.open(&key).await.unwrap().is_none());

    // Aborting without writing anything works too.
    let writer = store.begin(&key).await.unwrap();
    writer.abort().await;
    assert!(store.open(&key).await.unwrap().is_none());
}

async fn invisible_after_drop(store: &dyn BlobStore) {
    let key = key();
    let mut writer = store.begin(&key).await.unwrap();
    write_chunked(writer.as_mut(), &data(200_000, 3), &[65536]).await;
    drop(writer);
    assert!(store.open(&key).await.unwrap().is_none());
}

async fn commit_replaces_nothing_else(store: &dyn BlobStore) {
    let (a, b) = (key(), key());
    let (bytes_a, bytes_b) = (data(100_000, 4), data(70_000, 5));
    put(store, &a, &bytes_a).await;
    put(store, &b, &bytes_b).await;
    assert!(
        get(store, &a).await.unwrap() == bytes_a,
        "a changed by committing b"
    );
    assert!(get(store, &b).await.unwrap() == bytes_b);

    // A writer of an existing key that is aborted or dropped leaves the blob intact.
    let mut writer = store.begin(&a).await.unwrap();
    writer.write(Bytes::from(data(10, 6))).await.unwrap();
    writer.abort().await;
    let mut writer = store.begin(&a).await.unwrap();
    writer.write(Bytes::from(data(10, 7))).await.unwrap();
    drop(writer);
    assert!(
        get(store, &a).await.unwrap() == bytes_a,
        "a changed by a writer of a"
    );

    // Deleting one leaves the other.
    store.delete(&a).await.unwrap();
    assert!(
        get(store, &b).await.unwrap() == bytes_b,
        "b changed by deleting a"
    );
    store.delete(&b).await.unwrap();
}

async fn delete_makes_invisible_and_is_idempotent(store: &dyn BlobStore) {
    let key = key();
    put(store, &key, b"to be deleted").await;
    assert!(store.open(&key).await.unwrap().is_some());
    store.delete(&key).await.unwrap();
    assert!(store.open(&key).await.unwrap().is_none());
    store.delete(&key).await.unwrap();
    assert!(store.open(&key).await.unwrap().is_none());
    // Deleting what never existed succeeds too.
    store.delete(&self::key()).await.unwrap();
}

async fn delete_many_deletes_each_and_missing_ones(store: &dyn BlobStore) {
    let keys: Vec<String> = (0..5).map(|_| key()).collect();
    for key in &keys[..4] {
        put(store, key, b"doomed").await;
    }
    let results = store.delete_many(&keys).await;
    assert_eq!(results.len(), keys.len());
    for (key, result) in keys.iter().zip(results) {
        result.unwrap();
        assert!(store.open(key).await.unwrap().is_none(), "{key} survived");
    }
    // An invalid key fails alone; the others of its batch go.
    let (a, b) = (key(), key());
    put(store, &a, b"a").await;
    put(store, &b, b"b").await;
    let batch = [a.clone(), "not/a key".to_owned(), b.clone()];
    let results = store.delete_many(&batch).await;
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert!(store.open(&a).await.unwrap().is_none());
    assert!(store.open(&b).await.unwrap().is_none());
    assert!(store.delete_many(&[]).await.is_empty());
}

async fn written_blobs_are_own(store: &dyn BlobStore) {
    let (small, missing) = (key(), key());
    put(store, &small, b"small").await;
    assert!(store.is_own(&small).await.unwrap(), "a blob it wrote");
    assert!(
        !store.is_own(&missing).await.unwrap(),
        "a blob never written"
    );
    store.delete(&small).await.unwrap();
    assert!(!store.is_own(&small).await.unwrap(), "a deleted blob");
}

async fn list_past_deadline_lists_committed_only(store: &dyn BlobStore) {
    let (committed, pending) = (key(), key());
    put(store, &committed, b"committed").await;
    let mut writer = store.begin(&pending).await.unwrap();
    writer.write(Bytes::from_static(b"pending")).await.unwrap();

    let listed: Vec<String> = store
        .list_past_deadline(SystemTime::now() + PAST_DEADLINE, None, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    assert!(listed.contains(&committed), "committed blob not listed");
    assert!(!listed.contains(&pending), "pending blob listed");
    // Only keys: no pending-object names or paths.
    for listed_key in &listed {
        assert!(
            !listed_key.starts_with('.') && !listed_key.contains('/'),
            "{listed_key:?}"
        );
    }

    // A `1-` blob may belong to a live file for its day and two more.
    let live = store
        .list_past_deadline(SystemTime::now() + 71 * HOUR, None, usize::MAX)
        .await
        .unwrap();
    assert!(
        !live.iter().any(|b| b.key == committed),
        "a fresh blob is listed before its deadline"
    );

    writer.abort().await;
    store.delete(&committed).await.unwrap();
    let listed = store
        .list_past_deadline(SystemTime::now() + PAST_DEADLINE, None, usize::MAX)
        .await
        .unwrap();
    assert!(
        !listed.iter().any(|b| b.key == committed),
        "deleted blob still listed"
    );
}

async fn list_past_deadline_respects_limit(store: &dyn BlobStore) {
    let keys: Vec<String> = (0..3).map(|_| key()).collect();
    for key in &keys {
        put(store, key, b"x").await;
    }
    let later = SystemTime::now() + PAST_DEADLINE;
    assert!(
        store
            .list_past_deadline(later, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_past_deadline(later, None, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_past_deadline(later, None, 2)
            .await
            .unwrap()
            .len(),
        2
    );
    // Page by page, each resuming after the last key of the one before: every blob once,
    // in key order.
    let mut seen: Vec<String> = Vec::new();
    loop {
        let page = store
            .list_past_deadline(later, seen.last().map(String::as_str), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|b| b.key.clone()));
        if page.len() < 2 {
            break;
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not in key order: {seen:?}"
    );
    for key in &keys {
        assert_eq!(
            seen.iter().filter(|k| *k == key).count(),
            1,
            "{key} in {seen:?}"
        );
    }
    for key in &keys {
        store.delete(key).await.unwrap();
    }
}

/// An open writer's pending object is never discarded, however old the cut-off makes it
/// look: it is an upload in progress, not a leftover (leftovers are each store's own
/// tests). Also with a writer that has gone quiet after a first chunk.
async fn discard_pending_spares_open_writers(store: &dyn BlobStore) {
    let (busy, quiet) = (key(), key());
    let bytes = data(300_000, 8);
    let mut busy_writer = store.begin(&busy).await.unwrap();
    let mut quiet_writer = store.begin(&quiet).await.unwrap();
    quiet_writer
        .write(Bytes::from_static(b"first chunk"))
        .await
        .unwrap();
    write_chunked(busy_writer.as_mut(), &bytes[..100_000], &[65536]).await;
    assert_eq!(
        store
            .discard_pending(SystemTime::now() + HOUR)
            .await
            .unwrap(),
        0,
        "an open writer's pending object was discarded"
    );
    write_chunked(busy_writer.as_mut(), &bytes[100_000..], &[65536]).await;
    assert_eq!(busy_writer.commit().await.unwrap(), bytes.len() as u64);
    assert!(get(store, &busy).await.unwrap() == bytes);
    assert_eq!(quiet_writer.commit().await.unwrap(), 11);
    assert_eq!(get(store, &quiet).await.unwrap(), b"first chunk");
    store.delete(&busy).await.unwrap();
    store.delete(&quiet).await.unwrap();
    // The writers are gone, and left nothing to discard.
    assert_eq!(
        store
            .discard_pending(SystemTime::now() + HOUR)
            .await
            .unwrap(),
        0
    );
}

async fn discard_pending_spares_recent(store: &dyn BlobStore) {
    let key = key();
    let bytes = data(100_000, 9);
    let mut writer = store.begin(&key).await.unwrap();
    write_chunked(writer.as_mut(), &bytes, &[7919]).await;
    store
        .discard_pending(SystemTime::now() - HOUR)
        .await
        .unwrap();
    assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64);
    assert!(get(store, &key).await.unwrap() == bytes);
    store.delete(&key).await.unwrap();
}

async fn concurrent_writers_do_not_interfere(store: &dyn BlobStore) {
    let jobs = (0..10u64).map(|i| async move {
        let key = key();
        let bytes = data(100_000 + i as usize * 1000, 100 + i);
        let mut writer = store.begin(&key).await.unwrap();
        for chunk in bytes.chunks(4096 + i as usize) {
            writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
            // Interleave with the other writers.
            tokio::task::yield_now().await;
        }
        // Every other writer aborts, while the others are still writing.
        if i % 2 == 0 {
            assert_eq!(writer.commit().await.unwrap(), bytes.len() as u64);
        } else {
            writer.abort().await;
        }
        (i, key, bytes)
    });
    let results = futures_util::future::join_all(jobs).await;
    for (i, key, bytes) in results {
        let back = get(store, &key).await;
        if i % 2 == 0 {
            assert!(back.unwrap() == bytes, "writer {i}: bytes differ");
            store.delete(&key).await.unwrap();
        } else {
            assert!(back.is_none(), "writer {i}: aborted blob visible");
        }
    }
}
