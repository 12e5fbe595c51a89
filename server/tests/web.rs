//! The static web client: the built-in copy, `--web-dir`, the download page, caching and
//! the security headers of every response.

use std::path::Path;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH,
};
use sealdrop_server::clock::SystemClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The headers every response carries.
fn assert_security_headers(headers: &HeaderMap, what: &str) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(header(headers, name), value, "{what}: {name}");
    }
    assert!(headers.contains_key("x-request-id"), "{what}");
}

/// A server serving the web client from `dir`.
async fn with_web_dir(dir: &Path) -> TestServer {
    let dir = dir.to_owned();
    TestServer::start_with(move |c| c.web_dir = Some(dir), Arc::new(SystemClock)).await
}

/// Sends `GET path` as written, without the normalisation of `..` and `%2e` a URL
/// library does, and returns the status code.
async fn raw_get_status(base: &str, path: &str) -> u16 {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_is_the_html_client_with_strict_headers() {
    let server = TestServer::start().await;
    let r = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(r.headers(), "/");
    assert_eq!(header(r.headers(), "content-type"), HTML);
    assert_eq!(header(r.headers(), "cache-control"), "no-cache");
    assert!(r.headers().contains_key(ETAG));
    let body = r.text().await.unwrap();
    assert!(body.to_ascii_lowercase().contains("<html"), "{body}");
    // The API keeps its headers and is never stored.
    for path in [
        "/config",
        "/api/exists/0123456789abcdef",
        "/no/such/file.js",
    ] {
        let r = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap();
        assert_security_headers(r.headers(), path);
        assert!(
            header(r.headers(), "cache-control").contains("no-store"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_built_in_file_is_served_at_its_path() {
    let server = TestServer::start().await;
    let files = sealdrop_server::http::embedded_files();
    for needed in ["index.html", "download.html"] {
        assert!(files.iter().any(|f| f == needed), "{needed} in {files:?}");
    }
    for file in &files {
        if file.split('/').any(|s| s.starts_with('.')) {
            continue; // hidden files are never served
        }
        let url = format!("{}/{file}", server.base);
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert_security_headers(r.headers(), file);
        let ct = header(r.headers(), "content-type");
        if file.ends_with(".js") || file.ends_with(".mjs") {
            assert_eq!(ct, JS, "{file}");
        } else if file.ends_with(".html") {
            assert_eq!(ct, HTML, "{file}");
        } else if file.ends_with(".css") {
            assert_eq!(ct, "text/css; charset=utf-8", "{file}");
        }
        assert_eq!(header(r.headers(), "cache-control"), "no-cache", "{file}");
        assert!(r.headers().contains_key(ETAG), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_etag_is_answered_with_304() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/index.html", server.base);
    let r = client.get(&url).send().await.unwrap();
    let etag = header(r.headers(), "etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let full = r.bytes().await.unwrap();
    assert_eq!(
        reqwest::get(format!("{}/", server.base))
            .await
            .unwrap()
            .headers()[ETAG],
        etag.as_str(),
        "/ is index.html"
    );
    for (value, expected) in [
        (etag.clone(), StatusCode::NOT_MODIFIED),
        (format!("W/{etag}"), StatusCode::NOT_MODIFIED),
        (format!("\"other\", {etag}"), StatusCode::NOT_MODIFIED),
        ("*".to_owned(), StatusCode::NOT_MODIFIED),
        ("\"other\"".to_owned(), StatusCode::OK),
    ] {
        let r = client
            .get(&url)
            .header(IF_NONE_MATCH, &value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{value}");
        assert_eq!(header(r.headers(), "etag"), etag, "{value}");
        assert_eq!(header(r.headers(), "cache-control"), "no-cache", "{value}");
        assert_security_headers(r.headers(), &value);
        let body = r.bytes().await.unwrap();
        if expected == StatusCode::NOT_MODIFIED {
            assert!(body.is_empty(), "{value}");
        } else {
            assert_eq!(body, full, "{value}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_page_has_the_nonce_or_is_404() {
    let server = TestServer::start().await;
    let up = upload_ws(&server.base, b"page", UploadOptions::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for path in [
        format!("/download/{}/", up.id),
        format!("/download/{}", up.id),
    ] {
        let url = format!("{}{path}", server.base);
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_security_headers(r.headers(), &path);
        assert_eq!(header(r.headers(), "content-type"), HTML, "{path}");
        assert!(
            header(r.headers(), "cache-control").contains("no-store"),
            "{path}"
        );
        assert!(!r.headers().contains_key(ETAG), "{path}");
        let nonce = nonce_of(&r).expect("a nonce");
        assert_eq!(nonce, fetch_nonce(&up.link).await.unwrap(), "{path}");
        assert!(
            r.text()
                .await
                .unwrap()
                .to_ascii_lowercase()
                .contains("<html")
        );
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert!(nonce_of(&head).is_some(), "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
    // The same page, with a 404, once the file is gone, and for ids that never were.
    download(&up.link).await.unwrap();
    for path in [
        format!("/download/{}/", up.id),
        "/download/0123456789abcdef/".to_owned(),
        "/download/not-an-id".to_owned(),
        "/download/%ff/".to_owned(),
    ] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_security_headers(r.headers(), &path);
        assert_eq!(header(r.headers(), "content-type"), HTML, "{path}");
        assert!(nonce_of(&r).is_none(), "{path}");
        assert!(
            r.text()
                .await
                .unwrap()
                .to_ascii_lowercase()
                .contains("<html")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_headers_without_a_body() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for path in ["/", "/index.html", "/download.html"] {
        let url = format!("{}{path}", server.base);
        let get = client.get(&url).send().await.unwrap();
        let etag = get.headers()[ETAG].clone();
        let len = get.bytes().await.unwrap().len();
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{path}");
        assert_eq!(head.headers()[ETAG], etag, "{path}");
        assert_eq!(header(head.headers(), "content-type"), HTML, "{path}");
        assert_eq!(
            head.headers()[CONTENT_LENGTH],
            len.to_string().as_str(),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_other_methods() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for path in ["/api/nope", "/api", "/api/index.html", "/nope.js", "/css/"] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(header(r.headers(), "content-type").starts_with("application/json"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    for path in ["/", "/index.html"] {
        let r = client
            .post(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "POST {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_dir_serves_files_from_disk_and_nothing_outside() {
    let outer = tempfile::tempdir().unwrap();
    let web = outer.path().join("web");
    std::fs::create_dir_all(web.join("js")).unwrap();
    std::fs::create_dir_all(web.join("css")).unwrap();
    let files: [(&str, &str, &str); 8] = [
        ("index.html", "<!doctype html><html>dev index</html>", HTML),
        (
            "download.html",
            "<!doctype html><html>dev download</html>",
            HTML,
        ),
        ("js/app.js", "export const x = 1;\n", JS),
        ("js/mod.mjs", "export const y = 2;\n", JS),
        (
            "css/style.css",
            "body { color: black }\n",
            "text/css; charset=utf-8",
        ),
        (
            "icon.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "image/svg+xml; charset=utf-8",
        ),
        (
            "site.webmanifest",
            "{\"name\":\"sealdrop\"}",
            "application/manifest+json",
        ),
        ("sw.js", "self.addEventListener('fetch', () => {});\n", JS),
    ];
    for (path, body, _) in files {
        std::fs::write(web.join(path), body).unwrap();
    }
    std::fs::write(web.join(".env"), "hidden").unwrap();
    std::fs::write(outer.path().join("secret.txt"), "outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), web.join("link.txt")).unwrap();

    let server = with_web_dir(&web).await;
    let client = reqwest::Client::new();
    for (path, body, ct) in files {
        let r = client
            .get(format!("{}/{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_security_headers(r.headers(), path);
        assert_eq!(header(r.headers(), "content-type"), ct, "{path}");
        assert_eq!(header(r.headers(), "cache-control"), "no-cache", "{path}");
        assert_eq!(r.text().await.unwrap(), body, "{path}");
    }
    let root = client
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    let etag = root.headers()[ETAG].clone();
    assert_eq!(root.text().await.unwrap(), files[0].1, "/ is index.html");
    // The download page comes from the directory too.
    let page = reqwest::get(format!("{}/download/0123456789abcdef/", server.base))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(page.text().await.unwrap(), files[1].1);

    // Edit and reload: the new content, a new ETag, and the old ETag no longer matches.
    std::fs::write(web.join("index.html"), "<!doctype html><html>edited</html>").unwrap();
    let r = client
        .get(format!("{}/", server.base))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(r.headers()[ETAG], etag);
    let new_etag = r.headers()[ETAG].clone();
    assert_eq!(
        r.text().await.unwrap(),
        "<!doctype html><html>edited</html>"
    );
    let r = client
        .get(format!("{}/", server.base))
        .header(IF_NONE_MATCH, new_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(r.headers(), CACHE_CONTROL.as_str()), "no-cache");

    // Nothing outside the directory, no hidden files, no listings, no escapes.
    for path in [
        "/..%2f..%2fetc/passwd",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2Fsecret.txt",
        "/../secret.txt",
        "/js/../../secret.txt",
        "/..%5csecret.txt",
        "/%2fetc/passwd",
        "//etc/passwd",
        "/link.txt",
        "/.env",
        "/%2eenv",
        "/js",
        "/js/",
        "/css//style.css",
        "/js/app.js%00",
    ] {
        assert_eq!(raw_get_status(&server.base, path).await, 404, "{path}");
    }
    assert_eq!(raw_get_status(&server.base, "/js/app.js").await, 200);
    server.healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_dir_without_a_download_page_still_gives_the_nonce() {
    let web = tempfile::tempdir().unwrap();
    let server = with_web_dir(web.path()).await;
    let up = upload_ws(&server.base, b"x", UploadOptions::default())
        .await
        .unwrap();
    let r = reqwest::get(up.link.download_page()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(r.headers(), CONTENT_TYPE.as_str()), HTML);
    assert!(nonce_of(&r).is_some());
    let r = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no index.html in the directory"
    );
}
