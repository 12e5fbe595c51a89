//! Waiting on the system under test without betting on the machine's speed.
//!
//! A test that asserts "X is done within 15 s" fails on a loaded machine although X was
//! never wrong, only slow. The waits here fail on what a test actually means instead:
//!
//! - [`for_progress`]: a count of work left (rows to sweep, leftovers to remove) goes down
//!   to zero, reaching a new low at least once every [`Patience::stall`], within a
//!   generous [`Patience::overall`] bound. It fails when the work *stops*, however long
//!   the machine takes to do it.
//! - [`until`]: one thing happens eventually (a slot comes back, a reload is logged), within
//!   a generous limit such as [`EVENTUALLY`].
//!
//! Both poll, and both have an async twin for tests on a Tokio runtime
//! ([`for_progress_async`], [`until_async`]). A failure names what was awaited, what was
//! last seen and for how long.

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// How often the waits poll.
pub const POLL: Duration = Duration::from_millis(100);

/// The limit of [`until`] for things that happen "at once" or "soon" on an idle machine:
/// far beyond any of them, so only a hang reaches it.
pub const EVENTUALLY: Duration = Duration::from_secs(60);

/// How long [`for_progress`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Longest the count may go without reaching a new low.
    pub stall: Duration,
    /// Longest the whole wait may take.
    pub overall: Duration,
}

impl Patience {
    /// A minute without progress, ten minutes in all.
    pub const GENEROUS: Self = Self {
        stall: Duration::from_secs(60),
        overall: Duration::from_secs(600),
    };
}

impl Default for Patience {
    fn default() -> Self {
        Self::GENEROUS
    }
}

/// What is left to do: its count (0 when done), and what to show when a wait fails.
pub trait Remaining: Debug {
    /// How many items are left.
    fn remaining(&self) -> usize;
}

impl Remaining for usize {
    fn remaining(&self) -> usize {
        *self
    }
}

impl<T: Debug> Remaining for Vec<T> {
    fn remaining(&self) -> usize {
        self.len()
    }
}

impl<T: Debug> Remaining for std::collections::BTreeSet<T> {
    fn remaining(&self) -> usize {
        self.len()
    }
}

impl<A: Remaining, B: Remaining> Remaining for (A, B) {
    fn remaining(&self) -> usize {
        self.0.remaining() + self.1.remaining()
    }
}

/// Whether a condition of [`until`] holds: `true`, `Some(value)` or `Ok(value)`. What a
/// `false`, `None` or `Err(state)` shows when the wait fails.
pub trait Done {
    /// What the wait returns once done.
    type Output;
    /// The output, or what to show of the state.
    fn done(self) -> Result<Self::Output, String>;
}

impl Done for bool {
    type Output = ();
    fn done(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Done for Option<T> {
    type Output = T;
    fn done(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

impl<T, E: Debug> Done for Result<T, E> {
    type Output = T;
    fn done(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// Progress of a count towards zero: a new low resets the stall clock.
#[derive(Debug)]
struct Tracker {
    started: Instant,
    lowest: usize,
    moved: Instant,
}

impl Tracker {
    fn new(first: usize) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            lowest: first,
            moved: now,
        }
    }

    /// Records a count; panics when the wait is over without the work done.
    fn check<R: Remaining>(&mut self, what: &str, patience: Patience, last: &R) {
        let left = last.remaining();
        if left < self.lowest {
            self.lowest = left;
            self.moved = Instant::now();
        }
        let (still, total) = (self.moved.elapsed(), self.started.elapsed());
        assert!(
            still < patience.stall,
            "{what}: no progress for {still:.1?} (the limit is {:?}); {left} left after \
             {total:.1?}: {last:?}",
            patience.stall
        );
        assert!(
            total < patience.overall,
            "{what}: not done after {total:.1?} (the limit is {:?}), though still making \
             progress; {left} left: {last:?}",
            patience.overall
        );
    }
}

/// Polls `measure` until what it returns has nothing left, as long as the count keeps
/// reaching new lows (see [`Patience`]); returns how long that took. Panics with `what`
/// and the last measure when the count stalls or the overall limit passes.
#[track_caller]
pub fn for_progress<R: Remaining>(
    what: &str,
    patience: Patience,
    mut measure: impl FnMut() -> R,
) -> Duration {
    let first = measure();
    let mut tracker = Tracker::new(first.remaining());
    let mut last = first;
    while last.remaining() > 0 {
        tracker.check(what, patience, &last);
        std::thread::sleep(POLL);
        last = measure();
    }
    tracker.started.elapsed()
}

/// [`for_progress`] on a Tokio runtime, with an async `measure`.
pub async fn for_progress_async<R: Remaining>(
    what: &str,
    patience: Patience,
    mut measure: impl AsyncFnMut() -> R,
) -> Duration {
    let first = measure().await;
    let mut tracker = Tracker::new(first.remaining());
    let mut last = first;
    while last.remaining() > 0 {
        tracker.check(what, patience, &last);
        tokio::time::sleep(POLL).await;
        last = measure().await;
    }
    tracker.started.elapsed()
}

/// Polls `check` until it is done (`true`, `Some`, `Ok`) and returns its output. Panics
/// with `what` and the last state when `limit` passes first.
#[track_caller]
pub fn until<D: Done>(what: &str, limit: Duration, mut check: impl FnMut() -> D) -> D::Output {
    let started = Instant::now();
    loop {
        let state = match check().done() {
            Ok(output) => return output,
            Err(state) => state,
        };
        let waited = started.elapsed();
        assert!(
            waited < limit,
            "{what}: not after {waited:.1?} (the limit is {limit:?}); last seen: {state}"
        );
        std::thread::sleep(POLL);
    }
}

/// [`until`] on a Tokio runtime, with an async `check`.
pub async fn until_async<D: Done>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> D,
) -> D::Output {
    let started = Instant::now();
    loop {
        let state = match check().await.done() {
            Ok(output) => return output,
            Err(state) => state,
        };
        let waited = started.elapsed();
        assert!(
            waited < limit,
            "{what}: not after {waited:.1?} (the limit is {limit:?}); last seen: {state}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Patience = Patience {
        stall: Duration::from_millis(400),
        overall: Duration::from_secs(5),
    };

    #[test]
    fn progress_slower_than_any_fixed_deadline_passes() {
        // One item every 300 ms: 3 s in all, well past a 1 s "done within" deadline,
        // never stalled for 400 ms.
        let mut left = 10usize;
        let mut last = Instant::now();
        let took = for_progress("items", QUICK, || {
            if last.elapsed() >= Duration::from_millis(300) {
                left -= 1;
                last = Instant::now();
            }
            left
        });
        assert!(took >= Duration::from_millis(2700), "{took:?}");
    }

    #[test]
    #[should_panic(expected = "flapping: no progress for")]
    fn a_count_going_up_and_down_must_still_reach_new_lows() {
        // 5, 6, 5, 6, …: never below 5, so it stalls.
        let mut n = 0usize;
        for_progress("flapping", QUICK, || {
            n += 1;
            5 + n % 2
        });
    }

    #[test]
    #[should_panic(expected = "though still making progress")]
    fn the_overall_limit_holds_even_with_progress() {
        // A new low every poll, but never done: 1,000 polls take longer than 500 ms.
        let mut n = 1000usize;
        let patience = Patience {
            stall: Duration::from_secs(5),
            overall: Duration::from_millis(500),
        };
        for_progress("endless", patience, || {
            n = n.saturating_sub(1);
            (vec!["a"], n)
        });
    }

    #[test]
    fn until_returns_the_value() {
        let mut n = 0;
        let got = until("three", Duration::from_secs(5), || {
            n += 1;
            if n == 3 { Ok(n) } else { Err(n) }
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "last seen: \"still 503\"")]
    fn until_names_the_last_state() {
        until("never", Duration::from_millis(300), || {
            Err::<(), _>("still 503")
        });
    }

    #[test]
    fn the_async_twins_wait_the_same_way() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut left = vec![1, 2, 3];
            for_progress_async("async items", QUICK, async || {
                left.pop();
                left.clone()
            })
            .await;
            let mut tries = 0;
            let got = until_async("async", Duration::from_secs(5), async || {
                tries += 1;
                (tries == 2).then_some("ok")
            })
            .await;
            assert_eq!(got, "ok");
        });
    }
}
