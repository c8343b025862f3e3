import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, DueWaker, waitForRedis } from './index.ts';
import { startRedisServer, type PrivateRedis } from './testing/index.ts';

// A Redis of the test's own that looks at blocking commands' time limits once a second (hz 1),
// so that a worker left to Redis's clock starts a delayed job up to a second late.
let redis: PrivateRedis;

beforeAll(async () => {
  redis = await startRedisServer(['--hz', '1']);
});

afterAll(async () => {
  await redis?.cleanup();
});

describe('the due waker', () => {
  it('reads the earliest delayed job and its due time as BullMQ scores them', async () => {
    const connection = createRedis(redis.url, { role: 'producer' });
    await waitForRedis(connection, redis.url);
    const queue = new Queue('due-read', { connection });
    const waker = new DueWaker(queue, connection);
    try {
      expect(await waker.next()).toBeUndefined();
      const later = await queue.add('later', {}, { delay: 60_000, jobId: 'later' });
      const sooner = await queue.add('sooner', {}, { delay: 30_000, jobId: 'sooner' });
      const next = await waker.next();
      expect(next?.id).toBe('sooner');
      expect(next?.due).toBe(sooner.timestamp + 30_000);
      await sooner.remove();
      expect(await waker.next()).toEqual({ id: 'later', due: later.timestamp + 60_000 });
    } finally {
      await waker.stop();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('starts delayed jobs on time although Redis looks at time limits once a second', async () => {
    const producer = createRedis(redis.url, { role: 'producer' });
    const workerConnection = createRedis(redis.url, { role: 'worker' });
    await waitForRedis(producer, redis.url);
    const queue = new Queue('due-wake', { connection: producer });
    const started = new Map<string, number>();
    const worker = new Worker(
      'due-wake',
      async (job) => {
        started.set(job.id!, Date.now());
      },
      { connection: workerConnection },
    );
    const waker = new DueWaker(queue, producer, { pollMs: 200 });
    try {
      await worker.waitUntilReady();
      waker.start();
      const due = new Map<string, number>();
      // One after the other, so that the worker waits on each with nothing else to do.
      for (let i = 1; i <= 4; i++) {
        const delay = 700 + 130 * i;
        const job = await queue.add('post', {}, { delay, jobId: `j${i}` });
        due.set(job.id!, job.timestamp + delay);
        await new Promise<void>((resolve, reject) => {
          const deadline = setTimeout(() => reject(new Error(`job j${i} did not start`)), 5_000);
          const poll = setInterval(() => {
            if (started.has(`j${i}`)) {
              clearInterval(poll);
              clearTimeout(deadline);
              resolve();
            }
          }, 5);
        });
      }
      const late = [...due].map(([id, at]) => started.get(id)! - at);
      // Never early; late by the promotion's round trips, not by Redis's second-long tick.
      for (const ms of late) {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(250);
      }
    } finally {
      await waker.stop();
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      producer.disconnect();
      workerConnection.disconnect();
    }
  });
});
