//! The CLI's one error type: a kind, which decides the exit code, and one sentence.
//!
//! Messages are written for the person at the terminal: lower-case, no trailing period,
//! no secret, owner token or password ever (the share's id and the server's origin are
//! fine). `main` prints them as `sealdrop: <sentence>`.

use std::fmt;
use std::io;

/// What went wrong, as far as a script needs to know. Each kind is one exit code; the
/// table is part of the CLI's interface (see `sealdrop --help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad arguments, or values the server's limits refuse: exit 1.
    Usage,
    /// The share does not exist: unknown, expired, deleted or out of downloads: exit 2.
    NotFound,
    /// A password or owner token is wrong, missing, or cannot be asked for: exit 3.
    Auth,
    /// The network or the server failed: exit 4.
    Network,
    /// A local file could not be read or written, or would be overwritten: exit 5.
    Local,
    /// Decryption or integrity failure, or unsafe content in a share: exit 6.
    Integrity,
    /// The server limits requests and asks for a longer wait than `--max-wait` (or
    /// `--no-wait` is set, or it says no wait): exit 7. Trying again later will do.
    RateLimited,
    /// Interrupted by Ctrl-C: exit 130, like a shell.
    Interrupted,
    /// The reader of standard output went away: exit 0 quietly, like `head` expects.
    BrokenPipe,
}

impl Kind {
    /// The process exit code of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::BrokenPipe => 0,
            Self::Usage => 1,
            Self::NotFound => 2,
            Self::Auth => 3,
            Self::Network => 4,
            Self::Local => 5,
            Self::Integrity => 6,
            Self::RateLimited => 7,
            Self::Interrupted => 130,
        }
    }
}

/// An error of any command: a [`Kind`] and one sentence.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
}

/// The result of everything in this crate.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with the sentence `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(Kind::NotFound, NOT_FOUND)
    }

    pub(crate) fn auth(message: impl Into<String>) -> Self {
        Self::new(Kind::Auth, message)
    }

    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Network, message)
    }

    pub(crate) fn local(message: impl Into<String>) -> Self {
        Self::new(Kind::Local, message)
    }

    pub(crate) fn integrity(message: impl Into<String>) -> Self {
        Self::new(Kind::Integrity, message)
    }

    pub(crate) fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(Kind::RateLimited, message)
    }

    pub(crate) fn interrupted() -> Self {
        Self::new(Kind::Interrupted, "interrupted")
    }

    /// A local I/O error while doing `what` (e.g. "cannot read notes.txt"). A broken pipe
    /// becomes [`Kind::BrokenPipe`]; a decryption failure surfacing through a reader
    /// becomes [`Kind::Integrity`].
    pub(crate) fn io(what: impl fmt::Display, err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Self::new(Kind::BrokenPipe, "broken pipe");
        }
        Self::local(format!("{what}: {}", describe_io(err)))
    }

    /// The kind, which decides the exit code.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The sentence.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The sentence of [`Kind::NotFound`]: the server says 404 for unknown, expired, deleted
/// and exhausted shares alike (Send clients depend on that), so we cannot say which.
pub(crate) const NOT_FOUND: &str =
    "the share was not found: it has expired, reached its download limit or been deleted";

/// A short lower-case description of an I/O error, without the `(os error N)` suffix.
pub(crate) fn describe_io(err: &io::Error) -> String {
    use io::ErrorKind as K;
    let text = match err.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::AlreadyExists => "it already exists",
        K::IsADirectory => "it is a directory",
        K::NotADirectory => "a part of the path is not a directory",
        K::StorageFull => "no space left on the device",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::UnexpectedEof => "it ended early",
        _ => {
            let full = err.to_string();
            let text = match full.find(" (os error") {
                Some(at) => full.get(..at).unwrap_or(&full).to_owned(),
                None => full,
            };
            return lower_first(&text);
        }
    };
    text.to_owned()
}

/// `text` with its first character in lower case.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_table() {
        let table = [
            (Kind::Usage, 1),
            (Kind::NotFound, 2),
            (Kind::Auth, 3),
            (Kind::Network, 4),
            (Kind::Local, 5),
            (Kind::Integrity, 6),
            (Kind::RateLimited, 7),
            (Kind::Interrupted, 130),
            (Kind::BrokenPipe, 0),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn io_errors_read_as_sentences() {
        let e = Error::io(
            "cannot read a.txt",
            &io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(
            e.to_string(),
            "cannot read a.txt: no such file or directory"
        );
        assert_eq!(e.kind(), Kind::Local);
        let e = Error::io("x", &io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.kind(), Kind::BrokenPipe);
        let e = Error::io("x", &io::Error::other("Something odd (os error 99)"));
        assert_eq!(e.to_string(), "x: something odd");
    }
}
