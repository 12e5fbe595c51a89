//! The Send v3 wire protocol as sealdrop speaks it, with no I/O and no async runtime.
//!
//! The server, the CLI and the tests share this crate, so there is exactly one
//! implementation of every byte that crosses the wire. It never panics on input: every
//! parser and decoder returns an error instead.
//!
//! # The protocol, step by step
//!
//! 1. **A secret.** The sender's client draws a random 16-byte [`Secret`]. It never leaves
//!    the clients: it travels only in the share link's `#fragment` ([`link`]).
//! 2. **Keys.** From the secret, HKDF-SHA256 derives the metadata key, the 64-byte auth
//!    key and, per file, the content key and nonce base ([`keys`]).
//! 3. **Metadata.** The file name, size, type and (for several files) the archive
//!    manifest are JSON ([`Metadata`]), encrypted with AES-128-GCM under the metadata key
//!    and a zero IV ([`metadata`]).
//! 4. **Content.** The file is encrypted as RFC 8188 `aes128gcm` with 64 KiB records
//!    ([`ece`]), streamed in bounded memory; the exact ciphertext size is known in advance
//!    ([`ece::encrypted_size`]).
//! 5. **Upload.** The client sends the encrypted metadata and the auth key
//!    ([`api::WsUploadRequest`]), then the ciphertext. The server answers with an id, the
//!    share URL and an owner token ([`api::UploadResponse`]); the owner token is its only
//!    copy, the server keeps a SHA-256 hash of it ([`auth::OwnerToken`]).
//! 6. **Link.** The client appends the secret as the fragment:
//!    `<base>/download/<id>/#<secret>` ([`link::ShareLink`]).
//! 7. **Download.** The recipient proves it knows the auth key without revealing it: the
//!    server hands out a nonce in `WWW-Authenticate: send-v1 <nonce>`, the client answers
//!    `Authorization: send-v1 <HMAC-SHA256(auth key, nonce)>` ([`auth`]). The server
//!    rotates the nonce on every success, so a signature authorises one request.
//! 8. **Password.** Optionally the owner replaces the auth key by one derived from a
//!    password with PBKDF2, salted with the full share link ([`keys::password_auth_key`]).
//!    The content keys do not change; the password only gates access on the server.
//! 9. **Decrypt.** The recipient decrypts the metadata, then streams the content through
//!    the decoder, which authenticates every record and the end of the stream.
//!
//! # Layout
//!
//! - [`keys`]: the secret and every key derived from it.
//! - [`ece`]: the RFC 8188 streaming cipher and its size arithmetic.
//! - [`metadata`]: the metadata JSON and its encryption.
//! - [`auth`]: `send-v1` signatures, nonces, owner tokens, lenient base64.
//! - [`link`]: share links; the only code that reads or writes the `#fragment`.
//! - [`api`]: request and response types of every endpoint.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod api;
pub mod auth;
pub mod ece;
pub mod keys;
pub mod link;
pub mod metadata;
pub mod names;
pub mod range;

#[cfg(test)]
mod tests;

pub use ece::{DecryptError, Decryptor, Encryptor};
pub use keys::Secret;
pub use metadata::Metadata;

/// The errors of this crate other than decryption, which has its own opaque
/// [`DecryptError`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A secret in a link was not 16 bytes of base64.
    #[error("the link's secret key is malformed")]
    BadSecret,
    /// A share link could not be parsed.
    #[error("not a share link: {0}")]
    BadLink(&'static str),
    /// Encrypted metadata could not be decrypted or parsed.
    #[error("the file metadata could not be decrypted")]
    BadMetadata,
    /// A plaintext too long to encrypt (more than 2^32 records, 256 TiB).
    #[error("the file is too large to encrypt")]
    TooLarge,
    /// A `send-v1` header or a base64 field was malformed.
    #[error("malformed send-v1 authorization")]
    BadAuthorization,
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| Error::Random)?;
    Ok(buf)
}
