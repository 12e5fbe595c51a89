// The operator's legal notice and abuse contact (`/legal`): the footer link to it, shown
// only when the server has one (`WEB_UI.LEGAL_PAGE` in its /config), and the notice itself.
//
// The server sends the notice as escaped text in `<pre id="legal-notice">`, so it is safe
// without any script; this module then renders it as Markdown (markdown.js: DOM nodes
// only, no HTML, links only to http(s) and mailto), so "# Operator" reads as a heading.

import { renderMarkdown } from './markdown.js';

/** Shows `#legal-link` when `cfg` (the server's /config) names a legal page. */
export function showLegalLink(cfg) {
  const link = document.getElementById('legal-link');
  if (link && cfg?.WEB_UI?.LEGAL_PAGE === '/legal') link.hidden = false;
}

/** Replaces the notice's plain `<pre>` with its Markdown rendering, in place. */
export function renderNotice(doc = document) {
  const pre = doc.getElementById('legal-notice');
  if (!pre || pre.nodeName !== 'PRE') return;
  const box = doc.createElement('div');
  box.id = 'legal-notice';
  box.className = 'notice rendered';
  box.append(renderMarkdown(pre.textContent, { headingBase: 3 }));
  pre.replaceWith(box);
}
