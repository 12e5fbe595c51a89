// Uploading: encrypts the chosen files on this device and streams the ciphertext to the
// server over the WebSocket route (Send v3), with back-pressure so that memory stays at a
// few records whatever the size. When no WebSocket can be opened (a proxy that does not
// pass them), it falls back to the plain HTTP upload route.
//
// On a server that requires an upload token (`/config` says "UPLOAD_AUTH": "token") the
// token travels in the first WebSocket message's `bearer` field (a browser cannot set
// headers on a WebSocket) or, over HTTP, as `Authorization: Bearer`, the share's key then
// moving to `X-Auth-Key`. It never goes into a URL.

import { ApiError, info, remove, setPassword } from './api.js';
import { authKeyOf, b64uEncode, encryptMetadata, metadataFor, newSecret, passwordAuthKey } from './crypto.js';
import { encryptBlob, encryptedSize } from './ece.js';
import { safeName } from './save.js';

/** Bytes queued in the socket before the sender waits. */
const HIGH_WATER = 4 * 1024 * 1024;
/** The fallback builds the ciphertext as a Blob in parts this big… */
const BLOB_PART = 8 * 1024 * 1024;
/** …and only up to this size, since browsers cannot stream a request body over HTTP/1.1. */
export const FALLBACK_LIMIT = 256 * 1024 * 1024;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function abortError() {
  return new DOMException('the upload was cancelled', 'AbortError');
}

/** The WebSocket, opened; rejects with `{ connect: true }` when it cannot connect. */
function openSocket(signal) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${scheme}://${location.host}/api/ws`);
    ws.binaryType = 'arraybuffer';
    const fail = () => {
      cleanup();
      reject(Object.assign(new Error('no WebSocket'), { connect: true }));
    };
    const abort = () => {
      cleanup();
      ws.close();
      reject(abortError());
    };
    const cleanup = () => {
      ws.removeEventListener('error', fail);
      ws.removeEventListener('close', fail);
      signal?.removeEventListener('abort', abort);
    };
    ws.addEventListener('error', fail);
    ws.addEventListener('close', fail);
    signal?.addEventListener('abort', abort);
    ws.addEventListener('open', () => {
      cleanup();
      resolve(ws);
    }, { once: true });
  });
}

/** Text messages of a socket, one at a time; rejects when the socket closes first. */
function messages(ws) {
  const queue = [];
  const waiting = [];
  let closed = null;
  ws.addEventListener('message', (event) => {
    if (typeof event.data !== 'string') return;
    let value;
    try {
      value = JSON.parse(event.data);
    } catch {
      value = { error: 502 };
    }
    const next = waiting.shift();
    if (next) next.resolve(value);
    else queue.push(value);
  });
  ws.addEventListener('close', () => {
    closed = new ApiError(0, 'the connection to the server was lost');
    for (const w of waiting.splice(0)) w.reject(closed);
  });
  return {
    next() {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(closed);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    /** An error message that arrived while sending, if any. */
    pendingError() {
      return queue.find((m) => m?.error) ?? null;
    },
  };
}

function serverError(message) {
  const status = Number(message?.error) || 500;
  const text = (v) => (typeof v === 'string' ? v : '');
  return new ApiError(status, text(message?.message), text(message?.code));
}

async function viaWebSocket(ws, request, cipher, total, onProgress, onCommit, signal) {
  const inbox = messages(ws);
  let committed = false;
  const onAbort = () => ws.close(4000, 'cancelled');
  signal?.addEventListener('abort', onAbort);
  try {
    ws.send(JSON.stringify(request));
    const created = await inbox.next();
    if (created?.error || !created?.id) throw serverError(created);
    let queued = 0;
    for await (const chunk of cipher) {
      if (signal?.aborted) throw abortError();
      const failed = inbox.pendingError();
      if (failed) throw serverError(failed);
      if (ws.readyState !== WebSocket.OPEN) throw new ApiError(0, 'the connection to the server was lost');
      ws.send(chunk);
      queued += chunk.length;
      onProgress(queued - ws.bufferedAmount, total);
      while (ws.bufferedAmount > HIGH_WATER && ws.readyState === WebSocket.OPEN) {
        await sleep(4);
        onProgress(queued - ws.bufferedAmount, total);
      }
    }
    // Everything is sent before the end marker, so that a cancel up to here still
    // reaches the server before it could commit the file.
    while (ws.bufferedAmount > 0 && ws.readyState === WebSocket.OPEN) {
      if (signal?.aborted) throw abortError();
      await sleep(10);
      onProgress(queued - ws.bufferedAmount, total);
    }
    if (signal?.aborted) throw abortError();
    signal?.removeEventListener('abort', onAbort);
    onCommit();
    ws.send(new Uint8Array([0]));
    const done = await inbox.next();
    if (!done?.ok) throw serverError(done);
    committed = true;
    onProgress(total, total);
    return { id: created.id, url: created.url, ownerToken: created.ownerToken ?? created.owner };
  } catch (err) {
    if (signal?.aborted) throw abortError();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // 4000 tells the server to discard an unfinished upload.
    if (ws.readyState === WebSocket.OPEN) ws.close(committed ? 1000 : 4000);
  }
}

async function viaHttp(request, cipher, total, onProgress, onCommit, signal) {
  if (total > FALLBACK_LIMIT) {
    throw Object.assign(new Error('too large without WebSockets'), { name: 'NoWebSocket' });
  }
  // No streaming request bodies over HTTP/1.1 in browsers: collect the ciphertext in a
  // Blob, which the browser keeps outside the page's memory, then send it.
  const parts = [];
  let group = [];
  let grouped = 0;
  let done = 0;
  for await (const chunk of cipher) {
    if (signal?.aborted) throw abortError();
    group.push(chunk);
    grouped += chunk.length;
    done += chunk.length;
    onProgress(done / 2, total);
    if (grouped >= BLOB_PART) {
      parts.push(new Blob(group));
      group = [];
      grouped = 0;
    }
  }
  parts.push(new Blob(group));
  const body = new Blob(parts);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload');
    xhr.setRequestHeader('X-File-Metadata', request.fileMetadata);
    if (request.bearer) {
      xhr.setRequestHeader('Authorization', `Bearer ${request.bearer}`);
      xhr.setRequestHeader('X-Auth-Key', request.authorization);
    } else {
      xhr.setRequestHeader('Authorization', request.authorization);
    }
    xhr.setRequestHeader('X-Expire-Seconds', String(request.timeLimit));
    xhr.setRequestHeader('X-Download-Limit', String(request.dlimit));
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => onProgress(total / 2 + e.loaded / 2, total);
    // Once the body is sent the server commits the file: no more cancelling.
    xhr.upload.onload = () => onCommit();
    xhr.onload = () => {
      const answer = xhr.response ?? {};
      if (xhr.status !== 200 || !answer.id) {
        const text = (v) => (typeof v === 'string' ? v : '');
        const error = new ApiError(xhr.status, text(answer.message), text(answer.error));
        // A 429 says when to try again.
        const retryAfter = Number.parseInt(xhr.getResponseHeader('Retry-After') ?? '', 10);
        if (Number.isFinite(retryAfter)) error.retryAfter = retryAfter;
        reject(error);
        return;
      }
      onProgress(total, total);
      resolve({ id: answer.id, url: answer.url, ownerToken: answer.ownerToken ?? answer.owner });
    };
    xhr.onerror = () => reject(new ApiError(0, 'the server could not be reached'));
    xhr.onabort = () => reject(abortError());
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * The name an archive of several files travels under: what its sender sees in "Your
 * shares" (`label`, "photo-1.jpg + 2 more"), as a safe file name ending in `.zip`, which
 * the Send web app and this page save the archive as (the CLI and ffsend extract its
 * files and do not use it). Without a label, Send's own name.
 */
export function archiveName(label) {
  const base = safeName(String(label ?? '').replace(/\.zip$/i, ''), '');
  if (!base) return 'Send-Archive.zip';
  // safeName keeps at most 200 characters, a short extension included.
  return safeName(`${base}.zip`);
}

/**
 * Encrypts and uploads `files` (File objects; several travel as Send's archive, named
 * after `label` when given: see archiveName).
 * Returns `{ id, link, ownerToken, name, expiresAt, dlimit }` where `link` carries the
 * secret in its fragment. `onProgress(sentBytes, totalBytes)` reports ciphertext bytes.
 * `onCommit()` is called when the upload can no longer be cancelled (the server is
 * about to keep the file). `transport` is `auto`, `websocket` or `http`. `token` is the
 * upload token of a server that requires one.
 */
export async function upload({
  files,
  expiry,
  dlimit,
  password = '',
  onProgress = () => {},
  onCommit = () => {},
  signal,
  transport = 'auto',
  token = '',
  label = '',
}) {
  const secret = newSecret();
  const metadata = metadataFor(files);
  if (files.length > 1) metadata.name = archiveName(label);
  const request = {
    fileMetadata: await encryptMetadata(secret, metadata),
    authorization: `send-v1 ${b64uEncode(await authKeyOf(secret))}`,
    bearer: token || null,
    timeLimit: expiry,
    dlimit,
  };
  const plain = files.length === 1 ? files[0] : new Blob(files);
  const total = encryptedSize(plain.size);
  const cipher = () => encryptBlob(secret, plain);

  let created;
  let ws = null;
  if (transport !== 'http') {
    try {
      ws = await openSocket(signal);
    } catch (err) {
      if (!err?.connect || transport === 'websocket') throw err;
    }
  }
  if (ws) created = await viaWebSocket(ws, request, cipher(), total, onProgress, onCommit, signal);
  else created = await viaHttp(request, cipher(), total, onProgress, onCommit, signal);

  const link = `${created.url}#${b64uEncode(secret)}`;
  if (password) {
    try {
      await setPassword(created.id, created.ownerToken, await passwordAuthKey(password, link));
    } catch (err) {
      // Never leave behind a share the user believes protected.
      await remove(created.id, created.ownerToken).catch(() => {});
      throw err;
    }
  }
  let expiresAt = Date.now() + expiry * 1000;
  let limit = dlimit;
  try {
    const facts = await info(created.id, created.ownerToken);
    expiresAt = Date.now() + facts.ttl;
    limit = facts.dlimit;
  } catch {
    // The share exists; its facts are only for display.
  }
  return {
    id: created.id,
    link,
    ownerToken: created.ownerToken,
    name: metadata.name,
    files: metadata.manifest.files.length,
    expiresAt,
    dlimit: limit,
  };
}
