// The plan screen's follower chart (GET /v1/audience/followers): one line per network over time,
// drawn as inline SVG with the sunset marked, so the migration shows at a glance. Each line has
// its own dash pattern and point shape besides its colour; the caption says what the chart
// shows in words, and the same readings are there as a table.

import { h, NETWORK_LABELS, replace } from './dom.js';
import { planSection } from './plan-section.js';
import { locale, num, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';

// Colours 7:1 or more on white; the dash pattern and the point shape tell the lines apart too.
const STYLE = {
  x: { colour: '#1b1b1f', dash: undefined, shape: 'circle', pattern: 'followers.patternX' },
  bluesky: { colour: '#0b4f8a', dash: '8 4', shape: 'square', pattern: 'followers.patternBluesky' },
  mastodon: { colour: '#6a1b9a', dash: '2 3', shape: 'triangle', pattern: 'followers.patternMastodon' },
};

const WIDTH = 760;
const HEIGHT = 320;
const PAD = { top: 36, right: 24, bottom: 44, left: 72 };
/** A sunset further than this from the readings is named in the caption, not drawn. */
const SUNSET_REACH_MS = 365 * 86_400_000;

// Formats of the current language, made at each use: the language can change while the page is open.
const day = (d) => new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short' }).format(d);
const long = (d) => new Intl.DateTimeFormat(locale(), { dateStyle: 'long' }).format(d);
const stamp = (d) => new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' }).format(d);

/** Creates an SVG element: s('line', { x1, y1 }, child…). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(2)) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Round steps for the count axis: 1, 2 or 5 times a power of ten, about five of them. */
function ticks(max) {
  const raw = Math.max(1, max) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw) ?? raw;
  const out = [];
  for (let v = 0; v <= max + step / 2; v += step) out.push(v);
  return out;
}

function marker(shape, x, y, colour) {
  if (shape === 'square') return s('rect', { x: x - 3, y: y - 3, width: 6, height: 6, fill: colour });
  if (shape === 'triangle')
    return s('polygon', { points: `${x},${y - 4} ${x + 4},${y + 3} ${x - 4},${y + 3}`, fill: colour });
  return s('circle', { cx: x, cy: y, r: 3, fill: colour });
}

function chart(stats, drawn) {
  const times = drawn.flatMap((n) => n.history.map((p) => Date.parse(p.at)));
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  const sunset = stats.sunset ? Date.parse(stats.sunset) : undefined;
  const showSunset = sunset !== undefined && sunset >= t0 - SUNSET_REACH_MS && sunset <= t1 + SUNSET_REACH_MS;
  if (showSunset) {
    t0 = Math.min(t0, sunset);
    t1 = Math.max(t1, sunset);
  }
  if (t1 === t0) t1 = t0 + 3_600_000;
  const yTicks = ticks(Math.max(...drawn.flatMap((n) => n.history.map((p) => p.count))));
  const yMax = yTicks.at(-1) || 1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH;

  const grid = yTicks.map((v) =>
    s(
      'g',
      {},
      s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), stroke: '#d4d4da' }),
      s(
        'text',
        { x: PAD.left - 8, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#4a4a55' },
        num(v),
      ),
    ),
  );
  const xTicks = [];
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    xTicks.push(
      s(
        'text',
        { x: x(t), y: HEIGHT - PAD.bottom + 20, 'text-anchor': 'middle', 'font-size': 12, fill: '#4a4a55' },
        day(new Date(t)),
      ),
    );
  }
  const lines = drawn.map((n) => {
    const st = STYLE[n.network];
    const points = n.history.map((p) => [x(Date.parse(p.at)), y(p.count)]);
    return s(
      'g',
      {},
      s('polyline', {
        'data-network': n.network,
        points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' '),
        fill: 'none',
        stroke: st.colour,
        'stroke-width': 2.5,
        'stroke-dasharray': st.dash,
        'stroke-linejoin': 'round',
      }),
      // Points are drawn for a sparse history only: dense ones would hide the line.
      points.length <= 60 ? points.map(([px, py]) => marker(st.shape, px, py, st.colour)) : null,
    );
  });
  const sunsetMark = showSunset
    ? s(
        'g',
        { 'data-mark': 'sunset' },
        s('line', {
          x1: x(sunset),
          x2: x(sunset),
          y1: PAD.top - 12,
          y2: HEIGHT - PAD.bottom,
          stroke: '#c2410c',
          'stroke-width': 2,
          'stroke-dasharray': '6 3',
        }),
        s(
          'text',
          {
            x: x(sunset) + (x(sunset) > WIDTH - 140 ? -6 : 6),
            // Above the plot, where no line runs.
            y: PAD.top - 18,
            'text-anchor': x(sunset) > WIDTH - 140 ? 'end' : 'start',
            'font-size': 13,
            'font-weight': 'bold',
            fill: '#9a3412',
          },
          t('followers.sunsetMark', { date: day(new Date(sunset)) }),
        ),
      )
    : null;
  return s(
    'svg',
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      width: '100%',
      role: 'img',
      'aria-labelledby': 'followers-chart-title followers-chart-desc',
      class: 'followers-chart',
    },
    s('title', { id: 'followers-chart-title' }, t('followers.chartTitle')),
    s('desc', { id: 'followers-chart-desc' }, summary(stats, drawn)),
    grid,
    s('line', {
      x1: PAD.left,
      x2: WIDTH - PAD.right,
      y1: HEIGHT - PAD.bottom,
      y2: HEIGHT - PAD.bottom,
      stroke: '#6f6f7b',
    }),
    xTicks,
    sunsetMark,
    lines,
  );
}

/** The chart in words: each network's first and latest count, and the sunset. */
function summary(stats, drawn) {
  const parts = drawn.map((n) => {
    const change = n.change ?? 0;
    const signed = change > 0 ? `+${num(change)}` : num(change);
    return t('followers.change', {
      network: NETWORK_LABELS[n.network],
      first: num(n.first.count),
      latest: num(n.latest.count),
      signed,
    });
  });
  const first = Math.min(...drawn.map((n) => Date.parse(n.first.at)));
  const last = Math.max(...drawn.map((n) => Date.parse(n.latest.at)));
  const sunset = stats.sunset ? t('followers.summarySunset', { date: long(new Date(stats.sunset)) }) : '';
  return t('followers.summary', {
    from: long(new Date(first)),
    to: long(new Date(last)),
    parts: parts.join(t('followers.separator')),
    sunset,
  });
}

function legend(drawn) {
  return h(
    'ul',
    { class: 'followers-legend', 'aria-label': t('followers.legend') },
    drawn.map((n) => {
      const st = STYLE[n.network];
      return h(
        'li',
        {},
        s(
          'svg',
          { width: 36, height: 12, 'aria-hidden': 'true', focusable: 'false' },
          s('line', {
            x1: 0,
            x2: 36,
            y1: 6,
            y2: 6,
            stroke: st.colour,
            'stroke-width': 2.5,
            'stroke-dasharray': st.dash,
          }),
          marker(st.shape, 18, 6, st.colour),
        ),
        t('followers.legendItem', {
          network: NETWORK_LABELS[n.network],
          pattern: t(st.pattern),
          count: num(n.latest.count),
        }),
      );
    }),
  );
}

function table(drawn) {
  const times = [...new Set(drawn.flatMap((n) => n.history.map((p) => p.at)))].sort();
  const byNetwork = Object.fromEntries(
    drawn.map((n) => [n.network, new Map(n.history.map((p) => [p.at, p.count]))]),
  );
  return h(
    'details',
    { class: 'followers-data' },
    h('summary', {}, t('followers.tableToggle')),
    h(
      'div',
      { class: 'table-wrap', role: 'region', 'aria-label': t('followers.tableLabel'), tabindex: '0' },
      h(
        'table',
        {},
        h('caption', {}, t('followers.tableCaption')),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, t('followers.reading')),
            drawn.map((n) => h('th', { scope: 'col' }, NETWORK_LABELS[n.network])),
          ),
        ),
        h(
          'tbody',
          {},
          times.map((at) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, h('time', { datetime: at }, stamp(new Date(at)))),
              drawn.map((n) => {
                const count = byNetwork[n.network].get(at);
                return h('td', {}, count === undefined ? '—' : num(count));
              }),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Why a network has no line, or why its count is old: the worker's last attempt. */
function notes(stats) {
  const items = stats.networks
    .filter((n) => n.task?.status && n.task.status !== 'ok')
    .map((n) =>
      h(
        'li',
        {},
        t(n.task.status === 'skipped' ? 'followers.skipped' : 'followers.failed', {
          network: NETWORK_LABELS[n.network],
        }),
        n.task.message ? [' (', h('span', { lang: 'en' }, n.task.message), ')'] : null,
      ),
    );
  return items.length ? h('ul', { class: 'small' }, items) : null;
}

function render(stats) {
  const drawn = stats.networks.filter((n) => n.history.length > 0);
  const body = $('plan-followers-body');
  $('plan-followers').hidden = false;
  if (drawn.length === 0) {
    replace(body, h('p', {}, t('followers.none')), notes(stats));
    return;
  }
  replace(
    body,
    h('figure', {}, chart(stats, drawn), h('figcaption', {}, summary(stats, drawn))),
    legend(drawn),
    notes(stats),
    table(drawn),
  );
}

export const followersChart = planSection({
  path: '/v1/audience/followers',
  id: 'plan-followers',
  titleKey: 'followers.title',
  render,
});
