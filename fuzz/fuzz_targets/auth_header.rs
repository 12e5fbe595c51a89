//! `Authorization` headers (`sealdrop_protocol::auth`) on hostile input.
//!
//! The whole input, as text, is an `Authorization` value for both parsers:
//!
//! - `parse_header` (`send-v1 <signature>`): never panics; what it accepts is non-empty,
//!   came with the `send-v1` scheme, and formats back (either base64 alphabet) to a header
//!   that parses to the same bytes.
//! - `UploadCredentials::parse` (`Basic`, `Bearer`): never panics; what it accepts comes
//!   back unchanged from `to_header()` and `parse`, and a bearer token is a valid token.
//!
//! The same bytes, decoded with `arbitrary`, also build values the other way round: a
//! signature of an auth key over a nonce goes through a header and verifies (and fails with
//! one bit changed), and credentials built from parts (a user without `:`) round-trip.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sealdrop_protocol::auth::{
    self, SCHEME, UploadCredentials, b64u, format_header, parse_header, valid_token,
    verify_signature,
};
use sealdrop_protocol::keys::AuthKey;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    send_v1(&text);
    upload_credentials(&text);
    if let Ok(built) = Built::arbitrary_take_rest(Unstructured::new(data)) {
        built.check();
    }
});

fn send_v1(text: &str) {
    let Ok(bytes) = parse_header(text) else {
        return;
    };
    assert!(!bytes.is_empty());
    let scheme = text.trim().get(..SCHEME.len()).unwrap_or_default();
    assert!(
        scheme.eq_ignore_ascii_case(SCHEME),
        "{text:?} parsed without the scheme"
    );
    for token in [b64u::encode(&bytes), b64u::encode_standard(&bytes)] {
        assert_eq!(
            parse_header(&format_header(&token)).as_deref(),
            Ok(&bytes[..])
        );
    }
}

/// The shape of credentials for a failure message (they have no `Debug`, on purpose).
fn describe(credentials: &UploadCredentials) -> String {
    match credentials {
        UploadCredentials::Basic { user, password } => {
            format!(
                "Basic (user {} bytes, password {} bytes)",
                user.len(),
                password.len()
            )
        }
        UploadCredentials::Bearer(token) => format!("Bearer ({} bytes)", token.len()),
    }
}

fn upload_credentials(text: &str) {
    let Some(credentials) = UploadCredentials::parse(text) else {
        return;
    };
    match &credentials {
        UploadCredentials::Basic { user, .. } => assert!(!user.contains(':')),
        UploadCredentials::Bearer(token) => assert!(valid_token(token)),
    }
    let header = credentials.to_header();
    match UploadCredentials::parse(&header) {
        Some(again) => assert!(
            again == credentials,
            "{:?} came back as {:?}",
            describe(&credentials),
            describe(&again)
        ),
        None => panic!(
            "{:?} parsed, but its header ({} bytes) does not",
            describe(&credentials),
            header.len()
        ),
    }
}

/// Values built from parts.
#[derive(Debug, Arbitrary)]
struct Built {
    auth_key: [u8; 32],
    nonce: Vec<u8>,
    flip: (u8, u8),
    user: String,
    password: String,
    token: String,
}

impl Built {
    fn check(&self) {
        // A signature travels as `send-v1 <base64url>` and verifies; one bit off does not.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.auth_key);
        key[32..].copy_from_slice(&self.auth_key);
        let key = AuthKey::from_bytes(key);
        let header = auth::format_header(&key.sign(&self.nonce));
        let mut signature = parse_header(&header).expect("our own signature parses");
        assert!(verify_signature(key.as_bytes(), &self.nonce, &signature));
        let (at, bit) = self.flip;
        let at = usize::from(at) % signature.len();
        signature[at] ^= 1 << (bit % 8);
        assert!(!verify_signature(key.as_bytes(), &self.nonce, &signature));
        signature.pop();
        assert!(!verify_signature(key.as_bytes(), &self.nonce, &signature));

        // Credentials from parts: a user name never holds ':' (RFC 7617).
        if !self.user.contains(':') {
            let basic = UploadCredentials::Basic {
                user: self.user.clone(),
                password: self.password.clone(),
            };
            if let Some(again) = UploadCredentials::parse(&basic.to_header()) {
                assert!(again == basic, "Basic credentials changed in a round trip");
            } else {
                // Refused only for its size (over the 8 KiB a parser looks at).
                assert!(basic.to_header().len() > 8192, "Basic credentials refused");
            }
        }
        if valid_token(&self.token) {
            let bearer = UploadCredentials::Bearer(self.token.clone());
            assert!(UploadCredentials::parse(&bearer.to_header()) == Some(bearer));
        }
    }
}
