//! `/.well-known/security.txt` (RFC 9116; issue 21, item 6): served with
//! `--security-contact`, a JSON 404 without it, and a bad contact stops the start with one
//! sentence and exit code 2.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sealdrop_server::clock::{ManualClock, SystemClock};
use sealdrop_server::http::security_txt::EXPIRES_IN;

use crate::support::*;

const PATH: &str = "/.well-known/security.txt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_contact_there_is_no_security_txt() {
    let server = TestServer::start_with(
        |c| c.security_policy = Some("https://example.com/policy".into()),
        Arc::new(SystemClock),
    )
    .await;
    let resp = reqwest::get(server.url(PATH)).await.unwrap();
    assert_eq!(resp.status(), 404);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_is_served_as_rfc_9116_asks() {
    // 2026-03-01T12:00:00Z, then a day later: Expires follows the clock.
    let start = 1_772_366_400_000;
    let clock = ManualClock::new(start);
    let server = TestServer::start_with(
        |c| {
            c.base_url = "https://send.example.com".into();
            c.security_contact = Some("mailto:security@example.com".into());
            c.security_policy = Some("https://example.com/security-policy".into());
        },
        clock.clone(),
    )
    .await;
    let resp = reqwest::get(server.url(PATH)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        resp.text().await.unwrap(),
        "Contact: mailto:security@example.com\n\
         Expires: 2026-08-28T12:00:00Z\n\
         Policy: https://example.com/security-policy\n\
         Preferred-Languages: en\n\
         Canonical: https://send.example.com/.well-known/security.txt\n"
    );
    clock.advance(Duration::from_secs(86400));
    let text = reqwest::get(server.url(PATH))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .unwrap();
    let expected = UNIX_EPOCH + Duration::from_millis(start) + Duration::from_secs(86400);
    assert_eq!(
        humantime::parse_rfc3339(expires).unwrap(),
        expected + EXPIRES_IN
    );
    // Less than a year ahead, as RFC 9116 wants.
    assert!(EXPIRES_IN < Duration::from_secs(365 * 86400));
    // HEAD too.
    let resp = reqwest::Client::new()
        .head(server.url(PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_instance_names_no_canonical_url_and_no_policy_unless_set() {
    let server = TestServer::start_with(
        |c| c.security_contact = Some("https://example.com/report".into()),
        Arc::new(SystemClock),
    )
    .await;
    let text = reqwest::get(server.url(PATH))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(": ").unwrap().0)
        .collect();
    assert_eq!(
        fields,
        ["Contact", "Expires", "Preferred-Languages"],
        "{text}"
    );
    assert!(
        text.starts_with("Contact: https://example.com/report\n"),
        "{text}"
    );
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .unwrap();
    let ahead = humantime::parse_rfc3339(expires)
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        ahead > Duration::from_secs(179 * 86400) && ahead <= EXPIRES_IN,
        "{ahead:?}"
    );
}

/// `sealdrop-server` with `args` and `env` (and no other `SEALDROP_*` variable): its exit
/// code and standard error.
fn run_server(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sealdrop-server"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SEALDROP_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_security_contact_stops_the_start_with_one_sentence() {
    let (code, stderr) = run_server(&["--security-contact", "security@example.com"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "sealdrop-server: --security-contact \"security@example.com\" is not a mailto: or \
         https: URI like mailto:security@example.com\n"
    );
    let (code, stderr) = run_server(
        &[],
        &[("SEALDROP_SECURITY_CONTACT", "http://example.com/security")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--security-contact"), "{stderr}");
    let (code, stderr) = run_server(
        &[
            "--security-contact",
            "mailto:security@example.com",
            "--security-policy",
            "example.com/policy",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "sealdrop-server: --security-policy \"example.com/policy\" is not an https: URL like \
         https://example.com/security-policy\n"
    );
}
