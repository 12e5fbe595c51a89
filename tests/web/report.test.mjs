// Reports and the legal page in a real headless Chromium against the real server, with the
// real CLI uploading and the real `sealdrop-server admin` deciding: "Report this file"
// sends the link's key (and the password) only on the user's click, the file is then held
// (gone for every client), the operator sees the report, and a restore brings it back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  binDir,
  cli,
  guard,
  launchBrowser,
  makeFile,
  sha256File,
  startServer,
  waitForDownload,
} from './harness.mjs';

const NOTICE = 'Example Ltd, 1 Main Street\n<script>alert("not run")</script>\n# Not a heading';
let server;
let browser;
let work;

before(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-web-report-'));
  const notice = path.join(work, 'notice.md');
  await fsp.writeFile(notice, NOTICE);
  server = await startServer({
    args: ['--abuse-contact', 'abuse@example.com', '--legal-notice-file', notice],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const secretOf = (link) => new URL(link).hash.slice(1);
const idOf = (link) => /\/download\/([0-9a-f]+)\//.exec(link)[1];

/** `sealdrop-server … admin <args>` on the running server's data directory. */
function admin(args) {
  return execFileSync(
    path.join(binDir(), 'sealdrop-server'),
    ['--data-dir', server.dataDir, '--base-url', server.base, 'admin', ...args],
    { encoding: 'utf8', env: { PATH: process.env.PATH } },
  );
}

async function cliUpload(file, env = {}) {
  const run = await cli(['upload', '-q', '--host', server.base, '--downloads', '3', file], { env });
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

async function openReady(p, link) {
  await p.goto(link);
  await p.waitForSelector('#ready:not([hidden]), #unlock:not([hidden])');
}

/** Fills and sends the report form; returns the report request. */
async function sendReport(p, reason, details) {
  await p.click('#report-open');
  await p.waitForSelector('#report:not([hidden])');
  await p.selectOption('#report-reason', reason);
  if (details) await p.fill('#report-details', details);
  const [request] = await Promise.all([
    p.waitForRequest((r) => r.url().includes('/api/report/')),
    p.click('#report-send'),
  ]);
  await p.waitForSelector('#reported:not([hidden])');
  return request;
}

test('report a share: sent on click only, held for every client, listed for the operator, taken down', async () => {
  const file = await makeFile(work, 'report-me.bin', 70_000, 1);
  const link = await cliUpload(file);
  const secret = secretOf(link);
  const p = await browser.newPage();
  // Until the user reports, the key never leaves the page.
  const g = await guard(p, server.base, { secrets: [secret] });
  await openReady(p, link);
  assert.equal(await p.isVisible('#legal-link'), true, 'the footer links to the legal page');
  assert.equal(await p.getAttribute('#legal-link', 'href'), '/legal');
  await p.click('#report-open');
  await p.waitForSelector('#report:not([hidden])');
  await p.click('#report-cancel');
  await p.waitForSelector('#ready:not([hidden])');
  await g.assertClean();
  g.dispose();

  const h = await guard(p, server.base);
  const request = await sendReport(p, 'phishing', 'asks for my bank password');
  assert.equal(request.method(), 'POST');
  assert.equal(request.url(), `${server.base}/api/report/${idOf(link)}`, 'no key in the URL');
  assert.deepEqual(JSON.parse(request.postData()), {
    key: secret,
    reason: 'phishing',
    details: 'asks for my bank password',
  });
  assert.equal(await p.isVisible('#download-button'), false);

  // Held: the CLI and a reload see an expired link.
  const out = path.join(work, 'never.bin');
  const refused = await cli(['download', '-q', '-o', out, link]);
  assert.equal(refused.code, 2, refused.stderr);
  await p.reload();
  await p.waitForSelector('#gone:not([hidden])');

  // The operator sees the report, without the key.
  const listed = JSON.parse(admin(['list-reported', '--json']));
  const entry = listed.find((e) => e.id === idOf(link));
  assert.equal(entry.reason, 'phishing');
  assert.equal(entry.details, 'asks for my bank password');
  assert.equal(JSON.stringify(listed).includes(secret), false);
  assert.match(admin(['takedown', idOf(link)]), /^took down [0-9a-f]+: its record and its encrypted blob are deleted\n$/);
  const blobs = await fsp.readdir(path.join(server.dataDir, 'blobs'));
  assert.equal(blobs.some((b) => b.endsWith(idOf(link))), false);
  await h.assertClean();
  await p.close();
});

test('a password share is reported with its password, and a restore brings it back intact', async () => {
  const password = 'correct horse battery';
  const file = await makeFile(work, 'locked.bin', 90_000, 2);
  const link = await cliUpload(file, { SEALDROP_PASSWORD: password });
  const p = await browser.newPage();
  const g = await guard(p, server.base);
  await openReady(p, link);
  assert.equal(await p.isVisible('#unlock'), true);
  await p.fill('#unlock-password', password);
  await p.click('#unlock-form button[type=submit]');
  await p.waitForSelector('#ready:not([hidden])');
  const request = await sendReport(p, 'malware');
  assert.deepEqual(JSON.parse(request.postData()), {
    key: secretOf(link),
    reason: 'malware',
    password,
  });
  await p.reload();
  await p.waitForSelector('#gone:not([hidden])');

  assert.match(admin(['restore', idOf(link)]), /^restored [0-9a-f]+: served again until \d{4}-/);
  await p.reload();
  await p.waitForSelector('#unlock:not([hidden])');
  await p.fill('#unlock-password', password);
  await p.click('#unlock-form button[type=submit]');
  await p.waitForSelector('#ready:not([hidden])');
  const saved = await waitForDownload(p, () => p.click('#download-button'));
  assert.equal(await sha256File(saved.path), await sha256File(file));
  await g.assertClean();
  await p.close();
});

test('the legal page shows the notice as text and the contact as a link, in both languages', async () => {
  const titles = { 'en-US': 'Legal notice and abuse reports', 'es-ES': 'Aviso legal y denuncias de abusos' };
  for (const [locale, title] of Object.entries(titles)) {
    const b = await launchBrowser({ locale });
    try {
      const p = b.pages()[0];
      const g = await guard(p, server.base);
      const response = await p.goto(`${server.base}/legal`);
      assert.equal(response.status(), 200);
      await p.waitForFunction((t) => document.querySelector('h1').textContent === t, title);
      // Rendered as safe Markdown (legal.test.mjs): the heading line is a heading, the
      // HTML is text.
      assert.equal(await p.textContent('#legal-notice h3'), 'Not a heading');
      assert.ok((await p.textContent('#legal-notice')).includes('<script>alert("not run")</script>'));
      assert.equal(await p.locator('#legal-notice script').count(), 0);
      assert.equal(await p.getAttribute('#abuse-contact', 'href'), 'mailto:abuse@example.com');
      assert.equal(await p.evaluate(() => document.scripts.length), 1, 'only the page module');
      await g.assertClean();
    } finally {
      await b.close();
    }
  }
});

test('without a legal notice or contact there is no footer link and /legal is not found', async () => {
  const plain = await startServer();
  try {
    const p = await browser.newPage();
    const g = await guard(p, plain.base);
    await p.goto(`${plain.base}/`);
    await p.waitForFunction(() => document.getElementById('expiry').options.length > 0);
    assert.equal(await p.isVisible('#legal-link'), false);
    const response = await p.goto(`${plain.base}/legal`);
    assert.equal(response.status(), 404);
    await g.assertClean();
    await p.close();
  } finally {
    await plain.stop();
  }
});
