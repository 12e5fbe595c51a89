//! Harness of sealdrop's end-to-end tests: real processes only.
//!
//! - [`Server`] starts the real `sealdrop-server` binary on `127.0.0.1:<free port>` with a
//!   temporary `--data-dir`, and kills it on drop.
//! - [`Sandbox`] is a temporary working directory for one test: the real `sealdrop` binary
//!   runs there with `SEALDROP_HISTORY`, `HOME` and `XDG_DATA_HOME` inside it, so no test
//!   touches the real home; ffsend runs there too, with `HOME` inside it.
//! - [`Cmd`] runs a process with a deadline and collects its exit code, output and (on
//!   Linux) peak memory.
//! - [`RefusingProxy`] forwards TCP to the server but refuses WebSocket upgrades with 403,
//!   as some reverse proxies do.
//! - [`craft_upload`] makes a share with hand-written metadata (unsafe archive names) over
//!   the plain HTTP upload route, without the CLI.
//!
//! The binaries are found beside the test executable (`target/<profile>/`); build them
//! first with `cargo build --workspace --bins` (`scripts/test` does).

pub mod reliability;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sealdrop_testkit::{drain, vm_hwm_kib};

/// Longest any one process may run before the test fails.
const PROCESS_DEADLINE: Duration = Duration::from_secs(180);

/// The path of a workspace binary built beside this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a directory")
        .to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Deterministic, incompressible test content (xorshift64*).
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A free loopback port (bound then released; the server binds it right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Removes every `SEALDROP_*` variable, proxies and backtraces from a child's environment,
/// so the developer's own settings cannot change what a test sees.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy().to_ascii_uppercase();
        if key_text.starts_with("SEALDROP_")
            || key_text.ends_with("_PROXY")
            || key_text == "RUST_BACKTRACE"
            || key_text == "RUST_LOG"
        {
            cmd.env_remove(&key);
        }
    }
}

/// A minimal HTTP/1.1 GET on loopback: `(status, body)`.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    read_response(&mut stream)
}

/// A minimal HTTP/1.1 POST of a JSON body on loopback: `(status, body)`.
pub fn http_post_json(port: u16, path: &str, json: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )?;
    read_response(&mut stream)
}

/// Reads a whole `Connection: close` response.
fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok((status, if chunked { dechunk(&body) } else { body }))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..end]);
        let size = usize::from_str_radix(size_text.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
    out
}

/// The rate limits and the upload quota, all off: every test runs its clients from
/// 127.0.0.1, and several race on one file. Set as environment variables, so a test's own
/// flags (`--upload-rate 2,1h`) still win.
pub const LIMITS_OFF: [(&str, &str); 5] = [
    ("SEALDROP_UPLOAD_RATE", "0"),
    ("SEALDROP_UPLOAD_QUOTA", "0"),
    ("SEALDROP_DOWNLOAD_RATE", "0"),
    ("SEALDROP_WRONG_PASSWORD_RATE", "0"),
    ("SEALDROP_OWNER_RATE", "0"),
];

/// The real `sealdrop-server`, on a free loopback port, with its own data directory and
/// no rate limits ([`LIMITS_OFF`]).
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:<port>`, also its `--base-url`.
    pub base: String,
    /// The port.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
    /// The options it was started with after the defaults, for [`Server::admin`].
    extra: Vec<String>,
    /// The environment it was started with.
    env: Vec<(String, String)>,
}

impl Server {
    /// A server with the default configuration.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra command-line options, e.g. `["--max-downloads", "5"]`.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[])
    }

    /// A server with extra options and environment variables (e.g. AWS credentials, or
    /// `RUST_LOG`, which is `warn` unless given).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temporary directory");
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            // Logs go to standard output, a failed start to standard error: both to the file.
            let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
            let log_too = log.try_clone().expect("log file");
            let mut cmd = Command::new(bin("sealdrop-server"));
            clean_env(&mut cmd);
            cmd.arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("--base-url")
                .arg(&base)
                .args(extra)
                .envs(LIMITS_OFF)
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log_too)
                .stderr(log);
            let mut child = cmd.spawn().expect("start sealdrop-server");
            let deadline = Instant::now() + sealdrop_testkit::wait::EVENTUALLY;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok((200, _)) = http_get(port, "/__lbheartbeat__") {
                    return Self {
                        base,
                        port,
                        dir,
                        child,
                        extra: extra.iter().map(|s| (*s).to_owned()).collect(),
                        env: env
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect(),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            last_log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        }
        panic!("sealdrop-server did not start:\n{last_log}");
    }

    /// The server process's peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The committed blob of share `id` (`<data>/blobs/<days>-<id>`).
    pub fn blob_of(&self, id: &str) -> PathBuf {
        let dir = self.data_dir().join("blobs");
        let suffix = format!("-{id}");
        std::fs::read_dir(&dir)
            .expect("the blob directory exists")
            .map(|e| e.expect("directory entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
            })
            .unwrap_or_else(|| panic!("no blob for {id} in {}", dir.display()))
    }

    /// Every file in the blob directory.
    pub fn blob_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.data_dir().join("blobs"))
            .map(|rd| {
                rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// `sealdrop-server <this server's options> admin <args>`: the operator's commands,
    /// on this server's stores, while it runs.
    pub fn admin(&self, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(
            &bin("sealdrop-server"),
            format!("sealdrop-server admin {}", args.join(" ")),
        );
        cmd.command
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--base-url")
            .arg(&self.base)
            .args(&self.extra)
            .arg("admin")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Reports share `link` with `reason` through `POST /api/report/<id>`, as the web
    /// client does: `(status, JSON answer)`.
    pub fn report(&self, link: &str, reason: &str) -> (u16, serde_json::Value) {
        let (_, fragment) = link.split_once('#').expect("a share link has #secret");
        let body = serde_json::json!({ "key": fragment, "reason": reason, "details": "seen in a spam mail" });
        let (status, answer) = http_post_json(
            self.port,
            &format!("/api/report/{}", id_of(link)),
            &body.to_string(),
        )
        .expect("report");
        (
            status,
            serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null),
        )
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of a finished process.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
    /// The highest resident memory seen (`VmHWM`), KiB, where the platform tells.
    pub peak_rss_kib: Option<u64>,
    what: String,
}

impl Outcome {
    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts exit code 0 and returns `self`.
    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts exit code `code` and returns `self`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "{} exited with {} instead of {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            self.stdout_text(),
            self.stderr
        );
        self
    }

    /// Asserts the exit code and that standard error is exactly `sealdrop: <sentence>\n`,
    /// with nothing on standard output.
    #[track_caller]
    pub fn fails(&self, code: i32, sentence: &str) -> &Self {
        self.code(code);
        assert_eq!(
            self.stderr,
            format!("sealdrop: {sentence}\n"),
            "{}",
            self.what
        );
        assert!(
            self.stdout.is_empty(),
            "{} printed on stdout: {}",
            self.what,
            self.stdout_text()
        );
        self
    }
}

/// A process to run.
#[derive(Debug)]
pub struct Cmd {
    command: Command,
    stdin: Option<Vec<u8>>,
    what: String,
}

impl Cmd {
    fn new(program: &Path, what: String) -> Self {
        let mut command = Command::new(program);
        clean_env(&mut command);
        Self {
            command,
            stdin: None,
            what,
        }
    }

    /// The real `sealdrop-server` with `args`, in a clean environment (for commands that
    /// are not a running server, like `admin`).
    pub fn server(args: &[&str]) -> Self {
        let mut cmd = Self::new(
            &bin("sealdrop-server"),
            format!("sealdrop-server {}", args.join(" ")),
        );
        cmd.command.args(args);
        cmd
    }

    /// The real `sealdrop` with `args`, in a clean environment and no sandbox (for
    /// commands that need neither a server nor a configuration, like `completions`).
    pub fn sealdrop(args: &[&str]) -> Self {
        let mut cmd = Self::new(&bin("sealdrop"), format!("sealdrop {}", args.join(" ")));
        cmd.command.args(args);
        cmd
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Feeds `bytes` on standard input (otherwise it is empty, and not a terminal).
    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// Runs to completion (or panics after the deadline).
    pub fn run(mut self) -> Outcome {
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.what));
        let stdin = child.stdin.take();
        let input = self.stdin.take().unwrap_or_default();
        let feeder = std::thread::spawn(move || {
            if let Some(mut pipe) = stdin {
                let _ = pipe.write_all(&input);
            }
        });
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let (status, peak) = wait_with_deadline(&mut child, &self.what);
        let _ = feeder.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            peak_rss_kib: peak,
            what: self.what,
        }
    }

    /// Starts the process with piped standard output and returns it, for tests that
    /// read part of the output and close the pipe.
    pub fn spawn_piped(mut self) -> Child {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.what))
    }
}

/// Waits for `child`, sampling its peak memory, and kills it past the deadline.
fn wait_with_deadline(child: &mut Child, what: &str) -> (ExitStatus, Option<u64>) {
    let deadline = Instant::now() + PROCESS_DEADLINE;
    let mut peak = None;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return (status, peak);
        }
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = Some(peak.map_or(kib, |p: u64| p.max(kib)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {PROCESS_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A temporary working directory for one test, bound to one server.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    host: String,
}

impl Sandbox {
    /// A sandbox whose `sealdrop` uploads to `server`.
    pub fn new(server: &Server) -> Self {
        Self::with_host(&server.base)
    }

    /// A sandbox whose `sealdrop` uploads to `host`.
    pub fn with_host(host: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("work")).expect("work");
        Self {
            dir,
            host: host.to_owned(),
        }
    }

    /// The working directory of the processes.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A path under the working directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work().join(rel)
    }

    /// Writes a file under the working directory (creating directories).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(&path, bytes).expect("write a test file");
        path
    }

    /// Reads a file under the working directory.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// The history file the CLI uses here.
    pub fn history_path(&self) -> PathBuf {
        self.dir.path().join("history.json")
    }

    /// The history's JSON, or `null` if there is none.
    pub fn history(&self) -> serde_json::Value {
        std::fs::read(self.history_path())
            .map(|b| serde_json::from_slice(&b).expect("the history is JSON"))
            .unwrap_or(serde_json::Value::Null)
    }

    /// The configuration file the CLI reads here by default (there is none until a test
    /// writes it).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("home/.config/sealdrop/config.toml")
    }

    /// The real `sealdrop` with `args`, in the working directory, uploading to the
    /// sandbox's server, with the history and the configuration directory inside the
    /// sandbox.
    pub fn sealdrop(&self, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(&bin("sealdrop"), format!("sealdrop {}", args.join(" ")));
        let home = self.dir.path().join("home");
        cmd.command
            .args(args)
            .current_dir(self.work())
            .env("SEALDROP_HOST", &self.host)
            .env("SEALDROP_HISTORY", self.history_path())
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"));
        cmd
    }

    /// `sealdrop upload -q <args>`, asserting success; returns the link.
    pub fn upload(&self, args: &[&str]) -> String {
        let mut all = vec!["upload", "-q"];
        all.extend_from_slice(args);
        let out = self.sealdrop(&all).run();
        out.success();
        let link = out.stdout_text().trim().to_owned();
        assert!(link.contains("/download/"), "not a link: {link}");
        link
    }

    /// `sealdrop --json upload <args>`, asserting success; returns the JSON.
    pub fn upload_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json", "upload"];
        all.extend_from_slice(args);
        let out = self.sealdrop(&all).run();
        out.success();
        serde_json::from_slice(&out.stdout).expect("upload --json prints JSON")
    }

    /// ffsend with `args`, in the working directory with `HOME` inside the sandbox.
    pub fn ffsend(&self, ffsend: &Path, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(ffsend, format!("ffsend {}", args.join(" ")));
        let home = self.dir.path().join("ffsend-home");
        std::fs::create_dir_all(&home).expect("ffsend home");
        cmd.command
            .args(args)
            .current_dir(self.work())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"));
        cmd
    }

    /// Every file under `rel` (relative paths, sorted) and its bytes.
    pub fn tree(&self, rel: &str) -> BTreeMap<String, Vec<u8>> {
        tree(&self.path(rel))
    }
}

/// Every file under `root`: relative path (with `/`) to content.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The ffsend binary: `SEALDROP_FFSEND`, else the cache `scripts/test` installs it into
/// (`${SEALDROP_CACHE:-~/.cache/sealdrop}/ffsend-0.2.77/bin/ffsend`). `None` (the test
/// is skipped, loudly) only outside CI and when neither is there.
pub fn ffsend() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SEALDROP_FFSEND") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "SEALDROP_FFSEND={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let cache = std::env::var_os("SEALDROP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sealdrop")));
    let path = cache.map(|c| c.join("ffsend-0.2.77/bin/ffsend"));
    match path {
        Some(p) if p.exists() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("ffsend is not installed: scripts/test installs it, or set SEALDROP_FFSEND")
        }
        _ => {
            eprintln!("SKIPPED: ffsend is not installed (scripts/test installs it)");
            None
        }
    }
}

/// A TCP forwarder to a server that answers every WebSocket upgrade with 403, like a
/// reverse proxy without WebSocket support. Stops on drop.
#[derive(Debug)]
pub struct RefusingProxy {
    /// `http://127.0.0.1:<port>` of the proxy.
    pub base: String,
    refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl RefusingProxy {
    /// Starts forwarding to `127.0.0.1:<target>`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let refused = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (refused.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let r = r.clone();
                std::thread::spawn(move || proxy_connection(conn, target, &r));
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            refused,
            stop,
            port,
        }
    }

    /// How many WebSocket upgrades were refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn proxy_connection(mut client: TcpStream, target: u16, refused: &AtomicUsize) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if text.contains("upgrade: websocket") {
        refused.fetch_add(1, Ordering::SeqCst);
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    if server.write_all(&head).is_err() {
        return;
    }
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut server_w);
        let _ = server_w.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// A share made without the CLI, with hand-written metadata: `(link, owner token)`.
/// `plain` is encrypted as it is; `metadata` is any JSON the test wants recipients to see.
pub fn craft_upload(
    server: &Server,
    metadata: &serde_json::Value,
    plain: &[u8],
) -> (String, String) {
    use sealdrop_protocol::{Encryptor, Secret, auth, link::ShareLink, metadata::encrypt_raw};
    let secret = Secret::generate().expect("random secret");
    let meta = encrypt_raw(&secret.metadata_key(), metadata.to_string().as_bytes());
    let mut body = Vec::new();
    let mut enc = Encryptor::new(&secret).expect("encryptor");
    enc.update(plain, &mut body).expect("encrypt");
    enc.finish(&mut body).expect("encrypt");
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         X-File-Metadata: {meta}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        server.port,
        auth::format_header(&secret.auth_key().to_base64url()),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(&body).expect("send");
    let (status, answer) = read_response(&mut stream).expect("answer");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON answer");
    let url = answer["url"].as_str().expect("url");
    let owner = answer["ownerToken"]
        .as_str()
        .expect("owner token")
        .to_owned();
    let link = ShareLink::from_download_url(url, secret).expect("link");
    (link.to_link().to_string(), owner)
}

/// The file id in a share link `<base>/download/<id>/#<secret>`.
pub fn id_of(link: &str) -> &str {
    sealdrop_protocol::link::id_in_url(link).expect("a share link has /download/<id>/")
}
