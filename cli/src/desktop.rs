//! `--copy` and `--open`: the clipboard (arboard) and the system's opener (the `open`
//! crate: xdg-open and its fallbacks, `open` on macOS, `start` on Windows), where there
//! is a desktop session.
//!
//! Neither is essential: without a clipboard or a desktop session the command still
//! succeeds, and the caller prints one note saying why (`Err(note)` here).
//!
//! X11 keeps a clipboard's content only while the program that set it runs (a clipboard
//! manager, where one runs, takes a copy). So on Linux and the BSDs `--copy` starts
//! `sealdrop __hold-clipboard SECONDS` in the background, in its own process group (Ctrl-C
//! in the terminal does not reach it), hands it the link on standard input (never on its
//! command line, which other users of the machine can read), and waits for its `ok`. It
//! serves the link until another program takes the clipboard, the share expires or the
//! X server goes away, as xclip does. On macOS and Windows the system keeps the content.

use std::path::{Path, PathBuf};

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
use std::time::Duration;

/// Puts `text` on the clipboard, for at most `secs` seconds where a holder process is
/// needed. `Err` is the note to print.
pub(crate) fn copy(text: &str, secs: u64) -> Result<(), String> {
    copy_impl(text, secs).map_err(|why| format!("the link was not copied: {why}"))
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn copy_impl(text: &str, secs: u64) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    if !has_x11() {
        return Err("there is no clipboard here (no X11 display: DISPLAY is not set)".into());
    }
    let exe = std::env::current_exe().map_err(|e| crate::error::describe_io(&e))?;
    let mut holder = Command::new(exe)
        .arg(HOLDER)
        .arg(secs.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| crate::error::describe_io(&e))?;
    if let Some(mut stdin) = holder.stdin.take() {
        // Dropped at the end of the block: the holder reads to the end.
        let _ = stdin.write_all(text.as_bytes());
    }
    let Some(stdout) = holder.stdout.take() else {
        return Err("the clipboard holder did not start".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(HOLDER_ANSWER) {
        // The holder goes on in the background.
        Ok(line) if line.trim_end() == "ok" => Ok(()),
        Ok(line) => {
            let _ = holder.wait();
            Err(match line.trim() {
                "" => "the clipboard holder stopped".to_owned(),
                why => why.to_owned(),
            })
        }
        Err(_) => {
            let _ = holder.kill();
            let _ = holder.wait();
            Err("the clipboard did not answer".into())
        }
    }
}

/// How long the holder may take to own the clipboard (an X server answers in
/// milliseconds; a loaded machine may be slow to start a process).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
const HOLDER_ANSWER: Duration = Duration::from_secs(20);

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn copy_impl(text: &str, _secs: u64) -> Result<(), String> {
    arboard::Clipboard::new()
        .and_then(|mut clipboard| clipboard.set_text(text))
        .map_err(|e| clipboard_error(&e))
}

/// The first argument of the clipboard holder process (not a command of the interface).
const HOLDER: &str = "__hold-clipboard";

/// Runs the helper process `args` asks for, if any: `sealdrop __hold-clipboard SECONDS`.
pub(crate) fn helper_process(args: &[std::ffi::OsString]) -> Option<crate::error::Result<()>> {
    match args {
        [_, name, secs] if name == HOLDER => {
            let secs = secs.to_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            Some(hold_clipboard(secs))
        }
        _ => None,
    }
}

/// `sealdrop __hold-clipboard SECONDS`: reads the text on standard input, owns the
/// clipboard, answers `ok` (or the reason it cannot) on standard output, then serves the
/// text until another program takes the clipboard, `secs` pass or the X server goes away.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn hold_clipboard(secs: u64) -> crate::error::Result<()> {
    use arboard::SetExtLinux;
    use std::io::{Read, Write};
    use std::time::Instant;
    use zeroize::Zeroizing;

    let reply = |line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let mut text = Zeroizing::new(String::new());
    if std::io::stdin().read_to_string(&mut text).is_err() {
        reply("the text to copy could not be read");
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut clipboard = match arboard::Clipboard::new() {
        Ok(clipboard) => clipboard,
        Err(e) => {
            reply(&clipboard_error(&e));
            return Ok(());
        }
    };
    if let Err(e) = clipboard.set_text(text.as_str()) {
        reply(&clipboard_error(&e));
        return Ok(());
    }
    exit_with_the_display();
    reply("ok");
    let _ = clipboard.set().wait_until(deadline).text(text.as_str());
    Ok(())
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn hold_clipboard(_secs: u64) -> crate::error::Result<()> {
    Ok(())
}

/// Ends the process when its X server goes away (a holder outliving its session would
/// otherwise wait for the share's expiry).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn exit_with_the_display() {
    use x11rb::connection::Connection;
    if let Ok((conn, _)) = x11rb::connect(None) {
        std::thread::spawn(move || {
            // No event is selected: this returns only when the connection breaks.
            while conn.wait_for_event().is_ok() {}
            std::process::exit(0);
        });
    }
}

/// Whether an X11 display is named (arboard speaks X11; Wayland sessions provide one
/// through XWayland).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn has_x11() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
}

/// A short lower-case reason from arboard's error.
fn clipboard_error(err: &arboard::Error) -> String {
    match err {
        arboard::Error::ClipboardNotSupported => "this system has no clipboard".to_owned(),
        arboard::Error::ClipboardOccupied => "another program holds the clipboard".to_owned(),
        other => format!("the clipboard cannot be used ({other})"),
    }
}

/// Opens `target` (a path or a URL) with the system's opener; `what` names it in the
/// note (`the link`, `notes.txt`). `Err` is the note to print.
pub(crate) fn open(target: &std::ffi::OsStr, what: &str) -> Result<(), String> {
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    {
        let named = |var: &str| std::env::var_os(var).is_some_and(|d| !d.is_empty());
        if !named("DISPLAY") && !named("WAYLAND_DISPLAY") {
            return Err(format!(
                "{what} was not opened: there is no desktop session here (DISPLAY and WAYLAND_DISPLAY are not set)"
            ));
        }
    }
    open::that_detached(target).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no opener such as xdg-open is installed".to_owned(),
            _ => crate::error::describe_io(&e),
        };
        format!("{what} was not opened: {why}")
    })
}

/// File types that run code, or install or configure something, when opened with the
/// system's opener (a double-click). A received file of one of these types is never
/// opened: its folder is.
const RUNS_CODE: [&str; 46] = [
    // Windows
    "exe",
    "com",
    "bat",
    "cmd",
    "scr",
    "pif",
    "msi",
    "msp",
    "mst",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "cpl",
    "lnk",
    "reg",
    "inf",
    "url",
    "appref-ms",
    "application",
    "msc", // macOS
    "app",
    "command",
    "tool",
    "terminal",
    "pkg",
    "mpkg",
    "workflow",
    "scpt",
    "webloc",
    "fileloc", // Linux and others
    "desktop",
    "sh",
    "run",
    "bin",
    "appimage",
    "deb",
    "rpm",
    "flatpakref",
    "jar",
    "py",
];

/// Whether opening `path` may run code (by its extension, case-insensitively).
pub(crate) fn runs_code(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| RUNS_CODE.iter().any(|r| r.eq_ignore_ascii_case(e)))
}

/// What `--open` opens for the files a download wrote: the file, or for several files
/// (or one that may run code) the deepest directory holding them all.
pub(crate) fn what_to_open(files: &[PathBuf]) -> Option<PathBuf> {
    let [first, rest @ ..] = files else {
        return None;
    };
    if rest.is_empty() && !runs_code(first) {
        return Some(first.clone());
    }
    let mut dir = first.parent()?.to_path_buf();
    for file in rest {
        while !file.starts_with(&dir) {
            dir = dir.parent()?.to_path_buf();
        }
    }
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_run_code_are_not_opened_but_their_folder_is() {
        assert!(runs_code(Path::new("setup.EXE")));
        assert!(runs_code(Path::new("dir/evil.desktop")));
        assert!(!runs_code(Path::new("report.pdf")));
        assert!(!runs_code(Path::new("notes")));
        let one = |p: &str| what_to_open(&[PathBuf::from(p)]);
        assert_eq!(one("out/report.pdf"), Some("out/report.pdf".into()));
        assert_eq!(one("out/install.sh"), Some("out".into()));
        assert_eq!(one("install.sh"), Some(".".into()));
        let many = [
            PathBuf::from("out/photos/a.jpg"),
            PathBuf::from("out/photos/2024/b.jpg"),
        ];
        assert_eq!(what_to_open(&many), Some("out/photos".into()));
        let spread = [PathBuf::from("out/a/x"), PathBuf::from("out/b/y")];
        assert_eq!(what_to_open(&spread), Some("out".into()));
        assert_eq!(what_to_open(&[]), None);
    }
}
