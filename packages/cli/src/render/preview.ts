/** The human and JSON forms of `sunset plan preview`. */
import { PROFILE_IMAGE_SIZES, type ProfileImageSlot } from '@sunset/assets';
import { NETWORK_LABELS, type Network } from '@sunset/core';
import {
  formatLocal,
  formatUtc,
  type Action,
  type CompiledImageSpec,
  type CompiledPlan,
  type Diagnostic,
  type Plan,
  type PostAction,
  type XPlanCost,
} from '@sunset/plan';
import { formatUsd } from '@sunset/text';
import type { Io } from '../io.ts';
import { renderDiagnostics } from './diagnostics.ts';

const X_AFTER_WORDS: Record<CompiledPlan['xAfter'], string> = {
  'crisis-only': 'crisis posts only',
  frozen: 'nothing more (frozen)',
  leave: 'nothing more; the account is closed by hand',
};
const POLICY_LINE: Record<CompiledPlan['xAfter'], string> = {
  'crisis-only': 'From now on X takes crisis posts only',
  frozen: 'From now on X is frozen: nothing more is posted, not even crisis posts',
  leave: 'From now on nothing more is posted on X; close the account by hand',
};

function networks(list: readonly Network[] | undefined): string {
  return list && list.length ? list.map((n) => NETWORK_LABELS[n]).join(', ') : 'none';
}

function imageSpecWords(spec: CompiledImageSpec): string {
  switch (spec.kind) {
    case 'keep':
      return 'kept as it is';
    case 'file':
      return `file ${spec.source}`;
    case 'generate':
      return `generated ${spec.generator === 'flat-ecg' ? 'flat-ECG banner' : 'flat-ECG avatar'}${
        spec.caption ? ` with caption "${spec.caption}"` : ''
      }${spec.colour ? `, colour ${spec.colour}` : ''}`;
  }
}

/** The file `sunset assets render` writes for a generated image, and its size in pixels. */
function generatedFile(network: Network, slot: ProfileImageSlot, spec: CompiledImageSpec): string {
  if (spec.kind !== 'generate') return '';
  const { width, height } = PROFILE_IMAGE_SIZES[network][slot];
  return `  → ${network}-${slot}, ${width}×${height} px`;
}

/** Wraps `text` to `width`, keeping its own line breaks, each line behind `prefix`. */
function block(text: string, prefix: string, width: number): string[] {
  const out: string[] = [];
  const room = Math.max(20, width - [...prefix].length);
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      if (line && [...line].length + 1 + [...word].length > room) {
        out.push(prefix + line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(prefix + line);
  }
  return out;
}

interface Group {
  at: Date;
  atLocal: string;
  label: string;
  actions: Action[];
}

/** Actions at the same instant for the same post (or profile, or policy) shown together. */
function groups(compiled: CompiledPlan): Group[] {
  const result: Group[] = [];
  const byKey = new Map<string, Group>();
  for (const a of compiled.actions) {
    const what =
      a.kind === 'post'
        ? `post ${a.postId}`
        : a.kind === 'profile'
          ? 'dormant profile'
          : a.kind === 'audience'
            ? 'Bluesky starter pack'
            : 'X policy';
    const key = `${a.at.getTime()}|${what}`;
    let g = byKey.get(key);
    if (!g) {
      g = { at: a.at, atLocal: a.atLocal, label: what, actions: [] };
      byKey.set(key, g);
      result.push(g);
    }
    g.actions.push(a);
  }
  return result;
}

/** The plan's X costs for people: per post (threads per part), the total and the link warnings. */
export function renderXCost(io: Io, cost: XPlanCost, indent = '  '): void {
  const c = io.colours;
  for (const p of cost.posts) {
    const parts = p.parts.length > 1 ? ` (${p.parts.map((x) => formatUsd(x.costMicros)).join(' + ')})` : '';
    io.out(`${indent}${p.postId}  ${formatUsd(p.totalMicros)}${parts}`);
    if (p.linkWarning) io.out(c.yellow(`${indent}  ⚠ ${p.linkWarning}`));
  }
  io.out(`${indent}${c.bold(`X total: ${formatUsd(cost.totalMicros)}`)} for ${cost.posts.length} posts`);
}

export function renderPreview(
  io: Io,
  plan: Plan,
  compiled: CompiledPlan,
  diagnostics: Diagnostic[],
  xCost?: XPlanCost,
): void {
  const c = io.colours;
  const doc = plan.document;
  const zone = compiled.timezone;
  const width = io.config.width;
  io.out(c.bold(`${compiled.organisationName} (${compiled.organisationId})`) + c.dim(`  ${plan.file}`));
  io.out(`  time zone ${zone}, language ${compiled.locale}`);
  io.out(`  sunset    ${formatLocal(compiled.sunset, zone)}  = ${formatUtc(compiled.sunset)}`);
  if (doc.networks.x) io.out(`  X after the sunset: ${X_AFTER_WORDS[compiled.xAfter]}`);
  const accounts: string[] = [];
  if (doc.networks.x) accounts.push(`X @${doc.networks.x.account.replace(/^@/, '')}`);
  if (doc.networks.bluesky) accounts.push(`Bluesky @${doc.networks.bluesky.handle.replace(/^@/, '')}`);
  if (doc.networks.mastodon) accounts.push(`Mastodon ${doc.networks.mastodon.account}`);
  io.out(`  accounts  ${accounts.join(' · ')}`);
  io.out();
  io.out(c.bold('Timeline') + c.dim(`  (${compiled.actions.length} actions; local time, then UTC)`));

  for (const g of groups(compiled)) {
    const past = g.at.getTime() < Date.now();
    const nets = [...new Set(g.actions.map((a) => a.network))];
    io.out();
    io.out(
      `${c.bold(g.atLocal)}  ${c.dim(formatUtc(g.at))}  ${c.cyan(g.label)} → ${networks(nets)}${past ? c.yellow('  (in the past)') : ''}`,
    );
    for (const a of g.actions) renderAction(io, a, width);
  }

  io.out();
  io.out(c.bold('Ordinary posts (mirror)'));
  io.out(`  before the sunset: ${networks(doc.mirror?.before_sunset)}`);
  io.out(`  after the sunset:  ${networks(doc.mirror?.after_sunset)}`);
  if (doc.crisis) {
    const cr = doc.crisis;
    io.out(c.bold('Crisis posts'));
    io.out(
      `  to ${networks(cr.on)}${cr.on.includes('x') && doc.networks.x ? ` (X after the sunset: ${compiled.xAfter === 'crisis-only' ? 'yes' : 'no'})` : ''}`,
    );
    if (cr.label) io.out(`  label "${cr.label}" before the text`);
    if (cr.link) io.out(`  link ${cr.link} when the message has none`);
    if (cr.hashtags?.length) io.out(`  hashtags ${cr.hashtags.join(' ')}`);
    io.out(
      `  approval: ${cr.approval === 'second-person' ? 'a second person with a crisis token approves each post' : 'none'}`,
    );
  }
  if (xCost && doc.networks.x) {
    io.out();
    io.out(
      c.bold('X costs') + c.dim("  (pay-per-use; prices: SUNSET_X_PRICES, X's console is the reference)"),
    );
    renderXCost(io, xCost);
  }
  const warnings = diagnostics.filter((d) => d.severity === 'warning');
  if (warnings.length) {
    io.out();
    io.out(c.bold(c.yellow(`Warnings (${warnings.length})`)));
    renderDiagnostics(io, warnings);
  }
}

function renderAction(io: Io, a: Action, width: number): void {
  const c = io.colours;
  const label = NETWORK_LABELS[a.network];
  switch (a.kind) {
    case 'post': {
      const fits = a.length.fits ? c.green : c.red;
      const thread = a.parts > 1 ? `thread ${a.part}/${a.parts}, ` : '';
      io.out(
        `  ${c.bold(label)}  ${thread}${fits(`${a.length.length}/${a.length.limit} ${a.length.unit}`)}${c.dim(`  ${a.id}`)}`,
      );
      for (const line of block(a.text, '    │ ', width)) io.out(line);
      for (const img of a.images) {
        io.out(`    ${c.magenta('▣')} ${img.source} (${Math.ceil(img.bytes / 1024)} KB, ${img.mediaType})`);
        for (const line of block(`alt: ${img.alt}`, '      ', width)) io.out(c.dim(line));
      }
      return;
    }
    case 'profile': {
      const p = a.profile;
      io.out(`  ${c.bold(label)}${c.dim(`  ${a.id}; the current profile is saved first, to be restored`)}`);
      if (p.name !== undefined) io.out(`    name      ${p.name}`);
      if (p.bio !== undefined)
        for (const [i, line] of block(p.bio, '', width - 14).entries())
          io.out(`    ${i ? '          ' : 'bio       '}${line}`);
      if (p.url !== undefined) io.out(`    url       ${p.url}`);
      if (p.location !== undefined) io.out(`    location  ${p.location}`);
      for (const f of p.fields ?? []) io.out(`    field     ${f.name}: ${f.value}`);
      io.out(
        `    banner    ${imageSpecWords(p.banner)}${c.dim(generatedFile(a.network, 'banner', p.banner))}`,
      );
      io.out(
        `    avatar    ${imageSpecWords(p.avatar)}${c.dim(generatedFile(a.network, 'avatar', p.avatar))}`,
      );
      return;
    }
    case 'audience': {
      const au = a.audience;
      io.out(`  ${c.bold(label)}${c.dim(`  ${a.id}; made, or brought in step with the plan`)}`);
      io.out(`    name      ${au.name}`);
      if (au.description) io.out(`    about     ${au.description}`);
      io.out(`    accounts  ${au.handles.map((h) => `@${h}`).join(', ')}`);
      return;
    }
    case 'policy': {
      io.out(`  ${POLICY_LINE[a.mode]}${c.dim(`  ${a.id}`)}`);
      io.out('    to do by hand:');
      for (const step of a.checklist)
        for (const [i, line] of block(step, '', width - 8).entries()) io.out(`    ${i ? '  ' : '☐ '}${line}`);
      return;
    }
  }
}

export function previewJson(
  plan: Plan,
  compiled: CompiledPlan,
  diagnostics: Diagnostic[],
  xCost?: XPlanCost,
): unknown {
  return {
    file: plan.file,
    valid: true,
    planHash: compiled.planHash,
    organisation: { id: compiled.organisationId, name: compiled.organisationName },
    timezone: compiled.timezone,
    locale: compiled.locale,
    sunset: { utc: compiled.sunset.toISOString(), local: formatLocal(compiled.sunset, compiled.timezone) },
    xAfter: compiled.xAfter,
    actions: compiled.actions.map((a) => ({
      ...a,
      at: a.at.toISOString(),
      ...(a.kind === 'post'
        ? { images: (a as PostAction).images.map(({ file: _file, ...img }) => img) }
        : {}),
    })),
    mirror: plan.document.mirror ?? {},
    crisis: plan.document.crisis ?? null,
    ...(xCost && plan.document.networks.x ? { xCost } : {}),
    diagnostics,
  };
}
