//! Where passwords come from: `--password=VALUE` or `SEALDROP_PASSWORD`, the first line of
//! `--password-file`, or a prompt without echo — only when standard input is a terminal,
//! so a script never hangs on a prompt. Passwords live in zeroized strings and are never
//! printed, logged or stored.

use std::io::IsTerminal;
use std::path::Path;

use zeroize::Zeroizing;

use crate::args::PasswordArgs;
use crate::error::{Error, Result};

/// A password in memory that is wiped when dropped.
pub(crate) type Password = Zeroizing<String>;

/// The password given by value or file, if any; `Ok(None)` when `--password` was given
/// without a value (ask for it) or not at all.
fn given(args: &PasswordArgs) -> Result<Option<Password>> {
    if let Some(path) = &args.password_file {
        return read_file(path).map(Some);
    }
    match &args.password {
        Some(Some(value)) if value.is_empty() => Err(Error::usage("the password is empty")),
        Some(Some(value)) => Ok(Some(Zeroizing::new(value.clone()))),
        _ => Ok(None),
    }
}

/// Whether any password option was used.
pub(crate) fn requested(args: &PasswordArgs) -> bool {
    args.password.is_some() || args.password_file.is_some()
}

/// The password if one was given by value or file, never prompting.
pub(crate) fn without_prompt(args: &PasswordArgs) -> Result<Option<Password>> {
    given(args)
}

/// A password that must be had: given, or asked for on the terminal. `why` completes the
/// sentence when there is no terminal to ask on ("this share needs a password").
/// `confirm` asks twice (for a new password).
pub(crate) fn require(args: &PasswordArgs, why: &str, confirm: bool) -> Result<Password> {
    if let Some(password) = given(args)? {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::auth(format!(
            "{why}, but standard input is not a terminal to ask on; set SEALDROP_PASSWORD or use --password-file"
        )));
    }
    let first = prompt("Password: ")?;
    if first.is_empty() {
        return Err(Error::usage("the password is empty"));
    }
    if confirm {
        let again = prompt("Repeat the password: ")?;
        if *again != *first {
            return Err(Error::usage("the two passwords differ"));
        }
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<Password> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| Error::io("cannot read the password from the terminal", &e))
}

/// The first line of `path`, without its line ending.
fn read_file(path: &Path) -> Result<Password> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format_args!("cannot read the password file {}", path.display()),
            &e,
        )
    })?);
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Error::usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(password: Option<Option<&str>>, file: Option<&Path>) -> PasswordArgs {
        PasswordArgs {
            password: password.map(|p| p.map(str::to_owned)),
            password_file: file.map(Path::to_owned),
        }
    }

    #[test]
    fn a_value_or_a_file_is_used_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret pass\r\nignored\n").unwrap();
        let p = without_prompt(&args(None, Some(&file))).unwrap().unwrap();
        assert_eq!(p.as_str(), "s3cret pass");
        let p = without_prompt(&args(Some(Some("x")), None))
            .unwrap()
            .unwrap();
        assert_eq!(p.as_str(), "x");
        assert!(without_prompt(&args(Some(None), None)).unwrap().is_none());
        assert!(without_prompt(&args(None, None)).unwrap().is_none());
        assert!(without_prompt(&args(Some(Some("")), None)).is_err());
        std::fs::write(&file, "\n").unwrap();
        assert!(without_prompt(&args(None, Some(&file))).is_err());
    }
}
