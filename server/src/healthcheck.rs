//! `sealdrop-server healthcheck [URL]`: asks a running server whether it is healthy, for
//! container health checks in images without curl (the distroless image).
//!
//! It sends `GET /__heartbeat__` — which checks the blob and metadata stores — to the
//! server of the same configuration (the listen address, with a wildcard address replaced
//! by loopback; https with `--tls-cert`), or to `URL`, and exits 0 on a 2xx answer and 1
//! otherwise, with one sentence on standard error. Over https it trusts exactly the
//! certificate of `--tls-cert` (a health check connects to `127.0.0.1`, which a real
//! certificate does not name), and nothing else: there is no system trust store in the
//! image.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;

/// `sealdrop-server healthcheck …`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// What to ask [default: /__heartbeat__ on the listen address of the configuration,
    /// with 0.0.0.0 or :: replaced by loopback].
    #[arg(value_name = "URL")]
    pub url: Option<String>,

    /// How long the answer may take.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: crate::config::Seconds,
}

/// The URL the health check asks by default: `/__heartbeat__` on the listen address.
pub fn default_url(config: &Config) -> String {
    let ip = match config.listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!(
        "{scheme}://{}/__heartbeat__",
        SocketAddr::new(ip, config.listen.port())
    )
}

/// Runs the health check of `args` for `config`: the binary's entry point.
pub async fn main(config: Config, args: HealthcheckArgs) -> ExitCode {
    let url = args.url.unwrap_or_else(|| default_url(&config));
    let timeout = Duration::from_secs(args.timeout.0.max(1));
    let pinned = config.tls.as_ref().map(|tls| tls.cert.clone());
    let (code, sentence) = match check(&url, pinned.as_deref(), timeout).await {
        Ok(status) if (200..300).contains(&status) => return ExitCode::SUCCESS,
        Ok(status) => (
            1,
            format!("{url} answered {status}: the server is not healthy"),
        ),
        Err(Failure::Usage(e)) => (2, e),
        Err(Failure::Unreachable(e)) => (1, e),
    };
    #[allow(
        clippy::print_stderr,
        reason = "the one sentence a failed check prints"
    )]
    {
        eprintln!("sealdrop-server: {sentence}");
    }
    ExitCode::from(code)
}

/// Why a health check got no HTTP status.
#[derive(Debug)]
pub enum Failure {
    /// The URL or the certificate to trust is unusable (exit code 2).
    Usage(String),
    /// No answer: refused, timed out, not HTTP (exit code 1).
    Unreachable(String),
}

/// Sends `GET` to `url` and returns the answer's status code. Over https the server must
/// present the first certificate of the PEM file `pinned` (the server's `--tls-cert`).
pub async fn check(
    url: &str,
    pinned: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<u16, Failure> {
    let parsed =
        url::Url::parse(url).map_err(|e| Failure::Usage(format!("{url:?} is not a URL: {e}")))?;
    let https = match parsed.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(Failure::Usage(format!(
                "{url:?} is not an http(s) URL (scheme {other})"
            )));
        }
    };
    let host = parsed
        .host_str()
        .ok_or_else(|| Failure::Usage(format!("{url:?} has no host")))?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut target = parsed.path().to_owned();
    if let Some(query) = parsed.query() {
        target = format!("{target}?{query}");
    }
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let request = hyper::Request::get(target)
        .header(hyper::header::HOST, &authority)
        .header(hyper::header::USER_AGENT, "sealdrop-healthcheck")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| Failure::Usage(format!("{url:?} cannot be asked: {e}")))?;
    let connector = if https {
        let pinned = pinned.ok_or_else(|| {
            Failure::Usage(
                "an https health check trusts only the server's own certificate: set \
                 --tls-cert (as the server has it)"
                    .to_owned(),
            )
        })?;
        Some(pinned_connector(pinned)?)
    } else {
        None
    };
    let conversation = async {
        // IPv6 literals come bracketed from the URL.
        let connect_host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = tokio::net::TcpStream::connect((connect_host, port))
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        match connector {
            None => exchange(tcp, request).await,
            Some(connector) => {
                let name = ServerName::try_from(connect_host.to_owned())
                    .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
                exchange(tls, request).await
            }
        }
    };
    match tokio::time::timeout(timeout, conversation).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(Failure::Unreachable(e)),
        Err(_) => Err(Failure::Unreachable(format!(
            "{url} did not answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// Sends `request` over `stream` (HTTP/1.1, hyper's client) and returns the status code
/// of the answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    request: hyper::Request<http_body_util::Empty<hyper::body::Bytes>>,
) -> Result<u16, String> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot send the request: {e}"))?;
    // The connection runs beside the request; when it fails, so does the request.
    let connection = tokio::spawn(connection);
    let answer = sender.send_request(request).await;
    connection.abort();
    answer
        .map(|response| response.status().as_u16())
        .map_err(|e| describe(&e))
}

/// One sentence for a failed exchange.
fn describe(err: &hyper::Error) -> String {
    if err.is_parse() {
        "the answer is not HTTP".to_owned()
    } else if err.is_incomplete_message() || err.is_closed() {
        "the server closed the connection without answering".to_owned()
    } else {
        format!("cannot read the answer: {err}")
    }
}

/// A TLS connector that accepts exactly the first certificate of the PEM file `path`.
fn pinned_connector(path: &std::path::Path) -> Result<tokio_rustls::TlsConnector, Failure> {
    let leaf = CertificateDer::pem_file_iter(path)
        .ok()
        .and_then(|mut certs| certs.next())
        .and_then(Result::ok)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "cannot read a certificate from --tls-cert {}",
                path.display()
            ))
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Pinned {
        leaf,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Usage(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Trusts one certificate, whatever name it holds: the server's own.
#[derive(Debug)]
struct Pinned {
    leaf: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the one of --tls-cert".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn config(listen: &str) -> Config {
        Config::from_settings(Settings {
            listen: Some(listen.parse().unwrap()),
            ..Settings::default()
        })
        .unwrap()
    }

    #[test]
    fn the_default_url_asks_the_listen_address_on_loopback() {
        assert_eq!(
            default_url(&config("0.0.0.0:8080")),
            "http://127.0.0.1:8080/__heartbeat__"
        );
        assert_eq!(
            default_url(&config("[::]:9000")),
            "http://[::1]:9000/__heartbeat__"
        );
        assert_eq!(
            default_url(&config("10.1.2.3:80")),
            "http://10.1.2.3:80/__heartbeat__"
        );
    }

    #[tokio::test]
    async fn bad_urls_are_usage_errors() {
        for url in ["nope", "ftp://x/", "https://127.0.0.1:1/"] {
            let err = check(url, None, Duration::from_secs(1)).await.unwrap_err();
            assert!(matches!(err, Failure::Usage(_)), "{url}: {err:?}");
        }
    }
}
