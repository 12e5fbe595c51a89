//! Regressions: scenarios for bugs the suite found.

use super::*;

/// Found by the storage-fault scenario: when Redis answered an upload's insert too late
/// (a stall), the upload was answered 503 and its blob deleted, but the insert had run,
/// leaving a row for a failed upload (and without a blob). The server now removes such a
/// row as soon as the store answers again.
#[test]
fn a_failed_upload_whose_insert_timed_out_leaves_no_row() {
    let _heavy = serial();
    let cluster = cluster(Backend::Shared, &[]);
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(60));
    // Longer than the answer timeout (2 s), shorter than the whole operation's (3 s):
    // the insert arrives while the server still waits, but it gave up on the answer.
    const STALL: Duration = Duration::from_millis(2500);
    let stall_end = rt.block_on(async {
        // Everything before the insert is S3; the insert waits in the stalled proxy and
        // runs when the stall ends, after the server gave up on its answer.
        // One upload first, so Redis knows the insert script (an EVALSHA it does not know
        // would only answer NOSCRIPT when the stall ends).
        upload(
            &client,
            &history,
            cluster.base(0),
            Content::new(10, 2),
            1,
            Duration::from_secs(3600),
        )
        .await
        .expect("an upload without faults succeeds");
        let s3_before = cluster.s3_proxy().bytes();
        let uploading = {
            let (client, history) = (client.clone(), history.clone());
            let base = cluster.base(0).to_owned();
            tokio::spawn(async move {
                upload(
                    &client,
                    &history,
                    &base,
                    Content::new(6 << 20, 1),
                    1,
                    Duration::from_secs(3600),
                )
                .await
            })
        };
        // Stall Redis once S3 has the whole blob: the next step is the insert.
        while cluster.s3_proxy().bytes() < s3_before + (6 << 20) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        cluster.redis_proxy().stall(STALL);
        let stall_end = Instant::now() + STALL;
        let outcome = uploading.await.unwrap();
        // (Checked below, after the stall.)
        assert_eq!(
            outcome.err(),
            Some(UploadOutcome::Refused(503, "unavailable".into()))
        );
        stall_end
    });
    // The insert runs when the stall ends: without the fix its row stayed for good. With
    // it the server's removal (queued behind the insert, or retried) takes it away.
    std::thread::sleep(
        stall_end.saturating_duration_since(Instant::now()) + Duration::from_secs(1),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.rows().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the failed upload's row stayed: {:?}\n{}",
            cluster.rows(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_invariants(&cluster, &history, "a failed insert");
}
