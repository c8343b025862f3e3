/**
 * `sunset audit verify | list | export | checkpoint | key | verify-export`: the audit log,
 * checked and read straight from the store, and its signed checkpoints (docs/audit.md). One file
 * for six subcommands because they share the key and checkpoint helpers; each is short.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORKS, isNetwork, type Network } from '@sunset/core';
import {
  AuditExportError,
  auditBody,
  auditCsvHeader,
  auditCsvRows,
  auditHash,
  auditNdjson,
  CheckpointError,
  checkpointText,
  compareWithCheckpoints,
  fingerprintOf,
  makeCheckpoint,
  newestCheckpoint,
  parseAuditExport,
  parsePublicKey,
  parseSigningKey,
  publicKeyPem,
  readCheckpointFile,
  verifyExportEntries,
  writeCheckpointFile,
  type AuditEntry,
  type AuditFilter,
  type AuditVerifyResult,
  type Checkpoint,
  type CheckpointProblem,
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

function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(
      2,
      `${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

/** The operator's signing key (SUNSET_AUDIT_SIGNING_KEY_FILE); exit 2 without one. */
function signingKey(io: Io): KeyObject {
  const file = io.config.auditSigningKeyFile;
  if (!file)
    throw new CliExit(
      2,
      'SUNSET_AUDIT_SIGNING_KEY_FILE is not set: checkpoints are signed with an Ed25519 key (PEM, PKCS#8),\n' +
        'e.g. made with: openssl genpkey -algorithm ed25519 -out audit-signing.pem',
    );
  try {
    return parseSigningKey(
      readKeyFile(file, 'SUNSET_AUDIT_SIGNING_KEY_FILE'),
      `SUNSET_AUDIT_SIGNING_KEY_FILE (${file})`,
    );
  } catch (err) {
    if (err instanceof CheckpointError) throw new CliExit(2, err.message);
    throw err;
  }
}

/** The key checkpoints are checked with: --public-key, or the configured signing key's public half. */
function checkingKey(io: Io, publicKeyFile: string | undefined): KeyObject {
  if (publicKeyFile) {
    try {
      return parsePublicKey(readKeyFile(publicKeyFile, '--public-key'), `--public-key ${publicKeyFile}`);
    } catch (err) {
      if (err instanceof CheckpointError) throw new CliExit(2, err.message);
      throw err;
    }
  }
  if (!io.config.auditSigningKeyFile)
    throw new CliExit(
      2,
      '--public-key <file> is needed (or SUNSET_AUDIT_SIGNING_KEY_FILE, whose public half is used)',
    );
  return signingKey(io);
}

/** Each file read and its signature checked; the ones refused become problems. */
function readCheckpoints(
  files: readonly string[],
  key: KeyObject,
): { good: { file: string; checkpoint: Checkpoint }[]; refused: CheckpointProblem[] } {
  const good: { file: string; checkpoint: Checkpoint }[] = [];
  const refused: CheckpointProblem[] = [];
  for (const file of files) {
    try {
      good.push({ file, checkpoint: readCheckpointFile(file, key) });
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      refused.push({
        file,
        reason: `refused: ${err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message}`,
      });
    }
  }
  return { good, refused };
}

function problemLine(p: CheckpointProblem): string {
  return `${p.file}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.reason}`;
}

export function auditCommand(io: Io): Command {
  const audit = new Command('audit').description('check and read the audit log');

  audit
    .command('verify')
    .description(
      'recompute the hash chain of the whole audit log and name the first entry that does not match',
    )
    .option('--json', 'print the result as JSON, for machines')
    .option(
      '--checkpoint <files...>',
      'also check the store against these signed checkpoints (truncation, deletion, recomputation)',
    )
    .option(
      '--public-key <file>',
      'the key checkpoints are signed with (default: the configured signing key)',
    )
    .addHelpText(
      'after',
      "\nEach entry's hash covers the previous hash and the entry itself: an entry edited, removed or\n" +
        'reordered after it was written breaks the chain from there on.\n' +
        '\nExit status: 0 the chain is intact, 1 it is broken (the entry and the reason are printed).\n' +
        "With SUNSET_API_URL set, the API checks its own store (auditor token) and answers for the token's\n" +
        "organisation: its entries counted, another organisation's never named. The whole deployment's\n" +
        'chain is verified against the store (DATABASE_URL), by the operator.\n' +
        "\nWith --checkpoint, each checkpoint's signature is checked, then that the chain still holds every\n" +
        "entry it vouched for with the same hash and each organisation's entries as it counted them: a\n" +
        'chain cut back, thinned or recomputed by someone who can write to the database is caught.\n' +
        '\nExample:\n  $ pnpm sunset audit verify --checkpoint /mnt/archive/audit/audit-checkpoint-*.json',
    )
    .action(async (options) => {
      const started = Date.now();
      const client = apiClientOf(io);
      if (client && options.checkpoint)
        throw new CliExit(2, '--checkpoint checks the store (DATABASE_URL): unset SUNSET_API_URL to use it');
      const key = options.checkpoint ? checkingKey(io, options.publicKey) : undefined;
      let problems: CheckpointProblem[] = [];
      // Through the API the answer is the token's organisation's: its own entries counted, and
      // the entry at fault numbered only when it is one of them.
      const result: OrganisationVerify = client
        ? await client.json<OrganisationVerify>('GET', '/v1/audit/verify')
        : await withStore(io, async (store) => {
            const chain = await store.verifyAudit({
              onProgress: (checked) => {
                if (!options.json && checked > 0 && checked % 100_000 === 0)
                  io.err(io.colours.dim(`  ${checked.toLocaleString('en')} entries checked…`));
              },
            });
            if (options.checkpoint && key) {
              const { good, refused } = readCheckpoints(options.checkpoint, key);
              problems = [...refused, ...(await compareWithCheckpoints(store, good))];
            }
            return chain;
          });
      const ms = Date.now() - started;
      const checkpointsOk = problems.length === 0;
      const of = result.organisationId ? ` of ${result.organisationId}` : '';
      const entries = (n: number) => `${n.toLocaleString('en')} ${n === 1 ? 'entry' : 'entries'}${of}`;
      if (options.json) {
        io.out(
          JSON.stringify(
            {
              ...result,
              ...(options.checkpoint
                ? {
                    ok: result.ok && checkpointsOk,
                    chainOk: result.ok,
                    checkpoints: { ok: checkpointsOk, files: options.checkpoint.length, problems },
                  }
                : {}),
              ms,
            },
            null,
            2,
          ),
        );
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
      if (options.checkpoint && !options.json) {
        const n = options.checkpoint.length;
        if (checkpointsOk)
          io.out(`${io.colours.green('✓')} the log agrees with ${n} signed checkpoint${n === 1 ? '' : 's'}`);
        else {
          io.out(`${io.colours.red('✗')} the log does not agree with its checkpoints:`);
          for (const p of problems) io.out(`  ${problemLine(p)}`);
        }
      }
      if (!result.ok || !checkpointsOk) throw new CliExit(1);
    });

  audit
    .command('checkpoint')
    .description("sign the chain head (and each organisation's running hash) into a checkpoint file")
    .option(
      '--out <file>',
      'where to write it (default: SUNSET_AUDIT_CHECKPOINT_DIR, named by seq; else stdout)',
    )
    .addHelpText(
      'after',
      '\nSigned with SUNSET_AUDIT_SIGNING_KEY_FILE (Ed25519, PEM PKCS#8). The worker writes one every few\n' +
        'minutes into SUNSET_AUDIT_CHECKPOINT_DIR, meant to be off the host (an archive share). The\n' +
        'newest checkpoint there is the base: the entries since are checked, and a chain that no longer\n' +
        'holds what it vouched for is refused (exit 1). Without one the whole chain is verified first.\n' +
        '\nExample:\n  $ pnpm sunset audit checkpoint --out /mnt/archive/audit/before-upgrade.json',
    )
    .action(async (options) => {
      const key = signingKey(io);
      const dir = io.config.auditCheckpointDir;
      const cp = await withStore(io, async (store) => {
        const base = dir ? newestCheckpoint(dir, key) : undefined;
        try {
          return await makeCheckpoint(store, key, base ? { base: base.checkpoint } : {});
        } catch (err) {
          if (err instanceof CheckpointError)
            throw new CliExit(
              1,
              `no checkpoint written: ${err.message}${base ? ` (last checkpoint: ${base.file})` : ''}`,
            );
          throw err;
        }
      });
      if (options.out) {
        writeFileSync(options.out, checkpointText(cp));
        io.out(`${io.colours.green('✓')} checkpoint at seq ${cp.seq} written to ${options.out}`);
      } else if (dir) {
        const { file, written } = writeCheckpointFile(dir, cp);
        io.out(
          written
            ? `${io.colours.green('✓')} checkpoint at seq ${cp.seq} written to ${file}`
            : `${io.colours.green('✓')} the head has not moved: ${file} already vouches for seq ${cp.seq}`,
        );
      } else io.out(checkpointText(cp).trimEnd());
    });

  audit
    .command('key')
    .description('print the public key that checks the checkpoints (PEM) and its fingerprint, for auditors')
    .action(() => {
      const key = signingKey(io);
      io.out(publicKeyPem(key).trimEnd());
      io.out(`fingerprint ${fingerprintOf(key)}`);
    });

  audit
    .command('verify-export')
    .description(
      "check one organisation's exported entries (CSV or NDJSON) against a checkpoint, without the store",
    )
    .argument('<file>', 'the export (sunset audit export, GET /v1/audit), CSV or NDJSON')
    .requiredOption('--checkpoint <file>', 'a signed checkpoint taken after the entries to check')
    .option('--org <id>', 'the organisation (default: the only one in the export)')
    .option('--public-key <file>', 'the key checkpoints are signed with (sunset audit key)')
    .option('--json', 'print the result as JSON, for machines')
    .addHelpText(
      'after',
      "\nEvery entry's hash is recomputed from its content, and the organisation's entries up to its last one\n" +
        'in the checkpoint must be exactly those the checkpoint counted and hashed: an entry edited, removed\n' +
        'or added is caught. The export must hold all of its entries (no --since, --action filters).\n' +
        '\nExample:\n  $ pnpm sunset audit verify-export audit-tours.ndjson --checkpoint audit-checkpoint-000000001234.json --public-key audit.pub',
    )
    .action((file, options) => {
      const key = checkingKey(io, options.publicKey);
      const { good, refused } = readCheckpoints([options.checkpoint], key);
      if (refused.length > 0 || !good[0]) {
        io.out(`${io.colours.red('✗')} ${problemLine(refused[0]!)}`);
        throw new CliExit(1);
      }
      const cp = good[0].checkpoint;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliExit(
          2,
          `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        );
      }
      let entries;
      try {
        entries = parseAuditExport(
          text,
          file,
          (e: AuditEntry) => auditHash(e.prevHash, auditBody(e)) === e.hash,
        );
      } catch (err) {
        if (err instanceof AuditExportError) throw new CliExit(1, err.message);
        throw err;
      }
      const orgs = new Set(entries.map((e) => e.entry.organisationId ?? null));
      let org: string | null;
      if (options.org !== undefined) org = options.org;
      else if (orgs.size === 1) org = [...orgs][0]!;
      else
        throw new CliExit(
          2,
          orgs.size === 0
            ? `${file}: no entries; name the organisation with --org`
            : `${file}: entries of ${orgs.size} organisations; choose one with --org`,
        );
      const result = verifyExportEntries(entries, cp, org);
      const name = org ?? '(no organisation)';
      if (options.json)
        io.out(JSON.stringify({ ...result, checkpoint: options.checkpoint, seq: cp.seq }, null, 2));
      else if (result.ok) {
        io.out(
          `${io.colours.green('✓')} ${result.checked.toLocaleString('en')} entries of ${name} agree with ${options.checkpoint} (seq ${cp.seq})` +
            (result.after > 0 ? `; ${result.after} later entries are not covered by it` : ''),
        );
      } else {
        io.out(
          `${io.colours.red('✗')} the export of ${name} does not agree with ${options.checkpoint} (seq ${cp.seq}):`,
        );
        for (const p of result.problems) io.out(`  ${p}`);
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
