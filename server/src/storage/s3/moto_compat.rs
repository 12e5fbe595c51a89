//! A shim for one defect of moto, the S3 test double: its ListParts answer has the root
//! element `<ListPartsResponse>` where S3 (and garage, MinIO) say `<ListPartsResult>`, so
//! the SDK refuses an answer that is otherwise right. Only [`misnamed_list_parts`] reads
//! such an answer; a store that answers as S3 does never reaches it (the tests below
//! check both, so the day moto is fixed, or garage changes, shows here).

use std::time::SystemTime;

use aws_sdk_s3::error::SdkError;

/// One page of ListParts: when each part arrived, and the marker of the next page.
pub(super) struct PartsPage {
    pub(super) times: Vec<SystemTime>,
    pub(super) next: Option<String>,
}

/// The page in the body of a ListParts answer that the SDK refused only for the name of
/// its root element (moto 5): the `LastModified` of each part, `IsTruncated` and
/// `NextPartNumberMarker`. `None` for any other error.
pub(super) fn misnamed_list_parts<E>(e: &SdkError<E>) -> Option<PartsPage> {
    let response = e.raw_response()?;
    if response.status().as_u16() != 200 {
        return None;
    }
    parse(std::str::from_utf8(response.body().bytes()?).ok()?)
}

/// Reads a `<ListPartsResponse>` body; `None` for any other.
fn parse(body: &str) -> Option<PartsPage> {
    if !body.contains("<ListPartsResponse") {
        return None;
    }
    let times = texts(body, "Part")
        .into_iter()
        .filter_map(|part| texts(part, "LastModified").first().copied())
        .filter_map(|t| {
            aws_sdk_s3::primitives::DateTime::from_str(
                t,
                aws_sdk_s3::primitives::DateTimeFormat::DateTime,
            )
            .ok()
        })
        .filter_map(|t| SystemTime::try_from(t).ok())
        .collect();
    let truncated = texts(body, "IsTruncated").first() == Some(&"true");
    let next = texts(body, "NextPartNumberMarker")
        .first()
        .filter(|_| truncated)
        .map(|m| (*m).to_owned());
    Some(PartsPage { times, next })
}

/// The texts of every `<tag>…</tag>` in `text`.
fn texts<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].trim());
        rest = &after[end + close.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::Client;
    use aws_sdk_s3::primitives::ByteStream;
    use sealdrop_testkit::{Garage, Moto, S3Endpoint};

    use super::*;

    #[test]
    fn a_misnamed_page_is_read() {
        let body = "<?xml version=\"1.0\"?><ListPartsResponse><IsTruncated>true</IsTruncated>\
            <NextPartNumberMarker>2</NextPartNumberMarker>\
            <Part><PartNumber>1</PartNumber><LastModified>2026-12-07T10:00:00.000Z</LastModified></Part>\
            <Part><PartNumber>2</PartNumber><LastModified>2026-12-07T10:00:05.000Z</LastModified></Part>\
            </ListPartsResponse>";
        let page = parse(body).unwrap();
        assert_eq!(page.times.len(), 2);
        assert!(page.times[0] < page.times[1]);
        assert_eq!(page.next.as_deref(), Some("2"));
        assert!(parse(&body.replace("ListPartsResponse", "ListPartsResult")).is_none());
    }

    /// Lists the parts of a fresh multipart upload with one part on `s3`.
    async fn list_one_part(
        s3: &S3Endpoint,
        bucket: &str,
    ) -> Result<usize, SdkError<aws_sdk_s3::operation::list_parts::ListPartsError>> {
        let client: Client = s3.client();
        let upload = client
            .create_multipart_upload()
            .bucket(bucket)
            .key("compat")
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap();
        client
            .upload_part()
            .bucket(bucket)
            .key("compat")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(vec![1u8; 1024]))
            .send()
            .await
            .unwrap();
        let listed = client
            .list_parts()
            .bucket(bucket)
            .key("compat")
            .upload_id(id)
            .send()
            .await;
        let out = listed.map(|out| out.parts().len());
        client
            .abort_multipart_upload()
            .bucket(bucket)
            .key("compat")
            .upload_id(id)
            .send()
            .await
            .unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garage_answers_as_s3_does_and_needs_no_shim() {
        let garage = Garage::start();
        garage.create_bucket("compat");
        assert_eq!(list_one_part(&garage.s3, "compat").await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto_needs_the_shim() {
        let moto = Moto::start();
        moto.create_bucket("compat");
        let err = list_one_part(&moto.s3, "compat").await.unwrap_err();
        let page = misnamed_list_parts(&err).expect("moto's misnamed ListParts answer");
        assert_eq!(page.times.len(), 1);
        assert!(page.next.is_none());
    }
}
