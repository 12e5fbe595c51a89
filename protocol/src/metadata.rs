//! File metadata: its JSON shape and its encryption (PROTOCOL.md §4.1).

use aes_gcm::aead::array::Array;
use aes_gcm::{Aes128Gcm, KeyInit, aead::Aead};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::auth::b64u;
use crate::keys::MetadataKey;

/// The MIME type of an archive of several files, as the Send web app writes it.
pub const ARCHIVE_TYPE: &str = "send-archive";
/// The name the Send web app gives an archive of several files.
pub const ARCHIVE_NAME: &str = "Send-Archive.zip";
/// The type used when a client gives none.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// The decrypted metadata of a share.
///
/// Always serialises all four fields, which ffsend requires; accepts what the Send web app
/// (`"manifest": {}`) and ffsend (one manifest entry) emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// File name (for an archive: [`ARCHIVE_NAME`]). Untrusted on download: sanitise it.
    pub name: String,
    /// Plaintext size in bytes of the whole upload.
    pub size: u64,
    /// MIME type (for an archive: [`ARCHIVE_TYPE`]).
    #[serde(rename = "type", default = "default_type")]
    pub mime: String,
    /// The files of an archive, in the order their bytes are concatenated.
    #[serde(default)]
    pub manifest: Manifest,
}

fn default_type() -> String {
    DEFAULT_TYPE.to_owned()
}

/// The list of files in an upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The files, in upload order. Empty in single-file uploads of the Send web app.
    #[serde(default)]
    pub files: Vec<ManifestFile>,
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name (may contain `/` for files from a directory). Untrusted on download.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    #[serde(rename = "type", default = "default_type")]
    pub mime: String,
}

impl Metadata {
    /// Metadata of a single file, with the one-entry manifest ffsend writes.
    pub fn single(name: impl Into<String>, size: u64, mime: impl Into<String>) -> Self {
        let name = name.into();
        let mime = mime.into();
        Self {
            manifest: Manifest {
                files: vec![ManifestFile {
                    name: name.clone(),
                    size,
                    mime: mime.clone(),
                }],
            },
            name,
            size,
            mime,
        }
    }

    /// Metadata of several files travelling as Send's archive: their bytes concatenated
    /// in this order. `None` if the total size overflows.
    pub fn archive(files: Vec<ManifestFile>) -> Option<Self> {
        let size = files
            .iter()
            .try_fold(0u64, |acc, f| acc.checked_add(f.size))?;
        Some(Self {
            name: ARCHIVE_NAME.to_owned(),
            size,
            mime: ARCHIVE_TYPE.to_owned(),
            manifest: Manifest { files },
        })
    }

    /// Whether this upload is an archive of several files to be split on download.
    pub fn is_archive(&self) -> bool {
        self.mime == ARCHIVE_TYPE && !self.manifest.files.is_empty()
    }

    /// Encrypts the metadata: AES-128-GCM, zero IV, unpadded base64url.
    pub fn encrypt(&self, key: &MetadataKey) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        encrypt_raw(key, &json)
    }

    /// Decrypts and parses encrypted metadata (either base64 alphabet).
    pub fn decrypt(key: &MetadataKey, encrypted: &str) -> Result<Self, Error> {
        let plain = decrypt_raw(key, encrypted)?;
        serde_json::from_slice(&plain).map_err(|_| Error::BadMetadata)
    }
}

fn cipher(key: &MetadataKey) -> Aes128Gcm {
    Aes128Gcm::new(&Array::from(key.0))
}

/// Encrypts raw metadata bytes (the zero IV is safe only because a secret encrypts one
/// metadata document).
pub fn encrypt_raw(key: &MetadataKey, plain: &[u8]) -> String {
    // AES-GCM fails only for plaintexts over 64 GiB.
    let sealed = cipher(key)
        .encrypt(&Array::from([0u8; 12]), plain)
        .unwrap_or_default();
    b64u::encode(&sealed)
}

/// Decrypts raw metadata bytes.
pub fn decrypt_raw(key: &MetadataKey, encrypted: &str) -> Result<Vec<u8>, Error> {
    let sealed = b64u::decode_lenient(encrypted).map_err(|_| Error::BadMetadata)?;
    cipher(key)
        .decrypt(&Array::from([0u8; 12]), sealed.as_slice())
        .map_err(|_| Error::BadMetadata)
}
