//! TLS termination: a self-signed certificate made by the test, HTTPS over HTTP/2 and
//! HTTP/1.1, uploads over both routes (the WebSocket one on HTTP/1.1), downloads.

use std::sync::Arc;

use futures_util::SinkExt;
use reqwest::Version;
use reqwest::header::AUTHORIZATION;
use sealdrop_protocol::api::{MetadataResponse, UploadResponse, WsStatus, WsUploadRequest};
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Metadata, Secret, auth};
use sealdrop_server::clock::SystemClock;
use sealdrop_server::conn::TlsConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A server with TLS on a certificate for 127.0.0.1, and the certificate (PEM).
async fn tls_server() -> (TestServer, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let pem = certified.cert.pem();
    let files = tempfile::tempdir().unwrap();
    let cert = files.path().join("cert.pem");
    let key = files.path().join("key.pem");
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = TestServer::start_with(
        |c| {
            c.tls = Some(TlsConfig::from_pem_files(&cert, &key).unwrap());
            c.base_url = format!("https://{}", c.listen);
        },
        Arc::new(SystemClock),
    )
    .await;
    (server, pem)
}

fn client(pem: &str, http1: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()]);
    let builder = if http1 { builder.http1_only() } else { builder };
    builder.build().unwrap()
}

/// The download flow with `client`; checks every answer used `version`.
async fn download_with(client: &reqwest::Client, link: &ShareLink, version: Version) -> Vec<u8> {
    let key = link.secret().auth_key();
    let signed = |url: String, nonce: String| {
        let raw = auth::b64u::decode_lenient(&nonce).unwrap();
        client
            .get(url)
            .header(AUTHORIZATION, auth::format_header(&key.sign(&raw)))
            .send()
    };
    let resp = client.get(link.api_url("exists")).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
    let resp = signed(link.api_url("metadata"), nonce_of(&resp).unwrap())
        .await
        .unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
    let nonce = nonce_of(&resp).unwrap();
    let meta: MetadataResponse = resp.json().await.unwrap();
    Metadata::decrypt(&link.secret().metadata_key(), &meta.metadata).unwrap();
    let resp = signed(link.api_url("download"), nonce).await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
    decrypt(link.secret(), &resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http2_and_http1() {
    let (server, pem) = tls_server().await;
    assert!(server.base.starts_with("https://"));
    for (http1, version) in [(false, Version::HTTP_2), (true, Version::HTTP_11)] {
        let client = client(&pem, http1);
        let resp = client
            .get(format!("{}/__version__", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(v["version"].as_str().unwrap().starts_with("v3."));

        // An HTTP upload and its download on this version.
        let secret = Secret::generate().unwrap();
        let plain = content(3 << 20, u8::from(http1));
        let resp = client
            .post(format!("{}/api/upload", server.base))
            .header(
                "x-file-metadata",
                Metadata::single("tls.bin", plain.len() as u64, "application/octet-stream")
                    .encrypt(&secret.metadata_key()),
            )
            .header(
                AUTHORIZATION,
                auth::format_header(&secret.auth_key().to_base64url()),
            )
            .body(encrypt(&secret, &plain))
            .send()
            .await
            .unwrap();
        assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
        let answer: UploadResponse = resp.json().await.unwrap();
        assert!(answer.url.starts_with(&server.base), "{}", answer.url);
        let link = ShareLink::from_download_url(&answer.url, secret).unwrap();
        assert!(download_with(&client, &link, version).await == plain);
    }
    // Plain HTTP on the TLS port gets no answer.
    let plain_http = server.base.replacen("https", "http", 1);
    let r = reqwest::get(format!("{plain_http}/__version__")).await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_uploads_work_over_tls() {
    let (server, pem) = tls_server().await;
    // TLS by hand (tokio-rustls), HTTP/1.1 by ALPN, then the WebSocket on top.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.state.config.listen)
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let url = format!("{}/api/ws", server.base.replacen("https", "wss", 1));
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();

    let secret = Secret::generate().unwrap();
    let plain = content(1 << 20, 42);
    let request = WsUploadRequest {
        file_metadata: Metadata::single("ws.bin", plain.len() as u64, "a/b")
            .encrypt(&secret.metadata_key()),
        authorization: auth::format_header(&secret.auth_key().to_base64url()),
        bearer: None,
        time_limit: None,
        dlimit: None,
    };
    ws.send(Message::text(serde_json::to_string(&request).unwrap()))
        .await
        .unwrap();
    let answer: UploadResponse = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert!(answer.url.starts_with("https://"), "{}", answer.url);
    for frame in encrypt(&secret, &plain).chunks(65536) {
        ws.send(Message::binary(frame.to_vec())).await.unwrap();
    }
    ws.send(Message::binary(vec![0u8])).await.unwrap();
    let status: WsStatus = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert!(matches!(status, WsStatus::Ok { ok: true }), "{status:?}");

    let link = ShareLink::from_download_url(&answer.url, secret).unwrap();
    let got = download_with(&client(&pem, false), &link, Version::HTTP_2).await;
    assert!(got == plain);
}
