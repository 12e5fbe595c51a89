//! Tampered ciphertext served by a real server: a flipped byte, truncation at a record
//! boundary, truncation to the bare header. The CLI must exit non-zero and leave nothing.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use sealdrop_e2e::{Sandbox, Server, content, id_of};

use crate::{TAMPERED, leftovers};

/// Uploads three records' worth of data; returns the link and the blob's path.
fn upload(server: &Server, sb: &Sandbox) -> (String, std::path::PathBuf) {
    sb.write("f.bin", &content(150_000, 5));
    let link = sb.upload(&["--downloads", "5", "f.bin"]);
    let id = id_of(&link);
    (link.clone(), server.blob_of(id))
}

#[test]
fn a_flipped_byte_fails_and_leaves_no_file() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let (link, blob) = upload(&server, &sb);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&blob)
        .unwrap();
    let at = 21 + 65536 + 1000;
    file.seek(SeekFrom::Start(at)).unwrap();
    let mut byte = [0u8; 1];
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&[byte[0] ^ 0x01]).unwrap();
    drop(file);
    sb.sealdrop(&["download", &link, "-o", "out.bin"])
        .run()
        .fails(6, TAMPERED);
    assert!(!sb.path("out.bin").exists());
    assert!(
        leftovers(&sb.work()).is_empty(),
        "{:?}",
        leftovers(&sb.work())
    );
}

#[test]
fn truncation_at_a_record_boundary_fails_and_leaves_no_file() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let (link, blob) = upload(&server, &sb);
    let file = OpenOptions::new().write(true).open(&blob).unwrap();
    file.set_len(21 + 2 * 65536).unwrap();
    drop(file);
    sb.sealdrop(&["download", &link, "-o", "out.bin"])
        .run()
        .fails(6, TAMPERED);
    assert!(!sb.path("out.bin").exists());
    assert!(leftovers(&sb.work()).is_empty());
    // Streaming to stdout cannot take bytes back, but the exit code tells.
    let out = sb.sealdrop(&["download", &link, "-o", "-"]).run();
    out.code(6);
    assert_eq!(
        out.stderr,
        "sealdrop: the download failed its integrity check: the data is corrupt, truncated or was tampered with; the output is incomplete\n"
    );
}

#[test]
fn truncation_to_the_bare_header_is_not_an_empty_file() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let (link, blob) = upload(&server, &sb);
    let file = OpenOptions::new().write(true).open(&blob).unwrap();
    file.set_len(21).unwrap();
    drop(file);
    sb.sealdrop(&["download", &link, "-o", "out.bin"])
        .run()
        .fails(6, TAMPERED);
    assert!(!sb.path("out.bin").exists());
}

#[test]
fn a_wrong_secret_is_refused_by_the_server() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let (link, _) = upload(&server, &sb);
    let (head, secret) = link.split_once('#').unwrap();
    let mut other: Vec<char> = secret.chars().collect();
    other[0] = if other[0] == 'A' { 'B' } else { 'A' };
    let wrong = format!("{head}#{}", other.into_iter().collect::<String>());
    sb.sealdrop(&["download", &wrong, "-o", "out.bin"])
        .run()
        .fails(
            3,
            "the server refused the link's key: the #secret part of the link is wrong",
        );
    assert!(!sb.path("out.bin").exists());
}
