//! Interoperability with ffsend 0.2.77, an independent Send v3 client (timvisee/ffsend),
//! against the real sealdrop-server. Sizes avoid ffsend's known bugs (PROTOCOL.md §8):
//! it cannot decrypt sizes that are multiples of 65519 and cannot upload empty files.

use sealdrop_e2e::{Sandbox, Server, content, ffsend};

/// ffsend's flags for unattended use without history.
const QUIET: [&str; 4] = ["-I", "-y", "-q", "--incognito"];

fn host(server: &Server) -> String {
    format!("{}/", server.base)
}

#[test]
fn a_file_uploaded_by_ffsend_downloads_with_sealdrop() {
    let Some(ff) = ffsend() else { return };
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(200_000, 11);
    sb.write("from-ffsend.bin", &data);
    let h = host(&server);
    let mut args = vec!["upload"];
    args.extend(QUIET);
    args.extend(["--host", &h, "from-ffsend.bin"]);
    let out = sb.ffsend(&ff, &args).run();
    let link = out.success().stdout_text().trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/download/", server.base)),
        "{link}"
    );
    std::fs::create_dir(sb.path("out")).unwrap();
    sb.sealdrop(&["download", &link, "-o", "out"])
        .run()
        .success();
    assert!(sb.read("out/from-ffsend.bin") == data);
}

#[test]
fn a_password_share_by_ffsend_downloads_with_sealdrop() {
    let Some(ff) = ffsend() else { return };
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(1000, 12);
    sb.write("pw.bin", &data);
    let h = host(&server);
    let mut args = vec!["upload"];
    args.extend(QUIET);
    args.extend(["--host", &h, "--password=open sesame", "pw.bin"]);
    let link = sb
        .ffsend(&ff, &args)
        .run()
        .success()
        .stdout_text()
        .trim()
        .to_owned();
    sb.sealdrop(&["download", &link, "-o", "got.bin"])
        .env("SEALDROP_PASSWORD", "open sesam")
        .run()
        .fails(3, "the password is wrong");
    sb.sealdrop(&["download", &link, "-o", "got.bin"])
        .env("SEALDROP_PASSWORD", "open sesame")
        .run()
        .success();
    assert!(sb.read("got.bin") == data);
}

#[test]
fn a_file_uploaded_by_sealdrop_downloads_with_ffsend() {
    let Some(ff) = ffsend() else { return };
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(150_001, 13);
    sb.write("to-ffsend.bin", &data);
    let link = sb.upload(&["to-ffsend.bin"]);
    std::fs::create_dir(sb.path("out")).unwrap();
    let mut args = vec!["download"];
    args.extend(QUIET);
    args.extend(["--output", "out/", &link]);
    sb.ffsend(&ff, &args).run().success();
    assert!(sb.read("out/to-ffsend.bin") == data);
}

#[test]
fn a_password_share_by_sealdrop_downloads_with_ffsend() {
    let Some(ff) = ffsend() else { return };
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let data = content(5000, 14);
    sb.write("pw.bin", &data);
    let link = sb.upload(&["--password=ünïcode pass", "pw.bin"]);
    std::fs::create_dir(sb.path("out")).unwrap();
    let mut args = vec!["download"];
    args.extend(QUIET);
    args.extend(["--password=ünïcode pass", "--output", "out/", &link]);
    sb.ffsend(&ff, &args).run().success();
    assert!(sb.read("out/pw.bin") == data);
}

#[test]
fn ffsend_owner_commands_work_against_sealdrop_server() {
    let Some(ff) = ffsend() else { return };
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.bin", &content(3000, 15));
    let up = sb.upload_json(&["--downloads", "3", "f.bin"]);
    let link = up["link"].as_str().unwrap();
    let owner = up["owner_token"].as_str().unwrap();
    let info_json = || {
        let out = sb.sealdrop(&["--json", "info", link]).run();
        serde_json::from_slice::<serde_json::Value>(&out.success().stdout).unwrap()
    };

    // info
    let out = sb
        .ffsend(
            &ff,
            &["info", "-I", "-y", "--incognito", link, "--owner", owner],
        )
        .run();
    let text = out.success().stdout_text();
    assert!(text.contains("Downloads:  0 of 3"), "{text}");

    // parameters (ffsend sends `download_limit`, which sealdrop accepts)
    sb.ffsend(
        &ff,
        &[
            "parameters",
            "-I",
            "-y",
            "--incognito",
            link,
            "--owner",
            owner,
            "--download-limit",
            "5",
        ],
    )
    .run()
    .success();
    assert_eq!(info_json()["download_limit"], 5);

    // password: sealdrop then needs it, and ffsend's key matches sealdrop's
    sb.ffsend(
        &ff,
        &[
            "password",
            "-I",
            "-y",
            "--incognito",
            link,
            "--owner",
            owner,
            "--password=by ffsend",
        ],
    )
    .run()
    .success();
    assert_eq!(info_json()["requires_password"], true);
    sb.sealdrop(&["download", link, "-o", "got.bin", "--password=by ffsend"])
        .run()
        .success();
    assert_eq!(sb.read("got.bin"), sb.read("f.bin"));

    // delete
    sb.ffsend(
        &ff,
        &["delete", "-I", "-y", "--incognito", link, "--owner", owner],
    )
    .run()
    .success();
    sb.sealdrop(&["exists", link])
        .run()
        .fails(2, crate::NOT_FOUND);
    let out = sb
        .ffsend(&ff, &["exists", "-I", "-y", "--incognito", link])
        .run();
    assert!(out.success().stdout_text().contains("Exists: false"));
}
