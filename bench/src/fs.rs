//! Scenario 2: upload and download of one big file on the filesystem backend by each
//! client beside the raw loopback copy; scenario 6: the CLI's times and the server's memory
//! as the file grows.

use std::path::Path;

use anyhow::Result;

use crate::clients::{Client, Prepared, raw_copy};
use crate::proc::{Backend, Server, Tools};
use crate::report::{Ratio, Report, RssPoint, Section};
use crate::stats::{Samples, mib_s};

/// Per-subject samples of one direction.
#[derive(Debug, Default, Clone)]
struct Direction {
    rate: Samples,
    client_rss: Samples,
}

/// Scenario 2 over a `len`-byte file, `rounds` rounds, the subjects alternating within
/// each round (raw, curl, CLI, ffsend, raw, curl, …). A fresh server per subject and
/// round, so each server's peak RSS is that of one upload and one download.
pub fn transfers(
    report: &mut Report,
    tools: &Tools,
    work: &Path,
    file: &Prepared,
    rounds: usize,
) -> Result<()> {
    let clients = [Client::Curl, Client::Cli, Client::Ffsend];
    let wire = file.wire_len()?;
    let mut raw = Samples::default();
    let mut raw_disk = Samples::default();
    let mut up = vec![Direction::default(); clients.len()];
    let mut down = vec![Direction::default(); clients.len()];
    let mut server_rss = vec![Samples::default(); clients.len()];
    for round in 0..rounds {
        eprintln!("  round {}/{rounds}", round + 1);
        for (i, client) in clients.iter().enumerate() {
            raw.push(mib_s(wire, raw_copy(wire, None)?));
            raw_disk.push(mib_s(wire, raw_copy(wire, Some(work))?));
            let server = Server::start(tools, &Backend::default())?;
            let t = client.round_trip(tools, &server, file, work)?;
            up[i].rate.push(mib_s(file.len, t.up.secs));
            up[i].client_rss.push(t.up.peak_rss_mib);
            down[i].rate.push(mib_s(file.len, t.down.secs));
            down[i].client_rss.push(t.down.peak_rss_mib);
            server_rss[i].push(server.peak_rss_mib());
        }
    }
    let size = show_size(file.len);
    let mut s = Section::new(
        &format!("Upload and download of {size}, filesystem backend"),
        &format!(
            "Each client uploads the file to a fresh release `sealdrop-server` (local \
             directory + SQLite) and downloads it back to a file, checked by SHA-256. \
             Throughput counts the file's {size} over the client's whole run (process start \
             to exit). The raw copy moves the {} ciphertext bytes over one loopback TCP \
             connection, once before each subject; the second raw row also writes them to a \
             file and `fsync`s it at the end, as the server (upload) and the CLI (download) \
             do before they answer: a plain copy's bound on this machine's network and disk \
             together. The clock of curl's and ffsend's downloads stops once their file is \
             synced too (they do not sync it themselves). Client RSS is the client \
             process's peak.",
            show_size(wire)
        ),
        &[
            "subject",
            "upload MiB/s",
            "× raw",
            "× raw + disk",
            "download MiB/s",
            "× raw",
            "× raw + disk",
            "client RSS up / down (MiB)",
            "server peak RSS (MiB)",
        ],
    );
    let (raw_m, disk_m) = (raw.median(), raw_disk.median());
    for (name, samples) in [
        ("raw loopback TCP copy", &raw),
        ("raw copy into a file, fsync at the end", &raw_disk),
    ] {
        let m = samples.median();
        s.row(vec![
            name.to_owned(),
            samples.show(0),
            format!("{:.2}", m / raw_m),
            format!("{:.2}", m / disk_m),
            samples.show(0),
            format!("{:.2}", m / raw_m),
            format!("{:.2}", m / disk_m),
            "—".to_owned(),
            "—".to_owned(),
        ]);
    }
    for (i, client) in clients.iter().enumerate() {
        let (u, d) = (up[i].rate.median() / raw_m, down[i].rate.median() / raw_m);
        s.row(vec![
            client.name().to_owned(),
            up[i].rate.show(0),
            format!("{u:.2}"),
            format!("{:.2}", up[i].rate.median() / disk_m),
            down[i].rate.show(0),
            format!("{d:.2}"),
            format!("{:.2}", down[i].rate.median() / disk_m),
            format!(
                "{:.0} / {:.0}",
                up[i].client_rss.max(),
                down[i].client_rss.max()
            ),
            server_rss[i].show(1),
        ]);
        for (dir, rate) in [("upload", &up[i].rate), ("download", &down[i].rate)] {
            for (baseline, m) in [
                ("raw loopback TCP copy", raw_m),
                ("raw copy into a file, fsync at the end", disk_m),
            ] {
                report.ratios.push(Ratio {
                    label: format!("{} {dir}", client.name()),
                    ratio: rate.median() / m,
                    baseline: baseline.to_owned(),
                });
            }
        }
    }
    report.sections.push(s);
    let cli = clients
        .iter()
        .position(|c| *c == Client::Cli)
        .unwrap_or_default();
    let (u, d) = (
        up[cli].rate.median() / raw_m,
        down[cli].rate.median() / raw_m,
    );
    let (ud, dd) = (
        up[cli].rate.median() / disk_m,
        down[cli].rate.median() / disk_m,
    );
    report.target(
        &format!("CLI upload and download of {size}, fs backend"),
        "≥ 60 % of the raw loopback copy",
        format!(
            "upload {:.0} %, download {:.0} % (of the copy into a file + fsync: {:.0} %, \
             {:.0} %)",
            u * 100.0,
            d * 100.0,
            ud * 100.0,
            dd * 100.0
        ),
        u >= 0.6 && d >= 0.6,
    );
    let worst = server_rss.iter().map(Samples::max).fold(0.0, f64::max);
    report.target(
        &format!("Server peak RSS, one {size} transfer"),
        "≤ 64 MiB",
        format!("{worst:.1} MiB (highest of every client and round)"),
        worst <= 64.0,
    );
    Ok(())
}

/// Scenario 6: the CLI uploads and downloads each size on a fresh server, sizes alternating
/// within each round.
pub fn scaling(
    report: &mut Report,
    tools: &Tools,
    work: &Path,
    files: &[&Prepared],
    rounds: usize,
) -> Result<()> {
    let n = files.len();
    let mut up = vec![Samples::default(); n];
    let mut down = vec![Samples::default(); n];
    let mut rss = vec![Samples::default(); n];
    for round in 0..rounds {
        eprintln!("  round {}/{rounds}", round + 1);
        for (i, file) in files.iter().enumerate() {
            let server = Server::start(tools, &Backend::default())?;
            let t = Client::Cli.round_trip(tools, &server, file, work)?;
            up[i].push(t.up.secs);
            down[i].push(t.down.secs);
            rss[i].push(server.peak_rss_mib());
        }
    }
    let mut s = Section::new(
        "Scaling with size: the CLI on the filesystem backend",
        "One upload and one download per size and round, each on a fresh server; seconds \
         are the CLI's whole run. Server RSS is the server's peak over both.",
        &[
            "size",
            "upload s",
            "upload MiB/s",
            "download s",
            "download MiB/s",
            "server peak RSS (MiB)",
        ],
    );
    for (i, file) in files.iter().enumerate() {
        let rate = |t: &Samples| mib_s(file.len, t.median());
        s.row(vec![
            show_size(file.len),
            up[i].show(2),
            format!("{:.0}", rate(&up[i])),
            down[i].show(2),
            format!("{:.0}", rate(&down[i])),
            rss[i].show(1),
        ]);
        report.rss_by_size.push(RssPoint {
            size_mib: file.len >> 20,
            server_rss_mib: rss[i].median(),
            upload_mib_s: rate(&up[i]),
            download_mib_s: rate(&down[i]),
        });
    }
    report.sections.push(s);
    let (lo, hi) = (
        rss.first().map_or(0.0, Samples::median),
        rss.last().map_or(0.0, Samples::median),
    );
    report.target(
        "Server RSS as the file grows",
        "flat: the largest size within 16 MiB of the smallest",
        format!(
            "{lo:.1} MiB at {} → {hi:.1} MiB at {}",
            show_size(files.first().map_or(0, |f| f.len)),
            show_size(files.last().map_or(0, |f| f.len))
        ),
        hi - lo <= 16.0,
    );
    Ok(())
}

/// `1 GiB`, `16 MiB`, `512 KiB`.
pub fn show_size(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 {
        let mib = bytes as f64 / f64::from(1u32 << 20);
        if bytes.is_multiple_of(1 << 20) {
            format!("{mib:.0} MiB")
        } else {
            format!("{mib:.1} MiB")
        }
    } else {
        format!("{} KiB", bytes >> 10)
    }
}
