//! The metadata decryption and parser (`sealdrop_protocol::metadata`) on hostile input.
//!
//! The first byte chooses the key (bits 2–3: one of three secrets of `tests/vectors/`) and
//! what the rest is (bits 0–1):
//!
//! - **0**: the encrypted metadata field as a client or server receives it (text, either
//!   base64 alphabet, padded or not). Decrypting never panics; when it works, the bytes
//!   were exactly the deterministic encryption of the JSON inside, the other base64
//!   alphabet and padding give the same answer, and the parsed value round-trips.
//! - **1**: the decrypted JSON, encrypted under the key and fed back: whatever parses
//!   round-trips through `encrypt`/`decrypt` to a fixed point, and the archive helpers
//!   agree with the value.
//! - **2, 3**: a metadata value built with `arbitrary` (any names, sizes, types and
//!   manifest) round-trips through `encrypt`/`decrypt` unchanged, as do `Metadata::single`
//!   and `Metadata::archive` built from its parts.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sealdrop_protocol::auth::b64u;
use sealdrop_protocol::keys::MetadataKey;
use sealdrop_protocol::metadata::{self, ARCHIVE_TYPE, Manifest, ManifestFile};
use sealdrop_protocol::{Metadata, Secret};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = match (mode >> 2) % 3 {
        0 => [0u8; 16],
        1 => [0xff; 16],
        _ => std::array::from_fn(|i| i as u8),
    };
    let key = Secret::from_bytes(secret).metadata_key();
    match mode % 4 {
        0 => encrypted_field(&key, &String::from_utf8_lossy(rest)),
        1 => decrypted_json(&key, rest),
        _ => {
            if let Ok(value) = Value::arbitrary_take_rest(Unstructured::new(rest)) {
                value.check(&key);
            }
        }
    }
});

/// Encrypts, decrypts, and checks that nothing changed and that the encryption is a fixed
/// point (deterministic: one key encrypts one metadata document, under a zero IV).
fn assert_round_trips(key: &MetadataKey, value: &Metadata) {
    let encrypted = value.encrypt(key);
    let decrypted = Metadata::decrypt(key, &encrypted).expect("our own metadata decrypts");
    assert_eq!(&decrypted, value, "metadata changed in a round trip");
    assert_eq!(
        decrypted.encrypt(key),
        encrypted,
        "encryption is not deterministic"
    );
    assert_eq!(
        value.is_archive(),
        value.mime == ARCHIVE_TYPE && !value.manifest.files.is_empty()
    );
}

fn encrypted_field(key: &MetadataKey, text: &str) {
    let parsed = Metadata::decrypt(key, text);
    let Ok(plain) = metadata::decrypt_raw(key, text) else {
        assert!(
            parsed.is_err(),
            "metadata parsed from bytes that did not decrypt"
        );
        return;
    };
    // AES-GCM with a zero IV is deterministic: the field held exactly the encryption of
    // the plaintext, whatever the alphabet, padding or whitespace around it.
    let sealed = b64u::decode_lenient(text).expect("it decrypted, so it decoded");
    assert_eq!(metadata::encrypt_raw(key, &plain), b64u::encode(&sealed));

    // The other alphabet, and padding, change nothing.
    let standard: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bare = standard.trim_end_matches('=').to_owned();
    let padded = format!("{bare}{}", "=".repeat((4 - bare.len() % 4) % 4));
    for variant in [standard, bare, padded] {
        assert_eq!(
            metadata::decrypt_raw(key, &variant).ok(),
            Some(plain.clone())
        );
        assert_eq!(Metadata::decrypt(key, &variant), parsed);
    }
    if let Ok(value) = parsed {
        assert_round_trips(key, &value);
    }
}

fn decrypted_json(key: &MetadataKey, json: &[u8]) {
    let encrypted = metadata::encrypt_raw(key, json);
    assert_eq!(metadata::decrypt_raw(key, &encrypted).as_deref(), Ok(json));
    let Ok(value) = Metadata::decrypt(key, &encrypted) else {
        return;
    };
    assert_round_trips(key, &value);
    // Rebuilding an archive from the manifest: its size is the sum of the parts.
    let files = value.manifest.files.clone();
    let total = files
        .iter()
        .try_fold(0u64, |acc, f| acc.checked_add(f.size));
    match Metadata::archive(files) {
        Some(archive) => {
            assert_eq!(Some(archive.size), total);
            assert_eq!(archive.is_archive(), !value.manifest.files.is_empty());
            assert_round_trips(key, &archive);
        }
        None => assert_eq!(total, None, "an archive of a summable manifest was refused"),
    }
}

/// A metadata value with every field arbitrary.
#[derive(Debug, Arbitrary)]
struct Value {
    name: String,
    size: u64,
    mime: String,
    files: Vec<(String, u64, String)>,
}

impl Value {
    fn check(self, key: &MetadataKey) {
        let files: Vec<ManifestFile> = self
            .files
            .into_iter()
            .map(|(name, size, mime)| ManifestFile { name, size, mime })
            .collect();
        assert_round_trips(
            key,
            &Metadata::single(self.name.clone(), self.size, self.mime.clone()),
        );
        if let Some(archive) = Metadata::archive(files.clone()) {
            assert_round_trips(key, &archive);
        }
        assert_round_trips(
            key,
            &Metadata {
                name: self.name,
                size: self.size,
                mime: self.mime,
                manifest: Manifest { files },
            },
        );
    }
}
