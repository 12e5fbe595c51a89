// A 1 GiB file through the browser both ways, with the whole browser's memory (every
// Chromium process) sampled: streaming must keep it far below the file's size. The
// figures (throughput, peak RSS) are printed as test diagnostics; they are measurements,
// not pass/fail timings. SEALDROP_WEB_BIG_MIB changes the size.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { launchBrowser, makeFile, sha256File, startRssSampler, startServer, waitForDownload } from './harness.mjs';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.SEALDROP_WEB_BIG_MIB || 1024) * MiB;
/** The browser's whole process tree may grow by at most this much over its idle size. */
const GROWTH_LIMIT = 384 * MiB;

let server;
let browser;
let work;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-big-'));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

test(`${SIZE / MiB} MiB up and down in the browser, in bounded memory`, { timeout: 20 * 60_000 }, async (t) => {
  const file = await makeFile(work, 'big.bin', SIZE, 99);
  const expected = await sha256File(file);
  const p = browser.pages()[0] ?? (await browser.newPage());
  await p.goto(`${server.base}/`);
  await p.waitForSelector('#expiry option', { state: 'attached' });
  const idle = startRssSampler(browser.pid, 200);
  await new Promise((resolve) => setTimeout(resolve, 600));
  const baseline = idle.stop().peakKiB * 1024;

  const upRss = startRssSampler(browser.pid, 100);
  await p.setInputFiles('#file-input', [file]);
  const upStart = performance.now();
  await p.click('#upload-button');
  await p.waitForSelector('#share:not([hidden])', { timeout: 15 * 60_000 });
  const upSeconds = (performance.now() - upStart) / 1000;
  const up = upRss.stop();
  const link = await p.inputValue('#share-link');

  await p.goto(link);
  await p.waitForSelector('#ready:not([hidden])');
  const downRss = startRssSampler(browser.pid, 100);
  const downStart = performance.now();
  const saved = await waitForDownload(p, () => p.click('#download-button'), { timeoutMs: 15 * 60_000 });
  const downSeconds = (performance.now() - downStart) / 1000;
  const down = downRss.stop();
  assert.equal(await sha256File(saved.path), expected);

  const mib = (bytes) => (bytes / MiB).toFixed(0);
  const rate = (s) => (SIZE / MiB / s).toFixed(0);
  t.diagnostic(`browser idle RSS ${mib(baseline)} MiB (all Chromium processes)`);
  t.diagnostic(`upload ${rate(upSeconds)} MiB/s, peak RSS ${mib(up.peakKiB * 1024)} MiB`);
  t.diagnostic(`download ${rate(downSeconds)} MiB/s, peak RSS ${mib(down.peakKiB * 1024)} MiB`);
  for (const [what, sample] of [['upload', up], ['download', down]]) {
    const growth = sample.peakKiB * 1024 - baseline;
    assert.ok(growth < GROWTH_LIMIT, `${what}: the browser grew by ${mib(growth)} MiB for a ${mib(SIZE)} MiB file`);
  }
  await fsp.rm(saved.path, { force: true });
});
