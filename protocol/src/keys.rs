//! The secret and the keys derived from it (PROTOCOL.md §4).
//!
//! Every key type zeroizes its bytes on drop and has no `Debug` or `Display`, so a key
//! cannot end up in a log line by accident.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;
use crate::auth::b64u;

/// Length of the secret in bytes.
pub const SECRET_LEN: usize = 16;
/// Length of the auth key (the HMAC-SHA256 key) in bytes: the SHA-256 block size, which
/// is what WebCrypto's `deriveKey` gives an HMAC key without an explicit length.
pub const AUTH_KEY_LEN: usize = 64;
/// PBKDF2 iterations of Send's password scheme. Weak, but fixed by the clients; the
/// server's rate limits are what stop guessing.
pub const PASSWORD_ITERATIONS: u32 = 100;

/// The 16-byte secret of one share. It lives only in the link's fragment and in memory.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "key material has no Debug, so it cannot reach a log"
)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// Draws a new secret from the operating system's random number generator.
    pub fn generate() -> Result<Self, Error> {
        crate::random_bytes().map(Self)
    }

    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// The secret as unpadded base64url, as it appears in a share link's fragment.
    pub fn to_base64url(&self) -> String {
        b64u::encode(&self.0)
    }

    /// Parses a secret from base64 (either alphabet, padded or not).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut bytes = b64u::decode_lenient(text).map_err(|_| Error::BadSecret)?;
        let secret = <[u8; SECRET_LEN]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| Error::BadSecret);
        bytes.zeroize();
        secret
    }

    fn expand<const N: usize>(&self, salt: Option<&[u8]>, info: &[u8]) -> [u8; N] {
        let hk = Hkdf::<Sha256>::new(salt, &self.0);
        let mut out = [0u8; N];
        // HKDF-SHA256 can produce up to 255 * 32 bytes; every N used here is at most 64.
        if hk.expand(info, &mut out).is_err() {
            unreachable!("HKDF output length {N} is within 255 * 32");
        }
        out
    }

    /// The metadata key: `HKDF(secret, salt = ∅, info = "metadata", 16)`.
    pub fn metadata_key(&self) -> MetadataKey {
        MetadataKey(self.expand(None, b"metadata"))
    }

    /// The auth key: `HKDF(secret, salt = ∅, info = "authentication", 64)`.
    pub fn auth_key(&self) -> AuthKey {
        AuthKey(self.expand(None, b"authentication"))
    }

    /// The content key and nonce base of one ciphertext, from its 16-byte header salt.
    pub fn content_keys(&self, salt: &[u8; 16]) -> ContentKeys {
        ContentKeys {
            key: self.expand(Some(salt), b"Content-Encoding: aes128gcm\0"),
            nonce_base: self.expand(Some(salt), b"Content-Encoding: nonce\0"),
        }
    }
}

/// The AES-128-GCM key of the file metadata.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "key material has no Debug, so it cannot reach a log"
)]
pub struct MetadataKey(pub(crate) [u8; 16]);

impl MetadataKey {
    /// The raw key bytes (for test vectors and interoperability checks).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// The HMAC-SHA256 key that proves knowledge of the secret (or of the password).
///
/// The uploader sends it to the server once; downloaders only ever send signatures.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "key material has no Debug, so it cannot reach a log"
)]
pub struct AuthKey(pub(crate) [u8; AUTH_KEY_LEN]);

impl AuthKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; AUTH_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; AUTH_KEY_LEN] {
        &self.0
    }

    /// The key as unpadded base64url, as uploads and password changes send it.
    pub fn to_base64url(&self) -> String {
        b64u::encode(&self.0)
    }

    /// Signs a server nonce: the value of `Authorization: send-v1 <…>`.
    pub fn sign(&self, nonce: &[u8]) -> String {
        b64u::encode(&crate::auth::hmac_sha256(&self.0, nonce))
    }
}

/// The key and nonce base of one RFC 8188 ciphertext.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[allow(
    missing_debug_implementations,
    reason = "key material has no Debug, so it cannot reach a log"
)]
pub struct ContentKeys {
    pub(crate) key: [u8; 16],
    pub(crate) nonce_base: [u8; 12],
}

impl ContentKeys {
    /// The AES-128-GCM content key.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The base of the per-record nonces.
    pub fn nonce_base(&self) -> &[u8; 12] {
        &self.nonce_base
    }
}

/// Send's password auth key: `PBKDF2-HMAC-SHA256(password, salt = share URL, 100, 64)`.
///
/// `share_url` is the full canonical link including `#secret`
/// ([`crate::link::ShareLink::password_salt`]), byte-identical for uploader and downloader.
pub fn password_auth_key(password: &str, share_url: &str) -> AuthKey {
    let mut out = [0u8; AUTH_KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        share_url.as_bytes(),
        PASSWORD_ITERATIONS,
        &mut out,
    );
    AuthKey(out)
}
