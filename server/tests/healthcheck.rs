//! The probe of `sealdrop-server healthcheck` against a real server: the heartbeat over
//! http, and over https trusting exactly the server's own certificate (any other one is
//! refused); a port nobody listens on is unreachable. (A store going down, so a 503, is
//! checked with the binary in tests/tests/infra.rs.)

use std::sync::Arc;
use std::time::Duration;

use sealdrop_server::clock::SystemClock;
use sealdrop_server::conn::TlsConfig;
use sealdrop_server::healthcheck::{Failure, check};

use crate::support::*;

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_probe_reads_the_heartbeat() {
    let server = TestServer::start().await;
    assert_eq!(
        check(&server.url("/__heartbeat__"), None, TIMEOUT)
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        check(&server.url("/no/such/page"), None, TIMEOUT)
            .await
            .unwrap(),
        404
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = check(
        &format!("http://127.0.0.1:{port}/__heartbeat__"),
        None,
        TIMEOUT,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Failure::Unreachable(_)), "{err:?}");
}

/// A self-signed certificate for `name` in `dir`: (cert.pem, key.pem).
fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn over_https_the_probe_trusts_exactly_the_servers_certificate() {
    let files = tempfile::tempdir().unwrap();
    // A certificate for a public name, as a real one would be: the probe asks 127.0.0.1.
    let (cert, key) = certificate(files.path(), "send.example.com");
    let (other, _) = certificate(files.path(), "other.example.com");
    let server = TestServer::start_with(
        |c| c.tls = Some(TlsConfig::from_pem_files(&cert, &key).unwrap()),
        Arc::new(SystemClock),
    )
    .await;
    let url = server.url("/__heartbeat__");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(check(&url, Some(&cert), TIMEOUT).await.unwrap(), 200);
    let err = check(&url, Some(&other), TIMEOUT).await.unwrap_err();
    let Failure::Unreachable(sentence) = err else {
        panic!("{err:?}")
    };
    assert!(sentence.contains("not the one of --tls-cert"), "{sentence}");
    // Without the certificate to trust, https is refused before connecting.
    let err = check(&url, None, TIMEOUT).await.unwrap_err();
    assert!(matches!(err, Failure::Usage(_)), "{err:?}");
}

/// A listener on a free port that answers its first connection with `answer` and closes.
async fn answering(answer: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        socket.write_all(answer).await.unwrap();
    });
    format!("http://127.0.0.1:{port}/__heartbeat__")
}

#[tokio::test]
async fn what_is_not_an_http_answer_is_said_plainly() {
    for (answer, want) in [
        (&b"SSH-2.0-OpenSSH_9.2\r\n"[..], "the answer is not HTTP"),
        (
            &b""[..],
            "the server closed the connection without answering",
        ),
    ] {
        let url = answering(answer).await;
        let err = check(&url, None, TIMEOUT).await.unwrap_err();
        let Failure::Unreachable(sentence) = err else {
            panic!("{err:?}")
        };
        assert_eq!(sentence, want);
    }
    let url = answering(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
    assert_eq!(check(&url, None, TIMEOUT).await.unwrap(), 503);
}
