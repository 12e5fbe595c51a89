//! Disk full: uploads are refused with 507, the files already stored stay whole, and
//! uploads work again once there is room.

use super::*;

#[test]
fn a_full_disk_refuses_uploads_with_507_keeps_files_and_recovers() {
    let _heavy = serial();
    let started = Instant::now();
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let root = tempfile::Builder::new().tempdir_in(disk.path()).unwrap();
    let mut args: Vec<&str> = COMMON.to_vec();
    args.extend(["--max-file-size", "64MiB"]);
    let mut cluster = Cluster::start_in(Backend::Local, &args, root);
    let rt = runtime();
    let history = History::new();
    let client = Client::new(Duration::from_secs(60));
    let mut rng = Rng::new(seed());
    rt.block_on(async {
        let base = cluster.base(0);
        let mut kept = Vec::new();
        for _ in 0..3 {
            let content = Content::new(1 << 20, rng.next());
            kept.push(
                upload(
                    &client,
                    &history,
                    base,
                    content,
                    10,
                    Duration::from_secs(3600),
                )
                .await
                .expect("upload"),
            );
        }
        // One upload bigger than the whole disk: refused midway, its temp file removed.
        let start = Instant::now();
        let uploaded = client
            .upload(base, Content::new(40 << 20, rng.next()), 1, 3600)
            .await;
        history.upload(start, 1, Duration::from_secs(3600), &uploaded);
        assert_eq!(
            uploaded.outcome,
            UploadOutcome::Refused(507, "insufficient_storage".into()),
            "{}",
            cluster.logs()
        );
        assert_eq!(
            cluster.leftovers().await,
            Vec::<String>::new(),
            "the failed upload left its temp file"
        );
        // Fill the disk with 2 MiB files until one is refused.
        let mut filler = Vec::new();
        let refused = loop {
            let start = Instant::now();
            let uploaded = client
                .upload(base, Content::new(2 << 20, rng.next()), 1, 3600)
                .await;
            history.upload(start, 1, Duration::from_secs(3600), &uploaded);
            match (uploaded.outcome, uploaded.share) {
                (UploadOutcome::Ok, Some(share)) => filler.push(share),
                (other, _) => break other,
            }
            assert!(
                filler.len() < 20,
                "a 24 MiB disk took {} files of 2 MiB",
                filler.len()
            );
        };
        assert!(
            matches!(&refused, UploadOutcome::Refused(507, c) if c == "insufficient_storage")
                || matches!(&refused, UploadOutcome::Refused(503, c) if c == "unavailable"),
            "a full disk answered {refused:?}"
        );
        let sentence = raw_upload_sentence(cluster.nodes[0].port);
        assert!(
            sentence.contains("out of storage space") || sentence.contains("unavailable"),
            "the refusal's sentence: {sentence}"
        );
        // Existing files still download, intact.
        for share in &kept {
            assert_eq!(
                download(&client, &history, base, share).await,
                DownloadOutcome::Complete
            );
        }
        // Space returns (the owner deletes files): uploads work again.
        for share in filler.drain(..) {
            let start = Instant::now();
            let status = client.delete(base, &share).await;
            history.record(
                start,
                Op::Delete {
                    id: share.id.clone(),
                    status,
                },
            );
            assert_eq!(status, 200);
        }
        let again = upload(
            &client,
            &history,
            base,
            Content::new(4 << 20, rng.next()),
            2,
            Duration::from_secs(3600),
        )
        .await;
        assert!(
            again.is_ok(),
            "an upload after space returned failed\n{}",
            cluster.logs()
        );
        kept.extend(again.ok());
        final_check(&cluster, &client, &history, &kept).await;
    });
    conclude(
        &format!("disk full (a 24 MiB tmpfs), {}", Backend::Local.name()),
        &mut cluster,
        &history,
        started,
    );
    drop(cluster);
    drop(disk);
}

/// The sentence of a 2 MiB upload's refusal, read raw (the client keeps only the code).
fn raw_upload_sentence(port: u16) -> String {
    use std::io::{Read, Write};
    let body: Vec<u8> = Content::new(2 << 20, 7).chunks().flatten().collect();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         X-File-Metadata: AAAA\r\nAuthorization: send-v1 AAAAAAAAAAAAAAAAAAAAAA\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
