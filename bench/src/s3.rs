//! Scenario 3: the CLI through a sealdrop server on S3 (moto and garage) beside direct
//! aws-sdk-s3 transfers of the same file to the same store, alternating.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures_util::{StreamExt, TryStreamExt};
use sealdrop_testkit::{Garage, Moto, S3Endpoint};
use std::io::Write;

use crate::clients::{Client, Prepared, sha256_file};
use crate::fs::show_size;
use crate::proc::{Backend, Server, Tools};
use crate::report::{Ratio, Report, Section};
use crate::stats::{Samples, mib_s};

/// The server's defaults (`--s3-part-size`, `--s3-parts-in-flight`), used by the direct
/// transfer too, so both move the same parts the same way.
const PART: u64 = 8 << 20;
const IN_FLIGHT: usize = 2;
const BUCKET: &str = "bench";
/// Longest a direct upload and download of the file may take together.
const DIRECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs scenario 3 on moto, then on garage.
pub fn scenario(
    report: &mut Report,
    tools: &Tools,
    work: &Path,
    file: &Prepared,
    rounds: usize,
) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let size = show_size(file.len);
    let mut s = Section::new(
        &format!("Upload and download of {size} through S3"),
        &format!(
            "The CLI through a release `sealdrop-server` storing blobs in S3 (metadata in \
             SQLite), beside aws-sdk-s3 moving the same {size} file straight to the same \
             bucket: a multipart upload with the server's part size (8 MiB) and parts in \
             flight (2), read from the file, and a GetObject streamed to a file. The \
             subjects alternate within each round; downloads are checked by SHA-256."
        ),
        &[
            "store",
            "subject",
            "upload MiB/s",
            "× direct",
            "download MiB/s",
            "× direct",
            "server peak RSS (MiB)",
        ],
    );
    for store in ["moto", "garage"] {
        eprintln!("  {store}");
        let (_moto, _garage, s3);
        if store == "moto" {
            let m = Moto::start();
            m.create_bucket(BUCKET);
            s3 = m.s3.clone();
            (_moto, _garage) = (Some(m), None);
        } else {
            let g = Garage::start();
            g.create_bucket(BUCKET);
            s3 = g.s3.clone();
            (_moto, _garage) = (None, Some(g));
        }
        let backend = Backend {
            s3: Some((s3.clone(), format!("s3://{BUCKET}/sealdrop"))),
            redis: None,
        };
        let (mut d_up, mut d_down) = (Samples::default(), Samples::default());
        let (mut c_up, mut c_down, mut rss) =
            (Samples::default(), Samples::default(), Samples::default());
        for round in 0..rounds {
            eprintln!("    round {}/{rounds}", round + 1);
            // A store that stops answering must not hang the run: aws-sdk-s3 retries and
            // waits without an overall deadline of its own.
            let (up, down) = rt
                .block_on(async {
                    tokio::time::timeout(DIRECT_DEADLINE, direct(&s3, file, work)).await
                })
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the direct transfer to {store} took longer than {DIRECT_DEADLINE:?}"
                    )
                })??;
            d_up.push(mib_s(file.len, up));
            d_down.push(mib_s(file.len, down));
            let server = Server::start(tools, &backend)?;
            let t = Client::Cli.round_trip(tools, &server, file, work)?;
            c_up.push(mib_s(file.len, t.up.secs));
            c_down.push(mib_s(file.len, t.down.secs));
            rss.push(server.peak_rss_mib());
        }
        let (u, d) = (
            c_up.median() / d_up.median(),
            c_down.median() / d_down.median(),
        );
        s.row(vec![
            store.to_owned(),
            "direct aws-sdk-s3".to_owned(),
            d_up.show(0),
            "1.00".to_owned(),
            d_down.show(0),
            "1.00".to_owned(),
            "—".to_owned(),
        ]);
        s.row(vec![
            store.to_owned(),
            "sealdrop CLI via server".to_owned(),
            c_up.show(0),
            format!("{u:.2}"),
            c_down.show(0),
            format!("{d:.2}"),
            rss.show(1),
        ]);
        for (dir, ratio) in [("upload", u), ("download", d)] {
            report.ratios.push(Ratio {
                label: format!("sealdrop CLI via {store} {dir}"),
                ratio,
                baseline: format!("direct aws-sdk-s3 to {store}"),
            });
        }
        report.target(
            &format!("Through S3 ({store}), {size}"),
            "≥ 80 % of direct aws-sdk-s3",
            format!("upload {:.0} %, download {:.0} %", u * 100.0, d * 100.0),
            u >= 0.8 && d >= 0.8,
        );
    }
    report.sections.push(s);
    Ok(())
}

/// Uploads the plaintext file straight to the bucket (multipart, `IN_FLIGHT` parts at a
/// time), downloads it to a file, checks it and deletes the object: (upload s, download s).
async fn direct(s3: &S3Endpoint, file: &Prepared, work: &Path) -> Result<(f64, f64)> {
    let c = s3.client();
    let key = "direct";
    let src = std::sync::Arc::new(std::fs::File::open(&file.plain)?);
    let start = Instant::now();
    let created = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await?;
    let id = created.upload_id().context("no upload id")?.to_owned();
    let count = file.len.div_ceil(PART).max(1);
    let parts: Vec<CompletedPart> = futures_util::stream::iter(1..=count)
        .map(|n| {
            let (c, id, src) = (c.clone(), id.clone(), src.clone());
            async move {
                let offset = (n - 1) * PART;
                let len = usize::try_from(PART.min(file.len - offset))?;
                let mut buf = vec![0u8; len];
                src.read_exact_at(&mut buf, offset)?;
                let r = c
                    .upload_part()
                    .bucket(BUCKET)
                    .key(key)
                    .upload_id(id)
                    .part_number(i32::try_from(n)?)
                    .body(ByteStream::from(buf))
                    .send()
                    .await?;
                anyhow::Ok(
                    CompletedPart::builder()
                        .part_number(i32::try_from(n)?)
                        .e_tag(r.e_tag().context("no ETag")?)
                        .build(),
                )
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let up = start.elapsed().as_secs_f64();

    let path = work.join("direct.bin");
    let start = Instant::now();
    let mut body = c.get_object().bucket(BUCKET).key(key).send().await?.body;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    while let Some(chunk) = body.try_next().await? {
        out.write_all(&chunk)?;
    }
    out.into_inner()?.sync_data()?;
    let down = start.elapsed().as_secs_f64();
    ensure!(
        sha256_file(&path)? == file.plain_sha,
        "the direct S3 download differs from the file"
    );
    std::fs::remove_file(&path)?;
    c.delete_object().bucket(BUCKET).key(key).send().await?;
    Ok((up, down))
}
