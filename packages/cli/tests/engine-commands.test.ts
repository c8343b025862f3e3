// The commands that work on a deployment's state, run as a user runs them (the real `sunset` in a
// child process) against a real store (a SQLite file of the test's own) and Redis (a key prefix
// of the test's own, removed afterwards): plan apply and its diff, plan status, audit verify
// (also after an attacker edited the log), audit list, and apply with Redis away.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import { openTestStore, rawSql, type TestStore } from '@sunset/store/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const TOURS = 'config/plans/ville-de-tours.yaml';
const ORG = 'ville-de-tours';

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

async function keysUnder(prefix: string): Promise<string[]> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys;
  } finally {
    redis.disconnect();
  }
}

/** The lines of the diff: a mark, the local time, then the network and the action. */
const diffLines = (stdout: string) =>
  stdout.split('\n').filter((l) => /^[+~\-=✓] \d{4}-\d\d-\d\d \d\d:\d\d /.test(l));

describe('sunset plan, audit: against a real store and Redis', () => {
  let t: TestStore;
  let env: Record<string, string>;
  const prefix = testPrefix();
  const dirs: string[] = [];

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    env = {
      DATABASE_URL: t.url,
      REDIS_URL: TEST_REDIS_URL,
      SUNSET_QUEUE_PREFIX: prefix,
      SUNSET_ACTOR: 'alice',
    };
  });
  afterAll(async () => {
    await removePrefix(TEST_REDIS_URL, prefix);
    expect(await keysUnder(prefix)).toEqual([]);
    await t?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('plan apply --dry-run shows the diff and changes nothing', async () => {
    const r = sunset(env, 'plan', 'apply', TOURS, '--dry-run');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = diffLines(r.stdout);
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.every((l) => l.startsWith('+ '))).toBe(true);
    expect(r.stdout).toMatch(/dry run: .*Nothing was changed\./);
    expect(await t.store.plans.latest(ORG)).toBeUndefined();
    expect(await t.store.deliveries.list({ organisationId: ORG })).toEqual([]);
    expect(await t.store.audit.list({})).toEqual([]);
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('plan apply prints the diff with + lines, stores the plan and queues the jobs', async () => {
    const r = sunset(env, 'plan', 'apply', TOURS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = diffLines(r.stdout);
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.every((l) => l.startsWith('+ '))).toBe(true);
    expect(lines.some((l) => /post au-revoir/.test(l) && /X/.test(l))).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`applied as version 1 of ${ORG}: ${lines.length} added`));

    const latest = await t.store.plans.latest(ORG);
    expect(latest?.version).toBe(1);
    const deliveries = await t.store.deliveries.list({ organisationId: ORG });
    expect(deliveries).toHaveLength(lines.length);
    expect(deliveries.every((d) => d.status === 'queued')).toBe(true);
    const applied = await t.store.audit.list({ action: 'plan.applied' });
    expect(applied).toHaveLength(1);
    expect(applied[0]!.actor).toBe('cli:alice');
    // Each delivery has its job in Redis, under this test's prefix.
    const jobKeys = (await keysUnder(prefix)).filter((k) =>
      deliveries.some((d) => k.endsWith(`:${d.jobId}`)),
    );
    expect(jobKeys).toHaveLength(deliveries.length);
  });

  it('plan apply of the same plan again has nothing to change', async () => {
    const r = sunset(env, 'plan', 'apply', TOURS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = diffLines(r.stdout);
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.filter((l) => !/^[=✓] /.test(l))).toEqual([]);
    expect(r.stdout).toMatch(/nothing to change/);
    expect((await t.store.plans.latest(ORG))?.version).toBe(1);
    expect(await t.store.audit.list({ action: 'plan.applied' })).toHaveLength(1);
  });

  it('plan apply --json prints a result that parses', () => {
    const r = sunset(env, 'plan', 'apply', TOURS, '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      organisationId: string;
      counts: Record<string, number>;
      diff: { mark: string; deliveryId: string }[];
    };
    expect(out.valid).toBe(true);
    expect(out.organisationId).toBe(ORG);
    expect(out.counts['+']).toBe(0);
    expect(out.counts['=']).toBe(out.diff.length);
    expect(out.diff.every((e) => e.deliveryId.startsWith(`${ORG}.`))).toBe(true);
  });

  it('plan status lists every action of the organisation and exits 0', async () => {
    const r = sunset(env, 'plan', 'status', ORG);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${ORG}: plan version 1, applied .* by cli:alice`, 'm'));
    const deliveries = await t.store.deliveries.list({ organisationId: ORG });
    for (const postId of new Set(deliveries.map((d) => d.postId).filter(Boolean))) {
      expect(r.stdout).toContain(`post ${postId}`);
    }
    expect(r.stdout).toContain('X policy at the sunset');
    expect(r.stdout).toMatch(new RegExp(`${deliveries.length} scheduled`));

    const json = sunset(env, 'plan', 'status', ORG, '--json');
    expect(json.status).toBe(0);
    expect((JSON.parse(json.stdout) as { version: number }).version).toBe(1);
  });

  it('plan status of an unknown organisation exits 1 and says so', () => {
    const r = sunset(env, 'plan', 'status', 'unknown-org');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown-org has no applied plan \(run sunset plan apply <file> first\)/);
  });

  it('networks resume x queues the X posts held while X was paused for credits, audited', async () => {
    const [held] = (await t.store.deliveries.list({ organisationId: ORG, network: 'x' })).filter(
      (d) => d.kind === 'post',
    );
    expect(held).toBeDefined();
    // As the worker leaves it after a 402 (engine tests cover that part).
    await rawSql(t, `update deliveries set status = 'needs-attention' where id = '${held!.id}'`);
    await t.store.xSpend.hold(ORG, held!.id, "X credits exhausted: buy credits in X's developer console");
    await t.store.kv.set(
      ORG,
      'x.paused',
      JSON.stringify({ kind: 'credits', reason: 'X credits exhausted', since: new Date().toISOString() }),
    );
    const r = sunset(env, 'networks', 'resume', 'x', ORG);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`X resumed for ${ORG}: 1 held post queued again`);
    const after = await t.store.deliveries.get(held!.id);
    expect(after?.status).toBe('queued');
    expect(after?.jobId).not.toBe(held!.jobId);
    expect((await keysUnder(prefix)).some((k) => k.endsWith(`:${after!.jobId}`))).toBe(true);
    expect(await t.store.xSpend.holds(ORG)).toEqual([]);
    expect(await t.store.kv.get(ORG, 'x.paused')).toBeUndefined();
    const resumed = await t.store.audit.list({ action: 'x.resumed' });
    expect(resumed.map((e) => e.actor)).toEqual(['cli:alice']);
    expect(sunset(env, 'networks', 'resume', 'x', 'nobody').status).toBe(1);
    expect(sunset(env, 'networks', 'resume', 'bluesky', ORG).status).toBe(2);
  });

  it('an invalid plan exits 1 and changes nothing', async () => {
    const other = await openTestStore('sqlite');
    try {
      const dir = mkdtempSync(path.join(tmpdir(), 'sunset-cli-'));
      dirs.push(dir);
      const file = path.join(dir, 'plan.yaml');
      writeFileSync(
        file,
        readFileSync(path.join(root, TOURS), 'utf8').replace(
          'timezone: Europe/Paris',
          'timezone: Europe/Tours',
        ),
      );
      const r = sunset({ ...env, DATABASE_URL: other.url }, 'plan', 'apply', file);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/organisation\.timezone/);
      expect(r.stdout).toMatch(/is not valid: nothing was changed/);
      expect(await other.store.plans.latest(ORG)).toBeUndefined();
      expect(await other.store.audit.list({})).toEqual([]);
    } finally {
      await other.cleanup();
    }
  });

  it('audit verify says the log is intact and exits 0', () => {
    const r = sunset(env, 'audit', 'verify');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/the audit log is intact: \d+ entries checked/);
    const json = sunset(env, 'audit', 'verify', '--json');
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true });
  });

  it('audit list --json prints one JSON object per line, oldest first', () => {
    const r = sunset(env, 'audit', 'list', '--json');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { seq: number; action: string; hash: string });
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => a - b));
    expect(entries.some((e) => e.action === 'plan.applied')).toBe(true);
  });

  it('audit verify names the entry an attacker edited in the database, and exits 1', async () => {
    // Two entries at least, so the edited one has an intact one before it.
    await t.store.audit.append({
      organisationId: ORG,
      actor: 'cli:bob',
      action: 'test.note',
      outcome: 'ok',
    });
    const before = await t.store.audit.list({});
    expect(before.length).toBeGreaterThanOrEqual(2);
    // The database refuses the edit while its trigger stands.
    await expect(rawSql(t, "update audit_log set actor = 'cli:mallory' where seq = 2")).rejects.toThrow(
      /append-only/,
    );
    await rawSql(t, 'drop trigger audit_log_no_update');
    await rawSql(t, "update audit_log set actor = 'cli:mallory' where seq = 2");

    const r = sunset(env, 'audit', 'verify');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/the audit log is broken at entry 2: /);
    expect(r.stdout).toContain('(1 entry before it is intact)');
    const json = sunset(env, 'audit', 'verify', '--json');
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBad: { seq: 2 } });
  });

  it('plan apply with Redis not answering still updates the store and warns that the worker will queue the jobs', async () => {
    const other = await openTestStore('sqlite');
    try {
      const started = Date.now();
      const r = sunset(
        { ...env, DATABASE_URL: other.url, REDIS_URL: 'redis://127.0.0.1:1' },
        'plan',
        'apply',
        TOURS,
      );
      expect(r.status).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(r.stdout).toMatch(new RegExp(`applied as version 1 of ${ORG}`));
      expect(r.stderr).toMatch(
        /the store is up to date but the jobs were not queued: Redis is not answering/,
      );
      expect(r.stderr).toMatch(/The worker puts them in the queues when it next starts or reconciles/);
      expect((await other.store.plans.latest(ORG))?.version).toBe(1);
      const deliveries = await other.store.deliveries.list({ organisationId: ORG });
      expect(deliveries.length).toBeGreaterThan(5);
      expect(deliveries.every((d) => d.status === 'queued')).toBe(true);
    } finally {
      await other.cleanup();
    }
  });
});
