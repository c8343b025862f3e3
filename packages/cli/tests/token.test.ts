// `sunset token create | list` as a user runs them (the real command in a child process) against
// a SQLite store of the test's own: every token names the person who holds it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const ORG = 'ville-de-test';

let t: TestStore;
function sunset(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', bin, ...args],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        NO_COLOR: '1',
        DATABASE_URL: t.url,
        SUNSET_ACTOR: 'alice',
      },
      timeout: 60_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  t = await openTestStore('sqlite');
  await t.store.organisations.ensure({ id: ORG, name: 'Ville de Test' });
});
afterAll(async () => {
  await t?.cleanup();
});

describe('sunset token', () => {
  it('create without --person is a usage error (exit 2) and makes no token', async () => {
    const r = sunset('token', 'create', '--org', ORG, '--name', 'astreinte', '--role', 'crisis');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/required option '--person <who>' not specified/);
    expect(await t.store.tokens.list(ORG)).toEqual([]);
  });

  it('create --person stores the person; list shows it; one person may hold two tokens', async () => {
    const a = sunset(
      'token',
      'create',
      '--org',
      ORG,
      '--name',
      'alice-crisis',
      '--role',
      'crisis',
      '--person',
      'alice.martin',
    );
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    expect(a.stdout).toContain('token "alice-crisis" (crisis) of alice.martin for ville-de-test');
    const b = sunset(
      'token',
      'create',
      '--org',
      ORG,
      '--name',
      'alice-admin',
      '--role',
      'admin',
      '--person',
      'alice.martin',
      '--json',
    );
    expect(b.status).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({
      name: 'alice-admin',
      person: 'alice.martin',
      role: 'admin',
    });
    const bad = sunset(
      'token',
      'create',
      '--org',
      ORG,
      '--name',
      'x',
      '--role',
      'admin',
      '--person',
      'Alice Martin',
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--person: letters, digits/);

    const list = sunset('token', 'list', '--org', ORG);
    expect(list.status).toBe(0);
    const rows = list.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NAME\s+PERSON\s+ROLE$/);
    expect(rows.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['alice-crisis', 'alice.martin', 'crisis'],
      ['alice-admin', 'alice.martin', 'admin'],
    ]);
    const json = JSON.parse(sunset('token', 'list', '--org', ORG, '--json').stdout) as { person: string }[];
    expect(json.map((x) => x.person)).toEqual(['alice.martin', 'alice.martin']);
  });
});
