// The plan screen's identity checks (GET /v1/audience/identity): the latest run's checks (the
// Bluesky handle's domain proof, the Mastodon profile's rel="me" links, the dormant X profile
// against the plan) and a short history of runs. A failed check says so in words and with its
// own mark, besides its colour; the checks' messages come from the worker, in English.

import { h, NETWORK_LABELS, replace } from './dom.js';
import { planSection } from './plan-section.js';
import { dateTime, num, t, translatePage } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** Runs shown in the history: the API keeps a month of daily runs, a week and a half is enough here. */
const HISTORY = 10;

const NETWORK_OF = { 'bluesky-domain': 'bluesky', 'mastodon-link': 'mastodon', 'x-profile': 'x' };
const STATUSES = ['ok', 'failed', 'unknown'];
// The mark repeats the word for sighted readers; screen readers get the word alone.
const MARKS = { ok: '✓', failed: '✗', unknown: '?' };

function statusOf(result) {
  return STATUSES.includes(result.status) ? result.status : 'unknown';
}

function statusBadge(status) {
  return h(
    'span',
    { class: `badge badge-identity-${status}` },
    h('span', { 'aria-hidden': 'true' }, `${MARKS[status]} `),
    t(`identity.status.${status}`),
  );
}

function timeOf(iso) {
  return h('time', { datetime: iso }, dateTime(iso));
}

function checkLabel(check) {
  return NETWORK_OF[check] ? t(`identity.check.${check}`) : check;
}

function resultsTable(run) {
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': t('identity.resultsRegion'), tabindex: '0' },
    h(
      'table',
      { class: 'identity-results' },
      h('caption', {}, t('identity.resultsCaption', { date: dateTime(run.at) })),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['colNetwork', 'colCheck', 'colSubject', 'colStatus', 'colMessage'].map((key) =>
            h('th', { scope: 'col' }, t(`identity.${key}`)),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        run.results.map((res) => {
          const status = statusOf(res);
          const network = NETWORK_OF[res.check];
          return h(
            'tr',
            { class: `identity-${status}`, dataset: { check: res.check, status } },
            h('th', { scope: 'row' }, network ? NETWORK_LABELS[network] : '—'),
            h('td', {}, checkLabel(res.check)),
            h('td', { class: 'identity-subject' }, res.subject),
            h('td', {}, statusBadge(status)),
            h('td', {}, h('span', { lang: 'en' }, res.message)),
          );
        }),
      ),
    ),
  );
}

function historyTable(runs) {
  return h(
    'details',
    { class: 'identity-history' },
    h('summary', {}, t('identity.historySummary', { n: num(runs.length) })),
    h(
      'div',
      { class: 'table-wrap', role: 'region', 'aria-label': t('identity.historyRegion'), tabindex: '0' },
      h(
        'table',
        {},
        h('caption', {}, t('identity.historyCaption')),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['colRun', 'colChecks', 'colOutcome'].map((key) =>
              h('th', { scope: 'col' }, t(`identity.${key}`)),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          runs.map((run) => {
            const unknown = run.results.filter((r) => statusOf(r) === 'unknown').length;
            const outcome = run.failed > 0 ? 'failed' : unknown > 0 ? 'unknown' : 'ok';
            return h(
              'tr',
              { class: `identity-${outcome}` },
              h('th', { scope: 'row' }, timeOf(run.at)),
              h('td', {}, num(run.results.length)),
              h(
                'td',
                {},
                statusBadge(outcome),
                ' ',
                t(`identity.outcome.${outcome}`, { failed: num(run.failed), unknown: num(unknown) }),
              ),
            );
          }),
        ),
      ),
    ),
  );
}

function render({ runs }) {
  const body = $('plan-identity-body');
  $('plan-identity').hidden = false;
  translatePage($('plan-identity'));
  const latest = runs[0];
  if (!latest) {
    replace(body, h('p', {}, t('identity.none')));
    return;
  }
  const failed = latest.results.filter((r) => statusOf(r) === 'failed').length;
  const unknown = latest.results.filter((r) => statusOf(r) === 'unknown').length;
  replace(
    body,
    h('p', {}, t('identity.latest'), ' ', timeOf(latest.at), '.'),
    h(
      'p',
      { class: failed > 0 ? 'identity-summary identity-summary-failed' : 'identity-summary' },
      failed > 0
        ? t('identity.summaryFailed', { failed: num(failed), total: num(latest.results.length) })
        : unknown > 0
          ? t('identity.summaryUnknown', { unknown: num(unknown), total: num(latest.results.length) })
          : t('identity.summaryOk', { total: num(latest.results.length) }),
    ),
    latest.results.length > 0 ? resultsTable(latest) : h('p', {}, t('identity.nothingChecked')),
    historyTable(runs.slice(0, HISTORY)),
  );
}

export const identityChecks = planSection({
  path: '/v1/audience/identity',
  id: 'plan-identity',
  titleKey: 'identity.title',
  render,
});
