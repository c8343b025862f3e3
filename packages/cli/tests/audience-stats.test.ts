// `sunset audience stats <org> [--csv]` against a real store: the follower history the worker
// kept, per network, as a summary with the sunset, or every reading as CSV for a spreadsheet.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
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

describe('sunset audience stats', () => {
  let t: TestStore;
  let env: Record<string, string>;
  const prefix = testPrefix();

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    env = { DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, SUNSET_QUEUE_PREFIX: prefix };
    expect(sunset(env, 'plan', 'apply', 'config/plans/ville-de-tours.yaml').status).toBe(0);
    for (const [network, count] of [
      ['x', 15_200],
      ['bluesky', 800],
      ['mastodon', 300],
      ['x', 15_150],
      ['bluesky', 950],
    ] as const) {
      await t.store.watch.recordFollowers({ organisationId: ORG, network, count });
      await new Promise((r) => setTimeout(r, 2));
    }
    await t.store.watch.claim({ organisationId: ORG, task: 'followers:x', owner: 'w', leaseMs: 60_000 });
    await t.store.watch.finish(ORG, 'followers:x', 'w', {
      status: 'skipped',
      message: 'not read: a user read costs $0.010 and would dip into the crisis reserve',
      nextAt: new Date(Date.now() + 86_400_000),
    });
  }, 90_000);
  afterAll(async () => {
    await removePrefix(TEST_REDIS_URL, prefix);
    await t?.cleanup();
  });

  it('sums up each network: first, latest, change, and why X was not read', () => {
    const r = sunset(env, 'audience', 'stats', ORG);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/sunset 2027-\d\d-\d\d \d\d:\d\d/);
    expect(r.stdout).toMatch(/X\s+15200 → 15150\s+-50\s+2 readings/);
    expect(r.stdout).toMatch(/Bluesky\s+800 → 950\s+\+150\s+2 readings/);
    expect(r.stdout).toMatch(/Mastodon\s+300 → 300\s+0\s+1 reading\b/);
    expect(r.stdout).toContain('X: skipped (not read: a user read costs $0.010');
  });

  it('writes every reading as CSV', () => {
    const r = sunset(env, 'audience', 'stats', ORG, '--csv');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('at,network,followers');
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,x,15200$/);
    expect(lines.at(-1)).toMatch(/,bluesky,950$/);
  });

  it('says so for an organisation it does not know, and changes nothing', () => {
    const r = sunset(env, 'audience', 'stats', 'ville-inconnue');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('there is no organisation "ville-inconnue"');
  });
});
