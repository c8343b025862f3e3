// The plan timeline: each action of the applied plan with its state on every network. It
// refreshes itself every 15 s while something is still queued or being sent, and stops as soon
// as nothing is moving (or the screen is left), so an idle tab does not poll for nothing.

import { getJson } from './api.js';
import { announce, h, NETWORK_LABELS, NETWORKS, replace, showError, statusBadge, timeEl } from './dom.js';

const AUTO_REFRESH_MS = 15_000;
const MOVING = new Set(['queued', 'sending']);

const X_AFTER_LABELS = {
  'crisis-only': 'X ne sert plus qu’aux messages de crise',
  frozen: 'X est gelé : plus aucune publication, même de crise',
  leave: 'compte X à fermer à la main (liste des étapes)',
};

let timer;
let visible = false;
let ctx;

const $ = (id) => document.getElementById(id);

function actionLabel(row, plan) {
  if (row.kind === 'post') return ['Publication ', h('code', {}, row.postId ?? row.key)];
  if (row.kind === 'profile')
    return 'Profil dormant « électrocardiogramme plat » (bannière, avatar, nom, bio)';
  if (row.kind === 'policy') return `Règle de X après la fin : ${X_AFTER_LABELS[plan.xAfter] ?? plan.xAfter}`;
  return row.kind;
}

function networkCell(state) {
  if (!state) return h('td', { class: 'muted' }, h('span', {}, 'non concerné'));
  const parts =
    state.parts > 1 ? h('p', { class: 'small' }, `${state.published}/${state.parts} parties publiées`) : null;
  const link = state.url
    ? h(
        'p',
        {},
        h('a', { href: state.url, rel: 'noopener noreferrer', target: '_blank' }, 'Voir la publication'),
        h('span', { class: 'visually-hidden' }, ' (nouvel onglet)'),
      )
    : null;
  const attempts = state.attempts > 1 ? h('p', { class: 'small' }, `${state.attempts} tentatives`) : null;
  const error = state.lastError
    ? h('p', { class: 'error-text' }, 'Dernière erreur : ', h('span', { lang: 'en' }, state.lastError))
    : null;
  const checklist =
    state.status === 'needs-attention' && state.checklist?.length
      ? h(
          'div',
          { class: 'checklist' },
          h('p', {}, h('strong', {}, 'À faire à la main :')),
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
    .map(([status, n]) => h('li', {}, statusBadge(status), ` : ${n}`));
  replace(
    $('plan-summary'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Plan'),
      h('dd', {}, `${plan.name} — version ${plan.version}`),
      h('dt', {}, 'Appliqué'),
      h('dd', {}, timeEl(plan.appliedAt, plan.timezone), ` par ${plan.appliedBy}`),
      h('dt', {}, 'Fin sur X'),
      h('dd', {}, timeEl(plan.sunset, plan.timezone, { withZone: true })),
      h('dt', {}, 'Ensuite'),
      h('dd', {}, X_AFTER_LABELS[plan.xAfter] ?? plan.xAfter),
    ),
    counts.length ? h('ul', { class: 'counts', 'aria-label': 'Envois par état' }, counts) : null,
  );

  const networks = NETWORKS.filter((n) => plan.rows.some((r) => r.networks[n]));
  const table = h(
    'table',
    {},
    h(
      'caption',
      {},
      `Actions du plan « ${plan.name} », dans l’ordre ; heures dans le fuseau du plan (${plan.timezone}) et en UTC`,
    ),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, `Heure (${plan.timezone})`),
        h('th', { scope: 'col' }, 'Heure (UTC)'),
        h('th', { scope: 'col' }, 'Action'),
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
  replace(
    $('plan-table'),
    plan.rows.length ? table : h('p', {}, 'Le plan appliqué ne contient aucune action.'),
  );
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
    const at = new Date().toLocaleTimeString('fr-FR');
    if (moving) {
      $('plan-auto').textContent =
        `Mis à jour à ${at}. Des envois sont en attente ou en cours : actualisation automatique toutes les 15 secondes.`;
      timer = setTimeout(() => void load(), AUTO_REFRESH_MS);
    } else {
      $('plan-auto').textContent = `Mis à jour à ${at}. Aucun envoi en cours.`;
    }
    // Only a refresh someone asked for is read out: the automatic ones would interrupt every 15 s.
    if (manual) announce(`Calendrier actualisé à ${at}.`);
  } catch (err) {
    if (!visible) return;
    if (err.status === 401) return ctx.onUnauthorised(err);
    if (err.status === 404) {
      replace($('plan-summary'));
      replace(
        $('plan-table'),
        h('p', {}, 'Aucun plan de sortie n’est encore appliqué pour votre organisation.'),
      );
      $('plan-auto').textContent = '';
    }
    showError(err, 'Calendrier du plan');
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
