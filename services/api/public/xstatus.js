// Where X stands (GET /v1/networks/x): a banner on every screen while X is paused for lack of
// credits, with the resume for admins, and on the plan screen the month's spend against the
// budget and its crisis reserve, and the 24-hour caps. A crisis post that X refuses says so in its
// own state; this says why every ordinary X post waits.

import { getJson, postJson } from './api.js';
import { announce, h, replace, showError, timeEl, usd } from './dom.js';

const $ = (id) => document.getElementById(id);

let ctx;
/** Answers arriving after a newer request (or a sign-out) are dropped. */
let seq = 0;

function banner(x) {
  const admin = ctx.me.role === 'admin';
  return [
    h(
      'p',
      { class: 'x-banner-lead' },
      h('strong', {}, 'X en pause : crédits épuisés'),
      ' depuis ',
      timeEl(x.pausedSince),
      '.',
    ),
    h(
      'p',
      {},
      `Les publications ordinaires vers X attendent (${x.held} en attente) ; les messages de crise essaient toujours X ` +
        'et passent par Bluesky et Mastodon quand X les refuse.',
    ),
    h('p', { class: 'small' }, 'Raison : ', h('span', { lang: 'en' }, x.pausedReason)),
    admin
      ? h(
          'p',
          {},
          'Achetez des crédits dans la console développeur de X, puis : ',
          h(
            'button',
            { type: 'button', id: 'x-resume', onclick: resume },
            'Reprendre les publications sur X',
          ),
        )
      : h(
          'p',
          {},
          'Une fois des crédits achetés dans la console développeur de X, un administrateur reprend les publications.',
        ),
  ];
}

function amount(value) {
  return value === undefined ? 'non fixé' : usd(value);
}

/** The plan screen's block: spend against budget and reserve, and the 24-hour caps. */
function spendBlock(x) {
  const m = x.month;
  const w = x.window;
  const ordinary = m.budget !== undefined ? m.budget - (m.reserve ?? 0) : undefined;
  const facts = [
    h('dt', {}, 'Dépensé ce mois-ci'),
    h('dd', {}, usd(m.spent), m.budget !== undefined ? ` sur un budget de ${usd(m.budget)}` : ''),
    h('dt', {}, 'Budget mensuel'),
    h('dd', {}, amount(m.budget)),
    h('dt', {}, 'Réserve de crise'),
    h(
      'dd',
      {},
      amount(m.reserve),
      ordinary !== undefined ? ` (les publications ordinaires s’arrêtent à ${usd(ordinary)})` : '',
    ),
    h('dt', {}, 'Dernières 24 heures'),
    h(
      'dd',
      {},
      w.caps
        ? `${w.originals}/${w.caps.posts} messages (dont ${w.caps.crisisReserve} gardés pour la crise), ` +
            `${w.replies}/${w.caps.replies} réponses`
        : `${w.originals} messages, ${w.replies} réponses (pas de plafond dans le plan)`,
    ),
  ];
  return [
    h('dl', { class: 'facts' }, facts),
    m.budget
      ? h('meter', {
          id: 'x-spend-meter',
          min: 0,
          max: m.budget,
          low: ordinary,
          high: ordinary,
          optimum: 0,
          value: Math.min(m.spent, m.budget),
          'aria-label': 'Dépense X du mois par rapport au budget',
        })
      : null,
    x.paused ? h('p', { class: 'warning' }, 'X est en pause : crédits épuisés (voir la bannière).') : null,
  ];
}

function render(x) {
  const box = $('x-banner');
  if (x.paused) replace(box, banner(x));
  else box.replaceChildren();
  box.hidden = !x.paused;
  replace($('plan-x-body'), spendBlock(x));
  $('plan-x').hidden = false;
}

async function resume(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const r = await postJson('/v1/networks/x/resume', {});
    announce(
      `Publications sur X reprises : ${r.requeued} publication${r.requeued > 1 ? 's' : ''} remise${r.requeued > 1 ? 's' : ''} en file.`,
    );
    await refreshX();
  } catch (err) {
    if (err?.status === 401) ctx.onUnauthorised(err);
    else showError(err, 'Reprise de X');
    button.disabled = false;
  }
}

/** Reads X's state again and shows it; a refusal leaves the last state shown. */
export async function refreshX() {
  if (!ctx) return;
  const mine = ++seq;
  try {
    const x = await getJson('/v1/networks/x');
    if (mine === seq && ctx) render(x);
  } catch (err) {
    if (mine !== seq || !ctx) return;
    if (err?.status === 401) ctx.onUnauthorised(err);
    else showError(err, 'État de X');
  }
}

export const xStatus = {
  show(context) {
    ctx = context;
    void refreshX();
  },
  reset() {
    ctx = undefined;
    seq++;
    $('x-banner').hidden = true;
    $('x-banner').replaceChildren();
    $('plan-x').hidden = true;
    $('plan-x-body').replaceChildren();
  },
};
