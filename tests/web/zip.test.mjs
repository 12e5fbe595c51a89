// Tests of web/js/zip.js: archives are written to temp files and read back
// with Python's zipfile (and Info-ZIP's `unzip -t` when it is installed),
// plus a small independent walk over every record of the archive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';

import { crc32, safeText, zipEntries, zipSize, zipTransform } from '../../web/js/zip.js';

const enc = new TextEncoder();
const DATE = new Date(2024, 2, 5, 14, 7, 9); // local time, as ZIP stores it
const dir = mkdtempSync(join(tmpdir(), 'sealdrop-zip-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const HAVE_UNZIP = spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0;

// ------------------------------------------------------------ helpers

// Deterministic pseudo-random numbers (mulberry32).
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n, rand) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Cut `data` into chunks of the given sizes (the last one takes the rest).
function cut(data, sizes) {
  const chunks = [];
  let at = 0;
  for (const s of sizes) {
    if (at >= data.length) break;
    chunks.push(data.slice(at, at + s));
    at += s;
  }
  if (at < data.length) chunks.push(data.slice(at));
  return chunks;
}

// Several ways of feeding the same bytes: whole, 1-byte chunks, odd fixed
// sizes that straddle entry boundaries, random sizes with empty chunks.
function chunkings(data, seed = 1) {
  const rand = rng(seed);
  const random = [];
  for (let n = 0; n < data.length; ) {
    const s = rand() < 0.1 ? 0 : 1 + Math.floor(rand() * 97);
    random.push(s);
    n += s;
  }
  return {
    whole: data.length ? [data.slice()] : [],
    bytes: cut(data, new Array(data.length).fill(1)),
    sevens: cut(data, new Array(Math.ceil(data.length / 7)).fill(7)),
    random: cut(data, random),
  };
}

async function runZip(entries, chunks, date = DATE, options) {
  const input = new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
  const out = [];
  for await (const chunk of input.pipeThrough(zipTransform(entries, date, options))) {
    assert.ok(chunk instanceof Uint8Array);
    out.push(chunk);
  }
  return { bytes: concat(out), chunks: out };
}

let fileNo = 0;
function save(bytes) {
  const path = join(dir, `a${++fileNo}.zip`);
  writeFileSync(path, bytes);
  return path;
}

// Python's view of an archive: testzip() result, names, contents, metadata.
const PY_READ = `
import base64, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    infos = z.infolist()
    full = len(infos) <= 1000
    out = {"bad": bad, "count": len(infos), "files": [
        {"name": i.filename, "size": i.file_size, "crc": i.CRC, "flags": i.flag_bits,
         "date_time": list(i.date_time), "method": i.compress_type,
         "data": base64.b64encode(z.read(i)).decode() if full else None}
        for i in (infos if full else infos[:3] + infos[-3:])]}
print(json.dumps(out))
`;
function pythonRead(path) {
  return JSON.parse(execFileSync('python3', ['-c', PY_READ, path], { maxBuffer: 1 << 28 }));
}

function unzipTest(path, count) {
  if (!HAVE_UNZIP || count === 0) return; // unzip warns (exit 1) about empty archives
  const r = spawnSync('unzip', ['-tqq', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, `unzip -t failed:\n${r.stdout}\n${r.stderr}`);
}

// An independent walk over the records: end record(s) -> central directory
// -> every local header, its data and data descriptor, checking that they
// are contiguous, consistent, and use ZIP64 only where expected.
function walk(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (p) => dv.getUint16(p, true);
  const u32 = (p) => dv.getUint32(p, true);
  const u64 = (p) => Number(dv.getBigUint64(p, true));
  const dec = new TextDecoder('utf-8', { fatal: true });
  const extras = (p, len) => {
    const map = new Map();
    for (let q = p; q < p + len; ) {
      map.set(u16(q), buf.subarray(q + 4, q + 4 + u16(q + 2)));
      q += 4 + u16(q + 2);
    }
    return map;
  };

  const eocd = buf.length - 22;
  assert.equal(u32(eocd), 0x06054b50, 'end of central directory record');
  assert.equal(u16(eocd + 20), 0, 'no archive comment');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let zip64End = false;
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    zip64End = true;
    const at = u64(eocd - 20 + 8);
    assert.equal(at, eocd - 20 - 56, 'locator points at the ZIP64 end record');
    assert.equal(u32(at), 0x06064b50);
    assert.equal(u64(at + 4), 44);
    assert.equal(u64(at + 24), u64(at + 32));
    count = u64(at + 32);
    cdSize = u64(at + 40);
    cdOffset = u64(at + 48);
  }
  assert.equal(cdOffset + cdSize, zip64End ? eocd - 76 : eocd, 'central directory ends at the end records');

  const entries = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    assert.equal(u32(p), 0x02014b50, `central header ${i}`);
    const flags = u16(p + 8);
    assert.equal(flags, 0x0808);
    assert.equal(u16(p + 10), 0, 'stored');
    const n = u16(p + 28);
    const e = u16(p + 30);
    assert.equal(u16(p + 32), 0, 'no comment');
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    let offset = u32(p + 42);
    const ex = extras(p + 46 + n, e);
    const z = ex.get(1);
    if (z) {
      const zv = new DataView(z.buffer, z.byteOffset, z.byteLength);
      let q = 0;
      const next = () => Number(zv.getBigUint64((q += 8) - 8, true));
      if (usize === 0xffffffff) usize = next();
      if (csize === 0xffffffff) csize = next();
      if (offset === 0xffffffff) offset = next();
      assert.equal(q, z.length, 'ZIP64 extra holds exactly the marked fields');
    }
    assert.equal(csize, usize);
    entries.push({
      name: dec.decode(buf.subarray(p + 46, p + 46 + n)),
      crc: u32(p + 16),
      size: usize,
      offset,
      zip64Central: !!z,
    });
    p += 46 + n + e;
  }
  assert.equal(p, cdOffset + cdSize);

  // Local headers, data and descriptors, back to back from offset 0.
  let at = 0;
  for (const entry of entries) {
    assert.equal(entry.offset, at, `${entry.name} starts where the previous entry ended`);
    assert.equal(u32(at), 0x04034b50);
    assert.equal(u16(at + 6), 0x0808);
    assert.equal(u16(at + 8), 0);
    assert.equal(u32(at + 14), 0, 'CRC deferred to the descriptor');
    const n = u16(at + 26);
    const e = u16(at + 28);
    assert.equal(dec.decode(buf.subarray(at + 30, at + 30 + n)), entry.name);
    const z = extras(at + 30 + n, e).get(1);
    entry.zip64Local = !!z;
    const marker = z ? 0xffffffff : 0;
    assert.equal(u32(at + 18), marker);
    assert.equal(u32(at + 22), marker);
    assert.equal(u16(at + 4), z ? 45 : 20, 'version needed');
    if (z) assert.deepEqual([...z], new Array(16).fill(0));
    const data = at + 30 + n + e;
    entry.data = buf.subarray(data, data + entry.size);
    at = data + entry.size;
    assert.equal(u32(at), 0x08074b50, 'data descriptor signature');
    assert.equal(u32(at + 4), entry.crc);
    if (z) {
      assert.equal(u64(at + 8), entry.size);
      assert.equal(u64(at + 16), entry.size);
      at += 24;
    } else {
      assert.equal(u32(at + 8), entry.size);
      assert.equal(u32(at + 12), entry.size);
      at += 16;
    }
  }
  assert.equal(at, cdOffset, 'central directory follows the last entry');
  return { entries, zip64End, count };
}

// Zip `files` ([{name, data}]) fed in several chunkings; all must give the
// same bytes, of length zipSize(); check them with Python, unzip and walk().
async function checkArchive(files, { options, seed = 1, expectNames } = {}) {
  const entries = zipEntries(files.map((f) => ({ name: f.name, size: f.data.length, type: 'x/y' })));
  const data = concat(files.map((f) => f.data));
  const size = zipSize(entries, options);
  let first;
  for (const [how, chunks] of Object.entries(chunkings(data, seed))) {
    const { bytes } = await runZip(entries, chunks, DATE, options);
    assert.equal(bytes.length, size, `${how}: length equals zipSize`);
    if (first) assert.deepEqual(bytes, first, `${how}: same archive for every chunking`);
    else first = bytes;
  }
  const path = save(first);
  const py = pythonRead(path);
  assert.equal(py.bad, null, 'testzip() finds no bad file');
  assert.equal(py.count, files.length);
  const names = expectNames ?? entries.map((e) => e.name);
  assert.deepEqual(py.files.map((f) => f.name), names);
  py.files.forEach((f, i) => {
    assert.equal(Buffer.from(f.data, 'base64').compare(Buffer.from(files[i].data)), 0, `${f.name} contents`);
    assert.equal(f.size, files[i].data.length);
    assert.equal(f.method, 0);
    assert.equal(f.flags, 0x0808);
    assert.deepEqual(f.date_time, [2024, 3, 5, 14, 7, 8]);
  });
  unzipTest(path, files.length);
  const w = walk(first);
  w.entries.forEach((e, i) => assert.deepEqual(e.data, files[i].data));
  return { bytes: first, walk: w, entries };
}

// Bit-by-bit CRC-32 as the reference.
function crcReference(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------ CRC-32

test('crc32 known values', () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(enc.encode('123456789')), 0xcbf43926);
  assert.equal(crc32(enc.encode('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
});

test('crc32 matches a bitwise reference on every length and alignment, incrementally', () => {
  const rand = rng(7);
  const data = randomBytes(300, rand);
  for (let start = 0; start < 9; start++) {
    for (let len = 0; start + len <= data.length; len += 1 + (len >> 3)) {
      const part = data.subarray(start, start + len);
      const want = crcReference(part);
      assert.equal(crc32(part), want, `start ${start} length ${len}`);
      if (zlib.crc32) assert.equal(zlib.crc32(part), want);
      const split = Math.floor(rand() * (len + 1));
      assert.equal(crc32(part.subarray(split), crc32(part.subarray(0, split))), want, 'incremental');
    }
  }
});

test('crc32 throughput (reported, not asserted)', (t) => {
  const buf = randomBytes(16 << 20, rng(3));
  crc32(buf); // warm up
  const t0 = performance.now();
  let c = 0;
  for (let i = 0; i < 4; i++) c = crc32(buf, c);
  const seconds = (performance.now() - t0) / 1000;
  t.diagnostic(`crc32: ${(64 / seconds).toFixed(0)} MiB/s over 64 MiB`);
  assert.ok(c >= 0);
});

// ------------------------------------------------------------ names

test('zipEntries normalises unsafe names', () => {
  const names = (list) => zipEntries(list.map((name) => ({ name, size: 1 }))).map((e) => e.name);
  assert.deepEqual(
    names([
      'plain.txt',
      'dir\\sub\\win.txt',
      '/etc/passwd',
      '../../up/./and/../out.txt',
      'a//b///c.txt',
      'ctl\u0000\u0007\u001b[31m\u007f\u0085name.txt',
      'evil\u202Etxt.exe',
      '',
      '..',
      '/./\\',
      '\u0000\u0001',
    ]),
    [
      'plain.txt',
      'dir/sub/win.txt',
      'etc/passwd',
      'up/and/out.txt',
      'a/b/c.txt',
      'ctl[31mname.txt',
      'eviltxt.exe',
      'file-8',
      'file-9',
      'file-10',
      'file-11',
    ],
  );
});

test('zipEntries keeps UTF-8 names, in NFC, and replaces lone surrogates', () => {
  const names = (list) => zipEntries(list.map((name) => ({ name, size: 0 }))).map((e) => e.name);
  assert.deepEqual(names(['Grüße/日本語.txt', 'cafe\u0301.md', 'emoji 🎉.png', 'bad\ud800.txt']), [
    'Grüße/日本語.txt',
    'caf\u00e9.md',
    'emoji 🎉.png',
    'bad\ufffd.txt',
  ]);
});

test('zipEntries numbers duplicates before the extension, case-insensitively', () => {
  const files = [
    'report.pdf',
    'report.pdf',
    'REPORT.pdf',
    './report.pdf',
    'report (2).pdf',
    '.bashrc',
    '.bashrc',
    'archive.tar.gz',
    'archive.tar.gz',
    'README',
    'readme',
    '',
    'file-12',
  ].map((name) => ({ name, size: 3, type: 'text/plain' }));
  const once = zipEntries(files);
  assert.deepEqual(
    once.map((e) => e.name),
    [
      'report.pdf',
      'report (2).pdf',
      'REPORT (3).pdf',
      'report (4).pdf',
      'report (2) (2).pdf',
      '.bashrc',
      '.bashrc (2)',
      'archive.tar.gz',
      'archive.tar (2).gz',
      'README',
      'readme (2)',
      'file-12',
      'file-12 (2)',
    ],
  );
  assert.deepEqual(zipEntries(files), once, 'deterministic');
  assert.ok(once.every((e) => e.size === 3 && Object.keys(e).join() === 'name,size'));
});

test('zipEntries resolves clashes between file and directory names', () => {
  const names = (list) => zipEntries(list.map((name) => ({ name, size: 0 }))).map((e) => e.name);
  assert.deepEqual(names(['a', 'a/b.txt', 'a/c.txt']), ['a', 'a (2)/b.txt', 'a (2)/c.txt']);
  assert.deepEqual(names(['x/y.txt', 'x', 'X']), ['x/y.txt', 'x (2)', 'X (3)']);
  assert.deepEqual(names(['d', 'd/x', 'd', 'D/x']), ['d', 'd (2)/x', 'd (3)', 'd (2)/x (2)']);
});

test('zipEntries stays fast and unique with many equal names', () => {
  const many = zipEntries(Array.from({ length: 30000 }, () => ({ name: 'same.txt', size: 0 })));
  assert.equal(new Set(many.map((e) => e.name)).size, 30000);
  assert.equal(many.at(-1).name, 'same (30000).txt');
});

test('zipEntries limits components to 255 bytes and long paths to their last component', () => {
  const long = 'é'.repeat(300) + '.txt';
  const [a, b] = zipEntries([
    { name: long, size: 0 },
    { name: long, size: 0 },
  ]);
  assert.equal(enc.encode(a.name).length, 254); // 125 two-byte chars + ".txt"
  assert.ok(a.name.endsWith('é.txt'));
  assert.ok(b.name.endsWith(' (2).txt') && enc.encode(b.name).length <= 255);
  const deep = Array.from({ length: 30 }, (_, i) => 'd'.repeat(200) + i).join('/');
  assert.deepEqual(zipEntries([{ name: deep, size: 0 }])[0].name, 'd'.repeat(200) + 29);
});

test('zipEntries rejects bad sizes', () => {
  for (const size of [-1, 1.5, NaN, '3', undefined, 2 ** 53]) {
    assert.throws(() => zipEntries([{ name: 'a', size }]), TypeError);
  }
  assert.throws(() => zipEntries('nope'), TypeError);
});

// ------------------------------------------------------------ archives

test('archive of no files', async () => {
  const { bytes, walk: w } = await checkArchive([]);
  assert.equal(bytes.length, 22);
  assert.equal(w.count, 0);
});

test('archive of one empty file', async () => {
  const { bytes } = await checkArchive([{ name: 'empty.txt', data: new Uint8Array(0) }]);
  assert.equal(bytes.length, 30 + 9 + 16 + 46 + 9 + 22);
});

test('archive of several files with UTF-8, duplicate and unsafe names, in any chunking', async () => {
  const rand = rng(42);
  const files = [
    { name: 'hello.txt', data: enc.encode('Hello, world!\n') },
    { name: 'empty-first', data: new Uint8Array(0) },
    { name: 'photos\\Grüße 日本.jpg', data: randomBytes(1000, rand) },
    { name: '../../../etc/shadow', data: randomBytes(7, rand) },
    { name: 'hello.txt', data: randomBytes(333, rand) },
    { name: '', data: randomBytes(1, rand) },
    { name: 'empty-middle', data: new Uint8Array(0) },
    { name: 'photos/grüße 日本.JPG', data: randomBytes(64, rand) },
    { name: 'tail-empty', data: new Uint8Array(0) },
  ];
  const { walk: w } = await checkArchive(files, {
    expectNames: [
      'hello.txt',
      'empty-first',
      'photos/Grüße 日本.jpg',
      'etc/shadow',
      'hello (2).txt',
      'file-6',
      'empty-middle',
      'photos/grüße 日本 (2).JPG',
      'tail-empty',
    ],
  });
  assert.equal(w.zip64End, false, 'small archive: plain ZIP');
  assert.ok(w.entries.every((e) => !e.zip64Local && !e.zip64Central));
});

test('archives of only empty files, and of random files with random chunkings', async () => {
  await checkArchive([
    { name: 'a', data: new Uint8Array(0) },
    { name: 'b', data: new Uint8Array(0) },
    { name: 'c', data: new Uint8Array(0) },
  ]);
  for (let seed = 1; seed <= 4; seed++) {
    const rand = rng(seed * 101);
    const files = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, i) => ({
      name: `f${i}/${'x'.repeat(Math.floor(rand() * 4))}.bin`,
      data: randomBytes(rand() < 0.3 ? 0 : Math.floor(rand() * 400), rand),
    }));
    await checkArchive(files, { seed });
  }
});

test('file data passes through as the input chunks, output starts before the input ends', async () => {
  const a = randomBytes(100, rng(1));
  const b = randomBytes(50, rng(2));
  const entries = zipEntries([
    { name: 'a', size: 100 },
    { name: 'b', size: 50 },
  ]);
  const zip = zipTransform(entries, DATE);
  const writer = zip.writable.getWriter();
  const reader = zip.readable.getReader();
  writer.write(a);
  const header = await reader.read();
  assert.equal(header.value.length, 31, 'local header of a');
  const body = await reader.read();
  assert.equal(body.value, a, 'the very chunk that was written, not a copy');
  const both = concat([b.subarray(0, 10), b.subarray(10)]);
  writer.write(both.subarray(0, 10));
  writer.write(both.subarray(10));
  writer.close();
  const rest = [];
  for (let r; !(r = await reader.read()).done; ) rest.push(r.value);
  assert.equal(rest[0].length, 16, 'descriptor of a');
  assert.equal(rest[1].length, 31, 'local header of b');
  assert.equal(rest[2].buffer, both.buffer, 'view on the input, not a copy');
  assert.equal(rest.length, 6, 'descriptor, header, 2 data chunks, descriptor, trailer');
});

test('too few or too many input bytes error instead of producing an archive', async () => {
  const entries = zipEntries([
    { name: 'a', size: 10 },
    { name: 'b', size: 0 },
    { name: 'c', size: 5 },
  ]);
  const data = randomBytes(15, rng(9));
  await assert.rejects(runZip(entries, [data.subarray(0, 14)]), (e) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /ended after 14 of the 15 bytes/);
    return true;
  });
  await assert.rejects(runZip(entries, []), /ended after 0 of the 15 bytes/);
  await assert.rejects(runZip(entries, [data, new Uint8Array(1)]), (e) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /longer than the 15 bytes/);
    return true;
  });
  await assert.rejects(runZip(entries, [concat([data, new Uint8Array(3)])]), TypeError);
  await assert.rejects(runZip([], [new Uint8Array(1)]), TypeError);
  await assert.rejects(runZip(entries, ['not bytes']), TypeError);
});

test('DOS date and time come from the given local date, clamped to 1980-2107', async () => {
  const check = async (date, want) => {
    const entries = zipEntries([{ name: 'd', size: 1 }]);
    const { bytes } = await runZip(entries, [new Uint8Array([1])], date);
    assert.deepEqual(pythonRead(save(bytes)).files[0].date_time, want);
  };
  await check(new Date(2031, 11, 31, 23, 59, 59), [2031, 12, 31, 23, 59, 58]);
  await check(new Date(1975, 5, 1), [1980, 1, 1, 0, 0, 0]);
  await check(new Date(2200, 0, 1), [2107, 12, 31, 23, 59, 58]);
  assert.throws(() => zipTransform([], new Date(NaN)), TypeError);
});

// ------------------------------------------------------------ ZIP64

test('ZIP64 records with a lowered threshold: big entries, far offsets, ZIP64 end', async () => {
  const rand = rng(64);
  const files = [
    { name: 'small', data: randomBytes(40, rand) },
    { name: 'big', data: randomBytes(150, rand) }, // size >= 100
    { name: 'empty', data: new Uint8Array(0) }, // offset >= 100
    { name: 'far', data: randomBytes(20, rand) },
  ];
  const options = { zip64Threshold: 100 };
  const { walk: w, entries } = await checkArchive(files, { options });
  assert.deepEqual(
    w.entries.map((e) => [e.name, e.zip64Local, e.zip64Central]),
    [
      ['small', false, false],
      ['big', true, true],
      ['empty', false, true],
      ['far', false, true],
    ],
  );
  assert.equal(w.zip64End, true);
  assert.ok(zipSize(entries, options) > zipSize(entries), 'ZIP64 records cost bytes');
});

test('forced ZIP64 archives read correctly', async () => {
  const rand = rng(65);
  const files = [
    { name: 'one.bin', data: randomBytes(300, rand) },
    { name: 'zero.bin', data: new Uint8Array(0) },
    { name: 'ünïcödé.txt', data: enc.encode('zip64 for everything') },
  ];
  const { walk: w } = await checkArchive(files, { options: { forceZip64: true } });
  assert.equal(w.zip64End, true);
  assert.ok(w.entries.every((e) => e.zip64Local && e.zip64Central));
  await checkArchive([], { options: { forceZip64: true } });
});

test('65535 entries need the ZIP64 end record, 65534 do not', async () => {
  for (const count of [65534, 65535]) {
    const entries = zipEntries(Array.from({ length: count }, (_, i) => ({ name: `${i}`, size: 0 })));
    const { bytes } = await runZip(entries, []);
    assert.equal(bytes.length, zipSize(entries));
    const w = walk(bytes);
    assert.equal(w.count, count);
    assert.equal(w.zip64End, count === 65535);
    const py = pythonRead(save(bytes));
    assert.equal(py.bad, null);
    assert.equal(py.count, count);
    assert.equal(py.files.at(-1).name, `${count - 1}`);
  }
});

test('zipSize is exact for sizes past 4 GiB and refuses archives past 2^53', () => {
  const L = 7; // "big.bin"
  const five = 5 * 2 ** 30;
  const entries = [{ name: 'big.bin', size: five }];
  // local header + ZIP64 extra, data, 24-byte descriptor, central header +
  // extra (two sizes), ZIP64 end record + locator (central directory offset
  // is past 4 GiB), end record.
  assert.equal(zipSize(entries), 30 + L + 20 + five + 24 + (46 + L + 20) + 56 + 20 + 22);
  // A small entry after it has a far offset: ZIP64 extra with the offset only.
  const two = [...entries, { name: 'x', size: 1 }];
  assert.equal(zipSize(two) - zipSize(entries), 30 + 1 + 1 + 16 + (46 + 1 + 12));
  // An entry just under the threshold stays classic; the directory after it is far.
  const under = [{ name: 'u', size: 0xfffffffe }];
  assert.equal(zipSize(under), 30 + 1 + 0xfffffffe + 16 + (46 + 1) + 56 + 20 + 22);
  assert.equal(zipSize([{ name: 'u', size: 0xffffffff }]), 30 + 1 + 20 + 0xffffffff + 24 + (46 + 1 + 20) + 76 + 22);
  assert.ok(Number.isSafeInteger(zipSize([{ name: 'h', size: 2 ** 52 }])));
  assert.throws(() => zipSize([{ name: 'h', size: 2 ** 53 - 10 }]), RangeError);
});

// ------------------------------------------------------------ the rule for untrusted text

// The same vectors as the Rust rule (sealdrop-protocol's names::unsafe_char).
const UNSAFE = JSON.parse(
  readFileSync(new URL('../vectors/unsafe-chars.json', import.meta.url), 'utf8'),
);

test('safeText removes exactly the unsafe ranges of the shared vectors', () => {
  const ranges = UNSAFE.unsafe_ranges.map(([from, to]) => [parseInt(from, 16), parseInt(to, 16)]);
  const listed = (cp) => ranges.some(([from, to]) => cp >= from && cp <= to);
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // lone surrogates become U+FFFD
    const removed = safeText(String.fromCodePoint(cp)) === '';
    if (removed !== listed(cp)) {
      assert.fail(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}: removed ${removed}`);
    }
  }
});

test('names lose exactly their unsafe characters, here as in Rust', () => {
  for (const [name, clean] of UNSAFE.names) {
    assert.equal(safeText(name), clean, JSON.stringify(name));
    assert.equal(zipEntries([{ name, size: 1 }])[0].name, clean);
  }
});
