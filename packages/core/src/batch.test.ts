import { describe, expect, it } from 'vitest';
import { batchOneAtATime, shareInFlight } from './batch.ts';

describe('batchOneAtATime', () => {
  it('sends a lone request at once and what queued meanwhile in the next batch, one batch at a time', async () => {
    const batches: number[][] = [];
    let running = 0;
    let most = 0;
    const double = batchOneAtATime(async (batch: number[]) => {
      running += 1;
      most = Math.max(most, running);
      batches.push(batch);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return batch.map((n) => n * 2);
    });
    const answers = await Promise.all([1, 2, 3, 4].map(double));
    expect(answers).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(most).toBe(1);
  });

  it('with concurrency 2, sends a second lone request at once beside the first, and no third batch', async () => {
    const batches: number[][] = [];
    let running = 0;
    let most = 0;
    const ends: (() => void)[] = [];
    const run = batchOneAtATime(
      async (batch: number[]) => {
        running += 1;
        most = Math.max(most, running);
        batches.push(batch);
        await new Promise<void>((r) => ends.push(r));
        running -= 1;
        return batch;
      },
      { concurrency: 2 },
    );
    const first = run(1);
    const second = run(2);
    const rest = [3, 4, 5].map(run);
    expect(batches).toEqual([[1], [2]]);
    ends.shift()!();
    await first;
    await new Promise((r) => setImmediate(r));
    // The first batch's place goes to everything queued since.
    expect(batches).toEqual([[1], [2], [3, 4, 5]]);
    ends.splice(0).forEach((end) => end());
    expect(await Promise.all([second, ...rest])).toEqual([2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it('answers each request with its own value or failure, and a failed batch fails each request', async () => {
    let fail = false;
    const run = batchOneAtATime(
      async (batch: string[]) => {
        if (fail) throw new Error('batch lost');
        return batch.map((s) => (s === 'bad' ? Promise.reject(new Error('bad alone')) : s.toUpperCase()));
      },
      { defer: true },
    );
    const [a, b, c] = await Promise.allSettled(['a', 'bad', 'c'].map(run));
    expect(a).toEqual({ status: 'fulfilled', value: 'A' });
    expect(b).toMatchObject({ status: 'rejected', reason: new Error('bad alone') });
    expect(c).toEqual({ status: 'fulfilled', value: 'C' });
    fail = true;
    await expect(run('x')).rejects.toThrow('batch lost');
  });

  it('with defer, takes the requests of one turn of the event loop together', async () => {
    const batches: number[][] = [];
    const run = batchOneAtATime(
      async (batch: number[]) => {
        batches.push(batch);
        return batch;
      },
      { defer: true, max: 2 },
    );
    await Promise.all([1, 2, 3].map(run));
    expect(batches).toEqual([[1, 2], [3]]);
  });
});

describe('shareInFlight', () => {
  it('shares one call among concurrent callers of a key, and calls again once it has settled', async () => {
    let calls = 0;
    const read = shareInFlight(async (key: string) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return `${key}#${calls}`;
    });
    expect(await Promise.all([read('a'), read('a'), read('b')])).toEqual(['a#2', 'a#2', 'b#2']);
    expect(calls).toBe(2);
    expect(await read('a')).toBe('a#3');
  });
});
