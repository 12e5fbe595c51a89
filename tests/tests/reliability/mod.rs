//! Reliability under faults and load: the promises that must hold when things go wrong,
//! checked on a recorded history (see `sealdrop_e2e::reliability::history`):
//! a file is never served after its expiry or beyond its download limit, never served
//! partially or corrupted, and a failure never loses or damages another file.
//!
//! Every scenario runs on the filesystem with SQLite (one instance) and on S3 with Redis
//! (two instances, each store behind a fault-injecting proxy), except those whose fault
//! exists on one backend only: storage faults through the proxy (S3 and Redis, on moto and
//! on garage) and Redis outages (S3 and Redis), a full disk (filesystem). The short mode runs in `scripts/test`;
//! `scripts/soak` runs the long one (`SEALDROP_RELIABILITY=long`) and prints the summary
//! table (`--nocapture`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sealdrop_e2e::reliability::client::{Client, Content, DownloadOutcome, Share, UploadOutcome};
use sealdrop_e2e::reliability::history::{History, Op, Summary};
use sealdrop_e2e::reliability::{Backend, Cluster, Mode, rss_mib};
use sealdrop_testkit::disk::SmallDisk;
use sealdrop_testkit::wait::{self, Patience};

mod disk_full;
mod dlimit_races;
mod expiry_storm;
mod redis_outage;
mod regressions;
mod sigkill;
mod soak;
mod storage_faults;

/// The scenarios are heavy: one at a time, so each gets the machine's cores.
fn serial() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Options every cluster of the suite gets: all clients come from 127.0.0.1.
const COMMON: [&str; 2] = ["--max-connections-per-client", "0"];

fn cluster(backend: Backend, extra: &[&str]) -> Cluster {
    let mut args: Vec<&str> = COMMON.to_vec();
    args.extend_from_slice(extra);
    Cluster::start(backend, &args)
}

/// A small deterministic generator (xorshift), so a failing run can be replayed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("SEALDROP_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// Uploads and records; the share if acknowledged.
async fn upload(
    client: &Client,
    history: &History,
    base: &str,
    content: Content,
    dlimit: u32,
    expiry: Duration,
) -> Result<Arc<Share>, UploadOutcome> {
    let start = Instant::now();
    let uploaded = client.upload(base, content, dlimit, expiry.as_secs()).await;
    history.upload(start, dlimit, expiry, &uploaded);
    uploaded.share.ok_or(uploaded.outcome)
}

/// Uploads through the WebSocket with a watcher: a task given the id from the server's
/// first answer, before the file is sent, that polls `exists` until the file is live (or
/// the upload has ended and one more answer came), then downloads it once. Its reads race
/// the commit, which is what the history's "never visible before acknowledged" invariant
/// checks. A file shown too early would show for the whole upload, so the polls back off
/// (5 ms, doubling up to 200 ms) rather than load the server while big files are sent.
async fn upload_watched(
    client: &Client,
    history: &History,
    base: &str,
    content: Content,
    dlimit: u32,
    expiry: Duration,
) -> Result<Arc<Share>, UploadOutcome> {
    let finished = Arc::new(AtomicBool::new(false));
    let mut watcher = None;
    let start = Instant::now();
    let uploaded = client
        .upload_ws(base, content, dlimit, expiry.as_secs(), |share| {
            let (client, history) = (client.clone(), history.clone());
            let (base, finished) = (base.to_owned(), finished.clone());
            watcher = Some(tokio::spawn(async move {
                let mut pause = Duration::from_millis(5);
                loop {
                    let last = finished.load(Ordering::SeqCst);
                    let start = Instant::now();
                    let status = client.exists(&base, &share.id).await;
                    history.exists(start, &share.id, status);
                    if status == 200 {
                        download(&client, &history, &base, &share).await;
                        return;
                    }
                    if last || status != 404 {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }));
        })
        .await;
    history.upload(start, dlimit, expiry, &uploaded);
    finished.store(true, Ordering::SeqCst);
    if let Some(watcher) = watcher {
        watcher.await.unwrap();
    }
    uploaded.share.ok_or(uploaded.outcome)
}

/// Downloads and records.
async fn download(
    client: &Client,
    history: &History,
    base: &str,
    share: &Share,
) -> DownloadOutcome {
    let start = Instant::now();
    let outcome = client.download(base, share).await;
    history.download(start, share, &outcome);
    outcome
}

/// The final check: every acknowledged file that must still be there downloads intact
/// (16 at a time; a file whose expiry comes too close meanwhile is skipped).
async fn final_check(cluster: &Cluster, client: &Client, history: &History, shares: &[Arc<Share>]) {
    let margin = Duration::from_secs(3);
    let survivors: std::collections::BTreeMap<String, Instant> = history
        .must_survive(Instant::now(), margin)
        .into_iter()
        .collect();
    let checks: Vec<(String, Arc<Share>, Instant)> = shares
        .iter()
        .filter_map(|s| {
            survivors.get(&s.id).map(|d| {
                (
                    cluster.base(s.id.len() + s.sha256[0] as usize).to_owned(),
                    s.clone(),
                    *d,
                )
            })
        })
        .collect();
    let queue = Arc::new(Mutex::new(checks));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (queue, client, history) = (queue.clone(), client.clone(), history.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some((base, share, deadline)) = queue.lock().unwrap().pop() else {
                    return;
                };
                if Instant::now() + margin >= deadline {
                    continue;
                }
                let start = Instant::now();
                let outcome = client.download(&base, &share).await;
                if outcome != DownloadOutcome::Complete {
                    eprintln!(
                        "final check of {}: {outcome:?}; the owner's info: {}\n{}",
                        share.id,
                        client.info(&base, &share).await,
                        history.describe(&share.id)
                    );
                }
                history.final_check(start, &share.id, &outcome);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
}

/// Checks the invariants; panics with every violation and the servers' logs.
fn assert_invariants(cluster: &Cluster, history: &History, scenario: &str) -> usize {
    let violations = history.check(&cluster.rows());
    assert!(
        violations.is_empty(),
        "{scenario}: {} invariant violations:\n{}\n\nlogs:\n{}",
        violations.len(),
        violations.join("\n"),
        cluster.logs()
    );
    0
}

fn report(summary: &Summary) {
    println!("\n{}", summary.render());
}

/// Checks the invariants (panicking with every violation) and prints the run's row.
fn conclude(title: &str, cluster: &mut Cluster, history: &History, started: Instant) {
    let mut summary = Summary::new();
    add_row(&mut summary, title, cluster, history, started);
    report(&summary);
}

/// Checks the invariants (panicking with every violation) and adds the run's row.
fn add_row(
    summary: &mut Summary,
    title: &str,
    cluster: &mut Cluster,
    history: &History,
    started: Instant,
) {
    let violations = assert_invariants(cluster, history, title);
    summary.add(
        title,
        history,
        violations,
        &cluster.peak_rss_mib(),
        started.elapsed(),
    );
}
