// The Send v3 key schedule with WebCrypto: the 16-byte secret of a share link, the keys
// derived from it, metadata encryption and the `send-v1` request signature.
//
// Works in pages, in the service worker and in Node (tests): it only needs
// `globalThis.crypto.subtle`. No DOM.

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

/** Size of a share secret in bytes. */
export const SECRET_LEN = 16;
/** PBKDF2 iterations of a password key: fixed by Send v3 (weak; the server rate-limits). */
const PASSWORD_ITERATIONS = 100;

/** Base64url without padding (what Send clients emit). */
export function b64uEncode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes base64 leniently, as every Send implementation does: either alphabet, padded
 * or not. Throws a TypeError on anything else.
 */
export function b64Decode(text) {
  const std = String(text).trim().replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(std) || std.length % 4 === 1) {
    throw new TypeError('not base64');
  }
  const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A fresh random share secret. */
export function newSecret() {
  return globalThis.crypto.getRandomValues(new Uint8Array(SECRET_LEN));
}

/** Parses the secret of a link's fragment (`#` optional); null when it is not one. */
export function parseSecret(fragment) {
  try {
    const bytes = b64Decode(String(fragment).replace(/^#/, ''));
    return bytes.length === SECRET_LEN ? bytes : null;
  } catch {
    return null;
  }
}

/** HKDF-SHA256 of the secret with an empty salt, or `salt` when given: `bits` bits. */
export async function hkdf(secret, info, bits, salt = new Uint8Array(0)) {
  const ikm = await subtle.importKey('raw', secret, 'HKDF', false, ['deriveBits']);
  const out = await subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt, info: utf8.encode(info) },
    ikm,
    bits,
  );
  return new Uint8Array(out);
}

/** The 64-byte auth key that signs download requests, from the secret (no password). */
export function authKeyOf(secret) {
  return hkdf(secret, 'authentication', 512);
}

/**
 * The 64-byte auth key of a password-protected share: PBKDF2-HMAC-SHA256 over the
 * password, salted with the full share link (`<base>/download/<id>/#<secret>`).
 */
export async function passwordAuthKey(password, link) {
  const key = await subtle.importKey('raw', utf8.encode(password), 'PBKDF2', false, [
    'deriveBits',
  ]);
  const bits = await subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: utf8.encode(link), iterations: PASSWORD_ITERATIONS },
    key,
    512,
  );
  return new Uint8Array(bits);
}

/** `send-v1` signature of a nonce (as the server sent it, base64) with an auth key. */
export async function sign(authKey, nonce) {
  const key = await subtle.importKey('raw', authKey, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = await subtle.sign('HMAC', key, b64Decode(nonce));
  return b64uEncode(new Uint8Array(mac));
}

async function metadataKey(secret, usage) {
  const raw = await hkdf(secret, 'metadata', 128);
  return subtle.importKey('raw', raw, 'AES-GCM', false, [usage]);
}

// One metadata encryption per secret, so Send's all-zero IV is safe.
const ZERO_IV = new Uint8Array(12);

/** Encrypts a metadata object to the base64url string the server stores. */
export async function encryptMetadata(secret, metadata) {
  const key = await metadataKey(secret, 'encrypt');
  const plain = utf8.encode(JSON.stringify(metadata));
  const sealed = await subtle.encrypt({ name: 'AES-GCM', iv: ZERO_IV }, key, plain);
  return b64uEncode(new Uint8Array(sealed));
}

/**
 * Decrypts and checks a share's metadata. Throws when the key is wrong or the metadata
 * is not a Send v3 description of a file.
 */
export async function decryptMetadata(secret, text) {
  const key = await metadataKey(secret, 'decrypt');
  const plain = await subtle.decrypt({ name: 'AES-GCM', iv: ZERO_IV }, key, b64Decode(text));
  const meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  const count = (n) => Number.isSafeInteger(n) && n >= 0;
  if (typeof meta?.name !== 'string' || !count(meta.size)) {
    throw new TypeError('metadata without a name and size');
  }
  const files = Array.isArray(meta.manifest?.files) ? meta.manifest.files : [];
  const clean = files
    .filter((f) => typeof f?.name === 'string' && count(f.size))
    .map((f) => ({ name: f.name, size: f.size, type: String(f.type ?? '') }));
  const archive = meta.type === 'send-archive' && clean.length > 0;
  if (archive && clean.reduce((sum, f) => sum + f.size, 0) !== meta.size) {
    throw new TypeError('archive sizes do not add up');
  }
  return {
    name: meta.name,
    size: meta.size,
    type: typeof meta.type === 'string' ? meta.type : 'application/octet-stream',
    files: archive ? clean : [{ name: meta.name, size: meta.size, type: meta.type }],
    archive,
  };
}

/**
 * The metadata of an upload: one file as itself, several as Send's archive (the bytes
 * concatenated in this order, names and sizes in the manifest).
 */
export function metadataFor(files) {
  const entries = files.map((f) => ({
    name: f.name,
    size: f.size,
    type: f.type || 'application/octet-stream',
  }));
  if (entries.length === 1) {
    const [only] = entries;
    return { name: only.name, size: only.size, type: only.type, manifest: { files: entries } };
  }
  const size = entries.reduce((sum, f) => sum + f.size, 0);
  return { name: 'Send-Archive.zip', size, type: 'send-archive', manifest: { files: entries } };
}
