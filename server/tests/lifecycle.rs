//! Lifecycle guarantees: atomic download limits under concurrency, aborted downloads,
//! expiry with an injected clock, cancelled uploads leave nothing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use sealdrop_protocol::Secret;
use sealdrop_protocol::link::ShareLink;
use sealdrop_server::clock::{Clock, ManualClock};
use sealdrop_testkit::wait::{self, Patience};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A server for 50 racers that all connect from 127.0.0.1, each with connections of its
/// own: the per-client connection cap would count them as one client.
async fn racing_server() -> TestServer {
    TestServer::start_with(
        |c| c.max_connections_per_client = 0,
        Arc::new(sealdrop_server::clock::SystemClock),
    )
    .await
}

async fn race(server: &TestServer, dlimit: u32, racers: usize) -> usize {
    let plain = Arc::new(content(100_000, dlimit as u8));
    let up = upload_ws(
        &server.base,
        &plain,
        UploadOptions {
            dlimit: Some(dlimit),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..racers)
        .map(|_| tokio::spawn(racer(up.link.clone(), plain.clone())))
        .collect();
    let mut complete = 0;
    for t in tasks {
        complete += usize::from(t.await.unwrap());
    }
    // Afterwards the file is gone.
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
    complete
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn download_limit_one_under_50_racers() {
    let server = racing_server().await;
    for round in 0..20 {
        assert_eq!(race(&server, 1, 50).await, 1, "round {round}");
    }
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn download_limit_five_under_50_racers() {
    let server = racing_server().await;
    for round in 0..5 {
        assert_eq!(race(&server, 5, 50).await, 5, "round {round}");
    }
}

async fn info(up: &Uploaded) -> serde_json::Value {
    let (status, body) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
    assert_eq!(status, 200);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_download_does_not_count() {
    let server = TestServer::start().await;
    // Larger than the loopback socket buffers, so the server is still sending when the
    // client leaves (a download whose last byte was written counts).
    let plain = content(48 * 1024 * 1024, 9);
    let up = upload_ws(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    let key = up.link.secret().auth_key();
    let nonce = fetch_nonce(&up.link).await.unwrap();
    let mut resp = signed_get(&up.link.api_url("download"), &key, &nonce).await;
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(resp);
    // The slot comes back once the server notices the client left.
    let (_, got) = wait::until_async("the slot is released", wait::EVENTUALLY, async || {
        download(&up.link).await
    })
    .await;
    assert!(got == plain);
    assert_eq!(
        fetch_nonce(&up.link).await.unwrap_err(),
        404,
        "dlimit 1 is now used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_served_after_expiry_and_the_sweeper_removes_the_blob() {
    let clock = ManualClock::new(sealdrop_server::clock::SystemClock.now());
    let server = TestServer::start_with_clock(clock.clone()).await;
    let plain = content(70_000, 2);
    let up = upload_ws(
        &server.base,
        &plain,
        UploadOptions {
            time_limit: Some(60),
            dlimit: Some(10),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(download(&up.link).await.unwrap().1 == plain);
    let key = up.link.secret().auth_key();
    let nonce = fetch_nonce(&up.link).await.unwrap();
    clock.advance(Duration::from_millis(59_999));
    assert_eq!(info(&up).await["ttl"], 1);
    clock.advance(Duration::from_millis(1));
    // At expires_at exactly, everything is gone, before any sweep.
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
    for op in ["metadata", "download"] {
        let r = signed_get(&up.link.api_url(op), &key, &nonce).await;
        assert_eq!(r.status(), 404, "{op}");
    }
    assert_eq!(
        reqwest::get(up.link.download_page())
            .await
            .unwrap()
            .status(),
        404
    );
    let (status, _) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
    assert_eq!(status, 404);
    assert_eq!(
        server.blob_files().len(),
        1,
        "the blob waits for the sweeper"
    );
    let report = sealdrop_server::expiry::sweep_once(&server.state)
        .await
        .unwrap();
    assert_eq!((report.expired, report.blobs_deleted), (1, 1));
    assert!(server.blob_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_download_deletes_row_and_blob() {
    let server = TestServer::start().await;
    let up = upload_ws(
        &server.base,
        b"twice",
        UploadOptions {
            dlimit: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(download(&up.link).await.unwrap().1, b"twice");
    assert_eq!(info(&up).await["dtotal"], 1);
    assert_eq!(download(&up.link).await.unwrap().1, b"twice");
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
    wait_empty(&server).await;
}

/// Waits until the blob directory is empty (files on their way out keep going).
async fn wait_empty(server: &TestServer) {
    wait::for_progress_async("blob files to remove", Patience::GENEROUS, async || {
        server.blob_files()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_websocket_upload_leaves_nothing() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let (mut ws, first) = ws_begin(
        &server.base,
        &secret,
        1 << 20,
        &UploadOptions {
            time_limit: Some(300),
            dlimit: Some(1),
            ..Default::default()
        },
    )
    .await;
    let answer: serde_json::Value = serde_json::from_str(&first).unwrap();
    let cipher = encrypt(&secret, &content(1 << 20, 1));
    for frame in cipher[..300_000].chunks(65536) {
        ws.send(Message::binary(frame.to_vec())).await.unwrap();
    }
    // Wait until the pending file exists, then drop the connection without a close frame.
    wait::until_async("the pending file exists", wait::EVENTUALLY, async || {
        !server.blob_files().is_empty()
    })
    .await;
    drop(ws);
    wait_empty(&server).await;
    let link = ShareLink::from_download_url(answer["url"].as_str().unwrap(), secret).unwrap();
    assert_eq!(fetch_nonce(&link).await.unwrap_err(), 404);
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_http_upload_leaves_nothing() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &content(1 << 20, 1));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let request = reqwest::Client::new()
        .post(format!("{}/api/upload", server.base))
        .header(
            "x-file-metadata",
            sealdrop_protocol::Metadata::single("x", 1 << 20, "a/b")
                .encrypt(&secret.metadata_key()),
        )
        .header(
            "authorization",
            format!("send-v1 {}", secret.auth_key().to_base64url()),
        )
        .body(body)
        .send();
    let sender = async {
        for frame in cipher[..300_000].chunks(65536) {
            tx.send(Ok(frame.to_vec())).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send(Err(std::io::Error::other("client gave up")))
            .await
            .unwrap();
    };
    let (result, ()) = tokio::join!(request, sender);
    if let Ok(resp) = result {
        assert_ne!(resp.status(), 200);
    }
    wait_empty(&server).await;
    server.healthy().await;
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_survive_a_restart() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"persist", UploadOptions::default())
        .await
        .unwrap();
    // Stop, then start a new server on the same data directory.
    let dir = server.stop().await;
    let keep = dir.path().join("data");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = sealdrop_server::Config::with_data_dir(&keep);
    config.base_url = format!("http://{addr}");
    let state = sealdrop_server::open_state(config, Arc::new(sealdrop_server::clock::SystemClock))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sealdrop_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    let moved = ShareLink::parse(&format!(
        "http://{addr}/download/{}/#{}",
        up.id,
        up.link.secret().to_base64url()
    ))
    .unwrap();
    assert_eq!(download(&moved).await.unwrap().1, b"persist");
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_running_upload_finish_and_refuses_new_connections() {
    let mut server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let plain = content(300_000, 8);
    let cipher = encrypt(&secret, &plain);
    let (mut ws, first) = ws_begin(&server.base, &secret, 300_000, &UploadOptions::default()).await;
    let answer: serde_json::Value = serde_json::from_str(&first).unwrap();
    ws.send(Message::binary(cipher[..100_000].to_vec()))
        .await
        .unwrap();

    // No new connections during shutdown (once it has begun: the server stops listening
    // on its own task), while the running upload goes on (the grace period is 30 s).
    let stopped = server.begin_stop();
    wait::until_async(
        "new connections are refused during shutdown",
        Duration::from_secs(20),
        async || {
            reqwest::get(format!("{}/__lbheartbeat__", server.base))
                .await
                .is_err()
        },
    )
    .await;
    ws.send(Message::binary(cipher[100_000..].to_vec()))
        .await
        .unwrap();
    ws.send(Message::binary(vec![0])).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"{"ok":true}"#);
    stopped.await.unwrap().unwrap();

    // The upload is there after a restart on the same data.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = sealdrop_server::Config::with_data_dir(server.dir.path().join("data"));
    config.base_url = format!("http://{addr}");
    let state = sealdrop_server::open_state(config, Arc::new(sealdrop_server::clock::SystemClock))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sealdrop_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    let id = answer["id"].as_str().unwrap();
    let link = ShareLink::parse(&format!(
        "http://{addr}/download/{id}/#{}",
        secret.to_base64url()
    ))
    .unwrap();
    assert!(download(&link).await.unwrap().1 == plain);
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
