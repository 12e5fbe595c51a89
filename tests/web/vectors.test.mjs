// The web client's crypto against the shared known-answer vectors (tests/vectors/), which
// an independent implementation produced, and against tampering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  authKeyOf,
  b64Decode,
  b64uEncode,
  decryptMetadata,
  encryptMetadata,
  hkdf,
  metadataFor,
  passwordAuthKey,
  sign,
} from '../../web/js/crypto.js';
import { decryptTransform, encryptBlob, encryptedSize } from '../../web/js/ece.js';

const vectors = JSON.parse(
  readFileSync(new URL('../vectors/send-v3.json', import.meta.url), 'utf8'),
);
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const plaintext = (len) => {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + 7) % 251;
  return out;
};

async function collect(iterable) {
  const parts = [];
  for await (const part of iterable) parts.push(part);
  return Buffer.concat(parts);
}

/** Decrypts `cipher` fed in chunks of the given sizes (cycled). */
async function decrypt(secret, cipher, sizes = [cipher.length || 1], size = undefined) {
  const chunks = [];
  for (let at = 0, i = 0; at < cipher.length; i++) {
    const n = sizes[i % sizes.length];
    chunks.push(cipher.subarray(at, at + n));
    at += n;
  }
  const source = new ReadableStream({
    start(controller) {
      chunks.forEach((c) => controller.enqueue(c));
      controller.close();
    },
  });
  return collect(source.pipeThrough(decryptTransform(secret, { size })));
}

test('key derivations match the vectors', async () => {
  for (const v of vectors.keys) {
    const secret = b64Decode(v.secret);
    assert.equal(hex(await authKeyOf(secret)), v.auth_key);
    assert.equal(b64uEncode(await authKeyOf(secret)), v.auth_key_b64u);
    assert.equal(hex(await hkdf(secret, 'metadata', 128)), v.metadata_key);
    for (const e of v.ece) {
      const salt = Buffer.from(e.salt, 'hex');
      assert.equal(hex(await hkdf(secret, 'Content-Encoding: aes128gcm\0', 128, salt)), e.content_key);
      assert.equal(hex(await hkdf(secret, 'Content-Encoding: nonce\0', 96, salt)), e.nonce_base);
    }
  }
});

test('content encryption reproduces every vector byte for byte', async () => {
  for (const v of vectors.ece) {
    const secret = b64Decode(v.secret);
    const expected = Buffer.from(v.ciphertext, 'base64');
    const blob = new Blob([plaintext(v.plaintext_len)]);
    const got = await collect(
      encryptBlob(secret, blob, { rs: v.rs, salt: Buffer.from(v.salt, 'hex') }),
    );
    assert.equal(got.length, encryptedSize(v.plaintext_len), `size of ${v.plaintext_len}`);
    assert.ok(got.equals(expected), `ciphertext of ${v.plaintext_len} bytes`);
  }
});

test('content decryption of every vector, whatever the chunking', async () => {
  for (const v of vectors.ece) {
    const secret = b64Decode(v.secret);
    const cipher = Buffer.from(v.ciphertext, 'base64');
    const expected = Buffer.from(plaintext(v.plaintext_len));
    for (const sizes of [[cipher.length || 1], [1], [7, 65536, 3], [21, 65536], [65537]]) {
      if (sizes[0] === 1 && cipher.length > 70000) continue;
      const got = await decrypt(secret, cipher, sizes);
      assert.ok(got.equals(expected), `${v.plaintext_len} bytes in chunks of ${sizes}`);
    }
  }
});

test('damaged, truncated, reordered or extended ciphertexts are refused', async () => {
  const v = vectors.ece.find((x) => x.plaintext_len === 200000);
  const secret = b64Decode(v.secret);
  const cipher = Buffer.from(v.ciphertext, 'base64');
  const rs = v.rs;
  const records = [];
  for (let at = 21; at < cipher.length; at += rs) records.push(cipher.subarray(at, at + rs));
  const header = cipher.subarray(0, 21);
  const flipped = Buffer.from(cipher);
  flipped[21 + rs + 100] ^= 1;
  const cases = {
    'bit flip in a record': flipped,
    'bit flip in the salt': Buffer.concat([Buffer.from([cipher[0] ^ 1]), cipher.subarray(1)]),
    'last record dropped': Buffer.concat([header, ...records.slice(0, -1)]),
    'cut inside the last record': cipher.subarray(0, cipher.length - 5),
    'cut inside the header': cipher.subarray(0, 10),
    'records swapped': Buffer.concat([header, records[1], records[0], ...records.slice(2)]),
    'record duplicated': Buffer.concat([header, records[0], ...records]),
    'trailing bytes': Buffer.concat([cipher, Buffer.from([0])]),
    'wrong key': null,
  };
  for (const [name, bad] of Object.entries(cases)) {
    const key = bad ? secret : new Uint8Array(16);
    await assert.rejects(decrypt(key, bad ?? cipher, [4096]), { name: 'DecryptError' }, name);
  }
  // A header alone is a valid empty file: only the size from the metadata tells.
  assert.equal((await decrypt(secret, header)).length, 0);
  for (const [name, size] of [['header only', 200000], ['size too big', 200001], ['size too small', 199999]]) {
    const input = name === 'header only' ? header : cipher;
    await assert.rejects(decrypt(secret, input, [4096], size), { name: 'DecryptError' }, name);
  }
  assert.equal((await decrypt(secret, cipher, [4096], 200000)).length, 200000);
});

test('the send-v1 signatures match the vectors', async () => {
  for (const v of vectors.hmac) {
    assert.equal(await sign(b64Decode(v.auth_key), v.nonce), v.signature);
  }
});

test('password keys match the vectors', async () => {
  for (const v of vectors.password) {
    assert.equal(b64uEncode(await passwordAuthKey(v.password, v.url)), v.auth_key);
  }
});

test('metadata encryption matches the vectors and decrypts', async () => {
  for (const v of vectors.metadata) {
    const secret = b64Decode(v.secret);
    assert.equal(await encryptMetadata(secret, JSON.parse(v.plaintext)), v.ciphertext);
    const meta = await decryptMetadata(secret, v.ciphertext);
    const parsed = JSON.parse(v.plaintext);
    assert.equal(meta.name, parsed.name);
    assert.equal(meta.size, parsed.size);
    await assert.rejects(decryptMetadata(new Uint8Array(16).fill(9), v.ciphertext));
  }
});

test('several files travel as Send archive metadata', () => {
  const one = metadataFor([{ name: 'a.txt', size: 3, type: 'text/plain' }]);
  assert.deepEqual(one, {
    name: 'a.txt',
    size: 3,
    type: 'text/plain',
    manifest: { files: [{ name: 'a.txt', size: 3, type: 'text/plain' }] },
  });
  const two = metadataFor([
    { name: 'a', size: 3, type: '' },
    { name: 'b', size: 4, type: 'x/y' },
  ]);
  assert.equal(two.name, 'Send-Archive.zip');
  assert.equal(two.type, 'send-archive');
  assert.equal(two.size, 7);
  assert.equal(two.manifest.files[0].type, 'application/octet-stream');
});

test('base64 decoding is lenient about alphabet and padding', () => {
  const bytes = new Uint8Array([251, 255, 191, 0]);
  for (const text of ['+/+/AA==', '-_-_AA', '+/+/AA', '-_-_AA==']) {
    assert.deepEqual(b64Decode(text), bytes);
  }
  assert.throws(() => b64Decode('a'));
  assert.throws(() => b64Decode('ab$d'));
});
