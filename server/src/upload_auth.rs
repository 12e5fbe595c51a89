//! Upload authentication (`--upload-auth none|basic|token`): who may upload, how much.
//!
//! Only the two upload routes (`GET /api/ws` and `POST /api/upload`) ask for credentials;
//! downloads, metadata and owner operations stay anonymous whatever the mode.
//!
//! # Modes
//!
//! - `none`: anyone may upload (the default, for a private or test instance).
//! - `basic`: HTTP Basic credentials (`Authorization: Basic …`) of a user of the users
//!   file, on the WebSocket upgrade and on the HTTP route, as `ffsend --basic-auth` sends
//!   them. Missing or wrong: 401 with `WWW-Authenticate: Basic realm="sealdrop"`.
//! - `token`: a token of the tokens file, as `Authorization: Bearer <token>` on the HTTP
//!   route or the WebSocket upgrade, or in the `bearer` field of the WebSocket's first
//!   message (browsers cannot set headers on a WebSocket). Basic credentials whose
//!   password is a token are accepted too, so `ffsend --basic-auth token:<token>` works.
//!   Missing or wrong: 401 with `WWW-Authenticate: Bearer realm="sealdrop"` over HTTP,
//!   `{"error":401,"message":…}` on the WebSocket.
//!
//! # Files
//!
//! Users file, one user per line; blank lines and lines starting with `#` are skipped,
//! and each line is trimmed (passwords cannot start or end with a space):
//!
//! ```text
//! alice:correct horse battery staple
//! bob:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$…
//! ```
//!
//! A password given in clear is kept in memory only as a salted SHA-256 (the salt is drawn
//! at start); one given as an Argon2 PHC string (`$argon2id$…`, `$argon2i$…`, `$argon2d$…`)
//! is verified with Argon2, so the file itself holds no password.
//!
//! Tokens file, one token per line, then optional `name=`, `max-size=` and `daily=`:
//!
//! ```text
//! # TOKEN                                        options
//! 2rV6pI7l4YtQk6y1m6i7fC1yUeQmHn0D6yBvJwqk0aE=   name=alice max-size=2GiB daily=20GiB
//! q8X0...                                        name=ci
//! ```
//!
//! A token is 16 to 4096 visible ASCII characters (`openssl rand -base64 32` makes a good
//! one); only its SHA-256 is kept in memory, and a presented token is hashed and compared
//! with every stored hash in constant time. `name` labels the token in logs (default:
//! `sha256:` and the first 8 hex digits of its hash); `max-size` caps one file (plaintext
//! size, like `--max-file-size`, which still applies); `daily` caps the bytes uploaded per
//! UTC day, counted as they arrive (encrypted, so a few bytes per 64 KiB more than the
//! files), with uploads that fail refunded. Quotas live in memory: a restart resets them.
//!
//! Both files are re-read on SIGHUP ([`UploadAuth::reload`]); a file that fails to parse
//! then leaves the credentials in force unchanged. Errors name the file and the line,
//! never its contents. Passwords and tokens are never logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::http::{HeaderMap, header};
use sealdrop_protocol::auth::{UploadCredentials, valid_token};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::config::{Config, Size, UploadAuthMode};
use crate::error::ApiError;
use crate::meta::Millis;

/// Shortest upload token accepted in the tokens file.
pub const MIN_TOKEN_LEN: usize = 16;

const DAY_MS: u64 = 86_400_000;

/// The upload credentials in force, and the daily usage of each token.
pub struct UploadAuth {
    mode: UploadAuthMode,
    file: Option<PathBuf>,
    /// Salt of the in-memory hashes of clear-text passwords, drawn at start.
    salt: [u8; 32],
    credentials: RwLock<Arc<Credentials>>,
    /// Bytes uploaded today per token (by token hash). Memory only.
    usage: Mutex<HashMap<[u8; 32], DayUse>>,
}

impl std::fmt::Debug for UploadAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadAuth")
            .field("mode", &self.mode)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Credentials {
    users: Vec<User>,
    tokens: Vec<Token>,
}

struct User {
    name: String,
    secret: UserSecret,
}

enum UserSecret {
    /// SHA-256 of the salt and the password.
    Salted([u8; 32]),
    /// An Argon2 PHC string.
    Argon2(String),
}

struct Token {
    hash: [u8; 32],
    label: String,
    max_size: Option<u64>,
    daily: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct DayUse {
    day: u64,
    bytes: u64,
}

/// An uploader the server let in: what it may upload.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Who, for logs: the user name, or the token's name (or hash prefix).
    pub label: String,
    /// Largest file (plaintext) this uploader may send, if the token caps it.
    pub max_size: Option<u64>,
    /// The token's hash and daily quota, if it has one.
    daily: Option<([u8; 32], u64)>,
}

/// What the WebSocket upgrade decided.
#[derive(Debug)]
pub enum Gate {
    /// Go ahead, as this uploader (`None`: anyone may upload).
    Open(Option<Grant>),
    /// Token mode without credentials on the upgrade: the first message's `bearer` field
    /// must hold a token.
    NeedsBearer,
}

/// Credentials found in a request's `Authorization` headers.
enum Presented {
    Nothing,
    Malformed,
    Given(UploadCredentials),
}

fn presented(headers: &HeaderMap) -> Presented {
    let mut found = Presented::Nothing;
    for value in headers.get_all(header::AUTHORIZATION) {
        let Ok(text) = value.to_str() else {
            return Presented::Malformed;
        };
        let scheme = text.trim().split(' ').next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case(sealdrop_protocol::auth::SCHEME) {
            continue; // the share's auth key, not upload credentials
        }
        match UploadCredentials::parse(text) {
            Some(c) => found = Presented::Given(c),
            None => return Presented::Malformed,
        }
    }
    found
}

impl UploadAuth {
    /// No upload authentication: anyone may upload.
    pub fn disabled() -> Self {
        Self {
            mode: UploadAuthMode::None,
            file: None,
            salt: [0; 32],
            credentials: RwLock::new(Arc::new(Credentials::default())),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// Loads the credentials file `config` names for its mode.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let Some(file) = config
            .upload_credentials_file
            .clone()
            .filter(|_| config.upload_auth != UploadAuthMode::None)
        else {
            return Ok(Self::disabled());
        };
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt)
            .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
        let auth = Self {
            mode: config.upload_auth,
            file: Some(file),
            salt,
            credentials: RwLock::new(Arc::new(Credentials::default())),
            usage: Mutex::new(HashMap::new()),
        };
        auth.reload()?;
        Ok(auth)
    }

    /// Checks that `file` parses as the credentials file of `mode` (configuration check:
    /// one sentence naming the option, the file and the line).
    pub fn check_file(mode: UploadAuthMode, file: &Path) -> Result<(), String> {
        let option = match mode {
            UploadAuthMode::None => return Ok(()),
            UploadAuthMode::Basic => "--upload-users-file",
            UploadAuthMode::Token => "--upload-tokens-file",
        };
        parse_file(mode, file, &[0; 32])
            .map(|_| ())
            .map_err(|e| format!("{option} {e}"))
    }

    /// Re-reads the credentials file. On error the credentials in force stay. Returns how
    /// many users or tokens are now in force.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        let credentials = parse_file(self.mode, file, &self.salt).map_err(anyhow::Error::msg)?;
        let count = credentials.users.len() + credentials.tokens.len();
        if count == 0 {
            tracing::warn!(
                file = %file.display(),
                "the upload credentials file lists no one: nobody can upload"
            );
        }
        warn_if_readable_by_others(file);
        {
            // Forget the usage of tokens that are gone.
            let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
            usage.retain(|hash, _| credentials.tokens.iter().any(|t| t.hash == *hash));
        }
        *self
            .credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(credentials);
        Ok(count)
    }

    /// The mode in force.
    pub fn mode(&self) -> UploadAuthMode {
        self.mode
    }

    fn current(&self) -> Arc<Credentials> {
        self.credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn refused(&self, given: bool) -> ApiError {
        ApiError::UploadUnauthorized {
            mode: self.mode,
            given,
        }
    }

    /// The HTTP upload route: the uploader, `None` when anyone may upload, or 401.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<Option<Grant>, ApiError> {
        match self.mode {
            UploadAuthMode::None => Ok(None),
            _ => match presented(headers) {
                Presented::Nothing => Err(self.refused(false)),
                Presented::Malformed => Err(self.refused(true)),
                Presented::Given(c) => self.check(&c).await.map(Some),
            },
        }
    }

    /// The WebSocket upgrade: in token mode credentials may instead come in the first
    /// message ([`Gate::NeedsBearer`]); in basic mode they must be on the upgrade.
    pub async fn authorize_upgrade(&self, headers: &HeaderMap) -> Result<Gate, ApiError> {
        match (self.mode, presented(headers)) {
            (UploadAuthMode::None, _) => Ok(Gate::Open(None)),
            (UploadAuthMode::Token, Presented::Nothing) => Ok(Gate::NeedsBearer),
            (_, Presented::Nothing) => Err(self.refused(false)),
            (_, Presented::Malformed) => Err(self.refused(true)),
            (_, Presented::Given(c)) => self.check(&c).await.map(|g| Gate::Open(Some(g))),
        }
    }

    /// The `bearer` field of a WebSocket upload's first message, in token mode.
    pub fn authorize_bearer(&self, bearer: Option<&str>) -> Result<Grant, ApiError> {
        let token = bearer
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.refused(false))?;
        self.token(token).ok_or_else(|| self.refused(true))
    }

    async fn check(&self, credentials: &UploadCredentials) -> Result<Grant, ApiError> {
        let grant = match (self.mode, credentials) {
            (UploadAuthMode::Token, UploadCredentials::Bearer(token)) => self.token(token),
            // `ffsend --basic-auth ANY:TOKEN`: the password is the token.
            (UploadAuthMode::Token, UploadCredentials::Basic { password, .. }) => {
                self.token(password)
            }
            (UploadAuthMode::Basic, UploadCredentials::Basic { user, password }) => {
                self.user(user, password).await
            }
            _ => None,
        };
        grant.ok_or_else(|| self.refused(true))
    }

    /// The token `presented` hashes to, compared with every stored hash in constant time.
    fn token(&self, presented: &str) -> Option<Grant> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let credentials = self.current();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, token) in credentials.tokens.iter().enumerate() {
            let same = token.hash.ct_eq(&hash);
            index.conditional_assign(&u32::try_from(i).unwrap_or(u32::MAX), same);
            found |= same;
        }
        if !bool::from(found) {
            return None;
        }
        let token = credentials.tokens.get(usize::try_from(index).ok()?)?;
        Some(Grant {
            label: token.label.clone(),
            max_size: token.max_size,
            daily: token.daily.map(|d| (token.hash, d)),
        })
    }

    async fn user(&self, name: &str, password: &str) -> Option<Grant> {
        let credentials = self.current();
        let salted = salted(&self.salt, password);
        let mut matched: Option<&User> = None;
        for user in &credentials.users {
            if bool::from(user.name.as_bytes().ct_eq(name.as_bytes())) {
                matched = Some(user);
            }
        }
        let user = matched?;
        let ok = match &user.secret {
            UserSecret::Salted(stored) => bool::from(stored.ct_eq(&salted)),
            UserSecret::Argon2(phc) => {
                let phc = phc.clone();
                let password = Zeroizing::new(password.to_owned());
                tokio::task::spawn_blocking(move || {
                    use argon2::PasswordVerifier;
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), phc.as_str())
                        .is_ok()
                })
                .await
                .unwrap_or(false)
            }
        };
        ok.then(|| Grant {
            label: user.name.clone(),
            max_size: None,
            daily: None,
        })
    }

    /// Starts counting an upload of `grant` against its daily quota, if it has one: 429 when
    /// the quota is used up already, or when `announced` bytes (a `Content-Length`) would
    /// exceed what is left.
    pub fn begin_charge(
        self: &Arc<Self>,
        grant: Option<&Grant>,
        now: Millis,
        announced: Option<u64>,
    ) -> Result<Option<Charge>, ApiError> {
        let Some((hash, daily)) = grant.and_then(|g| g.daily) else {
            return Ok(None);
        };
        let charge = Charge {
            auth: Arc::clone(self),
            hash,
            day: now / DAY_MS,
            allowance: sealdrop_protocol::ece::encrypted_size(daily).unwrap_or(u64::MAX),
            charged: 0,
            committed: false,
            now,
        };
        let used = charge.with_usage(|u| u.bytes);
        if used >= charge.allowance || announced.is_some_and(|n| n > charge.allowance - used) {
            return Err(charge.exceeded());
        }
        Ok(Some(charge))
    }
}

/// An upload's bytes counted against its token's daily quota. Dropped before
/// [`Charge::commit`], it gives them back (a failed upload costs nothing).
pub struct Charge {
    auth: Arc<UploadAuth>,
    hash: [u8; 32],
    day: u64,
    /// The quota as a ciphertext size: a file of exactly the quota fits.
    allowance: u64,
    charged: u64,
    committed: bool,
    now: Millis,
}

impl std::fmt::Debug for Charge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Charge")
            .field("day", &self.day)
            .field("charged", &self.charged)
            .finish_non_exhaustive()
    }
}

impl Charge {
    fn with_usage<T>(&self, f: impl FnOnce(&mut DayUse) -> T) -> T {
        let mut usage = self
            .auth
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = usage.entry(self.hash).or_insert(DayUse {
            day: self.day,
            bytes: 0,
        });
        if entry.day != self.day {
            *entry = DayUse {
                day: self.day,
                bytes: 0,
            };
        }
        f(entry)
    }

    fn exceeded(&self) -> ApiError {
        let into_day = self.now % DAY_MS;
        ApiError::QuotaExceeded {
            retry_after: (DAY_MS - into_day).div_ceil(1000),
        }
    }

    /// Counts `bytes` more; 429 if the day's quota would be exceeded.
    pub fn add(&mut self, bytes: u64) -> Result<(), ApiError> {
        let allowance = self.allowance;
        let fits = self.with_usage(|u| {
            let after = u.bytes.saturating_add(bytes);
            if after > allowance {
                false
            } else {
                u.bytes = after;
                true
            }
        });
        if !fits {
            return Err(self.exceeded());
        }
        self.charged = self.charged.saturating_add(bytes);
        Ok(())
    }

    /// The upload is stored: its bytes stay counted.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.committed || self.charged == 0 {
            return;
        }
        let charged = self.charged;
        self.with_usage(|u| u.bytes = u.bytes.saturating_sub(charged));
    }
}

fn salted(salt: &[u8; 32], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// Reads and parses a credentials file; the error names the file and the line only.
fn parse_file(mode: UploadAuthMode, file: &Path, salt: &[u8; 32]) -> Result<Credentials, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .map_err(|e| format!("{} cannot be read: {e}", file.display()))?,
    );
    let parsed = match mode {
        UploadAuthMode::None => Ok(Credentials::default()),
        UploadAuthMode::Basic => parse_users(&text, salt),
        UploadAuthMode::Token => parse_tokens(&text),
    };
    parsed.map_err(|(line, why)| format!("{}, line {line}: {why}", file.display()))
}

/// The meaningful lines of a file: `(number, trimmed text)`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn parse_users(text: &str, salt: &[u8; 32]) -> Result<Credentials, (usize, &'static str)> {
    let mut users: Vec<User> = Vec::new();
    for (n, line) in lines(text) {
        let (name, password) = line
            .split_once(':')
            .ok_or((n, "expected USER:PASSWORD or USER:$argon2id$…"))?;
        if name.is_empty() || !name.chars().all(|c| !c.is_control()) {
            return Err((n, "the user name is empty or holds control characters"));
        }
        if password.is_empty() {
            return Err((n, "the password is empty"));
        }
        if users.iter().any(|u| u.name == name) {
            return Err((n, "this user is listed twice"));
        }
        let secret = if password.starts_with("$argon2") {
            argon2::PasswordHash::new(password)
                .map_err(|_| (n, "the Argon2 hash is not a valid PHC string"))?;
            UserSecret::Argon2(password.to_owned())
        } else {
            UserSecret::Salted(salted(salt, password))
        };
        users.push(User {
            name: name.to_owned(),
            secret,
        });
    }
    Ok(Credentials {
        users,
        tokens: Vec::new(),
    })
}

fn parse_tokens(text: &str) -> Result<Credentials, (usize, &'static str)> {
    let mut tokens: Vec<Token> = Vec::new();
    for (n, line) in lines(text) {
        let mut words = line.split_whitespace();
        let token = words.next().unwrap_or_default();
        if token.len() < MIN_TOKEN_LEN || !valid_token(token) {
            return Err((
                n,
                "a token is 16 to 4096 visible ASCII characters (try `openssl rand -base64 32`)",
            ));
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if tokens.iter().any(|t| t.hash == hash) {
            return Err((n, "this token is listed twice"));
        }
        let mut entry = Token {
            hash,
            label: format!("sha256:{}", hex_prefix(&hash)),
            max_size: None,
            daily: None,
        };
        for word in words {
            let size = |v: &str| {
                v.parse::<Size>()
                    .ok()
                    .filter(|s| s.0 > 0)
                    .map(|s| s.0)
                    .ok_or((n, "max-size and daily take a size like 2GiB or 500MB"))
            };
            match word.split_once('=') {
                Some(("name", v)) if !v.is_empty() && !v.chars().any(char::is_control) => {
                    entry.label = v.to_owned();
                }
                Some(("max-size", v)) => entry.max_size = Some(size(v)?),
                Some(("daily", v)) => entry.daily = Some(size(v)?),
                _ => {
                    return Err((
                        n,
                        "after the token, only name=LABEL, max-size=SIZE and daily=SIZE may follow",
                    ));
                }
            }
        }
        tokens.push(entry);
    }
    Ok(Credentials {
        users: Vec::new(),
        tokens,
    })
}

fn hex_prefix(hash: &[u8; 32]) -> String {
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(
            file = %file.display(),
            "the upload credentials file is readable by every user of this machine: chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_file: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_parses_options_and_refuses_bad_lines_without_echoing_them() {
        let c = parse_tokens(
            "# comment\n\n  abcdefghijklmnop   name=alice max-size=2GiB daily=10MB\n\
             qrstuvwxyz012345\n",
        )
        .unwrap();
        assert_eq!(c.tokens.len(), 2);
        assert_eq!(c.tokens[0].label, "alice");
        assert_eq!(c.tokens[0].max_size, Some(2 << 30));
        assert_eq!(c.tokens[0].daily, Some(10_000_000));
        assert!(c.tokens[1].label.starts_with("sha256:"));
        for (text, line) in [
            ("short-token", 1),
            ("abcdefghijklmnop\nabcdefghijklmnop", 2),
            ("abcdefghijklmnop max-size=lots", 1),
            ("abcdefghijklmnop daily=0", 1),
            ("#\nabcdefghijklmnop secret-half", 2),
        ] {
            let (n, why) = parse_tokens(text).err().unwrap();
            assert_eq!(n, line, "{text}");
            assert!(
                !why.contains("abcdefgh") && !why.contains("secret"),
                "{why}"
            );
        }
    }

    #[test]
    fn users_file_keeps_no_clear_password() {
        let c = parse_users("alice:pa ss:word\n# x\nbob:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA\n", &[1; 32]).unwrap();
        assert_eq!(c.users.len(), 2);
        assert!(
            matches!(c.users[0].secret, UserSecret::Salted(h) if h == salted(&[1; 32], "pa ss:word"))
        );
        assert!(matches!(c.users[1].secret, UserSecret::Argon2(_)));
        for bad in ["nocolon", ":pw", "a:", "a:x\na:y", "a:$argon2id$broken"] {
            assert!(parse_users(bad, &[0; 32]).is_err(), "{bad}");
        }
    }
}
