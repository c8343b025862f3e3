/**
 * Verification of the audit chain (see audit.ts for the hash): every entry is read back in seq
 * order, its hash recomputed and its link to the entry before it checked, then the chain head is
 * compared with the last entry. The first entry that does not match is reported.
 *
 * A million entries must verify in a few seconds, so the per-entry work is kept small:
 *
 * - Rows are read as plain arrays straight through the drivers (verify/readers.ts), in seq
 *   ranges, each reader inside one read transaction so the head it reads matches the rows it reads.
 * - The canonical text of an entry is written straight from its columns (verify/canonical.ts):
 *   the body's keys are known and fixed, and the JSON columns (before, after, details) hold
 *   canonical JSON since auditToRow writes them that way, so their text is spliced in as it is,
 *   not parsed and re-serialised. A row whose text does not give its hash that way (a JSON column
 *   written in another formatting before auditToRow wrote canonical JSON, say) is checked again
 *   the long way, through auditFromRow → auditBody → auditHash, before it is called edited.
 * - Each row holds its own prev_hash, so ranges of the chain verify independently: a long chain
 *   is cut into one range per core, each verified in a worker thread (verify/worker.ts), and the
 *   ranges are joined in order (a range's first prev_hash must be the hash that ends the range
 *   before it). The lowest bad entry of all is the one reported, as a sequential check would.
 *
 * What a worker runs imports only node built-ins and the two drivers, so it loads the same way
 * from the TypeScript sources and from the built files; the long way (audit.ts, which needs
 * @sunset/core) is only ever taken on the calling thread, here.
 */
import { availableParallelism } from 'node:os';
import { GENESIS_HASH } from './migrations.ts';
import type { AuditLogTable } from './schema.ts';
import type { AuditVerifyResult } from './types.ts';
import { COLUMNS, HASH, PREV, type Row } from './verify/canonical.ts';
import { connectionOf, kyselyReader, openReader, verifySpan, type AuditSource } from './verify/readers.ts';
import { spanInWorker, type Running } from './verify/worker.ts';

export { VERIFY_APPLICATION_NAME, type AuditSource } from './verify/readers.ts';

export interface VerifyOptions {
  onProgress?: (checked: number) => void;
  /** Entries read per query (and per progress report). */
  batchSize?: number;
}

/** The long way, as the chain is defined: for a row whose spliced text did not give its hash. */
async function recheckTheLongWay(row: Row): Promise<boolean> {
  const { auditBody, auditFromRow, auditHash } = await import('./audit.ts');
  const record = Object.fromEntries(COLUMNS.map((column, i) => [column, row[i]])) as unknown as AuditLogTable;
  try {
    return auditHash(String(row[PREV]), auditBody(auditFromRow(record))) === row[HASH];
  } catch {
    return false; // a JSON column that does not parse, a date that is not one
  }
}

// --- the whole chain ----------------------------------------------------------------------------

/** A chain is cut into ranges only when each range gets at least this many batches. */
const MIN_BATCHES_PER_RANGE = 8;
const MAX_RANGES = 8;

const REASONS = {
  link: 'its previous-hash does not link to the entry before it',
  content: 'its content does not match its hash (edited after it was written)',
};

/** The head compared with the last entry verified (all entries 1 … checked are good). */
function compareHead(
  head: { seq: number; hash: string },
  checked: number,
  lastHash: string,
): AuditVerifyResult {
  if (head.seq === checked && head.hash === lastHash) return { ok: true, checked };
  return {
    ok: false,
    checked,
    firstBad: {
      seq: checked + 1 > head.seq ? head.seq : checked + 1,
      reason:
        head.seq > checked
          ? `the chain head says ${head.seq} entries but entries after ${checked} are missing`
          : `the chain head (${head.seq}) does not match the last entry (${checked})`,
    },
  };
}

export async function verifyAuditChain(
  source: AuditSource,
  opts: VerifyOptions = {},
): Promise<AuditVerifyResult> {
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 5000));
  const connection = connectionOf(source);
  const openHere = () => (connection ? openReader(connection) : Promise.resolve(kyselyReader(source.db)));
  // Progress as a single pass gives it: every whole batch checked, then the total at the end.
  let verified = 0;
  let shown = 0;
  const progress = (n: number) => {
    verified += n;
    const step = verified - (verified % batchSize);
    if (step > shown) opts.onProgress?.((shown = step));
  };

  // Ranges of whole batches, the last one open-ended (it reads the head, in its own snapshot).
  const batches = Math.ceil((await kyselyReader(source.db).head()).seq / batchSize);
  const ranges = connection
    ? Math.min(MAX_RANGES, availableParallelism(), Math.floor(batches / MIN_BATCHES_PER_RANGE))
    : 1;
  let running: Running[];
  if (ranges <= 1) {
    // Here, on this thread, with the long way at hand.
    const reader = await openHere();
    const report = verifySpan(
      reader,
      { from: 1, to: undefined, batchSize },
      { prevHash: GENESIS_HASH, recheck: recheckTheLongWay, onBatch: progress },
    ).finally(() => reader.close());
    running = [{ report, rechecked: true, cancel: () => undefined, exited: Promise.resolve() }];
  } else {
    const per = Math.ceil(batches / ranges) * batchSize;
    running = Array.from({ length: ranges }, (_, k) =>
      spanInWorker(
        {
          connection: connection!,
          from: 1 + k * per,
          to: k === ranges - 1 ? undefined : (k + 1) * per,
          batchSize,
        },
        progress,
      ),
    );
  }

  try {
    // The join, in seq order: entries 1 … good are verified and prevHash is the last one's hash.
    let good = 0;
    let prevHash = GENESIS_HASH;
    for (const [k, range] of running.entries()) {
      const { to, head: read, result: found } = await range.report;
      let head = read;
      const from = good + 1;
      let result = found;
      if (result.firstPrev !== undefined && result.firstPrev !== prevHash) {
        result = { checked: 0, fault: { kind: 'link', seq: from } };
      } else if (result.fault?.kind === 'content' && !range.rechecked) {
        // Found the quick way in a worker: go on from there here, where the long way is at hand.
        const reader = await openHere();
        try {
          const rest = await verifySpan(
            reader,
            { from: result.fault.seq, to: head ? undefined : to, batchSize },
            { prevHash: result.lastHash ?? prevHash, recheck: recheckTheLongWay, onBatch: progress },
          );
          if (rest.head) head = rest.head;
          result = {
            checked: result.checked + rest.result.checked,
            ...((rest.result.lastHash ?? result.lastHash) !== undefined
              ? { lastHash: rest.result.lastHash ?? result.lastHash }
              : {}),
            ...(rest.result.fault ? { fault: rest.result.fault } : {}),
          };
        } finally {
          await reader.close();
        }
      }
      good += result.checked;
      prevHash = result.lastHash ?? prevHash;
      const fault = result.fault;
      if (fault) {
        for (const later of running.slice(k + 1)) later.cancel();
        if (fault.kind === 'missing') {
          const reason = `entry ${fault.seq} is missing (the next one is ${fault.next})`;
          return { ok: false, checked: good, firstBad: { seq: fault.seq, reason } };
        }
        if (fault.kind !== 'tail')
          return { ok: false, checked: good, firstBad: { seq: fault.seq, reason: REASONS[fault.kind] } };
        // Entries from fault.seq to the range's end are absent: say which one comes next, if any.
        const reader = await openHere();
        try {
          const next = await reader.nextSeqAfter(fault.seq);
          if (next !== undefined) {
            const reason = `entry ${fault.seq} is missing (the next one is ${next})`;
            return { ok: false, checked: good, firstBad: { seq: fault.seq, reason } };
          }
          return compareHead(await reader.head(), good, prevHash);
        } finally {
          await reader.close();
        }
      }
      if (head) {
        opts.onProgress?.(good);
        return compareHead(head, good, prevHash);
      }
    }
    throw new Error('audit verification: the last range did not read the head');
  } finally {
    for (const range of running) range.cancel();
    // No thread goes on reading once this returns (a caller may drop the schema, or exit): each
    // stops after the batch under way. Bounded, should one not stop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((r) => r.exited)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, THREADS_STOP_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** How long a verification waits at most for its cancelled threads to stop. */
const THREADS_STOP_MS = 10_000;
