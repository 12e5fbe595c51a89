//! sealdrop through S3 beside direct S3 transfers of the same bytes to the same store.
//!
//! Starts moto or garage (`sealdrop-testkit`), runs the release `sealdrop-server` on it,
//! streams SIZE_MIB through the server with the `transfer` example (encrypt + upload,
//! download + decrypt), then uploads and downloads the same number of bytes straight to the
//! bucket with aws-sdk-s3 (multipart, same part size and parallelism), and prints both with
//! the server's peak RSS. Run by `scripts/bench-s3`.
//!
//! `cargo run --release -p sealdrop-server --example s3_bench -- moto|garage SIZE_MIB`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sealdrop_testkit::{Garage, Moto, S3Endpoint, free_port};

const PART: usize = 8 << 20;

/// Multipart upload of `len` bytes with two parts in flight, then a streamed GetObject.
async fn direct(s3: &S3Endpoint, bucket: &str, len: usize) -> (f64, f64) {
    let c = s3.client();
    let part: Vec<u8> = (0..PART).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key("direct")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let count = len.div_ceil(PART);
    let mut done = Vec::new();
    for pair in (1..=count).collect::<Vec<_>>().chunks(2) {
        let futs = pair.iter().map(|&n| {
            let size = if n == count {
                len - (count - 1) * PART
            } else {
                PART
            };
            let body = ByteStream::from(part[..size].to_vec());
            let (c, id) = (c.clone(), id.clone());
            async move {
                let r = c
                    .upload_part()
                    .bucket(bucket)
                    .key("direct")
                    .upload_id(id)
                    .part_number(n as i32)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                CompletedPart::builder()
                    .part_number(n as i32)
                    .e_tag(r.e_tag().unwrap())
                    .build()
            }
        });
        done.extend(futures_util::future::join_all(futs).await);
    }
    c.complete_multipart_upload()
        .bucket(bucket)
        .key("direct")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let up = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut body = c
        .get_object()
        .bucket(bucket)
        .key("direct")
        .send()
        .await
        .unwrap()
        .body;
    let mut got = 0;
    while let Some(chunk) = body.try_next().await.unwrap() {
        got += chunk.len();
    }
    assert_eq!(got, len);
    (up, start.elapsed().as_secs_f64())
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).map_or("moto", String::as_str).to_owned();
    let mib: usize = args.get(2).map_or(Ok(1024), |s| s.parse()).unwrap();
    let (_moto, _garage, s3);
    if store == "garage" {
        let g = Garage::start();
        g.create_bucket("bench");
        s3 = g.s3.clone();
        (_moto, _garage) = (None, Some(g));
    } else {
        let m = Moto::start();
        m.create_bucket("bench");
        s3 = m.s3.clone();
        (_moto, _garage) = (Some(m), None);
    }
    let bin = std::env::current_exe().unwrap();
    let dir = bin.parent().unwrap().parent().unwrap().to_owned();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Command::new(dir.join("sealdrop-server"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--max-file-size",
            "16GiB",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .env("SEALDROP_STORAGE", "s3://bench/sealdrop")
        .env("SEALDROP_S3_ENDPOINT", &s3.endpoint)
        .env("SEALDROP_S3_REGION", &s3.region)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new(dir.join("examples").join("transfer"))
        .args([&base, &mib.to_string(), "ws"])
        .status()
        .unwrap();
    assert!(status.success());
    let rss = peak_rss_mib(server.id());
    let _ = server.kill();
    let _ = server.wait();
    let len = mib << 20;
    let (up, down) = direct(&s3, "bench", len).await;
    let rate = |secs: f64| mib as f64 / secs;
    println!(
        "{store} direct aws-sdk-s3 {mib} MiB: upload {:.0} MiB/s ({up:.2} s), download {:.0} MiB/s ({down:.2} s)",
        rate(up),
        rate(down)
    );
    println!("{store} sealdrop-server peak RSS: {rss:.0} MiB (part 8 MiB x 2 in flight)");
}
