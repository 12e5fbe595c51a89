//! Reports and takedowns end to end (issue 7): a share reported through the API is held,
//! and the operator's `sealdrop-server admin` commands (the real binary, run beside the
//! real server on the same stores) list, take down and restore it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sealdrop_e2e::{Sandbox, Server, content, id_of};

use crate::NOT_FOUND;

/// The lines of `admin list-reported` as tab-separated fields.
fn listed(server: &Server) -> Vec<Vec<String>> {
    let out = server.admin(&["list-reported"]).run();
    out.success();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    out.stdout_text()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn admin_lists_takes_down_and_restores_beside_a_running_server() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let (a, b, c) = (content(150_000, 1), content(70_000, 2), content(10, 3));
    sb.write("a.bin", &a);
    sb.write("b.bin", &b);
    sb.write("c.bin", &c);
    let link_a = sb.upload(&["a.bin"]);
    let link_b = sb.upload(&["--downloads", "2", "b.bin"]);
    let link_c = sb.upload(&["c.bin"]);
    assert!(listed(&server).is_empty());

    assert_eq!(server.report(&link_a, "malware").0, 200);
    assert_eq!(server.report(&link_b, "copyright").0, 200);
    // A held share is gone for every client.
    for link in [&link_a, &link_b] {
        sb.sealdrop(&["download", link, "-o", "x.bin"])
            .run()
            .fails(2, NOT_FOUND);
    }

    // While the admin commands run, the server keeps taking uploads and answering
    // downloads: two processes writing one SQLite database (WAL, busy timeout).
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (stop, base) = (Arc::clone(&stop), server.base.clone());
        let sb = Sandbox::with_host(&base);
        sb.write("n.bin", &content(5_000, 9));
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) || rounds < 3 {
                let link = sb.upload(&["--downloads", "1", "n.bin"]);
                sb.sealdrop(&["download", &link, "-o", "n.out", "--force"])
                    .run()
                    .success();
                rounds += 1;
            }
            rounds
        })
    };

    let lines = listed(&server);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0][0], id_of(&link_a), "oldest report first");
    assert_eq!(lines[1][0], id_of(&link_b));
    assert_eq!(lines[0][2], "malware");
    assert_eq!(lines[1][2], "copyright");
    assert_eq!(lines[0][5], "1 report");
    assert_eq!(lines[0][6], "seen in a spam mail");
    assert!(lines[0][4].starts_with("expires "), "{lines:?}");
    let json = server.admin(&["list-reported", "--json"]).run();
    let json: serde_json::Value = serde_json::from_slice(&json.success().stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["id"], id_of(&link_b));
    assert_eq!(json[1]["dlimit"], 2);
    let text = json.to_string();
    for link in [&link_a, &link_b] {
        let secret = link.split_once('#').unwrap().1;
        assert!(!text.contains(secret), "no key in the listing");
    }

    // Takedown: record and blob deleted now.
    let out = server.admin(&["takedown", id_of(&link_a)]).run();
    assert_eq!(
        out.success().stdout_text(),
        format!(
            "took down {}: its record and its encrypted blob are deleted\n",
            id_of(&link_a)
        )
    );
    assert!(
        !server
            .blob_files()
            .iter()
            .any(|n| n.ends_with(&format!("-{}", id_of(&link_a)))),
        "the blob is gone"
    );
    assert_eq!(server.report(&link_a, "malware").0, 404);

    // Restore (given the whole link): served again, intact, with its downloads left.
    let out = server.admin(&["restore", &link_b]).run();
    let text = out.success().stdout_text();
    assert!(
        text.starts_with(&format!("restored {}: served again until ", id_of(&link_b))),
        "{text}"
    );
    assert!(!text.contains('#'), "{text}");
    sb.sealdrop(&["download", &link_b, "-o", "b.out"])
        .run()
        .success();
    assert!(sb.read("b.out") == b);
    assert_eq!(listed(&server), Vec::<Vec<String>>::new());

    // Errors: one sentence, exit code 1 (no such file) or 2 (usage, configuration).
    let unknown = "0123456789abcdef";
    let out = server.admin(&["takedown", unknown]).run();
    out.code(1);
    assert_eq!(
        out.stderr,
        format!("sealdrop-server: no file {unknown} is stored\n")
    );
    assert!(out.stdout.is_empty());
    let out = server.admin(&["restore", id_of(&link_c)]).run();
    out.code(1);
    assert_eq!(
        out.stderr,
        format!(
            "sealdrop-server: file {} is not reported, so there is nothing to restore\n",
            id_of(&link_c)
        )
    );
    let out = server.admin(&["restore", "../x"]).run();
    out.code(1);
    assert_eq!(out.stderr, "sealdrop-server: \"../x\" is not a file id\n");
    server.admin(&["frobnicate"]).run().code(2);
    let out = server
        .admin(&["list-reported"])
        .env("SEALDROP_META", "postgres://x")
        .run();
    out.code(2);
    assert_eq!(
        out.stderr,
        "sealdrop-server: --meta must be sqlite or a redis://HOST[:PORT][/DB] URL\n"
    );
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let out = sealdrop_e2e::Cmd::server(&["--data-dir", dir, "admin", "list-reported"]).run();
    out.code(2);
    assert!(
        out.stderr
            .starts_with("sealdrop-server: there is no metadata database at "),
        "{}",
        out.stderr
    );
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing created"
    );

    stop.store(true, Ordering::SeqCst);
    let rounds = busy.join().expect("the busy client never failed");
    assert!(rounds >= 3);
    // The share nobody reported was never touched.
    sb.sealdrop(&["download", &link_c, "-o", "c.out"])
        .run()
        .success();
    assert!(sb.read("c.out") == c);
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}

#[test]
fn admin_works_on_a_redis_metadata_store() {
    let redis = sealdrop_testkit::Redis::start();
    let server = Server::start_with(&["--meta", &redis.url]);
    let sb = Sandbox::new(&server);
    let data = content(90_000, 4);
    sb.write("f.bin", &data);
    let link = sb.upload(&["f.bin"]);
    assert_eq!(server.report(&link, "phishing").0, 200);
    let lines = listed(&server);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0][0].as_str(), lines[0][2].as_str()),
        (id_of(&link), "phishing")
    );
    server.admin(&["restore", id_of(&link)]).run().success();
    sb.sealdrop(&["download", &link, "-o", "f.out"])
        .run()
        .success();
    assert!(sb.read("f.out") == data);

    let link = sb.upload(&["f.bin"]);
    assert_eq!(server.report(&link, "illegal").0, 200);
    server.admin(&["takedown", id_of(&link)]).run().success();
    assert!(listed(&server).is_empty());
    assert!(
        !server
            .blob_files()
            .iter()
            .any(|n| n.ends_with(&format!("-{}", id_of(&link))))
    );
}
