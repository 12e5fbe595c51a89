// The download page, /download/<id>/#<secret>: checks the share, asks for the password
// when there is one, shows what was shared after decrypting its metadata, and downloads
// only when the recipient clicks (so link scanners cannot use up a one-download link).
//
// Saving streams to disk through the service worker; without one it falls back to the
// File System Access API, and for small files to an in-memory Blob.

import * as api from './api.js';
import { authKeyOf, decryptMetadata, parseSecret, passwordAuthKey } from './crypto.js';
import { formatBytes, formatDuration, t, translatePage } from './i18n.js';
import { output, plaintext } from './save.js';

/** Largest download kept in memory when nothing can stream to disk. */
const BLOB_LIMIT = 256 * 1024 * 1024;

const $ = (id) => document.getElementById(id);
const sections = ['checking', 'unlock', 'ready', 'gone', 'broken'];
/** Set when the next click saves through the File System Access API. */
let pickNext = false;
const state = { id: '', fragment: '', secret: null, auth: null, meta: null, final: false };

function show(section, title) {
  for (const s of sections) $(s).hidden = s !== section;
  if (title) $('title').textContent = title;
}

function broken(text) {
  $('broken-text').textContent = text;
  show('broken', t('download.problemTitle'));
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
  const match = /^\/download\/([0-9a-fA-F]{10,16})\/?$/.exec(location.pathname);
  if (!match) {
    show('gone', t('download.goneHeading'));
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
    if (err?.status === 404) show('gone', t('download.goneHeading'));
    else broken(explain(err));
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
  return `${location.origin}/download/${state.id}/#${state.fragment}`;
}

async function unlock(event) {
  event.preventDefault();
  const password = $('unlock-password').value;
  if (!password) return;
  $('unlock-error').hidden = true;
  state.auth.key = await passwordAuthKey(password, canonicalLink());
  await loadMetadata(true);
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
    if (err?.status === 404) show('gone', t('download.goneHeading'));
    else if (err?.status === 401) broken(t('download.wrongKey'));
    else broken(explain(err));
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
  $('file-name').textContent = meta.archive ? t('download.archive', { count: meta.files.length }) : meta.name;
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
      name.textContent = f.name;
      const size = document.createElement('span');
      size.className = 'size';
      size.textContent = formatBytes(f.size);
      item.append(name, size);
      entries.append(item);
    }
  }
  entries.hidden = !meta.archive;
  $('final-warning').hidden = !state.final;
  show('ready', t('download.title'));
  $('download-button').focus();
}

// ---- saving -----------------------------------------------------------------------

function progress(done, total) {
  $('download-progress').hidden = false;
  $('download-bar').value = total ? done / total : 1;
  $('download-status').textContent = t('download.progress', {
    done: formatBytes(done),
    total: formatBytes(total),
  });
}

function finished() {
  $('download-bar').value = 1;
  if (state.final) {
    $('download-status').textContent = t('download.doneFinal');
    $('download-button').hidden = true;
    $('final-warning').hidden = true;
  } else {
    $('download-status').textContent = t('download.done');
    $('download-button').disabled = false;
  }
}

function failed(err) {
  $('download-button').disabled = false;
  if (err?.name === 'DecryptError' || err?.damaged) {
    $('download-status').textContent = t('download.damaged');
  } else if (err?.status === 404) {
    show('gone', t('download.goneHeading'));
  } else if (err?.name === 'AbortError' || err?.status === -1) {
    $('download-status').textContent = t('download.stopped');
  } else {
    $('download-status').textContent = explain(err);
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
      await new Promise((resolve) => {
        const check = () => sw.state === 'activated' && resolve();
        sw.addEventListener('statechange', check);
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
  const ready = await answer;
  if (ready.type !== 'ready') throw Object.assign(new Error('prepare failed'), { status: ready.status });
  state.auth.nonce = ready.nonce;
  const outcome = new Promise((resolve, reject) => {
    channel.port1.onmessage = (e) => {
      const m = e.data;
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

async function viaPicker(out) {
  const handle = await window.showSaveFilePicker({ suggestedName: out.name });
  // An aborted writable discards what was written: a damaged file leaves no file.
  await fetchInto(await handle.createWritable(), out);
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
  $('download-button').disabled = true;
  $('download-status').textContent = t('download.starting');
  const out = output(state.meta);
  try {
    if (pickNext) {
      // A click of its own: the save dialog needs the user's gesture.
      pickNext = false;
      await viaPicker(out);
    } else if (!(await viaWorker())) {
      if (out.size <= BLOB_LIMIT) await viaBlob(out);
      else if (typeof window.showSaveFilePicker === 'function') {
        pickNext = true;
        $('download-button').textContent = t('download.chooseWhere');
        $('download-status').textContent = t('download.chooseWhereHint');
        $('download-button').disabled = false;
        return;
      } else {
        $('download-status').textContent = t('download.tooBigForBrowser');
        $('download-button').disabled = false;
        return;
      }
    }
    finished();
  } catch (err) {
    failed(err);
  }
}

$('unlock-form').addEventListener('submit', (e) => unlock(e).catch(failed));
$('download-button').addEventListener('click', download);
start().catch((err) => broken(explain(err)));
