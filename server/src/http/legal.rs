//! `GET /legal`: the operator's legal notice and abuse contact (`--legal-notice-file`,
//! `--abuse-contact`), 404 when neither is set.
//!
//! The page is built here, not taken from the operator: the notice is inserted as escaped
//! text in a `<pre>` (HTML shows as source), the contact as a checked `mailto:` or
//! http(s) link, so nothing the operator writes can run or restyle the page under the
//! content security policy. The web client (`legal.js`) then renders the notice's text
//! as a safe subset of Markdown, building elements, never HTML; without scripts it stays
//! readable as written. Its headings are translated by `about.js`, like the "how it
//! works" page.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /legal`.
pub(super) async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let config = &state.config;
    if config.abuse_contact.is_none() && config.legal_notice.is_none() {
        return Err(ApiError::NotFound);
    }
    let mut body = String::from(HEAD);
    body.push_str(
        "    <p data-i18n=\"legal.report\">To report a file, open its link and choose \
         “Report this file”: the file stops being available until the operator of this \
         server decides. The server cannot see what files contain, so a report needs the \
         link.</p>\n",
    );
    if let Some(contact) = &config.abuse_contact {
        body.push_str(
            "    <h2 data-i18n=\"legal.contact\">Contact for abuse reports</h2>\n    <p><a id=\"abuse-contact\" href=\"",
        );
        body.push_str(&escape(&contact.href()));
        body.push_str("\">");
        body.push_str(&escape(contact.text()));
        body.push_str("</a></p>\n");
    }
    if let Some(notice) = &config.legal_notice {
        body.push_str(
            "    <h2 data-i18n=\"legal.notice\">Notice from the operator</h2>\n    <pre id=\"legal-notice\" class=\"notice\">",
        );
        body.push_str(&escape(notice));
        body.push_str("</pre>\n");
    }
    body.push_str(TAIL);
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

const HEAD: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <meta name="color-scheme" content="light dark">
  <title>sealdrop</title>
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/css/style.css">
  <script type="module" src="/js/about.js"></script>
</head>
<body>
  <a class="skip" href="#main" data-i18n="common.skip">Skip to content</a>
  <header class="top">
    <a class="brand" href="/"><img src="/favicon.svg" alt="" width="28" height="28"> sealdrop</a>
  </header>
  <main id="main" class="prose">
    <h1 data-i18n="legal.title">Legal notice and abuse reports</h1>
"##;

const TAIL: &str = r##"  </main>
  <footer class="bottom">
    <a href="/" data-i18n="common.home">Send a file</a>
    <a href="/about.html" data-i18n="common.about">How it works and what the server stores</a>
  </footer>
</body>
</html>
"##;

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
