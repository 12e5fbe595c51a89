//! Every way a ciphertext, header, link or field can be wrong is rejected, never a panic.

use super::{decrypt_in_steps, encrypt, encrypt_in_steps, pattern, secret};
use crate::auth::{self, OwnerToken, b64u};
use crate::ece::{CHUNK_SIZE, HEADER_LEN, RECORD_SIZE, RecordCipher};
use crate::keys::MetadataKey;
use crate::link::{self, ShareLink, canonical_base};
use crate::{DecryptError, Decryptor, Encryptor, Error, Metadata, Secret};

const SALT: [u8; 16] = [7; 16];

/// A three-record ciphertext (two full records and a short last one).
fn three_records() -> (Secret, Vec<u8>) {
    let s = secret(3);
    let c = encrypt(&s, SALT, &pattern(2 * CHUNK_SIZE + 100));
    assert_eq!(c.len(), HEADER_LEN + 2 * RECORD_SIZE + 117);
    (s, c)
}

fn record(c: &[u8], i: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + i * RECORD_SIZE;
    start..(start + RECORD_SIZE).min(c.len())
}

fn rejects(s: &Secret, c: &[u8]) {
    for step in [1 << 20, 4096, 1] {
        if step == 1 && c.len() > 70_000 {
            continue;
        }
        assert_eq!(
            decrypt_in_steps(s, c, step),
            Err(DecryptError),
            "step {step}"
        );
    }
}

#[test]
fn wrong_record_size_is_rejected() {
    let (s, mut c) = three_records();
    c[19] = 0x02; // rs = 0x00020000
    rejects(&s, &c);
    let (s, mut c) = three_records();
    c[16..20].copy_from_slice(&4096u32.to_be_bytes());
    rejects(&s, &c);
}

#[test]
fn nonzero_key_id_length_is_rejected() {
    let (s, mut c) = three_records();
    c[20] = 1;
    rejects(&s, &c);
}

#[test]
fn bad_tag_is_rejected() {
    let (s, mut c) = three_records();
    let end = record(&c, 0).end;
    c[end - 1] ^= 0x80;
    rejects(&s, &c);
    let (s, mut c) = three_records();
    let last = c.len() - 1;
    c[last] ^= 1;
    rejects(&s, &c);
}

#[test]
fn wrong_key_is_rejected() {
    let (_, c) = three_records();
    rejects(&secret(4), &c);
}

#[test]
fn flipped_salt_is_rejected() {
    let (s, mut c) = three_records();
    c[0] ^= 1;
    rejects(&s, &c);
}

#[test]
fn wrong_delimiter_is_rejected() {
    // A record sealed as "last" in the middle, and a "non-last" record at the end.
    let s = secret(5);
    let mut rc = RecordCipher::new(&s, &SALT);
    let mut c = Vec::from(&encrypt(&s, SALT, &[])[..]);
    rc.seal(&pattern(CHUNK_SIZE), true, &mut c).unwrap();
    rc.seal(b"tail", true, &mut c).unwrap();
    rejects(&s, &c);

    let mut rc = RecordCipher::new(&s, &SALT);
    let mut c = Vec::from(&encrypt(&s, SALT, &[])[..]);
    rc.seal(b"only record", false, &mut c).unwrap();
    rejects(&s, &c);
}

#[test]
fn missing_delimiter_is_rejected() {
    // A record whose plaintext is all zero bytes has no delimiter at all.
    let s = secret(6);
    let keys = s.content_keys(&SALT);
    let mut rc = RecordCipher::new(&s, &SALT);
    let mut c = encrypt(&s, SALT, &[]);
    let start = c.len();
    c.extend_from_slice(&[0u8; 10]);
    let nonce = rc.next_nonce().unwrap();
    use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit};
    let cipher = Aes128Gcm::new(&aes_gcm::aead::array::Array::from(*keys.key()));
    let tag = cipher
        .encrypt_inout_detached(&nonce, &[], c[start..].as_mut().into())
        .unwrap();
    c.extend_from_slice(&tag);
    rejects(&s, &c);
}

#[test]
fn truncation_at_every_record_boundary_is_rejected() {
    let (s, c) = three_records();
    for cut in [0, 10, HEADER_LEN - 1, record(&c, 0).end, record(&c, 1).end] {
        rejects(&s, &c[..cut]);
    }
    // Truncation inside the last record too.
    rejects(&s, &c[..c.len() - 1]);
    rejects(&s, &c[..c.len() - 17]);
}

#[test]
fn reordered_and_duplicated_records_are_rejected() {
    let (s, c) = three_records();
    let (r0, r1, r2) = (record(&c, 0), record(&c, 1), record(&c, 2));
    let mut swapped = c[..HEADER_LEN].to_vec();
    swapped.extend_from_slice(&c[r1.clone()]);
    swapped.extend_from_slice(&c[r0.clone()]);
    swapped.extend_from_slice(&c[r2.clone()]);
    rejects(&s, &swapped);

    let mut dup = c[..HEADER_LEN].to_vec();
    dup.extend_from_slice(&c[r0.clone()]);
    dup.extend_from_slice(&c[r0.clone()]);
    dup.extend_from_slice(&c[r1.clone()]);
    dup.extend_from_slice(&c[r2.clone()]);
    rejects(&s, &dup);

    let mut dropped = c[..HEADER_LEN].to_vec();
    dropped.extend_from_slice(&c[r0]);
    dropped.extend_from_slice(&c[r2]);
    rejects(&s, &dropped);
}

#[test]
fn trailing_bytes_are_rejected() {
    let (s, c) = three_records();
    for extra in [&[0u8][..], &[1, 2, 3], &[0; 17], &[0; 65536]] {
        let mut t = c.clone();
        t.extend_from_slice(extra);
        rejects(&s, &t);
    }
    // After a full last record (plaintext an exact multiple of the chunk size).
    let s = secret(8);
    let mut t = encrypt(&s, SALT, &pattern(CHUNK_SIZE));
    t.push(0);
    rejects(&s, &t);
    // After an empty file's header.
    let mut t = encrypt(&s, SALT, &[]);
    t.push(0);
    rejects(&s, &t);
}

#[test]
fn counter_overflow_is_rejected() {
    // The encoder refuses a record after index 2^32 - 1.
    let s = secret(9);
    let mut enc = Encryptor::with_fixed_salt(&s, SALT);
    enc.records.counter = u32::MAX;
    let mut out = Vec::new();
    assert_eq!(
        enc.update(&pattern(3 * CHUNK_SIZE), &mut out),
        Err(Error::TooLarge)
    );

    // The decoder refuses to wrap: craft records with indices 2^32 - 1 and then 0.
    let mut rc = RecordCipher::new(&s, &SALT);
    rc.counter = u32::MAX;
    let mut c = encrypt(&s, SALT, &[]);
    rc.seal(&pattern(CHUNK_SIZE), false, &mut c).unwrap();
    let mut wrapped = RecordCipher::new(&s, &SALT);
    wrapped.seal(b"wrapped", true, &mut c).unwrap();
    let mut dec = Decryptor::new(&s);
    let mut out = Vec::new();
    dec.update(&c[..HEADER_LEN], &mut out).unwrap();
    dec.records.as_mut().unwrap().counter = u32::MAX;
    let result = dec
        .update(&c[HEADER_LEN..], &mut out)
        .and_then(|()| dec.finish(&mut out));
    assert_eq!(result, Err(DecryptError));
}

#[test]
fn decryptor_stays_failed_after_an_error() {
    let (s, mut c) = three_records();
    c[HEADER_LEN + 5] ^= 1;
    let mut dec = Decryptor::new(&s);
    let mut out = Vec::new();
    assert!(dec.update(&c, &mut out).is_err());
    assert!(out.is_empty(), "nothing unauthenticated is released");
    assert_eq!(dec.update(&[], &mut out), Err(DecryptError));
    assert_eq!(dec.finish(&mut out), Err(DecryptError));
}

#[test]
fn empty_and_header_only_inputs() {
    let s = secret(1);
    assert_eq!(decrypt_in_steps(&s, &[], 1), Err(DecryptError));
    let header_only = encrypt_in_steps(&s, &[], 1);
    assert_eq!(header_only.len(), HEADER_LEN);
    assert_eq!(decrypt_in_steps(&s, &header_only, 1), Ok(Vec::new()));
}

#[test]
fn size_arithmetic_edges() {
    use crate::ece::{encrypted_size, plaintext_size};
    assert_eq!(encrypted_size(0), Some(21));
    assert_eq!(encrypted_size(1), Some(39));
    assert_eq!(encrypted_size(65519), Some(21 + 65536));
    assert_eq!(encrypted_size(65520), Some(21 + 65536 + 18));
    assert_eq!(encrypted_size(u64::MAX), None);
    for bad in [0, 20, 22, 21 + 17, 21 + 65536 + 17, 21 + 65536 + 1] {
        assert_eq!(plaintext_size(bad), None, "{bad}");
    }
    assert_eq!(plaintext_size(u64::MAX), None);
    // 2.5 GiB, the default limit.
    let n = 2_684_354_560u64;
    assert_eq!(plaintext_size(encrypted_size(n).unwrap()), Some(n));
}

#[test]
fn secrets_and_links_reject_garbage() {
    for bad in [
        "",
        "abc",
        "!!!!",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(Secret::parse(bad).is_err(), "{bad:?}");
    }
    let ok = "https://Send.Example.com:443/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw";
    let link = ShareLink::parse(ok).unwrap();
    assert_eq!(
        *link.to_link(),
        "https://send.example.com/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw"
    );
    assert_eq!(
        link.api_url("metadata"),
        "https://send.example.com/api/metadata/0123456789abcdef"
    );
    assert!(!link.api_url("download").contains('#'));
    assert!(!link.download_page().contains("AAEC"));
    for bad in [
        "",
        "#AAECAwQFBgcICQoLDA0ODw",
        "https://x.test/download/0123456789abcdef/",
        "https://x.test/download/0123456789abcdef/#short",
        "ftp://x.test/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw",
        "https://x.test/upload/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw",
        "https://x.test/download/ab/#AAECAwQFBgcICQoLDA0ODw",
        "https://x.test/download/../#AAECAwQFBgcICQoLDA0ODw",
        "/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw",
    ] {
        assert!(ShareLink::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        canonical_base("HTTP://LocalHost:80/").unwrap(),
        "http://localhost"
    );
    assert_eq!(
        canonical_base("http://127.0.0.1:8080").unwrap(),
        "http://127.0.0.1:8080"
    );
    assert!(canonical_base("http://x.test/?q=1").is_err());
    assert!(canonical_base("x.test").is_err());
}

/// Found by the `share_link` fuzz target: slashes before `/download/` stayed at the end of
/// the base, so the API URLs built on it held `//` and the base was not canonical.
#[test]
fn share_link_base_has_no_trailing_slash_before_download() {
    for (pasted, base) in [
        (
            "https://x.test/send//download/0123456789abcdef//#AAECAwQFBgcICQoLDA0ODw",
            "https://x.test/send",
        ),
        (
            "https://x.test//download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw",
            "https://x.test",
        ),
    ] {
        let link = ShareLink::parse(pasted).unwrap();
        assert_eq!(link.base(), base);
        assert_eq!(canonical_base(link.base()).unwrap(), base);
        assert_eq!(
            link.api_url("metadata"),
            format!("{base}/api/metadata/0123456789abcdef")
        );
        assert_eq!(
            *link.to_link(),
            format!("{base}/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw")
        );
    }
}

/// Header values that carry no `send-v1` token: neither an `Authorization` nor a
/// challenge.
const NOT_SEND_V1: [&str; 6] = [
    "",
    "send-v1",
    "send-v1 ",
    "Bearer AAAA",
    "send-v1 !!!",
    "send-v1 A",
];

#[test]
fn authorization_headers_are_lenient_where_clients_differ() {
    let bytes = [0xfbu8, 0xff, 0x01, 0x02];
    for form in ["+/8BAg==", "-_8BAg", "+/8BAg", "-_8BAg=="] {
        assert_eq!(
            auth::parse_header(&format!("send-v1 {form}")).unwrap(),
            bytes
        );
        assert_eq!(b64u::decode_lenient(form).unwrap(), bytes);
    }
    assert_eq!(auth::parse_header("Send-V1 AQ").unwrap(), [1]);
    for bad in NOT_SEND_V1 {
        assert_eq!(
            auth::parse_header(bad),
            Err(Error::BadAuthorization),
            "{bad:?}"
        );
    }
    // Wrong-length signatures are simply wrong.
    assert!(!auth::verify_signature(&[1; 64], b"nonce", &[]));
    assert!(!auth::verify_signature(&[1; 64], b"nonce", &[0; 31]));
    let nonce = auth::new_nonce().unwrap();
    assert_eq!(nonce.len(), 24);
    assert!(nonce.ends_with("=="));
}

#[test]
fn challenges_format_and_parse_in_one_place() {
    let nonce = auth::new_nonce().unwrap();
    let header = auth::format_challenge(&nonce);
    assert_eq!(header, format!("send-v1 {nonce}"));
    assert_eq!(auth::parse_challenge(&header), Some(nonce.as_str()));
    // What clients and servers send differs in case, padding, alphabet and spaces.
    for (value, want) in [
        ("SEND-V1 +/8BAg==", "+/8BAg=="),
        ("send-v1 -_8BAg", "-_8BAg"),
        ("  send-v1   AAAA  ", "AAAA"),
    ] {
        assert_eq!(auth::parse_challenge(value), Some(want), "{value:?}");
    }
    for bad in NOT_SEND_V1.iter().chain(&["send-v1 AAAA BBBB"]) {
        assert_eq!(auth::parse_challenge(bad), None, "{bad:?}");
    }
}

#[test]
fn the_download_url_is_the_link_without_its_fragment() {
    let secret = Secret::from_bytes([7; 16]);
    let link = ShareLink::from_download_url(
        &link::download_url("https://send.example/sub", "0123456789abcdef"),
        secret,
    )
    .unwrap();
    assert_eq!(
        link.download_page(),
        "https://send.example/sub/download/0123456789abcdef/"
    );
    assert_eq!(
        link.to_link().split_once('#').unwrap().0,
        link.download_page()
    );
    assert_eq!(link::id_in_url(&link.to_link()), Some("0123456789abcdef"));
    assert_eq!(
        link::id_in_url("http://x/download/abc?x=1#/download/zz"),
        Some("abc")
    );
    assert_eq!(link::id_in_url("http://x/api/exists/abc"), None);
    assert_eq!(link::id_in_url("http://x/download/"), None);
}

#[test]
fn owner_tokens_hash_and_compare() {
    let t = OwnerToken::generate().unwrap();
    assert_eq!(t.expose().len(), 32);
    let stored = t.hash();
    assert!(t.matches(&stored));
    assert!(OwnerToken::new(t.expose()).matches(&stored));
    assert!(!OwnerToken::new("").matches(&stored));
    assert!(!OwnerToken::new(&t.expose()[..31]).matches(&stored));
    assert!(!t.matches(&stored[..16]));
}

#[test]
fn metadata_accepts_client_shapes_and_rejects_garbage() {
    let key = MetadataKey([9; 16]);
    let web = crate::metadata::encrypt_raw(
        &key,
        br#"{"name":"a.txt","size":3,"type":"text/plain","manifest":{}}"#,
    );
    let m = Metadata::decrypt(&key, &web).unwrap();
    assert_eq!(m.manifest.files.len(), 0);
    let minimal = crate::metadata::encrypt_raw(&key, br#"{"name":"a","size":0}"#);
    let m = Metadata::decrypt(&key, &minimal).unwrap();
    assert_eq!(m.mime, "application/octet-stream");
    // Always emits all four fields.
    let json: serde_json::Value = serde_json::to_value(&m).unwrap();
    for field in ["name", "size", "type", "manifest"] {
        assert!(json.get(field).is_some(), "{field}");
    }
    for bad in [
        "",
        "!!",
        "AAAA",
        &crate::metadata::encrypt_raw(&key, b"not json"),
    ] {
        assert_eq!(Metadata::decrypt(&key, bad), Err(Error::BadMetadata));
    }
    assert_eq!(
        Metadata::decrypt(&MetadataKey([8; 16]), &web),
        Err(Error::BadMetadata)
    );
}

#[test]
fn file_ids_follow_send_rules() {
    use crate::api::FileId;
    let id = FileId::generate().unwrap();
    assert_eq!(id.as_str().len(), 16);
    assert!(FileId::parse(id.as_str()).is_some());
    assert_eq!(FileId::parse("ABCDEF0123").unwrap().as_str(), "abcdef0123");
    for bad in [
        "",
        "abc",
        "0123456789abcdefa",
        "0123456789abcdeg",
        "../../etc/pa",
    ] {
        assert!(FileId::parse(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn upload_answers_of_both_generations_parse() {
    use crate::api::UploadResponse;
    let both: UploadResponse =
        serde_json::from_str(r#"{"url":"u","ownerToken":"t","owner":"t","id":"i"}"#).unwrap();
    assert_eq!(both.token(), "t");
    let v2: UploadResponse = serde_json::from_str(r#"{"url":"u","owner":"o","id":"i"}"#).unwrap();
    assert_eq!(v2.token(), "o");
    let v3: UploadResponse =
        serde_json::from_str(r#"{"url":"u","ownerToken":"t","id":"i"}"#).unwrap();
    assert_eq!(v3.token(), "t");
}

#[test]
fn upload_credentials_parse_and_reject_malformed_headers() {
    use crate::auth::UploadCredentials;
    // ffsend's `--basic-auth alice:s3cr:et` (a password may hold ':').
    let header = format!("Basic {}", b64u::encode_standard(b"alice:s3cr:et"));
    let parsed = UploadCredentials::parse(&header).unwrap();
    let UploadCredentials::Basic { user, password } = &parsed else {
        panic!("basic not parsed");
    };
    assert_eq!((user.as_str(), password.as_str()), ("alice", "s3cr:et"));
    assert_eq!(parsed.to_header(), header);
    assert!(matches!(
        UploadCredentials::parse("bearer  abc.DEF-123_~+/= "),
        Some(UploadCredentials::Bearer(ref t)) if t == "abc.DEF-123_~+/="
    ));
    assert_eq!(
        UploadCredentials::Bearer("tok".into()).to_header(),
        "Bearer tok"
    );
    for bad in [
        "",
        "Basic",
        "Basic ",
        "Basic !!!",
        &format!("Basic {}", b64u::encode_standard(b"no-colon")),
        &format!("Basic {}", b64u::encode_standard(&[0xff, b':', 0xfe])),
        "Bearer",
        "Bearer a b",
        "Bearer \u{7f}",
        "send-v1 AAAA",
        "Digest x",
        &format!("Bearer {}", "a".repeat(9000)),
    ] {
        assert!(UploadCredentials::parse(bad).is_none(), "{bad:?}");
    }
    assert!(auth::valid_token("x"));
    assert!(!auth::valid_token("ä"));
    assert!(!auth::valid_token(&"a".repeat(4097)));
}

/// Found with the `auth_header` fuzz target's round-trip property (by a hand-made input at
/// the limit; libFuzzer's inputs stay under 4 KiB): `Basic` credentials in unpadded base64
/// of nearly 8 KiB parsed, but the header `to_header` made of them (padded) was over the
/// limit and did not.
#[test]
fn basic_credentials_that_parse_also_parse_from_their_own_header() {
    use crate::auth::UploadCredentials;
    for password_len in 6120..6140 {
        let pair = format!("user:{}", "a".repeat(password_len));
        for value in [
            format!("Basic {}", b64u::encode(pair.as_bytes())),
            format!("Basic {}", b64u::encode_standard(pair.as_bytes())),
        ] {
            let Some(parsed) = UploadCredentials::parse(&value) else {
                assert!(value.len() > 8188, "{} bytes refused", value.len());
                continue;
            };
            let again = UploadCredentials::parse(&parsed.to_header());
            assert!(again == Some(parsed), "{} bytes", value.len());
        }
    }
    // The largest accepted: 6138 bytes of credentials, 8184 characters of base64.
    let pair = format!("user:{}", "a".repeat(6133));
    assert!(
        UploadCredentials::parse(&format!("Basic {}", b64u::encode(pair.as_bytes()))).is_some()
    );
    let pair = format!("user:{}", "a".repeat(6134));
    let unpadded = format!("Basic {}", b64u::encode(pair.as_bytes()));
    assert_eq!(unpadded.len(), 8192);
    assert!(UploadCredentials::parse(&unpadded).is_none());
}

#[test]
fn upload_auth_in_config_is_optional_and_tolerant() {
    use crate::api::{ConfigResponse, UploadAuth, WsStatus};
    let send = r#"{"LIMITS":{"MAX_FILE_SIZE":1,"MAX_DOWNLOADS":1,"MAX_EXPIRE_SECONDS":1,
        "MAX_FILES_PER_ARCHIVE":1,"MAX_ARCHIVES_PER_USER":1},
        "DEFAULTS":{"DOWNLOADS":1,"DOWNLOAD_COUNTS":[1],"EXPIRE_TIMES_SECONDS":[1],
        "EXPIRE_SECONDS":1},"WEB_UI":{}}"#;
    let c: ConfigResponse = serde_json::from_str(send).unwrap();
    assert_eq!(c.upload_auth, UploadAuth::None, "a Send server's /config");
    let with = |v: &str| {
        let text = send.replacen('{', &format!("{{\"UPLOAD_AUTH\":{v},"), 1);
        serde_json::from_str::<ConfigResponse>(&text)
            .unwrap()
            .upload_auth
    };
    assert_eq!(with("\"token\""), UploadAuth::Token);
    assert_eq!(with("\"basic\""), UploadAuth::Basic);
    assert_eq!(with("\"oidc\""), UploadAuth::Other);
    assert_eq!(
        serde_json::to_value(UploadAuth::Token).unwrap(),
        serde_json::json!("token")
    );
    // The WebSocket's error message may carry a sentence; Send's has none.
    let bare: WsStatus = serde_json::from_str(r#"{"error":401}"#).unwrap();
    assert_eq!(
        bare,
        WsStatus::Error {
            error: 401,
            message: None,
            code: None,
        }
    );
    let text = serde_json::to_string(&WsStatus::Error {
        error: 413,
        message: Some("too large".into()),
        code: Some("too_large".into()),
    })
    .unwrap();
    assert_eq!(
        text,
        r#"{"error":413,"message":"too large","code":"too_large"}"#
    );
    let ok: WsStatus = serde_json::from_str(r#"{"ok":true}"#).unwrap();
    assert_eq!(ok, WsStatus::Ok { ok: true });
}
