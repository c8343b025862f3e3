// The worker process loads the client libraries of the networks it serves before it says it has
// started, so that the first post to a network (a crisis, maybe) does not wait for them; and it
// loads none of a network it does not serve. It keeps Node's compile cache, for faster starts.
// A bad setting stops the worker and the API at once, with the one message that names it.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  startService,
  testRedis,
  waitFor,
  WORKER_ENTRY,
  type ServiceProcess,
  type TestRedis,
} from '../support/exit-harness.ts';

const HOOK = path.join(import.meta.dirname, '../support/report-client-loads.mjs');

let t: TestStore;
let redis: TestRedis;
let worker: ServiceProcess | undefined;
// The worker's temporary directory, where its compile cache goes when nothing says otherwise.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sunset-start-'));

beforeAll(async () => {
  t = await openTestStore('sqlite');
  redis = testRedis();
});
afterAll(async () => {
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGTERM');
    await worker.exited();
  }
  await redis?.cleanup();
  await t?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('service start', () => {
  it('loads the client libraries of its networks before it takes jobs, and no other', async () => {
    worker = startService(WORKER_ENTRY, {
      NODE_OPTIONS: `--import=${HOOK}`,
      DATABASE_URL: t.url,
      REDIS_URL: redis.url,
      SUNSET_QUEUE_PREFIX: redis.prefix,
      SUNSET_WORKER_NETWORKS: 'x,mastodon',
      LOG_LEVEL: 'info',
      TMPDIR: tmp,
    });
    const w = worker;
    await waitFor(
      'the worker to start',
      () => {
        if (w.child.exitCode !== null) throw new Error(`the worker exited:\n${w.output()}`);
        return w.output().includes('"worker started"');
      },
      30_000,
      50,
    );
    // The hook writes synchronously, before the log line is written; the two pipes are read
    // separately, so its lines may arrive a little after the log's.
    await waitFor(
      'the client libraries to be reported',
      () => /loaded: twitter-api-v2/.test(w.output()) && /loaded: masto\b/.test(w.output()),
      5_000,
      50,
    );
    expect(w.output()).not.toMatch(/loaded: @atproto\/api/);
  });

  it('keeps compiled code in a cache for its next start', async () => {
    // Written when the process exits: the worker of the test above, stopped here.
    const w = worker!;
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGTERM');
      expect((await w.exited()).code).toBe(0);
    }
    const cache = path.join(tmp, 'node-compile-cache');
    const entries = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(entries.length).toBeGreaterThan(50);
  });

  it('stops the worker and the API on a bad setting with exit code 78, naming it and what they read', async () => {
    for (const [entry, variable] of [
      [WORKER_ENTRY, 'SUNSET_WORKER_CONCURRENCY'],
      [API_ENTRY, 'SUNSET_API_PORT'],
    ] as const) {
      const service = startService(entry, { [variable]: 'abc', REDIS_URL: redis.url, DATABASE_URL: t.url });
      expect((await service.exited()).code).toBe(78);
      expect(service.output()).toContain(`${variable}="abc"`);
      expect(service.output()).toMatch(/\nVariables:\n(.*\n)* {2}DATABASE_URL {2}/);
    }
  });

  it('stops the worker and the API with exit code 69 when the database cannot be reached, saying where', async () => {
    const unreachable = 'postgres://sunset@127.0.0.1:1/sunset';
    for (const entry of [WORKER_ENTRY, API_ENTRY]) {
      const service = startService(entry, { REDIS_URL: redis.url, DATABASE_URL: unreachable });
      expect((await service.exited()).code).toBe(69);
      expect(service.output()).toContain('cannot start: store');
      expect(service.output()).toContain(`cannot reach the database at ${unreachable}`);
    }
  });
});
