import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openTestStore, rawSql, testDialects, type TestStore } from '@sunset/store/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startAuditCheckpoints, type AuditCheckpointer } from './audit-checkpoints.ts';

describe.each(await testDialects())('the worker’s audit checkpoints ($dialect)', ({ dialect, skip }) => {
  let t: TestStore | undefined;
  let dir: string | undefined;
  const started: AuditCheckpointer[] = [];
  afterEach(async () => {
    for (const c of started.splice(0)) await c.stop();
    await t?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(skip)(
    'signs when the head moved, once among several workers, and refuses a cut chain loudly',
    async () => {
      t = await openTestStore(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-worker-cp-'));
      const { privateKey: key } = generateKeyPairSync('ed25519');
      const errors: string[] = [];
      const logger = {
        info: () => undefined,
        error: (_o: object, message: string) => void errors.push(message),
      };
      const append = (i: number) =>
        t!.store.audit.append({
          organisationId: 'ville-de-tours',
          actor: `cli:u${i}`,
          action: 'test.note',
          outcome: 'ok',
        });
      for (let i = 1; i <= 3; i++) await append(i);
      const files = () =>
        readdirSync(dir!)
          .filter((f) => f.endsWith('.json'))
          .sort();
      // A long interval: the rounds below are the ones the test asks for (plus the one at start).
      const one = startAuditCheckpoints({ store: t.store, key, dir, intervalMs: 3_600_000, logger });
      const two = startAuditCheckpoints({ store: t.store, key, dir, intervalMs: 3_600_000, logger });
      started.push(one, two);
      await one.tick();
      await two.tick();
      expect(files()).toEqual(['audit-checkpoint-000000000003.json']);
      expect(await one.tick()).toBe(false);
      expect(await two.tick()).toBe(false);

      await append(4);
      expect(await two.tick()).toBe(true);
      expect(await one.tick()).toBe(false);
      expect(files()).toEqual(['audit-checkpoint-000000000003.json', 'audit-checkpoint-000000000004.json']);
      expect(errors).toEqual([]);

      await rawSql(
        t,
        dialect === 'postgres'
          ? 'drop trigger audit_log_append_only on audit_log'
          : 'drop trigger audit_log_no_delete',
      );
      const [third] = await t.store.audit.list({ afterSeq: 2, limit: 1 });
      await rawSql(
        t,
        `delete from audit_log where seq > 3; update audit_head set seq = 3, hash = '${third!.hash}' where id = 1`,
      );
      await append(5);
      expect(await one.tick()).toBe(false);
      expect(errors).toEqual(['audit checkpoint refused: the log does not agree with the last checkpoint']);
      expect(files()).toHaveLength(2);
    },
  );
});
