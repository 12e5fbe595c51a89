// The shares this browser uploaded, kept in localStorage so their owner can see what is
// left of them and delete them later: id, owner token, name, size, when, expiry, download
// limit, whether a password was set, and what happened to it once it ended — never a
// password. The link itself (with the key in its #fragment) is kept only when the person
// turned on "keep my links in this browser"; turning it off removes every kept link.
//
// Ended shares (downloaded, expired, deleted) stay listed until dismissed.

const KEY = 'sealdrop.shares';
const KEEP_KEY = 'sealdrop.keepLinks';
/** At most this many shares are remembered (the oldest are forgotten first). */
const MAX = 50;

function read() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(list)
      ? list.filter((s) => typeof s?.id === 'string' && typeof s.ownerToken === 'string')
      : [];
  } catch {
    return [];
  }
}

function write(list) {
  try {
    localStorage.setItem(KEY, JSON.stringify(list.slice(-MAX)));
  } catch {
    // Storage full or disabled: the list is a convenience only.
  }
}

/** Whether links (with their keys) are kept in this browser. */
export function keepLinks() {
  try {
    return localStorage.getItem(KEEP_KEY) === '1';
  } catch {
    return false;
  }
}

/** Turns keeping links on or off; off forgets every kept link at once. */
export function setKeepLinks(on) {
  try {
    if (on) localStorage.setItem(KEEP_KEY, '1');
    else localStorage.removeItem(KEEP_KEY);
  } catch {
    // Storage disabled: nothing is kept anyway.
  }
  if (!on) write(read().map(({ link, ...rest }) => rest));
}

/**
 * The remembered shares, oldest first. A share past its expiry that had not ended is
 * marked `ended: 'expired'`.
 */
export function list(now = Date.now()) {
  const all = read();
  let changed = false;
  for (const s of all) {
    if (!s.ended && s.expiresAt <= now) {
      s.ended = 'expired';
      delete s.link;
      changed = true;
    }
  }
  if (changed) write(all);
  return all;
}

/**
 * Remembers a share: `{ id, ownerToken, name, size, files, expiresAt, dlimit, password,
 * link }`; the link only while links are kept.
 */
export function add({ id, ownerToken, name, size, files, expiresAt, dlimit, password, link }) {
  const entry = {
    id,
    ownerToken,
    name,
    size,
    files,
    uploadedAt: Date.now(),
    expiresAt,
    dlimit,
    password: Boolean(password),
  };
  if (keepLinks() && link) entry.link = link;
  write([...read().filter((s) => s.id !== id), entry]);
}

/** Changes what is remembered of a share (its downloads, its end, its password). */
export function update(id, patch) {
  write(
    read().map((s) => {
      if (s.id !== id) return s;
      const next = { ...s, ...patch };
      // An ended share's link opens nothing: do not keep its key.
      if (next.ended) delete next.link;
      return next;
    }),
  );
}

/** Forgets a share (dismissed by its owner). */
export function forget(id) {
  write(read().filter((s) => s.id !== id));
}
