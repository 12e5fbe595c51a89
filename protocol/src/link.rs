//! Share links: `<base>/download/<id>/#<secret>` (PROTOCOL.md §1).
//!
//! This module is the only code that reads or writes the `#fragment`. Every API URL it
//! builds ([`ShareLink::api_url`], [`ShareLink::download_page`]) is built without it, so
//! the secret can never reach a server, a log or a `Referer`.

use url::Url;
use zeroize::Zeroizing;

use crate::Error;
use crate::keys::Secret;

/// A parsed share link: where the file lives and the secret that decrypts it.
#[derive(Clone)]
pub struct ShareLink {
    /// Canonical `scheme://host[:port][/prefix]`, no trailing slash, no default port.
    base: String,
    id: String,
    secret: Secret,
}

impl std::fmt::Debug for ShareLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareLink")
            .field("base", &self.base)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Whether `id` looks like a file id in a link: 8 or more ASCII letters and digits
/// (ffsend's rule; servers are stricter).
fn valid_link_id(id: &str) -> bool {
    id.len() >= 8 && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl ShareLink {
    /// Builds a link from the server's `url` answer (`<base>/download/<id>/`) and the secret.
    pub fn from_download_url(download_url: &str, secret: Secret) -> Result<Self, Error> {
        let (base, id) = split_download_url(download_url)?;
        Ok(Self { base, id, secret })
    }

    /// Parses a full share link including `#secret`.
    pub fn parse(link: &str) -> Result<Self, Error> {
        let (before, fragment) = link
            .trim()
            .split_once('#')
            .ok_or(Error::BadLink("it has no #secret part"))?;
        let secret = Secret::parse(fragment)?;
        Self::from_download_url(before, secret)
    }

    /// The file id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret from the fragment.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The server's base URL (`scheme://host[:port]`), where the API lives.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The download page `<base>/download/<id>/`, without the fragment.
    pub fn download_page(&self) -> String {
        download_url(&self.base, &self.id)
    }

    /// An API URL `<base>/api/<endpoint>/<id>`, without the fragment.
    pub fn api_url(&self, endpoint: &str) -> String {
        format!("{}/api/{}/{}", self.base, endpoint, self.id)
    }

    /// The full canonical link, fragment included. Show it only to the user.
    pub fn to_link(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}#{}",
            download_url(&self.base, &self.id),
            self.secret.to_base64url()
        ))
    }

    /// The PBKDF2 salt of a password on this share: the full canonical link.
    pub fn password_salt(&self) -> Zeroizing<String> {
        self.to_link()
    }
}

/// The download page of file `id` on the server at `base` (canonical, no trailing
/// slash): `<base>/download/<id>/`. The server answers it as an upload's `url`; with the
/// `#secret` added it is the share link, and so also the PBKDF2 salt of a password
/// ([`ShareLink::password_salt`]): every side must build it here, byte for byte.
pub fn download_url(base: &str, id: &str) -> String {
    format!("{base}/download/{id}/")
}

/// The file id in a download URL or share link (`…/download/<id>/#…`), unchecked; the
/// fragment is cut off first and never read. `None` without a `/download/<id>` segment.
pub fn id_in_url(url: &str) -> Option<&str> {
    let before = url.trim().split('#').next().unwrap_or_default();
    let (_, rest) = before.rsplit_once("/download/")?;
    rest.split(['/', '?']).next().filter(|id| !id.is_empty())
}

/// Splits `<base>/download/<id>[/]` into its canonical base and the id.
fn split_download_url(url: &str) -> Result<(String, String), Error> {
    let parsed = Url::parse(url.trim()).map_err(|_| Error::BadLink("not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::BadLink("the scheme is not http or https"));
    }
    let host = parsed.host_str().ok_or(Error::BadLink("it has no host"))?;
    let path = parsed.path().trim_end_matches('/');
    let (prefix, id) = path
        .rsplit_once("/download/")
        .ok_or(Error::BadLink("its path is not /download/<id>/"))?;
    if !valid_link_id(id) {
        return Err(Error::BadLink("its file id is malformed"));
    }
    // `…/prefix//download/<id>`: the base has no trailing slash, as `canonical_base` makes
    // it, or every API URL built on it would hold `//`.
    let prefix = prefix.trim_end_matches('/');
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let base = format!("{}://{}{}{}", parsed.scheme(), host, port, prefix);
    Ok((base, id.to_owned()))
}

/// Canonicalises a server base URL (`http://Example.com:80/` → `http://example.com`):
/// lower-case scheme and host, no default port, no trailing slash, no query or fragment.
pub fn canonical_base(url: &str) -> Result<String, Error> {
    let parsed = Url::parse(url.trim()).map_err(|_| Error::BadLink("not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::BadLink("the scheme is not http or https"));
    }
    let host = parsed.host_str().ok_or(Error::BadLink("it has no host"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::BadLink("a base URL has no query or fragment"));
    }
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().trim_end_matches('/');
    Ok(format!("{}://{}{}{}", parsed.scheme(), host, port, path))
}
