//! Streaming RFC 8188 encryption and decryption of 64 MiB beside raw AES-128-GCM of the
//! same crate on the same buffers, with criterion: the same functions `sealdrop-bench`
//! runs alternately in its crypto scenario.
//!
//! `cargo bench -p sealdrop-bench --bench ece`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealdrop_bench::crypto::Buffers;

const SIZE: usize = 64 << 20;

fn bench(c: &mut Criterion) {
    let mut buffers = Buffers::new(SIZE);
    let mut group = c.benchmark_group("64MiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);
    group.bench_function("ece_encrypt", |b| b.iter(|| buffers.ece_encrypt()));
    group.bench_function("ece_decrypt", |b| b.iter(|| buffers.ece_decrypt()));
    group.bench_function("raw_aes128gcm_encrypt", |b| {
        b.iter(|| buffers.raw_encrypt())
    });
    group.bench_function("raw_aes128gcm_decrypt", |b| {
        b.iter(|| buffers.raw_decrypt())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
