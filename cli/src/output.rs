//! What the CLI prints, and the cleaning of untrusted names before they are used or shown.
//!
//! Three modes: human text, one JSON object (`--json`), or quiet (`-q`: the link only).
//! Results go to standard output; progress bars, prompts and warnings to standard error.
//! Writes to standard output report a broken pipe as [`Kind::BrokenPipe`], which `main`
//! turns into a quiet exit.
//!
//! [`Kind::BrokenPipe`]: crate::error::Kind::BrokenPipe

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sealdrop_protocol::names::unsafe_char;

use crate::error::{Error, Result};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Text for people.
    Human,
    /// One JSON object on standard output.
    Json,
    /// The link only (upload), otherwise nothing.
    Quiet,
}

/// The printer of one command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) mode: Mode,
    progress: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool, no_progress: bool) -> Self {
        let mode = if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else {
            Mode::Human
        };
        let progress = !quiet && !no_progress && std::io::stderr().is_terminal();
        Self { mode, progress }
    }

    /// Writes `text` to standard output as it is.
    pub(crate) fn stdout(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to standard output", &e))
    }

    /// Prints `value` as one line of JSON on standard output.
    pub(crate) fn json(&self, value: &serde_json::Value) -> Result<()> {
        let mut text = value.to_string();
        text.push('\n');
        self.stdout(&text)
    }

    /// A warning on standard error (not in quiet mode).
    pub(crate) fn warn(&self, text: &str) {
        if self.mode != Mode::Quiet {
            let _ = writeln!(std::io::stderr().lock(), "sealdrop: warning: {text}");
        }
    }

    /// A note on standard error, `sealdrop: <text>` (not in quiet mode): something
    /// optional that could not be done, like `--copy` without a clipboard.
    pub(crate) fn note(&self, text: &str) {
        if self.mode != Mode::Quiet {
            let _ = writeln!(std::io::stderr().lock(), "sealdrop: {text}");
        }
    }

    /// A progress bar of `len` bytes on standard error, or a hidden one when standard
    /// error is not a terminal or progress is off.
    pub(crate) fn progress(&self, len: u64, verb: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let template = format!(
            "{verb:<11} [{{bar:30}}] {{decimal_bytes}}/{{decimal_total_bytes}} {{decimal_bytes_per_sec}}, {{eta}} left"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// Longest file name component written, in bytes (file systems allow 255).
const MAX_NAME_BYTES: usize = 200;

/// Names Windows reserves for devices, with any extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Cleans one untrusted file name component so it is safe to create and to print:
/// path separators, control, bidi and invisible characters become `_` (on Windows also
/// `<>:"|?*`); trailing dots and spaces go; `.`, `..` and empty names become
/// `download`; Windows device names get a `_` prefix; the length is bounded (keeping
/// the extension). The same cleaning on every platform gives the same names everywhere.
pub(crate) fn sanitize_component(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            let windows_bad = cfg!(windows) && matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*');
            if c == '/' || c == '\\' || unsafe_char(c) || windows_bad {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed_len = clean.trim_end_matches(['.', ' ']).len();
    clean.truncate(trimmed_len);
    if clean.trim().is_empty() {
        return "download".to_owned();
    }
    let stem = clean.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        clean.insert(0, '_');
    }
    bound_length(&clean, MAX_NAME_BYTES)
}

/// Shortens `name` to at most `max` bytes on a character boundary, keeping a short
/// extension.
fn bound_length(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = match name.rfind('.') {
        Some(at) if at > 0 && name.len() - at <= 16 => name.get(at..).unwrap_or_default(),
        _ => "",
    };
    let mut cut = max.saturating_sub(ext.len());
    while !name.is_char_boundary(cut) {
        cut = cut.saturating_sub(1);
    }
    format!("{}{ext}", name.get(..cut).unwrap_or_default())
}

/// An archive entry's path, split into clean components. `None` for a path that is
/// absolute, climbs with `..`, or is empty: such a share is refused, not repaired.
pub(crate) fn sanitize_relative_path(path: &str) -> Option<Vec<String>> {
    if path.starts_with('/') || path.starts_with('\\') || is_drive(path) {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => continue,
            ".." => return None,
            other => parts.push(sanitize_component(other)),
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// Whether `path` starts with a Windows drive (`C:`).
fn is_drive(path: &str) -> bool {
    let mut chars = path.chars();
    matches!((chars.next(), chars.next()), (Some(c), Some(':')) if c.is_ascii_alphabetic())
}

/// Cleans any untrusted text for printing on one line: unsafe characters become `?`.
pub(crate) fn printable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if unsafe_char(c) { '?' } else { c })
        .collect();
    bound_length(&clean, 300)
}

/// `2.5 GB`, `1.2 MB`, `3 KB`, `12 B`: powers of 1000, one decimal below 100 (none when
/// it is 0), as the web page's `formatBytes` shows sizes (one convention for both).
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = UNITS[0];
    for next in UNITS.iter().skip(1) {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {unit}")
}

/// `7 days`, `1 hour`, `5 minutes`: rounded to the largest unit, as the web page's
/// `formatDuration` says them (23 h 59 min is `1 day`).
pub(crate) fn format_duration_words(secs: u64) -> String {
    let units = [
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    for (size, name) in units {
        if secs as f64 >= size as f64 * 0.98 || size == 1 {
            let n = ((secs as f64 / size as f64).round() as u64).max(1);
            let plural = if n == 1 { "" } else { "s" };
            return format!("{n} {name}{plural}");
        }
    }
    unreachable!("the last unit always matches")
}

/// `7d`, `1d 2h`, `59m 59s`, `1s`: the two largest units.
pub(crate) fn format_duration(secs: u64) -> String {
    let units = [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        let n = rest / size;
        if n > 0 {
            parts.push(format!("{n}{name}"));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        return "0s".to_owned();
    }
    parts.join(" ")
}

/// An RFC 3339 UTC timestamp of `unix` seconds.
pub(crate) fn format_time(unix: u64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Renders `text` as a QR code of Unicode half blocks, light modules as blocks so it reads
/// on dark terminals.
pub(crate) fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_separators_controls_and_bidi() {
        assert_eq!(sanitize_component("report.pdf"), "report.pdf");
        assert_eq!(sanitize_component("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize_component("a\\b"), "a_b");
        assert_eq!(sanitize_component("evil\u{202E}fdp.exe"), "evil_fdp.exe");
        assert_eq!(sanitize_component("bell\u{7}\u{1b}[31m"), "bell__[31m");
        assert_eq!(sanitize_component("new\nline"), "new_line");
        assert_eq!(sanitize_component(".."), "download");
        assert_eq!(sanitize_component("."), "download");
        assert_eq!(sanitize_component(""), "download");
        assert_eq!(sanitize_component("name. . "), "name");
        assert_eq!(sanitize_component("CON"), "_CON");
        assert_eq!(sanitize_component("nul.txt"), "_nul.txt");
        assert_eq!(sanitize_component("console.txt"), "console.txt");
        assert_eq!(sanitize_component("été ☃.txt"), "été ☃.txt");
    }

    #[test]
    fn long_names_are_bounded_on_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.tar.gz", "é".repeat(300));
        let clean = sanitize_component(&long);
        assert!(clean.len() <= MAX_NAME_BYTES, "{}", clean.len());
        assert!(clean.ends_with(".gz"));
        assert!(clean.starts_with('é'));
    }

    #[test]
    fn relative_paths_refuse_absolute_and_parent_components() {
        assert_eq!(
            sanitize_relative_path("dir/sub/a.txt"),
            Some(vec!["dir".into(), "sub".into(), "a.txt".into()])
        );
        assert_eq!(
            sanitize_relative_path("./dir//a.txt"),
            Some(vec!["dir".into(), "a.txt".into()])
        );
        assert_eq!(sanitize_relative_path("/etc/passwd"), None);
        assert_eq!(sanitize_relative_path("\\windows\\x"), None);
        assert_eq!(sanitize_relative_path("C:/x"), None);
        assert_eq!(sanitize_relative_path("a/../../b"), None);
        assert_eq!(sanitize_relative_path(".."), None);
        assert_eq!(sanitize_relative_path(""), None);
        assert_eq!(
            sanitize_relative_path("a\u{202E}/b\u{0}"),
            Some(vec!["a_".into(), "b_".into()])
        );
    }

    #[test]
    fn printable_text_has_no_escapes() {
        assert_eq!(printable("a\u{1b}]0;x\u{7}b"), "a?]0;x?b");
        assert_eq!(printable("ok"), "ok");
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(1000), "1 KB");
        assert_eq!(format_size(1536), "1.5 KB");
        assert_eq!(format_size(2_500_000_000), "2.5 GB");
        assert_eq!(format_size(64 * 1024 * 1024 + 1), "67.1 MB");
        assert_eq!(format_size(123_456_789), "123 MB");
        assert_eq!(format_size(u64::MAX), "18446744 TB");
        assert_eq!(format_duration_words(1), "1 second");
        assert_eq!(format_duration_words(300), "5 minutes");
        assert_eq!(format_duration_words(3600), "1 hour");
        assert_eq!(format_duration_words(86_340), "1 day");
        assert_eq!(format_duration_words(7 * 86400), "7 days");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(1), "1s");
        assert_eq!(format_duration(3600), "1h");
        assert_eq!(format_duration(86400 + 7200 + 5), "1d 2h");
        assert_eq!(format_duration(7 * 86400), "7d");
        assert_eq!(format_duration(3599), "59m 59s");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_link_renders_as_a_qr_code() {
        let qr = qr_code("http://127.0.0.1:8080/download/0123456789abcdef/#secret").unwrap();
        assert!(qr.lines().count() > 10);
    }
}
