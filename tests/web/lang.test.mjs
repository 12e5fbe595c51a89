// The languages of the web client (web/js/lang/*.js) and its language menu (i18n.js):
// every language has exactly English's keys and placeholders and every plural form its
// Intl.PluralRules asks for; plurals come out right for 0, 1, 2, 5, 21 and a million in
// the browser; the menu switches the language and the choice survives a reload, on every
// page; with no choice the browser's languages decide; and no text overflows its button,
// label or control at phone width (360 px) in any language. Counts are written the
// language's way (1,000,000 / 1.000.000 / 1 000 000). The browser parts run in every
// engine of ENGINES. Screenshots of each language go to a temporary directory
// (SEALDROP_LANG_SHOTS names one to keep them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

import { ENGINES, WEB_DIR, cli, launchEngine, makeFile, startServer } from './harness.mjs';

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
/** The launched browsers, by engine. */
const browsers = {};
let work;
let link;
let shots;

before(async () => {
  // The web client from the checkout, not the copy embedded at the last build.
  server = await startServer({ args: ['--web-dir', WEB_DIR, '--abuse-contact', 'abuse@example.org'] });
  for (const engine of ENGINES) browsers[engine] = await launchEngine(engine);
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-lang-'));
  shots = process.env.SEALDROP_LANG_SHOTS || path.join(work, 'shots');
  await fsp.mkdir(shots, { recursive: true });
  const file = await makeFile(work, 'Urlaubsfotos vom Sommer.zip', 4321, 7);
  const run = await cli(['upload', '-q', '-d', '5', '--host', server.base, file]);
  assert.equal(run.code, 0, run.stderr);
  link = run.stdout.trim();
});

after(async () => {
  for (const b of Object.values(browsers)) await b.close();
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

/** Chooses `tag` in the language menu, which reloads the page. */
async function choose(page, tag) {
  await Promise.all([page.waitForNavigation(), page.selectOption('#lang-menu', tag)]);
  await page.waitForSelector('#lang-menu');
}

const heading = (page) => page.evaluate(() => document.querySelector('h1').textContent);

for (const engine of ENGINES) {
  test(`${engine}: plural forms in every language, as the browser chooses them, with the language's digits`, async () => {
    const page = await browsers[engine].newPage();
    try {
      for (const tag of TAGS) {
        await openIn(page, tag, `${server.base}/`);
        const texts = await strings(tag);
        const got = await page.evaluate(
          async ({ counts }) => {
            const { lang, t } = await import('/js/i18n.js');
            const out = {};
            for (const key of ['send.total', 'send.downloads', 'send.archiveLabel', 'share.downloadsLeft', 'download.archive', 'download.left']) {
              out[key] = counts.map((count) => t(key, { count, size: '5 MB', first: 'a.txt' }));
            }
            return { lang, out };
          },
          { counts: COUNTS },
        );
        assert.equal(got.lang, tag);
        const rules = new Intl.PluralRules(tag);
        const digits = new Intl.NumberFormat(tag);
        for (const [key, results] of Object.entries(got.out)) {
          COUNTS.forEach((count, i) => {
            const form = texts[key][rules.select(count)];
            const vars = { count: digits.format(count), size: '5 MB', first: 'a.txt' };
            const want = form.replace(/\{(\w+)\}/g, (_, name) => String(vars[name]));
            assert.equal(results[i], want, `${tag} ${key} for ${count}`);
            // A form written with a literal number must be one only that number takes.
            assert.ok(placeholders(form).has('count') || results[i].includes(String(count)), `${tag} ${key} for ${count}: ${results[i]}`);
          });
        }
      }
      // Spot checks that the rules are the language's: French and Portuguese 0 is singular;
      // and that a million is written the language's way.
      const checks = {
        en: [0, '0 files'],
        de: [0, '0 Dateien'],
        fr: [0, '0 fichier'],
        'pt-BR': [0, '0 arquivo'],
        it: [21, '21 file'],
        es: [21, '21 archivos'],
      };
      const millions = {
        en: '1,000,000 files',
        de: '1.000.000 Dateien',
        fr: '1\u202f000\u202f000 de fichiers',
        'pt-BR': '1.000.000 de arquivos',
        it: '1.000.000 di file',
        es: '1.000.000 de archivos',
      };
      for (const [tag, [count, want]] of Object.entries(checks)) {
        await openIn(page, tag, `${server.base}/about.html`);
        const got = await page.evaluate(
          (counts) => import('/js/i18n.js').then(({ t }) => counts.map((n) => t('download.archive', { count: n }))),
          [count, 1_000_000],
        );
        assert.deepEqual(got, [want, millions[tag]], tag);
      }
    } finally {
      await page.close();
    }
  });

  test(`${engine}: the menu switches the language, the choice survives a reload and holds on every page`, async () => {
    const page = await browsers[engine].newPage();
    try {
      await page.goto(`${server.base}/about.html`);
      await page.evaluate(() => localStorage.clear());
      await page.goto(`${server.base}/`);
      await page.waitForSelector('header.top #lang-menu');
      assert.equal(await page.inputValue('#lang-menu'), 'en', 'with no choice, the browser (English) decides');
      const options = await page.evaluate(() => [...document.querySelectorAll('#lang-menu option')].map((o) => [o.value, o.lang]));
      assert.deepEqual(options, TAGS.map((t) => [t, t]));
      const de = await strings('de');
      await choose(page, 'de');
      assert.equal(await heading(page), de['send.title']);
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
      await page.reload();
      await page.waitForSelector('#lang-menu');
      assert.equal(await heading(page), de['send.title'], 'after a reload');
      assert.equal(await page.inputValue('#lang-menu'), 'de');
      const label = await page.evaluate(() => document.getElementById('lang-menu').labels[0]?.querySelector('.visually-hidden')?.textContent);
      assert.equal(label, de['common.language'], 'the menu is labelled in the language');

      await page.goto(`${server.base}/about.html`);
      await page.waitForSelector('#lang-menu');
      assert.equal(await heading(page), de['about.title']);
      assert.equal(await page.inputValue('#lang-menu'), 'de');

      // The legal page is web/legal.html with the operator's parts: it gets the menu too.
      if (fs.existsSync(path.join(WEB_DIR, 'legal.html'))) {
        await page.goto(`${server.base}/legal`);
        await page.waitForSelector('#lang-menu');
        assert.equal(await heading(page), de['legal.title']);
        assert.equal(await page.inputValue('#lang-menu'), 'de');
      }

      await page.goto(link);
      await page.waitForSelector('#download-button');
      assert.equal(await page.textContent('#download-button'), de['download.download']);
      const it = await strings('it');
      await choose(page, 'it');
      await page.waitForSelector('#download-button');
      assert.equal(await page.textContent('#download-button'), it['download.download']);
      await page.goto(`${server.base}/`);
      await page.waitForSelector('#lang-menu');
      assert.equal(await heading(page), it['send.title'], 'chosen on the download page, kept on the send page');
    } finally {
      await page.close();
    }
  });

  test(`${engine}: with no choice, the browser's languages decide (pt-PT gets Brazilian Portuguese)`, async () => {
    const other = await launchEngine(engine, engine === 'firefox' ? { prefs: { 'intl.accept_languages': 'pt-PT' } } : { locale: 'pt-PT' });
    try {
      const page = await other.newPage();
      await page.goto(`${server.base}/`);
      await page.waitForSelector('#lang-menu');
      assert.equal(await page.inputValue('#lang-menu'), 'pt-BR');
      assert.equal(await heading(page), (await strings('pt-BR'))['send.title']);
      await page.close();
    } finally {
      await other.close();
    }
  });
}

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
      // An inline box wraps with its line and has no width of its own (clientWidth is 0;
      // Firefox gives it a scrollWidth, Chromium 0): its right edge is checked below.
      const inline = getComputedStyle(el).display === 'inline';
      if (!inline && el.scrollWidth > el.clientWidth + 1) {
        found.push(`${el.id || el.className || el.nodeName}: "${el.textContent.trim().slice(0, 60)}" ${el.scrollWidth} > ${el.clientWidth}`);
      }
      const box = el.getBoundingClientRect();
      if (box.right > window.innerWidth + 1) found.push(`${el.id || el.nodeName} ends at ${box.right}px`);
    }
    return found;
  });
}

for (const engine of ENGINES) {
  test(`${engine}: no text overflows its control at 360 px in any language (screenshots)`, async () => {
    const page = await browsers[engine].newPage();
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
          if (name === 'download') {
            await page.waitForSelector('#download-button');
            // The longest text the button takes: after a download, with a count.
            const again = await page.evaluate(() => import('/js/i18n.js').then(({ t }) => t('download.again', { count: 20 })));
            await page.evaluate((text) => {
              document.getElementById('download-button').textContent = text;
            }, again);
          }
          await page.screenshot({ path: path.join(shots, `${engine}-${tag}-${name}.png`), fullPage: true });
          for (const p of await overflowing(page)) problems.push(`${engine} ${tag} ${name}: ${p}`);
          await page.screenshot({ path: path.join(shots, `${engine}-${tag}-${name}-all.png`), fullPage: true });
        }
      }
    } finally {
      await page.close();
    }
    assert.deepEqual(problems, []);
  });
}
