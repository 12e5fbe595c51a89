//! Password-protected shares: right, wrong and missing passwords, from every source; no
//! prompt without a terminal; the password never stored.

use sealdrop_e2e::{Sandbox, Server, content};

const NO_TERMINAL: &str = "this share needs a password, but standard input is not a terminal to ask on; set SEALDROP_PASSWORD or use --password-file";

#[test]
fn a_password_share_downloads_with_the_right_password_only() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(70_000, 9);
    sb.write("f.bin", &data);
    let up = sb
        .sealdrop(&["--json", "upload", "f.bin"])
        .env("SEALDROP_PASSWORD", "hunter2 ünïcode")
        .run();
    let up: serde_json::Value = serde_json::from_slice(&up.success().stdout).unwrap();
    assert_eq!(up["password"], true);
    let link = up["link"].as_str().unwrap();

    sb.sealdrop(&["download", link, "-o", "out.bin"])
        .run()
        .fails(3, NO_TERMINAL);
    sb.sealdrop(&["download", link, "-o", "out.bin"])
        .env("SEALDROP_PASSWORD", "hunter3")
        .run()
        .fails(3, "the password is wrong");
    sb.sealdrop(&["download", link, "-o", "out.bin", "--password=hunter2"])
        .run()
        .fails(3, "the password is wrong");
    assert!(!sb.path("out.bin").exists());
    // Wrong tries cost no download (the limit is 1).
    sb.sealdrop(&["download", link, "-o", "out.bin"])
        .env("SEALDROP_PASSWORD", "hunter2 ünïcode")
        .run()
        .success();
    assert!(sb.read("out.bin") == data);

    let history = std::fs::read_to_string(sb.history_path()).unwrap();
    assert!(
        !history.contains("hunter2"),
        "the history holds no password"
    );
}

#[test]
fn a_password_file_works_both_ways() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("pw", b"from a file\n");
    sb.write("f.txt", b"content");
    let link = sb.upload(&["--password-file", "pw", "f.txt"]);
    assert_eq!(
        sb.sealdrop(&["exists", &link])
            .run()
            .success()
            .stdout_text(),
        "the share exists and needs a password\n"
    );
    let info = sb.sealdrop(&["--json", "info", &link]).run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(info["requires_password"], true);
    assert_eq!(info["name"], serde_json::Value::Null, "info never prompts");
    let info = sb
        .sealdrop(&["--json", "info", &link, "--password-file", "pw"])
        .run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(info["name"], "f.txt");
    sb.sealdrop(&["download", &link, "-o", "got.txt"])
        .env("SEALDROP_PASSWORD_FILE", sb.path("pw"))
        .run()
        .success();
    assert_eq!(sb.read("got.txt"), b"content");
}

#[test]
fn upload_with_password_and_no_terminal_fails_before_uploading() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"content");
    sb.sealdrop(&["upload", "--password", "f.txt"]).run().fails(
        3,
        "--password needs a password, but standard input is not a terminal to ask on; set SEALDROP_PASSWORD or use --password-file",
    );
    sb.sealdrop(&["upload", "--password=", "f.txt"])
        .run()
        .fails(1, "the password is empty");
    assert!(server.blob_files().is_empty());
    assert!(sb.history().is_null());
}

/// The words of the EFF large word list that `--generate-password` draws from.
fn eff_words() -> std::collections::HashSet<String> {
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../web/vendor/eff-wordlist/eff_large_wordlist.txt");
    std::fs::read_to_string(list)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

/// The passphrase `--generate-password` printed: its one line on standard error.
fn generated(stderr: &str) -> String {
    const PREFIX: &str = "sealdrop: the share's password (shown once): ";
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on standard error: {stderr}");
    lines[0].strip_prefix(PREFIX).expect(stderr).to_owned()
}

#[test]
fn generate_password_prints_a_passphrase_once_and_protects_the_share() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(70_000, 3);
    sb.write("f.bin", &data);
    // Even with -q the passphrase is printed: it exists nowhere else.
    let out = sb
        .sealdrop(&["upload", "-q", "--generate-password", "f.bin"])
        .run();
    let link = out.success().stdout_text().trim().to_owned();
    assert!(
        link.contains("/download/"),
        "stdout is the link only: {link}"
    );
    let passphrase = generated(&out.stderr);
    let words: Vec<&str> = passphrase.split('-').collect();
    assert_eq!(words.len(), 6, "{passphrase}");
    let list = eff_words();
    assert_eq!(list.len(), 7776);
    assert!(words.iter().all(|w| list.contains(*w)), "{passphrase}");
    // 6 × log2(7776) bits.
    assert!(6.0 * 7776f64.log2() >= 77.0);

    sb.sealdrop(&["download", &link, "-o", "out.bin"])
        .run()
        .fails(3, NO_TERMINAL);
    sb.sealdrop(&["download", &link, "-o", "out.bin"])
        .env("SEALDROP_PASSWORD", &passphrase)
        .run()
        .success();
    assert!(sb.read("out.bin") == data);
    let history = std::fs::read_to_string(sb.history_path()).unwrap();
    assert!(
        !history.contains(&passphrase),
        "the history holds no password"
    );

    // Each upload draws a new one.
    let again = sb
        .sealdrop(&["upload", "--generate-password", "f.bin"])
        .run();
    assert_ne!(generated(&again.success().stderr), passphrase);
    sb.sealdrop(&["upload", "--generate-password", "--password=x", "f.bin"])
        .run()
        .code(1);
}

#[test]
fn a_weak_password_gets_one_warning_and_still_uploads() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"content");
    let out = sb
        .sealdrop(&["upload", "--password=Password123", "f.txt"])
        .run();
    out.success();
    assert_eq!(
        out.stderr,
        "sealdrop: warning: this password is one of the most common ones and would be guessed at once; --generate-password makes a strong one\n"
    );
    let out = sb
        .sealdrop(&["upload", "f.txt"])
        .env("SEALDROP_PASSWORD", "sunflower1987")
        .run();
    out.success();
    assert!(
        out.stderr
            .starts_with("sealdrop: warning: this password is weak (about 10^")
            && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("sunflower"),
        "the warning never repeats the password"
    );
    // Strong: nothing to say; -q: nothing said.
    let out = sb
        .sealdrop(&["upload", "--password=x7Gq!pR2mZ8w#Lb4", "f.txt"])
        .run();
    assert_eq!(out.success().stderr, "");
    let out = sb
        .sealdrop(&["upload", "-q", "--password=123456", "f.txt"])
        .run();
    assert_eq!(out.success().stderr, "");
}
