//! Bad input gets its proper status and a short JSON body, and the server stays healthy.

use std::time::Duration;

use futures_util::SinkExt;
use reqwest::header::AUTHORIZATION;
use sealdrop_protocol::Secret;
use sealdrop_server::clock::SystemClock;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

async fn get_json(url: &str, auth: Option<&str>) -> (u16, serde_json::Value, Option<String>) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        r = r.header(AUTHORIZATION, a);
    }
    let resp = r.send().await.unwrap();
    let nonce = nonce_of(&resp);
    let status = resp.status().as_u16();
    (
        status,
        resp.json().await.unwrap_or(serde_json::Value::Null),
        nonce,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_not_found() {
    let server = TestServer::start().await;
    let b = &server.base;
    for id in [
        "0123456789abcdef",
        "abc",
        "zzzzzzzzzzzzzzzz",
        "0123456789abcdef0",
        "..%2F..%2Fetc",
        // Found by the bad-input campaign: not UTF-8 once decoded, which axum's `Path`
        // refused with a plain-text 400 instead of the JSON 404.
        "%F0%AF%05%80",
    ] {
        for path in [
            format!("/api/exists/{id}"),
            format!("/api/metadata/{id}"),
            format!("/api/download/{id}"),
            format!("/api/download/blob/{id}"),
        ] {
            let (status, body, _) = get_json(&format!("{b}{path}"), Some("send-v1 AAAA")).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(body["error"], "not_found", "{path}");
        }
        // The share link's page: the web client's page, with a 404 and no nonce.
        for path in [format!("/download/{id}/"), format!("/download/{id}")] {
            let r = reqwest::get(format!("{b}{path}")).await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
            assert!(nonce_of(&r).is_none(), "{path}");
            let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap();
            assert_eq!(ct, "text/html; charset=utf-8", "{path}");
        }
        for op in ["info", "params", "password", "delete"] {
            let r = reqwest::Client::new()
                .post(format!("{b}/api/{op}/{id}"))
                .json(&json!({"owner_token": "x", "dlimit": 1, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{op} {id}");
        }
    }
    let (status, body, _) = get_json(&format!("{b}/no/such/route"), None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_missing_and_replayed_signatures_are_unauthorized() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"secret", UploadOptions::default())
        .await
        .unwrap();
    let url = up.link.api_url("metadata");
    let nonce = fetch_nonce(&up.link).await.unwrap();
    // Missing, garbage, wrong key: 401 with the current nonce.
    let wrong = Secret::generate().unwrap().auth_key();
    let raw = sealdrop_protocol::auth::b64u::decode_lenient(&nonce).unwrap();
    for auth in [
        None,
        Some("garbage".to_owned()),
        Some("send-v1 !!!".to_owned()),
        Some("send-v1 AAAA".to_owned()),
        Some(format!("send-v1 {}", wrong.sign(&raw))),
    ] {
        let (status, body, n) = get_json(&url, auth.as_deref()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(n.as_deref(), Some(nonce.as_str()), "{auth:?}");
    }
    // A good signature works once; replayed, it is refused with the new nonce.
    let good = format!("send-v1 {}", up.link.secret().auth_key().sign(&raw));
    let (status, _, next) = get_json(&url, Some(&good)).await;
    assert_eq!(status, 200);
    let next = next.unwrap();
    assert_ne!(next, nonce);
    let (status, _, current) = get_json(&url, Some(&good)).await;
    assert_eq!(status, 401);
    assert_eq!(current.as_deref(), Some(next.as_str()));
    // The file still downloads; nothing was consumed.
    assert_eq!(download(&up.link).await.unwrap().1, b"secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_requests_need_json_and_the_token() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"x", UploadOptions::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for body in [
        "",
        "{",
        "null",
        "[]",
        "{\"owner\": 1}",
        "{\"owner_token\": 5}",
    ] {
        let r = client
            .post(up.link.api_url("info"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "bad_request");
    }
    let r = client
        .post(up.link.api_url("info"))
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (status, _) = owner_post(&up.link, "info", json!({"owner_token": ""})).await;
    assert_eq!(status, 401);
    let (status, _) = owner_post(&up.link, "password", json!({"owner_token": up.owner})).await;
    assert_eq!(status, 400);
    let (status, _) = owner_post(
        &up.link,
        "password",
        json!({"owner_token": up.owner, "auth": "AA"}),
    )
    .await;
    assert_eq!(status, 400);
    // Without a content type, as some clients send it.
    let r = client
        .post(up.link.api_url("info"))
        .body(json!({"owner_token": up.owner}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Sends a raw first message and returns the server's first text answer.
async fn ws_first(server: &TestServer, first: Message) -> String {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&server.base))
        .await
        .unwrap();
    ws.send(first).await.unwrap();
    next_text(&mut ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_rejects_bad_requests() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let meta = sealdrop_protocol::Metadata::single("a", 1, "b").encrypt(&secret.metadata_key());
    let auth = format!("send-v1 {}", secret.auth_key().to_base64url());
    for first in [
        Message::text("not json"),
        Message::text("{}"),
        Message::binary(vec![1, 2, 3]),
        Message::text(json!({"authorization": auth}).to_string()),
        Message::text(json!({"fileMetadata": meta}).to_string()),
        Message::text(json!({"fileMetadata": meta, "authorization": "send-v1"}).to_string()),
        Message::text(
            json!({"fileMetadata": meta, "authorization": auth, "timeLimit": 604801}).to_string(),
        ),
        Message::text(
            json!({"fileMetadata": meta, "authorization": auth, "timeLimit": -1}).to_string(),
        ),
        Message::text(
            json!({"fileMetadata": meta, "authorization": auth, "dlimit": 101}).to_string(),
        ),
    ] {
        let answer = ws_first(&server, first.clone()).await;
        assert_eq!(ws_error(&answer), 400, "{first:?}: {answer}");
    }
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_uploads_get_413_and_leave_nothing() {
    let server = TestServer::start_with(
        |c| c.max_file_size = 100_000,
        std::sync::Arc::new(SystemClock),
    )
    .await;
    let ok = content(100_000, 1);
    assert!(
        upload_ws(&server.base, &ok, UploadOptions::default())
            .await
            .is_ok()
    );
    assert!(
        upload_http(&server.base, &ok, UploadOptions::default())
            .await
            .is_ok()
    );
    let big = content(100_001, 1);
    assert_eq!(
        upload_ws(&server.base, &big, UploadOptions::default())
            .await
            .unwrap_err(),
        413
    );
    assert_eq!(
        upload_http(&server.base, &big, UploadOptions::default())
            .await
            .unwrap_err(),
        413
    );
    assert_eq!(server.blob_files().len(), 2, "{:?}", server.blob_files());
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_is_not_a_ciphertext_is_refused() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let good = encrypt(&secret, &content(70_000, 4));
    let mut wrong_rs = good.clone();
    wrong_rs[18] = 2;
    for (name, data) in [
        ("wrong record size", wrong_rs),
        // A length no ciphertext has: a last record shorter than delimiter and tag.
        ("impossible length", good[..21 + 65536 + 10].to_vec()),
        ("too short", good[..10].to_vec()),
    ] {
        let (mut ws, _first) = ws_begin(&server.base, &secret, 1, &UploadOptions::default()).await;
        for frame in data.chunks(65536) {
            let _ = ws.send(Message::binary(frame.to_vec())).await;
        }
        let _ = ws.send(Message::binary(vec![0])).await;
        let answer = next_text(&mut ws).await;
        assert_eq!(ws_error(&answer), 400, "{name}: {answer}");
    }
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_end_marker_is_harmless() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let plain = content(1000, 5);
    let (mut ws, first) = ws_begin(&server.base, &secret, 1000, &UploadOptions::default()).await;
    let answer: serde_json::Value = serde_json::from_str(&first).unwrap();
    ws.send(Message::binary(encrypt(&secret, &plain)))
        .await
        .unwrap();
    ws.send(Message::binary(vec![0])).await.unwrap();
    let _ = ws.send(Message::binary(vec![0])).await;
    assert_eq!(next_text(&mut ws).await, r#"{"ok":true}"#);
    let link = sealdrop_protocol::link::ShareLink::from_download_url(
        answer["url"].as_str().unwrap(),
        secret,
    )
    .unwrap();
    assert_eq!(download(&link).await.unwrap().1, plain);
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_end_marker_times_out_and_leaves_nothing() {
    let server = TestServer::start_with(
        |c| c.upload_idle_timeout = Duration::from_millis(500),
        std::sync::Arc::new(SystemClock),
    )
    .await;
    let secret = Secret::generate().unwrap();
    let (mut ws, _first) = ws_begin(&server.base, &secret, 1000, &UploadOptions::default()).await;
    ws.send(Message::binary(encrypt(&secret, &content(1000, 1))))
        .await
        .unwrap();
    // No end marker: the server gives up after the idle timeout.
    assert_eq!(ws_error(&next_text(&mut ws).await), 408);
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upload_rejects_bad_headers() {
    let server = TestServer::start().await;
    let secret = Secret::generate().unwrap();
    let meta = sealdrop_protocol::Metadata::single("a", 1, "b").encrypt(&secret.metadata_key());
    let auth = format!("send-v1 {}", secret.auth_key().to_base64url());
    let body = encrypt(&secret, b"a");
    let client = reqwest::Client::new();
    for (m, a, extra) in [
        (None, Some(auth.as_str()), None),
        (Some(meta.as_str()), None, None),
        (Some(meta.as_str()), Some("Bearer x"), None),
        (
            Some(meta.as_str()),
            Some(auth.as_str()),
            Some(("x-expire-seconds", "soon")),
        ),
        (
            Some(meta.as_str()),
            Some(auth.as_str()),
            Some(("x-expire-seconds", "999999999")),
        ),
        (
            Some(meta.as_str()),
            Some(auth.as_str()),
            Some(("x-download-limit", "1000")),
        ),
    ] {
        let mut r = client
            .post(format!("{}/api/upload", server.base))
            .body(body.clone());
        if let Some(m) = m {
            r = r.header("x-file-metadata", m);
        }
        if let Some(a) = a {
            r = r.header("authorization", a);
        }
        if let Some((k, v)) = extra {
            r = r.header(k, v);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 400, "{m:?} {a:?} {extra:?}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "bad_request");
    }
    assert!(server.blob_files().is_empty());
}

/// The status of a WebSocket error message: `{"error": N}` as Send clients read it, with
/// sealdrop's sentence and code beside it.
fn ws_error(text: &str) -> u16 {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let message = value["message"].as_str().unwrap_or_default();
    assert!(message.len() > 10, "no sentence: {text}");
    assert!(value["code"].is_string(), "no code: {text}");
    u16::try_from(value["error"].as_u64().unwrap()).unwrap()
}
