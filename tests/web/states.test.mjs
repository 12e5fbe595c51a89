// What the pages say in the states around a transfer, in every engine of ENGINES where it
// is behaviour: the download page after a download (the final state, downloads left, a
// button that says it spends another download, no "Report" once the link is used up); a
// gone link and a wrong or incomplete key; too many wrong passwords (the form stays,
// counting down from Retry-After); the "end-to-end encrypted" line and the caution; no
// service worker (what still works); an archive named as its sender saw it; and an
// upload the server refuses with 429 (the wait, counted down, then sending again).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  ENGINES,
  WEB_DIR,
  cli,
  craftShare,
  guard,
  launchBrowser,
  launchEngine,
  makeFile,
  sha256File,
  startServer,
  waitForDownload,
} from './harness.mjs';
import en from '../../web/js/lang/en.js';
import { b64uEncode, newSecret } from '../../web/js/crypto.js';

let server;
/** A server that allows 2 wrong passwords per file, then one every 3 s. */
let strict;
/** A server that allows 1 upload, then one every 4 s. */
let slow;
const browsers = {};
let work;

before(async () => {
  server = await startServer({ args: ['--web-dir', WEB_DIR] });
  strict = await startServer({ args: ['--web-dir', WEB_DIR], env: { SEALDROP_WRONG_PASSWORD_RATE: '2,3s' } });
  slow = await startServer({ args: ['--web-dir', WEB_DIR], env: { SEALDROP_UPLOAD_RATE: '1,4s' } });
  for (const engine of new Set(['chromium', ...ENGINES])) browsers[engine] = await launchEngine(engine);
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-states-'));
});

after(async () => {
  for (const b of Object.values(browsers)) await b.close();
  for (const s of [server, strict, slow]) await s?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const secretOf = (link) => new URL(link).hash.slice(1);

async function page(engine, secrets = [], base = server.base) {
  const p = await browsers[engine].newPage();
  const g = await guard(p, base, { secrets });
  return { p, g };
}

async function cliUpload(files, extra = [], base = server.base) {
  const run = await cli(['upload', '-q', '--host', base, ...extra, ...files]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

async function openLink(p, link) {
  await p.goto(link);
  await p.waitForSelector('#ready:not([hidden]), #unlock:not([hidden]), #gone:not([hidden]), #broken:not([hidden])');
}

const text = (p, selector) => p.evaluate((s) => document.querySelector(s)?.textContent.trim() ?? null, selector);
const shown = (p, selector) => p.isVisible(selector);

/** Clicks Download, waits for the file and for the page to settle on what follows. */
async function downloadOnce(p) {
  const saved = await waitForDownload(p, () => p.click('#download-button'));
  await p.waitForFunction(
    () => /\S/.test(document.getElementById('download-status').textContent)
      && !/…/.test(document.getElementById('download-status').textContent)
      && (document.getElementById('download-button').hidden || !document.getElementById('download-button').disabled),
  );
  return saved;
}

for (const engine of ENGINES) {
  test(`${engine}: after each download the page shows the final state, what is left, and what another click spends`, async () => {
    const file = await makeFile(work, `thrice-${engine}.bin`, 70_000, 1);
    const link = await cliUpload([file], ['-d', '3']);
    const { p, g } = await page(engine, [secretOf(link)]);
    await openLink(p, link);
    // The server says how many are left (its `downloadsLeft`).
    const left = (n) => en['download.left'].other.replace('{count}', String(n));
    assert.equal(await text(p, '#downloads-left'), left(3));
    assert.equal(await text(p, '#download-button'), en['download.download']);
    assert.equal(await shown(p, '.e2e'), true);
    assert.equal(await text(p, '.e2e'), en['download.e2e']);
    assert.equal(await text(p, '.caution'), en['download.caution']);

    let saved = await downloadOnce(p);
    assert.equal(await sha256File(saved.path), await sha256File(file));
    assert.equal(await text(p, '#download-status'), en['download.done']);
    assert.equal(await shown(p, '#download-progress'), false, 'no stale progress beside "Downloaded."');
    assert.equal(await text(p, '#downloads-left'), left(2));
    assert.equal(await text(p, '#download-button'), en['download.again'].other.replace('{count}', '2'));
    assert.equal(await shown(p, '#final-warning'), false);
    assert.equal(await shown(p, '#report-open'), true);

    saved = await downloadOnce(p);
    assert.equal(await sha256File(saved.path), await sha256File(file));
    assert.equal(await text(p, '#download-status'), en['download.done']);
    assert.equal(await text(p, '#downloads-left'), en['download.left'].one);
    assert.equal(await text(p, '#download-button'), en['download.again'].one);
    assert.equal(await shown(p, '#final-warning'), true);

    saved = await downloadOnce(p);
    assert.equal(await sha256File(saved.path), await sha256File(file));
    assert.equal(await text(p, '#download-status'), en['download.doneFinal']);
    assert.equal(await text(p, '#downloads-left'), en['download.left'].other.replace('{count}', '0'));
    assert.equal(await shown(p, '#download-button'), false);
    assert.equal(await shown(p, '#report-open'), false, 'nothing to report once the link no longer works');
    assert.equal(await shown(p, '#download-progress'), false);
    await g.assertClean();
    await p.close();
  });

  test(`${engine}: a gone link gives its possible reasons; a wrong or missing key says so in title and text`, async () => {
    const file = await makeFile(work, `short-${engine}.bin`, 100, 2);
    const expired = await cliUpload([file], ['-e', '1']);
    const live = await cliUpload([file]);
    await new Promise((resolve) => setTimeout(resolve, 2200));
    const { p, g } = await page(engine, [secretOf(expired), secretOf(live)]);
    for (const link of [expired, `${server.base}/download/0123456789abcdef/#AAAAAAAAAAAAAAAAAAAAAA`]) {
      await openLink(p, link);
      assert.equal(await shown(p, '#gone'), true, link);
      assert.equal(await text(p, 'h1'), en['download.goneHeading']);
      assert.equal(await text(p, '#gone-title'), en['download.goneTitle']);
      assert.doesNotMatch(await text(p, '#gone-title'), /expired/i, 'not "This link has expired"');
      const reasons = await p.evaluate(() => [...document.querySelectorAll('#gone li')].map((li) => li.textContent));
      assert.deepEqual(reasons, ['goneExpired', 'goneUsed', 'goneDeleted', 'goneNever'].map((k) => en[`download.${k}`]));
    }

    // A key of the right shape that is not this file's.
    await openLink(p, `${live.split('#')[0]}#${b64uEncode(newSecret())}`);
    assert.equal(await shown(p, '#broken'), true);
    assert.equal(await text(p, '#broken-title'), en['download.wrongKeyTitle']);
    assert.equal(await text(p, '#broken-text'), en['download.wrongKey']);

    await p.goto('about:blank');
    await openLink(p, live.split('#')[0]);
    assert.equal(await text(p, '#broken-title'), en['download.brokenTitle']);
    assert.equal(await text(p, '#broken-text'), en['download.noKey']);
    await g.assertClean();
    await p.close();
  });

  test(`${engine}: too many wrong passwords keep the form and count down from Retry-After`, async () => {
    const file = await makeFile(work, `locked-${engine}.txt`, 3000, 3);
    const password = 'plenty of tries left';
    const link = await cliUpload([file], [`--password=${password}`, '-d', '5'], strict.base);
    const { p, g } = await page(engine, [secretOf(link), password], strict.base);
    await openLink(p, link);
    for (let i = 0; i < 2; i++) {
      await p.fill('#unlock-password', `wrong ${i}`);
      await p.click('#unlock-button');
      await p.waitForSelector('#unlock-error:not([hidden])');
      await p.evaluate(() => {
        document.getElementById('unlock-error').hidden = true;
      });
    }
    await p.fill('#unlock-password', 'wrong again');
    await p.click('#unlock-button');
    await p.waitForSelector('#unlock-wait:not([hidden])');
    assert.equal(await shown(p, '#unlock'), true, 'the password form stays');
    assert.equal(await shown(p, '#broken'), false);
    const first = await text(p, '#unlock-wait');
    const pattern = new RegExp(`^${en['download.tooManyPasswords'].replace('{time}', '(\\d+)s').replace('.', '\\.')}$`);
    const seconds = Number(pattern.exec(first)?.[1]);
    assert.ok(seconds >= 1 && seconds <= 4, first);
    assert.equal(await p.evaluate(() => document.getElementById('unlock-button').disabled), true);
    // It counts down, then lets the person try again.
    await p.waitForFunction(
      ([re, start]) => {
        const m = new RegExp(re).exec(document.getElementById('unlock-wait').textContent);
        return m && Number(m[1]) < start;
      },
      [pattern.source, seconds],
      { timeout: 3000 },
    );
    await p.waitForFunction(() => !document.getElementById('unlock-button').disabled, undefined, { timeout: 6000 });
    assert.equal(await text(p, '#unlock-wait'), en['download.tryAgainNow']);
    await p.fill('#unlock-password', password);
    await p.click('#unlock-button');
    await p.waitForSelector('#ready:not([hidden])');
    await g.assertClean();
    await p.close();
  });

  test(`${engine}: several files are named as their sender saw them, for the recipient too`, async () => {
    const dir = path.join(work, `named-${engine}`);
    await fsp.mkdir(dir);
    const files = [
      await makeFile(dir, 'photo-1.jpg', 1000, 4),
      await makeFile(dir, 'photo-2.jpg', 2000, 5),
      await makeFile(dir, 'notes.txt', 30, 6),
    ];
    const { p, g } = await page(engine);
    await p.goto(`${server.base}/`);
    await p.setInputFiles('#file-input', files);
    // One download for the CLI, one for the browser.
    await p.selectOption('#dlimit', '2');
    await p.click('#upload-button');
    await p.waitForSelector('#share:not([hidden])', { timeout: 60_000 });
    const link = await p.inputValue('#share-link');
    const seen = await text(p, '#share-list li .name');
    assert.equal(seen, 'photo-1.jpg + 2 more');
    await g.assertClean();
    await p.close();

    const info = await cli(['--json', 'info', link]);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).name, 'photo-1.jpg + 2 more.zip');
    const out = path.join(work, `named-out-${engine}`);
    const got = await cli(['download', '-q', '-o', out, link]);
    assert.equal(got.code, 0, got.stderr);
    for (const f of files) assert.equal(await sha256File(path.join(out, path.basename(f))), await sha256File(f));

    const { p: q, g: h } = await page(engine, [secretOf(link)]);
    await openLink(q, link);
    assert.equal(await text(q, '#file-name'), seen);
    assert.match(await text(q, '#file-facts'), /^3 files · /);
    const saved = await downloadOnce(q);
    assert.equal(saved.name, 'photo-1.jpg + 2 more.zip');
    await h.assertClean();
    await q.close();
  });

  test(`${engine}: an upload refused with 429 shows the wait, counts down, then lets the person send`, async () => {
    const file = await makeFile(work, `often-${engine}.txt`, 500, 7);
    // The one upload the bucket allows, used up by the CLI.
    await cliUpload([file], [], slow.base);
    const { p, g } = await page(engine, [], slow.base);
    await p.goto(`${slow.base}/`);
    await p.setInputFiles('#file-input', [file]);
    await p.click('#upload-button');
    await p.waitForSelector('#send-error:not([hidden])', { timeout: 30_000 });
    const first = await text(p, '#send-error');
    const pattern = new RegExp(`^${en['send.rateLimited'].replace('{time}', '(\\d+)s').replaceAll('.', '\\.')}$`);
    const seconds = Number(pattern.exec(first)?.[1]);
    assert.ok(seconds >= 1 && seconds <= 5, first);
    assert.equal(await shown(p, '#compose'), true);
    assert.equal(await p.evaluate(() => document.getElementById('upload-button').disabled), true);
    assert.equal(await text(p, '#selection-title'), '1 file, 500 B', 'the chosen file stays');
    await p.waitForFunction(() => !document.getElementById('upload-button').disabled, undefined, { timeout: 8000 });
    assert.equal(await text(p, '#send-note'), en['send.canSendAgain']);
    assert.equal(await shown(p, '#send-error'), false);
    await p.click('#upload-button');
    await p.waitForSelector('#share:not([hidden])', { timeout: 30_000 });
    // The refused WebSocket (429 before the upgrade, then the HTTP route is tried) is one
    // Firefox logs as a page error of its own; nothing else may appear.
    const refusedSocket = /can.t establish a connection to the server at ws:\/\/.*\/api\/ws/;
    if (engine === 'firefox') assert.deepEqual(g.problems.filter((problem) => !refusedSocket.test(problem)), []);
    else await g.assertClean();
    await p.close();
  });
}

// Chromium only: Firefox saves from a Blob and never needs the service worker, and
// Chromium offers a save dialog instead, so the dialog is taken away here.
test('without a service worker or a save dialog, a large file says so and names what still works', async () => {
  const context = await launchBrowser({ serviceWorkers: 'block' });
  try {
    const link = await craftShare(server.base, { name: 'big.iso', size: 300_000_000, type: 'application/octet-stream', manifest: {} }, Buffer.from('x'));
    const p = context.pages()[0];
    await p.addInitScript(() => {
      delete window.showSaveFilePicker;
    });
    const g = await guard(p, server.base, { secrets: [secretOf(link)] });
    await openLink(p, link);
    await p.click('#download-button');
    await p.waitForFunction(() => /service worker/.test(document.getElementById('download-status').textContent));
    const said = await text(p, '#download-status');
    assert.equal(said, en['download.noServiceWorker'].replace('{max}', '268 MB'));
    assert.match(said, /sealdrop command-line client/);
    assert.doesNotMatch(said, /recent/);
    assert.equal(await p.isEnabled('#download-button'), true);
    await g.assertClean();
  } finally {
    await context.close();
  }
});
