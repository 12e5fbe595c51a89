//! Start-up as a newcomer sees it: the real `sealdrop-server` logs `ready` only once its
//! stores answered; a start that fails logs exactly one ERROR line, one short sentence
//! naming the option to check (no SDK structures), exits with the documented code (1 cannot
//! listen, 3 a store is unusable), and shows the details only with `RUST_LOG=debug`. With
//! an S3 endpoint and no region the server never asks the EC2 instance metadata service.

use std::io::BufRead as _;
use std::path::Path;
use std::time::{Duration, Instant};

use sealdrop_e2e::{Cmd, Outcome, free_port};
use sealdrop_testkit::Moto;

/// Exit code of a server that cannot listen.
const CANNOT_LISTEN: i32 = 1;
/// Exit code of a server whose store is unreachable or unusable.
const STORE_FAILED: i32 = 3;

/// `sealdrop-server` with `args`, by default listening on a free port with its
/// `--data-dir` in `dir`, with no AWS settings from the environment and an empty `HOME` (so
/// no AWS profile either): what a newcomer on a fresh machine runs.
fn server(dir: &Path, args: &[&str]) -> Cmd {
    let listen = format!("127.0.0.1:{}", free_port());
    let data = dir.join("data");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut all = Vec::new();
    if !args.contains(&"--listen") {
        all.extend(["--listen", listen.as_str()]);
    }
    if !args.contains(&"--data-dir") {
        all.extend(["--data-dir", data.to_str().unwrap()]);
    }
    all.extend_from_slice(args);
    let mut cmd = Cmd::server(&all).env("HOME", &home);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd = cmd.env_remove(&key);
        }
    }
    cmd
}

/// Dummy S3 credentials (moto takes any).
fn with_keys(cmd: Cmd) -> Cmd {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
}

/// Everything the process wrote, standard output (logs) then standard error.
fn output(out: &Outcome) -> String {
    format!("{}{}", out.stdout_text(), out.stderr)
}

/// Asserts that `out` exited with `code` after logging exactly one ERROR line, and no
/// `ready` line; returns that line's message. The message is one short sentence without
/// the SDK's or the OS's structures.
#[track_caller]
fn failed_start(out: &Outcome, code: i32) -> String {
    out.code(code);
    let text = output(out);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line:\n{text}");
    let message = errors[0]
        .split_once(" ERROR ")
        .map(|(_, m)| m.trim())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !text.contains(" ready"),
        "a failed start said ready:\n{text}"
    );
    assert!(message.len() < 200, "{} chars: {message}", message.len());
    assert!(
        message.contains(": check ") || message.contains(": set "),
        "names no option: {message}"
    );
    for noise in [
        "DispatchFailure",
        "ConnectorError",
        "SdkError",
        "ServiceError",
        "os error",
        "{",
        "Caused by",
    ] {
        assert!(!message.contains(noise), "{noise:?} in {message}");
    }
    message
}

#[test]
fn redis_with_nothing_listening() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let out = server(dir.path(), &["--meta", &url]).run();
    let message = failed_start(&out, STORE_FAILED);
    assert_eq!(
        message,
        format!("cannot reach Redis at 127.0.0.1:{port} (connection refused): check --meta")
    );
    assert!(!output(&out).contains("hunter2"), "{}", output(&out));

    // The details, with RUST_LOG=debug: the Redis client's own error, still without the
    // password; the ERROR line is the same.
    let out = server(dir.path(), &["--meta", &url])
        .env("RUST_LOG", "debug")
        .run();
    assert_eq!(failed_start(&out, STORE_FAILED), message);
    let text = output(&out);
    let details = text
        .lines()
        .find(|l| l.contains(" DEBUG ") && l.contains("the start failed: "))
        .unwrap_or_else(|| panic!("no details at DEBUG level:\n{text}"));
    assert!(details.contains(&format!("{message}: ")), "{details}");
    assert!(!text.contains("hunter2"), "{text}");

    // `admin` says it the same way, on standard error.
    let out = server(dir.path(), &["--meta", &url, "admin", "list-reported"]).run();
    out.code(STORE_FAILED);
    assert_eq!(out.stderr, format!("sealdrop-server: {message}\n"));
}

#[test]
fn s3_endpoint_with_nothing_listening() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = with_keys(server(
        dir.path(),
        &["--storage", "s3://sealdrop", "--s3-endpoint", &endpoint],
    ))
    .run();
    assert_eq!(
        failed_start(&out, STORE_FAILED),
        format!(
            "cannot use S3 bucket \"sealdrop\" at {endpoint}: the endpoint is unreachable: \
             check --s3-endpoint"
        )
    );

    let out = with_keys(server(
        dir.path(),
        &["--storage", "s3://sealdrop", "--s3-endpoint", &endpoint],
    ))
    .env("RUST_LOG", "debug")
    .run();
    failed_start(&out, STORE_FAILED);
    let text = output(&out);
    assert!(
        text.lines()
            .any(|l| l.contains("the start failed: ") && l.contains("dispatch failure")),
        "no SDK details at DEBUG level:\n{text}"
    );
}

#[test]
fn s3_without_credentials() {
    let moto = Moto::start();
    moto.create_bucket("sealdrop");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = server(
        dir.path(),
        &[
            "--storage",
            "s3://sealdrop",
            "--s3-endpoint",
            &moto.s3.endpoint,
        ],
    )
    .run();
    let message = failed_start(&out, STORE_FAILED);
    assert_eq!(
        message,
        format!(
            "cannot use S3 bucket \"sealdrop\" at {}: no usable credentials: set \
             --s3-access-key-id-file and --s3-secret-access-key-file, or AWS_ACCESS_KEY_ID \
             and AWS_SECRET_ACCESS_KEY",
            moto.s3.endpoint
        )
    );
    println!(
        "no credentials found out in {:?}:\n{}",
        started.elapsed(),
        output(&out)
    );
}

#[test]
fn s3_bucket_missing() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let out = with_keys(server(
        dir.path(),
        &[
            "--storage",
            "s3://absent",
            "--s3-endpoint",
            &moto.s3.endpoint,
        ],
    ))
    .run();
    assert_eq!(
        failed_start(&out, STORE_FAILED),
        format!(
            "cannot use S3 bucket \"absent\" at {}: no such bucket: check --storage, or create \
             it with `sealdrop-server admin s3-setup`",
            moto.s3.endpoint
        )
    );
}

#[test]
fn listen_address_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = server(dir.path(), &["--listen", &addr]).run();
    assert_eq!(
        failed_start(&out, CANNOT_LISTEN),
        format!("cannot listen on {addr} (address already in use): check --listen")
    );

    let out = server(dir.path(), &["--metrics-listen", &addr]).run();
    assert_eq!(
        failed_start(&out, CANNOT_LISTEN),
        format!("cannot listen on {addr} (address already in use): check --metrics-listen")
    );
}

#[test]
fn data_dir_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let file = file.to_str().unwrap();
    let out = server(dir.path(), &["--data-dir", file]).run();
    assert_eq!(
        failed_start(&out, STORE_FAILED),
        format!("cannot store blobs in {file}/blobs (not a directory): check --data-dir")
    );
}

/// With `--s3-endpoint` and no region anywhere, the region is `us-east-1` at once: no
/// request to the EC2 instance metadata service (which, off EC2, costs over a second and
/// a warning at every start).
#[test]
fn an_endpoint_without_a_region_starts_at_once() {
    let moto = Moto::start();
    moto.create_bucket("sealdrop");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = with_keys(server(
        dir.path(),
        &[
            "--storage",
            "s3://sealdrop",
            "--s3-endpoint",
            &moto.s3.endpoint,
        ],
    ))
    .env("RUST_LOG", "info,aws_config=debug")
    .spawn_piped();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let done = line.contains("sealdrop-server") && line.contains(" ready");
                lines.push(line);
                if done {
                    break started.elapsed();
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("not ready:\n{}", lines.join("\n"));
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = lines.join("\n");
    println!("ready after {ready:?}:\n{log}");
    let lower = log.to_lowercase();
    for probe in ["imds", "instance metadata", "169.254.169.254"] {
        assert!(!lower.contains(probe), "{probe:?} in the log:\n{log}");
    }
    assert!(
        !log.lines().any(|l| l.contains(" WARN ")),
        "a warning at start:\n{log}"
    );
    assert!(ready < Duration::from_secs(5), "ready after {ready:?}");
}
