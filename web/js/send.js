// The send page: choose files, pick expiry, download limit and password, encrypt and
// upload with progress, then the share panel and the list of this browser's shares.
//
// A server that requires an upload token gets a token field: the token stays in this
// page's memory, and in localStorage only when "remember on this device" is ticked.

import * as api from './api.js';
import { passwordAuthKey } from './crypto.js';
import { formatBytes, formatDuration, t, translatePage } from './i18n.js';
import { showLegalLink } from './legal.js';
import { qrSvg } from './qr.js';
import * as shares from './shares.js';
import { FALLBACK_LIMIT, upload } from './upload.js';

const $ = (id) => document.getElementById(id);
/** Where a remembered upload token is kept. */
const TOKEN_KEY = 'sealdrop.uploadToken';
let limits = { MAX_FILE_SIZE: Infinity, MAX_FILES_PER_ARCHIVE: 64 };
/** What the server requires to upload: `none`, `token`, `basic` or another kind. */
let uploadAuth = 'none';
let chosen = [];
let running = null;
let current = null;

/** A user-facing sentence for an error of an API call or upload. */
function explain(err) {
  if (err?.name === 'AbortError') return t('send.cancelled');
  if (err?.name === 'NoWebSocket') return t('error.noWebSocket', { max: formatBytes(FALLBACK_LIMIT) });
  if (err?.code === 'quota_exceeded') return t('auth.quota');
  if (err?.code === 'too_large_for_token') return t('auth.tokenTooLarge');
  switch (err?.status) {
    case 0:
      return t('error.network');
    case 400:
      return t('error.badRequest');
    case 401:
    case 403:
      return t('error.unauthorized');
    case 404:
      return t('error.gone');
    case 413:
      return t('error.tooLarge', { max: formatBytes(limits.MAX_FILE_SIZE) });
    case 429:
      return t('error.rateLimited');
    case 503:
    case 507:
      return t('error.unavailable');
    default:
      return err?.status ? t('error.server') : t('error.unexpected');
  }
}

function show(section) {
  for (const id of ['compose', 'progress', 'share']) $(id).hidden = id !== section;
}

function showError(el, message) {
  el.textContent = message;
  el.hidden = !message;
}

// ---- choosing files ---------------------------------------------------------------

function totalSize(files) {
  return files.reduce((sum, f) => sum + f.size, 0);
}

function renderSelection() {
  const list = $('file-list');
  list.replaceChildren();
  chosen.forEach((file, index) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = formatBytes(file.size);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'icon-button';
    remove.textContent = '×';
    remove.setAttribute('aria-label', t('send.remove', { name: file.name }));
    remove.addEventListener('click', () => {
      chosen.splice(index, 1);
      renderSelection();
      $('file-input').focus();
    });
    item.append(name, size, remove);
    list.append(item);
  });
  const total = totalSize(chosen);
  $('selection').hidden = chosen.length === 0;
  $('selection-title').textContent = t('send.total', { count: chosen.length, size: formatBytes(total) });
  let problem = '';
  if (total > limits.MAX_FILE_SIZE) problem = t('error.tooLarge', { max: formatBytes(limits.MAX_FILE_SIZE) });
  else if (chosen.length > limits.MAX_FILES_PER_ARCHIVE) {
    problem = t('error.tooMany', { max: limits.MAX_FILES_PER_ARCHIVE });
  }
  showError($('send-error'), problem);
  const cannotAuthenticate = uploadAuth !== 'none' && uploadAuth !== 'token';
  $('upload-button').disabled = chosen.length === 0 || Boolean(problem) || cannotAuthenticate;
}

// ---- upload token -----------------------------------------------------------------

function rememberedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token stays in this page only.
  }
}

/** Shows what the server's upload authentication asks of this page. */
function setupAuth(mode) {
  uploadAuth = typeof mode === 'string' ? mode : 'none';
  $('upload-auth').hidden = uploadAuth !== 'token';
  const note = uploadAuth === 'basic' ? t('auth.basicOnly') : t('auth.unsupported');
  $('auth-note').textContent = note;
  $('auth-note').hidden = uploadAuth === 'none' || uploadAuth === 'token';
  if (uploadAuth === 'token') {
    const saved = rememberedToken();
    if (saved && !$('upload-token').value) {
      $('upload-token').value = saved;
      $('remember-token').checked = true;
    }
  }
}

function showTokenProblem(message) {
  show('compose');
  showError($('send-error'), message);
  $('upload-token').focus();
}

function addFiles(files) {
  for (const file of files) {
    if (!chosen.some((f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified)) {
      chosen.push(file);
    }
  }
  renderSelection();
}

function setupDrop() {
  const drop = $('drop');
  $('file-input').addEventListener('change', (e) => {
    addFiles([...e.target.files]);
    e.target.value = '';
  });
  const accepting = () => !$('compose').hidden;
  for (const type of ['dragenter', 'dragover']) {
    document.addEventListener(type, (e) => {
      if (!e.dataTransfer?.types?.includes('Files')) return;
      // Always cancel, or the browser opens the file in this tab (losing the link).
      e.preventDefault();
      if (!accepting()) {
        e.dataTransfer.dropEffect = 'none';
        return;
      }
      drop.classList.add('over');
    });
  }
  document.addEventListener('dragleave', (e) => {
    if (e.target === drop || !drop.contains(e.relatedTarget)) drop.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    if (!e.dataTransfer) return;
    e.preventDefault();
    if (!accepting()) return;
    drop.classList.remove('over');
    const items = [...(e.dataTransfer.items ?? [])];
    if (items.some((item) => item.webkitGetAsEntry?.()?.isDirectory)) {
      showError($('send-error'), t('error.folder'));
      return;
    }
    addFiles([...e.dataTransfer.files]);
  });
}

// ---- options ----------------------------------------------------------------------

function fillSelect(select, values, chosenValue, label) {
  select.replaceChildren();
  for (const value of values) {
    const option = document.createElement('option');
    option.value = String(value);
    option.textContent = label(value);
    option.selected = value === chosenValue;
    select.append(option);
  }
}

async function loadConfig() {
  let cfg;
  try {
    cfg = await api.config();
  } catch {
    cfg = { LIMITS: {}, DEFAULTS: {} };
  }
  limits = { ...limits, ...cfg.LIMITS };
  setupAuth(cfg.UPLOAD_AUTH);
  const d = cfg.DEFAULTS ?? {};
  const maxExpiry = limits.MAX_EXPIRE_SECONDS ?? Infinity;
  const maxDownloads = limits.MAX_DOWNLOADS ?? Infinity;
  const expiries = (d.EXPIRE_TIMES_SECONDS ?? [86400]).filter((s) => s > 0 && s <= maxExpiry);
  const counts = (d.DOWNLOAD_COUNTS ?? [1]).filter((n) => n > 0 && n <= maxDownloads);
  fillSelect($('expiry'), expiries, d.EXPIRE_SECONDS ?? expiries[0], (s) => formatDuration(s * 1000));
  fillSelect($('dlimit'), counts, d.DOWNLOADS ?? counts[0], (n) => t('send.downloads', { count: n }));
  showLegalLink(cfg);
  renderSelection();
}

// ---- uploading --------------------------------------------------------------------

/** Rate and time left from the last few seconds of progress. */
function meter() {
  const samples = [];
  return (sent, total) => {
    const now = performance.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift();
    const [t0, s0] = samples[0];
    const rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
    return { rate, left: rate > 0 ? ((total - sent) / rate) * 1000 : Infinity };
  };
}

async function send(event) {
  event.preventDefault();
  if (running || chosen.length === 0) return;
  const token = uploadAuth === 'token' ? $('upload-token').value.trim() : '';
  if (uploadAuth === 'token' && !token) {
    showTokenProblem(t('auth.tokenMissing'));
    return;
  }
  const files = [...chosen];
  const password = $('password').value;
  const controller = new AbortController();
  running = controller;
  const name = files.length === 1 ? files[0].name : t('send.archiveName', { count: files.length });
  $('progress-title').textContent = t('send.uploading', { name });
  $('progress-bar').value = 0;
  $('progress-text').textContent = t('send.encrypting');
  $('cancel').disabled = false;
  show('progress');
  $('cancel').focus();
  const measure = meter();
  let lastPaint = 0;
  try {
    const share = await upload({
      files,
      expiry: Number($('expiry').value),
      dlimit: Number($('dlimit').value),
      password,
      token,
      signal: controller.signal,
      onCommit() {
        $('cancel').disabled = true;
        $('progress-text').textContent = t('send.finishing');
      },
      onProgress(sent, total) {
        if ($('cancel').disabled) return;
        const now = performance.now();
        const { rate, left } = measure(sent, total);
        if (now - lastPaint < 200 && sent < total) return;
        lastPaint = now;
        $('progress-bar').value = total ? sent / total : 1;
        $('progress-text').textContent = t('send.progress', {
          done: formatBytes(sent),
          total: formatBytes(total),
          rate: formatBytes(rate),
          left: Number.isFinite(left) ? formatDuration(left) : '…',
        });
      },
    });
    if (token) rememberToken($('remember-token').checked ? token : '');
    shares.add(share);
    chosen = [];
    $('password').value = '';
    renderSelection();
    openShare({ ...share, passwordSet: Boolean(password) });
  } catch (err) {
    if (token && (err?.status === 401 || err?.status === 403)) {
      if (rememberedToken() === token) rememberToken('');
      showTokenProblem(t('auth.tokenRefused'));
      return;
    }
    show('compose');
    showError($('send-error'), explain(err));
    $('upload-button').focus();
  } finally {
    running = null;
  }
}

// ---- the share panel --------------------------------------------------------------

function facts(dlimit, dtotal, expiresAt) {
  const left = Math.max(0, dlimit - dtotal);
  return t('share.facts', {
    time: formatDuration(expiresAt - Date.now()),
    downloads: t('share.downloadsLeft', { count: left }),
  });
}

function openShare(share) {
  current = share;
  $('share-link').value = share.link;
  $('copy-status').textContent = '';
  $('password-status').textContent = share.passwordSet ? t('share.passwordSet') : '';
  $('share-password').value = '';
  $('share-facts').textContent = facts(share.dlimit, 0, share.expiresAt);
  const qr = $('qr');
  qr.replaceChildren();
  try {
    const svg = qrSvg(share.link);
    svg.setAttribute('class', 'qr-code');
    svg.setAttribute('aria-label', t('share.qr'));
    qr.append(svg);
  } catch {
    // A link too long for a QR code: the text link is enough.
  }
  show('share');
  renderShares();
  $('share-title').focus();
}

function setupShare() {
  $('share-title').tabIndex = -1;
  $('shares-title').tabIndex = -1;
  $('copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('share-link').value);
      $('copy-status').textContent = t('share.copied');
    } catch {
      $('share-link').select();
      $('copy-status').textContent = t('share.copyManually');
    }
  });
  $('share-link').addEventListener('focus', (e) => e.target.select());
  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = $('share-password').value;
    if (!current || !password) return;
    $('password-status').textContent = t('share.settingPassword');
    try {
      await api.setPassword(current.id, current.ownerToken, await passwordAuthKey(password, current.link));
      $('share-password').value = '';
      $('password-status').textContent = t('share.passwordSet');
    } catch (err) {
      $('password-status').textContent = explain(err);
    }
  });
  $('delete').addEventListener('click', async () => {
    if (!current) return;
    try {
      await api.remove(current.id, current.ownerToken);
    } catch (err) {
      if (err?.status !== 404) {
        $('password-status').textContent = explain(err);
        return;
      }
    }
    shares.forget(current.id);
    current = null;
    show('compose');
    renderShares();
    showError($('send-error'), t('share.deleted'));
    $('file-input').focus();
  });
  $('send-another').addEventListener('click', () => {
    current = null;
    show('compose');
    $('file-input').focus();
  });
  $('cancel').addEventListener('click', () => running?.abort());
}

// ---- this browser's shares ----------------------------------------------------------

/** Rebuilds the list of this browser's shares, then refreshes what is left of each. */
function renderShares() {
  const list = $('share-list');
  const all = shares.list().reverse();
  const ids = all.map((s) => s.id).join(',');
  if (list.dataset.ids !== ids) {
    // Keep keyboard focus where it was when the list is rebuilt.
    const focused = document.activeElement?.closest?.('#share-list li')?.dataset.id;
    list.dataset.ids = ids;
    list.replaceChildren(...all.map(shareItem));
    if (focused) list.querySelector(`li[data-id="${focused}"] button`)?.focus();
  }
  $('shares').hidden = all.length === 0;
  for (const share of all) refreshShare(share);
}

function shareItem(share) {
  const item = document.createElement('li');
  item.dataset.id = share.id;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = share.name;
  const state = document.createElement('span');
  state.className = 'facts';
  state.textContent = t('shares.expiresIn', { time: formatDuration(share.expiresAt - Date.now()) });
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'button danger small';
  remove.textContent = t('share.delete');
  remove.setAttribute('aria-label', t('shares.deleteNamed', { name: share.name }));
  remove.addEventListener('click', async () => {
    try {
      await api.remove(share.id, share.ownerToken);
    } catch (err) {
      if (err?.status !== 404) {
        state.textContent = explain(err);
        return;
      }
    }
    shares.forget(share.id);
    if (current?.id === share.id) {
      current = null;
      show('compose');
    }
    renderShares();
    $('shares-title').focus();
  });
  item.append(name, state, remove);
  return item;
}

/** Asks the server what is left of a share; forgets it once it is gone or used up. */
function refreshShare(share) {
  api.info(share.id, share.ownerToken).then(
    (f) => {
      if (f.dtotal >= f.dlimit) {
        shares.forget(share.id);
        renderShares();
        return;
      }
      const state = $('share-list').querySelector(`li[data-id="${share.id}"] .facts`);
      if (state) state.textContent = facts(f.dlimit, f.dtotal, Date.now() + f.ttl);
    },
    (err) => {
      if (err?.status === 404 || err?.status === 401) {
        shares.forget(share.id);
        renderShares();
      }
    },
  );
}

translatePage();
setupDrop();
setupShare();
$('remember-token').addEventListener('change', (e) => {
  if (!e.target.checked) rememberToken('');
});
$('send-form').addEventListener('submit', send);
loadConfig();
renderShares();
setInterval(renderShares, 60_000);
