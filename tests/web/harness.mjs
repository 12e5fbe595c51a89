// Shared helpers of the browser and JavaScript tests (node:test, headless Chromium through
// playwright-core). Real processes only, like the Rust harness in tests/src/lib.rs:
//
// - startServer()     the real `sealdrop-server` on 127.0.0.1:<free port> with its own data
//                     directory; stop() kills it and removes the directory.
// - cli()             the real `sealdrop` CLI, no shell, with HOME and XDG dirs in a temporary
//                     directory so no history leaks between tests.
// - launchBrowser()   Debian's /usr/bin/chromium, headless, fresh profile; close() removes it.
// - launchFirefox()   Debian's /usr/bin/firefox-esr, headless, over WebDriver BiDi
//                     (puppeteer-core), with pages that answer the subset of playwright's
//                     Page API the cross-browser tests use; launchEngine(name) picks one.
// - guard()           fails a test on requests to another origin, CSP violations, uncaught
//                     page errors, and secrets in request URLs, headers, bodies or WebSocket
//                     frames.
// - staticInlineCheck() inline script/style, event-handler attributes, javascript: URLs and
//                     absolute URLs in web/**/*.html.
// - screenshot(), setViewport(), setTheme(), waitForDownload()
// - startRssSampler() peak resident memory of a process tree (the browser's) from /proc;
//   startPssSampler() the same in PSS (shared pages counted once, shared among processes).
// - waitForProgress() waits for work left to reach zero, failing when it stops going down
//                     (not when a loaded machine is slow), like testkit's wait::for_progress.
// - makeFile(), makeBytes(), sha256File(): deterministic incompressible content.
//
// The binaries come from $SEALDROP_BIN_DIR (scripts/test sets it to cargo's target/debug),
// else from ${CARGO_TARGET_DIR:-<repo>/target}/debug.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { authKeyOf, b64uEncode, encryptMetadata, newSecret } from '../../web/js/crypto.js';
import { encryptBlob } from '../../web/js/ece.js';

import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

/** The repository's root directory. */
export const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The static web client. */
export const WEB_DIR = path.join(REPO, 'web');
/** The browser the tests drive: Debian's package, never a downloaded one. */
export const CHROMIUM = process.env.SEALDROP_CHROMIUM || '/usr/bin/chromium';
/** The second engine: Debian's Firefox ESR, driven over WebDriver BiDi by puppeteer-core. */
export const FIREFOX = process.env.SEALDROP_FIREFOX || '/usr/bin/firefox-esr';
/**
 * The engines the cross-browser tests run in: both, or those named in
 * SEALDROP_WEB_ENGINES (comma-separated, e.g. `chromium`).
 */
export const ENGINES = Object.freeze(
  (process.env.SEALDROP_WEB_ENGINES || 'chromium,firefox')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e === 'chromium' || e === 'firefox'),
);
/** Command-line flags of every test browser. */
export const CHROMIUM_FLAGS = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);
/** Viewports of setViewport(). */
export const VIEWPORTS = Object.freeze({
  phone: Object.freeze({ width: 390, height: 844 }),
  desktop: Object.freeze({ width: 1280, height: 800 }),
});

/** Cargo's target directory (CARGO_TARGET_DIR, relative to the working directory, as Cargo reads it). */
export function targetDir() {
  const dir = process.env.CARGO_TARGET_DIR;
  return dir ? path.resolve(dir) : path.join(REPO, 'target');
}

/** The directory of the `sealdrop-server` and `sealdrop` binaries under test. */
export function binDir() {
  return process.env.SEALDROP_BIN_DIR
    ? path.resolve(process.env.SEALDROP_BIN_DIR)
    : path.join(targetDir(), 'debug');
}

function binary(name) {
  const file = path.join(binDir(), name);
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} not found: build it (cargo build -p sealdrop-server -p sealdrop) ` +
        'or set SEALDROP_BIN_DIR to the directory that holds it',
    );
  }
  return file;
}

// ---------------------------------------------------------------------------------------
// Cleanup of whatever a failing test leaves behind.

const liveChildren = new Set();
const liveDirs = new Set();
process.once('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function tempDir(prefix) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `sealdrop-web-${prefix}-`));
  liveDirs.add(dir);
  return dir;
}

async function removeDir(dir) {
  await fsp.rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/**
 * The environment of a child process: PATH, HOME and TMPDIR of ours and nothing else, so
 * the developer's SEALDROP_*, AWS_*, proxy or RUST_* settings cannot change what a test sees.
 */
function cleanEnv(extra = {}) {
  const env = { PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined || value === null) delete env[key];
    else env[key] = String(value);
  }
  return env;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `measure()` (sync or async: an array of what is left, or a count) until nothing is
 * left. Throws, naming `what` and the last measure, when the count has not reached a new
 * low for `stallMs`, or after `overallMs` in all: a wait that fails when the work stops,
 * not when a loaded machine is slow. Returns how long it took, in ms.
 */
export async function waitForProgress(what, measure, { stallMs = 60_000, overallMs = 600_000, pollMs = 100 } = {}) {
  const count = (left) => (typeof left === 'number' ? left : left.length);
  const started = Date.now();
  let last = await measure();
  let lowest = count(last);
  let moved = started;
  while (count(last) > 0) {
    const now = Date.now();
    if (count(last) < lowest) {
      lowest = count(last);
      moved = now;
    }
    if (now - moved >= stallMs) {
      throw new Error(`${what}: no progress for ${now - moved} ms; ${count(last)} left: ${JSON.stringify(last)}`);
    }
    if (now - started >= overallMs) {
      throw new Error(`${what}: not done after ${now - started} ms; ${count(last)} left: ${JSON.stringify(last)}`);
    }
    await sleep(pollMs);
    last = await measure();
  }
  return Date.now() - started;
}

/** A free loopback port (bound to 127.0.0.1:0, then released for the server to bind). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A plain HTTP GET without keep-alive, redirects or proxies: `{ status, headers, body }`
 * (body a Buffer). For checks that need no browser.
 */
export function httpGet(url, { headers = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// The server.

/**
 * The rate limits and the upload quota, all off: every browser and CLI of a test file talks
 * to one server from 127.0.0.1. Environment variables, so a test's `args` still win.
 */
export const LIMITS_OFF = {
  SEALDROP_UPLOAD_RATE: '0',
  SEALDROP_UPLOAD_QUOTA: '0',
  SEALDROP_DOWNLOAD_RATE: '0',
  SEALDROP_WRONG_PASSWORD_RATE: '0',
  SEALDROP_OWNER_RATE: '0',
};

/**
 * Starts the real `sealdrop-server` on 127.0.0.1:<free port> with `--data-dir <tmp>/data`
 * and `--base-url http://127.0.0.1:<port>`, plus `args`, in a clean environment with
 * `RUST_LOG=warn` and no rate limits (`LIMITS_OFF`; override through `env`), and its
 * standard error in a log file. Waits for `GET /__lbheartbeat__` to answer 200 (20 s),
 * trying up to 3 ports.
 *
 * Returns `{ base, port, pid, dataDir, stop(), log() }`; `stop()` kills the server, waits
 * for it to exit and removes its directory (`log()` still answers afterwards).
 */
export async function startServer({ args = [], env = {}, timeoutMs = 20_000 } = {}) {
  const bin = binary('sealdrop-server');
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await tempDir('server');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dataDir = path.join(dir, 'data');
    const logPath = path.join(dir, 'server.log');
    const logFd = fs.openSync(logPath, 'w');
    const child = spawn(
      bin,
      ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--base-url', base, ...args],
      {
        env: cleanEnv({ RUST_LOG: 'warn', ...LIMITS_OFF, ...env }),
        stdio: ['ignore', 'ignore', logFd],
      },
    );
    fs.closeSync(logFd);
    liveChildren.add(child);
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ error }));
    });
    let exit = null;
    exited.then((e) => {
      exit = e;
      liveChildren.delete(child);
    });

    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (!exit && Date.now() < deadline) {
      try {
        const { status } = await httpGet(`${base}/__lbheartbeat__`, { timeoutMs: 2_000 });
        if (status === 200) {
          up = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    const readLog = () => {
      try {
        return fs.readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    if (up && !exit) {
      let finalLog = null;
      return {
        base,
        port,
        pid: child.pid,
        dataDir,
        log: () => finalLog ?? readLog(),
        async stop() {
          if (finalLog !== null) return;
          if (!exit) child.kill('SIGKILL');
          await exited;
          finalLog = readLog();
          await removeDir(dir);
        },
      };
    }
    if (!exit) child.kill('SIGKILL');
    const how = await exited;
    lastLog = `${readLog()}${how.error ? `\n(spawn failed: ${how.error.message})` : ''}`;
    await removeDir(dir);
  }
  throw new Error(`sealdrop-server did not start on 3 ports:\n${lastLog}`);
}

// ---------------------------------------------------------------------------------------
// The CLI.

/**
 * Runs the real `sealdrop` with `args` (no shell) and returns
 * `{ code, stdout, stdoutBytes, stderr }` (`code` is -1 when killed by a signal).
 *
 * - `input`: a string or Buffer fed on standard input (otherwise it is empty, not a terminal).
 * - `env`: extra variables, e.g. `{ SEALDROP_HOST: server.base }`; the rest of the
 *   environment is clean (PATH, TMPDIR, and HOME below).
 * - `home`: HOME for the run, with XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME and
 *   XDG_STATE_HOME inside it. Pass the same directory to several calls that share a
 *   history; by default each call gets a fresh one, removed afterwards.
 * - `cwd`: the working directory (default: HOME).
 */
export async function cli(args, { input, env = {}, cwd, home, timeoutMs = 180_000 } = {}) {
  const bin = binary('sealdrop');
  const own = home ? null : await tempDir('cli');
  const homeDir = home ?? path.join(own, 'home');
  await fsp.mkdir(homeDir, { recursive: true });
  try {
    const child = spawn(bin, args, {
      cwd: cwd ?? homeDir,
      env: cleanEnv({
        HOME: homeDir,
        XDG_DATA_HOME: path.join(homeDir, '.local/share'),
        XDG_CONFIG_HOME: path.join(homeDir, '.config'),
        XDG_CACHE_HOME: path.join(homeDir, '.cache'),
        XDG_STATE_HOME: path.join(homeDir, '.local/state'),
        ...env,
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    liveChildren.add(child);
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.stdin.on('error', () => {}); // the CLI may exit without reading its input
    child.stdin.end(input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const code = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c ?? -1));
    }).finally(() => {
      clearTimeout(timer);
      liveChildren.delete(child);
    });
    if (timedOut) throw new Error(`sealdrop ${args.join(' ')} ran longer than ${timeoutMs} ms`);
    const stdoutBytes = Buffer.concat(out);
    return {
      code,
      stdout: stdoutBytes.toString('utf8'),
      stdoutBytes,
      stderr: Buffer.concat(err).toString('utf8'),
    };
  } finally {
    if (own) await removeDir(own);
  }
}

// ---------------------------------------------------------------------------------------
// The browser.

/** The pid of the Chromium browser process started for `profileDir` (a child of this process). */
function browserPid(profileDir) {
  const flag = `--user-data-dir=${profileDir}`;
  let fallback = null;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let args;
    try {
      args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args.includes(flag)) continue;
    if (parentOf(pid) === process.pid) return pid;
    if (fallback === null || pid < fallback) fallback = pid;
  }
  return fallback;
}

/**
 * Launches Debian's Chromium headless with CHROMIUM_FLAGS, a fresh user-data directory and
 * downloads accepted, as a playwright persistent context. Options go to
 * `chromium.launchPersistentContext` (e.g. `locale: 'es-ES'`, `colorScheme`, `viewport`,
 * `downloadsPath`); `args` are added to the flags.
 *
 * Returns the BrowserContext with three more properties: `pid` (the browser process, for
 * startRssSampler), `profileDir` and `downloadsDir` (where downloads land, under their
 * GUID, until saved elsewhere). The context starts with one blank page
 * (`context.pages()[0]`). `close()` also removes the profile and the downloads.
 */
export async function launchBrowser({ args = [], downloadsPath, env = {}, ...options } = {}) {
  const root = await tempDir('browser');
  const profileDir = path.join(root, 'profile');
  const downloadsDir = downloadsPath ?? path.join(root, 'downloads');
  await fsp.mkdir(profileDir, { recursive: true });
  await fsp.mkdir(downloadsDir, { recursive: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS, ...args],
      acceptDownloads: true,
      downloadsPath: downloadsDir,
      // Chromium keeps an NSS database under HOME: give it the temporary directory.
      // A UTF-8 locale, or Chromium drops files whose paths are not ASCII.
      env: cleanEnv({ HOME: root, LANG: 'C.UTF-8', ...env }),
      timeout: 60_000,
      ...options,
    });
  } catch (error) {
    await removeDir(root);
    throw error;
  }
  const close = context.close.bind(context);
  let closed = null;
  Object.assign(context, {
    pid: browserPid(profileDir),
    profileDir,
    downloadsDir,
    close(closeOptions) {
      closed ??= close(closeOptions).finally(() => removeDir(root));
      return closed;
    },
  });
  return context;
}

/**
 * Launches Debian's Firefox ESR headless through puppeteer-core over WebDriver BiDi, with a
 * fresh profile whose downloads go to `downloadsDir` without asking. Playwright's own
 * Firefox build cannot be installed here, and Debian's cannot speak playwright's protocol.
 *
 * Returns `{ engine: 'firefox', pid, profileDir, downloadsDir, raw, newPage(), close() }`;
 * `newPage()` opens a tab as a FirefoxPage (a playwright-like subset, below). Open a fresh
 * tab for each download: reusing one after a service-worker download can hang the driver.
 */
export async function launchFirefox({ downloadsPath, prefs = {}, env = {} } = {}) {
  const root = await tempDir('firefox');
  const profileDir = path.join(root, 'profile');
  const downloadsDir = downloadsPath ?? path.join(root, 'downloads');
  await fsp.mkdir(profileDir, { recursive: true });
  await fsp.mkdir(downloadsDir, { recursive: true });
  let raw;
  try {
    raw = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      userDataDir: profileDir,
      protocolTimeout: 300_000,
      timeout: 60_000,
      env: cleanEnv({ HOME: root, LANG: 'C.UTF-8', ...env }),
      extraPrefsFirefox: {
        // Save every download to downloadsDir at once, no dialog, no panel.
        'browser.download.folderList': 2,
        'browser.download.dir': downloadsDir,
        'browser.download.useDownloadDir': true,
        'browser.download.always_ask_before_handling_new_types': false,
        'browser.download.start_downloads_in_tmp_dir': false,
        'browser.download.alwaysOpenPanel': false,
        'browser.download.panel.shown': true,
        ...prefs,
      },
    });
  } catch (error) {
    await removeDir(root);
    throw error;
  }
  let closed = null;
  return {
    engine: 'firefox',
    raw,
    pid: raw.process()?.pid ?? null,
    profileDir,
    downloadsDir,
    async newPage() {
      return new FirefoxPage(await raw.newPage(), this);
    },
    close() {
      closed ??= raw.close().catch(() => {}).finally(() => removeDir(root));
      return closed;
    },
  };
}

/** Launches `engine` ('chromium' or 'firefox') with launchBrowser() or launchFirefox(). */
export async function launchEngine(engine, options = {}) {
  if (engine === 'firefox') return launchFirefox(options);
  assert.equal(engine, 'chromium', `unknown engine ${engine}`);
  const context = await launchBrowser(options);
  context.engine = 'chromium';
  return context;
}

/**
 * A Firefox tab with the part of playwright's Page API the cross-browser tests use (same
 * names, same meaning): goto, setInputFiles, click, fill, selectOption, inputValue,
 * textContent, isVisible, waitForSelector (visible by default; `state: 'attached'` or
 * `'hidden'`), waitForFunction, evaluate, reload, waitForNavigation, setViewportSize,
 * screenshot ({ path, fullPage }), close. `raw` is puppeteer's Page.
 */
export class FirefoxPage {
  constructor(raw, browser) {
    this.raw = raw;
    this.browser = browser;
    this.engine = 'firefox';
  }

  goto(url) {
    return this.raw.goto(url);
  }

  async setInputFiles(selector, files) {
    const input = await this.raw.waitForSelector(selector);
    await input.uploadFile(...files);
  }

  click(selector) {
    return this.raw.locator(selector).click();
  }

  fill(selector, value) {
    return this.raw.locator(selector).fill(value);
  }

  selectOption(selector, value) {
    return this.raw.select(selector, value);
  }

  inputValue(selector) {
    return this.raw.$eval(selector, (e) => e.value);
  }

  textContent(selector) {
    return this.raw.$eval(selector, (e) => e.textContent);
  }

  isVisible(selector) {
    return this.raw.evaluate((s) => {
      const e = document.querySelector(s);
      return Boolean(e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
    }, selector);
  }

  waitForSelector(selector, { state = 'visible', timeout = 30_000 } = {}) {
    const how = { attached: {}, visible: { visible: true }, hidden: { hidden: true } }[state];
    assert.ok(how, `unknown state ${state}`);
    return this.raw.waitForSelector(selector, { ...how, timeout });
  }

  waitForFunction(fn, arg, { timeout = 30_000 } = {}) {
    return this.raw.waitForFunction(fn, { timeout, polling: 100 }, arg);
  }

  evaluate(fn, arg) {
    return this.raw.evaluate(fn, arg);
  }

  reload() {
    return this.raw.reload();
  }

  waitForNavigation({ timeout = 30_000 } = {}) {
    return this.raw.waitForNavigation({ timeout });
  }

  setViewportSize({ width, height }) {
    return this.raw.setViewport({ width, height });
  }

  screenshot({ path: file, fullPage = false } = {}) {
    return this.raw.screenshot({ path: file, fullPage });
  }

  close() {
    return this.raw.close();
  }
}

/** Files of a Firefox download directory: complete-looking ones and `.part` files. */
function downloadState(dir) {
  const names = fs.readdirSync(dir);
  return { names: names.filter((n) => !n.endsWith('.part')), parts: names.filter((n) => n.endsWith('.part')) };
}

/**
 * Firefox's side of waitForDownload: Firefox writes `<name>.<random>.<ext>.part` beside an
 * empty placeholder `<name>.<ext>` and moves it over the placeholder when the download
 * completes; a failed download leaves the placeholder empty and the `.part` behind. A new
 * name while no new `.part` exists, unchanged over three polls, is complete.
 */
async function waitForFirefoxDownload(page, trigger, { saveAs, timeoutMs }) {
  const dir = page.browser.downloadsDir;
  const start = downloadState(dir);
  const before = new Set([...start.names, ...start.parts]);
  await trigger();
  const deadline = Date.now() + timeoutMs;
  let candidate = null;
  let stable = 0;
  for (;;) {
    const { names, parts } = downloadState(dir);
    const fresh = names.filter((n) => !before.has(n));
    const busy = parts.some((n) => !before.has(n));
    const key = fresh.length === 1 && !busy ? `${fresh[0]}:${fs.statSync(path.join(dir, fresh[0])).size}` : null;
    if (key && key === candidate) stable++;
    else stable = 0;
    candidate = key;
    if (stable >= 3) break;
    if (Date.now() > deadline) throw new Error(`no completed download in ${dir} after ${timeoutMs} ms: ${names}`);
    await sleep(150);
  }
  const name = candidate.slice(0, candidate.lastIndexOf(':'));
  let file = path.join(dir, name);
  if (saveAs) {
    await fsp.rename(file, saveAs);
    file = saveAs;
  }
  return { download: null, path: file, name };
}

/**
 * Runs `trigger()` and waits for the download it starts; returns
 * `{ download, path, name }` once the file is complete (`path` is under the context's
 * downloads directory, or `saveAs` when given). Throws if the download failed. In Firefox
 * (a FirefoxPage) `download` is null and a failed download is a timeout: check the page.
 */
export async function waitForDownload(page, trigger, { saveAs, timeoutMs = 120_000 } = {}) {
  if (page.engine === 'firefox') return waitForFirefoxDownload(page, trigger, { saveAs, timeoutMs });
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: timeoutMs }),
    trigger(),
  ]);
  const failure = await download.failure();
  if (failure) throw new Error(`download of ${download.url()} failed: ${failure}`);
  let file;
  if (saveAs) {
    await download.saveAs(saveAs);
    file = saveAs;
  } else {
    file = await download.path();
  }
  return { download, path: file, name: download.suggestedFilename() };
}

/** Sets the page's viewport: 'phone' (390×844) or 'desktop' (1280×800). */
export async function setViewport(page, kind) {
  const size = VIEWPORTS[kind];
  assert.ok(size, `unknown viewport ${kind}: phone or desktop`);
  await page.setViewportSize(size);
}

/** Emulates `prefers-color-scheme`: 'light' or 'dark'. */
export async function setTheme(page, theme) {
  assert.ok(theme === 'light' || theme === 'dark', `unknown theme ${theme}: light or dark`);
  await page.emulateMedia({ colorScheme: theme });
}

/**
 * Saves a full-page PNG to `${CARGO_TARGET_DIR or <repo>/target}/web-screenshots/<name>.png`
 * (ignored by git) and returns its path.
 */
export async function screenshot(page, name, options = {}) {
  assert.match(name, /^[\w.-]+$/, 'a screenshot name is a plain file name');
  const dir = path.join(targetDir(), 'web-screenshots');
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, ...options });
  return file;
}

// ---------------------------------------------------------------------------------------
// The guard.

const REPORT_BINDING = '__sealdropGuardReport';
/** The violations of a document, also readable with `page.evaluate(() => window.__sealdropCspViolations)`. */
const VIOLATIONS_ARRAY = '__sealdropCspViolations';
const guardsOf = new WeakMap(); // context → { guards: Set, ready: Promise }

function installReporter(context) {
  let entry = guardsOf.get(context);
  if (entry) return entry;
  entry = { guards: new Set(), ready: null };
  guardsOf.set(context, entry);
  // A CDP binding reaches node at once, whatever the page's CSP, and survives navigation;
  // the in-page array is kept for tests that want to look themselves.
  entry.ready = (async () => {
    await context.exposeBinding(REPORT_BINDING, (source, violation) => {
      for (const g of entry.guards) g(violation, source.page?.url() ?? '');
    });
    await context.addInitScript(
      ({ binding, array }) => {
        const seen = (window[array] = window[array] || []);
        document.addEventListener(
          'securitypolicyviolation',
          (e) => {
            const v = {
              directive: e.effectiveDirective || e.violatedDirective,
              blockedURI: e.blockedURI,
              sourceFile: e.sourceFile,
              line: e.lineNumber,
              sample: e.sample,
              disposition: e.disposition,
            };
            seen.push(v);
            try {
              Promise.resolve(window[binding](v)).catch(() => {});
            } catch {
              // no binding in this document
            }
          },
          true,
        );
      },
      { binding: REPORT_BINDING, array: VIOLATIONS_ARRAY },
    );
  })();
  return entry;
}

function originOf(url) {
  const u = new URL(url);
  const scheme = { 'ws:': 'http:', 'wss:': 'https:' }[u.protocol] ?? u.protocol;
  return `${scheme}//${u.host}`;
}

const IGNORED_SCHEMES = /^(data|blob|about):/i;
/** Resources whose failure breaks a page silently (a module that fails to load throws no page error). */
const SUBRESOURCES = new Set(['script', 'stylesheet', 'image', 'font', 'manifest', 'media']);
const CSP_MESSAGE = /Content[- ]Security[- ]Policy|^Refused to /i;

/**
 * The guard in Firefox, with what WebDriver BiDi shows of a tab: its requests (origin, and
 * secrets in URLs and headers; the service worker's own requests and WebSocket frames are
 * not visible there), uncaught page errors and console messages about the Content Security
 * Policy. Same interface as guard().
 */
function firefoxGuard(page, origin, secretList) {
  const raw = page.raw;
  const expected = originOf(origin);
  const problems = [];
  const requests = [];
  const leak = (where, value) => {
    if (value === undefined || value === null) return;
    secretList.forEach((secret, i) => {
      if (String(value).includes(secret)) problems.push(`${where} contains secret #${i}`);
    });
  };
  const onRequest = (request) => {
    const url = request.url();
    // BiDi has no resource type (puppeteer throws UnsupportedOperation for it).
    requests.push({ method: request.method(), url, resourceType: 'unknown', serviceWorker: false });
    if (IGNORED_SCHEMES.test(url)) return;
    const wire = url.split('#')[0];
    let o = null;
    try {
      o = originOf(url);
    } catch {
      problems.push(`request to an unparsable URL: ${wire}`);
    }
    if (o && o !== expected) problems.push(`${request.method()} request to another origin: ${wire}`);
    leak(`${request.method()} request URL ${wire}`, wire);
    for (const [name, value] of Object.entries(request.headers())) leak(`request ${wire}: header ${name}`, value);
  };
  const onError = (error) => problems.push(`uncaught error on ${raw.url().split('#')[0]}: ${error?.stack || error?.message || error}`);
  const onConsole = (message) => {
    if (CSP_MESSAGE.test(message.text())) problems.push(`console ${message.type()}: ${message.text()}`);
  };
  raw.on('request', onRequest);
  raw.on('pageerror', onError);
  raw.on('console', onConsole);
  return {
    problems,
    requests,
    dispose() {
      raw.off('request', onRequest);
      raw.off('pageerror', onError);
      raw.off('console', onConsole);
    },
    async assertClean() {
      assert.ok(
        problems.length === 0,
        `the guard found ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
      );
    },
  };
}

/**
 * Watches everything the page's context does (every page in it, its service workers and
 * their requests, WebSockets) and collects problems:
 *
 * - a request (or WebSocket) to an origin other than `origin` (data:, blob: and about:
 *   URLs are ignored; ws(s) counts as http(s));
 * - a console message about the Content Security Policy (Chromium's wording is
 *   "… violates the following Content Security Policy directive …" or "Refused to …");
 * - a `securitypolicyviolation` event in any document;
 * - an uncaught error in a page;
 * - a script, stylesheet, image, font, manifest or media file that answered an error status
 *   or failed to load (a module import that 404s stops the page's scripts without any
 *   page error; API fetches are the test's business);
 * - any of `secrets` in a request URL (the #fragment, which never leaves the browser, is
 *   not part of a request), a request header, a request body playwright can read, or a
 *   WebSocket frame the page sends (`websocketFrames: false` skips the frames).
 *
 * Install it before navigating. `await g.assertClean()` fails the test with every problem;
 * `g.problems` and `g.requests` (`{ method, url, resourceType, serviceWorker }`) are there
 * to inspect; `g.dispose()` stops watching.
 */
export async function guard(page, origin, { secrets = [], websocketFrames = true } = {}) {
  if (page.engine === 'firefox') {
    return firefoxGuard(page, origin, secrets.filter((s) => s !== undefined && s !== null && String(s) !== '').map(String));
  }
  const context = page.context();
  const expected = originOf(origin);
  const secretList = secrets.filter((s) => s !== undefined && s !== null && String(s) !== '').map(String);
  const problems = [];
  const requests = [];
  const pending = new Set();

  const leak = (where, value) => {
    if (value === undefined || value === null) return;
    secretList.forEach((secret, i) => {
      if (value.includes(secret)) problems.push(`${where} contains secret #${i}`);
    });
  };
  const checkUrl = (what, url) => {
    if (IGNORED_SCHEMES.test(url)) return;
    const wire = url.split('#')[0];
    let o;
    try {
      o = originOf(url);
    } catch {
      problems.push(`${what} to an unparsable URL: ${wire}`);
      return;
    }
    if (o !== expected) problems.push(`${what} to another origin: ${wire}`);
    leak(`${what} URL ${wire}`, wire);
  };
  const track = (promise) => {
    const p = promise.catch(() => {}).finally(() => pending.delete(p));
    pending.add(p);
  };

  const onRequest = (request) => {
    const sw = request.serviceWorker() !== null;
    const method = request.method();
    const url = request.url();
    requests.push({ method, url, resourceType: request.resourceType(), serviceWorker: sw });
    const what = `${method} ${sw ? 'request of a service worker' : 'request'}`;
    checkUrl(what, url);
    if (secretList.length === 0 || IGNORED_SCHEMES.test(url)) return;
    const wire = url.split('#')[0];
    const where = `${what} ${wire}:`;
    for (const [name, value] of Object.entries(request.headers())) leak(`${where} header ${name}`, value);
    let body = null;
    try {
      body = request.postDataBuffer();
    } catch {
      // not readable
    }
    if (body) leak(`${where} body`, body);
    // The headers the network stack added (cookies…) arrive later; give up after 2 s.
    track(
      Promise.race([
        request.allHeaders().then((all) => {
          for (const [name, value] of Object.entries(all)) {
            if (!(name in request.headers())) leak(`${where} header ${name}`, value);
          }
        }),
        sleep(2_000),
      ]),
    );
  };
  const onResponse = (response) => {
    const type = response.request().resourceType();
    if (SUBRESOURCES.has(type) && response.status() >= 400) {
      problems.push(`${type} ${response.url().split('#')[0]} answered ${response.status()}`);
    }
  };
  const onRequestFailed = (request) => {
    const type = request.resourceType();
    if (SUBRESOURCES.has(type) && !IGNORED_SCHEMES.test(request.url())) {
      problems.push(`${type} ${request.url().split('#')[0]} failed: ${request.failure()?.errorText}`);
    }
  };
  const onWebSocket = (ws) => {
    checkUrl('WebSocket', ws.url());
    if (secretList.length && websocketFrames) {
      ws.on('framesent', ({ payload }) => leak(`WebSocket frame to ${ws.url()}`, payload));
    }
  };
  const watchPage = (p) => p.on('websocket', onWebSocket);
  // The context's console events include those of its service workers.
  const onConsole = (message) => {
    const text = message.text();
    if (CSP_MESSAGE.test(text)) problems.push(`console ${message.type()}: ${text}`);
  };
  const onWebError = (webError) => {
    const error = webError.error();
    const where = webError.page()?.url() ?? 'a page';
    problems.push(`uncaught error on ${where}: ${error?.stack || error?.message || error}`);
  };
  const onViolation = (v, url) => {
    problems.push(
      `securitypolicyviolation on ${url.split('#')[0]}: ${v.directive} blocked ${v.blockedURI || '(inline)'}` +
        `${v.sourceFile ? ` at ${v.sourceFile}:${v.line}` : ''}${v.sample ? ` "${v.sample}"` : ''}`,
    );
  };

  const entry = installReporter(context);
  entry.guards.add(onViolation);
  await entry.ready;
  context.on('request', onRequest);
  context.on('response', onResponse);
  context.on('requestfailed', onRequestFailed);
  context.on('console', onConsole);
  context.on('weberror', onWebError);
  context.on('page', watchPage);
  for (const p of context.pages()) watchPage(p);

  const dispose = () => {
    entry.guards.delete(onViolation);
    context.off('request', onRequest);
    context.off('response', onResponse);
    context.off('requestfailed', onRequestFailed);
    context.off('console', onConsole);
    context.off('weberror', onWebError);
    context.off('page', watchPage);
    for (const p of context.pages()) p.off('websocket', onWebSocket);
  };

  return {
    problems,
    requests,
    dispose,
    /** Waits for pending header checks, then fails with every problem found so far. */
    async assertClean() {
      await Promise.all([...pending]);
      assert.ok(
        problems.length === 0,
        `the guard found ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
      );
    },
  };
}

// ---------------------------------------------------------------------------------------
// The static check of the pages.

function htmlFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && /\.html?$/i.test(entry.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

const TAG = /<([a-zA-Z][\w-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g;
const ATTRIBUTE = /([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;

/**
 * The problems of every .html file under `webDir` (default: web/), as
 * `<file>:<line>: <problem>` strings; none is good. A problem is:
 * a `<script>` without `src`, a `<style>` element, a `style=` attribute, an `on*=`
 * event-handler attribute, a `javascript:` URL, or an absolute `http(s)://` or `//` URL in
 * any attribute (the pages are served from whatever origin the server has, so any
 * absolute URL names another origin). Also a problem: no .html file at all.
 */
export function staticInlineCheck(webDir = WEB_DIR) {
  const problems = [];
  const files = fs.existsSync(webDir) ? htmlFiles(webDir) : [];
  if (files.length === 0) return [`${webDir}: no .html file`];
  for (const file of files) {
    const rel = file.startsWith(`${REPO}${path.sep}`) ? path.relative(REPO, file) : file;
    // Blank out comments (keeping line numbers) so that commented-out markup is ignored.
    const text = fs
      .readFileSync(file, 'utf8')
      .replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
    const lineOf = (index) => text.slice(0, index).split('\n').length;
    const report = (index, problem) => problems.push(`${rel}:${lineOf(index)}: ${problem}`);
    for (const match of text.matchAll(TAG)) {
      const name = match[1].toLowerCase();
      const attrs = new Map();
      for (const a of match[2].matchAll(ATTRIBUTE)) {
        let value = a[2] ?? '';
        if (/^["']/.test(value)) value = value.slice(1, -1);
        attrs.set(a[1].toLowerCase(), value);
      }
      if (name === 'script') {
        if (!attrs.has('src')) report(match.index, 'inline <script> (no src)');
        else {
          // A script with src must have no content either.
          const end = text.indexOf('</script', match.index + match[0].length);
          if (end > 0 && text.slice(match.index + match[0].length, end).trim() !== '') {
            report(match.index, '<script src> with inline content');
          }
        }
      }
      if (name === 'style') report(match.index, '<style> element');
      for (const [attr, value] of attrs) {
        // Namespace names (inline SVG) look like URLs but load nothing.
        if (attr === 'xmlns' || attr.startsWith('xmlns:')) continue;
        if (attr === 'style') report(match.index, `style= attribute on <${name}>`);
        if (/^on/.test(attr)) report(match.index, `event-handler attribute ${attr}= on <${name}>`);
        // Browsers ignore tabs, newlines and leading control characters in URLs.
        const url = value.replace(/[\u0000-\u0020]/g, '').replace(/&#0*58;|&colon;/gi, ':').toLowerCase();
        if (url.startsWith('javascript:')) {
          report(match.index, `javascript: URL in ${attr}= on <${name}>`);
        }
        for (const candidate of attr === 'srcset' ? url.split(',') : [url]) {
          if (/^(https?:)?\/\//.test(candidate.trim())) {
            report(match.index, `absolute URL (another origin) in ${attr}= on <${name}>: ${value.trim()}`);
          }
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Memory of a process tree.

/** The parent pid of `pid`, or null. */
function parentOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** `pid` and all its living descendants. */
export function processTree(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(entry);
    if (ppid === null) continue;
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  if (!fs.existsSync(`/proc/${pid}`)) return [];
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/** VmRSS of `pid` in KiB (0 when it is gone or a kernel thread). */
export function rssKiB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples, every `everyMs`, the summed VmRSS of `rootPid` and all its descendants (for the
 * browser: `context.pid`; for the server: `server.pid`). Pages shared between processes
 * count once per process, so the sum overstates what the tree really holds; compare it
 * with a baseline taken the same way.
 *
 * `stop()` takes a last sample and returns `{ peakKiB, samples, peakProcesses, series }`:
 * the highest sum, how many samples were taken, the most processes seen at once, and every
 * sum in order (KiB).
 */
export function startRssSampler(rootPid, everyMs = 100, measure = rssKiB) {
  assert.ok(Number.isInteger(rootPid) && rootPid > 0, `not a pid: ${rootPid}`);
  let peakKiB = 0;
  let peakProcesses = 0;
  const series = [];
  const sample = () => {
    const tree = processTree(rootPid);
    let sum = 0;
    for (const pid of tree) sum += measure(pid);
    series.push(sum);
    peakKiB = Math.max(peakKiB, sum);
    peakProcesses = Math.max(peakProcesses, tree.length);
    return sum;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  let result = null;
  return {
    /** Takes one sample now and returns the sum (KiB). */
    sample,
    stop() {
      if (!result) {
        clearInterval(timer);
        sample();
        result = { peakKiB, samples: series.length, peakProcesses, series };
      }
      return result;
    },
  };
}

/** Pss of `pid` in KiB (0 when it is gone): its private pages plus its share of shared ones. */
export function pssKiB(pid) {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Like startRssSampler, in PSS: shared pages count once across the tree, so the sum is
 * what the browser really holds (the issue's measure of a download's memory). Reading
 * smaps_rollup costs more than status: sample every 250 ms or slower.
 */
export function startPssSampler(rootPid, everyMs = 250) {
  return startRssSampler(rootPid, everyMs, pssKiB);
}

// ---------------------------------------------------------------------------------------
// Test content.

const CONTENT_CHUNK = 1 << 20;

function contentCipher(seed) {
  // AES-128-CTR keystream under a key derived from the seed: deterministic, incompressible,
  // and fast enough (GB/s) for 1 GiB files.
  const key = createHash('sha256').update(`sealdrop test content ${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}

/** `size` deterministic incompressible bytes for `seed` (the first bytes of makeFile's content). */
export function makeBytes(size, seed = 0) {
  return contentCipher(seed).update(Buffer.alloc(size));
}

/**
 * Writes `size` deterministic incompressible bytes for `seed` to `dir/name` in 1 MiB
 * chunks (bounded memory, fine for 1 GiB) and returns the path.
 */
export async function makeFile(dir, name, size, seed = 0) {
  const file = path.join(dir, name);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const cipher = contentCipher(seed);
  const zeros = Buffer.alloc(CONTENT_CHUNK);
  const handle = await fsp.open(file, 'w');
  try {
    for (let left = size; left > 0; ) {
      const n = Math.min(left, CONTENT_CHUNK);
      const chunk = cipher.update(n === CONTENT_CHUNK ? zeros : zeros.subarray(0, n));
      await handle.write(chunk, 0, chunk.length);
      left -= n;
    }
  } finally {
    await handle.close();
  }
  return file;
}

/** The SHA-256 of a file, hex, read as a stream. */
export async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: CONTENT_CHUNK })) {
    hash.update(chunk);
  }
  return hash.digest('hex');
}

/**
 * A reverse proxy to `base` that refuses WebSocket upgrades with 502, as some
 * misconfigured proxies do: `{ base, close }`.
 */
/**
 * A share no honest client makes (hostile names, a size its body does not have), uploaded
 * to the server at `base` with the web client's own crypto through the plain HTTP route.
 * Returns its link.
 */
export async function craftShare(base, metadata, bytes) {
  const secret = newSecret();
  const parts = [];
  for await (const part of encryptBlob(secret, new Blob([bytes]))) parts.push(part);
  const response = await fetch(`${base}/api/upload`, {
    method: 'POST',
    headers: {
      'X-File-Metadata': await encryptMetadata(secret, metadata),
      Authorization: `send-v1 ${b64uEncode(await authKeyOf(secret))}`,
      'Content-Type': 'application/octet-stream',
    },
    body: Buffer.concat(parts),
  });
  assert.equal(response.status, 200);
  return `${(await response.json()).url}#${b64uEncode(secret)}`;
}

export async function proxyWithoutWebSockets(base) {
  const port = await freePort();
  const target = new URL(base);
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  proxy.on('upgrade', (req, socket) => {
    socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => proxy.close(r)) };
}
