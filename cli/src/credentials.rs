//! Upload credentials for servers that restrict uploads (sealdrop-server's
//! `--upload-auth basic|token`): `--token`/`SEALDROP_TOKEN`, the first line of
//! `--token-file`, or `--basic-auth USER:PASSWORD`/`SEALDROP_BASIC_AUTH`.
//!
//! Which one is sent follows what the server's `/config` announces (`UPLOAD_AUTH`). A
//! server that needs credentials none of which were given is refused before anything is
//! encrypted, with one sentence saying which option to use. Credentials travel only to the
//! upload routes, in the `Authorization` header, and are never printed.

use std::path::Path;

use sealdrop_protocol::api::UploadAuth;
use sealdrop_protocol::auth::{UploadCredentials, valid_token};
use zeroize::Zeroizing;

use crate::args::UploadArgs;
use crate::error::{Error, Result};

/// The sentence of a server that wants a token none was given for.
pub(crate) const TOKEN_REQUIRED: &str =
    "this server requires an upload token: use --token or SEALDROP_TOKEN";
/// The sentence of a server that wants Basic credentials none were given for.
pub(crate) const BASIC_REQUIRED: &str = "this server requires a user name and password to upload: use --basic-auth USER:PASSWORD or SEALDROP_BASIC_AUTH";

/// The upload credentials given on the command line (or in the environment).
#[derive(Default)]
#[allow(
    missing_debug_implementations,
    reason = "tokens and passwords have no Debug, so they cannot reach an error message"
)]
pub(crate) struct Given {
    token: Option<Zeroizing<String>>,
    basic: Option<UploadCredentials>,
}

impl Given {
    /// Reads `--token`, `--token-file` and `--basic-auth`.
    pub(crate) fn from_args(args: &UploadArgs) -> Result<Self> {
        let token = match (&args.settings.token_file, &args.token) {
            (Some(path), _) => Some(read_token_file(path)?),
            (None, Some(token)) => Some(Zeroizing::new(token.trim().to_owned())),
            (None, None) => None,
        };
        if let Some(token) = &token
            && !valid_token(token)
        {
            return Err(Error::usage(
                "the upload token is empty or holds spaces or characters a header cannot carry",
            ));
        }
        let basic = args
            .basic_auth
            .as_deref()
            .map(|pair| {
                let (user, password) = pair
                    .split_once(':')
                    .ok_or_else(|| Error::usage("--basic-auth takes USER:PASSWORD"))?;
                Ok::<_, Error>(UploadCredentials::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
            })
            .transpose()?;
        Ok(Self { token, basic })
    }

    /// The credentials to send to a server whose `/config` says `mode` (`None` when the
    /// server has no `/config`): the kind it asks for, else whatever was given (a proxy
    /// in front of it may want Basic). Refuses at once when the server needs credentials
    /// that were not given.
    pub(crate) fn choose(&self, mode: Option<UploadAuth>) -> Result<Option<UploadCredentials>> {
        let bearer = || {
            self.token
                .as_ref()
                .map(|t| UploadCredentials::Bearer(t.as_str().to_owned()))
        };
        match mode {
            // The server also takes Basic with the token as the password.
            Some(UploadAuth::Token) => bearer()
                .or_else(|| self.basic.clone())
                .map(Some)
                .ok_or_else(|| Error::auth(TOKEN_REQUIRED)),
            Some(UploadAuth::Basic) => self
                .basic
                .clone()
                .map(Some)
                .ok_or_else(|| Error::auth(BASIC_REQUIRED)),
            _ => Ok(self.basic.clone().or_else(bearer)),
        }
    }

    /// The error of an upload the server refused with 401 or 403, for a server whose
    /// `/config` says `mode`, when `sent` were the credentials sent.
    pub(crate) fn refused(
        mode: Option<UploadAuth>,
        sent: Option<&UploadCredentials>,
        base: &str,
    ) -> Error {
        match (sent, mode) {
            (Some(UploadCredentials::Bearer(_)), _) => {
                Error::auth(format!("{base} refused the upload token"))
            }
            (Some(UploadCredentials::Basic { .. }), Some(UploadAuth::Token)) => Error::auth(
                format!("{base} refused the upload token given as the --basic-auth password"),
            ),
            (Some(UploadCredentials::Basic { .. }), _) => Error::auth(format!(
                "{base} refused the user name or password for uploads"
            )),
            (None, Some(UploadAuth::Basic)) => Error::auth(BASIC_REQUIRED),
            (None, _) => Error::auth(TOKEN_REQUIRED),
        }
    }
}

/// The first line of `path`, trimmed.
fn read_token_file(path: &Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format_args!("cannot read the token file {}", path.display()),
            &e,
        )
    })?);
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err(Error::usage(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn given(token: Option<&str>, basic: Option<&str>) -> Given {
        Given {
            token: token.map(|t| Zeroizing::new(t.to_owned())),
            basic: basic.map(|b| {
                let (user, password) = b.split_once(':').unwrap();
                UploadCredentials::Basic {
                    user: user.into(),
                    password: password.into(),
                }
            }),
        }
    }

    fn header(c: Result<Option<UploadCredentials>>) -> Option<String> {
        c.unwrap().map(|c| c.to_header())
    }

    #[test]
    fn the_servers_mode_picks_the_credentials() {
        let both = given(Some("tok"), Some("u:p"));
        assert_eq!(
            header(both.choose(Some(UploadAuth::Token))).unwrap(),
            "Bearer tok"
        );
        assert!(
            header(both.choose(Some(UploadAuth::Basic)))
                .unwrap()
                .starts_with("Basic ")
        );
        assert!(header(both.choose(None)).unwrap().starts_with("Basic "));
        let basic_only = given(None, Some("token:tok"));
        assert!(
            header(basic_only.choose(Some(UploadAuth::Token)))
                .unwrap()
                .starts_with("Basic ")
        );
        assert_eq!(
            header(given(None, None).choose(Some(UploadAuth::None))),
            None
        );
        let e = given(None, None)
            .choose(Some(UploadAuth::Token))
            .err()
            .unwrap();
        assert_eq!((e.kind(), e.message()), (Kind::Auth, TOKEN_REQUIRED));
        let e = given(Some("tok"), None)
            .choose(Some(UploadAuth::Basic))
            .err()
            .unwrap();
        assert_eq!(e.message(), BASIC_REQUIRED);
    }

    #[test]
    fn refusals_name_what_to_use_and_never_the_secret() {
        let sent = UploadCredentials::Bearer("s3cr3t-token".into());
        let e = Given::refused(Some(UploadAuth::Token), Some(&sent), "http://h");
        assert_eq!(e.message(), "http://h refused the upload token");
        let e = Given::refused(None, None, "http://h");
        assert_eq!(e.message(), TOKEN_REQUIRED);
        let basic = UploadCredentials::Basic {
            user: "u".into(),
            password: "pw".into(),
        };
        let e = Given::refused(Some(UploadAuth::Basic), Some(&basic), "http://h");
        assert!(!e.message().contains("pw"));
        assert_eq!(e.kind(), Kind::Auth);
    }
}
