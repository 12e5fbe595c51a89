// The download page, /download/<id>/#<secret>: checks the share, asks for the password
// when there is one, shows what was shared after decrypting its metadata, and downloads
// only when the recipient clicks (so link scanners cannot use up a one-download link).
//
// Saving streams to disk through the service worker; without one it falls back to the
// File System Access API, and for small files to an in-memory Blob.
//
// "Report this file" sends the link's key (and the password the recipient unlocked with)
// to the server, which checks them against the share and then holds the file for its
// operator; it is the only request that carries the key, and only on the user's click.

import * as api from './api.js';
import { authKeyOf, b64uEncode, decryptMetadata, parseSecret, passwordAuthKey } from './crypto.js';
import { formatBytes, formatDuration, t, translatePage } from './i18n.js';
import { showLegalLink } from './legal.js';
import { output, plaintext } from './save.js';
import { safeText } from './zip.js';

/** Largest download kept in memory when nothing can stream to disk. */
const BLOB_LIMIT = 256 * 1024 * 1024;
/** A download that reports nothing for this long is given up. */
const SILENCE_MS = 60_000;

const $ = (id) => document.getElementById(id);
const sections = ['checking', 'unlock', 'ready', 'gone', 'broken', 'report', 'reported'];
/** Set when the next click saves through the File System Access API. */
let pickNext = false;
const state = { id: '', fragment: '', secret: null, auth: null, meta: null, final: false, password: null };

function show(section, title) {
  for (const s of sections) $(s).hidden = s !== section;
  if (title) $('title').textContent = title;
}

/** A link that cannot be used: `title` says why (incomplete link, server trouble…). */
function broken(text, title = t('download.brokenTitle')) {
  $('broken-title').textContent = title;
  $('broken-text').textContent = text;
  show('broken', t('download.problemTitle'));
  $('title').focus();
}

function gone() {
  show('gone', t('download.goneHeading'));
  $('title').focus();
}

function explain(err) {
  switch (err?.status) {
    case 0:
      return t('error.network');
    case 404:
      return t('error.gone');
    case 429:
      return t('error.rateLimited');
    case 503:
      return t('error.unavailable');
    default:
      return err?.status > 0 ? t('error.server') : t('error.unexpected');
  }
}

async function start() {
  translatePage();
  api.config().then(showLegalLink, () => {});
  const match = /^\/download\/([0-9a-fA-F]{10,16})\/?$/.exec(location.pathname);
  if (!match) {
    gone();
    return;
  }
  state.id = match[1];
  state.fragment = location.hash.slice(1);
  state.secret = parseSecret(state.fragment);
  if (!state.secret) {
    broken(t('download.noKey'));
    return;
  }
  let found;
  try {
    found = await api.exists(state.id);
  } catch (err) {
    if (err?.status === 404) gone();
    else broken(explain(err), t('download.troubleTitle'));
    return;
  }
  state.auth = { key: null, nonce: found.nonce };
  if (found.requiresPassword) {
    show('unlock', t('download.title'));
    $('unlock-password').focus();
    return;
  }
  state.auth.key = await authKeyOf(state.secret);
  await loadMetadata();
}

/** The link as the uploader saw it: the password's salt. */
function canonicalLink() {
  return `${location.origin}/download/${state.id}/#${b64uEncode(state.secret)}`;
}

async function unlock(event) {
  event.preventDefault();
  const password = $('unlock-password').value;
  if (!password) return;
  $('unlock-error').hidden = true;
  state.auth.key = await passwordAuthKey(password, canonicalLink());
  state.password = password;
  await loadMetadata(true);
  // Kept in memory for a report only once it proved right.
  if (!state.meta) state.password = null;
}

async function loadMetadata(fromPassword = false) {
  let answer;
  try {
    answer = await api.metadata(state.id, state.auth);
  } catch (err) {
    if (err?.status === 401 && fromPassword) {
      $('unlock-error').textContent = t('download.wrongPassword');
      $('unlock-error').hidden = false;
      $('unlock-password').select();
      return;
    }
    if (err?.status === 404) gone();
    else if (err?.status === 401) broken(t('download.wrongKey'));
    else broken(explain(err), t('download.troubleTitle'));
    return;
  }
  try {
    state.meta = await decryptMetadata(state.secret, answer.metadata);
  } catch {
    broken(t('download.wrongKey'));
    return;
  }
  state.final = Boolean(answer.finalDownload);
  const meta = state.meta;
  $('file-name').textContent = meta.archive
    ? t('download.archive', { count: meta.files.length })
    : safeText(meta.name);
  $('file-facts').textContent = t('download.facts', {
    size: formatBytes(meta.size),
    time: formatDuration(answer.ttl),
  });
  const entries = $('file-entries');
  entries.replaceChildren();
  if (meta.archive) {
    for (const f of meta.files) {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = safeText(f.name);
      const size = document.createElement('span');
      size.className = 'size';
      size.textContent = formatBytes(f.size);
      item.append(name, size);
      entries.append(item);
    }
  }
  entries.hidden = !meta.archive;
  $('final-warning').hidden = !state.final;
  const button = $('download-button');
  button.textContent = t('download.download');
  button.hidden = false;
  button.disabled = false;
  if ($('ready').hidden) {
    show('ready', t('download.title'));
    button.focus();
  }
}

// ---- saving -----------------------------------------------------------------------

let lastPaint = 0;

function progress(done, total) {
  const now = performance.now();
  if (now - lastPaint < 200 && done < total) return;
  lastPaint = now;
  $('download-progress').hidden = false;
  $('download-bar').value = total ? done / total : 1;
  $('download-progress-text').textContent = t('download.progress', {
    done: formatBytes(done),
    total: formatBytes(total),
  });
}

function status(text) {
  $('download-status').textContent = text;
}

async function finished() {
  $('download-bar').value = 1;
  if (state.final) {
    status(t('download.doneFinal'));
    $('download-status').focus();
    $('download-button').hidden = true;
    $('final-warning').hidden = true;
    return;
  }
  status(t('download.done'));
  // The next download may be the last one: ask the server again.
  await loadMetadata().catch(() => {});
}

function failed(err) {
  $('download-button').disabled = false;
  if (err?.name === 'DecryptError' || err?.damaged) {
    status(t('download.damaged'));
  } else if (err?.status === 404) {
    gone();
  } else if (err?.name === 'AbortError' || err?.status === -1) {
    status(t('download.stopped'));
  } else {
    status(explain(err));
  }
}

function randomToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function worker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    const reg = await Promise.race([
      navigator.serviceWorker.register('/sw.js', { scope: '/download/', type: 'module' }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no service worker')), 10_000)),
    ]);
    const sw = reg.active ?? reg.waiting ?? reg.installing;
    if (sw && sw.state !== 'activated') {
      await new Promise((resolve, reject) => {
        const check = () => {
          if (sw.state === 'activated') resolve();
          else if (sw.state === 'redundant') reject(new Error('service worker failed'));
        };
        sw.addEventListener('statechange', check);
        setTimeout(() => reject(new Error('service worker too slow')), 10_000);
        check();
      });
    }
    return reg.active;
  } catch {
    return null;
  }
}

/** Streams to disk through the service worker; false when there is none. */
async function viaWorker() {
  const sw = await worker();
  if (!sw) return false;
  const channel = new MessageChannel();
  const token = randomToken();
  const answer = new Promise((resolve) => {
    channel.port1.onmessage = (e) => resolve(e.data);
  });
  sw.postMessage(
    {
      type: 'prepare',
      token,
      id: state.id,
      secret: state.secret,
      authKey: state.auth.key,
      nonce: state.auth.nonce,
      meta: state.meta,
    },
    [channel.port2],
  );
  const silent = () => Object.assign(new Error('the service worker went silent'), { status: -1 });
  const ready = await Promise.race([
    answer,
    new Promise((_, reject) => setTimeout(() => reject(silent()), SILENCE_MS)),
  ]);
  if (ready.type !== 'ready') throw Object.assign(new Error('prepare failed'), { status: ready.status });
  state.auth.nonce = ready.nonce;
  let watchdog;
  const outcome = new Promise((resolve, reject) => {
    // No word from the worker for a minute (it was stopped, or the navigation was not
    // intercepted): the download is given up rather than waited for forever.
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => reject(silent()), SILENCE_MS);
    };
    arm();
    channel.port1.onmessage = (e) => {
      const m = e.data;
      arm();
      if (m.type === 'progress') progress(m.done, m.total);
      else if (m.type === 'done') resolve();
      else if (m.type === 'error') reject(m);
    };
  });
  const keepAlive = setInterval(() => sw.postMessage({ type: 'ping' }), 15_000);
  const link = document.createElement('a');
  link.href = `/download/stream/${token}`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  try {
    await outcome;
  } finally {
    clearTimeout(watchdog);
    clearInterval(keepAlive);
    channel.port1.close();
  }
  return true;
}

/** Fetches and decrypts in the page, into `sink` (a WritableStream). */
async function fetchInto(sink, out) {
  const response = await api.signed(`/api/download/${state.id}`, state.auth);
  let done = 0;
  await plaintext(response.body, state.secret, state.meta, out, (n) => {
    done += n;
    progress(done, state.meta.size);
  }).pipeTo(sink);
}

/** Saves through "choose where to save"; false when the user dismissed the dialog. */
async function viaPicker(out) {
  let handle;
  try {
    handle = await window.showSaveFilePicker({ suggestedName: out.name });
  } catch (err) {
    if (err?.name === 'AbortError') return false;
    throw err;
  }
  // An aborted writable discards what was written: a damaged file leaves no file.
  await fetchInto(await handle.createWritable(), out);
  return true;
}

async function viaBlob(out) {
  const parts = [];
  await fetchInto(new WritableStream({ write: (chunk) => void parts.push(chunk) }), out);
  const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = out.name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function download() {
  const button = $('download-button');
  button.disabled = true;
  status(t('download.starting'));
  $('download-bar').value = 0;
  $('download-progress-text').textContent = '';
  try {
    const out = output(state.meta);
    if (pickNext) {
      // A click of its own: the save dialog needs the user's gesture.
      pickNext = false;
      if (!(await viaPicker(out))) {
        status('');
        button.disabled = false;
        return;
      }
    } else if (!(await viaWorker())) {
      if (out.size <= BLOB_LIMIT) await viaBlob(out);
      else if (typeof window.showSaveFilePicker === 'function') {
        pickNext = true;
        button.textContent = t('download.chooseWhere');
        status(t('download.chooseWhereHint'));
        button.disabled = false;
        return;
      } else {
        status(t('download.tooBigForBrowser'));
        button.disabled = false;
        return;
      }
    }
    await finished();
  } catch (err) {
    failed(err);
  }
}

// ---- reporting ---------------------------------------------------------------------

function openReport() {
  $('report-status').textContent = '';
  show('report', t('download.title'));
  $('report-reason').focus();
}

function closeReport() {
  show('ready', t('download.title'));
  $('report-open').focus();
}

async function sendReport(event) {
  event.preventDefault();
  const send = $('report-send');
  send.disabled = true;
  $('report-status').textContent = t('report.sending');
  const body = { key: b64uEncode(state.secret), reason: $('report-reason').value };
  const details = $('report-details').value.trim();
  if (details) body.details = details;
  if (state.password) body.password = state.password;
  try {
    await api.report(state.id, body);
    show('reported', t('download.title'));
    $('reported-title').focus();
  } catch (err) {
    if (err?.status === 404) gone();
    else if (err?.status === 401) $('report-status').textContent = t('report.refused');
    else $('report-status').textContent = explain(err);
  } finally {
    send.disabled = false;
  }
}

$('report-open').addEventListener('click', openReport);
$('report-cancel').addEventListener('click', closeReport);
$('report-form').addEventListener('submit', (e) => sendReport(e).catch(failed));
$('unlock-form').addEventListener('submit', (e) => unlock(e).catch(failed));
$('download-button').addEventListener('click', download);
start().catch((err) => broken(explain(err)));
