// Texts in the reader's language. Every string of the interface lives in one file per
// language under lang/; adding a language is adding a file and a line in LANGUAGES.
//
// The language is the one chosen in the page's language menu (kept in localStorage),
// else the first of the browser's languages we have, else English. Changing it in the
// menu reloads the page, so every text, also those the scripts set, is in one language.
//
// In HTML, `data-i18n="key"` sets an element's text and `data-i18n-attr="attr:key;…"`
// sets attributes (labels, placeholders).

import de from './lang/de.js';
import en from './lang/en.js';
import es from './lang/es.js';
import fr from './lang/fr.js';
import it from './lang/it.js';
import ptBR from './lang/pt-BR.js';

/** The languages, by BCP 47 tag, each with its name in itself (for the menu). */
export const LANGUAGES = {
  en: { name: 'English', strings: en },
  es: { name: 'Español', strings: es },
  de: { name: 'Deutsch', strings: de },
  fr: { name: 'Français', strings: fr },
  it: { name: 'Italiano', strings: it },
  'pt-BR': { name: 'Português (Brasil)', strings: ptBR },
};

/** Where the menu's choice is kept. */
const STORE_KEY = 'sealdrop.lang';

function stored() {
  try {
    return globalThis.localStorage?.getItem(STORE_KEY) ?? null;
  } catch {
    // Storage can be blocked (privacy settings): then the browser's languages decide.
    return null;
  }
}

/**
 * The language for a stored choice and the browser's language tags: the choice if we
 * have it, else the first tag we have exactly (`pt-BR`), or by its base language (`de-AT`
 * is German, `pt-PT` is the Portuguese we have), else English.
 */
export function pickLanguage(choice, wanted = []) {
  if (choice && LANGUAGES[choice]) return choice;
  const tags = Object.keys(LANGUAGES);
  for (const tag of wanted) {
    const lower = String(tag).toLowerCase();
    const exact = tags.find((t) => t.toLowerCase() === lower);
    if (exact) return exact;
    const base = lower.split('-')[0];
    const same = tags.find((t) => t.toLowerCase().split('-')[0] === base);
    if (same) return same;
  }
  return 'en';
}

function pick() {
  const nav = globalThis.navigator;
  return pickLanguage(stored(), nav?.languages?.length ? nav.languages : [nav?.language ?? 'en']);
}

/** The language in use (`en`, `es`, `pt-BR`, …). */
export const lang = pick();
const strings = LANGUAGES[lang].strings;

const plurals = new Intl.PluralRules(lang);
const numbers = new Intl.NumberFormat(lang);

/**
 * The text for `key`, with `{name}` placeholders replaced from `vars`. A text given as
 * `{ one, other, … }` is chosen by the plural rules of the language for `vars.count`.
 * Numbers are written the language's way (`1,000,000`, `1.000.000`, `1 000 000`).
 */
export function t(key, vars = {}) {
  let text = strings[key] ?? en[key] ?? key;
  if (typeof text === 'object') text = text[plurals.select(Number(vars.count))] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    const value = vars[name];
    if (typeof value === 'number') return numbers.format(value);
    return String(value ?? '');
  });
}

/**
 * Translates the document: texts, attributes, the title and `<html lang>`; and puts the
 * language menu in the page's header (once).
 */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  addMenu();
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/**
 * The language menu: a `<select>` at the end of `header.top`, each language named in
 * itself. Choosing one keeps it in localStorage and reloads the page (the send page asks
 * first while an upload runs or a fresh link was not copied).
 */
function addMenu() {
  const header = document.querySelector('header.top');
  if (!header || document.getElementById('lang-menu')) return;
  const label = document.createElement('label');
  label.className = 'lang-menu';
  const text = document.createElement('span');
  text.className = 'visually-hidden';
  text.dataset.i18n = 'common.language';
  text.textContent = t('common.language');
  const select = document.createElement('select');
  select.id = 'lang-menu';
  for (const [tag, { name }] of Object.entries(LANGUAGES)) {
    const option = new Option(name, tag, false, tag === lang);
    option.lang = tag;
    select.append(option);
  }
  select.addEventListener('change', () => {
    try {
      localStorage.setItem(STORE_KEY, select.value);
    } catch {
      // Storage is blocked, so the choice cannot be kept: stay as we are.
      select.value = lang;
      return;
    }
    globalThis.location.reload();
  });
  label.append(text, select);
  header.append(label);
}

const units = ['B', 'KB', 'MB', 'GB', 'TB'];

/** A byte count for people: `1.5 MB` (powers of 1000, as file managers show). */
export function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(value)} ${units[unit]}`;
}

/** A duration for people, rounded to its largest unit: `5 minutes`, `2 days`. */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const steps = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  for (const [unit, size] of steps) {
    // 23 h 59 min is "1 day", not "24 hours".
    if (seconds >= size * 0.98 || unit === 'second') {
      const n = Math.max(1, Math.round(seconds / size));
      return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'long' }).format(n);
    }
  }
  return '';
}

/**
 * A wait for people, from a `Retry-After` in seconds: `45s`/`45 s` up to two minutes
 * (counted down second by second), else rounded like formatDuration (`5 minutes`).
 */
export function formatWait(seconds) {
  const n = Math.max(0, Math.ceil(seconds));
  if (n >= 120) return formatDuration(n * 1000);
  return new Intl.NumberFormat(lang, { style: 'unit', unit: 'second', unitDisplay: 'narrow' }).format(n);
}

/**
 * Counts down from `seconds`, calling `tick(left)` (whole seconds left) now and as it
 * runs, then `done()` at zero. Returns a function that stops it.
 */
export function countdown(seconds, tick, done) {
  const end = performance.now() + Math.max(0, seconds) * 1000;
  let timer = null;
  const step = () => {
    const left = Math.ceil((end - performance.now()) / 1000);
    if (left <= 0) {
      done();
      return;
    }
    tick(left);
    timer = setTimeout(step, 250);
  };
  step();
  return () => clearTimeout(timer);
}

/**
 * Seconds to wait before trying again after a 429: the error's `retryAfter` (from the
 * `Retry-After` header), else the server's own sentence ("…; try again in 30 seconds",
 * built from the same value), else `fallback`.
 */
export function retryAfterOf(err, fallback = 30) {
  const given = Number(err?.retryAfter);
  if (Number.isFinite(given) && given >= 0) return given;
  const said = /try again in (\d+) seconds?/i.exec(String(err?.message ?? ''));
  return said ? Number(said[1]) : fallback;
}
