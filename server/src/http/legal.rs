//! `GET /legal`: the operator's legal notice and abuse contact (`--legal-notice-file`,
//! `--abuse-contact`), 404 when neither is set.
//!
//! The page is the web client's `legal.html` with the operator's parts inserted at its
//! marker, not taken from the operator: the notice is inserted as escaped
//! text in a `<pre>` (HTML shows as source), the contact as a checked `mailto:` or
//! http(s) link, so nothing the operator writes can run or restyle the page under the
//! content security policy. The web client (`legal.js`) then renders the notice's text
//! as a safe subset of Markdown, building elements, never HTML; without scripts it stays
//! readable as written. Its headings are translated by `about.js`, like the "how it
//! works" page.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::web;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /legal`.
pub(super) async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let config = &state.config;
    if config.abuse_contact.is_none() && config.legal_notice.is_none() {
        return Err(ApiError::NotFound);
    }
    let template = web::text(&state, TEMPLATE).await?;
    let (head, tail) = template
        .as_deref()
        .and_then(|page| page.split_once(MARKER))
        .map_or((FALLBACK_HEAD, FALLBACK_TAIL), |(head, rest)| {
            // The rest of the marker's comment.
            (head, rest.split_once("-->").map_or(rest, |(_, tail)| tail))
        });
    let mut body = String::from(head);
    if let Some(contact) = &config.abuse_contact {
        body.push_str(
            "<h2 data-i18n=\"legal.contact\">Contact for abuse reports</h2>\n    <p><a id=\"abuse-contact\" href=\"",
        );
        body.push_str(&escape(&contact.href()));
        body.push_str("\">");
        body.push_str(&escape(contact.text()));
        body.push_str("</a></p>\n    ");
    }
    if let Some(notice) = &config.legal_notice {
        body.push_str(
            "<h2 data-i18n=\"legal.notice\">Notice from the operator</h2>\n    <pre id=\"legal-notice\" class=\"notice\">",
        );
        body.push_str(&escape(notice));
        body.push_str("</pre>\n    ");
    }
    body.push_str(tail);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// HTML-escapes text for an element's content or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of the web client the contact and notice go into, at [`MARKER`].
const TEMPLATE: &str = "legal.html";

/// Where in [`TEMPLATE`] the contact and notice go: the start of an HTML comment.
const MARKER: &str = "<!-- sealdrop:legal";

/// The page around the contact and notice when the web client has no [`TEMPLATE`] (a
/// `--web-dir` without it).
const FALLBACK_HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>sealdrop</title></head><body><h1>Legal notice and abuse reports</h1>\n";
const FALLBACK_TAIL: &str = "</body></html>\n";

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }
}
