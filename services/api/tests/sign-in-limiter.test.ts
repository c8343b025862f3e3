// The failed sign-in limiter, attacked over HTTP: others' failures never lock a valid token out,
// X-Forwarded-For counts only from a named proxy, the memory it uses is bounded, and the
// failures reach the audit log as one summary per address and window.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@sunset/core';
import { describe, expect, it, vi } from 'vitest';
import { readApiConfig } from '../src/config.ts';
import { startFixture, type Fixture } from './fixture.ts';

const BAD = { authorization: 'Bearer nope' };

/** The gauge of addresses the limiter tracks, as the operator's Prometheus reads it. */
async function trackedAddresses(f: Fixture): Promise<number> {
  const text = await f.app.metrics.render();
  const m = /^sunset_auth_failure_addresses (\d+)$/m.exec(text);
  if (!m) throw new Error(`no sunset_auth_failure_addresses in:\n${text.slice(0, 500)}`);
  return Number(m[1]);
}

/** The app listening on loopback, for requests that come through a real socket. */
async function listening(f: Fixture): Promise<string> {
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const address = f.app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening on a port');
  return `http://127.0.0.1:${address.port}`;
}

describe('a valid token is never refused for the failures of others', () => {
  it('lets the crisis token in after 20 bad requests from its address, while the bad ones keep getting 429', async () => {
    const f = await startFixture({ authFailuresPerMinute: 3 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 20; i++)
        codes.push((await f.app.inject({ url: '/v1/me', headers: BAD })).statusCode);
      expect(codes).toEqual([401, 401, 401, ...Array(17).fill(429)]);
      const crisis = await f.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: f.auth('crisis'),
        payload: {
          text: 'Coupure d’eau rue Nationale : ne buvez pas l’eau du robinet.',
          networks: ['mastodon'],
        },
      });
      expect(crisis.statusCode, crisis.body).toBe(202);
      expect((await f.app.inject({ url: '/v1/me', headers: f.auth('admin') })).statusCode).toBe(200);
      // A token that is not a valid one is still limited, and so is no token at all.
      const again = await f.app.inject({ url: '/v1/me', headers: f.auth('revoked') });
      expect(again.statusCode).toBe(429);
      expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
      expect(again.json().error.message).toMatch(/too many failed sign-ins from this address/);
      expect((await f.app.inject({ url: '/v1/me' })).statusCode).toBe(429);
    } finally {
      await f.close();
    }
  });
});

describe('forwarded addresses', () => {
  it('ignores X-Forwarded-For from a client that is not a trusted proxy', async () => {
    const f = await startFixture({ authFailuresPerMinute: 3, trustProxy: ['10.0.0.5'] });
    try {
      const base = await listening(f);
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${base}/v1/me`, {
          headers: { ...BAD, 'x-forwarded-for': `198.51.100.${i + 1}` },
        });
        codes.push(r.status);
      }
      expect(codes).toEqual([401, 401, 401, 429, 429, 429]);
    } finally {
      await f.close();
    }
  });

  it('limits the forwarded address when the proxy is in a trusted CIDR', async () => {
    const f = await startFixture({ authFailuresPerMinute: 3, trustProxy: ['127.0.0.0/8'] });
    try {
      const base = await listening(f);
      const from = async (client: string, headers: Record<string, string> = BAD) =>
        (await fetch(`${base}/v1/me`, { headers: { ...headers, 'x-forwarded-for': client } })).status;
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push(await from('203.0.113.7'));
      expect(codes).toEqual([401, 401, 401, 429, 429]);
      // Another client behind the same proxy is not limited for the first one's failures.
      expect(await from('203.0.113.8')).toBe(401);
      expect(await from('203.0.113.7', f.auth('auditor'))).toBe(200);
    } finally {
      await f.close();
    }
  });
});

describe('IPv6 clients', () => {
  it('limits an IPv6 client by its /64, not by each address it can pick in it', async () => {
    const f = await startFixture({ authFailuresPerMinute: 3, trustProxy: ['127.0.0.1'] });
    try {
      const from = async (client: string) =>
        (
          await f.app.inject({
            url: '/v1/me',
            headers: { ...BAD, 'x-forwarded-for': client },
            remoteAddress: '127.0.0.1',
          })
        ).statusCode;
      const codes: number[] = [];
      for (const client of [
        '2001:db8:1:2::1',
        '2001:db8:1:2:ffff::9',
        '2001:0db8:0001:0002::abcd',
        '2001:db8:1:2::4',
      ])
        codes.push(await from(client));
      expect(codes).toEqual([401, 401, 401, 429]);
      expect(await from('2001:db8:1:3::1')).toBe(401);
      // An IPv4 client written as IPv6 is the same client.
      for (let i = 0; i < 3; i++) await from('192.0.2.10');
      expect(await from('::ffff:192.0.2.10')).toBe(429);
    } finally {
      await f.close();
    }
  });
});

describe('SUNSET_TRUST_PROXY', () => {
  it('takes a list of addresses and CIDRs, and refuses "true" with a message that says what to do', () => {
    expect(readApiConfig({ SUNSET_TRUST_PROXY: '10.0.0.5, 172.16.0.0/12,::1' }).trustProxy).toEqual([
      '10.0.0.5',
      '172.16.0.0/12',
      '::1',
    ]);
    expect(readApiConfig({}).trustProxy).toEqual([]);
    expect(readApiConfig({ SUNSET_TRUST_PROXY: 'false' }).trustProxy).toEqual([]);
    for (const bad of ['true', '*', '10.0.0.0/33', 'proxy.internal', '10.0.0.5,300.1.1.1']) {
      let error: unknown;
      try {
        readApiConfig({ SUNSET_TRUST_PROXY: bad });
      } catch (err) {
        error = err;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toMatch(/SUNSET_TRUST_PROXY/);
    }
    expect(() => readApiConfig({ SUNSET_TRUST_PROXY: 'true' })).toThrow(/list the proxy addresses/);
  });

  it('stops the api at start with exit 78 for SUNSET_TRUST_PROXY=true', () => {
    const serve = fileURLToPath(new URL('../src/serve.ts', import.meta.url));
    const r = spawnSync(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', serve],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          SUNSET_TRUST_PROXY: 'true',
          DATABASE_URL: ':memory:',
          SUNSET_API_PORT: '0',
        },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/SUNSET_TRUST_PROXY="true".*list the proxy addresses/s);
  });
});

describe('failed sign-ins in the audit log', () => {
  it('writes one entry per address and window: 200 failures give one entry counting 200', async () => {
    const f = await startFixture({ authFailuresPerMinute: 5, authWindowMs: 5000 });
    try {
      const codes = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const r = await f.app.inject({ url: i % 2 ? '/v1/me' : '/v1/audit', headers: i % 3 ? BAD : {} });
        codes.add(r.statusCode);
      }
      expect([...codes].sort()).toEqual([401, 429]);
      // Nothing is written while the window runs.
      expect(await f.store.audit.list({ action: 'auth.failed' })).toEqual([]);
      const entries = await vi.waitFor(
        async () => {
          const found = await f.store.audit.list({ action: 'auth.failed' });
          if (found.length === 0) throw new Error('no auth.failed entry yet');
          return found;
        },
        { timeout: 20_000, interval: 100 },
      );
      expect(entries).toHaveLength(1);
      const details = entries[0]!.details as Record<string, unknown>;
      expect(details).toMatchObject({
        ip: '127.0.0.1',
        count: 200,
        routes: expect.arrayContaining(['GET /v1/me', 'GET /v1/audit']),
      });
      expect(Date.parse(details['last'] as string)).toBeGreaterThanOrEqual(
        Date.parse(details['first'] as string),
      );
      expect(Object.values(details['reasons'] as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(
        200,
      );
      expect(entries[0]).toMatchObject({ actor: 'anonymous', outcome: 'refused' });
    } finally {
      await f.close();
    }
  });

  it('writes what the window holds so far when the app closes', async () => {
    const f = await startFixture({ authWindowMs: 60 * 60_000 });
    try {
      for (let i = 0; i < 4; i++) await f.app.inject({ url: '/v1/me', headers: f.auth('revoked') });
      expect(await f.store.audit.list({ action: 'auth.failed' })).toEqual([]);
      await f.app.close();
      const entries = await f.store.audit.list({ action: 'auth.failed' });
      expect(entries).toHaveLength(1);
      expect(entries[0]?.details).toMatchObject({ count: 4, reasons: { 'unknown or revoked token': 4 } });
      expect(JSON.stringify(entries)).not.toContain(f.tokens.revoked);
    } finally {
      await f.close();
    }
  });
});

describe('the limiter’s memory', () => {
  it('tracks at most its cap of addresses, and still limits once full', async () => {
    const f = await startFixture({
      authFailuresPerMinute: 3,
      authMaxAddresses: 50,
      trustProxy: ['127.0.0.1'],
    });
    try {
      const from = async (client: string, headers: Record<string, string> = BAD) =>
        (
          await f.app.inject({
            url: '/v1/me',
            headers: { ...headers, 'x-forwarded-for': client },
            remoteAddress: '127.0.0.1',
          })
        ).statusCode;
      let most = 0;
      const codes: number[] = [];
      for (let i = 0; i < 400; i++) {
        codes.push(await from(`10.1.${Math.floor(i / 250)}.${i % 250}`));
        if (i % 10 === 0) most = Math.max(most, await trackedAddresses(f));
      }
      most = Math.max(most, await trackedAddresses(f));
      expect(most).toBe(50);
      // The first 50 addresses got their own 401; the 350 after share one bucket, which is limited too.
      expect(codes.slice(0, 53)).toEqual(Array(53).fill(401));
      expect(codes.slice(53)).toEqual(Array(347).fill(429));
      // A valid token still goes through from an address the limiter had no room for.
      expect(await from('10.9.9.9', f.auth('admin'))).toBe(200);
    } finally {
      await f.close();
    }
  });
});
