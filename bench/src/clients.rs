//! The clients a transfer benchmark drives, each one upload and one download of a prepared
//! file: the `sealdrop` CLI, curl on the plain HTTP route with bytes encrypted beforehand,
//! ffsend, and a raw loopback TCP copy (the physical limit).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sealdrop_protocol::ece::EceReader;
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Metadata, Secret, auth};
use sha2::{Digest, Sha256};

use crate::proc::{Run, Server, Tools, run};

/// A prepared file of one size: the plaintext, its ciphertext (for curl, which sends bytes
/// encrypted beforehand), the headers of that ciphertext's upload, and both digests.
pub struct Prepared {
    /// Plaintext bytes.
    pub len: u64,
    /// The plaintext file.
    pub plain: PathBuf,
    /// Its SHA-256.
    pub plain_sha: [u8; 32],
    /// The RFC 8188 ciphertext of the plaintext under `secret`.
    pub cipher: PathBuf,
    /// Its SHA-256.
    pub cipher_sha: [u8; 32],
    secret: Secret,
    metadata: String,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("len", &self.len)
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

/// Deterministic incompressible bytes (xorshift64*), 1 MiB at a time.
fn fill(state: &mut u64, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// SHA-256 of a file, read 1 MiB at a time.
pub fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

impl Prepared {
    /// Writes a plaintext of `len` bytes and its ciphertext into `dir`.
    pub fn new(dir: &Path, len: u64) -> Result<Self> {
        let plain = dir.join(format!("plain-{len}.bin"));
        let cipher = dir.join(format!("cipher-{len}.bin"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&plain)?);
        let mut state = len.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64))?;
            fill(&mut state, &mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.into_inner()?.sync_all()?;
        let secret = Secret::generate()?;
        let mut reader = EceReader::encrypt(std::fs::File::open(&plain)?, &secret)?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&cipher)?);
        std::io::copy(&mut reader, &mut out)?;
        out.into_inner()?.sync_all()?;
        let metadata = Metadata::single("bench.bin", len, "application/octet-stream")
            .encrypt(&secret.metadata_key());
        Ok(Self {
            len,
            plain_sha: sha256_file(&plain)?,
            cipher_sha: sha256_file(&cipher)?,
            plain,
            cipher,
            secret,
            metadata,
        })
    }

    /// Bytes on the wire (the ciphertext's size).
    pub fn wire_len(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.cipher)?.len())
    }
}

/// One client's upload and download of a prepared file.
#[derive(Debug)]
pub struct RoundTrip {
    /// The upload.
    pub up: Run,
    /// The download.
    pub down: Run,
}

/// The clients that move a file through sealdrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The `sealdrop` CLI (encrypts and uploads over the WebSocket; downloads, verifies
    /// and decrypts to a file).
    Cli,
    /// curl sending the already-encrypted bytes to `POST /api/upload` and fetching them
    /// back with a signed `GET /api/download` to a file: the server's cost alone.
    Curl,
    /// ffsend 0.2.77, the peer Send client.
    Ffsend,
}

impl Client {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cli => "sealdrop CLI",
            Self::Curl => "curl (pre-encrypted)",
            Self::Ffsend => "ffsend",
        }
    }

    /// Uploads `file` to `server`, downloads it back into `work`, checks the bytes, and
    /// removes the downloaded copy.
    pub fn round_trip(
        self,
        tools: &Tools,
        server: &Server,
        file: &Prepared,
        work: &Path,
    ) -> Result<RoundTrip> {
        let out = work.join("download.bin");
        let _ = std::fs::remove_file(&out);
        let (up, down, expected) = match self {
            Self::Cli => {
                let mut c = cli(tools, work, &["upload", "-q", "-d", "1"], server);
                c.arg(&file.plain);
                let up = run(c, "sealdrop upload")?;
                let link = up.stdout.trim().to_owned();
                let mut c = cli(tools, work, &["download", "-q", "-f", "-o"], server);
                c.arg(&out).arg(&link);
                (up, run(c, "sealdrop download")?, file.plain_sha)
            }
            Self::Curl => {
                let mut c = Command::new(&tools.curl);
                c.args(["-sS", "--fail-with-body", "-X", "POST", "-H", "Expect:"])
                    .args(["-H", "Content-Type: application/octet-stream"])
                    .arg("-H")
                    .arg(format!("X-File-Metadata: {}", file.metadata))
                    .arg("-H")
                    .arg(format!(
                        "Authorization: {}",
                        auth::format_header(&file.secret.auth_key().to_base64url())
                    ))
                    .arg("-T")
                    .arg(&file.cipher)
                    .arg(format!("{}/api/upload", server.base));
                let up = run(c, "curl upload")?;
                let answer: serde_json::Value = serde_json::from_str(&up.stdout)
                    .with_context(|| format!("curl upload answered {}", up.stdout))?;
                let url = answer["url"].as_str().context("no url in the answer")?;
                let link = ShareLink::from_download_url(url, file.secret.clone())?;
                let authorization = signed(server.port, &link)?;
                let mut c = Command::new(&tools.curl);
                c.args(["-sS", "--fail", "-o"])
                    .arg(&out)
                    .arg("-H")
                    .arg(format!("Authorization: {authorization}"))
                    .arg(link.api_url("download"));
                (
                    up,
                    durable(run(c, "curl download")?, &out)?,
                    file.cipher_sha,
                )
            }
            Self::Ffsend => {
                let host = format!("{}/", server.base);
                let mut c = ffsend(tools, work);
                c.args([
                    "upload",
                    "-I",
                    "-y",
                    "-q",
                    "--incognito",
                    "--force",
                    "--host",
                ])
                .arg(&host)
                .arg(&file.plain);
                let up = run(c, "ffsend upload")?;
                let link = up.stdout.trim().to_owned();
                let mut c = ffsend(tools, work);
                c.args(["download", "-I", "-y", "--incognito", "--force", "-o"])
                    .arg(&out)
                    .arg(&link);
                (
                    up,
                    durable(run(c, "ffsend download")?, &out)?,
                    file.plain_sha,
                )
            }
        };
        ensure!(
            sha256_file(&out)? == expected,
            "{}: the downloaded bytes differ from the uploaded ones",
            self.name()
        );
        std::fs::remove_file(&out)?;
        Ok(RoundTrip { up, down })
    }
}

/// A peer's download made durable inside the timed window: curl and ffsend never `fsync`
/// what they wrote, the CLI does before it answers, so the clock of a peer stops only
/// once its file is synced too.
fn durable(mut run: Run, path: &Path) -> Result<Run> {
    let start = Instant::now();
    std::fs::File::open(path)?.sync_all()?;
    run.secs += start.elapsed().as_secs_f64();
    Ok(run)
}

/// The `sealdrop` CLI with `args`, its history inside `work`.
pub fn cli(tools: &Tools, work: &Path, args: &[&str], server: &Server) -> Command {
    let mut c = Command::new(&tools.cli);
    c.args(args)
        .env("SEALDROP_HOST", &server.base)
        .env("SEALDROP_HISTORY", work.join("history.json"))
        .env_remove("SEALDROP_TOKEN")
        .env_remove("SEALDROP_PASSWORD");
    c
}

fn ffsend(tools: &Tools, work: &Path) -> Command {
    let home = work.join("ffsend-home");
    let mut c = Command::new(&tools.ffsend);
    c.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"));
    c
}

/// `send-v1 <signature>` for the share's current nonce, read from `GET /api/exists`.
pub fn signed(port: u16, link: &ShareLink) -> Result<String> {
    let path = format!("/api/exists/{}", link.id());
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let nonce = answer
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("www-authenticate")
                .then(|| value.trim().strip_prefix("send-v1 "))
                .flatten()
        })
        .context("no nonce in the exists answer")?;
    let raw = auth::b64u::decode_lenient(nonce.trim())?;
    Ok(auth::format_header(&link.secret().auth_key().sign(&raw)))
}

/// The physical limit: `len` bytes copied over a loopback TCP connection from a 1 MiB
/// buffer of random bytes into a 1 MiB buffer, in seconds. With `into`, the receiver also
/// writes them to a new file in that directory and `fsync`s it at the end before the clock
/// stops, as a server or a CLI that keeps a file durably must: a plain copy's bound on the
/// network and the disk together (a copy that starts write-back early, as sealdrop does,
/// can beat it where the disk is slower than the network).
pub fn raw_copy(len: u64, into: Option<&Path>) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let path = into.map(|dir| dir.join("raw-copy.bin"));
    let sink_path = path.clone();
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut conn, _) = listener.accept()?;
        let mut file = sink_path.map(std::fs::File::create).transpose()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                if let Some(f) = &file {
                    f.sync_all()?;
                }
                return Ok(got);
            }
            if let Some(f) = &mut file {
                f.write_all(&buf[..n])?;
            }
            got += n as u64;
        }
    });
    let mut buf = vec![0u8; 1 << 20];
    fill(
        &mut 0x5eed_u64.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        &mut buf,
    );
    let start = Instant::now();
    let mut conn = TcpStream::connect(addr)?;
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        conn.write_all(&buf[..n])?;
        left -= n as u64;
    }
    drop(conn);
    let got = sink
        .join()
        .map_err(|_| anyhow::anyhow!("the sink thread panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    if let Some(p) = path {
        std::fs::remove_file(p)?;
    }
    if got != len {
        bail!("the raw copy moved {got} of {len} bytes");
    }
    Ok(secs)
}
