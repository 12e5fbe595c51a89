// The web client's transfer benchmark: one upload from the send page and one download from
// the download page (through the service worker, to the browser's download directory) of
// a file of --mib MiB, against the real server on loopback, in each engine (Debian's
// Chromium and Firefox ESR, driven as in tests/web). Prints one JSON object per line:
//   { engine, mib, upSeconds, downSeconds, upMBps, downMBps, idlePssMiB, downPeakPssMiB }
// where MB is 10^6 bytes of plaintext per second and PSS is summed over the browser's
// process tree (sampled every 250 ms). scripts/bench runs it beside the CLI's rows (the
// binaries of --bin-dir); run `npm ci` in tests/web first (scripts/test does).
//
// The first line is the `sealdrop` CLI's, same server, same file (engine "cli").
//
// Usage: node bench/browser.mjs --bin-dir target/dist [--mib 1024] [--engines chromium,firefox]
//        [--rounds 1] [--web-dir web]   (the page from a directory, not the one built in)
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'bin-dir': { type: 'string' },
    mib: { type: 'string', default: '1024' },
    engines: { type: 'string', default: 'chromium,firefox' },
    rounds: { type: 'string', default: '1' },
    'web-dir': { type: 'string' },
  },
});
if (values['bin-dir']) process.env.SEALDROP_BIN_DIR = path.resolve(values['bin-dir']);
// The harness reads SEALDROP_BIN_DIR when it is loaded.
const { cli, launchEngine, makeFile, sha256File, startPssSampler, startServer, waitForDownload } = await import(
  '../tests/web/harness.mjs'
);

const MiB = 1024 * 1024;
const size = Number(values.mib) * MiB;
const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-bench-web-'));
const server = await startServer({ args: values['web-dir'] ? ['--web-dir', path.resolve(values['web-dir'])] : [] });
try {
  const file = await makeFile(work, 'bench.bin', size, 2026);
  const expected = await sha256File(file);
  console.log(JSON.stringify(await measureCli(file, expected)));
  for (const engine of values.engines.split(',')) {
    for (let round = 0; round < Number(values.rounds); round++) {
      console.log(JSON.stringify(await measure(engine, file, expected)));
    }
  }
} finally {
  await server.stop();
  await fsp.rm(work, { recursive: true, force: true });
}

/** The CLI against the same server, the same file: the row the browser's are compared with. */
async function measureCli(file, expected) {
  const upStart = performance.now();
  const up = await cli(['upload', '-q', '--host', server.base, file], { timeoutMs: 30 * 60_000 });
  const upSeconds = (performance.now() - upStart) / 1000;
  if (up.code !== 0) throw new Error(`sealdrop upload: ${up.stderr}`);
  const out = path.join(work, 'cli-out.bin');
  const downStart = performance.now();
  const down = await cli(['download', '-q', '-o', out, up.stdout.trim()], { timeoutMs: 30 * 60_000 });
  const downSeconds = (performance.now() - downStart) / 1000;
  if (down.code !== 0) throw new Error(`sealdrop download: ${down.stderr}`);
  if ((await sha256File(out)) !== expected) throw new Error('cli: the download differs');
  await fsp.rm(out, { force: true });
  const mb = (s) => Number((size / 1e6 / s).toFixed(1));
  return { engine: 'cli', mib: size / MiB, upSeconds, downSeconds, upMBps: mb(upSeconds), downMBps: mb(downSeconds) };
}

async function measure(engine, file, expected) {
  const browser = await launchEngine(engine);
  try {
    const p = await browser.newPage();
    await p.goto(`${server.base}/`);
    await p.waitForSelector('#expiry option', { state: 'attached' });
    await p.setInputFiles('#file-input', [file]);
    const upStart = performance.now();
    await p.click('#upload-button');
    await p.waitForSelector('#share:not([hidden])', { timeout: 30 * 60_000 });
    const upSeconds = (performance.now() - upStart) / 1000;
    const link = await p.inputValue('#share-link');
    await p.close();

    // A fresh tab for the download (Firefox's driver can hang in a reused one).
    const q = await browser.newPage();
    await q.goto(link);
    await q.waitForSelector('#ready:not([hidden])');
    const idle = startPssSampler(browser.pid, 250);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleKiB = Math.min(...idle.stop().series);
    const sampler = startPssSampler(browser.pid, 250);
    const downStart = performance.now();
    const saved = await waitForDownload(q, () => q.click('#download-button'), { timeoutMs: 30 * 60_000 });
    const downSeconds = (performance.now() - downStart) / 1000;
    const down = sampler.stop();
    if ((await sha256File(saved.path)) !== expected) throw new Error(`${engine}: the download differs`);
    await fsp.rm(saved.path, { force: true });
    await q.close();
    const mb = (s) => Number((size / 1e6 / s).toFixed(1));
    return {
      engine,
      mib: size / MiB,
      upSeconds: Number(upSeconds.toFixed(2)),
      downSeconds: Number(downSeconds.toFixed(2)),
      upMBps: mb(upSeconds),
      downMBps: mb(downSeconds),
      idlePssMiB: Math.round(idleKiB / 1024),
      downPeakPssMiB: Math.round(down.peakKiB / 1024),
    };
  } finally {
    await browser.close();
  }
}
