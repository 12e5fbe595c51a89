// The send page: choose files, pick expiry, download limit and password, encrypt and
// upload with progress, then the share panel and the list of this browser's shares.
//
// A server that requires an upload token gets a token field: the token stays in this
// page's memory, and in localStorage only when "remember on this device" is ticked.

import * as api from './api.js';
import { passwordAuthKey } from './crypto.js';
import { countdown, formatBytes, formatDuration, formatWait, lang, retryAfterOf, t, translatePage } from './i18n.js';
import { showLegalLink } from './legal.js';
import { attachStrength } from './password-ui.js';
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
/** Whether the link on the share panel was copied or shared (else leaving warns). */
let linkTaken = true;
const baseTitle = document.title;
let uploadStrength = null;
/** Set while the server asks this address to wait before uploading again (429). */
let stopWaiting = null;
let shareStrength = null;

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
  if (section !== 'progress') document.title = baseTitle;
}

function showError(el, message) {
  el.textContent = message;
  el.hidden = !message;
  if (message && el.id === 'send-error') showError($('send-note'), '');
}

/** A success message on the send form (not styled as an error). */
function showNote(message) {
  showError($('send-error'), '');
  showError($('send-note'), message);
}

/** What a share of `files` is called in this browser: "photo-1.jpg + 2 more". */
export function labelFor(files) {
  if (files.length === 1) return files[0].name;
  return t('send.archiveLabel', { first: files[0].name, count: files.length - 1 });
}

/** Warns before leaving while an upload runs or a fresh link was not copied yet. */
function guardLeaving(event) {
  if (running || (current && !linkTaken)) {
    event.preventDefault();
    // Older browsers show the dialog only when returnValue is set.
    event.returnValue = '';
  }
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
  // While the server asks to wait, its countdown keeps the message line.
  if (problem || !stopWaiting) showError($('send-error'), problem);
  const cannotAuthenticate = uploadAuth !== 'none' && uploadAuth !== 'token';
  $('upload-button').disabled = chosen.length === 0 || Boolean(problem) || cannotAuthenticate || Boolean(stopWaiting);
}

/** The server's limits, shown before anything is chosen: "Up to 2.5 GB · 64 files". */
function renderLimits() {
  const parts = [];
  if (Number.isFinite(limits.MAX_FILE_SIZE)) parts.push(t('send.limitSize', { size: formatBytes(limits.MAX_FILE_SIZE) }));
  if (Number.isFinite(limits.MAX_FILES_PER_ARCHIVE)) parts.push(t('send.limitFiles', { count: limits.MAX_FILES_PER_ARCHIVE }));
  if (Number.isFinite(limits.MAX_EXPIRE_SECONDS)) {
    parts.push(t('send.limitExpiry', { time: formatDuration(limits.MAX_EXPIRE_SECONDS * 1000) }));
  }
  $('limits').textContent = parts.join(' · ');
  $('limits').hidden = parts.length === 0;
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
  if (!stopWaiting) showError($('send-note'), '');
  renderSelection();
  // On a phone the list pushes the button out of sight: bring it back.
  if (chosen.length) $('upload-button').scrollIntoView({ block: 'nearest' });
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
  renderLimits();
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
  const name = labelFor(files);
  const size = totalSize(files);
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
      label: name,
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
        document.title = t('send.titleProgress', { percent: Math.floor(total ? (sent * 100) / total : 100) });
        $('progress-text').textContent = t('send.progress', {
          done: formatBytes(sent),
          total: formatBytes(total),
          rate: formatBytes(rate),
          left: Number.isFinite(left) ? formatDuration(left) : '…',
        });
      },
    });
    if (token) rememberToken($('remember-token').checked ? token : '');
    const record = { ...share, name, size, files: files.length, password: Boolean(password) };
    shares.add(record);
    chosen = [];
    $('password').value = '';
    uploadStrength?.update();
    renderSelection();
    openShare(record);
  } catch (err) {
    if (token && (err?.status === 401 || err?.status === 403)) {
      if (rememberedToken() === token) rememberToken('');
      showTokenProblem(t('auth.tokenRefused'));
      return;
    }
    show('compose');
    if (err?.status === 429 && err?.code !== 'quota_exceeded') {
      waitBeforeSending(retryAfterOf(err));
      return;
    }
    showError($('send-error'), explain(err));
    $('upload-button').focus();
  } finally {
    running = null;
    if ($('progress').hidden) document.title = baseTitle;
  }
}

/**
 * The server refused the upload with 429: the files stay chosen and the button waits for
 * its `Retry-After`, counting down; then it is enabled again and says so. Nothing is
 * retried on its own: the person decides to send.
 */
function waitBeforeSending(seconds) {
  stopWaiting?.();
  let over = false;
  const stop = countdown(
    seconds,
    (left) => showError($('send-error'), t('send.rateLimited', { time: formatWait(left) })),
    () => {
      over = true;
      stopWaiting = null;
      showNote(t('send.canSendAgain'));
      renderSelection();
    },
  );
  // (A Retry-After of 0 is over at once.)
  if (!over) stopWaiting = stop;
  renderSelection();
}

// ---- the share panel --------------------------------------------------------------

function facts(dlimit, dtotal, expiresAt) {
  const left = Math.max(0, dlimit - dtotal);
  return t('share.facts', {
    time: formatDuration(expiresAt - Date.now()),
    downloads: t('share.downloadsLeft', { count: left }),
  });
}

function setStatus(el, message, kind = 'status') {
  el.textContent = message;
  el.classList.toggle('error', kind === 'error');
  el.classList.toggle('success', kind === 'success');
}

/** "Password: on · change" once a password is set; the form otherwise (or to change it). */
function showPasswordState(on, editing = false) {
  $('password-state').hidden = !on || editing;
  $('password-form').hidden = on && !editing;
  $('share-password-label').textContent = on ? t('share.newPassword') : t('share.password');
}

function openShare(share) {
  current = share;
  linkTaken = false;
  $('share-link').value = share.link;
  $('share-file').textContent = t('share.file', { name: share.name, size: formatBytes(share.size ?? 0) });
  setStatus($('copy-status'), '');
  setStatus($('password-status'), '');
  $('share-password').value = '';
  shareStrength?.update();
  showPasswordState(Boolean(share.password));
  $('delete-confirm-box').hidden = true;
  $('share-buttons').hidden = false;
  $('share-facts').textContent = facts(share.dlimit, 0, share.expiresAt);
  $('qr').classList.remove('open');
  $('show-qr').setAttribute('aria-expanded', 'false');
  $('show-qr').textContent = t('share.showQr');
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

/** Copies `text` to the clipboard; false when the browser refuses. */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function setupShare() {
  $('share-title').tabIndex = -1;
  $('shares-title').tabIndex = -1;
  $('copy').addEventListener('click', async () => {
    if (await copyText($('share-link').value)) {
      linkTaken = true;
      setStatus($('copy-status'), t('share.copied'), 'success');
    } else {
      $('share-link').select();
      setStatus($('copy-status'), t('share.copyManually'));
    }
  });
  // Copied by hand (Ctrl+C, the context menu) counts as copied too.
  $('share-link').addEventListener('copy', () => {
    linkTaken = true;
  });
  $('share-link').addEventListener('focus', (e) => e.target.select());
  if (typeof navigator.share === 'function') {
    $('native-share').hidden = false;
    $('native-share').addEventListener('click', async () => {
      if (!current) return;
      try {
        await navigator.share({ title: current.name, url: current.link });
        linkTaken = true;
      } catch {
        // Dismissed by the person, or refused: the other ways are still there.
      }
    });
  }
  $('show-qr').addEventListener('click', () => {
    const open = $('qr').classList.toggle('open');
    $('show-qr').setAttribute('aria-expanded', String(open));
    $('show-qr').textContent = open ? t('share.hideQr') : t('share.showQr');
  });
  $('change-password').addEventListener('click', () => {
    showPasswordState(true, true);
    $('share-password').focus();
  });
  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = $('share-password').value;
    if (!current || !password) return;
    setStatus($('password-status'), t('share.settingPassword'));
    try {
      await api.setPassword(current.id, current.ownerToken, await passwordAuthKey(password, current.link));
      $('share-password').value = '';
      shareStrength?.update();
      current.password = true;
      shares.update(current.id, { password: true });
      showPasswordState(true);
      setStatus($('password-status'), t('share.passwordSet'), 'success');
      renderShares();
    } catch (err) {
      setStatus($('password-status'), explain(err), 'error');
    }
  });
  $('delete').addEventListener('click', () => {
    $('share-buttons').hidden = true;
    $('delete-confirm-box').hidden = false;
    $('delete-cancel').focus();
  });
  $('delete-cancel').addEventListener('click', () => {
    $('delete-confirm-box').hidden = true;
    $('share-buttons').hidden = false;
    $('delete').focus();
  });
  $('delete-confirm').addEventListener('click', async () => {
    if (!current) return;
    try {
      await api.remove(current.id, current.ownerToken);
    } catch (err) {
      if (err?.status !== 404) {
        setStatus($('password-status'), explain(err), 'error');
        return;
      }
    }
    shares.update(current.id, { ended: 'deleted' });
    current = null;
    show('compose');
    renderShares();
    showNote(t('share.deleted'));
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

const timeFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });

/** What happened to an ended share, in words. */
function endedText(share) {
  if (share.ended === 'downloaded') {
    return t('shares.downloaded', { count: share.dtotal ?? share.dlimit, limit: share.dlimit ?? share.dtotal });
  }
  if (share.ended === 'expired') return t('shares.expired');
  if (share.ended === 'deleted') return t('shares.deleted');
  return t('shares.gone');
}

/** Rebuilds the list of this browser's shares, then refreshes what is left of each. */
function renderShares() {
  const list = $('share-list');
  const all = shares.list().reverse();
  const ids = all.map((s) => `${s.id}:${s.ended ?? ''}:${s.password ? 1 : 0}:${s.link ? 1 : 0}`).join(',');
  if (list.dataset.ids !== ids) {
    // Keep keyboard focus where it was when the list is rebuilt.
    const focused = document.activeElement?.closest?.('#share-list li')?.dataset.id;
    list.dataset.ids = ids;
    list.replaceChildren(...all.map(shareItem));
    if (focused) list.querySelector(`li[data-id="${focused}"] button`)?.focus();
  }
  $('shares').hidden = all.length === 0;
  for (const share of all) if (!share.ended) refreshShare(share);
}

function button(text, className, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  return b;
}

function shareItem(share) {
  const item = document.createElement('li');
  item.dataset.id = share.id;
  if (share.ended) item.dataset.ended = share.ended;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = share.name;
  const details = document.createElement('span');
  details.className = 'details';
  const parts = [];
  if (Number.isFinite(share.size)) parts.push(formatBytes(share.size));
  if (share.uploadedAt) parts.push(t('shares.sent', { time: timeFormat.format(new Date(share.uploadedAt)) }));
  parts.push(share.password ? t('shares.passwordOn') : t('shares.passwordOff'));
  details.textContent = parts.join(' · ');
  const state = document.createElement('span');
  state.className = 'facts';
  state.textContent = share.ended
    ? endedText(share)
    : t('shares.expiresIn', { time: formatDuration(share.expiresAt - Date.now()) });
  const actions = document.createElement('span');
  actions.className = 'actions';
  if (share.ended) {
    const dismiss = button(t('shares.dismiss'), 'button secondary small', t('shares.dismissNamed', { name: share.name }));
    dismiss.addEventListener('click', () => {
      shares.forget(share.id);
      renderShares();
      $('shares-title').focus();
    });
    actions.append(dismiss);
  } else {
    if (share.link) {
      const copy = button(t('share.copy'), 'button secondary small copy-again', t('shares.copyNamed', { name: share.name }));
      copy.addEventListener('click', async () => {
        state.textContent = (await copyText(share.link)) ? t('share.copied') : t('share.copyManually');
      });
      actions.append(copy);
    }
    const remove = button(t('share.delete'), 'button danger small', t('shares.deleteNamed', { name: share.name }));
    remove.addEventListener('click', () => confirmDelete(share, actions, state));
    actions.append(remove);
  }
  item.append(name, details, state, actions);
  return item;
}

/** Asks before deleting a share from the list: "Delete? [Delete] [Keep it]". */
function confirmDelete(share, actions, state) {
  const before = [...actions.children];
  const question = document.createElement('span');
  question.className = 'confirm-text';
  question.textContent = t('shares.deleteQuestion');
  const yes = button(t('share.deleteConfirm'), 'button danger small delete-confirm', t('shares.deleteNamed', { name: share.name }));
  const no = button(t('share.deleteCancel'), 'button secondary small');
  actions.replaceChildren(question, yes, no);
  no.focus();
  no.addEventListener('click', () => {
    actions.replaceChildren(...before);
    before.at(-1)?.focus();
  });
  yes.addEventListener('click', async () => {
    try {
      await api.remove(share.id, share.ownerToken);
    } catch (err) {
      if (err?.status !== 404) {
        state.textContent = explain(err);
        actions.replaceChildren(...before);
        return;
      }
    }
    shares.update(share.id, { ended: 'deleted' });
    if (current?.id === share.id) {
      current = null;
      show('compose');
    }
    renderShares();
    $('shares-title').focus();
  });
}

/** Asks the server what is left of a share; marks it ended once it is gone or used up. */
function refreshShare(share) {
  api.info(share.id, share.ownerToken).then(
    (f) => {
      if (f.dtotal >= f.dlimit) {
        shares.update(share.id, { ended: 'downloaded', dtotal: f.dtotal, dlimit: f.dlimit });
        renderShares();
        return;
      }
      shares.update(share.id, { dtotal: f.dtotal, dlimit: f.dlimit });
      const state = $('share-list').querySelector(`li[data-id="${share.id}"] .facts`);
      if (state) state.textContent = facts(f.dlimit, f.dtotal, Date.now() + f.ttl);
    },
    (err) => {
      if (err?.status === 404 || err?.status === 401) {
        // The server deletes a share at its last download: a share gone before its
        // expiry whose downloads were last seen one short of the limit was downloaded
        // (or deleted with another client: the likelier story is told).
        const expired = share.expiresAt <= Date.now();
        const used = !expired && Number.isFinite(share.dlimit) && (share.dtotal ?? 0) >= share.dlimit - 1;
        shares.update(share.id, used ? { ended: 'downloaded', dtotal: share.dlimit } : { ended: expired ? 'expired' : 'gone' });
        renderShares();
      }
    },
  );
}

translatePage();
uploadStrength = attachStrength($('password'));
shareStrength = attachStrength($('share-password'));
setupDrop();
setupShare();
$('remember-token').addEventListener('change', (e) => {
  if (!e.target.checked) rememberToken('');
});
$('keep-links').checked = shares.keepLinks();
$('keep-links').addEventListener('change', (e) => {
  shares.setKeepLinks(e.target.checked);
  renderShares();
});
window.addEventListener('beforeunload', guardLeaving);
$('send-form').addEventListener('submit', send);
loadConfig();
renderLimits();
renderShares();
setInterval(renderShares, 60_000);
