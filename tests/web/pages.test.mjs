// The pages of the web client, as the real sealdrop-server serves them to headless Chromium:
// strict security headers, nothing loaded from another origin, no CSP violation or uncaught
// error, an <h1> and a language. The DOM of the pages is not settled: these tests hold only
// to facts every page must keep.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  WEB_DIR,
  guard,
  launchBrowser,
  screenshot,
  setTheme,
  setViewport,
  startServer,
  staticInlineCheck,
} from './harness.mjs';

/** A well-formed share secret (16 bytes, base64url) that must never leave the browser. */
const FAKE_SECRET = 'AAECAwQFBgcICQoLDA0ODw';

const PAGES = [
  { name: 'index', path: '/', status: 200 },
  { name: 'about', path: '/about.html', status: 200 },
  // An id the server does not know: the download page, with 404.
  { name: 'download-unknown', path: '/download/0123456789abcdef/', status: 404, secret: FAKE_SECRET },
];

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** The directives of a Content-Security-Policy header: name → sources. */
function parseCsp(header) {
  const directives = new Map();
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name && !directives.has(name.toLowerCase())) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

function assertStrictHeaders(headers, what) {
  const csp = headers['content-security-policy'];
  assert.ok(csp, `${what}: no Content-Security-Policy`);
  const directives = parseCsp(csp);
  assert.deepEqual(directives.get('default-src'), ["'none'"], `${what}: default-src of ${csp}`);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${what}: frame-ancestors of ${csp}`);
  for (const [name, sources] of directives) {
    for (const source of sources) {
      assert.ok(
        !["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", '*'].includes(source.toLowerCase()),
        `${what}: ${name} allows ${source}: ${csp}`,
      );
    }
  }
  for (const source of directives.get('script-src') ?? []) {
    assert.ok(!/^[a-z][a-z0-9+.-]*:$/i.test(source), `${what}: script-src allows any ${source} URL`);
  }
  assert.equal(headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal(headers['cross-origin-opener-policy'], 'same-origin', `${what}: Cross-Origin-Opener-Policy`);
  assert.equal(headers['cross-origin-resource-policy'], 'same-origin', `${what}: Cross-Origin-Resource-Policy`);
}

/** Lets the page's scripts run and settle (network quiet for 500 ms, at most 5 s). */
async function settle(page) {
  try {
    await page.waitForLoadState('networkidle', { timeout: 5_000 });
  } catch {
    // A page that keeps polling is not wrong in itself; the checks that follow decide.
  }
}

test('web/*.html: no inline script or style, no handler attributes, no javascript: or foreign URLs', () => {
  assert.deepEqual(staticInlineCheck(WEB_DIR), []);
});

for (const spec of PAGES) {
  test(`${spec.path} answers ${spec.status} with strict headers, loads nothing foreign, has an <h1> and a lang`, async (t) => {
    const browser = await launchBrowser({ locale: 'en-US' });
    t.after(() => browser.close());
    const page = browser.pages()[0];
    const g = await guard(page, server.base, { secrets: spec.secret ? [spec.secret] : [] });
    const responses = [];
    page.on('response', (r) => responses.push(r));

    const url = `${server.base}${spec.path}${spec.secret ? `#${spec.secret}` : ''}`;
    const response = await page.goto(url);
    assert.equal(response.status(), spec.status, `status of ${spec.path}`);
    const headers = await response.allHeaders();
    assert.match(headers['content-type'] ?? '', /^text\/html\b/, `Content-Type of ${spec.path}`);
    assertStrictHeaders(headers, spec.path);
    await settle(page);

    const h1 = page.locator('h1').first();
    await h1.waitFor({ state: 'attached', timeout: 60_000 });
    assert.notEqual((await h1.textContent()).trim(), '', `the <h1> of ${spec.path} is empty`);
    const lang = await page.evaluate(() => document.documentElement.getAttribute('lang'));
    assert.match(lang ?? '', /^en\b/, `<html lang> of ${spec.path} in an en-US browser`);

    // Every file the page loaded from the server carries the same protections.
    for (const r of responses) {
      if (!r.url().startsWith(`${server.base}/`)) continue;
      const h = await r.allHeaders();
      assert.equal(h['x-content-type-options'], 'nosniff', `X-Content-Type-Options of ${r.url()}`);
      assert.equal(h['cross-origin-resource-policy'], 'same-origin', `Cross-Origin-Resource-Policy of ${r.url()}`);
    }

    await screenshot(page, `page-${spec.name}-desktop-light`);
    await setViewport(page, 'phone');
    await setTheme(page, 'dark');
    await screenshot(page, `page-${spec.name}-phone-dark`);
    await g.assertClean();
  });
}

test('a browser that prefers Spanish gets <html lang="es">', async (t) => {
  const browser = await launchBrowser({ locale: 'es-ES' });
  t.after(() => browser.close());
  const page = browser.pages()[0];
  const g = await guard(page, server.base);
  await page.goto(`${server.base}/`);
  await settle(page);
  const lang = () => page.evaluate(() => document.documentElement.getAttribute('lang'));
  try {
    await page.waitForFunction(() => document.documentElement.getAttribute('lang') === 'es', null, {
      timeout: 60_000,
    });
  } catch {
    assert.fail(`<html lang> is ${JSON.stringify(await lang())} with navigator.languages es-ES, not "es"`);
  }
  await screenshot(page, 'page-index-es');
  await g.assertClean();
});
