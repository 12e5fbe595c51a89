//! Scenario 1: the protocol crate's streaming RFC 8188 encryption and decryption beside raw
//! AES-128-GCM of the same crate on the same buffers. The difference is what the framing
//! costs (record headers, nonces per record, delimiters, the copy into the output).
//!
//! The subjects are plain functions so that the criterion bench (`benches/ece.rs`) and the
//! alternating runner of `sealdrop-bench` measure the same code.

use std::time::Instant;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit};
use sealdrop_protocol::ece::{RECORD_SIZE, TAG_LEN};
use sealdrop_protocol::{Decryptor, Encryptor, Secret};

use crate::report::{Report, Section};
use crate::stats::{Samples, mib_s};

/// The buffers every subject works on: a plaintext, its RFC 8188 ciphertext, and the raw
/// AES-GCM ciphertext of the same plaintext cut into the same record-sized messages.
pub struct Buffers {
    secret: Secret,
    plain: Vec<u8>,
    ece: Vec<u8>,
    aead: Aes128Gcm,
    raw: Vec<u8>,
    tags: Vec<aes_gcm::Tag>,
    new_tags: Vec<aes_gcm::Tag>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers")
            .field("len", &self.plain.len())
            .finish_non_exhaustive()
    }
}

impl Buffers {
    /// Buffers of `len` plaintext bytes.
    pub fn new(len: usize) -> Self {
        let secret = Secret::from_bytes([7; 16]);
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut ece = Vec::with_capacity(len + len / 1000 + 64);
        let mut enc = Encryptor::new(&secret).expect("a fixed salt is available");
        enc.update(&plain, &mut ece).expect("encrypt");
        enc.finish(&mut ece).expect("encrypt");
        let aead = Aes128Gcm::new(&Array::from([9u8; 16]));
        let mut raw = plain.clone();
        let tags = raw
            .chunks_mut(RECORD_SIZE - TAG_LEN)
            .map(|chunk| {
                aead.encrypt_inout_detached(&NONCE, &[], chunk.into())
                    .expect("encrypt")
            })
            .collect();
        Self {
            secret,
            out: Vec::with_capacity(ece.len()),
            new_tags: Vec::with_capacity(len / (RECORD_SIZE - TAG_LEN) + 1),
            plain,
            ece,
            aead,
            raw,
            tags,
        }
    }

    /// Plaintext bytes per pass.
    pub fn len(&self) -> usize {
        self.plain.len()
    }

    /// True for empty buffers.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// Streaming RFC 8188 encryption, fed in 1 MiB pieces as a reader adapter would.
    pub fn ece_encrypt(&mut self) -> usize {
        self.out.clear();
        let mut enc = Encryptor::new(&self.secret).expect("salt");
        for piece in self.plain.chunks(1 << 20) {
            enc.update(piece, &mut self.out).expect("encrypt");
        }
        enc.finish(&mut self.out).expect("encrypt");
        self.out.len()
    }

    /// Streaming RFC 8188 decryption, fed in 1 MiB pieces.
    pub fn ece_decrypt(&mut self) -> usize {
        self.out.clear();
        let mut dec = Decryptor::new(&self.secret);
        for piece in self.ece.chunks(1 << 20) {
            dec.update(piece, &mut self.out).expect("decrypt");
        }
        dec.finish(&mut self.out).expect("decrypt");
        self.out.len()
    }

    /// Raw AES-128-GCM over the same bytes, like for like: the plaintext stays untouched
    /// and the ciphertext lands in an output buffer (one copy, then in-place encryption),
    /// with no header, delimiter or per-record nonce.
    pub fn raw_encrypt(&mut self) -> usize {
        self.out.clear();
        self.out.extend_from_slice(&self.plain);
        self.new_tags.clear();
        for chunk in self.out.chunks_mut(RECORD_SIZE - TAG_LEN) {
            let tag = self
                .aead
                .encrypt_inout_detached(&NONCE, &[], chunk.into())
                .expect("encrypt");
            self.new_tags.push(tag);
        }
        self.out.len()
    }

    /// Raw AES-128-GCM decryption of the same shape: copy the ciphertext into the output
    /// buffer, then decrypt and check each record in place.
    pub fn raw_decrypt(&mut self) -> usize {
        self.out.clear();
        self.out.extend_from_slice(&self.raw);
        for (chunk, tag) in self.out.chunks_mut(RECORD_SIZE - TAG_LEN).zip(&self.tags) {
            self.aead
                .decrypt_inout_detached(&NONCE, &[], chunk.into(), tag)
                .expect("decrypt");
        }
        self.out.len()
    }
}

const NONCE: Array<u8, aes_gcm::aead::consts::U12> = Array([3u8; 12]);

/// Runs the four subjects alternately `rounds` times over `len` bytes and records the
/// table and the framing-cost target.
pub fn scenario(report: &mut Report, len: usize, rounds: usize) {
    let mut b = Buffers::new(len);
    type Subject = fn(&mut Buffers) -> usize;
    let subjects: [(&str, Subject); 4] = [
        ("sealdrop ECE encrypt", Buffers::ece_encrypt),
        ("raw AES-128-GCM encrypt", Buffers::raw_encrypt),
        ("sealdrop ECE decrypt", Buffers::ece_decrypt),
        ("raw AES-128-GCM decrypt", Buffers::raw_decrypt),
    ];
    // One untimed pass each warms the caches and the CPU's frequency.
    for (_, f) in &subjects {
        f(&mut b);
    }
    let mut rates = vec![Samples::default(); subjects.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in subjects.iter().enumerate() {
            let start = Instant::now();
            std::hint::black_box(f(&mut b));
            rates[i].push(mib_s(len as u64, start.elapsed().as_secs_f64()));
        }
    }
    let mut s = Section::new(
        "Crypto: RFC 8188 framing against raw AES-128-GCM",
        &format!(
            "{} MiB in memory, one thread, {rounds} rounds; raw AES-GCM encrypts the same \
             bytes cut into the same 65,536-byte records, into an output buffer like the ECE \
             code. Also `cargo bench -p sealdrop-bench --bench ece` (criterion, the same \
             functions).",
            len >> 20
        ),
        &["subject", "MiB/s", "cost over raw"],
    );
    let mut overheads = Vec::new();
    for (i, (name, _)) in subjects.iter().enumerate() {
        let raw = rates[i - i % 2 + 1].median();
        let cost = (raw / rates[i].median() - 1.0) * 100.0;
        if i % 2 == 0 {
            overheads.push((*name, cost));
        }
        s.row(vec![
            (*name).to_owned(),
            rates[i].show(0),
            if i % 2 == 0 {
                format!("{cost:+.1} %")
            } else {
                "—".to_owned()
            },
        ]);
    }
    report.sections.push(s);
    let worst = overheads.iter().map(|(_, c)| *c).fold(f64::MIN, f64::max);
    report.target(
        "ECE framing over raw AES-GCM",
        "≤ 10 %",
        overheads
            .iter()
            .map(|(n, c)| format!("{} {c:+.1} %", n.trim_start_matches("sealdrop ECE ")))
            .collect::<Vec<_>>()
            .join(", "),
        worst <= 10.0,
    );
}
