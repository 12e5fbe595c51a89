//! Download-limit races: many clients race for the last downloads of shares; no share is
//! ever served beyond its limit, and every counted download was a whole, correct file.

use super::*;

fn dlimit_races(backend: Backend) {
    let _heavy = serial();
    let mode = Mode::from_env();
    let trials: usize = mode.pick(500, 2000);
    let racers = 50;
    let mut summary = Summary::new();
    let mut cluster = cluster(backend, &[]);
    let rt = runtime();
    for dlimit in [1u32, 5] {
        let started = Instant::now();
        let history = History::new();
        let client = Client::new(Duration::from_secs(60));
        let mut rng = Rng::new(seed());
        rt.block_on(async {
            // A few trials at once keep both cores busy.
            let parallel = 4;
            for round in 0..trials.div_ceil(parallel) {
                let mut trial_tasks = Vec::new();
                for t in 0..parallel.min(trials - round * parallel) {
                    let content = Content::new(16 * 1024 + rng.below(64 * 1024), rng.next());
                    let share = upload(
                        &client,
                        &history,
                        cluster.base(t),
                        content,
                        dlimit,
                        Duration::from_secs(600),
                    )
                    .await
                    .expect("an upload without faults succeeds");
                    let mut tasks = Vec::new();
                    for r in 0..racers {
                        let (client, history, share) =
                            (client.clone(), history.clone(), share.clone());
                        let base = cluster.base(r).to_owned();
                        tasks.push(tokio::spawn(async move {
                            download(&client, &history, &base, &share).await
                        }));
                    }
                    trial_tasks.push((share, tasks));
                }
                for (share, tasks) in trial_tasks {
                    let mut complete = 0;
                    for task in tasks {
                        match task.await.unwrap() {
                            DownloadOutcome::Complete => complete += 1,
                            DownloadOutcome::NotFound => {}
                            other => panic!("a racer of {} got {other:?}", share.id),
                        }
                    }
                    // Without faults every allowed download is taken by someone.
                    assert_eq!(complete, dlimit, "completed downloads of {}", share.id);
                }
            }
        });
        add_row(
            &mut summary,
            &format!(
                "dlimit={dlimit} race, {trials}×{racers}, {}",
                backend.name()
            ),
            &mut cluster,
            &history,
            started,
        );
    }
    report(&summary);
}

#[test]
fn download_limits_hold_under_races_on_fs_and_sqlite() {
    dlimit_races(Backend::Local);
}

#[test]
fn download_limits_hold_under_races_on_s3_and_redis() {
    dlimit_races(Backend::Shared);
}
