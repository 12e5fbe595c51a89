//! The connection layer against slow, greedy and oversized clients, over real sockets:
//! header and body timeouts, minimum upload rate, stalled downloads, connection caps,
//! body and metadata limits. TLS is in `tls.rs`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use sealdrop_protocol::{Metadata, Secret, auth};
use sealdrop_server::Config;
use sealdrop_server::clock::SystemClock;
use sealdrop_testkit::wait::{self, Patience};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

async fn server_with(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(configure, Arc::new(SystemClock)).await
}

fn addr(server: &TestServer) -> SocketAddr {
    server.state.config.listen
}

/// A connection to the server from the loopback address `from` (127.0.0.x: each is a
/// different client for the caps).
async fn connect_from(server: &TestServer, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr(server)).await.unwrap()
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one response with a `Content-Length` body from `stream`, within `limit`.
/// `None` if the connection closed (or failed) first.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> Option<Answer> {
    tokio::time::timeout(limit, async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        Some(Answer {
            status,
            head,
            body: buf[head_end..head_end + len].to_vec(),
        })
    })
    .await
    .expect("no answer in time")
}

/// Whether the server closes `stream` within `limit` (EOF or reset), reading and
/// discarding anything before.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 8192];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

async fn heartbeat(stream: &mut TcpStream) -> Option<u16> {
    stream
        .write_all(b"GET /__lbheartbeat__ HTTP/1.1\r\nhost: sealdrop\r\n\r\n")
        .await
        .ok()?;
    read_answer(stream, Duration::from_secs(10))
        .await
        .map(|a| a.status)
}

/// The head of a plain HTTP upload of `len` ciphertext bytes for `secret`.
fn upload_head(secret: &Secret, len: usize, extra: &str) -> String {
    let meta =
        Metadata::single("slow.bin", 1, "application/octet-stream").encrypt(&secret.metadata_key());
    format!(
        "POST /api/upload HTTP/1.1\r\nhost: sealdrop\r\nx-file-metadata: {meta}\r\n\
         authorization: {}\r\ncontent-length: {len}\r\n{extra}\r\n",
        auth::format_header(&secret.auth_key().to_base64url())
    )
}

/// Waits until no blob file (committed or pending) and no metadata row is left.
async fn nothing_stored(server: &TestServer) {
    wait::for_progress_async("blob files to discard", Patience::GENEROUS, async || {
        server.blob_files()
    })
    .await;
    assert_eq!(
        server.state.meta.next_expiry().await.unwrap(),
        None,
        "no row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off_while_other_requests_are_answered() {
    let server = server_with(|c| c.header_read_timeout = Duration::from_secs(2)).await;
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    let head: &[u8] =
        b"GET /__lbheartbeat__ HTTP/1.1\r\nhost: sealdrop\r\nx-slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let slowloris = tokio::spawn(async move {
        let start = Instant::now();
        let mut sink = [0u8; 1024];
        for (sent, byte) in head.iter().enumerate() {
            if slow.write_all(&[*byte]).await.is_err() {
                return (sent, start.elapsed());
            }
            // One byte a second; a closed connection shows as EOF or an error.
            match tokio::time::timeout(Duration::from_secs(1), slow.read(&mut sink)).await {
                Err(_) => {}
                Ok(Ok(0) | Err(_)) => return (sent + 1, start.elapsed()),
                Ok(Ok(_)) => panic!("the server answered a request it never fully got"),
            }
        }
        panic!("the slow client sent all its headers without being cut off");
    });
    // Meanwhile a normal request on another connection is answered (in milliseconds; the
    // bound only catches a hang, not a loaded machine).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let asked = Instant::now();
    let r = reqwest::get(format!("{}/__version__", server.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(asked.elapsed() < wait::EVENTUALLY, "{:?}", asked.elapsed());
    let (sent, after) = slowloris.await.unwrap();
    // The header timeout is 2 s; anything well below the 80 s the headers would take.
    assert!(sent < 20, "cut off only after {sent} bytes ({after:?})");
    assert!(after >= Duration::from_secs(1), "{after:?}");
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_keep_alive_connections_are_closed() {
    let server = server_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    // Connects and never sends a byte.
    let mut silent = TcpStream::connect(addr(&server)).await.unwrap();
    // One request, then idle on a keep-alive connection.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    assert_eq!(heartbeat(&mut idle).await, Some(200));
    assert!(closed_within(&mut silent, Duration::from_secs(15)).await);
    assert!(closed_within(&mut idle, Duration::from_secs(15)).await);
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_body_is_cut_off_by_the_idle_timeout_and_leaves_nothing() {
    let server = server_with(|c| {
        c.upload_idle_timeout = Duration::from_secs(1);
        c.min_upload_rate = 0;
    })
    .await;
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &content(100_000, 3));
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(upload_head(&secret, cipher.len(), "").as_bytes())
        .await
        .unwrap();
    stream.write_all(&cipher[..30_000]).await.unwrap();
    // Then a byte every 3 s, until the server answers.
    let started = Instant::now();
    let mut next = 30_000;
    let answer = loop {
        let mut probe = stream;
        let got = tokio::time::timeout(Duration::from_secs(3), async {
            read_answer(&mut probe, Duration::from_secs(60)).await
        })
        .await;
        stream = probe;
        match got {
            Ok(answer) => break answer.expect("the server closed without an answer"),
            Err(_) => {
                assert!(started.elapsed() < Duration::from_secs(30), "never cut off");
                stream.write_all(&cipher[next..next + 1]).await.unwrap();
                next += 1;
            }
        }
    };
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.json()["error"], "timeout");
    nothing_stored(&server).await;
    server.healthy().await;
}

/// Sends `data` to `stream` in `piece`-byte writes every `every`, until the server
/// answers; returns the answer.
async fn trickle(
    mut stream: TcpStream,
    head: String,
    data: Vec<u8>,
    piece: usize,
    every: Duration,
) -> Answer {
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        for part in data.chunks(piece) {
            if writer.write_all(part).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut buf)).await;
    writing.abort();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("no answer");
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_owned(),
        body: body.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_below_the_minimum_rate_are_cut_off_on_both_routes() {
    let server = server_with(|c| {
        c.upload_idle_timeout = Duration::from_secs(10);
        c.min_upload_rate = 64 * 1024;
        c.min_upload_rate_grace = Duration::from_secs(1);
    })
    .await;
    // A fast upload is fine with these settings.
    let plain = content(300_000, 4);
    let up = upload_http(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    assert!(download(&up.link).await.unwrap().1 == plain);
    nothing_pending(&server).await;

    // HTTP: 4 KiB every 250 ms is 16 KiB/s, a quarter of the minimum.
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &content(1 << 20, 5));
    let started = Instant::now();
    let stream = TcpStream::connect(addr(&server)).await.unwrap();
    let answer = trickle(
        stream,
        upload_head(&secret, cipher.len(), ""),
        cipher,
        4096,
        Duration::from_millis(250),
    )
    .await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.json()["error"], "too_slow");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    nothing_pending(&server).await;

    // WebSocket: 4 KiB frames every 250 ms.
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &content(1 << 20, 6));
    let (ws, first) = ws_begin(&server.base, &secret, 1 << 20, &UploadOptions::default()).await;
    assert!(first.contains("url"), "{first}");
    let (mut ws_sink, mut ws_stream) = futures_util::StreamExt::split(ws);
    let sender = tokio::spawn(async move {
        for frame in cipher.chunks(4096) {
            if ws_sink.send(Message::binary(frame.to_vec())).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let last = tokio::time::timeout(Duration::from_secs(30), next_text(&mut ws_stream))
        .await
        .expect("never cut off");
    sender.abort();
    assert_eq!(ws_error(&last), (408, "too_slow".to_owned()), "{last}");
    nothing_pending(&server).await;
    server.healthy().await;
}

/// The status and code of a WebSocket error message (`{"error": N, "message", "code"}`).
fn ws_error(text: &str) -> (u16, String) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    (
        u16::try_from(value["error"].as_u64().unwrap()).unwrap(),
        value["code"].as_str().unwrap().to_owned(),
    )
}

/// Waits until no pending upload is left (committed blobs of earlier uploads stay).
async fn nothing_pending(server: &TestServer) {
    wait::for_progress_async(
        "pending uploads to discard",
        Patience::GENEROUS,
        async || {
            server
                .blob_files()
                .into_iter()
                .filter(|f| f.starts_with(".pending-"))
                .collect::<Vec<_>>()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_whose_client_stops_reading_gives_its_slot_back() {
    let server = server_with(|c| c.download_idle_timeout = Duration::from_secs(1)).await;
    // Far more than the socket buffers of both ends hold.
    let plain = content(24 << 20, 7);
    let up = upload_ws(
        &server.base,
        &plain,
        UploadOptions {
            dlimit: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A client that reads the first bytes and then stops reading, keeping the connection.
    let nonce = fetch_nonce(&up.link).await.unwrap();
    let key = up.link.secret().auth_key();
    let signature = key.sign(&auth::b64u::decode_lenient(&nonce).unwrap());
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(addr(&server)).await.unwrap();
    let path = format!("/api/download/{}", up.id);
    stuck
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nhost: sealdrop\r\nauthorization: {}\r\n\r\n",
                auth::format_header(&signature)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut first = [0u8; 4096];
    let n = stuck.read(&mut first).await.unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    // While it holds the only download slot, nobody else can download; once the
    // write-idle timeout ends its download, someone else can.
    let started = Instant::now();
    let got = loop {
        match download(&up.link).await {
            Ok((_, got)) => break got,
            Err(404) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the slot was never given back"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(s) => panic!("download answered {s}"),
        }
    };
    assert!(got == plain);
    assert_eq!(
        fetch_nonce(&up.link).await.unwrap_err(),
        404,
        "dlimit 1 is used"
    );
    // The stalled client, reading again, gets a truncated body: its download ended.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stuck.read_to_end(&mut rest)).await;
    assert!(
        n + rest.len() < 24 << 20,
        "the stalled download was not ended ({} bytes)",
        n + rest.len()
    );
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_refuse_extra_connections_while_the_others_keep_working() {
    let server = server_with(|c| {
        c.max_connections = 4;
        c.max_connections_per_client = 2;
    })
    .await;
    let a = Ipv4Addr::new(127, 0, 0, 1);
    let b = Ipv4Addr::new(127, 0, 0, 2);
    let c = Ipv4Addr::new(127, 0, 0, 3);
    let mut held = Vec::new();
    for from in [a, a, b, b] {
        let mut conn = connect_from(&server, from).await;
        assert_eq!(heartbeat(&mut conn).await, Some(200), "{from}");
        held.push(conn);
    }
    // A third connection from a: over the per-client cap. One from c: over the total.
    for (from, why) in [(a, "per client"), (c, "overall")] {
        let mut extra = connect_from(&server, from).await;
        let _ = extra
            .write_all(b"GET /__lbheartbeat__ HTTP/1.1\r\nhost: sealdrop\r\n\r\n")
            .await;
        let answer = read_answer(&mut extra, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{why}: closed without the 503"));
        assert_eq!(answer.status, 503, "{why}");
        assert_eq!(answer.json()["error"], "busy", "{why}");
        assert!(answer.head.to_ascii_lowercase().contains("retry-after"));
        assert!(
            closed_within(&mut extra, Duration::from_secs(10)).await,
            "{why}"
        );
    }
    // The admitted connections keep working.
    for conn in &mut held {
        assert_eq!(heartbeat(conn).await, Some(200));
    }
    // A closed connection gives its place back.
    drop(held.remove(0));
    wait::until_async("the place comes back", wait::EVENTUALLY, async || {
        let mut conn = connect_from(&server, c).await;
        heartbeat(&mut conn).await == Some(200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_uploads_count_against_the_caps_until_they_end() {
    let server = server_with(|c| c.max_connections_per_client = 1).await;
    let secret = Secret::generate().unwrap();
    let (ws, first) = ws_begin(&server.base, &secret, 10, &UploadOptions::default()).await;
    assert!(first.contains("url"), "{first}");
    let mut extra = TcpStream::connect(addr(&server)).await.unwrap();
    assert_eq!(heartbeat(&mut extra).await, Some(503));
    drop(ws);
    wait::until_async("the place comes back", wait::EVENTUALLY, async || {
        let mut conn = TcpStream::connect(addr(&server)).await.unwrap();
        heartbeat(&mut conn).await == Some(200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_refuse_a_large_body_with_413() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"small", UploadOptions::default())
        .await
        .unwrap();
    let big = vec![b' '; 1 << 20];
    for op in ["info", "params", "password", "delete", "report"] {
        let url = up.link.api_url(op);
        // Declared length: refused before the body is read (none is ever sent).
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        let path = url.split_once(&server.base).unwrap().1.to_owned();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: sealdrop\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            big.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_answer(&mut stream, Duration::from_secs(10))
            .await
            .expect("closed without an answer");
        assert_eq!(answer.status, 413, "{op}: {answer:?}");
        assert_eq!(answer.json()["error"], "too_large", "{op}");
        // Chunked, no declared length: the whole 1 MiB is sent, refused once 16 KiB are
        // read.
        let stream = TcpStream::connect(addr(&server)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: sealdrop\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\n\r\n"
        );
        let mut chunked = Vec::new();
        for piece in big.chunks(8192) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let answer = trickle(stream, head, chunked, 8192 + 8, Duration::ZERO).await;
        assert_eq!(answer.status, 413, "{op} chunked: {answer:?}");
        assert_eq!(answer.json()["error"], "too_large", "{op} chunked");
    }
    // The file is untouched.
    assert_eq!(download(&up.link).await.unwrap().1, b"small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_declaring_a_huge_length_gets_413_before_any_body() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    for extra in ["", "expect: 100-continue\r\n"] {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream
            .write_all(upload_head(&secret, 1 << 40, extra).as_bytes())
            .await
            .unwrap();
        // No body is ever sent: the answer cannot wait for it.
        let answer = read_answer(&mut stream, Duration::from_secs(10))
            .await
            .expect("closed without an answer");
        assert_eq!(answer.status, 413, "{extra:?}: {answer:?}");
        assert_eq!(answer.json()["error"], "too_large");
        assert!(
            String::from_utf8_lossy(&answer.body).contains("file"),
            "{answer:?}"
        );
    }
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_metadata_is_refused_with_413_on_both_routes() {
    let server = server_with(|c| c.max_metadata_size = 2048).await;
    let secret = Secret::generate().unwrap();
    let long = "A".repeat(2049);
    let resp = reqwest::Client::new()
        .post(format!("{}/api/upload", server.base))
        .header("x-file-metadata", &long)
        .header(
            "authorization",
            auth::format_header(&secret.auth_key().to_base64url()),
        )
        .body(encrypt(&secret, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "too_large");
    assert!(v["message"].as_str().unwrap().contains("metadata"), "{v}");

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&server.base))
        .await
        .unwrap();
    let first = serde_json::json!({
        "fileMetadata": long,
        "authorization": auth::format_header(&secret.auth_key().to_base64url()),
    });
    ws.send(Message::text(first.to_string())).await.unwrap();
    let last = next_text(&mut ws).await;
    assert_eq!(ws_error(&last), (413, "too_large".to_owned()), "{last}");

    assert!(server.blob_files().is_empty());

    // Metadata within the limit is fine.
    let fine = Metadata::single("a".repeat(600), 1, "b").encrypt(&secret.metadata_key());
    assert!((1024..=2048).contains(&fine.len()), "{}", fine.len());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/upload", server.base))
        .header("x-file-metadata", &fine)
        .header(
            "authorization",
            auth::format_header(&secret.auth_key().to_base64url()),
        )
        .body(encrypt(&secret, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_stalled_upload_after_the_grace_period() {
    let mut server = server_with(|c| {
        c.shutdown_grace = Duration::from_secs(1);
        c.upload_idle_timeout = Duration::from_secs(600);
        c.min_upload_rate = 0;
    })
    .await;
    let secret = Secret::generate().unwrap();
    let cipher = encrypt(&secret, &content(100_000, 9));
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(upload_head(&secret, cipher.len(), "").as_bytes())
        .await
        .unwrap();
    stream.write_all(&cipher[..50_000]).await.unwrap();
    wait::until_async("the upload is under way", wait::EVENTUALLY, async || {
        !server.blob_files().is_empty()
    })
    .await;
    let started = Instant::now();
    let stopped = server.begin_stop();
    tokio::time::timeout(Duration::from_secs(20), stopped)
        .await
        .expect("the server never stopped")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await);
    // The pending upload is discarded.
    wait::for_progress_async(
        "the pending upload to discard",
        Patience::GENEROUS,
        async || server.blob_files(),
    )
    .await;
}
