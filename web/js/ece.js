// RFC 8188 `aes128gcm` content encryption as Send v3 uses it, with WebCrypto, streaming:
// a 21-byte header (salt, record size, no key id) and records of at most `rs` bytes, each
// AES-128-GCM sealed with a nonce derived from its index. The last record ends with the
// delimiter 2, every other one with 1.
//
// Both directions keep a few records in flight so that WebCrypto (which runs off the
// main thread) overlaps with reading and sending; memory stays at a few records.

import { hkdf } from './crypto.js';

/** The record size every Send client writes. */
export const RS = 65536;
/** Header length with an empty key id. */
export const HEADER_LEN = 21;
const TAG_LEN = 16;
/** Largest record size a reader accepts (bounds memory against a hostile header). */
const MAX_RS = 1 << 24;
/** Records encrypted or decrypted concurrently. */
const WINDOW = 4;

/** Thrown for anything wrong in a ciphertext: wrong key, damage, truncation. */
export class DecryptError extends Error {
  constructor(message = 'the file is damaged or incomplete') {
    super(message);
    this.name = 'DecryptError';
  }
}

/** Ciphertext size of `n` plaintext bytes: header plus 17 bytes per record. */
export function encryptedSize(n, rs = RS) {
  return HEADER_LEN + n + 17 * Math.ceil(n / (rs - 17));
}

async function contentKeys(secret, salt, usage) {
  const raw = await hkdf(secret, 'Content-Encoding: aes128gcm\0', 128, salt);
  const key = await globalThis.crypto.subtle.importKey('raw', raw, 'AES-GCM', false, [usage]);
  const nonceBase = await hkdf(secret, 'Content-Encoding: nonce\0', 96, salt);
  return { key, nonceBase };
}

function nonceOf(base, index) {
  if (index >= 2 ** 32) throw new DecryptError('too many records');
  const nonce = base.slice();
  const view = new DataView(nonce.buffer);
  view.setUint32(8, (view.getUint32(8) ^ index) >>> 0);
  return nonce;
}

/**
 * Encrypts a Blob (a File, or several files as `new Blob(files)`, which concatenates them
 * without copying), streaming it: `blob.stream()` is by far the fastest way a browser
 * reads a file (slicing it record by record costs an IPC round trip each). Yields the
 * header, then each record, as Uint8Arrays. `salt` is for tests; leave it out.
 */
export async function* encryptBlob(secret, blob, { rs = RS, salt } = {}) {
  salt ??= globalThis.crypto.getRandomValues(new Uint8Array(16));
  const { key, nonceBase } = await contentKeys(secret, salt, 'encrypt');
  const header = new Uint8Array(HEADER_LEN);
  header.set(salt);
  new DataView(header.buffer).setUint32(16, rs);
  yield header;

  const chunk = rs - 17;
  let index = 0;
  const seal = (plain) => {
    const iv = nonceOf(nonceBase, index++);
    return handled(
      globalThis.crypto.subtle
        .encrypt({ name: 'AES-GCM', iv }, key, plain)
        .then((sealed) => new Uint8Array(sealed)),
    );
  };
  const inFlight = [];
  let record = new Uint8Array(chunk + 1);
  let filled = 0;
  let total = 0;
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > blob.size) break;
      for (let at = 0; at < value.length; ) {
        const take = Math.min(chunk - filled, value.length - at);
        record.set(value.subarray(at, at + take), filled);
        filled += take;
        at += take;
        // A full record with more bytes to come is not the last one.
        if (filled === chunk && (at < value.length || total < blob.size)) {
          record[chunk] = 1;
          inFlight.push(seal(record));
          record = new Uint8Array(chunk + 1);
          filled = 0;
          while (inFlight.length >= WINDOW) yield await inFlight.shift();
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (total !== blob.size) throw new Error('the file changed while it was read');
  if (total > 0) {
    record[filled] = 2;
    inFlight.push(seal(record.subarray(0, filled + 1)));
  }
  while (inFlight.length > 0) yield await inFlight.shift();
}

/** Marks a promise as handled (it is awaited later, in order) and returns it. */
function handled(promise) {
  promise.catch(() => {});
  return promise;
}

/** A queue of byte chunks from which exact lengths are taken. */
class Bytes {
  chunks = [];
  length = 0;
  push(chunk) {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
  }
  at(i) {
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i];
      i -= chunk.length;
    }
    return undefined;
  }
  take(n) {
    const first = this.chunks[0];
    this.length -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const want = Math.min(n - filled, head.length);
      out.set(head.subarray(0, want), filled);
      filled += want;
      if (want === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(want);
    }
    return out;
  }
}

/**
 * A TransformStream from ciphertext (any chunking) to plaintext. It honours the
 * header's record size and key id length, emits the last record only after checking it
 * is the last, and errors with a DecryptError on a wrong key, any damage, reordering,
 * truncation or trailing data — so a consumer never sees a complete-looking output of a
 * damaged file. With `size` (the plaintext size from the metadata), a plaintext of any
 * other length is an error too, raised before the last bytes are emitted.
 */
export function decryptTransform(secret, { size } = {}) {
  const input = new Bytes();
  let produced = 0;
  const emit = (controller, plain) => {
    produced += plain.length;
    if (size !== undefined && produced > size) throw new DecryptError();
    controller.enqueue(plain);
  };
  let keys = null;
  let rs = 0;
  let index = 0;
  const inFlight = [];

  const open = async (record, last) => {
    let plain;
    try {
      const iv = nonceOf(keys.nonceBase, index++);
      plain = new Uint8Array(
        await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv }, keys.key, record),
      );
    } catch {
      throw new DecryptError();
    }
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new DecryptError();
    return plain.subarray(0, end);
  };

  const readHeader = async () => {
    if (input.length < HEADER_LEN) return false;
    const idlen = input.at(HEADER_LEN - 1);
    if (input.length < HEADER_LEN + idlen) return false;
    const header = input.take(HEADER_LEN + idlen);
    rs = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(16);
    if (rs <= 17 || rs > MAX_RS) throw new DecryptError('unsupported record size');
    keys = await contentKeys(secret, header.subarray(0, 16), 'decrypt');
    return true;
  };

  return new TransformStream({
    async transform(chunk, controller) {
      input.push(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk));
      if (!keys && !(await readHeader())) return;
      // A full record followed by more bytes is not the last one.
      while (input.length > rs) {
        inFlight.push(handled(open(input.take(rs), false)));
        if (inFlight.length >= WINDOW) emit(controller, await inFlight.shift());
      }
    },
    async flush(controller) {
      if (!keys && !(await readHeader())) throw new DecryptError();
      while (inFlight.length > 0) emit(controller, await inFlight.shift());
      if (input.length === 0) {
        // Only an empty file ends right after its header.
        if (index > 0 || (size !== undefined && size !== 0)) throw new DecryptError();
        return;
      }
      if (input.length < TAG_LEN + 1) throw new DecryptError();
      const last = await open(input.take(input.length), true);
      if (size !== undefined && produced + last.length !== size) throw new DecryptError();
      emit(controller, last);
    },
  });
}
