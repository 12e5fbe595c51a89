//! The metrics listener of the real server (`SEALDROP_METRICS_LISTEN`), scraped after
//! transfers by the real CLI over both upload routes.

use std::collections::BTreeMap;

use sealdrop_e2e::{Sandbox, Server, content, free_port, http_get};
use sealdrop_protocol::ece::encrypted_size;

/// `name{labels}` → value of every sample of a scrape.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("name value");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn a_scrape_counts_the_clis_transfers() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start_with_env(
        &[],
        &[("SEALDROP_METRICS_LISTEN", &addr), ("RUST_LOG", "info")],
    );
    assert!(
        server
            .log()
            .contains(&format!("serving metrics at http://{addr}/metrics")),
        "{}",
        server.log()
    );

    let sb = Sandbox::new(&server);
    let small = content(100_000, 7);
    let big = content(3 << 20, 8);
    sb.write("small.bin", &small);
    sb.write("big.bin", &big);
    let ws_link = sb.upload(&["small.bin"]);
    let http_link = sb.upload(&["--transport", "http", "big.bin"]);
    for (link, name) in [(&ws_link, "small-copy.bin"), (&http_link, "big-copy.bin")] {
        sb.sealdrop(&["download", link, "-o", name]).run().success();
    }
    assert!(sb.read("small-copy.bin") == small && sb.read("big-copy.bin") == big);
    // The share is used up: one more try is refused.
    let again = sb
        .sealdrop(&["download", &ws_link, "-o", "again.bin"])
        .run();
    assert_ne!(again.code, 0);

    let (status, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let s = samples(&String::from_utf8(body).unwrap());
    let get = |key: &str| s.get(key).copied().unwrap_or(0.0);
    let ciphertext = (encrypted_size(100_000).unwrap() + encrypted_size(3 << 20).unwrap()) as f64;
    assert_eq!(get("sealdrop_uploads_started_total{route=\"ws\"}"), 1.0);
    assert_eq!(get("sealdrop_uploads_started_total{route=\"http\"}"), 1.0);
    assert_eq!(get("sealdrop_uploads_completed_total{route=\"ws\"}"), 1.0);
    assert_eq!(get("sealdrop_uploads_completed_total{route=\"http\"}"), 1.0);
    assert_eq!(get("sealdrop_uploads_active"), 0.0);
    assert_eq!(get("sealdrop_downloads_completed_total"), 2.0);
    assert_eq!(get("sealdrop_downloads_aborted_total"), 0.0);
    assert_eq!(get("sealdrop_downloads_active"), 0.0);
    assert_eq!(get("sealdrop_received_bytes_total"), ciphertext);
    assert_eq!(get("sealdrop_sent_bytes_total"), ciphertext);
    let rejected: Vec<&String> = s
        .keys()
        .filter(|k| k.starts_with("sealdrop_rejected_requests_total{"))
        .collect();
    assert_eq!(
        rejected,
        ["sealdrop_rejected_requests_total{reason=\"not_found\",class=\"4xx\"}"],
        "only the used-up share was refused"
    );
    assert_eq!(
        get("sealdrop_storage_operation_duration_seconds_count{op=\"commit\"}"),
        2.0
    );
    assert_eq!(
        get("sealdrop_meta_operation_duration_seconds_count{op=\"complete_download\"}"),
        2.0
    );

    // Never on the main listener.
    let (status, _) = http_get(server.port, "/metrics").unwrap();
    assert_eq!(status, 404);
}
