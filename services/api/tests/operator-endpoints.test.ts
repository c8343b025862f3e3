// What was open to anyone: /metrics (every organisation's counts, heavy queries per request) now
// answers on the operator's listener only, from a short cache; /v1/audit/verify tells an
// organisation about its own entries only, one verification at a time and a few per minute.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, silentLogger } from '@sunset/core';
import { TEST_REDIS_URL } from '@sunset/queue/testing';
import { openStore, type Store } from '@sunset/store';
import { rawSql, testDialects, TEST_POSTGRES_URL, type TestStore } from '@sunset/store/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readApiConfig } from '../src/config.ts';
import { buildMetricsApp, Metrics } from '../src/metrics.ts';
import { ORG, OTHER_ORG, startFixture, type Fixture } from './fixture.ts';

const postgres = (await testDialects()).find((d) => d.dialect === 'postgres')!;

async function listen(app: Awaited<ReturnType<typeof buildMetricsApp>>): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening on a port');
  return `http://127.0.0.1:${address.port}`;
}

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('SUNSET_METRICS_LISTEN', () => {
  it('is loopback by default, off on demand, and a clear error when it is not host:port', () => {
    expect(readApiConfig({}).metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(readApiConfig({ SUNSET_METRICS_LISTEN: 'off' }).metricsListen).toBeUndefined();
    expect(readApiConfig({ SUNSET_METRICS_LISTEN: '[::1]:9100' }).metricsListen).toEqual({
      host: '::1',
      port: 9100,
    });
    for (const bad of ['9464', 'localhost', '127.0.0.1:99999', 'http://127.0.0.1:9464']) {
      expect(() => readApiConfig({ SUNSET_METRICS_LISTEN: bad }), bad).toThrow(ConfigError);
      expect(() => readApiConfig({ SUNSET_METRICS_LISTEN: bad }), bad).toThrow(
        /SUNSET_METRICS_LISTEN=.*host:port/,
      );
    }
  });

  it('the api process serves /metrics on the operator listener only', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-api-metrics-'));
    const [publicPort, operatorPort] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      [
        '--conditions=development',
        '--no-warnings=ExperimentalWarning',
        fileURLToPath(new URL('../src/serve.ts', import.meta.url)),
      ],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          DATABASE_URL: path.join(dir, 'sunset.db'),
          REDIS_URL: TEST_REDIS_URL,
          SUNSET_API_PORT: String(publicPort),
          SUNSET_METRICS_LISTEN: `127.0.0.1:${operatorPort}`,
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await vi.waitFor(
        async () => {
          expect(child.exitCode, stderr).toBeNull();
          expect((await fetch(`http://127.0.0.1:${operatorPort}/metrics`)).status).toBe(200);
        },
        { timeout: 30_000, interval: 100 },
      );
      const scraped = await (await fetch(`http://127.0.0.1:${operatorPort}/metrics`)).text();
      expect(scraped).toContain('# TYPE sunset_deliveries gauge');
      expect((await fetch(`http://127.0.0.1:${publicPort}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${publicPort}/metrics`)).status).toBe(404);
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('/metrics', () => {
  let f: Fixture;
  // The cache's clock, moved by the test: a slow machine cannot outlast the interval between scrapes.
  let clockMs = 1_000_000;
  beforeAll(async () => {
    f = await startFixture({ metricsCacheMs: 400, metricsClock: () => clockMs });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('is not on the public listener, with or without a token', async () => {
    for (const headers of [{}, f.auth('admin'), f.auth('auditor')]) {
      const r = await f.app.inject({ url: '/metrics', headers });
      expect(r.statusCode).toBe(404);
      expect(r.body).not.toMatch(/sunset_deliveries/);
    }
  });

  it('answers on the operator listener on loopback, and nothing else does there', async () => {
    const operator = await buildMetricsApp(f.app.metrics, silentLogger());
    try {
      const base = await listen(operator);
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:/);
      const r = await fetch(`${base}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      const body = await r.text();
      for (const name of [
        'sunset_deliveries',
        'sunset_queue_jobs',
        'sunset_publish_lag_seconds',
        'sunset_crisis_latency_seconds',
        'sunset_http_requests_total',
        'sunset_auth_failure_addresses',
      ])
        expect(body).toContain(`# TYPE ${name} `);
      for (const url of ['/v1/me', '/healthz', '/docs/json'])
        expect((await fetch(`${base}${url}`)).status).toBe(404);
    } finally {
      await operator.close();
    }
  });

  it('serves the store gauges from a cache that is refreshed after its interval', async () => {
    const operator = await buildMetricsApp(f.app.metrics, silentLogger());
    const queued = async () =>
      Number(
        /sunset_deliveries\{network="mastodon",status="queued"\} (\d+)/.exec(
          (await operator.inject({ url: '/metrics' })).body,
        )?.[1] ?? 0,
      );
    try {
      const before = await queued();
      const r = await f.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: f.auth('crisis'),
        payload: { text: 'Coupure de courant quartier Nord.', networks: ['mastodon'] },
      });
      expect(r.statusCode, r.body).toBe(202);
      expect(await queued()).toBe(before);
      clockMs += 399;
      expect(await queued()).toBe(before);
      clockMs += 1;
      expect(await queued()).toBe(before + 1);
    } finally {
      await operator.close();
    }
  });
});

describe.skipIf(postgres.skip !== undefined)(
  `/metrics on PostgreSQL${postgres.skip ? ` (skipped: ${postgres.skip})` : ''}`,
  () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const sql = async <R extends object>(text: string, values: unknown[] = []): Promise<R[]> => {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        return (await client.query<R>(text, values)).rows;
      } finally {
        await client.end();
      }
    };
    /** Scans of the tables the gauges read, as PostgreSQL's own statistics count them. */
    const scans = async () =>
      Number(
        (
          await sql<{ n: string }>(
            `select coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) as n from pg_stat_user_tables
              where schemaname = $1 and relname in ('deliveries', 'delivery_parts', 'posts')`,
            [schema],
          )
        )[0]?.n,
      );
    let sessions = 0;
    /**
     * Scans made by `work` on a store of its own: PostgreSQL counts a backend's scans when it
     * ends, so the store is closed and its backends waited for, then the counters until they
     * settle.
     */
    async function scansOf(work: (store: Store) => Promise<void>): Promise<number> {
      const name = `sunset-metrics-${process.pid}-${++sessions}`;
      const before = await scans();
      const store = await openStore({
        url: `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}application_name=${name}`,
        schema,
        migrate: false,
      });
      try {
        await work(store);
      } finally {
        await store.close();
      }
      await vi.waitFor(
        async () => {
          const rows = await sql<{ n: string }>(
            'select count(*) as n from pg_stat_activity where application_name = $1',
            [name],
          );
          expect(Number(rows[0]?.n)).toBe(0);
        },
        { timeout: 10_000, interval: 50 },
      );
      let last = await scans();
      await vi.waitFor(
        async () => {
          const now = await scans();
          const settled = now === last;
          last = now;
          expect(settled).toBe(true);
        },
        { timeout: 10_000, interval: 150 },
      );
      return last - before;
    }

    beforeAll(async () => {
      const store = await openStore({ url: TEST_POSTGRES_URL, schema });
      await store.close();
    });
    afterAll(async () => {
      await sql(`drop schema if exists ${schema} cascade`);
    });

    it('runs the store queries once per interval however many scrapes come', async () => {
      const scrape = async (store: Store, times: { together: number; oneByOne: number }) => {
        const operator = await buildMetricsApp(
          new Metrics(store, undefined, { cacheMs: 60_000 }),
          silentLogger(),
        );
        try {
          const base = await listen(operator);
          const get = async () => {
            const r = await fetch(`${base}/metrics`);
            expect(r.status).toBe(200);
            expect(await r.text()).toContain('# TYPE sunset_deliveries gauge');
          };
          await Promise.all(Array.from({ length: times.together }, get));
          for (let i = 0; i < times.oneByOne; i++) await get();
        } finally {
          await operator.close();
        }
      };
      const one = await scansOf((store) => scrape(store, { together: 1, oneByOne: 0 }));
      expect(one).toBeGreaterThan(0);
      const storm = await scansOf((store) => scrape(store, { together: 25, oneByOne: 25 }));
      expect(storm).toBe(one);
    });
  },
);

describe('/v1/audit/verify', () => {
  it('compares the log with the newest signed checkpoint, and tells each organisation in its own terms', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { makeCheckpoint, writeCheckpointFile } = await import('@sunset/store');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const archive = mkdtempSync(path.join(os.tmpdir(), 'sunset-api-checkpoints-'));
    const f = await startFixture({
      auditVerifyPerMinute: 10,
      auditCheckpoints: { dir: archive, key: publicKey },
    });
    try {
      for (let i = 0; i < 3; i++)
        await f.store.audit.append({
          organisationId: ORG,
          actor: 'cli:clerk',
          action: 'test.note',
          outcome: 'ok',
        });
      const cp = await makeCheckpoint(f.store, privateKey);
      const { file } = writeCheckpointFile(archive, cp);
      const good = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
      expect(good.statusCode, good.body).toBe(200);
      expect(good.json()).toMatchObject({
        ok: true,
        organisationId: ORG,
        checkpoint: { ok: true, seq: cp.seq, file: path.basename(file), at: cp.at },
      });

      // The newest two entries (the organisation's) cut off, the head moved back: a perfect chain.
      const db = { dialect: 'sqlite', url: path.join(f.dir, 'sunset.db') } as TestStore;
      await rawSql(db, 'drop trigger audit_log_no_delete');
      const [kept] = await f.store.audit.list({ afterSeq: cp.seq - 3, limit: 1 });
      await rawSql(
        db,
        `delete from audit_log where seq > ${cp.seq - 2}; update audit_head set seq = ${cp.seq - 2}, hash = '${kept!.hash}' where id = 1`,
      );
      expect((await f.store.verifyAudit()).ok).toBe(true);
      const bad = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
      expect(bad.json()).toMatchObject({
        ok: false,
        organisationId: ORG,
        checkpoint: { ok: false, seq: cp.seq, reason: expect.stringContaining(`organisation ${ORG}: `) },
      });
      const other = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('otherOrg') });
      expect(other.json()).toMatchObject({
        ok: false,
        organisationId: OTHER_ORG,
        checkpoint: {
          ok: false,
          reason: expect.stringContaining('the log no longer agrees with the newest signed checkpoint'),
        },
      });
      expect(other.body).not.toContain(ORG);
    } finally {
      await f.close();
      rmSync(archive, { recursive: true, force: true });
    }
  });

  it("shows an organisation's auditor its own entries only", async () => {
    const f = await startFixture({ auditVerifyPerMinute: 10 });
    try {
      for (let i = 0; i < 7; i++)
        await f.store.audit.append({
          organisationId: OTHER_ORG,
          actor: 'cli:neighbour',
          action: 'test.note',
          outcome: 'ok',
        });
      const all = await f.store.audit.list({ limit: 100_000 });
      const mine = all.filter((e) => e.organisationId === ORG);
      expect(mine.length).toBeGreaterThan(0);
      expect(all.length).toBeGreaterThan(mine.length);
      const r = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json();
      expect(body).toMatchObject({ ok: true, organisationId: ORG, checked: mine.length });
      expect(r.body).not.toContain(OTHER_ORG);
      // Nothing else is said: no total, no other organisation's ids.
      expect(Object.keys(body).sort()).toEqual(['checked', 'ms', 'ok', 'organisationId']);
      expect(body.checked).toBeLessThan(all.length);
      // The neighbour's admin sees the neighbour's count, not the deployment's.
      const other = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('otherOrg') });
      expect(other.json()).toMatchObject({
        ok: true,
        organisationId: OTHER_ORG,
        checked: all.filter((e) => e.organisationId === OTHER_ORG).length,
      });
    } finally {
      await f.close();
    }
  });

  it("says the chain is broken without naming another organisation's entry", async () => {
    const f = await startFixture({ auditVerifyPerMinute: 10 });
    try {
      await f.store.audit.append({
        organisationId: OTHER_ORG,
        actor: 'cli:neighbour',
        action: 'test.note',
        outcome: 'ok',
      });
      await f.store.audit.append({
        organisationId: ORG,
        actor: 'cli:test',
        action: 'test.note',
        outcome: 'ok',
      });
      const all = await f.store.audit.list({ limit: 100_000 });
      const edited = all.findLast((e) => e.organisationId === OTHER_ORG)!;
      const t = { dialect: 'sqlite', url: `${f.dir}/sunset.db` } as TestStore;
      await rawSql(t, 'drop trigger audit_log_no_update');
      await rawSql(t, `update audit_log set actor = 'cli:mallory' where seq = ${edited.seq}`);
      const r = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json();
      const before = all.filter((e) => e.organisationId === ORG && e.seq < edited.seq).length;
      expect(body).toMatchObject({ ok: false, organisationId: ORG, checked: before });
      expect(body.firstBad.reason).toMatch(/another organisation/);
      expect(body.firstBad.seq).toBeUndefined();
      expect(r.body).not.toContain(OTHER_ORG);
      expect(Object.keys(body).sort()).toEqual(['checked', 'firstBad', 'ms', 'ok', 'organisationId']);
      expect(Object.keys(body.firstBad)).toEqual(['reason']);
      expect(body.firstBad.reason).not.toMatch(/\d/);
    } finally {
      await f.close();
    }
  });

  it('is limited per organisation: one at a time, and a few per minute, with Retry-After', async () => {
    const f = await startFixture({ auditVerifyPerMinute: 2 });
    try {
      const together = await Promise.all([
        f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') }),
        f.app.inject({ url: '/v1/audit/verify', headers: f.auth('admin') }),
      ]);
      expect(together.map((r) => r.statusCode).sort()).toEqual([200, 429]);
      const busy = together.find((r) => r.statusCode === 429)!;
      expect(busy.json().error.message).toMatch(/already under way/);
      expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);
      const codes: number[] = [];
      for (let i = 0; i < 3; i++)
        codes.push((await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') })).statusCode);
      expect(codes).toEqual([200, 429, 429]);
      const limited = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
      expect(limited.json().error.message).toMatch(/2 audit verifications per minute/);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another organisation is not held back by this one.
      expect((await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('otherOrg') })).statusCode).toBe(
        200,
      );
    } finally {
      await f.close();
    }
  });
});
