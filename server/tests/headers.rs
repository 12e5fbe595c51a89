//! Security headers, no cookies, and logs without IP addresses, over real sockets.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use sealdrop_server::clock::SystemClock;
use sealdrop_server::config::{Config, Rate};
use serde_json::json;

use crate::support::*;

async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(configure, Arc::new(SystemClock)).await
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciphertext_downloads_are_sandboxed_attachments() {
    let server = TestServer::start().await;
    let up = upload_ws(
        &server.base,
        b"<html><script>alert(1)</script>",
        UploadOptions {
            dlimit: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let key = up.link.secret().auth_key();
    for url in [
        up.link.api_url("download"),
        format!("{}/api/download/blob/{}", server.base, up.id),
    ] {
        let nonce = fetch_nonce(&up.link).await.unwrap();
        let resp = signed_get(&url, &key, &nonce).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, CONTENT_TYPE.as_str()),
            Some("application/octet-stream")
        );
        assert_eq!(
            header(&resp, CONTENT_DISPOSITION.as_str()),
            Some("attachment")
        );
        assert_eq!(
            header(&resp, CONTENT_SECURITY_POLICY.as_str()),
            Some("sandbox; default-src 'none'")
        );
        assert!(
            header(&resp, CACHE_CONTROL.as_str())
                .unwrap()
                .contains("no-store")
        );
        assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
        assert!(decrypt(up.link.secret(), &resp.bytes().await.unwrap()).is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_answer_is_no_store_and_pages_keep_their_policy() {
    let server = TestServer::start().await;
    let up = upload_http(&server.base, b"x", UploadOptions::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for path in [
        "/config".to_owned(),
        "/__version__".to_owned(),
        "/__heartbeat__".to_owned(),
        "/__lbheartbeat__".to_owned(),
        format!("/api/exists/{}", up.id),
        format!("/api/metadata/{}", up.id),
        "/api/exists/nope".to_owned(),
        "/api/nothing".to_owned(),
        "/api".to_owned(),
    ] {
        answers.push((
            path.clone(),
            client.get(server.url(&path)).send().await.unwrap(),
        ));
    }
    answers.push((
        "POST /api/info".to_owned(),
        client
            .post(up.link.api_url("info"))
            .json(&json!({"owner_token": up.owner}))
            .send()
            .await
            .unwrap(),
    ));
    answers.push((
        "POST /api/upload".to_owned(),
        client.post(server.url("/api/upload")).send().await.unwrap(),
    ));
    for (what, resp) in &answers {
        let cache = header(resp, CACHE_CONTROL.as_str()).unwrap_or("");
        assert!(cache.contains("no-store"), "{what}: {cache:?}");
    }
    // Static files are revalidated, not no-store; the download page is no-store.
    let css = client
        .get(server.url("/css/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(header(&css, CACHE_CONTROL.as_str()), Some("no-cache"));
    let page = client.get(&up.url).send().await.unwrap();
    assert!(
        header(&page, CACHE_CONTROL.as_str())
            .unwrap()
            .contains("no-store")
    );
    assert!(
        header(&page, CONTENT_SECURITY_POLICY.as_str())
            .unwrap()
            .contains("script-src 'self'")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_transport_security_only_with_an_https_base_url() {
    let plain = TestServer::start().await;
    let https = start(|c| c.base_url = "https://send.example.com".into()).await;
    let client = reqwest::Client::new();
    for path in [
        "/",
        "/config",
        "/css/style.css",
        "/api/exists/nope",
        "/nope",
    ] {
        let resp = client.get(plain.url(path)).send().await.unwrap();
        assert_eq!(header(&resp, "strict-transport-security"), None, "{path}");
        let resp = client.get(https.url(path)).send().await.unwrap();
        assert_eq!(
            header(&resp, "strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    // The API answers carry it too.
    let resp = client
        .post(https.url("/api/info/0123456789abcdef"))
        .json(&json!({"owner_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        header(&resp, "strict-transport-security"),
        Some("max-age=31536000")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_sets_a_cookie() {
    let server = start(|c| {
        c.limits.owner = Some(Rate {
            burst: 1,
            every: Duration::from_secs(3600),
        })
    })
    .await;
    let up = upload_ws(&server.base, b"cookie-free", UploadOptions::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for path in [
        "/",
        "/index.html",
        "/about.html",
        "/download.html",
        "/css/style.css",
        "/favicon.svg",
        "/config",
        "/__version__",
        "/__heartbeat__",
        "/nope",
        "/api/nope",
        "/download/0123456789abcdef/",
    ] {
        answers.push(client.get(server.url(path)).send().await.unwrap());
    }
    answers.push(client.get(&up.url).send().await.unwrap());
    answers.push(client.get(up.link.api_url("exists")).send().await.unwrap());
    answers.push(
        client
            .get(up.link.api_url("metadata"))
            .send()
            .await
            .unwrap(),
    );
    for _ in 0..2 {
        // 200, then 429 from the owner bucket.
        answers.push(
            client
                .post(up.link.api_url("info"))
                .json(&json!({"owner_token": up.owner}))
                .send()
                .await
                .unwrap(),
        );
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.contains(&429) && statuses.contains(&401) && statuses.contains(&404));
    for resp in &answers {
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "{} sets a cookie",
            resp.url()
        );
    }
    let nonce = fetch_nonce(&up.link).await.unwrap();
    let resp = signed_get(
        &up.link.api_url("download"),
        &up.link.secret().auth_key(),
        &nonce,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("set-cookie").is_none());
}

/// Uploads, downloads, a wrong signature, owner requests up to a 429, and a 404, all as
/// the client 203.0.113.77 behind the trusted proxy 127.0.0.1.
async fn session(base: &str) {
    let client = reqwest::Client::builder()
        .default_headers(
            [(
                "x-forwarded-for".parse().unwrap(),
                "203.0.113.77".parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let secret = sealdrop_protocol::Secret::generate().unwrap();
    let resp = client
        .post(format!("{base}/api/upload"))
        .header(
            "x-file-metadata",
            sealdrop_protocol::Metadata::single("f", 5, "x/y").encrypt(&secret.metadata_key()),
        )
        .header(
            "authorization",
            sealdrop_protocol::auth::format_header(&secret.auth_key().to_base64url()),
        )
        .body(encrypt(&secret, b"hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let id = answer["id"].as_str().unwrap();
    let owner = answer["ownerToken"].as_str().unwrap();
    for path in [format!("/download/{id}/"), format!("/api/exists/{id}")] {
        let resp = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = client
        .get(format!("{base}/api/metadata/{id}"))
        .header("authorization", "send-v1 AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    for expected in [200, 429] {
        let resp = client
            .post(format!("{base}/api/info/{id}"))
            .json(&json!({"owner_token": owner}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
    }
    let resp = client.get(format!("{base}/api/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_ip_address_unless_asked() {
    let proxy = ["--trusted-proxies", "127.0.0.1/32", "--owner-rate", "1,1h"];
    let server = Process::start(&proxy);
    session(&server.base).await;
    let log = server.stop();
    let text = log.join("\n");
    // The session was logged (one line per request, with status; debug lines too)...
    assert!(
        log.iter().filter(|l| l.contains("answered")).count() >= 7,
        "{text}"
    );
    assert!(text.contains("status=429"), "{text}");
    assert!(text.contains("upload committed"), "{text}");
    assert!(text.contains("client error"), "{text}");
    // ...without the client's address or the proxy's.
    assert!(!text.contains("203.0.113.77"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains("client="), "{text}");

    let mut args = proxy.to_vec();
    args.extend(["--log-client-ip", "--log-format", "json"]);
    let server = Process::start(&args);
    session(&server.base).await;
    let log = server.stop();
    let answered: Vec<serde_json::Value> = log
        .iter()
        .filter(|l| l.contains("answered"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(answered.len() >= 7, "{log:?}");
    for line in &answered {
        assert_eq!(line["span"]["client"], "203.0.113.77", "{line}");
    }
    assert!(!log.join("\n").contains("127.0.0.1"), "{log:?}");
}
