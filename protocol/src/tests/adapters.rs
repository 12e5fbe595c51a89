//! The `Read` and `AsyncRead` adapters stream in both directions in bounded pieces.

use std::io::Read;

use super::{pattern, secret};
use crate::ece::{EceReader, encrypted_size};

/// A reader that returns at most `step` bytes per call, like a slow socket.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn sync_readers_round_trip() {
    let s = secret(21);
    for len in [0usize, 1, 65519, 65520, 300_001] {
        let plain = pattern(len);
        for step in [1usize, 1000, 1 << 20] {
            if step == 1 && len > 70_000 {
                continue;
            }
            let mut enc = EceReader::encrypt(Trickle { data: &plain, step }, &s).unwrap();
            let mut c = Vec::new();
            enc.read_to_end(&mut c).unwrap();
            assert_eq!(c.len() as u64, encrypted_size(len as u64).unwrap());
            let mut dec = EceReader::decrypt(Trickle { data: &c, step }, &s);
            let mut back = Vec::new();
            dec.read_to_end(&mut back).unwrap();
            assert!(back == plain);
        }
    }
}

#[test]
fn sync_reader_reports_corruption_as_invalid_data() {
    let s = secret(22);
    let plain = pattern(100_000);
    let mut c = Vec::new();
    EceReader::encrypt(&plain[..], &s)
        .unwrap()
        .read_to_end(&mut c)
        .unwrap();
    c.truncate(c.len() - 1);
    let err = EceReader::decrypt(&c[..], &s)
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.get_ref().unwrap().is::<crate::DecryptError>());
}

#[cfg(feature = "tokio")]
#[test]
fn async_readers_round_trip() {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = secret(23);
        for len in [0usize, 1, 65519, 131039, 200_000] {
            let plain = pattern(len);
            let mut c = Vec::new();
            let mut enc = EceReader::encrypt(&plain[..], &s).unwrap();
            AsyncReadExt::read_to_end(&mut enc, &mut c).await.unwrap();
            let mut back = Vec::new();
            let mut dec = EceReader::decrypt(&c[..], &s);
            AsyncReadExt::read_to_end(&mut dec, &mut back)
                .await
                .unwrap();
            assert!(back == plain);
        }
    });
}
