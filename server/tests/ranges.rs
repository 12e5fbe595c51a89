//! Ranged downloads (`sealdrop_protocol::range`): a download fetched in pieces is one
//! download. The first range is signed and reserves the slot; the next ones send the
//! reservation back; the download counts once, when the range that ends the file is sent.

use std::ops::RangeInclusive;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::range::{self, HEADER_DOWNLOAD_RESERVATION};
use sealdrop_server::clock::{Clock, ManualClock, SystemClock};

use crate::support::*;

/// A file of several records, with its ciphertext length.
async fn upload(server: &TestServer, plain: &[u8], dlimit: u32) -> (Uploaded, u64) {
    let up = upload_ws(
        &server.base,
        plain,
        UploadOptions {
            dlimit: Some(dlimit),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let len = encrypt(up.link.secret(), plain).len() as u64;
    (up, len)
}

/// The first range: a signed download with `Range`.
async fn first(link: &ShareLink, part: &RangeInclusive<u64>) -> reqwest::Response {
    let nonce = fetch_nonce(link).await.unwrap();
    let raw = sealdrop_protocol::auth::b64u::decode_lenient(&nonce).unwrap();
    reqwest::Client::new()
        .get(link.api_url("download"))
        .header(
            reqwest::header::AUTHORIZATION,
            sealdrop_protocol::auth::format_header(&link.secret().auth_key().sign(&raw)),
        )
        .header(RANGE, range::request_header(part))
        .send()
        .await
        .unwrap()
}

/// A following range, with the reservation instead of a signature.
async fn next(
    link: &ShareLink,
    reservation: &str,
    part: &RangeInclusive<u64>,
) -> reqwest::Response {
    reqwest::Client::new()
        .get(link.api_url("download"))
        .header(HEADER_DOWNLOAD_RESERVATION, reservation)
        .header(RANGE, range::request_header(part))
        .send()
        .await
        .unwrap()
}

fn reservation_of(resp: &reqwest::Response) -> String {
    resp.headers()[HEADER_DOWNLOAD_RESERVATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Checks a `206` for `part` of `len` bytes and returns its body.
async fn part_body(resp: reqwest::Response, part: &RangeInclusive<u64>, len: u64) -> Vec<u8> {
    assert_eq!(resp.status(), 206);
    let content_range = resp.headers()[CONTENT_RANGE].to_str().unwrap();
    assert_eq!(
        range::parse_content_range(content_range),
        Some((part.clone(), len))
    );
    let want = part.end() - part.start() + 1;
    assert_eq!(resp.headers()[CONTENT_LENGTH], want.to_string().as_str());
    let body = resp.bytes().await.unwrap().to_vec();
    assert_eq!(body.len() as u64, want);
    body
}

/// Completed downloads of a share, as its owner sees them.
async fn downloads(up: &Uploaded) -> u64 {
    let (status, info) = owner_post(
        &up.link,
        "info",
        serde_json::json!({ "owner_token": up.owner }),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    info["dtotal"].as_u64().unwrap()
}

/// Splits `0..len` into pieces of `piece` bytes.
fn pieces(len: u64, piece: u64) -> Vec<RangeInclusive<u64>> {
    (0..len)
        .step_by(piece as usize)
        .map(|start| start..=(start + piece).min(len) - 1)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_in_pieces_is_byte_identical_and_counts_once() {
    let server = TestServer::start().await;
    let plain = content(3 * 65536 + 1234, 3);
    let (up, len) = upload(&server, &plain, 2).await;
    let parts = pieces(len, 70_000);
    assert!(parts.len() >= 3);
    let resp = first(&up.link, &parts[0]).await;
    let reservation = reservation_of(&resp);
    let mut cipher = part_body(resp, &parts[0], len).await;
    for part in &parts[1..parts.len() - 1] {
        let resp = next(&up.link, &reservation, part).await;
        cipher.extend(part_body(resp, part, len).await);
        // Not counted while the file's end has not been sent.
        assert_eq!(downloads(&up).await, 0);
    }
    // A piece may be asked again (after a cut), still under the same reservation.
    let again = &parts[1];
    let resp = next(&up.link, &reservation, again).await;
    assert_eq!(
        part_body(resp, again, len).await,
        cipher[*again.start() as usize..=*again.end() as usize]
    );
    let last = parts.last().unwrap();
    let resp = next(&up.link, &reservation, last).await;
    cipher.extend(part_body(resp, last, len).await);
    assert_eq!(decrypt(up.link.secret(), &cipher).unwrap(), plain);
    assert_eq!(downloads(&up).await, 1);
    // The reservation ended with the download.
    let resp = next(&up.link, &reservation, &parts[0]).await;
    assert_eq!(resp.status(), 404);
    // The second and last download, a whole one, as Send clients fetch it.
    assert_eq!(download(&up.link).await.unwrap().1, plain);
    assert_eq!(download(&up.link).await.unwrap_err(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_download_holds_its_slot_between_ranges() {
    let server = TestServer::start().await;
    let plain = content(200_000, 4);
    let (up, len) = upload(&server, &plain, 1).await;
    let parts = pieces(len, 100_000);
    let resp = first(&up.link, &parts[0]).await;
    let reservation = reservation_of(&resp);
    let mut cipher = part_body(resp, &parts[0], len).await;
    // The one download allowed is in progress: nobody else gets it meanwhile.
    assert_eq!(download(&up.link).await.unwrap_err(), 404);
    for part in &parts[1..] {
        cipher.extend(part_body(next(&up.link, &reservation, part).await, part, len).await);
    }
    assert_eq!(decrypt(up.link.secret(), &cipher).unwrap(), plain);
    // Used up.
    assert_eq!(fetch_nonce(&up.link).await.unwrap_err(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_reservation_ends_the_download_and_frees_its_slot() {
    let clock = ManualClock::new(SystemClock.now());
    let server = TestServer::start_with_clock(clock.clone()).await;
    let plain = content(200_000, 5);
    let (up, len) = upload(&server, &plain, 1).await;
    let parts = pieces(len, 100_000);
    let resp = first(&up.link, &parts[0]).await;
    let reservation = reservation_of(&resp);
    part_body(resp, &parts[0], len).await;
    clock.advance(server.state.config.download_lease + Duration::from_secs(1));
    assert_eq!(next(&up.link, &reservation, &parts[1]).await.status(), 404);
    // The slot came back: the one download is still there for someone.
    assert_eq!(download(&up.link).await.unwrap().1, plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ranges_and_reservations_get_clear_answers() {
    let server = TestServer::start().await;
    let plain = content(100_000, 6);
    let (up, len) = upload(&server, &plain, 3).await;
    let (other, _) = upload(&server, b"another file", 3).await;

    // Past the end: 416 with the length, nothing counted, the slot given back.
    let resp = first(&up.link, &(len..=len + 10)).await;
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()[CONTENT_RANGE].to_str().unwrap(),
        range::unsatisfied_range(len)
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "range_not_satisfiable");

    // Several ranges are not served as parts: the whole file, as without `Range`.
    let nonce = fetch_nonce(&up.link).await.unwrap();
    let raw = sealdrop_protocol::auth::b64u::decode_lenient(&nonce).unwrap();
    let resp = reqwest::Client::new()
        .get(up.link.api_url("download"))
        .header(
            reqwest::header::AUTHORIZATION,
            sealdrop_protocol::auth::format_header(&up.link.secret().auth_key().sign(&raw)),
        )
        .header(RANGE, "bytes=0-9,20-29")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get(HEADER_DOWNLOAD_RESERVATION).is_none());
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    let whole = resp.bytes().await.unwrap();
    assert_eq!(decrypt(up.link.secret(), &whole).unwrap(), plain);
    assert_eq!(downloads(&up).await, 1);

    // A range without a signature or reservation is refused like any unsigned download.
    let resp = reqwest::Client::new()
        .get(up.link.api_url("download"))
        .header(RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // A malformed reservation: 400; an unknown one: 404.
    let resp = next(&up.link, "not-a-reservation", &(0..=9)).await;
    assert_eq!(resp.status(), 400);
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(next(&up.link, unknown, &(0..=9)).await.status(), 404);

    // A reservation is its own file's only.
    let resp = first(&up.link, &(0..=9)).await;
    let reservation = reservation_of(&resp);
    part_body(resp, &(0..=9), len).await;
    assert_eq!(
        next(&other.link, &reservation, &(0..=9)).await.status(),
        404
    );
    assert_eq!(downloads(&up).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_shorter_than_its_record_is_sent_whole_for_the_client_to_find_the_damage() {
    let server = TestServer::start().await;
    let plain = content(200_000, 7);
    let (up, len) = upload(&server, &plain, 3).await;
    let blob = server.blob_dir().join(&server.blob_files()[0]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(150_000)
        .unwrap();
    let resp = first(&up.link, &(0..=len - 1)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get(CONTENT_RANGE).is_none());
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), 150_000);
    assert!(
        decrypt(up.link.secret(), &body).is_none(),
        "the damage is found"
    );
}
