//! Expiry storm: many short-lived shares expire while clients keep asking for them; nothing
//! is served after its expiry, and the sweeper removes every expired row and blob.

use super::*;

fn expiry_storm(backend: Backend, sweeper: bool) {
    let _heavy = serial();
    let started = Instant::now();
    let files = 1000;
    let mut cluster = cluster(
        backend,
        &["--sweeper", if sweeper { "true" } else { "false" }],
    );
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(30));
    let mut rng = Rng::new(seed());
    let plan: Vec<(Content, Duration)> = (0..files)
        .map(|_| {
            (
                Content::new(1024 + rng.below(4096), rng.next()),
                Duration::from_secs(1 + rng.below(3)),
            )
        })
        .collect();
    let shares: Arc<Mutex<Vec<Arc<Share>>>> = Arc::default();
    rt.block_on(async {
        let uploading = Arc::new(AtomicBool::new(true));
        // Continuous download attempts on random files while they upload and expire.
        let mut downloaders = Vec::new();
        for d in 0..32usize {
            let (client, history, shares, uploading) = (
                client.clone(),
                history.clone(),
                shares.clone(),
                uploading.clone(),
            );
            let bases = cluster.bases();
            let mut rng = Rng::new(rng.next());
            downloaders.push(tokio::spawn(async move {
                let mut quiet_since: Option<Instant> = None;
                loop {
                    let pick = {
                        let shares = shares.lock().unwrap();
                        if shares.is_empty() {
                            None
                        } else {
                            Some(shares[rng.below(shares.len() as u64) as usize].clone())
                        }
                    };
                    let Some(share) = pick else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let outcome =
                        download(&client, &history, &bases[d % bases.len()], &share).await;
                    // Keep going until every file has been gone for a while.
                    if uploading.load(Ordering::SeqCst) || outcome != DownloadOutcome::NotFound {
                        quiet_since = None;
                    } else if quiet_since.get_or_insert_with(Instant::now).elapsed()
                        > Duration::from_secs(2)
                    {
                        return;
                    }
                }
            }));
        }
        let next = Arc::new(AtomicUsize::new(0));
        let plan = Arc::new(plan);
        let mut uploaders = Vec::new();
        for u in 0..16usize {
            let (client, history, shares, next, plan) = (
                client.clone(),
                history.clone(),
                shares.clone(),
                next.clone(),
                plan.clone(),
            );
            let base = cluster.base(u).to_owned();
            uploaders.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(content, expiry)) = plan.get(i) else {
                        return;
                    };
                    let share = upload(&client, &history, &base, content, 100, expiry)
                        .await
                        .expect("an upload without faults succeeds");
                    shares.lock().unwrap().push(share);
                }
            }));
        }
        for u in uploaders {
            u.await.unwrap();
        }
        uploading.store(false, Ordering::SeqCst);
        for d in downloaders {
            d.await.unwrap();
        }
    });
    let shares = shares.lock().unwrap().clone();
    assert_eq!(shares.len(), files);
    // Every file has expired: each download attempt now must be a 404.
    rt.block_on(async {
        for (n, share) in shares.iter().enumerate() {
            let outcome = download(&client, &history, cluster.base(n), share).await;
            assert_eq!(
                outcome,
                DownloadOutcome::NotFound,
                "{} after its expiry",
                share.id
            );
        }
    });
    let completed = history
        .tally()
        .get("download complete")
        .copied()
        .unwrap_or(0);
    assert!(
        completed > 100,
        "the storm downloaded only {completed} files before they expired"
    );
    if sweeper {
        // The sweeper reclaims every row and blob after the last deadline: it keeps
        // deleting until none is left (how fast depends on the machine and the store).
        wait::for_progress(
            "the sweeper's deletions of expired (rows, blobs)",
            Patience::GENEROUS,
            || (cluster.rows().len(), rt.block_on(cluster.blob_count())),
        );
    } else {
        assert_eq!(
            cluster.rows().len(),
            files,
            "no sweeper: the rows stay (unreadable)"
        );
    }
    conclude(
        &format!(
            "expiry storm, {files} files of 1–3 s, sweeper {}, {}",
            if sweeper { "on" } else { "off" },
            backend.name()
        ),
        &mut cluster,
        &history,
        started,
    );
}

#[test]
fn nothing_is_served_after_its_expiry_in_a_storm_on_fs_and_sqlite() {
    expiry_storm(Backend::Local, true);
    expiry_storm(Backend::Local, false);
}

#[test]
fn nothing_is_served_after_its_expiry_in_a_storm_on_s3_and_redis() {
    expiry_storm(Backend::Shared, true);
    expiry_storm(Backend::Shared, false);
}
