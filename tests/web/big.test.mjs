// A big file through the browser both ways, in every engine of ENGINES (Chromium and
// Firefox ESR), with the whole browser's memory sampled: streaming must keep it far below
// the file's size. Upload memory is the RSS of the browser's process tree over its idle
// size; download memory is its PSS (shared pages counted once), the measure, sampled
// during the download. Throughput and memory are printed as test diagnostics; they are
// measurements, not pass/fail timings.
//
// SEALDROP_WEB_BIG_MIB sets the size: 256 MiB in scripts/test, 1 GiB in scripts/soak.
//
// Known: Firefox ESR grows by more than the file during a download (+399 to +470 MiB PSS
// for 256 MiB). Fetching the ciphertext in ranges of 4 or 16 MiB, at most two in flight,
// did not bound it, through a Response.blob() (the path the page takes in Firefox) or
// through the service worker's answer alike: what grows is what Firefox does with the
// decrypted bytes. Its download-memory check is marked `todo` (reported, not failing the
// suite) until that is found (issue 17, section 2).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  ENGINES,
  WEB_DIR,
  launchEngine,
  makeFile,
  sha256File,
  startPssSampler,
  startRssSampler,
  startServer,
  waitForDownload,
} from './harness.mjs';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.SEALDROP_WEB_BIG_MIB || 256) * MiB;
/** The browser's process tree may grow by at most this much over its idle size (RSS, upload). */
const UPLOAD_GROWTH_LIMIT = 384 * MiB;
/** …and by at most this much PSS during a download (issue 17: 256 MiB for 1 GiB). */
const DOWNLOAD_GROWTH_LIMIT = 256 * MiB;

let server;
let work;
let file;
let expected;

before(async () => {
  // The page of this tree, not the copy built into the binary (which may be older).
  server = await startServer({ args: ['--web-dir', WEB_DIR] });
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-big-'));
  file = await makeFile(work, 'big.bin', SIZE, 99);
  expected = await sha256File(file);
});

after(async () => {
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const mib = (bytes) => (bytes / MiB).toFixed(0);
const rate = (s) => (SIZE / 1e6 / s).toFixed(0);
const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

for (const engine of ENGINES) {
  test(`${engine}: ${SIZE / MiB} MiB up and down in the browser, in bounded memory`, { timeout: 30 * 60_000 }, async (t) => {
    const browser = await launchEngine(engine);
    try {
      const p = await browser.newPage();
      await p.goto(`${server.base}/`);
      await p.waitForSelector('#expiry option', { state: 'attached' });
      const idle = startRssSampler(browser.pid, 200);
      await settle();
      const upBaseline = Math.min(...idle.stop().series) * 1024;

      const upRss = startRssSampler(browser.pid, 100);
      await p.setInputFiles('#file-input', [file]);
      const upStart = performance.now();
      await p.click('#upload-button');
      await p.waitForSelector('#share:not([hidden])', { timeout: 25 * 60_000 });
      const upSeconds = (performance.now() - upStart) / 1000;
      const up = upRss.stop();
      const link = await p.inputValue('#share-link');
      await p.close();

      // A fresh tab for the download (Firefox's driver can hang in a reused one).
      const q = await browser.newPage();
      await q.goto(link);
      await q.waitForSelector('#ready:not([hidden])');
      const idlePss = startPssSampler(browser.pid, 250);
      await settle();
      const downBaseline = Math.min(...idlePss.stop().series) * 1024;
      const downPss = startPssSampler(browser.pid, 250);
      const downStart = performance.now();
      const saved = await waitForDownload(q, () => q.click('#download-button'), { timeoutMs: 25 * 60_000 });
      const downSeconds = (performance.now() - downStart) / 1000;
      const down = downPss.stop();
      assert.equal(await sha256File(saved.path), expected);
      await fsp.rm(saved.path, { force: true });
      await q.close();

      const upGrowth = up.peakKiB * 1024 - upBaseline;
      const downGrowth = down.peakKiB * 1024 - downBaseline;
      t.diagnostic(`${engine}: upload ${rate(upSeconds)} MB/s, RSS ${mib(upBaseline)} → peak ${mib(up.peakKiB * 1024)} MiB`);
      t.diagnostic(`${engine}: download ${rate(downSeconds)} MB/s, PSS ${mib(downBaseline)} → peak ${mib(down.peakKiB * 1024)} MiB`);
      assert.ok(upGrowth < UPLOAD_GROWTH_LIMIT, `upload: the browser grew by ${mib(upGrowth)} MiB for a ${mib(SIZE)} MiB file`);
      await t.test(
        `${engine}: download memory grows by less than ${mib(DOWNLOAD_GROWTH_LIMIT)} MiB`,
        { todo: engine === 'firefox' ? 'Firefox holds the decrypted file while it saves it (issue 17, section 2)' : false },
        () => {
          assert.ok(downGrowth < DOWNLOAD_GROWTH_LIMIT, `download: the browser grew by ${mib(downGrowth)} MiB PSS for a ${mib(SIZE)} MiB file`);
        },
      );
    } finally {
      await browser.close();
    }
  });
}
