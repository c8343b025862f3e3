// The interface's words come from message catalogues (i18n/fr.js, i18n/en.js), never from the
// code: t('key', { name }) fills {name}. The language is the one chosen in this browser
// (localStorage), else the browser's own, else French; dates and numbers follow it through Intl.

import { en } from './i18n/en.js';
import { fr } from './i18n/fr.js';

const CATALOGUES = { fr, en };
const LANG_KEY = 'sunset.lang';
export const LANGUAGES = ['fr', 'en'];

function initial() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && CATALOGUES[saved]) return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = String(l).slice(0, 2).toLowerCase();
    if (CATALOGUES[base]) return base;
  }
  return 'fr';
}

let lang = initial();

export function language() {
  return lang;
}

/** The BCP 47 tag Intl formats with: fr-FR, en-GB. */
export function locale() {
  return lang === 'en' ? 'en-GB' : 'fr-FR';
}

/** Remembers the choice in this browser; the caller shows the screen again. */
export function setLanguage(next) {
  if (!CATALOGUES[next]) return;
  lang = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
}

/** The message `key` in the current language, {placeholders} filled; a missing key shows itself. */
export function t(key, vars = {}) {
  const text = CATALOGUES[lang][key] ?? CATALOGUES.fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** The message `key` if the catalogues have one (a state or role the API added later may not). */
export function label(key, fallback) {
  return key in CATALOGUES[lang] || key in CATALOGUES.fr ? t(key) : fallback;
}

/** `keyOne` or `keyOther` by the current language's plural rules for n, with {n} filled too. */
export function tn(key, n, vars = {}) {
  const one = new Intl.PluralRules(locale()).select(n) === 'one';
  return t(`${key}${one ? 'One' : 'Other'}`, { n: num(n), ...vars });
}

/** A number as people of the current language write it. */
export function num(n, options = {}) {
  return new Intl.NumberFormat(locale(), options).format(n);
}

/** A date and time in `timeZone`, as people of the current language write it. */
export function dateTime(iso, timeZone, { withZone = false } = {}) {
  return new Intl.DateTimeFormat(locale(), {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    ...(timeZone ? { timeZone } : {}),
    ...(withZone ? { timeZoneName: 'short' } : {}),
  }).format(new Date(iso));
}

/** Dollars as the current language writes them, to the tenth of a cent (X's prices). */
export function usdAmount(amount) {
  return num(amount, {
    style: 'currency',
    currency: 'USD',
    currencyDisplay: 'code',
    minimumFractionDigits: 2,
    maximumFractionDigits: 3,
  });
}

/**
 * Fills every element marked data-i18n (its text) or data-i18n-label (its aria-label) from the
 * catalogue, sets the page's language, and marks which language button is pressed.
 */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]'))
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('button[data-lang]'))
    el.setAttribute('aria-pressed', String(el.dataset.lang === lang));
}
