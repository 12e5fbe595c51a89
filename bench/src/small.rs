//! Scenario 5: small requests against one release server (filesystem backend): requests
//! per second and latency of `GET /api/exists`, `POST /api/info` (owner) and the signed
//! `GET /api/metadata` at 64 keep-alive connections, and the time to first byte of a
//! signed download.
//!
//! The unsigned routes are driven by wrk. The signed route cannot be: every answer carries
//! the file's next nonce, which the next request must sign. So a small load generator here
//! gives each of its 64 connections a share of its own and chains the nonces; it also runs
//! `/api/exists`, beside wrk, to show that it is not the bottleneck.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sealdrop_protocol::api::{
    HEADER_DOWNLOAD_LIMIT, HEADER_FILE_METADATA, InfoResponse, OwnerRequest, UploadResponse,
};
use sealdrop_protocol::keys::AuthKey;
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Encryptor, Metadata, Secret, auth};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::proc::{Backend, Server, Tools};
use crate::report::{Report, Section};
use crate::stats::Samples;

/// Open connections of every load run.
const CONNECTIONS: usize = 64;
/// wrk's threads: one per core of the 2-core machine the target is stated for.
const WRK_THREADS: usize = 2;
/// Plaintext bytes of the shares the small requests name.
const TINY: usize = 1024;
/// Plaintext bytes of the share whose download is timed.
const DOWNLOAD: usize = 1 << 20;
/// The download limit of that share: the server's `--max-downloads` (see [`Server`]).
const DOWNLOAD_LIMIT: u32 = 100;
/// Longest wait for any one answer (or body frame) before the scenario gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The `/api/exists` target, requests per second.
const EXISTS_GOAL: f64 = 10_000.0;

/// One uploaded share.
struct Share {
    link: ShareLink,
    owner_token: String,
    /// The ciphertext as uploaded, to check downloads against.
    cipher: Bytes,
}

/// The shares of the scenario.
struct Shares {
    /// Named by `/api/exists` and `/api/info`.
    probe: Share,
    /// One per connection of the signed load: a nonce serves one request chain at a time.
    signed: Vec<Share>,
    /// The 1 MiB share whose downloads are timed.
    download: Share,
}

/// What one load run measured.
#[derive(Debug, Clone, Copy)]
struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Per-subject figures over the rounds.
#[derive(Debug, Clone, Default)]
struct Figures {
    rps: Samples,
    p50: Samples,
    p99: Samples,
}

impl Figures {
    fn push(&mut self, m: Measured) {
        self.rps.push(m.rps);
        self.p50.push(m.p50_ms);
        self.p99.push(m.p99_ms);
    }
}

/// The load subjects, run alternately within each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    ExistsWrk,
    ExistsOwn,
    InfoWrk,
    MetadataOwn,
}

impl Subject {
    const ALL: [Self; 4] = [
        Self::ExistsWrk,
        Self::ExistsOwn,
        Self::InfoWrk,
        Self::MetadataOwn,
    ];

    fn route(self) -> &'static str {
        match self {
            Self::ExistsWrk | Self::ExistsOwn => "`GET /api/exists/{id}`",
            Self::InfoWrk => "`POST /api/info/{id}` (owner token)",
            Self::MetadataOwn => "`GET /api/metadata/{id}` (signed)",
        }
    }

    fn tool(self) -> String {
        match self {
            Self::ExistsWrk | Self::InfoWrk => format!("wrk -t{WRK_THREADS} -c{CONNECTIONS}"),
            Self::ExistsOwn => format!("own generator, {CONNECTIONS} connections, one file"),
            Self::MetadataOwn => {
                format!("own generator, {CONNECTIONS} connections, a file each, nonces chained")
            }
        }
    }
}

/// Runs scenario 5: 10 s per load run, `rounds` rounds, after a 2 s warm-up of each subject
/// (1 s, no warm-up with `smoke`); then sequential timed downloads (50, or 5).
pub fn scenario(report: &mut Report, tools: &Tools, rounds: usize, smoke: bool) -> Result<()> {
    let (secs, downloads) = if smoke { (1, 5) } else { (10, 50) };
    let server = Server::start(tools, &Backend::default())?;
    let port = server.port;
    let rt = tokio::runtime::Runtime::new().context("cannot start a tokio runtime")?;
    let shares = rt.block_on(prepare(port))?;
    let probe = shares.probe.link.id().to_owned();
    rt.block_on(check_info(port, &shares.probe))?;

    let mut script = tempfile::Builder::new()
        .prefix("sealdrop-bench-info")
        .suffix(".lua")
        .tempfile()
        .context("cannot create wrk's script file")?;
    let body = serde_json::to_string(&OwnerRequest {
        owner_token: shares.probe.owner_token.clone(),
    })?;
    write!(
        script,
        "wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    )?;
    script.flush()?;

    let exists_url = format!("{}/api/exists/{probe}", server.base);
    let info_url = format!("{}/api/info/{probe}", server.base);
    let run = |subject: Subject, secs: u64| -> Result<Measured> {
        let dur = Duration::from_secs(secs);
        let measured = match subject {
            Subject::ExistsWrk => wrk(tools, &exists_url, None, secs),
            Subject::InfoWrk => wrk(tools, &info_url, Some(script.path()), secs),
            Subject::ExistsOwn => rt.block_on(generate(port, Load::Exists(&shares.probe), dur)),
            Subject::MetadataOwn => {
                rt.block_on(generate(port, Load::Metadata(&shares.signed), dur))
            }
        };
        measured.with_context(|| format!("{} with {}", subject.route(), subject.tool()))
    };
    if !smoke {
        for subject in Subject::ALL {
            eprintln!("  warm-up: {}", subject.route());
            run(subject, 2)?;
        }
    }
    let mut figures = vec![Figures::default(); Subject::ALL.len()];
    for round in 0..rounds {
        eprintln!("  round {}/{rounds}", round + 1);
        for (i, subject) in Subject::ALL.iter().enumerate() {
            figures[i].push(run(*subject, secs)?);
        }
    }
    eprintln!("  {downloads} timed downloads");
    let (ttfb, whole) = rt.block_on(time_downloads(port, &shares.download, downloads))?;
    let rss = server.peak_rss_mib();
    drop(rt);
    drop(server);

    let mut s = Section::new(
        &format!("Small requests at {CONNECTIONS} connections, and time to first byte"),
        &format!(
            "One release `sealdrop-server` (local directory + SQLite, rate limits off) on \
             127.0.0.1; every load run holds {CONNECTIONS} keep-alive HTTP/1.1 connections \
             for {secs} s{} and the load generator shares the machine's {} cores with the \
             server. wrk runs with {WRK_THREADS} threads; its p50 and p99 are those of its \
             latency distribution. Owner info posts the owner token as JSON; the benchmark \
             checked that it answers 200 and wrk saw no non-2xx answer. wrk cannot sign, so \
             the signed metadata route runs on a small generator of this crate (tokio, hyper): \
             each connection owns its own share and signs the nonce of the previous answer, \
             and every answer had to be a 200; it also drives `/api/exists` beside wrk, to \
             show whether the generator is the bottleneck. Time to first byte: {downloads} \
             signed downloads of a {} MiB share one after the other on one connection, from \
             sending the request to the first body byte; every body was read to the end and \
             checked (a whole download took p50 {:.2} ms, p99 {:.2} ms). Server peak RSS \
             at the end: {rss:.1} MiB.",
            if smoke {
                ""
            } else {
                ", after one 2 s warm-up run of each subject,"
            },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            DOWNLOAD >> 20,
            whole.percentile(50.0),
            whole.percentile(99.0),
        ),
        &["route", "tool", "requests/s", "p50 ms", "p99 ms"],
    );
    for (i, subject) in Subject::ALL.iter().enumerate() {
        s.row(vec![
            subject.route().to_owned(),
            subject.tool(),
            figures[i].rps.show(0),
            figures[i].p50.show(2),
            figures[i].p99.show(2),
        ]);
    }
    s.row(vec![
        format!(
            "`GET /api/download/{{id}}` (signed, {} MiB): time to first byte",
            DOWNLOAD >> 20
        ),
        format!("own generator, {downloads} downloads in sequence, one connection"),
        "—".to_owned(),
        format!("{:.2}", ttfb.percentile(50.0)),
        format!("{:.2}", ttfb.percentile(99.0)),
    ]);
    report.sections.push(s);
    let exists = figures[0].rps.median();
    report.target(
        "/api/exists throughput",
        "≥ 10,000 requests/s",
        format!(
            "{exists:.0} requests/s (wrk, {CONNECTIONS} connections, median of {rounds} run(s))"
        ),
        exists >= EXISTS_GOAL,
    );
    Ok(())
}

/// Uploads the scenario's shares over `POST /api/upload`.
async fn prepare(port: u16) -> Result<Shares> {
    let probe = upload(port, TINY, 1).await?;
    let mut signed = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        signed.push(upload(port, TINY, 1).await?);
    }
    let download = upload(port, DOWNLOAD, DOWNLOAD_LIMIT).await?;
    Ok(Shares {
        probe,
        signed,
        download,
    })
}

/// Encrypts `len` pattern bytes under a fresh secret and uploads them with `dlimit`.
async fn upload(port: u16, len: usize, dlimit: u32) -> Result<Share> {
    let secret = Secret::generate()?;
    let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let mut encryptor = Encryptor::new(&secret)?;
    let mut cipher = Vec::with_capacity(len + 1024);
    encryptor.update(&plain, &mut cipher)?;
    encryptor.finish(&mut cipher)?;
    let cipher = Bytes::from(cipher);
    let metadata = Metadata::single("small.bin", len as u64, "application/octet-stream")
        .encrypt(&secret.metadata_key());
    let req = Request::post("/api/upload")
        .header(HOST, "127.0.0.1")
        .header(HEADER_FILE_METADATA, metadata)
        .header(
            AUTHORIZATION,
            auth::format_header(&secret.auth_key().to_base64url()),
        )
        .header(HEADER_DOWNLOAD_LIMIT, dlimit.to_string())
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, cipher.len())
        .body(Full::new(cipher.clone()))?;
    let mut conn = connect(port).await?;
    let (status, _, body) = send(&mut conn, req).await?;
    ensure!(
        status.is_success(),
        "POST /api/upload answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let answer: UploadResponse =
        serde_json::from_slice(&body).context("the upload's answer is not the expected JSON")?;
    let link = ShareLink::from_download_url(&answer.url, secret)?;
    Ok(Share {
        link,
        owner_token: answer.token().to_owned(),
        cipher,
    })
}

/// One owner info request: it must answer 200 with the share's figures, or wrk would
/// be measuring refusals.
async fn check_info(port: u16, share: &Share) -> Result<()> {
    let body = serde_json::to_vec(&OwnerRequest {
        owner_token: share.owner_token.clone(),
    })?;
    let req = Request::post(format!("/api/info/{}", share.link.id()))
        .header(HOST, "127.0.0.1")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::from(body)))?;
    let mut conn = connect(port).await?;
    let (status, _, body) = send(&mut conn, req).await?;
    ensure!(
        status == StatusCode::OK,
        "POST /api/info answered {status}, not 200: {}",
        String::from_utf8_lossy(&body)
    );
    let info: InfoResponse =
        serde_json::from_slice(&body).context("the owner info answer is not the expected JSON")?;
    ensure!(
        info.dlimit == 1 && info.dtotal == 0,
        "owner info answered dlimit {} and dtotal {}, not 1 and 0",
        info.dlimit,
        info.dtotal
    );
    Ok(())
}

/// wrk on `url` for `secs` seconds, with a Lua `script` if given. Any non-2xx answer or
/// socket error fails the run.
fn wrk(tools: &Tools, url: &str, script: Option<&Path>, secs: u64) -> Result<Measured> {
    let mut cmd = Command::new(&tools.wrk);
    cmd.arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{secs}s"))
        .args(["--timeout", "10s", "--latency"]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {}", tools.wrk.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        );
    }
    parse_wrk(&stdout)
}

/// Requests/s and the 50 % and 99 % latencies from wrk's `--latency` output.
fn parse_wrk(out: &str) -> Result<Measured> {
    for bad in ["Non-2xx or 3xx responses", "Socket errors"] {
        if let Some(line) = out.lines().find(|l| l.contains(bad)) {
            bail!("wrk saw errors ({}):\n{out}", line.trim());
        }
    }
    let rps: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{out}"))?;
    ensure!(rps > 0.0, "wrk completed no request:\n{out}");
    let distribution = out
        .split_once("Latency Distribution")
        .map(|(_, rest)| rest)
        .with_context(|| format!("no latency distribution in wrk's output:\n{out}"))?;
    let percentile = |p: &str| -> Result<f64> {
        distribution
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(|v| wrk_ms(v.trim()))
            .with_context(|| format!("no {p} latency in wrk's output:\n{out}"))
    };
    Ok(Measured {
        rps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
    })
}

/// A wrk duration (`850.00us`, `1.23ms`, `1.20s`, `2.00m`) in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e3)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|v| v * scale)
}

/// What the own generator requests.
#[derive(Clone, Copy)]
enum Load<'a> {
    /// `GET /api/exists` of one share on every connection.
    Exists(&'a Share),
    /// Signed `GET /api/metadata`, connection `i` on share `i`.
    Metadata(&'a [Share]),
}

/// What one connection of the generator did.
struct TaskRun {
    start: Instant,
    end: Instant,
    latencies_ms: Vec<f64>,
}

/// Runs `load` on [`CONNECTIONS`] connections for `dur`: every connection first fetches
/// its share's nonce with `/api/exists`, then all start at once and send requests back
/// to back until `dur` has passed. Requests/s counts the answers (all 200) over the time
/// from the first start to the last answer.
async fn generate(port: u16, load: Load<'_>, dur: Duration) -> Result<Measured> {
    let barrier = Arc::new(Barrier::new(CONNECTIONS));
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let (id, key) = match load {
            Load::Exists(share) => (share.link.id().to_owned(), None),
            Load::Metadata(shares) => {
                let share = shares.get(i).context("fewer shares than connections")?;
                (
                    share.link.id().to_owned(),
                    Some(share.link.secret().auth_key()),
                )
            }
        };
        tasks.push(tokio::spawn(connection(
            port,
            id,
            key,
            barrier.clone(),
            dur,
        )));
    }
    let mut runs = Vec::with_capacity(CONNECTIONS);
    for task in tasks {
        runs.push(task.await.context("a load connection's task panicked")??);
    }
    let start = runs
        .iter()
        .map(|r| r.start)
        .min()
        .context("no connection ran")?;
    let end = runs
        .iter()
        .map(|r| r.end)
        .max()
        .context("no connection ran")?;
    let latencies = Samples(runs.into_iter().flat_map(|r| r.latencies_ms).collect());
    ensure!(!latencies.is_empty(), "no request was answered");
    Ok(Measured {
        rps: latencies.len() as f64 / (end - start).as_secs_f64().max(1e-9),
        p50_ms: latencies.percentile(50.0),
        p99_ms: latencies.percentile(99.0),
    })
}

/// One connection of the generator: `/api/exists` of `id` back to back, or with `key`
/// the signed `/api/metadata` of `id`, each request signing the nonce of the answer
/// before it.
async fn connection(
    port: u16,
    id: String,
    key: Option<AuthKey>,
    barrier: Arc<Barrier>,
    dur: Duration,
) -> Result<TaskRun> {
    let exists = format!("/api/exists/{id}");
    let metadata = format!("/api/metadata/{id}");
    let setup = async {
        let mut conn = connect(port).await?;
        let (status, headers, _) = send(&mut conn, get(&exists, None)?).await?;
        ensure!(status == StatusCode::OK, "GET {exists} answered {status}");
        let nonce = nonce_of(&headers)?;
        Ok::<_, anyhow::Error>((conn, nonce))
    }
    .await;
    // Every connection reaches the barrier, even one whose setup failed, so that none
    // waits for ever; the failure is reported after it.
    barrier.wait().await;
    let (mut conn, mut nonce) = setup?;
    let start = Instant::now();
    let deadline = start + dur;
    let mut latencies_ms = Vec::with_capacity(1 << 14);
    while Instant::now() < deadline {
        let (path, req) = match &key {
            None => (&exists, get(&exists, None)?),
            Some(key) => (
                &metadata,
                get(&metadata, Some(auth::format_header(&key.sign(&nonce))))?,
            ),
        };
        let sent = Instant::now();
        let (status, headers, body) = send(&mut conn, req).await?;
        let ms = sent.elapsed().as_secs_f64() * 1e3;
        if status != StatusCode::OK {
            bail!(
                "GET {path} answered {status} during the load: {}",
                String::from_utf8_lossy(&body)
            );
        }
        if key.is_some() {
            nonce = nonce_of(&headers)?;
        }
        latencies_ms.push(ms);
    }
    Ok(TaskRun {
        start,
        end: Instant::now(),
        latencies_ms,
    })
}

/// `n` signed downloads of `share` one after the other on one connection: the times from
/// sending each request to its first body byte, and to its last, in milliseconds.
async fn time_downloads(port: u16, share: &Share, n: usize) -> Result<(Samples, Samples)> {
    let id = share.link.id();
    let key = share.link.secret().auth_key();
    let path = format!("/api/download/{id}");
    let mut conn = connect(port).await?;
    let (status, headers, _) = send(&mut conn, get(&format!("/api/exists/{id}"), None)?).await?;
    ensure!(
        status == StatusCode::OK,
        "GET /api/exists answered {status}"
    );
    let mut nonce = nonce_of(&headers)?;
    let (mut first, mut whole) = (Samples::default(), Samples::default());
    for i in 0..n {
        let req = get(&path, Some(auth::format_header(&key.sign(&nonce))))?;
        let sent = Instant::now();
        let resp = answer(&mut conn, req).await?;
        let status = resp.status();
        if status != StatusCode::OK {
            let body = read_body(resp.into_body()).await.unwrap_or_default();
            bail!(
                "download {} of {n} answered {status}: {}",
                i + 1,
                String::from_utf8_lossy(&body)
            );
        }
        nonce = nonce_of(resp.headers())?;
        let mut body = resp.into_body();
        let mut got = Vec::with_capacity(share.cipher.len());
        let mut first_byte = None;
        while let Some(frame) = tokio::time::timeout(ANSWER_TIMEOUT, body.frame())
            .await
            .context("a download stalled")?
        {
            if let Ok(data) = frame.context("a download broke off")?.into_data() {
                if first_byte.is_none() && !data.is_empty() {
                    first_byte = Some(sent.elapsed());
                }
                got.extend_from_slice(&data);
            }
        }
        let done = sent.elapsed();
        ensure!(
            got == share.cipher,
            "download {} of {n} differs from the uploaded ciphertext ({} of {} bytes)",
            i + 1,
            got.len(),
            share.cipher.len()
        );
        let first_byte = first_byte.context("a download had an empty body")?;
        first.push(first_byte.as_secs_f64() * 1e3);
        whole.push(done.as_secs_f64() * 1e3);
    }
    Ok((first, whole))
}

/// A keep-alive HTTP/1.1 connection to the server, its driver on the runtime.
async fn connect(port: u16) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the HTTP/1.1 handshake failed")?;
    tokio::spawn(async move {
        // A connection that breaks shows as an error of its next request.
        let _ = conn.await;
    });
    Ok(sender)
}

/// `GET path`, with `Authorization` if given.
fn get(path: &str, authorization: Option<String>) -> Result<Request<Full<Bytes>>> {
    let mut req = Request::get(path).header(HOST, "127.0.0.1");
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    Ok(req.body(Full::new(Bytes::new()))?)
}

/// Sends `req` once the connection is ready; its answer's head.
async fn answer(
    conn: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>> {
    let path = req.uri().path().to_owned();
    let exchange = async {
        conn.ready().await?;
        conn.send_request(req).await
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{path}: no answer within {ANSWER_TIMEOUT:?}"))?
        .with_context(|| format!("{path}: the request failed"))
}

/// Reads a whole body, within [`ANSWER_TIMEOUT`].
async fn read_body(body: Incoming) -> Result<Bytes> {
    Ok(tokio::time::timeout(ANSWER_TIMEOUT, body.collect())
        .await
        .context("an answer's body stalled")?
        .context("an answer's body broke off")?
        .to_bytes())
}

/// Sends `req` and reads the whole answer.
async fn send(
    conn: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let resp = answer(conn, req).await?;
    let (head, body) = resp.into_parts();
    Ok((head.status, head.headers, read_body(body).await?))
}

/// The raw nonce of an answer's `WWW-Authenticate: send-v1 <nonce>`.
fn nonce_of(headers: &HeaderMap) -> Result<Vec<u8>> {
    let value = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .context("the answer has no WWW-Authenticate nonce")?;
    let nonce = auth::parse_challenge(value)
        .with_context(|| format!("WWW-Authenticate is not a send-v1 challenge: {value:?}"))?;
    auth::b64u::decode_lenient(nonce).context("the nonce is not base64")
}

#[cfg(test)]
mod tests {
    use super::{parse_wrk, wrk_ms};

    const WRK: &str = "Running 1s test @ http://127.0.0.1:1/api/exists/00
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   80.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    3.50ms
     90%    4.50ms
     99%    1.20s
  20000 requests in 1.00s, 3.00MB read
Requests/sec:  19876.54
Transfer/sec:      3.00MB
";

    #[test]
    fn reads_wrk_output() {
        let m = parse_wrk(WRK).expect("parses");
        assert!((m.rps - 19876.54).abs() < 1e-6);
        assert!((m.p50_ms - 0.85).abs() < 1e-9);
        assert!((m.p99_ms - 1200.0).abs() < 1e-9);
        assert_eq!(wrk_ms("2.00m"), Some(120_000.0));
        assert_eq!(wrk_ms("12"), None);
        let bad = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 5\nRequests/sec",
        );
        assert!(parse_wrk(&bad).is_err());
    }
}
