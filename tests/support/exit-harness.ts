/**
 * A whole exit on loopback, for the engine's integration tests: the three sandbox networks
 * (a real PDS for Bluesky), a store (SQLite file or a PostgreSQL schema of the test's own),
 * a Redis key prefix of the test's own, and exit plans written to a temporary folder whose
 * networks point at the sandboxes. Credentials reach the worker through the environment only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtpAgent } from '@atproto/api';
import { readPlanFile, type Plan } from '@sunset/plan';
import {
  startBlueskySandbox,
  startMastodonSandbox,
  startXSandbox,
  type BlueskySandbox,
  type MastodonSandbox,
  type XSandbox,
} from '@sunset/sandboxes';
import { createLogger, envPrefix, silentLogger, type Logger } from '@sunset/core';
import { startWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import { removePrefix, testPrefix, TEST_REDIS_URL } from '@sunset/queue/testing';
import type { Dialect, Store } from '@sunset/store';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll } from 'vitest';
import { stringify } from 'yaml';
import { MASTODON_ACCOUNT, X_ACCOUNT } from './accounts.ts';

export const ORG = 'ville-de-test';
/** The state key of the harness's workers (fixed: a restarted worker resumes its sessions). */
export const STATE_KEY_HEX = 'a5'.repeat(32);
const STATE_KEY = Buffer.from(STATE_KEY_HEX, 'hex');

export interface Sandboxes {
  x: XSandbox;
  bluesky: BlueskySandbox;
  mastodon: MastodonSandbox;
  /** Reads straight from the PDS, past the fault-injecting proxy. */
  pds: AtpAgent;
  blueskyDid: string;
  blueskyHandle: string;
  mastodonAccount: string;
  /** The environment the worker resolves the plan's credential references in (ORG's prefix). */
  env: Record<string, string>;
  /** SUNSET_SECRETS_DIR of the worker: an empty folder, the plans' credentials are all env: ones. */
  secretsDir: string;
  stop(): Promise<void>;
}

export async function startSandboxes(): Promise<Sandboxes> {
  const [x, bluesky, mastodon] = await Promise.all([
    startXSandbox(),
    startBlueskySandbox(),
    startMastodonSandbox({ mediaProcessingMs: 20, domain: 'social.ville.test' }),
  ]);
  x.addAccount(X_ACCOUNT);
  const account = await bluesky.createAccount('ville');
  mastodon.addAccount(MASTODON_ACCOUNT);
  const pds = new AtpAgent({ service: bluesky.pdsUrl });
  const secretsDir = mkdtempSync(path.join(os.tmpdir(), 'sunset-secrets-'));
  return {
    x,
    bluesky,
    mastodon,
    pds,
    blueskyDid: account.did,
    blueskyHandle: account.handle,
    mastodonAccount: '@ville@social.ville.test',
    env: {
      VILLE_DE_TEST__TEST_X_APP_KEY: X_ACCOUNT.appKey,
      VILLE_DE_TEST__TEST_X_APP_SECRET: X_ACCOUNT.appSecret,
      VILLE_DE_TEST__TEST_X_ACCESS_TOKEN: X_ACCOUNT.accessToken,
      VILLE_DE_TEST__TEST_X_ACCESS_SECRET: X_ACCOUNT.accessSecret,
      VILLE_DE_TEST__TEST_BSKY_IDENTIFIER: account.handle,
      VILLE_DE_TEST__TEST_BSKY_APP_PASSWORD: account.password,
      VILLE_DE_TEST__TEST_MASTODON_TOKEN: MASTODON_ACCOUNT.token,
    },
    secretsDir,
    async stop() {
      await Promise.allSettled([x.stop(), bluesky.stop(), mastodon.stop()]);
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}

/**
 * The sandboxes of the calling test file: started in a beforeAll before its own hooks, stopped in
 * an afterAll after them. The object stands for them from the first hook on; reading it at the
 * file's top level, before they exist, throws rather than handing out undefined.
 */
export function sandboxesForFile(): Sandboxes {
  let started: Sandboxes | undefined;
  beforeAll(async () => {
    started = await startSandboxes();
  });
  afterAll(async () => {
    await started?.stop();
    started = undefined;
  });
  return new Proxy({} as Sandboxes, {
    get(_target, prop) {
      if (!started) throw new Error(`sandboxes.${String(prop)} read outside the file's tests and hooks`);
      return Reflect.get(started, prop) as unknown;
    },
  });
}

/** The test accounts' credentials under the prefixes of other organisations (documentFor). */
export function orgEnv(s: Sandboxes, organisationIds: string[]): Record<string, string> {
  const prefix = envPrefix(ORG);
  return Object.fromEntries(
    organisationIds.flatMap((org) =>
      Object.entries(s.env).map(([name, value]) => [name.replace(prefix, envPrefix(org)), value]),
    ),
  );
}

/**
 * The sandboxes serve profile images on loopback, which the worker fetches only when the operator
 * allows it (SUNSET_FETCH_ALLOW): exactly their ports.
 */
export function sandboxFetchAllow(s: Sandboxes): string[] {
  return [new URL(s.x.url).host, new URL(s.mastodon.url).host];
}

/** Texts of the posts each sandbox holds for the test account, read from the servers. */
export async function postedTexts(
  s: Sandboxes,
): Promise<{ x: string[]; bluesky: string[]; mastodon: string[] }> {
  const bluesky: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.pds.com.atproto.repo.listRecords({
      repo: s.blueskyDid,
      collection: 'app.bsky.feed.post',
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.data.records) bluesky.push(String((r.value as { text?: unknown }).text));
    cursor = page.data.records.length === 100 ? page.data.cursor : undefined;
  } while (cursor);
  return {
    x: s.x.posts.map((p) => p.text),
    bluesky,
    mastodon: s.mastodon.statuses.map((st) => st.text),
  };
}

export interface PlanPost {
  id: string;
  at: string;
  on: ('x' | 'bluesky' | 'mastodon')[];
  text: string;
  overflow?: 'thread' | 'error';
}

export interface PlanOptions {
  /** ISO instant with Z. */
  sunset: string;
  posts: PlanPost[];
  xAfter?: 'crisis-only' | 'frozen' | 'leave';
  dormantProfile?: Record<string, unknown>;
}

export class PlanFolder {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-plan-'));
  readonly #s: Sandboxes;
  constructor(s: Sandboxes) {
    this.#s = s;
  }

  document(options: PlanOptions): Record<string, unknown> {
    const s = this.#s;
    return {
      version: 1,
      organisation: {
        id: ORG,
        name: 'Ville de Test',
        timezone: 'Europe/Paris',
        locale: 'fr-FR',
        website: 'https://www.ville.test',
      },
      networks: {
        x: {
          account: '@VilleDeTest',
          api_base: s.x.url,
          credentials: {
            app_key: 'env:VILLE_DE_TEST__TEST_X_APP_KEY',
            app_secret: 'env:VILLE_DE_TEST__TEST_X_APP_SECRET',
            access_token: 'env:VILLE_DE_TEST__TEST_X_ACCESS_TOKEN',
            access_secret: 'env:VILLE_DE_TEST__TEST_X_ACCESS_SECRET',
          },
        },
        bluesky: {
          handle: s.blueskyHandle,
          service: s.bluesky.url,
          credentials: {
            identifier: 'env:VILLE_DE_TEST__TEST_BSKY_IDENTIFIER',
            app_password: 'env:VILLE_DE_TEST__TEST_BSKY_APP_PASSWORD',
          },
        },
        mastodon: {
          instance: s.mastodon.url,
          account: s.mastodonAccount,
          credentials: { access_token: 'env:VILLE_DE_TEST__TEST_MASTODON_TOKEN' },
        },
      },
      sunset: { at: options.sunset, x_after: options.xAfter ?? 'crisis-only' },
      posts: options.posts.map((p) => ({ ...p, overflow: p.overflow ?? 'thread' })),
      ...(options.dormantProfile ? { dormant_profile: options.dormantProfile } : {}),
    };
  }

  /**
   * The plan of another organisation on the same test accounts: its id set and its credentials
   * named under that organisation's own prefix, as the worker requires (see orgEnv).
   */
  documentFor(organisationId: string, options: PlanOptions): Record<string, unknown> {
    const prefix = envPrefix(ORG);
    const text = JSON.stringify(this.document(options)).replaceAll(
      `env:${prefix}`,
      `env:${envPrefix(organisationId)}`,
    );
    const document = JSON.parse(text) as Record<string, unknown>;
    (document['organisation'] as Record<string, unknown>)['id'] = organisationId;
    return document;
  }

  /** Writes the plan and validates it as `sunset plan apply` would; throws with the diagnostics. */
  write(options: PlanOptions, name = 'plan.yaml'): Plan {
    return this.writeDocument(this.document(options), name);
  }

  /** Writes a plan document (from `document()`, changed as a test needs) and validates it. */
  writeDocument(document: Record<string, unknown>, name = 'plan.yaml'): Plan {
    const file = path.join(this.dir, name);
    writeFileSync(file, stringify(document, { lineWidth: 0 }));
    const result = readPlanFile(file, { now: new Date(0) });
    if (!result.plan) {
      throw new Error(
        `test plan is invalid:\n${result.diagnostics.map((d) => `${d.path} ${d.message}`).join('\n')}`,
      );
    }
    return result.plan;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TestRedis {
  url: string;
  prefix: string;
  cleanup(): Promise<void>;
}

export function testRedis(url = TEST_REDIS_URL): TestRedis {
  const prefix = testPrefix();
  return { url, prefix, cleanup: async () => void (await removePrefix(url, prefix)) };
}

/**
 * True once no network's queue holds work that is due (waiting, prioritised or running): after
 * that, whatever a step enqueued has run, so "nothing was posted" can be asserted. Jobs delayed
 * to a later time are not counted.
 */
export async function queuesIdle(queues: Queues): Promise<boolean> {
  const depths = await queues.depths();
  return Object.values(depths).every(
    (d) => (d['waiting'] ?? 0) + (d['active'] ?? 0) + (d['prioritized'] ?? 0) === 0,
  );
}

/** Polls until `check` is true or the time is up (then fails with `what`). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An instant as plans write it: ISO 8601 UTC to the second. */
export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WORKER_ENTRY = path.join(ROOT, 'services/worker/src/main.ts');
export const API_ENTRY = path.join(ROOT, 'services/api/src/server.ts');

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves when it has exited (at once if it already has). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a service from its entry point, as deployed but from the sources; what it prints is kept. */
export function startService(entry: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', entry],
    {
      cwd: ROOT,
      // No metrics listener unless a test asks: two files run at once, and the second API
      // would find the default port taken by the first.
      env: { PATH: process.env['PATH'] ?? '', SUNSET_METRICS_LISTEN: 'off', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return {
    child,
    output: () => output,
    exited: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null)
          resolve({ code: child.exitCode, signal: child.signalCode });
        else child.once('exit', (code, signal) => resolve({ code, signal }));
      }),
  };
}

/** The worker process against the sandboxes, a store and a Redis prefix; `env` adds or overrides. */
export function startWorkerProcess(
  s: Sandboxes,
  target: { storeUrl: string; schema?: string; redis: TestRedis; dir: string },
  env: Record<string, string> = {},
): ServiceProcess {
  const caFile = path.join(target.dir, 'x-ca.pem');
  writeFileSync(caFile, s.x.ca);
  return startService(WORKER_ENTRY, {
    ...s.env,
    DATABASE_URL: target.storeUrl,
    ...(target.schema ? { DATABASE_SCHEMA: target.schema } : {}),
    REDIS_URL: target.redis.url,
    SUNSET_QUEUE_PREFIX: target.redis.prefix,
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    SUNSET_X_CA_FILE: caFile,
    SUNSET_FETCH_ALLOW: sandboxFetchAllow(s).join(','),
    SUNSET_DATA_DIR: target.dir,
    SUNSET_SECRETS_DIR: s.secretsDir,
    LOG_LEVEL: 'warn',
    ...env,
  });
}

/** Posting limits high enough never to hold a test back. */
export const FAST_LIMITS = {
  x: { max: 1000, duration: 1000 },
  bluesky: { max: 1000, duration: 1000 },
  mastodon: { max: 1000, duration: 1000 },
};

/** Silent unless SUNSET_TEST_LOG is set, then every line at debug. */
export const testLogger: Logger = process.env['SUNSET_TEST_LOG']
  ? createLogger({ name: 'test', level: 'debug' })
  : silentLogger();

export interface TestEngine {
  t: TestStore;
  redis: TestRedis;
  /** Producer-side queues, as `plan apply` and the API use them. */
  queues: Queues;
  /** The worker runtime in this process (undefined with `start: false`). */
  runtime: WorkerRuntime | undefined;
  plans: PlanFolder;
  close(): Promise<void>;
}

/**
 * A store of the given dialect, a Redis prefix, queues and (unless `start` is false) the worker
 * runtime in this process, posting to the sandboxes; `close` undoes it all.
 */
export async function startEngine(
  s: Sandboxes,
  options: {
    dialect?: Dialect;
    start?: boolean;
    runtime?: Partial<WorkerRuntimeOptions>;
    /** The store the runtime works on, made from the test's (a view that fails on purpose). */
    wrapStore?: (store: Store) => Store;
  } = {},
): Promise<TestEngine> {
  const t = await openTestStore(options.dialect ?? 'sqlite');
  const redis = testRedis();
  const connection = createRedis(redis.url, { role: 'worker' });
  const producer = createRedis(redis.url, { role: 'producer' });
  await new Promise((r) => producer.once('ready', r));
  const queues = new Queues({ connection: producer, prefix: redis.prefix });
  const plans = new PlanFolder(s);
  const runtime =
    options.start === false
      ? undefined
      : await startWorkerRuntime({
          store: options.wrapStore ? options.wrapStore(t.store) : t.store,
          connection,
          prefix: redis.prefix,
          logger: testLogger,
          env: s.env,
          secretsDir: s.secretsDir,
          dataDir: plans.dir,
          limits: FAST_LIMITS,
          xCa: s.x.ca,
          reconcileIntervalMs: 0,
          fetchAllow: sandboxFetchAllow(s),
          // As in production: Bluesky sessions kept in the store, sealed.
          stateKey: STATE_KEY,
          ...options.runtime,
        });
  return {
    t,
    redis,
    queues,
    runtime,
    plans,
    async close() {
      await runtime?.close(5_000);
      await queues.close();
      connection.disconnect();
      producer.disconnect();
      await redis.cleanup();
      await t.cleanup();
      plans.remove();
    },
  };
}
