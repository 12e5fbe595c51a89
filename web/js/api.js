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
  const error = new ApiError(response.status, text(body.message), text(body.error));
  // Seconds to wait before trying again (429, 503), when the server says.
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  if (Number.isFinite(retryAfter) && retryAfter >= 0) error.retryAfter = retryAfter;
  return error;
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
    const headers = { ...init.headers, Authorization: `send-v1 ${await sign(auth.key, auth.nonce)}` };
    const response = await request(path, { ...init, headers });
    const nonce = nonceOf(response);
    const moved = nonce && nonce !== auth.nonce;
    if (nonce) auth.nonce = nonce;
    if (response.ok) return response;
    if (response.status === 401 && moved && attempt === 0) continue;
    throw await failure(response);
  }
}

/** The header of a ranged download's reservation (sealdrop's own). */
const RESERVATION = 'X-Download-Reservation';
/** Times a cut download is resumed (from where it was cut) before giving up. */
const RESUMES = 3;

/** `[start, end, length]` of a `Content-Range: bytes start-end/length`, or null. */
function contentRange(response) {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
  if (!match) return null;
  const [start, end, length] = match.slice(1).map(Number);
  return start <= end && end < length ? [start, end, length] : null;
}

/**
 * The ciphertext of a share (a counted download) as one stream that survives a cut
 * connection. It is asked for as the range `bytes=0-` (sealdrop's ranged download): the
 * signed request reserves the download, and when the connection is cut the rest is asked
 * for from where it was cut, sending the reservation back instead of a signature; the
 * download counts once, when its last bytes are sent. Resolves once the answer began (a
 * refusal throws ApiError here, before anything is saved). A server that ignores `Range`
 * answers with the whole file, which is then read as it comes, without resuming.
 *
 * One request rather than a series of smaller ranges: in Chromium the same 256 MiB in
 * ranges of 4 or 16 MiB grew the browser by 240 MiB against 70 MiB in one, and in Firefox
 * smaller ranges did not bound its memory either (tests/web/big.test.mjs).
 */
export async function ciphertext(id, auth) {
  const path = `/api/download/${id}`;
  const first = await signed(path, auth, { headers: { Range: 'bytes=0-' } });
  const range = first.status === 206 ? contentRange(first) : null;
  const reservation = first.headers.get(RESERVATION);
  if (!range || !reservation || range[0] !== 0) return first.body;
  const total = range[2];
  /** The next byte to hand on. */
  let position = 0;
  let reader = first.body.getReader();
  let resumes = 0;
  const resume = async () => {
    const response = await request(path, {
      headers: { [RESERVATION]: reservation, Range: `bytes=${position}-` },
    });
    if (response.status !== 206) throw await failure(response);
    const got = contentRange(response);
    if (!got || got[0] !== position || got[1] !== total - 1 || got[2] !== total) {
      await response.body?.cancel();
      throw new ApiError(response.status, 'the server answered another range');
    }
    return response.body.getReader();
  };
  return new ReadableStream(
    {
      async pull(controller) {
        for (;;) {
          let chunk;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (err?.name === 'AbortError' || resumes >= RESUMES) throw err;
            resumes += 1;
            await new Promise((resolve) => setTimeout(resolve, 500 * resumes));
            reader = await resume();
            continue;
          }
          if (chunk.done) {
            if (position !== total) throw new ApiError(206, 'the server sent less than the file');
            controller.close();
            return;
          }
          position += chunk.value.byteLength;
          if (position > total) throw new ApiError(206, 'the server sent more than the file');
          controller.enqueue(chunk.value);
          return;
        }
      },
      cancel: (reason) => reader.cancel(reason).catch(() => {}),
    },
    { highWaterMark: 0 },
  );
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
