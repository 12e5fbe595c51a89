//! Streams one large generated file through a running sealdrop server and back, in bounded
//! memory, and prints the throughput of each direction. Used by `scripts/bench-server` to
//! measure the server's throughput and peak memory on big files.
//!
//! `cargo run --release -p sealdrop-server --example transfer -- BASE_URL SIZE_MIB [ws|http]`

use std::io::Read;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use sealdrop_protocol::api::{UploadResponse, WsStatus};
use sealdrop_protocol::ece::{EceReader, encrypted_size};
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Decryptor, Metadata, Secret, auth};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;

/// `len` bytes of a repeating pattern, generated on the fly.
struct Pattern {
    left: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len() - self.pos)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn pattern(len: u64) -> Pattern {
    Pattern {
        left: len,
        block: (0..(1 << 20) + 7).map(|i| (i * 7 % 251) as u8).collect(),
        pos: 0,
    }
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / secs
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .expect("BASE_URL")
        .trim_end_matches('/')
        .to_owned();
    let mib: u64 = args.get(2).expect("SIZE_MIB").parse().expect("SIZE_MIB");
    let route = args.get(3).map_or("ws", String::as_str).to_owned();
    let len = mib << 20;
    let secret = Secret::generate().unwrap();
    let metadata = Metadata::single("big.bin", len, "application/octet-stream")
        .encrypt(&secret.metadata_key());
    let authorization = auth::format_header(&secret.auth_key().to_base64url());
    let expected: [u8; 32] = {
        let mut h = Sha256::new();
        let (mut p, mut buf) = (pattern(len), vec![0u8; 1 << 20]);
        loop {
            let n = p.read(&mut buf).unwrap();
            if n == 0 {
                break h.finalize().into();
            }
            h.update(&buf[..n]);
        }
    };

    let start = Instant::now();
    let mut reader = EceReader::encrypt(pattern(len), &secret).unwrap();
    let url = if route == "ws" {
        let ws_url = format!("{}/api/ws", base.replacen("http", "ws", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        let req = serde_json::json!({"fileMetadata": metadata, "authorization": authorization, "timeLimit": 3600, "dlimit": 1});
        ws.send(Message::text(req.to_string())).await.unwrap();
        let answer: UploadResponse = loop {
            if let Some(Ok(Message::Text(t))) = ws.next().await {
                break serde_json::from_str(&t).unwrap();
            }
        };
        let mut buf = vec![0u8; 65536];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            ws.send(Message::binary(buf[..n].to_vec())).await.unwrap();
        }
        ws.send(Message::binary(vec![0u8])).await.unwrap();
        loop {
            if let Some(Ok(Message::Text(t))) = ws.next().await {
                assert_eq!(
                    serde_json::from_str::<WsStatus>(&t).unwrap(),
                    WsStatus::Ok { ok: true }
                );
                break;
            }
        }
        answer.url
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 || tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        let mut rx = rx;
        let body =
            reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let resp = reqwest::Client::new()
            .post(format!("{base}/api/upload"))
            .header("x-file-metadata", metadata)
            .header("authorization", authorization)
            .header("content-length", encrypted_size(len).unwrap().to_string())
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json::<serde_json::Value>().await.unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let up = start.elapsed().as_secs_f64();

    let link = ShareLink::from_download_url(&url, secret).unwrap();
    let start = Instant::now();
    let client = reqwest::Client::new();
    let exists = client.get(link.api_url("exists")).send().await.unwrap();
    let nonce = exists.headers()["www-authenticate"].to_str().unwrap()[8..].to_owned();
    let raw = auth::b64u::decode_lenient(&nonce).unwrap();
    let resp = client
        .get(link.api_url("download"))
        .header(
            "authorization",
            auth::format_header(&link.secret().auth_key().sign(&raw)),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut stream = resp.bytes_stream();
    let mut dec = Decryptor::new(link.secret());
    let mut out = Vec::with_capacity(1 << 20);
    let mut hash = Sha256::new();
    while let Some(chunk) = stream.next().await {
        dec.update(&chunk.unwrap(), &mut out).unwrap();
        hash.update(&out);
        out.clear();
    }
    dec.finish(&mut out).unwrap();
    hash.update(&out);
    let down = start.elapsed().as_secs_f64();
    assert_eq!(
        <[u8; 32]>::from(hash.finalize()),
        expected,
        "content differs"
    );
    println!(
        "{route} {mib} MiB: upload {:.0} MiB/s ({up:.2} s), download {:.0} MiB/s ({down:.2} s), verified",
        mib_s(len, up),
        mib_s(len, down)
    );
}
