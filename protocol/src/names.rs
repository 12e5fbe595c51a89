//! The rule for untrusted text: names and details that come from another person and end
//! up in a terminal, a log line, a file name or a page.
//!
//! The rule is one set of characters ([`unsafe_char`]); each place decides what an unsafe
//! character becomes there (the CLI's file names use `_`, printed text `?`, the server's
//! report details a space, the web page removes them). The web client's copy of the rule
//! (`web/js/zip.js`) is tested against the same vectors, `tests/vectors/unsafe-chars.json`.

/// Whether `c` must never pass from untrusted text into a terminal, a log line, a file
/// name or a page: control characters (C0, DEL, C1), which can rewrite a terminal; the
/// Arabic letter mark, zero-width and directional marks, line and paragraph separators,
/// bidirectional embeddings, overrides and isolates, which can make `txt.exe` read as
/// `exe.txt`; invisible operators and the byte-order mark, which can hide a difference
/// between two names.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` without its unsafe characters.
pub fn without_unsafe(text: &str) -> String {
    text.chars().filter(|c| !unsafe_char(*c)).collect()
}
