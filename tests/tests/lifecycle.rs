//! Expired and exhausted shares, and the server's limits checked before uploading.

use std::time::Duration;

use sealdrop_e2e::{Sandbox, Server};

use crate::NOT_FOUND;

#[test]
fn an_expired_share_is_not_found() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"soon gone");
    let link = sb.upload(&["--expiry", "1", "f.txt"]);
    std::thread::sleep(Duration::from_millis(1500));
    sb.sealdrop(&["download", &link, "-o", "got.txt"])
        .run()
        .fails(2, NOT_FOUND);
    sb.sealdrop(&["exists", &link]).run().fails(2, NOT_FOUND);
    assert!(!sb.path("got.txt").exists());
}

#[test]
fn an_exhausted_share_is_not_found() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"once");
    let link = sb.upload(&["f.txt"]);
    sb.sealdrop(&["download", &link, "-o", "first.txt"])
        .run()
        .success();
    assert_eq!(sb.read("first.txt"), b"once");
    sb.sealdrop(&["download", &link, "-o", "second.txt"])
        .run()
        .fails(2, NOT_FOUND);
    assert!(!sb.path("second.txt").exists());
}

#[test]
fn a_download_limit_of_three_allows_three_downloads() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"thrice");
    let link = sb.upload(&["--downloads", "3", "f.txt"]);
    for i in 0..3 {
        sb.sealdrop(&["download", &link, "-o", &format!("{i}.txt")])
            .run()
            .success();
    }
    sb.sealdrop(&["download", &link, "-o", "3.txt"])
        .run()
        .fails(2, NOT_FOUND);
}

/// A server with small limits, and a sandbox for it.
fn limited() -> (Server, Sandbox) {
    let server = Server::start_with(&[
        "--max-file-size",
        "1000",
        "--max-downloads",
        "5",
        "--max-expiry",
        "1h",
    ]);
    let sb = Sandbox::new(&server);
    (server, sb)
}

#[test]
fn a_file_larger_than_the_server_accepts_is_refused_before_uploading() {
    let (server, sb) = limited();
    sb.write("big", &[0u8; 1001]);
    sb.sealdrop(&["upload", "big"]).run().fails(
        1,
        "the file is 1 KB (1001 bytes), more than this server accepts: at most 1 KB (1000 bytes)",
    );
    sb.write("a", &[0u8; 600]);
    sb.write("b", &[0u8; 600]);
    sb.sealdrop(&["upload", "a", "b"]).run().fails(
        1,
        "the files are 1.2 KB (1200 bytes), more than this server accepts: at most 1 KB (1000 bytes)",
    );
    assert!(server.blob_files().is_empty());
    assert!(sb.history().is_null());
    // At the limit it goes.
    sb.write("fits", &[0u8; 1000]);
    sb.upload(&["fits"]);
}

#[test]
fn an_expiry_longer_than_the_server_allows_is_refused() {
    let (server, sb) = limited();
    sb.write("f", b"f");
    sb.sealdrop(&["upload", "--expiry", "2h", "f"]).run().fails(
        1,
        "an expiry of 2h is longer than this server allows: choose 1 second to 1h (3600 seconds)",
    );
    sb.sealdrop(&["upload", "f"])
        .env("SEALDROP_EXPIRY", "7d")
        .run()
        .fails(
            1,
            "an expiry of 7d is longer than this server allows: choose 1 second to 1h (3600 seconds)",
        );
    assert!(server.blob_files().is_empty());
}

#[test]
fn a_download_limit_higher_than_the_server_allows_is_refused() {
    let (server, sb) = limited();
    sb.write("f", b"f");
    sb.sealdrop(&["upload", "--downloads", "6", "f"])
        .run()
        .fails(
            1,
            "a download limit of 6 is more than this server allows: choose 1 to 5",
        );
    assert!(server.blob_files().is_empty());
    let link = sb.upload(&["--downloads", "5", "f"]);
    sb.sealdrop(&["params", &link, "--downloads", "6"])
        .run()
        .fails(
            1,
            "a download limit of 6 is more than this server allows: choose 1 to 5",
        );
}

#[test]
fn the_server_defaults_apply_when_no_limits_are_given() {
    let server = Server::start_with(&["--default-downloads", "3", "--default-expiry", "5m"]);
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let up = sb.upload_json(&["f"]);
    assert_eq!(up["downloads"], 3);
    assert_eq!(up["expiry_seconds"], 300);
    let link = up["link"].as_str().unwrap();
    let info = sb.sealdrop(&["--json", "info", link]).run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(info["download_limit"], 3);
    let ttl = info["expires_in_seconds"].as_u64().unwrap();
    assert!((290..=300).contains(&ttl), "{ttl}");
}
