/**
 * The audit log on SQLite (a file, WAL, as openStore sets it up) and PostgreSQL (a schema of its
 * own in the local server).
 *
 * Appends per second: `store.audit.append` (the real path: read the head, hash, insert, move the
 * head, in one transaction per entry), one writer after another for APPEND_MS, with entries
 * shaped like the worker's `delivery.published` ones, on top of the million entries below.
 *
 * verifyAudit over 1,000,000 entries: the million entries are written once per dialect through a
 * bulk path, not through append (append on PostgreSQL runs at a few thousand per second: a million
 * would take minutes). The bulk path computes the very same chain with the store's own
 * `auditBody` and `auditHash` (entries cleaned as append cleans them), inserts the rows in large
 * batches straight through the store's driver (better-sqlite3, pg) and moves the chain head; then
 * `store.verifyAudit()` is timed, which must say ok with every entry checked (so a bulk path that
 * computed a different chain would fail the benchmark, not flatter it).
 */
import { auditBody, auditHash, GENESIS_HASH, type AuditInput, type Store } from '@sunset/store';
import { openTestStore, TEST_POSTGRES_URL, type TestStore } from '@sunset/store/testing';
import { check, fmt, pg, storeRequire, type Benchmark } from './lib.ts';

const ENTRIES = 1_000_000;
const APPEND_MS = 2_000;

// The SQLite driver the store itself uses, loaded from its own dependencies (the tests package
// does not depend on it directly). Only the few calls made here are typed.
interface SqliteDb {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  transaction<T extends unknown[]>(fn: (...args: T) => void): (...args: T) => void;
  close(): void;
}
const BetterSqlite3 = storeRequire('better-sqlite3') as new (file: string) => SqliteDb;

const COLUMNS = [
  'seq',
  'at',
  'organisation_id',
  'actor',
  'action',
  'network',
  'post_id',
  'delivery_id',
  'remote_id',
  'before',
  'after',
  'request_id',
  'job_id',
  'outcome',
  'error',
  'details',
  'prev_hash',
  'hash',
] as const;

function entryOf(i: number): AuditInput {
  return {
    organisationId: 'ville-de-test',
    actor: 'system',
    action: 'delivery.published',
    network: i % 2 ? 'x' : 'mastodon',
    postId: `p-bench${i}`,
    deliveryId: `ville-de-test.p-bench${i}.${i % 2 ? 'x' : 'mastodon'}`,
    remoteId: String(1_900_000_000_000_000_000n + BigInt(i)),
    jobId: `ville-de-test.p-bench${i}.g1`,
    outcome: 'ok',
    details: { attempt: 1, parts: 1, url: `https://x.test/VilleDeTest/status/${i}` },
  };
}

/** The rows of entries seq+1 … seq+count after `prevHash`, hashed as append hashes them. */
function chainRows(fromSeq: number, count: number, prevHash: string, at0: number) {
  const rows: (string | number | null)[][] = [];
  let prev = prevHash;
  for (let k = 1; k <= count; k++) {
    const seq = fromSeq + k;
    const input = JSON.parse(JSON.stringify(entryOf(seq))) as AuditInput;
    const at = new Date(at0 + seq);
    const hash = auditHash(prev, auditBody({ ...input, seq, at }));
    const text = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    rows.push([
      seq,
      at.toISOString(),
      input.organisationId ?? null,
      input.actor,
      input.action,
      input.network ?? null,
      input.postId ?? null,
      input.deliveryId ?? null,
      input.remoteId ?? null,
      text(input.before),
      text(input.after),
      input.requestId ?? null,
      input.jobId ?? null,
      input.outcome,
      input.error ?? null,
      text(input.details),
      prev,
      hash,
    ]);
    prev = hash;
  }
  return { rows, head: prev };
}

/** Writes the first `count` entries of the chain into every store at once (computed once). */
async function bulkFill(stores: TestStore[], count: number, progress: (m: string) => void): Promise<void> {
  for (const t of stores) check((await t.store.audit.head()).seq === 0, `${t.dialect}: the log is not empty`);
  const at0 = Date.now() - count - 60_000;
  const batch = 10_000;
  const writers: ((rows: (string | number | null)[][], seq: number, head: string) => Promise<void>)[] = [];
  const closers: (() => Promise<void>)[] = [];
  for (const t of stores) {
    if (t.dialect === 'sqlite') {
      const db = new BetterSqlite3(t.url);
      const insert = db.prepare(
        `insert into audit_log (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`,
      );
      const move = db.prepare('update audit_head set seq = ?, hash = ? where id = 1');
      const write = db.transaction((rows: (string | number | null)[][], s: number, h: string) => {
        for (const r of rows) insert.run(...r);
        move.run(s, h);
      });
      writers.push((rows, seq, head) => Promise.resolve(write(rows, seq, head)));
      closers.push(() => Promise.resolve(db.close()));
    } else {
      const client = new pg.Client({
        connectionString: TEST_POSTGRES_URL,
        options: `-c search_path=${t.schema}`,
      });
      await client.connect();
      const types = COLUMNS.map((c) => (c === 'seq' ? 'bigint[]' : 'text[]'));
      const insert = `insert into audit_log (${COLUMNS.join(', ')}) select * from unnest(${types
        .map((ty, i) => `$${i + 1}::${ty}`)
        .join(', ')})`;
      writers.push(async (rows, seq, head) => {
        await client.query('begin');
        await client.query(
          insert,
          COLUMNS.map((_, j) => rows.map((r) => r[j])),
        );
        await client.query('update audit_head set seq = $1, hash = $2 where id = 1', [seq, head]);
        await client.query('commit');
      });
      closers.push(async () => {
        await client.query('analyze audit_log');
        await client.end();
      });
    }
  }
  let seq = 0;
  let prev = GENESIS_HASH;
  try {
    while (seq < count) {
      const { rows, head } = chainRows(seq, Math.min(batch, count - seq), prev, at0);
      seq += rows.length;
      prev = head;
      await Promise.all(writers.map((w) => w(rows, seq, prev)));
      if (seq % 200_000 === 0) progress(`  ${seq.toLocaleString('en-GB')} entries written`);
    }
  } finally {
    for (const c of closers) await c();
  }
}

async function appendsPerSecond(store: Store): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < APPEND_MS) {
    await store.audit.append(entryOf(n++));
  }
  return n / ((performance.now() - start) / 1000);
}

export const audit: Benchmark = {
  name: 'audit',
  title: 'Audit log',
  figures: (['sqlite', 'postgres'] as const).flatMap((d) => [
    { key: `append-${d}`, label: `appends per second, ${d}, one writer`, unit: 'appends/s' },
    {
      key: `verify-${d}`,
      label: `verifyAudit of 1,000,000 entries, ${d}`,
      unit: 's',
      target: { op: '<=' as const, value: 5 },
    },
  ]),
  async run(ctx) {
    const stores = [await openTestStore('sqlite'), await openTestStore('postgres')];
    try {
      const before = Date.now();
      await bulkFill(stores, ENTRIES, ctx.progress);
      ctx.fact(
        `1,000,000 entries written through the bulk path (same chain as append) into both stores in ${fmt((Date.now() - before) / 1000)} s`,
      );
      for (let run = 1; run <= ctx.runs; run++) {
        for (const t of stores) {
          const start = performance.now();
          const result = await t.store.verifyAudit();
          const seconds = (performance.now() - start) / 1000;
          check(
            result.ok && result.checked === ENTRIES,
            `${t.dialect}: verifyAudit says ${JSON.stringify(result)} over ${ENTRIES} entries`,
          );
          ctx.record(`verify-${t.dialect}`, seconds);
          ctx.progress(
            `${t.dialect} run ${run}: verified ${result.checked.toLocaleString('en-GB')} in ${fmt(seconds)} s`,
          );
        }
      }
      // Appends after the million: the indexes are as big as a long-lived deployment's.
      for (let run = 1; run <= ctx.runs; run++) {
        for (const t of stores) {
          const rate = await appendsPerSecond(t.store);
          ctx.record(`append-${t.dialect}`, rate);
          ctx.progress(`${t.dialect} run ${run}: ${fmt(rate)} appends/s`);
        }
      }
      for (const t of stores) {
        const result = await t.store.verifyAudit();
        check(result.ok, `${t.dialect}: the chain is broken after the appends: ${JSON.stringify(result)}`);
      }
    } finally {
      for (const t of stores) await t.cleanup();
    }
  },
};
