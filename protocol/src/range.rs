//! Ranged downloads: a sealdrop extension of the signed download (Send clients never send
//! `Range`, and get the whole file exactly as before).
//!
//! A signed `GET /api/download/:id` may carry one `Range: bytes=…` (RFC 9110 §14.2). Its
//! `206 Partial Content` answer carries, besides `Content-Range`, the download's
//! reservation in [`HEADER_DOWNLOAD_RESERVATION`]. The following ranges of the *same*
//! download send that header back instead of a new signature. One reservation is one
//! download: it is counted once, when the range that ends the file is sent (its last
//! bytes only if the store counted it, as for a whole download), and a range that does
//! not end the file keeps the slot until the reservation's lease runs out, so the client
//! can ask for the next range, or the same one again after a cut.
//!
//! This lets a client fetch a large file in pieces of its choosing and never have more
//! than one piece in flight: a browser that buffers a response faster than its reader
//! takes it then holds at most a piece.
//!
//! The reservation is a bearer capability for the rest of one download: it travels only
//! in that header, never in a URL, and the server never logs it.

use std::ops::RangeInclusive;

/// The header that carries a ranged download's reservation, in the first range's answer
/// and in each following range's request.
pub const HEADER_DOWNLOAD_RESERVATION: &str = "x-download-reservation";

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// No range, or one the server ignores (malformed, or several ranges: RFC 9110
    /// §14.2 lets a server answer those with the whole representation).
    Whole,
    /// One satisfiable range, within the representation.
    Part(RangeInclusive<u64>),
    /// A well-formed range that selects nothing of it (answered 416).
    Unsatisfiable,
}

/// Reads a `Range` header value (`None`: no header) against a representation of `len`
/// bytes. Only one range is served; a request for several gets the whole representation.
pub fn requested(value: Option<&str>, len: u64) -> Requested {
    use http_range_header::RangeUnsatisfiableError as E;
    let Some(value) = value else {
        return Requested::Whole;
    };
    let one = std::num::NonZeroUsize::MIN;
    let parsed = match http_range_header::parse_range_header_with_max_ranges(value, one) {
        Ok(parsed) => parsed,
        Err(E::Unsatisfiable) => return Requested::Unsatisfiable,
        Err(_) => return Requested::Whole,
    };
    match parsed.validate(len) {
        Ok(ranges) => match <[RangeInclusive<u64>; 1]>::try_from(ranges) {
            Ok([range]) => Requested::Part(range),
            Err(_) => Requested::Unsatisfiable,
        },
        Err(E::Unsatisfiable) => Requested::Unsatisfiable,
        Err(_) => Requested::Whole,
    }
}

/// The `Range` header value asking for bytes `start..=end`.
pub fn request_header(range: &RangeInclusive<u64>) -> String {
    format!("bytes={}-{}", range.start(), range.end())
}

/// The `Content-Range` of a `206` carrying `range` of a representation of `len` bytes.
pub fn content_range(range: &RangeInclusive<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start(), range.end())
}

/// The `Content-Range` of a `416`: the representation's length.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// Reads a `206`'s `Content-Range: bytes START-END/LEN`: the range and the whole length.
/// `None` unless it is exactly that shape with `START <= END < LEN`.
pub fn parse_content_range(value: &str) -> Option<(RangeInclusive<u64>, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, len) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u64>().ok()
    };
    let (start, end, len) = (number(start)?, number(end)?, number(len)?);
    (start <= end && end < len).then_some((start..=end, len))
}

/// Whether `token` has the shape of a reservation the server hands out (32 lowercase hex
/// characters): anything else is refused before any store is asked.
pub fn is_reservation(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_is_read_against_the_length() {
        let len = 1000;
        assert_eq!(requested(None, len), Requested::Whole);
        assert_eq!(requested(Some("bytes=0-99"), len), Requested::Part(0..=99));
        assert_eq!(
            requested(Some("bytes=900-"), len),
            Requested::Part(900..=999)
        );
        assert_eq!(
            requested(Some("bytes=-10"), len),
            Requested::Part(990..=999)
        );
        // An end past the length is cut to it (RFC 9110 §14.1.2).
        assert_eq!(
            requested(Some("bytes=990-5000"), len),
            Requested::Part(990..=999)
        );
        assert_eq!(requested(Some("BYTES=1-1"), len), Requested::Part(1..=1));
    }

    #[test]
    fn what_selects_nothing_is_unsatisfiable_and_the_rest_is_ignored() {
        let len = 1000;
        assert_eq!(
            requested(Some("bytes=1000-"), len),
            Requested::Unsatisfiable
        );
        assert_eq!(
            requested(Some("bytes=5000-6000"), len),
            Requested::Unsatisfiable
        );
        for ignored in [
            "",
            "bytes",
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=0-1, 3-",
        ] {
            assert_eq!(
                requested(Some(ignored), len),
                Requested::Whole,
                "{ignored:?}"
            );
        }
    }

    #[test]
    fn headers_are_written_and_read_back() {
        assert_eq!(request_header(&(5..=9)), "bytes=5-9");
        assert_eq!(content_range(&(5..=9), 10), "bytes 5-9/10");
        assert_eq!(unsatisfied_range(10), "bytes */10");
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5..=9, 10)));
        assert_eq!(
            requested(Some(&request_header(&(5..=9))), 10),
            Requested::Part(5..=9)
        );
        for bad in [
            "bytes 5-9/9",
            "bytes 9-5/10",
            "bytes */10",
            "bytes 5-9/*",
            "bytes +5-9/10",
            "bytes 5-9/10 ",
            "items 5-9/10",
            "bytes 5-/10",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reservations_have_one_shape() {
        assert!(is_reservation("0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef-123456789abcdef",
        ] {
            assert!(!is_reservation(bad), "{bad:?}");
        }
    }
}
