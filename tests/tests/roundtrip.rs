//! Round trips through the CLI at the record boundaries and beyond, over every transport.

use sealdrop_e2e::{RefusingProxy, Sandbox, Server, content};

use crate::leftovers;

/// Uploads `size` bytes and downloads them into a new directory; they must match.
fn round_trip(size: usize) {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(size, size as u64 + 1);
    sb.write("in/file.bin", &data);
    let link = sb.upload(&["in/file.bin"]);
    sb.sealdrop(&["download", &link, "-o", "out/"])
        .run()
        .success();
    assert_eq!(sb.tree("out").into_keys().collect::<Vec<_>>(), ["file.bin"]);
    assert!(sb.read("out/file.bin") == data, "the content differs");
    assert!(leftovers(&sb.path("out")).is_empty());
}

#[test]
fn an_empty_file_round_trips() {
    round_trip(0);
}

#[test]
fn one_byte_round_trips() {
    round_trip(1);
}

#[test]
fn exactly_one_record_round_trips() {
    round_trip(65519);
}

#[test]
fn one_record_and_one_byte_round_trip() {
    round_trip(65520);
}

#[test]
fn a_64_mib_file_round_trips_in_bounded_memory() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let size = 64 * 1024 * 1024 + 1;
    let data = content(size, 64);
    sb.write("big.bin", &data);
    let up = sb.sealdrop(&["upload", "-q", "big.bin"]).run();
    up.success();
    let link = up.stdout_text().trim().to_owned();
    let down = sb.sealdrop(&["download", &link, "-o", "copy.bin"]).run();
    down.success();
    assert!(sb.read("copy.bin") == data, "the content differs");
    // Streaming: neither side may hold the file (64 MiB) in memory.
    for (what, peak) in [("upload", up.peak_rss_kib), ("download", down.peak_rss_kib)] {
        if let Some(kib) = peak {
            assert!(kib < 48 * 1024, "{what} peaked at {kib} KiB");
        }
    }
}

#[test]
fn stdin_streams_to_stdout() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(200_000, 7);
    let up = sb
        .sealdrop(&["upload", "-q", "-"])
        .stdin(data.clone())
        .run();
    up.success();
    let link = up.stdout_text().trim().to_owned();
    let info = sb.sealdrop(&["--json", "info", &link]).run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(info["name"], "stdin");
    assert_eq!(info["size"], 200_000);
    let down = sb.sealdrop(&["download", &link, "-o", "-"]).run();
    down.success();
    assert!(down.stdout == data, "stdout differs from stdin");
    assert_eq!(down.stderr, "");
    assert!(sb.tree(".").is_empty(), "nothing is written to disk");
}

#[test]
fn the_http_upload_route_round_trips() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(150_000, 3);
    sb.write("f.bin", &data);
    let link = sb.upload(&["--transport", "http", "--downloads", "2", "f.bin"]);
    sb.sealdrop(&["download", &link, "-o", "g.bin"])
        .run()
        .success();
    assert!(sb.read("g.bin") == data);
    let info = sb.sealdrop(&["--json", "info", &link]).run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(
        info["download_limit"], 2,
        "the HTTP route honours the limit"
    );
    assert_eq!(info["downloads"], 1);
}

#[test]
fn a_proxy_refusing_websockets_gets_the_upload_over_http() {
    let server = Server::start();
    let proxy = RefusingProxy::start(server.port);
    let sb = Sandbox::with_host(&proxy.base);
    let data = content(100_000, 4);
    sb.write("f.bin", &data);
    let link = sb.upload(&["f.bin"]);
    assert_eq!(proxy.refused(), 1, "the WebSocket upgrade was tried first");
    sb.sealdrop(&["download", &link, "-o", "g.bin"])
        .run()
        .success();
    assert!(sb.read("g.bin") == data);
}

#[test]
fn websocket_only_uploads_fail_through_a_refusing_proxy() {
    let server = Server::start();
    let proxy = RefusingProxy::start(server.port);
    let sb = Sandbox::with_host(&proxy.base);
    sb.write("f.bin", b"x");
    sb.sealdrop(&["upload", "--transport", "ws", "f.bin"])
        .run()
        .fails(
            4,
            &format!(
                "{} refused the WebSocket upload (HTTP 403); try --transport http",
                proxy.base
            ),
        );
    assert!(server.blob_files().is_empty());
}
