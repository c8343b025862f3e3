// The queue (what is still to go out, with each network's state, edit and cancel for what has not
// gone out, retry for what failed) and the approvals (ordinary posts waiting for a second person,
// each shown exactly as every network will get it). Both read GET /v1/queue.

import { getJson, postJson, query, request } from './api.js';
import { planTime, networkPreview } from './compose.js';
import { announce, errorBlock, h, NETWORK_LABELS, NETWORKS, replace, showError } from './dom.js';
import { t } from './i18n.js';

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
    }
    void refreshQueue();
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
                await refreshApprovals();
              } catch (err) {
                e.target.disabled = false;
                showError(err, t('approvals.approveContext'));
              }
            },
          },
          t('approvals.approve'),
        ),
  );
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
