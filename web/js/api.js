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

/** Bytes of one piece of a ranged download. */
export const PIECE = 16 * 1024 * 1024;
/** The header of a ranged download's reservation (sealdrop's own). */
const RESERVATION = 'X-Download-Reservation';
/** Times a cut piece is asked for again (from where it was cut) before giving up. */
const PIECE_RETRIES = 3;

/** `[start, end, length]` of a `Content-Range: bytes start-end/length`, or null. */
function contentRange(response) {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
  if (!match) return null;
  const [start, end, length] = match.slice(1).map(Number);
  return start <= end && end < length ? [start, end, length] : null;
}

/**
 * The ciphertext of a share (a counted download) as one stream, fetched in pieces of
 * `piece` bytes (sealdrop's ranged download): the first piece is signed and reserves the
 * download, the next ones send the reservation back, and the download counts once, when
 * the piece that ends the file is sent. A piece is asked for only when the one before is
 * being read (the last one only once all before it arrived), so at most two are in
 * flight whatever the file's size: a browser that buffers a response faster than it is
 * read (Firefox) holds at most that. A piece cut by the network is asked for again from
 * where it was cut. Resolves once the first piece
 * is answered (a refusal throws ApiError here, before anything is saved). A server that
 * ignores `Range` answers with the whole file, which is then read as it comes.
 */
export async function ciphertext(id, auth, piece = PIECE) {
  const path = `/api/download/${id}`;
  const first = await signed(path, auth, { headers: { Range: `bytes=0-${piece - 1}` } });
  const range = first.status === 206 ? contentRange(first) : null;
  const reservation = first.headers.get(RESERVATION);
  if (!range || !reservation || range[0] !== 0) return first.body;
  const total = range[2];
  /** The next byte to hand on, and the end (inclusive) of the piece being read. */
  let position = 0;
  let end = range[1];
  let reader = first.body.getReader();
  /** The next piece, asked for while the current one is read. */
  let ahead = null;
  const ask = async (start, last) => {
    const response = await request(path, {
      headers: { [RESERVATION]: reservation, Range: `bytes=${start}-${last}` },
    });
    if (response.status !== 206) throw await failure(response);
    const got = contentRange(response);
    if (!got || got[0] !== start || got[1] !== last || got[2] !== total) {
      await response.body?.cancel();
      throw new ApiError(response.status, 'the server answered another range');
    }
    return response;
  };
  const next = (start) => {
    const last = Math.min(start + piece, total) - 1;
    const response = ask(start, last);
    // Settled later, when the piece is needed; a rejection is handled there.
    response.catch(() => {});
    return { start, last, response };
  };
  // The piece after the current one is asked for ahead, unless it ends the file: the
  // server counts the download once that piece is sent, so it is asked for only when
  // everything before it has arrived (a cut earlier could not be resumed after the count).
  const askAhead = () => {
    if (end + 1 + piece < total) ahead = next(end + 1);
  };
  askAhead();
  let retries = 0;
  return new ReadableStream(
    {
      async pull(controller) {
        for (;;) {
          let chunk;
          try {
            chunk = await reader.read();
          } catch (err) {
            // Cut mid-piece: ask for the rest of it again, under the same reservation.
            if (err?.name === 'AbortError' || retries >= PIECE_RETRIES) throw err;
            retries += 1;
            await new Promise((resolve) => setTimeout(resolve, 500 * retries));
            reader = (await ask(position, end)).body.getReader();
            continue;
          }
          if (!chunk.done) {
            position += chunk.value.byteLength;
            if (position > end + 1) throw new ApiError(206, 'the server sent more than the range');
            controller.enqueue(chunk.value);
            return;
          }
          if (position !== end + 1) throw new ApiError(206, 'the server sent less than the range');
          if (position === total) {
            controller.close();
            return;
          }
          const following = ahead ?? next(end + 1);
          ahead = null;
          reader = (await following.response).body.getReader();
          end = following.last;
          retries = 0;
          askAhead();
        }
      },
      async cancel(reason) {
        await reader.cancel(reason).catch(() => {});
        if (ahead) ahead.response.then((r) => r.body?.cancel(), () => {});
      },
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
