// What the worker's watch keeps, as people read it: the follower history per network with the
// sunset (GET /v1/audience/followers, any role, its own organisation only), the identity checks'
// runs (GET /v1/audience/identity), and the latest counts as Prometheus metrics on the operator's
// listener.
import { silentLogger } from '@sunset/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMetricsApp, Metrics } from '../src/metrics.ts';
import { ORG, OTHER_ORG, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
  const read = async (organisationId: string, network: 'x' | 'bluesky' | 'mastodon', count: number) => {
    await f.store.watch.recordFollowers({ organisationId, network, count });
    // Readings a millisecond apart at least, so their order is their time's.
    await new Promise((r) => setTimeout(r, 2));
  };
  await read(ORG, 'x', 1200);
  await read(ORG, 'bluesky', 10);
  await read(ORG, 'mastodon', 40);
  await read(ORG, 'x', 1190);
  await read(ORG, 'bluesky', 25);
  await read(OTHER_ORG, 'x', 5);
  await f.store.watch.recordIdentityCheck({
    organisationId: ORG,
    failed: 1,
    results: [
      { check: 'x-profile', subject: '@VilleDeTest', status: 'failed', message: 'name reads "Crypto"' },
    ],
  });
});
afterAll(async () => {
  await f?.close();
});

describe('GET /v1/audience/followers', () => {
  it('gives each network’s history, first, latest and change, and the sunset, to any role', async () => {
    const res = await f.app.inject({
      method: 'GET',
      url: '/v1/audience/followers',
      headers: f.auth('auditor'),
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    // 09:00 in Paris in January is 08:00 UTC.
    expect(body.sunset).toBe('2099-01-20T08:00:00.000Z');
    expect(body.networks.map((n: { network: string }) => n.network)).toEqual(['x', 'bluesky', 'mastodon']);
    const x = body.networks[0];
    expect(x.history.map((p: { count: number }) => p.count)).toEqual([1200, 1190]);
    expect([x.first.count, x.latest.count, x.change]).toEqual([1200, 1190, -10]);
    expect(body.networks[1].change).toBe(15);
    expect(body.networks[2].history).toHaveLength(1);
  });

  it('shows an organisation its own counts only, and refuses without a token or with a bad since', async () => {
    const other = await f.app.inject({
      method: 'GET',
      url: '/v1/audience/followers',
      headers: f.auth('otherOrg'),
    });
    expect(other.json().networks[0].history.map((p: { count: number }) => p.count)).toEqual([5]);
    expect((await f.app.inject({ method: 'GET', url: '/v1/audience/followers' })).statusCode).toBe(401);
    const bad = await f.app.inject({
      method: 'GET',
      url: '/v1/audience/followers?since=yesterday',
      headers: f.auth('editor'),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('since: an ISO 8601 instant');
    const later = await f.app.inject({
      method: 'GET',
      url: `/v1/audience/followers?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      headers: f.auth('editor'),
    });
    expect(later.json().networks.every((n: { history: unknown[] }) => n.history.length === 0)).toBe(true);
  });
});

describe('GET /v1/audience/identity', () => {
  it('gives the identity checks’ runs, newest first', async () => {
    const res = await f.app.inject({
      method: 'GET',
      url: '/v1/audience/identity',
      headers: f.auth('crisis'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().runs).toEqual([
      expect.objectContaining({
        failed: 1,
        results: [expect.objectContaining({ check: 'x-profile', status: 'failed' })],
      }),
    ]);
    const other = await f.app.inject({
      method: 'GET',
      url: '/v1/audience/identity',
      headers: f.auth('otherOrg'),
    });
    expect(other.json().runs).toEqual([]);
  });
});

describe('metrics', () => {
  it('exposes each account’s latest follower count on the operator’s listener', async () => {
    const operator = await buildMetricsApp(new Metrics(f.store, undefined), silentLogger());
    try {
      const res = await operator.inject({ method: 'GET', url: '/metrics' });
      expect(res.body).toContain('# TYPE sunset_followers gauge');
      expect(res.body).toContain(`sunset_followers{organisation="${ORG}",network="x"} 1190`);
      expect(res.body).toContain(`sunset_followers{organisation="${ORG}",network="bluesky"} 25`);
      expect(res.body).toContain(`sunset_followers{organisation="${OTHER_ORG}",network="x"} 5`);
      expect(res.body).toContain(`sunset_identity_checks_failed{organisation="${ORG}"} 1`);
    } finally {
      await operator.close();
    }
  });
});
