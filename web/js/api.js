// The server's HTTP API as the web client uses it. Errors carry the HTTP status and
// never the secret, the owner token or the password.

import { b64uEncode, sign } from './crypto.js';

/** An API failure: `status` is the HTTP status, 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message, code = '') {
    super(message || `the server answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store', credentials: 'same-origin', ...init });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'the server could not be reached');
  }
  return response;
}

async function failure(response) {
  let body = {};
  try {
    body = (await response.json()) ?? {};
  } catch {
    // A non-JSON error body (a proxy's page): the status says enough.
  }
  const text = (v) => (typeof v === 'string' ? v : '');
  return new ApiError(response.status, text(body.message), text(body.error));
}

/** The nonce of a `WWW-Authenticate: send-v1 <nonce>` header, or null. */
export function nonceOf(response) {
  const value = response.headers.get('WWW-Authenticate') ?? '';
  const match = /^send-v1\s+(\S+)/.exec(value);
  return match ? match[1] : null;
}

/** The server's `/config`: limits and the choices of the send form. */
export async function config() {
  const response = await request('/config');
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** `{ requiresPassword, nonce }`; ApiError 404 when the share is gone. */
export async function exists(id) {
  const response = await request(`/api/exists/${id}`);
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  return { requiresPassword: Boolean(body.requiresPassword), nonce: nonceOf(response) };
}

/**
 * A request signed with `send-v1`, retried once when the nonce moved under it (another
 * download of the same share). `auth` is `{ key, nonce }`; its nonce is updated from
 * every answer. Returns the response (ok) or throws ApiError.
 */
export async function signed(path, auth, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Authorization: `send-v1 ${await sign(auth.key, auth.nonce)}` };
    const response = await request(path, { ...init, headers });
    const nonce = nonceOf(response);
    const moved = nonce && nonce !== auth.nonce;
    if (nonce) auth.nonce = nonce;
    if (response.ok) return response;
    if (response.status === 401 && moved && attempt === 0) continue;
    throw await failure(response);
  }
}

/** The encrypted metadata: `{ metadata, finalDownload, ttl }`. */
export async function metadata(id, auth) {
  const response = await signed(`/api/metadata/${id}`, auth);
  return response.json();
}

async function owner(op, id, ownerToken, extra = {}) {
  const response = await request(`/api/${op}/${id}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ owner_token: ownerToken, ...extra }),
  });
  if (!response.ok) throw await failure(response);
  return response;
}

/** Owner: `{ dlimit, dtotal, ttl }`. */
export async function info(id, ownerToken) {
  return (await owner('info', id, ownerToken)).json();
}

/** Owner: deletes the share now. */
export async function remove(id, ownerToken) {
  await owner('delete', id, ownerToken);
}

/**
 * Reports a share to the server's operator (sealdrop's `POST /api/report/<id>`):
 * `{ key, reason, details?, password? }`, where `key` is the link's secret, which the
 * server checks against the share and does not keep. Returns `{ ok, held, already? }`.
 */
export async function report(id, body) {
  const response = await request(`/api/report/${id}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** Owner: requires `authKey` (from the password) for downloads from now on. */
export async function setPassword(id, ownerToken, authKey) {
  await owner('password', id, ownerToken, { auth: b64uEncode(authKey) });
}
