//! The connection layer: the accept loop, connection caps, optional TLS, and hyper's
//! HTTP/1.1 and HTTP/2 servers with their timers, under the axum router.
//!
//! - **Caps.** At most `max_connections` connections at once, and `max_connections_per_client`
//!   from one client address (an IPv4 address, or the /64 of an IPv6 address: one host
//!   usually has a whole /64). The address is the socket peer's; behind a reverse proxy
//!   every connection comes from the proxy. A connection over a cap is never queued: on
//!   plain HTTP it is answered `503` with the JSON error body and closed, over TLS closed
//!   at once. A WebSocket upload keeps its connection's place until it ends.
//! - **Slow clients.** The TLS handshake, and each request's headers, must arrive within
//!   `header_read_timeout` (hyper's own timer, installed here, for HTTP/1.1; it starts when
//!   the server starts waiting for a request, so it also closes idle keep-alive
//!   connections). A connection on which no byte moves for `connection_idle_timeout` is
//!   shut down gracefully (an idle HTTP/2 connection closes; a running request may finish)
//!   and closed if nothing moves for another such period. Request bodies and downloads
//!   have their own pace rules (see the `http` module).
//! - **HTTP versions.** Plain connections speak HTTP/1.1 (with upgrades, for WebSocket
//!   uploads). TLS connections offer `h2` and `http/1.1` by ALPN and speak what the client
//!   chose; WebSocket uploads use HTTP/1.1 connections.
//! - **Shutdown.** When asked, the loop stops accepting, closes the listener and asks every
//!   connection to finish gracefully; the caller ([`crate::serve`]) decides how long to
//!   wait, and then cuts the rest.
//! - **Metrics.** On the main listener, open connections and refused ones (`busy`) are
//!   counted in [`crate::metrics`]; the metrics listener runs the same loop uncounted.
//!
//! Handlers see the peer address as `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Refused connections answered at once (each for at most [`REFUSAL_LINGER`]); beyond
/// that, refused connections are simply closed.
const MAX_REFUSALS: usize = 64;

/// How long a refused connection is read from after its 503, so that closing it does not
/// reset it before the client has read the answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// How often at most the "connection cap reached" warning is logged.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// TLS termination: the certificate chain and key files, loaded into a rustls
/// configuration (aws-lc-rs, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`).
#[derive(Clone)]
pub struct TlsConfig {
    /// The certificate chain file (PEM).
    pub cert: PathBuf,
    /// The private key file (PEM).
    pub key: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1).
    /// Fails with one sentence naming the file at fault.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                format!(
                    "cannot read a certificate from --tls-cert {}: {e}",
                    cert.display()
                )
            })?;
        if chain.is_empty() {
            return Err(format!(
                "--tls-cert {} holds no PEM certificate",
                cert.display()
            ));
        }
        let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                format!("--tls-key {} holds no PEM private key", key.display())
            }
            e => format!(
                "cannot read a private key from --tls-key {}: {e}",
                key.display()
            ),
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private_key))
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "--tls-key {} is not the private key of the certificate in --tls-cert {}",
                    key.display(),
                    cert.display()
                ),
                e => format!(
                    "--tls-cert {} and --tls-key {} cannot be used together: {e}",
                    cert.display(),
                    key.display()
                ),
            })?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            server: Arc::new(server),
        })
    }
}

/// The connections of a server that has stopped accepting.
#[derive(Debug)]
pub(crate) struct Connections {
    tracker: TaskTracker,
    cut: CancellationToken,
}

impl Connections {
    /// Resolves when every connection has ended (upgraded WebSocket connections end as
    /// HTTP connections when they upgrade; the caller tracks them).
    pub(crate) async fn finished(&self) {
        self.tracker.wait().await;
    }

    /// Closes every remaining connection, dropping what runs on them.
    pub(crate) async fn cut(&self) {
        self.cut.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.wait()).await;
    }
}

/// What every connection task shares.
struct Shared {
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// The graceful shutdown has begun.
    stopping: CancellationToken,
    /// The grace period is over: close everything.
    cut: CancellationToken,
}

/// Accepts connections on `listener` and serves `router` on them until `shutdown`
/// resolves; then closes the listener, asks every connection to finish, and returns them.
/// With `metrics`, open connections and refused ones (`busy`) are counted there.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &Config,
    shutdown: impl Future<Output = ()>,
    metrics: Option<Arc<Metrics>>,
) -> Connections {
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(128)
        // Room for the largest metadata header of an HTTP upload.
        .max_header_list_size(
            u32::try_from(config.max_metadata_size + 16 * 1024).unwrap_or(u32::MAX),
        );
    let shared = Arc::new(Shared {
        router,
        tls: config
            .tls
            .as_ref()
            .map(|tls| tokio_rustls::TlsAcceptor::from(tls.server.clone())),
        h1,
        h2,
        header_timeout: config.header_read_timeout,
        idle_timeout: config.connection_idle_timeout,
        stopping: CancellationToken::new(),
        cut: CancellationToken::new(),
    });
    let caps = Arc::new(Caps::new(
        config.max_connections,
        config.max_connections_per_client,
        metrics,
    ));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let busy = busy_response();
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: wait for some to close.
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let Some(permit) = caps.admit(peer.ip()) else {
            caps.refused();
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                let answer = shared.tls.is_none().then(|| busy.clone());
                tokio::spawn(async move {
                    refuse(tcp, answer).await;
                    drop(slot);
                });
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tracker.spawn(connection(tcp, peer, permit, shared.clone()));
    }
    drop(listener);
    shared.stopping.cancel();
    tracker.close();
    Connections {
        tracker,
        cut: shared.cut.clone(),
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one accepted connection to its end.
async fn connection(tcp: TcpStream, peer: SocketAddr, permit: Permit, shared: Arc<Shared>) {
    let activity = Arc::new(Activity::new());
    let io = Tracked {
        inner: tcp,
        activity: activity.clone(),
        _permit: permit,
    };
    let router = shared.router.clone();
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower::Service::call(&mut router.clone(), req)
    });
    let Some(acceptor) = &shared.tls else {
        let conn = shared
            .h1
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        drive(conn, |c| c.graceful_shutdown(), &activity, &shared).await;
        return;
    };
    let handshake = tokio::time::timeout(shared.header_timeout, acceptor.accept(io));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        () = shared.stopping.cancelled() => return,
    };
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let conn = shared.h2.serve_connection(TokioIo::new(tls), service);
        drive(conn, |c| c.graceful_shutdown(), &activity, &shared).await;
    } else {
        let conn = shared
            .h1
            .serve_connection(TokioIo::new(tls), service)
            .with_upgrades();
        drive(conn, |c| c.graceful_shutdown(), &activity, &shared).await;
    }
}

/// Runs a hyper connection until it ends, shutting it down gracefully when the server
/// stops or nothing moved on it for the idle timeout, and dropping it when nothing moved
/// for another idle period after that, or when the server cuts.
async fn drive<C>(conn: C, graceful: impl Fn(Pin<&mut C>), activity: &Activity, shared: &Shared)
where
    C: Future<Output = hyper::Result<()>>,
{
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    let mut quiet_since = activity.origin;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = shared.cut.cancelled() => return,
            () = shared.stopping.cancelled(), if !closing => {
                graceful(conn.as_mut());
                closing = true;
                quiet_since = Instant::now();
            }
            () = activity.quiet_for(shared.idle_timeout, quiet_since) => {
                if closing {
                    tracing::debug!("closing a stalled connection");
                    return;
                }
                graceful(conn.as_mut());
                closing = true;
                quiet_since = Instant::now();
            }
        }
    }
}

/// When bytes last moved on a connection.
struct Activity {
    origin: Instant,
    /// Milliseconds from `origin` to the last read or write.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Resolves once nothing has moved for `period`, counting from `since` at the earliest.
    async fn quiet_for(&self, period: Duration, since: Instant) {
        loop {
            let at = self.last().max(since) + period;
            if Instant::now() >= at {
                return;
            }
            tokio::time::sleep_until(at).await;
        }
    }
}

/// The TCP stream of a connection: notes when bytes move, and holds the connection's
/// place under the caps for as long as the stream lives (through TLS and upgrades).
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    _permit: Permit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The connection caps: counts of open connections, overall and per client address.
struct Caps {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
    last_warning: Mutex<Option<Instant>>,
    metrics: Option<Arc<Metrics>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One connection's place under the caps; given back when dropped.
struct Permit {
    caps: Arc<Caps>,
    client: IpAddr,
}

impl Caps {
    fn new(max_total: usize, max_per_client: usize, metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            max_total,
            max_per_client,
            open: Mutex::default(),
            last_warning: Mutex::default(),
            metrics,
        }
    }

    /// A place for a connection from `ip`, if both caps allow one more (0: no cap).
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Permit> {
        let client = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if self.max_total > 0 && open.total >= self.max_total {
            return None;
        }
        let mine = open.per_client.entry(client).or_insert(0);
        if self.max_per_client > 0 && *mine >= self.max_per_client {
            return None;
        }
        *mine += 1;
        open.total += 1;
        if let Some(metrics) = &self.metrics {
            metrics.connection_opened();
        }
        Some(Permit {
            caps: self.clone(),
            client,
        })
    }

    /// Counts a refused connection, and logs that connections are being refused, at most
    /// once a minute (no addresses).
    fn refused(&self) {
        if let Some(metrics) = &self.metrics {
            let busy = ApiError::Busy;
            metrics.rejected(busy.code(), busy.status());
        }
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                max_connections = self.max_total,
                max_connections_per_client = self.max_per_client,
                "a connection cap is reached: refusing connections"
            );
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .caps
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(metrics) = &self.caps.metrics {
            metrics.connection_closed();
        }
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

/// The address a connection counts against: IPv4 as is (also when mapped into IPv6),
/// IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

/// The whole HTTP/1.1 answer to a refused plain connection.
fn busy_response() -> Bytes {
    let error = ApiError::Busy;
    let body = serde_json::to_string(&error.body()).unwrap_or_default();
    Bytes::from(format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 10\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        error.status().as_u16(),
        error.status().canonical_reason().unwrap_or_default(),
        body.len(),
    ))
}

/// Answers a refused connection (`answer` on plain HTTP, nothing over TLS), then reads
/// what the client sends for a moment and closes.
async fn refuse(mut tcp: TcpStream, answer: Option<Bytes>) {
    let deadline = Instant::now() + REFUSAL_LINGER;
    if let Some(answer) = answer {
        let sent = tokio::time::timeout_at(deadline, tcp.write_all(&answer)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        let _ = tokio::time::timeout_at(deadline, tcp.shutdown()).await;
    }
    let mut sink = [0u8; 4096];
    let mut read = 0usize;
    while read < 64 * 1024 {
        match tokio::time::timeout_at(deadline, tcp.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_client_and_overall() {
        let caps = Arc::new(Caps::new(3, 2, None));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none(), "per-client cap");
        let _b1 = caps.admit(b).unwrap();
        assert!(caps.admit(b_same_64).is_none(), "overall cap");
        drop(a1);
        let _b2 = caps.admit(b_same_64).unwrap();
        assert!(caps.admit(b).is_none(), "one /64 is one client");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), a);
    }

    #[test]
    fn zero_means_no_cap() {
        let caps = Arc::new(Caps::new(0, 0, None));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let permits: Vec<_> = (0..1000).map(|_| caps.admit(ip).unwrap()).collect();
        assert_eq!(caps.open.lock().unwrap().total, 1000);
        drop(permits);
        let open = caps.open.lock().unwrap();
        assert_eq!(open.total, 0);
        assert!(open.per_client.is_empty());
    }

    #[test]
    fn the_busy_answer_is_http_with_the_json_error() {
        let text = String::from_utf8(busy_response().to_vec()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "busy");
    }
}
