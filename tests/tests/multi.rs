//! Several files and directories travel as Send's archive and are rebuilt identically;
//! a share whose file list is unsafe is refused whole.

use sealdrop_e2e::{Sandbox, Server, content, craft_upload, tree};
use serde_json::json;

use crate::leftovers;

#[test]
fn several_files_are_rebuilt_identically() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("a.txt", b"hello\n");
    sb.write("b.bin", &content(100_000, 1));
    sb.write("empty", b"");
    let link = sb.upload(&["a.txt", "b.bin", "empty"]);
    let out = sb.sealdrop(&["download", &link, "-o", "out"]).run();
    out.success();
    assert_eq!(
        out.stdout_text(),
        "saved out/a.txt (6 B)\nsaved out/b.bin (100 KB)\nsaved out/empty (0 B)\n"
    );
    let mut expected = sb.tree(".");
    expected.retain(|k, _| !k.starts_with("out/"));
    assert_eq!(sb.tree("out"), expected);
    assert!(leftovers(&sb.path("out")).is_empty());
}

#[test]
fn a_directory_is_rebuilt_identically() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("photos/2024/one.jpg", &content(65519, 2));
    sb.write("photos/2024/two.jpg", &content(65520, 3));
    sb.write("photos/notes/empty.txt", b"");
    sb.write("photos/readme.md", b"# photos\n");
    sb.write("photos/z/deep/er/file", &content(1, 4));
    let link = sb.upload(&["photos"]);
    let info = sb.sealdrop(&["--json", "info", &link]).run();
    let info: serde_json::Value = serde_json::from_slice(&info.success().stdout).unwrap();
    assert_eq!(info["name"], "Send-Archive.zip");
    assert_eq!(
        info["files"],
        json!([
            {"name": "photos/2024/one.jpg", "size": 65519},
            {"name": "photos/2024/two.jpg", "size": 65520},
            {"name": "photos/notes/empty.txt", "size": 0},
            {"name": "photos/readme.md", "size": 9},
            {"name": "photos/z/deep/er/file", "size": 1},
        ])
    );
    std::fs::create_dir(sb.path("dest")).unwrap();
    sb.sealdrop(&["download", &link, "-o", "dest"])
        .run()
        .success();
    assert_eq!(sb.tree("dest/photos"), sb.tree("photos"));
}

#[test]
fn an_archive_downloads_into_the_current_directory_by_default() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("d")).unwrap();
    std::fs::write(src.path().join("d/x"), b"x").unwrap();
    std::fs::write(src.path().join("y"), b"yy").unwrap();
    let d = src.path().join("d");
    let y = src.path().join("y");
    let link = sb.upload(&[d.to_str().unwrap(), y.to_str().unwrap()]);
    sb.sealdrop(&["download", &link]).run().success();
    assert_eq!(sb.tree("."), tree(src.path()));
}

#[test]
fn an_archive_never_overwrites_and_keeps_its_download() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("src/a.txt", b"new a");
    sb.write("src/b.txt", b"new b");
    let link = sb.upload(&["src"]);
    sb.write("out/src/b.txt", b"old b");
    sb.sealdrop(&["download", &link, "-o", "out"]).run().fails(
        5,
        "out/src/b.txt already exists; use --force to overwrite it",
    );
    assert_eq!(sb.read("out/src/b.txt"), b"old b");
    assert!(!sb.path("out/src/a.txt").exists());
    // Refusing cost no download: the only one allowed is still there.
    sb.sealdrop(&["download", &link, "-o", "out", "--force"])
        .run()
        .success();
    assert_eq!(sb.tree("out/src"), sb.tree("src"));
}

#[test]
fn an_archive_cannot_go_to_standard_output() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("a", b"a");
    sb.write("b", b"b");
    let link = sb.upload(&["a", "b"]);
    sb.sealdrop(&["download", &link, "-o", "-"]).run().fails(
        1,
        "this share holds several files, which cannot go to standard output; use -o DIRECTORY",
    );
}

/// A share crafted with `names` in its manifest, each file one byte.
fn crafted_archive(server: &Server, names: &[&str]) -> String {
    let files: Vec<_> = names
        .iter()
        .map(|n| json!({"name": n, "size": 1, "type": "application/octet-stream"}))
        .collect();
    let meta = json!({
        "name": "Send-Archive.zip",
        "size": names.len(),
        "type": "send-archive",
        "manifest": {"files": files},
    });
    craft_upload(server, &meta, &vec![b'x'; names.len()]).0
}

#[test]
fn an_archive_climbing_out_of_its_directory_is_refused() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let link = crafted_archive(&server, &["ok.txt", "../escape.txt"]);
    sb.sealdrop(&["download", &link, "-o", "out"]).run().fails(
        6,
        "the share holds an unsafe file name, ../escape.txt; nothing was saved",
    );
    assert!(sb.tree(".").is_empty(), "nothing at all was written");
    assert!(!sb.work().parent().unwrap().join("escape.txt").exists());
}

#[test]
fn an_archive_with_an_absolute_path_is_refused() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let target = sb.path("abs-target");
    let name = target.to_str().unwrap();
    let link = crafted_archive(&server, &[name]);
    sb.sealdrop(&["download", &link]).run().fails(
        6,
        &format!("the share holds an unsafe file name, {name}; nothing was saved"),
    );
    assert!(!target.exists());
}

#[test]
fn archive_names_with_control_and_bidi_characters_are_cleaned() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let link = crafted_archive(&server, &["dir\u{1b}[31m/evil\u{202E}txt.exe", "CON"]);
    let out = sb.sealdrop(&["download", &link, "-o", "out"]).run();
    out.success();
    assert_eq!(
        out.stdout_text(),
        "saved out/dir_[31m/evil_txt.exe (1 B)\nsaved out/_CON (1 B)\n"
    );
    assert_eq!(
        sb.tree("out").into_keys().collect::<Vec<_>>(),
        ["_CON", "dir_[31m/evil_txt.exe"]
    );
}
