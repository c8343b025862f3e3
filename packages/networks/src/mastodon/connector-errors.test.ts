// Every error class of the taxonomy, each from a real answer (or silence) of the sandbox server,
// through the real `masto` client.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { Secret } from '@sunset/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describedBySpec,
  loadSpec,
  specMissingReason,
  specProblems,
  startMastodonSandbox,
  type MastodonSandbox,
} from '@sunset/sandboxes';
import {
  AuthError,
  ForbiddenError,
  InvalidPostError,
  NotFoundError,
  RateLimitedError,
  TransientError,
} from '../errors.ts';
import type { Connector } from '../types.ts';
import { createMastodonConnector } from './connector.ts';
import { parseReset } from './map-error.ts';

let sandbox: MastodonSandbox;
let connector: Connector;
let n = 0;
const key = () => `errors-${++n}`;

function connect(token: string, timeoutMs = 5_000, instance = sandbox.url): Connector {
  return createMastodonConnector({
    network: 'mastodon',
    instance,
    account: 'ville',
    accessToken: new Secret(token, 'test'),
    timeoutMs,
  });
}

beforeAll(async () => {
  sandbox = await startMastodonSandbox({ accounts: [{ username: 'ville', token: 'ville-token' }] });
  connector = connect('ville-token');
});

afterAll(async () => {
  await connector?.close();
  await sandbox?.stop();
});

describe('Mastodon errors, from real answers', () => {
  it('429 with an ISO 8601 reset → RateLimitedError with resetAt', async () => {
    sandbox.inject({ kind: 'rate-limit', resetInSeconds: 120 }, { path: '/api/v1/statuses' });
    const started = Date.now();
    const error = await connector.publish({ text: 'x' }, { idempotencyKey: key() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    const limited = error as RateLimitedError;
    expect(limited.status).toBe(429);
    expect(limited.retryable).toBe(true);
    expect(limited.remoteMessage).toBe('Too many requests');
    const wait = limited.retryAfterMs(started) ?? 0;
    expect(wait).toBeGreaterThan(115_000);
    expect(wait).toBeLessThanOrEqual(121_000);
  });

  it('401 → AuthError', async () => {
    const wrong = connect('not-a-token');
    await expect(wrong.verifyCredentials()).rejects.toBeInstanceOf(AuthError);
    await expect(wrong.publish({ text: 'x' }, { idempotencyKey: key() })).rejects.toMatchObject({
      kind: 'auth',
      status: 401,
      retryable: false,
      remoteMessage: 'The access token is invalid',
    });
  });

  it('422 → InvalidPostError with the server’s message', async () => {
    await expect(
      connector.publish({ text: 'z'.repeat(501) }, { idempotencyKey: key() }),
    ).rejects.toMatchObject({
      constructor: InvalidPostError,
      status: 422,
      remoteMessage: 'Validation failed: Text character limit of 500 exceeded',
    });
  });

  it('404 on a reply to a status that is gone → NotFoundError', async () => {
    const error = await connector
      .publish(
        { text: 'Réponse' },
        { idempotencyKey: key(), replyTo: { remoteId: '999', url: `${sandbox.url}/@ville/999` } },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({
      status: 404,
      remoteMessage: 'The post you are trying to reply to does not appear to exist.',
    });
  });

  it('403 for a token without the write scope → ForbiddenError', async () => {
    sandbox.addAccount({ username: 'lecteur', token: 'read-only-token', scopes: ['read'] });
    const reader = connect('read-only-token');
    await expect(reader.verifyCredentials()).resolves.toMatchObject({
      handle: expect.stringMatching(/^@lecteur@/),
    });
    await expect(reader.publish({ text: 'x' }, { idempotencyKey: key() })).rejects.toMatchObject({
      constructor: ForbiddenError,
      status: 403,
      retryable: false,
      remoteMessage: 'This action is outside the authorized scopes',
    });
  });

  it.each([500, 503] as const)('%i → TransientError', async (status) => {
    sandbox.inject({ kind: 'status', status }, { path: '/api/v1/statuses' });
    const error = await connector.publish({ text: 'x' }, { idempotencyKey: key() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ status, retryable: true });
  });

  it('502 from a proxy, an HTML page → TransientError', async () => {
    sandbox.inject({ kind: 'status', status: 502 }, { path: '/api/v1/accounts/verify_credentials' });
    await expect(connector.verifyCredentials()).rejects.toMatchObject({
      constructor: TransientError,
      retryable: true,
    });
  });

  it('a connection reset twice → TransientError, and nothing posted', async () => {
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'reset' }, { path: '/api/v1/statuses', times: 2 });
    const error = await connector.publish({ text: 'x' }, { idempotencyKey: key() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/connection failed/);
    expect(sandbox.statuses.length).toBe(before);
  });

  it('a server that is not listening → TransientError naming the socket error', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const nobody = connect('ville-token', 5_000, `http://127.0.0.1:${port}`);
    try {
      const error = await nobody.publish({ text: 'x' }, { idempotencyKey: key() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/connection failed \(ECONNREFUSED\)/);
    } finally {
      await nobody.close();
    }
  });

  it('an instance that redirects → NotFoundError naming where it points, nothing followed', async () => {
    const moved = createHttpServer((req, res) => {
      res.writeHead(301, { location: `https://social.ville.example${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((resolve) => moved.listen(0, '127.0.0.1', resolve));
    const { port } = moved.address() as AddressInfo;
    const there = connect('ville-token', 5_000, `http://127.0.0.1:${port}`);
    try {
      const error = await there.publish({ text: 'x' }, { idempotencyKey: key() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain('https://social.ville.example/api/v1/statuses');
      await expect(there.verifyCredentials()).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await there.close();
      await new Promise((resolve) => moved.close(resolve));
    }
  });

  it('an answer lost after the status was made → the retry with the same key gets that status', async () => {
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'lost-reply' }, { path: '/api/v1/statuses', times: 1 });
    const published = await connector.publish({ text: 'Perdu' }, { idempotencyKey: key() });
    expect(sandbox.statuses.length).toBe(before + 1);
    expect(sandbox.statuses.at(-1)?.id).toBe(published.remoteId);
  });

  it('a reset on a read → TransientError', async () => {
    sandbox.inject({ kind: 'reset' }, { path: '/api/v1/accounts/verify_credentials' });
    await expect(connector.verifyCredentials()).rejects.toBeInstanceOf(TransientError);
  });

  it('a server slower than the time limit → TransientError', async () => {
    const impatient = connect('ville-token', 200);
    sandbox.inject({ kind: 'latency', ms: 600 }, { path: '/api/v1/accounts/verify_credentials' });
    await expect(impatient.verifyCredentials()).rejects.toMatchObject({
      constructor: TransientError,
      message: expect.stringMatching(/in time/),
    });
  });

  it('a slow post is retried once with its key: one status', async () => {
    const impatient = connect('ville-token', 500);
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'latency', ms: 1_200 }, { path: '/api/v1/statuses' });
    const idempotencyKey = key();
    const published = await impatient.publish({ text: 'Lent' }, { idempotencyKey });
    // The first request, still held by the server, finds the key taken when it wakes: once the
    // server has answered both, there is one status.
    const answered = () =>
      sandbox.received.filter(
        (r) => r.path === '/api/v1/statuses' && r.headers['idempotency-key'] === idempotencyKey,
      ).length;
    for (const deadline = Date.now() + 10_000; answered() < 2 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(answered()).toBe(2);
    expect(sandbox.statuses.length).toBe(before + 1);
    expect(sandbox.statuses.at(-1)?.id).toBe(published.remoteId);
  });

  it('a caller’s abort is passed through as is', async () => {
    const controller = new AbortController();
    sandbox.inject({ kind: 'latency', ms: 500 }, { path: '/api/v1/statuses' });
    const pending = connector.publish({ text: 'x' }, { idempotencyKey: key(), signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    await expect(pending).rejects.toThrow('shutting down');
  });

  it('reads x-ratelimit-reset as an ISO date (or seconds, from compatible servers)', () => {
    expect(parseReset('2026-03-01T12:05:00.000Z')?.toISOString()).toBe('2026-03-01T12:05:00.000Z');
    expect(parseReset('1772366700')?.getTime()).toBe(1_772_366_700_000);
    expect(parseReset('30', 1_000)?.getTime()).toBe(31_000);
    expect(parseReset('soon')).toBeUndefined();
    expect(parseReset(null)).toBeUndefined();
  });
});

describe('the exchanges of these tests, against the Mastodon OpenAPI spec', () => {
  const spec = loadSpec('mastodon');
  const reason = specMissingReason('mastodon') ?? 'spec missing';

  it.skipIf(!spec)(
    `every exchange the sandbox saw matches the spec${spec ? '' : ` (skipped: ${reason})`}`,
    () => {
      if (!spec) return;
      expect(sandbox.received.filter(describedBySpec).length).toBeGreaterThan(5);
      expect(specProblems(spec, sandbox.received)).toEqual([]);
    },
  );
});

describe('profile images at internal addresses', () => {
  it('refuses an avatar the server places on an internal address: permanent, never requested', async () => {
    const hits: string[] = [];
    const internal = createHttpServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(Buffer.alloc(10));
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    const account = sandbox.accounts.find((a) => a.username === 'ville');
    if (!account) throw new Error('no sandbox account ville');
    const internalUrl = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
    account.avatar = {
      data: new Uint8Array(10),
      mediaType: 'image/png',
      url: `${internalUrl}/admin/avatar.png`,
    };
    // The sandbox itself (the instance) is allowed; the other loopback port is not.
    const allowed = createMastodonConnector({
      network: 'mastodon',
      instance: sandbox.url,
      account: 'ville',
      accessToken: new Secret('ville-token', 'test'),
      timeoutMs: 5_000,
      fetchAllow: [new URL(sandbox.url).host],
    });
    try {
      const error = await allowed.getProfile().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidPostError);
      expect(error).toMatchObject({ retryable: false });
      expect((error as Error).message).toMatch(/avatar not downloaded: 127\.0\.0\.1 is an internal address/);
      expect(hits).toEqual([]);
    } finally {
      delete account.avatar;
      await allowed.close();
      internal.closeAllConnections();
      await new Promise((resolve) => internal.close(resolve));
    }
  });
});
