// Small DOM helpers and the words every screen shares (from the catalogues). Everything from the
// server goes into the page as text nodes (never innerHTML), so a post's text cannot inject markup.

import { label, locale, num, t, usdAmount } from './i18n.js';

/** Creates an element: h('a', { href, class: 'x' }, 'text', child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** An amount in dollars as readers of the current language write it, to the tenth of a cent. */
export function usd(amount) {
  return usdAmount(amount);
}

export const NETWORKS = ['x', 'bluesky', 'mastodon'];
export const NETWORK_LABELS = { x: 'X', bluesky: 'Bluesky', mastodon: 'Mastodon' };

/** A token's role in words. */
export function roleLabel(role) {
  return label(`role.${role}`, role);
}

/** Delivery states: the word is always shown; the colour only repeats it. */
export function statusBadge(status) {
  return h(
    'span',
    { class: `badge badge-${/^[a-z-]+$/.test(status) ? status : 'unknown'}` },
    label(`status.${status}`, status),
  );
}

export function stateBadge(state) {
  return h(
    'span',
    { class: `badge badge-state-${/^[a-z-]+$/.test(state) ? state : 'unknown'}` },
    label(`postState.${state}`, state),
  );
}

/** `<time>` with the date in the given time zone (default the browser's), in the current language. */
export function timeEl(iso, timeZone, { withZone = false } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, iso);
  // Fields one by one: dateStyle/timeStyle cannot be combined with timeZoneName.
  const text = new Intl.DateTimeFormat(locale(), {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    ...(timeZone ? { timeZone } : {}),
    ...(withZone ? { timeZoneName: 'short' } : {}),
  }).format(d);
  return h('time', { datetime: d.toISOString() }, text);
}

export function formatBytes(n) {
  if (n < 1024) return t('bytes.b', { n: num(n) });
  const kb = n / 1024;
  if (kb < 1024) return t('bytes.kb', { n: num(kb, { maximumFractionDigits: 1 }) });
  return t('bytes.mb', { n: num(kb / 1024, { maximumFractionDigits: 1 }) });
}

export function unitLabel(unit) {
  return label(`unit.${unit}`, unit);
}

const status = () => document.getElementById('status');
const alertBox = () => document.getElementById('alert');

/** A progress or success message, read out politely by screen readers. */
export function announce(message) {
  alertBox().replaceChildren();
  replace(status(), h('p', {}, message));
}

export function clearMessages() {
  status().replaceChildren();
  alertBox().replaceChildren();
}

/** What a refusal means for the person in front of the screen, by status. */
function leadFor(err, context) {
  if (err.code === 'approval') return t('error.approval', { context });
  switch (err.status) {
    case 0:
      return t('error.network', { context });
    case 401:
      return t('error.unauthorised', { context });
    case 403:
      return t('error.forbidden', { context });
    case 404:
      return t('error.notFound', { context });
    case 409:
      return t('error.conflict', { context });
    case 422:
    case 400:
      return t('error.refused', { context });
    case 429:
      return err.retryAfter
        ? t('error.tooManyWait', { context, seconds: err.retryAfter })
        : t('error.tooMany', { context });
    case 503:
      return t('error.unavailable', { context });
    default:
      return t('error.server', { context, status: err.status });
  }
}

/** The error block: a lead in the reader's language, the server's own message, and the request id for support. */
export function errorBlock(err, context) {
  return h(
    'div',
    { class: 'error-block' },
    h('p', { class: 'error-lead' }, leadFor(err, context)),
    h('p', {}, t('error.serverMessage'), h('span', { lang: 'en' }, err.message)),
    err.requestId ? h('p', { class: 'request-id' }, t('error.requestId', { id: err.requestId })) : null,
  );
}

/** A problem found in the page itself (an empty field…), before anything is sent. */
export function showProblem(message) {
  status().replaceChildren();
  replace(alertBox(), h('div', { class: 'error-block' }, h('p', { class: 'error-lead' }, message)));
}

/** Shows an error in the assertive region (read out at once). Non-API errors are bugs: rethrown. */
export function showError(err, context) {
  if (!err || err.name !== 'ApiError') throw err;
  status().replaceChildren();
  replace(alertBox(), errorBlock(err, context));
}
