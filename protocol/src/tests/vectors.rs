//! Known-answer tests against `tests/vectors/send-v3.json`, checked both ways.

use base64::Engine;
use serde::Deserialize;

use super::{decrypt_in_steps, encrypt, pattern};
use crate::auth::{self, b64u};
use crate::ece::{encrypted_size, plaintext_size};
use crate::keys::{AuthKey, password_auth_key};
use crate::link::ShareLink;
use crate::{Metadata, Secret};

const VECTORS: &str = include_str!("../../../tests/vectors/send-v3.json");

#[derive(Deserialize)]
struct Vectors {
    keys: Vec<KeyVector>,
    metadata: Vec<MetadataVector>,
    ece: Vec<EceVector>,
    password: Vec<PasswordVector>,
    hmac: Vec<HmacVector>,
}

#[derive(Deserialize)]
struct KeyVector {
    secret: String,
    metadata_key: String,
    auth_key: String,
    auth_key_b64u: String,
    ece: Vec<ContentVector>,
}

#[derive(Deserialize)]
struct ContentVector {
    salt: String,
    content_key: String,
    nonce_base: String,
}

#[derive(Deserialize)]
struct MetadataVector {
    secret: String,
    plaintext: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct EceVector {
    secret: String,
    salt: String,
    rs: u32,
    plaintext_len: usize,
    ciphertext: String,
}

#[derive(Deserialize)]
struct PasswordVector {
    password: String,
    url: String,
    auth_key: String,
}

#[derive(Deserialize)]
struct HmacVector {
    auth_key: String,
    nonce: String,
    signature: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).unwrap()
}

fn salt(hex_salt: &str) -> [u8; 16] {
    hex::decode(hex_salt).unwrap().try_into().unwrap()
}

#[test]
fn key_derivations_match() {
    let v = vectors();
    assert!(v.keys.len() >= 4);
    for k in &v.keys {
        let secret = Secret::parse(&k.secret).unwrap();
        assert_eq!(secret.to_base64url(), k.secret, "secret round trip");
        assert_eq!(
            hex::encode(secret.metadata_key().as_bytes()),
            k.metadata_key
        );
        assert_eq!(hex::encode(secret.auth_key().as_bytes()), k.auth_key);
        assert_eq!(secret.auth_key().to_base64url(), k.auth_key_b64u);
        for c in &k.ece {
            let keys = secret.content_keys(&salt(&c.salt));
            assert_eq!(hex::encode(keys.key()), c.content_key);
            assert_eq!(hex::encode(keys.nonce_base()), c.nonce_base);
        }
    }
}

#[test]
fn metadata_encryption_matches_both_ways() {
    let v = vectors();
    assert!(v.metadata.len() >= 4);
    for m in &v.metadata {
        let key = Secret::parse(&m.secret).unwrap().metadata_key();
        // Our encryption of the same bytes equals the vector.
        assert_eq!(
            crate::metadata::encrypt_raw(&key, m.plaintext.as_bytes()),
            m.ciphertext
        );
        // Decrypting the vector gives the plaintext, and it parses as metadata.
        let plain = crate::metadata::decrypt_raw(&key, &m.ciphertext).unwrap();
        assert_eq!(plain, m.plaintext.as_bytes());
        let parsed = Metadata::decrypt(&key, &m.ciphertext).unwrap();
        let original: serde_json::Value = serde_json::from_str(&m.plaintext).unwrap();
        assert_eq!(parsed.name, original["name"].as_str().unwrap());
        assert_eq!(parsed.size, original["size"].as_u64().unwrap());
    }
}

#[test]
fn ece_ciphertexts_match_both_ways() {
    let v = vectors();
    let sizes: Vec<usize> = v.ece.iter().map(|e| e.plaintext_len).collect();
    assert_eq!(
        sizes,
        [0, 1, 65518, 65519, 65520, 131038, 131039, 200000],
        "the vector file covers the record boundaries"
    );
    for e in &v.ece {
        assert_eq!(e.rs, 65536);
        let secret = Secret::parse(&e.secret).unwrap();
        let expected = base64::engine::general_purpose::STANDARD
            .decode(&e.ciphertext)
            .unwrap();
        let plain = pattern(e.plaintext_len);
        let ours = encrypt(&secret, salt(&e.salt), &plain);
        assert!(
            ours == expected,
            "encryption of {} bytes differs",
            plain.len()
        );
        assert_eq!(
            encrypted_size(plain.len() as u64),
            Some(expected.len() as u64)
        );
        assert_eq!(
            plaintext_size(expected.len() as u64),
            Some(plain.len() as u64)
        );
        for step in [1usize << 20, 65536, 65537, 4093] {
            let back = decrypt_in_steps(&secret, &expected, step).unwrap();
            assert!(back == plain, "decryption of {} bytes differs", plain.len());
        }
    }
}

#[test]
fn password_keys_match() {
    let v = vectors();
    assert!(v.password.len() >= 3);
    for p in &v.password {
        let link = ShareLink::parse(&p.url).unwrap();
        assert_eq!(*link.password_salt(), p.url, "the link is canonical");
        let key = password_auth_key(&p.password, &link.password_salt());
        assert_eq!(key.to_base64url(), p.auth_key);
    }
}

#[test]
fn hmac_signatures_match_both_ways() {
    let v = vectors();
    assert!(v.hmac.len() >= 3);
    for h in &v.hmac {
        let key_bytes: [u8; 64] = b64u::decode_lenient(&h.auth_key)
            .unwrap()
            .try_into()
            .unwrap();
        let nonce = b64u::decode_lenient(&h.nonce).unwrap();
        let key = AuthKey::from_bytes(key_bytes);
        assert_eq!(key.sign(&nonce), h.signature);
        let header = auth::format_header(&h.signature);
        let sig = auth::parse_header(&header).unwrap();
        assert!(auth::verify_signature(&key_bytes, &nonce, &sig));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!auth::verify_signature(&key_bytes, &nonce, &bad));
    }
}
