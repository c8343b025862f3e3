// The composer (editor role): one message, optional per-network texts, up to four images with
// their alt text, a language, the networks the plan's mirror allows at the chosen time, now or at
// a time in the plan's time zone; a live preview per network from POST /v1/posts/preview (the
// engine's own texts, lengths, thread parts and X cost). The draft is kept in this browser's
// localStorage (images excepted: they stay in the page) until it is sent.

import { getJson, postJson, request } from './api.js';
import { errorBlock, h, NETWORK_LABELS, NETWORKS, replace, showError, showProblem, announce } from './dom.js';
import { dateTime, num, t, usdAmount } from './i18n.js';

const PREVIEW_DELAY_MS = 400;
const DRAFT_KEY = 'sunset.draft.compose';
const MAX_IMAGES = 4;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

let ctx;
let plan;
let images = [];
// The networks the mirror allows at the chosen time, once a preview has said; undefined before.
let allowed;
let reasons = {};
let previewTimer;
let previewSeq = 0;
let idempotencyKey = newKey();
let wired = false;

const $ = (id) => document.getElementById(id);

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The offset of `timeZone` from UTC at the instant `utcMs`, in ms. */
function zoneOffsetMs(utcMs, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(utcMs))
      .map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(
    +parts.year,
    +parts.month - 1,
    +parts.day,
    +parts.hour,
    +parts.minute,
    +parts.second,
  );
  return asUtc - utcMs;
}

/** A wall time typed in a datetime-local field, read in the plan's time zone, as an ISO instant. */
export function zonedToIso(local, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (!m) return undefined;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // Twice: the offset at the guess may differ from the one at the answer around a DST change.
  let utc = wall - zoneOffsetMs(wall, timeZone);
  utc = wall - zoneOffsetMs(utc, timeZone);
  return new Date(utc).toISOString();
}

/** Why an alt text will not help someone who cannot see the image, or undefined when it may. */
export function altProblem(alt, fileName = '') {
  const a = alt.trim();
  if (!a) return { blocking: true, text: t('compose.altMissing') };
  const base = fileName.replace(/\.[a-z0-9]+$/i, '').toLowerCase();
  if (
    /\.(png|jpe?g|gif|webp|heic|bmp|tiff?)$/i.test(a) ||
    (base && a.toLowerCase() === base) ||
    /^(img|image|photo|pic|dsc|pxl|screenshot|capture|scan)[\s_-]*\d*$/i.test(a)
  ) {
    return { blocking: true, text: t('compose.altFileName') };
  }
  if (a.length < 8) return { blocking: false, text: t('compose.altShort') };
  return undefined;
}

function when() {
  const later = $('compose-when-later').checked;
  const local = $('compose-at').value;
  return later && local && plan ? zonedToIso(local, plan.timezone) : undefined;
}

function draft() {
  const variants = {};
  for (const n of NETWORKS) {
    const v = $(`compose-variant-${n}`).value.trim();
    if (v) variants[n] = v;
  }
  return {
    text: $('compose-text').value.trim(),
    variants,
    language: $('compose-language').value.trim(),
    later: $('compose-when-later').checked,
    at: $('compose-at').value,
    unchecked: NETWORKS.filter((n) => !$(`compose-net-${n}`).checked),
  };
}

function saveDraft() {
  const d = draft();
  if (!d.text && !Object.keys(d.variants).length) localStorage.removeItem(DRAFT_KEY);
  else localStorage.setItem(DRAFT_KEY, JSON.stringify(d));
}

function restoreDraft() {
  let d;
  try {
    d = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? 'null');
  } catch {
    d = null;
  }
  if (!d) return false;
  $('compose-text').value = d.text ?? '';
  for (const n of NETWORKS) $(`compose-variant-${n}`).value = d.variants?.[n] ?? '';
  $('compose-language').value = d.language ?? '';
  $('compose-when-later').checked = Boolean(d.later);
  $('compose-when-now').checked = !d.later;
  $('compose-at').value = d.at ?? '';
  for (const n of NETWORKS) $(`compose-net-${n}`).checked = !(d.unchecked ?? []).includes(n);
  return true;
}

function bodyOf(d, { networks } = {}) {
  const at = when();
  return {
    text: d.text,
    ...(Object.keys(d.variants).length ? { variants: d.variants } : {}),
    ...(d.language ? { language: d.language } : {}),
    ...(at ? { at } : {}),
    ...(networks ? { networks } : {}),
    ...(images.length
      ? {
          images: images.map((im) => ({ data: im.data, mediaType: im.mediaType, alt: im.alt.trim() || '-' })),
        }
      : {}),
  };
}

function chosen() {
  return NETWORKS.filter((n) => (!allowed || allowed.includes(n)) && $(`compose-net-${n}`).checked);
}

/** Greys out the networks the plan's mirror or the sunset policy leaves out at this time, saying why. */
function renderNetworks() {
  for (const n of NETWORKS) {
    const box = $(`compose-net-${n}`);
    const why = $(`compose-net-${n}-why`);
    const off = allowed !== undefined && !allowed.includes(n);
    box.disabled = off;
    why.textContent = off ? (reasons[n] ?? '') : '';
    why.hidden = !off;
  }
}

function reasonFor(network, notes, at) {
  const note = notes.find((x) => x.startsWith(`${NETWORK_LABELS[network]}:`));
  if (note)
    return t('compose.leftOutBecause', { reason: note.slice(NETWORK_LABELS[network].length + 1).trim() });
  const after = plan && new Date(at ?? Date.now()).getTime() > new Date(plan.sunset).getTime();
  return t(after ? 'compose.notInMirrorAfter' : 'compose.notInMirrorBefore', {
    network: NETWORK_LABELS[network],
  });
}

function partsList(n) {
  const thread = n.parts.length > 1;
  return h(
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
          thread ? t('preview.part', { n: i + 1 }) : t('preview.length'),
          t('preview.measure', { length: num(p.length), limit: num(p.limit), unit: t(`unit.${p.unit}`) }),
          p.length > p.limit ? t('preview.tooLong') : '',
        ),
      ),
    ),
  );
}

/** One network's card, as it will be posted: shared with the approval view. */
export function networkPreview(n, imageAlts = []) {
  return h(
    'article',
    { class: 'preview-network', dataset: { network: n.network } },
    h('h3', {}, n.label),
    n.parts.length > 1
      ? h('p', {}, t('preview.thread', { count: num(n.parts.length) }))
      : h('p', { class: 'small' }, t('preview.single')),
    n.cost ? h('p', { class: 'x-cost' }, t('preview.xCost', { cost: usdAmount(n.cost.total) })) : null,
    n.cost?.warning ? h('p', { class: 'small', lang: 'en' }, n.cost.warning) : null,
    partsList(n),
    imageAlts.length
      ? h(
          'ul',
          { class: 'small', 'aria-label': t('preview.images') },
          imageAlts.map((alt) => h('li', {}, t('preview.imageAlt', { alt }))),
        )
      : null,
  );
}

async function preview() {
  const d = draft();
  const seq = ++previewSeq;
  saveDraft();
  if (!d.text) {
    replace($('compose-preview'), h('p', { class: 'hint' }, t('compose.previewEmpty')));
    return;
  }
  $('compose-preview').setAttribute('aria-busy', 'true');
  try {
    // Without networks: the answer names those the mirror allows at this time.
    const result = await postJson('/v1/posts/preview', bodyOf(d));
    if (seq !== previewSeq) return;
    allowed = result.networks.map((n) => n.network);
    reasons = Object.fromEntries(NETWORKS.map((n) => [n, reasonFor(n, result.notes, when())]));
    renderNetworks();
    const shown = result.networks.filter((n) => chosen().includes(n.network));
    const alts = images.map((im) => im.alt.trim()).filter(Boolean);
    replace(
      $('compose-preview'),
      result.notes
        .filter((x) => !NETWORKS.some((n) => x.startsWith(`${NETWORK_LABELS[n]}:`)))
        .map((x) => h('p', { class: 'small', lang: 'en' }, x)),
      shown.length ? shown.map((n) => networkPreview(n, alts)) : h('p', {}, t('compose.noNetwork')),
    );
  } catch (err) {
    if (err.name !== 'ApiError') throw err;
    if (err.status === 401) return ctx.onUnauthorised(err);
    if (seq === previewSeq) replace($('compose-preview'), errorBlock(err, t('compose.previewContext')));
  } finally {
    if (seq === previewSeq) $('compose-preview').removeAttribute('aria-busy');
  }
}

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => void preview(), PREVIEW_DELAY_MS);
}

function renderImages() {
  replace(
    $('compose-images'),
    images.map((im, i) => {
      const problem = altProblem(im.alt, im.name);
      const altId = `compose-alt-${i}`;
      const hintId = `compose-alt-${i}-hint`;
      return h(
        'fieldset',
        { class: 'image-entry' },
        h('legend', {}, t('compose.imageLegend', { n: i + 1, name: im.name })),
        h('img', { src: `data:${im.mediaType};base64,${im.data}`, alt: '', class: 'thumb' }),
        h(
          'div',
          { class: 'field' },
          h('label', { for: altId }, t('compose.altLabel')),
          h(
            'p',
            { id: hintId, class: problem ? 'warning' : 'hint' },
            problem ? problem.text : t('compose.altHint'),
          ),
          h('textarea', {
            id: altId,
            rows: 2,
            required: true,
            'aria-describedby': hintId,
            'aria-invalid': problem?.blocking ? 'true' : undefined,
            oninput: (e) => {
              im.alt = e.target.value;
              const p = altProblem(im.alt, im.name);
              const hint = $(hintId);
              hint.textContent = p ? p.text : t('compose.altHint');
              hint.className = p ? 'warning' : 'hint';
              if (p?.blocking) e.target.setAttribute('aria-invalid', 'true');
              else e.target.removeAttribute('aria-invalid');
              schedulePreview();
            },
          }),
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: () => {
              images.splice(i, 1);
              renderImages();
              schedulePreview();
            },
          },
          t('compose.removeImage', { name: im.name }),
        ),
      );
    }),
  );
  // Values are set after building: h() only sets attributes.
  images.forEach((im, i) => ($(`compose-alt-${i}`).value = im.alt));
  $('compose-image-input').disabled = images.length >= MAX_IMAGES;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addImages(files) {
  for (const file of files) {
    if (images.length >= MAX_IMAGES) {
      showProblem(t('compose.tooManyImages', { max: MAX_IMAGES }));
      break;
    }
    if (!IMAGE_TYPES.includes(file.type)) {
      showProblem(t('compose.imageType', { name: file.name }));
      continue;
    }
    images.push({ name: file.name, mediaType: file.type, data: await readFile(file), alt: '' });
  }
  $('compose-image-input').value = '';
  renderImages();
  schedulePreview();
}

async function send(event) {
  event.preventDefault();
  const d = draft();
  if (!d.text) {
    $('compose-text').setAttribute('aria-invalid', 'true');
    showProblem(t('compose.textMissing'));
    $('compose-text').focus();
    return;
  }
  $('compose-text').removeAttribute('aria-invalid');
  const bad = images.findIndex((im) => altProblem(im.alt, im.name)?.blocking);
  if (bad >= 0) {
    showProblem(t('compose.altBlocking', { n: bad + 1 }));
    $(`compose-alt-${bad}`).focus();
    return;
  }
  if (d.later && !when()) {
    showProblem(t('compose.atMissing'));
    $('compose-at').focus();
    return;
  }
  const networks = chosen();
  if (!networks.length) {
    showProblem(t('compose.noNetwork'));
    return;
  }
  const button = $('compose-send');
  button.disabled = true;
  try {
    const res = await request('/v1/posts', {
      method: 'POST',
      body: bodyOf(d, { networks }),
      headers: { 'idempotency-key': idempotencyKey },
    });
    const result = await res.json();
    idempotencyKey = newKey();
    localStorage.removeItem(DRAFT_KEY);
    replace(
      $('compose-result'),
      h(
        'p',
        {},
        t(result.state === 'awaiting-approval' ? 'compose.sentAwaiting' : 'compose.sentAccepted'),
        ' ',
        h('span', { class: 'post-id' }, result.id),
      ),
      h('p', {}, h('a', { href: '#/file' }, t('compose.seeQueue'))),
    );
    $('compose-result-section').hidden = false;
    announce(t(result.state === 'awaiting-approval' ? 'compose.sentAwaiting' : 'compose.sentAccepted'));
    clearForm();
  } catch (err) {
    if (err.name === 'ApiError' && err.status === 401) return ctx.onUnauthorised(err);
    showError(err, t('compose.sendContext'));
  } finally {
    button.disabled = false;
  }
}

function clearForm() {
  $('compose-form').reset();
  allowed = undefined;
  renderNetworks();
  images = [];
  renderImages();
  syncWhen();
  replace($('compose-preview'), h('p', { class: 'hint' }, t('compose.previewEmpty')));
}

function syncWhen() {
  const later = $('compose-when-later').checked;
  $('compose-at-field').hidden = !later;
  if (plan) $('compose-at-hint').textContent = t('compose.atHint', { zone: plan.timezone });
}

function wire() {
  if (wired) return;
  wired = true;
  const form = $('compose-form');
  form.addEventListener('submit', send);
  form.addEventListener('input', (e) => {
    if (e.target.id === 'compose-image-input' || e.target.id?.startsWith('compose-alt-')) return;
    schedulePreview();
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'when') {
      syncWhen();
      schedulePreview();
    }
    if (e.target.id?.startsWith('compose-net-')) {
      saveDraft();
      schedulePreview();
    }
  });
  $('compose-image-input').addEventListener('change', (e) => void addImages([...e.target.files]));
  $('compose-discard').addEventListener('click', () => {
    localStorage.removeItem(DRAFT_KEY);
    clearForm();
    announce(t('compose.discarded'));
  });
}

export const composeScreen = {
  async show(c) {
    ctx = c;
    wire();
    try {
      plan = plan ?? (await getJson('/v1/plans/current'));
    } catch (err) {
      if (err.name === 'ApiError' && err.status === 401) return ctx.onUnauthorised(err);
      plan = undefined;
    }
    syncWhen();
    if (restoreDraft()) {
      syncWhen();
      announce(t('compose.draftRestored'));
    }
    void preview();
  },
  hide() {
    clearTimeout(previewTimer);
  },
  reset() {
    plan = undefined;
    images = [];
  },
};

/** The plan's time for people: for the queue and the approvals. */
export function planTime(iso) {
  return plan
    ? dateTime(iso, plan.timezone, { withZone: true })
    : dateTime(iso, undefined, { withZone: true });
}
