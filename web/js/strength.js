// Password strength: an estimate of how many guesses would find a password, a verdict for
// people, and passphrases to suggest. The CLI's `cli/src/strength.rs` follows the same
// rules, so the web page and `sealdrop upload` judge a password alike.
//
// The estimate is the cheapest way to spell the password out of pieces an attacker tries
// first: a common password (rank r costs log2(r + 1) bits), a word of the EFF large word
// list (log2 7776 bits), or single characters (log2 of the character set's size; one bit
// for a character that repeats the previous one or continues a run like "abc" or "321").
// Case beyond all-lower, first-upper or all-upper, and look-alike digits ("p@ssw0rd") add a
// few bits. The lists are vendored (web/vendor/): the common passwords of zxcvbn-ts and the
// EFF large word list; until they are loaded the estimate is by characters alone.

/** Where the vendored lists are served. */
const COMMON_URL = '/vendor/zxcvbn-ts/passwords.json';
const WORDS_URL = '/vendor/eff-wordlist/eff_large_wordlist.txt';
/** Characters that usually separate the words of a passphrase. */
const SEPARATORS = ' -_.,+/';
/** Only the first characters are searched for pieces; the rest count as characters. */
const ANALYSED = 128;
/** The longest common password or word looked for. */
const LONGEST_PIECE = 24;
/** Look-alike digits and symbols, read as the letters they stand for. */
const LEET = { '@': 'a', 4: 'a', 8: 'b', 3: 'e', 6: 'g', 1: 'i', '!': 'i', 0: 'o', 5: 's', $: 's', 7: 't', 2: 'z' };

/** Verdicts from weakest to strongest, with the bits each needs. */
export const LEVELS = [
  ['veryWeak', 0],
  ['weak', 28],
  ['fair', 40],
  ['strong', 52],
  ['veryStrong', 64],
];

/** Words a passphrase is made of, by default. */
export const PASSPHRASE_WORDS = 6;

let lists = null;

/**
 * Loads the vendored lists once: `{ common: Map(word → rank), words: string[], wordSet }`. The
 * estimate works without them (by characters alone), so failures leave empty lists.
 */
export function loadLists() {
  lists ??= Promise.all([
    fetch(COMMON_URL).then((r) => (r.ok ? r.json() : [])).catch(() => []),
    fetch(WORDS_URL).then((r) => (r.ok ? r.text() : '')).catch(() => ''),
  ]).then(([common, text]) => {
    const words = parseWordList(text);
    return { common: commonRanks(common), words, wordSet: new Set(words) };
  });
  return lists;
}

/** Ranks of a list of common passwords, most common first (rank 1). */
export function commonRanks(list) {
  const ranks = new Map();
  (Array.isArray(list) ? list : []).forEach((word, i) => {
    if (typeof word === 'string' && !ranks.has(word)) ranks.set(word, i + 1);
  });
  return ranks;
}

/** The words of a diceware list ("11111<TAB>abacus" lines, or one word a line). */
export function parseWordList(text) {
  const words = [];
  for (const line of String(text).split('\n')) {
    const word = line.trim().split(/\s+/).pop();
    if (word) words.push(word);
  }
  return words;
}

function charsetSize(chars) {
  let size = 0;
  if (chars.some((c) => c >= 'a' && c <= 'z')) size += 26;
  if (chars.some((c) => c >= 'A' && c <= 'Z')) size += 26;
  if (chars.some((c) => c >= '0' && c <= '9')) size += 10;
  if (chars.some((c) => c.length === 1 && c.charCodeAt(0) < 128 && !/[A-Za-z0-9]/.test(c))) size += 33;
  if (chars.some((c) => c.codePointAt(0) >= 128)) size += 100;
  return Math.max(size, 10);
}

/** Extra bits for a piece's capitals: none, the first only and all cost one bit. */
function caseBits(piece) {
  const letters = piece.filter((c) => c.toLowerCase() !== c.toUpperCase());
  const upper = letters.filter((c) => c !== c.toLowerCase()).length;
  if (upper === 0) return 0;
  if (upper === letters.length || (upper === 1 && piece[0] !== piece[0].toLowerCase())) return 1;
  return letters.length;
}

/**
 * How many guesses would find `password`: `{ bits, common }`, where the guesses are
 * 2^bits and `common` says the whole password is a common one. `known` are the lists from
 * `loadLists()` (optional).
 */
export function estimate(password, known = {}) {
  const common = known.common ?? new Map();
  const words = known.wordSet ?? (known.words ? new Set(known.words) : new Set());
  const wordBits = Math.log2(Math.max(known.words?.length ?? 7776, 2));
  const chars = [...String(password)];
  if (chars.length === 0) return { bits: 0, common: false };
  const head = chars.slice(0, ANALYSED);
  const charBits = Math.log2(charsetSize(chars));
  const sepBits = Math.log2(SEPARATORS.length);
  const lower = head.map((c) => c.toLowerCase());
  const unleet = lower.map((c) => LEET[c] ?? c);
  const best = new Array(head.length + 1).fill(Infinity);
  best[0] = 0;
  for (let end = 1; end <= head.length; end++) {
    const i = end - 1;
    const c = head[i];
    let cost = charBits;
    if (i > 0) {
      const step = c.codePointAt(0) - head[i - 1].codePointAt(0);
      if (step === 0 || step === 1 || step === -1) cost = 1;
    }
    if (SEPARATORS.includes(c)) cost = head.slice(0, i).includes(c) ? 0 : Math.min(cost, sepBits);
    best[end] = best[i] + cost;
    for (let len = 3; len <= Math.min(LONGEST_PIECE, end); len++) {
      const start = end - len;
      const piece = head.slice(start, end);
      const plain = lower.slice(start, end).join('');
      const swapped = unleet.slice(start, end).join('');
      const extra = caseBits(piece);
      let pieceBits = Infinity;
      const rank = common.get(plain);
      if (rank) pieceBits = Math.log2(rank + 1);
      if (swapped !== plain) {
        const leetRank = common.get(swapped);
        if (leetRank) pieceBits = Math.min(pieceBits, Math.log2(leetRank + 1) + 1);
        if (words.has(swapped)) pieceBits = Math.min(pieceBits, wordBits + 1);
      }
      if (words.has(plain)) pieceBits = Math.min(pieceBits, wordBits);
      if (pieceBits + extra + best[start] < best[end]) best[end] = pieceBits + extra + best[start];
    }
  }
  const bits = best[head.length] + (chars.length - head.length) * charBits;
  const whole = lower.join('');
  const isCommon = chars.length <= LONGEST_PIECE && (common.has(whole) || common.has(unleet.join('')));
  return { bits, common: isCommon };
}

/** The verdict key for an estimate: `common`, or one of LEVELS' names. */
export function verdict({ bits, common }) {
  if (common) return 'common';
  let name = LEVELS[0][0];
  for (const [level, needs] of LEVELS) if (bits >= needs) name = level;
  return name;
}

/** A uniformly random integer in [0, n), without modulo bias (rejection sampling). */
export function uniformIndex(n, random = (buf) => crypto.getRandomValues(buf)) {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError('bad range');
  const limit = Math.floor(2 ** 32 / n) * n;
  const buf = new Uint32Array(1);
  for (;;) {
    random(buf);
    if (buf[0] < limit) return buf[0] % n;
  }
}

/**
 * A passphrase of `count` words drawn uniformly from `words`, joined by "-":
 * `{ passphrase, bits }` with bits = count · log2(words). Six words of the EFF large list
 * make 77.5 bits.
 */
export function suggestPassphrase(words, count = PASSPHRASE_WORDS, random) {
  const unique = [...new Set(words)];
  if (unique.length < 2) throw new Error('no word list');
  const chosen = [];
  for (let i = 0; i < count; i++) chosen.push(unique[uniformIndex(unique.length, random)]);
  return { passphrase: chosen.join('-'), bits: count * Math.log2(unique.length) };
}
