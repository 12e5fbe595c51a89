// Tests of web/js/qr.js: every symbol is rendered to an RGBA bitmap and
// decoded with jsQR, which must give back the exact input text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsQR from 'jsqr';

import { qrMatrix, qrSvg } from '../../web/js/qr.js';

const enc = new TextEncoder();
const SVG_NS = 'http://www.w3.org/2000/svg';

// Byte-mode capacity at error correction level M, versions 1-10 (ISO/IEC
// 18004 table 7).
const CAPACITY_M = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213];

function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = '0123456789abcdef';
const pick = (alphabet, n, rand) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');

// Render the matrix at `scale` px per module with a quiet zone of `quiet`
// modules and decode it.
function decode({ size, dark }, scale = 4, quiet = 4) {
  const side = (size + 2 * quiet) * scale;
  const rgba = new Uint8ClampedArray(side * side * 4).fill(255);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!dark(x, y)) continue;
      for (let py = 0; py < scale; py++) {
        for (let px = 0; px < scale; px++) {
          const i = (((y + quiet) * scale + py) * side + (x + quiet) * scale + px) * 4;
          rgba[i] = rgba[i + 1] = rgba[i + 2] = 0;
        }
      }
    }
  }
  return jsQR(rgba, side, side, { inversionAttempts: 'dontInvert' });
}

function checkRoundTrip(text) {
  const m = qrMatrix(text);
  assert.equal((m.size - 17) % 4, 0, 'size is 17 + 4 * version');
  // The dark module next to the bottom-left finder: fixes the orientation.
  assert.equal(m.dark(8, m.size - 8), true, 'dark module at column 8, row size-8');
  const result = decode(m);
  assert.ok(result, `jsQR decodes ${JSON.stringify(text)}`);
  assert.equal(result.data, text);
  assert.deepEqual([...result.binaryData], [...enc.encode(text)]);
  return { ...m, version: (m.size - 17) / 4, decoded: result };
}

test('share links round-trip through jsQR', () => {
  const rand = rng(1);
  for (let i = 0; i < 8; i++) {
    const link = `http://127.0.0.1:8080/download/${pick(HEX, 16, rand)}/#${pick(B64URL, 22, rand)}`;
    const { version } = checkRoundTrip(link);
    assert.equal(link.length, 71);
    assert.equal(version, 5, '71 bytes need version 5 at level M');
  }
});

test('longer https links up to 200 characters round-trip through jsQR', () => {
  const rand = rng(2);
  for (const length of [60, 80, 120, 150, 180, 200]) {
    const head = `https://send.example.org/download/${pick(HEX, 16, rand)}/#`;
    const link = head + pick(B64URL, length - head.length, rand);
    assert.equal(link.length, length);
    checkRoundTrip(link);
  }
});

test('UTF-8 text round-trips through jsQR', () => {
  for (const text of ['Grüße aus Köln', '日本語のテキスト', 'emoji 🎉🔐 and ünïcödé — “quotes”', 'ß'.repeat(60)]) {
    checkRoundTrip(text);
  }
});

test('the smallest version that fits is chosen (versions 1-10 at their limits)', () => {
  const rand = rng(3);
  CAPACITY_M.forEach((capacity, i) => {
    const full = pick(B64URL, capacity, rand);
    assert.equal(checkRoundTrip(full).version, i + 1, `${capacity} bytes fit version ${i + 1}`);
    assert.equal(checkRoundTrip(full + 'x').version, i + 2, `${capacity + 1} bytes need version ${i + 2}`);
  });
  // Multi-byte characters count by their UTF-8 bytes: 7 x 2 bytes = 14.
  assert.equal(qrMatrix('é'.repeat(7)).size, 21);
  assert.equal(qrMatrix('é'.repeat(7) + 'x').size, 25);
});

test('too long text throws RangeError; the largest symbol still decodes', () => {
  assert.throws(() => qrMatrix('a'.repeat(2332)), RangeError);
  assert.throws(() => qrMatrix('€'.repeat(778)), RangeError); // 2334 bytes
  const m = qrMatrix('a'.repeat(2331));
  assert.equal(m.size, 177, 'version 40');
  assert.equal(decode(m, 3)?.data, 'a'.repeat(2331));
});

test('dark() is false outside the symbol', () => {
  const m = qrMatrix('x');
  assert.equal(m.size, 21);
  assert.equal(m.dark(0, 0), true, 'finder pattern corner');
  for (const [x, y] of [[-1, 0], [0, -1], [21, 0], [0, 21], [100, 100]]) assert.equal(m.dark(x, y), false);
});

// A fake document recording what qrSvg builds.
function fakeDoc() {
  const created = [];
  return {
    created,
    createElementNS(ns, name) {
      const node = {
        ns,
        name,
        attrs: {},
        children: [],
        setAttribute(k, v) {
          assert.equal(typeof v, 'string');
          this.attrs[k] = v;
        },
        appendChild(child) {
          this.children.push(child);
          return child;
        },
      };
      created.push(node);
      return node;
    },
  };
}

// Cells covered by the path: it must consist of "M x y h n v 1 h -n z" runs.
function pathCells(d) {
  const cells = new Set();
  const re = /M(\d+) (\d+)h(\d+)v1h-(\d+)z/y;
  let consumed = 0;
  for (let m; (m = re.exec(d)); consumed = re.lastIndex) {
    const [x, y, n, back] = m.slice(1).map(Number);
    assert.equal(n, back);
    assert.ok(n > 0);
    for (let i = 0; i < n; i++) {
      const key = `${x + i},${y}`;
      assert.ok(!cells.has(key), 'no module drawn twice');
      cells.add(key);
    }
  }
  assert.equal(consumed, d.length, 'path is only unit-height runs');
  return cells;
}

test('qrSvg builds an svg with a background rect and one path of the dark modules, no style', () => {
  const text = 'http://127.0.0.1:8080/download/0123456789abcdef/#AAAAAAAAAAAAAAAAAAAAAA';
  const m = qrMatrix(text);
  for (const border of [4, 0, 2]) {
    const doc = fakeDoc();
    const svg = border === 4 ? qrSvg(text, doc) : qrSvg(text, doc, border);
    const full = m.size + 2 * border;
    assert.ok(doc.created.every((n) => n.ns === SVG_NS));
    assert.ok(doc.created.every((n) => !('style' in n.attrs)), 'no style attribute (CSP)');
    assert.equal(svg.name, 'svg');
    assert.equal(svg.attrs.viewBox, `0 0 ${full} ${full}`);
    assert.equal(svg.attrs['shape-rendering'], 'crispEdges');
    assert.equal(svg.attrs.role, 'img');
    assert.deepEqual(
      svg.children.map((c) => c.name),
      ['rect', 'path'],
    );
    const [rect, path] = svg.children;
    assert.deepEqual(rect.attrs, { x: '0', y: '0', width: `${full}`, height: `${full}`, fill: '#ffffff' });
    assert.equal(path.attrs.fill, '#000000');

    const cells = pathCells(path.attrs.d);
    let darkCount = 0;
    for (let y = 0; y < m.size; y++) {
      for (let x = 0; x < m.size; x++) {
        if (m.dark(x, y)) {
          darkCount++;
          assert.ok(cells.has(`${x + border},${y + border}`), `module ${x},${y} drawn`);
        }
      }
    }
    assert.equal(cells.size, darkCount, 'as many unit squares as dark modules');
  }
});

test('qrSvg uses globalThis.document by default and needs one', () => {
  assert.equal(globalThis.document, undefined);
  assert.throws(() => qrSvg('x'), TypeError);
  const doc = fakeDoc();
  globalThis.document = doc;
  try {
    assert.equal(qrSvg('x').name, 'svg');
    assert.equal(doc.created.length, 3);
  } finally {
    delete globalThis.document;
  }
  assert.throws(() => qrSvg('x', fakeDoc(), -1), RangeError);
  assert.throws(() => qrSvg('x'.repeat(3000), fakeDoc()), RangeError);
});
