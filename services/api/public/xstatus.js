// Where X stands (GET /v1/networks/x): a banner on every screen while X is paused for lack of
// credits, with the resume for admins, and on the plan screen the month's spend against the
// budget and its crisis reserve, and the 24-hour caps. A crisis post that X refuses says so in its
// own state; this says why every ordinary X post waits.

import { getJson, postJson } from './api.js';
import { announce, h, replace, showError, timeEl, usd } from './dom.js';
import { num, t, tn } from './i18n.js';

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
      h('strong', {}, t('xstatus.paused')),
      t('xstatus.since'),
      timeEl(x.pausedSince),
      t('xstatus.sinceEnd'),
    ),
    h('p', {}, t('xstatus.held', { n: num(x.held) })),
    h('p', { class: 'small' }, t('xstatus.reason'), h('span', { lang: 'en' }, x.pausedReason)),
    admin
      ? h(
          'p',
          {},
          t('xstatus.buyThen'),
          h('button', { type: 'button', id: 'x-resume', onclick: resume }, t('xstatus.resume')),
        )
      : h('p', {}, t('xstatus.adminResumes')),
  ];
}

function amount(value) {
  return value === undefined ? t('xstatus.notSet') : usd(value);
}

/** The plan screen's block: spend against budget and reserve, and the 24-hour caps. */
function spendBlock(x) {
  const m = x.month;
  const w = x.window;
  const ordinary = m.budget !== undefined ? m.budget - (m.reserve ?? 0) : undefined;
  const facts = [
    h('dt', {}, t('xstatus.spent')),
    h('dd', {}, usd(m.spent), m.budget !== undefined ? t('xstatus.ofBudget', { budget: usd(m.budget) }) : ''),
    h('dt', {}, t('xstatus.budget')),
    h('dd', {}, amount(m.budget)),
    h('dt', {}, t('xstatus.reserve')),
    h(
      'dd',
      {},
      amount(m.reserve),
      ordinary !== undefined ? t('xstatus.ordinaryStop', { amount: usd(ordinary) }) : '',
    ),
    h('dt', {}, t('xstatus.window')),
    h(
      'dd',
      {},
      w.caps
        ? t('xstatus.windowCapped', {
            originals: num(w.originals),
            posts: num(w.caps.posts),
            reserve: num(w.caps.crisisReserve),
            replies: num(w.replies),
            maxReplies: num(w.caps.replies),
          })
        : t('xstatus.windowUncapped', { originals: num(w.originals), replies: num(w.replies) }),
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
          'aria-label': t('xstatus.meter'),
        })
      : null,
    x.paused ? h('p', { class: 'warning' }, t('xstatus.pausedNote')) : null,
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
    announce(tn('xstatus.resumed', r.requeued));
    await refreshX();
  } catch (err) {
    if (err?.status === 401) ctx.onUnauthorised(err);
    else showError(err, t('xstatus.resumeContext'));
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
    else showError(err, t('xstatus.stateContext'));
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
