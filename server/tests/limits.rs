//! Rate limits, the upload quota and the client identity behind trusted proxies, over real
//! sockets. Several clients are simulated from 127.0.0.1 by trusting it as a proxy and
//! sending `X-Forwarded-For`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use sealdrop_protocol::Secret;
use sealdrop_protocol::auth;
use sealdrop_protocol::keys::{AuthKey, password_auth_key};
use sealdrop_protocol::link::ShareLink;
use sealdrop_server::clock::SystemClock;
use sealdrop_server::config::{Config, Rate};
use sealdrop_testkit::wait::{self, Patience};
use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::support::*;

/// A rate that does not refill during a test.
fn burst(n: u32) -> Option<Rate> {
    Some(Rate {
        burst: n,
        every: Duration::from_secs(3600),
    })
}

async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(configure, Arc::new(SystemClock)).await
}

/// Trust 127.0.0.1 as a proxy, so `X-Forwarded-For` names the client.
fn behind_proxy(c: &mut Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A GET, as `client` when given (`X-Forwarded-For`).
async fn get_as(url: &str, client: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(url);
    if let Some(client) = client {
        r = r.header("x-forwarded-for", client);
    }
    r.send().await.unwrap()
}

/// Asserts a 429 with a `Retry-After` of at least `min` seconds and the JSON error.
async fn assert_limited(resp: reqwest::Response, min: u64) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get(RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= min, "Retry-After {retry} < {min}");
    assert!(
        resp.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("try again in"), "{message}");
}

/// A plain HTTP upload of `plain` as `client`: the response.
async fn http_upload_as(base: &str, plain: &[u8], client: Option<&str>) -> reqwest::Response {
    let secret = Secret::generate().unwrap();
    let metadata = sealdrop_protocol::Metadata::single("f", plain.len() as u64, "x/y")
        .encrypt(&secret.metadata_key());
    let mut r = reqwest::Client::new()
        .post(format!("{base}/api/upload"))
        .header("x-file-metadata", metadata)
        .header(
            AUTHORIZATION,
            auth::format_header(&secret.auth_key().to_base64url()),
        );
    if let Some(client) = client {
        r = r.header("x-forwarded-for", client);
    }
    r.body(encrypt(&secret, plain)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_burst_get_429_on_both_routes() {
    let server = start(|c| c.limits.uploads = burst(3)).await;
    upload_ws(&server.base, b"1", UploadOptions::default())
        .await
        .unwrap();
    upload_http(&server.base, b"2", UploadOptions::default())
        .await
        .unwrap();
    upload_ws(&server.base, b"3", UploadOptions::default())
        .await
        .unwrap();
    // The fourth, over HTTP: 429 before the body is read, and nothing stored.
    assert_limited(http_upload_as(&server.base, b"4", None).await, 3000).await;
    // Over the WebSocket: the upgrade itself is refused with the same answer.
    match tokio_tungstenite::connect_async(ws_url(&server.base)).await {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            assert!(resp.headers().get("retry-after").is_some());
        }
        other => panic!("the upgrade was not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(server.blob_files().len(), 3);
    // Other buckets are untouched.
    assert_eq!(get_as(&server.url("/config"), None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_requests_over_the_burst_get_429() {
    let server = start(|c| c.limits.downloads = burst(4)).await;
    let up = upload_ws(&server.base, b"data", UploadOptions::default())
        .await
        .unwrap();
    // Page, exists, metadata, download: four requests, the whole burst.
    assert_eq!(get_as(&up.url, None).await.status(), 200);
    download(&up.link).await.unwrap();
    for url in [
        up.link.api_url("exists"),
        up.link.api_url("metadata"),
        up.link.api_url("download"),
        format!("{}/api/download/blob/{}", server.base, up.id),
        up.url.clone(),
        up.url.trim_end_matches('/').to_owned(),
    ] {
        assert_limited(get_as(&url, None).await, 3000).await;
    }
    // Unknown ids count too (probing ids costs tokens like anything else).
    assert_limited(
        get_as(
            &format!("{}/api/exists/0123456789abcdef", server.base),
            None,
        )
        .await,
        1,
    )
    .await;
    // The web client's files and the server information are not limited.
    for path in ["/", "/config", "/__version__", "/__lbheartbeat__"] {
        assert_eq!(
            get_as(&server.url(path), None).await.status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_requests_over_the_burst_get_429() {
    let server = start(|c| c.limits.owner = burst(2)).await;
    let up = upload_ws(&server.base, b"data", UploadOptions::default())
        .await
        .unwrap();
    let token = json!({"owner_token": up.owner});
    assert_eq!(owner_post(&up.link, "info", token.clone()).await.0, 200);
    assert_eq!(
        owner_post(
            &up.link,
            "params",
            json!({"owner_token": up.owner, "dlimit": 2})
        )
        .await
        .0,
        200
    );
    let resp = reqwest::Client::new()
        .post(up.link.api_url("delete"))
        .json(&token)
        .send()
        .await
        .unwrap();
    assert_limited(resp, 3000).await;
    // Refused before the handler: the file is still there, downloads are a separate bucket.
    assert!(download(&up.link).await.unwrap().1 == b"data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_and_the_header_cannot_be_spoofed() {
    let server = start(|c| {
        behind_proxy(c);
        c.limits.downloads = burst(2);
    })
    .await;
    let url = format!("{}/api/exists/0123456789abcdef", server.base);
    // Client A spends its burst.
    for _ in 0..2 {
        assert_eq!(get_as(&url, Some("198.51.100.1")).await.status(), 404);
    }
    assert_limited(get_as(&url, Some("198.51.100.1")).await, 1).await;
    // Client B, behind the same proxy, has its own bucket.
    assert_eq!(get_as(&url, Some("198.51.100.2")).await.status(), 404);
    // A left-most entry that A writes itself changes nothing: the proxy appended A's
    // address on the right.
    assert_limited(get_as(&url, Some("203.0.113.5, 198.51.100.1")).await, 1).await;
    // Requests that name no client are the proxy's own, in the proxy's bucket.
    assert_eq!(get_as(&url, None).await.status(), 404);
    assert_eq!(get_as(&url, Some("garbage")).await.status(), 404);
    assert_limited(get_as(&url, Some("unknown")).await, 1).await;
    // An IPv6 client's bucket is its /64.
    for _ in 0..2 {
        assert_eq!(get_as(&url, Some("2001:db8:1:2::1")).await.status(), 404);
    }
    assert_limited(get_as(&url, Some("2001:db8:1:2:ffff::9")).await, 1).await;
    assert_eq!(get_as(&url, Some("2001:db8:1:3::1")).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_is_limited_whatever_header_it_sends() {
    let server = start(|c| {
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        c.limits.downloads = burst(2);
    })
    .await;
    let url = format!("{}/api/exists/0123456789abcdef", server.base);
    assert_eq!(get_as(&url, Some("198.51.100.1")).await.status(), 404);
    assert_eq!(get_as(&url, Some("198.51.100.2")).await.status(), 404);
    for spoof in ["198.51.100.3", "10.0.0.1", "203.0.113.9, 198.51.100.4"] {
        assert_limited(get_as(&url, Some(spoof)).await, 1).await;
    }
    let resp = reqwest::Client::new()
        .get(&url)
        .header("forwarded", "for=198.51.100.5")
        .send()
        .await
        .unwrap();
    assert_limited(resp, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_header_is_read_when_configured() {
    let server = start(|c| {
        behind_proxy(c);
        c.trusted_proxy_header = sealdrop_server::config::ProxyHeader::Forwarded;
        c.limits.downloads = burst(1);
    })
    .await;
    let url = format!("{}/api/exists/0123456789abcdef", server.base);
    let as_forwarded = |value: &'static str| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .get(&url)
                .header("forwarded", value)
                // Ignored: the proxy is configured to write Forwarded.
                .header("x-forwarded-for", "192.0.2.200")
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        as_forwarded(r#"for="[2001:db8:cafe::17]:4711";proto=https"#)
            .await
            .status(),
        404
    );
    assert_limited(as_forwarded(r#"for="[2001:db8:cafe::99]""#).await, 1).await;
    assert_eq!(as_forwarded("for=198.51.100.1").await.status(), 404);
    assert_limited(as_forwarded("for=1.2.3.4, for=198.51.100.1").await, 1).await;
}

/// Signs a GET of `url` with `key` over the file's current nonce, as `client`.
async fn signed_as(link: &ShareLink, op: &str, key: &AuthKey, client: &str) -> reqwest::Response {
    let exists = get_as(&link.api_url("exists"), Some(client)).await;
    let nonce = nonce_of(&exists).unwrap();
    let raw = auth::b64u::decode_lenient(&nonce).unwrap();
    reqwest::Client::new()
        .get(link.api_url(op))
        .header("x-forwarded-for", client)
        .header(AUTHORIZATION, auth::format_header(&key.sign(&raw)))
        .send()
        .await
        .unwrap()
}

/// Uploads a file with `dlimit` downloads protected by `password`: its link and key.
async fn password_file(server: &TestServer, dlimit: u32, password: &str) -> (Uploaded, AuthKey) {
    let up = upload_ws(
        &server.base,
        b"secret data",
        UploadOptions {
            dlimit: Some(dlimit),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let key = password_auth_key(password, &up.link.password_salt());
    let (status, _) = owner_post(
        &up.link,
        "password",
        json!({"owner_token": up.owner, "auth": key.to_base64url()}),
    )
    .await;
    assert_eq!(status, 200);
    (up, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_file_across_clients() {
    let server = start(|c| {
        behind_proxy(c);
        c.limits.wrong_passwords = burst(3);
    })
    .await;
    let (up, key) = password_file(&server, 100, "correct horse").await;
    let (other, other_key) = password_file(&server, 100, "battery staple").await;
    // Right passwords are never counted, however many.
    for i in 0..10 {
        let client = format!("198.51.100.{i}");
        assert_eq!(
            signed_as(&up.link, "metadata", &key, &client)
                .await
                .status(),
            200
        );
    }
    // Three wrong passwords, each from another client...
    for i in 0..3 {
        let wrong = password_auth_key(&format!("guess {i}"), &up.link.password_salt());
        let client = format!("203.0.113.{i}");
        let resp = signed_as(&up.link, "metadata", &wrong, &client).await;
        assert_eq!(resp.status(), 401, "guess {i}");
    }
    // ...empty the file's bucket for every client: a new client's guess and even the
    // right password are refused without being checked.
    let wrong = password_auth_key("guess 3", &up.link.password_salt());
    assert_limited(
        signed_as(&up.link, "metadata", &wrong, "192.0.2.50").await,
        3000,
    )
    .await;
    assert_limited(
        signed_as(&up.link, "metadata", &key, "192.0.2.51").await,
        3000,
    )
    .await;
    assert_limited(
        signed_as(&up.link, "download", &key, "192.0.2.51").await,
        3000,
    )
    .await;
    // Nothing was downloaded, the page and exists still answer, and another file has
    // its own bucket.
    assert_eq!(get_as(&up.url, Some("192.0.2.51")).await.status(), 200);
    let resp = signed_as(&other.link, "download", &other_key, "192.0.2.50").await;
    assert_eq!(resp.status(), 200);
    let (_, info) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
    assert_eq!(info["dtotal"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_signatures_and_files_without_password_are_not_counted() {
    let server = start(|c| c.limits.wrong_passwords = burst(1)).await;
    // A file without password: wrong keys are hopeless guesses of a 128-bit secret.
    let plain = upload_ws(&server.base, b"plain", UploadOptions::default())
        .await
        .unwrap();
    let wrong = AuthKey::from_bytes([9; 64]);
    for _ in 0..5 {
        assert_eq!(
            download_with_key(&plain.link, &wrong).await.unwrap_err(),
            401
        );
    }
    assert!(download(&plain.link).await.unwrap().1 == b"plain");
    // A password-protected file: requests without a signature tell nothing and cost
    // nothing.
    let (up, key) = password_file(&server, 5, "pw").await;
    for _ in 0..5 {
        let resp = reqwest::get(up.link.api_url("metadata")).await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    assert!(download_with_key(&up.link, &key).await.unwrap().1 == b"secret data");
}

/// A downloader that retries on 401 (lost nonce races), with `key`; panics on 429.
async fn password_racer(link: ShareLink, key: AuthKey) -> bool {
    for _ in 0..500 {
        let nonce = match fetch_nonce(&link).await {
            Ok(n) => n,
            Err(404) => return false,
            Err(s) => panic!("exists answered {s}"),
        };
        let resp = signed_get(&link.api_url("download"), &key, &nonce).await;
        match resp.status().as_u16() {
            401 => continue,
            404 => return false,
            200 => return resp.bytes().await.is_ok_and(|b| !b.is_empty()),
            s => panic!("download answered {s}"),
        }
    }
    panic!("no answer after 500 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloaders_racing_for_the_nonce_of_a_password_file_are_not_guessers() {
    // One wrong password would lock the file for an hour: lost races must not count.
    let server = start(|c| c.limits.wrong_passwords = burst(1)).await;
    let (up, key) = password_file(&server, 20, "shared").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let link = up.link.clone();
            let key = AuthKey::from_bytes(*key.as_bytes());
            tokio::spawn(password_racer(link, key))
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += usize::from(t.await.unwrap());
    }
    assert_eq!(done, 20);
    let (status, _) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
    assert_eq!(status, 404, "the last download removed the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_quota_counts_bytes_per_client() {
    // Room for one 200 kB file and a half per client.
    let server = start(|c| {
        behind_proxy(c);
        c.limits.upload_quota = 300_000;
    })
    .await;
    let plain = content(200_000, 1);
    // Over the WebSocket (the proxy's own requests, no header: client 127.0.0.1) no size
    // is announced: the second upload is cut when its bytes no longer fit, and leaves
    // nothing behind.
    upload_ws(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        upload_ws(&server.base, &plain, UploadOptions::default())
            .await
            .unwrap_err(),
        429
    );
    // Another client, over HTTP.
    let resp = http_upload_as(&server.base, &plain, Some("198.51.100.1")).await;
    assert_eq!(resp.status(), 200);
    // Declared too big for what is left: 429 before the body is read, with the time
    // until the day is over.
    let resp = http_upload_as(&server.base, &plain, Some("198.51.100.1")).await;
    assert_limited(resp, 80_000).await;
    // Larger than the whole quota: 413, waiting would not help.
    let resp = http_upload_as(&server.base, &content(400_000, 2), Some("198.51.100.9")).await;
    assert_eq!(resp.status(), 413);
    // Small files still fit.
    let resp = http_upload_as(&server.base, &content(50_000, 3), Some("198.51.100.1")).await;
    assert_eq!(resp.status(), 200);
    // The three accepted files, once the refused uploads' pending files are gone.
    wait::for_progress_async(
        "refused uploads to discard",
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
    assert_eq!(server.blob_files().len(), 3, "{:?}", server.blob_files());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limits_allow_ordinary_use() {
    // The defaults, as an internet-facing instance runs them: a few uploads, downloads of
    // each, owner requests.
    let server = start(|c| c.limits = Config::with_data_dir("unused").limits).await;
    assert!(server.state.config.limits.uploads.is_some());
    for i in 0..5u8 {
        let plain = content(1000, i);
        let up = upload_ws(
            &server.base,
            &plain,
            UploadOptions {
                dlimit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(download(&up.link).await.unwrap().1 == plain);
        let (status, _) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
        assert_eq!(status, 200);
    }
}

/// Issue 21, item 3: with the defaults, a person's loop or a script sends 60 files in a
/// row without a refusal; a flood beyond the burst is refused with 429 and `Retry-After`,
/// having got no more than the refill (one every 2 s) while it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_upload_rate_takes_60_uploads_in_a_row_and_stops_a_flood() {
    let server = start(|c| c.limits = Config::with_data_dir("unused").limits).await;
    let rate = server.state.config.limits.uploads.unwrap();
    assert_eq!((rate.burst, rate.every), (60, Duration::from_secs(2)));
    let started = std::time::Instant::now();
    for i in 0..60u8 {
        let resp = http_upload_as(&server.base, &content(100, i), None).await;
        assert_eq!(resp.status(), StatusCode::OK, "upload {}", u32::from(i) + 1);
    }
    // The flood: uploads as fast as they go, until the first refusal.
    let mut accepted = 60u64;
    let refused = loop {
        let resp = http_upload_as(&server.base, b"flood", None).await;
        if resp.status() != StatusCode::OK {
            break resp;
        }
        accepted += 1;
        assert!(accepted < 1000, "no refusal after {accepted} uploads");
    };
    let refill = started.elapsed().as_secs() / 2 + 1;
    assert!(
        accepted <= 60 + refill,
        "{accepted} uploads accepted in {:?}",
        started.elapsed()
    );
    assert_limited(refused, 1).await;
    assert_eq!(server.blob_files().len() as u64, accepted);
}

/// Three requests from the loopback peer with forwarding headers naming other clients.
async fn forwarded_requests(base: &str) {
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.5"),
        ("x-forwarded-for", "203.0.113.6"),
        ("forwarded", "for=203.0.113.7"),
    ] {
        let resp = reqwest::Client::new()
            .get(format!("{base}/config"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// Issue 21, item 3: a peer that is not a trusted proxy but sends forwarding headers (a
/// reverse proxy missing from `--trusted-proxies`) is warned about once, naming the
/// option; its address is in the line only with `--log-client-ip`. A trusted proxy is not
/// warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_an_untrusted_peer_are_warned_about_once() {
    for (args, named) in [(&[][..], false), (&["--log-client-ip"][..], true)] {
        let server = Process::start(args);
        forwarded_requests(&server.base).await;
        let log = server.stop();
        let warnings: Vec<&String> = log
            .iter()
            .filter(|l| l.contains("not in --trusted-proxies"))
            .collect();
        assert_eq!(warnings.len(), 1, "{log:#?}");
        let warning = warnings[0];
        assert!(warning.contains("WARN"), "{warning}");
        assert!(
            warning.contains("set --trusted-proxies if it is your reverse proxy"),
            "{warning}"
        );
        assert_eq!(warning.contains("127.0.0.1"), named, "{warning}");
        assert!(!warning.contains("203.0.113."), "{warning}");
    }
    let server = Process::start(&["--trusted-proxies", "127.0.0.1/32"]);
    forwarded_requests(&server.base).await;
    let log = server.stop();
    assert!(
        !log.iter().any(|l| l.contains("--trusted-proxies")),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_share_the_wrong_password_bucket_of_their_file() {
    let server = start(|c| {
        behind_proxy(c);
        c.limits.wrong_passwords = burst(2);
    })
    .await;
    let (up, key) = password_file(&server, 5, "correct horse").await;
    let report = |password: &'static str, client: &'static str| {
        let url = server.url(&format!("/api/report/{}", up.id));
        let body = json!({
            "key": up.link.secret().to_base64url(),
            "reason": "malware",
            "password": password,
        });
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", client)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // A report is a way to test a password: wrong ones count like wrong signatures...
    assert_eq!(report("guess 1", "203.0.113.1").await.status(), 401);
    assert_eq!(report("guess 2", "203.0.113.2").await.status(), 401);
    // ...so the bucket is empty for reports and downloads alike, even with the right one.
    assert_limited(report("guess 3", "203.0.113.3").await, 3000).await;
    assert_limited(report("correct horse", "203.0.113.4").await, 3000).await;
    assert_limited(
        signed_as(&up.link, "download", &key, "192.0.2.9").await,
        3000,
    )
    .await;
    // Nothing was held: the file is still listed for its owner.
    let (status, _) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
    assert_eq!(status, 200);
}
