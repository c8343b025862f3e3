import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backoffStrategy,
  checkRedis,
  createRedis,
  deliverJobData,
  deliverJobOptions,
  EARLY_START_MS,
  jobIdFor,
  laneOf,
  LANES,
  nextJobId,
  parseDeliverJob,
  parseLimits,
  PRIORITY,
  Queues,
  queueName,
  queueOfName,
  RedisSetupError,
  waitForRedis,
  type Lane,
} from './index.ts';
import {
  removePrefix,
  startRedisServer,
  TEST_REDIS_URL,
  testPrefix,
  type PrivateRedis,
} from './testing/index.ts';

describe('the job catalog', () => {
  it('makes job ids without ":" and gives a replaced delivery the next generation', () => {
    expect(jobIdFor('ville-de-tours.post.farewell.x')).toBe('ville-de-tours.post.farewell.x.g1');
    expect(nextJobId('ville-de-tours.post.farewell.x.g1')).toBe('ville-de-tours.post.farewell.x.g2');
    expect(nextJobId('a.g9')).toBe('a.g10');
    expect(() => jobIdFor('org:post')).toThrow(/cannot be used in a job id/);
  });

  it('refuses job data that is not ids and a due time only', () => {
    expect(parseDeliverJob({ organisationId: 'o', deliveryId: 'o.post.a.x' })).toEqual({
      organisationId: 'o',
      deliveryId: 'o.post.a.x',
    });
    expect(parseDeliverJob({ organisationId: 'o', deliveryId: 'd', dueAt: 1_800_000_000_000 })).toEqual({
      organisationId: 'o',
      deliveryId: 'd',
      dueAt: 1_800_000_000_000,
    });
    for (const dueAt of ['2026-12-02T10:00:00Z', -1, 1.5, Number.NaN, null]) {
      expect(() => parseDeliverJob({ organisationId: 'o', deliveryId: 'd', dueAt })).toThrow(
        /dueAt must be a time in milliseconds since the epoch/,
      );
    }
    expect(() => parseDeliverJob({ organisationId: 'o', deliveryId: 'd', text: 'a whole post' })).toThrow(
      /unexpected field\(s\) text \(ids and a due time only\)/,
    );
    expect(() => parseDeliverJob({ organisationId: 'o' })).toThrow(/deliveryId must be an id/);
    expect(() => parseDeliverJob('o')).toThrow(/must be an object/);
  });

  it('makes a scheduled job ready EARLY_START_MS before its due time, with the due time in its data', () => {
    const now = Date.UTC(2026, 11, 2, 9, 59, 0);
    const at = (ms: number) => ({
      id: 'o.post.a.x',
      organisationId: 'o',
      network: 'x' as const,
      dueAt: new Date(now + ms),
      priority: PRIORITY.plan,
      jobId: 'o.post.a.x.g1',
    });
    expect(deliverJobOptions(at(60_000), now).delay).toBe(60_000 - EARLY_START_MS);
    expect(deliverJobData(at(60_000), now)).toEqual({
      organisationId: 'o',
      deliveryId: 'o.post.a.x',
      dueAt: now + 60_000,
    });
    // Due within the early window: ready at once, still started on its due time.
    expect(deliverJobOptions(at(EARLY_START_MS / 2), now).delay).toBe(0);
    expect(deliverJobData(at(EARLY_START_MS / 2), now).dueAt).toBe(now + EARLY_START_MS / 2);
    // Due now or past: no due time to wait for.
    for (const ms of [0, -5_000]) {
      expect(deliverJobOptions(at(ms), now).delay).toBe(0);
      expect(deliverJobData(at(ms), now)).toEqual({ organisationId: 'o', deliveryId: 'o.post.a.x' });
    }
  });

  it('backs off exponentially with jitter, capped at ten minutes', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const ceiling = Math.min(600_000, 2000 * 2 ** (attempt - 1));
      for (let i = 0; i < 50; i++) {
        const wait = backoffStrategy(attempt);
        expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
        expect(wait).toBeLessThanOrEqual(ceiling);
      }
    }
    expect(backoffStrategy(1, 'fixed')).toBe(-1);
  });

  it('parses limit overrides and says what is wrong with a bad one', () => {
    expect(parseLimits('x=10/60s, bluesky=1000/1s')).toEqual({
      x: { max: 10, duration: 60_000 },
      bluesky: { max: 1000, duration: 1000 },
    });
    expect(() => parseLimits('myspace=1/1s')).toThrow(/limit "myspace=1\/1s": write network=count\/duration/);
  });
});

describe('queues on a real Redis', () => {
  const prefix = testPrefix();
  const redis = createRedis(TEST_REDIS_URL, { role: 'producer' });
  const queues = new Queues({ connection: redis, prefix });
  afterAll(async () => {
    await queues.close();
    redis.disconnect();
    await removePrefix(TEST_REDIS_URL, prefix);
  });

  const spec = (id: string, priority: number, dueInMs = 0) => ({
    id,
    organisationId: 'org',
    network: 'mastodon' as const,
    dueAt: new Date(Date.now() + dueInMs),
    priority,
    jobId: jobIdFor(id),
  });

  it('puts a crisis in the crisis lane, and runs ordinary jobs before plan jobs queued earlier', async () => {
    await waitForRedis(redis, TEST_REDIS_URL);
    await queues.enqueueMany([spec('org.plan.1', PRIORITY.plan), spec('org.plan.2', PRIORITY.plan)]);
    await queues.enqueue(spec('org.ordinary.1', PRIORITY.ordinary));
    await queues.enqueue(spec('org.crisis.1', PRIORITY.crisis));
    expect(await queues.jobState('mastodon', jobIdFor('org.crisis.1'), 'crisis')).toBe('prioritized');
    expect(await queues.jobState('mastodon', jobIdFor('org.crisis.1'), 'ordinary')).toBeUndefined();
    expect(await queues.jobState('mastodon', jobIdFor('org.crisis.1'))).toBe('prioritized');
    const lanes = await queues.laneDepths();
    expect(lanes.mastodon.crisis.prioritized).toBe(1);
    expect(lanes.mastodon.ordinary.prioritized).toBe(3);
    expect((await queues.depths()).mastodon.prioritized).toBe(4);
    const seen: Record<Lane, string[]> = { ordinary: [], crisis: [] };
    const workerRedis = createRedis(TEST_REDIS_URL, { role: 'worker' });
    const workers = LANES.map(
      (lane) =>
        new Worker(
          queueName('mastodon', lane),
          (job) => {
            seen[lane].push((job.data as { deliveryId: string }).deliveryId);
            return Promise.resolve();
          },
          { connection: workerRedis, prefix, concurrency: 1, autorun: true },
        ),
    );
    await expect.poll(() => seen.ordinary.length + seen.crisis.length, { timeout: 10_000 }).toBe(4);
    await Promise.all(workers.map((w) => w.close()));
    workerRedis.disconnect();
    expect(seen.crisis).toEqual(['org.crisis.1']);
    expect(seen.ordinary[0]).toBe('org.ordinary.1');
  });

  it("names each lane's queue and finds the lane of a queue and of a priority", () => {
    expect(queueName('x')).toBe('sunset-x');
    expect(queueName('x', 'crisis')).toBe('sunset-crisis-x');
    expect(queueOfName('sunset-crisis-mastodon')).toEqual({ network: 'mastodon', lane: 'crisis' });
    expect(queueOfName('sunset-bluesky')).toEqual({ network: 'bluesky', lane: 'ordinary' });
    expect(queueOfName('elsewhere')).toBeUndefined();
    expect(laneOf(PRIORITY.crisis)).toBe('crisis');
    expect(laneOf(PRIORITY.ordinary)).toBe('ordinary');
    expect(laneOf(PRIORITY.plan)).toBe('ordinary');
  });

  it('closes both lanes of a network on a rate limit, and removes a crisis job from its lane', async () => {
    await queues.rateLimit('bluesky', 5_000);
    for (const lane of LANES) {
      expect(await queues.queue('bluesky', lane).getRateLimitTtl(1)).toBeGreaterThan(4_000);
    }
    expect(await queues.queue('x', 'crisis').getRateLimitTtl(1)).toBeLessThanOrEqual(0);
    const s = { ...spec('org.crisis.later', PRIORITY.crisis, 60_000), network: 'x' as const };
    await queues.enqueue(s);
    expect(await queues.jobState('x', s.jobId, 'crisis')).toBe('delayed');
    expect(await queues.remove('x', s.jobId)).toBe(true);
    expect(await queues.jobState('x', s.jobId)).toBeUndefined();
  });

  it('delays a job until its time, ignores a second add of the same id, and removes a waiting one', async () => {
    const s = spec('org.later.1', PRIORITY.plan, 60_000);
    await queues.enqueue(s);
    await queues.enqueue(s);
    expect(await queues.jobState('mastodon', s.jobId)).toBe('delayed');
    const job = await queues.queue('mastodon').getJob(s.jobId);
    expect(job?.delay).toBeGreaterThan(55_000);
    expect((await queues.queue('mastodon').getDelayed()).filter((j) => j.id === s.jobId)).toHaveLength(1);
    expect(await queues.remove('mastodon', s.jobId)).toBe(true);
    expect(await queues.jobState('mastodon', s.jobId)).toBeUndefined();
    expect(await queues.remove('mastodon', s.jobId)).toBe(false);
  });

  it('adds the jobs of many callers at once in shared rounds, each caller hearing once its own are in', async () => {
    const networks = ['x', 'bluesky', 'mastodon'] as const;
    const callers = Array.from({ length: 60 }, (_, i) =>
      networks.map((network) => ({
        ...spec(`org.burst-${i}.${network}`, i % 4 === 0 ? PRIORITY.crisis : PRIORITY.ordinary),
        network,
      })),
    );
    const states = await Promise.all(
      callers.map(async (specs) => {
        await queues.enqueueMany(specs);
        // Already in Redis when the promise resolves, in the lane its priority asks for.
        return Promise.all(
          specs.map((s) =>
            queues.jobState(s.network, s.jobId, s.priority === PRIORITY.crisis ? 'crisis' : 'ordinary'),
          ),
        );
      }),
    );
    expect(states.flat()).toHaveLength(180);
    expect(states.flat().every((state) => state === 'prioritized')).toBe(true);
  });
});

describe('Redis checks (a private redis-server)', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  it('refuses an evicting Redis in production and warns otherwise', async () => {
    const redis = createRedis(server.url, { role: 'producer' });
    await waitForRedis(redis, server.url);
    // The private server keeps nothing on disk: its persistence is not what this test is about.
    await redis.config('SET', 'appendonly', 'yes');
    expect(await checkRedis(redis, { production: true })).toEqual({
      policy: 'noeviction',
      persistence: 'aof',
      warnings: [],
    });
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await expect(checkRedis(redis, { production: true })).rejects.toThrow(
      /refusing to run: Redis' maxmemory-policy is "allkeys-lru"/,
    );
    const check = await checkRedis(redis, { production: false });
    expect(check.warnings).toHaveLength(1);
    expect(check.warnings[0]).toMatch(/^WARNING: .*would delete queued jobs.*noeviction/);
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'appendonly', 'no');
    redis.disconnect();
  });

  it('refuses a Redis that keeps nothing on disk in production, warns otherwise, and takes AOF or RDB', async () => {
    const redis = createRedis(server.url, { role: 'producer' });
    await waitForRedis(redis, server.url);
    await expect(checkRedis(redis, { production: true })).rejects.toThrow(
      /^refusing to run: Redis keeps nothing on disk \(appendonly no, no RDB save points\): a Redis restart loses every queued job\..*appendonly yes.*SUNSET_REDIS_PERSISTENCE_CHECK=off/,
    );
    const dev = await checkRedis(redis, { production: false });
    expect(dev.persistence).toBe('none');
    expect(dev.warnings).toEqual([
      expect.stringMatching(/^WARNING: Redis keeps nothing on disk.*reconciler/),
    ]);
    const allowed = await checkRedis(redis, { production: true, persistenceCheck: 'off' });
    expect(allowed.persistence).toBe('not checked');
    expect(allowed.warnings).toEqual([
      expect.stringMatching(/^WARNING \(SUNSET_REDIS_PERSISTENCE_CHECK=off\): Redis keeps nothing on disk/),
    ]);
    await redis.config('SET', 'save', '3600 1');
    expect(await checkRedis(redis, { production: true })).toMatchObject({ persistence: 'rdb', warnings: [] });
    await redis.config('SET', 'appendonly', 'yes');
    expect(await checkRedis(redis, { production: true })).toMatchObject({
      persistence: 'aof+rdb',
      warnings: [],
    });
    await redis.config('SET', 'save', '');
    await redis.config('SET', 'appendonly', 'no');
    redis.disconnect();
  });

  it('says so when CONFIG is disabled, and refuses in production unless the check is turned off', async () => {
    const locked = await startRedisServer(['--rename-command', 'CONFIG', '']);
    const redis = createRedis(locked.url, { role: 'producer' });
    try {
      await waitForRedis(redis, locked.url);
      await expect(checkRedis(redis, { production: true })).rejects.toThrow(
        /^refusing to run: cannot tell whether Redis keeps its data on disk \(CONFIG GET refused: .*unknown command.*\).*set SUNSET_REDIS_PERSISTENCE_CHECK=off/,
      );
      const dev = await checkRedis(redis, { production: false });
      expect(dev).toMatchObject({ policy: 'noeviction', persistence: 'unknown' });
      expect(dev.warnings).toEqual([
        expect.stringMatching(/^WARNING: cannot tell whether Redis keeps its data/),
      ]);
      const allowed = await checkRedis(redis, { production: true, persistenceCheck: 'off' });
      expect(allowed).toMatchObject({ policy: 'noeviction', persistence: 'not checked' });
      expect(allowed.warnings).toHaveLength(1);
    } finally {
      redis.disconnect();
      await locked.cleanup();
    }
  });

  it('reads the append-only file from INFO when CONFIG is disabled', async () => {
    const locked = await startRedisServer(['--appendonly', 'yes', '--rename-command', 'CONFIG', '']);
    const redis = createRedis(locked.url, { role: 'producer' });
    try {
      await waitForRedis(redis, locked.url);
      expect(await checkRedis(redis, { production: true })).toEqual({
        policy: 'noeviction',
        persistence: 'aof',
        warnings: [],
      });
    } finally {
      redis.disconnect();
      await locked.cleanup();
    }
  });

  it('makes a producer fail fast when Redis is down, with how to start it', async () => {
    await server.stop();
    const redis = createRedis(server.url, { role: 'producer' });
    const queues = new Queues({ connection: redis, prefix: testPrefix() });
    await expect(
      queues.enqueue({
        id: 'o.d',
        organisationId: 'o',
        network: 'x',
        dueAt: new Date(),
        priority: 1,
        jobId: 'o.d.g1',
      }),
    ).rejects.toThrow(/Redis is not connected \((connecting|reconnecting|close|end)\); cannot add 1 job/);
    await expect(waitForRedis(redis, server.url, 500)).rejects.toThrow(RedisSetupError);
    await expect(waitForRedis(redis, server.url, 500)).rejects.toThrow(/redis-server --daemonize yes/);
    await queues.close().catch(() => undefined);
    redis.disconnect();
    await server.start();
  });
});
