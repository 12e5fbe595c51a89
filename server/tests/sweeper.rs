//! The sweeper never touches what is not sealdrop's (real moto and garage, no mocks).
//!
//! One bucket holds other people's objects and multipart uploads of every shape (names
//! that look exactly like blob keys among them, at the root, under sealdrop's prefix and
//! under another), and three deployments share it: A and B under the same prefix with
//! separate metadata stores, C under another prefix. Each sweeps many rounds, first at
//! the real time, then with its clock four days ahead. What must hold:
//!
//! - no foreign object or upload is deleted or aborted, ever;
//! - a live file of A is never deleted by B, which has no row for it;
//! - a blob of sealdrop's without a row (a crash's orphan) stays until its own deadline
//!   (its key's days plus two), then goes;
//! - an abandoned multipart upload of sealdrop's (with its marker) is aborted, and its
//!   marker goes with it;
//! - the expired file's blob is deleted (through DeleteObjects) once its row expires.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use sealdrop_protocol::api::FileId;
use sealdrop_server::clock::{Clock, ManualClock};
use sealdrop_server::config::S3Config;
use sealdrop_server::expiry::sweep_once;
use sealdrop_server::meta::{MetaStore, NewFile};
use sealdrop_server::storage::BlobStore;
use sealdrop_server::storage::s3::S3Store;
use sealdrop_server::{AppState, Config};
use sealdrop_testkit::{Garage, Moto, S3Endpoint};

const BUCKET: &str = "mixed";
const DAY: Duration = Duration::from_secs(86_400);

/// Objects that are not sealdrop's: full object keys.
const FOREIGN_OBJECTS: &[&str] = &[
    "backup",
    "index",
    "2024-report",
    "7-0123456789abcdef",
    "1-00000000000000a1",
    "files/backup",
    "files/2024-report",
    "files/1-00000000000000a2",
    "files/7-0123456789ABCDEF",
    "files/01-00000000000000a3",
    "files/nested/1-00000000000000a4",
    "files/.uploading-1-00000000000000a5",
    "other-app/1-00000000000000a6",
];

/// Multipart uploads that are not sealdrop's: object keys.
const FOREIGN_UPLOADS: &[&str] = &[
    "files/1-00000000000000b1",
    "files/backup.tar",
    "1-00000000000000b2",
    "other/1-00000000000000b3",
];

struct Deployment {
    state: AppState,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn deployment(s3: &S3Endpoint, prefix: &str) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path());
    config.orphan_grace = Duration::from_secs(1);
    let s3_config = S3Config {
        bucket: BUCKET.to_owned(),
        prefix: prefix.to_owned(),
        endpoint: Some(s3.endpoint.clone()),
        region: Some(s3.region.clone()),
        path_style: true,
        part_size: 5 << 20,
        parts_in_flight: 2,
        timeout: Duration::from_secs(30),
        credentials: None,
    };
    let blobs: Arc<dyn BlobStore> = Arc::new(
        S3Store::connect_with_credentials(&s3_config, &s3.access_key, &s3.secret_key)
            .await
            .unwrap(),
    );
    let meta: Arc<dyn MetaStore> = Arc::new(
        sealdrop_server::meta::sqlite::SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap(),
    );
    let clock = ManualClock::new(sealdrop_server::clock::SystemClock.now());
    let state = AppState::new(
        config,
        meta,
        blobs,
        clock.clone(),
        Arc::new(sealdrop_server::upload_auth::UploadAuth::disabled()),
    );
    Deployment {
        state,
        clock,
        _dir: dir,
    }
}

/// Writes a blob through the deployment's store, with a row expiring in `expires_in`
/// when given.
async fn file(d: &Deployment, key: &str, expires_in: Option<Duration>) {
    let mut writer = d.state.blobs.begin(key).await.unwrap();
    writer
        .write(Bytes::from_static(b"ciphertext"))
        .await
        .unwrap();
    writer.commit().await.unwrap();
    let Some(expires_in) = expires_in else {
        return;
    };
    let id = key.split_once('-').unwrap().1;
    d.state
        .meta
        .insert(NewFile {
            id: FileId::parse(id).unwrap(),
            blob_key: key.to_owned(),
            owner_hash: [7; 32],
            metadata: "bWV0YQ".to_owned(),
            auth_key: vec![1; 64],
            nonce: "bm9uY2U=".to_owned(),
            dlimit: 1,
            expires_at: d.clock.now() + expires_in.as_millis() as u64,
            size: 10,
        })
        .await
        .unwrap();
}

async fn exists(client: &aws_sdk_s3::Client, key: &str) -> bool {
    client
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn uploads(client: &aws_sdk_s3::Client) -> Vec<String> {
    let out = client
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter_map(|u| u.key().map(ToOwned::to_owned))
        .collect()
}

/// Rounds of every deployment's sweeper, a grace apart.
async fn sweep(deployments: &[&Deployment], rounds: usize) {
    for _ in 0..rounds {
        for d in deployments {
            sweep_once(&d.state).await.unwrap();
        }
        // Past the orphan grace on both clocks: the stores' times are real, the
        // sweeper's sightings are its clock's.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for d in deployments {
            d.clock.advance(Duration::from_millis(1100));
        }
    }
}

async fn nothing_foreign_is_touched(s3: &S3Endpoint) {
    let client = s3.client();
    for key in FOREIGN_OBJECTS {
        client
            .put_object()
            .bucket(BUCKET)
            .key(*key)
            .body(ByteStream::from_static(b"not sealdrop's"))
            .send()
            .await
            .unwrap();
    }
    for key in FOREIGN_UPLOADS {
        client
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(*key)
            .send()
            .await
            .unwrap();
    }
    let (a, b, c) = (
        deployment(s3, "files/").await,
        deployment(s3, "files/").await,
        deployment(s3, "other/").await,
    );
    // A's live file (7 days), A's file that expires in an hour, an orphan of A's (a
    // crash between the blob and its row), and an abandoned upload of sealdrop's.
    let (live, expiring, orphan, abandoned) = (
        "7-00000000000000c1",
        "1-00000000000000c2",
        "1-00000000000000c3",
        "1-00000000000000c4",
    );
    file(&a, live, Some(7 * DAY - Duration::from_secs(60))).await;
    file(&a, expiring, Some(Duration::from_secs(3600))).await;
    file(&a, orphan, None).await;
    let marker = format!("files/.uploading-{abandoned}");
    client
        .put_object()
        .bucket(BUCKET)
        .key(&marker)
        .metadata("sealdrop-id", abandoned)
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(format!("files/{abandoned}"))
        .metadata("sealdrop-id", abandoned)
        .send()
        .await
        .unwrap();

    // Today: nothing is past its deadline; only the abandoned upload goes.
    sweep(&[&a, &b, &c], 3).await;
    for key in FOREIGN_OBJECTS {
        assert!(exists(&client, key).await, "foreign object {key} deleted");
    }
    for key in [live, expiring, orphan] {
        assert!(
            exists(&client, &format!("files/{key}")).await,
            "{key} deleted before its deadline"
        );
    }
    let listed = uploads(&client).await;
    for key in FOREIGN_UPLOADS {
        assert!(
            listed.iter().any(|k| k == key),
            "foreign upload {key} aborted"
        );
    }
    assert!(
        !listed.contains(&format!("files/{abandoned}")),
        "the abandoned upload of sealdrop's stays"
    );
    assert!(!exists(&client, &marker).await, "its marker stays");

    // Four days later: the orphan and the expired file go, A's live file stays, and
    // still nothing foreign is touched.
    for d in [&a, &b, &c] {
        d.clock.advance(4 * DAY);
    }
    sweep(&[&a, &b, &c], 3).await;
    assert!(
        !exists(&client, &format!("files/{orphan}")).await,
        "the orphan stays after its deadline"
    );
    assert!(
        !exists(&client, &format!("files/{expiring}")).await,
        "the expired file's blob stays"
    );
    assert!(
        exists(&client, &format!("files/{live}")).await,
        "A's live file was deleted by a deployment without its row"
    );
    for key in FOREIGN_OBJECTS {
        assert!(exists(&client, key).await, "foreign object {key} deleted");
    }
    let listed = uploads(&client).await;
    for key in FOREIGN_UPLOADS {
        assert!(
            listed.iter().any(|k| k == key),
            "foreign upload {key} aborted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_touches_nothing_foreign_on_moto() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    nothing_foreign_is_touched(&moto.s3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_touches_nothing_foreign_on_garage() {
    let garage = Garage::start();
    garage.create_bucket(BUCKET);
    nothing_foreign_is_touched(&garage.s3).await;
}
