// Streaming ZIP writer (method 0, "stored": no compression).
//
// A multi-file share decrypts to the plain concatenation of its files in
// manifest order. zipTransform() turns that byte stream into a ZIP archive
// without buffering file data, and zipSize() tells the exact length of that
// archive beforehand, so a service worker can answer with a Content-Length.
//
// Layout written for each entry (APPNOTE.TXT 6.3.x section numbers):
//   local file header (4.3.7)   flags: bit 3 (data descriptor), bit 11 (UTF-8)
//   file data                   the input bytes, passed through untouched
//   data descriptor (4.3.9)     with signature; CRC-32 computed on the fly
// then the central directory (4.3.12) and the end records (4.3.14-4.3.16).
//
// ZIP64 is used only where a value does not fit: an entry whose size reaches
// 0xFFFFFFFF gets a ZIP64 extra field in its local and central headers and
// 8-byte sizes in its descriptor; an entry whose header offset reaches it
// gets the offset in a central ZIP64 extra field; and when the entry count
// reaches 0xFFFF or the central directory's size or offset reaches
// 0xFFFFFFFF, a ZIP64 end of central directory record and locator come
// before the classic end record. Small archives are therefore plain ZIP.
//
// No DOM use: works in pages, service workers and Node (>= 18).

const MAX32 = 0xffffffff;
const MAX16 = 0xffff;

const LOCAL_HEADER = 30; // fixed part of a local file header
const CENTRAL_HEADER = 46; // fixed part of a central directory header
const DESCRIPTOR = 16; // signature, CRC-32, 4-byte sizes
const DESCRIPTOR64 = 24; // signature, CRC-32, 8-byte sizes
const LOCAL_ZIP64_EXTRA = 20; // id, length, original and compressed size
const EOCD = 22; // end of central directory record
const EOCD64 = 56; // ZIP64 end of central directory record
const EOCD64_LOCATOR = 20;

const VERSION_STORED = 20; // 2.0: needed for data descriptors
const VERSION_ZIP64 = 45; // 4.5: ZIP64
const MADE_BY_UNIX = 3 << 8; // external attributes carry a Unix mode
const UNIX_FILE_0644 = 0o100644 * 0x10000; // regular file, rw-r--r--
const FLAGS = 0x0808; // bit 3: data descriptor, bit 11: UTF-8 names

const utf8 = new TextEncoder();

// ---------------------------------------------------------------- CRC-32

// Slicing-by-8 tables (IEEE polynomial, reflected 0xEDB88320): slice k
// holds the CRC of a byte followed by k zero bytes, so eight input bytes
// are folded in per step. Int32Array keeps values as small integers in V8.
const CRC_TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++) {
      const prev = t[(s - 1) * 256 + n];
      t[s * 256 + n] = t[prev & 0xff] ^ (prev >>> 8);
    }
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as used by ZIP and gzip) of `bytes`, continuing from
 * a previous result `crc`: crc32(b, crc32(a)) === crc32(a ++ b).
 * @param {Uint8Array} bytes
 * @param {number} [crc=0]
 * @returns {number} unsigned 32-bit value
 */
export function crc32(bytes, crc = 0) {
  const t = CRC_TABLE;
  const n = bytes.length;
  let c = ~crc;
  let i = 0;
  for (const end = n - (n & 7); i < end; i += 8) {
    const lo =
      c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------- names

const MAX_COMPONENT_BYTES = 255; // common file system limit per path component
const MAX_PATH_BYTES = 4095; // longer paths keep only their last component

// The rule for untrusted text, the same as the Rust side's (sealdrop-protocol's
// names::unsafe_char), both tested against tests/vectors/unsafe-chars.json: C0 and C1
// controls and DEL; the Arabic letter mark, zero-width and directional marks, line and
// paragraph separators, bidirectional embeddings, overrides and isolates, which can make
// "txt.exe" display as "exe.txt"; invisible operators and the byte-order mark, which
// can hide a difference between two names.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

// Replace unpaired surrogates with U+FFFD so the name and its UTF-8 agree.
const wellFormed = (s) =>
  typeof s.toWellFormed === 'function'
    ? s.toWellFormed()
    : s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

const byteLength = (s) => utf8.encode(s).length;

// Longest prefix of `s` that fits in `max` UTF-8 bytes, cut between code points.
function truncateUtf8(s, max) {
  if (byteLength(s) <= max) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const len = byteLength(ch);
    if (used + len > max) break;
    out += ch;
    used += len;
  }
  return out;
}

// Split "name.ext" at its last dot; a leading dot (".bashrc") is no extension.
function splitExtension(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
}

// stem + suffix + ext, shortened to MAX_COMPONENT_BYTES if needed: first the
// extension to 32 bytes, then the stem.
function fitComponent(name, suffix = '') {
  const [stem, ext] = splitExtension(name);
  if (byteLength(stem + suffix + ext) <= MAX_COMPONENT_BYTES) return stem + suffix + ext;
  const shortExt = truncateUtf8(ext, 32);
  return truncateUtf8(stem, MAX_COMPONENT_BYTES - byteLength(suffix + shortExt)) + suffix + shortExt;
}

/**
 * Text safe to show and to use in a name: well-formed Unicode in NFC, without control,
 * bidirectional-override and similar invisible characters (which can make `txt.exe`
 * look like `exe.txt`).
 */
export function safeText(text) {
  return wellFormed(String(text ?? '')).normalize('NFC').replace(UNSAFE_CHARS, '');
}

/**
 * Normalise manifest entries into safe, unique archive names.
 *
 * Each name is made well-formed Unicode (NFC), control and bidi formatting
 * characters are dropped, backslashes become "/", empty, "." and ".."
 * components (and thus leading "/") are dropped, each component is limited
 * to 255 UTF-8 bytes, and a path over 4095 bytes keeps only its last
 * component. A name left empty becomes "file-N" (N = 1-based position).
 * Names that collide, compared case-insensitively because Windows and macOS
 * extract to case-insensitive file systems, get " (2)", " (3)", ... before
 * the extension; so does a file whose name is a directory of another entry,
 * or a directory component that is already a file. Deterministic: the same
 * manifest always gives the same names.
 *
 * @param {{name: string, size: number, type?: string}[]} files manifest order
 * @param {Date} [date] accepted for symmetry with zipTransform(); unused,
 *   names do not depend on it
 * @returns {{name: string, size: number}[]}
 */
export function zipEntries(files, date = new Date()) {
  if (!Array.isArray(files)) throw new TypeError('zipEntries: files must be an array');
  const taken = new Set(); // lower-cased file paths
  const dirs = new Set(); // lower-cased directory paths
  const key = (parts) => parts.join('/').toLowerCase();
  const numbered = (base, n) => fitComponent(base, ` (${n})`);
  // A directory that clashes with a file is renamed once and the new name
  // reused for the following entries: it is a directory from then on, so no
  // later file can take it.
  const renamedDirs = new Map();
  // Next number worth trying for a clashing file path: the sets only grow,
  // so a number found busy stays busy, and many equal names stay linear.
  const nextNumber = new Map();

  return files.map((file, index) => {
    const size = file?.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TypeError(`zipEntries: file ${index + 1} has no valid size (${size})`);
    }
    const raw = wellFormed(String(file.name ?? '')).normalize('NFC').replace(UNSAFE_CHARS, '');
    let parts = raw
      .replace(/\\/g, '/')
      .split('/')
      .filter((p) => p !== '' && p !== '.' && p !== '..')
      .map((p) => fitComponent(p))
      .filter((p) => p !== '');
    if (byteLength(parts.join('/')) > MAX_PATH_BYTES) parts = parts.slice(-1);
    if (parts.length === 0) parts = [`file-${index + 1}`];

    // Directory components must not be files named earlier.
    for (let i = 1; i < parts.length; i++) {
      const dir = key(parts.slice(0, i));
      if (!taken.has(dir)) continue;
      let name = renamedDirs.get(dir);
      for (let n = 2; name === undefined; n++) {
        const candidate = numbered(parts[i - 1], n);
        if (!taken.has(key([...parts.slice(0, i - 1), candidate]))) name = candidate;
      }
      renamedDirs.set(dir, name);
      parts[i - 1] = name;
    }
    // The file itself must clash with neither files nor directories.
    const path = key(parts);
    if (taken.has(path) || dirs.has(path)) {
      const base = parts[parts.length - 1];
      let n = nextNumber.get(path) ?? 2;
      do parts[parts.length - 1] = numbered(base, n++);
      while (taken.has(key(parts)) || dirs.has(key(parts)));
      nextNumber.set(path, n);
    }

    taken.add(key(parts));
    for (let i = 1; i < parts.length; i++) dirs.add(key(parts.slice(0, i)));
    return { name: parts.join('/'), size };
  });
}

// ---------------------------------------------------------------- layout

/**
 * Where everything goes: shared by zipSize() and zipTransform() so the two
 * cannot disagree. `zip64Threshold` (default 0xFFFFFFFF) and `forceZip64`
 * exist only so tests can exercise the ZIP64 records on small archives.
 */
function layout(entries, { zip64Threshold = MAX32, forceZip64 = false } = {}) {
  if (!Array.isArray(entries)) throw new TypeError('zip: entries must be an array');
  const limit = Math.min(zip64Threshold, MAX32);
  let offset = 0;
  const items = entries.map((entry, index) => {
    const { size } = entry;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TypeError(`zip: entry ${index + 1} has no valid size (${size})`);
    }
    const name = utf8.encode(String(entry.name));
    if (name.length > MAX16) throw new RangeError(`zip: entry ${index + 1} name is too long`);
    // ZIP64 sizes: local extra field, 8-byte descriptor, central extra field.
    const big = forceZip64 || size >= limit;
    // ZIP64 header offset: central extra field only.
    const far = forceZip64 || offset >= limit;
    const item = { name, size, offset, big, far };
    item.localLength = LOCAL_HEADER + name.length + (big ? LOCAL_ZIP64_EXTRA : 0);
    item.centralExtra = (big ? 16 : 0) + (far ? 8 : 0);
    if (item.centralExtra) item.centralExtra += 4; // extra field id + length
    offset += item.localLength + size + (big ? DESCRIPTOR64 : DESCRIPTOR);
    return item;
  });
  const cdOffset = offset;
  const cdSize = items.reduce((sum, it) => sum + CENTRAL_HEADER + it.name.length + it.centralExtra, 0);
  const zip64End =
    forceZip64 || items.length >= MAX16 || cdOffset >= limit || cdSize >= limit;
  const total = cdOffset + cdSize + (zip64End ? EOCD64 + EOCD64_LOCATOR : 0) + EOCD;
  if (!Number.isSafeInteger(total)) throw new RangeError('zip: archive larger than 2^53 bytes');
  return { items, cdOffset, cdSize, zip64End, forceZip64, limit, total };
}

/**
 * Exact byte length of the archive zipTransform(entries, date, options)
 * produces (the date does not change it).
 * @param {{name: string, size: number}[]} entries from zipEntries()
 * @param {{zip64Threshold?: number, forceZip64?: boolean}} [options] testing only
 * @returns {number}
 */
export function zipSize(entries, options) {
  return layout(entries, options).total;
}

// ---------------------------------------------------------------- records

// Little-endian writer over a fresh buffer of known length.
class Writer {
  constructor(length) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }
  u16(v) {
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v) {
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v) {
    // v is a safe integer; split into two 32-bit halves.
    this.u32(v % 0x100000000);
    this.u32(Math.floor(v / 0x100000000));
  }
  raw(b) {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
}

// MS-DOS date and time (local time, 2-second resolution, years 1980-2107).
function dosDateTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new TypeError('zip: date must be a valid Date');
  }
  const year = date.getFullYear();
  if (year < 1980) return { time: 0, date: (1 << 5) | 1 }; // 1980-01-01 00:00:00
  if (year > 2107) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 };
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

function localHeader(it, dos) {
  const w = new Writer(it.localLength);
  w.u32(0x04034b50);
  w.u16(it.big ? VERSION_ZIP64 : VERSION_STORED);
  w.u16(FLAGS);
  w.u16(0); // method: stored
  w.u16(dos.time);
  w.u16(dos.date);
  w.u32(0); // CRC-32: in the data descriptor (bit 3)
  // Sizes are in the descriptor too; a ZIP64 entry marks them 0xFFFFFFFF and
  // carries a ZIP64 extra field (zero sizes), as strict readers expect.
  w.u32(it.big ? MAX32 : 0);
  w.u32(it.big ? MAX32 : 0);
  w.u16(it.name.length);
  w.u16(it.big ? LOCAL_ZIP64_EXTRA : 0);
  w.raw(it.name);
  if (it.big) {
    w.u16(0x0001);
    w.u16(16);
    w.u64(0); // original size
    w.u64(0); // compressed size
  }
  return w.bytes;
}

function descriptor(it, crc) {
  const w = new Writer(it.big ? DESCRIPTOR64 : DESCRIPTOR);
  w.u32(0x08074b50);
  w.u32(crc);
  if (it.big) {
    w.u64(it.size); // compressed
    w.u64(it.size); // original
  } else {
    w.u32(it.size);
    w.u32(it.size);
  }
  return w.bytes;
}

// Central directory and end records, in one buffer.
function trailer(plan, crcs, dos) {
  const { items, cdOffset, cdSize, zip64End, forceZip64, limit } = plan;
  const w = new Writer(plan.total - cdOffset);
  items.forEach((it, i) => {
    w.u32(0x02014b50);
    w.u16(MADE_BY_UNIX | (it.big || it.far ? VERSION_ZIP64 : VERSION_STORED));
    w.u16(it.big ? VERSION_ZIP64 : VERSION_STORED);
    w.u16(FLAGS);
    w.u16(0); // stored
    w.u16(dos.time);
    w.u16(dos.date);
    w.u32(crcs[i]);
    w.u32(it.big ? MAX32 : it.size); // compressed size
    w.u32(it.big ? MAX32 : it.size); // original size
    w.u16(it.name.length);
    w.u16(it.centralExtra);
    w.u16(0); // comment length
    w.u16(0); // disk number start
    w.u16(0); // internal attributes
    w.u32(UNIX_FILE_0644); // external attributes
    w.u32(it.far ? MAX32 : it.offset);
    w.raw(it.name);
    if (it.centralExtra) {
      // ZIP64 extra: only the fields whose classic slot holds 0xFFFFFFFF,
      // in the order original size, compressed size, header offset.
      w.u16(0x0001);
      w.u16(it.centralExtra - 4);
      if (it.big) {
        w.u64(it.size);
        w.u64(it.size);
      }
      if (it.far) w.u64(it.offset);
    }
  });
  const count = items.length;
  if (zip64End) {
    const at = cdOffset + cdSize; // offset of the ZIP64 end record
    w.u32(0x06064b50);
    w.u64(EOCD64 - 12); // size of the rest of this record
    w.u16(MADE_BY_UNIX | VERSION_ZIP64);
    w.u16(VERSION_ZIP64);
    w.u32(0); // this disk
    w.u32(0); // disk with the central directory
    w.u64(count); // entries on this disk
    w.u64(count); // entries in total
    w.u64(cdSize);
    w.u64(cdOffset);
    w.u32(0x07064b50); // locator
    w.u32(0); // disk with the ZIP64 end record
    w.u64(at);
    w.u32(1); // number of disks
  }
  // Classic end record; fields that do not fit (or all, when forced) hold
  // their all-ones marker and the ZIP64 record has the real value.
  const countField = forceZip64 || count >= MAX16 ? MAX16 : count;
  w.u32(0x06054b50);
  w.u16(0); // this disk
  w.u16(0); // disk with the central directory
  w.u16(countField);
  w.u16(countField);
  w.u32(forceZip64 || cdSize >= limit ? MAX32 : cdSize);
  w.u32(forceZip64 || cdOffset >= limit ? MAX32 : cdOffset);
  w.u16(0); // comment length
  return w.bytes;
}

// ---------------------------------------------------------------- stream

/**
 * A TransformStream from the concatenated bytes of all entries (any chunk
 * sizes) to the ZIP archive. File data is passed through (input chunks,
 * sliced at entry boundaries); only headers are allocated, and headers that
 * meet (a descriptor and the next local header, a run of empty entries) go
 * out as one chunk. The stream errors with a TypeError if the input holds
 * more or fewer bytes than the entries' total; otherwise the archive is
 * exactly zipSize(entries, options) bytes long.
 *
 * @param {{name: string, size: number}[]} entries from zipEntries()
 * @param {Date} [date] modification time stamped on every entry
 * @param {{zip64Threshold?: number, forceZip64?: boolean}} [options]
 *   testing hook only: lower the ZIP64 threshold or force ZIP64 records
 * @returns {TransformStream<Uint8Array, Uint8Array>}
 */
export function zipTransform(entries, date = new Date(), options = {}) {
  const plan = layout(entries, options);
  const dos = dosDateTime(date);
  const { items } = plan;
  const expected = items.reduce((sum, it) => sum + it.size, 0); // input bytes
  const crcs = new Array(items.length);
  let index = 0; // current entry
  let started = false; // its local header is out
  let left = 0; // its bytes still to come
  let crc = 0;
  let received = 0; // input bytes so far
  let emitted = 0; // output bytes so far
  let headers = []; // header buffers not yet enqueued

  const out = (controller, bytes) => {
    emitted += bytes.length;
    controller.enqueue(bytes);
  };
  // Enqueue the pending headers as one chunk.
  const flushHeaders = (controller) => {
    if (headers.length === 0) return;
    let bytes = headers[0];
    if (headers.length > 1) {
      bytes = new Uint8Array(headers.reduce((n, h) => n + h.length, 0));
      let at = 0;
      for (const h of headers) {
        bytes.set(h, at);
        at += h.length;
      }
    }
    headers = [];
    out(controller, bytes);
  };
  // Close the current entry with its data descriptor.
  const finish = () => {
    crcs[index] = crc;
    headers.push(descriptor(items[index], crc));
    index++;
    started = false;
  };
  // Move to the next entry that still expects data, writing the headers
  // and descriptors of empty entries on the way.
  const settle = () => {
    while (index < items.length) {
      if (!started) {
        headers.push(localHeader(items[index], dos));
        started = true;
        left = items[index].size;
        crc = 0;
      }
      if (left > 0) return;
      finish();
    }
  };

  return new TransformStream({
    transform(chunk, controller) {
      if (!(chunk instanceof Uint8Array)) {
        if (ArrayBuffer.isView(chunk)) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        else if (chunk instanceof ArrayBuffer) chunk = new Uint8Array(chunk);
        else throw new TypeError('zip: input chunks must be Uint8Array');
      }
      let pos = 0;
      while (pos < chunk.length) {
        settle();
        if (index === items.length) {
          throw new TypeError(
            `zip: input is longer than the ${expected} bytes the ${items.length} entries declare`,
          );
        }
        const take = Math.min(left, chunk.length - pos);
        const part = take === chunk.length ? chunk : chunk.subarray(pos, pos + take);
        crc = crc32(part, crc);
        flushHeaders(controller);
        out(controller, part);
        left -= take;
        pos += take;
        received += take;
        if (left === 0) finish();
      }
      flushHeaders(controller);
    },
    flush(controller) {
      settle();
      if (index < items.length) {
        throw new TypeError(
          `zip: input ended after ${received} of the ${expected} bytes the entries declare`,
        );
      }
      headers.push(trailer(plan, crcs, dos));
      flushHeaders(controller);
      if (emitted !== plan.total) {
        throw new Error(`zip: internal error, wrote ${emitted} bytes instead of ${plan.total}`);
      }
    },
  });
}
