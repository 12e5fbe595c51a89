//! The binary's own contract, without a server: version, usage errors, connection errors.
//! (Everything against a server lives in the end-to-end suite, `tests/`.)
//!
//! Having an integration test also makes `cargo test` build the `sealdrop` binary with the
//! test profile's features, which the end-to-end suite then runs.

use std::process::Command;

fn sealdrop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sealdrop"))
        .args(args)
        .env_remove("SEALDROP_HOST")
        .output()
        .expect("run sealdrop")
}

#[test]
fn version_is_printed() {
    let out = sealdrop(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("sealdrop {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_1() {
    for args in [&["frobnicate"][..], &["upload"], &["download"]] {
        let out = sealdrop(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn an_unreachable_server_is_a_network_error() {
    // Port 1 on loopback: nothing listens there.
    let out = sealdrop(&[
        "exists",
        "http://127.0.0.1:1/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("sealdrop: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
    assert!(
        !err.contains("AAECAwQFBgcICQoLDA0ODw"),
        "no secret in errors: {err}"
    );
}
