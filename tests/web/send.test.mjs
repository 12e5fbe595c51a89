// The send page beyond the transfer itself, in headless Chromium against the real
// sealdrop-server (issue 17, sections 4 and 5): the password strength meter and suggested
// passphrases, the share panel (name and size, "Password: on · change", delete asks
// first, success not styled as an error), the warning before leaving, "keep my links",
// the list of this browser's shares with what happened to each, the server's limits
// before anything is chosen, progress in the tab title, focus rings, and the phone layout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { WEB_DIR, cli, guard, launchBrowser, makeFile, screenshot, startServer } from './harness.mjs';
import en from '../../web/js/lang/en.js';
import es from '../../web/js/lang/es.js';

const EFF = new Set(
  fs
    .readFileSync(path.join(WEB_DIR, 'vendor/eff-wordlist/eff_large_wordlist.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop())
    .filter(Boolean),
);

let work;
let server;
let browser;

before(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-web-send-'));
  server = await startServer({ args: ['--max-file-size', '2.5GB', '--max-expiry', '7d'] });
  browser = await launchBrowser({ permissions: ['clipboard-read', 'clipboard-write'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const secretOf = (link) => new URL(link).hash.slice(1);
const idOf = (link) => new URL(link).pathname.split('/')[2];

async function open(p = null) {
  const page = p ?? (await browser.newPage());
  await page.goto(`${server.base}/`);
  await page.waitForSelector('#expiry option', { state: 'attached' });
  return page;
}

/** Uploads `files` from the page; returns the link from the share panel. */
async function upload(p, files, { password } = {}) {
  await p.setInputFiles('#file-input', files);
  if (password) await p.fill('#password', password);
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
  return p.inputValue('#share-link');
}

const strengthText = (p, id = 'password') => p.textContent(`#${id}-strength`);

test('the strength meter judges passwords in words, and suggests unique 77-bit passphrases', async () => {
  const p = await open();
  const g = await guard(p, server.base);
  await p.focus('#password');
  // The lists arrive on first focus; the verdict of a common password needs them.
  await p.fill('#password', 'P@ssw0rd');
  await p.waitForFunction((text) => document.getElementById('password-strength').textContent === text, en['strength.common']);
  await p.fill('#password', 'letmein2024');
  assert.equal(await strengthText(p), en['strength.veryWeak']);
  await p.fill('#password', 'correct horse battery staple');
  assert.equal(await strengthText(p), en['strength.fair']);
  await p.fill('#password', 'x7Gq!pR2mZ8w#Lb4');
  assert.equal(await strengthText(p), en['strength.veryStrong']);
  assert.equal(await p.getAttribute('#password', 'aria-describedby'), 'password-strength');
  await p.fill('#password', '');
  assert.equal(await strengthText(p), '');

  const seen = new Set();
  for (let i = 0; i < 20; i++) {
    await p.click('#password-suggest');
    const value = await p.inputValue('#password');
    const words = value.split('-');
    assert.equal(words.length, 6, value);
    for (const w of words) assert.ok(EFF.has(w), `${w} is a word of the EFF list`);
    assert.ok(Number(await p.getAttribute('#password', 'data-suggested-bits')) >= 77);
    assert.equal(await p.getAttribute('#password', 'type'), 'text', 'a suggestion is shown');
    assert.equal(await strengthText(p), `${en['strength.veryStrong']} ${en['strength.suggested']}`);
    seen.add(value);
  }
  assert.equal(seen.size, 20, 'suggestions do not repeat');

  // The estimator and the sampler themselves, as the page loads them.
  const facts = await p.evaluate(async () => {
    const s = await import('/js/strength.js');
    const lists = await s.loadLists();
    // Rejection sampling: draws at or above the largest multiple of n (3 · 1431655765 =
    // 2^32 - 1 for n = 3) are thrown away; the one below it is kept.
    const draws = [2 ** 32 - 1, 2 ** 32 - 2, 7];
    const fake = (buf) => {
      buf[0] = draws.shift();
    };
    const picked = s.uniformIndex(3, fake);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[s.uniformIndex(3)]++;
    return {
      words: lists.words.length,
      picked,
      left: draws.length,
      counts,
      bits: s.suggestPassphrase(lists.words).bits,
      letmein: s.estimate('letmein2024', lists).bits,
    };
  });
  assert.equal(facts.words, 7776);
  assert.equal(facts.picked, (2 ** 32 - 2) % 3, '2^32-1 rejected, 2^32-2 kept');
  assert.equal(facts.left, 1);
  for (const c of facts.counts) assert.ok(c > 850 && c < 1150, `${facts.counts}`);
  assert.ok(facts.bits >= 77 && facts.bits < 78, facts.bits);
  // The same figure as the CLI's estimator (cli/src/strength.rs: agrees_with_the_web_page).
  assert.ok(Math.abs(facts.letmein - 24.8) < 0.1, facts.letmein);
  await screenshot(p, 'send-strength');

  // The share panel's password field has its own meter.
  await p.fill('#password', '');
  await upload(p, [await makeFile(work, 'meter.bin', 1000, 1)]);
  await p.fill('#share-password', '123456');
  await p.waitForFunction((text) => document.getElementById('share-password-strength').textContent === text, en['strength.common']);
  await p.click('#share-password-suggest');
  assert.equal((await p.inputValue('#share-password')).split('-').length, 6);
  await g.assertClean();
  await p.close();
});

test('the verdicts are in Spanish for a Spanish reader, with every key translated', async () => {
  for (const key of Object.keys(en)) assert.ok(key in es, `es.js has ${key}`);
  const spanish = await launchBrowser({ locale: 'es-ES' });
  try {
    const p = await spanish.newPage();
    await p.goto(`${server.base}/`);
    await p.focus('#password');
    await p.fill('#password', 'qwerty');
    await p.waitForFunction((text) => document.getElementById('password-strength').textContent === text, es['strength.common']);
    assert.equal(await p.textContent('#password-suggest'), es['strength.suggest']);
  } finally {
    await spanish.close();
  }
});

test('the share panel: name and size, "Password: on · change", delete asks first, success is not an error', async () => {
  const p = await open();
  const file = await makeFile(work, 'report.pdf', 2_500_000, 2);
  const link = await upload(p, [file], { password: 'stunt-glider-unsaid-opal-gaming-roster' });
  assert.equal(await p.textContent('#share-file'), 'report.pdf · 2.5 MB');
  assert.equal(await p.isVisible('#password-state'), true);
  assert.equal(await p.textContent('#password-state'), `${en['share.passwordOn']} · ${en['share.change']}`);
  assert.equal(await p.isVisible('#password-form'), false, 'no empty "Require a password" under a set one');
  await p.click('#change-password');
  assert.equal(await p.isVisible('#password-form'), true);
  assert.equal(await p.textContent('#share-password-label'), en['share.newPassword']);
  await p.fill('#share-password', 'opal-gaming-roster-stunt-glider-unsaid');
  await p.click('#password-form button[type="submit"]');
  await p.waitForFunction((text) => document.getElementById('password-status').textContent === text, en['share.passwordSet']);
  assert.equal(await p.getAttribute('#password-status', 'class'), 'status success');
  const colours = await p.evaluate(() => ({
    ok: getComputedStyle(document.getElementById('password-status')).color,
    error: getComputedStyle(document.getElementById('send-error')).color,
  }));
  assert.notEqual(colours.ok, colours.error);

  // Delete asks first; "Keep it" keeps it.
  await p.click('#delete');
  assert.equal(await p.isVisible('#delete-confirm-box'), true);
  assert.equal(await p.textContent('#delete-question'), en['share.deleteQuestion']);
  assert.equal(await p.evaluate(() => document.activeElement.id), 'delete-cancel');
  assert.equal((await cli(['exists', link])).code, 0);
  await screenshot(p, 'share-delete-confirm');
  await p.click('#delete-cancel');
  assert.equal(await p.isVisible('#delete-confirm-box'), false);
  await p.click('#delete');
  await p.click('#delete-confirm');
  await p.waitForSelector('#compose:not([hidden])');
  assert.equal(await p.textContent('#send-note'), en['share.deleted']);
  assert.equal(await p.getAttribute('#send-note', 'class'), 'success');
  assert.equal(await p.isVisible('#send-error'), false);
  assert.equal((await cli(['exists', link])).code, 2);
  // The list keeps it, saying what happened, until dismissed.
  const item = p.locator(`#share-list li[data-id="${idOf(link)}"]`);
  assert.equal(await item.locator('.facts').textContent(), en['shares.deleted']);
  await item.getByRole('button', { name: en['shares.dismissNamed'].replace('{name}', 'report.pdf') }).click();
  assert.equal(await item.count(), 0);
  await p.close();
});

test('leaving warns while an upload runs and while a fresh link was not copied', async () => {
  const p = await open();
  const prevented = () =>
    p.evaluate(() => {
      const e = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    });
  assert.equal(await prevented(), false, 'nothing to lose yet');
  await p.setInputFiles('#file-input', [await makeFile(work, 'big.bin', 48_000_000, 3)]);
  await p.click('#upload-button');
  // A fast machine may finish before the check: then the uncopied link is what warns.
  await p.waitForSelector('#progress:not([hidden]), #share:not([hidden])');
  const during = await p.evaluate(() => {
    const e = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(e);
    return { prevented: e.defaultPrevented, uploading: !document.getElementById('progress').hidden };
  });
  assert.equal(during.prevented, true, `an upload runs or its link is uncopied (${JSON.stringify(during)})`);
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
  assert.equal(await prevented(), true, 'the link was not copied');
  // The real dialog, as a browser shows it.
  const dialog = new Promise((resolve) => p.once('dialog', (d) => resolve(d)));
  await p.close({ runBeforeUnload: true });
  const shown = await dialog;
  assert.equal(shown.type(), 'beforeunload');
  await shown.dismiss();
  assert.equal(p.isClosed(), false);

  await p.click('#copy');
  await p.waitForFunction((text) => document.getElementById('copy-status').textContent === text, en['share.copied']);
  assert.equal(await p.getAttribute('#copy-status', 'class'), 'status success');
  assert.equal(await p.evaluate(() => navigator.clipboard.readText()), await p.inputValue('#share-link'));
  assert.equal(await prevented(), false, 'copied: nothing to lose');
  await p.close();
});

test('keep my links: off keeps no key; on, "Your shares" copies the link again; ended shares say what happened', async () => {
  const p = await open();
  await p.evaluate(() => localStorage.clear());
  await p.reload();
  await p.waitForSelector('#expiry option', { state: 'attached' });
  assert.equal(await p.isChecked('#keep-links'), false);
  assert.equal(await p.textContent('#keep-links-hint'), en['keep.hint']);
  const first = await upload(p, [await makeFile(work, 'photo-1.jpg', 1200, 4)]);
  let stored = await p.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.equal(stored.includes(secretOf(first)), false, 'no key kept while the switch is off');
  await p.click('#send-another');
  assert.equal(await p.locator(`#share-list li[data-id="${idOf(first)}"] .copy-again`).count(), 0);

  await p.check('#keep-links');
  const files = [
    await makeFile(work, 'a-photo.jpg', 1000, 5),
    await makeFile(work, 'b.jpg', 1000, 6),
    await makeFile(work, 'c.jpg', 1000, 7),
  ];
  const second = await upload(p, files, { password: 'unsaid-opal-gaming-roster-stunt-glider' });
  await p.click('#send-another');
  const item = p.locator(`#share-list li[data-id="${idOf(second)}"]`);
  assert.equal(await item.locator('.name').textContent(), 'a-photo.jpg + 2 more');
  const details = await item.locator('.details').textContent();
  assert.match(details, /^3 KB · sent .+ · password on$/);
  await item.locator('.copy-again').click();
  assert.equal(await p.evaluate(() => navigator.clipboard.readText()), second);

  // The first share is downloaded (its one download) by the CLI: the list says so.
  const out = path.join(work, 'got-photo');
  assert.equal((await cli(['download', '-q', '-o', out, first])).code, 0);
  await p.reload();
  const ended = p.locator(`#share-list li[data-id="${idOf(first)}"]`);
  await p.waitForFunction(
    ([id, text]) => document.querySelector(`#share-list li[data-id="${id}"] .facts`)?.textContent === text,
    [idOf(first), en['shares.downloaded'].replace('{count}', '1').replace('{limit}', '1')],
  );
  assert.match(await ended.locator('.details').textContent(), /no password$/);
  await screenshot(p, 'send-shares-list');

  // Turning the switch off forgets every kept key.
  await p.uncheck('#keep-links');
  stored = await p.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.equal(stored.includes(secretOf(second)), false);
  assert.equal(await item.locator('.copy-again').count(), 0);
  await p.close();
});

test('the limits show before anything is chosen, and the tab title shows progress', async () => {
  const p = await browser.newPage();
  await p.addInitScript(() => {
    window.__titles = [];
    new MutationObserver(() => window.__titles.push(document.title)).observe(document, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  await open(p);
  assert.equal(await p.textContent('#limits'), 'Up to 2.5 GB · 64 files · kept up to 7 days');
  assert.equal(await p.isVisible('#limits'), true);
  await upload(p, [await makeFile(work, 'title.bin', 8_000_000, 8)]);
  const titles = await p.evaluate(() => window.__titles);
  assert.ok(titles.some((t) => /^\d+% uploaded · sealdrop$/.test(t)), `titles: ${titles}`);
  assert.equal(await p.title(), 'sealdrop');
  await p.close();
});

test('focus rings only where focus is: none beside a focused field, none on script-focused titles', async () => {
  const p = await open();
  await upload(p, [await makeFile(work, 'focus.bin', 500, 9)]);
  const title = await p.evaluate(() => ({
    id: document.activeElement.id,
    outline: getComputedStyle(document.activeElement).outlineStyle,
  }));
  assert.deepEqual(title, { id: 'share-title', outline: 'none' });
  // Keyboard focus on the password field: its ring, and none on the button beside it.
  await p.focus('#share-link');
  for (let i = 0; i < 12 && (await p.evaluate(() => document.activeElement.id)) !== 'share-password'; i++) {
    await p.keyboard.press('Tab');
  }
  const rings = await p.evaluate(() => ({
    field: getComputedStyle(document.getElementById('share-password')).outlineStyle,
    button: getComputedStyle(document.querySelector('#password-form button[type="submit"]')).outlineStyle,
  }));
  assert.deepEqual(rings, { field: 'solid', button: 'none' });
  await p.close();
});

test('on a phone: a share button, the QR code behind "Show QR code", no "drop here", the button in view', async () => {
  const phone = await launchBrowser({
    viewport: { width: 390, height: 700 },
    isMobile: true,
    hasTouch: true,
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  try {
    const p = await phone.newPage();
    await p.addInitScript(() => {
      // Headless Chromium on Linux has no share sheet: a stand-in records what is shared.
      navigator.share = async (data) => {
        window.__shared = data;
      };
    });
    await p.goto(`${server.base}/`);
    await p.waitForSelector('#expiry option', { state: 'attached' });
    assert.equal(await p.isVisible('.drop-hint'), false, 'nothing to drop from on a touch screen');
    const many = [];
    for (let i = 0; i < 12; i++) many.push(await makeFile(work, `phone-${i}.txt`, 100, 20 + i));
    await p.setInputFiles('#file-input', many);
    const inView = await p.evaluate(() => {
      const r = document.getElementById('upload-button').getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    });
    assert.equal(inView, true, 'the upload button is in view after choosing files');
    await p.click('#upload-button');
    await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
    const link = await p.inputValue('#share-link');
    assert.equal(await p.isVisible('#qr svg'), false, 'the QR code waits');
    await p.click('#show-qr');
    assert.equal(await p.isVisible('#qr svg'), true);
    assert.equal(await p.getAttribute('#show-qr', 'aria-expanded'), 'true');
    await p.click('#native-share');
    await p.waitForFunction(() => window.__shared);
    assert.equal(await p.evaluate(() => window.__shared.url), link);
    await screenshot(p, 'share-phone');
  } finally {
    await phone.close();
  }
});
