//! SIGKILL and restart: instances killed mid-transfer serve nothing partial after their
//! restart, and what they left half-written is cleaned up.

use super::*;

/// Longest a restart may take before it counts as blocked (see its check in [`sigkill`]).
const RESTART_BOUND: Duration = Duration::from_secs(30);

fn sigkill(backend: Backend) {
    let _heavy = serial();
    let started = Instant::now();
    let mode = Mode::from_env();
    let kills = mode.pick(3, 10);
    let lease = Duration::from_secs(3);
    let mut cluster = cluster(backend, &["--download-lease", "3s", "--orphan-grace", "2s"]);
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(60));
    let mut rng = Rng::new(seed());
    let before: Vec<Arc<Share>> = rt.block_on(async {
        let mut out = Vec::new();
        for n in 0..100 {
            let content = Content::new(256 * 1024 + rng.below(3 << 20), rng.next());
            out.push(
                upload(
                    &client,
                    &history,
                    cluster.base(n),
                    content,
                    3,
                    Duration::from_secs(3600),
                )
                .await
                .expect("an upload without faults succeeds"),
            );
        }
        out
    });
    let uploaded: Arc<Mutex<Vec<Arc<Share>>>> = Arc::new(Mutex::new(before.clone()));
    let mut restarts = Vec::new();
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..16usize {
            let (client, history, next, uploaded) = (
                client.clone(),
                history.clone(),
                next.clone(),
                uploaded.clone(),
            );
            let bases = cluster.bases();
            let before = before.clone();
            let mut rng = Rng::new(rng.next());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= 200 {
                        return;
                    }
                    let base = &bases[(w + i) % bases.len()];
                    if i % 2 == 0 {
                        let content = Content::new(1 << 20 | rng.below(5 << 20), rng.next());
                        if let Ok(share) = upload(
                            &client,
                            &history,
                            base,
                            content,
                            3,
                            Duration::from_secs(3600),
                        )
                        .await
                        {
                            uploaded.lock().unwrap().push(share);
                        }
                    } else {
                        download(&client, &history, base, &before[i / 2]).await;
                    }
                }
            }));
        }
        for _ in 0..kills {
            tokio::time::sleep(Duration::from_millis(200 + rng.below(1200))).await;
            cluster.nodes[0].kill9();
            tokio::time::sleep(Duration::from_millis(100)).await;
            restarts.push(cluster.nodes[0].restart());
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    // A restart answers without waiting for anything slow (the crash's clean-up runs in
    // the background): under a second on an idle machine, reported in the summary; the
    // bound only catches a start that blocks, not a loaded machine.
    for took in &restarts {
        assert!(*took < RESTART_BOUND, "a restart took {took:?}");
    }
    // Nothing partial was ever served: a download is complete and intact, or cut.
    for event in history.events() {
        if let Op::Download { outcome, .. } = &event.op {
            assert!(
                matches!(
                    outcome,
                    DownloadOutcome::Complete
                        | DownloadOutcome::Cut(_)
                        | DownloadOutcome::NotFound
                        | DownloadOutcome::Transport(_)
                        | DownloadOutcome::Refused(503, _)
                ),
                "{outcome:?}"
            );
        }
    }

    // A download cut by a kill holds its slot until its lease ends, then gives it back.
    // The stuck response is kept open until the server is dead: dropping it first would
    // abort the download cleanly, and the server would give the slot back at once.
    let (held, stuck, reserved_after) = rt.block_on(async {
        let share = upload(
            &client,
            &history,
            cluster.base(0),
            Content::new(32 << 20, rng.next()),
            1,
            Duration::from_secs(3600),
        )
        .await
        .expect("upload");
        // The slot is reserved after this, so its lease ends after this plus the lease
        // (and, renewed or not, by the kill plus the lease).
        let reserved_after = Instant::now();
        let stuck = client.start_download(cluster.base(0), &share).await;
        assert!(stuck.is_some(), "the download started");
        (share, stuck, reserved_after)
    });
    cluster.nodes[0].kill9();
    let killed_at = Instant::now();
    drop(stuck);
    restarts.push(cluster.nodes[0].restart());
    rt.block_on(async {
        let other = cluster.base(cluster.nodes.len() - 1).to_owned();
        let early = download(&client, &history, &other, &held).await;
        if reserved_after.elapsed() < lease {
            assert_eq!(
                early,
                DownloadOutcome::NotFound,
                "the killed download's slot is held until its lease ends"
            );
        }
        tokio::time::sleep(
            (killed_at + lease + Duration::from_millis(500))
                .saturating_duration_since(Instant::now()),
        )
        .await;
        let late = download(&client, &history, &other, &held).await;
        assert_eq!(
            late,
            DownloadOutcome::Complete,
            "the slot came back after the lease\n{}",
            cluster.logs()
        );
    });

    // Temporary files and parts are gone after one sweep past the grace period.
    std::thread::sleep(Duration::from_millis(2500));
    let all = rt.block_on(async {
        for n in 0..cluster.nodes.len() {
            let _ = upload(
                &client,
                &history,
                cluster.base(n),
                Content::new(10, rng.next()),
                1,
                Duration::from_secs(3600),
            )
            .await;
        }
        wait::for_progress_async(
            "the sweeper's removal of the kills' leftovers",
            Patience::GENEROUS,
            async || cluster.leftovers().await,
        )
        .await;
        let all = uploaded.lock().unwrap().clone();
        final_check(&cluster, &client, &history, &all).await;
        all
    });
    assert!(all.len() > 100, "uploads succeeded around the kills");
    let slowest = restarts.iter().max().unwrap();
    conclude(
        &format!(
            "SIGKILL ×{} during 100 uploads + 100 downloads (slowest restart {slowest:.1?}), {}",
            kills + 1,
            backend.name()
        ),
        &mut cluster,
        &history,
        started,
    );
}

#[test]
fn a_killed_server_serves_nothing_partial_and_cleans_up_on_fs_and_sqlite() {
    sigkill(Backend::Local);
}

#[test]
fn a_killed_server_serves_nothing_partial_and_cleans_up_on_s3_and_redis() {
    sigkill(Backend::Shared);
}
