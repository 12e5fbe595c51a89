//! Redis down for 10 s: the instances answer 503 during the outage, never hang, and recover
//! by themselves when Redis is back.

use super::*;

/// Longest an operation that starts while Redis is down may take. The store's own bound
/// is 3 s (`OPERATION_TIMEOUT`, checked in the server's unit tests); this one only
/// catches an operation that hangs, not a slow machine.
const OUTAGE_HANG_BOUND: Duration = Duration::from_secs(30);

/// Whether an operation succeeded (a 404 is an answer, not a failure), or how it failed.
fn failure_of(op: &Op) -> Option<String> {
    match op {
        Op::Upload {
            outcome: UploadOutcome::Ok,
            ..
        }
        | Op::Download {
            outcome: DownloadOutcome::Complete | DownloadOutcome::NotFound,
            ..
        } => None,
        Op::Upload {
            outcome: UploadOutcome::Refused(s, c),
            ..
        }
        | Op::Download {
            outcome: DownloadOutcome::Refused(s, c),
            ..
        } => Some(format!("{s} {c}")),
        other => Some(format!("{other:?}")),
    }
}

#[test]
fn redis_down_for_10_s_answers_503_then_recovers() {
    let _heavy = serial();
    let started = Instant::now();
    let mut cluster = cluster(Backend::Shared, &[]);
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(60));
    let mut rng = Rng::new(seed());
    let outage = Duration::from_secs(10);
    let nodes = cluster.nodes.len();
    // When Redis came back (set once it did), and when each instance first answered an
    // operation successfully after that.
    let up: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let recovered: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; nodes]));
    let (down_at, up_at, since) = rt.block_on(async {
        let shares: Arc<Mutex<Vec<Arc<Share>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..24usize {
            let (client, history, shares, stop, up, recovered) = (
                client.clone(),
                history.clone(),
                shares.clone(),
                stop.clone(),
                up.clone(),
                recovered.clone(),
            );
            let base = cluster.base(w).to_owned();
            let mut rng = Rng::new(rng.next());
            tasks.push(tokio::spawn(async move {
                // Each operation's outcome: whether it succeeded.
                let note = |ok: bool| {
                    if ok && let Some(up) = up.get() {
                        let now = Instant::now();
                        if now > *up {
                            recovered.lock().unwrap()[w % nodes].get_or_insert(now);
                        }
                    }
                };
                while !stop.load(Ordering::SeqCst) {
                    if w < 8 {
                        let content = Content::new(1024 + rng.below(256 * 1024), rng.next());
                        if let Ok(share) = upload(
                            &client,
                            &history,
                            &base,
                            content,
                            20,
                            Duration::from_secs(3600),
                        )
                        .await
                        {
                            note(true);
                            shares.lock().unwrap().push(share);
                        } else {
                            note(false);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    } else {
                        let pick = {
                            let shares = shares.lock().unwrap();
                            (!shares.is_empty())
                                .then(|| shares[rng.below(shares.len() as u64) as usize].clone())
                        };
                        match pick {
                            Some(share) => {
                                let outcome = download(&client, &history, &base, &share).await;
                                note(matches!(
                                    outcome,
                                    DownloadOutcome::Complete | DownloadOutcome::NotFound
                                ));
                                if outcome != DownloadOutcome::Complete {
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                            None => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                }
            }));
        }
        tokio::time::sleep_until((t0 + Duration::from_secs(4)).into()).await;
        // Taken just before the proxy goes down: Redis is back no sooner than `up_at`.
        let down_at = Instant::now();
        cluster.redis_proxy().down_for(outage);
        let up_at = down_at + outage;
        tokio::time::sleep_until(up_at.into()).await;
        let _ = up.set(up_at);
        // Traffic goes on for a while after Redis is back, and until every instance has
        // answered again and more than 10 operations began after the last of them did
        // (however long that takes a loaded machine, within a generous bound).
        tokio::time::sleep(Duration::from_secs(6)).await;
        let since = wait::until_async(
            "every instance serves again after Redis returned, 11 operations since",
            wait::EVENTUALLY,
            async || {
                let since = recovered
                    .lock()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect::<Option<Vec<Instant>>>()?
                    .into_iter()
                    .max()?;
                let after = history
                    .events()
                    .iter()
                    .filter(|e| e.start >= since && failure_of(&e.op).is_none())
                    .count();
                (after > 10).then_some(since)
            },
        )
        .await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        let all = shares.lock().unwrap().clone();
        final_check(&cluster, &client, &history, &all).await;
        (down_at, up_at, since)
    });
    let margin = Duration::from_millis(500);
    let mut during_503 = 0;
    let mut after_ok = 0;
    for event in history.events() {
        let failed_with = failure_of(&event.op);
        let took = event.end - event.start;
        if event.start >= down_at + margin && event.start < up_at {
            // Begun while Redis is down: never a hang.
            assert!(
                took < OUTAGE_HANG_BOUND,
                "an operation begun during the outage took {took:?}"
            );
        }
        if event.start >= down_at + margin && event.end <= up_at {
            // Answered while Redis is down: a 503, never another error.
            if let Some(what) = &failed_with {
                assert!(what == "503 unavailable", "during the outage: {what}");
                during_503 += 1;
            }
        } else if event.start >= since {
            // Once every instance has served a request again, nothing fails.
            assert!(
                failed_with.is_none(),
                "after recovery: {failed_with:?}\n{}",
                cluster.logs()
            );
            after_ok += 1;
        } else if event.start < down_at {
            assert!(
                failed_with.is_none() || event.end > down_at,
                "before the outage: {failed_with:?}"
            );
        }
    }
    assert!(
        during_503 > 10,
        "only {during_503} operations answered 503 during the outage"
    );
    assert!(
        after_ok > 10,
        "only {after_ok} operations after the recovery"
    );
    conclude(
        &format!(
            "Redis down 10 s under traffic ({during_503} 503s, every instance back {:.1?} \
             after Redis), {}",
            since.saturating_duration_since(up_at),
            Backend::Shared.name()
        ),
        &mut cluster,
        &history,
        started,
    );
}
