//! The processes a benchmark runs: the real `sealdrop-server`, the clients under test (the
//! `sealdrop` CLI, curl, ffsend, wrk), and their peak memory.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sealdrop_testkit::{S3Endpoint, drain, free_port, vm_hwm_kib};

/// Where the programs under test are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The `sealdrop-server` binary.
    pub server: PathBuf,
    /// The `sealdrop` CLI binary.
    pub cli: PathBuf,
    /// ffsend (the peer Send client).
    pub ffsend: PathBuf,
    /// curl.
    pub curl: PathBuf,
    /// wrk (the HTTP load generator).
    pub wrk: PathBuf,
}

impl Tools {
    /// The binaries in `bin_dir` (a cargo target profile directory) and the peer tools:
    /// `SEALDROP_FFSEND` or the cache `scripts/test` installs ffsend into, curl and wrk on
    /// the `PATH`.
    pub fn find(bin_dir: &Path) -> Result<Self> {
        let exists = |p: PathBuf, hint: &str| -> Result<PathBuf> {
            if p.exists() {
                Ok(p)
            } else {
                bail!("{} not found: {hint}", p.display())
            }
        };
        let ffsend = std::env::var_os("SEALDROP_FFSEND").map_or_else(
            || sealdrop_testkit::cache_dir().join("ffsend-0.2.77/bin/ffsend"),
            PathBuf::from,
        );
        Ok(Self {
            server: exists(
                bin_dir.join("sealdrop-server"),
                "build it (scripts/bench does)",
            )?,
            cli: exists(bin_dir.join("sealdrop"), "build it (scripts/bench does)")?,
            ffsend: exists(ffsend, "scripts/test installs ffsend")?,
            curl: on_path("curl")?,
            wrk: on_path("wrk")?,
        })
    }
}

fn on_path(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} is not installed (scripts/test installs it)"))
}

/// The backends a benchmark server uses.
#[derive(Debug, Clone, Default)]
pub struct Backend {
    /// S3 store and `s3://bucket/prefix`, or the local directory when `None`.
    pub s3: Option<(S3Endpoint, String)>,
    /// `redis://…`, or embedded SQLite when `None`.
    pub redis: Option<String>,
}

/// A release `sealdrop-server` on a free loopback port with its own data directory, rate
/// limits and per-client connection caps off (every client of a benchmark is 127.0.0.1),
/// killed on drop.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on `backend`: on a free port, tried three times, as another process
    /// may take the port between its choice and the server's bind.
    pub fn start(tools: &Tools, backend: &Backend) -> Result<Self> {
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(tools, backend) {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("sealdrop-server did not start")))
    }

    fn try_start(tools: &Tools, backend: &Backend) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = Command::new(&tools.server);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--base-url")
            .arg(&base)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--max-file-size", "64GiB", "--max-downloads", "100"])
            .args(["--max-connections-per-client", "0"])
            .args(["--max-connections", "4096"])
            .env("SEALDROP_UPLOAD_RATE", "0")
            .env("SEALDROP_UPLOAD_QUOTA", "0")
            .env("SEALDROP_DOWNLOAD_RATE", "0")
            .env("SEALDROP_WRONG_PASSWORD_RATE", "0")
            .env("SEALDROP_OWNER_RATE", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((s3, storage)) = &backend.s3 {
            cmd.env("SEALDROP_STORAGE", storage)
                .env("SEALDROP_S3_ENDPOINT", &s3.endpoint)
                .env("SEALDROP_S3_REGION", &s3.region)
                .env("AWS_ACCESS_KEY_ID", &s3.access_key)
                .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key);
        }
        if let Some(redis) = &backend.redis {
            cmd.env("SEALDROP_META", redis);
        }
        let mut child = cmd.spawn().context("cannot start sealdrop-server")?;
        let start = Instant::now();
        loop {
            let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            if let Some(status) = child.try_wait()? {
                bail!("sealdrop-server exited ({status}):\n{}", log());
            }
            if heartbeat(port) {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("sealdrop-server did not answer within 30 s:\n{}", log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            base,
            port,
            child,
            _dir: dir,
        })
    }

    /// The server's peak resident memory since it started, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        vm_hwm_kib(self.child.id()).map_or(0.0, |k| k as f64 / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn heartbeat(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /__lbheartbeat__ HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// One finished client run.
#[derive(Debug)]
pub struct Run {
    /// Wall-clock seconds from spawn to exit.
    pub secs: f64,
    /// The client's peak resident memory, MiB (sampled `VmHWM`, a high-water mark).
    pub peak_rss_mib: f64,
    /// Its standard output.
    pub stdout: String,
}

/// Runs `cmd` to completion, timing it and sampling its peak memory. A thread waits for
/// the child, so the clock stops the moment it exits; `VmHWM` is read every 10 ms meanwhile
/// and only grows, so a sample taken after the peak catches it (only a peak in the last
/// few milliseconds before exit could be missed). A non-zero exit is an error that carries
/// the client's standard error.
pub fn run(mut cmd: Command, what: &str) -> Result<Run> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(Instant::now());
        status
    });
    let mut peak = vm_hwm_kib(pid).unwrap_or(0);
    let end = loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(end) => break end,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break Instant::now(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if start.elapsed() > Duration::from_secs(1800) {
            // The waiter owns the child: signal it by its id, then let the waiter reap it.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = waiter.join();
            bail!("{what} ran longer than 30 minutes");
        }
    };
    let status = waiter
        .join()
        .map_err(|_| anyhow::anyhow!("the waiter of {what} panicked"))??;
    let secs = end.duration_since(start).as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    if !status.success() {
        bail!("{what} failed ({status}): {}", stderr.trim());
    }
    Ok(Run {
        secs,
        peak_rss_mib: peak as f64 / 1024.0,
        stdout,
    })
}
