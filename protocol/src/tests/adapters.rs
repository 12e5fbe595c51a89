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

/// The ciphertext of `len` pattern bytes, through the reader.
fn encrypted(len: usize) -> (crate::Secret, Vec<u8>) {
    let s = secret(24);
    let mut c = Vec::new();
    EceReader::encrypt(&pattern(len)[..], &s)
        .unwrap()
        .read_to_end(&mut c)
        .unwrap();
    (s, c)
}

/// Found by the `ece_decrypt` fuzz target: a stream whose last record failed (here: it was
/// cut short) reported the error once, and the next read a clean end of file, as if the
/// whole file had arrived.
#[test]
fn sync_reader_never_reports_end_of_file_after_a_failed_last_record() {
    let (s, mut c) = encrypted(100_000);
    c.truncate(c.len() - 1);
    // Plaintext corrupt in its first record (fails in `update`), and cut short at the end
    // (fails in `finish`).
    let mut bad_tag = encrypted(100_000).1;
    bad_tag[30] ^= 1;
    for (what, ciphertext) in [("truncated", &c), ("bad tag", &bad_tag)] {
        for step in [1000, 1 << 20] {
            let mut reader = EceReader::decrypt(
                Trickle {
                    data: ciphertext,
                    step,
                },
                &s,
            );
            let mut out = Vec::new();
            let err = reader.read_to_end(&mut out).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{what}");
            for _ in 0..3 {
                let again = reader.read(&mut [0u8; 100]).unwrap_err();
                assert_eq!(again.kind(), std::io::ErrorKind::InvalidData, "{what}");
                assert!(again.get_ref().unwrap().is::<crate::DecryptError>());
            }
            let mut more = Vec::new();
            assert!(reader.read_to_end(&mut more).is_err() && more.is_empty());
        }
    }
}

#[cfg(feature = "tokio")]
#[test]
fn async_reader_never_reports_end_of_file_after_a_failed_last_record() {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (s, mut c) = encrypted(70_000);
        c.truncate(c.len() - 1);
        let mut reader = EceReader::decrypt(&c[..], &s);
        let mut out = Vec::new();
        let err = AsyncReadExt::read_to_end(&mut reader, &mut out)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        for _ in 0..3 {
            let again = AsyncReadExt::read(&mut reader, &mut [0u8; 100])
                .await
                .unwrap_err();
            assert_eq!(again.kind(), std::io::ErrorKind::InvalidData);
        }
    });
}
