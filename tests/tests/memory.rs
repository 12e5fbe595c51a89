//! The real binaries on S3 (moto): a 1 GiB upload keeps the server's memory bounded by its
//! part buffers (part size × parts in flight), whatever the file size.

use std::io::Write;

use sealdrop_e2e::{Sandbox, Server};
use sealdrop_testkit::Moto;

#[test]
fn a_1gib_upload_through_s3_keeps_the_server_memory_bounded() {
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
            "2GiB",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &moto.s3.access_key),
            ("AWS_SECRET_ACCESS_KEY", &moto.s3.secret_key),
        ],
    );
    let sandbox = Sandbox::new(&server);
    let path = sandbox.path("big.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let block: Vec<u8> = (0..(8 << 20) + 13).map(|i| (i % 253) as u8).collect();
    let mut left: usize = 1 << 30;
    while left > 0 {
        let n = left.min(block.len());
        file.write_all(&block[..n]).unwrap();
        left -= n;
    }
    file.into_inner().unwrap().sync_all().unwrap();

    let link = sandbox.upload(&["big.bin"]);
    sandbox.sealdrop(&["exists", &link]).run().success();
    let peak_mib = server.peak_rss_kib() / 1024;
    // Defaults: 8 MiB parts, 2 in flight; the bound of the issue is parts + 64 MiB.
    assert!(peak_mib < 8 * 2 + 64, "the server peaked at {peak_mib} MiB");
    println!("server peak RSS during a 1 GiB upload through S3: {peak_mib} MiB");
}
