//! Reports and takedowns (issue 7): `POST /api/report/:id` checks the link's key against
//! the stored auth key, a reported file is held (404 everywhere, like an expired file,
//! which is what Send clients such as ffsend understand) and survives its expiry, and
//! the operator's `admin` commands take it down or restore it.

use std::sync::Arc;
use std::time::Duration;

use sealdrop_protocol::api::FileId;
use sealdrop_protocol::keys::password_auth_key;
use sealdrop_protocol::{Secret, auth::b64u};
use sealdrop_server::admin::{self, AdminArgs, AdminCommand};
use sealdrop_server::clock::{Clock, ManualClock, SystemClock};
use sealdrop_server::config::{AbuseContact, Seconds};
use sealdrop_testkit::wait::{self, Patience};
use serde_json::{Value, json};

use crate::support::*;

/// POSTs a report; returns status, `WWW-Authenticate` presence and JSON body.
async fn report(base: &str, id: &str, body: Value) -> (u16, bool, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/report/{id}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let nonce = resp.headers().contains_key("www-authenticate");
    (status, nonce, resp.json().await.unwrap_or(Value::Null))
}

fn key_of(up: &Uploaded) -> String {
    up.link.secret().to_base64url()
}

/// Statuses of every read a downloader makes: exists, metadata (signed), download
/// (signed), the download page.
async fn reads(server: &TestServer, up: &Uploaded, last_nonce: &str) -> [u16; 4] {
    let key = up.link.secret().auth_key();
    let exists = reqwest::get(up.link.api_url("exists")).await.unwrap();
    let meta = signed_get(&up.link.api_url("metadata"), &key, last_nonce).await;
    let download = signed_get(&up.link.api_url("download"), &key, last_nonce).await;
    let page = reqwest::get(format!("{}/download/{}/", server.base, up.id))
        .await
        .unwrap();
    [
        exists.status().as_u16(),
        meta.status().as_u16(),
        download.status().as_u16(),
        page.status().as_u16(),
    ]
}

async fn id_of(up: &Uploaded) -> FileId {
    FileId::parse(&up.id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused() {
    let server = TestServer::start().await;
    let plain = content(70_000, 1);
    let up = upload_ws(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    let other = Secret::generate().unwrap().to_base64url();
    let (status, nonce, body) = report(
        &server.base,
        &up.id,
        json!({"key": other, "reason": "malware"}),
    )
    .await;
    assert_eq!(
        (status, nonce, body),
        (
            401,
            false,
            json!({"error": "unauthorized", "message": "authentication failed"})
        )
    );
    // The auth key itself is not the secret: knowing what the uploader sent is not enough.
    let auth_key = up.link.secret().auth_key().to_base64url();
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": auth_key, "reason": "malware"}),
    )
    .await;
    assert_eq!(status, 400, "a 64-byte key is not a secret");
    // Nor is the metadata key, though it decrypts the file's name.
    let meta_key = b64u::encode(up.link.secret().metadata_key().as_bytes());
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": meta_key, "reason": "malware"}),
    )
    .await;
    assert_eq!(status, 401, "the metadata key is not the secret");

    for (body, code) in [
        (json!({"key": key_of(&up), "reason": "boring"}), 400),
        (json!({"key": key_of(&up)}), 400),
        (json!({"key": "not base64!", "reason": "other"}), 400),
        (
            json!({"key": key_of(&up), "reason": "other", "details": "x".repeat(501)}),
            400,
        ),
        (json!("just a string"), 400),
    ] {
        let (status, _, answer) = report(&server.base, &up.id, body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request");
    }
    let (status, _, answer) = report(
        &server.base,
        "0123456789abcdef",
        json!({"key": key_of(&up), "reason": "other"}),
    )
    .await;
    assert_eq!((status, &answer["error"]), (404, &json!("not_found")));
    let (status, _, _) = report(
        &server.base,
        "../etc",
        json!({"key": key_of(&up), "reason": "other"}),
    )
    .await;
    assert_eq!(status, 404);
    // A body over the JSON limit.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/report/{}", server.base, up.id))
        .header("content-type", "application/json")
        .body(vec![b' '; 17 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // Nothing was held: the file still downloads.
    let (_, got) = download(&up.link).await.unwrap();
    assert_eq!(got, plain);
    assert!(
        admin_out(&server.state, false, AdminCommand::ListReported)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_key_hides_the_file() {
    let server = TestServer::start().await;
    let up = upload_ws(
        &server.base,
        &content(100_000, 2),
        UploadOptions {
            dlimit: Some(3),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let nonce = fetch_nonce(&up.link).await.unwrap();
    let unknown = upload_ws(&server.base, b"x", UploadOptions::default())
        .await
        .unwrap();
    let (status, _) = owner_post(
        &unknown.link,
        "delete",
        json!({"owner_token": unknown.owner}),
    )
    .await;
    assert_eq!(status, 200);

    let (status, _, body) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "phishing", "details": "fake\nbank\u{202e} login"}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true, "held": true})));

    // Gone for every client, exactly like a deleted file.
    assert_eq!(reads(&server, &up, &nonce).await, [404; 4]);
    assert_eq!(reads(&server, &unknown, &nonce).await, [404; 4]);
    let held = reqwest::get(up.link.api_url("exists")).await.unwrap();
    let gone = reqwest::get(unknown.link.api_url("exists")).await.unwrap();
    assert!(held.headers().get("www-authenticate").is_none());
    assert_eq!(
        held.json::<Value>().await.unwrap(),
        gone.json::<Value>().await.unwrap()
    );
    for op in ["info", "delete", "params"] {
        let (status, _) =
            owner_post(&up.link, op, json!({"owner_token": up.owner, "dlimit": 5})).await;
        assert_eq!(status, 404, "owner {op} of a held file");
    }
    // Without the key a held file looks gone to the report route too; with it, the
    // report is counted.
    let other = Secret::generate().unwrap().to_base64url();
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": other, "reason": "other"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "malware"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"ok": true, "held": true, "already": true}))
    );

    // What the operator sees: the first report's reason and details, cleaned, no key.
    let record = server
        .state
        .meta
        .find(&id_of(&up).await, server.state.clock.now())
        .await
        .unwrap()
        .unwrap();
    let held = record.report.unwrap();
    assert_eq!(held.reason.as_str(), "phishing");
    assert_eq!(held.details, "fake bank  login");
    assert_eq!(held.count, 2);
    let listed = admin_out(&server.state, false, AdminCommand::ListReported).await;
    let fields: Vec<&str> = listed.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 7, "{listed}");
    assert_eq!(fields[0], up.id);
    assert_eq!(
        (fields[2], fields[5], fields[6]),
        ("phishing", "2 reports", "fake bank  login")
    );
    assert!(fields[4].starts_with("expires "), "{listed}");
    let listed = admin_out(&server.state, true, AdminCommand::ListReported).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["id"], up.id.as_str());
    assert_eq!(listed[0]["reports"], 2);
    assert_eq!(listed[0]["dlimit"], 3);
    assert_eq!(listed[0]["expired"], false);
    let text = listed.to_string();
    assert!(!text.contains(&key_of(&up)), "no key in the listing");
    assert!(!server.blob_files().is_empty(), "the blob is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_file_outlives_its_expiry_and_restore_brings_it_back() {
    let clock = ManualClock::new(SystemClock.now());
    let server = TestServer::start_with_clock(clock.clone()).await;
    let plain = content(200_000, 3);
    let up = upload_ws(
        &server.base,
        &plain,
        UploadOptions {
            time_limit: Some(300),
            dlimit: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, got) = download(&up.link).await.unwrap();
    assert_eq!(got, plain);
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "copyright"}),
    )
    .await;
    assert_eq!(status, 200);

    clock.advance(Duration::from_secs(3600));
    let swept = sealdrop_server::expiry::sweep_once(&server.state)
        .await
        .unwrap();
    assert_eq!((swept.expired, swept.blobs_deleted), (0, 0), "{swept:?}");
    assert_eq!(server.blob_files().len(), 1, "the blob survives the expiry");
    let listed = admin_out(&server.state, false, AdminCommand::ListReported).await;
    assert!(listed.contains("\texpired "), "{listed}");

    // Restored after its expiry: served for the grace period, with the one download left.
    let out = admin_out(
        &server.state,
        false,
        AdminCommand::Restore {
            id: up.id.clone(),
            grace: Seconds(600),
        },
    )
    .await;
    let until = admin::rfc3339(clock.now() + 600_000);
    assert_eq!(
        out,
        format!("restored {}: served again until {until}\n", up.id)
    );
    let (_, got) = download(&up.link).await.unwrap();
    assert_eq!(got, plain, "it downloads intact");
    assert_eq!(
        fetch_nonce(&up.link).await.unwrap_err(),
        404,
        "that was the last download"
    );
    // Then the blob is deleted (the download hands it over for deletion, sweeps too).
    wait::for_progress_async("the blob to delete", Patience::GENEROUS, async || {
        sealdrop_server::expiry::sweep_once(&server.state)
            .await
            .unwrap();
        server.blob_files()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_keeps_an_expiry_that_has_not_passed() {
    let server = TestServer::start().await;
    let plain = content(65_519, 4);
    let up = upload_http(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    let before = server
        .state
        .meta
        .get(&id_of(&up).await, server.state.clock.now())
        .await
        .unwrap()
        .unwrap()
        .file
        .expires_at;
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "other"}),
    )
    .await;
    assert_eq!(status, 200);
    let out = admin_out(
        &server.state,
        true,
        AdminCommand::Restore {
            id: up.link.to_link().to_string(),
            grace: Seconds(60),
        },
    )
    .await;
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out,
        json!({"id": up.id, "restored": true, "expires_at": admin::rfc3339(before)})
    );
    let (_, got) = download(&up.link).await.unwrap();
    assert_eq!(got, plain);
    // Restoring what is not held says so.
    let err = admin::run(
        &server.state,
        &AdminArgs {
            json: false,
            command: AdminCommand::Restore {
                id: up.id.clone(),
                grace: Seconds(60),
            },
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(err.to_string(), format!("no file {} is stored", up.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takedown_deletes_the_blob_and_the_row() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, &content(80_000, 5), UploadOptions::default())
        .await
        .unwrap();
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "illegal"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(server.blob_files().len(), 1);
    let out = admin_out(
        &server.state,
        false,
        AdminCommand::Takedown { id: up.id.clone() },
    )
    .await;
    assert_eq!(
        out,
        format!(
            "took down {}: its record and its encrypted blob are deleted\n",
            up.id
        )
    );
    assert!(server.blob_files().is_empty(), "the blob is deleted");
    let now = server.state.clock.now();
    assert_eq!(
        server
            .state
            .meta
            .find(&id_of(&up).await, now)
            .await
            .unwrap(),
        None
    );
    assert!(
        server
            .state
            .meta
            .tombstones(u64::MAX >> 12, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "illegal"}),
    )
    .await;
    assert_eq!(status, 404);
    let err = admin::run(
        &server.state,
        &AdminArgs {
            json: true,
            command: AdminCommand::Takedown { id: up.id.clone() },
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.exit_code(), err.to_string()),
        (1, format!("no file {} is stored", up.id))
    );
    // A file nobody reported can be taken down too.
    let other = upload_ws(&server.base, b"plain", UploadOptions::default())
        .await
        .unwrap();
    let out = admin_out(
        &server.state,
        true,
        AdminCommand::Takedown {
            id: other.id.clone(),
        },
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"id": other.id, "taken_down": true, "blob_deleted": true})
    );
    assert_eq!(fetch_nonce(&other.link).await.unwrap_err(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_share_needs_the_password() {
    let server = TestServer::start().await;
    let plain = content(10_000, 6);
    let up = upload_ws(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    let pw_key = password_auth_key("correct horse", &up.link.password_salt());
    let (status, _) = owner_post(
        &up.link,
        "password",
        json!({"owner_token": up.owner, "auth": pw_key.to_base64url()}),
    )
    .await;
    assert_eq!(status, 200);

    let (status, _, body) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "malware"}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("password_required")),
        "{body}"
    );
    let (status, _, body) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "malware", "password": "wrong horse"}),
    )
    .await;
    assert_eq!((status, &body["error"]), (401, &json!("unauthorized")));
    let other = Secret::generate().unwrap().to_base64url();
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": other, "reason": "malware", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 401, "the password needs the right key too");
    // Still served after the failed reports.
    let (_, got) = download_with_key(&up.link, &pw_key).await.unwrap();
    assert_eq!(got, plain);

    let up = upload_ws(&server.base, &plain, UploadOptions::default())
        .await
        .unwrap();
    let pw_key = password_auth_key("correct horse", &up.link.password_salt());
    owner_post(
        &up.link,
        "password",
        json!({"owner_token": up.owner, "auth": pw_key.to_base64url()}),
    )
    .await;
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "malware", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(download_with_key(&up.link, &pw_key).await.unwrap_err(), 404);
    // Held: without the password it looks gone.
    let (status, _, _) = report(
        &server.base,
        &up.id,
        json!({"key": key_of(&up), "reason": "malware"}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legal_page_shows_the_notice_as_text() {
    let server = TestServer::start_with(
        |c| {
            c.abuse_contact = AbuseContact::parse("abuse@example.com");
            c.legal_notice = Some("Example Ltd\n<script>alert(1)</script>\n# Imprint".into());
        },
        Arc::new(SystemClock),
    )
    .await;
    let resp = reqwest::get(format!("{}/legal", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains(r#"href="mailto:abuse@example.com""#),
        "{html}"
    );
    assert!(!html.contains("style="), "no inline style");
    let config: Value = reqwest::get(format!("{}/config", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["WEB_UI"],
        json!({"LEGAL_PAGE": "/legal", "ABUSE_CONTACT": "mailto:abuse@example.com"})
    );

    let plain = TestServer::start().await;
    let resp = reqwest::get(format!("{}/legal", plain.base)).await.unwrap();
    assert_eq!(resp.status(), 404);
    let config: Value = reqwest::get(format!("{}/config", plain.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["WEB_UI"], json!({}));
}

/// Runs an admin command in-process on the server's stores; its standard output.
async fn admin_out(state: &sealdrop_server::AppState, json: bool, command: AdminCommand) -> String {
    let mut out = Vec::new();
    admin::run(state, &AdminArgs { json, command }, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legal_page_is_the_web_clients_template_filled_in() {
    let notice = "Example Ltd";
    let server = TestServer::start_with(
        |c| c.legal_notice = Some(notice.into()),
        Arc::new(SystemClock),
    )
    .await;
    let html = reqwest::get(format!("{}/legal", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/legal.html"),
    )
    .unwrap();
    let (head, rest) = template.split_once("<!-- sealdrop:legal").unwrap();
    let tail = rest.split_once("-->").unwrap().1;
    assert!(html.starts_with(head), "{html}");
    assert!(html.ends_with(tail), "{html}");
    assert!(html.contains(r#"<pre id="legal-notice" class="notice">Example Ltd</pre>"#));
    assert!(!html.contains("sealdrop:legal"), "{html}");

    // A web directory without the template still gets a page.
    let web = tempfile::tempdir().unwrap();
    let bare = TestServer::start_with(
        |c| {
            c.legal_notice = Some(notice.into());
            c.web_dir = Some(web.path().to_owned());
        },
        Arc::new(SystemClock),
    )
    .await;
    let resp = reqwest::get(format!("{}/legal", bare.base)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Example Ltd</pre>"), "{html}");
    assert!(html.ends_with("</body></html>\n"), "{html}");
}
