//! Configuration, layered: built-in defaults < TOML file (`--config`) < environment
//! (`SEALDROP_*`) < command-line flags. Validated once at start; an invalid value stops the
//! server with one sentence naming the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// Command line of `sealdrop-server`.
#[derive(Debug, Parser)]
#[command(
    name = "sealdrop-server",
    version,
    about = "End-to-end-encrypted, expiring file sharing, compatible with Firefox Send v3 clients.",
    long_about = "End-to-end-encrypted, expiring file sharing, compatible with Firefox Send v3 \
                  clients such as ffsend.\n\nWith no options it listens on 127.0.0.1:8080 and \
                  keeps everything under ./data. Every option can also be set in a TOML file \
                  (--config, keys as the long option names) or with its environment variable; \
                  flags beat environment, environment beats the file."
)]
pub struct Args {
    /// TOML configuration file; its keys are the long option names (e.g. `max-file-size`).
    #[arg(long, env = "SEALDROP_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Every other setting.
    #[command(flatten)]
    pub settings: Settings,

    /// Without a command the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands of `sealdrop-server` besides running the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Operator commands on reported files. They open the stores of the configuration
    /// (the same options, environment and --config file as the server; put options before
    /// `admin`) and work while the server runs.
    Admin(crate::admin::AdminArgs),
    /// Ask the running server whether it is healthy (GET /__heartbeat__, which checks the
    /// stores): exit 0 if it is, 1 if not. For container health checks; it reads the same
    /// configuration to find the server (put options before `healthcheck`).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

/// Every setting, each optional so layers can be merged. Field docs are the `--help` text.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SEALDROP_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Address of a second listener that answers `GET /metrics` in the Prometheus text
    /// format, and nothing else; plain HTTP, so keep it on loopback or an internal network
    /// [default: none, no metrics].
    #[arg(long, env = "SEALDROP_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Public origin written into share links, e.g. `https://send.example.com`
    /// [default: `http://` + the listen address].
    #[arg(long, env = "SEALDROP_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    /// Directory for blobs (`DIR/blobs`) and metadata (`DIR/meta.sqlite`) [default: ./data].
    #[arg(long, env = "SEALDROP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where blobs live: `fs` (the data directory) or `s3://BUCKET[/PREFIX]` [default: fs].
    #[arg(long, env = "SEALDROP_STORAGE", value_name = "URI")]
    pub storage: Option<String>,

    /// Where metadata lives: `sqlite` (the data directory) or `redis://[:PASSWORD@]HOST[:PORT][/DB]`
    /// (several instances share one Redis) [default: sqlite].
    #[arg(long, env = "SEALDROP_META", value_name = "URI")]
    pub meta: Option<String>,

    /// S3 endpoint for MinIO, garage and other S3-compatible stores [default: AWS].
    #[arg(long, env = "SEALDROP_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 region [default: from the AWS environment, else us-east-1].
    #[arg(long, env = "SEALDROP_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Path-style S3 URLs (`endpoint/bucket/key`), which MinIO and garage need
    /// [default: true with --s3-endpoint, else false].
    #[arg(long, env = "SEALDROP_S3_PATH_STYLE", value_name = "BOOL")]
    pub s3_path_style: Option<bool>,

    /// Size of each S3 multipart part; at least 5MiB [default: 8MiB].
    #[arg(long, env = "SEALDROP_S3_PART_SIZE", value_name = "SIZE")]
    pub s3_part_size: Option<Size>,

    /// Parts of one upload sent to S3 at the same time; memory per upload is at most part
    /// size × this [default: 2].
    #[arg(long, env = "SEALDROP_S3_PARTS_IN_FLIGHT", value_name = "N")]
    pub s3_parts_in_flight: Option<usize>,

    /// Longest one attempt of an S3 request may take, a part upload's included (at 8MiB
    /// parts, 30s needs 280KB/s to the store), and longest a download waits for the next
    /// bytes of an object. A request makes at most 3 attempts, so a stalled store fails
    /// it within 3 × this + 3s (the backoff between attempts), answered 503; at least 1s
    /// [default: 30s].
    #[arg(long, env = "SEALDROP_S3_TIMEOUT", value_name = "DURATION")]
    pub s3_timeout: Option<Seconds>,

    /// A file holding the S3 access key id (a Docker or Kubernetes secret, a systemd
    /// credential); needs --s3-secret-access-key-file. Without both, credentials come
    /// from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, …) [default: none].
    #[arg(long, env = "SEALDROP_S3_ACCESS_KEY_ID_FILE", value_name = "FILE")]
    pub s3_access_key_id_file: Option<PathBuf>,

    /// A file holding the S3 secret access key; needs --s3-access-key-id-file
    /// [default: none].
    #[arg(long, env = "SEALDROP_S3_SECRET_ACCESS_KEY_FILE", value_name = "FILE")]
    pub s3_secret_access_key_file: Option<PathBuf>,

    /// A file holding the Redis password, for a --meta redis:// URL without one (a Docker
    /// or Kubernetes secret, a systemd credential) [default: none].
    #[arg(long, env = "SEALDROP_REDIS_PASSWORD_FILE", value_name = "FILE")]
    pub redis_password_file: Option<PathBuf>,

    /// Largest file (plaintext) accepted, in bytes or with a unit: 2.5GiB, 500MB
    /// [default: 2.5GiB].
    #[arg(long, env = "SEALDROP_MAX_FILE_SIZE", value_name = "SIZE")]
    pub max_file_size: Option<Size>,

    /// Expiry times offered to clients, comma-separated: 5m,1h,1d,7d
    /// [default: 5m,1h,1d,7d].
    #[arg(long, env = "SEALDROP_EXPIRY_CHOICES", value_name = "LIST")]
    pub expiry_choices: Option<List<Seconds>>,

    /// Expiry used when a client asks for none [default: 1d].
    #[arg(long, env = "SEALDROP_DEFAULT_EXPIRY", value_name = "DURATION")]
    pub default_expiry: Option<Seconds>,

    /// Longest expiry accepted [default: 7d].
    #[arg(long, env = "SEALDROP_MAX_EXPIRY", value_name = "DURATION")]
    pub max_expiry: Option<Seconds>,

    /// Download limits offered to clients, comma-separated [default: 1,2,3,4,5,20,50,100].
    #[arg(long, env = "SEALDROP_DOWNLOAD_CHOICES", value_name = "LIST")]
    pub download_choices: Option<List<u32>>,

    /// Download limit used when a client asks for none [default: 1].
    #[arg(long, env = "SEALDROP_DEFAULT_DOWNLOADS", value_name = "N")]
    pub default_downloads: Option<u32>,

    /// Largest download limit accepted [default: 100].
    #[arg(long, env = "SEALDROP_MAX_DOWNLOADS", value_name = "N")]
    pub max_downloads: Option<u32>,

    /// An upload (or any request body) that sends nothing for this long is cancelled; on
    /// the WebSocket route, the time allowed between two messages [default: 60s].
    #[arg(long, env = "SEALDROP_UPLOAD_IDLE_TIMEOUT", value_name = "DURATION")]
    pub upload_idle_timeout: Option<Seconds>,

    /// Slowest average upload rate accepted, per second, once --min-upload-rate-grace has
    /// passed; a slower upload (HTTP or WebSocket) is cancelled. 0 turns the check off
    /// [default: 16KiB].
    #[arg(long, env = "SEALDROP_MIN_UPLOAD_RATE", value_name = "SIZE")]
    pub min_upload_rate: Option<Size>,

    /// How long an upload may run before --min-upload-rate applies [default: 60s].
    #[arg(long, env = "SEALDROP_MIN_UPLOAD_RATE_GRACE", value_name = "DURATION")]
    pub min_upload_rate_grace: Option<Seconds>,

    /// A download whose client reads nothing for this long is ended, and its download slot
    /// given back [default: 60s].
    #[arg(long, env = "SEALDROP_DOWNLOAD_IDLE_TIMEOUT", value_name = "DURATION")]
    pub download_idle_timeout: Option<Seconds>,

    /// Time a client has to send a request's headers (and to finish the TLS handshake),
    /// counted from when the server starts waiting for them; so also how long an idle
    /// HTTP/1.1 keep-alive connection stays open [default: 15s].
    #[arg(long, env = "SEALDROP_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    pub header_read_timeout: Option<Seconds>,

    /// A connection on which no byte moves for this long is closed: at once when no
    /// request is running on it (idle HTTP/2 connections), else after a second such
    /// period [default: 60s].
    #[arg(
        long,
        env = "SEALDROP_CONNECTION_IDLE_TIMEOUT",
        value_name = "DURATION"
    )]
    pub connection_idle_timeout: Option<Seconds>,

    /// Most connections open at once (WebSocket uploads included); further ones are
    /// answered 503 and closed. 0: no cap [default: 1024].
    #[arg(long, env = "SEALDROP_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most connections open at once from one client address (an IPv4 address or an IPv6
    /// /64). Behind a reverse proxy every connection comes from the proxy: raise this or
    /// set 0 (no cap) [default: 64].
    #[arg(long, env = "SEALDROP_MAX_CONNECTIONS_PER_CLIENT", value_name = "N")]
    pub max_connections_per_client: Option<usize>,

    /// Largest encrypted file metadata (base64) accepted with an upload; it grows with the
    /// number of files of an archive and the length of their names [default: 64KiB].
    #[arg(long, env = "SEALDROP_MAX_METADATA_SIZE", value_name = "SIZE")]
    pub max_metadata_size: Option<Size>,

    /// Certificate chain (PEM) for serving HTTPS (HTTP/2 and HTTP/1.1) directly; needs
    /// --tls-key [default: plain HTTP].
    #[arg(long, env = "SEALDROP_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "SEALDROP_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Whether this instance runs the sweeper, which deletes expired and finished files
    /// and what failed uploads left. Reads never depend on it (every read checks expiry
    /// itself): it only reclaims space. With several instances on one store each may
    /// sweep, or set false on all but one to spare the stores the traffic [default: true].
    #[arg(long, env = "SEALDROP_SWEEPER", value_name = "BOOL")]
    pub sweeper: Option<bool>,

    /// How long a download's slot stays reserved without renewal: running downloads renew
    /// theirs every third of it, so this is how long a download cut by a crash (its
    /// server killed) keeps the slot before it is given back; at least 3s [default: 5m].
    #[arg(long, env = "SEALDROP_DOWNLOAD_LEASE", value_name = "DURATION")]
    pub download_lease: Option<Seconds>,

    /// How old an abandoned pending upload (a temporary file, an incomplete S3 multipart
    /// upload) or a blob no file refers to must be before the sweeper removes it; uploads
    /// in progress in this instance are never removed. Another instance's S3 upload
    /// counts as abandoned once no part of it has arrived for this long: keep it above the
    /// longest time one part (--s3-part-size) may take, to be safe above the longest
    /// upload; at least 1s [default: 1h].
    #[arg(long, env = "SEALDROP_ORPHAN_GRACE", value_name = "DURATION")]
    pub orphan_grace: Option<Seconds>,

    /// On SIGTERM or Ctrl-C, how long transfers may go on before they are cut [default: 30s].
    #[arg(long, env = "SEALDROP_SHUTDOWN_GRACE", value_name = "DURATION")]
    pub shutdown_grace: Option<Seconds>,

    /// Log format: `text` or `json` [default: text]. The level comes from RUST_LOG
    /// (default `info`).
    #[arg(long, env = "SEALDROP_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Serve the web client from this directory, read on every request, instead of the
    /// copy built into the binary (for developing the web client: edit and reload)
    /// [default: the built-in copy].
    #[arg(long, env = "SEALDROP_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,

    /// Where to report abuse: an email address or an http(s) URL, shown on the legal page
    /// (`/legal`) and linked from the web client's footer [default: none].
    #[arg(long, env = "SEALDROP_ABUSE_CONTACT", value_name = "EMAIL_OR_URL")]
    pub abuse_contact: Option<String>,

    /// Where to report a vulnerability: a `mailto:` or `https:` URI. When set, the server
    /// answers `GET /.well-known/security.txt` (RFC 9116) with it [default: none, no
    /// security.txt].
    #[arg(long, env = "SEALDROP_SECURITY_CONTACT", value_name = "URI")]
    pub security_contact: Option<String>,

    /// The disclosure policy to name in security.txt (its `Policy:` field): an `https:`
    /// URL [default: none].
    #[arg(long, env = "SEALDROP_SECURITY_POLICY", value_name = "URL")]
    pub security_policy: Option<String>,

    /// A text file (plain text or Markdown, at most 64 KiB of UTF-8) shown as written on
    /// the legal page (`/legal`); HTML in it is shown as text, never rendered
    /// [default: none].
    #[arg(long, env = "SEALDROP_LEGAL_NOTICE_FILE", value_name = "FILE")]
    pub legal_notice_file: Option<PathBuf>,

    /// Who may upload: `none` (anyone), `basic` (HTTP Basic users of
    /// --upload-users-file) or `token` (bearer tokens of --upload-tokens-file). Downloads
    /// stay anonymous. A public instance should use `token` or `basic` [default: none].
    #[arg(long, env = "SEALDROP_UPLOAD_AUTH", value_name = "MODE")]
    pub upload_auth: Option<UploadAuthMode>,

    /// The users of `--upload-auth basic`: one `USER:PASSWORD` or `USER:$argon2id$…`
    /// per line, `#` comments; re-read on SIGHUP [default: none].
    #[arg(long, env = "SEALDROP_UPLOAD_USERS_FILE", value_name = "FILE")]
    pub upload_users_file: Option<PathBuf>,

    /// The tokens of `--upload-auth token`: one `TOKEN [name=LABEL] [max-size=SIZE]
    /// [daily=SIZE]` per line, `#` comments; re-read on SIGHUP [default: none].
    #[arg(long, env = "SEALDROP_UPLOAD_TOKENS_FILE", value_name = "FILE")]
    pub upload_tokens_file: Option<PathBuf>,

    /// Reverse proxies allowed to name the client in a forwarding header: networks or
    /// addresses, comma-separated (`127.0.0.1/32,10.0.0.0/8,::1`). Requests from anywhere
    /// else are identified by their socket address, whatever their headers say
    /// [default: none].
    #[arg(long, env = "SEALDROP_TRUSTED_PROXIES", value_name = "CIDR,...")]
    pub trusted_proxies: Option<List<Network>>,

    /// The header the trusted proxies name the client in: `x-forwarded-for` or `forwarded`
    /// (RFC 7239). Only this one is read, so a client cannot slip in the other
    /// [default: x-forwarded-for].
    #[arg(long, env = "SEALDROP_TRUSTED_PROXY_HEADER", value_name = "HEADER")]
    pub trusted_proxy_header: Option<ProxyHeader>,

    /// Write the client's IP address into the request log lines [default: false: no log
    /// line carries an IP address].
    #[arg(
        long,
        env = "SEALDROP_LOG_CLIENT_IP",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub log_client_ip: Option<bool>,

    /// Uploads per client: a burst of N, then one more every INTERVAL; 0 turns the limit
    /// off. The default lets a person or a script send 60 files in a row, then 30 a
    /// minute; the bytes are bounded by --upload-quota [default: 60,2s].
    #[arg(long, env = "SEALDROP_UPLOAD_RATE", value_name = "N,INTERVAL")]
    pub upload_rate: Option<RateLimit>,

    /// Bytes one client may upload in 24 hours (counted as they arrive, also for uploads
    /// that fail); 0 turns the quota off [default: 10GiB].
    #[arg(long, env = "SEALDROP_UPLOAD_QUOTA", value_name = "SIZE")]
    pub upload_quota: Option<Size>,

    /// Download requests per client (download pages, exists, metadata, downloads): a burst
    /// of N, then one more every INTERVAL; 0 turns the limit off [default: 100,500ms].
    #[arg(long, env = "SEALDROP_DOWNLOAD_RATE", value_name = "N,INTERVAL")]
    pub download_rate: Option<RateLimit>,

    /// Wrong passwords per password-protected file, from all clients together: a burst of
    /// N, then one more every INTERVAL; 0 turns the limit off [default: 20,30s].
    #[arg(long, env = "SEALDROP_WRONG_PASSWORD_RATE", value_name = "N,INTERVAL")]
    pub wrong_password_rate: Option<RateLimit>,

    /// Owner requests per client (info, params, password, delete): a burst of N, then one
    /// more every INTERVAL; 0 turns the limit off [default: 60,1s].
    #[arg(long, env = "SEALDROP_OWNER_RATE", value_name = "N,INTERVAL")]
    pub owner_rate: Option<RateLimit>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the metrics listener, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Canonical origin of share links, no trailing slash.
    pub base_url: String,
    /// Root of the embedded storage.
    pub data_dir: PathBuf,
    /// Where blobs live.
    pub storage: StorageConfig,
    /// Where metadata lives.
    pub meta: MetaConfig,
    /// Largest plaintext in bytes.
    pub max_file_size: u64,
    /// Largest ciphertext in bytes: `encrypted_size(max_file_size)`.
    pub max_encrypted_size: u64,
    /// Expiry choices in seconds.
    pub expiry_choices: Vec<u64>,
    /// Default expiry in seconds.
    pub default_expiry: u64,
    /// Longest expiry in seconds.
    pub max_expiry: u64,
    /// Download-limit choices.
    pub download_choices: Vec<u32>,
    /// Default download limit.
    pub default_downloads: u32,
    /// Largest download limit.
    pub max_downloads: u32,
    /// Idle timeout of uploads and other request bodies; the longest wait for a message
    /// of a WebSocket upload.
    pub upload_idle_timeout: Duration,
    /// Slowest average upload rate in bytes per second once `min_upload_rate_grace` has
    /// passed; 0: no minimum.
    pub min_upload_rate: u64,
    /// How long an upload runs before `min_upload_rate` applies.
    pub min_upload_rate_grace: Duration,
    /// How long a download waits for its client to read before it ends.
    pub download_idle_timeout: Duration,
    /// Time allowed for a request's headers (and the TLS handshake).
    pub header_read_timeout: Duration,
    /// How long a connection may carry no byte before it is closed.
    pub connection_idle_timeout: Duration,
    /// Most connections at once; 0: no cap.
    pub max_connections: usize,
    /// Most connections at once per client address; 0: no cap.
    pub max_connections_per_client: usize,
    /// Largest encrypted metadata in bytes (its base64 text).
    pub max_metadata_size: usize,
    /// TLS termination, when configured.
    pub tls: Option<crate::conn::TlsConfig>,
    /// Grace period of a shutdown.
    pub shutdown_grace: Duration,
    /// Whether this instance runs the sweeper.
    pub sweeper: bool,
    /// How long a download reservation lasts without renewal.
    pub download_lease: Duration,
    /// How old an abandoned pending object or unreferenced blob must be before the
    /// sweeper removes it.
    pub orphan_grace: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Directory the web client is served from instead of the built-in copy (canonical
    /// when set by [`Config::from_settings`]).
    pub web_dir: Option<PathBuf>,
    /// Where to report abuse (a checked email address or http(s) URL).
    pub abuse_contact: Option<AbuseContact>,
    /// The operator's legal notice, read from `--legal-notice-file` at start.
    pub legal_notice: Option<String>,
    /// Where to report a vulnerability (a checked `mailto:` or `https:` URI): the
    /// `Contact:` of `/.well-known/security.txt`, which is served only when this is set.
    pub security_contact: Option<String>,
    /// The `Policy:` of security.txt (a checked `https:` URL).
    pub security_policy: Option<String>,
    /// Who may upload.
    pub upload_auth: UploadAuthMode,
    /// The credentials file of `upload_auth` (users for `basic`, tokens for `token`);
    /// set whenever `upload_auth` is not `none`. Its contents are loaded by
    /// [`crate::upload_auth::UploadAuth::load`], never kept here.
    pub upload_credentials_file: Option<PathBuf>,
    /// Networks of the reverse proxies whose forwarding header names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The forwarding header read from trusted proxies.
    pub trusted_proxy_header: ProxyHeader,
    /// Whether request log lines carry the client's IP address.
    pub log_client_ip: bool,
    /// The rate limits and the upload quota.
    pub limits: Limits,
}

/// The rate limits and the upload quota, each per server instance (kept in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upload requests per client.
    pub uploads: Option<Rate>,
    /// Bytes per client per 24 hours; 0 is no quota.
    pub upload_quota: u64,
    /// Download-page, exists, metadata and download requests per client.
    pub downloads: Option<Rate>,
    /// Wrong passwords per password-protected file.
    pub wrong_passwords: Option<Rate>,
    /// Owner requests per client.
    pub owner: Option<Rate>,
}

impl Limits {
    /// No limit at all (tests that are not about limits; private instances).
    pub const OFF: Self = Self {
        uploads: None,
        upload_quota: 0,
        downloads: None,
        wrong_passwords: None,
        owner: None,
    };
}

/// A rate: a burst of `burst` requests, then one more every `every` (a token bucket that
/// holds `burst` tokens and gains one every `every`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed at once.
    pub burst: u32,
    /// Time for one more request to be allowed.
    pub every: Duration,
}

/// A rate-limit setting: `N,INTERVAL` (`10,20s`, `100,500ms`), or `0`/`off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(pub Option<Rate>);

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "0" || s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        let bad =
            || format!("{s:?} is not a rate like 10,20s (a burst of 10, then one every 20 s) or 0");
        let (burst, every) = s.split_once(',').ok_or_else(bad)?;
        let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
        let every = every.trim();
        let every = match every.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(every).map_err(|_| bad())?,
        };
        if every.is_zero() || every > Duration::from_secs(86400) {
            return Err(format!(
                "{s:?}: the interval must be more than 0 and at most 1d"
            ));
        }
        if burst == 0 {
            return Ok(Self(None));
        }
        Ok(Self(Some(Rate { burst, every })))
    }
}

/// A network in CIDR notation, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub ipnet::IpNet);

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<std::net::IpAddr>()
            .map(|ip| Self(ipnet::IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("{s:?} is not a network like 10.0.0.0/8 or an IP address"))
    }
}

/// The forwarding header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, Traefik, HAProxy).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl FromStr for ProxyHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

/// Who may upload (`--upload-auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UploadAuthMode {
    /// Anyone (a private or test instance).
    #[default]
    None,
    /// HTTP Basic credentials of the users file.
    Basic,
    /// Bearer tokens of the tokens file.
    Token,
}

impl FromStr for UploadAuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true)
            .map_err(|_| format!("{s:?} is not none, basic or token"))
    }
}

/// Where to report abuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbuseContact {
    /// An email address (without `mailto:`).
    Email(String),
    /// An http(s) URL (a web form, a page).
    Url(String),
}

impl AbuseContact {
    /// Checks `text`: an email address (optionally with `mailto:`) or an http(s) URL,
    /// with nothing that could break out of an HTML attribute.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let plain = !text.is_empty()
            && text.len() <= 512
            && !text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"'<>`\\".contains(c));
        if !plain {
            return None;
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let rest = &text[text.find("://").map_or(0, |i| i + 3)..];
            return (!rest.is_empty() && !rest.starts_with('/'))
                .then(|| Self::Url(text.to_owned()));
        }
        let address = text
            .strip_prefix("mailto:")
            .or_else(|| text.strip_prefix("MAILTO:"))
            .unwrap_or(text);
        let (local, domain) = address.split_once('@')?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !address.chars().any(|c| "(),;:[]?&=/#%".contains(c));
        valid.then(|| Self::Email(address.to_owned()))
    }

    /// The text to show.
    pub fn text(&self) -> &str {
        match self {
            Self::Email(s) | Self::Url(s) => s,
        }
    }

    /// The link target: `mailto:` + the address, or the URL.
    pub fn href(&self) -> String {
        match self {
            Self::Email(s) => format!("mailto:{s}"),
            Self::Url(s) => s.clone(),
        }
    }
}

/// Checks a URI of security.txt (RFC 9116): an `https:` URL with a host or, when `mailto`
/// allows it, `mailto:` and an email address; nothing that would end its line (whitespace,
/// control characters). Returns it as it is served.
fn security_uri(text: &str, mailto: bool) -> Option<String> {
    if text.len() > 512
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    let url = url::Url::parse(text).ok()?;
    // The parser forgives `https:///host` and `https:host`: the text itself must say
    // `https://` and a host.
    let authority = text
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &text[8..]);
    let valid = match url.scheme() {
        "https" => {
            authority.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
                && url.host_str().is_some_and(|h| !h.is_empty())
        }
        "mailto" if mailto => matches!(
            AbuseContact::parse(url.path()),
            Some(AbuseContact::Email(_))
        ),
        _ => false,
    };
    valid.then(|| url.as_str().to_owned())
}

/// Largest `--legal-notice-file`.
const MAX_LEGAL_NOTICE: u64 = 64 * 1024;

/// The blob store to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// Files under `<data-dir>/blobs`.
    Fs,
    /// An S3 bucket.
    S3(S3Config),
}

/// Settings of the S3 blob store. Credentials come from the standard AWS environment and
/// profile chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (empty, or ending in `/`).
    pub prefix: String,
    /// Custom endpoint (MinIO, garage, …).
    pub endpoint: Option<String>,
    /// Region, if set.
    pub region: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Multipart part size in bytes.
    pub part_size: usize,
    /// Parts of one upload in flight at once.
    pub parts_in_flight: usize,
    /// Longest one request attempt, or a wait for the next bytes of a download, may take.
    pub timeout: Duration,
    /// Credentials read from `--s3-access-key-id-file` and `--s3-secret-access-key-file`;
    /// `None`: the standard AWS chain.
    pub credentials: Option<S3Credentials>,
}

/// S3 credentials read from files. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The metadata store to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaConfig {
    /// `<data-dir>/meta.sqlite`.
    Sqlite,
    /// A Redis server (the URL may hold a password: never log it).
    Redis(String),
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

/// An invalid configuration, as one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl Config {
    /// Reads the TOML file named by `args` (if any), merges the layers and validates.
    pub fn load(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(format!(
                        "cannot read the config file {}: {e}",
                        path.display()
                    ))
                })?;
                toml::from_str::<Settings>(&text).map_err(|e| {
                    invalid(format!(
                        "the config file {} is invalid: {}",
                        path.display(),
                        e.message()
                    ))
                })?
            }
            None => Settings::default(),
        };
        Self::from_settings(args.settings.or(file))
    }

    /// Applies defaults to `s` and validates the result.
    pub fn from_settings(s: Settings) -> Result<Self, ConfigError> {
        let listen = s
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        if let Some(metrics) = s.metrics_listen
            && metrics.port() != 0
            && metrics == listen
        {
            return Err(invalid(format!(
                "--metrics-listen {metrics} is also --listen: give the metrics an address of their own"
            )));
        }
        let tls = match (&s.tls_cert, &s.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                Some(crate::conn::TlsConfig::from_pem_files(cert, key).map_err(invalid)?)
            }
            _ => {
                return Err(invalid(
                    "--tls-cert and --tls-key go together: set both or neither",
                ));
            }
        };
        let base_url = match &s.base_url {
            Some(url) => sealdrop_protocol::link::canonical_base(url).map_err(|_| {
                invalid(format!(
                    "--base-url {url:?} is not an http(s) origin like https://send.example.com"
                ))
            })?,
            None if tls.is_some() => format!("https://{listen}"),
            None => format!("http://{listen}"),
        };
        let max_file_size = s.max_file_size.map_or(2_684_354_560, |v| v.0);
        if max_file_size == 0 {
            return Err(invalid("--max-file-size must be more than 0"));
        }
        let max_encrypted_size = sealdrop_protocol::ece::encrypted_size(max_file_size)
            .ok_or_else(|| invalid("--max-file-size is too large"))?;
        let max_expiry = s.max_expiry.map_or(7 * 86400, |v| v.0);
        let default_expiry = s.default_expiry.map_or(86400.min(max_expiry), |v| v.0);
        let expiry_choices: Vec<u64> = s.expiry_choices.map_or_else(
            || {
                [300, 3600, 86400, 7 * 86400]
                    .into_iter()
                    .filter(|c| *c <= max_expiry)
                    .collect()
            },
            |l| l.0.into_iter().map(|v| v.0).collect(),
        );
        let max_downloads = s.max_downloads.unwrap_or(100);
        let default_downloads = s.default_downloads.unwrap_or(1);
        let download_choices: Vec<u32> = s.download_choices.map_or_else(
            || {
                [1, 2, 3, 4, 5, 20, 50, 100]
                    .into_iter()
                    .filter(|c| *c <= max_downloads)
                    .collect()
            },
            |l| l.0,
        );
        if max_expiry == 0 {
            return Err(invalid("--max-expiry must be more than 0 seconds"));
        }
        if default_expiry == 0 || default_expiry > max_expiry {
            return Err(invalid(format!(
                "--default-expiry must be between 1 second and --max-expiry ({max_expiry} s)"
            )));
        }
        if let Some(bad) = expiry_choices.iter().find(|c| **c == 0 || **c > max_expiry) {
            return Err(invalid(format!(
                "--expiry-choices has {bad} s, outside 1 s to --max-expiry ({max_expiry} s)"
            )));
        }
        if max_downloads == 0 {
            return Err(invalid("--max-downloads must be at least 1"));
        }
        if default_downloads == 0 || default_downloads > max_downloads {
            return Err(invalid(format!(
                "--default-downloads must be between 1 and --max-downloads ({max_downloads})"
            )));
        }
        if let Some(bad) = download_choices
            .iter()
            .find(|c| **c == 0 || **c > max_downloads)
        {
            return Err(invalid(format!(
                "--download-choices has {bad}, outside 1 to --max-downloads ({max_downloads})"
            )));
        }
        let storage = match s.storage.as_deref().map(str::trim) {
            None | Some("" | "fs") => StorageConfig::Fs,
            Some(uri) => {
                let rest = uri.strip_prefix("s3://").ok_or_else(|| {
                    invalid(format!(
                        "--storage {uri:?} is neither fs nor s3://BUCKET[/PREFIX]"
                    ))
                })?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(invalid("--storage s3:// needs a bucket name"));
                }
                let prefix = prefix.trim_matches('/');
                let part_size = s.s3_part_size.map_or(8 << 20, |v| v.0);
                if !(5 << 20..=5 << 30).contains(&part_size) {
                    return Err(invalid("--s3-part-size must be between 5MiB and 5GiB"));
                }
                let parts_in_flight = s.s3_parts_in_flight.unwrap_or(2);
                if !(1..=64).contains(&parts_in_flight) {
                    return Err(invalid("--s3-parts-in-flight must be between 1 and 64"));
                }
                StorageConfig::S3(S3Config {
                    bucket: bucket.to_owned(),
                    prefix: if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    },
                    path_style: s.s3_path_style.unwrap_or(s.s3_endpoint.is_some()),
                    endpoint: s.s3_endpoint.clone(),
                    region: s.s3_region.clone(),
                    part_size: usize::try_from(part_size).unwrap_or(usize::MAX),
                    parts_in_flight,
                    timeout: Duration::from_secs(match s.s3_timeout.map(|v| v.0) {
                        Some(0) => return Err(invalid("--s3-timeout must be at least 1 second")),
                        Some(secs) => secs,
                        None => 30,
                    }),
                    credentials: s3_credentials(
                        s.s3_access_key_id_file.as_deref(),
                        s.s3_secret_access_key_file.as_deref(),
                    )?,
                })
            }
        };
        let meta = match s.meta.as_deref().map(str::trim) {
            None | Some("" | "sqlite") => MetaConfig::Sqlite,
            Some(uri) if uri.starts_with("redis://") || uri.starts_with("rediss://") => {
                MetaConfig::Redis(with_redis_password(uri, s.redis_password_file.as_deref())?)
            }
            Some(_) => {
                return Err(invalid(
                    "--meta must be sqlite or a redis://HOST[:PORT][/DB] URL",
                ));
            }
        };
        let upload_idle_timeout = Duration::from_secs(s.upload_idle_timeout.map_or(60, |v| v.0));
        if upload_idle_timeout.is_zero() {
            return Err(invalid("--upload-idle-timeout must be more than 0 seconds"));
        }
        let positive = |value: Option<Seconds>, default: u64, flag: &str| {
            let secs = value.map_or(default, |v| v.0);
            if secs == 0 {
                return Err(invalid(format!("{flag} must be more than 0 seconds")));
            }
            Ok(Duration::from_secs(secs))
        };
        let download_idle_timeout =
            positive(s.download_idle_timeout, 60, "--download-idle-timeout")?;
        let download_lease = Duration::from_secs(s.download_lease.map_or(300, |v| v.0));
        if download_lease < Duration::from_secs(3) {
            return Err(invalid("--download-lease must be at least 3 seconds"));
        }
        let orphan_grace = Duration::from_secs(s.orphan_grace.map_or(3600, |v| v.0));
        if orphan_grace < Duration::from_secs(1) {
            return Err(invalid("--orphan-grace must be at least 1 second"));
        }
        let header_read_timeout = positive(s.header_read_timeout, 15, "--header-read-timeout")?;
        let connection_idle_timeout =
            positive(s.connection_idle_timeout, 60, "--connection-idle-timeout")?;
        let max_metadata_size = s.max_metadata_size.map_or(64 * 1024, |v| v.0);
        if !(1024..=1 << 20).contains(&max_metadata_size) {
            return Err(invalid("--max-metadata-size must be between 1KiB and 1MiB"));
        }
        let web_dir = match s.web_dir {
            None => None,
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => {
                let canonical = std::fs::canonicalize(&dir).map_err(|e| {
                    invalid(format!("--web-dir {} cannot be used: {e}", dir.display()))
                })?;
                if !canonical.is_dir() {
                    return Err(invalid(format!(
                        "--web-dir {} is not a directory",
                        dir.display()
                    )));
                }
                Some(canonical)
            }
        };
        let abuse_contact = match s.abuse_contact.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(AbuseContact::parse(text).ok_or_else(|| {
                invalid(format!(
                    "--abuse-contact {text:?} is neither an email address nor an http(s) URL"
                ))
            })?),
        };
        let security_uri =
            |value: Option<&str>, flag: &str, mailto: bool| match value.map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => security_uri(text, mailto).map(Some).ok_or_else(|| {
                    let wanted = if mailto {
                        "a mailto: or https: URI like mailto:security@example.com"
                    } else {
                        "an https: URL like https://example.com/security-policy"
                    };
                    invalid(format!("{flag} {text:?} is not {wanted}"))
                }),
            };
        let security_contact =
            security_uri(s.security_contact.as_deref(), "--security-contact", true)?;
        let security_policy =
            security_uri(s.security_policy.as_deref(), "--security-policy", false)?;
        let legal_notice = match s.legal_notice_file {
            None => None,
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(read_legal_notice(&path)?),
        };
        let upload_auth = s.upload_auth.unwrap_or_default();
        let upload_credentials_file = match upload_auth {
            UploadAuthMode::None => None,
            UploadAuthMode::Basic => Some(
                s.upload_users_file
                    .filter(|f| !f.as_os_str().is_empty())
                    .ok_or_else(|| invalid("--upload-auth basic needs --upload-users-file"))?,
            ),
            UploadAuthMode::Token => Some(
                s.upload_tokens_file
                    .filter(|f| !f.as_os_str().is_empty())
                    .ok_or_else(|| invalid("--upload-auth token needs --upload-tokens-file"))?,
            ),
        };
        if let Some(file) = &upload_credentials_file {
            crate::upload_auth::UploadAuth::check_file(upload_auth, file).map_err(invalid)?;
        }
        let rate = |setting: Option<RateLimit>, burst: u32, every: Duration| {
            setting.map_or(Some(Rate { burst, every }), |r| r.0)
        };
        let limits = Limits {
            // A batch of 60 files, then one every 2 s: a flood of small uploads from one
            // address gets at most 1,800 an hour, while --upload-quota bounds its bytes.
            uploads: rate(s.upload_rate, 60, Duration::from_secs(2)),
            upload_quota: s.upload_quota.map_or(10 << 30, |v| v.0),
            downloads: rate(s.download_rate, 100, Duration::from_millis(500)),
            wrong_passwords: rate(s.wrong_password_rate, 20, Duration::from_secs(30)),
            owner: rate(s.owner_rate, 60, Duration::from_secs(1)),
        };
        Ok(Self {
            trusted_proxies: s
                .trusted_proxies
                .map(|l| l.0.into_iter().map(|n| n.0).collect())
                .unwrap_or_default(),
            trusted_proxy_header: s.trusted_proxy_header.unwrap_or_default(),
            log_client_ip: s.log_client_ip.unwrap_or(false),
            limits,
            listen,
            metrics_listen: s.metrics_listen,
            base_url,
            data_dir: s.data_dir.unwrap_or_else(|| PathBuf::from("data")),
            storage,
            meta,
            max_file_size,
            max_encrypted_size,
            expiry_choices,
            default_expiry,
            max_expiry,
            download_choices,
            default_downloads,
            max_downloads,
            upload_idle_timeout,
            min_upload_rate: s.min_upload_rate.map_or(16 * 1024, |v| v.0),
            min_upload_rate_grace: Duration::from_secs(s.min_upload_rate_grace.map_or(60, |v| v.0)),
            download_idle_timeout,
            header_read_timeout,
            connection_idle_timeout,
            max_connections: s.max_connections.unwrap_or(1024),
            max_connections_per_client: s.max_connections_per_client.unwrap_or(64),
            max_metadata_size: usize::try_from(max_metadata_size).unwrap_or(usize::MAX),
            tls,
            shutdown_grace: Duration::from_secs(s.shutdown_grace.map_or(30, |v| v.0)),
            sweeper: s.sweeper.unwrap_or(true),
            download_lease,
            orphan_grace,
            log_format: s.log_format.unwrap_or_default(),
            web_dir,
            abuse_contact,
            legal_notice,
            security_contact,
            security_policy,
            upload_auth,
            upload_credentials_file,
        })
    }

    /// The defaults with everything stored under `data_dir` (tests and examples).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let settings = Settings {
            data_dir: Some(data_dir.into()),
            ..Settings::default()
        };
        match Self::from_settings(settings) {
            Ok(config) => config,
            Err(e) => unreachable!("the defaults are valid: {e}"),
        }
    }
}

impl Settings {
    /// Each setting of `self`, or else of `other`.
    fn or(self, other: Settings) -> Settings {
        Settings {
            listen: self.listen.or(other.listen),
            metrics_listen: self.metrics_listen.or(other.metrics_listen),
            base_url: self.base_url.or(other.base_url),
            data_dir: self.data_dir.or(other.data_dir),
            storage: self.storage.or(other.storage),
            meta: self.meta.or(other.meta),
            s3_endpoint: self.s3_endpoint.or(other.s3_endpoint),
            s3_region: self.s3_region.or(other.s3_region),
            s3_path_style: self.s3_path_style.or(other.s3_path_style),
            s3_part_size: self.s3_part_size.or(other.s3_part_size),
            s3_parts_in_flight: self.s3_parts_in_flight.or(other.s3_parts_in_flight),
            s3_access_key_id_file: self.s3_access_key_id_file.or(other.s3_access_key_id_file),
            s3_secret_access_key_file: self
                .s3_secret_access_key_file
                .or(other.s3_secret_access_key_file),
            redis_password_file: self.redis_password_file.or(other.redis_password_file),
            max_file_size: self.max_file_size.or(other.max_file_size),
            expiry_choices: self.expiry_choices.or(other.expiry_choices),
            default_expiry: self.default_expiry.or(other.default_expiry),
            max_expiry: self.max_expiry.or(other.max_expiry),
            download_choices: self.download_choices.or(other.download_choices),
            default_downloads: self.default_downloads.or(other.default_downloads),
            max_downloads: self.max_downloads.or(other.max_downloads),
            upload_idle_timeout: self.upload_idle_timeout.or(other.upload_idle_timeout),
            min_upload_rate: self.min_upload_rate.or(other.min_upload_rate),
            min_upload_rate_grace: self.min_upload_rate_grace.or(other.min_upload_rate_grace),
            download_idle_timeout: self.download_idle_timeout.or(other.download_idle_timeout),
            header_read_timeout: self.header_read_timeout.or(other.header_read_timeout),
            connection_idle_timeout: self
                .connection_idle_timeout
                .or(other.connection_idle_timeout),
            max_connections: self.max_connections.or(other.max_connections),
            max_connections_per_client: self
                .max_connections_per_client
                .or(other.max_connections_per_client),
            max_metadata_size: self.max_metadata_size.or(other.max_metadata_size),
            s3_timeout: self.s3_timeout.or(other.s3_timeout),
            sweeper: self.sweeper.or(other.sweeper),
            download_lease: self.download_lease.or(other.download_lease),
            orphan_grace: self.orphan_grace.or(other.orphan_grace),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            shutdown_grace: self.shutdown_grace.or(other.shutdown_grace),
            log_format: self.log_format.or(other.log_format),
            web_dir: self.web_dir.or(other.web_dir),
            abuse_contact: self.abuse_contact.or(other.abuse_contact),
            legal_notice_file: self.legal_notice_file.or(other.legal_notice_file),
            security_contact: self.security_contact.or(other.security_contact),
            security_policy: self.security_policy.or(other.security_policy),
            upload_auth: self.upload_auth.or(other.upload_auth),
            upload_users_file: self.upload_users_file.or(other.upload_users_file),
            upload_tokens_file: self.upload_tokens_file.or(other.upload_tokens_file),
            trusted_proxies: self.trusted_proxies.or(other.trusted_proxies),
            trusted_proxy_header: self.trusted_proxy_header.or(other.trusted_proxy_header),
            log_client_ip: self.log_client_ip.or(other.log_client_ip),
            upload_rate: self.upload_rate.or(other.upload_rate),
            upload_quota: self.upload_quota.or(other.upload_quota),
            download_rate: self.download_rate.or(other.download_rate),
            wrong_password_rate: self.wrong_password_rate.or(other.wrong_password_rate),
            owner_rate: self.owner_rate.or(other.owner_rate),
        }
    }
}

/// Largest secret file (`--s3-*-file`, `--redis-password-file`).
const MAX_SECRET_FILE: u64 = 4096;

/// Reads a secret from `path` (the option `flag`): UTF-8 text of at most 4 KiB, without
/// surrounding whitespace (the newline editors and `echo` add), not empty. Errors name the
/// file, never its contents.
fn read_secret_file(flag: &str, path: &std::path::Path) -> Result<String, ConfigError> {
    let cannot = |e: &dyn std::fmt::Display| {
        invalid(format!("{flag} {} cannot be read: {e}", path.display()))
    };
    let len = std::fs::metadata(path).map_err(|e| cannot(&e))?.len();
    if len > MAX_SECRET_FILE {
        return Err(invalid(format!(
            "{flag} {} is larger than 4 KiB: it should hold the secret alone",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| cannot(&e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid(format!("{flag} {} is not UTF-8 text", path.display())))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(invalid(format!("{flag} {} is empty", path.display())));
    }
    if secret.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{flag} {} holds more than one line: it should hold the secret alone",
            path.display()
        )));
    }
    Ok(secret.to_owned())
}

/// The S3 credentials of `--s3-access-key-id-file` and `--s3-secret-access-key-file`,
/// which go together.
fn s3_credentials(
    id_file: Option<&std::path::Path>,
    secret_file: Option<&std::path::Path>,
) -> Result<Option<S3Credentials>, ConfigError> {
    fn present(p: Option<&std::path::Path>) -> Option<&std::path::Path> {
        p.filter(|p| !p.as_os_str().is_empty())
    }
    match (present(id_file), present(secret_file)) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some(S3Credentials {
            access_key_id: read_secret_file("--s3-access-key-id-file", id)?,
            secret_access_key: read_secret_file("--s3-secret-access-key-file", secret)?,
        })),
        _ => Err(invalid(
            "--s3-access-key-id-file and --s3-secret-access-key-file go together: set both \
             or neither (then the AWS environment's credentials are used)",
        )),
    }
}

/// `uri` with the password of `--redis-password-file` in it, if given.
fn with_redis_password(uri: &str, file: Option<&std::path::Path>) -> Result<String, ConfigError> {
    let Some(file) = file.filter(|f| !f.as_os_str().is_empty()) else {
        return Ok(uri.to_owned());
    };
    let password = read_secret_file("--redis-password-file", file)?;
    // Messages never quote the URL: it may hold a password.
    let mut url = url::Url::parse(uri).map_err(|_| {
        invalid("--meta is not a valid redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] URL")
    })?;
    if url.password().is_some() {
        return Err(invalid(
            "the Redis password is set twice: in the --meta URL and in --redis-password-file; \
             keep one",
        ));
    }
    url.set_password(Some(&password)).map_err(|()| {
        invalid("--meta needs a host to take the password of --redis-password-file")
    })?;
    Ok(url.to_string())
}

/// Reads `--legal-notice-file`: UTF-8 text of at most [`MAX_LEGAL_NOTICE`] bytes.
fn read_legal_notice(path: &std::path::Path) -> Result<String, ConfigError> {
    let cannot = |e: &dyn std::fmt::Display| {
        invalid(format!(
            "--legal-notice-file {} cannot be read: {e}",
            path.display()
        ))
    };
    let len = std::fs::metadata(path).map_err(|e| cannot(&e))?.len();
    if len > MAX_LEGAL_NOTICE {
        return Err(invalid(format!(
            "--legal-notice-file {} is larger than 64 KiB",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| cannot(&e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        invalid(format!(
            "--legal-notice-file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    Ok(text.trim_start_matches('\u{feff}').trim_end().to_owned())
}

/// A byte size: a plain number of bytes or a number with a unit (`2.5GiB`, `500 MB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Self(n));
        }
        s.parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| format!("{s:?} is not a size like 2.5GiB or 500MB"))
    }
}

/// A duration in whole seconds: a plain number of seconds or `30s`, `5m`, `1h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Self(n));
        }
        humantime::parse_duration(s)
            .map(|d| Self(d.as_secs()))
            .map_err(|_| format!("{s:?} is not a duration like 300, 5m, 1h or 7d"))
    }
}

/// A comma-separated list (or a TOML array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

impl<T: FromStr<Err = E>, E: std::fmt::Display> FromStr for List<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<T>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// TOML accepts a value either as a string in the command-line syntax or as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Text(String),
    Number(u64),
}

macro_rules! deserialize_via_from_str {
    ($ty:ty, $wrap:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match TextOrNumber::deserialize(d)? {
                    TextOrNumber::Text(s) => s.parse().map_err(serde::de::Error::custom),
                    TextOrNumber::Number(n) => Ok($wrap(n)),
                }
            }
        }
    };
}
deserialize_via_from_str!(Size, Size);
deserialize_via_from_str!(Seconds, Seconds);

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match TextOrNumber::deserialize(d)? {
            TextOrNumber::Text(s) => s.parse().map_err(serde::de::Error::custom),
            TextOrNumber::Number(0) => Ok(Self(None)),
            TextOrNumber::Number(n) => Err(serde::de::Error::custom(format!(
                "{n} is not a rate like \"10,20s\" (a burst of 10, then one every 20 s) or 0"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl<'de, T> Deserialize<'de> for List<T>
where
    T: FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            Text(String),
            Items(Vec<T>),
        }
        match Form::<T>::deserialize(d)? {
            Form::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Form::Items(items) => Ok(Self(items)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["sealdrop-server"];
        argv.extend_from_slice(args);
        Config::load(Args::try_parse_from(argv).map_err(|e| invalid(e.to_string()))?)
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.max_file_size, 2_684_354_560);
        assert_eq!(c.max_expiry, 604_800);
        assert_eq!(c.max_downloads, 100);
        assert_eq!(c.expiry_choices, [300, 3600, 86400, 604_800]);
        assert_eq!(c.web_dir, None);
        assert_eq!(c.metrics_listen, None, "no metrics listener by default");
    }

    #[test]
    fn metrics_listen_comes_from_the_flag_or_the_file() {
        let c = parse(&["--metrics-listen", "127.0.0.1:9100"]).unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "metrics-listen = \"[::1]:9101\"\n").unwrap();
        let p = path.to_str().unwrap();
        let c = parse(&["--config", p]).unwrap();
        assert_eq!(c.metrics_listen, Some("[::1]:9101".parse().unwrap()));
        let c = parse(&["--config", p, "--metrics-listen", "0.0.0.0:9102"]).unwrap();
        assert_eq!(c.metrics_listen, Some("0.0.0.0:9102".parse().unwrap()));
        let err = parse(&[
            "--listen",
            "127.0.0.1:8080",
            "--metrics-listen",
            "127.0.0.1:8080",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("--metrics-listen 127.0.0.1:8080"), "{err}");
        assert!(parse(&["--metrics-listen", "localhost"]).is_err());
    }

    #[test]
    fn units_and_lists_parse() {
        let c = parse(&[
            "--max-file-size",
            "1.5GiB",
            "--expiry-choices",
            "5m, 1h,2d",
            "--max-expiry",
            "2d",
            "--default-expiry",
            "3600",
            "--download-choices",
            "1,10",
            "--max-downloads",
            "10",
            "--base-url",
            "HTTPS://Send.Example.com:443/",
        ])
        .unwrap();
        assert_eq!(c.max_file_size, 1_610_612_736);
        assert_eq!(c.expiry_choices, [300, 3600, 172_800]);
        assert_eq!(c.download_choices, [1, 10]);
        assert_eq!(c.base_url, "https://send.example.com");
        assert_eq!(c.storage, StorageConfig::Fs);
        assert_eq!(c.meta, MetaConfig::Sqlite);
    }

    #[test]
    fn s3_and_redis_parse() {
        let c = parse(&[
            "--storage",
            "s3://sealdrop/files/",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--meta",
            "redis://127.0.0.1:6379/2",
        ])
        .unwrap();
        let StorageConfig::S3(s3) = c.storage else {
            panic!("not s3")
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("sealdrop", "files/")
        );
        assert!(s3.path_style);
        assert_eq!((s3.part_size, s3.parts_in_flight), (8 << 20, 2));
        assert_eq!(c.meta, MetaConfig::Redis("redis://127.0.0.1:6379/2".into()));
    }

    #[test]
    fn sweeper_lease_grace_and_s3_timeout() {
        let c = parse(&[]).unwrap();
        assert!(c.sweeper);
        assert_eq!(c.download_lease, Duration::from_secs(300));
        assert_eq!(c.orphan_grace, Duration::from_secs(3600));
        let s3 = |c: &Config| match &c.storage {
            StorageConfig::S3(s3) => s3.timeout,
            StorageConfig::Fs => panic!("not s3"),
        };
        assert_eq!(
            s3(&parse(&["--storage", "s3://b"]).unwrap()),
            Duration::from_secs(30)
        );
        let c = parse(&[
            "--storage",
            "s3://b",
            "--s3-timeout",
            "5s",
            "--sweeper",
            "false",
            "--download-lease",
            "3s",
            "--orphan-grace",
            "2",
        ])
        .unwrap();
        assert_eq!(s3(&c), Duration::from_secs(5));
        assert!(!c.sweeper);
        assert_eq!(c.download_lease, Duration::from_secs(3));
        assert_eq!(c.orphan_grace, Duration::from_secs(2));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "storage = \"s3://b\"\ns3-timeout = \"1m\"\nsweeper = false\n\
             download-lease = 600\norphan-grace = \"10m\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = parse(&["--config", p, "--sweeper", "true"]).unwrap();
        assert_eq!(s3(&c), Duration::from_secs(60));
        assert!(c.sweeper, "the flag beats the file");
        assert_eq!(c.download_lease, Duration::from_secs(600));
        assert_eq!(c.orphan_grace, Duration::from_secs(600));

        for (args, needle) in [
            (
                &["--storage", "s3://b", "--s3-timeout", "0"][..],
                "--s3-timeout must be at least 1 second",
            ),
            (
                &["--download-lease", "2s"][..],
                "--download-lease must be at least 3 seconds",
            ),
            (
                &["--orphan-grace", "0"][..],
                "--orphan-grace must be at least 1 second",
            ),
            (&["--sweeper", "sometimes"][..], "sometimes"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        // Ignored with the local store, like the other S3 options.
        assert!(parse(&["--s3-timeout", "0"]).is_ok());
    }

    #[test]
    fn toml_is_below_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "max-downloads = 7\ndefault-downloads = 2\nmax-file-size = \"10MB\"\n\
             expiry-choices = [60, 120]\nmax-expiry = \"1h\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = parse(&["--config", p, "--max-downloads", "9"]).unwrap();
        assert_eq!(c.max_downloads, 9);
        assert_eq!(c.default_downloads, 2);
        assert_eq!(c.max_file_size, 10_000_000);
        assert_eq!(c.expiry_choices, [60, 120]);
        let web = dir.path().join("web");
        std::fs::create_dir(&web).unwrap();
        std::fs::write(&path, format!("web-dir = {:?}\n", web.to_str().unwrap())).unwrap();
        let c = parse(&["--config", p]).unwrap();
        assert_eq!(c.web_dir, Some(web.canonicalize().unwrap()));
        std::fs::write(&path, "no-such-option = 1\n").unwrap();
        let err = parse(&["--config", p]).unwrap_err().to_string();
        assert!(err.contains("invalid"), "{err}");
    }

    #[test]
    fn s3_credentials_come_from_files_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("id");
        let secret = dir.path().join("secret");
        std::fs::write(&id, "sealdrop\n").unwrap();
        std::fs::write(&secret, "  s3cr3t-value-0123456789\r\n").unwrap();
        let (id_p, secret_p) = (id.to_str().unwrap(), secret.to_str().unwrap());
        let with = |extra: &[&str]| {
            let mut args = vec!["--storage", "s3://b"];
            args.extend_from_slice(extra);
            parse(&args)
        };
        let c = with(&[
            "--s3-access-key-id-file",
            id_p,
            "--s3-secret-access-key-file",
            secret_p,
        ])
        .unwrap();
        let StorageConfig::S3(s3) = &c.storage else {
            panic!("not s3")
        };
        let creds = s3.credentials.as_ref().unwrap();
        assert_eq!(creds.access_key_id, "sealdrop");
        assert_eq!(creds.secret_access_key, "s3cr3t-value-0123456789");
        assert!(!format!("{c:?}").contains("s3cr3t"), "no secret in Debug");
        // Without the files: the AWS chain.
        let StorageConfig::S3(s3) = with(&[]).unwrap().storage else {
            panic!("not s3")
        };
        assert_eq!(s3.credentials, None);
        // One without the other, an empty file, a missing file, a file of two lines.
        let err = with(&["--s3-access-key-id-file", id_p]).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");
        std::fs::write(&secret, "\n").unwrap();
        let err = with(&[
            "--s3-access-key-id-file",
            id_p,
            "--s3-secret-access-key-file",
            secret_p,
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--s3-secret-access-key-file") && err.contains("empty"),
            "{err}"
        );
        std::fs::write(&secret, "first-secret\nsecond-secret\n").unwrap();
        let err = with(&[
            "--s3-access-key-id-file",
            id_p,
            "--s3-secret-access-key-file",
            secret_p,
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("more than one line") && !err.contains("secret\n"),
            "{err}"
        );
        assert!(!err.contains("first-secret"), "{err}");
        let err = with(&[
            "--s3-access-key-id-file",
            "/no/such/sealdrop/id",
            "--s3-secret-access-key-file",
            secret_p,
        ])
        .unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        // The same from the TOML file; ignored with the local store.
        let toml = dir.path().join("c.toml");
        std::fs::write(&secret, "from-toml-secret").unwrap();
        std::fs::write(
            &toml,
            format!(
                "storage = \"s3://b/p\"\ns3-access-key-id-file = {id_p:?}\n\
                 s3-secret-access-key-file = {secret_p:?}\n"
            ),
        )
        .unwrap();
        let c = parse(&["--config", toml.to_str().unwrap()]).unwrap();
        let StorageConfig::S3(s3) = c.storage else {
            panic!("not s3")
        };
        assert_eq!(
            s3.credentials.unwrap().secret_access_key,
            "from-toml-secret"
        );
        assert!(parse(&["--s3-access-key-id-file", "/no/such/sealdrop/id"]).is_ok());
    }

    #[test]
    fn the_redis_password_file_goes_into_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("redis_password");
        std::fs::write(&file, "p@ss/w:rd\n").unwrap();
        let f = file.to_str().unwrap();
        let c = parse(&["--meta", "redis://redis:6379/0", "--redis-password-file", f]).unwrap();
        let MetaConfig::Redis(url) = &c.meta else {
            panic!("not redis")
        };
        assert_eq!(url, "redis://:p%40ss%2Fw%3Ard@redis:6379/0");
        // The redis crate reads it back as written.
        let info = redis::Client::open(url.as_str()).unwrap();
        assert_eq!(
            info.get_connection_info().redis_settings().password(),
            Some("p@ss/w:rd")
        );
        let c = parse(&[
            "--meta",
            "redis://alice@redis/2",
            "--redis-password-file",
            f,
        ])
        .unwrap();
        assert_eq!(
            c.meta,
            MetaConfig::Redis("redis://alice:p%40ss%2Fw%3Ard@redis/2".into())
        );
        let err = parse(&["--meta", "redis://:x@redis/0", "--redis-password-file", f])
            .unwrap_err()
            .to_string();
        assert!(err.contains("set twice") && !err.contains("p@ss"), "{err}");
        // Ignored with SQLite, like the other store's options.
        assert_eq!(
            parse(&["--redis-password-file", "/no/such/file"])
                .unwrap()
                .meta,
            MetaConfig::Sqlite
        );
    }

    #[test]
    fn abuse_contact_and_legal_notice() {
        let dir = tempfile::tempdir().unwrap();
        let notice = dir.path().join("notice.md");
        std::fs::write(&notice, "\u{feff}# Imprint\n<b>Example Ltd</b>\n\n").unwrap();
        let c = parse(&[
            "--abuse-contact",
            "abuse@example.com",
            "--legal-notice-file",
            notice.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(
            c.abuse_contact,
            Some(AbuseContact::Email("abuse@example.com".into()))
        );
        assert_eq!(
            c.legal_notice.as_deref(),
            Some("# Imprint\n<b>Example Ltd</b>")
        );
        for (text, href) in [
            ("mailto:abuse@example.com", "mailto:abuse@example.com"),
            ("https://example.com/abuse", "https://example.com/abuse"),
        ] {
            assert_eq!(AbuseContact::parse(text).unwrap().href(), href);
        }
        for bad in [
            "a@b",
            "@example.com",
            "https://",
            "a b@example.com",
            "ftp://x.example",
        ] {
            assert_eq!(AbuseContact::parse(bad), None, "{bad}");
        }
        std::fs::write(&notice, vec![b'x'; 64 * 1024 + 1]).unwrap();
        let err = parse(&["--legal-notice-file", notice.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("64 KiB"), "{err}");
        std::fs::write(&notice, [0xff, 0xfe]).unwrap();
        let err = parse(&["--legal-notice-file", notice.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
        let c = parse(&[]).unwrap();
        assert_eq!((c.abuse_contact, c.legal_notice), (None, None));
    }

    #[test]
    fn security_contact_and_policy() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.security_contact, c.security_policy), (None, None));
        let c = parse(&[
            "--security-contact",
            " mailto:security@example.com ",
            "--security-policy",
            "https://example.com/security",
        ])
        .unwrap();
        assert_eq!(
            c.security_contact.as_deref(),
            Some("mailto:security@example.com")
        );
        assert_eq!(
            c.security_policy.as_deref(),
            Some("https://example.com/security")
        );
        // An https URL is served as parsed: the host lower-case, the path at least `/`.
        let c = parse(&["--security-contact", "https://Example.com"]).unwrap();
        assert_eq!(c.security_contact.as_deref(), Some("https://example.com/"));
        for bad in [
            "https://",
            "https:///path",
            "mailto:",
            "mailto:a@b",
            "tel:+15551234567",
            "javascript:alert(1)",
            "https://example.com/a b",
            "https://example.com/\tx",
            "https:example.com",
            "https:\\\\example.com",
            "https:///example.com",
        ] {
            let err = parse(&["--security-contact", bad]).unwrap_err().to_string();
            assert!(err.starts_with("--security-contact"), "{bad}: {err}");
        }
    }

    #[test]
    fn upload_auth_needs_its_file_and_checks_it_without_echoing_it() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.upload_auth, UploadAuthMode::None);
        assert_eq!(c.upload_credentials_file, None);
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "# ok\nabcdefghijklmnopqrstuvwxyz daily=1GiB\n").unwrap();
        let t = tokens.to_str().unwrap();
        let c = parse(&["--upload-auth", "token", "--upload-tokens-file", t]).unwrap();
        assert_eq!(c.upload_auth, UploadAuthMode::Token);
        assert_eq!(c.upload_credentials_file.as_deref(), Some(tokens.as_path()));
        // The other mode's file is not needed.
        std::fs::write(&tokens, "abcdefghijklmnopqrstuvwxyz\nshort-secret\n").unwrap();
        let err = parse(&["--upload-auth", "token", "--upload-tokens-file", t])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--upload-tokens-file "), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(
            !err.contains("secret") && !err.contains("abcdefgh"),
            "{err}"
        );
        let toml = dir.path().join("c.toml");
        std::fs::write(
            &toml,
            format!("upload-auth = \"basic\"\nupload-users-file = {t:?}\n"),
        )
        .unwrap();
        std::fs::write(&tokens, "alice:pw\n").unwrap();
        let c = parse(&["--config", toml.to_str().unwrap()]).unwrap();
        assert_eq!(c.upload_auth, UploadAuthMode::Basic);
    }

    #[test]
    fn limits_are_on_by_default_and_each_can_be_set_or_turned_off() {
        let c = parse(&[]).unwrap();
        let rate = |burst, ms| {
            Some(Rate {
                burst,
                every: Duration::from_millis(ms),
            })
        };
        assert_eq!(
            c.limits,
            Limits {
                uploads: rate(60, 2000),
                upload_quota: 10 << 30,
                downloads: rate(100, 500),
                wrong_passwords: rate(20, 30_000),
                owner: rate(60, 1000),
            }
        );
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.trusted_proxy_header, ProxyHeader::XForwardedFor);
        assert!(!c.log_client_ip);

        let c = parse(&[
            "--upload-rate",
            "3, 1m",
            "--upload-quota",
            "1GB",
            "--download-rate",
            "0",
            "--wrong-password-rate",
            "off",
            "--owner-rate",
            "5,250ms",
            "--trusted-proxies",
            "10.0.0.0/8, 192.0.2.7,::1,2001:db8::/32,::ffff:203.0.113.1",
            "--trusted-proxy-header",
            "forwarded",
            "--log-client-ip",
        ])
        .unwrap();
        assert_eq!(
            c.limits,
            Limits {
                uploads: rate(3, 60_000),
                upload_quota: 1_000_000_000,
                downloads: None,
                wrong_passwords: None,
                owner: rate(5, 250),
            }
        );
        let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            [
                "10.0.0.0/8",
                "192.0.2.7/32",
                "::1/128",
                "2001:db8::/32",
                "203.0.113.1/32"
            ]
        );
        assert_eq!(c.trusted_proxy_header, ProxyHeader::Forwarded);
        assert!(c.log_client_ip);
        let c = parse(&["--log-client-ip", "false", "--upload-quota", "0"]).unwrap();
        assert!(!c.log_client_ip);
        assert_eq!(c.limits.upload_quota, 0);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "upload-rate = \"2,10s\"\ndownload-rate = 0\nowner-rate = \"off\"\n\
             upload-quota = \"5GiB\"\ntrusted-proxies = [\"127.0.0.1\", \"fd00::/8\"]\n\
             trusted-proxy-header = \"x-forwarded-for\"\nlog-client-ip = true\n",
        )
        .unwrap();
        let c = parse(&["--config", path.to_str().unwrap(), "--owner-rate", "1,1s"]).unwrap();
        assert_eq!(c.limits.uploads, rate(2, 10_000));
        assert_eq!(c.limits.downloads, None);
        assert_eq!(c.limits.owner, rate(1, 1000));
        assert_eq!(c.limits.upload_quota, 5 << 30);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.log_client_ip);
    }

    #[test]
    fn invalid_values_are_one_sentence() {
        for (args, needle) in [
            (&["--default-expiry", "8d"][..], "--default-expiry"),
            (&["--max-downloads", "0"][..], "--max-downloads"),
            (&["--download-choices", "1,500"][..], "--download-choices"),
            (&["--base-url", "send.example.com"][..], "--base-url"),
            (&["--max-file-size", "0"][..], "--max-file-size"),
            (&["--max-file-size", "lots"][..], "lots"),
            (&["--storage", "gcs://x"][..], "--storage"),
            (&["--storage", "s3://"][..], "bucket"),
            (
                &["--storage", "s3://b", "--s3-part-size", "1MiB"][..],
                "--s3-part-size",
            ),
            (&["--meta", "postgres://x"][..], "--meta"),
            (&["--web-dir", "/no/such/sealdrop/web"][..], "--web-dir"),
            (&["--web-dir", "Cargo.toml"][..], "--web-dir"),
            (&["--abuse-contact", "nobody"][..], "--abuse-contact"),
            (
                &["--abuse-contact", "https://x.example/\"onload=x"][..],
                "--abuse-contact",
            ),
            (
                &["--abuse-contact", "javascript:alert(1)"][..],
                "--abuse-contact",
            ),
            (
                &["--legal-notice-file", "/no/such/sealdrop/notice"][..],
                "--legal-notice-file",
            ),
            (
                &["--security-contact", "security@example.com"][..],
                "--security-contact",
            ),
            (
                &["--security-contact", "http://example.com/report"][..],
                "--security-contact",
            ),
            (
                &["--security-contact", "mailto:nobody"][..],
                "--security-contact",
            ),
            (
                &["--security-contact", "https://x.example/\nPolicy:x"][..],
                "--security-contact",
            ),
            (
                &["--security-policy", "mailto:security@example.com"][..],
                "--security-policy",
            ),
            (&["--upload-auth", "oauth"][..], "oauth"),
            (&["--upload-auth", "token"][..], "--upload-tokens-file"),
            (&["--upload-auth", "basic"][..], "--upload-users-file"),
            (
                &[
                    "--upload-auth",
                    "basic",
                    "--upload-users-file",
                    "/no/such/sealdrop/users",
                ][..],
                "cannot be read",
            ),
            (&["--header-read-timeout", "0"][..], "--header-read-timeout"),
            (
                &["--download-idle-timeout", "0"][..],
                "--download-idle-timeout",
            ),
            (&["--max-metadata-size", "10"][..], "--max-metadata-size"),
            (&["--tls-cert", "cert.pem"][..], "--tls-key"),
            (&["--tls-key", "key.pem"][..], "--tls-cert"),
            (
                &[
                    "--tls-cert",
                    "/no/such/cert.pem",
                    "--tls-key",
                    "/no/such/key.pem",
                ][..],
                "--tls-cert /no/such/cert.pem",
            ),
            (&["--upload-rate", "10"][..], "not a rate"),
            (&["--upload-rate", "ten,1s"][..], "not a rate"),
            (&["--download-rate", "10,soon"][..], "not a rate"),
            (&["--owner-rate", "10,0s"][..], "more than 0"),
            (&["--owner-rate", "10,2d"][..], "at most 1d"),
            (&["--trusted-proxies", "10.0.0.0/33"][..], "not a network"),
            (
                &["--trusted-proxies", "proxy.example.com"][..],
                "not a network",
            ),
            (&["--trusted-proxy-header", "x-real-ip"][..], "x-real-ip"),
            (&["--upload-quota", "lots"][..], "lots"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains('\n') || err.starts_with("error:"), "{err}");
        }
    }

    #[test]
    fn connection_limits_parse_and_zero_turns_caps_off() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            (c.max_connections, c.max_connections_per_client),
            (1024, 64)
        );
        assert_eq!(c.header_read_timeout, Duration::from_secs(15));
        assert_eq!(c.connection_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.download_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.min_upload_rate, 16 * 1024);
        assert_eq!(c.min_upload_rate_grace, Duration::from_secs(60));
        assert_eq!(c.max_metadata_size, 64 * 1024);
        assert!(c.tls.is_none());
        let c = parse(&[
            "--max-connections",
            "0",
            "--max-connections-per-client",
            "0",
            "--min-upload-rate",
            "1MiB",
            "--min-upload-rate-grace",
            "2m",
            "--header-read-timeout",
            "5s",
            "--max-metadata-size",
            "8KiB",
        ])
        .unwrap();
        assert_eq!((c.max_connections, c.max_connections_per_client), (0, 0));
        assert_eq!(c.min_upload_rate, 1 << 20);
        assert_eq!(c.min_upload_rate_grace, Duration::from_secs(120));
        assert_eq!(c.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.max_metadata_size, 8192);
    }

    #[test]
    fn tls_files_load_and_make_the_default_base_url_https() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let c = parse(&["--tls-cert", cert, "--tls-key", key]).unwrap();
        assert_eq!(c.base_url, "https://127.0.0.1:8080");
        assert!(
            !format!("{c:?}").contains("PRIVATE"),
            "no key material in Debug"
        );
        // The key of another certificate, or a key where the certificate belongs.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other_key = dir.path().join("other.pem");
        std::fs::write(&other_key, other.signing_key.serialize_pem()).unwrap();
        let err = parse(&["--tls-cert", cert, "--tls-key", other_key.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not the private key"), "{err}");
        let err = parse(&["--tls-cert", key, "--tls-key", key])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--tls-cert"), "{err}");
    }
}
