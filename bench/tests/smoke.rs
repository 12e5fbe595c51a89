//! `sealdrop-bench --smoke`: every scenario once at tiny sizes against the binaries this
//! test run built, so the benchmark keeps working. It checks that the run succeeds and
//! that its outputs hold every scenario, never any timing.

use std::process::Command;

#[test]
fn every_scenario_runs_and_writes_its_results() {
    let root = sealdrop_testkit::workspace_root();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sealdrop-bench"));
    let bin_dir = exe.parent().expect("the binary is in a directory");
    let out = tempfile::tempdir().expect("temporary directory");
    let status = Command::new(&exe)
        .arg("--smoke")
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out.path())
        .current_dir(&root)
        .status()
        .expect("run sealdrop-bench");
    assert!(status.success(), "sealdrop-bench --smoke failed: {status}");

    let md = std::fs::read_to_string(out.path().join("latest.md")).expect("latest.md");
    for heading in [
        "## Targets",
        "## Crypto",
        "filesystem backend",
        "through S3",
        "## Concurrency",
        "## Small requests",
        "## Scaling with size",
    ] {
        assert!(md.contains(heading), "latest.md has no {heading:?}:\n{md}");
    }
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("latest.json")).expect("latest.json"),
    )
    .expect("latest.json is JSON");
    assert_eq!(json["mode"], "smoke");
    // Three clients × two directions × two baselines on the filesystem, two stores × two
    // directions on S3.
    assert_eq!(json["ratios"].as_array().map(Vec::len), Some(16), "{json}");
    assert_eq!(
        json["rss_by_size"].as_array().map(Vec::len),
        Some(3),
        "{json}"
    );
    for r in json["ratios"].as_array().into_iter().flatten() {
        let ratio = r["ratio"].as_f64().unwrap_or(0.0);
        assert!(ratio.is_finite() && ratio > 0.0, "a ratio is {r}");
    }
    let png = std::fs::read(out.path().join("latest.png")).expect("latest.png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "latest.png is not a PNG"
    );
}
