/**
 * Memory: VmRSS (from /proc/<pid>/status) of the API and worker processes, spawned from their
 * entry points as in production (`pnpm api`, `pnpm worker`, Node 24 running the TypeScript
 * sources).
 *
 *  - worker idle / after load: the worker processes of benchmark 2 (throughput.ts), read half a
 *    second after each started and after its configuration's rounds (500 deliveries per round,
 *    at concurrency 4 to 64); one value per worker process. When throughput did not run in this
 *    `pnpm bench`, one configuration of it (concurrency 64) is run here to get them.
 *  - API idle / after load: an API process of its own, read once ready, then after each run of
 *    LOAD_POSTS ordinary posts (X and Mastodon) sent through POST /v1/posts, 16 at a time, and
 *    delivered by a worker at concurrency 64, whose RSS after that load is recorded too.
 */
import {
  check,
  createToken,
  fmt,
  pool,
  sleep,
  startApi,
  startExit,
  startWorker,
  type Benchmark,
} from './lib.ts';
import { measureRound, waitForLandings, workerRss } from './throughput.ts';

const LOAD_POSTS = 300;

export const memory: Benchmark = {
  name: 'memory',
  title: 'Memory (RSS)',
  figures: [
    {
      key: 'worker-idle',
      label: 'worker process, idle (just started)',
      unit: 'MB',
      target: { op: '<=', value: 200 },
    },
    {
      key: 'worker-load',
      label: 'worker process, after the throughput rounds',
      unit: 'MB',
      target: { op: '<=', value: 200 },
    },
    { key: 'api-idle', label: 'API process, idle', unit: 'MB' },
    { key: 'api-load', label: 'API process, after 300 posts per run through it', unit: 'MB' },
    {
      key: 'worker-api-load',
      label: 'worker process, after delivering those posts',
      unit: 'MB',
      target: { op: '<=', value: 200 },
    },
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    try {
      if (workerRss.idle.length === 0) {
        ctx.progress('throughput did not run: one configuration of it (concurrency 64) here');
        const w = await startWorker(exit, { concurrency: 64, networks: ['x', 'mastodon'] });
        await sleep(500);
        workerRss.idle.push(w.rssMb());
        for (let run = 1; run <= ctx.runs; run++) await measureRound(exit, `m${run}-`, ctx, [w]);
        workerRss.afterLoad.push(w.rssMb());
        await w.stop();
      }
      for (const v of workerRss.idle) ctx.record('worker-idle', v);
      for (const v of workerRss.afterLoad) ctx.record('worker-load', v);

      const api = await startApi(exit);
      const worker = await startWorker(exit, { concurrency: 64, networks: ['x', 'mastodon'] });
      const token = await createToken(exit.store, 'editor');
      try {
        await sleep(500);
        ctx.record('api-idle', api.service.rssMb());
        ctx.progress(`API idle ${fmt(api.service.rssMb())} MB, worker idle ${fmt(worker.rssMb())} MB`);
        let n = 0;
        for (let run = 1; run <= ctx.runs; run++) {
          const from = {
            x: exit.sandboxes.x.posts.length,
            mastodon: exit.sandboxes.mastodon.statuses.length,
          };
          const items = Array.from({ length: LOAD_POSTS }, () => n++);
          await pool(items, 16, async (i) => {
            const r = await fetch(`${api.base}/v1/posts`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({
                text: `Info ref=mem${i} : travaux rue Nationale.`,
                networks: ['x', 'mastodon'],
              }),
            });
            check(r.status === 202, `post ${i} answered ${r.status}: ${await r.text()}`);
          });
          await waitForLandings(exit, from, LOAD_POSTS, `memory run ${run}`);
          ctx.record('api-load', api.service.rssMb());
          ctx.record('worker-api-load', worker.rssMb());
          ctx.progress(`run ${run}: API ${fmt(api.service.rssMb())} MB, worker ${fmt(worker.rssMb())} MB`);
        }
      } finally {
        await worker.stop();
        await api.service.stop();
      }
    } finally {
      await exit.close();
    }
  },
};
