//! Storage faults: S3 and Redis behind a fault-injecting proxy (latency, low bandwidth,
//! stalls, resets, refused connections, down), each for a few seconds then healed; every
//! failure is a clean error within a bound, and nothing acknowledged is lost.

use super::*;

/// A fault of the storage-fault scenario, applied for a few seconds then healed.
#[derive(Debug, Clone, Copy)]
enum Fault {
    S3Latency,
    S3Bandwidth,
    S3Stall,
    S3Reset,
    S3Refuse,
    S3Down,
    RedisLatency,
    RedisStall,
    RedisReset,
    RedisDown,
}

impl Fault {
    const ALL: [Self; 10] = [
        Self::S3Latency,
        Self::S3Bandwidth,
        Self::S3Stall,
        Self::S3Reset,
        Self::S3Refuse,
        Self::S3Down,
        Self::RedisLatency,
        Self::RedisStall,
        Self::RedisReset,
        Self::RedisDown,
    ];

    /// Whether every operation must still succeed (only slower).
    fn benign(self) -> bool {
        matches!(
            self,
            Self::S3Latency | Self::S3Bandwidth | Self::RedisLatency
        )
    }

    fn apply(self, cluster: &Cluster) {
        let (s3, redis) = (cluster.s3_proxy(), cluster.redis_proxy());
        match self {
            Self::S3Latency => s3.latency(Duration::from_millis(30)),
            Self::S3Bandwidth => s3.bandwidth(8 << 20),
            Self::S3Stall => s3.stall(Duration::from_secs(12)),
            Self::S3Reset => s3.reset_after(1 << 20),
            Self::S3Refuse => s3.refuse(),
            Self::S3Down => s3.down_for(Duration::from_secs(3)),
            Self::RedisLatency => redis.latency(Duration::from_millis(10)),
            Self::RedisStall => redis.stall(Duration::from_secs(8)),
            Self::RedisReset => redis.reset_all(),
            Self::RedisDown => redis.down_for(Duration::from_secs(3)),
        }
    }

    fn heal(cluster: &Cluster) {
        cluster.s3_proxy().heal();
        cluster.redis_proxy().heal();
    }
}

/// The S3 timeout the fault scenarios configure, and the longest an operation under a
/// fault may take. The server's own bound is 3 attempts of that timeout and the backoff
/// between them (18 s, see `--s3-timeout`); the rest is slack for the transfer itself on
/// a loaded machine. What this catches is an operation that hangs: the client gives up
/// on one after twice as long ([`FAULT_CLIENT_DEADLINE`]).
const S3_TIMEOUT: &str = "5s";
const FAILURE_BOUND: Duration = Duration::from_secs(60);
const FAULT_CLIENT_DEADLINE: Duration = Duration::from_secs(120);

/// Every fault of [`Fault::ALL`] in turn, for a few seconds each, during uploads and
/// downloads on `backend` (moto or garage, and Redis, each behind its proxy).
fn storage_faults(backend: Backend) {
    let _heavy = serial();
    let started = Instant::now();
    let mut cluster = cluster(
        backend,
        &[
            "--s3-timeout",
            S3_TIMEOUT,
            "--s3-part-size",
            "5MiB",
            "--orphan-grace",
            "2s",
        ],
    );
    let rt = runtime();
    let history = History::new();
    let client = Client::new(FAULT_CLIENT_DEADLINE);
    let mut rng = Rng::new(seed());
    // Files from before the faults, which must survive all of them.
    let stable: Vec<Arc<Share>> = rt.block_on(async {
        let mut out = Vec::new();
        for n in 0..6 {
            let content = Content::new(12 << 20, rng.next());
            out.push(
                upload(
                    &client,
                    &history,
                    cluster.base(n),
                    content,
                    100,
                    Duration::from_secs(3600),
                )
                .await
                .expect("an upload without faults succeeds"),
            );
        }
        out
    });
    let mut uploaded = stable.clone();
    for fault in Fault::ALL {
        let ops: Vec<(Instant, String)> = rt.block_on(async {
            let mut tasks = Vec::new();
            for (n, stable_share) in stable.iter().take(4).enumerate() {
                let (c, h) = (client.clone(), history.clone());
                let base = cluster.base(n).to_owned();
                let content = Content::new(12 << 20, rng.next());
                tasks.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let share =
                        upload(&c, &h, &base, content, 100, Duration::from_secs(3600)).await;
                    (start, share.ok(), None)
                }));
                let share = stable_share.clone();
                let (client, history) = (client.clone(), history.clone());
                let base = cluster.base(n + 1).to_owned();
                tasks.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let outcome = download(&client, &history, &base, &share).await;
                    (start, None, Some(outcome))
                }));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            fault.apply(&cluster);
            tokio::time::sleep(Duration::from_secs(3)).await;
            Fault::heal(&cluster);
            let mut ops = Vec::new();
            for task in tasks {
                let (start, share, outcome) = task.await.unwrap();
                let took = start.elapsed();
                assert!(
                    took < FAILURE_BOUND,
                    "{fault:?}: an operation took {took:?}"
                );
                if let Some(share) = share {
                    uploaded.push(share);
                }
                ops.push((start, format!("{outcome:?}")));
            }
            ops
        });
        let _ = ops;
        // The outcomes of this fault's operations.
        let events = history.events();
        let recent: Vec<&Op> = events.iter().rev().take(8).map(|e| &e.op).collect();
        // Under a benign fault most operations succeed, only slower. (moto answers some
        // part uploads that arrive through the capped proxy with a 500 of its own, which
        // the server passes on as a clean 503: so not all of them.)
        if fault.benign() {
            let ok = recent
                .iter()
                .filter(|op| {
                    matches!(
                        op,
                        Op::Upload {
                            outcome: UploadOutcome::Ok,
                            ..
                        } | Op::Download {
                            outcome: DownloadOutcome::Complete,
                            ..
                        }
                    )
                })
                .count();
            assert!(
                ok >= recent.len() / 2,
                "{fault:?}: only {ok} of {} succeeded: {recent:?}",
                recent.len()
            );
        }
        for op in recent {
            let clean = match op {
                Op::Upload {
                    outcome: UploadOutcome::Ok,
                    ..
                }
                | Op::Download {
                    outcome: DownloadOutcome::Complete,
                    ..
                } => true,
                Op::Upload {
                    outcome: UploadOutcome::Refused(503, code),
                    ..
                }
                | Op::Download {
                    outcome: DownloadOutcome::Refused(503, code),
                    ..
                } => code == "unavailable",
                // A download whose store failed after the first bytes can only be cut.
                Op::Download {
                    outcome: DownloadOutcome::Cut(_),
                    ..
                } => true,
                _ => false,
            };
            assert!(
                clean,
                "{fault:?}: not a clean outcome: {op:?}\n{}",
                cluster.logs()
            );
        }
        // Between faults everything works again at once.
        rt.block_on(async {
            let content = Content::new(6 << 20, rng.next());
            let share = upload(
                &client,
                &history,
                cluster.base(0),
                content,
                100,
                Duration::from_secs(3600),
            )
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{fault:?}: an upload after healing failed: {e:?}\n{}",
                    cluster.logs()
                )
            });
            uploaded.push(share);
        });
    }
    // After the grace period, one sweep of each instance removes every abandoned
    // multipart upload (a new upload wakes the sweeper).
    std::thread::sleep(Duration::from_millis(2500));
    rt.block_on(async {
        for n in 0..cluster.nodes.len() {
            let share = upload(
                &client,
                &history,
                cluster.base(n),
                Content::new(10, rng.next()),
                1,
                Duration::from_secs(3600),
            )
            .await
            .expect("upload");
            uploaded.push(share);
        }
        wait::for_progress_async(
            "the sweeper's aborts of abandoned multipart uploads",
            Patience::GENEROUS,
            async || cluster.leftovers().await,
        )
        .await;
        final_check(&cluster, &client, &history, &uploaded).await;
    });
    conclude(
        &format!(
            "storage faults ({} modes, S3 and Redis), {}",
            Fault::ALL.len(),
            backend.name()
        ),
        &mut cluster,
        &history,
        started,
    );
}

#[test]
fn storage_faults_give_clean_errors_and_lose_nothing_on_s3_and_redis() {
    storage_faults(Backend::Shared);
}

/// The same faults in front of garage: a real S3 server, with its own answers to cut and
/// stalled requests, SigV4 checks and data on disk.
#[test]
fn storage_faults_give_clean_errors_and_lose_nothing_on_garage_and_redis() {
    storage_faults(Backend::SharedGarage);
}
