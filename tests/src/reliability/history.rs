//! The history of a run and its checker, in the spirit of Jepsen: concurrent clients
//! record every operation with when it started, when it ended and how; after the run the
//! checker verifies sealdrop's promises offline, from the history alone and the rows the
//! metadata store still holds.
//!
//! # Invariants
//!
//! 1. **Never after expiry.** The server sets `expires_at` when it commits an upload,
//!    between the upload's start and its acknowledgement, so `expires_at ≤ ack + expiry`.
//!    A completed download must have started before that bound, and ended before it plus
//!    [`CLOCK_TOLERANCE`] (the server's last check comes just before the last bytes, which
//!    may take that long to arrive on a loaded machine).
//! 2. **Never beyond the limit.** Completed downloads of a file ≤ its `dlimit`.
//! 3. **Never corrupt.** Every completed download is byte-identical to what was uploaded
//!    (the client compares SHA-256 as it streams; a download whose body ends early is
//!    "cut", which is a clean failure, never "complete").
//! 4. **Never visible before acknowledged.** Every row the store holds at the end belongs
//!    to an acknowledged upload: a failed upload leaves no row. (An upload that got no
//!    answer at all, its server killed after the commit, may have one: the store may
//!    hold at most that many unknown rows.)
//! 5. **Never lost.** An acknowledged upload that has downloads left, was not deleted and
//!    is still well within its expiry downloads intact in the final check
//!    ([`History::final_check`]). A check that only ended after the file's earliest
//!    possible expiry proves nothing either way (the server must refuse a file that
//!    expires mid-download, and a loaded machine may take that long): it is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{DownloadOutcome, Share, UploadOutcome};

/// How late after the expiry bound a download may still complete (see invariant 1).
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(1);

/// One recorded operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// An upload: which file (index of the run's uploads), its limit and expiry.
    Upload {
        /// The file id once acknowledged.
        id: Option<String>,
        /// Download limit asked for.
        dlimit: u32,
        /// Expiry asked for.
        expiry: Duration,
        /// How it ended.
        outcome: UploadOutcome,
    },
    /// A download of file `id`.
    Download {
        /// The file id.
        id: String,
        /// How it ended.
        outcome: DownloadOutcome,
        /// Whether it was the final check's.
        last_check: bool,
    },
    /// An owner's delete of `id`, with the status answered (0: none).
    Delete {
        /// The file id.
        id: String,
        /// The status.
        status: u16,
    },
}

impl Op {
    /// The status the server answered an error with, if it did.
    fn error_status(&self) -> Option<u16> {
        match self {
            Op::Upload {
                outcome: UploadOutcome::Refused(status, _),
                ..
            }
            | Op::Download {
                outcome: DownloadOutcome::Refused(status, _),
                ..
            } => Some(*status),
            Op::Delete { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the operation got no answer at all (refused, reset, hung).
    fn unanswered(&self) -> bool {
        matches!(
            self,
            Op::Upload {
                outcome: UploadOutcome::Transport(_),
                ..
            } | Op::Download {
                outcome: DownloadOutcome::Transport(_),
                ..
            }
        )
    }
}

/// An operation with its times.
#[derive(Debug, Clone)]
pub struct Event {
    /// When it was sent.
    pub start: Instant,
    /// When its outcome was known.
    pub end: Instant,
    /// What it was.
    pub op: Op,
}

/// A run's history, shared by its clients.
#[derive(Debug, Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

/// A violated invariant, in one sentence.
pub type Violation = String;

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an operation that ran from `start` until now.
    pub fn record(&self, start: Instant, op: Op) {
        let event = Event {
            start,
            end: Instant::now(),
            op,
        };
        self.events.lock().expect("history").push(event);
    }

    /// Records an upload's outcome.
    pub fn upload(
        &self,
        start: Instant,
        dlimit: u32,
        expiry: Duration,
        outcome: &UploadOutcome,
        share: Option<&Share>,
    ) {
        self.record(
            start,
            Op::Upload {
                id: share.map(|s| s.id.clone()),
                dlimit,
                expiry,
                outcome: outcome.clone(),
            },
        );
    }

    /// Records a download's outcome.
    pub fn download(&self, start: Instant, share: &Share, outcome: &DownloadOutcome) {
        self.record(
            start,
            Op::Download {
                id: share.id.clone(),
                outcome: outcome.clone(),
                last_check: false,
            },
        );
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("history").clone()
    }

    /// The acknowledged uploads that must still download at `now`: downloads left
    /// (neither exhausted nor deleted, counting downloads that were cut or unanswered as
    /// taken: they may have counted, or hold a reservation until its lease ends) and at least `margin` before their earliest
    /// possible expiry. The final check downloads each once and records it with
    /// `last_check`.
    /// Returns each with its earliest possible expiry: a check that comes later than
    /// `margin` before it must skip the file.
    pub fn must_survive(&self, now: Instant, margin: Duration) -> Vec<(String, Instant)> {
        let files = files(&self.events());
        files
            .into_iter()
            .filter(|(_, f)| {
                f.deleted.is_none()
                    && f.completed + f.in_doubt < f.dlimit
                    && f.upload_start + f.expiry > now + margin
            })
            .map(|(id, f)| (id, f.upload_start + f.expiry))
            .collect()
    }

    /// Records the final check's download of `id`.
    pub fn final_check(&self, start: Instant, id: &str, outcome: &DownloadOutcome) {
        self.record(
            start,
            Op::Download {
                id: id.to_owned(),
                outcome: outcome.clone(),
                last_check: true,
            },
        );
    }

    /// Checks every invariant; `rows` is the ids the metadata store holds at the end.
    pub fn check(&self, rows: &BTreeSet<String>) -> Vec<Violation> {
        let events = self.events();
        let files = files(&events);
        let mut violations = Vec::new();
        for event in &events {
            let Op::Download {
                id,
                outcome,
                last_check,
            } = &event.op
            else {
                continue;
            };
            let Some(file) = files.get(id) else {
                violations.push(format!(
                    "download of {id}, which no acknowledged upload made"
                ));
                continue;
            };
            match outcome {
                DownloadOutcome::Complete => {
                    let bound = file.ack + file.expiry;
                    if event.start >= bound {
                        violations.push(format!(
                            "{id} downloaded though the download started {:?} after its expiry",
                            event.start - bound
                        ));
                    } else if event.end > bound + CLOCK_TOLERANCE {
                        violations.push(format!(
                            "{id} downloaded {:?} after its expiry",
                            event.end - bound
                        ));
                    }
                }
                DownloadOutcome::Corrupt => {
                    violations.push(format!(
                        "{id} downloaded with bytes that differ from the upload"
                    ));
                }
                _ if *last_check && event.end < file.upload_start + file.expiry => {
                    violations.push(format!(
                        "{id} was acknowledged and had downloads left, but the final check got {outcome:?}"
                    ));
                }
                _ => {}
            }
        }
        for (id, file) in &files {
            if file.completed > file.dlimit {
                violations.push(format!(
                    "{id} downloaded {} times with a limit of {}",
                    file.completed, file.dlimit
                ));
            }
        }
        // An upload whose answer was lost (its server killed after the commit, a timeout)
        // may have a row nobody knows the id of: at most one per unanswered upload.
        let in_doubt = events
            .iter()
            .filter(|e| matches!(e.op, Op::Upload { .. }) && e.op.unanswered())
            .count();
        let unknown: Vec<&String> = rows.iter().filter(|r| !files.contains_key(*r)).collect();
        if unknown.len() > in_doubt {
            violations.push(format!(
                "the store holds {} rows no acknowledged upload made ({in_doubt} uploads went \
                 unanswered): {unknown:?}",
                unknown.len()
            ));
        }
        violations
    }

    /// Counts per kind of operation and outcome (`upload ok`, `download 503 unavailable`,
    /// …), for the summary table.
    pub fn tally(&self) -> BTreeMap<String, u64> {
        let mut tally = BTreeMap::new();
        for event in self.events() {
            let key = match &event.op {
                Op::Upload { outcome, .. } => match outcome {
                    UploadOutcome::Ok => "upload ok".to_owned(),
                    UploadOutcome::Refused(status, code) => format!("upload {status} {code}"),
                    UploadOutcome::Transport(kind) => format!("upload transport {kind}"),
                },
                Op::Download { outcome, .. } => match outcome {
                    DownloadOutcome::Complete => "download complete".to_owned(),
                    DownloadOutcome::Corrupt => "download CORRUPT".to_owned(),
                    DownloadOutcome::NotFound => "download 404".to_owned(),
                    DownloadOutcome::Refused(status, code) => {
                        format!("download {status} {code}")
                    }
                    DownloadOutcome::Cut(_) => "download cut".to_owned(),
                    DownloadOutcome::Transport(kind) => format!("download transport {kind}"),
                },
                Op::Delete { status, .. } => format!("delete {status}"),
            };
            *tally.entry(key).or_insert(0) += 1;
        }
        tally
    }

    /// Answers with a 5xx status, per status (the caller decides which were injected).
    pub fn server_errors(&self) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for status in self.events().iter().filter_map(|e| e.op.error_status()) {
            if status >= 500 {
                *out.entry(status).or_insert(0) += 1;
            }
        }
        out
    }

    /// Operations that got no answer at all (transport errors, hangs).
    pub fn unanswered(&self) -> u64 {
        self.events().iter().filter(|e| e.op.unanswered()).count() as u64
    }

    /// Every recorded operation on `id`, one per line, for failure messages.
    pub fn describe(&self, id: &str) -> String {
        let events = self.events();
        let t0 = events.iter().map(|e| e.start).min();
        let mut out = String::new();
        for e in &events {
            let mine = match &e.op {
                Op::Upload { id: Some(x), .. }
                | Op::Download { id: x, .. }
                | Op::Delete { id: x, .. } => x == id,
                Op::Upload { .. } => false,
            };
            if mine && let Some(t0) = t0 {
                let _ = writeln!(
                    out,
                    "  {:>8.3}s..{:>8.3}s {:?}",
                    (e.start - t0).as_secs_f64(),
                    (e.end - t0).as_secs_f64(),
                    e.op
                );
            }
        }
        out
    }

    /// Completed downloads of `id`.
    pub fn completed(&self, id: &str) -> u32 {
        files(&self.events()).get(id).map_or(0, |f| f.completed)
    }
}

/// What the history says of one acknowledged upload.
#[derive(Debug)]
struct FileFacts {
    upload_start: Instant,
    ack: Instant,
    dlimit: u32,
    expiry: Duration,
    completed: u32,
    /// Downloads that may or may not have counted (cut, unanswered).
    in_doubt: u32,
    deleted: Option<Instant>,
}

fn files(events: &[Event]) -> BTreeMap<String, FileFacts> {
    let mut files = BTreeMap::new();
    for event in events {
        if let Op::Upload {
            id: Some(id),
            dlimit,
            expiry,
            ..
        } = &event.op
        {
            files.insert(
                id.clone(),
                FileFacts {
                    upload_start: event.start,
                    ack: event.end,
                    dlimit: *dlimit,
                    expiry: *expiry,
                    completed: 0,
                    in_doubt: 0,
                    deleted: None,
                },
            );
        }
    }
    for event in events {
        match &event.op {
            Op::Download { id, outcome, .. } => {
                if let Some(file) = files.get_mut(id) {
                    match outcome {
                        DownloadOutcome::Complete | DownloadOutcome::Corrupt => file.completed += 1,
                        DownloadOutcome::Cut(_) | DownloadOutcome::Transport(_) => {
                            file.in_doubt += 1;
                        }
                        _ => {}
                    }
                }
            }
            Op::Delete { id, status, .. } => {
                if let Some(file) = files.get_mut(id) {
                    // Any delete sent may have taken effect, answered or not.
                    file.deleted.get_or_insert(event.start);
                    let _ = status;
                }
            }
            Op::Upload { .. } => {}
        }
    }
    files
}

/// A summary table (Markdown) of runs: operations, errors by kind, violations, peak RSS.
#[derive(Debug, Default)]
pub struct Summary {
    rows: Vec<String>,
}

impl Summary {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scenario's row.
    pub fn add(
        &mut self,
        scenario: &str,
        history: &History,
        violations: usize,
        peak_rss_mib: &[u64],
        took: Duration,
    ) {
        let tally = history.tally();
        let ops: u64 = tally.values().sum();
        let ok: u64 = tally
            .iter()
            .filter(|(k, _)| *k == "upload ok" || *k == "download complete")
            .map(|(_, v)| v)
            .sum();
        let mut errors = String::new();
        for (kind, n) in &tally {
            if kind != "upload ok" && kind != "download complete" {
                let _ = write!(errors, "{kind}: {n}; ");
            }
        }
        let rss: Vec<String> = peak_rss_mib.iter().map(|m| format!("{m} MiB")).collect();
        self.rows.push(format!(
            "| {scenario} | {ops} | {ok} | {} | {violations} | {} | {:.0} s |",
            errors.trim_end_matches("; "),
            rss.join(", "),
            took.as_secs_f64()
        ));
    }

    /// The table.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "| scenario | operations | ok | other outcomes | invariant violations | peak RSS per instance | took |\n|---|---:|---:|---|---:|---|---:|\n",
        );
        for row in &self.rows {
            out.push_str(row);
            out.push('\n');
        }
        out
    }
}
