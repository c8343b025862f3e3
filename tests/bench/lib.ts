/**
 * What the benchmarks share: the figures they record and how run.ts aggregates them, the
 * services spawned as processes from their entry points (with their RSS read from /proc), the
 * exit set up on loopback through the tests' harness (sandboxes, plan, store, Redis prefix),
 * percentiles, and the checks that make a benchmark fail loudly instead of printing a number
 * for work that was not done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashToken, mintToken, type Network } from '@sunset/core';
import { applyPlan, OrgSettingsCache } from '@sunset/engine';
import { createRedis, JOBS, PRIORITY, Queues } from '@sunset/queue';
import { Queue } from 'bullmq';
import { freePort } from '@sunset/queue/testing';
import type { Dialect, Store } from '@sunset/store';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import type { Redis } from 'ioredis';
import {
  ORG,
  orgEnv,
  PlanFolder,
  startSandboxes,
  testRedis,
  waitFor,
  type PlanPost,
  type Sandboxes,
  type TestRedis,
} from '../support/exit-harness.ts';
import { RAW_QUEUES, type RawJob } from './baseline-names.ts';

export { ORG, orgEnv, PlanFolder, startSandboxes, testRedis, waitFor, type PlanPost, type Sandboxes };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Loads a package from the store's own dependencies (the drivers, which tests/ does not depend on). */
export const storeRequire = createRequire(path.join(ROOT, 'packages/store/package.json'));

/** The PostgreSQL driver the store uses; only the few calls the benchmarks make are typed. */
export interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}
export const pg = storeRequire('pg') as {
  Client: new (o: { connectionString: string; options?: string }) => PgClient;
};
const ENTRIES = {
  api: path.join(ROOT, 'services/api/src/server.ts'),
  worker: path.join(ROOT, 'services/worker/src/main.ts'),
  'baseline-worker': path.join(ROOT, 'tests/bench/baseline-worker.ts'),
  'baseline-api': path.join(ROOT, 'tests/bench/baseline-api.ts'),
} as const;
type ServiceKind = keyof typeof ENTRIES;

/**
 * The worker's V8 flags, from the one file every way of starting it reads (package.json's
 * "worker" script, services/worker's scripts, docker/entrypoint.sh): they keep its heap near its
 * live size without pausing crises (docs/performance-notes.md). The benchmarks measure the worker
 * `pnpm worker` runs.
 */
const WORKER_FLAGS_FILE = 'services/worker/node-flags';
const WORKER_V8_FLAGS = readFileSync(path.join(ROOT, WORKER_FLAGS_FILE), 'utf8').trim().split(/\s+/);
const scripts = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
if (!scripts['worker']?.includes(` $(cat ${WORKER_FLAGS_FILE}) `)) {
  throw new Error(
    `package.json's "worker" script does not start node with the flags of ${WORKER_FLAGS_FILE}`,
  );
}

/**
 * Where `pnpm worker` and `pnpm api` keep Node's compile cache (NODE_COMPILE_CACHE, relative to the
 * repository's root): with it, a process run from the TypeScript sources finds them already
 * stripped of their types and compiled, and never loads the type-stripping compiler (about 18 MB
 * of RSS). The spawned processes get the same, so that they are the ones those scripts start.
 */
const COMPILE_CACHE = 'node_modules/.cache/node-compile-cache';
for (const name of ['worker', 'api']) {
  if (!scripts[name]?.startsWith(`NODE_COMPILE_CACHE=${COMPILE_CACHE} node `)) {
    throw new Error(`package.json's "${name}" script does not set NODE_COMPILE_CACHE=${COMPILE_CACHE}`);
  }
}

/** Limits far above anything a benchmark reaches, so that BullMQ's limiter never caps a figure. */
export const NO_LIMITS = 'x=1000000/1s,bluesky=1000000/1s,mastodon=1000000/1s';

// --- figures -------------------------------------------------------------------------------------

export interface Target {
  op: '<=' | '>=';
  value: number;
}

export interface FigureSpec {
  key: string;
  label: string;
  unit: string;
  target?: Target;
  /** Says how it was measured, in a few words, for the table. */
  note?: string;
}

/**
 * A ratio to the tool underneath, measured in the same run, holds across machines; any other
 * figure is bound to the machine (read it beside the CPU yardstick).
 */
export function isRatio(spec: FigureSpec): boolean {
  return spec.unit === '×';
}

export interface BenchContext {
  /** Measured rounds per figure; a warm-up round before them is never counted. */
  runs: number;
  /** How long a measured round of a throughput figure should last, in seconds (`--seconds`). */
  seconds: number;
  /** `--quick`: fewer and shorter rounds, for trying a change; its figures are rougher. */
  quick: boolean;
  /** `--seed`: where every random draw of a benchmark starts (seededRandom), printed with the figures. */
  seed: number;
  progress(message: string): void;
  /** One value of a figure for one run. */
  record(key: string, value: number): void;
  /** Extra facts worth printing beside the figures (backlog left, counts…). */
  fact(text: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  figures: FigureSpec[];
  /** V8 flags for the process that runs it (run.ts), for the harness's own sake: see each use. */
  nodeFlags?: readonly string[];
  run(ctx: BenchContext): Promise<void>;
}

/** A benchmark whose own results do not add up: the run fails, whatever its numbers. */
export class BenchCheckError extends Error {}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new BenchCheckError(message);
}

// --- statistics ----------------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A small seeded generator (mulberry32) of numbers in [0, 1): one seed, one sequence, on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A token put in each text so that what lands on a sandbox can be matched to what was sent. */
export const REF = /ref=([A-Za-z0-9_-]+)/;

export function refOf(text: string): string | undefined {
  return REF.exec(text)?.[1];
}

/** The sandboxes' clock (they run in this process): latencies between the bench and them. */
export { preciseNow } from '@sunset/sandboxes';

export type Landed = { x: Map<string, number[]>; mastodon: Map<string, number[]> };

/**
 * When each ref landed on each sandbox (X and Mastodon, as the servers recorded it, in fractional
 * ms), kept up to date by `update()`, which reads only what arrived since the last call: a poll
 * every few ms that re-read ten thousand backlog posts would hold up, in this very process, the
 * sandbox servers whose clock is being read.
 */
export class LandingIndex implements Landed {
  readonly x = new Map<string, number[]>();
  readonly mastodon = new Map<string, number[]>();
  private readonly s: Sandboxes;
  private readonly next: { x: number; mastodon: number };

  constructor(s: Sandboxes, from: { x: number; mastodon: number } = { x: 0, mastodon: 0 }) {
    this.s = s;
    this.next = { ...from };
  }

  update(): this {
    const add = (into: Map<string, number[]>, item: { text: string; createdAtMs: number }) => {
      const ref = refOf(item.text);
      if (!ref) return;
      const list = into.get(ref);
      if (list) list.push(item.createdAtMs);
      else into.set(ref, [item.createdAtMs]);
    };
    const x = this.s.x.posts;
    for (; this.next.x < x.length; this.next.x++) add(this.x, x[this.next.x] as (typeof x)[number]);
    const m = this.s.mastodon.statuses;
    for (; this.next.mastodon < m.length; this.next.mastodon++)
      add(this.mastodon, m[this.next.mastodon] as (typeof m)[number]);
    return this;
  }
}

/** When each ref landed on each sandbox since `from`, read once. */
export function landings(
  s: Sandboxes,
  from: { x: number; mastodon: number } = { x: 0, mastodon: 0 },
): Landed {
  return new LandingIndex(s, from).update();
}

/**
 * Every ref exactly once on each of these networks' sandboxes; throws naming what is wrong.
 * Posts with other refs are refused too unless `others` is 'at-most-once' (a backlog sent along
 * only in part): then each of them must still be there once at most.
 */
export function checkExactlyOnce(
  what: string,
  landed: Landed,
  refs: readonly string[],
  networks: readonly ('x' | 'mastodon')[],
  others: 'forbid' | 'at-most-once' = 'forbid',
): void {
  const problems: string[] = [];
  for (const network of networks) {
    const seen = landed[network];
    let extra = 0;
    for (const ref of refs) {
      const n = seen.get(ref)?.length ?? 0;
      if (n !== 1) problems.push(`${ref} is on ${network} ${n} times`);
    }
    const wanted = new Set(refs);
    for (const [ref, times] of seen) {
      if (wanted.has(ref)) continue;
      if (others === 'forbid') extra += 1;
      else if (times.length > 1) problems.push(`${ref} is on ${network} ${times.length} times`);
    }
    if (extra > 0) problems.push(`${extra} unexpected posts on ${network}`);
  }
  check(
    problems.length === 0,
    `${what}: not every post landed exactly once:\n  ${problems.slice(0, 20).join('\n  ')}${
      problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''
    }`,
  );
}

// --- processes -----------------------------------------------------------------------------------

export interface Service {
  kind: ServiceKind;
  child: ChildProcess;
  pid: number;
  /** VmRSS from /proc/<pid>/status, in MB. */
  rssMb(): number;
  output(): string;
  stop(): Promise<void>;
  /** Kills it with this signal on purpose (no "exited" alarm); resolves once it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export function rssMbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** User + system CPU a process has used so far, in µs (/proc/<pid>/stat; 0 once it is gone). */
export function cpuMicrosOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The fields after the command name (which may hold spaces) start at its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return (ticks * 1_000_000) / CLOCK_TICKS;
}

/** USER_HZ: /proc counts CPU time in these. Linux has used 100 on every common platform. */
const CLOCK_TICKS = 100;

/** The pids of every process whose command name is `name` (PostgreSQL's backends, redis-server). */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * CPU used by each group of processes between `start()` and `stop()`: where the time of a run went
 * (the measured processes share the machine's cores with PostgreSQL, Redis and the sandboxes).
 * A process that starts in between counts from its start; one that ends in between is left out.
 */
export function cpuMeter(groups: Record<string, () => number[]>): {
  /** µs used by each group since the start, divided by `units` (pieces of work done meanwhile). */
  stop(units?: number): Record<string, number>;
} {
  const read = () =>
    Object.fromEntries(
      Object.entries(groups).map(([name, pids]) => [
        name,
        new Map(pids().map((pid) => [pid, cpuMicrosOf(pid)] as const)),
      ]),
    );
  const before = read();
  return {
    stop(units = 1) {
      const after = read();
      return Object.fromEntries(
        Object.entries(after).map(([name, now]) => {
          let used = 0;
          for (const [pid, us] of now) used += Math.max(0, us - (before[name]?.get(pid) ?? 0));
          return [name, used / units];
        }),
      );
    },
  };
}

/** Each group's median over several cpuMeter readings. */
export function cpuMedians(readings: readonly Record<string, number>[]): Record<string, number> {
  return Object.fromEntries(
    Object.keys(readings[0] ?? {}).map((k) => [k, median(readings.map((r) => r[k] ?? 0))]),
  );
}

/** "worker 480 µs, postgres 220 µs, …": CPU per unit of work by process group. */
export function cpuText(cpu: Readonly<Record<string, number>>): string {
  return Object.entries(cpu)
    .map(([k, us]) => `${k} ${fmt(us)} µs`)
    .join(', ');
}

const running = new Set<Service>();

/**
 * Spawns the API or the worker from its entry point, as `pnpm api` / `pnpm worker` run them, or
 * a baseline (the tool underneath, baseline-*.ts; the worker's with the worker's flags).
 */
export function spawnService(kind: ServiceKind, env: Record<string, string>): Service {
  const child = spawn(
    process.execPath,
    [
      '--conditions=development',
      '--no-warnings=ExperimentalWarning',
      ...(kind === 'worker' || kind === 'baseline-worker' ? WORKER_V8_FLAGS : []),
      // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each spawned process, for finding where the time goes.
      ...(process.env['BENCH_CPU_PROF']
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`]
        : []),
      // BENCH_NODE_FLAGS="--trace-gc …": more flags for each spawned process, for the same purpose.
      ...(process.env['BENCH_NODE_FLAGS']?.split(/\s+/).filter(Boolean) ?? []),
      ENTRIES[kind],
    ],
    {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', NODE_COMPILE_CACHE: path.join(ROOT, COMPILE_CACHE), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  // BENCH_SERVICE_LOGS=<dir>: each spawned process's whole output kept in <dir>/<kind>-<pid>.log.
  // Written through a stream: this process stamps the landings and must not wait on the disk.
  const logDir = process.env['BENCH_SERVICE_LOGS'];
  if (logDir) mkdirSync(logDir, { recursive: true });
  const log = logDir
    ? createWriteStream(path.join(logDir, `${kind}-${child.pid ?? 'unknown'}.log`), { flags: 'a' })
    : undefined;
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
    log?.write(d);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopping = false;
  child.on('exit', (code, signal) => {
    log?.end();
    if (!stopping) process.stderr.write(`\n!! ${kind} ${child.pid} exited (${code ?? signal}):\n${output}\n`);
  });
  const service: Service = {
    kind,
    child,
    pid: child.pid ?? -1,
    rssMb: () => rssMbOf(child.pid ?? -1),
    output: () => output,
    async kill(signal) {
      running.delete(service);
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
    async stop() {
      running.delete(service);
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(service);
  return service;
}

/**
 * Before a measured round of milliseconds: this process (the sandbox servers, whose clock is
 * read) collects the garbage of the plan it just applied, and PostgreSQL vacuums and analyses
 * this run's tables (the tens of thousands of rows an apply or a cancel just wrote) and writes out
 * its buffers, instead of autovacuum and a checkpoint doing it in the middle of the round. A
 * round then measures sunset at work, not the harness or the store catching up; `run.ts` starts
 * benchmark processes with --expose-gc.
 */
export async function settleRound(exit: Exit): Promise<void> {
  if (exit.t.dialect === 'postgres') {
    const client = new pg.Client({ connectionString: exit.t.url });
    await client.connect();
    try {
      const schema = exit.t.schema ?? 'public';
      const { rows } = (await client.query(
        'select tablename from pg_tables where schemaname = $1 order by tablename',
        [schema],
      )) as { rows: { tablename: string }[] };
      for (const { tablename } of rows) {
        await client.query(`vacuum (analyze) "${schema}"."${tablename.replaceAll('"', '""')}"`);
      }
      await client.query('checkpoint');
    } finally {
      await client.end();
    }
  }
  (globalThis as { gc?: () => void }).gc?.();
}

/** For run.ts on the way out: no process of ours outlives the bench. */
export function killAllSpawned(): void {
  for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  running.clear();
}

// --- an exit on loopback -------------------------------------------------------------------------

export interface Exit {
  sandboxes: Sandboxes;
  plans: PlanFolder;
  t: TestStore;
  store: Store;
  redis: TestRedis;
  producer: Redis;
  queues: Queues;
  caFile: string;
  close(): Promise<void>;
}

/**
 * The sandboxes (X and Mastodon in this process, the Bluesky PDS in a child), a fresh store, a
 * Redis prefix of its own and the plan applied: no scheduled post, crisis on the three networks.
 */
export async function startExit(
  dialect: Dialect,
  options: { posts?: PlanPost[]; mirror?: Network[] } = {},
): Promise<Exit> {
  const sandboxes = await startSandboxes();
  const plans = new PlanFolder(sandboxes);
  const t = await openTestStore(dialect);
  const redis = testRedis();
  const producer = createRedis(redis.url, { role: 'producer', name: 'sunset-bench' });
  await new Promise((r) => producer.once('ready', r));
  const queues = new Queues({ connection: producer, prefix: redis.prefix, timeoutMs: 30_000 });
  const doc = plans.document({ sunset: iso(Date.now() + 30 * 24 * 3600_000), posts: options.posts ?? [] });
  doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'], label: '🔴 ALERTE', hashtags: ['#VilleDeTest'] };
  doc['mirror'] = {
    before_sunset: options.mirror ?? ['x', 'mastodon'],
    after_sunset: options.mirror ?? ['mastodon'],
  };
  await applyPlan({ store: t.store, queues, plan: plans.writeDocument(doc), actor: 'cli:bench' });
  const caFile = path.join(plans.dir, 'x-ca.pem');
  writeFileSync(caFile, sandboxes.x.ca);
  return {
    sandboxes,
    plans,
    t,
    store: t.store,
    redis,
    producer,
    queues,
    caFile,
    async close() {
      await queues.close();
      producer.disconnect();
      await redis.cleanup();
      await t.cleanup();
      plans.remove();
      await sandboxes.stop();
    },
  };
}

function commonEnv(exit: Exit): Record<string, string> {
  return {
    DATABASE_URL: exit.t.url,
    ...(exit.t.schema ? { DATABASE_SCHEMA: exit.t.schema } : {}),
    REDIS_URL: exit.redis.url,
    SUNSET_QUEUE_PREFIX: exit.redis.prefix,
    SUNSET_DATA_DIR: exit.plans.dir,
    // Logs at warn: the info line per published part would be measured along (see BENCHMARKS.md).
    LOG_LEVEL: 'warn',
  };
}

export async function startWorker(
  exit: Exit,
  options: { concurrency?: number; networks?: Network[]; limits?: string; env?: Record<string, string> } = {},
): Promise<Service> {
  const before = await exit.queues.queue('x').getWorkersCount();
  const worker = spawnService('worker', {
    ...commonEnv(exit),
    ...exit.sandboxes.env,
    SUNSET_X_CA_FILE: exit.caFile,
    SUNSET_LIMITS: options.limits ?? NO_LIMITS,
    SUNSET_WORKER_CONCURRENCY: String(options.concurrency ?? 4),
    SUNSET_WORKER_NETWORKS: (options.networks ?? ['x', 'bluesky', 'mastodon']).join(','),
    SUNSET_RECONCILE_INTERVAL_MS: '60000',
    ...options.env,
  });
  // Ready once its BullMQ worker shows up on the X queue.
  await waitFor(
    'the worker to take jobs',
    async () => {
      check(worker.child.exitCode === null, `the worker exited at start:\n${worker.output()}`);
      return (await exit.queues.queue('x').getWorkersCount()) > before;
    },
    30_000,
    50,
  );
  return worker;
}

export async function startApi(exit: Exit): Promise<{ service: Service; base: string }> {
  const port = await freePort();
  const service = spawnService('api', {
    ...commonEnv(exit),
    SUNSET_API_PORT: String(port),
    // Its Prometheus listener on a port of its own: the default one may be another API's.
    SUNSET_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
    SUNSET_PLANS_DIR: exit.plans.dir,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the API to be ready',
    async () => {
      check(service.child.exitCode === null, `the API exited at start:\n${service.output()}`);
      return (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
    },
    30_000,
    100,
  );
  return { service, base };
}

/** The baseline worker's queues (baseline-worker.ts), under a Redis prefix of their own. */
export function rawQueues(exit: Exit): Record<keyof typeof RAW_QUEUES, Queue<RawJob>> & { prefix: string } {
  const prefix = `${exit.redis.prefix}:raw`;
  const make = (name: string) => {
    const q = new Queue<RawJob>(name, { connection: exit.producer, prefix });
    q.on('error', () => undefined);
    return q;
  };
  return { x: make(RAW_QUEUES.x), mastodon: make(RAW_QUEUES.mastodon), prefix };
}

/**
 * Puts these posts on a baseline queue as the worker's ordinary deliveries are queued (same job
 * name, priority and retention; job id `<ref>.<network>`), 250 to a call; `dueAt` makes them
 * delayed jobs due then.
 */
export async function addRawJobs(
  queue: Queue<RawJob>,
  network: Network,
  posts: readonly { ref: string; text: string }[],
  dueAt?: number,
): Promise<void> {
  for (let i = 0; i < posts.length; i += 250) {
    await queue.addBulk(
      posts.slice(i, i + 250).map(({ ref, text }) => ({
        name: JOBS.deliver.name,
        data: { text } satisfies RawJob,
        opts: {
          jobId: `${ref}.${network}`,
          ...(dueAt !== undefined ? { delay: Math.max(0, dueAt - Date.now()) } : {}),
          priority: PRIORITY.ordinary,
          removeOnComplete: { ...JOBS.deliver.removeOnComplete },
          removeOnFail: { ...JOBS.deliver.removeOnFail },
        },
      })),
    );
  }
}

/**
 * Starts the baseline worker (baseline-worker.ts) on those queues at this concurrency per
 * network, with the organisation's connectors as the worker would build them from the plan.
 */
export async function startBaselineWorker(
  exit: Exit,
  queues: ReturnType<typeof rawQueues>,
  concurrency: number,
): Promise<Service> {
  const settings = await new OrgSettingsCache(exit.store).get(ORG);
  const planFile = path.join(exit.plans.dir, 'baseline-networks.json');
  writeFileSync(planFile, JSON.stringify(settings.document.networks));
  const before = await queues.x.getWorkersCount();
  const service = spawnService('baseline-worker', {
    ...exit.sandboxes.env,
    REDIS_URL: exit.redis.url,
    BENCH_RAW_PREFIX: queues.prefix,
    BENCH_RAW_CONCURRENCY: String(concurrency),
    BENCH_RAW_PLAN: planFile,
    BENCH_RAW_ORG: ORG,
    SUNSET_SECRETS_DIR: exit.sandboxes.secretsDir,
    SUNSET_X_CA_FILE: exit.caFile,
  });
  await waitFor(
    'the baseline worker to take jobs',
    async () => {
      check(service.child.exitCode === null, `the baseline worker exited at start:\n${service.output()}`);
      return (
        (await queues.mastodon.getWorkersCount()) > before && (await queues.x.getWorkersCount()) > before
      );
    },
    30_000,
    50,
  );
  return service;
}

/** Starts the bare Fastify server (baseline-api.ts) adding its jobs under this Redis prefix. */
export async function startBaselineApi(
  exit: Exit,
  prefix: string,
): Promise<{ service: Service; base: string }> {
  const port = await freePort();
  const service = spawnService('baseline-api', {
    REDIS_URL: exit.redis.url,
    SUNSET_QUEUE_PREFIX: prefix,
    SUNSET_API_PORT: String(port),
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the baseline API to be ready',
    async () => {
      check(service.child.exitCode === null, `the baseline API exited at start:\n${service.output()}`);
      return (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
    },
    30_000,
    100,
  );
  return { service, base };
}

export async function createToken(
  store: Store,
  role: 'crisis' | 'editor' | 'planner' | 'admin' | 'auditor',
): Promise<string> {
  const token = mintToken();
  await store.tokens.create({
    id: `bench-${role}-${Math.random().toString(36).slice(2, 8)}`,
    organisationId: ORG,
    name: `bench-${role}-${Math.random().toString(36).slice(2, 8)}`,
    role,
    hash: hashToken(token),
    createdBy: 'cli:bench',
  });
  return token;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-GB');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
