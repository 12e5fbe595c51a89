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
//! 4. **Never visible before acknowledged.** A file is readable from the moment the server
//!    commits its upload (the row is written after the blob), never earlier, and an upload
//!    the server refused is never readable. What the history can prove, with no false
//!    alarm under real concurrency:
//!
//!    - The client learns the id from the upload's first answer on the WebSocket, before
//!      a byte of the file is sent (on the HTTP route, only with the acknowledgement). A
//!      reader given the id at once may well see the file before the uploader reads the
//!      acknowledgement: the server commits, then answers, and the reader's request can
//!      fall in between. So "a read must begin after the acknowledgement" would be wrong.
//!    - The server can commit only once it has the whole body, and it can have it only
//!      after the client handed its last byte (or the WebSocket's end marker) to the
//!      connection: [`Op::Upload::body_done`]. All clients share one process and one
//!      monotonic clock, so the commit `c` satisfies `body_done < c`, and a read that
//!      succeeded was served at some instant between its start and its end.
//!    - Hence the rule: **a read that succeeded (a complete or corrupt download, an
//!      `exists` answered 200) must end after its upload's `body_done`**. One that ended
//!      at or before it was served before any commit could have happened. A read that
//!      ends later is consistent with some order of events and is never reported (a late
//!      `body_done`, the network's delays, a slow machine only make the rule weaker, not
//!      wrong). Without a recorded `body_done` (the upload failed before it), the upload's
//!      start is the bound.
//!    - A read that succeeded for an upload the server refused (an error answer, not a
//!      lost one) is reported whenever it happened. (An upload that got no answer may
//!      have committed: its reads follow the rule above.)
//!    - At the end, no row belongs to an upload the server refused, and every row the
//!      store holds belongs to an acknowledged upload, except those an upload that got no
//!      answer at all (its server killed after the commit) may have left: its own if its
//!      id is known, else at most one unknown row per such upload.
//!
//!    Readers that race the commit are the soak's watchers (`tests/tests/reliability/`):
//!    they take the id of a WebSocket upload from its first answer and poll `exists`,
//!    then download, while the file is still being sent.
//! 5. **Never lost.** An acknowledged upload that has downloads left, was not deleted and
//!    is still well within its expiry downloads intact in the final check
//!    ([`History::final_check`]). A check that only ended after the file's earliest
//!    possible expiry proves nothing either way (the server must refuse a file that
//!    expires mid-download, and a loaded machine may take that long): it is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{DownloadOutcome, Share, UploadOutcome, Uploaded};

/// How late after the expiry bound a download may still complete (see invariant 1): the
/// server's last check precedes the last chunk, which a loaded 2-core machine was seen to
/// deliver 1.09 s later; 5 s keeps the check from failing on scheduling alone while
/// still catching a download served whole long after its expiry.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(5);

/// One recorded operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// An upload: which file, its limit and expiry.
    Upload {
        /// The file id, once the server gave it (with the acknowledgement on the HTTP
        /// route, in the WebSocket's first answer on the other).
        id: Option<String>,
        /// Download limit asked for.
        dlimit: u32,
        /// Expiry asked for.
        expiry: Duration,
        /// How it ended.
        outcome: UploadOutcome,
        /// When the client handed the body's last byte to its connection (invariant 4):
        /// the server cannot have committed the file before.
        body_done: Option<Instant>,
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
    /// `GET /api/exists/<id>`, with the status answered (200: the file is live; 0: none).
    Exists {
        /// The file id.
        id: String,
        /// The status.
        status: u16,
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
            Op::Delete { status, .. } | Op::Exists { status, .. } => Some(*status),
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
            } | Op::Exists { status: 0, .. }
        )
    }

    /// The file a read of this operation saw, if it succeeded: a download that received
    /// every byte (right or wrong), an `exists` answered 200.
    fn read_succeeded(&self) -> Option<&str> {
        match self {
            Op::Download {
                id,
                outcome: DownloadOutcome::Complete | DownloadOutcome::Corrupt,
                ..
            }
            | Op::Exists { id, status: 200 } => Some(id),
            _ => None,
        }
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
        self.record_span(start, Instant::now(), op);
    }

    /// Records an operation that ran from `start` to `end`.
    pub fn record_span(&self, start: Instant, end: Instant, op: Op) {
        let event = Event { start, end, op };
        self.events.lock().expect("history").push(event);
    }

    /// Records an upload's outcome.
    pub fn upload(&self, start: Instant, dlimit: u32, expiry: Duration, uploaded: &Uploaded) {
        self.record(
            start,
            Op::Upload {
                id: uploaded.id.clone(),
                dlimit,
                expiry,
                outcome: uploaded.outcome.clone(),
                body_done: uploaded.body_done,
            },
        );
    }

    /// Records an `exists` of `id` that ran from `start` until now.
    pub fn exists(&self, start: Instant, id: &str, status: u16) {
        self.record(
            start,
            Op::Exists {
                id: id.to_owned(),
                status,
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
                f.acknowledged
                    && f.deleted.is_none()
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
        check(&self.events(), rows)
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
                Op::Exists { status: 0, .. } => "exists transport".to_owned(),
                Op::Exists { status, .. } => format!("exists {status}"),
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
                | Op::Exists { id: x, .. }
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

/// Checks every invariant of the module's documentation on `events`; `rows` is the ids
/// the metadata store holds at the end.
fn check(events: &[Event], rows: &BTreeSet<String>) -> Vec<Violation> {
    let files = files(events);
    let mut violations = Vec::new();
    for event in events {
        // 4. Never visible before acknowledged.
        if let Some(id) = event.op.read_succeeded()
            && let Some(file) = files.get(id)
        {
            if file.refused {
                violations.push(format!(
                    "{id} was read ({:?}) though the server refused its upload",
                    event.op
                ));
            } else if event.end <= file.body_done {
                violations.push(format!(
                    "{id} was read ({:?}) {:?} before its upload's last byte was sent: \
                     visible before it could have been committed",
                    event.op,
                    file.body_done - event.end
                ));
            }
        }
        // 1. Never after expiry (the bound is known only for an acknowledged upload).
        if let Some(id) = event.op.read_succeeded()
            && let Some(file) = files.get(id)
            && file.acknowledged
            && !matches!(
                event.op,
                Op::Download {
                    outcome: DownloadOutcome::Corrupt,
                    ..
                }
            )
        {
            let bound = file.end + file.expiry;
            if event.start >= bound {
                violations.push(format!(
                    "{id} was read ({:?}) though the read started {:?} after its expiry",
                    event.op,
                    event.start - bound
                ));
            } else if event.end > bound + CLOCK_TOLERANCE {
                violations.push(format!(
                    "{id} was read ({:?}) {:?} after its expiry",
                    event.op,
                    event.end - bound
                ));
            }
        }
        let Op::Download {
            id,
            outcome,
            last_check,
        } = &event.op
        else {
            continue;
        };
        let Some(file) = files.get(id) else {
            violations.push(format!("download of {id}, an id no upload was given"));
            continue;
        };
        match outcome {
            DownloadOutcome::Complete => {}
            // 3. Never corrupt.
            DownloadOutcome::Corrupt => {
                violations.push(format!(
                    "{id} downloaded with bytes that differ from the upload"
                ));
            }
            // 5. Never lost.
            _ if *last_check
                && file.acknowledged
                && event.end < file.upload_start + file.expiry =>
            {
                violations.push(format!(
                    "{id} was acknowledged and had downloads left, but the final check got {outcome:?}"
                ));
            }
            _ => {}
        }
    }
    // 2. Never beyond the limit.
    for (id, file) in &files {
        if file.completed > file.dlimit {
            violations.push(format!(
                "{id} downloaded {} times with a limit of {}",
                file.completed, file.dlimit
            ));
        }
    }
    // 4. No row of a failed upload. An upload whose answer was lost (its server killed
    // after the commit, a timeout) may have a row: its own if its id is known, else one
    // nobody knows the id of (at most one per such upload).
    for (id, file) in &files {
        if file.refused && rows.contains(id) {
            violations.push(format!(
                "the store holds a row of {id}, whose upload the server refused"
            ));
        }
    }
    let in_doubt = events
        .iter()
        .filter(|e| matches!(e.op, Op::Upload { id: None, .. }) && e.op.unanswered())
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

/// What the history says of one upload whose id is known.
#[derive(Debug)]
struct FileFacts {
    upload_start: Instant,
    /// When its outcome was known (the acknowledgement, for an acknowledged upload).
    end: Instant,
    /// The earliest the server could have committed it (invariant 4): when the client
    /// handed over the last byte, else when the upload began.
    body_done: Instant,
    /// Whether the server acknowledged it.
    acknowledged: bool,
    /// Whether the server answered it with an error: it was never committed.
    refused: bool,
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
            outcome,
            body_done,
        } = &event.op
        {
            files.insert(
                id.clone(),
                FileFacts {
                    upload_start: event.start,
                    end: event.end,
                    body_done: body_done.unwrap_or(event.start),
                    acknowledged: *outcome == UploadOutcome::Ok,
                    // A 200 whose body was not the expected JSON still committed.
                    refused: matches!(outcome, UploadOutcome::Refused(status, _) if *status != 200),
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
            Op::Upload { .. } | Op::Exists { .. } => {}
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

/// The checker on hand-written histories: each violation is reported, and a valid
/// history with the concurrency a real run has passes.
#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a history on a clock of its own: times are milliseconds after `t0`.
    struct Script {
        t0: Instant,
        history: History,
    }

    impl Script {
        fn new() -> Self {
            Self {
                t0: Instant::now(),
                history: History::new(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }

        fn op(&self, start: u64, end: u64, op: Op) {
            self.history.record_span(self.at(start), self.at(end), op);
        }

        /// An upload of `id` from `start` to `end`, its last byte sent at `body_done`.
        fn upload(
            &self,
            id: &str,
            (start, body_done, end): (u64, Option<u64>, u64),
            dlimit: u32,
            expiry_ms: u64,
            outcome: UploadOutcome,
        ) {
            self.op(
                start,
                end,
                Op::Upload {
                    id: Some(id.to_owned()),
                    dlimit,
                    expiry: Duration::from_millis(expiry_ms),
                    outcome,
                    body_done: body_done.map(|ms| self.at(ms)),
                },
            );
        }

        fn acked(&self, id: &str, times: (u64, Option<u64>, u64), dlimit: u32, expiry_ms: u64) {
            self.upload(id, times, dlimit, expiry_ms, UploadOutcome::Ok);
        }

        fn download(&self, id: &str, start: u64, end: u64, outcome: DownloadOutcome) {
            self.op(
                start,
                end,
                Op::Download {
                    id: id.to_owned(),
                    outcome,
                    last_check: false,
                },
            );
        }

        fn final_check(&self, id: &str, start: u64, end: u64, outcome: DownloadOutcome) {
            self.op(
                start,
                end,
                Op::Download {
                    id: id.to_owned(),
                    outcome,
                    last_check: true,
                },
            );
        }

        fn exists(&self, id: &str, start: u64, end: u64, status: u16) {
            self.op(
                start,
                end,
                Op::Exists {
                    id: id.to_owned(),
                    status,
                },
            );
        }

        fn check(&self, rows: &[&str]) -> Vec<Violation> {
            let rows = rows.iter().map(|r| (*r).to_owned()).collect();
            self.history.check(&rows)
        }
    }

    const HOUR: u64 = 3_600_000;

    /// Exactly one violation, naming `id` and containing `what`.
    #[track_caller]
    fn one_violation(violations: &[Violation], id: &str, what: &str) {
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert!(
            violations[0].contains(id) && violations[0].contains(what),
            "expected {what:?} about {id}: {violations:#?}"
        );
    }

    #[test]
    fn a_download_beyond_the_limit_is_reported() {
        let s = Script::new();
        s.acked("a", (0, Some(50), 100), 2, HOUR);
        for n in 0..3 {
            s.download("a", 200 + n * 100, 250 + n * 100, DownloadOutcome::Complete);
        }
        one_violation(
            &s.check(&["a"]),
            "a",
            "downloaded 3 times with a limit of 2",
        );
    }

    #[test]
    fn a_corrupt_download_counts_against_the_limit_and_is_reported() {
        let s = Script::new();
        s.acked("a", (0, Some(50), 100), 1, HOUR);
        s.download("a", 200, 300, DownloadOutcome::Corrupt);
        one_violation(&s.check(&["a"]), "a", "bytes that differ");
        s.download("a", 400, 500, DownloadOutcome::Complete);
        let violations = s.check(&["a"]);
        assert_eq!(violations.len(), 2, "{violations:#?}");
        assert!(violations[1].contains("downloaded 2 times with a limit of 1"));
    }

    #[test]
    fn a_download_started_after_expiry_is_reported() {
        let s = Script::new();
        // Acknowledged at 1 s with 10 s to live: expired by 11 s at the latest.
        s.acked("a", (0, Some(900), 1_000), 5, 10_000);
        s.download("a", 11_000, 11_010, DownloadOutcome::Complete);
        one_violation(&s.check(&[]), "a", "started");
    }

    #[test]
    fn a_download_that_ends_too_long_after_expiry_is_reported() {
        let s = Script::new();
        s.acked("a", (0, Some(900), 1_000), 5, 10_000);
        // Begun in time, but its last byte came 5.5 s after the bound (tolerance: 5 s).
        s.download("a", 10_000, 16_500, DownloadOutcome::Complete);
        one_violation(&s.check(&[]), "a", "after its expiry");
        // Within the tolerance: fine.
        let s = Script::new();
        s.acked("a", (0, Some(900), 1_000), 5, 10_000);
        s.download("a", 10_000, 15_900, DownloadOutcome::Complete);
        assert_eq!(s.check(&[]), Vec::<Violation>::new());
    }

    #[test]
    fn an_exists_answered_200_after_expiry_is_reported() {
        let s = Script::new();
        s.acked("a", (0, Some(900), 1_000), 5, 10_000);
        s.exists("a", 11_000, 11_002, 200);
        one_violation(&s.check(&[]), "a", "after its expiry");
    }

    #[test]
    fn a_file_read_before_its_last_byte_was_sent_is_reported() {
        // A WebSocket upload: the id known at 10 ms, the end marker sent at 5 s.
        for read in ["exists", "download"] {
            let s = Script::new();
            s.acked("a", (0, Some(5_000), 5_200), 5, HOUR);
            s.exists("a", 20, 22, 404);
            if read == "exists" {
                s.exists("a", 3_000, 3_002, 200);
            } else {
                s.download("a", 3_000, 3_100, DownloadOutcome::Complete);
            }
            one_violation(
                &s.check(&["a"]),
                "a",
                "before its upload's last byte was sent",
            );
        }
    }

    #[test]
    fn a_read_ending_exactly_when_the_last_byte_left_is_reported() {
        let s = Script::new();
        s.acked("a", (0, Some(5_000), 5_200), 5, HOUR);
        s.exists("a", 4_990, 5_000, 200);
        one_violation(
            &s.check(&["a"]),
            "a",
            "visible before it could have been committed",
        );
    }

    #[test]
    fn without_a_recorded_last_byte_the_upload_start_bounds_visibility() {
        let s = Script::new();
        // Failed before its last byte left (no answer at all): it may still have
        // committed later, but not before it began.
        s.upload(
            "a",
            (1_000, None, 2_000),
            5,
            HOUR,
            UploadOutcome::Transport("hung".into()),
        );
        s.exists("a", 500, 900, 200);
        one_violation(
            &s.check(&["a"]),
            "a",
            "before its upload's last byte was sent",
        );
    }

    #[test]
    fn a_file_read_though_its_upload_was_refused_is_reported() {
        let s = Script::new();
        s.upload(
            "a",
            (0, Some(100), 150),
            5,
            HOUR,
            UploadOutcome::Refused(503, "unavailable".into()),
        );
        // Read after the refusal, in the window "after the last byte": still a violation.
        s.exists("a", 200, 202, 200);
        one_violation(&s.check(&[]), "a", "refused its upload");
    }

    #[test]
    fn a_row_of_a_refused_upload_is_reported() {
        let s = Script::new();
        s.upload(
            "a",
            (0, Some(100), 150),
            5,
            HOUR,
            UploadOutcome::Refused(503, "unavailable".into()),
        );
        let violations = s.check(&["a"]);
        assert!(
            violations
                .iter()
                .any(|v| v.contains("a, whose upload the server refused")),
            "{violations:#?}"
        );
    }

    #[test]
    fn a_row_no_upload_made_is_reported_unless_an_upload_went_unanswered() {
        let s = Script::new();
        s.acked("a", (0, Some(50), 100), 5, HOUR);
        one_violation(
            &s.check(&["a", "stray"]),
            "stray",
            "rows no acknowledged upload made",
        );
        s.op(
            200,
            300,
            Op::Upload {
                id: None,
                dlimit: 1,
                expiry: Duration::from_secs(60),
                outcome: UploadOutcome::Transport("hung".into()),
                body_done: None,
            },
        );
        assert_eq!(s.check(&["a", "stray"]), Vec::<Violation>::new());
    }

    #[test]
    fn a_lost_acknowledged_upload_is_reported() {
        for got in [
            DownloadOutcome::NotFound,
            DownloadOutcome::Refused(503, "unavailable".into()),
            DownloadOutcome::Cut(1000),
            DownloadOutcome::Transport("hung".into()),
        ] {
            let s = Script::new();
            s.acked("a", (0, Some(50), 100), 3, HOUR);
            s.download("a", 200, 300, DownloadOutcome::Complete);
            s.final_check("a", 1_000, 1_100, got.clone());
            one_violation(&s.check(&["a"]), "a", "but the final check got");
        }
    }

    #[test]
    fn a_download_of_an_id_no_upload_was_given_is_reported() {
        let s = Script::new();
        s.download("nobody", 0, 10, DownloadOutcome::NotFound);
        one_violation(&s.check(&[]), "nobody", "an id no upload was given");
    }

    /// Every kind of operation, with the concurrency and the edges a real run has.
    #[test]
    fn a_valid_history_passes() {
        let s = Script::new();
        // A WebSocket upload, watched: the id known at 10 ms, the last byte sent at 800
        // ms, acknowledged at 1 s.
        s.acked("ws", (0, Some(800), 1_000), 3, HOUR);
        s.exists("ws", 20, 25, 404);
        s.download("ws", 30, 40, DownloadOutcome::NotFound);
        // Sent before the last byte left, answered after it: the server may have
        // committed in between. Before the uploader's acknowledgement: allowed.
        s.exists("ws", 790, 810, 200);
        s.download("ws", 812, 950, DownloadOutcome::Complete);
        // Downloads up to the limit, then refusals; one cut (it may have counted).
        s.download("ws", 1_100, 1_200, DownloadOutcome::Complete);
        s.download("ws", 1_150, 1_250, DownloadOutcome::Cut(4096));
        s.download("ws", 1_300, 1_400, DownloadOutcome::Complete);
        s.download("ws", 1_500, 1_510, DownloadOutcome::NotFound);
        // An HTTP upload (no id before its acknowledgement), expiring after 5 s.
        s.acked("short", (2_000, Some(2_400), 2_500), 10, 5_000);
        s.download("short", 2_600, 2_700, DownloadOutcome::Complete);
        // Its final check began in time and ended after its earliest expiry (upload
        // start + 5 s = 7 s): a refusal then is no loss.
        s.final_check("short", 6_900, 7_200, DownloadOutcome::NotFound);
        // Read after the bound it was acknowledged with: refused, as it should be.
        s.download("short", 7_600, 7_610, DownloadOutcome::NotFound);
        s.exists("short", 7_600, 7_601, 404);
        // A long-lived file that survives: the final check downloads it.
        s.acked("kept", (3_000, Some(3_050), 3_100), 2, HOUR);
        s.final_check("kept", 9_000, 9_100, DownloadOutcome::Complete);
        // A deleted file: its final check is not expected to succeed (and must_survive
        // leaves it out).
        s.acked("gone", (3_000, Some(3_050), 3_100), 2, HOUR);
        s.op(
            3_200,
            3_210,
            Op::Delete {
                id: "gone".into(),
                status: 200,
            },
        );
        s.download("gone", 3_300, 3_310, DownloadOutcome::NotFound);
        // A refused upload, never visible; an upload without an answer, which left a row
        // nobody knows the id of.
        s.upload(
            "refused",
            (4_000, Some(4_100), 4_200),
            1,
            HOUR,
            UploadOutcome::Refused(503, "unavailable".into()),
        );
        s.exists("refused", 4_050, 4_060, 404);
        s.exists("refused", 4_300, 4_310, 404);
        s.upload(
            "lost-answer",
            (5_000, Some(5_100), 9_000),
            1,
            HOUR,
            UploadOutcome::Transport("hung".into()),
        );
        // It committed: read after its last byte left, before the client gave up.
        s.exists("lost-answer", 5_200, 5_210, 200);
        // An HTTP upload without an answer (no id known) may have left one row.
        s.op(
            5_000,
            9_000,
            Op::Upload {
                id: None,
                dlimit: 1,
                expiry: Duration::from_secs(60),
                outcome: UploadOutcome::Transport("hung".into()),
                body_done: Some(s.at(5_100)),
            },
        );
        assert_eq!(
            s.check(&["ws", "kept", "lost-answer", "unknown"]),
            Vec::<Violation>::new()
        );
        let survivors: Vec<String> = s
            .history
            .must_survive(s.at(9_500), Duration::from_secs(3))
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(survivors, ["kept"]);
    }
}
