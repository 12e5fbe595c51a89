//! Start-up failures as an operator reads them.
//!
//! `sealdrop-server` logs `sealdrop-server VERSION ready` only once it listens and its
//! stores answered ([`crate::run_with_state`]). A start that fails logs one ERROR line:
//! one sentence saying what failed and naming the option to check, for example
//!
//! ```text
//! cannot reach Redis at 127.0.0.1:6379 (connection refused): check --meta
//! ```
//!
//! The details (the S3 SDK's or the Redis client's errors, the OS error) are in the
//! error's chain below that sentence: the binary logs them at DEBUG level
//! (`RUST_LOG=debug`), never in the ERROR line. Neither ever contains a password or a key:
//! Redis is named by host and port, S3 endpoints without their user info.
//!
//! The process then exits with one of these codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | stopped by SIGTERM or Ctrl-C |
//! | [`EXIT_FAILURE`] (1) | cannot listen (`--listen`, `--metrics-listen`), or failed while running |
//! | [`EXIT_CONFIG`] (2) | an invalid setting (printed on standard error before logging starts) |
//! | [`EXIT_STORE`] (3) | a store is unreachable or unusable: the data directory, S3 or Redis |
//!
//! 3 is also what `sealdrop-server admin` exits with when a store fails.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Exit code: cannot listen, or the server failed while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: an invalid setting.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: a store is unreachable or unusable.
pub const EXIT_STORE: u8 = 3;

/// Binds `addr`, or fails with one sentence naming `option` (the OS error in the chain).
pub async fn listen(addr: SocketAddr, option: &str) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e) => {
            let sentence = format!("cannot listen on {addr} ({}): check {option}", io_cause(&e));
            Err(anyhow::Error::new(e).context(sentence))
        }
    }
}

/// What an I/O error says, as a short lowercase phrase without the OS error number:
/// "address already in use", "permission denied".
pub fn io_cause(e: &std::io::Error) -> String {
    short_cause(&e.to_string())
}

/// The text of an I/O error (or of an error that shows one) as [`io_cause`] says it.
pub fn short_cause(text: &str) -> String {
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        // "Address already in use" → "address already in use", but not "EOF" → "eOF".
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// The first I/O error in `e`'s chain, as [`io_cause`] says it.
pub(crate) fn chain_io_cause(e: &anyhow::Error) -> Option<String> {
    e.chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(io_cause)
}

/// `result` with one sentence naming `option` as its outermost context: "cannot `what`
/// (cause): check `option`", the cause being the first I/O error of the chain, if any.
pub(crate) fn check_option<T>(
    result: anyhow::Result<T>,
    what: impl FnOnce() -> String,
    option: &str,
) -> anyhow::Result<T> {
    result.map_err(|e| {
        let sentence = match chain_io_cause(&e).or_else(|| sqlite_cause(&e)) {
            Some(cause) => format!("cannot {} ({cause}): check {option}", what()),
            None => format!("cannot {}: check {option}", what()),
        };
        e.context(sentence)
    })
}

/// What SQLite said, when it is short ("file is not a database").
fn sqlite_cause(e: &anyhow::Error) -> Option<String> {
    let text = e
        .chain()
        .find_map(|cause| cause.downcast_ref::<rusqlite::Error>())?
        .to_string();
    (text.len() <= 60 && !text.contains('\n')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_causes_are_short() {
        let e = std::io::Error::from_raw_os_error(98);
        assert_eq!(io_cause(&e), "address already in use");
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(io_cause(&e), "permission denied");
        let e = std::io::Error::other("EOF reached");
        assert_eq!(io_cause(&e), "EOF reached");
    }

    #[tokio::test]
    async fn a_taken_port_names_the_option() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = listen(addr, "--listen").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot listen on {addr} (address already in use): check --listen")
        );
        assert!(format!("{err:#}").contains("os error"), "{err:#}");
    }
}
