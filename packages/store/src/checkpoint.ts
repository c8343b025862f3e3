/**
 * Signed checkpoints of the audit chain (docs/audit.md). A checkpoint is a small JSON file that
 * vouches, under the operator's Ed25519 key, for the chain as it stood: its head (seq and hash)
 * and, per organisation, how many entries it had, its last seq and a running hash of its
 * entries' hashes. Kept off the host, it lets anyone detect what the hash chain alone cannot:
 * a writer of the database who removes the newest entries, moves the head back or recomputes
 * every hash. The per-organisation running hash lets an organisation check its own export
 * against a checkpoint without anyone else's entries.
 *
 *   orgHash_0 = GENESIS_HASH;  orgHash_k = sha256_hex(orgHash_{k-1} + "\n" + hash of its k-th entry)
 *   signature = Ed25519(canonicalJson(the file without "signature")), base64
 *
 * One file of some 500 lines on purpose: the format, its keys, its files and the two checks
 * against it are what an auditor reads to trust a checkpoint (docs/audit.md points here), in
 * sections that each stay short, and no other module of the store uses its parts.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { canonicalJson } from '@sunset/core';
import { auditBody, auditHash } from './audit.ts';
import { GENESIS_HASH } from './migrations.ts';
import type { AuditEntry, Store } from './types.ts';

export const CHECKPOINT_FORMAT = 'sunset-audit-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** One organisation's part of a checkpoint (id null: entries of no organisation). */
export interface CheckpointOrganisation {
  id: string | null;
  /** Its entries with seq ≤ the checkpoint's seq. */
  count: number;
  /** Seq of the last of them. */
  lastSeq: number;
  /** The running hash over their hashes, in seq order (see the top of the file). */
  hash: string;
}

export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  /** The head vouched for: the last entry's seq and hash. */
  seq: number;
  hash: string;
  /** The `at` of that entry (absent when the chain is empty). */
  headAt?: string;
  /** When the checkpoint was made. */
  at: string;
  /** sha256 hex of the public key (SPKI DER) that signs it. */
  keyId: string;
  organisations: CheckpointOrganisation[];
  /** Ed25519 over canonicalJson of every other field, base64. */
  signature: string;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

// --- keys ---------------------------------------------------------------------------------------

/** The operator's signing key from PEM (PKCS#8); `where` names it in errors. */
export function parseSigningKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new CheckpointError(`${where}: not a private key in PEM (PKCS#8)`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new CheckpointError(`${where}: an Ed25519 key is needed, this one is ${key.asymmetricKeyType}`);
  return key;
}

/** A public key from PEM (SPKI); a private key's PEM gives its public half. */
export function parsePublicKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new CheckpointError(`${where}: not an Ed25519 public key in PEM`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new CheckpointError(`${where}: an Ed25519 key is needed, this one is ${key.asymmetricKeyType}`);
  return key;
}

export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/** sha256 hex of the public key's SPKI DER: the checkpoint's keyId. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** The short form people compare by eye: the keyId's first 16 hex digits, in fours. */
export function fingerprintOf(key: KeyObject): string {
  return keyIdOf(key).slice(0, 16).match(/.{4}/g)!.join(':');
}

// --- the running hashes --------------------------------------------------------------------------

export function orgHashStep(prev: string, entryHash: string): string {
  return createHash('sha256').update(`${prev}\n${entryHash}`).digest('hex');
}

type OrgState = Omit<CheckpointOrganisation, 'id'>;
const keyOf = (id: string | null | undefined) => (id === null || id === undefined ? '\u0000' : `o${id}`);

/** Folds entries (seq order) into per-organisation states. */
class OrgFold {
  readonly states = new Map<string, OrgState & { id: string | null }>();
  constructor(from?: readonly CheckpointOrganisation[]) {
    for (const o of from ?? []) this.states.set(keyOf(o.id), { ...o });
  }
  add(organisationId: string | null, seq: number, hash: string): void {
    const k = keyOf(organisationId);
    let s = this.states.get(k);
    if (!s) this.states.set(k, (s = { id: organisationId, count: 0, lastSeq: 0, hash: GENESIS_HASH }));
    s.count += 1;
    s.lastSeq = seq;
    s.hash = orgHashStep(s.hash, hash);
  }
  list(): CheckpointOrganisation[] {
    return [...this.states.values()]
      .map((s) => ({ ...s }))
      .sort((a, b) => (keyOf(a.id) < keyOf(b.id) ? -1 : keyOf(a.id) > keyOf(b.id) ? 1 : 0));
  }
}

const BATCH = 10_000;

/** Entries seq in (after, through], seq order, seq/organisation/hash only, in batches. */
async function* thinRows(
  store: Store,
  after: number,
  through: number,
): AsyncIterable<{ seq: number; organisationId: string | null; hash: string }[]> {
  for (let start = after; start < through;) {
    const rows = await store.audit.hashes({ afterSeq: start, throughSeq: through, limit: BATCH });
    if (rows.length === 0) return;
    yield rows;
    start = rows[rows.length - 1]!.seq;
  }
}

/** The entry at `seq`, if there is one. */
async function entryAt(store: Store, seq: number): Promise<AuditEntry | undefined> {
  const [entry] = await store.audit.list({ afterSeq: seq - 1, limit: 1 });
  return entry?.seq === seq ? entry : undefined;
}

// --- making one ---------------------------------------------------------------------------------

function signed(body: Omit<Checkpoint, 'signature'>, key: KeyObject): Checkpoint {
  const signature = sign(null, Buffer.from(canonicalJson(body)), key).toString('base64');
  return { ...body, signature };
}

/**
 * A checkpoint of the chain as it stands, signed with `key`. With `base` (an earlier checkpoint
 * already verified), only the entries after it are read, each checked (link and content), after
 * checking that the chain still holds base's head; without, the whole chain is verified first.
 * Refuses (CheckpointError) to vouch for a chain that is broken or contradicts `base`.
 */
export async function makeCheckpoint(
  store: Store,
  key: KeyObject,
  options: { base?: Checkpoint; now?: Date } = {},
): Promise<Checkpoint> {
  const { base } = options;
  const head = await store.audit.head();
  if (base && base.seq > head.seq) {
    throw new CheckpointError(
      `the chain head is at seq ${head.seq}, below the last checkpoint's ${base.seq}: entries were removed (sunset audit verify --checkpoint)`,
    );
  }
  if (base && base.seq > 0) {
    const row = await entryAt(store, base.seq);
    if (row?.hash !== base.hash) {
      throw new CheckpointError(
        `entry ${base.seq} is ${row ? 'not the one' : 'missing, not'} the last checkpoint vouched for: the log was changed (sunset audit verify --checkpoint)`,
      );
    }
  }
  let through = head.seq;
  let fold: OrgFold;
  let lastHash = base?.hash ?? GENESIS_HASH;
  if (!base) {
    const result = await store.verifyAudit();
    if (!result.ok) {
      throw new CheckpointError(
        `the audit chain is broken at entry ${result.firstBad?.seq}: ${result.firstBad?.reason}; no checkpoint is signed over it`,
      );
    }
    through = result.checked;
    fold = new OrgFold();
    for await (const rows of thinRows(store, 0, through)) {
      for (const r of rows) {
        fold.add(r.organisationId, r.seq, r.hash);
        lastHash = r.hash;
      }
    }
  } else {
    fold = new OrgFold(base.organisations);
    let expected = base.seq + 1;
    for (let start = base.seq; start < through;) {
      const rows = (await store.audit.list({ afterSeq: start, limit: BATCH })).filter(
        (e) => e.seq <= through,
      );
      if (rows.length === 0) break;
      for (const entry of rows) {
        if (entry.seq !== expected) throw new CheckpointError(`entry ${expected} is missing`);
        if (entry.prevHash !== lastHash)
          throw new CheckpointError(`entry ${entry.seq} does not link to the entry before it`);
        if (auditHash(entry.prevHash, auditBody(entry)) !== entry.hash)
          throw new CheckpointError(`entry ${entry.seq}'s content does not match its hash`);
        fold.add(entry.organisationId ?? null, entry.seq, entry.hash);
        lastHash = entry.hash;
        expected += 1;
      }
      start = rows[rows.length - 1]!.seq;
    }
    if (expected !== through + 1) throw new CheckpointError(`entry ${expected} is missing`);
  }
  let headAt: string | undefined;
  if (through > 0) headAt = (await entryAt(store, through))?.at.toISOString();
  return signed(
    {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      seq: through,
      hash: lastHash,
      ...(headAt ? { headAt } : {}),
      at: (options.now ?? new Date()).toISOString(),
      keyId: keyIdOf(key),
      organisations: fold.list(),
    },
    key,
  );
}

// --- files --------------------------------------------------------------------------------------

export function checkpointFileName(seq: number): string {
  return `audit-checkpoint-${String(seq).padStart(12, '0')}.json`;
}

export function checkpointText(cp: Checkpoint): string {
  return `${JSON.stringify(cp, null, 2)}\n`;
}

/**
 * Writes the checkpoint into `dir` under its seq's name, unless a file of that seq is there
 * already (another worker wrote it): whether it wrote. Written aside, then renamed, so a reader
 * never sees half a file.
 */
export function writeCheckpointFile(dir: string, cp: Checkpoint): { file: string; written: boolean } {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, checkpointFileName(cp.seq));
  if (existsSync(file)) return { file, written: false };
  const aside = path.join(dir, `.${checkpointFileName(cp.seq)}.${process.pid}.tmp`);
  try {
    writeFileSync(aside, checkpointText(cp), { flag: 'wx' });
    if (existsSync(file)) return { file, written: false };
    renameSync(aside, file);
  } finally {
    rmSync(aside, { force: true });
  }
  return { file, written: true };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A checkpoint file's text, checked for shape (not yet for its signature); `where` names it. */
export function parseCheckpoint(text: string, where: string): Checkpoint {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${where}: not JSON (${(err as Error).message})`);
  }
  const bad = (field: string, why: string) => new CheckpointError(`${where}: ${field}: ${why}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CheckpointError(`${where}: not a checkpoint (a JSON object is expected)`);
  const v = value as Record<string, unknown>;
  if (v['format'] !== CHECKPOINT_FORMAT) throw bad('format', `"${CHECKPOINT_FORMAT}" expected`);
  if (v['version'] !== CHECKPOINT_VERSION)
    throw bad('version', `${String(v['version'])} is not a version this tool reads (${CHECKPOINT_VERSION})`);
  const seqOk = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!seqOk(v['seq'])) throw bad('seq', 'a whole number ≥ 0 expected');
  for (const f of ['hash', 'keyId'] as const)
    if (typeof v[f] !== 'string' || !HEX64.test(v[f])) throw bad(f, '64 hex digits expected');
  for (const f of ['at', 'signature'] as const)
    if (typeof v[f] !== 'string') throw bad(f, 'a string expected');
  if (v['headAt'] !== undefined && typeof v['headAt'] !== 'string') throw bad('headAt', 'a string expected');
  if (!Array.isArray(v['organisations'])) throw bad('organisations', 'a list expected');
  (v['organisations'] as unknown[]).forEach((o, i) => {
    const at = `organisations[${i}]`;
    if (typeof o !== 'object' || o === null) throw bad(at, 'an object expected');
    const org = o as Record<string, unknown>;
    if (org['id'] !== null && typeof org['id'] !== 'string')
      throw bad(`${at}.id`, 'a string or null expected');
    if (!seqOk(org['count'])) throw bad(`${at}.count`, 'a whole number expected');
    if (!seqOk(org['lastSeq'])) throw bad(`${at}.lastSeq`, 'a whole number expected');
    if (typeof org['hash'] !== 'string' || !HEX64.test(org['hash']))
      throw bad(`${at}.hash`, '64 hex digits expected');
  });
  return v as unknown as Checkpoint;
}

/** Throws unless `cp` is signed by `key`; `where` names the file. */
export function checkSignature(cp: Checkpoint, key: KeyObject, where: string): void {
  const id = keyIdOf(key);
  if (cp.keyId !== id) {
    throw new CheckpointError(
      `${where}: signed by key ${cp.keyId.slice(0, 16)}…, not by the key given (${id.slice(0, 16)}…)`,
    );
  }
  const { signature, ...body } = cp;
  let good: boolean;
  try {
    good = verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(signature, 'base64'));
  } catch {
    good = false;
  }
  if (!good)
    throw new CheckpointError(`${where}: the signature does not match its content (the file was altered)`);
}

/** Reads, parses and checks the signature of a checkpoint file. */
export function readCheckpointFile(file: string, key: KeyObject): Checkpoint {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CheckpointError(
      `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
  const cp = parseCheckpoint(text, file);
  checkSignature(cp, key, file);
  return cp;
}

/** The newest checkpoint in `dir` signed by `key` (by seq), if any; others are passed over. */
export function newestCheckpoint(
  dir: string,
  key: KeyObject,
): { file: string; checkpoint: Checkpoint } | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const files = names
    .filter((n) => /^audit-checkpoint-\d{12}\.json$/.test(n))
    .sort()
    .reverse();
  for (const name of files) {
    const file = path.join(dir, name);
    try {
      return { file, checkpoint: readCheckpointFile(file, key) };
    } catch {
      // Not ours, or altered: the next older one.
    }
  }
  return undefined;
}

// --- verifying the store against checkpoints ------------------------------------------------------

export interface CheckpointProblem {
  /** The checkpoint file at issue. */
  file: string;
  seq?: number;
  organisationId?: string | null;
  reason: string;
}

/**
 * Checks the chain in the store against signed checkpoints (already parsed and signature-checked):
 * the head must not be below any checkpoint, the entry at each checkpoint's seq must carry its
 * hash, and each organisation's count, last seq and running hash up to it must match. Every
 * difference found is returned, named by file, seq and organisation.
 */
export async function compareWithCheckpoints(
  store: Store,
  checkpoints: readonly { file: string; checkpoint: Checkpoint }[],
): Promise<CheckpointProblem[]> {
  const problems: CheckpointProblem[] = [];
  const head = await store.audit.head();
  const sorted = [...checkpoints].sort((a, b) => a.checkpoint.seq - b.checkpoint.seq);
  for (const { file, checkpoint: cp } of sorted) {
    if (head.seq < cp.seq) {
      problems.push({
        file,
        seq: cp.seq,
        reason: `truncated: the chain head is at seq ${head.seq}, but the checkpoint vouches for entries up to ${cp.seq} (entries ${head.seq + 1}…${cp.seq} were removed and the head moved back)`,
      });
    }
    if (cp.seq === 0) continue;
    const row = await entryAt(store, cp.seq);
    if (!row) {
      if (head.seq >= cp.seq)
        problems.push({ file, seq: cp.seq, reason: `entry ${cp.seq}, the checkpoint's head, is missing` });
    } else if (row.hash !== cp.hash) {
      problems.push({
        file,
        seq: cp.seq,
        reason: `entry ${cp.seq} has hash ${row.hash.slice(0, 16)}…, the checkpoint signed ${cp.hash.slice(0, 16)}…: entries up to ${cp.seq} were edited, removed or recomputed`,
      });
    }
  }
  // One pass over the entries up to the newest checkpoint, comparing each organisation's state
  // at each checkpoint's seq: names which organisations' entries changed.
  const fold = new OrgFold();
  let i = 0;
  const compareAt = (cp: Checkpoint, file: string) => {
    const now = new Map(fold.list().map((o) => [keyOf(o.id), o]));
    for (const o of cp.organisations) {
      const mine = now.get(keyOf(o.id)) ?? { count: 0, lastSeq: 0, hash: GENESIS_HASH };
      now.delete(keyOf(o.id));
      if (mine.count === o.count && mine.lastSeq === o.lastSeq && mine.hash === o.hash) continue;
      const what =
        mine.count !== o.count
          ? `${mine.count} entries up to seq ${cp.seq}, the checkpoint counted ${o.count}`
          : mine.lastSeq !== o.lastSeq
            ? `its last entry up to seq ${cp.seq} is ${mine.lastSeq}, the checkpoint's is ${o.lastSeq}`
            : `its entries up to seq ${cp.seq} hash differently from the checkpoint's (an entry was edited or replaced)`;
      problems.push({
        file,
        seq: cp.seq,
        organisationId: o.id,
        reason: `organisation ${o.id ?? '(none)'}: ${what}`,
      });
    }
    for (const extra of now.values()) {
      problems.push({
        file,
        seq: cp.seq,
        organisationId: extra.id,
        reason: `organisation ${extra.id ?? '(none)'}: ${extra.count} entries up to seq ${cp.seq} the checkpoint does not know of`,
      });
    }
  };
  const newest = sorted.at(-1)?.checkpoint.seq ?? 0;
  for await (const rows of thinRows(store, 0, newest)) {
    for (const r of rows) {
      while (i < sorted.length && sorted[i]!.checkpoint.seq < r.seq) {
        compareAt(sorted[i]!.checkpoint, sorted[i]!.file);
        i += 1;
      }
      fold.add(r.organisationId, r.seq, r.hash);
    }
  }
  for (; i < sorted.length; i++) compareAt(sorted[i]!.checkpoint, sorted[i]!.file);
  return problems;
}

// --- verifying an organisation's export on its own ------------------------------------------------

export interface ExportVerifyResult {
  ok: boolean;
  organisationId: string | null;
  /** Entries of the organisation the checkpoint vouches for, verified. */
  checked: number;
  /** Entries in the export after the checkpoint's last one of the organisation (not vouched for). */
  after: number;
  problems: string[];
}

/**
 * An organisation's entries (as exported, any order) against a checkpoint: each entry's hash
 * must match its content and previous hash, and the organisation's entries up to its last seq
 * in the checkpoint must be exactly those the checkpoint counted and hashed.
 */
export function verifyExportEntries(
  entries: readonly { entry: AuditEntry; where: string }[],
  cp: Checkpoint,
  organisationId: string | null,
): ExportVerifyResult {
  const problems: string[] = [];
  const mine = entries
    .filter((e) => (e.entry.organisationId ?? null) === organisationId)
    .sort((a, b) => a.entry.seq - b.entry.seq);
  const vouched = cp.organisations.find((o) => o.id === organisationId) ?? {
    id: organisationId,
    count: 0,
    lastSeq: 0,
    hash: GENESIS_HASH,
  };
  let count = 0;
  let running = GENESIS_HASH;
  let after = 0;
  let lastSeq = 0;
  let previous: number | undefined;
  for (const { entry, where } of mine) {
    if (entry.seq === previous) problems.push(`${where}: entry ${entry.seq} appears twice`);
    previous = entry.seq;
    if (auditHash(entry.prevHash, auditBody(entry)) !== entry.hash)
      problems.push(`${where}: entry ${entry.seq}'s content does not match its hash (edited)`);
    if (entry.seq > cp.seq || entry.seq > vouched.lastSeq) {
      after += 1;
      continue;
    }
    count += 1;
    lastSeq = entry.seq;
    running = orgHashStep(running, entry.hash);
  }
  const name = organisationId ?? '(none)';
  if (count !== vouched.count) {
    problems.push(
      `the export holds ${count} entries of ${name} up to seq ${vouched.lastSeq}, the checkpoint counted ${vouched.count}: ` +
        (count < vouched.count ? 'entries were removed (or the export is filtered)' : 'entries were added'),
    );
  } else if (lastSeq !== vouched.lastSeq) {
    problems.push(`the last entry of ${name} is ${lastSeq}, the checkpoint's is ${vouched.lastSeq}`);
  } else if (running !== vouched.hash) {
    problems.push(
      `the entries of ${name} up to seq ${vouched.lastSeq} do not hash to the checkpoint's running hash: an entry was edited or replaced`,
    );
  }
  return {
    ok: problems.length === 0,
    organisationId,
    checked: problems.length === 0 ? count : 0,
    after,
    problems,
  };
}
