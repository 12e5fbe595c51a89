//! Scenario 4: many CLI uploads at once, then as many downloads at once, against one
//! server: aggregate throughput, per-transfer times and the server's peak memory.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use crate::clients::{Prepared, cli, sha256_file};
use crate::fs::show_size;
use crate::proc::{Backend, Run, Server, Tools, run};
use crate::report::{Report, Section};
use crate::stats::{Samples, mib_s};

/// Runs `n` simultaneous uploads of `file`, then `n` simultaneous downloads, `rounds`
/// times, each round on a fresh server.
pub fn scenario(
    report: &mut Report,
    tools: &Tools,
    work: &Path,
    file: &Prepared,
    n: usize,
    rounds: usize,
) -> Result<()> {
    let total = file.len * n as u64;
    let (mut agg_up, mut agg_down) = (Samples::default(), Samples::default());
    let (mut each_up, mut each_down) = (Samples::default(), Samples::default());
    let mut rss = Samples::default();
    for round in 0..rounds {
        eprintln!("  round {}/{rounds}", round + 1);
        let server = Server::start(tools, &Backend::default())?;
        let start = Instant::now();
        let ups = all(n, |_| {
            let mut c = cli(tools, work, &["upload", "-q", "-d", "1"], &server);
            c.arg(&file.plain);
            run(c, "sealdrop upload")
        })?;
        agg_up.push(mib_s(total, start.elapsed().as_secs_f64()));
        let links: Vec<String> = ups.iter().map(|r| r.stdout.trim().to_owned()).collect();
        for r in &ups {
            each_up.push(r.secs);
        }
        let outs: Vec<_> = (0..n).map(|i| work.join(format!("conc-{i}.bin"))).collect();
        let start = Instant::now();
        let downs = all(n, |i| {
            let mut c = cli(tools, work, &["download", "-q", "-f", "-o"], &server);
            c.arg(&outs[i]).arg(&links[i]);
            run(c, "sealdrop download")
        })?;
        agg_down.push(mib_s(total, start.elapsed().as_secs_f64()));
        for r in &downs {
            each_down.push(r.secs);
        }
        rss.push(server.peak_rss_mib());
        for out in &outs {
            ensure!(
                sha256_file(out)? == file.plain_sha,
                "a concurrent download differs from the file"
            );
            std::fs::remove_file(out)?;
        }
    }
    let size = show_size(file.len);
    let mut s = Section::new(
        &format!("Concurrency: {n} simultaneous {size} uploads, then {n} downloads"),
        &format!(
            "{n} `sealdrop` CLI processes at once against one release server (filesystem \
             backend), all started together; aggregate throughput is {n} × {size} over the \
             time from the first start to the last exit. Per-transfer times are each \
             process's whole run, over all rounds. Clients and server share the machine's \
             cores."
        ),
        &[
            "direction",
            "aggregate MiB/s",
            "per transfer p50 (s)",
            "per transfer p99 (s)",
            "server peak RSS (MiB)",
        ],
    );
    for (dir, agg, each) in [
        ("upload", &agg_up, &each_up),
        ("download", &agg_down, &each_down),
    ] {
        s.row(vec![
            dir.to_owned(),
            agg.show(0),
            format!("{:.2}", each.percentile(50.0)),
            format!("{:.2}", each.percentile(99.0)),
            rss.show(1),
        ]);
    }
    report.sections.push(s);
    report.target(
        &format!("Server peak RSS, {n} concurrent {size} transfers"),
        "≤ 128 MiB",
        format!("{:.1} MiB (highest round)", rss.max()),
        rss.max() <= 128.0,
    );
    Ok(())
}

/// Runs `n` jobs on their own threads at once; the first error wins.
fn all<F>(n: usize, job: F) -> Result<Vec<Run>>
where
    F: Fn(usize) -> Result<Run> + Sync,
{
    let job = &job;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || job(i))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))
                    .and_then(|r| r)
                    .context("a concurrent transfer failed")
            })
            .collect()
    })
}
