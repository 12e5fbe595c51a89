// What a download turns into: the decrypted file, or for an archive a ZIP built on the
// fly; its safe file name and exact length. Shared by the service worker and the
// page's own fallbacks.

import { decryptTransform } from './ece.js';
import { safeText, zipEntries, zipSize, zipTransform } from './zip.js';

/**
 * A file name safe to save: the last path component, without control, invisible or
 * bidirectional characters or characters file systems refuse, not empty, not a dot name,
 * at most 200 characters (cut between characters, keeping a short extension).
 */
export function safeName(name, fallback = 'download') {
  let clean = safeText(name)
    .split(/[/\\]/)
    .pop()
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  if (!clean) clean = fallback;
  const chars = [...clean];
  if (chars.length > 200) {
    const dot = clean.lastIndexOf('.');
    const ext = dot > 0 && clean.length - dot <= 16 ? [...clean.slice(dot)] : [];
    clean = chars.slice(0, 200 - ext.length).join('') + ext.join('');
  }
  return clean;
}

/** `Content-Disposition: attachment` with an ASCII fallback and the RFC 6266 UTF-8 name. */
export function contentDisposition(name) {
  const text = safeText(name);
  const ascii = text.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const utf8 = encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/**
 * The file a share saves as: `{ name, size, entries }` where `entries` is set for an
 * archive (saved as a ZIP of its files).
 */
export function output(meta, date = new Date()) {
  if (!meta.archive) return { name: safeName(meta.name), size: meta.size, entries: null };
  const entries = zipEntries(meta.files, date);
  let name = safeName(meta.name, 'archive.zip');
  if (!/\.zip$/i.test(name)) name += '.zip';
  return { name, size: zipSize(entries), entries, date };
}

/**
 * The bytes to save, from the ciphertext body of a download: decrypted (and checked
 * against the size in the metadata), zipped for an archive. `onPlain(n)` counts
 * plaintext bytes as they pass. Errors (damage, truncation) error the stream.
 */
export function plaintext(body, secret, meta, out, onPlain = () => {}) {
  const count = new TransformStream({
    transform(chunk, controller) {
      onPlain(chunk.length);
      controller.enqueue(chunk);
    },
  });
  let stream = body.pipeThrough(decryptTransform(secret, { size: meta.size })).pipeThrough(count);
  if (out.entries) stream = stream.pipeThrough(zipTransform(out.entries, out.date));
  return stream;
}
