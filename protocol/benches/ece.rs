//! Streaming RFC 8188 encryption and decryption of 64 MiB beside raw AES-128-GCM of the
//! same crate on the same buffers: the difference is what the framing costs.
//!
//! `cargo bench -p sealdrop-protocol --bench ece`

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealdrop_protocol::ece::{CHUNK_SIZE, RECORD_SIZE, TAG_LEN};
use sealdrop_protocol::{Decryptor, Encryptor, Secret};

const SIZE: usize = 64 << 20;

fn bench(c: &mut Criterion) {
    let secret = Secret::from_bytes([7; 16]);
    let plain: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let mut cipher_text = Vec::with_capacity(SIZE + SIZE / 1000 + 64);
    let mut enc = Encryptor::new(&secret).unwrap();
    enc.update(&plain, &mut cipher_text).unwrap();
    enc.finish(&mut cipher_text).unwrap();

    let mut group = c.benchmark_group("64MiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);

    let mut out = Vec::with_capacity(cipher_text.len());
    group.bench_function("ece_encrypt", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = Encryptor::new(&secret).unwrap();
            // Fed in 1 MiB pieces, as a reader adapter would.
            for piece in plain.chunks(1 << 20) {
                enc.update(piece, &mut out).unwrap();
            }
            enc.finish(&mut out).unwrap();
            out.len()
        })
    });
    group.bench_function("ece_decrypt", |b| {
        b.iter(|| {
            out.clear();
            let mut dec = Decryptor::new(&secret);
            for piece in cipher_text.chunks(1 << 20) {
                dec.update(piece, &mut out).unwrap();
            }
            dec.finish(&mut out).unwrap();
            out.len()
        })
    });

    // Raw AES-128-GCM over the same bytes cut into the same record-sized messages, like
    // for like: the plaintext stays untouched and the ciphertext lands in an output buffer
    // (one copy, then in-place encryption), with no header, delimiter or tag framing.
    let aead = Aes128Gcm::new(&Array::from([9u8; 16]));
    let nonce = Array::from([3u8; 12]);
    let mut buf = plain.clone();
    let mut tags = Vec::with_capacity(SIZE / CHUNK_SIZE + 1);
    group.bench_function("raw_aes128gcm_encrypt", |b| {
        b.iter(|| {
            tags.clear();
            buf.copy_from_slice(&plain);
            for chunk in buf.chunks_mut(RECORD_SIZE - TAG_LEN) {
                tags.push(
                    aead.encrypt_inout_detached(&nonce, &[], chunk.into())
                        .unwrap(),
                );
            }
            tags.len()
        })
    });
    group.bench_function("raw_aes128gcm_decrypt", |b| {
        // The same like-for-like shape: copy the ciphertext into the output buffer, then
        // decrypt it in place.
        let mut data = plain.clone();
        let tags: Vec<_> = data
            .chunks_mut(RECORD_SIZE - TAG_LEN)
            .map(|chunk| {
                aead.encrypt_inout_detached(&nonce, &[], chunk.into())
                    .unwrap()
            })
            .collect();
        let encrypted = data.clone();
        b.iter(|| {
            data.copy_from_slice(&encrypted);
            for (chunk, tag) in data.chunks_mut(RECORD_SIZE - TAG_LEN).zip(&tags) {
                aead.decrypt_inout_detached(&nonce, &[], chunk.into(), tag)
                    .unwrap();
            }
            data.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
