//! Share links (`sealdrop_protocol::link`) on hostile input: whatever a user pastes.
//!
//! The input, as text, goes to `ShareLink::parse` and `canonical_base`. Neither panics.
//! When a link parses, its canonical form parses back to the same base, id and secret and
//! is a fixed point; the URLs built for the server never carry a fragment; its base is
//! canonical; and the download page with the secret rebuilds the same link. A base that
//! canonicalises is a fixed point of `canonical_base` too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealdrop_protocol::link::{ShareLink, canonical_base};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(base) = canonical_base(&text) {
        assert_eq!(
            canonical_base(&base).as_deref(),
            Ok(base.as_str()),
            "canonical_base is not idempotent"
        );
        assert!(!base.ends_with('/') && !base.contains('#') && !base.contains('?'));
    }

    let Ok(link) = ShareLink::parse(&text) else {
        return;
    };
    let canonical = link.to_link();
    let again = ShareLink::parse(&canonical)
        .unwrap_or_else(|err| panic!("the canonical link {canonical:?} does not parse: {err}"));
    assert_eq!(
        again.base(),
        link.base(),
        "the base changed in {canonical:?}"
    );
    assert_eq!(again.id(), link.id(), "the id changed in {canonical:?}");
    assert_eq!(again.secret().as_bytes(), link.secret().as_bytes());
    assert_eq!(
        *again.to_link(),
        *canonical,
        "the canonical link is not a fixed point"
    );

    // The id is what servers and paths see: 8 to 64 ASCII letters and digits.
    let id = link.id();
    assert!((8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()));

    // Nothing built for the server carries the fragment.
    for url in [
        link.download_page(),
        link.api_url("download"),
        link.base().to_owned(),
    ] {
        assert!(!url.contains('#'), "{url:?} has a fragment");
    }
    assert_eq!(
        canonical_base(link.base()).as_deref(),
        Ok(link.base()),
        "a link's base is not canonical"
    );
    let rebuilt = ShareLink::from_download_url(&link.download_page(), link.secret().clone())
        .expect("the download page of a link is a download URL");
    assert_eq!(*rebuilt.to_link(), *canonical);
    assert_eq!(*link.password_salt(), *canonical);
});
