//! End-to-end tests: the real `sealdrop-server` and `sealdrop` binaries, and ffsend as an
//! independent Send client. One test binary (one link step), one module per theme, one
//! scenario per test, each with its own server on a free loopback port.
//!
//! Build the binaries first: `cargo build --workspace --bins` (scripts/test does).

mod campaign;
mod conventions;
mod ffsend;
mod infra;
mod lifecycle;
mod memory;
mod metrics;
mod multi;
mod owner;
mod password;
mod proxies;
mod ratelimit;
mod reliability;
mod report;
mod roundtrip;
mod scripting;
mod secrets;
mod startup;
mod tamper;
mod upload_auth;

/// The sentence of every "not found" (unknown, expired, exhausted or deleted share).
const NOT_FOUND: &str =
    "the share was not found: it has expired, reached its download limit or been deleted";

/// The sentence of every failed integrity check written to a file.
const TAMPERED: &str = "the download failed its integrity check: the data is corrupt, truncated or was tampered with; nothing was saved";

/// The files whose name starts with `.sealdrop-` (temporaries) under `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".sealdrop-"))
                .collect()
        })
        .unwrap_or_default()
}
