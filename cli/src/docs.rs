//! `sealdrop completions SHELL` and `sealdrop man [DIR]`: shell completion scripts
//! (clap_complete) and manual pages (clap_mangen), both from the clap definition of the
//! command line, so they never disagree with `--help`.
//!
//! The top page, sealdrop(1), is clap_mangen's sections followed by our own: EXIT STATUS
//! (from [`EXIT_CODES`]), CONFIGURATION, FILES and SEE ALSO. Each command has its own
//! page, sealdrop-upload(1) and so on, as packages install them.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

use crate::args::{CONFIGURATION, Cli, EXIT_CODES};
use crate::error::{Error, Result};

/// Prints the completion script of `shell` on standard output.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sealdrop", &mut script);
    write_stdout(&script)
}

/// Prints sealdrop(1), or writes it and every command's page into `dir`.
pub(crate) fn man(dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else {
        return write_stdout(&top_page()?);
    };
    let failed = |what: &Path, e: &std::io::Error| {
        Error::io(format_args!("cannot write {}", what.display()), e)
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, &e))?;
    let top = dir.join("sealdrop.1");
    std::fs::write(&top, top_page()?).map_err(|e| failed(&top, &e))?;
    // Built, the subcommands carry their display names (`sealdrop-upload`).
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = Man::new(sub.clone());
        let path = dir.join(man.get_filename());
        man.generate_to(dir).map_err(|e| failed(&path, &e))?;
    }
    Ok(())
}

/// sealdrop(1).
fn top_page() -> Result<Vec<u8>> {
    let cmd = Cli::command().disable_help_subcommand(true);
    let man = Man::new(cmd);
    let mut page = Vec::new();
    let rendered = man
        .render_title(&mut page)
        .and_then(|()| man.render_name_section(&mut page))
        .and_then(|()| man.render_synopsis_section(&mut page))
        .and_then(|()| man.render_description_section(&mut page))
        .and_then(|()| man.render_options_section(&mut page))
        .and_then(|()| man.render_subcommands_section(&mut page))
        .and_then(|()| own_sections().to_writer(&mut page))
        .and_then(|()| man.render_version_section(&mut page));
    rendered.map_err(|e| Error::io("cannot render the manual page", &e))?;
    Ok(page)
}

/// EXIT STATUS, CONFIGURATION, FILES and SEE ALSO.
fn own_sections() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(what.replace('\n', " "))]);
    }
    roff.control("PP", []);
    roff.text([
        roman("Errors are one sentence on standard error: "),
        bold("sealdrop: "),
        italic("sentence"),
        roman("."),
    ]);

    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(CONFIGURATION)]);
    roff.control("PP", []);
    roff.text([roman("For example:")]);
    roff.control("PP", []);
    roff.control("nf", []);
    roff.control("RS", ["4"]);
    for line in [
        "host = \"https://send.example.com\"",
        "expiry = \"1d\"",
        "downloads = 3",
        "token-file = \"~/.config/sealdrop/token\"",
    ] {
        roff.text([roman(line)]);
    }
    roff.control("RE", []);
    roff.control("fi", []);
    roff.control("PP", []);
    roff.text([roman(
        "Relative paths in the file are relative to its directory; ~/ is the home directory.",
    )]);

    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "$XDG_CONFIG_HOME/sealdrop/config.toml",
            "The configuration file (by default ~/.config/sealdrop/config.toml; see CONFIGURATION).",
        ),
        (
            "$XDG_DATA_HOME/sealdrop/history.json",
            "The history of the shares uploaded from this machine, with their owner tokens, \
             readable by its owner only (by default ~/.local/share/sealdrop/history.json; \
             see --history).",
        ),
    ] {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("sealdrop-server"),
        roman("(1), "),
        roman(env!("CARGO_PKG_REPOSITORY")),
    ]);
    roff
}

/// Writes `bytes` to standard output.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to standard output", &e))
}
