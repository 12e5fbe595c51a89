// How the pages look and how usable they are: screenshots of the send page, the share
// panel and the download page in light and dark, phone and desktop width (saved under
// target/web-screenshots/ to look at), and checks that hold in every combination: no
// horizontal scrolling, text contrast at WCAG AA, every control labelled, keyboard
// reachable with a visible focus.
//
// SEALDROP_README_SHOTS=1 also writes the README's screenshots (send page, share panel,
// download page, each light and dark, phone and desktop) to docs/screenshots/, cropped to
// the page's column.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { REPO, cli, guard, launchBrowser, makeFile, screenshot, setTheme, setViewport, startServer } from './harness.mjs';

const README_SHOTS = process.env.SEALDROP_README_SHOTS ? path.join(REPO, 'docs', 'screenshots') : null;

/** With SEALDROP_README_SHOTS set: the page's column, whole height, as docs/screenshots/<name>.png. */
async function readmeShot(p, name) {
  if (!README_SHOTS) return;
  await fsp.mkdir(README_SHOTS, { recursive: true });
  const clip = await p.evaluate(() => {
    const main = document.querySelector('main').getBoundingClientRect();
    const left = Math.max(0, Math.floor(main.left - 24));
    const right = Math.min(window.innerWidth, Math.ceil(main.right + 24));
    return { x: left, y: 0, width: right - left, height: document.scrollingElement.scrollHeight };
  });
  await p.screenshot({ path: path.join(README_SHOTS, `${name}.png`), fullPage: true, clip });
}

let server;
let browser;
let work;
let link;
let file;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-look-'));
  file = await makeFile(work, 'holiday photos.zip', 123456, 5);
  const run = await cli(['upload', '-q', '-d', '1', '--host', server.base, file]);
  assert.equal(run.code, 0, run.stderr);
  link = run.stdout.trim();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

/** Problems of a page in its current state: overflow, contrast, unlabelled controls. */
function audit(p) {
  return p.evaluate(() => {
    const problems = [];
    const root = document.scrollingElement;
    if (root.scrollWidth > window.innerWidth + 1) {
      problems.push(`scrolls sideways: ${root.scrollWidth} > ${window.innerWidth}`);
    }
    const rgb = (text) => {
      const m = /rgba?\(([^)]+)\)/.exec(text);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.5) return c;
      }
      return rgb(getComputedStyle(document.documentElement).backgroundColor) ?? { r: 255, g: 255, b: 255 };
    };
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden]');
    };
    for (const el of document.querySelectorAll('body *')) {
      if (!visible(el) || el.closest('.visually-hidden, svg')) continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own) continue;
      const style = getComputedStyle(el);
      const fg = rgb(style.color);
      const bg = background(el);
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const disabled = el.closest(':disabled');
      if (ratio < 4.5 && !disabled) {
        problems.push(`contrast ${ratio.toFixed(2)} for "${el.textContent.trim().slice(0, 30)}"`);
      }
    }
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden' || el.closest('[hidden]')) continue;
      const named = el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
    }
    if (!document.documentElement.lang) problems.push('no lang');
    return problems;
  });
}

for (const theme of ['light', 'dark']) {
  for (const width of ['desktop', 'phone']) {
    test(`the pages in ${theme} at ${width} width`, async () => {
      const p = await browser.newPage();
      const g = await guard(p, server.base, { secrets: [new URL(link).hash.slice(1)] });
      await setViewport(p, width);
      await setTheme(p, theme);

      await p.goto(`${server.base}/`);
      // The README's share panel lists its own share only, not those of the other tests.
      if (README_SHOTS) {
        await p.evaluate(() => localStorage.clear());
        await p.reload();
      }
      await p.waitForSelector('#expiry option', { state: 'attached' });
      await p.setInputFiles('#file-input', [file]);
      assert.deepEqual(await audit(p), [], 'send page');
      await screenshot(p, `send-${theme}-${width}`);
      await readmeShot(p, `send-${theme}-${width}`);

      // The share panel, after a real upload from this page.
      await p.click('#upload-button');
      await p.waitForSelector('#share:not([hidden])');
      assert.equal(await p.locator('#qr svg').count(), 1);
      assert.deepEqual(await audit(p), [], 'share panel');
      await screenshot(p, `share-${theme}-${width}`);
      await readmeShot(p, `share-${theme}-${width}`);

      await p.goto(link);
      await p.waitForSelector('#ready:not([hidden])');
      assert.equal(await p.isVisible('#final-warning'), true);
      assert.deepEqual(await audit(p), [], 'download page');
      await screenshot(p, `download-${theme}-${width}`);
      await readmeShot(p, `download-${theme}-${width}`);

      await p.goto(`${server.base}/download/0123456789abcdef/#AAAAAAAAAAAAAAAAAAAAAA`);
      await p.waitForSelector('#gone:not([hidden])');
      assert.deepEqual(await audit(p), [], 'gone page');
      await screenshot(p, `gone-${theme}-${width}`);

      await p.goto(`${server.base}/about.html`);
      assert.deepEqual(await audit(p), [], 'about page');
      await screenshot(p, `about-${theme}-${width}`);
      await g.assertClean();
      await p.close();
    });
  }
}

test('the send form works from the keyboard, with a visible focus', async () => {
  const p = await browser.newPage();
  await p.goto(`${server.base}/`);
  await p.waitForSelector('#expiry option', { state: 'attached' });
  await p.setInputFiles('#file-input', [file]);
  const reached = [];
  for (let i = 0; i < 12; i++) {
    await p.keyboard.press('Tab');
    const focus = await p.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      const label = el.nodeName === 'INPUT' && el.type === 'file' ? el.nextElementSibling : el;
      const ring = getComputedStyle(label);
      return {
        id: el.id,
        outline: style.outlineStyle !== 'none' || ring.outlineStyle !== 'none',
      };
    });
    if (focus.id) {
      reached.push(focus.id);
      assert.ok(focus.outline, `no visible focus on #${focus.id}`);
    }
  }
  for (const id of ['file-input', 'expiry', 'dlimit', 'password', 'upload-button']) {
    assert.ok(reached.includes(id), `#${id} is reachable with Tab (reached: ${reached})`);
  }
  await p.focus('#upload-button');
  await p.keyboard.press('Enter');
  await p.waitForSelector('#share:not([hidden])');
  await p.close();
});
