//! The metrics listener (`--metrics-listen`): a scrape after real transfers over real
//! sockets counts them exactly; failed uploads are counted by reason; the sweeper's work
//! shows; the metrics are served on their own listener only, which stops with the server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sealdrop_protocol::ece::encrypted_size;
use sealdrop_protocol::{Metadata, Secret, auth};
use sealdrop_server::clock::{Clock, ManualClock, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// The samples of one scrape, `name{labels}` → value, as the text format writes them.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').expect("a sample line: name value");
            let value: f64 = value.parse().expect("a number");
            assert!(
                samples.insert(key.to_owned(), value).is_none(),
                "{key} twice"
            );
        }
        Self(samples)
    }

    /// A sample's value; a series that does not exist yet counts 0.
    fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// The sum of every series of the metric `name` (all its label values).
    fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .map(|(_, v)| v)
            .sum()
    }

    /// The non-zero series of `name`, for messages.
    fn series(&self, name: &str) -> Vec<(String, f64)> {
        self.0
            .iter()
            .filter(|(k, v)| k.split('{').next() == Some(name) && **v != 0.0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

async fn scrape(metrics: &str) -> Scrape {
    let resp = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("# TYPE sealdrop_uploads_started_total counter"));
    assert!(text.contains("# TYPE sealdrop_storage_operation_duration_seconds histogram"));
    Scrape::parse(&text)
}

/// Scrapes until `done` holds (the server settles some things after answering: a
/// connection closing, a download slot given back), for at most 30 s.
async fn scrape_until(metrics: &str, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = scrape(metrics).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never: {what}\n{s:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cipher_len(plain: &[u8]) -> f64 {
    encrypted_size(plain.len() as u64).unwrap() as f64
}

/// Sends a raw HTTP/1.1 request and returns the status of the answer.
async fn raw_status(base: &str, request: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_scrape_after_transfers_counts_them_exactly() {
    let server = TestServer::start_with_metrics(
        |c| c.download_idle_timeout = Duration::from_secs(2),
        Arc::new(SystemClock),
    )
    .await;
    let metrics = server.metrics.clone().unwrap();

    let first = scrape(&metrics).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        first.get(&format!("sealdrop_build_info{{version=\"{version}\"}}")),
        1.0
    );
    for name in [
        "sealdrop_uploads_started_total",
        "sealdrop_uploads_completed_total",
        "sealdrop_downloads_completed_total",
        "sealdrop_received_bytes_total",
        "sealdrop_sent_bytes_total",
        "sealdrop_rejected_requests_total",
    ] {
        assert_eq!(first.sum(name), 0.0, "{name} before any transfer");
    }
    assert_eq!(
        first.get("sealdrop_uploads_started_total{route=\"ws\"}"),
        0.0
    );
    assert!(
        first
            .0
            .contains_key("sealdrop_uploads_started_total{route=\"http\"}")
    );

    // Two WebSocket uploads, one HTTP upload (large: its download is cut short below).
    let a = content(100_000, 1);
    let b = content(300_000, 2);
    let c = content(24 << 20, 3);
    let ua = upload_ws(&server.base, &a, UploadOptions::default())
        .await
        .unwrap();
    let ub = upload_ws(&server.base, &b, UploadOptions::default())
        .await
        .unwrap();
    let uc = upload_http(
        &server.base,
        &c,
        UploadOptions {
            dlimit: Some(2),
            ..UploadOptions::default()
        },
    )
    .await
    .unwrap();

    // Two complete downloads.
    assert_eq!(download(&ua.link).await.unwrap().1, a);
    assert_eq!(download(&ub.link).await.unwrap().1, b);

    // One download aborted: the client reads one chunk of 24 MiB, then hangs up.
    let nonce = fetch_nonce(&uc.link).await.unwrap();
    let key = uc.link.secret().auth_key();
    let resp = signed_get(&uc.link.api_url("download"), &key, &nonce).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let chunk = body.next().await.unwrap().unwrap();
    assert!(!chunk.is_empty());
    drop(body);

    // Two rejected requests: a declared body over the limit (413), an unknown id (404).
    let too_large = raw_status(
        &server.base,
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000000\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert_eq!(too_large, 413);
    let unknown = reqwest::get(server.url("/api/exists/0123456789"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let s = scrape_until(
        &metrics,
        "the aborted download and every connection settled",
        |s| {
            s.get("sealdrop_downloads_aborted_total") == 1.0
                && s.get("sealdrop_downloads_active") == 0.0
                && s.get("sealdrop_connections_open") == 0.0
                && s.get("sealdrop_meta_operation_duration_seconds_count{op=\"release_download\"}")
                    == 1.0
        },
    )
    .await;

    assert_eq!(s.get("sealdrop_uploads_started_total{route=\"ws\"}"), 2.0);
    assert_eq!(s.get("sealdrop_uploads_started_total{route=\"http\"}"), 1.0);
    assert_eq!(s.get("sealdrop_uploads_completed_total{route=\"ws\"}"), 2.0);
    assert_eq!(
        s.get("sealdrop_uploads_completed_total{route=\"http\"}"),
        1.0
    );
    assert_eq!(
        s.sum("sealdrop_uploads_failed_total"),
        0.0,
        "{:?}",
        s.series("sealdrop_uploads_failed_total")
    );
    assert_eq!(s.get("sealdrop_uploads_active"), 0.0);
    assert_eq!(s.get("sealdrop_downloads_completed_total"), 2.0);
    assert_eq!(s.get("sealdrop_downloads_aborted_total"), 1.0);
    assert_eq!(s.get("sealdrop_downloads_active"), 0.0);

    // Ciphertext in: the three uploads exactly. Out: the two complete downloads, and part
    // of the aborted one.
    let received = cipher_len(&a) + cipher_len(&b) + cipher_len(&c);
    assert_eq!(s.get("sealdrop_received_bytes_total"), received);
    let complete = cipher_len(&a) + cipher_len(&b);
    let sent = s.get("sealdrop_sent_bytes_total");
    assert!(
        sent > complete && sent < complete + cipher_len(&c),
        "sent {sent}, complete downloads {complete}"
    );

    // Exactly the two rejections, by reason and class.
    assert_eq!(
        s.series("sealdrop_rejected_requests_total"),
        [
            (
                "sealdrop_rejected_requests_total{reason=\"not_found\",class=\"4xx\"}".to_owned(),
                1.0
            ),
            (
                "sealdrop_rejected_requests_total{reason=\"too_large\",class=\"4xx\"}".to_owned(),
                1.0
            ),
        ]
    );

    // The store calls of three uploads, three downloads (one aborted).
    let blob = |op: &str| {
        s.get(&format!(
            "sealdrop_storage_operation_duration_seconds_count{{op=\"{op}\"}}"
        ))
    };
    let meta = |op: &str| {
        s.get(&format!(
            "sealdrop_meta_operation_duration_seconds_count{{op=\"{op}\"}}"
        ))
    };
    assert_eq!(blob("begin"), 3.0);
    assert_eq!(blob("commit"), 3.0);
    assert_eq!(blob("abort"), 0.0);
    assert_eq!(blob("open"), 3.0);
    assert_eq!(meta("insert"), 3.0);
    assert_eq!(meta("reserve_download"), 3.0);
    assert_eq!(meta("complete_download"), 2.0);
    assert_eq!(meta("release_download"), 1.0);
    assert!(meta("get") >= 3.0);
    assert!(meta("rotate_nonce") >= 3.0);
    assert!(s.get("sealdrop_meta_operation_duration_seconds_sum{op=\"insert\"}") > 0.0);
    assert_eq!(
        s.get("sealdrop_meta_operation_duration_seconds_bucket{op=\"insert\",le=\"+Inf\"}"),
        3.0
    );
    // The sweeper ran at start.
    assert!(s.get("sealdrop_sweeper_runs_total{outcome=\"ok\"}") >= 1.0);
    assert_eq!(s.get("sealdrop_sweeper_runs_total{outcome=\"error\"}"), 0.0);
}

#[tokio::test]
async fn failed_uploads_are_counted_by_reason_and_the_gauges_return_to_zero() {
    let server =
        TestServer::start_with_metrics(|c| c.max_file_size = 1 << 20, Arc::new(SystemClock)).await;
    let metrics = server.metrics.clone().unwrap();

    // A WebSocket upload whose client vanishes after one frame.
    let secret = Secret::generate().unwrap();
    let plain = content(200_000, 4);
    let cipher = encrypt(&secret, &plain);
    let (mut ws, first) = ws_begin(
        &server.base,
        &secret,
        plain.len(),
        &UploadOptions::default(),
    )
    .await;
    assert!(first.contains("\"id\""), "{first}");
    ws.send(Message::binary(cipher[..65_536].to_vec()))
        .await
        .unwrap();
    ws.flush().await.unwrap();
    drop(ws);

    // An HTTP upload whose client closes the connection in the middle of the body.
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &plain);
    let metadata = Metadata::single("f.bin", plain.len() as u64, "application/octet-stream")
        .encrypt(&secret.metadata_key());
    let key = auth::format_header(&secret.auth_key().to_base64url());
    let addr = server.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nX-File-Metadata: {metadata}\r\n\
         Authorization: {key}\r\nContent-Length: {}\r\n\r\n",
        cipher.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&cipher[..70_000]).await.unwrap();
    tcp.flush().await.unwrap();
    // The server has the bytes (its pending blob exists) before the client goes.
    scrape_until(&metrics, "the HTTP upload started", |s| {
        s.get("sealdrop_uploads_started_total{route=\"http\"}") == 1.0
    })
    .await;
    drop(tcp);

    // A WebSocket upload over the size limit.
    let big = content(2 << 20, 5);
    assert_eq!(
        upload_ws(&server.base, &big, UploadOptions::default())
            .await
            .unwrap_err(),
        413
    );

    let s = scrape_until(&metrics, "three failed uploads", |s| {
        s.get("sealdrop_uploads_active") == 0.0
            && s.sum("sealdrop_uploads_failed_total") == 3.0
            && s.get("sealdrop_connections_open") == 0.0
    })
    .await;
    assert_eq!(
        s.series("sealdrop_uploads_failed_total"),
        [
            (
                "sealdrop_uploads_failed_total{route=\"http\",reason=\"disconnected\"}".to_owned(),
                1.0
            ),
            (
                "sealdrop_uploads_failed_total{route=\"ws\",reason=\"disconnected\"}".to_owned(),
                1.0
            ),
            (
                "sealdrop_uploads_failed_total{route=\"ws\",reason=\"too_large\"}".to_owned(),
                1.0
            ),
        ]
    );
    assert_eq!(s.get("sealdrop_uploads_started_total{route=\"ws\"}"), 2.0);
    assert_eq!(s.get("sealdrop_uploads_started_total{route=\"http\"}"), 1.0);
    assert_eq!(s.sum("sealdrop_uploads_completed_total"), 0.0);
    // Only the refused upload is a rejection: nobody was left to read the other answers.
    assert_eq!(
        s.series("sealdrop_rejected_requests_total"),
        [(
            "sealdrop_rejected_requests_total{reason=\"too_large\",class=\"4xx\"}".to_owned(),
            1.0
        )]
    );
    assert!(s.get("sealdrop_received_bytes_total") >= (65_536 + 70_000) as f64);
    assert!(s.get("sealdrop_storage_operation_duration_seconds_count{op=\"begin\"}") == 3.0);
}

#[tokio::test]
async fn the_sweepers_work_is_counted() {
    let clock = ManualClock::new(SystemClock.now());
    let server = TestServer::start_with_metrics(|_| {}, clock.clone()).await;
    let metrics = server.metrics.clone().unwrap();
    let up = upload_http(
        &server.base,
        &content(10_000, 6),
        UploadOptions {
            time_limit: Some(300),
            ..UploadOptions::default()
        },
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(600));
    server.state.sweeper.notify_one();
    let s = scrape_until(&metrics, "the expired file swept", |s| {
        s.get("sealdrop_sweeper_removed_total{kind=\"expired_file\"}") == 1.0
            && s.get("sealdrop_sweeper_removed_total{kind=\"blob\"}") == 1.0
    })
    .await;
    assert!(s.get("sealdrop_sweeper_runs_total{outcome=\"ok\"}") >= 2.0);
    assert_eq!(
        s.get("sealdrop_sweeper_removed_total{kind=\"orphan_blob\"}"),
        0.0
    );
    // Exported from the start; nothing foreign in a directory of sealdrop's own.
    assert_eq!(s.0.get("sealdrop_sweeper_foreign_total"), Some(&0.0));
    assert!(s.get("sealdrop_meta_operation_duration_seconds_count{op=\"take_expired\"}") >= 2.0);
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
}

#[tokio::test]
async fn metrics_have_a_listener_of_their_own_that_stops_with_the_server() {
    // Off unless asked for.
    let plain = TestServer::start().await;
    assert_eq!(plain.state.config.metrics_listen, None);
    let resp = reqwest::get(plain.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 404);

    let server = TestServer::start_with_metrics(|_| {}, Arc::new(SystemClock)).await;
    let metrics = server.metrics.clone().unwrap();
    // Never on the main listener: the JSON 404 of any unknown path.
    let resp = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    // The metrics listener answers /metrics and nothing else.
    for path in [
        "/",
        "/api/exists/0123456789",
        "/metrics/x",
        "/__heartbeat__",
    ] {
        let resp = reqwest::get(format!("{metrics}{path}")).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let s = scrape(&metrics).await;
    // The main listener's 404 above is counted; the metrics listener's own are not.
    assert_eq!(
        s.get("sealdrop_rejected_requests_total{reason=\"not_found\",class=\"4xx\"}"),
        1.0
    );

    // It stops with the server.
    server.stop().await;
    let gone = reqwest::Client::new()
        .get(format!("{metrics}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(gone.is_err(), "the metrics listener outlived the server");
}

#[tokio::test]
async fn open_connections_and_refusals_at_the_cap_are_counted() {
    let server =
        TestServer::start_with_metrics(|c| c.max_connections = 2, Arc::new(SystemClock)).await;
    let metrics = server.metrics.clone().unwrap();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let held = [
        tokio::net::TcpStream::connect(&addr).await.unwrap(),
        tokio::net::TcpStream::connect(&addr).await.unwrap(),
    ];
    scrape_until(&metrics, "two connections open", |s| {
        s.get("sealdrop_connections_open") == 2.0
    })
    .await;
    // The metrics listener has caps of its own: scraping never counts here.
    let refused = raw_status(
        &server.base,
        "GET /config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(refused, 503);
    drop(held);
    let s = scrape_until(&metrics, "the connections closed", |s| {
        s.get("sealdrop_connections_open") == 0.0
    })
    .await;
    assert_eq!(
        s.series("sealdrop_rejected_requests_total"),
        [(
            "sealdrop_rejected_requests_total{reason=\"busy\",class=\"5xx\"}".to_owned(),
            1.0
        )]
    );
}
