//! The RFC 8188 `aes128gcm` streaming decoder (`sealdrop_protocol::ece`) on hostile input.
//!
//! The first byte chooses what the rest is:
//!
//! - **even**: ciphertext from the network. Byte 1 is a count `n` (mod 8) of cut sizes,
//!   then `n` little-endian `u16` cut sizes, then the ciphertext, decrypted under a fixed
//!   key (bit 1 of the first byte picks the all-zero or the all-`0xff` secret of
//!   `tests/vectors/`). The ciphertext is fed whole, cut at those sizes (used in turn, `0`
//!   being an empty `update`), and through `EceReader` with reads of those sizes. All three
//!   must agree on the outcome and on the plaintext, which never outgrows the ciphertext;
//!   after the first error every call fails and no plaintext follows.
//! - **odd**: a round trip ([`RoundTrip`], decoded with `arbitrary`): a plaintext of up to
//!   two full chunks plus 64 KiB (up to four records), encrypted and decrypted with
//!   arbitrary cuts, gives itself back; the ciphertext has exactly the announced size. With
//!   a [`Tamper`] applied to the ciphertext (bit flip, truncation, appended bytes, records
//!   swapped, dropped or duplicated) decryption must fail, and what came out before the
//!   failure is a prefix of the plaintext. One kind of tampering is indistinguishable from a
//!   valid ciphertext by design: a header alone, whatever its salt, is Send's encoding of an
//!   empty file, so a ciphertext cut down to its header decrypts to nothing (clients compare
//!   the size with the metadata's to catch that).
#![no_main]

use std::io::Read;

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sealdrop_protocol::Secret;
use sealdrop_protocol::ece::{
    self, CHUNK_SIZE, Decryptor, EceReader, Encryptor, HEADER_LEN, RECORD_SIZE,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let secret = Secret::from_bytes([if mode & 2 == 0 { 0 } else { 0xff }; 16]);
        network_ciphertext(&secret, rest);
    } else if let Ok(input) = RoundTrip::arbitrary_take_rest(Unstructured::new(rest)) {
        input.check();
    }
});

/// What a decryption gave: the plaintext that came out, and whether it verified to the end.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    plain: Vec<u8>,
    ok: bool,
}

/// The pieces `data` arrives in: cut sizes used in turn, `0` being an empty piece. Without
/// a non-zero size, the whole input at once.
fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    if cuts.iter().all(|c| *c == 0) {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    for cut in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*cut).min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Decrypts `ciphertext` fed in `cuts`, checking that after the first error every call
/// fails and adds no plaintext, and that a failing `finish` adds none either.
fn decrypt(secret: &Secret, ciphertext: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = Decryptor::new(secret);
    let mut plain = Vec::new();
    let mut failed = false;
    for piece in pieces(ciphertext, cuts) {
        let before = plain.len();
        let result = dec.update(piece, &mut plain);
        if failed {
            assert!(result.is_err(), "update succeeded after an error");
            assert_eq!(plain.len(), before, "plaintext emitted after an error");
        }
        failed |= result.is_err();
    }
    let before = plain.len();
    let result = dec.finish(&mut plain);
    if result.is_err() {
        assert_eq!(plain.len(), before, "a failing finish emitted plaintext");
    }
    assert!(
        !(failed && result.is_ok()),
        "finish succeeded after an error"
    );
    Outcome {
        plain,
        ok: result.is_ok(),
    }
}

/// A reader that hands out `data` in pieces of the cut sizes (zero sizes skipped).
struct Pieces<'a> {
    data: &'a [u8],
    cuts: Vec<usize>,
    next: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let cut = match self.cuts.get(self.next % self.cuts.len().max(1)) {
            Some(c) => *c,
            None => usize::MAX,
        };
        self.next = self.next.wrapping_add(1);
        let n = cut.min(buf.len()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        Ok(n)
    }
}

/// Decrypts through `EceReader` with short reads; after an error, reading again fails too
/// (never more plaintext, never a clean end of file).
fn decrypt_reader(secret: &Secret, ciphertext: &[u8], cuts: &[usize]) -> Outcome {
    let cuts: Vec<usize> = cuts.iter().copied().filter(|c| *c > 0).collect();
    let inner = Pieces {
        data: ciphertext,
        cuts,
        next: 0,
    };
    let mut reader = EceReader::decrypt(inner, secret);
    let mut plain = Vec::new();
    let ok = reader.read_to_end(&mut plain).is_ok();
    if !ok {
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            match reader.read(&mut buf) {
                Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::InvalidData),
                Ok(n) => panic!("EceReader read Ok({n}) after an error"),
            }
        }
    }
    Outcome { plain, ok }
}

fn network_ciphertext(secret: &Secret, data: &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let Some((cut_bytes, ciphertext)) = rest.split_at_checked(2 * usize::from(count % 8)) else {
        return;
    };
    let cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();

    let whole = decrypt(secret, ciphertext, &[]);
    let cut = decrypt(secret, ciphertext, &cuts);
    assert_eq!(
        whole, cut,
        "the outcome depends on where the ciphertext was cut"
    );
    let read = decrypt_reader(secret, ciphertext, &cuts);
    assert_eq!(read.ok, whole.ok, "EceReader and Decryptor disagree");
    if read.ok {
        assert_eq!(read.plain, whole.plain, "EceReader and Decryptor disagree");
    } else {
        assert!(
            whole.plain.starts_with(&read.plain),
            "EceReader made up plaintext"
        );
    }

    // Every record costs a tag and a delimiter: the plaintext is always shorter.
    assert!(whole.plain.len() <= ciphertext.len().saturating_sub(HEADER_LEN));
    if whole.ok {
        // Zero padding can only make a valid ciphertext longer than the minimal encoding.
        let minimal = ece::encrypted_size(whole.plain.len() as u64).expect("small sizes fit");
        assert!(minimal <= ciphertext.len() as u64);
    }
}

/// A cut size: a number of bytes handed to one `update` call (`0`: an empty call).
#[derive(Debug, Arbitrary)]
struct Cut(u16);

/// A plaintext, its encryption and decryption with arbitrary cuts, and maybe a tampering
/// of the ciphertext in between.
#[derive(Debug, Arbitrary)]
struct RoundTrip {
    /// Whole chunks before `tail`: 0 to 2 (so up to four records).
    chunks: u8,
    /// Bytes after those chunks (so every record boundary and the exact multiples of
    /// [`CHUNK_SIZE`] are reachable).
    tail: u16,
    encrypt_cuts: Vec<Cut>,
    decrypt_cuts: Vec<Cut>,
    tamper: Option<Tamper>,
    /// The plaintext's bytes, repeated (a fixed pattern when empty).
    fill: Vec<u8>,
}

/// A change to a valid ciphertext that must make it fail to decrypt.
#[derive(Debug, Arbitrary)]
enum Tamper {
    Flip { at: u32, bit: u8 },
    Truncate { at: u32 },
    Append(Vec<u8>),
    Swap(u8, u8),
    Drop(u8),
    Duplicate(u8),
}

impl Tamper {
    fn apply(&self, ciphertext: &[u8]) -> Vec<u8> {
        let mut out = ciphertext.to_vec();
        let records: Vec<std::ops::Range<usize>> = (HEADER_LEN..ciphertext.len())
            .step_by(RECORD_SIZE)
            .map(|start| start..(start + RECORD_SIZE).min(ciphertext.len()))
            .collect();
        let record = |i: u8| records.get(usize::from(i) % records.len().max(1)).cloned();
        match self {
            Self::Flip { at, bit } => {
                let at = *at as usize % out.len();
                out[at] ^= 1 << (bit % 8);
            }
            Self::Truncate { at } => out.truncate(*at as usize % out.len()),
            Self::Append(extra) => out.extend_from_slice(extra),
            Self::Swap(a, b) => {
                if let (Some(a), Some(b)) = (record(*a), record(*b))
                    && a != b
                {
                    let (first, second) = if a.start < b.start { (a, b) } else { (b, a) };
                    out.truncate(first.start);
                    out.extend_from_slice(&ciphertext[second.clone()]);
                    out.extend_from_slice(&ciphertext[first.end..second.start]);
                    out.extend_from_slice(&ciphertext[first]);
                    out.extend_from_slice(&ciphertext[second.end..]);
                }
            }
            Self::Drop(i) => {
                if let Some(r) = record(*i) {
                    out.drain(r);
                }
            }
            Self::Duplicate(i) => {
                if let Some(r) = record(*i) {
                    let copy = ciphertext[r.clone()].to_vec();
                    out.splice(r.start..r.start, copy);
                }
            }
        }
        out
    }
}

impl RoundTrip {
    fn plaintext(&self) -> Vec<u8> {
        let len = usize::from(self.chunks % 3) * CHUNK_SIZE + usize::from(self.tail);
        if self.fill.is_empty() {
            (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
        } else {
            self.fill.iter().copied().cycle().take(len).collect()
        }
    }

    fn check(&self) {
        let secret = Secret::from_bytes(*b"sealdrop fuzzing");
        let plaintext = self.plaintext();
        // At most 16 cut sizes, none below 1/1024 of the plaintext (but 0, an empty call):
        // a pass makes at most a few thousand calls, so big plaintexts stay fast to fuzz.
        let floor = plaintext.len() / 1024;
        let cuts = |c: &[Cut]| {
            c.iter()
                .take(16)
                .map(|c| match usize::from(c.0) {
                    0 => 0,
                    n => n.max(floor),
                })
                .collect::<Vec<_>>()
        };

        let mut encryptor = Encryptor::new(&secret).expect("the system RNG works");
        let mut ciphertext = Vec::new();
        for piece in pieces(&plaintext, &cuts(&self.encrypt_cuts)) {
            encryptor
                .update(piece, &mut ciphertext)
                .expect("a small plaintext encrypts");
        }
        encryptor
            .finish(&mut ciphertext)
            .expect("a small plaintext encrypts");
        let len = plaintext.len() as u64;
        assert_eq!(Some(ciphertext.len() as u64), ece::encrypted_size(len));
        assert_eq!(ece::plaintext_size(ciphertext.len() as u64), Some(len));

        let decrypt_cuts = cuts(&self.decrypt_cuts);
        let Some(tamper) = &self.tamper else {
            let outcome = decrypt(&secret, &ciphertext, &decrypt_cuts);
            assert!(outcome.ok, "a valid ciphertext failed to decrypt");
            assert!(
                outcome.plain == plaintext,
                "the round trip changed the plaintext"
            );
            let read = decrypt_reader(&secret, &ciphertext, &decrypt_cuts);
            assert!(read.ok && read.plain == plaintext, "EceReader round trip");
            return;
        };

        let tampered = tamper.apply(&ciphertext);
        let outcome = decrypt(&secret, &tampered, &decrypt_cuts);
        assert!(
            plaintext.starts_with(&outcome.plain),
            "plaintext that was never encrypted came out of a tampered ciphertext ({tamper:?})"
        );
        if tampered == ciphertext {
            // A no-op tampering (swapping a record with itself, a record of none).
            assert!(outcome.ok && outcome.plain == plaintext);
        } else if tampered.len() == HEADER_LEN && tampered[16..] == ciphertext[16..HEADER_LEN] {
            // A header alone, whatever its salt, is Send's encoding of an empty file: the
            // ciphertext cut down to its header, or an empty file's header with a bit flipped
            // in the salt. Nothing in it is authenticated.
            assert!(outcome.ok && outcome.plain.is_empty());
        } else {
            assert!(!outcome.ok, "a tampered ciphertext decrypted ({tamper:?})");
        }
    }
}
