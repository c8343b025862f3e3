/**
 * The bench harness's baselines do what their ratios assume: the bare Fastify route makes the
 * API's Redis add (three crisis jobs with the worker's job options), and the baseline worker
 * publishes each job once through the organisation's connectors to the sandboxes. Seeded draws
 * repeat. Run with `pnpm --filter @sunset/tests test:bench-harness` (not part of `pnpm test`).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NETWORKS } from '@sunset/core';
import { deliverJobOptions, JOBS, PRIORITY, Queues } from '@sunset/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, comparisonMarkdown, readEarlier, type Result } from './compare.ts';
import {
  checkExactlyOnce,
  killAllSpawned,
  landings,
  rawQueues,
  seededRandom,
  startBaselineApi,
  startBaselineWorker,
  startExit,
  waitFor,
  type Exit,
} from './lib.ts';

let exit: Exit;

beforeAll(async () => {
  exit = await startExit('sqlite');
});

afterAll(async () => {
  killAllSpawned();
  await exit?.close();
});

describe('bench baselines', () => {
  it('the bare Fastify route adds the crisis jobs the API adds', async () => {
    const prefix = `${exit.redis.prefix}:bare`;
    const bare = await startBaselineApi(exit, prefix);
    const queues = new Queues({ connection: exit.producer, prefix });
    try {
      const r = await fetch(`${bare.base}/v1/crisis`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Alerte' }),
      });
      expect(r.status).toBe(202);
      const expected = deliverJobOptions({
        id: 'any',
        organisationId: 'any',
        network: 'x',
        dueAt: new Date(),
        priority: PRIORITY.crisis,
        jobId: 'any',
      });
      for (const network of NETWORKS) {
        const jobs = await queues.queue(network, 'crisis').getJobs(['prioritized', 'waiting']);
        expect(jobs).toHaveLength(1);
        expect(jobs[0]?.name).toBe(JOBS.deliver.name);
        expect(jobs[0]?.opts.priority).toBe(expected.priority);
        expect(jobs[0]?.opts.attempts).toBe(expected.attempts);
      }
    } finally {
      await bare.service.stop();
      await queues.close();
    }
  });

  it('the baseline worker posts each job once through the connectors', async () => {
    const raw = rawQueues(exit);
    const worker = await startBaselineWorker(exit, raw, 4);
    try {
      const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
      const refs = ['hs1', 'hs2', 'hs3'];
      for (const n of ['x', 'mastodon'] as const)
        await raw[n].addBulk(
          refs.map((ref) => ({
            name: 'deliver',
            data: { text: `Essai ref=${ref}` },
            opts: { jobId: `${ref}.${n}` },
          })),
        );
      await waitFor(
        'the baseline posts',
        () =>
          exit.sandboxes.x.posts.length - from.x >= refs.length &&
          exit.sandboxes.mastodon.statuses.length - from.mastodon >= refs.length,
        30_000,
        20,
      );
      expect(() =>
        checkExactlyOnce('baseline', landings(exit.sandboxes, from), refs, ['x', 'mastodon']),
      ).not.toThrow();
    } finally {
      await worker.stop();
      await raw.x.close();
      await raw.mastodon.close();
    }
  });

  it('seeded draws repeat and stay in [0, 1)', () => {
    const a = seededRandom(25);
    const b = seededRandom(25);
    const first = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(first);
    expect(first.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(seededRandom(26)()).not.toBe(first[0]);
  });
});

describe('two runs side by side', () => {
  const result = (key: string, unit: string, value: number): Result => ({
    benchmark: 'throughput',
    title: 'Delivery throughput',
    spec: { key, label: key, unit },
    values: [value],
    median: value,
    min: value,
    max: value,
  });
  const earlierFile = (figures: { key: string; median: number }[]) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-compare-'));
    const file = path.join(dir, 'benchmarks.json');
    writeFileSync(
      file,
      JSON.stringify({
        runs: 5,
        quick: false,
        machine: { date: '2026-12-06T00:00:00.000Z', 'CPU yardstick': '20.1 ms, 19–21' },
        figures: figures.map((f) => ({ benchmark: 'throughput', kind: 'ratio', ...f })),
      }),
    );
    return file;
  };

  it('says which ratios agree within 15 %, the larger over the smaller', () => {
    const earlier = readEarlier(
      earlierFile([
        { key: 'c16-ratio', median: 0.5 },
        { key: 'c64-ratio', median: 0.5 },
        { key: 'c64', median: 1000 },
      ]),
    );
    expect(earlier).toBeDefined();
    const c = compare(
      [
        result('c16-ratio', '×', 0.57),
        result('c64-ratio', '×', 0.44),
        result('c64', 'deliveries/s', 2000),
        result('new', '×', 1),
      ],
      earlier!,
    );
    expect(c.rows.map((r) => [r.result.spec.key, r.agrees])).toEqual([
      ['c16-ratio', true],
      // 0.5 is 13.6 % above 0.44: they agree; 0.42 (below) would be 19 % apart.
      ['c64-ratio', true],
      ['c64', undefined],
    ]);
    const apart = compare([result('c64-ratio', '×', 0.42)], earlier!);
    expect(apart.rows[0]?.agrees).toBe(false);
    const text = comparisonMarkdown(apart).join('\n');
    expect(text).toContain('0 of 1 do; apart: c64-ratio');
    expect(text).toMatch(/\| c64-ratio \| ratio \| 0\.42 \| 0\.50 \| −16\.0 % \| \*\*no\*\* \|/);
  });

  it('refuses a file that is not a benchmarks.json, and reads nothing where there is none', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-compare-'));
    const file = path.join(dir, 'other.json');
    writeFileSync(file, JSON.stringify({ hello: 1 }));
    expect(() => readEarlier(file)).toThrow(/not a benchmarks\.json/);
    expect(readEarlier(path.join(dir, 'absent.json'))).toBeUndefined();
  });
});
