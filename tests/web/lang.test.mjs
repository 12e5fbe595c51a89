// The languages of the web client (web/js/lang/*.js) and its language menu (i18n.js):
// every language has exactly English's keys and placeholders and every plural form its
// Intl.PluralRules asks for; plurals come out right for 0, 1, 2, 5, 21 and a million in
// the browser; the menu switches the language and the choice survives a reload, on every
// page; with no choice the browser's languages decide; and no text overflows its button,
// label or control at phone width (360 px) in any language. Screenshots of each language
// go to a temporary directory (SEALDROP_LANG_SHOTS names one to keep them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

import { WEB_DIR, cli, launchBrowser, makeFile, startServer } from './harness.mjs';

const TAGS = ['en', 'es', 'de', 'fr', 'it', 'pt-BR'];
const COUNTS = [0, 1, 2, 5, 21, 1_000_000];

async function strings(tag) {
  return (await import(pathToFileURL(path.join(WEB_DIR, 'js', 'lang', `${tag}.js`)).href)).default;
}

/** The `{name}` placeholders of a text. */
function placeholders(text) {
  return new Set([...String(text).matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
}

test('every language has exactly the keys, placeholders and plural forms it needs', async () => {
  const en = await strings('en');
  for (const tag of TAGS) {
    const texts = await strings(tag);
    assert.deepEqual(Object.keys(texts).sort(), Object.keys(en).sort(), `${tag}: keys differ from en.js`);
    const categories = new Intl.PluralRules(tag).resolvedOptions().pluralCategories.sort();
    for (const [key, english] of Object.entries(en)) {
      const text = texts[key];
      if (typeof english === 'string') {
        assert.equal(typeof text, 'string', `${tag} ${key}: a plain text in en.js`);
        assert.deepEqual(placeholders(text), placeholders(english), `${tag} ${key}: placeholders`);
        assert.ok(text.trim(), `${tag} ${key}: empty`);
        continue;
      }
      assert.equal(typeof text, 'object', `${tag} ${key}: plural forms in en.js`);
      assert.deepEqual(Object.keys(text).sort(), categories, `${tag} ${key}: the forms of Intl.PluralRules(${tag})`);
      const allowed = new Set([...Object.values(english).flatMap((form) => [...placeholders(form)]), 'count']);
      for (const [form, value] of Object.entries(text)) {
        for (const name of placeholders(value)) assert.ok(allowed.has(name), `${tag} ${key}.${form}: {${name}}`);
      }
      assert.deepEqual(placeholders(text.other), placeholders(english.other), `${tag} ${key}.other: placeholders`);
    }
  }
});

let server;
let browser;
let work;
let link;
let shots;

before(async () => {
  // The web client from the checkout, not the copy embedded at the last build.
  server = await startServer({ args: ['--web-dir', WEB_DIR, '--abuse-contact', 'abuse@example.org'] });
  browser = await launchBrowser();
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-lang-'));
  shots = process.env.SEALDROP_LANG_SHOTS || path.join(work, 'shots');
  await fsp.mkdir(shots, { recursive: true });
  const file = await makeFile(work, 'Urlaubsfotos vom Sommer.zip', 4321, 7);
  const run = await cli(['upload', '-q', '-d', '5', '--host', server.base, file]);
  assert.equal(run.code, 0, run.stderr);
  link = run.stdout.trim();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

/** A page of the client with `tag` chosen in the menu (set in localStorage beforehand). */
async function openIn(page, tag, url) {
  await page.goto(`${server.base}/about.html`);
  await page.evaluate((value) => localStorage.setItem('sealdrop.lang', value), tag);
  await page.goto(url);
  await page.waitForSelector('#lang-menu');
}

test('plural forms in every language, as the browser chooses them', async () => {
  const page = await browser.newPage();
  try {
    for (const tag of TAGS) {
      await openIn(page, tag, `${server.base}/`);
      const texts = await strings(tag);
      const got = await page.evaluate(
        async ({ counts }) => {
          const { lang, t } = await import('/js/i18n.js');
          const out = {};
          for (const key of ['send.total', 'send.downloads', 'send.archiveLabel', 'share.downloadsLeft', 'download.archive']) {
            out[key] = counts.map((count) => t(key, { count, size: '5 MB', first: 'a.txt' }));
          }
          return { lang, out };
        },
        { counts: COUNTS },
      );
      assert.equal(got.lang, tag);
      const rules = new Intl.PluralRules(tag);
      for (const [key, results] of Object.entries(got.out)) {
        COUNTS.forEach((count, i) => {
          const form = texts[key][rules.select(count)];
          const want = form.replace(/\{(\w+)\}/g, (_, name) => String({ count, size: '5 MB', first: 'a.txt' }[name]));
          assert.equal(results[i], want, `${tag} ${key} for ${count}`);
          // A form written with a literal number must be one only that number takes.
          assert.ok(placeholders(form).has('count') || results[i].includes(String(count)), `${tag} ${key} for ${count}: ${results[i]}`);
        });
      }
    }
    // Spot checks that the rules are the language's: French and Portuguese 0 is singular.
    const checks = { en: '0 files', de: '0 Dateien', fr: '0 fichier', 'pt-BR': '0 arquivo', it: '21 file', es: '21 archivos' };
    for (const [tag, want] of Object.entries(checks)) {
      await openIn(page, tag, `${server.base}/about.html`);
      const count = Number(want.split(' ')[0]);
      const got = await page.evaluate((n) => import('/js/i18n.js').then(({ t }) => t('download.archive', { count: n })), count);
      assert.equal(got, want, tag);
    }
  } finally {
    await page.close();
  }
});

test('the menu switches the language, the choice survives a reload and holds on every page', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${server.base}/about.html`);
    await page.evaluate(() => localStorage.clear());
    await page.goto(`${server.base}/`);
    const menu = page.locator('header.top #lang-menu');
    assert.equal(await menu.inputValue(), 'en', 'with no choice, the browser (English) decides');
    assert.deepEqual(await menu.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.lang])), TAGS.map((t) => [t, t]));
    const de = await strings('de');
    await Promise.all([page.waitForNavigation(), menu.selectOption('de')]);
    assert.equal(await page.locator('h1').textContent(), de['send.title']);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
    await page.reload();
    assert.equal(await page.locator('h1').textContent(), de['send.title'], 'after a reload');
    assert.equal(await page.locator('#lang-menu').inputValue(), 'de');
    assert.equal(await page.locator('#lang-menu').getAttribute('id'), 'lang-menu');
    assert.equal(await page.getByLabel(de['common.language']).count(), 1, 'the menu is labelled in the language');

    await page.goto(`${server.base}/about.html`);
    assert.equal(await page.locator('h1').textContent(), de['about.title']);
    assert.equal(await page.locator('#lang-menu').inputValue(), 'de');

    // The legal page is web/legal.html with the operator's parts: it gets the menu too.
    if (fs.existsSync(path.join(WEB_DIR, 'legal.html'))) {
      await page.goto(`${server.base}/legal`);
      assert.equal(await page.locator('h1').textContent(), de['legal.title']);
      assert.equal(await page.locator('#lang-menu').inputValue(), 'de');
    }

    await page.goto(link);
    await page.waitForSelector('#download-button:visible');
    assert.equal(await page.locator('#download-button').textContent(), de['download.download']);
    const it = await strings('it');
    await Promise.all([page.waitForNavigation(), page.locator('#lang-menu').selectOption('it')]);
    await page.waitForSelector('#download-button:visible');
    assert.equal(await page.locator('#download-button').textContent(), it['download.download']);
    await page.goto(`${server.base}/`);
    assert.equal(await page.locator('h1').textContent(), it['send.title'], 'chosen on the download page, kept on the send page');
  } finally {
    await page.close();
  }
});

test("with no choice, the browser's languages decide (pt-PT gets Brazilian Portuguese)", async () => {
  const other = await launchBrowser({ locale: 'pt-PT' });
  try {
    const page = other.pages()[0] ?? (await other.newPage());
    await page.goto(`${server.base}/`);
    await page.waitForSelector('#lang-menu');
    assert.equal(await page.locator('#lang-menu').inputValue(), 'pt-BR');
    assert.equal(await page.locator('h1').textContent(), (await strings('pt-BR'))['send.title']);
  } finally {
    await other.close();
  }
});

/** Controls whose text is wider than their box, every hidden part of `main` shown. */
function overflowing(page) {
  return page.evaluate(() => {
    for (const el of document.querySelectorAll('main [hidden]')) el.hidden = false;
    for (const el of document.querySelectorAll('main dialog')) el.setAttribute('open', '');
    const found = [];
    const root = document.scrollingElement;
    if (root.scrollWidth > window.innerWidth + 1) found.push(`page scrolls sideways: ${root.scrollWidth}`);
    for (const el of document.querySelectorAll('button, .button, label, select, summary, #lang-menu, .link-button')) {
      // Hidden from sight on purpose (text for screen readers only), or not laid out.
      if (!el.getClientRects().length || el.closest('.visually-hidden')) continue;
      if (el.scrollWidth > el.clientWidth + 1) {
        found.push(`${el.id || el.className || el.nodeName}: "${el.textContent.trim().slice(0, 60)}" ${el.scrollWidth} > ${el.clientWidth}`);
      }
      const box = el.getBoundingClientRect();
      if (box.right > window.innerWidth + 1) found.push(`${el.id || el.nodeName} ends at ${box.right}px`);
    }
    return found;
  });
}

test('no text overflows its control at 360 px in any language (screenshots)', async () => {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 360, height: 780 });
  const problems = [];
  try {
    for (const tag of TAGS) {
      for (const [name, url] of [
        ['send', `${server.base}/`],
        ['download', link],
        ['about', `${server.base}/about.html`],
        ...(fs.existsSync(path.join(WEB_DIR, 'legal.html')) ? [['legal', `${server.base}/legal`]] : []),
      ]) {
        await openIn(page, tag, url);
        if (name === 'download') await page.waitForSelector('#download-button:visible');
        await page.screenshot({ path: path.join(shots, `${tag}-${name}.png`), fullPage: true });
        for (const p of await overflowing(page)) problems.push(`${tag} ${name}: ${p}`);
        await page.screenshot({ path: path.join(shots, `${tag}-${name}-all.png`), fullPage: true });
      }
    }
  } finally {
    await page.close();
  }
  assert.deepEqual(problems, []);
});
