//! The server's memory during one big transfer on each blob store: its peak resident size
//! (`VmHWM`) during an upload by the CLI, then during the download, stays under a bound
//! that does not depend on the file's size — on S3 (moto) the part buffers (part size ×
//! parts in flight) plus 64 MiB, on the filesystem 64 MiB.
//!
//! `scripts/test` moves 1 GiB each way; the long mode (`scripts/soak`,
//! `SEALDROP_RELIABILITY=long`) 2 GiB, against the same bounds. Each test prints its
//! figures (`--nocapture`); README.md ("Benchmarks") records them.

use std::io::{Read as _, Write as _};
use std::path::Path;

use sealdrop_e2e::reliability::Mode;
use sealdrop_e2e::{Sandbox, Server};
use sealdrop_testkit::Moto;

const MIB: u64 = 1 << 20;

/// On S3: the default 8 MiB parts, 2 in flight, plus 64 MiB for everything else.
const S3_BOUND_MIB: u64 = 8 * 2 + 64;

/// On the filesystem: the benchmarks' target for one transfer (a chunk in flight per
/// direction; no part buffers).
const FS_BOUND_MIB: u64 = 64;

/// The file's size: 1 GiB, 2 GiB in the long mode.
fn size() -> u64 {
    Mode::from_env().pick(1 << 30, 2 << 30)
}

/// The file's bytes: a block of 8 MiB + 13 bytes (so records and parts never line up with
/// it) repeated.
fn block() -> Vec<u8> {
    (0..(8 << 20) + 13).map(|i| (i % 253) as u8).collect()
}

fn write_file(path: &Path, size: u64) {
    let block = block();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    file.into_inner().unwrap().sync_all().unwrap();
}

/// Whether `path` holds exactly what [`write_file`] wrote, read in blocks.
fn same_as_written(path: &Path, size: u64) -> bool {
    let block = block();
    let mut file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut buf = vec![0u8; block.len()];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        if file.read_exact(&mut buf[..n]).is_err() || buf[..n] != block[..n] {
            return false;
        }
        left -= n as u64;
    }
    file.read(&mut buf[..1]).unwrap() == 0
}

/// Resets the process's `VmHWM` to its current resident size (Linux: `clear_refs` 5, as
/// the process's owner), so the next peak is the next transfer's own.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .expect("reset the server's VmHWM through /proc/<pid>/clear_refs");
}

/// Uploads then downloads a file of [`size`] through `server` with the CLI; the server's
/// peak RSS during each, MiB.
fn transfer(server: &Server, store: &str) -> (u64, u64) {
    let size = size();
    let sandbox = Sandbox::new(server);
    let path = sandbox.path("big.bin");
    write_file(&path, size);

    reset_peak(server.pid());
    let link = sandbox.upload(&["big.bin"]);
    let upload = server.peak_rss_kib() / 1024;
    std::fs::remove_file(&path).unwrap();

    reset_peak(server.pid());
    sandbox
        .sealdrop(&["download", &link, "-o", "copy.bin"])
        .run()
        .success();
    let download = server.peak_rss_kib() / 1024;
    assert!(
        same_as_written(&sandbox.path("copy.bin"), size),
        "the downloaded file differs"
    );
    println!(
        "server peak RSS, {} MiB through {store}: upload {upload} MiB, download {download} MiB",
        size / MIB
    );
    (upload, download)
}

#[test]
fn a_big_transfer_through_s3_keeps_the_server_memory_bounded() {
    let moto = Moto::start();
    moto.create_bucket("rss");
    let server = Server::start_with_env(
        &[
            "--storage",
            "s3://rss/sealdrop",
            "--s3-endpoint",
            &moto.s3.endpoint,
            "--s3-region",
            &moto.s3.region,
            "--max-file-size",
            "3GiB",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &moto.s3.access_key),
            ("AWS_SECRET_ACCESS_KEY", &moto.s3.secret_key),
        ],
    );
    let (upload, download) = transfer(&server, "S3 (moto)");
    assert!(upload < S3_BOUND_MIB, "the upload peaked at {upload} MiB");
    assert!(
        download < S3_BOUND_MIB,
        "the download peaked at {download} MiB"
    );
}

#[test]
fn a_big_transfer_on_the_filesystem_keeps_the_server_memory_bounded() {
    let server = Server::start_with(&["--max-file-size", "3GiB"]);
    let (upload, download) = transfer(&server, "the filesystem");
    assert!(upload < FS_BOUND_MIB, "the upload peaked at {upload} MiB");
    assert!(
        download < FS_BOUND_MIB,
        "the download peaked at {download} MiB"
    );
}
