// The plan timeline: each action of the applied plan with its state on every network. It
// refreshes itself every 15 s while something is still queued or being sent, and stops as soon
// as nothing is moving (or the screen is left), so an idle tab does not poll for nothing.

import { getJson } from './api.js';
import { announce, h, NETWORK_LABELS, NETWORKS, replace, showError, statusBadge, timeEl } from './dom.js';
import { label, locale, num, t } from './i18n.js';

const AUTO_REFRESH_MS = 15_000;
const MOVING = new Set(['queued', 'sending']);

const xAfterLabel = (xAfter) => label(`xAfter.${xAfter}`, xAfter);

let timer;
let visible = false;
let ctx;

const $ = (id) => document.getElementById(id);

function actionLabel(row, plan) {
  if (row.kind === 'post') return [t('plan.actionPost'), h('code', {}, row.postId ?? row.key)];
  if (row.kind === 'profile') return t('plan.actionProfile');
  if (row.kind === 'policy') return t('plan.actionPolicy', { rule: xAfterLabel(plan.xAfter) });
  return row.kind;
}

function networkCell(state) {
  if (!state) return h('td', { class: 'muted' }, h('span', {}, t('plan.notConcerned')));
  const parts =
    state.parts > 1
      ? h(
          'p',
          { class: 'small' },
          t('plan.partsPublished', { published: num(state.published), parts: num(state.parts) }),
        )
      : null;
  const link = state.url
    ? h(
        'p',
        {},
        h('a', { href: state.url, rel: 'noopener noreferrer', target: '_blank' }, t('plan.seePost')),
        h('span', { class: 'visually-hidden' }, t('common.newTab')),
      )
    : null;
  const attempts =
    state.attempts > 1 ? h('p', { class: 'small' }, t('plan.attempts', { n: num(state.attempts) })) : null;
  const error = state.lastError
    ? h('p', { class: 'error-text' }, t('plan.lastError'), h('span', { lang: 'en' }, state.lastError))
    : null;
  const checklist =
    state.status === 'needs-attention' && state.checklist?.length
      ? h(
          'div',
          { class: 'checklist' },
          h('p', {}, h('strong', {}, t('plan.checklist'))),
          h(
            'ul',
            {},
            state.checklist.map((item) => h('li', {}, item)),
          ),
        )
      : null;
  return h('td', {}, statusBadge(state.status), parts, link, attempts, error, checklist);
}

function renderPlan(plan) {
  const counts = Object.entries(plan.counts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => h('li', {}, statusBadge(status), t('plan.count', { n: num(n) })));
  replace(
    $('plan-summary'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, t('plan.plan')),
      h('dd', {}, t('plan.nameVersion', { name: plan.name, version: plan.version })),
      h('dt', {}, t('plan.appliedLabel')),
      h('dd', {}, timeEl(plan.appliedAt, plan.timezone), t('plan.appliedBy', { who: plan.appliedBy })),
      h('dt', {}, t('plan.sunset')),
      h('dd', {}, timeEl(plan.sunset, plan.timezone, { withZone: true })),
      h('dt', {}, t('plan.then')),
      h('dd', {}, xAfterLabel(plan.xAfter)),
    ),
    counts.length ? h('ul', { class: 'counts', 'aria-label': t('plan.countsLabel') }, counts) : null,
  );

  const networks = NETWORKS.filter((n) => plan.rows.some((r) => r.networks[n]));
  const table = h(
    'table',
    {},
    h('caption', {}, t('plan.caption', { name: plan.name, zone: plan.timezone })),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, t('plan.timeIn', { zone: plan.timezone })),
        h('th', { scope: 'col' }, t('plan.timeIn', { zone: 'UTC' })),
        h('th', { scope: 'col' }, t('plan.action')),
        networks.map((n) => h('th', { scope: 'col' }, NETWORK_LABELS[n])),
      ),
    ),
    h(
      'tbody',
      {},
      plan.rows.map((row) =>
        h(
          'tr',
          {},
          h('td', {}, timeEl(row.dueAt, plan.timezone)),
          h('td', {}, timeEl(row.dueAt, 'UTC')),
          h('th', { scope: 'row' }, actionLabel(row, plan)),
          networks.map((n) => networkCell(row.networks[n])),
        ),
      ),
    ),
  );
  replace($('plan-table'), plan.rows.length ? table : h('p', {}, t('plan.noAction')));
  return plan.rows.some((r) => Object.values(r.networks).some((s) => MOVING.has(s.status)));
}

async function load({ manual = false } = {}) {
  clearTimeout(timer);
  timer = undefined;
  const button = $('plan-refresh');
  button.disabled = true;
  $('plan-table').setAttribute('aria-busy', 'true');
  try {
    const plan = await getJson('/v1/plans/current');
    if (!visible) return;
    const moving = renderPlan(plan);
    const at = new Date().toLocaleTimeString(locale());
    if (moving) {
      $('plan-auto').textContent = t('plan.autoMoving', { at });
      timer = setTimeout(() => void load(), AUTO_REFRESH_MS);
    } else {
      $('plan-auto').textContent = t('plan.autoIdle', { at });
    }
    // Only a refresh someone asked for is read out: the automatic ones would interrupt every 15 s.
    if (manual) announce(t('plan.refreshed', { at }));
  } catch (err) {
    if (!visible) return;
    if (err.status === 401) return ctx.onUnauthorised(err);
    if (err.status === 404) {
      replace($('plan-summary'));
      replace($('plan-table'), h('p', {}, t('plan.noPlan')));
      $('plan-auto').textContent = '';
    }
    showError(err, t('plan.title'));
  } finally {
    button.disabled = false;
    $('plan-table').removeAttribute('aria-busy');
  }
}

$('plan-refresh').addEventListener('click', () => void load({ manual: true }));

export const timelineScreen = {
  show(context) {
    ctx = context;
    visible = true;
    void load();
  },
  hide() {
    visible = false;
    clearTimeout(timer);
    timer = undefined;
  },
  reset() {
    replace($('plan-summary'));
    replace($('plan-table'));
    $('plan-auto').textContent = '';
  },
};
