// Small DOM helpers and the French words of the interface. Everything from the server goes
// into the page as text nodes (never innerHTML), so a post's text cannot inject markup.

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

// X bills in dollars to the tenth of a cent: "0,015 $US", "20,00 $US".
const USD = new Intl.NumberFormat('fr-FR', {
  style: 'currency',
  currency: 'USD',
  currencyDisplay: 'code',
  minimumFractionDigits: 2,
  maximumFractionDigits: 3,
});

/** An amount in dollars as French readers write it. */
export function usd(amount) {
  return USD.format(amount);
}

export const NETWORKS = ['x', 'bluesky', 'mastodon'];
export const NETWORK_LABELS = { x: 'X', bluesky: 'Bluesky', mastodon: 'Mastodon' };

export const ROLE_LABELS = {
  admin: 'administration',
  planner: 'planification',
  editor: 'rédaction',
  crisis: 'cellule de crise',
  auditor: 'audit',
};

/** Delivery states: the word is always shown; the colour only repeats it. */
export const STATUS_LABELS = {
  queued: 'en attente',
  sending: 'envoi en cours',
  published: 'publié',
  failed: 'échec',
  'needs-attention': 'action manuelle requise',
  skipped: 'ignoré',
  cancelled: 'annulé',
};

export const POST_STATE_LABELS = {
  accepted: 'accepté',
  'awaiting-approval': "en attente d'approbation",
  recorded: 'enregistré, non publié (test ou exercice)',
};

export function statusBadge(status) {
  return h(
    'span',
    { class: `badge badge-${/^[a-z-]+$/.test(status) ? status : 'unknown'}` },
    STATUS_LABELS[status] ?? status,
  );
}

export function stateBadge(state) {
  return h(
    'span',
    { class: `badge badge-state-${/^[a-z-]+$/.test(state) ? state : 'unknown'}` },
    POST_STATE_LABELS[state] ?? state,
  );
}

/** `<time>` with the date in the given time zone (default the browser's). */
export function timeEl(iso, timeZone, { withZone = false } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, iso);
  // Fields one by one: dateStyle/timeStyle cannot be combined with timeZoneName.
  const text = new Intl.DateTimeFormat('fr-FR', {
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
  if (n < 1024) return `${n} octets`;
  const ko = n / 1024;
  if (ko < 1024) return `${ko.toLocaleString('fr-FR', { maximumFractionDigits: 1 })} Ko`;
  return `${(ko / 1024).toLocaleString('fr-FR', { maximumFractionDigits: 1 })} Mo`;
}

const UNIT_LABELS = { graphemes: 'caractères', characters: 'caractères', weighted: 'caractères pondérés' };
export function unitLabel(unit) {
  return UNIT_LABELS[unit] ?? unit;
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
  if (err.code === 'approval')
    return `${context} : refusée, vous avez envoyé ce message ; une autre personne de la cellule de crise doit l’approuver avec son propre jeton.`;
  switch (err.status) {
    case 0:
      return `${context} : le serveur ne répond pas. Vérifiez votre connexion et réessayez.`;
    case 401:
      return `${context} : jeton refusé (inconnu, révoqué ou mal copié).`;
    case 403:
      return `${context} : action non autorisée pour ce jeton.`;
    case 404:
      return `${context} : introuvable.`;
    case 409:
      return `${context} : impossible dans l'état actuel.`;
    case 422:
    case 400:
      return `${context} : la demande est refusée, rien n'a été modifié.`;
    case 429:
      return `${context} : trop de tentatives${err.retryAfter ? `, réessayez dans ${err.retryAfter} s` : ''}.`;
    case 503:
      return `${context} : le service est momentanément indisponible, rien n'est parti. Réessayez dans quelques secondes.`;
    default:
      return `${context} : erreur du serveur (${err.status}).`;
  }
}

/** The error block: a French lead, the server's own message, and the request id for support. */
export function errorBlock(err, context) {
  return h(
    'div',
    { class: 'error-block' },
    h('p', { class: 'error-lead' }, leadFor(err, context)),
    h('p', {}, 'Message du serveur : ', h('span', { lang: 'en' }, err.message)),
    err.requestId ? h('p', { class: 'request-id' }, `Identifiant de requête : ${err.requestId}`) : null,
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
