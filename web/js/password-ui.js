// A strength meter and a "suggest a passphrase" button under a field that sets a password.
// The verdict is in words (and a <meter> for a glance); a suggested passphrase is shown in
// clear in the field, so the person can see and copy it before sending.

import { t } from './i18n.js';
import { estimate, loadLists, suggestPassphrase, verdict } from './strength.js';

/** The highest number of bits the meter draws (more is drawn full). */
const FULL = 80;

/**
 * Adds the meter and the suggestion button after `input` (a password field). Returns
 * `{ update }`, to call after the field's value is changed by script.
 */
export function attachStrength(input) {
  const box = document.createElement('div');
  box.className = 'strength';
  const row = document.createElement('div');
  row.className = 'strength-row';
  const meter = document.createElement('meter');
  meter.min = 0;
  meter.max = FULL;
  meter.low = 40;
  meter.high = 52;
  meter.optimum = FULL;
  meter.value = 0;
  meter.id = `${input.id}-meter`;
  meter.setAttribute('aria-hidden', 'true');
  const suggest = document.createElement('button');
  suggest.type = 'button';
  suggest.className = 'link-button suggest';
  suggest.id = `${input.id}-suggest`;
  suggest.textContent = t('strength.suggest');
  row.append(meter, suggest);
  const text = document.createElement('p');
  text.className = 'strength-text';
  text.id = `${input.id}-strength`;
  text.setAttribute('aria-live', 'polite');
  box.append(row, text);
  (input.closest('.row') ?? input).after(box);
  input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), text.id].filter(Boolean).join(' '));

  let known = {};
  const update = () => {
    const value = input.value;
    if (!value) {
      meter.value = 0;
      text.textContent = '';
      box.dataset.verdict = '';
      return;
    }
    const e = estimate(value, known);
    const name = verdict(e);
    meter.value = e.common ? 0 : Math.min(FULL, e.bits);
    box.dataset.verdict = name;
    box.dataset.bits = e.bits.toFixed(1);
    text.textContent = t(`strength.${name}`);
  };
  const load = () =>
    loadLists().then((lists) => {
      known = lists;
      update();
      return lists;
    });
  input.addEventListener('focus', load, { once: true });
  input.addEventListener('input', update);
  suggest.addEventListener('click', async () => {
    const { words } = await load();
    if (words.length < 2) {
      text.textContent = t('strength.noList');
      return;
    }
    const { passphrase, bits } = suggestPassphrase(words);
    input.type = 'text';
    input.value = passphrase;
    input.dataset.suggestedBits = bits.toFixed(2);
    update();
    text.textContent = `${text.textContent} ${t('strength.suggested')}`;
    input.focus();
    input.select();
  });
  // A field emptied by the page is a password field again.
  const reset = () => {
    if (!input.value) input.type = 'password';
    update();
  };
  input.addEventListener('change', reset);
  return { update: reset };
}
