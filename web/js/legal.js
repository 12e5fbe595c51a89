// The footer link to the operator's legal notice and abuse contact (`/legal`), shown
// only when the server has one (`WEB_UI.LEGAL_PAGE` in its /config).

/** Shows `#legal-link` when `cfg` (the server's /config) names a legal page. */
export function showLegalLink(cfg) {
  const link = document.getElementById('legal-link');
  if (link && cfg?.WEB_UI?.LEGAL_PAGE === '/legal') link.hidden = false;
}
