//! The conformance suite of [`MetaStore`]: every implementation runs it (see the tests of
//! each backend), so they all keep the same guarantees.
//!
//! Each property is one `async fn` using fresh random ids, so they can share one store.
//! Time is always passed explicitly (no sleeping). Rows of most properties live around
//! [`T0`]; the properties that look at the whole store ([`take_expired`],
//! [`next_expiry`]) use times below [`LOW_ZONE_END`], which nothing else uses, so other
//! properties' rows cannot disturb them ([`held_files_outlive_expiry`] has its own part
//! of that zone and leaves nothing in it). Tombstones are checked by membership, since
//! other properties leave tombstones behind.

use std::collections::HashSet;
use std::sync::Arc;

use sealdrop_protocol::api::FileId;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::{
    Complete, FileRecord, MetaStore, Millis, NewFile, Report, ReportReason, Reported, Reserve,
    SetLimit,
};

/// The time most properties run at.
const T0: Millis = 1_700_000_000_000;
/// A day.
const DAY: Millis = 86_400_000;
/// A download lease.
const LEASE: Millis = 60_000;
/// Times below this belong to [`take_expired`] and [`next_expiry`] only.
const LOW_ZONE_END: Millis = 10_000;

/// Runs every property against `store`.
pub(crate) async fn run_all(store: &dyn MetaStore) {
    ping(store).await;
    insert_get_round_trip(store).await;
    insert_duplicate_fails(store).await;
    expired_rows_are_invisible(store).await;
    nonce_compare_and_swap(store).await;
    single_download(store).await;
    three_downloads(store).await;
    release_gives_the_slot_back(store).await;
    lapsed_lease_frees_the_slot(store).await;
    renew_extends_a_lease(store).await;
    set_dlimit(store).await;
    set_password(store).await;
    delete(store).await;
    take_expired(store).await;
    next_expiry(store).await;
    tombstones(store).await;
    clear_tombstones_in_one_step(store).await;
    knows_blob(store).await;
    report_holds_the_file(store).await;
    held_files_outlive_expiry(store).await;
    restore_serves_again(store).await;
    take_down(store).await;
    list_reported(store).await;
}

/// Races on one file: 50 tasks reserve then complete a download of a file with
/// `dlimit` 1, then 5, and 50 tasks rotate the same nonce.
pub(crate) async fn race(store: Arc<dyn MetaStore>) {
    race_downloads(&store, 1).await;
    race_downloads(&store, 5).await;
    race_nonce(&store).await;
}

/// A new file with random id and blob key, every field distinct.
fn new_file(dlimit: u32, expires_at: Millis) -> NewFile {
    let id = FileId::generate().expect("a random id");
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut owner_hash = [0u8; 32];
    owner_hash[..16].copy_from_slice(a.as_bytes());
    owner_hash[16..].copy_from_slice(b.as_bytes());
    owner_hash[0] = 0xff;
    owner_hash[31] = 0;
    NewFile {
        blob_key: format!("{id}-{}", a.simple()),
        owner_hash,
        metadata: format!("bWV0YWRhdGE-{}", b.simple()),
        auth_key: b.as_bytes().iter().chain(a.as_bytes()).copied().collect(),
        nonce: format!("{}==", a.simple()),
        id,
        dlimit,
        expires_at,
        // Beyond 32 bits.
        size: 5 * (1 << 32) + 17,
    }
}

/// Inserts a new file and returns it.
async fn insert(store: &dyn MetaStore, dlimit: u32, expires_at: Millis) -> NewFile {
    let file = new_file(dlimit, expires_at);
    store.insert(file.clone()).await.expect("insert");
    file
}

/// Reserves a slot that must be available.
async fn reserve(store: &dyn MetaStore, id: &FileId, now: Millis, lease_until: Millis) -> String {
    match store.reserve_download(id, now, lease_until).await.unwrap() {
        Reserve::Reserved { reservation } => reservation,
        Reserve::Unavailable => panic!("no download slot for {id} at {now}"),
    }
}

/// Asserts that no slot is available.
async fn assert_unavailable(store: &dyn MetaStore, id: &FileId, now: Millis) {
    assert_eq!(
        store.reserve_download(id, now, now + LEASE).await.unwrap(),
        Reserve::Unavailable,
        "a slot of {id} at {now}"
    );
}

/// Asserts the completed and reserved downloads of a live file.
async fn assert_counts(
    store: &dyn MetaStore,
    id: &FileId,
    now: Millis,
    downloads: u32,
    reserved: u32,
) {
    let record = store.get(id, now).await.unwrap().expect("a live row");
    assert_eq!(
        (record.downloads, record.reserved),
        (downloads, reserved),
        "(downloads, reserved) of {id} at {now}"
    );
}

/// Asserts the file is finished: no row, its blob tombstoned at `since`.
async fn assert_finished(store: &dyn MetaStore, file: &NewFile, since: Millis) {
    assert_eq!(
        store.get(&file.id, 0).await.unwrap(),
        None,
        "the row is gone"
    );
    assert!(store.knows_blob(&file.blob_key).await.unwrap());
    let old = store.tombstones(since + 1, usize::MAX).await.unwrap();
    assert!(
        old.contains(&file.blob_key),
        "tombstone of {}",
        file.blob_key
    );
    let older = store.tombstones(since, usize::MAX).await.unwrap();
    assert!(!older.contains(&file.blob_key), "tombstone dated {since}");
}

async fn ping(store: &dyn MetaStore) {
    store.ping().await.unwrap();
}

async fn insert_get_round_trip(store: &dyn MetaStore) {
    let file = insert(store, 7, T0 + DAY).await;
    let record = store.get(&file.id, T0).await.unwrap().expect("the row");
    assert_eq!(record.file, file);
    assert_eq!(record.downloads, 0);
    assert_eq!(record.reserved, 0);
    assert!(!record.password);
    assert_eq!(record.report, None);
    assert_eq!(
        store.find(&file.id, T0).await.unwrap().as_ref(),
        Some(&record),
        "find sees a served file as get does"
    );
    // Just before expiry still visible.
    assert!(store.get(&file.id, T0 + DAY - 1).await.unwrap().is_some());
    // Unknown ids.
    let unknown = FileId::generate().unwrap();
    assert_eq!(store.get(&unknown, T0).await.unwrap(), None);
}

async fn insert_duplicate_fails(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let mut again = new_file(9, T0 + 2 * DAY);
    again.id = file.id.clone();
    assert!(
        store.insert(again).await.is_err(),
        "a second insert of one id"
    );
    assert!(
        store.insert(file.clone()).await.is_err(),
        "the same row twice"
    );
    let record = store.get(&file.id, T0).await.unwrap().expect("the row");
    assert_eq!(record.file, file, "the first row is untouched");
    // The store still works after the failed insert.
    store.ping().await.unwrap();
}

async fn expired_rows_are_invisible(store: &dyn MetaStore) {
    let expires = T0 + 1_000;
    let file = insert(store, 3, expires).await;
    let id = &file.id;
    // Live one millisecond before: take a reservation that outlives the file.
    let reservation = reserve(store, id, expires - 1, expires + LEASE).await;
    assert_counts(store, id, expires - 1, 0, 1).await;
    for now in [expires, expires + 1, expires + DAY] {
        assert_eq!(store.get(id, now).await.unwrap(), None, "get at {now}");
        assert_unavailable(store, id, now).await;
        assert!(
            !store
                .rotate_nonce(id, &file.nonce, "other", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .renew_reservation(id, &reservation, now, now + LEASE)
                .await
                .unwrap()
        );
        assert_eq!(store.set_dlimit(id, 10, now).await.unwrap(), None);
        assert_eq!(store.set_dlimit(id, 0, now).await.unwrap(), None);
        assert!(!store.set_password(id, b"key", "nonce", now).await.unwrap());
        assert_eq!(store.delete(id, now).await.unwrap(), None);
    }
    assert_eq!(
        store
            .complete_download(id, &reservation, expires)
            .await
            .unwrap(),
        Complete::Refused
    );
    // Nothing changed the row: seen from before its expiry it is as inserted (the refused
    // completion dropped the reservation).
    let record = store.get(id, expires - 1).await.unwrap().expect("the row");
    assert_eq!(record.file, file);
    assert_eq!((record.downloads, record.reserved), (0, 0));
    assert!(!record.password);
}

async fn nonce_compare_and_swap(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let id = &file.id;
    assert!(store.rotate_nonce(id, &file.nonce, "n1", T0).await.unwrap());
    assert!(
        !store.rotate_nonce(id, &file.nonce, "n2", T0).await.unwrap(),
        "a second rotation from the old nonce"
    );
    assert_eq!(store.get(id, T0).await.unwrap().unwrap().file.nonce, "n1");
    assert!(!store.rotate_nonce(id, "n2", "n3", T0).await.unwrap());
    assert!(store.rotate_nonce(id, "n1", "n2", T0).await.unwrap());
    assert_eq!(store.get(id, T0).await.unwrap().unwrap().file.nonce, "n2");
    let unknown = FileId::generate().unwrap();
    assert!(!store.rotate_nonce(&unknown, "n2", "n3", T0).await.unwrap());
}

async fn single_download(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let id = &file.id;
    let reservation = reserve(store, id, T0, T0 + LEASE).await;
    assert_counts(store, id, T0, 0, 1).await;
    assert_unavailable(store, id, T0).await;
    let now = T0 + 10;
    assert_eq!(
        store
            .complete_download(id, &reservation, now)
            .await
            .unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_finished(store, &file, now).await;
    assert_unavailable(store, id, now).await;
    assert_eq!(
        store
            .complete_download(id, &reservation, now)
            .await
            .unwrap(),
        Complete::Refused,
        "the same reservation twice"
    );
    store.clear_tombstone(&file.blob_key).await.unwrap();
    assert!(!store.knows_blob(&file.blob_key).await.unwrap());
    // Clearing twice is harmless.
    store.clear_tombstone(&file.blob_key).await.unwrap();
}

async fn three_downloads(store: &dyn MetaStore) {
    let file = insert(store, 3, T0 + DAY).await;
    let id = &file.id;
    let r1 = reserve(store, id, T0, T0 + LEASE).await;
    let r2 = reserve(store, id, T0, T0 + LEASE).await;
    let r3 = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        HashSet::from([&r1, &r2, &r3]).len(),
        3,
        "distinct reservations"
    );
    assert_counts(store, id, T0, 0, 3).await;
    assert_unavailable(store, id, T0).await;

    assert_eq!(
        store.complete_download(id, &r1, T0 + 1).await.unwrap(),
        Complete::Counted
    );
    assert_counts(store, id, T0 + 1, 1, 2).await;
    assert_eq!(
        store.complete_download(id, &r1, T0 + 1).await.unwrap(),
        Complete::Refused,
        "a reservation completes once"
    );
    assert_unavailable(store, id, T0 + 1).await;
    assert_counts(store, id, T0 + 1, 1, 2).await;

    assert_eq!(
        store.complete_download(id, &r2, T0 + 2).await.unwrap(),
        Complete::Counted
    );
    assert_counts(store, id, T0 + 2, 2, 1).await;
    assert_unavailable(store, id, T0 + 2).await;
    let record = store.get(id, T0 + 2).await.unwrap().unwrap();
    assert_eq!(
        record.file, file,
        "counting leaves the upload's fields alone"
    );

    // A reservation of another file does not complete this one.
    let other = insert(store, 1, T0 + DAY).await;
    let foreign = reserve(store, &other.id, T0, T0 + LEASE).await;
    assert_eq!(
        store.complete_download(id, &foreign, T0 + 3).await.unwrap(),
        Complete::Refused
    );
    assert_counts(store, id, T0 + 3, 2, 1).await;
    assert_counts(store, &other.id, T0 + 3, 0, 1).await;

    assert_eq!(
        store.complete_download(id, &r3, T0 + 3).await.unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_finished(store, &file, T0 + 3).await;
    store.clear_tombstone(&file.blob_key).await.unwrap();
    assert!(!store.knows_blob(&file.blob_key).await.unwrap());
}

async fn release_gives_the_slot_back(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let id = &file.id;
    let r1 = reserve(store, id, T0, T0 + LEASE).await;
    assert_unavailable(store, id, T0).await;
    store.release_download(id, &r1).await.unwrap();
    assert_counts(store, id, T0, 0, 0).await;
    let r2 = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.complete_download(id, &r1, T0 + 1).await.unwrap(),
        Complete::Refused,
        "a released reservation"
    );
    assert_counts(store, id, T0 + 1, 0, 1).await;
    // Unknown reservations and files are ignored.
    store.release_download(id, &r1).await.unwrap();
    store.release_download(id, "unknown").await.unwrap();
    store
        .release_download(&FileId::generate().unwrap(), &r2)
        .await
        .unwrap();
    assert_counts(store, id, T0 + 1, 0, 1).await;
    assert_eq!(
        store.complete_download(id, &r2, T0 + 2).await.unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_finished(store, &file, T0 + 2).await;
}

async fn lapsed_lease_frees_the_slot(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let id = &file.id;
    let lapsed = reserve(store, id, T0, T0 + 100).await;
    assert_unavailable(store, id, T0 + 99).await;
    assert_counts(store, id, T0 + 99, 0, 1).await;
    // A lease runs out at lease_until.
    assert_counts(store, id, T0 + 100, 0, 0).await;
    assert!(
        !store
            .renew_reservation(id, &lapsed, T0 + 100, T0 + 1_000)
            .await
            .unwrap(),
        "renewing a lapsed lease"
    );
    let fresh = reserve(store, id, T0 + 100, T0 + 100 + LEASE).await;
    assert_eq!(
        store
            .complete_download(id, &lapsed, T0 + 101)
            .await
            .unwrap(),
        Complete::Refused,
        "completing a lapsed reservation"
    );
    assert_counts(store, id, T0 + 101, 0, 1).await;

    // A lapsed reservation is refused even when nothing took its slot.
    let other = insert(store, 2, T0 + DAY).await;
    let late = reserve(store, &other.id, T0, T0 + 100).await;
    assert_eq!(
        store
            .complete_download(&other.id, &late, T0 + 100)
            .await
            .unwrap(),
        Complete::Refused
    );
    assert_counts(store, &other.id, T0 + 100, 0, 0).await;

    assert_eq!(
        store.complete_download(id, &fresh, T0 + 102).await.unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_finished(store, &file, T0 + 102).await;
}

async fn renew_extends_a_lease(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    let id = &file.id;
    let reservation = reserve(store, id, T0, T0 + 100).await;
    assert!(
        store
            .renew_reservation(id, &reservation, T0 + 50, T0 + 200)
            .await
            .unwrap()
    );
    // Past the first lease, still held.
    assert_counts(store, id, T0 + 150, 0, 1).await;
    assert_unavailable(store, id, T0 + 150).await;
    assert!(
        store
            .renew_reservation(id, &reservation, T0 + 199, T0 + 300)
            .await
            .unwrap()
    );
    // Unknown reservations, or another file's, are not renewed.
    assert!(
        !store
            .renew_reservation(id, "unknown", T0 + 199, T0 + 300)
            .await
            .unwrap()
    );
    let other = insert(store, 1, T0 + DAY).await;
    assert!(
        !store
            .renew_reservation(&other.id, &reservation, T0 + 199, T0 + 300)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .complete_download(id, &reservation, T0 + 250)
            .await
            .unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert!(
        !store
            .renew_reservation(id, &reservation, T0 + 251, T0 + 400)
            .await
            .unwrap(),
        "renewing a completed reservation"
    );
    assert_finished(store, &file, T0 + 250).await;
}

async fn set_dlimit(store: &dyn MetaStore) {
    let file = insert(store, 3, T0 + DAY).await;
    let id = &file.id;
    let r = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.complete_download(id, &r, T0).await.unwrap(),
        Complete::Counted
    );
    assert_eq!(
        store.set_dlimit(id, 5, T0).await.unwrap(),
        Some(SetLimit::Updated)
    );
    let record = store.get(id, T0).await.unwrap().unwrap();
    assert_eq!((record.file.dlimit, record.downloads), (5, 1));
    // Lowered to just above the completed downloads: one download left.
    assert_eq!(
        store.set_dlimit(id, 2, T0).await.unwrap(),
        Some(SetLimit::Updated)
    );
    let r = reserve(store, id, T0, T0 + LEASE).await;
    assert_unavailable(store, id, T0).await;
    store.release_download(id, &r).await.unwrap();
    // At the completed downloads: finished.
    assert_eq!(
        store.set_dlimit(id, 1, T0 + 5).await.unwrap(),
        Some(SetLimit::Finished {
            blob_key: file.blob_key.clone()
        })
    );
    assert_finished(store, &file, T0 + 5).await;
    assert_eq!(store.set_dlimit(id, 10, T0 + 5).await.unwrap(), None);

    // Below the completed downloads, with a download in progress: finished, and the
    // download in progress can no longer complete.
    let file = insert(store, 4, T0 + DAY).await;
    let id = &file.id;
    let r1 = reserve(store, id, T0, T0 + LEASE).await;
    let r2 = reserve(store, id, T0, T0 + LEASE).await;
    let r3 = reserve(store, id, T0, T0 + LEASE).await;
    for r in [&r1, &r2] {
        assert_eq!(
            store.complete_download(id, r, T0).await.unwrap(),
            Complete::Counted
        );
    }
    assert_eq!(
        store.set_dlimit(id, 1, T0 + 6).await.unwrap(),
        Some(SetLimit::Finished {
            blob_key: file.blob_key.clone()
        })
    );
    assert_finished(store, &file, T0 + 6).await;
    assert_eq!(
        store.complete_download(id, &r3, T0 + 7).await.unwrap(),
        Complete::Refused
    );

    // Lowered below downloads + reservations: the first completion reaching the limit is
    // the last one, the other is refused.
    let file = insert(store, 3, T0 + DAY).await;
    let id = &file.id;
    let r1 = reserve(store, id, T0, T0 + LEASE).await;
    let r2 = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.set_dlimit(id, 1, T0).await.unwrap(),
        Some(SetLimit::Updated)
    );
    assert_eq!(
        store.complete_download(id, &r2, T0 + 1).await.unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_eq!(
        store.complete_download(id, &r1, T0 + 1).await.unwrap(),
        Complete::Refused
    );
    assert_finished(store, &file, T0 + 1).await;

    let unknown = FileId::generate().unwrap();
    assert_eq!(store.set_dlimit(&unknown, 3, T0).await.unwrap(), None);
}

async fn set_password(store: &dyn MetaStore) {
    let file = insert(store, 2, T0 + DAY).await;
    let id = &file.id;
    let key: Vec<u8> = (0..=255).collect();
    assert!(store.set_password(id, &key, "after", T0).await.unwrap());
    let record = store.get(id, T0).await.unwrap().unwrap();
    assert!(record.password);
    assert_eq!(record.file.auth_key, key);
    assert_eq!(record.file.nonce, "after");
    let mut expected = file.clone();
    expected.auth_key = key;
    expected.nonce = "after".to_owned();
    assert_eq!(record.file, expected, "the other fields are untouched");
    assert!(
        !store.rotate_nonce(id, &file.nonce, "x", T0).await.unwrap(),
        "the old nonce is gone"
    );
    // Setting it again replaces it again.
    assert!(
        store
            .set_password(id, b"second", "again", T0)
            .await
            .unwrap()
    );
    let record = store.get(id, T0).await.unwrap().unwrap();
    assert_eq!(
        (record.file.auth_key.as_slice(), record.file.nonce.as_str()),
        (b"second".as_slice(), "again")
    );
    let unknown = FileId::generate().unwrap();
    assert!(!store.set_password(&unknown, b"k", "n", T0).await.unwrap());
}

async fn delete(store: &dyn MetaStore) {
    let file = insert(store, 2, T0 + DAY).await;
    let id = &file.id;
    let reservation = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.delete(id, T0 + 3).await.unwrap(),
        Some(file.blob_key.clone())
    );
    assert_finished(store, &file, T0 + 3).await;
    assert_eq!(
        store.delete(id, T0 + 3).await.unwrap(),
        None,
        "deleted twice"
    );
    assert_unavailable(store, id, T0 + 3).await;
    assert_eq!(
        store
            .complete_download(id, &reservation, T0 + 4)
            .await
            .unwrap(),
        Complete::Refused,
        "a download of a deleted file"
    );
    assert!(!store.rotate_nonce(id, &file.nonce, "x", T0).await.unwrap());
    store.clear_tombstone(&file.blob_key).await.unwrap();
    assert!(!store.knows_blob(&file.blob_key).await.unwrap());
    let unknown = FileId::generate().unwrap();
    assert_eq!(store.delete(&unknown, T0).await.unwrap(), None);
}

/// Times 1 000 to 2 000 of the low zone.
async fn take_expired(store: &dyn MetaStore) {
    // Clear the low zone of leftovers (a previous failed run).
    store.take_expired(LOW_ZONE_END, usize::MAX).await.unwrap();
    let a = insert(store, 1, 1_100).await;
    let b = insert(store, 1, 1_200).await;
    let c = insert(store, 1, 1_300).await;
    let d = insert(store, 1, 1_900).await;
    let expired: HashSet<String> = [&a, &b, &c].map(|f| f.blob_key.clone()).into();

    assert_eq!(
        store.take_expired(1_099, usize::MAX).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.take_expired(1_300, 0).await.unwrap(),
        Vec::<String>::new()
    );
    let first = store.take_expired(1_300, 2).await.unwrap();
    assert_eq!(first.len(), 2, "the limit");
    let rest = store.take_expired(1_300, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let taken: HashSet<String> = first.into_iter().chain(rest).collect();
    assert_eq!(taken, expired, "exactly the expired rows");
    assert_eq!(
        store.take_expired(1_300, 10).await.unwrap(),
        Vec::<String>::new()
    );

    for file in [&a, &b, &c] {
        // Gone, even seen from before their expiry.
        assert_eq!(store.get(&file.id, 0).await.unwrap(), None);
        assert_finished(store, file, 1_300).await;
        store.clear_tombstone(&file.blob_key).await.unwrap();
    }
    let record = store.get(&d.id, 1_300).await.unwrap().expect("d is live");
    assert_eq!(record.file, d);
    assert_eq!(
        store.take_expired(1_900, 10).await.unwrap(),
        vec![d.blob_key.clone()]
    );
    store.clear_tombstone(&d.blob_key).await.unwrap();
}

/// Times 5 000 to 6 000 of the low zone.
async fn next_expiry(store: &dyn MetaStore) {
    store.take_expired(LOW_ZONE_END, usize::MAX).await.unwrap();
    let a = insert(store, 1, 5_600).await;
    let b = insert(store, 1, 5_700).await;
    assert_eq!(store.next_expiry().await.unwrap(), Some(5_600));
    // Rows expired but not yet swept count: the sweeper must wake at once.
    assert_eq!(store.get(&a.id, 5_650).await.unwrap(), None);
    assert_eq!(store.next_expiry().await.unwrap(), Some(5_600));
    assert_eq!(
        store.take_expired(5_650, 10).await.unwrap(),
        vec![a.blob_key.clone()]
    );
    assert_eq!(store.next_expiry().await.unwrap(), Some(5_700));
    assert_eq!(
        store.delete(&b.id, 5_650).await.unwrap(),
        Some(b.blob_key.clone())
    );
    assert!(
        store
            .next_expiry()
            .await
            .unwrap()
            .is_none_or(|t| t >= LOW_ZONE_END),
        "deleted rows do not count"
    );
    for file in [&a, &b] {
        store.clear_tombstone(&file.blob_key).await.unwrap();
    }
}

async fn tombstones(store: &dyn MetaStore) {
    let first = insert(store, 1, T0 + DAY).await;
    let second = insert(store, 1, T0 + DAY).await;
    let (t1, t2) = (T0 + 1_000, T0 + 2_000);
    assert_eq!(
        store.delete(&first.id, t1).await.unwrap(),
        Some(first.blob_key.clone())
    );
    assert_eq!(
        store.delete(&second.id, t2).await.unwrap(),
        Some(second.blob_key.clone())
    );
    let listed = store.tombstones(t1, usize::MAX).await.unwrap();
    assert!(!listed.contains(&first.blob_key) && !listed.contains(&second.blob_key));
    let listed = store.tombstones(t2, usize::MAX).await.unwrap();
    assert!(listed.contains(&first.blob_key) && !listed.contains(&second.blob_key));
    let listed = store.tombstones(t2 + 1, usize::MAX).await.unwrap();
    assert!(listed.contains(&first.blob_key) && listed.contains(&second.blob_key));
    assert_eq!(
        store.tombstones(t2 + 1, 1).await.unwrap().len(),
        1,
        "the limit"
    );
    assert_eq!(
        store.tombstones(t2 + 1, 0).await.unwrap(),
        Vec::<String>::new()
    );

    store.clear_tombstone(&first.blob_key).await.unwrap();
    let listed = store
        .tombstones(Millis::MAX >> 1, usize::MAX)
        .await
        .unwrap();
    assert!(!listed.contains(&first.blob_key) && listed.contains(&second.blob_key));
    assert!(!store.knows_blob(&first.blob_key).await.unwrap());
    assert!(store.knows_blob(&second.blob_key).await.unwrap());
    store.clear_tombstone(&second.blob_key).await.unwrap();
    store.clear_tombstone("never-tombstoned").await.unwrap();
    let listed = store
        .tombstones(Millis::MAX >> 1, usize::MAX)
        .await
        .unwrap();
    assert!(!listed.contains(&second.blob_key));
}

/// A batch of tombstones goes at once; keys without one are ignored, and an empty batch
/// is nothing.
async fn clear_tombstones_in_one_step(store: &dyn MetaStore) {
    let now = 1_000_000;
    let mut keys = Vec::new();
    for _ in 0..5 {
        let file = new_file(1, now + 1000);
        store.insert(file.clone()).await.unwrap();
        assert_eq!(
            store.delete(&file.id, now).await.unwrap(),
            Some(file.blob_key.clone())
        );
        keys.push(file.blob_key);
    }
    store.clear_tombstones(&[]).await.unwrap();
    let mut batch = keys[..4].to_vec();
    batch.push("never-tombstoned".to_owned());
    store.clear_tombstones(&batch).await.unwrap();
    let listed = store
        .tombstones(Millis::MAX >> 1, usize::MAX)
        .await
        .unwrap();
    for key in &keys[..4] {
        assert!(!listed.contains(key), "{key} still tombstoned");
        assert!(!store.knows_blob(key).await.unwrap());
    }
    assert!(
        listed.contains(&keys[4]),
        "a key outside the batch lost its tombstone"
    );
    store.clear_tombstones(&keys[4..]).await.unwrap();
}

async fn knows_blob(store: &dyn MetaStore) {
    let file = insert(store, 1, T0 + DAY).await;
    assert!(
        store.knows_blob(&file.blob_key).await.unwrap(),
        "a live row"
    );
    assert!(!store.knows_blob("unknown-blob").await.unwrap());
    assert!(
        !store.knows_blob(file.id.as_str()).await.unwrap(),
        "ids are not blob keys"
    );
    store.delete(&file.id, T0).await.unwrap();
    assert!(
        store.knows_blob(&file.blob_key).await.unwrap(),
        "a tombstone"
    );
    store.clear_tombstone(&file.blob_key).await.unwrap();
    assert!(!store.knows_blob(&file.blob_key).await.unwrap());
}

/// 50 tasks reserve a slot then complete it: exactly `dlimit` succeed.
async fn race_downloads(store: &Arc<dyn MetaStore>, dlimit: u32) {
    const RACERS: usize = 50;
    let file = insert(store.as_ref(), dlimit, T0 + DAY).await;
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let (store, barrier, id) = (Arc::clone(store), Arc::clone(&barrier), file.id.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            match store.reserve_download(&id, T0, T0 + LEASE).await.unwrap() {
                Reserve::Reserved { reservation } => Some(
                    store
                        .complete_download(&id, &reservation, T0 + 1)
                        .await
                        .unwrap(),
                ),
                Reserve::Unavailable => None,
            }
        });
    }
    let outcomes: Vec<Option<Complete>> = tasks.join_all().await;
    let reserved = outcomes.iter().flatten().count();
    let last = outcomes
        .iter()
        .flatten()
        .filter(|c| matches!(c, Complete::Last { blob_key } if *blob_key == file.blob_key))
        .count();
    let counted = outcomes
        .iter()
        .flatten()
        .filter(|c| **c == Complete::Counted)
        .count();
    let dlimit = usize::try_from(dlimit).unwrap();
    assert_eq!(reserved, dlimit, "reservations granted");
    assert_eq!(
        (last, counted),
        (1, dlimit - 1),
        "completions: {outcomes:?}"
    );
    assert_finished(store.as_ref(), &file, T0 + 1).await;
    store.clear_tombstone(&file.blob_key).await.unwrap();
}

/// 50 tasks rotate the same nonce: exactly one succeeds.
async fn race_nonce(store: &Arc<dyn MetaStore>) {
    const RACERS: usize = 50;
    let file = insert(store.as_ref(), 1, T0 + DAY).await;
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for i in 0..RACERS {
        let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
        let (id, nonce) = (file.id.clone(), file.nonce.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let new = format!("nonce-{i}");
            let won = store.rotate_nonce(&id, &nonce, &new, T0).await.unwrap();
            won.then_some(new)
        });
    }
    let winners: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "rotations from one nonce");
    let record = store.get(&file.id, T0).await.unwrap().unwrap();
    assert_eq!(record.file.nonce, winners[0]);
}

/// Reports `id` at `now`, expecting `outcome`.
async fn report(
    store: &dyn MetaStore,
    id: &FileId,
    reason: ReportReason,
    details: &str,
    now: Millis,
    outcome: Reported,
) {
    assert_eq!(
        store.report(id, reason, details, now).await.unwrap(),
        outcome,
        "report of {id} at {now}"
    );
}

/// The held row of `id`, which `get` must not see.
async fn held(store: &dyn MetaStore, id: &FileId, now: Millis) -> FileRecord {
    assert_eq!(store.get(id, now).await.unwrap(), None, "get of held {id}");
    let record = store.find(id, now).await.unwrap().expect("the held row");
    assert!(record.report.is_some(), "{id} is held");
    record
}

async fn report_holds_the_file(store: &dyn MetaStore) {
    let file = insert(store, 3, T0 + DAY).await;
    let id = &file.id;
    let r1 = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.complete_download(id, &r1, T0).await.unwrap(),
        Complete::Counted
    );
    let in_progress = reserve(store, id, T0, T0 + LEASE).await;
    report(
        store,
        id,
        ReportReason::Phishing,
        "a fake bank login",
        T0 + 5,
        Reported::Held,
    )
    .await;
    let record = held(store, id, T0 + 6).await;
    assert_eq!(record.file, file, "the upload's fields are kept");
    assert_eq!(
        (record.downloads, record.reserved),
        (1, 0),
        "downloads kept, reservations dropped"
    );
    assert_eq!(
        record.report,
        Some(Report {
            reason: ReportReason::Phishing,
            details: "a fake bank login".to_owned(),
            reported_at: T0 + 5,
            count: 1,
        })
    );
    // Served by nothing: every flow sees it as gone.
    assert_unavailable(store, id, T0 + 6).await;
    assert_eq!(
        store
            .complete_download(id, &in_progress, T0 + 6)
            .await
            .unwrap(),
        Complete::Refused,
        "a download in progress cannot complete"
    );
    assert!(
        !store
            .renew_reservation(id, &in_progress, T0 + 6, T0 + LEASE)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_nonce(id, &file.nonce, "other", T0 + 6)
            .await
            .unwrap()
    );
    assert_eq!(store.set_dlimit(id, 10, T0 + 6).await.unwrap(), None);
    assert_eq!(store.set_dlimit(id, 1, T0 + 6).await.unwrap(), None);
    assert!(
        !store
            .set_password(id, b"key", "nonce", T0 + 6)
            .await
            .unwrap()
    );
    assert_eq!(
        store.delete(id, T0 + 6).await.unwrap(),
        None,
        "the owner cannot delete it"
    );
    assert!(store.knows_blob(&file.blob_key).await.unwrap());
    let after = held(store, id, T0 + 7).await;
    assert_eq!(
        (after.file.clone(), after.downloads),
        (file.clone(), 1),
        "nothing changed it"
    );

    // A second report counts; the first one's reason, details and time stay.
    report(
        store,
        id,
        ReportReason::Other,
        "",
        T0 + 9,
        Reported::AlreadyHeld,
    )
    .await;
    let record = held(store, id, T0 + 10).await;
    let first = record.report.expect("held");
    assert_eq!(
        (
            first.reason,
            first.details.as_str(),
            first.reported_at,
            first.count
        ),
        (ReportReason::Phishing, "a fake bank login", T0 + 5, 2)
    );

    // Unknown, expired and deleted files cannot be reported.
    let unknown = FileId::generate().unwrap();
    report(
        store,
        &unknown,
        ReportReason::Malware,
        "",
        T0,
        Reported::Missing,
    )
    .await;
    assert_eq!(store.find(&unknown, T0).await.unwrap(), None);
    let expired = insert(store, 1, T0 + 100).await;
    report(
        store,
        &expired.id,
        ReportReason::Malware,
        "",
        T0 + 100,
        Reported::Missing,
    )
    .await;
    assert_eq!(store.find(&expired.id, T0 + 100).await.unwrap(), None);
    assert!(store.get(&expired.id, T0 + 99).await.unwrap().is_some());
    let deleted = insert(store, 1, T0 + DAY).await;
    store.delete(&deleted.id, T0).await.unwrap();
    report(
        store,
        &deleted.id,
        ReportReason::Illegal,
        "",
        T0,
        Reported::Missing,
    )
    .await;

    assert_eq!(
        store.take_down(id, T0 + 11).await.unwrap(),
        Some(file.blob_key.clone())
    );
    assert_finished(store, &file, T0 + 11).await;
    store.delete(&expired.id, T0).await.unwrap();
    for f in [&file, &deleted, &expired] {
        store.clear_tombstone(&f.blob_key).await.unwrap();
    }
}

/// Times 3 000 to 4 000 of the low zone.
async fn held_files_outlive_expiry(store: &dyn MetaStore) {
    let file = insert(store, 2, 3_500).await;
    let id = &file.id;
    report(store, id, ReportReason::Malware, "", 3_100, Reported::Held).await;
    // Long past its expiry: still held, never swept, and no wake-up for it.
    let taken = store.take_expired(3_900, usize::MAX).await.unwrap();
    assert!(!taken.contains(&file.blob_key), "the sweeper skips it");
    for key in &taken {
        store.clear_tombstone(key).await.unwrap();
    }
    assert!(
        store
            .next_expiry()
            .await
            .unwrap()
            .is_none_or(|t| !(3_000..4_000).contains(&t)),
        "held rows do not wake the sweeper"
    );
    let record = held(store, id, 3_900).await;
    assert_eq!(record.file.expires_at, 3_500);
    let record = held(store, id, T0 + 365 * DAY).await;
    assert_eq!(record.file, file);
    assert!(store.knows_blob(&file.blob_key).await.unwrap());

    // Restored after its expiry: served until the grace period's end, then swept.
    assert_eq!(store.restore(id, 3_900, 3_950).await.unwrap(), Some(3_950));
    let record = store.get(id, 3_900).await.unwrap().expect("served again");
    assert_eq!(record.file.expires_at, 3_950);
    assert_eq!(record.report, None);
    assert_eq!(store.next_expiry().await.unwrap(), Some(3_950));
    assert_eq!(store.get(id, 3_950).await.unwrap(), None);
    assert_eq!(
        store.take_expired(3_950, usize::MAX).await.unwrap(),
        vec![file.blob_key.clone()]
    );
    assert_finished(store, &file, 3_950).await;
    store.clear_tombstone(&file.blob_key).await.unwrap();
}

async fn restore_serves_again(store: &dyn MetaStore) {
    let file = insert(store, 2, T0 + DAY).await;
    let id = &file.id;
    assert_eq!(
        store.restore(id, T0, T0 + 1_000).await.unwrap(),
        None,
        "a served file is not held"
    );
    let r = reserve(store, id, T0, T0 + LEASE).await;
    assert_eq!(
        store.complete_download(id, &r, T0).await.unwrap(),
        Complete::Counted
    );
    report(
        store,
        id,
        ReportReason::Copyright,
        "my film",
        T0 + 1,
        Reported::Held,
    )
    .await;
    // Restored before its expiry: the expiry it had.
    assert_eq!(
        store.restore(id, T0 + 2, T0 + 1_000).await.unwrap(),
        Some(T0 + DAY)
    );
    assert_eq!(
        store.restore(id, T0 + 2, T0 + 1_000).await.unwrap(),
        None,
        "restored twice"
    );
    let record = store.get(id, T0 + 3).await.unwrap().expect("served again");
    assert_eq!(record.file, file);
    assert_eq!((record.downloads, record.reserved), (1, 0));
    assert_eq!(record.report, None);
    assert!(
        store
            .rotate_nonce(id, &file.nonce, "n1", T0 + 3)
            .await
            .unwrap()
    );
    // The download it had left.
    let r = reserve(store, id, T0 + 3, T0 + LEASE).await;
    assert_unavailable(store, id, T0 + 3).await;
    assert_eq!(
        store.complete_download(id, &r, T0 + 4).await.unwrap(),
        Complete::Last {
            blob_key: file.blob_key.clone()
        }
    );
    assert_finished(store, &file, T0 + 4).await;
    store.clear_tombstone(&file.blob_key).await.unwrap();

    // It can be reported again after a restore, and that report starts afresh.
    let again = insert(store, 1, T0 + DAY).await;
    report(
        store,
        &again.id,
        ReportReason::Other,
        "",
        T0,
        Reported::Held,
    )
    .await;
    store.restore(&again.id, T0, T0).await.unwrap();
    report(
        store,
        &again.id,
        ReportReason::Malware,
        "",
        T0 + 1,
        Reported::Held,
    )
    .await;
    let record = held(store, &again.id, T0 + 1).await;
    assert_eq!(
        record.report.map(|r| (r.reason, r.count, r.reported_at)),
        Some((ReportReason::Malware, 1, T0 + 1))
    );
    store.take_down(&again.id, T0 + 2).await.unwrap();
    store.clear_tombstone(&again.blob_key).await.unwrap();
    let unknown = FileId::generate().unwrap();
    assert_eq!(store.restore(&unknown, T0, T0).await.unwrap(), None);
}

async fn take_down(store: &dyn MetaStore) {
    // A held file.
    let held_file = insert(store, 2, T0 + DAY).await;
    report(
        store,
        &held_file.id,
        ReportReason::Illegal,
        "",
        T0,
        Reported::Held,
    )
    .await;
    assert_eq!(
        store.take_down(&held_file.id, T0 + 20).await.unwrap(),
        Some(held_file.blob_key.clone())
    );
    assert_finished(store, &held_file, T0 + 20).await;
    assert_eq!(store.find(&held_file.id, T0).await.unwrap(), None);
    assert_eq!(
        store.take_down(&held_file.id, T0 + 21).await.unwrap(),
        None,
        "taken down twice"
    );
    assert_eq!(store.restore(&held_file.id, T0, T0).await.unwrap(), None);
    // A served file, with a download in progress that can no longer complete.
    let served = insert(store, 2, T0 + DAY).await;
    let r = reserve(store, &served.id, T0, T0 + LEASE).await;
    assert_eq!(
        store.take_down(&served.id, T0 + 30).await.unwrap(),
        Some(served.blob_key.clone())
    );
    assert_finished(store, &served, T0 + 30).await;
    assert_eq!(
        store
            .complete_download(&served.id, &r, T0 + 31)
            .await
            .unwrap(),
        Complete::Refused
    );
    // An expired file not yet swept.
    let expired = insert(store, 1, T0 + 10).await;
    assert_eq!(
        store.take_down(&expired.id, T0 + 40).await.unwrap(),
        Some(expired.blob_key.clone())
    );
    assert_finished(store, &expired, T0 + 40).await;
    for f in [&held_file, &served, &expired] {
        store.clear_tombstone(&f.blob_key).await.unwrap();
    }
    let unknown = FileId::generate().unwrap();
    assert_eq!(store.take_down(&unknown, T0).await.unwrap(), None);
}

async fn list_reported(store: &dyn MetaStore) {
    // Reported out of insertion order; listed by report time.
    let files = [
        insert(store, 1, T0 + DAY).await,
        insert(store, 1, T0 + DAY).await,
        insert(store, 1, T0 + DAY).await,
    ];
    let served = insert(store, 1, T0 + DAY).await;
    for (file, at) in files.iter().zip([T0 + 300, T0 + 100, T0 + 200]) {
        report(store, &file.id, ReportReason::Other, "", at, Reported::Held).await;
    }
    let listed = store.list_reported(usize::MAX).await.unwrap();
    let ours: Vec<&FileId> = listed
        .iter()
        .map(|r| &r.file.id)
        .filter(|id| files.iter().any(|f| f.id == **id))
        .collect();
    assert_eq!(ours, vec![&files[1].id, &files[2].id, &files[0].id]);
    assert!(!listed.iter().any(|r| r.file.id == served.id));
    let times: Vec<Millis> = listed
        .iter()
        .map(|r| r.report.as_ref().expect("held").reported_at)
        .collect();
    assert!(times.is_sorted(), "oldest report first: {times:?}");
    let record = listed
        .iter()
        .find(|r| r.file.id == files[0].id)
        .expect("listed");
    assert_eq!(record.file, files[0]);
    assert_eq!(store.list_reported(1).await.unwrap().len(), 1, "the limit");
    assert_eq!(store.list_reported(0).await.unwrap(), Vec::new());
    // Restored and taken-down files leave the list.
    store.restore(&files[0].id, T0, T0).await.unwrap();
    store.take_down(&files[1].id, T0).await.unwrap();
    let listed = store.list_reported(usize::MAX).await.unwrap();
    assert!(
        !listed
            .iter()
            .any(|r| r.file.id == files[0].id || r.file.id == files[1].id)
    );
    assert!(listed.iter().any(|r| r.file.id == files[2].id));
    for f in [&files[0], &files[2], &served] {
        store.take_down(&f.id, T0).await.unwrap();
    }
    for f in files.iter().chain([&served]) {
        store.clear_tombstone(&f.blob_key).await.unwrap();
    }
}
