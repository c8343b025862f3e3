import { appendFileSync, writeFileSync } from 'node:fs';
/** `sunset audit verify | list`: the audit log, checked and read straight from the store. */
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORKS, isNetwork, type Network } from '@sunset/core';
import {
  auditCsvHeader,
  auditCsvRows,
  auditNdjson,
  type AuditEntry,
  type AuditFilter,
  type AuditVerifyResult,
} from '@sunset/store';
import { apiClientOf } from '../api-client.ts';
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

/** The API's answer (one organisation's view) or the store's (the whole deployment). */
type OrganisationVerify = Omit<AuditVerifyResult, 'firstBad'> & {
  organisationId?: string;
  firstBad?: { seq?: number; reason: string };
};

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
        "With SUNSET_API_URL set, the API checks its own store (auditor token) and answers for the token's\n" +
        "organisation: its entries counted, another organisation's never named. The whole deployment's\n" +
        'chain is verified against the store (DATABASE_URL), by the operator.\n' +
        '\nExample:\n  $ pnpm sunset audit verify',
    )
    .action(async (options) => {
      const started = Date.now();
      const client = apiClientOf(io);
      // Through the API the answer is the token's organisation's: its own entries counted, and
      // the entry at fault numbered only when it is one of them.
      const result: OrganisationVerify = client
        ? await client.json<OrganisationVerify>('GET', '/v1/audit/verify')
        : await withStore(io, (store) =>
            store.verifyAudit({
              onProgress: (checked) => {
                if (!options.json && checked > 0 && checked % 100_000 === 0)
                  io.err(io.colours.dim(`  ${checked.toLocaleString('en')} entries checked…`));
              },
            }),
          );
      const ms = Date.now() - started;
      const of = result.organisationId ? ` of ${result.organisationId}` : '';
      const entries = (n: number) => `${n.toLocaleString('en')} ${n === 1 ? 'entry' : 'entries'}${of}`;
      if (options.json) {
        io.out(JSON.stringify({ ...result, ms }, null, 2));
      } else if (result.ok) {
        io.out(
          `${io.colours.green('✓')} the audit log is intact: ${entries(result.checked)} checked in ${ms} ms`,
        );
      } else {
        const bad = result.firstBad;
        io.out(
          `${io.colours.red('✗')} the audit log is broken${bad?.seq !== undefined ? ` at entry ${bad.seq}` : ''}: ${bad?.reason}` +
            ` (${entries(result.checked)} before it ${result.checked === 1 ? 'is' : 'are'} intact)`,
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

  audit
    .command('export')
    .description('write the audit log (or part of it) to a file, CSV or NDJSON, for the archives')
    .addOption(
      new Option('--format <format>', 'csv or ndjson')
        .choices(['csv', 'ndjson'] as const)
        .default('csv' as const),
    )
    .option('--out <file>', 'where to write it (default standard output)')
    .option('--org <id>', "only this organisation (with SUNSET_API_URL: always the token's)")
    .option('--action <action>', 'only this action')
    .addOption(
      new Option('--since <instant>', 'entries at or after this instant').argParser(parseInstant('--since')),
    )
    .addOption(
      new Option('--until <instant>', 'entries before this instant').argParser(parseInstant('--until')),
    )
    .addHelpText(
      'after',
      '\nColumns: seq, at, organisationId, actor, action, network, postId, deliveryId, remoteId, outcome, error,\n' +
        'requestId, jobId, before, after, details, prevHash, hash. The hashes let anyone recompute the chain.\n' +
        'Reads the store (DATABASE_URL), or the API with SUNSET_API_URL and an auditor token.\n' +
        '\nExample:\n  $ pnpm sunset audit export --org ville-de-tours --since 2025-01-01 --out audit-2025.csv',
    )
    .action(async (options) => {
      let count = 0;
      // Page by page, so a million entries never sit in memory at once.
      if (options.out) writeFileSync(options.out, '');
      const write = (text: string) => {
        if (text === '') return;
        if (options.out) appendFileSync(options.out, text);
        else io.out(text.replace(/\r?\n$/, ''));
      };
      if (options.format === 'csv') write(auditCsvHeader());
      const page = (entries: AuditEntry[]) => {
        count += entries.length;
        write(options.format === 'csv' ? auditCsvRows(entries) : auditNdjson(entries));
        if (options.out) io.err(io.colours.dim(`  ${count.toLocaleString('en')} entries…`));
      };
      const client = apiClientOf(io);
      if (client) {
        let cursor: number | undefined;
        for (;;) {
          const q = new URLSearchParams({ limit: '10000' });
          if (options.action) q.set('action', options.action);
          if (options.since) q.set('from', options.since.toISOString());
          if (options.until) q.set('to', options.until.toISOString());
          if (cursor !== undefined) q.set('cursor', String(cursor));
          const got = await client.json<{
            entries: (Omit<AuditEntry, 'at'> & { at: string })[];
            nextCursor?: number;
          }>('GET', `/v1/audit?${q.toString()}`);
          page(got.entries.map((e) => ({ ...e, at: new Date(e.at) })));
          if (got.nextCursor === undefined) break;
          cursor = got.nextCursor;
        }
      } else {
        await withStore(io, async (store) => {
          let afterSeq: number | undefined;
          for (;;) {
            const filter: AuditFilter = {
              ...(options.org ? { organisationId: options.org } : {}),
              ...(options.action ? { action: options.action } : {}),
              ...(options.since ? { from: options.since } : {}),
              ...(options.until ? { to: options.until } : {}),
              ...(afterSeq !== undefined ? { afterSeq } : {}),
              limit: 10_000,
            };
            const entries = await store.audit.list(filter);
            page(entries);
            if (entries.length < 10_000) break;
            afterSeq = entries[entries.length - 1]?.seq;
          }
        });
      }
      if (options.out) {
        io.out(
          `${io.colours.green('✓')} ${count.toLocaleString('en')} entries written to ${options.out} (${options.format})`,
        );
      }
    });

  return audit;
}
