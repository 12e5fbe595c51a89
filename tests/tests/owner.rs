//! Every owner command, with the owner token from the history or from `--owner`, and the
//! history itself.

use sealdrop_e2e::{Sandbox, Server, id_of};

use crate::NOT_FOUND;

/// The link without its `#secret` part.
fn without_secret(link: &str) -> &str {
    link.split('#').next().unwrap()
}

#[test]
fn info_shows_downloads_expiry_and_name() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("report.pdf", &[1u8; 3000]);
    let link = sb.upload(&["--downloads", "3", "--expiry", "1h", "report.pdf"]);
    sb.sealdrop(&["download", &link, "-o", "copy.pdf"])
        .run()
        .success();
    let out = sb.sealdrop(&["--json", "info", &link]).run();
    let info: serde_json::Value = serde_json::from_slice(&out.success().stdout).unwrap();
    let id = id_of(&link);
    let ttl = info["expires_in_seconds"].as_u64().unwrap();
    assert!((3590..=3600).contains(&ttl), "{ttl}");
    assert_eq!(
        info,
        serde_json::json!({
            "id": id,
            "exists": true,
            "requires_password": false,
            "name": "report.pdf",
            "size": 3000,
            "files": null,
            "downloads": 1,
            "download_limit": 3,
            "expires_in_seconds": ttl,
        })
    );
    let human = sb.sealdrop(&["info", &link]).run();
    let text = human.success().stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            format!("id         {id}").as_str(),
            "name       report.pdf",
            "size       3 KB",
            "password   no",
            "downloads  1 of 3",
        ]
    );
    assert!(lines[5].starts_with("expires    in "), "{}", lines[5]);
}

#[test]
fn info_without_secret_or_owner_token_shows_what_is_public() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let link = sb.upload(&["--no-history", "f"]);
    let out = sb
        .sealdrop(&["--json", "info", without_secret(&link)])
        .run();
    let info: serde_json::Value = serde_json::from_slice(&out.success().stdout).unwrap();
    assert_eq!(info["exists"], true);
    assert_eq!(info["name"], serde_json::Value::Null);
    assert_eq!(info["downloads"], serde_json::Value::Null);
    assert_eq!(info["expires_in_seconds"], serde_json::Value::Null);
}

#[test]
fn exists_answers_by_exit_code() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let link = sb.upload(&["f"]);
    let out = sb.sealdrop(&["exists", &link]).run();
    assert_eq!(out.success().stdout_text(), "the share exists\n");
    let out = sb.sealdrop(&["exists", "-q", without_secret(&link)]).run();
    assert_eq!(out.success().stdout_text(), "");
    sb.sealdrop(&["delete", &link]).run().success();
    sb.sealdrop(&["exists", &link]).run().fails(2, NOT_FOUND);
}

#[test]
fn delete_uses_the_history_and_forgets_the_share() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let link = sb.upload(&["f"]);
    let id = id_of(&link);
    assert_eq!(sb.history()["shares"][0]["id"], id);
    let out = sb.sealdrop(&["delete", &link]).run();
    assert_eq!(
        out.success().stdout_text(),
        format!("deleted the share {id}\n")
    );
    assert_eq!(sb.history()["shares"], serde_json::json!([]));
    assert!(server.blob_files().is_empty(), "the blob is gone");
    sb.sealdrop(&["download", &link]).run().fails(2, NOT_FOUND);
}

#[test]
fn delete_by_id_alone_finds_the_link_in_the_history() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let link = sb.upload(&["f"]);
    let id = id_of(&link);
    sb.sealdrop(&["--json", "delete", id]).run().success();
    sb.sealdrop(&["exists", &link]).run().fails(2, NOT_FOUND);
}

#[test]
fn owner_commands_need_an_owner_token() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let up = sb.upload_json(&["--no-history", "f"]);
    assert!(sb.history().is_null(), "--no-history records nothing");
    let link = up["link"].as_str().unwrap();
    let missing = "no owner token for this share: it was not uploaded from this machine's history; pass --owner TOKEN";
    sb.sealdrop(&["delete", link]).run().fails(3, missing);
    sb.sealdrop(&["params", link, "--downloads", "2"])
        .run()
        .fails(3, missing);
    sb.sealdrop(&["password", link]).run().fails(3, missing);
    let wrong = "0123456789abcdef0123456789abcdef";
    sb.sealdrop(&["delete", link, "--owner", wrong])
        .run()
        .fails(3, "the server refused the owner token");
    sb.sealdrop(&["info", link])
        .env("SEALDROP_OWNER", wrong)
        .run()
        .fails(3, "the server refused the owner token");
    // The right token, given explicitly, with a link that lacks its secret.
    let owner = up["owner_token"].as_str().unwrap();
    sb.sealdrop(&["delete", without_secret(link), "--owner", owner])
        .run()
        .success();
    sb.sealdrop(&["exists", link]).run().fails(2, NOT_FOUND);
}

#[test]
fn params_changes_the_download_limit() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"f");
    let link = sb.upload(&["f"]);
    let out = sb.sealdrop(&["params", &link, "--downloads", "2"]).run();
    let id = id_of(&link);
    assert_eq!(
        out.success().stdout_text(),
        format!("the share {id} now allows 2 downloads in total\n")
    );
    sb.sealdrop(&["download", &link, "-o", "1"]).run().success();
    sb.sealdrop(&["download", &link, "-o", "2"]).run().success();
    sb.sealdrop(&["download", &link, "-o", "3"])
        .run()
        .fails(2, NOT_FOUND);
}

#[test]
fn password_protects_an_existing_share() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f", b"secret stuff");
    let link = sb.upload(&["f"]);
    let out = sb
        .sealdrop(&["password", &link])
        .env("SEALDROP_PASSWORD", "correct horse")
        .run();
    let id = id_of(&link);
    assert_eq!(
        out.success().stdout_text(),
        format!("the share {id} now needs the password\n")
    );
    assert_eq!(
        sb.sealdrop(&["exists", &link])
            .run()
            .success()
            .stdout_text(),
        "the share exists and needs a password\n"
    );
    sb.sealdrop(&["download", &link, "-o", "x"]).run().fails(
        3,
        "this share needs a password, but standard input is not a terminal to ask on; set SEALDROP_PASSWORD or use --password-file",
    );
    sb.sealdrop(&["download", &link, "-o", "x", "--password=correct horse"])
        .run()
        .success();
    assert_eq!(sb.read("x"), b"secret stuff");
    sb.sealdrop(&["password", without_secret(&link)])
        .env("SEALDROP_PASSWORD", "x")
        .run()
        .fails(
            1,
            "setting a password needs the full link with its #secret part",
        );
}

#[test]
fn history_lists_live_shares_and_forgets_gone_ones() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("one.txt", b"1");
    sb.write("two.txt", b"22");
    let one = sb.upload(&["--downloads", "4", "one.txt"]);
    let two = sb.upload(&["two.txt"]);
    // Gone behind the history's back: downloaded to its limit.
    sb.sealdrop(&["download", &two, "-o", "got"])
        .run()
        .success();

    let out = sb.sealdrop(&["history"]).run();
    let text = out.success().stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("ID  "), "{}", lines[0]);
    assert!(
        lines[0].contains("NAME     EXPIRES IN  DOWNLOADS LEFT  LINK"),
        "{}",
        lines[0]
    );
    let id = id_of(&one);
    let cells: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(cells.len(), 5, "{}", lines[1]);
    assert_eq!(cells[0], id);
    assert_eq!(cells[1], "one.txt");
    assert!(
        cells[2].starts_with("1d") || cells[2].starts_with("23h"),
        "{}",
        cells[2]
    );
    assert_eq!(cells[3].trim(), "4");
    assert_eq!(cells[4].trim(), one);
    assert_eq!(sb.history()["shares"].as_array().unwrap().len(), 1);

    let out = sb.sealdrop(&["--json", "history"]).run();
    let list: serde_json::Value = serde_json::from_slice(&out.success().stdout).unwrap();
    assert_eq!(list["shares"][0]["link"], one.as_str());
    assert_eq!(list["shares"][0]["downloads_left"], 4);
    assert_eq!(list["shares"][0]["name"], "one.txt");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sb.history_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the history is private");
    }

    let out = sb.sealdrop(&["history", "--clear"]).run();
    assert_eq!(out.success().stdout_text(), "the history is empty now\n");
    assert!(!sb.history_path().exists());
    let out = sb.sealdrop(&["history"]).run();
    assert_eq!(
        out.success().stdout_text(),
        "no shares uploaded from here are still available\n"
    );
}
