// The container image as IT runs it, exercised end to end with podman on host networking: the
// CLI container applies the Tours example plan (pointed at the sandboxes, its credentials as
// environment variables and per-organisation secret files) and makes two crisis tokens; the
// worker and api containers run read-only; a crisis sent to the api container, approved by a
// second person, reaches the three sandboxes; SIGTERM stops both cleanly; the api refuses a Redis
// that may evict jobs. PostgreSQL is a fresh database of the machine's, Redis a private server.
// Run by scripts/image/smoke.sh (after scripts/image/build.sh), not by the default test command.
import { execFile, type ExecFileException } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer, freePort, type PrivateRedis } from '@sunset/queue/testing';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X_ACCOUNT, MASTODON_ACCOUNT } from '../support/accounts.ts';
import {
  postedTexts,
  sandboxFetchAllow,
  startSandboxes,
  waitFor,
  type Sandboxes,
} from '../support/exit-harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = process.env['SUNSET_IMAGE'] ?? 'localhost/sunset:latest';
const ADMIN_URL = process.env['SUNSET_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORG = 'ville-de-tours';
const run = Date.now().toString(36);
const NAME = { api: `sunset-smoke-api-${run}`, worker: `sunset-smoke-worker-${run}` };

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** podman with the settings scripts/image/containers-env.sh exported; never throws on a non-zero exit. */
function podman(args: string[], timeoutMs = 180_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (((err as ExecFileException).code as number | undefined) ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

let sandboxes: Sandboxes;
let redis: PrivateRedis;
let evicting: PrivateRedis;
let work: string;
let databaseUrl: string;
let database: string;
let apiBase: string;
let env: string[];
let mounts: string[];
const tokens: Record<'officer' | 'chief', string> = { officer: '', chief: '' };

/** -e NAME=value for each entry. */
const envArgs = (vars: Record<string, string>) =>
  Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

function containerArgs(extra: string[] = []): string[] {
  return ['--network', 'host', '--read-only', '--tmpfs', '/tmp', ...mounts, ...env, ...extra];
}

beforeAll(async () => {
  const image = await podman(['image', 'exists', IMAGE]);
  if (image.code !== 0) throw new Error(`no image ${IMAGE}: build it first with scripts/image/build.sh`);

  sandboxes = await startSandboxes();
  // Jobs are kept on disk and never evicted, as production requires; a second Redis evicts.
  redis = await startRedisServer(['--appendonly', 'yes']);
  evicting = await startRedisServer(['--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru']);

  database = `sunset_image_${run}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${database}`;
  databaseUrl = dbUrl.toString();

  // The folders the containers mount, owned by the image's user (uid 1000) as compose's are.
  work = mkdtempSync(path.join(os.tmpdir(), 'sunset-image-'));
  const plans = path.join(work, 'plans');
  const secrets = path.join(work, 'secrets');
  const data = path.join(work, 'data');
  const out = path.join(work, 'out');
  for (const dir of [plans, secrets, path.join(secrets, ORG), data, out]) mkdirSync(dir, { recursive: true });

  // The Tours example plan as shipped, its networks pointed at the sandboxes' accounts.
  const doc = parse(readFileSync(path.join(ROOT, 'config/plans/ville-de-tours.yaml'), 'utf8')) as {
    networks: Record<string, Record<string, unknown>>;
  };
  doc.networks['x'] = { ...doc.networks['x'], account: `@${X_ACCOUNT.username}`, api_base: sandboxes.x.url };
  doc.networks['bluesky'] = {
    ...doc.networks['bluesky'],
    handle: sandboxes.blueskyHandle,
    service: sandboxes.bluesky.url,
  };
  doc.networks['mastodon'] = {
    ...doc.networks['mastodon'],
    instance: sandboxes.mastodon.url,
    account: sandboxes.mastodonAccount,
  };
  writeFileSync(path.join(plans, `${ORG}.yaml`), stringify(doc, { lineWidth: 0 }));
  cpSync(path.join(ROOT, 'config/plans/assets'), path.join(plans, 'assets'), { recursive: true });

  // The plan's file: credentials, in the organisation's own folder; its env: ones in the environment.
  const blueskyPassword = sandboxes.env['VILLE_DE_TEST__TEST_BSKY_APP_PASSWORD'] ?? '';
  const files: Record<string, string> = {
    x_access_token: X_ACCOUNT.accessToken,
    x_access_secret: X_ACCOUNT.accessSecret,
    bsky_app_password: blueskyPassword,
    mastodon_token: MASTODON_ACCOUNT.token,
  };
  for (const [name, value] of Object.entries(files))
    writeFileSync(path.join(secrets, ORG, name), value, { mode: 0o600 });
  writeFileSync(path.join(secrets, 'state_key'), 'b7'.repeat(32), { mode: 0o600 });
  writeFileSync(path.join(secrets, 'x-ca.pem'), sandboxes.x.ca, { mode: 0o644 });
  for (const dir of [work, plans, secrets, path.join(secrets, ORG), data, out]) chownSync(dir, 1000, 1000);
  for (const name of Object.keys(files)) chownSync(path.join(secrets, ORG, name), 1000, 1000);
  chownSync(path.join(secrets, 'state_key'), 1000, 1000);
  chmodSync(work, 0o755);

  const port = await freePort();
  apiBase = `http://127.0.0.1:${port}`;
  mounts = [
    '-v',
    `${plans}:/plans:ro`,
    '-v',
    `${data}:/data`,
    '-v',
    `${secrets}:/run/secrets:ro`,
    '-v',
    `${out}:/out`,
  ];
  env = envArgs({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    SUNSET_QUEUE_PREFIX: `smoke-${run}`,
    SUNSET_STATE_KEY_FILE: '/run/secrets/state_key',
    SUNSET_SECRETS_DIR: '/run/secrets',
    SUNSET_API_HOST: '127.0.0.1',
    SUNSET_API_PORT: String(port),
    SUNSET_METRICS_LISTEN: 'off',
    SUNSET_X_CA_FILE: '/run/secrets/x-ca.pem',
    SUNSET_FETCH_ALLOW: sandboxFetchAllow(sandboxes).join(','),
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    VILLE_DE_TOURS__X_APP_KEY: X_ACCOUNT.appKey,
    VILLE_DE_TOURS__X_APP_SECRET: X_ACCOUNT.appSecret,
    VILLE_DE_TOURS__BSKY_IDENTIFIER: sandboxes.blueskyHandle,
  });
  console.log(`smoke test of ${IMAGE}: database ${database}, Redis ${redis.url}, API ${apiBase}`);
}, 300_000);

afterAll(async () => {
  await podman(['rm', '--force', '--time', '5', NAME.api, NAME.worker]);
  await evicting?.cleanup();
  await redis?.cleanup();
  if (database) {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
  if (work) rmSync(work, { recursive: true, force: true });
  await sandboxes?.stop();
}, 120_000);

async function api(
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${apiBase}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe(`the container image (${IMAGE})`, () => {
  it('applies the example plan and makes two crisis tokens with the cli container', async () => {
    // One container for the CLI's three commands: creating one costs seconds with the vfs driver.
    const script = [
      `sunset-entrypoint plan apply /plans/${ORG}.yaml`,
      // The dormant profile's images: resvg, sharp and the fonts, as the image ships them.
      `sunset-entrypoint assets render /plans/${ORG}.yaml --out /out/assets`,
      `sunset-entrypoint token create --org ${ORG} --name astreinte --role crisis --person alice.martin --json > /out/officer.json`,
      `sunset-entrypoint token create --org ${ORG} --name chef-de-salle --role crisis --person dominique.chef --json > /out/chief.json`,
    ].join(' && ');
    const cli = await podman(['run', '--rm', ...containerArgs(['--entrypoint', 'sh']), IMAGE, '-c', script]);
    expect(cli.code, `${cli.stdout}\n${cli.stderr}`).toBe(0);
    expect(cli.stdout).toContain(ORG);
    const banner = readdirSync(path.join(work, 'out', 'assets')).find((f) => f.startsWith('x-banner.'));
    expect(banner, 'the X banner rendered in the container').toBeDefined();
    expect(statSync(path.join(work, 'out', 'assets', banner ?? '')).size).toBeGreaterThan(1000);
    for (const who of ['officer', 'chief'] as const) {
      const made = JSON.parse(readFileSync(path.join(work, 'out', `${who}.json`), 'utf8')) as {
        token: string;
        role: string;
      };
      expect(made.role).toBe('crisis');
      tokens[who] = made.token;
    }
  });

  it('runs the worker and the api read-only, and a crisis approved by a second person reaches the three networks', async () => {
    const [worker, apiRun] = await Promise.all([
      podman(['run', '-d', '--name', NAME.worker, ...containerArgs(), IMAGE, 'worker']),
      podman(['run', '-d', '--name', NAME.api, ...containerArgs(), IMAGE, 'api']),
    ]);
    expect(worker.code, worker.stderr).toBe(0);
    expect(apiRun.code, apiRun.stderr).toBe(0);
    await waitFor(
      'the api container to be ready',
      async () => (await fetch(`${apiBase}/readyz`).catch(() => undefined))?.status === 200,
      60_000,
      250,
    );
    const logs = async (name: string) => {
      const r = await podman(['logs', name]);
      return r.stdout + r.stderr;
    };
    await waitFor(
      'the worker container to start',
      async () => (await logs(NAME.worker)).includes('"worker started"'),
      60_000,
      250,
    );

    const text = `Exercice image ${run} : coupure d'eau rue Nationale, eau potable distribuée place Jean-Jaurès.`;
    const sent = await api('POST', '/v1/crisis', tokens.officer, { text });
    expect(sent.status, JSON.stringify(sent.json)).toBe(202);
    const id = String(sent.json['id']);
    const approved = await api('POST', `/v1/crisis/${id}/approve`, tokens.chief);
    expect(approved.status, JSON.stringify(approved.json)).toBe(202);
    await waitFor(
      'the crisis on the three networks',
      async () => {
        const status = await api('GET', `/v1/crisis/${id}`, tokens.officer);
        const networks = status.json['networks'] as Record<string, { status: string }> | undefined;
        return ['x', 'bluesky', 'mastodon'].every((n) => networks?.[n]?.status === 'published');
      },
      90_000,
      250,
    );
    const posted = await postedTexts(sandboxes);
    for (const network of ['x', 'bluesky', 'mastodon'] as const) {
      expect(
        posted[network].some((t) => t.includes(`Exercice image ${run}`)),
        network,
      ).toBe(true);
    }

    // The image's HEALTHCHECK command, run inside each container.
    for (const name of [NAME.api, NAME.worker]) {
      const health = await podman(['exec', name, 'sunset-entrypoint', 'healthcheck']);
      expect(health.code, `${name}: ${health.stdout}${health.stderr}`).toBe(0);
    }
    // Nothing was written outside /data and /tmp: the root filesystem is read-only.
    expect((await podman(['exec', NAME.worker, 'sh', '-c', 'touch /app/x'])).code).not.toBe(0);
  });

  it('stops both containers on SIGTERM within the grace period, exit code 0, saying so', async () => {
    const started = Date.now();
    const stops = await Promise.all(
      [NAME.api, NAME.worker].map((name) => podman(['stop', '--time', '30', name])),
    );
    for (const s of stops) expect(s.code, s.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    for (const name of [NAME.api, NAME.worker]) {
      const state = await podman(['inspect', '--format', '{{.State.ExitCode}}', name]);
      expect(state.stdout.trim(), name).toBe('0');
      const logs = await podman(['logs', name]);
      expect(logs.stdout + logs.stderr, name).toMatch(/"signal":"SIGTERM".*"msg":"stopping"/);
    }
  });

  it('refuses to start the api in production against a Redis that may evict jobs', async () => {
    const evictEnv = envArgs({ REDIS_URL: evicting.url });
    const refused = await podman(['run', '--rm', ...containerArgs(evictEnv), IMAGE, 'api']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(69);
    expect(refused.stdout + refused.stderr).toMatch(
      /refusing to run: Redis' maxmemory-policy is \\"allkeys-lru\\"/,
    );
  });
});
