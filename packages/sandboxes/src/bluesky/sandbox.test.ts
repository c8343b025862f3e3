// The sandbox itself: a real PDS and PLC directory on loopback, and the proxy's faults as a
// client sees them at the HTTP level.
import { existsSync } from 'node:fs';
import http from 'node:http';
import { AtpAgent } from '@atproto/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBlueskySandbox, type BlueskySandbox } from './sandbox.ts';

let sandbox: BlueskySandbox;

beforeAll(async () => {
  sandbox = await startBlueskySandbox();
});
afterEach(() => sandbox.clearFaults());
afterAll(async () => {
  await sandbox?.stop();
});

const describeServer = '/xrpc/com.atproto.server.describeServer';

async function get(path: string): Promise<Response> {
  return fetch(`${sandbox.url}${path}`);
}

describe('startBlueskySandbox', () => {
  it('serves the PDS on loopback behind the proxy, and records what went through', async () => {
    for (const url of [sandbox.url, sandbox.pdsUrl, sandbox.plcUrl]) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    const before = Date.now();
    const response = await get(`${describeServer}?probe=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      availableUserDomains: ['.test'],
      inviteCodeRequired: false,
    });
    const last = sandbox.received.at(-1);
    expect(last).toMatchObject({ method: 'GET', path: `${describeServer}?probe=1` });
    expect(last?.at.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('creates accounts, registered with the PLC directory, that log in with an app password', async () => {
    const account = await sandbox.createAccount('zoe');
    expect(account.handle).toBe('zoe.test');
    expect(account.did).toMatch(/^did:plc:[a-z2-7]{24}$/);
    expect(account.password).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    const document = (await (await fetch(`${sandbox.plcUrl}/${account.did}`)).json()) as {
      service: { serviceEndpoint: string }[];
    };
    expect(document.service[0]?.serviceEndpoint).toMatch(/^http:\/\/localhost:\d+$/);

    const agent = new AtpAgent({ service: sandbox.url });
    await agent.login({ identifier: account.handle, password: account.password });
    expect(agent.session?.did).toBe(account.did);
  });

  it('answers 429 with the PDS’s rate-limit headers, as many times as asked', async () => {
    sandbox.inject({ kind: 'rate-limit', resetInSeconds: 60 }, { path: describeServer, times: 2 });
    const now = Math.ceil(Date.now() / 1000);
    const first = await get(describeServer);
    expect(first.status).toBe(429);
    expect(first.headers.get('ratelimit-remaining')).toBe('0');
    expect(first.headers.get('ratelimit-limit')).toBeTruthy();
    const reset = Number(first.headers.get('ratelimit-reset'));
    expect(reset).toBeGreaterThanOrEqual(now + 60);
    expect(reset).toBeLessThanOrEqual(now + 61);
    expect(await first.json()).toEqual({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' });
    expect((await get(describeServer)).status).toBe(429);
    expect((await get(describeServer)).status).toBe(200);
    expect(sandbox.received.slice(-3).map((r) => r.fault)).toEqual(['rate-limit', 'rate-limit', undefined]);
  });

  it('applies a fault only to matching paths, after letting some through', async () => {
    sandbox.inject({ kind: 'status', status: 502 }, { path: /describeServer\?second/, after: 1 });
    expect((await get('/xrpc/_health')).status).toBe(200);
    expect((await get(`${describeServer}?second=1`)).status).toBe(200);
    const failed = await get(`${describeServer}?second=2`);
    expect(failed.status).toBe(502);
    expect(await failed.json()).toMatchObject({ error: 'UpstreamFailure' });
    expect((await get(`${describeServer}?second=3`)).status).toBe(200);
  });

  it('delays a request', async () => {
    sandbox.inject({ kind: 'latency', ms: 300 }, { path: 'com.atproto.server.describeServer' });
    const started = Date.now();
    expect((await get(describeServer)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('delays many requests on one kept-alive connection without piling listeners on it', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      sandbox.inject({ kind: 'latency', ms: 5 }, { path: 'com.atproto.server.describeServer', times: 15 });
      // One after the other on one kept-alive connection.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set<unknown>();
      try {
        for (let i = 0; i < 15; i++) {
          const status = await new Promise<number>((resolve, reject) => {
            const req = http.get(`${sandbox.url}${describeServer}`, { agent }, (res) => {
              sockets.add(res.socket);
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
          });
          expect(status).toBe(200);
        }
      } finally {
        agent.destroy();
      }
      expect(sockets.size).toBe(1);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(sandbox.received.filter((r) => r.fault === 'latency').length).toBeGreaterThanOrEqual(15);
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });

  it('resets a connection before the PDS sees the request', async () => {
    sandbox.inject({ kind: 'reset' }, { path: 'com.atproto.server.createAccount' });
    const attempt = fetch(`${sandbox.url}/xrpc/com.atproto.server.createAccount`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: 'never.test', email: 'never@example.test', password: 'never-never' }),
    });
    await expect(attempt).rejects.toThrow();
    const resolve = await fetch(
      `${sandbox.pdsUrl}/xrpc/com.atproto.identity.resolveHandle?handle=never.test`,
    );
    expect(resolve.status).toBe(400);
  });

  it('loses the reply of a request the PDS applied', async () => {
    sandbox.inject({ kind: 'lost-reply' }, { path: 'com.atproto.server.createAccount' });
    const attempt = fetch(`${sandbox.url}/xrpc/com.atproto.server.createAccount`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: 'lost.test', email: 'lost@example.test', password: 'lost-lost-lost' }),
    });
    await expect(attempt).rejects.toThrow();
    const resolve = await fetch(`${sandbox.pdsUrl}/xrpc/com.atproto.identity.resolveHandle?handle=lost.test`);
    expect(resolve.status).toBe(200);
    expect(((await resolve.json()) as { did: string }).did).toMatch(/^did:plc:/);
  });

  it('gives up starting after startTimeoutMs', async () => {
    await expect(startBlueskySandbox({ startTimeoutMs: 50 })).rejects.toThrow(/did not start within 50 ms/);
  });

  it('stops everything it started and removes its directory', async () => {
    const other = await startBlueskySandbox();
    expect(existsSync(other.directory)).toBe(true);
    const keptAlive = await fetch(`${other.url}${describeServer}`);
    expect(keptAlive.status).toBe(200);
    await other.stop();
    expect(existsSync(other.directory)).toBe(false);
    for (const url of [other.url, other.pdsUrl, other.plcUrl]) {
      await expect(fetch(`${url}/`)).rejects.toThrow();
    }
    // A second stop is harmless.
    await other.stop();
  });
});
