/** `sunset audit verify | list`: the audit log, checked and read straight from the store. */
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORKS, isNetwork, type Network } from '@sunset/core';
import type { AuditEntry } from '@sunset/store';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { withStore } from '../state.ts';

function parseInstant(what: string) {
  return (value: string): Date => {
    const d = new Date(value);
    if (Number.isNaN(d.getTime()))
      throw new CliExit(2, `${what}: "${value}" is not a date and time (e.g. 2025-01-20T09:00Z)`);
    return d;
  };
}

function parseNetwork(value: string): Network {
  if (!isNetwork(value)) throw new CliExit(2, `--network: "${value}" is not one of ${NETWORKS.join(', ')}`);
  return value;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new CliExit(2, `--limit: "${value}" is not a whole number from 1 to 100000`);
  return n;
}

function line(e: AuditEntry): string {
  const target = [e.organisationId, e.network, e.postId ?? e.deliveryId, e.remoteId]
    .filter(Boolean)
    .join(' ');
  return `${String(e.seq).padStart(6)}  ${e.at.toISOString()}  ${e.actor.padEnd(16)}  ${e.action.padEnd(24)}  ${e.outcome.padEnd(7)}  ${target}${e.error ? `  — ${e.error}` : ''}`;
}

export function auditCommand(io: Io): Command {
  const audit = new Command('audit').description('check and read the audit log');

  audit
    .command('verify')
    .description(
      'recompute the hash chain of the whole audit log and name the first entry that does not match',
    )
    .option('--json', 'print the result as JSON, for machines')
    .addHelpText(
      'after',
      "\nEach entry's hash covers the previous hash and the entry itself: an entry edited, removed or\n" +
        'reordered after it was written breaks the chain from there on.\n' +
        '\nExit status: 0 the chain is intact, 1 it is broken (the entry and the reason are printed).\n' +
        '\nExample:\n  $ pnpm sunset audit verify',
    )
    .action(async (options) => {
      const started = Date.now();
      const result = await withStore(io, (store) =>
        store.verifyAudit({
          onProgress: (checked) => {
            if (!options.json && checked > 0 && checked % 100_000 === 0)
              io.err(io.colours.dim(`  ${checked.toLocaleString('en')} entries checked…`));
          },
        }),
      );
      const ms = Date.now() - started;
      if (options.json) {
        io.out(JSON.stringify({ ...result, ms }, null, 2));
      } else if (result.ok) {
        io.out(
          `${io.colours.green('✓')} the audit log is intact: ${result.checked.toLocaleString('en')} entries checked in ${ms} ms`,
        );
      } else {
        const bad = result.firstBad;
        io.out(
          `${io.colours.red('✗')} the audit log is broken at entry ${bad?.seq}: ${bad?.reason}` +
            ` (${result.checked.toLocaleString('en')} ${result.checked === 1 ? 'entry before it is' : 'entries before it are'} intact)`,
        );
      }
      if (!result.ok) throw new CliExit(1);
    });

  audit
    .command('list')
    .description('print audit entries, oldest first, with filters')
    .option('--org <id>', 'only this organisation')
    .option('--action <action>', 'only this action, e.g. delivery.published')
    .option('--actor <actor>', 'only this actor, e.g. token:duty-officer, system, cli:alice')
    .addOption(
      new Option('--network <network>', `only this network (${NETWORKS.join(', ')})`).argParser(parseNetwork),
    )
    .option('--post <id>', 'only this post')
    .addOption(
      new Option('--since <instant>', 'entries at or after this instant').argParser(parseInstant('--since')),
    )
    .addOption(
      new Option('--until <instant>', 'entries before this instant').argParser(parseInstant('--until')),
    )
    .addOption(
      new Option('--after <seq>', 'entries after this sequence number (paging)').argParser(parseLimit),
    )
    .addOption(
      new Option('--limit <n>', 'at most this many entries (default 100)').argParser(parseLimit).default(100),
    )
    .option('--json', 'one JSON object per line (NDJSON), for machines')
    .addHelpText(
      'after',
      '\nExample:\n  $ pnpm sunset audit list --org ville-de-tours --action delivery.published --since 2025-01-20',
    )
    .action(async (options) => {
      const entries = await withStore(io, (store) =>
        store.audit.list({
          ...(options.org ? { organisationId: options.org } : {}),
          ...(options.action ? { action: options.action } : {}),
          ...(options.actor ? { actor: options.actor } : {}),
          ...(options.network ? { network: options.network } : {}),
          ...(options.post ? { postId: options.post } : {}),
          ...(options.since ? { from: options.since } : {}),
          ...(options.until ? { to: options.until } : {}),
          ...(options.after ? { afterSeq: options.after } : {}),
          limit: options.limit,
        }),
      );
      for (const e of entries) io.out(options.json ? JSON.stringify(e) : line(e));
      if (!options.json && entries.length === options.limit) {
        io.err(
          io.colours.dim(`(first ${options.limit}; next page: --after ${entries[entries.length - 1]?.seq})`),
        );
      }
    });

  return audit;
}
