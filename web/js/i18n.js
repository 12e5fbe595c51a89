// Texts in the reader's language. Every string of the interface lives in one file per
// language under lang/; adding a language is adding a file and a line in LANGUAGES.
//
// In HTML, `data-i18n="key"` sets an element's text and `data-i18n-attr="attr:key;…"`
// sets attributes (labels, placeholders).

import en from './lang/en.js';
import es from './lang/es.js';

const LANGUAGES = { en, es };

function pick() {
  const wanted = globalThis.navigator?.languages ?? [globalThis.navigator?.language ?? 'en'];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES[base]) return base;
  }
  return 'en';
}

/** The language in use (`en`, `es`, …). */
export const lang = pick();
const strings = LANGUAGES[lang];

const plurals = new Intl.PluralRules(lang);

/**
 * The text for `key`, with `{name}` placeholders replaced from `vars`. A text given as
 * `{ one, other, … }` is chosen by the plural rules of the language for `vars.count`.
 */
export function t(key, vars = {}) {
  let text = strings[key] ?? en[key] ?? key;
  if (typeof text === 'object') text = text[plurals.select(Number(vars.count))] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** Translates the document: texts, attributes, the title and `<html lang>`. */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
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
