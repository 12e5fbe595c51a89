// The download service worker, scoped to /download/. It turns a share into a real
// browser download that streams to disk: the page hands it a prepared download (the key
// and auth key stay inside this browser), the worker fetches the ciphertext (resuming
// after a cut, see api.ciphertext), and when the page navigates to /download/stream/<token>
// it answers with the decrypted bytes as an attachment of exact length. A damaged or truncated file errors the stream, so the
// browser marks the download failed instead of completing it.

import { ciphertext } from './js/api.js';
import { contentDisposition, output, plaintext } from './js/save.js';

/** Prepared downloads waiting for their navigation, by token. */
const jobs = new Map();
/** A prepared download not claimed within this time is dropped. */
const CLAIM_WITHIN_MS = 60_000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const data = event.data ?? {};
  const port = event.ports[0];
  if (data.type !== 'prepare' || !port) return;
  event.waitUntil(prepare(data, port));
});

async function prepare({ token, id, secret, authKey, nonce, meta }, port) {
  try {
    if (!/^[0-9a-f]{32}$/.test(token) || !/^[0-9a-fA-F]{10,16}$/.test(id)) throw new TypeError('bad job');
    const auth = { key: authKey, nonce };
    // Everything that could fail is settled before the download starts.
    const out = output(meta);
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(out.size),
      'Content-Disposition': contentDisposition(out.name),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
    };
    const body = await ciphertext(id, auth);
    const timer = setTimeout(() => {
      jobs.delete(token);
      body.cancel().catch(() => {});
    }, CLAIM_WITHIN_MS);
    jobs.set(token, { body, secret, meta, out, headers, port, timer });
    port.postMessage({ type: 'ready', nonce: auth.nonce });
  } catch (err) {
    port.postMessage({ type: 'error', status: err?.status ?? -1 });
  }
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const match = /^\/download\/stream\/([0-9a-f]{32})$/.exec(url.pathname);
  if (url.origin !== self.location.origin || !match) return;
  const job = jobs.get(match[1]);
  if (!job) {
    // 204 keeps the page where it is (this worker may have restarted since the page
    // prepared the download); the page's watchdog reports the failure.
    event.respondWith(new Response(null, { status: 204 }));
    return;
  }
  jobs.delete(match[1]);
  clearTimeout(job.timer);
  event.respondWith(stream(job));
});

function stream({ body, secret, meta, out, headers, port }) {
  let done = 0;
  let lastReport = 0;
  const report = (n) => {
    done += n;
    const now = Date.now();
    if (now - lastReport > 200) {
      lastReport = now;
      port.postMessage({ type: 'progress', done, total: meta.size });
    }
  };
  const pass = new TransformStream();
  const answer = new Response(pass.readable, { headers });
  plaintext(body, secret, meta, out, report)
    .pipeTo(pass.writable)
    .then(
      () => port.postMessage({ type: 'done', done }),
      (err) => port.postMessage({ type: 'error', damaged: err?.name === 'DecryptError', status: err?.status ?? -1 }),
    );
  return answer;
}
