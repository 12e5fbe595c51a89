//! Upload authentication with the real binaries: ffsend's `--basic-auth` against a
//! `--upload-auth basic` server (and against a token server, with the token as password),
//! the CLI's `--token`/`SEALDROP_TOKEN`/`--token-file` and `--basic-auth`, the sentence a
//! missing token gets, SIGHUP reloading the tokens file, and no credential in the logs.

use sealdrop_e2e::{Sandbox, Server, content, ffsend};
use sealdrop_testkit::wait::{self, Patience};

const TOKEN: &str = "e2e-token-Zk3vQ9mX1rT5yL8pW2cB";
const NEW_TOKEN: &str = "e2e-new-token-Hq4nJ7sD0fG6kA3u";
const PASSWORD: &str = "correct horse battery";

/// ffsend's flags for unattended use without history.
const QUIET: [&str; 4] = ["-I", "-y", "-q", "--incognito"];

const TOKEN_REQUIRED: &str = "this server requires an upload token: use --token or SEALDROP_TOKEN";
const BASIC_REQUIRED: &str = "this server requires a user name and password to upload: use --basic-auth USER:PASSWORD or SEALDROP_BASIC_AUTH";

/// A server with `--upload-auth MODE` and its credentials file (in the sandbox).
fn server(sb_dir: &tempfile::TempDir, mode: &str, file: &str) -> Server {
    let path = sb_dir.path().join("credentials");
    std::fs::write(&path, file).unwrap();
    let option = match mode {
        "basic" => "--upload-users-file",
        _ => "--upload-tokens-file",
    };
    Server::start_with_env(
        &["--upload-auth", mode, option, path.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
    )
}

fn ffsend_upload(
    sb: &Sandbox,
    ff: &std::path::Path,
    server: &Server,
    extra: &[&str],
    file: &str,
) -> sealdrop_e2e::Outcome {
    let host = format!("{}/", server.base);
    let mut args = vec!["upload"];
    args.extend(QUIET);
    args.extend(["--host", &host]);
    args.extend_from_slice(extra);
    args.push(file);
    sb.ffsend(ff, &args).run()
}

/// No unfinished upload is left in the server's blob directory (once discarded).
fn no_pending(server: &Server) {
    wait::for_progress("pending uploads to discard", Patience::GENEROUS, || {
        server
            .blob_files()
            .into_iter()
            .filter(|n| n.starts_with(".pending-"))
            .collect::<Vec<_>>()
    });
}

/// The server's log holds none of `secrets`.
fn log_is_clean(server: &Server, secrets: &[&str]) {
    let log = server.log();
    assert!(
        log.contains("upload committed"),
        "the log is at debug level: {log}"
    );
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds a credential:\n{log}");
    }
}

#[test]
fn ffsend_basic_auth_uploads_to_a_basic_server_and_is_refused_without() {
    let Some(ff) = ffsend() else { return };
    let creds = tempfile::tempdir().unwrap();
    let server = server(&creds, "basic", &format!("alice:{PASSWORD}\n"));
    let sb = Sandbox::new(&server);
    let data = content(123_457, 21);
    sb.write("basic.bin", &data);

    let pair = format!("alice:{PASSWORD}");
    let out = ffsend_upload(&sb, &ff, &server, &["--basic-auth", &pair], "basic.bin");
    let link = out.success().stdout_text().trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/download/", server.base)),
        "{link}"
    );
    // Recipients need no credentials.
    std::fs::create_dir(sb.path("out")).unwrap();
    sb.sealdrop(&["download", &link, "-o", "out"])
        .run()
        .success();
    assert!(sb.read("out/basic.bin") == data);

    let out = ffsend_upload(&sb, &ff, &server, &[], "basic.bin");
    assert_ne!(out.code, 0, "ffsend uploaded without credentials");
    let out = ffsend_upload(
        &sb,
        &ff,
        &server,
        &["--basic-auth", "alice:wrong"],
        "basic.bin",
    );
    assert_ne!(out.code, 0, "ffsend uploaded with a wrong password");
    no_pending(&server);

    // The CLI: --basic-auth and SEALDROP_BASIC_AUTH; nothing, or a wrong password, is a
    // sentence and exit code 3.
    sb.upload(&["--basic-auth", &pair, "basic.bin"]);
    sb.sealdrop(&["upload", "-q", "basic.bin"])
        .env("SEALDROP_BASIC_AUTH", &pair)
        .run()
        .success();
    sb.sealdrop(&["upload", "basic.bin"])
        .run()
        .fails(3, BASIC_REQUIRED);
    sb.sealdrop(&["upload", "--basic-auth", "alice:wrong", "basic.bin"])
        .run()
        .fails(
            3,
            &format!(
                "{} refused the user name or password for uploads",
                server.base
            ),
        );
    log_is_clean(&server, &[PASSWORD, "wrong"]);
}

#[test]
fn ffsend_uploads_to_a_token_server_with_the_token_as_basic_password() {
    let Some(ff) = ffsend() else { return };
    let creds = tempfile::tempdir().unwrap();
    let server = server(&creds, "token", &format!("{TOKEN} name=ffsend\n"));
    let sb = Sandbox::new(&server);
    let data = content(70_001, 22);
    sb.write("tok.bin", &data);
    let pair = format!("token:{TOKEN}");
    let out = ffsend_upload(&sb, &ff, &server, &["--basic-auth", &pair], "tok.bin");
    let link = out.success().stdout_text().trim().to_owned();
    sb.sealdrop(&["download", &link, "-o", "got.bin"])
        .run()
        .success();
    assert!(sb.read("got.bin") == data);
    let out = ffsend_upload(&sb, &ff, &server, &[], "tok.bin");
    assert_ne!(out.code, 0, "ffsend uploaded without a token");
    log_is_clean(&server, &[TOKEN]);
    assert!(
        server.log().contains("ffsend"),
        "the token's name labels the upload"
    );
}

#[test]
fn the_cli_uploads_with_a_token_and_without_one_gets_the_sentence() {
    let creds = tempfile::tempdir().unwrap();
    let server = server(
        &creds,
        "token",
        &format!("# tokens\n{TOKEN} name=cli max-size=1MB\n"),
    );
    let sb = Sandbox::new(&server);
    let data = content(200_000, 23);
    sb.write("f.bin", &data);

    // Without a token: refused before anything is uploaded, one sentence, exit code 3.
    sb.sealdrop(&["upload", "f.bin"])
        .run()
        .fails(3, TOKEN_REQUIRED);
    sb.sealdrop(&["upload", "--token", "not-the-right-token", "f.bin"])
        .run()
        .fails(3, &format!("{} refused the upload token", server.base));
    assert!(server.blob_files().is_empty());

    // --token, SEALDROP_TOKEN, --token-file; over the WebSocket and the HTTP route.
    let link = sb.upload(&["--token", TOKEN, "f.bin"]);
    sb.sealdrop(&["download", &link, "-o", "a.bin"])
        .run()
        .success();
    assert!(sb.read("a.bin") == data);
    sb.sealdrop(&["upload", "-q", "--transport", "http", "f.bin"])
        .env("SEALDROP_TOKEN", TOKEN)
        .run()
        .success();
    let token_file = sb.write("token.txt", format!("{TOKEN}\n").as_bytes());
    let link = sb.upload(&[
        "--token-file",
        token_file.to_str().unwrap(),
        "--transport",
        "ws",
        "f.bin",
    ]);
    sb.sealdrop(&["download", &link, "-o", "b.bin"])
        .run()
        .success();
    assert!(sb.read("b.bin") == data);

    // The token's max-size.
    sb.write("big.bin", &content(1_000_001, 24));
    let out = sb.sealdrop(&["upload", "--token", TOKEN, "big.bin"]).run();
    out.fails(1, &format!("{} refuses files this large", server.base));
    no_pending(&server);
    log_is_clean(&server, &[TOKEN, "not-the-right-token"]);
}

#[test]
fn sighup_reloads_the_tokens_file() {
    let creds = tempfile::tempdir().unwrap();
    let server = server(&creds, "token", &format!("{TOKEN}\n"));
    let sb = Sandbox::new(&server);
    sb.write("f.bin", &content(1000, 25));
    sb.upload(&["--token", TOKEN, "f.bin"]);

    std::fs::write(creds.path().join("credentials"), format!("{NEW_TOKEN}\n")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait::until("the reload is logged", wait::EVENTUALLY, || {
        server.log().contains("upload credentials reloaded")
    });
    sb.upload(&["--token", NEW_TOKEN, "f.bin"]);
    sb.sealdrop(&["upload", "--token", TOKEN, "f.bin"])
        .run()
        .fails(3, &format!("{} refused the upload token", server.base));
    // The server is still up after the signal.
    sb.upload(&["--token", NEW_TOKEN, "f.bin"]);
}
