//! Real components for tests, each started on a free `127.0.0.1` port and killed when
//! its handle is dropped: Redis (Debian's `redis-server`), moto (`moto_server` from the
//! project's `.venv`) and garage (a cached `cargo install`).
//!
//! `scripts/test` installs all of them. A missing component is a test failure with a
//! sentence saying how to install it, never a silent skip.
//!
//! Also: a fault-injecting TCP proxy ([`faults`]), a small disk that fills up
//! ([`disk`]), and waits that fail when the system
//! under test stops making progress rather than when a loaded machine is slow ([`wait`]).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: fail loudly"
)]

pub mod disk;
pub mod faults;
pub mod wait;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// The workspace root (where `Cargo.lock` is).
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() {
        assert!(
            dir.pop(),
            "no workspace root above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// The cache of tools built once per machine: `$SEALDROP_CACHE` or `~/.cache/sealdrop`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEALDROP_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is not set");
    Path::new(&home).join(".cache").join("sealdrop")
}

/// Finds a tool: the environment variable `env` if set, else the first existing candidate.
pub fn find_tool(env: &str, candidates: &[PathBuf], install_hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("{install_hint} (or set {env}); run scripts/test, which installs it")
        })
}

/// The peak resident memory (`VmHWM`) of a running process in KiB, on Linux.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM")
}

/// The resident memory now (`VmRSS`) of a running process in KiB, on Linux.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    value.split_whitespace().next()?.parse().ok()
}

/// Reads a child's pipe to its end on a thread of its own (so a full pipe never blocks
/// the child), for the caller to join.
pub fn drain<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits until something accepts TCP connections on `addr`, for up to
/// [`wait::EVENTUALLY`] (moto, a Python program, takes seconds to start on a loaded
/// machine).
pub fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < wait::EVENTUALLY {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "{what} did not listen on {addr} within {:?}",
        wait::EVENTUALLY
    );
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
}

impl Process {
    /// Wraps a started child.
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process now and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The child process (to wait for its port with [`wait_for_port`]).
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("process already killed")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis server with persistence off.
#[derive(Debug)]
pub struct Redis {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    process: Process,
}

impl Redis {
    /// Starts `redis-server` on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts `redis-server` on `port` (to restart one after [`Redis::stop`]).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts `redis-server` on a free port, requiring `password` (`requirepass`); the
    /// URL holds no password.
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(free_port(), &["--requirepass", password])
    }

    fn start_with(port: u16, extra: &[&str]) -> Self {
        let bin = find_tool(
            "SEALDROP_REDIS_SERVER",
            &[PathBuf::from("/usr/bin/redis-server")],
            "redis-server is missing: apt-get install redis-server",
        );
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server");
        let mut process = Process::new(child);
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            process.child(),
            "redis-server",
        );
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            process,
        }
    }

    /// Stops the server (to test outages); [`Redis::start_on`] the same port to restart.
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

/// S3 credentials and endpoint of a test store.
#[derive(Debug, Clone)]
pub struct S3Endpoint {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Region.
    pub region: String,
}

impl S3Endpoint {
    /// An `aws-sdk-s3` client for this store (path-style, static credentials), for tests
    /// and benchmarks that talk to the store directly.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "sealdrop-testkit",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// moto's S3 server (in memory; accepts any credentials).
#[derive(Debug)]
pub struct Moto {
    /// Endpoint and credentials.
    pub s3: S3Endpoint,
    /// The port.
    pub port: u16,
    process: Process,
}

impl Moto {
    /// Starts `moto_server` from the project's `.venv` on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts `moto_server` on `port`.
    pub fn start_on(port: u16) -> Self {
        let bin = find_tool(
            "SEALDROP_MOTO_SERVER",
            &[workspace_root().join(".venv/bin/moto_server")],
            "moto_server is missing: .venv/bin/pip install 'moto[server]'",
        );
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start moto_server");
        let mut process = Process::new(child);
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            process.child(),
            "moto_server",
        );
        Self {
            s3: S3Endpoint {
                endpoint: format!("http://127.0.0.1:{port}"),
                access_key: "testing".into(),
                secret_key: "testing".into(),
                region: "us-east-1".into(),
            },
            port,
            process,
        }
    }

    /// Stops the server (to test outages). moto keeps its data in memory: a restart is empty.
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

impl Moto {
    /// Creates the bucket `name` (moto takes unsigned requests, so no S3 client needed).
    pub fn create_bucket(&self, name: &str) {
        use std::io::{Read as _, Write as _};
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("cannot reach moto_server");
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("cannot send to moto_server");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("cannot read moto_server's answer");
        let status = answer.lines().next().unwrap_or_default();
        assert!(
            status.contains(" 200"),
            "moto_server did not create bucket {name}: {status}"
        );
    }
}

/// garage, a real self-hostable S3 server, as one node with SQLite metadata in a
/// temporary directory. It checks SigV4 credentials and ignores conditional writes.
#[derive(Debug)]
pub struct Garage {
    /// Endpoint and the credentials of a key allowed to create buckets.
    pub s3: S3Endpoint,
    /// The S3 API port.
    pub port: u16,
    /// The key's name (`garage key info NAME`).
    pub key_name: String,
    bin: PathBuf,
    config: PathBuf,
    rpc_port: u16,
    // Declared before `dir`: the server dies before its directory goes.
    process: Process,
    dir: tempfile::TempDir,
}

/// Where `cargo install garage` puts the binary.
const GARAGE_VERSION: &str = "2.5.0";

impl Garage {
    /// Starts a single-node garage on free ports, with its layout applied and a key
    /// (`self.s3`) that may create buckets.
    pub fn start() -> Self {
        let bin = find_tool(
            "SEALDROP_GARAGE",
            &[cache_dir().join(format!("garage-{GARAGE_VERSION}/bin/garage"))],
            &format!(
                "garage is missing: cargo install garage --version {GARAGE_VERSION} --locked \
                 --no-default-features --features bundled-libs,sqlite --root {}",
                cache_dir()
                    .join(format!("garage-{GARAGE_VERSION}"))
                    .display()
            ),
        );
        let dir = tempfile::Builder::new()
            .prefix("sealdrop-garage-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let (rpc_port, port, admin_port) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let region = "us-east-1";
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{region}"
api_bind_addr = "127.0.0.1:{port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
admin_token = "{admin_token}"
"#,
                meta = dir.path().join("meta").display(),
                data = dir.path().join("data").display(),
                secret = random_hex(32),
                admin_token = random_hex(16),
            ),
        )
        .expect("cannot write garage.toml");
        let process = Self::spawn_server(&bin, &config, dir.path(), rpc_port, port);
        let mut garage = Self {
            s3: S3Endpoint {
                endpoint: format!("http://127.0.0.1:{port}"),
                access_key: String::new(),
                secret_key: String::new(),
                region: region.to_owned(),
            },
            port,
            key_name: "sealdrop-test".to_owned(),
            bin,
            config,
            rpc_port,
            process,
            dir,
        };
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap_or_default().to_owned();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        let key_name = garage.key_name.clone();
        let created = garage.cli(&["key", "create", &key_name]);
        garage.s3.access_key = field(&created, "Key ID");
        garage.s3.secret_key = field(&created, "Secret key");
        garage.cli(&["key", "allow", "--create-bucket", &key_name]);
        garage
    }

    fn spawn_server(bin: &Path, config: &Path, dir: &Path, rpc_port: u16, port: u16) -> Process {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("garage.log"))
            .expect("cannot create garage.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot share garage.log"))
            .stderr(log)
            .spawn()
            .expect("cannot start garage");
        let mut process = Process::new(child);
        for port in [rpc_port, port] {
            wait_for_port(
                SocketAddr::from(([127, 0, 0, 1], port)),
                process.child(),
                "garage",
            );
        }
        process
    }

    /// Runs `garage -c CONFIG ARGS…` against this node (retrying while the node is still
    /// settling, for up to [`wait::EVENTUALLY`]: it settles in a second when the machine is
    /// idle, far later when it is loaded) and returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let out = Command::new(&self.bin)
                .arg("-c")
                .arg(&self.config)
                .args(args)
                .env("RUST_LOG", "error")
                .stdin(Stdio::null())
                .output()
                .expect("cannot run the garage command-line tool");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                start.elapsed() < wait::EVENTUALLY,
                "garage {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates the bucket `name`, readable, writable and owned by `self.s3`'s key.
    pub fn create_bucket(&self, name: &str) {
        self.cli(&["bucket", "create", name]);
        self.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            name,
            "--key",
            &self.key_name,
        ]);
    }

    /// Stops the server (to test outages); its data stays for [`Garage::restart`].
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same ports, with the same data and keys.
    pub fn restart(&mut self) {
        self.process.kill();
        self.process = Self::spawn_server(
            &self.bin,
            &self.config,
            self.dir.path(),
            self.rpc_port,
            self.port,
        );
    }

    /// The node's directory (config, data, metadata and `garage.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The value of the `NAME: value` line of garage's output.
fn field(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name:?} in garage's output:\n{output}"))
}

/// `bytes` random bytes as hex, from the system's random source.
fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("cannot read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    /// The status line of an unsigned `HEAD /path` (moto answers it; garage answers 403).
    fn head(port: u16, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn moto_creates_buckets() {
        let moto = Moto::start();
        assert!(head(moto.port, "/made").contains(" 404"));
        moto.create_bucket("made");
        assert!(head(moto.port, "/made").contains(" 200"));
    }

    #[test]
    fn garage_keeps_its_buckets_over_a_restart() {
        let mut garage = Garage::start();
        assert!(garage.s3.access_key.starts_with("GK"), "{:?}", garage.s3);
        assert_eq!(garage.s3.secret_key.len(), 64);
        garage.create_bucket("kept");
        garage.stop();
        assert!(TcpStream::connect(("127.0.0.1", garage.port)).is_err());
        garage.restart();
        assert!(garage.cli(&["bucket", "list"]).contains("kept"));
        let info = garage.cli(&["bucket", "info", "kept"]);
        assert!(info.contains(&garage.s3.access_key), "{info}");
        // Unsigned requests are refused: garage checks credentials.
        assert!(
            head(garage.port, "/kept").contains(" 403"),
            "{}",
            head(garage.port, "/kept")
        );
    }
}
