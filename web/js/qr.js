// QR code of a share link, drawn as SVG.
//
// The encoding itself (Reed-Solomon, module placement, masks) is done by the
// vendored qrcode-generator (MIT, Kazuhiko Arase; web/vendor/README.md); this
// module only feeds it UTF-8 bytes and turns its modules into an <svg>
// without inline styles, as the page's Content-Security-Policy requires.
// Works in pages and in Node (qrSvg needs a `document`-like object).

import qrcode from '../vendor/qrcode-generator/qrcode.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

// Byte-mode capacity of the largest symbol (version 40) at error correction
// level M: 2334 data codewords, less 4 bits of mode and 16 of length.
const MAX_BYTES = 2331;

const utf8 = new TextEncoder();

/**
 * The modules of the QR code for `text`: byte mode holding its UTF-8 bytes,
 * error correction level M, the smallest version that fits.
 * @param {string} text
 * @returns {{size: number, dark: (x: number, y: number) => boolean}}
 *   `size` modules per side (no quiet zone); dark(x, y) with x the column
 *   and y the row, both from 0; false outside the symbol.
 * @throws {RangeError} if the text does not fit in a version 40 symbol
 */
export function qrMatrix(text) {
  const bytes = utf8.encode(String(text));
  if (bytes.length > MAX_BYTES) {
    throw new RangeError(`qrMatrix: ${bytes.length} bytes do not fit in a QR code (max ${MAX_BYTES})`);
  }
  const qr = qrcode(0, 'M'); // type number 0: the smallest version that fits
  // The library turns a string into bytes by taking each UTF-16 code unit
  // & 0xff, so a string with one code unit per UTF-8 byte hands it exactly
  // these bytes (without changing its module-wide stringToBytes setting).
  qr.addData(String.fromCharCode(...bytes), 'Byte');
  try {
    qr.make();
  } catch (e) {
    // The library throws strings; the capacity check above should make
    // this unreachable.
    throw new RangeError(`qrMatrix: cannot encode: ${e}`);
  }
  const size = qr.getModuleCount();
  const cells = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) cells[y * size + x] = qr.isDark(y, x) ? 1 : 0; // isDark(row, col)
  }
  return {
    size,
    dark: (x, y) => x >= 0 && y >= 0 && x < size && y < size && cells[y * size + x] === 1,
  };
}

/**
 * An <svg> element showing the QR code of `text`: a white background
 * <rect> and one black <path> made of one horizontal run per row segment
 * of dark modules, in module units with a quiet zone of `border` modules.
 * Colours are presentation attributes (no `style`), so the strict CSP
 * holds; the caller adds a CSS class for its size and an aria-label.
 * @param {string} text
 * @param {Document} [doc] the document that creates the elements
 * @param {number} [border=4] quiet zone in modules (4 is the standard's minimum)
 * @returns {SVGSVGElement}
 */
export function qrSvg(text, doc = globalThis.document, border = 4) {
  if (!doc || typeof doc.createElementNS !== 'function') {
    throw new TypeError('qrSvg: needs a document to create the elements');
  }
  if (!Number.isInteger(border) || border < 0) throw new RangeError('qrSvg: border must be a whole number >= 0');
  const { size, dark } = qrMatrix(text);
  const full = size + 2 * border;

  // "M x y h n v 1 h -n z" per run of n dark modules in a row.
  let d = '';
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; ) {
      if (!dark(x, y)) {
        x++;
        continue;
      }
      const start = x;
      while (dark(x, y)) x++;
      const n = x - start;
      d += `M${start + border} ${y + border}h${n}v1h-${n}z`;
    }
  }

  const el = (name, attrs) => {
    const node = doc.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  };
  const svg = el('svg', {
    viewBox: `0 0 ${full} ${full}`,
    'shape-rendering': 'crispEdges',
    role: 'img',
  });
  svg.appendChild(el('rect', { x: 0, y: 0, width: full, height: full, fill: '#ffffff' }));
  svg.appendChild(el('path', { d, fill: '#000000' }));
  return svg;
}
