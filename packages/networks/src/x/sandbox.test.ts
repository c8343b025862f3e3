// The X fake (in @sunset/sandboxes) driven through this package's client and connector, which is
// why these tests live here: the fake's package cannot depend on the connectors it stands in for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiResponseError, type ITwitterApiClientPlugin } from 'twitter-api-v2';
import { createXClient } from './client.ts';
import { createXConnector } from './connector.ts';
import {
  checkAgainstXSpec,
  encodePng,
  MAIN_ACCOUNT,
  OTHER_ACCOUNT,
  startXSandbox,
  X_SPEC,
  X_SPEC_SKIP_REASON,
  type XSandbox,
  type XSandboxAccountInput,
} from '@sunset/sandboxes';
import { CreditsExhaustedError, DailyCapError } from '../errors.ts';
import { xRemoteMessage } from './map-error.ts';
import { connectorConfig } from './connector.test-support.ts';

let sandbox: XSandbox;

function clientFor(
  account: XSandboxAccountInput,
  extra: { plugins?: ITwitterApiClientPlugin[]; apiBase?: string } = {},
) {
  return createXClient({
    tokens: {
      appKey: account.appKey,
      appSecret: account.appSecret,
      accessToken: account.accessToken,
      accessSecret: account.accessSecret,
    },
    apiBase: extra.apiBase ?? sandbox.url,
    ca: sandbox.ca,
    timeoutMs: 10_000,
    ...(extra.plugins ? { plugins: extra.plugins } : {}),
  }).client;
}

async function responseError(promise: Promise<unknown>): Promise<ApiResponseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiResponseError)) throw new Error(`expected an ApiResponseError, got ${String(err)}`);
  return err;
}

const png = (seed: number) => encodePng(8, 8, [seed, seed, seed], seed);

beforeAll(async () => {
  sandbox = await startXSandbox();
  sandbox.addAccount(MAIN_ACCOUNT);
  sandbox.addAccount(OTHER_ACCOUNT);
});

afterAll(async () => {
  await sandbox?.stop();
});

describe('X sandbox: OAuth 1.0a', () => {
  it('delays a post by a latency chosen from its text', async () => {
    const seen: (string | undefined)[] = [];
    sandbox.inject(
      {
        kind: 'latency-of',
        ms: (text) => {
          seen.push(text);
          return text?.includes('slow') ? 200 : 0;
        },
      },
      { times: 2, path: '/2/tweets', method: 'POST' },
    );
    const client = clientFor(MAIN_ACCOUNT);
    await client.v2.tweet({ text: 'quick one' });
    const slow = Date.now();
    await client.v2.tweet({ text: 'slow one' });
    expect(Date.now() - slow).toBeGreaterThanOrEqual(190);
    expect(seen).toEqual(['quick one', 'slow one']);
  });

  it('serves https with a certificate for 127.0.0.1 and localhost', async () => {
    expect(sandbox.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const viaLocalhost = clientFor(MAIN_ACCOUNT, { apiBase: sandbox.url.replace('127.0.0.1', 'localhost') });
    await expect(viaLocalhost.v2.me()).resolves.toMatchObject({ data: { username: 'VilleDeTest' } });
  });

  it('receives every X host the library has hard-coded, signed for the URL actually requested', async () => {
    const client = clientFor(MAIN_ACCOUNT);
    for (const prefix of [
      'https://api.twitter.com/1.1/',
      'https://upload.x.com/1.1/',
      'https://upload.twitter.com/1.1/',
    ]) {
      await expect(
        client.v1.get('account/verify_credentials.json', undefined, { prefix }),
      ).resolves.toMatchObject({
        screen_name: 'VilleDeTest',
      });
    }
    await expect(
      client.v2.get('users/me', undefined, { prefix: 'https://api.twitter.com/2/' }),
    ).resolves.toMatchObject({
      data: { id: MAIN_ACCOUNT.id },
    });
  });

  it('refuses a request altered after it was signed (query)', async () => {
    const tamper: ITwitterApiClientPlugin = {
      onBeforeRequest({ computedParams }) {
        computedParams.url.searchParams.set('user.fields', 'description');
      },
    };
    const client = clientFor(MAIN_ACCOUNT, { plugins: [tamper] });
    const err = await responseError(client.v2.me({ 'user.fields': ['location'] }));
    expect(err.code).toBe(401);
    expect(err.data).toEqual({
      title: 'Unauthorized',
      detail: 'Unauthorized',
      type: 'about:blank',
      status: 401,
    });
    expect(sandbox.received.at(-1)?.query).toEqual({ 'user.fields': 'description' });
  });

  it('refuses a form body altered after it was signed, with the v1.1 error', async () => {
    const tamper: ITwitterApiClientPlugin = {
      onBeforeRequest({ computedParams, requestOptions }) {
        computedParams.body = 'name=Compte%20pirate';
        requestOptions.headers = {
          ...requestOptions.headers,
          'content-length': String(computedParams.body.length),
        };
      },
    };
    const client = clientFor(MAIN_ACCOUNT, { plugins: [tamper] });
    const err = await responseError(client.v1.updateAccountProfile({ name: 'Ville de Test' }));
    expect(err.code).toBe(401);
    expect(err.data).toEqual({ errors: [{ code: 32, message: 'Could not authenticate you.' }] });
    expect(sandbox.profile?.name).toBe('Ville de Test');
  });

  it('refuses a replayed nonce, also once other requests came in between', async () => {
    let captured: string | undefined;
    const capture: ITwitterApiClientPlugin = {
      onBeforeRequest({ requestOptions }) {
        captured = (requestOptions.headers as Record<string, string> | undefined)?.['Authorization'];
      },
    };
    await clientFor(MAIN_ACCOUNT, { plugins: [capture] }).v2.me();
    expect(captured).toMatch(/^OAuth .*oauth_nonce=/);
    const plain = clientFor(MAIN_ACCOUNT);
    for (let i = 0; i < 5; i++) await plain.v2.me();
    const replay: ITwitterApiClientPlugin = {
      onBeforeRequest({ requestOptions }) {
        requestOptions.headers = { ...requestOptions.headers, Authorization: captured ?? '' };
      },
    };
    const err = await responseError(clientFor(MAIN_ACCOUNT, { plugins: [replay] }).v2.me());
    expect(err.code).toBe(401);
  });

  it('refuses unknown tokens and apps', async () => {
    const unknownToken = clientFor({ ...MAIN_ACCOUNT, accessToken: 'nobody-token' });
    const err = await responseError(unknownToken.v1.verifyCredentials());
    expect(err.code).toBe(401);
    expect(err.data).toEqual({ errors: [{ code: 89, message: 'Invalid or expired token.' }] });
    const unknownApp = clientFor({ ...MAIN_ACCOUNT, appKey: 'unknown-app' });
    expect((await responseError(unknownApp.v2.me())).code).toBe(401);
  });
});

describe('X sandbox: the rules X applies', () => {
  it('reads a tweet back with fields, and answers 200 with an error for an unknown id', async () => {
    const client = clientFor(MAIN_ACCOUNT);
    const created = await client.v2.tweet({ text: 'Lecture https://www.ville-tours.fr/a?b=1 <ok>' });
    const read = await client.v2.singleTweet(created.data.id, {
      'tweet.fields': ['created_at', 'entities', 'conversation_id', 'author_id'],
    });
    expect(read.data).toMatchObject({
      id: created.data.id,
      text: created.data.text,
      author_id: MAIN_ACCOUNT.id,
      conversation_id: created.data.id,
      entities: { urls: [{ expanded_url: 'https://www.ville-tours.fr/a?b=1' }] },
    });
    expect(read.data.text).toMatch(/^Lecture https:\/\/t\.co\/\w{10} &lt;ok&gt;$/);
    const missing = await client.v2.singleTweet('1000000000000000001');
    expect(missing.errors?.[0]).toMatchObject({
      title: 'Not Found Error',
      resource_id: '1000000000000000001',
    });
  });

  it('answers 400 to a query parameter the endpoint does not take', async () => {
    const err = await responseError(clientFor(MAIN_ACCOUNT).v2.get('users/me', { 'tweet.mode': 'x' }));
    expect(err.code).toBe(400);
    expect(xRemoteMessage(err.data)).toMatch(/The query parameter \[tweet\.mode\] is not one of/);
  });

  it('refuses duplicates per account only', async () => {
    const text = 'Même texte sur deux comptes';
    await clientFor(MAIN_ACCOUNT).v2.tweet({ text });
    await clientFor(OTHER_ACCOUNT).v2.tweet({ text });
    const err = await responseError(clientFor(MAIN_ACCOUNT).v2.tweet({ text }));
    expect(err.code).toBe(403);
    expect(err.data).toEqual({
      title: 'Forbidden',
      detail: 'You are not allowed to create a Tweet with duplicate content.',
      type: 'about:blank',
      status: 403,
    });
  });

  it('accepts only processed media of the same account, with alt text up to 1000 characters', async () => {
    const main = clientFor(MAIN_ACCOUNT);
    const other = clientFor(OTHER_ACCOUNT);
    const theirs = await other.v2.uploadMedia(png(1), { media_type: 'image/png' });
    const err = await responseError(
      main.v2.tweet({ text: 'Média d’un autre', media: { media_ids: [theirs] } }),
    );
    expect(err.code).toBe(400);
    expect(xRemoteMessage(err.data)).toMatch(/^Your media IDs are invalid\./);

    const mine = await main.v2.uploadMedia(png(2), { media_type: 'image/png' });
    expect(sandbox.media(mine)).toMatchObject({
      state: 'succeeded',
      width: 8,
      height: 8,
      mediaType: 'image/png',
    });
    const tooLong = await responseError(
      main.v2.createMediaMetadata(mine, { alt_text: { text: 'a'.repeat(1001) } }),
    );
    expect(tooLong.code).toBe(400);
    await main.v2.createMediaMetadata(mine, { alt_text: { text: 'a'.repeat(1000) } });
    expect(sandbox.media(mine)?.altText).toHaveLength(1000);

    // Bytes that are not what the upload declared are refused at finalize.
    const mislabelled = await responseError(main.v2.uploadMedia(png(3), { media_type: 'image/jpeg' }));
    expect(mislabelled.code).toBe(400);
    // An upload never finalized cannot be attached.
    const init = await main.v2.post<{ data: { id: string } }>('media/upload/initialize', {
      media_type: 'image/png',
      total_bytes: 10,
      media_category: 'tweet_image',
    });
    const pending = await responseError(
      main.v2.tweet({ text: 'Média inachevé', media: { media_ids: [init.data.id] } }),
    );
    expect(pending.code).toBe(400);
    // Over 5 MB is refused at initialize.
    const big = await responseError(
      main.v2.post('media/upload/initialize', { media_type: 'image/png', total_bytes: 5 * 1024 * 1024 + 1 }),
    );
    expect(big.code).toBe(400);
  });

  it('records what it received, without the Authorization header', () => {
    const append = sandbox.received.find((r) => r.path.endsWith('/append'));
    expect(append?.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(append?.body).toMatchObject({
      segment_index: '0',
      media: { filename: '', size: expect.any(Number) },
    });
    expect(append?.headers.authorization).toBeUndefined();
    expect(sandbox.received.every((r) => r.time instanceof Date)).toBe(true);
  });
});

describe('X sandbox: faults', () => {
  it('hits only matching requests, as many times as asked', async () => {
    const client = clientFor(MAIN_ACCOUNT);
    sandbox.inject({ kind: 'status', status: 502 }, { times: 2, path: /^\/2\/users\//, method: 'GET' });
    expect((await responseError(client.v2.me())).code).toBe(502);
    await client.v1.verifyCredentials(); // another path: untouched
    expect((await responseError(client.v2.me())).code).toBe(502);
    await expect(client.v2.me()).resolves.toMatchObject({ data: { id: MAIN_ACCOUNT.id } });
  });

  it('answers v1.1 faults in the v1.1 shape, with rate-limit headers on 429', async () => {
    const client = clientFor(MAIN_ACCOUNT);
    sandbox.inject({ kind: 'status', status: 503 }, { path: '/1.1/account/verify_credentials.json' });
    const unavailable = await responseError(client.v1.verifyCredentials());
    expect(unavailable.data).toEqual({ errors: [{ code: 130, message: 'Over capacity' }] });
    sandbox.inject(
      { kind: 'rate-limit', resetInSeconds: 900 },
      { path: '/1.1/account/verify_credentials.json' },
    );
    const limited = await responseError(client.v1.verifyCredentials());
    expect(limited.code).toBe(429);
    expect(limited.data).toEqual({ errors: [{ code: 88, message: 'Rate limit exceeded' }] });
    expect(limited.rateLimit).toEqual({ limit: 100, remaining: 0, reset: expect.any(Number) });
    expect((limited.rateLimit?.reset ?? 0) * 1000 - Date.now()).toBeGreaterThan(890_000);
  });

  it('a lost reply applies the request; a reset does not', async () => {
    const client = clientFor(MAIN_ACCOUNT);
    sandbox.inject({ kind: 'lost-reply' }, { path: '/2/tweets' });
    await expect(client.v2.tweet({ text: 'Appliqué sans réponse' })).rejects.toThrow();
    sandbox.inject({ kind: 'reset' }, { path: '/2/tweets' });
    await expect(client.v2.tweet({ text: 'Jamais appliqué' })).rejects.toThrow();
    expect(sandbox.posts.filter((p) => p.text === 'Appliqué sans réponse')).toHaveLength(1);
    expect(sandbox.posts.filter((p) => p.text === 'Jamais appliqué')).toHaveLength(0);
    expect(
      sandbox.received.filter((r) => r.fault === 'lost-reply' || r.fault === 'reset').map((r) => r.status),
    ).toEqual([undefined, undefined]);
  });

  it('draws credits down by the price table and answers 402 once the app cannot pay', async () => {
    const connector = createXConnector(connectorConfig(sandbox, MAIN_ACCOUNT));
    sandbox.setCredits(MAIN_ACCOUNT.appKey, 0.23);
    try {
      await connector.verifyCredentials(); // a user read: $0.010
      expect(sandbox.credits(MAIN_ACCOUNT.appKey)).toBeCloseTo(0.22, 6);
      await connector.publish({ text: 'Crédits : une publication sans lien' }, { idempotencyKey: 'c1' });
      expect(sandbox.credits(MAIN_ACCOUNT.appKey)).toBeCloseTo(0.205, 6);
      await connector.publish({ text: 'Crédits : https://www.tours.fr/crue' }, { idempotencyKey: 'c2' });
      expect(sandbox.credits(MAIN_ACCOUNT.appKey)).toBeCloseTo(0.005, 6);
      const refused = await connector
        .publish({ text: 'Crédits : plus rien' }, { idempotencyKey: 'c3' })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(CreditsExhaustedError);
      expect(sandbox.received.at(-1)?.status).toBe(402);
      expect(sandbox.posts.some((p) => p.text === 'Crédits : plus rien')).toBe(false);
      // Topped up, the same post goes.
      sandbox.setCredits(MAIN_ACCOUNT.appKey, 1);
      await connector.publish({ text: 'Crédits : plus rien' }, { idempotencyKey: 'c3' });
    } finally {
      sandbox.setCredits(MAIN_ACCOUNT.appKey, undefined);
    }
  });

  it("caps an account's originals and replies per 24 hours, in the answer shape a test sets", async () => {
    const connector = createXConnector(connectorConfig(sandbox, OTHER_ACCOUNT));
    const DEFAULT_CAP = sandbox.capAnswer;
    const before = sandbox.posts.filter((p) => p.accountId === OTHER_ACCOUNT.id && !p.inReplyToId).length;
    sandbox.setDailyCaps(OTHER_ACCOUNT.id, { posts: before + 1, replies: 1 });
    try {
      const first = await connector.publish({ text: 'Plafond : un' }, { idempotencyKey: 'd1' });
      const capped = await connector
        .publish({ text: 'Plafond : deux' }, { idempotencyKey: 'd2' })
        .catch((e: unknown) => e);
      expect(capped).toBeInstanceOf(DailyCapError);
      expect((capped as DailyCapError).resetAt?.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
      // Replies have a cap of their own.
      await connector.publish({ text: 'Plafond : réponse' }, { idempotencyKey: 'd3', replyTo: first });
      sandbox.capAnswer = {
        status: 403,
        body: {
          title: 'UsageCapExceeded',
          detail: 'You are over the daily limit for sending replies.',
          type: 'https://api.x.com/2/problems/usage-capped',
        },
      };
      const v1Shaped = await connector
        .publish({ text: 'Plafond : réponse 2' }, { idempotencyKey: 'd4', replyTo: first })
        .catch((e: unknown) => e);
      expect(v1Shaped).toBeInstanceOf(DailyCapError);
    } finally {
      sandbox.capAnswer = DEFAULT_CAP;
      sandbox.setDailyCaps(OTHER_ACCOUNT.id, undefined);
    }
  });

  it('tells the account’s follower count, and that X billed the read', async () => {
    const connector = createXConnector(connectorConfig(sandbox, MAIN_ACCOUNT));
    const reads: unknown[] = [];
    expect(await connector.followers({ onRead: (r) => reads.push(r) })).toBe(1200);
    sandbox.setFollowers(MAIN_ACCOUNT.id, 1187);
    expect(await connector.followers({ onRead: (r) => reads.push(r) })).toBe(1187);
    expect(reads).toEqual([
      { kind: 'read_user', count: 1 },
      { kind: 'read_user', count: 1 },
    ]);
    expect(sandbox.received.at(-1)?.query).toEqual({ 'user.fields': 'public_metrics' });
    await connector.close();
  });

  it('answers unknown paths as X does', async () => {
    const err = await responseError(clientFor(MAIN_ACCOUNT).v1.get('statuses/nothing.json'));
    expect(err.code).toBe(404);
    expect(err.data).toEqual({ errors: [{ code: 34, message: 'Sorry, that page does not exist' }] });
  });

  it.skipIf(!X_SPEC)(
    `every v2 request and answer matches X's OpenAPI document${X_SPEC ? '' : ` — SKIPPED: ${X_SPEC_SKIP_REASON}`}`,
    () => {
      const report = checkAgainstXSpec(sandbox.received);
      expect(report.violations).toEqual([]);
      expect(report.checked).toBeGreaterThan(15);
      // The deliberately bad requests above are invalid by the document too, and were refused.
      expect(report.refused.length).toBeGreaterThanOrEqual(2);
    },
  );

  it('stops at once, even with a request held by a latency fault', async () => {
    const connector = createXConnector(connectorConfig(sandbox, MAIN_ACCOUNT));
    sandbox.inject({ kind: 'latency', ms: 30_000 }, { path: '/2/users/me' });
    const held = connector.verifyCredentials().catch((e: unknown) => e);
    await expect.poll(() => sandbox.received.at(-1)?.path).toBe('/2/users/me');
    const started = Date.now();
    await sandbox.stop();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await held).toMatchObject({ kind: 'transient' });
    await connector.close();
  });
});
