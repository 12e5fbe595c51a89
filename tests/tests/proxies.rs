//! The reverse-proxy examples of `infra/`, run for real in front of the real server:
//! nginx with `infra/nginx/sealdrop.conf` (TLS with a test CA) and Caddy with
//! `infra/caddy/Caddyfile`. The CLI uploads through each over the WebSocket route only (no
//! fallback to hide a broken upgrade) and over the plain HTTP route, and downloads back;
//! a client's own `X-Forwarded-For` never reaches sealdrop as the client's address.
//!
//! `scripts/test` installs Debian's nginx and caddy; `SEALDROP_NGINX` and `SEALDROP_CADDY`
//! point elsewhere.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sealdrop_e2e::{Sandbox, Server, content, http_get};
use sealdrop_testkit::{Process, find_tool, free_port, wait_for_port, workspace_root};

/// A spoofed client address that must never be taken for the client.
const SPOOFED: &str = "203.0.113.9";

/// A server that believes proxies on loopback and logs client addresses.
fn server_behind_a_proxy() -> Server {
    Server::start_with_env(
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--max-connections-per-client",
            "0",
            "--log-client-ip",
        ],
        &[("RUST_LOG", "info")],
    )
}

/// Uploads through `proxy` (over `transport`), downloads back through it, compares.
fn round_trip(server: &Server, proxy: &str, transport: &str, tls_ca: Option<&Path>, seed: u64) {
    let sb = Sandbox::with_host(proxy);
    let with_ca = |cmd: sealdrop_e2e::Cmd| match tls_ca {
        Some(ca) => cmd.env("SSL_CERT_FILE", ca),
        None => cmd,
    };
    sb.write("file.bin", &content((3 << 20) + 17, seed));
    let out = with_ca(sb.sealdrop(&["upload", "-q", "--transport", transport, "file.bin"])).run();
    out.success();
    // The server writes its own base URL into links; fetch through the proxy.
    let link = out.stdout_text().trim().replacen(&server.base, proxy, 1);
    assert!(link.starts_with(proxy), "{link}");
    with_ca(sb.sealdrop(&["download", &link, "-o", "back.bin"]))
        .run()
        .success();
    assert_eq!(sb.read("back.bin"), sb.read("file.bin"), "{transport}");
}

/// The request log says the proxied requests came from 127.0.0.1, never `SPOOFED`.
fn assert_client_addresses(server: &Server) {
    let log = server.log();
    assert!(
        log.contains("path=/__version__ client=127.0.0.1"),
        "no request from 127.0.0.1 in the log:\n{log}"
    );
    assert!(
        !log.contains(SPOOFED),
        "the spoofed address was believed:\n{log}"
    );
}

/// `text` with `from` replaced by `to`, asserting it occurs exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "infra/nginx/sealdrop.conf should have exactly one {from:?}"
    );
    text.replacen(from, to, 1)
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made with openssl:
/// `(ca.pem, cert.pem, key.pem)`.
fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let cnf = dir.join("openssl.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ca_ext\n\
         [dn]\nCN = sealdrop test CA\n\
         [ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [leaf_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n\
         authorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let cnf = cnf.to_str().unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-config", cnf, "-days", "2"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.pem"]);
    run(&ca);
    let mut csr = vec!["req", "-new", "-config", cnf, "-subj", "/CN=127.0.0.1"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&["-keyout", "key.pem", "-out", "cert.csr"]);
    run(&csr);
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        cnf,
        "-extensions",
        "leaf_ext",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn uploads_and_downloads_pass_through_the_nginx_example() {
    let nginx = find_tool(
        "SEALDROP_NGINX",
        &[PathBuf::from("/usr/sbin/nginx")],
        "nginx is missing: apt-get install nginx",
    );
    let server = server_behind_a_proxy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, cert, key) = test_certificates(d);
    let (http_port, https_port) = (free_port(), free_port());

    // infra/nginx/sealdrop.conf with this machine's ports and certificate.
    let conf = std::fs::read_to_string(workspace_root().join("infra/nginx/sealdrop.conf")).unwrap();
    let conf = replace_once(
        &conf,
        "server 127.0.0.1:8080;",
        &format!("server 127.0.0.1:{};", server.port),
    );
    let conf = replace_once(
        &conf,
        "listen 80;",
        &format!("listen 127.0.0.1:{http_port};"),
    );
    let conf = replace_once(&conf, "listen [::]:80;", "");
    let conf = replace_once(
        &conf,
        "listen 443 ssl http2;",
        &format!("listen 127.0.0.1:{https_port} ssl http2;"),
    );
    let conf = replace_once(&conf, "listen [::]:443 ssl http2;", "");
    let conf = replace_once(
        &conf,
        "/etc/letsencrypt/live/send.example.com/fullchain.pem",
        cert.to_str().unwrap(),
    );
    let conf = replace_once(
        &conf,
        "/etc/letsencrypt/live/send.example.com/privkey.pem",
        key.to_str().unwrap(),
    );
    std::fs::write(d.join("sealdrop.conf"), conf).unwrap();
    let p = d.display();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/body;\n\
             proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
             uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
             include {p}/sealdrop.conf;\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(&nginx)
        .arg("-e")
        .arg(d.join("error.log"))
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Process::new(child);
    wait_for_port(([127, 0, 0, 1], https_port).into(), nginx.child(), "nginx");

    let proxy = format!("https://127.0.0.1:{https_port}");
    round_trip(&server, &proxy, "ws", Some(&ca), 1);
    round_trip(&server, &proxy, "http", Some(&ca), 2);
    let access = std::fs::read_to_string(d.join("access.log")).unwrap();
    assert!(
        access.contains("\"GET /api/ws HTTP/1.1\" 101 "),
        "no WebSocket upgrade through nginx:\n{access}"
    );
    // The CLI speaks HTTP/2 to nginx where it can (WebSockets stay on HTTP/1.1).
    assert!(
        access.contains("\"POST /api/upload HTTP/2.0\" 200 "),
        "no HTTP upload through nginx:\n{access}"
    );

    // A client's own X-Forwarded-For is replaced by nginx.
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{https_port}"))
        .arg("-CAfile")
        .arg(&ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    write!(
        s_client.stdin.take().unwrap(),
        "GET /__version__ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {SPOOFED}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let answer = s_client.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&answer.stdout);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_client_addresses(&server);

    // Plain HTTP is sent to HTTPS.
    let (status, _) = http_get(http_port, "/download/0123456789abcdef/").unwrap();
    assert_eq!(status, 301);
}

#[test]
fn uploads_and_downloads_pass_through_the_caddy_example() {
    let caddy = find_tool(
        "SEALDROP_CADDY",
        &[PathBuf::from("/usr/bin/caddy")],
        "caddy is missing: apt-get install caddy",
    );
    let server = server_behind_a_proxy();
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(&caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(workspace_root().join("infra/caddy/Caddyfile"))
        // Plain HTTP on a test port: no certificate to obtain.
        .env("SITE_ADDRESS", format!("http://127.0.0.1:{port}"))
        .env("UPSTREAM_HOST", "127.0.0.1")
        .env("UPSTREAM_PORT", server.port.to_string())
        .env("CADDY_ADMIN", "off")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start caddy");
    let mut caddy = Process::new(child);
    wait_for_port(([127, 0, 0, 1], port).into(), caddy.child(), "caddy");

    let proxy = format!("http://127.0.0.1:{port}");
    round_trip(&server, &proxy, "ws", None, 3);
    round_trip(&server, &proxy, "http", None, 4);

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /__version__ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Forwarded-For: {SPOOFED}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_client_addresses(&server);
}
