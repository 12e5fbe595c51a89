//! Who the client of a request is: the address rate limits are keyed by (and that
//! `--log-client-ip` logs).
//!
//! The client is the socket peer, unless the peer is one of the `--trusted-proxies`: then
//! it is taken from the one forwarding header those proxies write (`--trusted-proxy-header`,
//! `X-Forwarded-For` or RFC 7239 `Forwarded`). Each proxy appends the address it received
//! the request from, so the list is read from the right: addresses of trusted proxies are
//! skipped and the first other address is the client. Everything to its left was written
//! by the client itself and is never looked at, so a client cannot choose its identity by
//! sending the header itself. When the list runs out of addresses that can be read (a
//! malformed entry, `unknown`, an obfuscated `_identifier`) before an untrusted address
//! turns up, the peer stands for the client: it fails closed, towards one shared bucket.
//! When every address in the list is a trusted proxy, the left-most one is the client.
//!
//! A request that carries `X-Forwarded-For` or `Forwarded` from a peer that is not a
//! trusted proxy is most likely a reverse proxy the operator forgot to list: every client
//! behind it then shares the proxy's rate-limit buckets. The first such request of each
//! peer logs a warning naming `--trusted-proxies`, with the peer's address only under
//! `--log-client-ip` (otherwise "a peer": the address could be a client's). At most
//! [`WARNED_PEERS_MAX`] peers are remembered, and warned about, per process, so neither
//! memory nor the log grows with clients that send the header themselves.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use ipnet::IpNet;

use crate::config::ProxyHeader;

/// The client of a request, as an extension of the request (set by the request middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The key of the client's rate-limit buckets: the address itself for IPv4, its `/64`
    /// network for IPv6 (one host usually has a whole `/64`, so per-address buckets would
    /// be no limit at all).
    pub fn bucket(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        }
    }
}

/// How many untrusted peers that sent a forwarding header are remembered (and warned
/// about) per process.
pub const WARNED_PEERS_MAX: usize = 64;

/// How to find the client of a request: the trusted proxy networks and their header.
#[derive(Debug, Default)]
pub struct Resolver {
    trusted: Vec<IpNet>,
    header: ProxyHeader,
    /// Whether the warning about an untrusted peer may name its address.
    log_addresses: bool,
    /// The untrusted peers already warned about.
    warned: Mutex<HashSet<IpAddr>>,
}

/// One entry of a forwarding list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// An address.
    Addr(IpAddr),
    /// Something that names no address: malformed, `unknown` or obfuscated.
    Unreadable,
}

impl Resolver {
    /// A resolver trusting `trusted` networks to write `header`.
    pub fn new(trusted: Vec<IpNet>, header: ProxyHeader) -> Self {
        Self {
            trusted,
            header,
            ..Self::default()
        }
    }

    /// Lets the warning about an untrusted peer name its address (`--log-client-ip`).
    pub fn log_addresses(mut self, yes: bool) -> Self {
        self.log_addresses = yes;
        self
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` (none: a request without a socket, as in
    /// `Router::oneshot` tests: the unspecified address) with `headers`.
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientIp {
        let Some(peer) = peer.map(|p| p.ip().to_canonical()) else {
            return ClientIp(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        };
        if !self.is_trusted(peer) {
            self.warn_if_forwarded(peer, headers);
            return ClientIp(peer);
        }
        let hops = match self.header {
            ProxyHeader::XForwardedFor => x_forwarded_for(headers),
            ProxyHeader::Forwarded => forwarded(headers),
        };
        ClientIp(self.walk(&hops).unwrap_or(peer))
    }

    /// Logs a warning the first time `peer`, which is not a trusted proxy, sends a
    /// forwarding header (see the module's documentation).
    fn warn_if_forwarded(&self, peer: IpAddr, headers: &HeaderMap) {
        let header = if headers.contains_key("x-forwarded-for") {
            "X-Forwarded-For"
        } else if headers.contains_key(FORWARDED) {
            "Forwarded"
        } else {
            return;
        };
        {
            let mut warned = self
                .warned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if warned.len() >= WARNED_PEERS_MAX || !warned.insert(peer) {
                return;
            }
        }
        if self.log_addresses {
            tracing::warn!(
                "requests from {peer} carry {header} but that peer is not in \
                 --trusted-proxies: every client behind it shares one rate-limit bucket; \
                 set --trusted-proxies if it is your reverse proxy"
            );
        } else {
            tracing::warn!(
                "requests from a peer carry {header} but that peer is not in \
                 --trusted-proxies: every client behind it shares one rate-limit bucket; \
                 set --trusted-proxies if it is your reverse proxy (--log-client-ip \
                 shows its address)"
            );
        }
    }

    /// The right-most address that is not a trusted proxy; the left-most address when all
    /// are; `None` when an unreadable entry comes first or the list is empty.
    fn walk(&self, hops: &[Hop]) -> Option<IpAddr> {
        let mut leftmost = None;
        for hop in hops.iter().rev() {
            match *hop {
                Hop::Unreadable => return None,
                Hop::Addr(ip) if !self.is_trusted(ip) => return Some(ip),
                Hop::Addr(ip) => leftmost = Some(ip),
            }
        }
        leftmost
    }
}

/// The entries of every `X-Forwarded-For` line, in order. Entries are addresses, possibly
/// with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`, as some proxies write them).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all("x-forwarded-for") {
        let Ok(line) = line.to_str() else {
            hops.push(Hop::Unreadable);
            continue;
        };
        hops.extend(
            line.split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| node(entry).map_or(Hop::Unreadable, Hop::Addr)),
        );
    }
    hops
}

/// The `for=` nodes of every `Forwarded` line (RFC 7239), in order. An element without
/// `for`, with it twice, or a line that does not parse, is unreadable.
fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all(FORWARDED) {
        let elements = line
            .to_str()
            .ok()
            .and_then(|line| split_outside_quotes(line, ','));
        let Some(elements) = elements else {
            hops.push(Hop::Unreadable);
            continue;
        };
        for element in elements {
            if element.trim().is_empty() {
                continue;
            }
            hops.push(forwarded_for(element).map_or(Hop::Unreadable, Hop::Addr));
        }
    }
    hops
}

/// The address in the `for` parameter of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';')? {
        if pair.trim().is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None if !value.is_empty() && value.bytes().all(is_tchar) => value.to_owned(),
            None => return None,
        };
        if name.eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    node(&found?)
}

/// `value` split at every `sep` that is not inside a quoted string; `None` when a quote is
/// left open.
fn split_outside_quotes(value: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&value[start..i]);
            start = i + c.len_utf8();
        }
    }
    if quoted {
        return None;
    }
    parts.push(&value[start..]);
    Some(parts)
}

/// The content of a quoted string whose opening quote is already removed; `None` unless
/// it ends with the closing quote.
fn unquote(rest: &str) -> Option<String> {
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// RFC 7230 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An RFC 7239 node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`;
/// also a bare IPv6 address) as an address; `None` for `unknown`, obfuscated identifiers
/// (`_hidden`) and anything malformed. IPv4-mapped IPv6 addresses become IPv4.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            let v6 = host.parse::<Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':')?),
            };
            (IpAddr::V6(v6), port)
        }
        None => {
            let (host, port) = text.split_once(':')?;
            (IpAddr::V4(host.parse().ok()?), Some(port))
        }
    };
    if let Some(port) = port {
        let numeric = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
        let obfuscated = port.len() > 1
            && port.starts_with('_')
            && port
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !numeric && !obfuscated {
            return None;
        }
    }
    Some(host.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn resolver(nets: &[&str], header: ProxyHeader) -> Resolver {
        Resolver::new(nets.iter().map(|n| n.parse().unwrap()).collect(), header)
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(name, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(r: &Resolver, from: &str, lines: &[&str]) -> IpAddr {
        r.client(peer(from), &headers("x-forwarded-for", lines)).0
    }

    fn fwd(r: &Resolver, from: &str, lines: &[&str]) -> IpAddr {
        r.client(peer(from), &headers("forwarded", lines)).0
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let none = Resolver::default();
        assert_eq!(xff(&none, "192.0.2.7", &["198.51.100.1"]), ip("192.0.2.7"));
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        assert_eq!(xff(&r, "192.0.2.7", &["198.51.100.1"]), ip("192.0.2.7"));
        assert_eq!(xff(&r, "192.0.2.7", &["10.1.1.1"]), ip("192.0.2.7"));
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        assert_eq!(fwd(&r, "192.0.2.7", &["for=198.51.100.1"]), ip("192.0.2.7"));
        // A v4-mapped peer is its IPv4 address.
        assert_eq!(xff(&r, "::ffff:192.0.2.7", &[]), ip("192.0.2.7"));
    }

    fn warned(r: &Resolver) -> usize {
        r.warned.lock().unwrap().len()
    }

    #[test]
    fn forwarding_headers_from_untrusted_peers_are_remembered_once_and_capped() {
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        // Without a forwarding header, or from a trusted proxy: nothing to warn about.
        xff(&r, "192.0.2.7", &[]);
        xff(&r, "10.0.0.1", &["198.51.100.1"]);
        fwd(&r, "10.0.0.1", &["for=198.51.100.1"]);
        assert_eq!(warned(&r), 0);
        // An untrusted peer, with either header, any number of times: once.
        xff(&r, "192.0.2.7", &["198.51.100.1"]);
        xff(&r, "192.0.2.7", &["198.51.100.2"]);
        fwd(&r, "192.0.2.7", &["for=198.51.100.1"]);
        assert_eq!(warned(&r), 1);
        // Many peers: memory stops growing at the cap.
        for i in 0..(WARNED_PEERS_MAX as u32 * 2) {
            let peer = std::net::Ipv4Addr::from(0xcb00_7100 + i).to_string();
            xff(&r, &peer, &["198.51.100.1"]);
        }
        assert_eq!(warned(&r), WARNED_PEERS_MAX);
    }

    #[test]
    fn a_request_without_a_socket_is_the_unspecified_address() {
        let r = resolver(&["0.0.0.0/0"], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(r.client(None, &h).0, ip("0.0.0.0"));
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right() {
        let r = resolver(
            &["10.0.0.0/8", "2001:db8:ffff::/48"],
            ProxyHeader::XForwardedFor,
        );
        // One proxy.
        assert_eq!(xff(&r, "10.0.0.1", &["198.51.100.1"]), ip("198.51.100.1"));
        // Spoofed left-most entries are never looked at.
        assert_eq!(
            xff(&r, "10.0.0.1", &["1.2.3.4, 5.6.7.8, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            xff(&r, "10.0.0.1", &["garbage, unknown, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // A chain of trusted proxies is skipped.
        assert_eq!(
            xff(
                &r,
                "10.0.0.1",
                &["1.2.3.4, 198.51.100.1, 10.9.9.9, 10.0.0.2"]
            ),
            ip("198.51.100.1")
        );
        // IPv6, with and without brackets and ports; a trusted IPv6 proxy.
        assert_eq!(
            xff(&r, "10.0.0.1", &["2001:db8::1, 2001:db8:ffff::5"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            xff(&r, "10.0.0.1", &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        assert_eq!(xff(&r, "10.0.0.1", &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(
            xff(&r, "10.0.0.1", &["198.51.100.1:4711"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            xff(&r, "10.0.0.1", &["::ffff:198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            xff(
                &r,
                "10.0.0.1",
                &["1.2.3.4", "198.51.100.1, 10.0.0.3", "10.0.0.2"]
            ),
            ip("198.51.100.1")
        );
        // Spaces and empty entries.
        assert_eq!(
            xff(&r, "10.0.0.1", &[" 198.51.100.1 ,, 10.0.0.2 "]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn unreadable_x_forwarded_for_falls_back_to_the_peer() {
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        for lines in [
            &[][..],
            &[""],
            &["unknown"],
            &["198.51.100.1, garbage"],
            &["198.51.100.1, 10.0.0.2, unknown"],
            &["198.51.100.1:port"],
            &["198.51.100.1:123456"],
            &["[2001:db8::1"],
            &["[198.51.100.1]"],
            &["2001:db8::1:4711:"],
            &["198.51.100.1/24"],
        ] {
            assert_eq!(xff(&r, "10.0.0.1", lines), ip("10.0.0.1"), "{lines:?}");
        }
        // A value that is not visible ASCII.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.1\xff").unwrap(),
        );
        assert_eq!(r.client(peer("10.0.0.1"), &h).0, ip("10.0.0.1"));
    }

    #[test]
    fn when_all_are_trusted_the_left_most_is_the_client() {
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        assert_eq!(xff(&r, "10.0.0.1", &["10.5.5.5, 10.0.0.2"]), ip("10.5.5.5"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let mut h = headers("forwarded", &["for=203.0.113.9"]);
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        assert_eq!(r.client(peer("10.0.0.1"), &h).0, ip("198.51.100.1"));
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        assert_eq!(r.client(peer("10.0.0.1"), &h).0, ip("203.0.113.9"));
        // The proxy writes Forwarded, the client sent X-Forwarded-For: ignored.
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(r.client(peer("10.0.0.1"), &h).0, ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_is_read_from_the_right() {
        let r = resolver(
            &["10.0.0.0/8", "2001:db8:ffff::/48"],
            ProxyHeader::Forwarded,
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &["for=198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Other parameters, any case, any order, spaces.
        assert_eq!(
            fwd(
                &r,
                "10.0.0.1",
                &["proto=https;For=198.51.100.1 ; by=10.0.0.1;host=send.example.com"]
            ),
            ip("198.51.100.1")
        );
        // RFC 7239 examples: quoted IPv6 with brackets and port, quoted IPv4 with port.
        assert_eq!(
            fwd(&r, "10.0.0.1", &[r#"for="[2001:db8:cafe::17]:4711""#]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &[r#"for="[2001:db8:cafe::17]""#]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &[r#"for="198.51.100.1:4711""#]),
            ip("198.51.100.1")
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &[r#"for="198.51.100.1:_p1""#]),
            ip("198.51.100.1")
        );
        // A quoted string holding separators, escapes.
        assert_eq!(
            fwd(
                &r,
                "10.0.0.1",
                &[r#"for=198.51.100.1;x="a,b;c\"d", for="[2001:db8:ffff::1]""#]
            ),
            ip("198.51.100.1")
        );
        // Spoofed left-most elements, several lines, a chain of proxies.
        assert_eq!(
            fwd(
                &r,
                "10.0.0.1",
                &["for=1.2.3.4, for=5.6.7.8", "for=198.51.100.1, for=10.0.0.7"]
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &["for=_spoofed;x=\"", "for=198.51.100.1"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            fwd(&r, "10.0.0.1", &["for=unknown, for=198.51.100.1"]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn unreadable_forwarded_falls_back_to_the_peer() {
        let r = resolver(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        for lines in [
            &[][..],
            &["for=unknown"],
            &["for=_hidden"],
            &["for=\"_gazonk\""],
            &["for=198.51.100.1, for=_hidden"],
            &["proto=https"],
            &["for=198.51.100.1;for=198.51.100.2"],
            &["for=\"198.51.100.1"],
            &["for=\"[2001:db8::1]:4711\"x"],
            &["for=198.51.100.1 x"],
            &["for"],
            &["=198.51.100.1"],
            &["for=[2001:db8::1]:99999"],
            &["for=\"[2001:db8::1]:_\""],
            &["for=\"[not-an-address]\""],
            &["f\"or=198.51.100.1"],
        ] {
            assert_eq!(fwd(&r, "10.0.0.1", lines), ip("10.0.0.1"), "{lines:?}");
        }
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a = ClientIp(ip("2001:db8:1:2:aaaa::1")).bucket();
        let b = ClientIp(ip("2001:db8:1:2:bbbb::2")).bucket();
        let c = ClientIp(ip("2001:db8:1:3::1")).bucket();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(ClientIp(ip("192.0.2.1")).bucket(), ip("192.0.2.1"));
    }
}
