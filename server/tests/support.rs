//! Test harness: a real server on 127.0.0.1:0 in-process, and a Send v3 client built
//! from `sealdrop-protocol` (WebSocket and HTTP uploads, signed downloads).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use sealdrop_protocol::api::{MetadataResponse, UploadResponse, WsStatus, WsUploadRequest};
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Decryptor, Encryptor, Metadata, Secret, auth};
use sealdrop_server::clock::{Clock, ManualClock, SystemClock};
use sealdrop_server::config::Limits;
use sealdrop_server::{AppState, Config};
use tokio_tungstenite::tungstenite::Message;

/// A server running in this process on a free loopback port.
pub struct TestServer {
    pub base: String,
    /// `http://ADDR` of the metrics listener, when the server has one.
    pub metrics: Option<String>,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_with(|_| {}, clock).await
    }

    /// A server configured by `configure` (with TLS, requests go over https).
    /// Rate limits and the upload quota start off (every test runs from 127.0.0.1, many
    /// race): tests of the limits turn them on.
    pub async fn start_with(configure: impl FnOnce(&mut Config), clock: Arc<dyn Clock>) -> Self {
        Self::start_inner(configure, clock, false).await
    }

    /// Like [`Self::start_with`], with a metrics listener on another free loopback port
    /// (its URL in `metrics`).
    pub async fn start_with_metrics(
        configure: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::start_inner(configure, clock, true).await
    }

    async fn start_inner(
        configure: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
        with_metrics: bool,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.base_url = format!("http://{addr}");
        config.listen = addr;
        config.limits = Limits::OFF;
        configure(&mut config);
        config.max_encrypted_size =
            sealdrop_protocol::ece::encrypted_size(config.max_file_size).unwrap();
        // The test's requests go to the socket, whatever public base URL it configured.
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let base = format!("{scheme}://{addr}");
        let metrics_listener = if with_metrics {
            Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        } else {
            None
        };
        let metrics = metrics_listener
            .as_ref()
            .map(|l| format!("http://{}", l.local_addr().unwrap()));
        config.metrics_listen = metrics_listener.as_ref().map(|l| l.local_addr().unwrap());
        let state = sealdrop_server::open_state(config, clock).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(sealdrop_server::serve_with_metrics(
            listener,
            metrics_listener,
            state.clone(),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            base,
            metrics,
            state,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Serves a state built by the test (S3, Redis, several instances), without rate limits.
    pub async fn serve_state(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = (*state.config).clone();
        config.base_url = format!("http://{addr}");
        config.listen = addr;
        config.limits = Limits::OFF;
        let state = AppState {
            config: Arc::new(config),
            ..state
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(sealdrop_server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            metrics: None,
            state,
            dir: tempfile::tempdir().unwrap(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Signals shutdown; the returned handle resolves when the server has stopped.
    pub fn begin_stop(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap()
    }

    /// Stops the server, waits for it, and hands over its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn blob_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("blobs")
    }

    /// Every file in the blob directory (committed or pending).
    pub fn blob_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.blob_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub async fn healthy(&self) {
        let r = reqwest::get(format!("{}/__heartbeat__", self.base))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// A server that takes uploads only with the upload token `token` (a credentials
    /// file of that one token, in the returned directory: keep it while the server runs).
    pub async fn start_with_upload_token(token: &str) -> (Self, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("{token}\n")).unwrap();
        let server = Self::start_with(
            |c| {
                c.upload_auth = sealdrop_server::config::UploadAuthMode::Token;
                c.upload_credentials_file = Some(tokens);
            },
            Arc::new(SystemClock),
        )
        .await;
        (server, dir)
    }

    /// Waits until the blob directory is empty: nothing of a refused upload, nor of the
    /// bytes read after its answer, is kept.
    pub async fn nothing_stored(&self) {
        let blobs = self.blob_dir();
        sealdrop_testkit::wait::until_async(
            "the blob directory to be empty",
            sealdrop_testkit::wait::EVENTUALLY,
            || async { std::fs::read_dir(&blobs).map_or(true, |mut d| d.next().is_none()) },
        )
        .await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Deterministic test content.
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131 + seed as usize) % 253) as u8)
        .collect()
}

pub fn encrypt(secret: &Secret, plain: &[u8]) -> Vec<u8> {
    let mut enc = Encryptor::new(secret).unwrap();
    let mut out = Vec::new();
    enc.update(plain, &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    out
}

pub fn decrypt(secret: &Secret, cipher: &[u8]) -> Option<Vec<u8>> {
    let mut dec = Decryptor::new(secret);
    let mut out = Vec::new();
    dec.update(cipher, &mut out).ok()?;
    dec.finish(&mut out).ok()?;
    Some(out)
}

/// An upload's result as a client sees it.
#[derive(Debug)]
pub struct Uploaded {
    pub link: ShareLink,
    pub owner: String,
    pub id: String,
    pub url: String,
}

/// Options of an upload.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub time_limit: Option<u64>,
    pub dlimit: Option<u32>,
    /// Bytes per binary frame (default: one record).
    pub frame: Option<usize>,
    /// Upload credentials: the `Authorization` value of the HTTP route and of the
    /// WebSocket upgrade (the share's key then travels in `X-Auth-Key`).
    pub auth: Option<String>,
    /// The `bearer` field of the WebSocket's first message.
    pub bearer: Option<String>,
}

pub fn ws_url(base: &str) -> String {
    format!("{}/api/ws", base.replacen("http", "ws", 1))
}

fn request(secret: &Secret, name: &str, len: usize, o: &UploadOptions) -> WsUploadRequest {
    WsUploadRequest {
        file_metadata: Metadata::single(name, len as u64, "application/octet-stream")
            .encrypt(&secret.metadata_key()),
        authorization: auth::format_header(&secret.auth_key().to_base64url()),
        bearer: o.bearer.clone(),
        time_limit: o.time_limit,
        dlimit: o.dlimit,
    }
}

/// A client's end of a WebSocket upload.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket upload of `len` plaintext bytes for `secret`: sends the first message
/// and returns the socket with the server's first answer (text).
pub async fn ws_begin(base: &str, secret: &Secret, len: usize, o: &UploadOptions) -> (Ws, String) {
    let ws = ws_connect(base, o).await.unwrap();
    ws_first(ws, secret, len, o).await
}

/// Opens `/api/ws` with `o.auth` as the upgrade's `Authorization`; `Err(status)` when the
/// server refuses the upgrade.
pub async fn ws_connect(base: &str, o: &UploadOptions) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = ws_url(base).into_client_request().unwrap();
    if let Some(auth) = &o.auth {
        request
            .headers_mut()
            .insert(AUTHORIZATION, auth.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// Sends the first message of an upload on `ws`; returns the socket and the answer.
pub async fn ws_first(mut ws: Ws, secret: &Secret, len: usize, o: &UploadOptions) -> (Ws, String) {
    let req = request(secret, "file.bin", len, o);
    ws.send(Message::text(serde_json::to_string(&req).unwrap()))
        .await
        .unwrap();
    let first = next_text(&mut ws).await;
    (ws, first)
}

/// Uploads over the WebSocket route; `Err(status)` if the server answered an error.
pub async fn upload_ws(base: &str, plain: &[u8], o: UploadOptions) -> Result<Uploaded, u16> {
    let secret = Secret::generate().unwrap();
    let ws = ws_connect(base, &o).await?;
    let (mut ws, first) = ws_first(ws, &secret, plain.len(), &o).await;
    let answer: UploadResponse = match serde_json::from_str(&first) {
        Ok(a) => a,
        Err(_) => {
            let status: WsStatus = serde_json::from_str(&first).unwrap();
            return Err(match status {
                WsStatus::Error { error, .. } => error,
                WsStatus::Ok { .. } => panic!("ok before any data"),
            });
        }
    };
    let cipher = encrypt(&secret, plain);
    for frame in cipher.chunks(o.frame.unwrap_or(65536)) {
        if ws.send(Message::binary(frame.to_vec())).await.is_err() {
            break;
        }
    }
    let _ = ws.send(Message::binary(vec![0u8])).await;
    let last = next_text(&mut ws).await;
    match serde_json::from_str::<WsStatus>(&last).unwrap() {
        WsStatus::Ok { ok: true } => Ok(Uploaded {
            link: ShareLink::from_download_url(&answer.url, secret).unwrap(),
            owner: answer.owner_token,
            id: answer.id,
            url: answer.url,
        }),
        WsStatus::Ok { .. } => panic!("ok: false"),
        WsStatus::Error { error, .. } => Err(error),
    }
}

pub async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Close(_))) | None => return String::new(),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("websocket error: {e}"),
        }
    }
}

/// Uploads over the plain HTTP route.
pub async fn upload_http(base: &str, plain: &[u8], o: UploadOptions) -> Result<Uploaded, u16> {
    let secret = Secret::generate().unwrap();
    let req = request(&secret, "file.bin", plain.len(), &o);
    let mut r = reqwest::Client::new()
        .post(format!("{base}/api/upload"))
        .header("x-file-metadata", req.file_metadata.clone());
    r = match &o.auth {
        Some(auth) => r
            .header(AUTHORIZATION, auth)
            .header("x-auth-key", req.authorization.clone()),
        None => r.header(AUTHORIZATION, req.authorization.clone()),
    };
    if let Some(t) = o.time_limit {
        r = r.header("x-expire-seconds", t.to_string());
    }
    if let Some(d) = o.dlimit {
        r = r.header("x-download-limit", d.to_string());
    }
    let resp = r.body(encrypt(&secret, plain)).send().await.unwrap();
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    assert!(resp.headers().get(WWW_AUTHENTICATE).is_some());
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        answer["owner"], answer["ownerToken"],
        "both generations of clients"
    );
    Ok(Uploaded {
        link: ShareLink::from_download_url(answer["url"].as_str().unwrap(), secret).unwrap(),
        owner: answer["ownerToken"].as_str().unwrap().to_owned(),
        id: answer["id"].as_str().unwrap().to_owned(),
        url: answer["url"].as_str().unwrap().to_owned(),
    })
}

/// The nonce in a `WWW-Authenticate: send-v1 <nonce>` header.
pub fn nonce_of(resp: &reqwest::Response) -> Option<String> {
    let v = resp.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
    auth::parse_challenge(v).map(str::to_owned)
}

/// Fetches the current nonce of a file (`GET /api/exists`).
pub async fn fetch_nonce(link: &ShareLink) -> Result<String, u16> {
    let resp = reqwest::get(link.api_url("exists")).await.unwrap();
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    Ok(nonce_of(&resp).unwrap())
}

/// A GET signed with `key` over `nonce`.
pub async fn signed_get(
    url: &str,
    key: &sealdrop_protocol::keys::AuthKey,
    nonce: &str,
) -> reqwest::Response {
    let raw = auth::b64u::decode_lenient(nonce).unwrap();
    reqwest::Client::new()
        .get(url)
        .header(AUTHORIZATION, auth::format_header(&key.sign(&raw)))
        .send()
        .await
        .unwrap()
}

/// The whole download flow: nonce, signed metadata, signed download, decryption.
/// `Err(status)` on the first failing step.
pub async fn download(link: &ShareLink) -> Result<(Metadata, Vec<u8>), u16> {
    download_with_key(link, &link.secret().auth_key()).await
}

pub async fn download_with_key(
    link: &ShareLink,
    key: &sealdrop_protocol::keys::AuthKey,
) -> Result<(Metadata, Vec<u8>), u16> {
    let nonce = fetch_nonce(link).await?;
    let resp = signed_get(&link.api_url("metadata"), key, &nonce).await;
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    let nonce = nonce_of(&resp).unwrap();
    let meta: MetadataResponse = resp.json().await.unwrap();
    let metadata = Metadata::decrypt(&link.secret().metadata_key(), &meta.metadata).unwrap();
    let resp = signed_get(&link.api_url("download"), key, &nonce).await;
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    let body = resp.bytes().await.map_err(|_| 0u16)?;
    let plain = decrypt(link.secret(), &body).ok_or(1u16)?;
    Ok((metadata, plain))
}

/// POSTs an owner request; returns status and JSON body (if any).
pub async fn owner_post(
    link: &ShareLink,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(link.api_url(op))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// One racer: retries on 401 (the nonce is shared and rotates), gives up on 404.
/// Returns whether it downloaded the whole file.
pub async fn racer(link: ShareLink, expected: std::sync::Arc<Vec<u8>>) -> bool {
    let key = link.secret().auth_key();
    for _ in 0..500 {
        let nonce = match fetch_nonce(&link).await {
            Ok(n) => n,
            Err(404) => return false,
            Err(s) => panic!("exists answered {s}"),
        };
        let resp = signed_get(&link.api_url("download"), &key, &nonce).await;
        match resp.status().as_u16() {
            401 => continue,
            404 => return false,
            200 => {
                let Ok(body) = resp.bytes().await else {
                    return false;
                };
                return decrypt(link.secret(), &body).is_some_and(|p| p == *expected);
            }
            s => panic!("download answered {s}"),
        }
    }
    panic!("no answer after 500 tries");
}

/// The real `sealdrop-server` binary with `args`, on a free port, its standard output
/// collected line by line.
pub struct Process {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl Process {
    /// Starts the server with `args` (at `RUST_LOG=debug`) and waits until it is ready.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sealdrop-server"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SEALDROP_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line.clone());
                    log.lock().unwrap().push(line);
                }
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let port = loop {
            let line = rx
                .recv_timeout(deadline - std::time::Instant::now())
                .expect("the server did not say it was ready");
            if line.contains("ready")
                && let Some(at) = line.find("127.0.0.1:")
            {
                let digits: String = line[at + 10..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                break digits.parse::<u16>().unwrap();
            }
        };
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            readers,
            dir,
        }
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the server and returns every line it wrote but the start-up ones (which name
    /// the listening address).
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every line it wrote, however long the readers take to get there: they end at the
        // end of the pipes, which the exit closed.
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let lines = self.log.lock().unwrap().clone();
        lines
            .into_iter()
            .filter(|l| !l.contains("sealdrop-server") || !l.contains("ready"))
            .collect()
    }
}
