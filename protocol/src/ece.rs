//! RFC 8188 `aes128gcm` content encryption as Send v3 uses it (PROTOCOL.md §4.4).
//!
//! A ciphertext is a 21-byte header (`salt ‖ rs ‖ idlen`) followed by records of exactly
//! [`RECORD_SIZE`] bytes, the last one shorter. Each record holds up to [`CHUNK_SIZE`]
//! plaintext bytes, a delimiter (`0x01`, or `0x02` on the last record) and a 16-byte tag.
//! An empty plaintext is the header alone.
//!
//! [`Encryptor`] and [`Decryptor`] are push-style: feed them bytes as they arrive, they
//! append whole records (or verified plaintext) to an output buffer, so memory is bounded
//! by one record whatever the file size. [`EceReader`] adapts either one to `std::io::Read`
//! and, with the `tokio` feature, to `tokio::io::AsyncRead`.
//!
//! Decryption fails with one opaque [`DecryptError`], whatever went wrong: wrong header,
//! bad tag, wrong or missing delimiter, truncation, reordering, trailing bytes. Padding is
//! only looked at after the tag verified, so there is no padding oracle.

use std::io;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit, Tag};

use crate::Error;
use crate::keys::Secret;

/// The record size sealdrop writes and accepts: 64 KiB, as every Send client uses.
pub const RECORD_SIZE: usize = 65536;
/// Length of the header: salt (16), record size (4), key id length (1).
pub const HEADER_LEN: usize = 21;
/// Length of the salt that starts the header.
pub const SALT_LEN: usize = 16;
/// The header after its salt, the same in every Send v3 ciphertext: the record size
/// ([`RECORD_SIZE`], 4 bytes big-endian) and an empty key id (its length, 0).
pub const HEADER_PARAMS: [u8; HEADER_LEN - SALT_LEN] = [0, 1, 0, 0, 0];
/// Length of the AES-GCM tag on every record.
pub const TAG_LEN: usize = 16;
/// Plaintext bytes per full record: the record minus tag and delimiter.
pub const CHUNK_SIZE: usize = RECORD_SIZE - TAG_LEN - 1;

const RECORD_OVERHEAD: u64 = (TAG_LEN + 1) as u64;

/// Decryption failed. Deliberately says nothing about why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed: the data is corrupt, truncated or was encrypted with another key")]
pub struct DecryptError;

impl From<DecryptError> for io::Error {
    fn from(err: DecryptError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// The exact ciphertext size of a plaintext of `plain` bytes:
/// `21 + n + 17 × ceil(n / 65519)`. `None` past 2^32 records, which cannot be encrypted.
pub fn encrypted_size(plain: u64) -> Option<u64> {
    let records = plain.div_ceil(CHUNK_SIZE as u64);
    if records > 1 << 32 {
        return None;
    }
    records
        .checked_mul(RECORD_OVERHEAD)?
        .checked_add(plain)?
        .checked_add(HEADER_LEN as u64)
}

/// The plaintext size of a well-formed ciphertext of `encrypted` bytes, the inverse of
/// [`encrypted_size`]. `None` if no plaintext encrypts to exactly that many bytes.
pub fn plaintext_size(encrypted: u64) -> Option<u64> {
    let body = encrypted.checked_sub(HEADER_LEN as u64)?;
    let full = body.checked_div(RECORD_SIZE as u64)?;
    let rest = body.checked_rem(RECORD_SIZE as u64)?;
    let plain = if rest == 0 {
        full.checked_mul(CHUNK_SIZE as u64)?
    } else {
        // A last record carries at least one plaintext byte besides delimiter and tag.
        let tail = rest.checked_sub(RECORD_OVERHEAD).filter(|t| *t > 0)?;
        full.checked_mul(CHUNK_SIZE as u64)?.checked_add(tail)?
    };
    (encrypted_size(plain) == Some(encrypted)).then_some(plain)
}

/// The per-record state shared by both directions: cipher, nonce base, record counter.
pub(crate) struct RecordCipher {
    cipher: Aes128Gcm,
    nonce_base: [u8; 12],
    /// Index of the next record. RFC 8188 and both Send clients stop at 2^32 records.
    pub(crate) counter: u32,
    /// Set once the counter has used its last value.
    exhausted: bool,
}

impl RecordCipher {
    pub(crate) fn new(secret: &Secret, salt: &[u8; 16]) -> Self {
        let keys = secret.content_keys(salt);
        Self {
            cipher: Aes128Gcm::new(&Array::from(*keys.key())),
            nonce_base: *keys.nonce_base(),
            counter: 0,
            exhausted: false,
        }
    }

    /// The nonce of the next record, advancing the counter; `None` once it overflowed.
    pub(crate) fn next_nonce(&mut self) -> Option<Array<u8, aes_gcm::aead::consts::U12>> {
        if self.exhausted {
            return None;
        }
        let mut nonce = self.nonce_base;
        for (n, c) in nonce[8..].iter_mut().zip(self.counter.to_be_bytes()) {
            *n ^= c;
        }
        match self.counter.checked_add(1) {
            Some(next) => self.counter = next,
            None => self.exhausted = true,
        }
        Some(Array::from(nonce))
    }

    /// Encrypts `chunk` as one record appended to `out`.
    pub(crate) fn seal(
        &mut self,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let nonce = self.next_nonce().ok_or(Error::TooLarge)?;
        let start = out.len();
        out.extend_from_slice(chunk);
        out.push(if last { 2 } else { 1 });
        let body = out.get_mut(start..).ok_or(Error::TooLarge)?;
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce, &[], body.into())
            .map_err(|_| Error::TooLarge)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Decrypts one record and appends its plaintext to `out`; `out` is unchanged on error.
    fn open(&mut self, record: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), DecryptError> {
        self.open_split(record, &[], last, out)
    }

    /// Decrypts one record given in two consecutive pieces (`head ‖ tail`), copying each
    /// byte once, straight into `out`; `out` is unchanged on error.
    fn open_split(
        &mut self,
        head: &[u8],
        tail: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let nonce = self.next_nonce().ok_or(DecryptError)?;
        let total = head.len().checked_add(tail.len()).ok_or(DecryptError)?;
        let body_len = total.checked_sub(TAG_LEN).ok_or(DecryptError)?;
        let from_head = head.len().min(body_len);
        let from_tail = body_len.saturating_sub(from_head);
        let (head_body, head_tag) = head.split_at_checked(from_head).ok_or(DecryptError)?;
        let (tail_body, tail_tag) = tail.split_at_checked(from_tail).ok_or(DecryptError)?;
        let mut tag = [0u8; TAG_LEN];
        let (t1, t2) = tag
            .split_at_mut_checked(head_tag.len())
            .ok_or(DecryptError)?;
        t1.copy_from_slice(head_tag);
        if t2.len() != tail_tag.len() {
            return Err(DecryptError);
        }
        t2.copy_from_slice(tail_tag);
        let tag = Tag::<aes_gcm::aead::consts::U16>::from(tag);
        let start = out.len();
        let result = if tail_body.is_empty() {
            // The common case, a record in one piece: decrypt straight from the input into
            // `out`, without copying the ciphertext first.
            out.resize(start.saturating_add(head_body.len()), 0);
            match out.get_mut(start..) {
                Some(buf) => aes_gcm::aead::inout::InOutBuf::new(head_body, buf)
                    .map_err(|_| DecryptError)
                    .and_then(|io| {
                        self.cipher
                            .decrypt_inout_detached(&nonce, &[], io, &tag)
                            .map_err(|_| DecryptError)
                    })
                    .and_then(|()| unpad(buf, last)),
                None => Err(DecryptError),
            }
        } else {
            out.extend_from_slice(head_body);
            out.extend_from_slice(tail_body);
            match out.get_mut(start..) {
                Some(buf) => self
                    .cipher
                    .decrypt_inout_detached(&nonce, &[], buf.into(), &tag)
                    .map_err(|_| DecryptError)
                    .and_then(|()| unpad(buf, last)),
                None => Err(DecryptError),
            }
        };
        match result {
            Ok(len) => {
                out.truncate(start.saturating_add(len));
                Ok(())
            }
            Err(err) => {
                out.truncate(start);
                Err(err)
            }
        }
    }
}

/// Finds the delimiter after optional zero padding; returns the plaintext length.
fn unpad(record: &[u8], last: bool) -> Result<usize, DecryptError> {
    let pos = record.iter().rposition(|b| *b != 0).ok_or(DecryptError)?;
    let expected = if last { 2 } else { 1 };
    match record.get(pos) {
        Some(d) if *d == expected => Ok(pos),
        _ => Err(DecryptError),
    }
}

/// Streaming RFC 8188 encoder with 64 KiB records.
///
/// Call [`update`](Self::update) with plaintext as it comes and [`finish`](Self::finish)
/// at the end; the header and records are appended to the output buffer. Memory is one
/// chunk of pending plaintext.
pub struct Encryptor {
    pub(crate) records: RecordCipher,
    header: Option<[u8; HEADER_LEN]>,
    /// Plaintext not yet sealed: up to one chunk, held back until we know whether more
    /// follows, because the last record is marked differently.
    pending: Vec<u8>,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor").finish_non_exhaustive()
    }
}

impl Encryptor {
    /// An encoder for `secret` with a fresh random salt.
    pub fn new(secret: &Secret) -> Result<Self, Error> {
        Ok(Self::with_salt(secret, crate::random_bytes()?))
    }

    /// An encoder with a chosen salt. Only for known-answer tests: reusing a salt with
    /// the same secret reuses keys and nonces and breaks confidentiality.
    #[cfg(test)]
    pub(crate) fn with_fixed_salt(secret: &Secret, salt: [u8; 16]) -> Self {
        Self::with_salt(secret, salt)
    }

    fn with_salt(secret: &Secret, salt: [u8; 16]) -> Self {
        let mut header = [0u8; HEADER_LEN];
        let (s, rest) = header.split_at_mut(SALT_LEN);
        s.copy_from_slice(&salt);
        rest.copy_from_slice(&HEADER_PARAMS);
        Self {
            records: RecordCipher::new(secret, &salt),
            header: Some(header),
            pending: Vec::with_capacity(CHUNK_SIZE),
        }
    }

    fn emit_header(&mut self, out: &mut Vec<u8>) {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
    }

    /// Encrypts `input`, appending the header (on the first call) and every record that is
    /// now complete to `out`. Fails only past 2^32 records (256 TiB).
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.emit_header(out);
        if input.is_empty() {
            return Ok(());
        }
        if !self.pending.is_empty() {
            let room = CHUNK_SIZE.saturating_sub(self.pending.len());
            let (head, rest) = input.split_at(room.min(input.len()));
            self.pending.extend_from_slice(head);
            input = rest;
            if input.is_empty() {
                return Ok(());
            }
            // A full chunk with more data behind it: a non-last record.
            let pending = std::mem::take(&mut self.pending);
            let sealed = self.records.seal(&pending, false, out);
            self.pending = pending;
            self.pending.clear();
            sealed?;
        }
        while let Some((chunk, rest)) = input.split_at_checked(CHUNK_SIZE) {
            if rest.is_empty() {
                break;
            }
            self.records.seal(chunk, false, out)?;
            input = rest;
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Seals the last record. After this the ciphertext in `out` is complete.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.emit_header(out);
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.records.seal(&pending, true, out)
    }
}

/// Streaming RFC 8188 decoder that accepts only Send's parameters (`rs = 65536`, no key id).
///
/// Each record is authenticated before its plaintext is appended to the output, but only a
/// successful [`finish`](Self::finish) proves the stream was not truncated: write output
/// to a temporary place until then. After an error every further call fails too.
pub struct Decryptor {
    secret: Secret,
    header: Vec<u8>,
    pub(crate) records: Option<RecordCipher>,
    /// Ciphertext of the current record, up to [`RECORD_SIZE`] bytes.
    pending: Vec<u8>,
    failed: bool,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor").finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A decoder for ciphertexts made with `secret`.
    pub fn new(secret: &Secret) -> Self {
        Self {
            secret: secret.clone(),
            header: Vec::with_capacity(HEADER_LEN),
            records: None,
            pending: Vec::new(),
            failed: false,
        }
    }

    /// Decrypts `input`, appending the plaintext of every record that is now complete
    /// and verified to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecryptError> {
        if self.failed {
            return Err(DecryptError);
        }
        let result = self.update_inner(input, out);
        self.failed = result.is_err();
        result
    }

    fn update_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecryptError> {
        if self.records.is_none() {
            let want = HEADER_LEN.saturating_sub(self.header.len());
            let (head, rest) = input.split_at(want.min(input.len()));
            self.header.extend_from_slice(head);
            input = rest;
            if self.header.len() < HEADER_LEN {
                return Ok(());
            }
            self.records = Some(self.parse_header()?);
            self.pending.reserve_exact(RECORD_SIZE);
        }
        let records = self.records.as_mut().ok_or(DecryptError)?;
        if input.is_empty() {
            return Ok(());
        }
        if !self.pending.is_empty() {
            let room = RECORD_SIZE.saturating_sub(self.pending.len());
            let Some((head, rest)) = input.split_at_checked(room).filter(|(_, r)| !r.is_empty())
            else {
                // The record is not complete, or nothing follows it yet: it may be the last.
                self.pending.extend_from_slice(input);
                return Ok(());
            };
            // A whole record with more data behind it: a non-last record.
            records.open_split(&self.pending, head, false, out)?;
            self.pending.clear();
            input = rest;
        }
        while let Some((record, rest)) = input.split_at_checked(RECORD_SIZE) {
            if rest.is_empty() {
                break;
            }
            records.open(record, false, out)?;
            input = rest;
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    fn parse_header(&self) -> Result<RecordCipher, DecryptError> {
        let (salt, params) = self.header.split_at_checked(SALT_LEN).ok_or(DecryptError)?;
        if params != HEADER_PARAMS {
            return Err(DecryptError);
        }
        let salt = <[u8; 16]>::try_from(salt).map_err(|_| DecryptError)?;
        Ok(RecordCipher::new(&self.secret, &salt))
    }

    /// Verifies and decrypts the last record. Only after this returns `Ok` is the
    /// plaintext known to be complete.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), DecryptError> {
        if self.failed {
            return Err(DecryptError);
        }
        let records = self.records.as_mut().ok_or(DecryptError)?;
        if self.pending.is_empty() {
            // The header alone is the encoding of an empty file; any record before
            // would have left its successor pending.
            return if records.counter == 0 && !records.exhausted {
                Ok(())
            } else {
                Err(DecryptError)
            };
        }
        records.open(&self.pending, true, out)
    }
}

/// A streaming transform: [`Encryptor`] or [`Decryptor`] behind one interface, so the
/// reader adapters are written once.
pub trait Transform {
    /// Transforms `input`, appending output to `out`.
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()>;
    /// Ends the stream, appending the final output to `out`.
    fn finish(self, out: &mut Vec<u8>) -> io::Result<()>;
    /// The error a reader repeats on every read after the transform failed once.
    fn failed() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, "the stream failed earlier")
    }
}

impl Transform for Encryptor {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        Encryptor::update(self, input, out).map_err(io::Error::other)
    }
    fn finish(self, out: &mut Vec<u8>) -> io::Result<()> {
        Encryptor::finish(self, out).map_err(io::Error::other)
    }
    fn failed() -> io::Error {
        io::Error::other(Error::TooLarge)
    }
}

impl Transform for Decryptor {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        Ok(Decryptor::update(self, input, out)?)
    }
    fn finish(self, out: &mut Vec<u8>) -> io::Result<()> {
        Ok(Decryptor::finish(self, out)?)
    }
    fn failed() -> io::Error {
        DecryptError.into()
    }
}

/// Size of the reads from the inner reader: one record.
const READ_SIZE: usize = RECORD_SIZE;

/// Wraps a reader and yields its bytes encrypted or decrypted, in bounded memory.
///
/// Implements `std::io::Read` when the inner reader does, and `tokio::io::AsyncRead`
/// (feature `tokio`) when the inner reader does. A decryption failure, including
/// truncation, is an `io::ErrorKind::InvalidData` error wrapping [`DecryptError`]; once
/// the transform failed, every further read fails the same way (never more output, never
/// a clean end of file). Errors of the inner reader are passed on as they are.
pub struct EceReader<R, T> {
    inner: R,
    transform: Option<T>,
    input: Box<[u8]>,
    output: Vec<u8>,
    output_pos: usize,
    /// Set when the transform failed: the stream is over, and only with errors.
    failed: bool,
}

impl<R, T> std::fmt::Debug for EceReader<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EceReader").finish_non_exhaustive()
    }
}

impl<R> EceReader<R, Encryptor> {
    /// Encrypts everything `inner` yields with `secret` (fresh random salt).
    pub fn encrypt(inner: R, secret: &Secret) -> Result<Self, Error> {
        Ok(Self::new(inner, Encryptor::new(secret)?))
    }
}

impl<R> EceReader<R, Decryptor> {
    /// Decrypts everything `inner` yields with `secret`.
    pub fn decrypt(inner: R, secret: &Secret) -> Self {
        Self::new(inner, Decryptor::new(secret))
    }
}

impl<R, T: Transform> EceReader<R, T> {
    /// Wraps `inner` with any transform.
    pub fn new(inner: R, transform: T) -> Self {
        Self {
            inner,
            transform: Some(transform),
            input: vec![0u8; READ_SIZE].into_boxed_slice(),
            output: Vec::with_capacity(RECORD_SIZE.saturating_mul(2)),
            output_pos: 0,
            failed: false,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Copies buffered output into `buf`; `None` when there is nothing buffered.
    fn drain(&mut self, buf: &mut [u8]) -> Option<usize> {
        let avail = self.output.get(self.output_pos..).unwrap_or_default();
        if avail.is_empty() {
            if self.transform.is_none() {
                return Some(0);
            }
            return None;
        }
        let n = avail.len().min(buf.len());
        buf.get_mut(..n)?.copy_from_slice(avail.get(..n)?);
        self.output_pos = self.output_pos.saturating_add(n);
        Some(n)
    }

    /// Feeds `n` bytes just read from the inner reader (0 = end of input). After an error
    /// the reader is failed for good, and whatever output the failing call produced is
    /// dropped.
    fn feed(&mut self, n: usize) -> io::Result<()> {
        self.output.clear();
        self.output_pos = 0;
        let input = self.input.get(..n).unwrap_or_default();
        let result = if n == 0 {
            match self.transform.take() {
                Some(t) => t.finish(&mut self.output),
                None => Ok(()),
            }
        } else {
            match self.transform.as_mut() {
                Some(t) => t.update(input, &mut self.output),
                None => Ok(()),
            }
        };
        if result.is_err() {
            self.failed = true;
            self.output.clear();
        }
        result
    }
}

impl<R: io::Read, T: Transform> io::Read for EceReader<R, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(T::failed());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(n) = self.drain(buf) {
                return Ok(n);
            }
            let n = loop {
                match self.inner.read(&mut self.input) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.feed(n)?;
        }
    }
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin, T: Transform + Unpin> tokio::io::AsyncRead
    for EceReader<R, T>
{
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(T::failed()));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if let Some(n) = this.drain(buf.initialize_unfilled()) {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            let mut read_buf = tokio::io::ReadBuf::new(&mut this.input);
            match std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut read_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let n = read_buf.filled().len();
            this.feed(n)?;
        }
    }
}
