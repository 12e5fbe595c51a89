//! Property tests: round trips at random sizes and feeding patterns, and every tampering
//! fails without a panic.

use proptest::prelude::*;

use super::{decrypt_in_steps, encrypt_in_steps, pattern, secret};
use crate::DecryptError;
use crate::ece::{CHUNK_SIZE, HEADER_LEN, RECORD_SIZE, encrypted_size, plaintext_size};

/// Sizes that favour the record boundaries.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..300,
        (1usize..4).prop_flat_map(|k| (k * CHUNK_SIZE - 3)..(k * CHUNK_SIZE + 3)),
        0usize..(3 * CHUNK_SIZE + 500),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(len in size(), enc_step in 1usize..200_000, dec_step in 1usize..200_000, key in any::<u8>()) {
        let s = secret(key);
        let plain = pattern(len);
        let c = encrypt_in_steps(&s, &plain, enc_step);
        prop_assert_eq!(c.len() as u64, encrypted_size(len as u64).unwrap());
        prop_assert_eq!(plaintext_size(c.len() as u64), Some(len as u64));
        let back = decrypt_in_steps(&s, &c, dec_step).unwrap();
        prop_assert!(back == plain);
    }

    #[test]
    fn any_bit_flip_fails(len in 1usize..(2 * CHUNK_SIZE + 100), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let s = secret(11);
        let mut c = encrypt_in_steps(&s, &pattern(len), 1 << 20);
        let i = pos.index(c.len());
        c[i] ^= 1 << bit;
        prop_assert_eq!(decrypt_in_steps(&s, &c, 1 << 20), Err(DecryptError));
    }

    #[test]
    fn any_truncation_fails(len in 1usize..(3 * CHUNK_SIZE), cut in any::<prop::sample::Index>()) {
        let s = secret(12);
        let c = encrypt_in_steps(&s, &pattern(len), 1 << 20);
        let cut = cut.index(c.len());
        prop_assert_eq!(decrypt_in_steps(&s, &c[..cut], 7919), Err(DecryptError));
    }

    #[test]
    fn swapping_two_records_fails(records in 2usize..5, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), tail in 1usize..CHUNK_SIZE) {
        let s = secret(13);
        let len = (records - 1) * CHUNK_SIZE + tail;
        let c = encrypt_in_steps(&s, &pattern(len), 1 << 20);
        let (a, b) = (a.index(records - 1), b.index(records - 1));
        prop_assume!(a != b);
        let body: Vec<&[u8]> = c[HEADER_LEN..].chunks(RECORD_SIZE).collect();
        let mut order: Vec<usize> = (0..body.len()).collect();
        order.swap(a, b);
        let mut t = c[..HEADER_LEN].to_vec();
        for i in order {
            t.extend_from_slice(body[i]);
        }
        prop_assert_eq!(decrypt_in_steps(&s, &t, 1 << 20), Err(DecryptError));
    }

    #[test]
    fn appended_bytes_fail(len in 0usize..(2 * CHUNK_SIZE + 100), extra in prop::collection::vec(any::<u8>(), 1..100)) {
        let s = secret(14);
        let mut c = encrypt_in_steps(&s, &pattern(len), 1 << 20);
        c.extend_from_slice(&extra);
        prop_assert_eq!(decrypt_in_steps(&s, &c, 1 << 20), Err(DecryptError));
    }

    #[test]
    fn arbitrary_input_never_panics(data in prop::collection::vec(any::<u8>(), 0..2000), key in any::<u8>()) {
        let s = secret(key);
        prop_assert!(decrypt_in_steps(&s, &data, 13).is_err() || data.len() == HEADER_LEN);
        let text = String::from_utf8_lossy(&data);
        let _ = crate::link::ShareLink::parse(&text);
        let _ = crate::auth::parse_header(&text);
        let _ = crate::Metadata::decrypt(&s.metadata_key(), &text);
        let _ = crate::Secret::parse(&text);
    }

    #[test]
    fn size_arithmetic_is_inverse(n in any::<u64>()) {
        if let Some(e) = encrypted_size(n) {
            prop_assert_eq!(plaintext_size(e), Some(n));
        }
        if let Some(p) = plaintext_size(n) {
            prop_assert_eq!(encrypted_size(p), Some(n));
        }
    }
}
