//! Soak: 64 uploaders and 256 downloaders for a while; the invariants hold and each
//! instance's memory stays flat.

use super::*;

/// Seconds since the soak began, and each instance's RSS then (MiB).
type RssSample = (Duration, Vec<u64>);

/// The most an instance may hold during the soak (debug build): 64 uploads in flight with
/// their part buffers (8 MiB on S3) or WebSocket messages (up to 4 MiB), and 256
/// downloads; the soak's samples stay near 100 MiB.
const SOAK_PEAK_MIB: u64 = 384;

fn soak(backend: Backend) {
    let _heavy = serial();
    let started = Instant::now();
    let mode = Mode::from_env();
    let duration = std::env::var("SEALDROP_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(mode.pick(Duration::from_secs(60), Duration::from_secs(600)));
    let mut cluster = cluster(backend, &[]);
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(120));
    let mut rng = Rng::new(seed());
    let end = Instant::now() + duration;
    let shares: Arc<Mutex<Vec<Arc<Share>>>> = Arc::default();
    let samples: Arc<Mutex<Vec<RssSample>>> = Arc::default();
    let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.pid()).collect();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..64usize {
            let (client, history, shares) = (client.clone(), history.clone(), shares.clone());
            let base = cluster.base(w).to_owned();
            let mut rng = Rng::new(rng.next());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let len = match rng.below(100) {
                        0..70 => 1 + rng.below(64 * 1024),
                        70..95 => 64 * 1024 + rng.below(1 << 20),
                        _ => (1 << 20) + rng.below(7 << 20),
                    };
                    let expiry = if rng.below(10) == 0 {
                        5 + rng.below(15)
                    } else {
                        3600
                    };
                    let dlimit = 1 + rng.below(20) as u32;
                    let (content, expiry) =
                        (Content::new(len, rng.next()), Duration::from_secs(expiry));
                    // One upload in eight over the WebSocket, watched from its first answer.
                    let uploaded = if rng.below(8) == 0 {
                        upload_watched(&client, &history, &base, content, dlimit, expiry).await
                    } else {
                        upload(&client, &history, &base, content, dlimit, expiry).await
                    };
                    if let Ok(share) = uploaded {
                        let mut shares = shares.lock().unwrap();
                        shares.push(share);
                        if shares.len() > 4000 {
                            shares.drain(..1000);
                        }
                    }
                }
            }));
        }
        for w in 0..256usize {
            let (client, history, shares) = (client.clone(), history.clone(), shares.clone());
            let base = cluster.base(w).to_owned();
            let mut rng = Rng::new(rng.next());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let pick = {
                        let shares = shares.lock().unwrap();
                        (!shares.is_empty())
                            .then(|| shares[rng.below(shares.len() as u64) as usize].clone())
                    };
                    let Some(share) = pick else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    if rng.below(100) == 0 {
                        let start = Instant::now();
                        let status = client.delete(&base, &share).await;
                        history.record(
                            start,
                            Op::Delete {
                                id: share.id.clone(),
                                status,
                            },
                        );
                    } else if download(&client, &history, &base, &share).await
                        == DownloadOutcome::NotFound
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }));
        }
        let sampler = {
            let samples = samples.clone();
            let t0 = Instant::now();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let rss: Vec<u64> = pids.iter().map(|p| rss_mib(*p)).collect();
                    samples.lock().unwrap().push((t0.elapsed(), rss));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        for task in tasks {
            task.await.unwrap();
        }
        sampler.await.unwrap();
        let all = shares.lock().unwrap().clone();
        final_check(&cluster, &client, &history, &all).await;
    });
    let errors = history.server_errors();
    assert!(
        errors.is_empty(),
        "5xx answers without any fault: {errors:?}\n{}",
        cluster.logs()
    );
    assert_eq!(
        history.unanswered(),
        0,
        "operations without an answer: {:?}",
        history.tally()
    );
    // Flat memory: no growth with the work done, and a bounded peak. A leak raises the
    // typical level as operations pile up, so the median of the last quarter is compared
    // with the median of the second (the first is the warm-up: pools, buffers, the
    // allocator's arenas). Peaks are not compared with each other: a few of the 8 MiB
    // uploads arriving at once lift one sample by tens of MiB and it falls back (seen:
    // 86 → 125 → 97 MiB within 4 s), which says nothing about growth.
    let samples = samples.lock().unwrap().clone();
    let quarter = samples.len() / 4;
    let median = |range: &[RssSample], node: usize| {
        let mut values: Vec<u64> = range.iter().map(|(_, r)| r[node]).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    for node in 0..cluster.nodes.len() {
        let early = median(&samples[quarter..2 * quarter], node);
        let late = median(&samples[3 * quarter..], node);
        assert!(
            late <= early + early / 4 + 16,
            "instance {node}'s typical RSS grew from {early} MiB to {late} MiB: {samples:?}"
        );
        let peak = samples.iter().map(|(_, r)| r[node]).max().unwrap_or(0);
        assert!(
            peak <= SOAK_PEAK_MIB,
            "instance {node}'s RSS peaked at {peak} MiB: {samples:?}"
        );
    }
    let tally = history.tally();
    assert!(
        tally.get("download complete").copied().unwrap_or(0) > 1000,
        "{tally:?}"
    );
    conclude(
        &format!(
            "soak, 64 uploaders + 256 downloaders, {} s, {}",
            duration.as_secs(),
            backend.name()
        ),
        &mut cluster,
        &history,
        started,
    );
}

#[test]
fn a_soak_of_64_uploaders_and_256_downloaders_on_fs_and_sqlite() {
    soak(Backend::Local);
}

#[test]
fn a_soak_of_64_uploaders_and_256_downloaders_on_s3_and_redis() {
    soak(Backend::Shared);
}
