// The queue (what is still to go out, with each network's state, edit and cancel for what has not
// gone out, retry for what failed) and the approvals (ordinary posts waiting for a second person,
// each shown exactly as every network will get it). Both read GET /v1/queue.

import { getJson, postJson, query, request } from './api.js';
import { planTime, networkPreview, zonedToIso } from './compose.js';
import { announce, errorBlock, h, NETWORK_LABELS, NETWORKS, replace, showError } from './dom.js';
import { language, locale, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const RETRY_ROLE = { ordinary: 'editor', crisis: 'crisis', plan: 'planner' };

const mayEdit = (me) => me.role === 'editor' || me.role === 'admin';
const mayRetry = (me, item) => me.role === 'admin' || me.role === RETRY_ROLE[item.source];

function statusBadge(status) {
  return h(
    'span',
    { class: `badge badge-${/^[a-z-]+$/.test(status) ? status : 'unknown'}` },
    t(`status.${status}`),
  );
}

async function load(ctx) {
  const range = {
    from: $('queue-from').value ? new Date($('queue-from').value).toISOString() : undefined,
    to: $('queue-to').value ? new Date($('queue-to').value).toISOString() : undefined,
  };
  try {
    return (await getJson(`/v1/queue${query(range)}`)).items;
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) ctx.onUnauthorised(err);
    else showError(err, t('queue.loadContext'));
    return undefined;
  }
}

function networkLine(ctx, item, n, refresh) {
  const s = item.networks[n];
  return h(
    'li',
    {},
    h('strong', {}, `${NETWORK_LABELS[n]} : `),
    statusBadge(s.status),
    s.parts > 1 ? ` ${t('queue.parts', { published: s.published, parts: s.parts })}` : '',
    s.lastError
      ? h('span', { class: 'error-text' }, ` ${t('queue.reason')} `, h('span', { lang: 'en' }, s.lastError))
      : '',
    s.checklist?.length
      ? h(
          'ul',
          { class: 'small' },
          s.checklist.map((c) => h('li', { lang: 'en' }, c)),
        )
      : null,
    s.retry.allowed && mayRetry(ctx.me, item)
      ? h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: async (e) => {
              e.target.disabled = true;
              try {
                await postJson(`/v1/deliveries/${encodeURIComponent(s.deliveryId)}/retry`, {});
                announce(t('queue.retried', { network: NETWORK_LABELS[n] }));
                await refresh();
              } catch (err) {
                e.target.disabled = false;
                showError(err, t('queue.retryContext'));
              }
            },
          },
          t('queue.retry', { network: NETWORK_LABELS[n] }),
        )
      : !s.retry.allowed && s.retry.reason && ['failed', 'needs-attention'].includes(s.status)
        ? h('span', { class: 'small', lang: 'en' }, ` ${s.retry.reason}`)
        : '',
  );
}

function editForm(ctx, item, refresh) {
  const id = `edit-${item.postId}`;
  const form = h(
    'form',
    { class: 'stack', id: `${id}-form`, hidden: true, novalidate: true },
    h(
      'div',
      { class: 'field' },
      h('label', { for: `${id}-text` }, t('queue.editText')),
      h('textarea', { id: `${id}-text`, rows: 4, required: true }),
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'submit' }, t('queue.save')),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          onclick: () => {
            form.hidden = true;
            $(`${id}-open`).focus();
          },
        },
        t('queue.keep'),
      ),
    ),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $(`${id}-text`).value.trim();
    if (!text) return;
    try {
      await request(`/v1/posts/${encodeURIComponent(item.postId)}`, { method: 'PATCH', body: { text } });
      announce(t('queue.edited'));
      await refresh();
    } catch (err) {
      showError(err, t('queue.editContext'));
    }
  });
  return form;
}

function itemCard(ctx, item, refresh) {
  const nets = NETWORKS.filter((n) => item.networks[n]);
  const editable = item.editable && mayEdit(ctx.me);
  const id = `edit-${item.postId}`;
  const card = h(
    'article',
    { class: 'queue-item', dataset: { key: item.key } },
    h(
      'h3',
      {},
      h('time', { datetime: item.at }, planTime(item.at)),
      ' — ',
      t(`source.${item.source}`),
      item.kind !== 'post' ? ` (${item.key})` : '',
    ),
    h('p', { class: 'post-text' }, item.text),
    item.state === 'awaiting-approval'
      ? h('p', {}, h('span', { class: 'badge badge-state-awaiting-approval' }, t('queue.awaitingApproval')))
      : null,
    item.sentBy ? h('p', { class: 'small' }, t('queue.sentBy', { person: item.sentBy })) : null,
    nets.length
      ? h(
          'ul',
          { class: 'net-states' },
          nets.map((n) => networkLine(ctx, item, n, refresh)),
        )
      : null,
    editable
      ? h(
          'div',
          { class: 'toolbar' },
          h(
            'button',
            {
              type: 'button',
              id: `${id}-open`,
              onclick: () => {
                $(`${id}-form`).hidden = false;
                $(`${id}-text`).value = item.text;
                $(`${id}-text`).focus();
              },
            },
            t('queue.edit'),
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              onclick: async () => {
                if (!confirm(t('queue.cancelConfirm'))) return;
                try {
                  await request(`/v1/posts/${encodeURIComponent(item.postId)}`, { method: 'DELETE' });
                  announce(t('queue.cancelled'));
                  await refresh();
                } catch (err) {
                  showError(err, t('queue.cancelContext'));
                }
              },
            },
            t('queue.cancel'),
          ),
        )
      : null,
    editable ? editForm(ctx, item, refresh) : null,
  );
  return card;
}

let queueCtx;
let queueWired = false;

async function refreshQueue() {
  const items = await load(queueCtx);
  if (!items) return;
  replace(
    $('queue-list'),
    items.length
      ? h(
          'div',
          { class: 'cards' },
          items.map((i) => itemCard(queueCtx, i, refreshQueue)),
        )
      : h('p', {}, t('queue.empty')),
  );
}

// The week view: seven days in the plan's time zone, each a heading and the list of what goes out
// that day, so that a screen reader can jump from day to day and nothing depends on colour.
let view = 'list';
let anchorDay;
let zone;

/** A calendar day, 'YYYY-MM-DD', as a count of days (UTC arithmetic has no DST to trip on). */
const dayNumber = (key) => Date.UTC(+key.slice(0, 4), +key.slice(5, 7) - 1, +key.slice(8, 10)) / 86_400_000;
const dayKey = (n) => new Date(n * 86_400_000).toISOString().slice(0, 10);

/** The calendar day of the instant `iso` in `timeZone`. */
function zonedDay(iso, timeZone) {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(iso));
}

/** The first day of the week (1 Monday … 7 Sunday) where the reader lives: Monday in French. */
function firstWeekday() {
  if (language() !== 'en') return 1;
  // An English reader's own region decides (Sunday in the US, Monday in the UK).
  const tag = /^en\b/i.test(navigator.language) ? navigator.language : locale();
  try {
    const l = new Intl.Locale(tag);
    return (l.getWeekInfo?.() ?? l.weekInfo)?.firstDay ?? 1;
  } catch {
    return 1;
  }
}

/** The first day of the week holding the calendar day `key`. */
function startOfWeek(key) {
  const n = dayNumber(key);
  const weekday = ((new Date(n * 86_400_000).getUTCDay() + 6) % 7) + 1;
  return n - ((weekday - firstWeekday() + 7) % 7);
}

const dayLabel = (n, opts) =>
  new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', ...opts }).format(new Date(n * 86_400_000));
const hourLabel = (iso) =>
  new Intl.DateTimeFormat(locale(), { timeZone: zone, hour: '2-digit', minute: '2-digit' }).format(
    new Date(iso),
  );

const todayIn = (timeZone) => zonedDay(new Date().toISOString(), timeZone);

async function planZone() {
  if (zone) return zone;
  try {
    zone = (await getJson('/v1/plans/current')).timezone;
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) queueCtx.onUnauthorised(err);
  }
  zone = zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone;
}

function weekEntry(item) {
  const nets = NETWORKS.filter((n) => item.networks[n] || item.targets?.includes(n));
  return h(
    'li',
    { class: 'week-item', dataset: { key: item.key } },
    h('time', { datetime: item.at }, hourLabel(item.at)),
    ' ',
    h('span', { class: 'small' }, t(`source.${item.source}`)),
    h('p', { class: 'post-text' }, item.text),
    item.state === 'awaiting-approval' && !nets.length
      ? h('p', {}, h('span', { class: 'badge badge-state-awaiting-approval' }, t('queue.awaitingApproval')))
      : null,
    nets.length
      ? h(
          'ul',
          { class: 'net-states' },
          nets.map((n) =>
            h(
              'li',
              {},
              h('strong', {}, `${NETWORK_LABELS[n]} : `),
              item.networks[n]
                ? statusBadge(item.networks[n].status)
                : h('span', { class: 'badge badge-state-awaiting-approval' }, t('queue.awaitingApproval')),
            ),
          ),
        )
      : null,
  );
}

async function refreshWeek({ focus = false } = {}) {
  const timeZone = await planZone();
  const weekStart = startOfWeek(anchorDay ?? todayIn(timeZone));
  const days = Array.from({ length: 7 }, (_, i) => weekStart + i);
  let items;
  try {
    items = (
      await getJson(
        `/v1/queue${query({
          from: zonedToIso(`${dayKey(days[0])}T00:00`, timeZone),
          to: zonedToIso(`${dayKey(days[6] + 1)}T00:00`, timeZone),
          limit: 500,
        })}`,
      )
    ).items;
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) return queueCtx.onUnauthorised(err);
    return showError(err, t('queue.loadContext'));
  }
  const byDay = new Map(days.map((d) => [dayKey(d), []]));
  for (const item of items) byDay.get(zonedDay(item.at, timeZone))?.push(item);
  const long = { weekday: 'long', day: 'numeric', month: 'long' };
  const span = {
    start: dayLabel(days[0], { day: 'numeric', month: 'short', year: 'numeric' }),
    end: dayLabel(days[6], { day: 'numeric', month: 'short', year: 'numeric' }),
  };
  $('queue-week-title').textContent = t('queue.weekTitle', { ...span, zone: timeZone });
  $('queue-week-date').value = dayKey(days[0]);
  replace(
    $('queue-week-days'),
    days.map((d) => {
      const list = byDay.get(dayKey(d));
      return h(
        'section',
        { class: 'week-day', 'aria-labelledby': `week-day-${dayKey(d)}` },
        h('h3', { id: `week-day-${dayKey(d)}` }, h('time', { datetime: dayKey(d) }, dayLabel(d, long))),
        list.length
          ? h('ul', { class: 'week-items' }, list.map(weekEntry))
          : h('p', { class: 'small' }, t('queue.dayEmpty')),
      );
    }),
  );
  if (focus) {
    announce(t('queue.weekShown', span));
    $('queue-week-title').focus();
  }
}

function setView(next) {
  view = next;
  $('queue-view-list').setAttribute('aria-pressed', String(next === 'list'));
  $('queue-view-week').setAttribute('aria-pressed', String(next === 'week'));
  $('queue-form').hidden = next !== 'list';
  $('queue-list').hidden = next !== 'list';
  $('queue-week').hidden = next !== 'week';
  return next === 'week' ? refreshWeek() : refreshQueue();
}

export const queueScreen = {
  show(ctx) {
    queueCtx = ctx;
    if (!queueWired) {
      queueWired = true;
      $('queue-form').addEventListener('submit', (e) => {
        e.preventDefault();
        void refreshQueue();
      });
      $('queue-refresh').addEventListener('click', () => void refreshQueue());
      $('queue-view-list').addEventListener('click', () => void setView('list'));
      $('queue-view-week').addEventListener('click', () => void setView('week'));
      const move = (days) => () => {
        anchorDay = days === undefined ? undefined : dayKey(dayNumber(anchorDay ?? todayIn(zone)) + days);
        void refreshWeek({ focus: true });
      };
      $('queue-week-prev').addEventListener('click', move(-7));
      $('queue-week-next').addEventListener('click', move(7));
      $('queue-week-this').addEventListener('click', move(undefined));
      $('queue-week-date').addEventListener('change', (e) => {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(e.target.value)) return;
        anchorDay = e.target.value;
        void refreshWeek({ focus: true });
      });
    }
    void setView(view);
  },
};

let approvalsCtx;
let approvalsWired = false;

async function approvalCard(item) {
  const body = {
    text: item.text,
    ...(item.variants ? { variants: item.variants } : {}),
    ...(item.language ? { language: item.language } : {}),
    networks: item.targets,
    // A time already passed means "now" to the engine, as the approval would send it.
    ...(new Date(item.at).getTime() > Date.now() + 60_000 ? { at: item.at } : {}),
  };
  let previewBlock;
  try {
    const result = await postJson('/v1/posts/preview', body);
    previewBlock = result.networks.map((n) =>
      networkPreview(
        n,
        item.images.map((im) => im.alt),
      ),
    );
  } catch (err) {
    if (err.name !== 'ApiError') throw err;
    previewBlock = errorBlock(err, t('approvals.previewContext'));
  }
  const self = item.sentBy === approvalsCtx.me.person;
  const outcome = h('div', { class: 'approve-result', 'aria-live': 'polite' });
  return h(
    'article',
    { class: 'queue-item', dataset: { key: item.key } },
    h('h3', {}, h('time', { datetime: item.at }, planTime(item.at))),
    item.sentBy ? h('p', { class: 'small' }, t('queue.sentBy', { person: item.sentBy })) : null,
    h('div', { class: 'preview' }, previewBlock),
    self
      ? h('p', { class: 'small' }, t('approvals.own'))
      : h(
          'button',
          {
            type: 'button',
            onclick: async (e) => {
              e.target.disabled = true;
              try {
                await postJson(`/v1/posts/${encodeURIComponent(item.postId)}/approve`, {});
                announce(t('approvals.approved'));
                e.target.remove();
                void followOutcome(item.postId, outcome);
              } catch (err) {
                e.target.disabled = false;
                showError(err, t('approvals.approveContext'));
              }
            },
          },
          t('approvals.approve'),
        ),
    outcome,
  );
}

const MOVING = new Set(['queued', 'sending']);
const OUTCOME_POLL_MS = 2_000;

/** Each network's state of the approved post and its link once published, until none is moving. */
async function followOutcome(postId, into) {
  let post;
  try {
    post = await getJson(`/v1/posts/${encodeURIComponent(postId)}`);
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) return approvalsCtx.onUnauthorised(err);
    return replace(into, errorBlock(err, t('approvals.outcomeContext')));
  }
  const nets = NETWORKS.filter((n) => post.networks[n]);
  replace(
    into,
    h('h4', {}, t('approvals.outcome')),
    h(
      'ul',
      { class: 'net-states' },
      nets.map((n) => {
        const s = post.networks[n];
        return h(
          'li',
          { dataset: { network: n } },
          h('strong', {}, `${NETWORK_LABELS[n]} : `),
          statusBadge(s.status),
          s.url
            ? [
                ' — ',
                h(
                  'a',
                  { href: s.url, rel: 'noopener noreferrer', target: '_blank' },
                  t('approvals.seeOn', { network: NETWORK_LABELS[n] }),
                  h('span', { class: 'visually-hidden' }, t('common.newTab')),
                ),
              ]
            : '',
          s.lastError
            ? h(
                'span',
                { class: 'error-text' },
                ` ${t('queue.reason')} `,
                h('span', { lang: 'en' }, s.lastError),
              )
            : '',
        );
      }),
    ),
  );
  // Followed while the card is on screen: once every network has answered, or the screen left.
  const moving = nets.some((n) => MOVING.has(post.networks[n].status));
  if (moving && into.isConnected && !$('screen-approbations').hidden)
    setTimeout(() => void followOutcome(postId, into), OUTCOME_POLL_MS);
}

async function refreshApprovals() {
  let items;
  try {
    items = (await getJson('/v1/queue')).items.filter(
      (i) => i.state === 'awaiting-approval' && i.source === 'ordinary',
    );
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) return approvalsCtx.onUnauthorised(err);
    return showError(err, t('queue.loadContext'));
  }
  replace(
    $('approvals-list'),
    items.length
      ? h('div', { class: 'cards' }, await Promise.all(items.map(approvalCard)))
      : h('p', {}, t('approvals.empty')),
  );
}

export const approvalsScreen = {
  show(ctx) {
    approvalsCtx = ctx;
    if (!approvalsWired) {
      approvalsWired = true;
      $('approvals-refresh').addEventListener('click', () => void refreshApprovals());
    }
    void refreshApprovals();
  },
};
