// The crisis screen: the history of crisis messages for everyone, and for the crisis cell (and
// admin) a form with a live preview of what each network will show, the send, the follow-up of
// its state, and the second-person approval when the plan asks for one.

import { getJson, postJson, query, request } from './api.js';
import {
  announce,
  errorBlock,
  h,
  NETWORK_LABELS,
  NETWORKS,
  replace,
  showError,
  showProblem,
  stateBadge,
  statusBadge,
  timeEl,
  unitLabel,
  usd,
} from './dom.js';
import { label, locale, num, t, tn } from './i18n.js';

const PREVIEW_DELAY_MS = 400;
const FOLLOW_MS = 5_000;
const MOVING = new Set(['queued', 'sending']);
// The API's own pattern for the link (CrisisBody.link): checked here so the preview can say why
// the link is left out while it is still being typed, instead of a 400 at every keystroke.
const LINK = /^https?:\/\/\S+$/;
const ALERT_COLUMNS = ['seen', 'alert', 'level', 'areas', 'decision', 'post'];

let ctx;
let visible = false;
let previewTimer;
let previewSeq = 0;
let followTimer;
// The last send's answer: drawn again when the screen comes back or the language changes.
let lastResult;
// One key per message being composed: a double click or a retry after a lost answer sends the
// same key, and the API then returns the first post instead of posting twice.
let idempotencyKey = newKey();

// crypto.randomUUID exists only on https or localhost; getRandomValues works on a plain-http
// intranet address too, where the dashboard may well be served.
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const $ = (id) => document.getElementById(id);
const canSend = () => ctx && (ctx.me.role === 'crisis' || ctx.me.role === 'admin');
// GET /v1/crisis/feeds is for the crisis cell, auditors and admins.
const canSeeFeeds = () => ctx && ['crisis', 'auditor', 'admin'].includes(ctx.me.role);

function draft() {
  const text = $('crisis-text').value.trim();
  const link = $('crisis-link').value.trim();
  const variants = {};
  for (const n of NETWORKS) {
    const v = $(`variant-${n}`).value.trim();
    if (v) variants[n] = v;
  }
  return { text, link, variants };
}

function bodyOf(d, { forPreview }) {
  const body = { text: d.text };
  if (d.link && (!forPreview || LINK.test(d.link))) body.link = d.link;
  if (Object.keys(d.variants).length) body.variants = d.variants;
  return body;
}

/** What the crisis costs on X (X bills every post since 2026), part by part for a thread. */
function xCostLine(n) {
  const parts = n.parts.length > 1 ? ` (${n.parts.map((p) => usd(p.cost ?? 0)).join(' + ')})` : '';
  return [
    h('p', { class: 'x-cost' }, t('preview.xCost', { cost: usd(n.cost.total) }), parts),
    n.cost.warning ? h('p', { class: 'small', lang: 'en' }, n.cost.warning) : null,
  ];
}

function renderPreview(result, d) {
  const blocks = result.networks.map((n) => {
    const thread = n.parts.length > 1;
    return h(
      'article',
      { class: 'preview-network' },
      h('h3', {}, n.label),
      thread
        ? h('p', {}, t('preview.thread', { count: num(n.parts.length) }))
        : h('p', { class: 'small' }, t('preview.single')),
      n.cost ? xCostLine(n) : null,
      h(
        'ol',
        { class: 'parts' },
        n.parts.map((p, i) =>
          h(
            'li',
            {},
            h('p', { class: 'post-text' }, p.text),
            h(
              'p',
              { class: `length${p.length > p.limit ? ' over' : ''}` },
              thread ? t('preview.part', { n: num(i + 1) }) : t('preview.length'),
              t('preview.measure', { length: num(p.length), limit: num(p.limit), unit: unitLabel(p.unit) }),
              p.length > p.limit ? t('preview.tooLong') : '',
            ),
          ),
        ),
      ),
    );
  });
  const notes = [];
  if (d.link && !LINK.test(d.link)) notes.push(h('p', { class: 'warning' }, t('crisis.linkIncomplete')));
  // Why a network of the plan is left out (the sunset policy, an approval to wait for): the engine's words.
  for (const note of result.notes ?? []) notes.push(h('p', { class: 'small' }, note));
  replace($('crisis-preview'), notes, blocks.length ? blocks : h('p', {}, t('crisis.noNetwork')));
}

async function preview() {
  const d = draft();
  const seq = ++previewSeq;
  if (!d.text) {
    replace($('crisis-preview'), h('p', { class: 'hint' }, t('crisis.previewEmpty')));
    return;
  }
  $('crisis-preview').setAttribute('aria-busy', 'true');
  try {
    const result = await postJson('/v1/crisis/preview', bodyOf(d, { forPreview: true }));
    // An older answer arriving after a newer one must not overwrite it.
    if (seq === previewSeq) renderPreview(result, d);
  } catch (err) {
    if (err.name !== 'ApiError') throw err;
    if (err.status === 401) return ctx.onUnauthorised(err);
    // Shown in place, not in the alert region: it would interrupt the typing at every keystroke.
    if (seq === previewSeq) replace($('crisis-preview'), errorBlock(err, t('crisis.previewContext')));
  } finally {
    if (seq === previewSeq) $('crisis-preview').removeAttribute('aria-busy');
  }
}

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => void preview(), PREVIEW_DELAY_MS);
}

function networkStates(post) {
  const entries = NETWORKS.filter((n) => post.networks[n]);
  const cancelled = post.content?.cancelled;
  if (!entries.length && cancelled)
    return h(
      'p',
      { class: 'small' },
      cancelled.supersededBy
        ? t('crisis.supersededBy', { id: cancelled.supersededBy })
        : t('crisis.withdrawnBy', { who: byWhom(cancelled.by) }),
    );
  if (!entries.length)
    return h(
      'p',
      { class: 'small' },
      t(post.state === 'awaiting-approval' ? 'crisis.nothingBeforeApproval' : 'crisis.noDelivery'),
    );
  return h(
    'ul',
    { class: 'net-states' },
    entries.map((n) => {
      const s = post.networks[n];
      return h(
        'li',
        {},
        h('strong', {}, t('crisis.networkState', { network: NETWORK_LABELS[n] })),
        statusBadge(s.status),
        // The store has not heard back from the network yet: the badge reads « envoi en cours ».
        s.outcomeUnknown ? h('span', { class: 'checking' }, t('crisis.checking')) : '',
        s.parts > 1 ? ` ${t('queue.parts', { published: num(s.published), parts: num(s.parts) })}` : '',
        s.url
          ? [
              ' — ',
              h(
                'a',
                { href: s.url, rel: 'noopener noreferrer', target: '_blank' },
                t('crisis.seeOn', { network: NETWORK_LABELS[n] }),
                h('span', { class: 'visually-hidden' }, t('common.newTab')),
              ),
            ]
          : '',
        s.lastError
          ? h('span', { class: 'error-text' }, t('crisis.error'), h('span', { lang: 'en' }, s.lastError))
          : '',
      );
    }),
  );
}

function isMoving(post) {
  return Object.values(post.networks).some((s) => MOVING.has(s.status));
}

function approveButton(post, where) {
  if (post.state !== 'awaiting-approval' || !canSend()) return null;
  const out = h('div', { class: 'approve-result' });
  const button = h(
    'button',
    {
      type: 'button',
      'aria-describedby': `approve-hint-${where}-${post.id}`,
      onclick: async () => {
        button.disabled = true;
        try {
          const r = await postJson(`/v1/crisis/${encodeURIComponent(post.id)}/approve`, {});
          announce(t('crisis.approved', { id: r.id, state: label(`postState.${r.state}`, r.state) }));
          void loadHistory();
          if (where === 'result') void follow(r.id);
        } catch (err) {
          if (err.status === 401) return ctx.onUnauthorised(err);
          replace(out, errorBlock(err, t('crisis.approveContext')));
          showError(err, t('crisis.approveContext'));
        } finally {
          button.disabled = false;
        }
      },
    },
    t('crisis.approve'),
  );
  return h(
    'div',
    { class: 'approve' },
    h('p', { id: `approve-hint-${where}-${post.id}`, class: 'small' }, t('crisis.approveHint')),
    button,
    out,
  );
}

/** A person and the token they used; posts stored before persons existed name only the token. */
function byWhom(by) {
  if (by === undefined || typeof by === 'string') return by;
  return by.person === by.token ? by.person : t('crisis.personToken', { person: by.person, token: by.token });
}

function postCard(post) {
  const content = post.content ?? {};
  return h(
    'article',
    { class: 'crisis-card', dataset: { postId: post.id } },
    h('h3', {}, timeEl(post.createdAt, undefined, { withZone: true }), ' — ', stateBadge(post.state)),
    h('p', { class: 'post-text' }, content.text ?? ''),
    h(
      'p',
      { class: 'small' },
      t('crisis.idSentBy', { id: post.id, who: byWhom(content.sentBy) ?? post.createdBy }),
      content.approvedBy ? t('crisis.approvedBy', { who: byWhom(content.approvedBy) }) : '',
      post.replyTo ? t('crisis.replyTo', { id: post.replyTo }) : '',
    ),
    networkStates(post),
    approveButton(post, 'history'),
  );
}

async function loadHistory() {
  const box = $('crisis-history');
  box.setAttribute('aria-busy', 'true');
  try {
    const { posts } = await getJson(`/v1/crisis${query({ limit: 50 })}`);
    if (!visible) return false;
    replace(
      box,
      posts.length
        ? h(
            'ol',
            { class: 'cards', 'aria-label': t('crisis.historyLabel') },
            posts.map((p) => h('li', {}, postCard(p))),
          )
        : h('p', {}, t('crisis.historyEmpty')),
    );
    return true;
  } catch (err) {
    if (!visible) return false;
    if (err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('crisis.historyTitle'));
    return false;
  } finally {
    box.removeAttribute('aria-busy');
  }
}

function feedState(state) {
  if (!state) return h('p', { class: 'small' }, t('crisis.feedNotRead'));
  return h(
    'p',
    { class: 'small' },
    state.polledAt ? [t('crisis.feedPolled'), timeEl(state.polledAt)] : '',
    t('crisis.feedState', { state: state.status ? label(`feedStatus.${state.status}`, state.status) : '—' }),
    state.nextPollAt ? [t('crisis.feedNext'), timeEl(state.nextPollAt)] : '',
    state.errors > 0 ? tn('crisis.feedErrors', state.errors) : '',
    state.lastError ? [' — ', h('span', { class: 'error-text', lang: 'en' }, state.lastError)] : '',
  );
}

function alertRow(a) {
  const level = a.awarenessLevel
    ? t('crisis.awareness', { level: label(`level.${a.awarenessLevel}`, a.awarenessLevel) })
    : '';
  return h(
    'tr',
    { dataset: { identifier: a.identifier, kept: String(a.kept) } },
    h('td', {}, timeEl(a.seenAt)),
    h(
      'td',
      {},
      h(
        'p',
        {},
        `${label(`msgType.${a.msgType}`, a.msgType)} — `,
        h('span', {}, a.headline ?? a.event ?? ''),
      ),
      h('p', { class: 'small' }, h('code', {}, a.identifier)),
    ),
    h('td', {}, [a.severity, level, a.awarenessType].filter(Boolean).join(' · ') || '—'),
    h('td', {}, a.geocodes.length ? a.geocodes.join(', ') : a.areas.join(', ') || '—'),
    h('td', {}, t(a.kept ? 'crisis.kept' : 'crisis.filtered'), ' — ', h('span', { lang: 'en' }, a.reason)),
    h('td', {}, a.postId ? h('code', { class: 'post-id' }, a.postId) : '—'),
  );
}

function feedBlock(feed) {
  return h(
    'article',
    { class: 'feed', dataset: { feedId: feed.feedId } },
    h('h3', {}, h('span', { lang: 'en' }, feed.url)),
    h('p', { class: 'small' }, t(feed.mode === 'post' ? 'crisis.feedModePost' : 'crisis.feedModeApproval')),
    feedState(feed.state),
    feed.alerts.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {},
            h('caption', {}, t('crisis.alertsCaption', { n: num(feed.alerts.length) })),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ALERT_COLUMNS.map((c) => h('th', { scope: 'col' }, t(`crisis.col-${c}`))),
              ),
            ),
            h('tbody', {}, feed.alerts.map(alertRow)),
          ),
        )
      : h('p', {}, t('crisis.noAlert')),
  );
}

async function loadFeeds() {
  const section = $('crisis-feeds-section');
  section.hidden = !canSeeFeeds();
  if (section.hidden) return false;
  const box = $('crisis-feeds');
  box.setAttribute('aria-busy', 'true');
  try {
    const { feeds } = await getJson('/v1/crisis/feeds');
    if (!visible) return false;
    replace(box, feeds.length ? feeds.map(feedBlock) : h('p', {}, t('crisis.noFeed')));
    return true;
  } catch (err) {
    if (!visible) return false;
    if (err.status === 401) return ctx.onUnauthorised(err);
    // No applied plan yet: nothing to watch, said in place.
    if (err.status === 409) {
      replace(box, errorBlock(err, t('crisis.feedsContext')));
      return false;
    }
    showError(err, t('crisis.feedsContext'));
    return false;
  } finally {
    box.removeAttribute('aria-busy');
  }
}

const submitStateText = (state) => label(`crisis.submit-${state}`, state);

function renderSubmitResult(r) {
  replace(
    $('crisis-result'),
    h('p', {}, stateBadge(r.state), ' ', label(`crisis.submit-${r.state}`, '')),
    r.duplicate ? h('p', {}, t('crisis.duplicate')) : null,
    h('p', { class: 'small' }, t('crisis.id'), h('code', { class: 'post-id' }, r.id)),
    r.deliveries.length
      ? h(
          'ul',
          { class: 'net-states' },
          r.deliveries.map((d) =>
            h(
              'li',
              {},
              t(d.parts > 1 ? 'crisis.deliveryThread' : 'crisis.deliverySingle', {
                network: NETWORK_LABELS[d.network] ?? d.network,
                n: num(d.parts),
              }),
            ),
          ),
        )
      : null,
    r.notes.length
      ? h(
          'ul',
          { class: 'notes', 'aria-label': t('crisis.notes') },
          r.notes.map((n) => h('li', { lang: 'en' }, n)),
        )
      : null,
    h('div', { id: 'crisis-followup' }),
  );
}

/** Follows one post's state until nothing is queued or sending any more. */
async function follow(id) {
  clearTimeout(followTimer);
  followTimer = undefined;
  try {
    const post = await getJson(`/v1/crisis/${encodeURIComponent(id)}`);
    const box = $('crisis-followup');
    if (!visible || !box) return;
    replace(
      box,
      h('h3', {}, t('crisis.followTitle')),
      h('p', {}, t('crisis.state'), stateBadge(post.state)),
      networkStates(post),
      approveButton(post, 'result'),
      h(
        'p',
        { class: 'small' },
        t(isMoving(post) ? 'crisis.followMoving' : 'crisis.followDone', {
          at: new Date().toLocaleTimeString(locale()),
        }),
      ),
    );
    if (isMoving(post)) followTimer = setTimeout(() => void follow(id), FOLLOW_MS);
    else void loadHistory();
  } catch (err) {
    if (!visible) return;
    if (err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('crisis.followContext'));
  }
}

async function send(event) {
  event.preventDefault();
  const d = draft();
  const textField = $('crisis-text');
  const linkField = $('crisis-link');
  textField.removeAttribute('aria-invalid');
  linkField.removeAttribute('aria-invalid');
  if (!d.text) {
    textField.setAttribute('aria-invalid', 'true');
    showProblem(t('crisis.textMissing'));
    textField.focus();
    return;
  }
  if (d.link && !LINK.test(d.link)) {
    linkField.setAttribute('aria-invalid', 'true');
    showProblem(t('crisis.linkInvalid'));
    linkField.focus();
    return;
  }
  const button = $('crisis-send');
  button.disabled = true;
  announce(t('crisis.sending'));
  try {
    const res = await request('/v1/crisis', {
      method: 'POST',
      body: bodyOf(d, { forPreview: false }),
      headers: { 'idempotency-key': idempotencyKey },
    });
    const r = await res.json();
    $('crisis-result-section').hidden = false;
    lastResult = r;
    renderSubmitResult(r);
    announce(t('crisis.sent', { state: submitStateText(r.state), id: r.id }));
    // The next message is a new one: new key, empty form.
    idempotencyKey = newKey();
    $('crisis-form').reset();
    void preview();
    void loadHistory();
    void follow(r.id);
  } catch (err) {
    if (err.name !== 'ApiError') throw err;
    if (err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('crisis.sendContext'));
  } finally {
    button.disabled = false;
  }
}

$('crisis-form').addEventListener('input', schedulePreview);
$('crisis-form').addEventListener('submit', (event) => void send(event));
$('crisis-refresh').addEventListener('click', async () => {
  if (await loadHistory()) announce(t('crisis.refreshed'));
});
$('crisis-feeds-refresh').addEventListener('click', async () => {
  if (await loadFeeds()) announce(t('crisis.feedsRefreshed'));
});

export const crisisScreen = {
  show(context) {
    ctx = context;
    visible = true;
    $('crisis-compose').hidden = !canSend();
    void loadHistory();
    void loadFeeds();
    // What the form shows is drawn again in the current language; nothing is sent.
    if (canSend()) void preview();
    if (lastResult) {
      renderSubmitResult(lastResult);
      void follow(lastResult.id);
    }
  },
  hide() {
    visible = false;
    clearTimeout(followTimer);
    clearTimeout(previewTimer);
  },
  reset() {
    $('crisis-form').reset();
    $('crisis-result-section').hidden = true;
    replace($('crisis-result'));
    lastResult = undefined;
    replace($('crisis-history'));
    replace($('crisis-feeds'));
    $('crisis-feeds-section').hidden = true;
    replace($('crisis-preview'), h('p', { class: 'hint' }, t('crisis.previewEmpty')));
    idempotencyKey = newKey();
  },
};
