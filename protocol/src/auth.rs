//! Request authentication: `send-v1` signatures, nonces and owner tokens (PROTOCOL.md §3).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;

/// The scheme name of the `Authorization` and `WWW-Authenticate` headers.
pub const SCHEME: &str = "send-v1";

/// Base64 as Send clients speak it: they emit unpadded base64url, but servers and clients
/// differ, so every decoder here accepts both alphabets, padded or not.
pub mod b64u {
    use base64::Engine;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
    use base64::engine::{DecodePaddingMode, general_purpose::URL_SAFE_NO_PAD};

    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );

    /// Encodes as unpadded base64url.
    pub fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Encodes as standard base64 with padding (the nonce format of Send servers).
    pub fn encode_standard(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// Decodes base64 in either alphabet, with or without padding, ignoring surrounding
    /// whitespace.
    pub fn decode_lenient(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        let normalised: String = text
            .trim()
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        LENIENT.decode(normalised)
    }
}

pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Parses `send-v1 <base64>` (the scheme is matched case-insensitively) into raw bytes.
pub fn parse_header(value: &str) -> Result<Vec<u8>, Error> {
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(Error::BadAuthorization)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(Error::BadAuthorization);
    }
    let bytes = b64u::decode_lenient(token).map_err(|_| Error::BadAuthorization)?;
    if bytes.is_empty() {
        return Err(Error::BadAuthorization);
    }
    Ok(bytes)
}

/// Formats a `send-v1` header value from a token that is already encoded.
pub fn format_header(token: &str) -> String {
    format!("{SCHEME} {token}")
}

/// The `WWW-Authenticate` challenge that hands out a file's next nonce: `send-v1 <nonce>`.
pub fn format_challenge(nonce: &str) -> String {
    format_header(nonce)
}

/// The nonce of a `WWW-Authenticate: send-v1 <nonce>` challenge, as sent (sign its bytes,
/// [`b64u::decode_lenient`]). The scheme is matched case-insensitively and whitespace
/// around the nonce is ignored; `None` unless the nonce is one non-empty base64 token.
pub fn parse_challenge(value: &str) -> Option<&str> {
    let (scheme, nonce) = value.trim().split_once(' ')?;
    let nonce = nonce.trim();
    let decodes = !nonce.contains(char::is_whitespace)
        && b64u::decode_lenient(nonce).is_ok_and(|bytes| !bytes.is_empty());
    (scheme.eq_ignore_ascii_case(SCHEME) && decodes).then_some(nonce)
}

/// Verifies a signature over `nonce` with `auth_key`, in constant time.
///
/// A signature of the wrong length is simply wrong (it does not error).
pub fn verify_signature(auth_key: &[u8], nonce: &[u8], signature: &[u8]) -> bool {
    let expected = hmac_sha256(auth_key, nonce);
    expected.ct_eq(signature).into()
}

/// A fresh download nonce: 16 random bytes, standard base64 with padding, as Send servers
/// emit it.
pub fn new_nonce() -> Result<String, Error> {
    let bytes: [u8; 16] = crate::random_bytes()?;
    Ok(b64u::encode_standard(&bytes))
}

/// An owner token: 16 random bytes as 32 lowercase hex characters.
///
/// The server returns it once and stores only its SHA-256 ([`OwnerToken::hash`]).
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "key material has no Debug, so it cannot reach a log"
)]
pub struct OwnerToken(String);

impl OwnerToken {
    /// Draws a new token.
    pub fn generate() -> Result<Self, Error> {
        let bytes: [u8; 16] = crate::random_bytes()?;
        Ok(Self(hex::encode(bytes)))
    }

    /// Wraps a token presented by a client.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, to hand to the uploader once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token, which is all the server keeps.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether this token hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.hash().ct_eq(stored).into()
    }
}

/// Upload credentials in an `Authorization` header, for servers that restrict who may
/// upload (sealdrop's `--upload-auth basic|token`). They are separate from the `send-v1`
/// scheme, which carries a share's auth key and signatures.
///
/// Neither variant has `Debug`, and both are zeroized on drop.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "passwords and tokens have no Debug, so they cannot reach a log"
)]
pub enum UploadCredentials {
    /// `Basic <base64(user:password)>` (RFC 7617), as `ffsend --basic-auth` sends it.
    Basic {
        /// The user name (no `:`).
        user: String,
        /// The password.
        password: String,
    },
    /// `Bearer <token>` (RFC 6750).
    Bearer(String),
}

/// Longest `Authorization` value [`UploadCredentials::parse`] looks at.
const MAX_CREDENTIALS_LEN: usize = 8192;

impl UploadCredentials {
    /// Parses an `Authorization` value of scheme `Basic` or `Bearer` (matched
    /// case-insensitively). `None` for any other scheme (such as `send-v1`) and for a
    /// malformed value: Basic whose payload is not base64 of UTF-8 `user:password`, or a
    /// Bearer token that is empty or holds whitespace or control characters.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() > MAX_CREDENTIALS_LEN {
            return None;
        }
        let (scheme, rest) = value.trim().split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = zeroize::Zeroizing::new(b64u::decode_lenient(rest).ok()?);
            let text = std::str::from_utf8(&decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            let credentials = Self::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            };
            // Unpadded base64 near the limit would come back from `to_header` (padded)
            // over it: only credentials whose own header parses are accepted.
            let header = zeroize::Zeroizing::new(credentials.to_header());
            (header.len() <= MAX_CREDENTIALS_LEN).then_some(credentials)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            valid_token(rest).then(|| Self::Bearer(rest.to_owned()))
        } else {
            None
        }
    }

    /// The `Authorization` header value: `Basic <base64>` or `Bearer <token>`.
    pub fn to_header(&self) -> String {
        match self {
            Self::Basic { user, password } => {
                let pair = zeroize::Zeroizing::new(format!("{user}:{password}"));
                format!("Basic {}", b64u::encode_standard(pair.as_bytes()))
            }
            Self::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

/// Whether `token` can be an upload token: 1 to 4096 visible ASCII characters (it travels
/// in a header and in one line of a file).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 4096 && token.bytes().all(|b| b.is_ascii_graphic())
}
