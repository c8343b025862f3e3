// The Mastodon sandbox itself, spoken to with the real `masto` client (and plain fetch where a
// client would hide what the server said), then every exchange checked against the spec.
import { createRestAPIClient, MastoHttpError, type mastodon } from 'masto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec, specMissingReason } from '../spec/openapi.ts';
import { describedBySpec, specProblems } from './spec.ts';
import { startMastodonSandbox, type MastodonSandbox } from './sandbox.ts';

let sandbox: MastodonSandbox;
let alice: mastodon.rest.Client;
let bob: mastodon.rest.Client;

function client(token: string): mastodon.rest.Client {
  return createRestAPIClient({ url: sandbox.url, accessToken: token, timeout: 5_000, log: 'error' });
}

const withKey = (key: string) => ({ requestInit: { headers: { 'Idempotency-Key': key } } });

async function failure(promise: Promise<unknown>): Promise<MastoHttpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof MastoHttpError)) throw new Error(`expected an HTTP error, got ${String(error)}`);
  return error;
}

beforeAll(async () => {
  sandbox = await startMastodonSandbox({
    mediaProcessingMs: 600,
    idempotencyTtlMs: 1_000,
    accounts: [
      { username: 'alice', token: 'alice-token' },
      { username: 'bob', token: 'bob-token' },
    ],
  });
  alice = client('alice-token');
  bob = client('bob-token');
});

afterAll(async () => {
  await sandbox?.stop();
});

describe('the Mastodon sandbox', () => {
  it('announces its limits in the instance description', async () => {
    const instance = await alice.v2.instance.fetch();
    expect(instance.configuration.statuses).toEqual({
      maxCharacters: 500,
      maxMediaAttachments: 4,
      charactersReservedPerUrl: 23,
    });
    expect(instance.domain).toBe(new URL(sandbox.url).host);
  });

  it('asks for a valid bearer token', async () => {
    const missing = await fetch(`${sandbox.url}/api/v1/accounts/verify_credentials`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: 'The access token is invalid' });
    const wrong = await failure(client('nope').v1.statuses.create({ status: 'x' }));
    expect(wrong.statusCode).toBe(401);
    expect(sandbox.received.at(-1)?.headers['authorization']).toBeUndefined();
  });

  it('returns the same status for a repeated idempotency key, per account, for a while', async () => {
    const first = await alice.v1.statuses.create({ status: 'once' }, withKey('k-1'));
    const again = await alice.v1.statuses.create({ status: 'once (edited?)' }, withKey('k-1'));
    expect(again.id).toBe(first.id);
    expect(again.content).toBe('<p>once</p>');
    // Keys belong to one account.
    const other = await bob.v1.statuses.create({ status: 'once' }, withKey('k-1'));
    expect(other.id).not.toBe(first.id);
    // And they expire (an hour on Mastodon, 1 s here).
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const later = await alice.v1.statuses.create({ status: 'once' }, withKey('k-1'));
    expect(later.id).not.toBe(first.id);
  });

  it("counts each account's statuses and gives the day of its latest", async () => {
    const before = {
      alice: (await alice.v1.accounts.verifyCredentials()).statusesCount,
      bob: (await bob.v1.accounts.verifyCredentials()).statusesCount,
    };
    await alice.v1.statuses.create({ status: 'count one' });
    const last = await alice.v1.statuses.create({ status: 'count two' });
    await bob.v1.statuses.create({ status: 'count three' });
    expect(last.account.statusesCount).toBe(before.alice + 2);
    const me = await alice.v1.accounts.verifyCredentials();
    expect(me.statusesCount).toBe(before.alice + 2);
    expect(me.lastStatusAt).toBe(last.createdAt.slice(0, 10));
    expect((await bob.v1.accounts.verifyCredentials()).statusesCount).toBe(before.bob + 1);
  });

  it('applies a request whose answer is lost', async () => {
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'lost-reply' }, { path: '/api/v1/statuses' });
    await expect(alice.v1.statuses.create({ status: 'lost' }, withKey('k-lost'))).rejects.toThrow();
    expect(sandbox.statuses.length).toBe(before + 1);
    const replay = await alice.v1.statuses.create({ status: 'lost' }, withKey('k-lost'));
    expect(replay.id).toBe(sandbox.statuses.at(-1)?.id);
    expect(sandbox.statuses.length).toBe(before + 1);
  });

  it('counts length as Mastodon does, links at 23', async () => {
    const url = `https://example.org/${'p'.repeat(200)}`;
    await expect(alice.v1.statuses.create({ status: `${'a'.repeat(476)} ${url}` })).resolves.toBeTruthy();
    const over = await failure(alice.v1.statuses.create({ status: `${'a'.repeat(477)} ${url}` }));
    expect(over.statusCode).toBe(422);
    expect(over.message).toBe('Validation failed: Text character limit of 500 exceeded');
    // One emoji made of several code points is one character.
    await expect(alice.v1.statuses.create({ status: '👩‍👩‍👧‍👦'.repeat(500) })).resolves.toBeTruthy();
  });

  it('processes media: 202 without url, 206 while processing, then 200 with url', async () => {
    const file = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], { type: 'image/png' });
    const created = await alice.v2.media.create({ file, description: 'a flat line', skipPolling: true });
    expect(created.url).toBeNull();
    expect(sandbox.received.at(-1)?.status).toBe(202);
    const early = await fetch(`${sandbox.url}/api/v1/media/${created.id}`, {
      headers: { authorization: 'Bearer alice-token' },
    });
    expect(early.status).toBe(206);
    await early.body?.cancel();
    // Not yet processed: the server will not attach it.
    const tooSoon = await failure(alice.v1.statuses.create({ status: 'x', mediaIds: [created.id] }));
    expect(tooSoon.message).toMatch(/not finished processing/);
    await new Promise((resolve) => setTimeout(resolve, 650));
    const ready = await alice.v1.media.$select(created.id).fetch();
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/system\//);
    const updated = await alice.v1.media.$select(created.id).update({ description: 'a flat green line' });
    expect(updated.description).toBe('a flat green line');
    const served = await fetch(ready.url ?? '');
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
    );
    const status = await alice.v1.statuses.create({ status: 'with image', mediaIds: [created.id] });
    expect(status.mediaAttachments.map((m) => m.description)).toEqual(['a flat green line']);
    // Attached media is no longer reachable as a draft.
    expect((await failure(alice.v1.media.$select(created.id).fetch())).statusCode).toBe(404);
  });

  it('refuses more than the allowed attachments and over-long descriptions', async () => {
    const file = new Blob([new Uint8Array([1])], { type: 'image/png' });
    const long = await failure(
      alice.v2.media.create({ file, description: 'd'.repeat(1501), skipPolling: true }),
    );
    expect(long.message).toBe('Validation failed: Description is too long (maximum is 1500 characters)');
    const tooMany = await failure(
      alice.v1.statuses.create({ status: 'x', mediaIds: ['1', '2', '3', '4', '5'] }),
    );
    expect(tooMany.message).toBe('Cannot attach more than 4 files');
  });

  it('updates credentials from a multipart form and serves the new avatar', async () => {
    const avatar = new Blob([new Uint8Array([9, 8, 7])], { type: 'image/png' });
    const account = await alice.v1.accounts.updateCredentials({
      displayName: 'Alice',
      note: 'Line one\nhttps://example.org/a',
      bot: true,
      avatar,
      fieldsAttributes: [{ name: 'Web', value: 'https://example.org' }],
    });
    expect(account.displayName).toBe('Alice');
    expect(account.bot).toBe(true);
    expect(account.note).toContain('<br />');
    expect(account.source.fields).toEqual([{ name: 'Web', value: 'https://example.org', verifiedAt: null }]);
    const image = await fetch(account.avatar);
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(new Uint8Array([9, 8, 7]));
    const tooLong = await failure(alice.v1.accounts.updateCredentials({ note: 'n'.repeat(501) }));
    expect(tooLong.statusCode).toBe(422);
    expect(tooLong.message).toBe('Validation failed: Note character limit of 500 exceeded');
    // Nothing was applied from the refused update.
    expect((await alice.v1.accounts.verifyCredentials()).source.note).toBe(
      'Line one\r\nhttps://example.org/a',
    );
  });

  it('pins a status of its own, and reads statuses without a token', async () => {
    const status = await alice.v1.statuses.create({ status: 'pin me' });
    const pinned = await alice.v1.statuses.$select(status.id).pin();
    expect(pinned.pinned).toBe(true);
    expect((await failure(bob.v1.statuses.$select(status.id).pin())).statusCode).toBe(422);
    const open = await fetch(`${sandbox.url}/api/v1/statuses/${status.id}`);
    expect(open.status).toBe(200);
    expect(((await open.json()) as { id: string }).id).toBe(status.id);
    expect((await failure(alice.v1.statuses.$select('404404').fetch())).message).toBe('Record not found');
  });

  it('injects faults: 429 with an ISO reset, 5xx, latency, resets', async () => {
    sandbox.inject(
      { kind: 'rate-limit', resetInSeconds: 60 },
      { path: '/api/v1/accounts/verify_credentials' },
    );
    const limited = await failure(alice.v1.accounts.verifyCredentials());
    expect(limited.statusCode).toBe(429);
    const headers = (limited.cause as Response).headers;
    expect(headers.get('x-ratelimit-remaining')).toBe('0');
    expect(headers.get('x-ratelimit-reset')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    sandbox.inject({ kind: 'status', status: 503 }, { times: 2 });
    expect((await failure(alice.v2.instance.fetch())).statusCode).toBe(503);
    expect((await failure(alice.v2.instance.fetch())).statusCode).toBe(503);
    await expect(alice.v2.instance.fetch()).resolves.toBeTruthy();

    sandbox.inject({ kind: 'reset' }, { method: 'GET' });
    await expect(alice.v2.instance.fetch()).rejects.toThrow('fetch failed');

    const started = Date.now();
    sandbox.inject({ kind: 'latency', ms: 150 });
    await alice.v2.instance.fetch();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('delays a status by a latency chosen from its text', async () => {
    const seen: (string | undefined)[] = [];
    sandbox.inject(
      {
        kind: 'latency-of',
        ms: (text) => {
          seen.push(text);
          return text?.includes('slow') ? 200 : 0;
        },
      },
      { times: 2, path: '/api/v1/statuses', method: 'POST' },
    );
    await alice.v1.statuses.create({ status: 'quick one' });
    const slow = Date.now();
    await alice.v1.statuses.create({ status: 'slow one' });
    expect(Date.now() - slow).toBeGreaterThanOrEqual(190);
    expect(seen).toEqual(['quick one', 'slow one']);
  });
});

describe('the Mastodon sandbox on an injected clock', () => {
  it('stamps statuses, rate windows and idempotency keys with the clock it was given', async () => {
    let now = Date.parse('2030-01-02T03:04:00.000Z');
    const timed = await startMastodonSandbox({
      clock: () => now,
      idempotencyTtlMs: 60_000,
      accounts: [{ username: 'carol', token: 'carol-token' }],
    });
    try {
      const post = (key: string) =>
        fetch(`${timed.url}/api/v1/statuses`, {
          method: 'POST',
          headers: {
            authorization: 'Bearer carol-token',
            'content-type': 'application/json',
            'idempotency-key': key,
          },
          body: JSON.stringify({ status: 'on time' }),
        });
      const first = await post('k');
      const status = (await first.json()) as { id: string; created_at: string };
      expect(status.created_at).toBe('2030-01-02T03:04:00.000Z');
      // Five-minute windows, as Mastodon's, counted from the clock.
      expect(first.headers.get('x-ratelimit-reset')).toBe('2030-01-02T03:05:00.000Z');
      now += 30_000;
      expect(((await (await post('k')).json()) as { id: string }).id).toBe(status.id);
      // Past the key's lifetime by the clock alone, without waiting.
      now += 60_000;
      const later = (await (await post('k')).json()) as { id: string; created_at: string };
      expect(later.id).not.toBe(status.id);
      expect(later.created_at).toBe('2030-01-02T03:05:30.000Z');
    } finally {
      await timed.stop();
    }
  });
});

describe('the Mastodon sandbox against the Mastodon OpenAPI spec', () => {
  const spec = loadSpec('mastodon');
  const reason = specMissingReason('mastodon') ?? 'spec missing';

  it.skipIf(!spec)(
    `every exchange the sandbox saw matches the spec${spec ? '' : ` (skipped: ${reason})`}`,
    () => {
      if (!spec) return;
      expect(sandbox.received.filter(describedBySpec).length).toBeGreaterThan(20);
      expect(specProblems(spec, sandbox.received)).toEqual([]);
    },
  );
});
