//! `sealdrop-bench`: runs sealdrop's benchmark scenarios and writes the results as
//! Markdown, JSON and a chart. `scripts/bench` builds the release binaries and runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Parser;
use sealdrop_bench::clients::Prepared;
use sealdrop_bench::proc::Tools;
use sealdrop_bench::report::{Report, filesystem_of, machine};
use sealdrop_bench::{browser, concurrency, crypto, fs, s3, small};

const SCENARIOS: [&str; 7] = [
    "crypto",
    "fs",
    "s3",
    "concurrency",
    "small",
    "scaling",
    "browser",
];

/// Benchmarks sealdrop beside its baselines and peers, in one run.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Tiny sizes, one round: checks that every scenario still works (scripts/test).
    #[arg(long)]
    smoke: bool,

    /// How many times each scenario runs its subjects [default: 3; 1 with --smoke].
    #[arg(long)]
    rounds: Option<usize>,

    /// Only these scenarios (crypto, fs, s3, concurrency, small, scaling, browser),
    /// comma-separated. `browser` (the web client in Chromium and Firefox ESR, beside the
    /// CLI) is left out of --smoke unless named here.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Where the binaries under test are.
    #[arg(long, env = "SEALDROP_BIN_DIR", default_value = "target/release")]
    bin_dir: PathBuf,

    /// Where to write latest.md, latest.json and latest.png
    /// [default: bench/results; target/bench-smoke with --smoke].
    #[arg(long)]
    out: Option<PathBuf>,

    /// The Python with matplotlib that draws the chart [default: .venv/bin/python].
    #[arg(long, env = "SEALDROP_BENCH_PYTHON")]
    python: Option<PathBuf>,
}

/// The sizes of one mode.
struct Sizes {
    crypto: usize,
    transfer: u64,
    s3: u64,
    concurrent: usize,
    concurrent_size: u64,
    scaling: Vec<u64>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("sealdrop-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    for s in &args.only {
        if !SCENARIOS.contains(&s.as_str()) {
            bail!("no scenario {s:?}: choose from {}", SCENARIOS.join(", "));
        }
    }
    let wants = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let root = sealdrop_testkit::workspace_root();
    let bin_dir = if args.bin_dir.is_absolute() {
        args.bin_dir.clone()
    } else {
        root.join(&args.bin_dir)
    };
    let tools = Tools::find(&bin_dir)?;
    let rounds = args.rounds.unwrap_or(if args.smoke { 1 } else { 3 });
    const MIB: u64 = 1 << 20;
    let sizes = if args.smoke {
        Sizes {
            crypto: 4 << 20,
            transfer: 4 * MIB + 1,
            s3: 4 * MIB + 1,
            concurrent: 4,
            concurrent_size: MIB,
            scaling: vec![MIB, 2 * MIB, 4 * MIB],
        }
    } else {
        Sizes {
            crypto: 64 << 20,
            transfer: 1024 * MIB,
            s3: 1024 * MIB,
            concurrent: 32,
            concurrent_size: 128 * MIB,
            scaling: vec![MIB, 16 * MIB, 256 * MIB, 1024 * MIB],
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        root.join(if args.smoke {
            "target/bench-smoke"
        } else {
            "bench/results"
        })
    });
    std::fs::create_dir_all(&out)?;
    let work = tempfile::Builder::new()
        .prefix("sealdrop-bench")
        .tempdir()?;
    let mut report = Report {
        mode: if args.smoke { "smoke" } else { "full" }.to_owned(),
        date: utc_now(),
        machine: format!(
            "{}, work files on {}",
            machine(),
            filesystem_of(work.path())
        ),
        rounds,
        ..Report::default()
    };

    // Prepared files, shared by the scenarios that use the same size.
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut need = Vec::new();
    if wants("fs") {
        need.push(sizes.transfer);
    }
    if wants("s3") {
        need.push(sizes.s3);
    }
    if wants("concurrency") {
        need.push(sizes.concurrent_size);
    }
    if wants("scaling") {
        need.extend(&sizes.scaling);
    }
    need.sort_unstable();
    need.dedup();
    for len in need {
        eprintln!("preparing a {} file", fs::show_size(len));
        prepared.push(Prepared::new(work.path(), len)?);
    }
    let file = |len: u64| {
        prepared
            .iter()
            .find(|p| p.len == len)
            .context("prepared file")
    };

    if wants("crypto") {
        eprintln!("scenario 1: crypto");
        crypto::scenario(
            &mut report,
            sizes.crypto,
            rounds.max(if args.smoke { 1 } else { 7 }),
        );
    }
    if wants("fs") {
        eprintln!("scenario 2: transfers, filesystem backend");
        fs::transfers(
            &mut report,
            &tools,
            work.path(),
            file(sizes.transfer)?,
            rounds,
        )?;
    }
    if wants("s3") {
        eprintln!("scenario 3: transfers through S3");
        s3::scenario(&mut report, &tools, work.path(), file(sizes.s3)?, rounds)?;
    }
    if wants("concurrency") {
        eprintln!("scenario 4: concurrency");
        concurrency::scenario(
            &mut report,
            &tools,
            work.path(),
            file(sizes.concurrent_size)?,
            sizes.concurrent,
            rounds,
        )?;
    }
    if wants("small") {
        eprintln!("scenario 5: small requests");
        small::scenario(&mut report, &tools, rounds, args.smoke)?;
    }
    if wants("scaling") {
        eprintln!("scenario 6: scaling with size");
        let files = sizes
            .scaling
            .iter()
            .map(|len| file(*len))
            .collect::<Result<Vec<_>>>()?;
        fs::scaling(&mut report, &tools, work.path(), &files, rounds)?;
    }

    // The browsers are heavy for a smoke run (and need tests/web's packages): only on request.
    if wants("browser") && (!args.smoke || args.only.iter().any(|o| o == "browser")) {
        eprintln!("scenario 7: the web client in Chromium and Firefox ESR, beside the CLI");
        let mib = if args.smoke { 4 } else { 1024 };
        browser::scenario(&mut report, &root, &bin_dir, mib, rounds)?;
    }

    let md = report.markdown();
    std::fs::write(out.join("latest.md"), &md)?;
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    plot(&python, &root, &out)?;
    println!("{md}");
    eprintln!(
        "wrote {} (latest.md, latest.json, latest.png)",
        out.display()
    );
    Ok(())
}

/// Draws `latest.png` from `latest.json` with `bench/plot.py` (matplotlib).
fn plot(python: &Path, root: &Path, out: &Path) -> Result<()> {
    let status = Command::new(python)
        .arg(root.join("bench/plot.py"))
        .arg(out.join("latest.json"))
        .arg(out.join("latest.png"))
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!("bench/plot.py failed ({status})");
    }
    Ok(())
}

/// `2026-12-02T05:30:00Z`, from the system clock.
fn utc_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
