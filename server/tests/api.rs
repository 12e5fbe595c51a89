//! The Send v3 API end to end: round trips through both upload routes, the owner flow,
//! server info routes.

use reqwest::StatusCode;
use sealdrop_protocol::api::{ConfigResponse, ExistsResponse, InfoResponse, VersionResponse};
use sealdrop_protocol::keys::password_auth_key;
use serde_json::json;

use crate::support::*;

const SIZES: [usize; 5] = [0, 1, 65519, 65520, 20 * 1024 * 1024 + 1];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_round_trips() {
    let server = TestServer::start().await;
    for (i, len) in SIZES.into_iter().enumerate() {
        let plain = content(len, i as u8);
        let up = upload_ws(&server.base, &plain, UploadOptions::default())
            .await
            .unwrap();
        assert!(
            up.url.starts_with(&server.base) && up.url.ends_with(&format!("/download/{}/", up.id))
        );
        let (meta, back) = download(&up.link).await.unwrap();
        assert_eq!(meta.size, len as u64);
        assert!(back == plain, "{len} bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_accepts_any_frame_split() {
    let server = TestServer::start().await;
    // Any split but one-byte frames: a one-byte 0x00 frame is the end marker, and no
    // client sends one-byte frames (PROTOCOL.md §2.2).
    for frame in [2usize, 21, 1000, 65537, 1 << 20] {
        let plain = content(150_000, 3);
        let o = UploadOptions {
            frame: Some(frame),
            ..Default::default()
        };
        let up = upload_ws(&server.base, &plain, o).await.unwrap();
        assert!(download(&up.link).await.unwrap().1 == plain);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_round_trips() {
    let server = TestServer::start().await;
    for (i, len) in SIZES.into_iter().enumerate() {
        let plain = content(len, i as u8 + 10);
        let up = upload_http(&server.base, &plain, UploadOptions::default())
            .await
            .unwrap();
        let (meta, back) = download(&up.link).await.unwrap();
        assert_eq!(meta.size, len as u64);
        assert!(back == plain, "{len} bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limits_are_honoured() {
    let server = TestServer::start().await;
    let o = UploadOptions {
        time_limit: Some(300),
        dlimit: Some(3),
        ..Default::default()
    };
    for up in [
        upload_ws(&server.base, b"x", o.clone()).await.unwrap(),
        upload_http(&server.base, b"x", o).await.unwrap(),
    ] {
        let (status, body) = owner_post(&up.link, "info", json!({"owner_token": up.owner})).await;
        assert_eq!(status, 200);
        let info: InfoResponse = serde_json::from_value(body).unwrap();
        assert_eq!((info.dlimit, info.dtotal), (3, 0));
        assert!(info.ttl <= 300_000 && info.ttl > 290_000, "{}", info.ttl);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_flow() {
    let server = TestServer::start().await;
    let plain = content(1000, 1);
    let up = upload_ws(
        &server.base,
        &plain,
        UploadOptions {
            dlimit: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = json!({"owner_token": up.owner});

    // info
    let (status, body) = owner_post(&up.link, "info", token.clone()).await;
    assert_eq!(status, 200);
    let info: InfoResponse = serde_json::from_value(body).unwrap();
    assert_eq!((info.dlimit, info.dtotal), (5, 0));

    // params, under both names (ffsend sends download_limit)
    let (status, _) = owner_post(
        &up.link,
        "params",
        json!({"owner_token": up.owner, "dlimit": 7}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = owner_post(&up.link, "info", token.clone()).await;
    assert_eq!(body["dlimit"], 7);
    let (status, _) = owner_post(
        &up.link,
        "params",
        json!({"owner_token": up.owner, "download_limit": 4, "timeLimit": null}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = owner_post(&up.link, "info", token.clone()).await;
    assert_eq!(body["dlimit"], 4);
    for bad in [
        json!({"owner_token": up.owner}),
        json!({"owner_token": up.owner, "dlimit": 0}),
        json!({"owner_token": up.owner, "dlimit": 101}),
    ] {
        let (status, body) = owner_post(&up.link, "params", bad).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "bad_request");
    }

    // a download counts
    assert!(download(&up.link).await.unwrap().1 == plain);
    let (_, body) = owner_post(&up.link, "info", token.clone()).await;
    assert_eq!(body["dtotal"], 1);

    // password: then only the password-derived key downloads
    let exists: ExistsResponse = reqwest::get(up.link.api_url("exists"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!exists.requires_password);
    let pw_key = password_auth_key("correct horse", &up.link.password_salt());
    let (status, _) = owner_post(
        &up.link,
        "password",
        json!({"owner_token": up.owner, "auth": pw_key.to_base64url()}),
    )
    .await;
    assert_eq!(status, 200);
    let exists: ExistsResponse = reqwest::get(up.link.api_url("exists"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(exists.requires_password);
    assert_eq!(download(&up.link).await.unwrap_err(), 401);
    let wrong = password_auth_key("wrong horse", &up.link.password_salt());
    assert_eq!(download_with_key(&up.link, &wrong).await.unwrap_err(), 401);
    assert!(download_with_key(&up.link, &pw_key).await.unwrap().1 == plain);

    // wrong owner token: 401; delete; then everything is 404
    let (status, body) =
        owner_post(&up.link, "delete", json!({"owner_token": "00".repeat(16)})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = owner_post(&up.link, "delete", token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
    let (status, _) = owner_post(&up.link, "info", token.clone()).await;
    assert_eq!(status, 404);
    // The blob is gone from disk too.
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_routes() {
    let server = TestServer::start().await;
    let c: ConfigResponse = reqwest::get(format!("{}/config", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c.limits.MAX_FILE_SIZE, 2_684_354_560);
    assert_eq!(c.limits.MAX_DOWNLOADS, 100);
    assert_eq!(c.defaults.EXPIRE_SECONDS, 86400);
    let v: VersionResponse = reqwest::get(format!("{}/__version__", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.version.starts_with("v3."));
    for path in ["/__heartbeat__", "/__lbheartbeat__"] {
        let r = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("x-request-id").is_some());
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_page_and_exists_carry_the_nonce() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"hello", UploadOptions::default())
        .await
        .unwrap();
    for url in [
        up.link.download_page(),
        up.link.download_page().trim_end_matches('/').to_owned(),
    ] {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(nonce_of(&r).unwrap().ends_with("=="));
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    // Upper-case ids are accepted, as Send does.
    let upper = up
        .link
        .api_url("exists")
        .replace(&up.id, &up.id.to_uppercase());
    assert_eq!(reqwest::get(upper).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echoes_the_ffsend_subprotocol_only_when_offered() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let mut req = ws_url(&server.base).into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "ffsend".parse().unwrap());
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "ffsend");
    let (_ws, resp) = tokio_tungstenite::connect_async(ws_url(&server.base))
        .await
        .unwrap();
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
}
