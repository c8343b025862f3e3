/** The human forms of `sunset plan apply` (the diff) and `sunset plan status` (the timeline). */
import { NETWORKS, NETWORK_LABELS } from '@sunset/core';
import type { ApplyResult, DiffMark, PlanStatus } from '@sunset/engine/outbox';
import { formatDiagnostic, formatLocal } from '@sunset/plan';
import type { DeliveryStatus } from '@sunset/store';
import type { Io } from '../io.ts';

const MARK_WORDS: Record<DiffMark, string> = {
  '+': 'added',
  '~': 'changed',
  '-': 'cancelled',
  '=': 'unchanged',
  '✓': 'already done',
};

function colourMark(io: Io, mark: DiffMark): string {
  const c = io.colours;
  switch (mark) {
    case '+':
      return c.green(mark);
    case '~':
      return c.yellow(mark);
    case '-':
      return c.red(mark);
    case '✓':
      return c.cyan(mark);
    case '=':
      return c.dim(mark);
  }
}

const KIND_NAMES: Record<string, string> = {
  profile: 'dormant profile',
  policy: 'X policy at the sunset',
  audience: 'Bluesky list and starter pack',
};

function actionName(e: { kind: string; postId?: string; parts: number }): string {
  if (e.kind === 'post') return `post ${e.postId}${e.parts > 1 ? ` (thread of ${e.parts})` : ''}`;
  return KIND_NAMES[e.kind] ?? e.kind;
}

export function renderApply(io: Io, result: ApplyResult, zone: string, file: string): void {
  const c = io.colours;
  for (const e of result.diff) {
    const when = formatLocal(new Date(e.dueAt), zone);
    const reason = e.reason ? c.dim(`  ${e.reason}`) : '';
    io.out(
      `${colourMark(io, e.mark)} ${when}  ${NETWORK_LABELS[e.network].padEnd(8)}  ${actionName(e)}${reason}`,
    );
  }
  const counts = (Object.keys(MARK_WORDS) as DiffMark[])
    .map((m) => `${result.counts[m]} ${MARK_WORDS[m]}`)
    .join(', ');
  io.out();
  if (result.dryRun) {
    io.out(`${c.bold('dry run')}: ${counts}. Nothing was changed.`);
  } else if (result.version === undefined) {
    io.out(`${c.green('✓')} ${file}: nothing to change (${counts}).`);
  } else {
    io.out(
      `${c.green('✓')} ${file} applied as version ${result.version} of ${result.organisationId}: ${counts}.`,
    );
  }
  for (const warning of result.warnings ?? []) io.err(c.yellow(formatDiagnostic(warning)));
  if (result.queueError) {
    io.err(c.yellow(`warning: the store is up to date but the jobs were not queued: ${result.queueError}`));
    io.err(c.yellow('The worker puts them in the queues when it next starts or reconciles (every minute).'));
  }
}

const STATUS_WORDS: Record<DeliveryStatus, string> = {
  queued: 'scheduled',
  sending: 'sending',
  published: 'published',
  failed: 'FAILED',
  'needs-attention': 'TO DO BY HAND',
  skipped: 'skipped',
  cancelled: 'cancelled',
};

function colourStatus(io: Io, status: DeliveryStatus): string {
  const c = io.colours;
  const word = STATUS_WORDS[status];
  if (status === 'published') return c.green(word);
  if (status === 'failed') return c.red(word);
  if (status === 'needs-attention') return c.yellow(word);
  if (status === 'skipped' || status === 'cancelled') return c.dim(word);
  return word;
}

export function renderStatus(io: Io, status: PlanStatus, zone: string): void {
  const c = io.colours;
  if (status.version === undefined) {
    io.out(`${status.organisationId} has no applied plan.`);
    return;
  }
  io.out(
    c.bold(
      `${status.organisationId}: plan version ${status.version}, applied ${formatLocal(new Date(status.appliedAt ?? 0), zone)} by ${status.appliedBy}`,
    ),
  );
  for (const row of status.rows) {
    const name = row.kind === 'post' ? `post ${row.postId}` : (KIND_NAMES[row.kind] ?? row.kind);
    io.out();
    io.out(`${formatLocal(new Date(row.dueAt), zone)}  ${c.bold(name)}`);
    for (const network of NETWORKS) {
      const s = row.networks[network];
      if (!s) continue;
      const parts = s.parts > 1 ? ` ${s.published}/${s.parts} parts` : '';
      const tries = s.attempts > 1 ? c.dim(` after ${s.attempts} attempts`) : '';
      io.out(
        `  ${NETWORK_LABELS[network].padEnd(8)}  ${colourStatus(io, s.status)}${parts}${tries}${s.url ? `  ${s.url}` : ''}`,
      );
      if (s.lastError && s.status !== 'published') io.out(`            ${c.dim(s.lastError)}`);
      for (const step of s.checklist ?? []) io.out(`            ☐ ${step}`);
    }
  }
  io.out();
  io.out(
    Object.entries(status.counts)
      .map(([k, n]) => `${n} ${STATUS_WORDS[k as DeliveryStatus]}`)
      .join(', '),
  );
}
