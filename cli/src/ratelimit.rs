//! What the CLI does when a server answers `429 Too Many Requests`.
//!
//! A rate limiter answers before the request is handled (sealdrop-server's buckets run
//! before the route, so a refused upload has accepted no data), with `Retry-After`:
//! seconds, or an HTTP date. When the wait is at most `--max-wait` (60 s by default),
//! sealdrop prints `sealdrop: the server asks to wait 18 s` on standard error (not with
//! `-q`), sleeps, and sends the request again — at most [`MAX_WAITS`] times for one
//! request. A longer wait, a 429 without `Retry-After`, or `--no-wait` fails at once with
//! [`Kind::RateLimited`] and a sentence saying when to try again.
//!
//! [`Kind::RateLimited`]: crate::error::Kind::RateLimited

use std::io::Write;
use std::time::{Duration, SystemTime};

use indicatif::ProgressBar;

use crate::error::{Error, Result};

/// How many times one request waits and is sent again before the command gives up.
pub(crate) const MAX_WAITS: u32 = 3;

/// What the server refused, for the sentence of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// An upload (either route).
    Uploads,
    /// A download page, `exists`, `metadata` or a download (per address, or per file for
    /// wrong passwords).
    Downloads,
    /// An owner request: info, params, password, delete.
    Owner,
    /// Anything else (`/config`, which sealdrop-server never limits).
    Requests,
}

impl Limited {
    /// The start of the refusal's sentence.
    fn refusal(self) -> &'static str {
        match self {
            Self::Uploads => "the server refuses more uploads from this address for now",
            Self::Downloads => "the server refuses more downloads for now",
            Self::Owner => "the server refuses more owner requests from this address for now",
            Self::Requests => "the server refuses more requests from this address for now",
        }
    }

    /// The error of a refusal whose wait is `wait` (`None`: unknown).
    pub(crate) fn refused(self, wait: Option<Duration>) -> Error {
        let when = match wait {
            Some(wait) => format!("in {}", format_wait(wait)),
            None => "later".to_owned(),
        };
        Error::rate_limited(format!("{}: try again {when}", self.refusal()))
    }
}

/// How long the CLI is willing to wait for a rate-limited server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// The longest wait accepted; `None` never waits (`--no-wait`, `--max-wait 0`).
    max_wait: Option<Duration>,
    /// Whether the waiting line is left out (`-q`).
    quiet: bool,
}

impl Patience {
    /// Waits of up to `max_wait_secs` (0: none, like `no_wait`); `quiet` keeps the waiting
    /// line off standard error.
    pub(crate) fn new(max_wait_secs: u64, no_wait: bool, quiet: bool) -> Self {
        let max_wait = (!no_wait && max_wait_secs > 0).then(|| Duration::from_secs(max_wait_secs));
        Self { max_wait, quiet }
    }

    /// Handles one 429 answer whose `Retry-After` said `retry_after`, when this request has
    /// already waited `waits` times: sleeps and returns `Ok` to try again (counting the
    /// wait), or returns the refusal. `bar`, the progress bar on screen, is hidden while
    /// the line is printed.
    pub(crate) async fn wait(
        &self,
        retry_after: Option<Duration>,
        what: Limited,
        waits: &mut u32,
        bar: Option<&ProgressBar>,
    ) -> Result<()> {
        let Some(wait) = retry_after else {
            return Err(what.refused(None));
        };
        // A server asking for no wait at all still gets a second: no tight loop.
        let wait = wait.max(Duration::from_secs(1));
        match self.max_wait {
            Some(max) if wait <= max && *waits < MAX_WAITS => {}
            _ => return Err(what.refused(Some(wait))),
        }
        *waits += 1;
        if !self.quiet {
            let line = format!("sealdrop: the server asks to wait {}", format_wait(wait));
            let print = || {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            };
            match bar {
                Some(bar) => bar.suspend(print),
                None => print(),
            }
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// The wait a `Retry-After` value asks for: whole seconds, or an HTTP date (a date in the
/// past is no wait). `None` for anything else.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait of a `Retry-After` header among `headers`, if it has a usable one.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// A wait for people, rounded up: `18 s`, `5 min`, `2 h 30 min`, `3 d 4 h`.
pub(crate) fn format_wait(wait: Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if secs < 120 {
        return format!("{secs} s");
    }
    let mins = secs.div_ceil(60);
    if mins < 120 {
        return format!("{mins} min");
    }
    let (hours, mins) = (mins / 60, mins % 60);
    if hours < 48 {
        return match mins {
            0 => format!("{hours} h"),
            m => format!("{hours} h {m} min"),
        };
    }
    let hours = hours + u64::from(mins > 0);
    match (hours / 24, hours % 24) {
        (days, 0) => format!("{days} d"),
        (days, h) => format!("{days} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("18", now), Some(Duration::from_secs(18)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::from_secs(0)));
        // RFC 9110's example date is 784111777 in Unix time.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:54:37 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past is no wait"
        );
        for bad in ["", "-1", "soon", "1.5", "18 s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn waits_read_as_people_say_them() {
        let cases = [
            (1, "1 s"),
            (18, "18 s"),
            (119, "119 s"),
            (120, "2 min"),
            (121, "3 min"),
            (300, "5 min"),
            (7140, "119 min"),
            (7199, "2 h"),
            (7200, "2 h"),
            (9000, "2 h 30 min"),
            (86_400, "24 h"),
            (172_800, "2 d"),
            (190_000, "2 d 5 h"),
        ];
        for (secs, text) in cases {
            assert_eq!(format_wait(Duration::from_secs(secs)), text, "{secs}");
        }
        assert_eq!(format_wait(Duration::from_millis(17_200)), "18 s");
    }

    #[test]
    fn refusals_say_when_to_try_again() {
        let e = Limited::Uploads.refused(Some(Duration::from_secs(300)));
        assert_eq!(
            e.to_string(),
            "the server refuses more uploads from this address for now: try again in 5 min"
        );
        assert_eq!(e.kind(), crate::error::Kind::RateLimited);
        let e = Limited::Downloads.refused(None);
        assert_eq!(
            e.to_string(),
            "the server refuses more downloads for now: try again later"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn short_waits_are_waited_a_few_times_long_ones_refused() {
        let patience = Patience::new(60, false, true);
        let mut waits = 0;
        for _ in 0..MAX_WAITS {
            let before = tokio::time::Instant::now();
            patience
                .wait(
                    Some(Duration::from_secs(18)),
                    Limited::Uploads,
                    &mut waits,
                    None,
                )
                .await
                .unwrap();
            assert_eq!(before.elapsed(), Duration::from_secs(18));
        }
        let e = patience
            .wait(
                Some(Duration::from_secs(18)),
                Limited::Uploads,
                &mut waits,
                None,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().ends_with("try again in 18 s"), "{e}");

        let mut waits = 0;
        let e = patience
            .wait(
                Some(Duration::from_secs(61)),
                Limited::Owner,
                &mut waits,
                None,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().ends_with("try again in 61 s"), "{e}");
        let e = patience
            .wait(None, Limited::Owner, &mut waits, None)
            .await
            .unwrap_err();
        assert!(e.to_string().ends_with("try again later"), "{e}");
        assert_eq!(waits, 0);

        for never in [Patience::new(60, true, true), Patience::new(0, false, true)] {
            let e = never
                .wait(
                    Some(Duration::from_secs(1)),
                    Limited::Downloads,
                    &mut waits,
                    None,
                )
                .await
                .unwrap_err();
            assert!(e.to_string().ends_with("try again in 1 s"), "{e}");
        }
    }
}
