// Signed audit checkpoints, run as an operator and an auditor run them (the real `sunset` in a
// child process) against a real store, SQLite and PostgreSQL: someone who can write to the
// database drops the triggers and cuts the chain back, recomputes it, or removes one
// organisation's entry; each is caught against a checkpoint taken before. An organisation's
// export is checked on its own, without the store.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditBody, auditHash, GENESIS_HASH, type AuditEntry } from '@sunset/store';
import { openTestStore, rawSql, testDialects, type TestStore } from '@sunset/store/testing';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const A = 'ville-de-tours';
const B = 'ville-de-blois';

function sunset(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, ...args],
    {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NO_COLOR: '1', ...env },
      timeout: 60_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function pemKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    private: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Twelve entries: A at 1 4 7 10, B at 2 5 8 11, none at 3 6 9 12. */
async function seed(t: TestStore): Promise<void> {
  for (let i = 1; i <= 12; i++) {
    const org = [A, B, undefined][(i - 1) % 3];
    await t.store.audit.append({
      ...(org ? { organisationId: org } : {}),
      actor: `cli:user${i}`,
      action: 'test.note',
      outcome: 'ok',
      details: { i, note: `entry ${i}` },
      // A cell the CSV export neutralises for spreadsheets ('=…): read back as it was.
      ...(i === 4 ? { error: '=HYPERLINK("http://example.org")' } : {}),
    });
  }
}

const dropTriggers = (t: TestStore) =>
  rawSql(
    t,
    t.dialect === 'postgres'
      ? 'drop trigger audit_log_append_only on audit_log'
      : 'drop trigger audit_log_no_update; drop trigger audit_log_no_delete',
  );

/**
 * What an attacker with the database does after an edit: every hash recomputed from the first
 * entry on, seqs made contiguous again, the head moved to the new last entry.
 */
async function recomputeEverything(t: TestStore): Promise<void> {
  const entries = await t.store.audit.list({ limit: 100_000 });
  let prev = GENESIS_HASH;
  const statements: string[] = [];
  entries.forEach((e, i) => {
    const seq = i + 1;
    const hash = auditHash(prev, auditBody({ ...e, seq }));
    statements.push(
      `update audit_log set seq = ${seq}, prev_hash = '${prev}', hash = '${hash}' where seq = ${e.seq}`,
    );
    prev = hash;
  });
  statements.push(`update audit_head set seq = ${entries.length}, hash = '${prev}' where id = 1`);
  await rawSql(t, statements.join(';\n'));
}

describe.each(await testDialects())('audit checkpoints ($dialect)', ({ dialect, skip }) => {
  let t: TestStore | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A fresh store with the twelve entries, a key, a checkpoint folder and the env to use them. */
  async function setUp() {
    t = await openTestStore(dialect);
    await seed(t);
    const dir = mkdtempSync(path.join(tmpdir(), 'sunset-checkpoints-'));
    dirs.push(dir);
    const keys = pemKeyPair();
    writeFileSync(path.join(dir, 'signing.pem'), keys.private, { mode: 0o600 });
    writeFileSync(path.join(dir, 'auditor.pub'), keys.public);
    const env = {
      DATABASE_URL: t.url,
      ...(t.schema ? { DATABASE_SCHEMA: t.schema } : {}),
      SUNSET_ACTOR: 'alice',
      SUNSET_AUDIT_SIGNING_KEY_FILE: path.join(dir, 'signing.pem'),
      SUNSET_AUDIT_CHECKPOINT_DIR: path.join(dir, 'archive'),
    };
    return { t, dir, env, keys };
  }

  /** Takes a checkpoint through the CLI; its file. */
  function checkpoint(env: Record<string, string>): string {
    const r = sunset(env, 'audit', 'checkpoint');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const file = /written to (\S+)$/m.exec(r.stdout)?.[1];
    expect(file).toBeDefined();
    return file!;
  }

  it.skipIf(skip)(
    'checkpoint signs the head into a file named by seq, once per head; key prints the public key',
    async () => {
      const { env, keys, dir } = await setUp();
      const file = checkpoint(env);
      expect(path.basename(file)).toBe('audit-checkpoint-000000000012.json');
      const cp = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      expect(cp).toMatchObject({ format: 'sunset-audit-checkpoint', version: 1, seq: 12 });
      expect(cp['hash']).toBe((await t!.store.audit.head()).hash);
      expect(cp['organisations']).toEqual([
        { id: null, count: 4, lastSeq: 12, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { id: B, count: 4, lastSeq: 11, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { id: A, count: 4, lastSeq: 10, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      ]);
      // The head has not moved: no second file.
      const again = sunset(env, 'audit', 'checkpoint');
      expect(again.status).toBe(0);
      expect(again.stdout).toContain('the head has not moved');
      // It moved: the next one is made from the last (only the new entries read).
      await t!.store.audit.append({
        organisationId: A,
        actor: 'cli:bob',
        action: 'test.note',
        outcome: 'ok',
      });
      expect(path.basename(checkpoint(env))).toBe('audit-checkpoint-000000000013.json');
      expect(readdirSync(path.join(dir, 'archive')).sort()).toEqual([
        'audit-checkpoint-000000000012.json',
        'audit-checkpoint-000000000013.json',
      ]);
      const key = sunset(env, 'audit', 'key');
      expect(key.status).toBe(0);
      expect(key.stdout).toContain(keys.public.trim());
      expect(key.stdout).toMatch(/^fingerprint [0-9a-f]{4}(:[0-9a-f]{4}){3}$/m);
      const out = path.join(dir, 'elsewhere.json');
      const r = sunset(env, 'audit', 'checkpoint', '--out', out);
      expect(r.status).toBe(0);
      expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ seq: 13 });
      const verify = sunset(env, 'audit', 'verify', '--checkpoint', file, out);
      expect(verify.stdout).toContain('the log agrees with 2 signed checkpoints');
      expect(verify.status).toBe(0);
    },
  );

  it.skipIf(skip)(
    '(a) triggers dropped, newest entries deleted, head moved back: verify --checkpoint reports the truncation',
    async () => {
      const { env } = await setUp();
      const file = checkpoint(env);
      await dropTriggers(t!);
      const [eighth] = await t!.store.audit.list({ afterSeq: 7, limit: 1 });
      await rawSql(
        t!,
        `delete from audit_log where seq > 8; update audit_head set seq = 8, hash = '${eighth!.hash}' where id = 1`,
      );
      // The chain alone is fooled: what is left is a perfect chain.
      const plain = sunset(env, 'audit', 'verify');
      expect(plain.stdout).toContain('the audit log is intact: 8 entries');
      expect(plain.status).toBe(0);

      const r = sunset(env, 'audit', 'verify', '--checkpoint', file);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(
        `${file} (seq 12): truncated: the chain head is at seq 8, but the checkpoint vouches for entries up to 12`,
      );
      expect(r.stdout).toContain(`organisation ${A}: 3 entries up to seq 12, the checkpoint counted 4`);
      const json = sunset(env, 'audit', 'verify', '--checkpoint', file, '--json');
      expect(json.status).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, chainOk: true, checkpoints: { ok: false } });
      // And the next checkpoint refuses to vouch for the cut chain.
      const next = sunset(env, 'audit', 'checkpoint');
      expect(next.status).toBe(1);
      expect(next.stderr).toMatch(
        /no checkpoint written: the chain head is at seq 8, below the last checkpoint's 12/,
      );
    },
  );

  it.skipIf(skip)(
    '(b) an entry edited and the whole chain recomputed: detected, and the export no longer verifies',
    async () => {
      const { env, dir } = await setUp();
      const file = checkpoint(env);
      await dropTriggers(t!);
      await rawSql(t!, "update audit_log set actor = 'cli:mallory' where seq = 4");
      await recomputeEverything(t!);
      const plain = sunset(env, 'audit', 'verify');
      expect(plain.status).toBe(0);

      const r = sunset(env, 'audit', 'verify', '--checkpoint', file);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(
        new RegExp(`\\(seq 12\\): entry 12 has hash [0-9a-f]{16}…, the checkpoint signed`),
      );
      expect(r.stdout).toContain(
        `organisation ${A}: its entries up to seq 12 hash differently from the checkpoint's (an entry was edited or replaced)`,
      );
      // Only A's entries changed in content; B's hashes changed too (the chain runs through A's).
      const exported = path.join(dir, 'a.ndjson');
      expect(sunset(env, 'audit', 'export', '--format', 'ndjson', '--org', A, '--out', exported).status).toBe(
        0,
      );
      const v = sunset(
        {},
        'audit',
        'verify-export',
        exported,
        '--checkpoint',
        file,
        '--public-key',
        path.join(dir, 'auditor.pub'),
      );
      expect(v.status).toBe(1);
      expect(v.stdout).toContain(`do not hash to the checkpoint's running hash`);
    },
  );

  it.skipIf(skip)(
    "(c) one organisation's middle entry deleted (and the chain recomputed over the gap): detected",
    async () => {
      const { env } = await setUp();
      const file = checkpoint(env);
      await dropTriggers(t!);
      await rawSql(t!, 'delete from audit_log where seq = 5');
      // Deleted only: the chain itself shows the gap.
      const gap = sunset(env, 'audit', 'verify', '--checkpoint', file);
      expect(gap.status).toBe(1);
      expect(gap.stdout).toContain('the audit log is broken at entry 5: entry 5 is missing');
      expect(gap.stdout).toContain(`organisation ${B}: 3 entries up to seq 12, the checkpoint counted 4`);
      // Deleted and the chain made whole again: only the checkpoint tells.
      await recomputeEverything(t!);
      expect(sunset(env, 'audit', 'verify').status).toBe(0);
      const r = sunset(env, 'audit', 'verify', '--checkpoint', file);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('truncated: the chain head is at seq 11');
      expect(r.stdout).toContain(`organisation ${B}: 3 entries up to seq 12, the checkpoint counted 4`);
    },
  );

  it.skipIf(skip)(
    '(d) a checkpoint altered after signing, or signed by another key, is refused',
    async () => {
      const { env, dir } = await setUp();
      const file = checkpoint(env);
      const cp = JSON.parse(readFileSync(file, 'utf8')) as { organisations: { count: number }[] };
      cp.organisations[0]!.count -= 1;
      const altered = path.join(dir, 'altered.json');
      writeFileSync(altered, JSON.stringify(cp, null, 2));
      const r = sunset(env, 'audit', 'verify', '--checkpoint', altered);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(
        `${altered}: refused: the signature does not match its content (the file was altered)`,
      );
      const other = path.join(dir, 'other.pub');
      writeFileSync(other, pemKeyPair().public);
      const wrongKey = sunset(env, 'audit', 'verify', '--checkpoint', file, '--public-key', other);
      expect(wrongKey.status).toBe(1);
      expect(wrongKey.stdout).toMatch(/refused: signed by key [0-9a-f]{16}…, not by the key given/);
      const notJson = path.join(dir, 'broken.json');
      writeFileSync(notJson, '{"format":"sunset-audit-checkpoint","version":1,');
      const broken = sunset(env, 'audit', 'verify', '--checkpoint', notJson);
      expect(broken.status).toBe(1);
      expect(broken.stdout).toContain(`${notJson}: refused: not JSON`);
    },
  );

  it.skipIf(skip)(
    "(e) an organisation's export verifies alone against the checkpoint, and not once an entry is edited or removed",
    async () => {
      const { env, dir } = await setUp();
      const file = checkpoint(env);
      // One more entry after the checkpoint: in the export, not vouched for.
      await t!.store.audit.append({
        organisationId: A,
        actor: 'cli:bob',
        action: 'test.note',
        outcome: 'ok',
      });
      const pub = path.join(dir, 'auditor.pub');
      const ndjson = path.join(dir, 'a.ndjson');
      const csv = path.join(dir, 'a.csv');
      expect(sunset(env, 'audit', 'export', '--format', 'ndjson', '--org', A, '--out', ndjson).status).toBe(
        0,
      );
      expect(sunset(env, 'audit', 'export', '--format', 'csv', '--org', A, '--out', csv).status).toBe(0);
      // No store at all: the auditor's own machine.
      for (const exported of [ndjson, csv]) {
        const ok = sunset({}, 'audit', 'verify-export', exported, '--checkpoint', file, '--public-key', pub);
        expect(ok.stdout).toContain(
          `✓ 4 entries of ${A} agree with ${file} (seq 12); 1 later entries are not covered by it`,
        );
        expect(ok.status).toBe(0);
      }
      const lines = readFileSync(ndjson, 'utf8').trim().split('\n');
      const at = (i: number) => JSON.parse(lines[i]!) as AuditEntry & { at: string };

      const edited = path.join(dir, 'edited.ndjson');
      writeFileSync(
        edited,
        [lines[0], JSON.stringify({ ...at(1), actor: 'cli:mallory' }), ...lines.slice(2)].join('\n'),
      );
      const e1 = sunset({}, 'audit', 'verify-export', edited, '--checkpoint', file, '--public-key', pub);
      expect(e1.status).toBe(1);
      expect(e1.stdout).toContain(`${edited}:2: entry 4's content does not match its hash (edited)`);

      // Edited with its hash recomputed, as a database rewrite would give it.
      const e = { ...at(1), actor: 'cli:mallory' };
      const rehashed = { ...e, hash: auditHash(e.prevHash, auditBody({ ...e, at: new Date(e.at) })) };
      const rewritten = path.join(dir, 'rewritten.ndjson');
      writeFileSync(rewritten, [lines[0], JSON.stringify(rehashed), ...lines.slice(2)].join('\n'));
      const e2 = sunset({}, 'audit', 'verify-export', rewritten, '--checkpoint', file, '--public-key', pub);
      expect(e2.status).toBe(1);
      expect(e2.stdout).toContain(
        `the entries of ${A} up to seq 10 do not hash to the checkpoint's running hash`,
      );

      const removed = path.join(dir, 'removed.ndjson');
      writeFileSync(removed, [lines[0], ...lines.slice(2)].join('\n'));
      const e3 = sunset({}, 'audit', 'verify-export', removed, '--checkpoint', file, '--public-key', pub);
      expect(e3.status).toBe(1);
      expect(e3.stdout).toContain(
        `the export holds 3 entries of ${A} up to seq 10, the checkpoint counted 4: entries were removed`,
      );
    },
  );
});
