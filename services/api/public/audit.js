// The audit log for auditors: filters, pages by cursor, the CSV export of the filtered entries,
// and the check of the hash chain that shows whether any entry was altered or removed.

import { getJson, query, request } from './api.js';
import { announce, h, NETWORK_LABELS, replace, showError, timeEl } from './dom.js';
import { label, locale, num, t, tn } from './i18n.js';

const PAGE_SIZE = 100;
// The API's ceiling for one answer: the export takes everything the filters match, up to it.
const EXPORT_LIMIT = 10_000;

const COLUMNS = ['seq', 'date', 'actor', 'action', 'network', 'post', 'outcome', 'error', 'details'];

let ctx;
let visible = false;
let filters = {};
// The cursors of the pages already seen, to say which page this is.
let pages = [undefined];
// The last check of the chain, shown again in the other language when it changes.
let lastVerify;

const $ = (id) => document.getElementById(id);

/** datetime-local gives the browser's local time without a zone; the API wants an instant. */
function instant(value) {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function readFilters() {
  const form = $('audit-form');
  const f = new FormData(form);
  const value = (k) => String(f.get(k) ?? '').trim();
  return {
    from: instant(value('from')),
    to: instant(value('to')),
    actor: value('actor'),
    action: value('action'),
    network: value('network'),
    post: value('post'),
  };
}

function describe(f) {
  const parts = [];
  if (f.from) parts.push(t('audit.describeFrom', { at: new Date(f.from).toLocaleString(locale()) }));
  if (f.to) parts.push(t('audit.describeTo', { at: new Date(f.to).toLocaleString(locale()) }));
  if (f.actor) parts.push(t('audit.describeActor', { actor: f.actor }));
  if (f.action) parts.push(t('audit.describeAction', { action: f.action }));
  if (f.network) parts.push(t('audit.describeNetwork', { network: NETWORK_LABELS[f.network] ?? f.network }));
  if (f.post) parts.push(t('audit.describePost', { post: f.post }));
  return parts.length ? parts.join(', ') : t('audit.noFilter');
}

function summary(entry) {
  const bits = [];
  if (entry.remoteId) bits.push(t('audit.remoteId', { id: entry.remoteId }));
  if (entry.deliveryId) bits.push(t('audit.deliveryId', { id: entry.deliveryId }));
  if (entry.details && typeof entry.details === 'object') {
    const d = entry.details;
    if (d.route) bits.push(`${d.method ?? ''} ${d.route}`.trim());
    if (d.url) bits.push(String(d.url));
  }
  return bits.join(' · ');
}

function renderEntries(entries, pageIndex) {
  const table = h(
    'table',
    {},
    h(
      'caption',
      {},
      tn('audit.caption', entries.length, { page: num(pageIndex + 1), filters: describe(filters) }),
    ),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        COLUMNS.map((c) => h('th', { scope: 'col' }, t(`audit.col-${c}`))),
      ),
    ),
    h(
      'tbody',
      {},
      entries.map((e) =>
        h(
          'tr',
          { dataset: { action: e.action } },
          h('th', { scope: 'row' }, String(e.seq)),
          h('td', {}, timeEl(e.at)),
          h('td', {}, e.actor),
          h('td', {}, h('code', {}, e.action)),
          h('td', {}, e.network ? (NETWORK_LABELS[e.network] ?? e.network) : '—'),
          h('td', {}, e.postId ?? '—'),
          h(
            'td',
            {},
            h(
              'span',
              { class: `outcome outcome-${/^[a-z-]+$/.test(e.outcome) ? e.outcome : 'other'}` },
              e.outcome ? label(`outcome.${e.outcome}`, e.outcome) : '—',
            ),
          ),
          h('td', {}, e.error ? h('span', { lang: 'en' }, e.error) : '—'),
          h('td', { class: 'small' }, summary(e) || '—'),
        ),
      ),
    ),
  );
  replace(
    $('audit-table'),
    entries.length ? table : h('p', {}, t('audit.noEntry', { filters: describe(filters) })),
  );
}

async function loadPage(pageIndex, { announceIt = true } = {}) {
  const cursor = pages[pageIndex];
  $('audit-table').setAttribute('aria-busy', 'true');
  try {
    const body = await getJson(`/v1/audit${query({ ...filters, cursor, limit: PAGE_SIZE })}`);
    renderEntries(body.entries, pageIndex);
    pages = pages.slice(0, pageIndex + 1);
    if (body.nextCursor !== undefined) pages.push(body.nextCursor);
    $('audit-next').hidden = body.nextCursor === undefined;
    $('audit-next').dataset.page = String(pageIndex + 1);
    $('audit-first').hidden = pageIndex === 0;
    if (announceIt)
      announce(
        tn(body.nextCursor !== undefined ? 'audit.pageMore' : 'audit.page', body.entries.length, {
          page: num(pageIndex + 1),
        }),
      );
  } catch (err) {
    if (err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('audit.title'));
  } finally {
    $('audit-table').removeAttribute('aria-busy');
  }
}

function filename(res) {
  const m = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '');
  return m ? m[1] : 'audit.csv';
}

/**
 * The CSV needs the bearer token, which a plain link cannot send: fetch it, then hand the
 * bytes to the browser's download through a Blob and a temporary <a download>.
 */
async function downloadCsv() {
  const button = $('audit-csv');
  button.disabled = true;
  try {
    const res = await request(`/v1/audit${query({ ...filters, format: 'csv', limit: EXPORT_LIMIT })}`);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: filename(res), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    // The download has taken its copy by the next tick; the URL would otherwise hold the bytes.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    announce(t('audit.csvDone', { filters: describe(filters) }));
  } catch (err) {
    if (err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('audit.csvContext'));
  } finally {
    button.disabled = false;
  }
}

function renderVerify(r) {
  // The API counts this organisation's entries only, and gives a number only for its own entry.
  const text = r.ok
    ? tn('audit.intact', r.checked, { ms: num(r.ms) })
    : r.firstBad?.seq
      ? t('audit.brokenAt', { seq: r.firstBad.seq, reason: r.firstBad?.reason, checked: num(r.checked) })
      : t('audit.broken', { reason: r.firstBad?.reason, checked: num(r.checked) });
  replace(
    $('audit-verify-result'),
    h(
      'p',
      { class: r.ok ? 'verify-ok' : 'verify-bad' },
      h('strong', {}, t(r.ok ? 'audit.intactLead' : 'audit.brokenLead')),
      text,
    ),
  );
}

async function verify() {
  const button = $('audit-verify');
  const box = $('audit-verify-result');
  button.disabled = true;
  announce(t('audit.verifying'));
  try {
    const r = await getJson('/v1/audit/verify');
    lastVerify = r;
    renderVerify(r);
    announce(t(r.ok ? 'audit.verifiedOk' : 'audit.verifiedBad'));
  } catch (err) {
    if (err.status === 401) return ctx.onUnauthorised(err);
    lastVerify = undefined;
    replace(box);
    showError(err, t('audit.verifyContext'));
  } finally {
    button.disabled = false;
  }
}

$('audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  filters = readFilters();
  pages = [undefined];
  void loadPage(0);
});
$('audit-form').addEventListener('reset', () => {
  // The reset event comes before the fields are cleared: read them on the next tick.
  setTimeout(() => {
    // The sign-out also resets the form: nothing to load then.
    if (!visible) return;
    filters = readFilters();
    pages = [undefined];
    void loadPage(0);
  });
});
$('audit-next').addEventListener('click', () => void loadPage(Number($('audit-next').dataset.page)));
$('audit-first').addEventListener('click', () => void loadPage(0));
$('audit-csv').addEventListener('click', () => void downloadCsv());
$('audit-verify').addEventListener('click', () => void verify());

export const auditScreen = {
  show(context) {
    ctx = context;
    visible = true;
    void loadPage(0, { announceIt: false });
    if (lastVerify) renderVerify(lastVerify);
  },
  hide() {
    visible = false;
  },
  reset() {
    visible = false;
    $('audit-form').reset();
    filters = {};
    pages = [undefined];
    replace($('audit-table'));
    replace($('audit-verify-result'));
    lastVerify = undefined;
    $('audit-next').hidden = true;
    $('audit-first').hidden = true;
  },
};
