//! The protocol crate's tests: known-answer vectors from an independent implementation
//! (`tests/vectors/generate.py`), every decoder rejection, and property tests.

mod adapters;
mod names;
mod properties;
mod rejections;
mod vectors;

use crate::{Decryptor, Encryptor, Secret};

/// The plaintext rule of the vectors: byte i is (i * 31 + 7) mod 251.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

pub(crate) fn secret(byte: u8) -> Secret {
    Secret::from_bytes([byte; 16])
}

/// Encrypts `plain` in one go with a fixed salt.
pub(crate) fn encrypt(secret: &Secret, salt: [u8; 16], plain: &[u8]) -> Vec<u8> {
    let mut enc = Encryptor::with_fixed_salt(secret, salt);
    let mut out = Vec::new();
    enc.update(plain, &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    out
}

/// Encrypts `plain` fed in pieces of `step` bytes.
pub(crate) fn encrypt_in_steps(secret: &Secret, plain: &[u8], step: usize) -> Vec<u8> {
    let mut enc = Encryptor::new(secret).unwrap();
    let mut out = Vec::new();
    for piece in plain.chunks(step.max(1)) {
        enc.update(piece, &mut out).unwrap();
    }
    enc.finish(&mut out).unwrap();
    out
}

/// Decrypts `cipher` fed in pieces of `step` bytes.
pub(crate) fn decrypt_in_steps(
    secret: &Secret,
    cipher: &[u8],
    step: usize,
) -> Result<Vec<u8>, crate::DecryptError> {
    let mut dec = Decryptor::new(secret);
    let mut out = Vec::new();
    for piece in cipher.chunks(step.max(1)) {
        dec.update(piece, &mut out)?;
    }
    dec.finish(&mut out)?;
    Ok(out)
}
