//! sealdrop's benchmarks: each scenario runs sealdrop beside what a user would otherwise
//! use and beside the machine's physical limit, in the same run, so that the ratios hold
//! even where absolute times on a shared machine do not.
//!
//! # Layout
//! - [`proc`]: the release `sealdrop-server` on a free port, client processes timed with
//!   their peak memory.
//! - [`clients`]: the `sealdrop` CLI, curl and ffsend moving a prepared file, and the raw
//!   loopback TCP copy.
//! - [`crypto`] (scenario 1), [`fs`] (2 and 6), [`s3`] (3), [`concurrency`] (4),
//!   [`small`] (5): the scenarios.
//! - [`browser`] (7): the web client in Chromium and Firefox ESR beside the CLI, through
//!   `bench/browser.mjs`.
//! - [`stats`], [`report`]: medians and spreads; the Markdown and JSON output.
//!
//! `scripts/bench` runs everything and writes `bench/results/latest.{md,json,png}`;
//! `scripts/bench --smoke` (in `scripts/test`) runs every scenario once at tiny sizes.
#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly on the impossible (a fixed-size buffer that fails to encrypt)"
)]

pub mod browser;
pub mod clients;
pub mod concurrency;
pub mod crypto;
pub mod fs;
pub mod proc;
pub mod report;
pub mod s3;
pub mod small;
pub mod stats;
