// The web client in real headless browsers against the real sealdrop-server, with the
// real sealdrop CLI on the other side: byte-identical transfers both ways, archives,
// passwords, the last-download warning, expired links, deletion, cancellation, the HTTP
// fallback, damaged files and the no-service-worker fallback. The transfers both ways,
// several files, passwords, damaged files and cancelling run in every engine of ENGINES
// (Chromium through playwright, Firefox ESR through puppeteer over WebDriver BiDi); the
// rest in Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import {
  ENGINES,
  WEB_DIR,
  cli,
  craftShare,
  freePort,
  guard,
  httpGet,
  launchBrowser,
  launchEngine,
  makeFile,
  proxyWithoutWebSockets,
  sha256File,
  startServer,
  waitForDownload,
  waitForProgress,
} from './harness.mjs';

const MiB = 1024 * 1024;
let server;
/** The launched browsers, by engine; Chromium always (the Chromium-only tests). */
const browsers = {};
let work;

before(async () => {
  // The page of this tree, not the copy built into the binary (which may be older).
  server = await startServer({ args: ['--web-dir', WEB_DIR] });
  for (const engine of new Set(['chromium', ...ENGINES])) browsers[engine] = await launchEngine(engine);
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-web-'));
});

after(async () => {
  for (const b of Object.values(browsers)) await b.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const secretOf = (link) => new URL(link).hash.slice(1);
const idOf = (link) => /\/download\/([0-9a-f]+)\//.exec(link)[1];

/** A fresh page (a fresh tab) of `engine` with the privacy guard on. */
async function page(secrets = [], engine = 'chromium') {
  const p = await browsers[engine].newPage();
  const g = await guard(p, server.base, { secrets });
  return { p, g };
}

/** The secret of a link made in the browser never appeared in a request URL. */
function noSecretIn(g, secret) {
  for (const r of g.requests) assert.equal(r.url.includes(secret), false, r.url);
}

/** Uploads `files` from the send page; returns the share link. */
async function browserUpload(p, files, { password, dlimit, base = server.base } = {}) {
  await p.goto(`${base}/`);
  await p.setInputFiles('#file-input', files);
  if (dlimit) await p.selectOption('#dlimit', String(dlimit));
  if (password) await p.fill('#password', password);
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 120_000 });
  const link = await p.inputValue('#share-link');
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/download\/[0-9a-f]{16}\/#[\w-]{22}$/);
  return link;
}

/** Opens a link's page, waits until it is ready to download. */
async function openLink(p, link) {
  await p.goto(link);
  await p.waitForSelector('#ready:not([hidden]), #unlock:not([hidden]), #gone:not([hidden]), #broken:not([hidden])');
}

/** Clicks Download and waits for the completed file. */
async function browserDownload(p) {
  const saved = await waitForDownload(p, () => p.click('#download-button'));
  await p.waitForFunction(() => /download/i.test(document.getElementById('download-status').textContent) === false
    || document.getElementById('download-button').hidden
    || !document.getElementById('download-button').disabled);
  return saved;
}

async function cliUpload(files, extra = []) {
  const run = await cli(['upload', '-q', '--host', server.base, ...extra, ...files]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

async function cliDownload(link, output, extra = []) {
  const run = await cli(['download', '-q', '-o', output, ...extra, link]);
  assert.equal(run.code, 0, run.stderr);
}

/** Files in the server's blob directory (stored shares and unfinished uploads). */
async function blobs() {
  try {
    return await fsp.readdir(path.join(server.dataDir, 'blobs'));
  } catch {
    return [];
  }
}

for (const [engine, size] of ENGINES.flatMap((e) => [1, 65520, 20 * MiB + 1].map((n) => [e, n]))) {
  test(`${engine}: browser upload → CLI download, ${size} bytes, byte-identical`, async () => {
    const file = await makeFile(work, `up-${engine}-${size}.bin`, size, size);
    const { p, g } = await page([], engine);
    const link = await browserUpload(p, [file]);
    noSecretIn(g, secretOf(link));
    const out = path.join(work, `cli-got-${engine}-${size}.bin`);
    await cliDownload(link, out);
    assert.equal(await sha256File(out), await sha256File(file));
    await g.assertClean();
    await p.close();
  });

  test(`${engine}: CLI upload → browser download, ${size} bytes, byte-identical`, async () => {
    const file = await makeFile(work, `cli-up-${engine}-${size}.bin`, size, size + 7);
    const link = await cliUpload([file]);
    const { p, g } = await page([secretOf(link)], engine);
    await openLink(p, link);
    assert.equal(await p.textContent('#file-name'), path.basename(file));
    const saved = await browserDownload(p);
    assert.equal(saved.name, path.basename(file));
    assert.equal(await sha256File(saved.path), await sha256File(file));
    await g.assertClean();
    await p.close();
  });
}

for (const engine of ENGINES) {
test(`${engine}: several files from the browser: the CLI rebuilds them`, async () => {
  const dir = path.join(work, `many-browser-${engine}`);
  await fsp.mkdir(dir);
  const files = [
    await makeFile(dir, 'a.txt', 10, 1),
    await makeFile(dir, 'b är.bin', 70000, 2),
    await makeFile(dir, 'empty', 0, 3),
    await makeFile(dir, 'c.bin', 3 * MiB, 4),
  ];
  const { p, g } = await page([], engine);
  const link = await browserUpload(p, files);
  const out = path.join(work, `many-browser-out-${engine}`);
  await cliDownload(link, out);
  for (const f of files) {
    assert.equal(await sha256File(path.join(out, path.basename(f))), await sha256File(f), f);
  }
  await g.assertClean();
  await p.close();
});

test(`${engine}: several files from the CLI: the browser saves a ZIP that holds them`, async () => {
  const dir = path.join(work, `many-cli-${engine}`);
  await fsp.mkdir(path.join(dir, 'sub'), { recursive: true });
  const files = [
    await makeFile(dir, 'one.txt', 5, 11),
    await makeFile(path.join(dir, 'sub'), 'two.bin', 200000, 12),
    await makeFile(dir, 'três.bin', 65519, 13),
  ];
  const link = await cliUpload(files);
  const { p, g } = await page([secretOf(link)], engine);
  await openLink(p, link);
  assert.match(await p.textContent('#file-name'), /3/);
  const saved = await browserDownload(p);
  assert.match(saved.name, /\.zip$/);
  const listing = JSON.parse(
    execFileSync('python3', [
      '-c',
      `import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))`,
      saved.path,
    ]).toString(),
  );
  const expected = {};
  for (const f of files) expected[path.basename(f)] = await sha256File(f);
  assert.deepEqual(
    Object.fromEntries(Object.entries(listing).map(([k, v]) => [path.basename(k), v])),
    expected,
  );
  await g.assertClean();
  await p.close();
});

test(`${engine}: a password: asked for, wrong one refused, right one downloads; the CLI agrees`, async () => {
  const file = await makeFile(work, `secret-${engine}.txt`, 4000, 21);
  const password = 'correct horse battery';
  const { p, g } = await page([password], engine);
  const link = await browserUpload(p, [file], { password, dlimit: 5 });
  await p.close();

  const { p: q, g: h } = await page([secretOf(link), password], engine);
  await openLink(q, link);
  assert.equal(await q.isVisible('#unlock'), true);
  await q.fill('#unlock-password', 'wrong');
  await q.click('#unlock-form button[type=submit]');
  await q.waitForSelector('#unlock-error:not([hidden])');
  await q.fill('#unlock-password', password);
  await q.click('#unlock-form button[type=submit]');
  await q.waitForSelector('#ready:not([hidden])');
  const saved = await browserDownload(q);
  assert.equal(await sha256File(saved.path), await sha256File(file));

  const out = path.join(work, `secret-cli-${engine}.txt`);
  const refused = await cli(['download', '-q', '-o', out, '--password=nope', link]);
  assert.notEqual(refused.code, 0);
  await cliDownload(link, out, [`--password=${password}`]);
  assert.equal(await sha256File(out), await sha256File(file));
  await g.assertClean();
  await h.assertClean();
  await q.close();
});
}

test('the last allowed download is announced, and the link is gone after it', async () => {
  const file = await makeFile(work, 'once.bin', 1000, 31);
  const link = await cliUpload([file], ['-d', '1']);
  const { p, g } = await page([secretOf(link)]);
  await openLink(p, link);
  assert.equal(await p.isVisible('#final-warning'), true);
  const saved = await browserDownload(p);
  assert.equal(await sha256File(saved.path), await sha256File(file));
  await p.waitForSelector('#download-button', { state: 'hidden' });
  await p.goto('about:blank');
  await openLink(p, link);
  assert.equal(await p.isVisible('#gone'), true);
  await g.assertClean();
  await p.close();
});

test('expired, unknown and incomplete links get a clear page', async () => {
  const file = await makeFile(work, 'short.bin', 100, 41);
  const link = await cliUpload([file], ['-e', '1']);
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const { p, g } = await page([secretOf(link)]);
  await openLink(p, link);
  assert.equal(await p.isVisible('#gone'), true);
  assert.match(await p.textContent('h1'), /no longer works/i);

  const response = await p.goto(`${server.base}/download/0123456789abcdef/#AAAAAAAAAAAAAAAAAAAAAA`);
  assert.equal(response.status(), 404);
  await p.waitForSelector('#gone:not([hidden])');

  const live = await cliUpload([file]);
  await openLink(p, live.split('#')[0]);
  assert.equal(await p.isVisible('#broken'), true);
  await g.assertClean();
  await p.close();
});

test('delete from the share panel: confirmed, the link stops working and the list says so', async () => {
  const file = await makeFile(work, 'delete-me.bin', 5000, 51);
  const { p, g } = await page();
  const link = await browserUpload(p, [file]);
  const item = p.locator(`#share-list li[data-id="${idOf(link)}"]`);
  assert.equal(await item.count(), 1);
  await p.click('#delete');
  await p.click('#delete-confirm');
  await p.waitForSelector('#compose:not([hidden])');
  // An ended share stays listed, saying what happened, until dismissed.
  assert.equal(await item.locator('.facts').textContent(), 'Ended: deleted');
  const exists = await cli(['exists', link]);
  assert.equal(exists.code, 2, exists.stderr);
  // What this browser remembers: never the link's secret.
  const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.equal(stored.includes(secretOf(link)), false);
  await g.assertClean();
  await p.close();
});

/** A TCP proxy to the server that lets client bytes through at `rate` bytes per second. */
async function slowProxy(rate) {
  const port = await freePort();
  const target = new URL(server.base);
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    async function* throttle(source) {
      for await (const chunk of source) {
        yield chunk;
        await new Promise((resolve) => setTimeout(resolve, (chunk.length / rate) * 1000));
      }
    }
    pipeline(client, throttle, upstream).catch(() => {});
    pipeline(upstream, client).catch(() => {});
  });
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${port}`,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => proxy.close(resolve));
    },
  };
}

for (const engine of ENGINES) {
test(`${engine}: cancel mid-upload: no file remains on the server`, async () => {
  const proxy = await slowProxy(4 * MiB);
  try {
    const file = await makeFile(work, `cancel-${engine}.bin`, 40 * MiB, 61);
    const before = await blobs();
    const p = await browsers[engine].newPage();
    const g = await guard(p, proxy.base);
    await p.goto(`${proxy.base}/`);
    await p.setInputFiles('#file-input', [file]);
    await p.click('#upload-button');
    await p.waitForFunction(() => Number(document.getElementById('progress-bar').value) > 0.05);
    // The server is receiving: an unfinished upload is on its disk.
    const pending = (await blobs()).filter((b) => !before.includes(b));
    assert.equal(pending.length, 1, `one upload in progress: ${pending}`);
    await p.click('#cancel');
    await p.waitForSelector('#compose:not([hidden])');
    assert.match(await p.textContent('#send-error'), /cancel/i);
    await waitForProgress('the cancelled upload to discard', async () =>
      (await blobs()).filter((b) => !before.includes(b)),
    );
    await g.assertClean();
    await p.close();
  } finally {
    await proxy.close();
  }
});
}

test('without WebSockets the upload falls back to the HTTP route', async () => {
  const proxy = await proxyWithoutWebSockets(server.base);
  try {
    const file = await makeFile(work, 'fallback.bin', 3 * MiB + 5, 71);
    const p = await browsers.chromium.newPage();
    const g = await guard(p, proxy.base);
    const link = await browserUpload(p, [file], { base: proxy.base });
    assert.ok(g.requests.some((r) => r.method === 'POST' && r.url.endsWith('/api/upload')));
    const out = path.join(work, 'fallback-got.bin');
    await cliDownload(link, out);
    assert.equal(await sha256File(out), await sha256File(file));
    await g.assertClean();
    await p.close();
  } finally {
    await proxy.close();
  }
});

for (const engine of ENGINES) {
test(`${engine}: a damaged file ends with a clear error and no completed download`, async () => {
  const file = await makeFile(work, `damaged-${engine}.bin`, 300000, 81);
  const link = await cliUpload([file], ['-d', '5']);
  const blob = (await blobs()).find((b) => b.endsWith(idOf(link)));
  assert.ok(blob, 'the stored blob');
  const stored = path.join(server.dataDir, 'blobs', blob);
  const handle = await fsp.open(stored, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, 200000);
  byte[0] ^= 0x40;
  await handle.write(byte, 0, 1, 200000);
  await handle.close();

  // And one cut short on disk: the server sends fewer bytes than the ciphertext had.
  const cut = await cliUpload([file], ['-d', '5']);
  const cutBlob = (await blobs()).find((b) => b.endsWith(idOf(cut)));
  await fsp.truncate(path.join(server.dataDir, 'blobs', cutBlob), 150000);

  for (const broken of [link, cut]) {
    const { p, g } = await page([secretOf(link), secretOf(cut)], engine);
    await openLink(p, broken);
    if (engine === 'firefox') {
      // No download events over BiDi: the page says damaged, and no complete file appears
      // (Firefox saves from a Blob made only once the whole file decrypted; were it to
      // stream, a failed download would leave an empty placeholder and a `.part`).
      const dir = browsers.firefox.downloadsDir;
      await p.click('#download-button');
      await p.waitForFunction(() => /damaged/i.test(document.getElementById('download-status').textContent));
      const placeholder = path.join(dir, `damaged-${engine}.bin`);
      if (fs.existsSync(placeholder)) assert.equal(fs.statSync(placeholder).size, 0, 'an empty placeholder');
      for (const n of fs.readdirSync(dir)) await fsp.rm(path.join(dir, n), { force: true });
    } else {
      const [download] = await Promise.all([p.waitForEvent('download'), p.click('#download-button')]);
      assert.ok(await download.failure(), 'the browser must not complete the download');
      await p.waitForFunction(() => /damaged/i.test(document.getElementById('download-status').textContent));
    }
    await g.assertClean();
    await p.close();
  }
});
}

/**
 * An HTTP proxy to the server that records the `Range` of every download request and
 * cuts, once, the first download's answer after `cutAt` bytes.
 */
async function cuttingProxy(cutAt) {
  const port = await freePort();
  const target = new URL(server.base);
  const seen = [];
  let cut = false;
  const proxy = http.createServer((req, res) => {
    const download = req.url.startsWith('/api/download/');
    const continued = 'x-download-reservation' in req.headers;
    if (download) seen.push({ range: req.headers.range ?? null, continued });
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        if (!download || cut) {
          answer.pipe(res);
          return;
        }
        cut = true;
        let sent = 0;
        answer.on('data', (chunk) => {
          if (sent + chunk.length < cutAt) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          res.write(chunk.subarray(0, cutAt - sent));
          sent = cutAt;
          answer.destroy();
          res.socket.destroy();
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  const close = () => {
    const closed = new Promise((resolve) => proxy.close(resolve));
    proxy.closeAllConnections();
    return closed;
  };
  return { base: `http://127.0.0.1:${port}`, seen, close };
}

for (const engine of ENGINES) {
test(`${engine}: a download cut midway resumes where it was cut and counts once`, async () => {
  const size = 24 * MiB + 5;
  const cutAt = 5 * MiB;
  const file = await makeFile(work, `resumed-${engine}.bin`, size, 93);
  const link = await cliUpload([file], ['-d', '1']);
  const proxy = await cuttingProxy(cutAt);
  try {
    const p = await browsers[engine].newPage();
    const g = await guard(p, proxy.base, { secrets: [secretOf(link)] });
    await openLink(p, link.replace(server.base, proxy.base));
    const saved = await browserDownload(p);
    assert.equal(await sha256File(saved.path), await sha256File(file));
    const ranges = proxy.seen.map((r) => r.range);
    assert.equal(proxy.seen.length, 2, `one request and one resumption: ${ranges}`);
    // The signed request asks for the whole file as a range and gets its reservation...
    assert.deepEqual(proxy.seen[0], { range: 'bytes=0-', continued: false });
    // ...and the resumption sends the reservation back, from where the cut left it (what
    // the browser had read of the cut answer, at most what was sent).
    assert.equal(proxy.seen[1].continued, true);
    const from = Number(/^bytes=(\d+)-$/.exec(ranges[1])?.[1]);
    assert.ok(from > 0 && from <= cutAt, `resumed from ${ranges[1]}`);
    // One download allowed, one counted: the link is used up.
    const exists = await httpGet(`${server.base}/api/exists/${idOf(link)}`);
    assert.equal(exists.status, 404);
    await g.assertClean();
    await p.close();
  } finally {
    await proxy.close();
  }
});
}

test('without a service worker a small file still downloads (in-memory fallback)', async () => {
  const context = await launchBrowser({ serviceWorkers: 'block' });
  try {
    const file = await makeFile(work, 'no-sw.bin', 2 * MiB + 3, 91);
    const link = await cliUpload([file]);
    const p = context.pages()[0];
    const g = await guard(p, server.base, { secrets: [secretOf(link)] });
    await openLink(p, link);
    const saved = await waitForDownload(p, () => p.click('#download-button'));
    assert.equal(saved.name, 'no-sw.bin');
    assert.equal(await sha256File(saved.path), await sha256File(file));
    await g.assertClean();
  } finally {
    await context.close();
  }
});

test('hostile names are saved as safe names, in a single file and in a ZIP', async () => {
  const single = await craftShare(
    server.base,
    { name: '../../etc/evil\u0007"name.txt', size: 3, type: 'text/plain', manifest: {} },
    Buffer.from('abc'),
  );
  const files = [
    { name: '../up.txt', size: 1, type: '' },
    { name: '/abs.txt', size: 1, type: '' },
    { name: 'ok/../../x.txt', size: 1, type: '' },
    { name: 'x.txt', size: 1, type: '' },
  ];
  const archive = await craftShare(
    server.base,
    { name: '../Send-Archive.zip', size: 4, type: 'send-archive', manifest: { files } },
    Buffer.from('wxyz'),
  );
  const { p, g } = await page([secretOf(single), secretOf(archive)]);
  await openLink(p, single);
  const one = await browserDownload(p);
  assert.equal(one.name, 'evil_name.txt');
  await openLink(p, archive);
  const zip = await browserDownload(p);
  assert.equal(zip.name, 'Send-Archive.zip');
  const names = JSON.parse(
    execFileSync('python3', [
      '-c',
      'import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))',
      zip.path,
    ]).toString(),
  );
  assert.equal(names.length, 4);
  for (const name of names) {
    assert.ok(!name.startsWith('/') && !name.split('/').includes('..'), name);
  }
  assert.equal(new Set(names.map((n) => n.toLowerCase())).size, 4, `distinct: ${names}`);
  await g.assertClean();
  await p.close();
});
