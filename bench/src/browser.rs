//! Scenario 7: the web client in Chromium and Firefox ESR beside the CLI, in the same run.
//!
//! `bench/browser.mjs` (Node, the browser tests' harness in `tests/web`) starts the
//! server of `--bin-dir`, uploads one file with the `sealdrop` CLI and then from the send
//! page of each browser, downloads it back (the browsers through the service worker into
//! their download directory), checks the SHA-256 and samples the browser's memory (PSS of
//! its process tree). This module runs it and turns its JSON lines into a table and the
//! issue's targets.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::report::{Report, Section};
use crate::stats::Samples;

/// What one subject (`cli`, `chromium`, `firefox`) measured over the rounds.
#[derive(Default)]
struct Subject {
    up: Samples,
    down: Samples,
    idle_pss: Samples,
    peak_pss: Samples,
}

/// Runs the scenario: `mib` MiB, `rounds` rounds per browser, the binaries of `bin_dir`.
pub fn scenario(
    report: &mut Report,
    root: &Path,
    bin_dir: &Path,
    mib: u64,
    rounds: usize,
) -> Result<()> {
    let output = Command::new("node")
        .arg(root.join("bench/browser.mjs"))
        .arg("--bin-dir")
        .arg(bin_dir)
        .args(["--mib", &mib.to_string(), "--rounds", &rounds.to_string()])
        .output()
        .context("node bench/browser.mjs (run scripts/test once: it installs the browsers and tests/web's packages)")?;
    ensure!(
        output.status.success(),
        "bench/browser.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names = ["cli", "chromium", "firefox"];
    let mut subjects: Vec<Subject> = names.iter().map(|_| Subject::default()).collect();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(i) = names.iter().position(|n| v["engine"] == *n) else {
            continue;
        };
        let s = &mut subjects[i];
        let num = |k: &str| v[k].as_f64();
        if let (Some(up), Some(down)) = (num("upMBps"), num("downMBps")) {
            s.up.push(up);
            s.down.push(down);
        }
        if let (Some(idle), Some(peak)) = (num("idlePssMiB"), num("downPeakPssMiB")) {
            s.idle_pss.push(idle);
            s.peak_pss.push(peak);
        }
    }
    let [cli, chromium, firefox] = &subjects[..] else {
        unreachable!("three subjects");
    };
    ensure!(!cli.up.is_empty(), "bench/browser.mjs printed no CLI row");
    let cli_up = cli.up.median();
    let mut s = Section::new(
        &format!("The web client beside the CLI, {mib} MiB, filesystem backend"),
        "One release server on loopback; the `sealdrop` CLI, then each browser (headless, \
         fresh profile), uploads the same file from the send page and downloads it from the \
         download page through the service worker into the browser's download directory, \
         checked by SHA-256. MB/s are 10^6 bytes of the file per second, from the click to \
         the share link (upload) and to the complete file (download). Memory: PSS summed \
         over the browser's process tree, idle on the download page and at its peak during \
         the download.",
        &[
            "subject",
            "upload MB/s",
            "× CLI upload",
            "download MB/s",
            "browser PSS idle → peak in download (MiB)",
        ],
    );
    s.row(vec![
        "sealdrop CLI".to_owned(),
        format!("{cli_up:.0}"),
        "1.00".to_owned(),
        format!("{:.0}", cli.down.median()),
        "—".to_owned(),
    ]);
    for (label, b) in [
        ("Chromium (Debian)", chromium),
        ("Firefox ESR (Debian)", firefox),
    ] {
        if b.up.is_empty() {
            continue;
        }
        s.row(vec![
            label.to_owned(),
            format!("{:.0}", b.up.median()),
            format!("{:.2}", b.up.median() / cli_up),
            format!("{:.0}", b.down.median()),
            format!("{:.0} → {:.0}", b.idle_pss.median(), b.peak_pss.median()),
        ]);
    }
    report.sections.push(s);

    for (label, b, goal) in [
        ("Chromium", chromium, 150.0),
        ("Firefox ESR", firefox, 100.0),
    ] {
        if b.up.is_empty() {
            continue;
        }
        let (up, down) = (b.up.median(), b.down.median());
        report.target(
            &format!("{label}: web upload and download of {mib} MiB"),
            &format!("≥ {goal:.0} MB/s each"),
            format!("upload {up:.0} MB/s, download {down:.0} MB/s"),
            up >= goal && down >= goal,
        );
        report.target(
            &format!("{label}: web upload against the CLI's"),
            "≥ 0.35 × the CLI's upload",
            format!("{:.2} × ({up:.0} against {cli_up:.0} MB/s)", up / cli_up),
            up >= 0.35 * cli_up,
        );
        let growth = b.peak_pss.median() - b.idle_pss.median();
        report.target(
            &format!("{label}: browser memory during a {mib} MiB web download"),
            "grows ≤ 256 MiB (PSS of the process tree)",
            format!("+{growth:.0} MiB"),
            growth <= 256.0,
        );
    }
    Ok(())
}
