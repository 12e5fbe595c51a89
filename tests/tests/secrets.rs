//! No secret in any log line, at the most verbose level (`RUST_LOG=trace`, every crate):
//! every route is used with real secrets (both upload routes, a WebSocket error after the
//! first message, signed downloads with and without a password, a ranged download with
//! its reservation, every owner operation, a password set and changed, a wrong password,
//! a report and the admin commands), on
//! fs + SQLite with text logs and on S3 (moto) + Redis with a password and JSON logs; then
//! the server's log and the admin commands' standard error are searched for each secret,
//! as text and in the encodings a log could carry it in (base64, base64url, hex, a byte
//! list).

use sealdrop_e2e::{Sandbox, Server, content, id_of};
use sealdrop_protocol::keys::{Secret, password_auth_key};
use sealdrop_protocol::link::ShareLink;
use sealdrop_testkit::{Moto, Redis};

const TOKEN: &str = "logtest-token-Xq7vR2mZ9pL4sT8w";
const WRONG_TOKEN: &str = "logtest-wrong-Kd3nB6yH1cF5gJ0u";
const PASSWORD: &str = "log-test pass Vw8Qe";
const NEW_PASSWORD: &str = "log-test new pass Rt5Ua";
const WRONG_PASSWORD: &str = "log-test wrong pass Zy2Io";
const REDIS_PASSWORD: &str = "redis-pass-Lm4Nb7Vc";
/// moto takes any secret key: one unlike its access key id, to be found if logged.
const S3_SECRET: &str = "s3-secret-Pd6Hs1Kx9Tq";

/// A secret and the ways a log line could hold it.
struct Needle {
    what: String,
    forms: Vec<String>,
}

impl Needle {
    /// A secret written as text: itself, and the hex of its bytes (a frame's dump).
    fn text(what: impl Into<String>, text: &str) -> Self {
        Self {
            what: what.into(),
            forms: vec![text.to_owned(), hex(text.as_bytes())],
        }
    }

    /// Key material: base64url, base64, hex (both cases) and a debug byte list.
    fn bytes(what: impl Into<String>, bytes: &[u8]) -> Self {
        use sealdrop_protocol::auth::b64u;
        let list = format!("{:?}", &bytes[..8]);
        let list = list.trim_end_matches(']').to_owned();
        Self {
            what: what.into(),
            forms: vec![
                b64u::encode(bytes),
                b64u::encode_standard(bytes)
                    .trim_end_matches('=')
                    .to_owned(),
                hex(bytes),
                hex(bytes).to_uppercase(),
                list,
            ],
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret of a link (its fragment) and its key material.
fn link_needles(name: &str, link: &str) -> Vec<Needle> {
    let share = ShareLink::parse(link).expect("a share link");
    let secret: &Secret = share.secret();
    vec![
        Needle::text(
            format!("{name}: the link's fragment"),
            &secret.to_base64url(),
        ),
        Needle::bytes(format!("{name}: the secret"), secret.as_bytes()),
        Needle::bytes(
            format!("{name}: the auth key"),
            secret.auth_key().as_bytes(),
        ),
        Needle::bytes(
            format!("{name}: the metadata key"),
            secret.metadata_key().as_bytes(),
        ),
    ]
}

/// `GET /api/metadata/<id>` signed with `auth` as a Send client does: asks for a nonce
/// (401 with `WWW-Authenticate`), signs it, and returns the nonces and the signature used.
fn signed_metadata(base: &str, id: &str, auth: &sealdrop_protocol::keys::AuthKey) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("{base}/api/metadata/{id}");
        let nonce = |r: &reqwest::Response| -> String {
            let value = r
                .headers()
                .get("www-authenticate")
                .expect("a nonce in WWW-Authenticate")
                .to_str()
                .unwrap();
            value.strip_prefix("send-v1 ").unwrap().to_owned()
        };
        let first = http.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 401, "unsigned metadata");
        let nonce1 = nonce(&first);
        let nonce_bytes = sealdrop_protocol::auth::b64u::decode_lenient(&nonce1).unwrap();
        let signature = auth.sign(&nonce_bytes);
        let second = http
            .get(&url)
            .header("authorization", format!("send-v1 {signature}"))
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), 200, "signed metadata");
        let nonce2 = nonce(&second);
        vec![nonce1, signature, nonce2]
    })
}

/// A ranged download of `id` (`sealdrop_protocol::range`): a signed first range, then one
/// with the reservation it answered. Returns the signature and the reservation.
fn ranged_download(base: &str, id: &str, auth: &sealdrop_protocol::keys::AuthKey) -> Vec<String> {
    use sealdrop_protocol::range::HEADER_DOWNLOAD_RESERVATION;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let exists = http
            .get(format!("{base}/api/exists/{id}"))
            .send()
            .await
            .unwrap();
        let challenge = exists.headers()["www-authenticate"].to_str().unwrap();
        let nonce = sealdrop_protocol::auth::parse_challenge(challenge).unwrap();
        let nonce = sealdrop_protocol::auth::b64u::decode_lenient(nonce).unwrap();
        let signature = auth.sign(&nonce);
        let url = format!("{base}/api/download/{id}");
        let first = http
            .get(&url)
            .header("authorization", format!("send-v1 {signature}"))
            .header("range", "bytes=0-99")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 206, "the first range");
        let reservation = first.headers()[HEADER_DOWNLOAD_RESERVATION]
            .to_str()
            .unwrap()
            .to_owned();
        let next = http
            .get(&url)
            .header(HEADER_DOWNLOAD_RESERVATION, &reservation)
            .header("range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(next.status(), 206, "the next range");
        vec![signature, reservation]
    })
}

/// Uses every route with secrets on `server` (started with `--upload-auth token`, trace
/// logs in JSON), then checks its log and the admin commands' output.
fn every_route_keeps_secrets(server: &Server, store_traces: bool, store_secrets: Vec<Needle>) {
    let sb = Sandbox::new(server);
    sb.write("a.bin", &content(300_000, 1));
    sb.write("b.bin", &content(70_000, 2));
    sb.write("big.bin", &content(3 << 20, 3));
    let mut needles = store_secrets;
    needles.push(Needle::text("the upload token", TOKEN));
    needles.push(Needle::text("a wrong upload token", WRONG_TOKEN));
    for (what, p) in [
        ("the password", PASSWORD),
        ("the new password", NEW_PASSWORD),
        ("a wrong password", WRONG_PASSWORD),
    ] {
        needles.push(Needle::text(what, p));
    }
    let token = [("SEALDROP_TOKEN", TOKEN)];
    let upload = |args: &[&str]| {
        let mut all = vec!["--json", "upload", "--downloads", "10"];
        all.extend_from_slice(args);
        let mut cmd = sb.sealdrop(&all);
        for (k, v) in token {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        out.success();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            json["link"].as_str().unwrap().to_owned(),
            json["owner_token"].as_str().unwrap().to_owned(),
        )
    };

    // Both upload routes, one with a password.
    let (link_a, owner_a) = upload(&[
        "--transport",
        "ws",
        &format!("--password={PASSWORD}"),
        "a.bin",
    ]);
    let (link_b, owner_b) = upload(&["--transport", "http", "b.bin"]);
    needles.extend(link_needles("share A", &link_a));
    needles.extend(link_needles("share B", &link_b));
    needles.push(Needle::text("share A's owner token", &owner_a));
    needles.push(Needle::text("share B's owner token", &owner_b));
    let url_a = ShareLink::parse(&link_a).unwrap();
    let url_b = ShareLink::parse(&link_b).unwrap();
    for (what, p) in [("A, password", PASSWORD), ("A, new password", NEW_PASSWORD)] {
        let key = password_auth_key(p, &url_a.password_salt());
        needles.push(Needle::bytes(
            format!("share {what}: auth key"),
            key.as_bytes(),
        ));
    }
    let b_password_key = password_auth_key(PASSWORD, &url_b.password_salt());
    needles.push(Needle::bytes(
        "share B, password: auth key",
        b_password_key.as_bytes(),
    ));

    // A wrong token on both routes, refused.
    for transport in ["ws", "http"] {
        let out = sb
            .sealdrop(&["upload", "--transport", transport, "b.bin"])
            .env("SEALDROP_TOKEN", WRONG_TOKEN)
            .run();
        assert_ne!(out.code, 0, "an upload with a wrong token ({transport})");
    }

    // Signed requests by hand: the nonces and the signature.
    for s in signed_metadata(&server.base, id_of(&link_b), &url_b.secret().auth_key()) {
        needles.push(Needle::text("a nonce or signature of share B", &s));
    }
    for s in ranged_download(&server.base, id_of(&link_b), &url_b.secret().auth_key()) {
        needles.push(Needle::text(
            "a ranged download's signature or reservation",
            &s,
        ));
    }

    // Downloads: signed, with the password, with a wrong password.
    std::fs::create_dir(sb.path("out")).unwrap();
    sb.sealdrop(&["download", &link_b, "-o", "out"])
        .run()
        .success();
    sb.sealdrop(&[
        "download",
        &link_a,
        "-o",
        "out",
        &format!("--password={PASSWORD}"),
    ])
    .run()
    .success();
    let out = sb
        .sealdrop(&[
            "download",
            &link_a,
            "-o",
            "out/wrong",
            &format!("--password={WRONG_PASSWORD}"),
        ])
        .run();
    assert_ne!(out.code, 0, "a download with a wrong password");
    sb.sealdrop(&["exists", &link_a]).run().success();

    // A report (its body carries the link's secret), then the admin commands.
    let (status, _) = server.report(&link_b, "other");
    assert_eq!(status, 200, "the report");
    let mut admin_err = String::new();
    for args in [
        vec!["list-reported", "--json"],
        vec!["restore", link_b.as_str()],
    ] {
        let out = server.admin(&args).env("RUST_LOG", "trace").run();
        out.success();
        admin_err.push_str(&out.stderr);
        admin_err.push_str(&out.stdout_text());
    }

    // Owner operations: info, params, password set (B) and changed (A).
    sb.sealdrop(&[
        "info",
        &link_a,
        "--owner",
        &owner_a,
        &format!("--password={PASSWORD}"),
    ])
    .run()
    .success();
    sb.sealdrop(&["params", &link_b, "--owner", &owner_b, "--downloads", "9"])
        .run()
        .success();
    sb.sealdrop(&[
        "password",
        &link_b,
        "--owner",
        &owner_b,
        &format!("--password={PASSWORD}"),
    ])
    .run()
    .success();
    sb.sealdrop(&[
        "password",
        &link_a,
        "--owner",
        &owner_a,
        &format!("--password={NEW_PASSWORD}"),
    ])
    .run()
    .success();

    // Take B down, delete A as its owner.
    let out = server
        .admin(&["takedown", link_b.as_str()])
        .env("RUST_LOG", "trace")
        .run();
    out.success();
    admin_err.push_str(&out.stderr);
    sb.sealdrop(&["delete", &link_a, "--owner", &owner_a])
        .run()
        .success();

    // A WebSocket error after the first message (which carries the auth key and the
    // token): over the upload quota of 2 MiB.
    let out = sb
        .sealdrop(&["upload", "--transport", "ws", "big.bin"])
        .env("SEALDROP_TOKEN", TOKEN)
        .run();
    assert_ne!(out.code, 0, "an upload over the quota");

    let log = server.log();
    let trace_lines = log
        .lines()
        .filter(|l| l.contains("\"TRACE\"") || l.contains(" TRACE "))
        .count();
    // Debug lines come from sealdrop itself; trace lines only from the S3 SDK (the WebSocket
    // library's are held at debug).
    assert!(
        (log.contains("\"DEBUG\"") || log.contains(" DEBUG "))
            && (!store_traces || trace_lines > 0),
        "the log is at trace level:\n{log}"
    );
    if log.contains("{\"timestamp\"") {
        let json_lines = log
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .count();
        assert!(
            json_lines * 10 >= log.lines().count() * 9,
            "the log is JSON lines"
        );
    }
    assert!(
        log.contains("upload committed"),
        "the log has the uploads: {log}"
    );
    for (name, text) in [
        ("the server's log", &log),
        ("the admin commands", &admin_err),
    ] {
        for needle in &needles {
            for form in &needle.forms {
                if let Some(at) = text.find(form.as_str()) {
                    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                    panic!(
                        "{name} holds {} ({form}):\n{}",
                        needle.what,
                        &text[line_start..line_end]
                    );
                }
            }
        }
    }
}

const ARGS: [&str; 7] = [
    "--upload-auth",
    "token",
    "--upload-quota",
    "2MiB",
    "--max-file-size",
    "64MiB",
    "--upload-tokens-file",
];

fn tokens_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    dir
}

#[test]
fn no_secret_reaches_a_trace_log_on_fs_and_sqlite() {
    let tokens = tokens_file();
    let file = tokens.path().join("tokens");
    let mut args = ARGS.to_vec();
    args.extend([file.to_str().unwrap(), "--log-format", "text"]);
    let server = Server::start_with_env(&args, &[("RUST_LOG", "trace")]);
    every_route_keeps_secrets(&server, false, Vec::new());
}

#[test]
fn no_secret_reaches_a_trace_log_on_s3_and_redis() {
    let tokens = tokens_file();
    let file = tokens.path().join("tokens");
    let moto = Moto::start();
    moto.create_bucket("logs");
    let redis = Redis::start_with_password(REDIS_PASSWORD);
    let meta = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", redis.port);
    let mut args = ARGS.to_vec();
    args.extend([file.to_str().unwrap(), "--log-format", "json"]);
    args.extend([
        "--storage",
        "s3://logs/sealdrop",
        "--s3-endpoint",
        &moto.s3.endpoint,
        "--s3-region",
        &moto.s3.region,
        "--meta",
        &meta,
    ]);
    let server = Server::start_with_env(
        &args,
        &[
            ("RUST_LOG", "trace"),
            ("AWS_ACCESS_KEY_ID", &moto.s3.access_key),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ],
    );
    every_route_keeps_secrets(
        &server,
        true,
        vec![
            Needle::text("the S3 secret key", S3_SECRET),
            Needle::text("the Redis password", REDIS_PASSWORD),
        ],
    );
}
