// Upload authentication in the web client, against the real sealdrop-server started with
// `--upload-auth token`: the page asks for the token, a missing or wrong one gets a clear
// message and the focus, the right one uploads over the WebSocket (in the first message's
// `bearer` field) and over the HTTP fallback (`Authorization: Bearer`), the token never
// appears in a request URL, and it is in localStorage only when "remember" is ticked.
// A `basic` server gets a notice that this page cannot upload there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { cli, guard, launchBrowser, makeFile, proxyWithoutWebSockets, screenshot, sha256File, startServer } from './harness.mjs';
import en from '../../web/js/lang/en.js';

const TOKEN = crypto.randomBytes(32).toString('base64');
const WRONG = crypto.randomBytes(32).toString('base64');
const TOKEN_KEY = 'sealdrop.uploadToken';

let work;
let server;
let basicServer;
let browser;

before(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-web-auth-'));
  const tokens = path.join(work, 'tokens');
  await fsp.writeFile(tokens, `# web test\n${TOKEN} name=web\n`, { mode: 0o600 });
  const users = path.join(work, 'users');
  await fsp.writeFile(users, 'alice:correct horse battery\n', { mode: 0o600 });
  server = await startServer({ args: ['--upload-auth', 'token', '--upload-tokens-file', tokens] });
  basicServer = await startServer({ args: ['--upload-auth', 'basic', '--upload-users-file', users] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await basicServer?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const secretOf = (link) => new URL(link).hash.slice(1);

/** A fresh page (its own context, so its own localStorage) with the guard on. */
async function page(origin = server.base) {
  const p = await browser.newPage();
  const g = await guard(p, origin);
  const sent = { frames: [], headers: [] };
  // Text frames only: a binary frame is a ciphertext record, random bytes that may
  // start with `{` as easily as with anything else.
  p.on('websocket', (ws) =>
    ws.on('framesent', ({ payload }) => {
      if (typeof payload === 'string') sent.frames.push(payload);
    }),
  );
  p.on('request', (r) => {
    if (r.url().endsWith('/api/upload')) sent.headers.push(r.headers());
  });
  return { p, g, sent };
}

/** No request URL holds any of `secrets`. */
function noneInUrls(g, secrets) {
  assert.ok(g.requests.length > 0);
  for (const r of g.requests) {
    for (const s of secrets) assert.equal(r.url.includes(s), false, `a request URL holds a secret: ${r.url}`);
  }
}

/** Every localStorage value of the page's origin. */
async function storage(p) {
  return p.evaluate(() => Object.fromEntries(Object.entries(localStorage)));
}

/** Whether any localStorage key or value holds `secret`. */
async function stored(p, secret) {
  return Object.entries(await storage(p)).some(([k, v]) => k.includes(secret) || v.includes(secret));
}

async function sendError(p) {
  await p.waitForSelector('#send-error:not([hidden])');
  return p.textContent('#send-error');
}

const focused = (p) => p.evaluate(() => document.activeElement?.id);

async function cliDownload(link, name) {
  const out = path.join(work, name);
  const run = await cli(['download', '-q', '-o', out, link]);
  assert.equal(run.code, 0, run.stderr);
  return out;
}

test('the page asks for the token: missing and wrong ones get a message, the right one uploads', async () => {
  const file = await makeFile(work, 'token.bin', 150_000, 1);
  const { p, g, sent } = await page();
  await p.goto(`${server.base}/`);
  await p.waitForSelector('#upload-auth:not([hidden])');
  assert.equal(await p.textContent('label[for="upload-token"]'), en['auth.token']);
  assert.equal(await p.isChecked('#remember-token'), false);
  assert.equal(await p.getAttribute('#upload-token', 'type'), 'password');
  await p.setInputFiles('#file-input', [file]);

  await p.click('#upload-button');
  assert.equal(await sendError(p), en['auth.tokenMissing']);
  assert.equal(await focused(p), 'upload-token');

  await p.fill('#upload-token', WRONG);
  await p.click('#upload-button');
  await p.waitForFunction((text) => document.getElementById('send-error').textContent === text, en['auth.tokenRefused']);
  assert.equal(await focused(p), 'upload-token');
  assert.equal(await p.isVisible('#compose'), true);
  await screenshot(p, 'upload-auth-refused');
  assert.equal(await stored(p, WRONG), false);

  await p.fill('#upload-token', TOKEN);
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
  const link = await p.inputValue('#share-link');

  // Over the WebSocket, in the first message's `bearer` field (once per attempt).
  const firsts = sent.frames.filter((f) => f.startsWith('{')).map((f) => JSON.parse(f));
  assert.deepEqual(
    firsts.map((m) => m.bearer),
    [WRONG, TOKEN],
  );
  noneInUrls(g, [TOKEN, WRONG, secretOf(link)]);
  assert.equal(await stored(p, TOKEN), false, 'not remembered unless ticked');
  assert.equal(await sha256File(await cliDownload(link, 'token-got.bin')), await sha256File(file));
  await g.assertClean();
  await p.close();
});

test('"remember on this device" keeps the token in localStorage; unticking forgets it', async () => {
  const file = await makeFile(work, 'remember.bin', 5000, 2);
  const { p, g } = await page();
  await p.goto(`${server.base}/`);
  await p.waitForSelector('#upload-auth:not([hidden])');
  await p.setInputFiles('#file-input', [file]);
  await p.fill('#upload-token', TOKEN);
  await p.check('#remember-token');
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
  assert.equal((await storage(p))[TOKEN_KEY], TOKEN);

  // The next visit finds it filled in, and it still uploads.
  await p.reload();
  await p.waitForSelector('#upload-auth:not([hidden])');
  assert.equal(await p.inputValue('#upload-token'), TOKEN);
  assert.equal(await p.isChecked('#remember-token'), true);
  await p.setInputFiles('#file-input', [file]);
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });

  await p.click('#send-another');
  await p.uncheck('#remember-token');
  assert.equal(await stored(p, TOKEN), false);
  await p.reload();
  await p.waitForSelector('#upload-auth:not([hidden])');
  assert.equal(await p.inputValue('#upload-token'), '');
  noneInUrls(g, [TOKEN]);
  await g.assertClean();
  await p.close();
});

test('the HTTP fallback sends the token as Authorization: Bearer, and a wrong one gets the message', async () => {
  const proxy = await proxyWithoutWebSockets(server.base);
  try {
    const file = await makeFile(work, 'fallback.bin', 70_000, 3);
    const { p, g, sent } = await page(proxy.base);
    await p.goto(`${proxy.base}/`);
    await p.waitForSelector('#upload-auth:not([hidden])');
    await p.setInputFiles('#file-input', [file]);
    await p.fill('#upload-token', WRONG);
    await p.click('#upload-button');
    await p.waitForFunction((text) => document.getElementById('send-error').textContent === text, en['auth.tokenRefused']);
    assert.equal(await focused(p), 'upload-token');

    await p.fill('#upload-token', TOKEN);
    await p.click('#upload-button');
    await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
    const link = await p.inputValue('#share-link');
    assert.deepEqual(
      sent.headers.map((h) => h.authorization),
      [`Bearer ${WRONG}`, `Bearer ${TOKEN}`],
    );
    assert.ok(sent.headers.every((h) => /^send-v1 /.test(h['x-auth-key'])));
    noneInUrls(g, [TOKEN, WRONG, secretOf(link)]);
    assert.equal(await stored(p, TOKEN), false);
    assert.equal(await sha256File(await cliDownload(link, 'fallback-got.bin')), await sha256File(file));
    await g.assertClean();
    await p.close();
  } finally {
    await proxy.close();
  }
});

test('a server that wants Basic credentials: the page says it cannot upload there', async () => {
  const file = await makeFile(work, 'basic.bin', 1000, 4);
  const { p, g } = await page(basicServer.base);
  await p.goto(`${basicServer.base}/`);
  await p.waitForSelector('#auth-note:not([hidden])');
  assert.equal(await p.textContent('#auth-note'), en['auth.basicOnly']);
  assert.equal(await p.isVisible('#upload-auth'), false);
  await p.setInputFiles('#file-input', [file]);
  assert.equal(await p.isDisabled('#upload-button'), true);
  await screenshot(p, 'upload-auth-basic');
  await g.assertClean();
  await p.close();
});
