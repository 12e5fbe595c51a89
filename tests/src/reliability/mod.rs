//! The reliability suite's harness: a cluster of real `sealdrop-server` processes on one
//! of its backends, with fault-injecting proxies in front of its stores, plus the async
//! client ([`client`]) and the history checker ([`history`]).
//!
//! - [`Backend::Local`]: one instance on its defaults, the filesystem and SQLite.
//! - [`Backend::Shared`]: two instances on one S3 store (moto) and one Redis, each store
//!   behind a [`FaultProxy`], so a test can slow, stall, cut or take down S3 or Redis.
//! - [`Backend::SharedGarage`]: the same on garage, a real S3 server (it checks SigV4
//!   signatures and keeps its data on disk), for the scenarios whose faults are S3's.
//!
//! The suite runs in a short mode in `scripts/test` and a long one in `scripts/soak`
//! (`SEALDROP_RELIABILITY=long`): [`Mode::pick`] chooses the sizes.

pub mod client;
pub mod history;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sealdrop_testkit::faults::FaultProxy;
use sealdrop_testkit::{Garage, Moto, Redis, S3Endpoint};

use crate::{LIMITS_OFF, bin, free_port, http_get};

/// How long the suite runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inside `scripts/test`: a few minutes in all.
    Short,
    /// `scripts/soak`: the full sizes.
    Long,
}

impl Mode {
    /// `SEALDROP_RELIABILITY=long` selects the long mode.
    pub fn from_env() -> Self {
        match std::env::var("SEALDROP_RELIABILITY").as_deref() {
            Ok("long") => Self::Long,
            _ => Self::Short,
        }
    }

    /// `short` in the short mode, `long` in the long one.
    pub fn pick<T>(self, short: T, long: T) -> T {
        match self {
            Self::Short => short,
            Self::Long => long,
        }
    }
}

/// Where a cluster keeps blobs and metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One instance: filesystem blobs, SQLite metadata.
    Local,
    /// Two instances sharing S3 (moto) and Redis, each behind a fault proxy.
    Shared,
    /// Two instances sharing garage's S3 and Redis, each behind a fault proxy.
    SharedGarage,
}

impl Backend {
    /// A short name for messages and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "fs+sqlite",
            Self::Shared => "s3+redis×2",
            Self::SharedGarage => "garage s3+redis×2",
        }
    }
}

/// The S3 server of a shared cluster.
#[derive(Debug)]
enum S3Server {
    Moto(Moto),
    Garage(Garage),
}

impl S3Server {
    /// Starts the server of `backend` with the suite's bucket.
    fn start(backend: Backend) -> Self {
        if backend == Backend::SharedGarage {
            let garage = Garage::start();
            garage.create_bucket(BUCKET);
            Self::Garage(garage)
        } else {
            let moto = Moto::start();
            moto.create_bucket(BUCKET);
            Self::Moto(moto)
        }
    }

    fn s3(&self) -> &S3Endpoint {
        match self {
            Self::Moto(moto) => &moto.s3,
            Self::Garage(garage) => &garage.s3,
        }
    }

    fn port(&self) -> u16 {
        match self {
            Self::Moto(moto) => moto.port,
            Self::Garage(garage) => garage.port,
        }
    }
}

/// One `sealdrop-server` process that can be killed and restarted on its port and data.
#[derive(Debug)]
pub struct Node {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// Highest VmHWM seen of each process this node ran (restarts start again).
    peak_kib: u64,
}

impl Node {
    fn new(
        dir: &std::path::Path,
        name: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Self {
        let port = free_port();
        let mut node = Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: dir.join(name).join("data"),
            args,
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
            peak_kib: 0,
        };
        let took = node.spawn();
        assert!(
            node.child.is_some(),
            "sealdrop-server did not start in {took:?}:\n{}",
            node.log()
        );
        node
    }

    /// Starts the process and waits until it answers (for up to
    /// [`sealdrop_testkit::wait::EVENTUALLY`]): the time that took.
    fn spawn(&mut self) -> Duration {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let log_too = log.try_clone().expect("log file");
        let mut cmd = Command::new(bin("sealdrop-server"));
        crate::clean_env(&mut cmd);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--base-url")
            .arg(&self.base)
            .args(&self.args)
            .envs(LIMITS_OFF)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_too)
            .stderr(log);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start sealdrop-server");
        while started.elapsed() < sealdrop_testkit::wait::EVENTUALLY {
            if let Ok(Some(_)) = child.try_wait() {
                return started.elapsed();
            }
            if let Ok((200, _)) = http_get(self.port, "/__lbheartbeat__") {
                self.child = Some(child);
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        started.elapsed()
    }

    /// `SIGKILL`: no shutdown, no cleanup, as a crash or the OOM killer would.
    pub fn kill9(&mut self) {
        self.note_peak();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and data: how long until it answered.
    pub fn restart(&mut self) -> Duration {
        self.kill9();
        let took = self.spawn();
        assert!(
            self.child.is_some(),
            "sealdrop-server did not restart:\n{}",
            self.log()
        );
        took
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node runs").id()
    }

    fn note_peak(&mut self) {
        if let Some(child) = &self.child
            && let Some(kib) = sealdrop_testkit::vm_hwm_kib(child.id())
        {
            self.peak_kib = self.peak_kib.max(kib);
        }
    }

    /// Peak resident memory of this node's processes so far, in MiB.
    pub fn peak_rss_mib(&mut self) -> u64 {
        self.note_peak();
        self.peak_kib / 1024
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> u64 {
        self.child.as_ref().map_or(0, |c| rss_mib(c.id()))
    }

    /// What it logged so far (every process it ran).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The resident memory (VmRSS) of process `pid` now, in MiB; 0 if it is gone.
pub fn rss_mib(pid: u32) -> u64 {
    sealdrop_testkit::vm_rss_kib(pid).unwrap_or(0) / 1024
}

/// The S3 bucket and prefix of a shared cluster.
const BUCKET: &str = "reliability";
const PREFIX: &str = "blobs";

/// Server instances on one backend, with their stores and proxies.
#[derive(Debug)]
pub struct Cluster {
    /// Which backend.
    pub backend: Backend,
    /// The instances (one for [`Backend::Local`], two for a shared backend).
    pub nodes: Vec<Node>,
    /// Between the instances and S3 (a shared backend).
    pub s3_proxy: Option<FaultProxy>,
    /// Between the instances and Redis (a shared backend).
    pub redis_proxy: Option<FaultProxy>,
    /// The S3 server.
    s3_server: Option<S3Server>,
    /// The Redis.
    pub redis: Option<Redis>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A cluster with `extra` options on every instance.
    pub fn start(backend: Backend, extra: &[&str]) -> Self {
        Self::start_in(
            backend,
            extra,
            tempfile::tempdir().expect("temporary directory"),
        )
    }

    /// A cluster whose files live in `dir` (e.g. a small tmpfs).
    pub fn start_in(backend: Backend, extra: &[&str], dir: tempfile::TempDir) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        match backend {
            Backend::Local => {
                let node = Node::new(dir.path(), "a", extra, Vec::new());
                Self {
                    backend,
                    nodes: vec![node],
                    s3_proxy: None,
                    redis_proxy: None,
                    s3_server: None,
                    redis: None,
                    dir,
                }
            }
            Backend::Shared | Backend::SharedGarage => {
                let s3_server = S3Server::start(backend);
                let s3 = s3_server.s3().clone();
                let redis = Redis::start();
                let s3_proxy =
                    FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], s3_server.port())));
                let redis_proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], redis.port)));
                let mut args = vec![
                    "--storage".to_owned(),
                    format!("s3://{BUCKET}/{PREFIX}"),
                    "--s3-endpoint".to_owned(),
                    format!("http://{}", s3_proxy.addr()),
                    "--s3-region".to_owned(),
                    s3.region.clone(),
                    "--meta".to_owned(),
                    format!("redis://{}/0", redis_proxy.addr()),
                ];
                args.extend(extra);
                let env = vec![
                    ("AWS_ACCESS_KEY_ID".to_owned(), s3.access_key.clone()),
                    ("AWS_SECRET_ACCESS_KEY".to_owned(), s3.secret_key.clone()),
                ];
                let nodes = ["a", "b"]
                    .iter()
                    .map(|name| Node::new(dir.path(), name, args.clone(), env.clone()))
                    .collect();
                Self {
                    backend,
                    nodes,
                    s3_proxy: Some(s3_proxy),
                    redis_proxy: Some(redis_proxy),
                    s3_server: Some(s3_server),
                    redis: Some(redis),
                    dir,
                }
            }
        }
    }

    /// The base URL of instance `n % instances`: spreading clients over the instances.
    pub fn base(&self, n: usize) -> &str {
        &self.nodes[n % self.nodes.len()].base
    }

    /// Every instance's base URL, to hand to tasks.
    pub fn bases(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base.clone()).collect()
    }

    /// The S3 server's endpoint and credentials (a shared cluster only).
    pub fn s3(&self) -> &S3Endpoint {
        self.s3_server
            .as_ref()
            .expect("a shared cluster has an S3 server")
            .s3()
    }

    /// The S3 proxy (a shared cluster only).
    pub fn s3_proxy(&self) -> &FaultProxy {
        self.s3_proxy
            .as_ref()
            .expect("a shared cluster has an S3 proxy")
    }

    /// The Redis proxy (a shared cluster only).
    pub fn redis_proxy(&self) -> &FaultProxy {
        self.redis_proxy
            .as_ref()
            .expect("a shared cluster has a Redis proxy")
    }

    /// The ids of every row the metadata store holds (expired ones not yet swept included).
    pub fn rows(&self) -> BTreeSet<String> {
        match self.backend {
            Backend::Local => {
                let path = self.nodes[0].data_dir.join("meta.sqlite");
                let db = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("open the server's SQLite store");
                let mut stmt = db.prepare("SELECT id FROM files").expect("query");
                stmt.query_map([], |row| row.get::<_, String>(0))
                    .expect("query")
                    .map(|r| r.expect("row"))
                    .collect()
            }
            Backend::Shared | Backend::SharedGarage => {
                let redis = self.redis.as_ref().expect("redis");
                let out = Command::new("redis-cli")
                    .args(["-p", &redis.port.to_string(), "--raw"])
                    .args(["ZRANGE", "sealdrop:expiry", "0", "-1"])
                    .output()
                    .expect("redis-cli (Debian's redis-tools, installed with redis-server)");
                assert!(out.status.success(), "redis-cli failed");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(ToOwned::to_owned)
                    .collect()
            }
        }
    }

    /// What failed or killed uploads may leave: pending temp files of the filesystem
    /// store, or incomplete multipart uploads in the bucket.
    pub async fn leftovers(&self) -> Vec<String> {
        match self.backend {
            Backend::Local => {
                let mut out = Vec::new();
                for node in &self.nodes {
                    for dir in [node.data_dir.join("blobs"), node.data_dir.clone()] {
                        if let Ok(entries) = std::fs::read_dir(&dir) {
                            for e in entries.flatten() {
                                let name = e.file_name().to_string_lossy().into_owned();
                                if name.starts_with(".pending") || name.starts_with(".tmp") {
                                    out.push(name);
                                }
                            }
                        }
                    }
                }
                out
            }
            Backend::Shared | Backend::SharedGarage => {
                let s3 = self.s3();
                let out = s3
                    .client()
                    .list_multipart_uploads()
                    .bucket(BUCKET)
                    .send()
                    .await
                    .expect("list multipart uploads");
                out.uploads()
                    .iter()
                    .map(|u| u.key().unwrap_or_default().to_owned())
                    .collect()
            }
        }
    }

    /// Committed blobs (files of the blob directory, or objects under the prefix).
    pub async fn blob_count(&self) -> usize {
        match self.backend {
            Backend::Local => std::fs::read_dir(self.nodes[0].data_dir.join("blobs"))
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .count()
                })
                .unwrap_or(0),
            Backend::Shared | Backend::SharedGarage => {
                let s3 = self.s3();
                let mut n = 0;
                let mut token = None;
                loop {
                    let out = s3
                        .client()
                        .list_objects_v2()
                        .bucket(BUCKET)
                        .prefix(format!("{PREFIX}/"))
                        .set_continuation_token(token)
                        .send()
                        .await
                        .expect("list objects");
                    n += out.contents().len();
                    match out.next_continuation_token() {
                        Some(t) => token = Some(t.to_owned()),
                        None => return n,
                    }
                }
            }
        }
    }

    /// Peak RSS of each instance so far, in MiB.
    pub fn peak_rss_mib(&mut self) -> Vec<u64> {
        self.nodes.iter_mut().map(Node::peak_rss_mib).collect()
    }

    /// Every instance's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.base, n.log()))
            .collect()
    }

    /// The directory holding the instances' data and logs.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
