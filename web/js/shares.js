// The shares this browser uploaded, kept in localStorage so their owner can see what is
// left of them and delete them later: id, owner token, name, expiry — never the link's
// secret and never a password.

const KEY = 'sealdrop.shares';
/** At most this many shares are remembered (the oldest are forgotten first). */
const MAX = 50;

function read() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
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

/** The remembered shares that have not expired, oldest first. */
export function list(now = Date.now()) {
  const all = read();
  const live = all.filter(
    (s) => typeof s?.id === 'string' && typeof s.ownerToken === 'string' && s.expiresAt > now,
  );
  if (live.length !== all.length) write(live);
  return live;
}

/** Remembers a share: `{ id, ownerToken, name, expiresAt }`. */
export function add({ id, ownerToken, name, expiresAt }) {
  write([...read().filter((s) => s.id !== id), { id, ownerToken, name, expiresAt }]);
}

/** Forgets a share (deleted, or gone from the server). */
export function forget(id) {
  write(read().filter((s) => s.id !== id));
}
