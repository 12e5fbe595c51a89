//! `sealdrop`: parse, run, and turn the outcome into one sentence and an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use sealdrop::{Cli, Kind};

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr().lock(),
            "sealdrop: internal error (please report it): {info}"
        );
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(result) = sealdrop::helper_process(&args) {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => ExitCode::from(e.kind().exit_code()),
        };
    }
    let parsed = Cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // Help and version go to standard output with exit code 0; usage errors keep
            // clap's message with its hints, and exit code 1.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(Kind::Usage.exit_code())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match sealdrop::run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == Kind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "sealdrop: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}
