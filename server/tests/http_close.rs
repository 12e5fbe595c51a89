//! Refusals of `POST /api/upload` reach a client that is still sending its body. The
//! rate limiter, the size check and the credentials check answer before reading the body,
//! and a full disk answers midway; the server then goes on reading, and discarding, the
//! rest of the body (within 10 s and 32 MiB) while its answer goes out. Without that
//! lingering close the connection closed with the client's data unread, the kernel
//! answered that data with a reset, and the client's next write failed with "broken pipe"
//! before it read the answer: `sealdrop upload --transport http` then failed on a 429
//! whose `Retry-After` it would have waited.
//!
//! The client here writes the whole request before it reads anything (as a client that
//! streams a file from disk may), with a body far larger than loopback's socket buffers,
//! so that it is still writing when the answer comes: it fails deterministically without
//! the lingering close.

use std::sync::Arc;

use sealdrop_protocol::Secret;
use sealdrop_server::clock::SystemClock;
use sealdrop_server::config::{Config, Rate};
use sealdrop_testkit::disk::SmallDisk;
use sealdrop_testkit::wait::EVENTUALLY;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const MIB: usize = 1 << 20;

/// The size of the refused bodies: far more than loopback's socket buffers hold, less
/// than the 32 MiB the server drains.
const LEN: usize = 16 * MIB;

async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(configure, Arc::new(SystemClock)).await
}

/// What the client saw: the answer's status and JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: serde_json::Value,
    head: String,
}

/// A file's ciphertext of about `len` bytes.
fn ciphertext(len: usize) -> Vec<u8> {
    encrypt(&Secret::generate().unwrap(), &content(len, 5))
}

/// Sends `POST /api/upload` with `headers` and `body`, with the metadata and auth key of
/// a fresh file, all of it before reading; then reads the answer to the end of the
/// connection. Panics if writing failed.
async fn post_then_read(base: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let secret = Secret::generate().unwrap();
    let metadata = sealdrop_protocol::Metadata::single("file.bin", body.len() as u64, "x/y")
        .encrypt(&secret.metadata_key());
    let auth_key = sealdrop_protocol::auth::format_header(&secret.auth_key().to_base64url());
    let len = body.len();
    let addr = base.strip_prefix("http://").unwrap();
    let mut head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\
         Content-Type: application/octet-stream\r\nX-File-Metadata: {metadata}\r\n"
    );
    let authorized = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    head.push_str(&if authorized {
        format!("X-Auth-Key: {auth_key}\r\n")
    } else {
        format!("Authorization: {auth_key}\r\n")
    });
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let exchange = async {
        stream.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            stream.write_all(chunk).await?;
        }
        stream.flush().await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(EVENTUALLY, exchange)
        .await
        .expect("the server neither answered nor closed")
        .unwrap_or_else(|e| panic!("the connection failed before the answer was read: {e}"));
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    Answer {
        status,
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        head: head.to_owned(),
    }
}

impl Answer {
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"], code, "{self:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_upload_reads_its_429_and_retry_after() {
    let server = start(|c| {
        c.limits.uploads = Some(Rate {
            burst: 1,
            every: std::time::Duration::from_secs(60),
        });
    })
    .await;
    upload_http(&server.base, b"first", UploadOptions::default())
        .await
        .unwrap();
    let answer = post_then_read(&server.base, &[], ciphertext(LEN)).await;
    answer.assert_error(429, "rate_limited");
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("\r\nretry-after: "),
        "{answer:?}"
    );
    // Refused before the handler ran: only the first upload's blob exists.
    assert_eq!(server.blob_files().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_declared_over_the_limit_reads_its_413() {
    let server = start(|c| c.max_file_size = MIB as u64).await;
    let answer = post_then_read(&server.base, &[], ciphertext(LEN)).await;
    answer.assert_error(413, "too_large");
    server.nothing_stored().await;
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_with_a_wrong_token_reads_its_401() {
    let (server, _tokens) = TestServer::start_with_upload_token("right-token-0123456789").await;
    let wrong = [("Authorization", "Bearer wrong-token-0123456789")];
    let answer = post_then_read(&server.base, &wrong, ciphertext(LEN)).await;
    answer.assert_error(401, "upload_auth_refused");
    server.nothing_stored().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_fills_the_disk_reads_its_507() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let data = disk.path().join("data");
    let server = start(|c| c.data_dir = data).await;
    let answer = post_then_read(&server.base, &[], ciphertext(LEN)).await;
    answer.assert_error(507, "insufficient_storage");
    server.nothing_stored().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_beyond_what_is_drained_ends_the_connection() {
    // The bound holds: past 32 MiB the server stops reading a refused body, and the
    // connection ends (the client's writing fails) rather than reading on forever.
    let server = start(|c| c.max_file_size = MIB as u64).await;
    let outcome = tokio::spawn({
        let base = server.base.clone();
        async move { post_then_read(&base, &[], vec![0; 64 * MIB]).await }
    })
    .await;
    let panic = outcome.expect_err("64 MiB were read after the answer");
    let message = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(message.contains("the connection failed"), "{message}");
    server.healthy().await;
}
