//! The CLI against a rate-limited server (issue 21, item 3): a short `Retry-After` is
//! waited, with one line on standard error, and the request sent again — uploads over
//! both routes and from standard input, downloads; a long one, or `--no-wait`, fails at
//! once with a sentence saying when to try again and exit code 7.
//!
//! Timing: the servers refill one request every 3 s, so the request after another is
//! refused unless the machine stalls for seconds between two commands; only lower bounds
//! on the time waited are asserted.

use std::time::{Duration, Instant};

use sealdrop_e2e::{Outcome, Sandbox, Server, content};

/// The exit code of a rate-limited command.
const RATE_LIMITED: i32 = 7;

/// The start of the line announcing a wait.
const WAITING: &str = "sealdrop: the server asks to wait ";

/// The waits announced on standard error, in seconds; panics on any other line.
fn announced_waits(out: &Outcome) -> Vec<u64> {
    out.stderr
        .lines()
        .map(|line| {
            line.strip_prefix(WAITING)
                .and_then(|rest| rest.strip_suffix(" s"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line on stderr: {line:?}\n{}", out.stderr))
        })
        .collect()
}

/// Downloads `link` into `name` (no rate limit on that route) and checks it holds `want`.
fn assert_downloads(sb: &Sandbox, link: &str, name: &str, want: &[u8]) {
    sb.sealdrop(&["download", "-q", link, "-o", name])
        .run()
        .success();
    assert!(sb.read(name) == want, "{name} differs from what was sent");
}

/// Asserts the one-sentence refusal of `what` with a wait of 1 to 4 seconds.
#[track_caller]
fn assert_refused_seconds(out: &Outcome, what: &str) {
    out.code(RATE_LIMITED);
    assert!(out.stdout.is_empty(), "{}", out.stdout_text());
    let secs = out
        .stderr
        .strip_prefix(&format!("sealdrop: {what}: try again in "))
        .and_then(|rest| rest.strip_suffix(" s\n"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("not the refusal of {what}: {:?}", out.stderr));
    assert!((1..=4).contains(&secs), "{secs} s for a 3 s interval");
}

#[test]
fn uploads_wait_for_a_short_retry_after_on_both_routes_and_from_stdin() {
    let server = Server::start_with(&["--upload-rate", "1,3s"]);
    let sb = Sandbox::new(&server);
    let first = content(1000, 1);
    sb.write("first.bin", &first);
    let first_link = sb.upload(&["first.bin"]);

    // WebSocket: the 429 is the answer to the upgrade.
    let second = content(70_000, 2);
    sb.write("second.bin", &second);
    let started = Instant::now();
    let out = sb.sealdrop(&["upload", "second.bin"]).run();
    out.success();
    let stdout = out.stdout_text();
    let (link, rest) = stdout.split_once('\n').unwrap();
    assert!(rest.contains("second.bin"), "{stdout}");
    let waits = announced_waits(&out);
    assert!(
        !waits.is_empty() && waits.iter().all(|w| (1..=4).contains(w)),
        "{waits:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));

    // HTTP: the 429 comes while the body is being sent; a few MiB so that the reader is
    // well into the file when it does, and the retry must start again from its first byte.
    let third = content(3 << 20, 3);
    sb.write("third.bin", &third);
    let out = sb
        .sealdrop(&["upload", "--transport", "http", "third.bin"])
        .run();
    out.success();
    assert!(!announced_waits(&out).is_empty(), "{}", out.stderr);
    let third_link = out.stdout_text().lines().next().unwrap().to_owned();

    // Standard input is spooled to a temporary file, which is read again; -q prints no
    // waiting line.
    let fourth = content(200_000, 4);
    let out = sb
        .sealdrop(&["upload", "-q", "--transport", "http", "-"])
        .stdin(fourth.clone())
        .run();
    out.success();
    assert_eq!(out.stderr, "", "-q announces no wait");
    let fourth_link = out.stdout_text().trim().to_owned();

    assert_downloads(&sb, &first_link, "first.out", &first);
    assert_downloads(&sb, link, "second.out", &second);
    assert_downloads(&sb, &third_link, "third.out", &third);
    assert_downloads(&sb, &fourth_link, "fourth.out", &fourth);
    assert_eq!(sb.history()["shares"].as_array().unwrap().len(), 4);
}

#[test]
fn no_wait_fails_at_once_saying_when_to_try_again() {
    let server = Server::start_with(&["--upload-rate", "1,3s"]);
    let sb = Sandbox::new(&server);
    sb.write("a.txt", b"a");
    sb.upload(&["a.txt"]);
    let out = sb.sealdrop(&["upload", "--no-wait", "a.txt"]).run();
    assert_refused_seconds(
        &out,
        "the server refuses more uploads from this address for now",
    );
    // The same from the environment, and on the HTTP route.
    let out = sb
        .sealdrop(&["upload", "--transport", "http", "a.txt"])
        .env("SEALDROP_NO_WAIT", "1")
        .run();
    assert_refused_seconds(
        &out,
        "the server refuses more uploads from this address for now",
    );
    // Nothing was recorded for the refused uploads.
    assert_eq!(sb.history()["shares"].as_array().unwrap().len(), 1);
}

#[test]
fn a_wait_beyond_the_maximum_fails_at_once_saying_when_to_try_again() {
    let server = Server::start_with(&["--upload-rate", "1,600s"]);
    let sb = Sandbox::new(&server);
    sb.write("a.txt", b"a");
    sb.upload(&["a.txt"]);
    const SENTENCE: &str =
        "the server refuses more uploads from this address for now: try again in 10 min";
    for transport in ["ws", "http", "auto"] {
        let started = Instant::now();
        sb.sealdrop(&["upload", "--transport", transport, "a.txt"])
            .run()
            .fails(RATE_LIMITED, SENTENCE);
        // Generous: it must not have waited anything like the 10 minutes.
        assert!(started.elapsed() < Duration::from_secs(60), "{transport}");
    }
    // A maximum above the wait would wait: a maximum below it (from the environment) does not.
    sb.sealdrop(&["upload", "a.txt"])
        .env("SEALDROP_MAX_WAIT", "5m")
        .run()
        .fails(RATE_LIMITED, SENTENCE);
}

#[test]
fn downloads_wait_for_a_short_retry_after_and_no_wait_spends_nothing() {
    let server = Server::start_with(&["--download-rate", "1,3s"]);
    let sb = Sandbox::new(&server);
    let data = content(100_000, 5);
    sb.write("d.bin", &data);
    let link = sb.upload(&["d.bin", "--downloads", "1"]);

    // exists takes the one request of the bucket, metadata is refused.
    let out = sb
        .sealdrop(&["download", "--no-wait", &link, "-o", "early.bin"])
        .run();
    assert_refused_seconds(&out, "the server refuses more downloads for now");
    assert!(!sb.path("early.bin").exists());

    // exists, metadata and the download: each after the previous one waits its turn.
    let started = Instant::now();
    let out = sb.sealdrop(&["download", &link, "-o", "d.out"]).run();
    out.success();
    let waits = announced_waits(&out);
    assert!(
        !waits.is_empty() && waits.iter().all(|w| (1..=4).contains(w)),
        "{waits:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The refused attempt spent nothing: the single download was this one.
    assert!(sb.read("d.out") == data, "the download differs");
}

#[test]
fn owner_requests_over_the_limit_say_when_to_try_again() {
    let server = Server::start_with(&["--owner-rate", "1,600s"]);
    let sb = Sandbox::new(&server);
    sb.write("o.txt", b"owned");
    let link = sb.upload(&["o.txt"]);
    sb.sealdrop(&["params", &link, "--downloads", "3"])
        .run()
        .success();
    sb.sealdrop(&["delete", &link]).run().fails(
        RATE_LIMITED,
        "the server refuses more owner requests from this address for now: try again in 10 min",
    );
    // Not deleted, and still in the history.
    sb.sealdrop(&["exists", &link]).run().success();
    assert_eq!(sb.history()["shares"].as_array().unwrap().len(), 1);
}

#[test]
fn the_exit_code_and_the_options_are_in_the_help() {
    // Nothing is asked of a server.
    let sb = Sandbox::with_host("http://127.0.0.1:1");
    let out = sb.sealdrop(&["--help"]).run();
    let help = out.success().stdout_text();
    assert!(help.contains("  7    rate limited"), "{help}");
    for option in [
        "--max-wait",
        "SEALDROP_MAX_WAIT",
        "--no-wait",
        "SEALDROP_NO_WAIT",
    ] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    sb.sealdrop(&["exists", "--max-wait", "soon", "x"])
        .run()
        .code(1);
}
