//! The bad-input campaign: at least 10,000 generated malformed requests against the real
//! `sealdrop-server` binary, from four clients at once.
//!
//! The server runs with its defaults (connection caps, timeouts, body limits, upload
//! tokens required) except the rate limits, which would answer most of the campaign with
//! 429 before it reached the parsers it is meant to exercise. Files uploaded with the CLI
//! before the campaign must download intact after it, the server must answer no request
//! with a 5xx (over HTTP or in a WebSocket error), never panic, never leave a pending
//! upload behind, never hang a client, and keep its memory flat.
//!
//! The requests are drawn from a seeded generator, so a failure names the request number
//! and seed that reproduce it: `SEALDROP_CAMPAIGN_SEED=<seed> SEALDROP_CAMPAIGN_REQUESTS=<n>`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sealdrop_e2e::{Sandbox, Server, content, id_of};
use sealdrop_protocol::auth::b64u;
use sealdrop_testkit::wait::{self, Patience};

const TOKEN: &str = "campaign-token-Vx8qL2mN5rT1yK7w";
/// Clients sending at once.
const WORKERS: usize = 4;
/// How long a client waits for an answer before the request counts as hung.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);
/// Most bytes of an answer the client reads (no answer of the campaign is a download).
const MAX_ANSWER: usize = 1 << 20;
/// Growth of the server's resident memory allowed between the end of the warm-up (the
/// first tenth of the campaign) and the end: buffers of concurrent requests, allocator
/// slack. A per-request leak of even 1 KiB over 9,000 requests would exceed it.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// What one malformed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    BadId,
    PathTraversal,
    HugeHeaders,
    GarbledHeaders,
    Authorization,
    ContentLength,
    Chunked,
    BadJson,
    EceHeader,
    WebSocket,
}

const KINDS: [Kind; 10] = [
    Kind::BadId,
    Kind::PathTraversal,
    Kind::HugeHeaders,
    Kind::GarbledHeaders,
    Kind::Authorization,
    Kind::ContentLength,
    Kind::Chunked,
    Kind::BadJson,
    Kind::EceHeader,
    Kind::WebSocket,
];

/// A generated request.
#[derive(Debug)]
struct Case {
    kind: Kind,
    /// Short description (for failure messages).
    what: String,
    /// The bytes sent before the answer is read.
    bytes: Vec<u8>,
    /// The request is well-formed HTTP with bad content: it must get an answer, and an
    /// answer under `/api/` must be the JSON error body.
    answered: bool,
    /// The path starts with `/api/`.
    api: bool,
    /// A WebSocket upgrade: after a 101, `frames` follow.
    frames: Option<Vec<u8>>,
    /// Close the sending side after the bytes (a truncated body): the server sees the
    /// end of the stream rather than waiting for its idle timeout.
    half_close: bool,
}

/// How the server answered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16),
    /// Closed or reset the connection without an answer.
    Closed,
    /// No answer within [`ANSWER_DEADLINE`].
    Hung,
}

/// xorshift64*, seeded per request so that any request can be regenerated alone.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, n: usize) -> Self {
        Self((seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn printable(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b' ' + (self.next() % 95) as u8))
            .collect()
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16)]))
            .collect()
    }
    fn bytes_in(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let n = self.range(lo, hi);
        self.bytes(n)
    }
    fn hex_in(&mut self, lo: usize, hi: usize) -> String {
        let n = self.range(lo, hi);
        self.hex(n)
    }
    fn printable_in(&mut self, lo: usize, hi: usize) -> String {
        let n = self.range(lo, hi);
        self.printable(n)
    }
    fn b64_in(&mut self, lo: usize, hi: usize) -> String {
        let n = self.range(lo, hi);
        self.b64(n)
    }
    fn b64(&mut self, bytes: usize) -> String {
        let raw = self.bytes(bytes);
        b64u::encode(&raw)
    }
}

/// What the generator knows about the server.
struct Target {
    port: u16,
    /// Ids of the files uploaded before the campaign (never with their keys or owner tokens).
    ids: Vec<String>,
}

impl Target {
    fn host(&self) -> String {
        format!("Host: 127.0.0.1:{}\r\n", self.port)
    }

    /// A file id: mostly malformed, sometimes a real one or a well-formed unknown one.
    fn id(&self, rng: &mut Rng) -> String {
        match rng.below(14) {
            0 => String::new(),
            1 => rng.hex_in(1, 40),
            2 => rng.hex(16).to_uppercase(),
            3 => format!(
                "{}{}",
                self.real_id(rng),
                rng.printable(3).replace([' ', '/', '?', '#', '%'], "x")
            ),
            4 => pct(&rng.bytes_in(1, 24)),
            5 => pct("δοκιμή-файл-文件".as_bytes()),
            6 => "a".repeat(rng.range(100, 12_000)),
            7 => "..".into(),
            8 => "%00".into(),
            9 => pct(rng.printable_in(1, 30).as_bytes()),
            10 => format!("{}%20", rng.hex(16)),
            11 => "-1".into(),
            12 => rng.hex(16),
            _ => self.real_id(rng),
        }
    }

    fn real_id(&self, rng: &mut Rng) -> String {
        self.ids[rng.below(self.ids.len())].clone()
    }

    fn generate(&self, rng: &mut Rng) -> Case {
        let kind = KINDS[rng.below(KINDS.len())];
        let case = match kind {
            Kind::BadId => self.bad_id(rng),
            Kind::PathTraversal => self.path_traversal(rng),
            Kind::HugeHeaders => self.huge_headers(rng),
            Kind::GarbledHeaders => self.garbled_headers(rng),
            Kind::Authorization => self.authorization(rng),
            Kind::ContentLength => self.content_length(rng),
            Kind::Chunked => self.chunked(rng),
            Kind::BadJson => self.bad_json(rng),
            Kind::EceHeader => self.ece_header(rng),
            Kind::WebSocket => self.websocket(rng),
        };
        Case { kind, ..case }
    }

    /// A complete request with `Connection: close`.
    fn request(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\n{}Connection: close\r\n{headers}",
            self.host()
        )
        .into_bytes();
        if !body.is_empty() || method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }

    fn answered(&self, what: String, path: &str, bytes: Vec<u8>) -> Case {
        Case {
            kind: Kind::BadId,
            what,
            api: path.starts_with("/api/"),
            bytes,
            // A request target with characters a URI cannot hold is refused by the HTTP
            // parser (400 without a body, or the connection closed), before any route.
            answered: path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)),
            frames: None,
            half_close: false,
        }
    }

    fn transport(&self, what: String, bytes: Vec<u8>, half_close: bool) -> Case {
        Case {
            kind: Kind::BadId,
            what,
            api: false,
            bytes,
            answered: false,
            frames: None,
            half_close,
        }
    }

    fn owner_body(&self, rng: &mut Rng) -> String {
        match rng.below(4) {
            0 => format!(r#"{{"owner_token":"{}"}}"#, rng.hex(20)),
            1 => format!(
                r#"{{"owner_token":"{}","dlimit":{}}}"#,
                rng.hex(20),
                rng.range(1, 20)
            ),
            2 => format!(
                r#"{{"owner_token":"{}","auth":"{}"}}"#,
                rng.hex(20),
                rng.b64(64)
            ),
            _ => format!(r#"{{"key":"{}","reason":"malware"}}"#, rng.b64(16)),
        }
    }

    fn bad_id(&self, rng: &mut Rng) -> Case {
        let id = self.id(rng);
        let (method, path) = match rng.below(10) {
            0 => ("GET", format!("/api/exists/{id}")),
            1 => ("GET", format!("/api/metadata/{id}")),
            2 => ("GET", format!("/api/download/{id}")),
            3 => ("GET", format!("/api/download/blob/{id}")),
            4 => ("GET", format!("/download/{id}/")),
            5 => ("POST", format!("/api/info/{id}")),
            6 => ("POST", format!("/api/params/{id}")),
            7 => ("POST", format!("/api/password/{id}")),
            8 => ("POST", format!("/api/delete/{id}")),
            _ => ("POST", format!("/api/report/{id}")),
        };
        let body = if method == "POST" {
            self.owner_body(rng)
        } else {
            String::new()
        };
        let headers = if method == "POST" {
            "Content-Type: application/json\r\n"
        } else {
            ""
        };
        let bytes = self.request(method, &path, headers, body.as_bytes());
        self.answered(format!("{method} {}", clip(&path)), &path, bytes)
    }

    fn path_traversal(&self, rng: &mut Rng) -> Case {
        let ups = "../".repeat(rng.range(1, 8));
        let enc = "..%2f".repeat(rng.range(1, 8));
        let double = "..%252f".repeat(rng.range(1, 8));
        let back = "..%5c".repeat(rng.range(1, 8));
        let dots = "%2e%2e/".repeat(rng.range(1, 8));
        let target = rng.pick(&[
            "etc/passwd",
            "proc/self/environ",
            "data/meta.sqlite",
            "Cargo.toml",
            "server.log",
        ]);
        let prefix = rng.pick(&[
            "/",
            "/css/",
            "/js/",
            "/api/download/",
            "/api/download/blob/",
            "/api/exists/",
            "/api/metadata/",
            "/download/",
            "/vendor/",
            "/api/info/",
        ]);
        let middle = rng.pick(&[&ups[..], &enc[..], &double[..], &back[..], &dots[..]]);
        let mut path = format!("{prefix}{middle}{target}");
        if rng.chance(20) {
            path.push_str("%00.js");
        }
        if prefix == "/download/" && rng.chance(50) {
            path.push('/');
        }
        let method = if prefix == "/api/info/" {
            "POST"
        } else {
            "GET"
        };
        let body = if method == "POST" {
            self.owner_body(rng)
        } else {
            String::new()
        };
        let bytes = self.request(method, &path, "", body.as_bytes());
        let mut case = self.answered(format!("{method} {path}"), &path, bytes);
        // A path the server normalizes may be a page; only /api/ answers are checked for JSON.
        case.api = path.starts_with("/api/");
        case
    }

    fn huge_headers(&self, rng: &mut Rng) -> Case {
        let path = if rng.chance(50) {
            format!("/api/exists/{}", self.real_id(rng))
        } else {
            "/config".into()
        };
        let mut head = format!(
            "GET {path} HTTP/1.1\r\n{}Connection: close\r\n",
            self.host()
        );
        let what = match rng.below(5) {
            0 => {
                let len = rng.range(8 * 1024, 1024 * 1024);
                head.push_str(&format!("X-Big: {}\r\n", "b".repeat(len)));
                format!("one header of {len} bytes")
            }
            1 => {
                let n = rng.range(100, 3000);
                for i in 0..n {
                    head.push_str(&format!("X-Many-{i}: {}\r\n", rng.hex(8)));
                }
                format!("{n} headers")
            }
            2 => {
                let len = rng.range(8 * 1024, 200 * 1024);
                head = format!(
                    "GET /api/exists/{} HTTP/1.1\r\n{}Connection: close\r\n",
                    "a".repeat(len),
                    self.host()
                );
                format!("a path of {len} bytes")
            }
            3 => {
                let len = rng.range(8 * 1024, 200 * 1024);
                head.push_str(&format!("Authorization: send-v1 {}\r\n", "A".repeat(len)));
                format!("an Authorization of {len} bytes")
            }
            _ => {
                let len = rng.range(8 * 1024, 200 * 1024);
                head.push_str(&format!("X-File-Metadata: {}\r\n", "A".repeat(len)));
                format!("a metadata header of {len} bytes on GET")
            }
        };
        head.push_str("\r\n");
        self.transport(what, head.into_bytes(), false)
    }

    fn garbled_headers(&self, rng: &mut Rng) -> Case {
        let host = self.host();
        let id = self.real_id(rng);
        let (what, bytes): (&str, Vec<u8>) = match rng.below(14) {
            0 => ("random bytes", rng.bytes_in(1, 4096)),
            1 => (
                "random printable line",
                format!("{}\r\n\r\n", rng.printable_in(1, 300)).into_bytes(),
            ),
            2 => (
                "no colon",
                format!("GET /config HTTP/1.1\r\n{host}NoColonHere\r\n\r\n").into_bytes(),
            ),
            3 => (
                "space before colon",
                format!("GET /config HTTP/1.1\r\n{host}X-A : b\r\n\r\n").into_bytes(),
            ),
            4 => (
                "bare CR",
                format!("GET /config HTTP/1.1\r{host}\r\r").into_bytes(),
            ),
            5 => (
                "obs-fold",
                format!("GET /config HTTP/1.1\r\n{host}X-A: b\r\n  folded\r\n\r\n").into_bytes(),
            ),
            6 => {
                let mut b =
                    format!("GET /api/metadata/{id} HTTP/1.1\r\n{host}Authorization: send-v1 ")
                        .into_bytes();
                b.extend(rng.bytes(40));
                b.extend_from_slice(b"\r\n\r\n");
                ("binary Authorization", b)
            }
            7 => (
                "NUL in header",
                format!("GET /config HTTP/1.1\r\n{host}X-A: a\0b\r\n\r\n").into_bytes(),
            ),
            8 => (
                "bad method",
                format!("{} / HTTP/1.1\r\n{host}\r\n", rng.printable_in(1, 20)).into_bytes(),
            ),
            9 => (
                "bad version",
                format!(
                    "GET / HTTP/{}.{}\r\n{host}\r\n",
                    rng.below(10),
                    rng.below(10)
                )
                .into_bytes(),
            ),
            10 => ("HTTP/2 preface then garbage", {
                let mut b = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
                b.extend(rng.bytes_in(0, 512));
                b
            }),
            11 => (
                "no Host",
                b"GET /config HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            ),
            12 => {
                let mut b = format!(
                    "POST /api/upload HTTP/1.1\r\n{host}Content-Length: 10\r\nX-File-Metadata: "
                )
                .into_bytes();
                b.extend(rng.bytes(30));
                b.extend_from_slice(b"\r\n\r\n0123456789");
                ("binary X-File-Metadata", b)
            }
            _ => (
                "LF only",
                format!("GET /config HTTP/1.1\n{}\n\n", host.trim_end()).into_bytes(),
            ),
        };
        self.transport(what.into(), bytes, true)
    }

    fn authorization(&self, rng: &mut Rng) -> Case {
        let value = match rng.below(14) {
            0 => String::new(),
            1 => "send-v1".into(),
            2 => "send-v1 ".into(),
            3 => format!("send-v1 {}", rng.b64_in(0, 200)),
            4 => format!(
                "send-v1 {}",
                rng.printable_in(1, 100).replace(['\r', '\n'], "")
            ),
            5 => format!("SEND-V1\t{}", rng.b64(32)),
            6 => "Bearer".into(),
            7 => format!("Bearer {}", rng.hex_in(1, 64)),
            8 => format!("Basic {}", rng.printable_in(1, 60)),
            9 => format!("Basic {}", b64u::encode_standard(rng.hex(20).as_bytes())),
            10 => format!("Digest username=\"{}\"", rng.hex(8)),
            11 => format!("send-v1 {}", "A".repeat(rng.range(4000, 7000))),
            12 => format!("Bearer {TOKEN} extra"),
            _ => format!("bearer {}", TOKEN.to_uppercase()),
        };
        let id = if rng.chance(70) {
            self.real_id(rng)
        } else {
            rng.hex(16)
        };
        let (method, path, body, extra) = match rng.below(6) {
            0 => (
                "GET",
                format!("/api/metadata/{id}"),
                String::new(),
                String::new(),
            ),
            1 => (
                "GET",
                format!("/api/download/{id}"),
                String::new(),
                String::new(),
            ),
            2 => (
                "GET",
                format!("/api/download/blob/{id}"),
                String::new(),
                String::new(),
            ),
            3 => (
                "POST",
                format!("/api/info/{id}"),
                self.owner_body(rng),
                String::new(),
            ),
            4 => (
                "POST",
                "/api/upload".into(),
                "x".repeat(rng.range(0, 100)),
                format!(
                    "X-File-Metadata: {}\r\nX-Auth-Key: send-v1 {}\r\n",
                    rng.b64(40),
                    rng.b64(64)
                ),
            ),
            _ => (
                "POST",
                "/api/upload".into(),
                "y".repeat(rng.range(0, 100)),
                format!("X-File-Metadata: {}\r\n", rng.b64(40)),
            ),
        };
        let mut headers = format!("Authorization: {value}\r\n{extra}");
        if rng.chance(15) {
            headers.push_str(&format!("Authorization: send-v1 {}\r\n", rng.b64(64)));
        }
        let bytes = self.request(method, &path, &headers, body.as_bytes());
        self.answered(
            format!(
                "{method} {} with Authorization {}",
                clip(&path),
                clip(&value)
            ),
            &path,
            bytes,
        )
    }

    fn content_length(&self, rng: &mut Rng) -> Case {
        let value = rng.pick(&[
            "-1",
            "-9999999999",
            "99999999999999999999999999",
            "18446744073709551615",
            "1099511627776",
            "abc",
            "",
            "+5",
            "0x10",
            "1e9",
            " 5 ",
            "5, 6",
        ]);
        let path = match rng.below(3) {
            0 => "/api/upload".to_owned(),
            1 => format!("/api/info/{}", self.real_id(rng)),
            _ => format!("/api/report/{}", self.real_id(rng)),
        };
        let mut head = format!(
            "POST {path} HTTP/1.1\r\n{}Authorization: Bearer {TOKEN}\r\nX-File-Metadata: {}\r\nX-Auth-Key: send-v1 {}\r\nContent-Length: {value}\r\n",
            self.host(),
            rng.b64(40),
            rng.b64(64)
        );
        let what = match rng.below(4) {
            0 => format!("Content-Length {value:?}"),
            1 => {
                head.push_str(&format!("Content-Length: {}\r\n", rng.range(0, 100)));
                format!("two Content-Lengths, first {value:?}")
            }
            2 => {
                head.push_str("Transfer-Encoding: chunked\r\n");
                format!("Content-Length {value:?} with chunked")
            }
            _ => {
                head = head.replace(
                    &format!("Content-Length: {value}\r\n"),
                    "Content-Length: 100\r\n",
                );
                "Content-Length 100, fewer bytes".into()
            }
        };
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(b"\r\n");
        bytes.extend(rng.bytes_in(0, 60));
        self.transport(format!("POST {} with {what}", clip(&path)), bytes, true)
    }

    fn chunked(&self, rng: &mut Rng) -> Case {
        let upload = rng.chance(50);
        let path = if upload {
            "/api/upload".to_owned()
        } else {
            format!("/api/params/{}", self.real_id(rng))
        };
        let te = rng.pick(&[
            "chunked",
            "chunked",
            "chunked",
            "gzip, chunked",
            "chunked, gzip",
            "gzip",
            "Chunked",
        ]);
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\n{}Authorization: Bearer {TOKEN}\r\nX-File-Metadata: {}\r\nX-Auth-Key: send-v1 {}\r\nTransfer-Encoding: {te}\r\n\r\n",
            self.host(),
            rng.b64(40),
            rng.b64(64)
        )
        .into_bytes();
        let data = rng.bytes_in(1, 100);
        let what = match rng.below(9) {
            0 => {
                bytes.extend_from_slice(b"zz\r\n");
                bytes.extend(&data);
                "bad hex size"
            }
            1 => {
                bytes.extend_from_slice(b"FFFFFFFFFFFFFFFFFFFF\r\n");
                bytes.extend(&data);
                "size overflow"
            }
            2 => {
                bytes.extend(format!("{:x}\r\n", data.len()).as_bytes());
                bytes.extend(&data);
                bytes.extend_from_slice(b"XX5\r\nhello\r\n0\r\n\r\n");
                "no CRLF after data"
            }
            3 => {
                bytes.extend(format!("{:x};a=\"unterminated\r\n", data.len()).as_bytes());
                bytes.extend(&data);
                "bad extension"
            }
            4 => {
                bytes.extend(format!("{:x}\r\n", data.len() + 50).as_bytes());
                bytes.extend(&data);
                "truncated chunk"
            }
            5 => {
                bytes.extend(format!("{:x}\r\n", data.len()).as_bytes());
                bytes.extend(&data);
                bytes.extend_from_slice(b"\r\n");
                "no last chunk"
            }
            6 => {
                bytes.extend(format!("{:x}\r\n", data.len()).as_bytes());
                bytes.extend(&data);
                bytes.extend_from_slice(b"\r\n0\r\nX-Trailer");
                bytes.extend(rng.bytes(20));
                bytes.extend_from_slice(b"\r\n\r\n");
                "garbage trailer"
            }
            7 => {
                bytes.extend_from_slice(b"-5\r\nhello\r\n0\r\n\r\n");
                "negative size"
            }
            _ => {
                bytes.extend(rng.bytes_in(1, 300));
                "random body"
            }
        };
        self.transport(format!("POST {} {te}: {what}", clip(&path)), bytes, true)
    }

    fn bad_json(&self, rng: &mut Rng) -> Case {
        let id = if rng.chance(70) {
            self.real_id(rng)
        } else {
            rng.hex(16)
        };
        let route = rng.pick(&["info", "params", "password", "delete", "report"]);
        let path = format!("/api/{route}/{id}");
        let body: Vec<u8> = match rng.below(14) {
            0 => br#"{"owner_token":"#.to_vec(),
            1 => br#"{"owner_token":5}"#.to_vec(),
            2 => format!(r#"{{"owner_token":"{}","dlimit":1e400}}"#, rng.hex(8)).into_bytes(),
            3 => format!(r#"{{"owner_token":"{}","dlimit":-3}}"#, rng.hex(8)).into_bytes(),
            4 => {
                let depth = rng.range(200, 20_000).min(15_000);
                let mut b = "[".repeat(depth).into_bytes();
                b.extend("]".repeat(depth).as_bytes());
                b
            }
            5 => {
                let mut b = br#"{"owner_token":""#.to_vec();
                b.extend(rng.bytes(30));
                b.extend_from_slice(br#""}"#);
                b
            }
            6 => Vec::new(),
            7 => b"null".to_vec(),
            8 => format!(r#"{{"owner_token":"a","owner_token":"{}"}}"#, rng.hex(8)).into_bytes(),
            9 => format!(
                r#"{{"owner_token":"{}"}}"#,
                "t".repeat(rng.range(1000, 15_000))
            )
            .into_bytes(),
            10 => format!(
                r#"{{"owner_token":"{}"}}"#,
                "t".repeat(rng.range(17_000, 60_000))
            )
            .into_bytes(),
            11 => rng.bytes_in(1, 2000),
            12 => format!(
                r#"{{"key":"{}","reason":"{}","details":"{}"}}"#,
                rng.printable(30).replace(['"', '\\'], ""),
                rng.printable(10).replace(['"', '\\'], ""),
                "d".repeat(rng.range(0, 2000))
            )
            .into_bytes(),
            _ => format!(
                r#"{{"owner_token":"{}","auth":{}}}"#,
                rng.hex(8),
                rng.range(0, 1 << 20)
            )
            .into_bytes(),
        };
        let ctype = rng.pick(&[
            "Content-Type: application/json\r\n",
            "Content-Type: text/plain\r\n",
            "",
            "Content-Type: application/json; charset=latin1\r\n",
        ]);
        let bytes = self.request("POST", &path, ctype, &body);
        self.answered(
            format!("POST {} with {} bytes of bad JSON", clip(&path), body.len()),
            &path,
            bytes,
        )
    }

    /// A plain HTTP upload with the right token and a ciphertext that cannot be one.
    fn ece_header(&self, rng: &mut Rng) -> Case {
        let salt = rng.bytes(16);
        let mut body = salt;
        let what = match rng.below(9) {
            0 => {
                body.extend_from_slice(&[0, 0, 0, 0, 0]);
                "rs=0"
            }
            1 => {
                body.extend_from_slice(&[0, 0, 0, 17, 0]);
                "rs=17"
            }
            2 => {
                body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0]);
                "rs=2^32-1"
            }
            3 => {
                body.extend_from_slice(&[0, 0, 0x10, 0, 0]);
                "rs=4096"
            }
            4 => {
                body.extend_from_slice(&[0, 1, 0, 0, 255]);
                body.extend(rng.bytes(255));
                "idlen=255"
            }
            5 => {
                body.truncate(rng.below(16));
                "shorter than a header"
            }
            6 => {
                // An empty file is the header alone; one record holds at least one byte.
                body.extend_from_slice(&[0, 1, 0, 0, 0]);
                body.extend(rng.bytes(17));
                "a header and an empty record"
            }
            7 => {
                body.extend_from_slice(&[0, 1, 0, 0, 0]);
                body.extend(rng.bytes_in(1, 16));
                "a record shorter than its tag"
            }
            _ => {
                // A full record, then a last one too short to hold a byte and its tag.
                body.extend_from_slice(&[0, 1, 0, 0, 0]);
                body.extend(rng.bytes_in(65_536 + 1, 65_536 + 17));
                "a size no ciphertext has"
            }
        };
        let metadata = match rng.below(6) {
            0 => rng.printable(40).replace(['\r', '\n'], ""),
            1 => String::new(),
            2 => "A".repeat(rng.range(70_000, 100_000)),
            _ => rng.b64_in(28, 400),
        };
        let mut headers = format!(
            "Authorization: Bearer {TOKEN}\r\nX-File-Metadata: {metadata}\r\nX-Auth-Key: send-v1 {}\r\n",
            rng.b64(64)
        );
        match rng.below(6) {
            0 => headers.push_str("X-Expire-Seconds: -5\r\n"),
            1 => headers.push_str("X-Expire-Seconds: 99999999999999999999\r\n"),
            2 => headers.push_str("X-Download-Limit: 0\r\n"),
            3 => headers.push_str(&format!(
                "X-Download-Limit: {}\r\n",
                rng.printable(5).replace(['\r', '\n'], "")
            )),
            _ => {}
        }
        let bytes = self.request("POST", "/api/upload", &headers, &body);
        let mut case = self.answered(
            format!("POST /api/upload with {what}"),
            "/api/upload",
            bytes,
        );
        // The server may answer a body it refuses before reading all of it.
        case.answered = body.len() < 1024 && metadata.len() < 1024;
        case
    }

    fn websocket(&self, rng: &mut Rng) -> Case {
        let auth = match rng.below(5) {
            0 => String::new(),
            1 => format!("Authorization: Bearer {}\r\n", rng.hex(16)),
            _ => format!("Authorization: Bearer {TOKEN}\r\n"),
        };
        let bytes = format!(
            "GET /api/ws HTTP/1.1\r\n{}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n",
            self.host(),
            rng.b64(16).replace(['-', '_'], "A") + "=="
        )
        .into_bytes();
        let request = |rng: &mut Rng| {
            format!(
                r#"{{"fileMetadata":"{}","authorization":"send-v1 {}","timeLimit":{},"dlimit":{}}}"#,
                rng.b64(60),
                rng.b64(64),
                rng.range(0, 1000),
                rng.range(0, 100)
            )
        };
        let mut frames = Vec::new();
        let what = match rng.below(10) {
            0 => {
                frames.extend(rng.bytes_in(1, 4096));
                "random bytes"
            }
            1 => {
                let payload = rng.bytes_in(1, 1000);
                frames.extend(frame(2, &payload, true, true, rng));
                "a binary frame first"
            }
            2 => {
                let mut payload = b"{\"fileMetadata\":\"".to_vec();
                payload.extend(rng.bytes(40));
                frames.extend(frame(1, &payload, true, true, rng));
                "invalid UTF-8 text"
            }
            3 => {
                let text = rng.pick(&[
                    "{}",
                    "null",
                    "[1,2]",
                    r#"{"fileMetadata":5}"#,
                    r#"{"authorization":"send-v1 x"}"#,
                    "{\"fileMetadata\":\"\",\"authorization\":\"\"}",
                ]);
                frames.extend(frame(1, text.as_bytes(), true, true, rng));
                "bad JSON request"
            }
            4 => {
                frames.extend(frame(1, request(rng).as_bytes(), true, true, rng));
                let mut bad = rng.bytes(16);
                bad.extend_from_slice(&[0, 0, 0, rng.below(255) as u8, 0]);
                bad.extend(rng.bytes_in(0, 200));
                frames.extend(frame(2, &bad, true, true, rng));
                frames.extend(frame(2, &[0], true, true, rng));
                "a request, a bad ECE header, the end marker"
            }
            5 => {
                frames.extend(frame(1, request(rng).as_bytes(), true, true, rng));
                let junk = rng.bytes_in(1, 300);
                frames.extend(frame(2, &junk, true, true, rng));
                frames.extend(frame(1, b"surprise", true, true, rng));
                "text in the middle of the data"
            }
            6 => {
                frames.extend_from_slice(&[0x82, 0xFF]);
                frames.extend_from_slice(&u64::MAX.to_be_bytes());
                frames.extend(rng.bytes(4 + 64));
                "a frame announcing 2^64 bytes"
            }
            7 => {
                let payload = rng.bytes_in(1, 100);
                frames.extend(frame(1, &payload, true, false, rng));
                "an unmasked frame"
            }
            8 => {
                let opcode = rng.pick(&[&3u8, &7, &0xB, &0xF, &0]);
                let payload = rng.bytes_in(0, 100);
                frames.extend(frame(*opcode, &payload, rng.chance(50), true, rng));
                "a reserved opcode or a stray continuation"
            }
            _ => {
                let mut payload = vec![0x03, 0xF3];
                payload.extend(rng.bytes_in(0, 200));
                frames.extend(frame(8, &payload, rng.chance(70), true, rng));
                "a close frame with a bad code or a long reason"
            }
        };
        Case {
            kind: Kind::WebSocket,
            what: what.into(),
            bytes,
            answered: false,
            api: true,
            frames: Some(frames),
            half_close: true,
        }
    }
}

/// A client's WebSocket frame (masked unless told otherwise).
fn frame(opcode: u8, payload: &[u8], fin: bool, masked: bool, rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | (opcode & 0x0F)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = rng.bytes(4);
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Percent-encodes every byte.
fn pct(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// The first 80 characters, for messages.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The answer's head and as much of its body as it declares (or until the server closes).
struct Answer {
    outcome: Outcome,
    head: String,
    body: Vec<u8>,
}

fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut head_end = None;
    let deadline = Instant::now() + ANSWER_DEADLINE;
    loop {
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                && raw.len() >= end + 4 + len
            {
                break;
            }
            if head.starts_with("http/1.1 101") {
                break;
            }
        }
        if raw.len() > MAX_ANSWER {
            break;
        }
        if Instant::now() > deadline {
            return Answer {
                outcome: Outcome::Hung,
                head: String::from_utf8_lossy(&raw).into_owned(),
                body: Vec::new(),
            };
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if head_end.is_none() {
                    head_end = raw.windows(4).position(|w| w == b"\r\n\r\n");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Answer {
                    outcome: Outcome::Hung,
                    head: String::from_utf8_lossy(&raw).into_owned(),
                    body: Vec::new(),
                };
            }
            Err(_) => break,
        }
    }
    let status = raw
        .starts_with(b"HTTP/")
        .then(|| String::from_utf8_lossy(&raw[..raw.len().min(16)]).into_owned())
        .and_then(|line| line.split_whitespace().nth(1).and_then(|s| s.parse().ok()));
    let (head, body) = match head_end {
        Some(end) => (
            String::from_utf8_lossy(&raw[..end]).into_owned(),
            raw[end + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&raw).into_owned(), Vec::new()),
    };
    Answer {
        outcome: status.map_or(Outcome::Closed, Outcome::Status),
        head,
        body,
    }
}

/// Sends one case and checks what can be checked of one answer. `Err` is a violation.
fn send(port: u16, case: &Case) -> Result<Outcome, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(ANSWER_DEADLINE)).ok();
    stream.set_write_timeout(Some(ANSWER_DEADLINE)).ok();
    // The server may answer (413, 431) and close before it has read everything.
    let _ = stream.write_all(&case.bytes);
    let mut answer = if let Some(frames) = &case.frames {
        let upgrade = read_answer(&mut stream);
        if upgrade.outcome != Outcome::Status(101) {
            upgrade
        } else {
            let _ = stream.write_all(frames);
            let _ = stream.shutdown(Shutdown::Write);
            // The rest of the conversation: the server's messages and close frame.
            let rest = read_until_closed(&mut stream)?;
            let text = String::from_utf8_lossy(&rest);
            if let Some(at) = text.find("\"error\":5") {
                return Err(format!("a 5xx over the WebSocket: {}", clip(&text[at..])));
            }
            upgrade
        }
    } else {
        if case.half_close {
            let _ = stream.shutdown(Shutdown::Write);
        }
        read_answer(&mut stream)
    };
    match answer.outcome {
        Outcome::Hung => return Err("no answer within the deadline".into()),
        Outcome::Status(s) if s >= 500 => {
            return Err(format!(
                "answered {s}: {}",
                String::from_utf8_lossy(&answer.body)
            ));
        }
        Outcome::Closed if case.answered => {
            return Err(format!("closed without an answer ({})", clip(&answer.head)));
        }
        Outcome::Status(s) if case.answered && case.api && (400..500).contains(&s) => {
            // A chunked JSON body: take what is between the chunk framing.
            if answer
                .head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                let text = String::from_utf8_lossy(&answer.body).into_owned();
                answer.body = text
                    .find('{')
                    .zip(text.rfind('}'))
                    .map(|(a, b)| text.as_bytes()[a..=b].to_vec())
                    .unwrap_or_default();
            }
            let json: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|_| {
                format!(
                    "answered {s} without a JSON body: {}",
                    clip(&String::from_utf8_lossy(&answer.body))
                )
            })?;
            if !json["error"].is_string() || !json["message"].is_string() {
                return Err(format!("answered {s} with {json}"));
            }
        }
        _ => {}
    }
    if answer.head.contains("root:x:0:0")
        || String::from_utf8_lossy(&answer.body).contains("root:x:0:0")
    {
        return Err("served /etc/passwd".into());
    }
    Ok(answer.outcome)
}

fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("the WebSocket stayed open after the client's end".into());
            }
            Err(_) => return Ok(out),
        }
    }
}

/// `VmRSS` of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    sealdrop_testkit::vm_rss_kib(pid).expect("VmRSS of the server")
}

#[test]
fn ten_thousand_malformed_requests_harm_nothing() {
    let requests: usize = std::env::var("SEALDROP_CAMPAIGN_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("SEALDROP_CAMPAIGN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EA1_D809);

    let tokens = tempfile::tempdir().unwrap();
    let tokens_file = tokens.path().join("tokens");
    std::fs::write(&tokens_file, format!("{TOKEN} name=campaign\n")).unwrap();
    std::fs::set_permissions(
        &tokens_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let server = Server::start_with(&[
        "--upload-auth",
        "token",
        "--upload-tokens-file",
        tokens_file.to_str().unwrap(),
    ]);
    let sb = Sandbox::new(&server);

    // The files that must survive: plain, password-protected, an archive of two.
    let plain = content(3 << 20, 1);
    let secret = content(200 << 10, 2);
    sb.write("plain.bin", &plain);
    sb.write("secret.bin", &secret);
    sb.write("pair/a.txt", b"first file of the pair\n");
    sb.write("pair/b.bin", &content(70_000, 3));
    let token = ["--token", TOKEN, "--downloads", "100"];
    let mut links = vec![
        sb.upload(&[&token[..], &["plain.bin"]].concat()),
        {
            let args = [&["upload", "-q"][..], &token[..], &["secret.bin"]].concat();
            let out = sb
                .sealdrop(&args)
                .env("SEALDROP_PASSWORD", "campaign pass")
                .run();
            out.success();
            out.stdout_text().trim().to_owned()
        },
        sb.upload(&[&token[..], &["pair/a.txt", "pair/b.bin"]].concat()),
    ];
    let before = server.blob_files();
    assert_eq!(before.len(), 3, "{before:?}");
    let target = Target {
        port: server.port,
        ids: links.iter().map(|l| id_of(l).to_owned()).collect(),
    };

    let next = AtomicUsize::new(0);
    let warm = requests / 10;
    let warm_rss = Mutex::new(None);
    let tally: Mutex<BTreeMap<(Kind, Outcome), usize>> = Mutex::new(BTreeMap::new());
    let violations: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= requests {
                        break;
                    }
                    if n == warm {
                        *warm_rss.lock().unwrap() = Some(rss_kib(server.pid()));
                    }
                    let case = target.generate(&mut Rng::new(seed, n));
                    match send(server.port, &case) {
                        Ok(outcome) => {
                            *tally
                                .lock()
                                .unwrap()
                                .entry((case.kind, outcome))
                                .or_default() += 1;
                        }
                        Err(why) => violations.lock().unwrap().push(format!(
                            "request {n} ({:?}: {}): {why}",
                            case.kind,
                            clip(&case.what)
                        )),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let end_rss = rss_kib(server.pid());
    let warm_rss = warm_rss.into_inner().unwrap().expect("warm-up measured");
    let peak = server.peak_rss_kib();

    // The figures, for the record (`--nocapture` shows them).
    let tally = tally.into_inner().unwrap();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for ((_, outcome), count) in &tally {
        let key = match outcome {
            Outcome::Status(s) => s.to_string(),
            Outcome::Closed => "closed".into(),
            Outcome::Hung => "hung".into(),
        };
        *by_status.entry(key).or_default() += count;
    }
    eprintln!(
        "campaign: {requests} requests (seed {seed}) in {:.1} s; outcomes {by_status:?}; \
         server RSS {} KiB after the warm-up, {end_rss} KiB at the end, peak {peak} KiB",
        elapsed.as_secs_f64(),
        warm_rss
    );
    for kind in KINDS {
        let row: Vec<String> = tally
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, o), c)| format!("{o:?}×{c}"))
            .collect();
        eprintln!("  {kind:?}: {}", row.join(" "));
    }

    let violations = violations.into_inner().unwrap();
    assert!(
        violations.is_empty(),
        "{} of {requests} requests broke a rule:\n{}",
        violations.len(),
        violations
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    // A malformed request is the client's mistake: nothing worth an operator's error line.
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "the server logged errors:\n{}",
        errors.join("\n")
    );
    if std::env::var_os("SEALDROP_CAMPAIGN_LOG").is_some() {
        eprintln!("{log}");
    }
    assert!(
        end_rss <= warm_rss + RSS_SLACK_KIB,
        "server memory grew from {warm_rss} KiB to {end_rss} KiB"
    );
    // Every kind was exercised, and most requests reached a handler or hyper's parser.
    for kind in KINDS {
        let sent: usize = tally
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, c)| c)
            .sum();
        assert!(sent >= requests / 20, "{kind:?}: only {sent} requests");
    }
    let answered: usize = by_status
        .iter()
        .filter(|(k, _)| k.starts_with('4'))
        .map(|(_, c)| c)
        .sum();
    assert!(
        answered >= requests / 2,
        "only {answered} 4xx answers: {by_status:?}"
    );

    // Nothing half-written, nothing new: every upload of the campaign was refused (the
    // last ones' pending files may still be on their way out).
    wait::for_progress(
        "blob files the campaign added, to discard",
        Patience::GENEROUS,
        || {
            server
                .blob_files()
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect::<Vec<_>>()
        },
    );
    assert_eq!(server.blob_files(), before, "blobs changed");

    // Every file still downloads intact.
    let secret_link = links.remove(1);
    sb.sealdrop(&["download", "-q", "-o", "out/plain.bin", &links[0]])
        .run()
        .success();
    assert!(sb.read("out/plain.bin") == plain, "plain.bin changed");
    sb.sealdrop(&["download", "-q", "-o", "out/secret.bin", &secret_link])
        .env("SEALDROP_PASSWORD", "campaign pass")
        .run()
        .success();
    assert!(sb.read("out/secret.bin") == secret, "secret.bin changed");
    sb.sealdrop(&["download", "-q", "-o", "out/pair", &links[1]])
        .run()
        .success();
    assert_eq!(sb.read("out/pair/a.txt"), b"first file of the pair\n");
    assert!(
        sb.read("out/pair/b.bin") == content(70_000, 3),
        "b.bin changed"
    );
}
