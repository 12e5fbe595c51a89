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
