//! Upload authentication (`--upload-auth basic|token`) over real sockets: both upload
//! routes refuse missing and wrong credentials with 401 and take the right ones, a
//! token's `max-size` is a 413 with a sentence, its daily quota a 429 that renews at
//! midnight UTC, and downloads, metadata and owner operations stay anonymous.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use sealdrop_protocol::api::WsStatus;
use sealdrop_protocol::auth::UploadCredentials;
use sealdrop_protocol::{Secret, auth};
use sealdrop_server::clock::{Clock, ManualClock, SystemClock};
use sealdrop_server::config::UploadAuthMode;
use sealdrop_testkit::wait::{self, Patience};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    TestServer, UploadOptions, content, download, encrypt, next_text, owner_post, upload_http,
    upload_ws, ws_connect, ws_first,
};

const TOKEN: &str = "q7Vd1rX2m9LkP0aZ3cT8yW5bN6hJ4gFe";
const SMALL_TOKEN: &str = "small-token-0123456789";
const QUOTA_TOKEN: &str = "quota-token-0123456789";

/// A server whose upload credentials file holds `file`; the directory holding the file
/// must outlive the server.
async fn server(
    mode: UploadAuthMode,
    file: &str,
    clock: Arc<dyn Clock>,
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, file).unwrap();
    let server = TestServer::start_with(
        |c| {
            c.upload_auth = mode;
            c.upload_credentials_file = Some(path);
        },
        clock,
    )
    .await;
    (server, dir)
}

fn basic(user: &str, password: &str) -> String {
    UploadCredentials::Basic {
        user: user.into(),
        password: password.into(),
    }
    .to_header()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn with_auth(auth: &str) -> UploadOptions {
    UploadOptions {
        auth: Some(auth.to_owned()),
        ..Default::default()
    }
}

fn with_bearer(token: &str) -> UploadOptions {
    UploadOptions {
        bearer: Some(token.to_owned()),
        ..Default::default()
    }
}

/// A complete HTTP upload request with `auth` as `Authorization` (the key in
/// `X-Auth-Key`), or the key in `Authorization` when `auth` is `None`.
async fn post_upload(base: &str, auth: Option<&str>, len: usize) -> reqwest::Response {
    let secret = Secret::generate().unwrap();
    let key = auth::format_header(&secret.auth_key().to_base64url());
    let metadata = sealdrop_protocol::Metadata::single("f.bin", len as u64, "x/y")
        .encrypt(&secret.metadata_key());
    let request = reqwest::Client::new()
        .post(format!("{base}/api/upload"))
        .header("x-file-metadata", metadata);
    let request = match auth {
        Some(auth) => request
            .header(AUTHORIZATION, auth)
            .header("x-auth-key", key),
        None => request.header(AUTHORIZATION, key),
    };
    request
        .body(encrypt(&secret, &content(len, 1)))
        .send()
        .await
        .unwrap()
}

/// A refused answer: status, challenge, JSON code, and a sentence that echoes nothing
/// secret.
async fn assert_refused(
    resp: reqwest::Response,
    status: StatusCode,
    challenge: &str,
    code: &str,
    secrets: &[&str],
) -> String {
    assert_eq!(resp.status(), status);
    let header = resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(header.starts_with(challenge), "{header}");
    assert!(!header.contains("send-v1"), "{header}");
    let text = resp.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], code, "{text}");
    let message = body["message"].as_str().unwrap().to_owned();
    assert!(message.len() > 20, "{message}");
    for secret in secrets {
        assert!(!text.contains(secret), "the answer echoes a secret: {text}");
    }
    message
}

/// The server's answer to a WebSocket upload refused after its first message.
async fn ws_refusal(base: &str, o: &UploadOptions) -> (u16, String) {
    let secret = Secret::generate().unwrap();
    let ws = ws_connect(base, o).await.unwrap();
    let (_ws, first) = ws_first(ws, &secret, 10, o).await;
    match serde_json::from_str::<WsStatus>(&first).unwrap() {
        WsStatus::Error { error, message, .. } => (error, message.unwrap()),
        WsStatus::Ok { .. } => panic!("accepted: {first}"),
    }
}

async fn config_says(base: &str) -> String {
    let config: serde_json::Value = reqwest::get(format!("{base}/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    config["UPLOAD_AUTH"].as_str().unwrap().to_owned()
}

/// Downloads, metadata and owner operations of `up` work without any upload credentials.
async fn anonymous_downloads_work(up: &crate::support::Uploaded, plain: &[u8]) {
    let (status, info) = owner_post(
        &up.link,
        "info",
        serde_json::json!({ "owner_token": up.owner }),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    let (_, got) = download(&up.link).await.unwrap();
    assert!(got == plain);
}

/// No pending (unfinished) blob is left, once the discarded ones are gone.
async fn no_pending(server: &TestServer) {
    wait::for_progress_async("pending blobs to discard", Patience::GENEROUS, async || {
        server
            .blob_files()
            .into_iter()
            .filter(|n| n.starts_with(".pending-"))
            .collect::<Vec<_>>()
    })
    .await;
}

fn argon2_hash(password: &str) -> String {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    // Small parameters keep the test fast; the server takes them from the hash.
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(256, 1, 1, None).unwrap(),
    );
    argon
        .hash_password_with_salt(password.as_bytes(), b"sealdrop-test-salt")
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn basic_auth_guards_both_upload_routes_and_downloads_stay_anonymous() {
    let users = format!(
        "# upload users\nalice:correct horse battery\n\nbob:{}\n",
        argon2_hash("b0b's secret")
    );
    let (server, _dir) = server(UploadAuthMode::Basic, &users, Arc::new(SystemClock)).await;
    let base = &server.base;
    assert_eq!(config_says(base).await, "basic");
    let plain = content(70_000, 3);
    let basic_challenge = "Basic realm=\"sealdrop\"";

    // No credentials.
    let msg = assert_refused(
        post_upload(base, None, 100).await,
        StatusCode::UNAUTHORIZED,
        basic_challenge,
        "upload_auth_required",
        &[],
    )
    .await;
    assert_eq!(
        msg,
        "this server requires a user name and password to upload"
    );
    assert_eq!(
        upload_ws(base, &plain, UploadOptions::default())
            .await
            .unwrap_err(),
        401
    );
    // The upgrade is refused before any WebSocket exists, with the Basic challenge.
    let resp = reqwest::get(format!("{base}/api/ws")).await.unwrap();
    assert_refused(
        resp,
        StatusCode::UNAUTHORIZED,
        basic_challenge,
        "upload_auth_required",
        &[],
    )
    .await;

    // Wrong credentials: a wrong password, an unknown user, a bearer token, garbage.
    for wrong in [
        basic("alice", "correct horse"),
        basic("bob", "correct horse battery"),
        basic("carol", "correct horse battery"),
        bearer("correct-horse-battery"),
        "Basic !!!not-base64".to_owned(),
    ] {
        assert_refused(
            post_upload(base, Some(&wrong), 100).await,
            StatusCode::UNAUTHORIZED,
            basic_challenge,
            "upload_auth_refused",
            &["correct horse", "b0b"],
        )
        .await;
        assert_eq!(
            upload_ws(base, &plain, with_auth(&wrong))
                .await
                .unwrap_err(),
            401,
            "{wrong}"
        );
        assert_eq!(
            upload_http(base, &plain, with_auth(&wrong))
                .await
                .unwrap_err(),
            401
        );
    }

    // The right ones, clear-text and Argon2 users, over both routes.
    for right in [
        basic("alice", "correct horse battery"),
        basic("bob", "b0b's secret"),
    ] {
        let up = upload_ws(base, &plain, with_auth(&right)).await.unwrap();
        anonymous_downloads_work(&up, &plain).await;
        let up = upload_http(base, &plain, with_auth(&right)).await.unwrap();
        anonymous_downloads_work(&up, &plain).await;
    }
    // Nothing refused left a pending blob behind.
    no_pending(&server).await;
}

#[tokio::test]
async fn token_auth_guards_both_upload_routes_by_header_or_bearer_field() {
    let tokens = format!("{TOKEN} name=alice\n# old: revoked-token-000000000\n");
    let (server, _dir) = server(UploadAuthMode::Token, &tokens, Arc::new(SystemClock)).await;
    let base = &server.base;
    assert_eq!(config_says(base).await, "token");
    let plain = content(100_000, 4);
    let bearer_challenge = "Bearer realm=\"sealdrop\"";

    // HTTP route.
    let msg = assert_refused(
        post_upload(base, None, 100).await,
        StatusCode::UNAUTHORIZED,
        bearer_challenge,
        "upload_auth_required",
        &[],
    )
    .await;
    assert_eq!(msg, "this server requires an upload token");
    let wrong = "revoked-token-000000000";
    let resp = post_upload(base, Some(&bearer(wrong)), 100).await;
    assert!(
        resp.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let msg = assert_refused(
        resp,
        StatusCode::UNAUTHORIZED,
        bearer_challenge,
        "upload_auth_refused",
        &[wrong],
    )
    .await;
    assert_eq!(msg, "the upload token is not valid");
    // A token that differs from the right one in its last character only.
    let near = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
    assert_eq!(
        upload_http(base, &plain, with_auth(&bearer(&near)))
            .await
            .unwrap_err(),
        401
    );
    let up = upload_http(base, &plain, with_auth(&bearer(TOKEN)))
        .await
        .unwrap();
    anonymous_downloads_work(&up, &plain).await;
    // `ffsend --basic-auth token:<TOKEN>`: Basic with the token as password.
    let up = upload_http(base, &plain, with_auth(&basic("token", TOKEN)))
        .await
        .unwrap();
    anonymous_downloads_work(&up, &plain).await;

    // WebSocket: the upgrade needs nothing (browsers cannot send headers); the first
    // message's bearer field then decides, and the refusal is a JSON message with a
    // sentence.
    let (status, message) = ws_refusal(base, &UploadOptions::default()).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "this server requires an upload token")
    );
    let (status, message) = ws_refusal(base, &with_bearer(wrong)).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the upload token is not valid")
    );
    assert_eq!(
        upload_ws(base, &plain, with_bearer(&near))
            .await
            .unwrap_err(),
        401
    );
    let up = upload_ws(base, &plain, with_bearer(TOKEN)).await.unwrap();
    anonymous_downloads_work(&up, &plain).await;
    // Non-browser clients may send the token on the upgrade instead; a wrong one is
    // refused before the upgrade.
    let up = upload_ws(base, &plain, with_auth(&bearer(TOKEN)))
        .await
        .unwrap();
    anonymous_downloads_work(&up, &plain).await;
    assert_eq!(
        ws_connect(base, &with_auth(&bearer(wrong)))
            .await
            .unwrap_err(),
        401
    );
    no_pending(&server).await;
}

#[tokio::test]
async fn without_upload_auth_config_says_none_and_credentials_are_ignored() {
    let server = TestServer::start().await;
    assert_eq!(config_says(&server.base).await, "none");
    let plain = content(1000, 5);
    upload_ws(&server.base, &plain, with_bearer("anything-at-all-here"))
        .await
        .unwrap();
    upload_http(&server.base, &plain, with_auth(&bearer("whatever")))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_file_over_the_tokens_max_size_is_413_with_a_sentence() {
    let tokens = format!("{SMALL_TOKEN} max-size=100KB\n{TOKEN}\n");
    let (server, _dir) = server(UploadAuthMode::Token, &tokens, Arc::new(SystemClock)).await;
    let base = &server.base;
    let at_limit = content(100_000, 6);
    let over = content(100_001, 6);

    let up = upload_ws(base, &at_limit, with_bearer(SMALL_TOKEN))
        .await
        .unwrap();
    anonymous_downloads_work(&up, &at_limit).await;
    upload_http(base, &at_limit, with_auth(&bearer(SMALL_TOKEN)))
        .await
        .unwrap();

    // HTTP: refused from its Content-Length, before the body is read.
    let resp = post_upload(base, Some(&bearer(SMALL_TOKEN)), 100_001).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_large_for_token");
    assert_eq!(
        body["message"],
        "the file is larger than this upload token allows: at most 97.7 KiB"
    );
    // WebSocket: refused when the bytes go over, with the same sentence.
    let secret = Secret::generate().unwrap();
    let o = with_bearer(SMALL_TOKEN);
    let ws = ws_connect(base, &o).await.unwrap();
    let (mut ws, first) = ws_first(ws, &secret, over.len(), &o).await;
    assert!(first.contains("ownerToken"), "{first}");
    for frame in encrypt(&secret, &over).chunks(65536) {
        if ws.send(Message::binary(frame.to_vec())).await.is_err() {
            break;
        }
    }
    let _ = ws.send(Message::binary(vec![0u8])).await;
    let last = next_text(&mut ws).await;
    assert_eq!(
        serde_json::from_str::<WsStatus>(&last).unwrap(),
        WsStatus::Error {
            error: 413,
            message: Some(
                "the file is larger than this upload token allows: at most 97.7 KiB".into()
            ),
            code: Some("too_large_for_token".into()),
        }
    );
    // A token without max-size has the server's limit.
    upload_ws(base, &over, with_bearer(TOKEN)).await.unwrap();
    no_pending(&server).await;
}

#[tokio::test]
async fn the_daily_quota_counts_refunds_failures_and_renews_at_midnight_utc() {
    // 2023-11-14 22:13:20 UTC: 6400 s before midnight.
    let clock = ManualClock::new(1_700_000_000_000);
    let tokens = format!("{QUOTA_TOKEN} daily=300KB name=quota\n{TOKEN}\n");
    let (server, _dir) = server(UploadAuthMode::Token, &tokens, clock.clone()).await;
    let base = &server.base;
    let quota = with_bearer(QUOTA_TOKEN);

    upload_ws(base, &content(200_000, 7), quota.clone())
        .await
        .unwrap();
    // HTTP: a Content-Length over what is left is refused before the body is read.
    let resp = post_upload(base, Some(&bearer(QUOTA_TOKEN)), 200_000).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[RETRY_AFTER], "6400");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(
        body["message"],
        "this upload token's daily quota is used up; it renews at midnight UTC"
    );
    // WebSocket: refused once the bytes go over; the bytes it had sent are refunded.
    assert_eq!(
        upload_ws(base, &content(200_000, 8), quota.clone())
            .await
            .unwrap_err(),
        429
    );
    // What is left (300 KB less the first file, in encrypted bytes) takes one more file
    // of 99 900 bytes, which the failed upload would have used up had it not been
    // refunded.
    let up = upload_http(base, &content(99_900, 9), with_auth(&bearer(QUOTA_TOKEN)))
        .await
        .unwrap();
    anonymous_downloads_work(&up, &content(99_900, 9)).await;
    assert_eq!(
        upload_ws(base, &content(1000, 10), quota.clone())
            .await
            .unwrap_err(),
        429
    );
    // Other tokens have their own (here: no) quota.
    upload_ws(base, &content(400_000, 11), with_bearer(TOKEN))
        .await
        .unwrap();
    // Past midnight UTC the quota is whole again.
    clock.advance(Duration::from_secs(6400));
    upload_ws(base, &content(300_000, 12), quota).await.unwrap();
    no_pending(&server).await;
}

#[tokio::test]
async fn a_reload_swaps_the_tokens_and_a_broken_file_keeps_the_old_ones() {
    let (server, dir) = server(
        UploadAuthMode::Token,
        &format!("{TOKEN}\n"),
        Arc::new(SystemClock),
    )
    .await;
    let base = &server.base;
    let plain = content(5000, 13);
    let path = dir.path().join("credentials");
    let auth = &server.state.upload_auth;

    std::fs::write(&path, format!("{SMALL_TOKEN}\n")).unwrap();
    assert_eq!(auth.reload().unwrap(), 1);
    upload_ws(base, &plain, with_bearer(SMALL_TOKEN))
        .await
        .unwrap();
    assert_eq!(
        upload_ws(base, &plain, with_bearer(TOKEN))
            .await
            .unwrap_err(),
        401
    );

    std::fs::write(&path, format!("{TOKEN}\nshort\n")).unwrap();
    let err = format!("{:#}", auth.reload().unwrap_err());
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains(TOKEN) && !err.contains("short"), "{err}");
    upload_ws(base, &plain, with_bearer(SMALL_TOKEN))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_upload_key_in_authorization_beside_credentials_is_found_too() {
    // Some clients send two Authorization lines: the credentials and the send-v1 key.
    let (server, _dir) = server(
        UploadAuthMode::Token,
        &format!("{TOKEN}\n"),
        Arc::new(SystemClock),
    )
    .await;
    let secret = Secret::generate().unwrap();
    let plain = content(3000, 14);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.append(AUTHORIZATION, bearer(TOKEN).parse().unwrap());
    headers.append(
        AUTHORIZATION,
        auth::format_header(&secret.auth_key().to_base64url())
            .parse()
            .unwrap(),
    );
    let metadata =
        sealdrop_protocol::Metadata::single("two.bin", 3000, "x/y").encrypt(&secret.metadata_key());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/upload", server.base))
        .headers(headers)
        .header("x-file-metadata", metadata)
        .body(encrypt(&secret, &plain))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let link = sealdrop_protocol::link::ShareLink::from_download_url(
        answer["url"].as_str().unwrap(),
        secret,
    )
    .unwrap();
    let (_, got) = download(&link).await.unwrap();
    assert!(got == plain);
}
