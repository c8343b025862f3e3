// The Mastodon connector through the real `masto` client, over HTTP, against the sandbox.
import { inspect } from 'node:util';
import { createLogger, Secret } from '@sunset/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  describedBySpec,
  loadSpec,
  specMissingReason,
  specProblems,
  startMastodonSandbox,
  type MastodonSandbox,
} from '@sunset/sandboxes';
import { InvalidPostError } from '../errors.ts';
import type { Connector, PostImage } from '../types.ts';
import { createMastodonConnector, mastodonLanguage } from './connector.ts';

const TOKEN = 'mastodon-token-7f3a9c1e5b';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function png(seed: number, size = 64): Uint8Array {
  const bytes = new Uint8Array(size);
  bytes.set(PNG_SIGNATURE);
  for (let i = PNG_SIGNATURE.length; i < size; i++) bytes[i] = (seed * 31 + i * 7) & 0xff;
  return bytes;
}

function image(seed: number, alt: string): PostImage {
  return { data: png(seed), mediaType: 'image/png', alt };
}

let sandbox: MastodonSandbox;
let connector: Connector;
const logLines: string[] = [];
let keyCount = 0;
const key = (label: string) => `${label}-${++keyCount}`;

beforeAll(async () => {
  sandbox = await startMastodonSandbox({
    // Long enough that the first check (after 100 ms) finds the images still processing.
    mediaProcessingMs: 400,
    accounts: [{ username: 'mairie', token: TOKEN, displayName: 'Mairie', note: 'Compte officiel' }],
  });
  const logger = createLogger({
    name: 'test',
    level: 'trace',
    destination: { write: (line: string) => logLines.push(line) },
  });
  connector = createMastodonConnector(
    {
      network: 'mastodon',
      instance: sandbox.url,
      account: 'mairie',
      accessToken: new Secret(TOKEN, 'env:MASTODON_TOKEN'),
      logger,
      timeoutMs: 5_000,
      // The sandbox serves its images on loopback: allowed as the operator would for its tests.
      fetchAllow: [new URL(sandbox.url).host],
    },
    { mediaPollMs: 100 },
  );
});

afterAll(async () => {
  await connector?.close();
  await sandbox?.stop();
});

describe('the Mastodon connector', () => {
  it('checks the credentials and names the account @user@domain', async () => {
    const info = await connector.verifyCredentials();
    const host = new URL(sandbox.url).host;
    expect(info).toEqual({
      network: 'mastodon',
      id: sandbox.accounts[0]?.id,
      handle: `@mairie@${host}`,
      url: `${sandbox.url}/@mairie`,
      displayName: 'Mairie',
    });
  });

  it('tells the account’s follower count', async () => {
    expect(await connector.followers()).toBe(0);
    const account = sandbox.accounts.find((a) => a.username === 'mairie');
    if (account) account.followers = 342;
    expect(await connector.followers()).toBe(342);
  });

  it('publishes a post with its language and the idempotency key as a header', async () => {
    const idempotencyKey = key('post');
    const published = await connector.publish(
      { text: 'Nous quittons X le 1er mars. Suivez-nous ici.', language: 'fr-FR' },
      { idempotencyKey },
    );
    expect(published.alreadyExisted).toBe(false);
    expect(published.url).toBe(`${sandbox.url}/@mairie/${published.remoteId}`);
    const stored = sandbox.statuses.find((s) => s.id === published.remoteId);
    expect(stored).toMatchObject({
      text: 'Nous quittons X le 1er mars. Suivez-nous ici.',
      language: 'fr',
      visibility: 'public',
      idempotencyKey,
    });
    const request = sandbox.received.findLast((r) => r.method === 'POST' && r.path === '/api/v1/statuses');
    expect(request?.headers['idempotency-key']).toBe(idempotencyKey);
    expect(request?.headers['authorization']).toBeUndefined();
  });

  it('publishes a thread of 4, each part replying to the one before', async () => {
    const parts = ['1/4 Le départ', '2/4 Pourquoi', '3/4 Où nous suivre', '4/4 Merci'];
    const published = [];
    let replyTo;
    for (const [i, text] of parts.entries()) {
      const result = await connector.publish(
        { text },
        { idempotencyKey: key(`thread-${i}`), ...(replyTo ? { replyTo } : {}) },
      );
      published.push(result);
      replyTo = result;
    }
    const stored = published.map((p) => sandbox.statuses.find((s) => s.id === p.remoteId));
    expect(stored.map((s) => s?.text)).toEqual(parts);
    expect(stored.map((s) => s?.inReplyToId)).toEqual([
      null,
      published[0]?.remoteId,
      published[1]?.remoteId,
      published[2]?.remoteId,
    ]);
  });

  it('publishes 4 images with their alt text, processed before the post', async () => {
    const images = [1, 2, 3, 4].map((n) => image(n, `Bannière ${n} : un électrocardiogramme plat`));
    const published = await connector.publish(
      { text: 'Nos visuels de départ', images },
      { idempotencyKey: key('images') },
    );
    const stored = sandbox.statuses.find((s) => s.id === published.remoteId);
    expect(stored?.mediaIds).toHaveLength(4);
    const attached = stored?.mediaIds.map((id) => sandbox.media.find((m) => m.id === id));
    expect(attached?.map((m) => m?.description)).toEqual(images.map((i) => i.alt));
    expect(attached?.map((m) => Buffer.from(m?.file.data ?? []))).toEqual(
      images.map((i) => Buffer.from(i.data)),
    );
    // The server was asked until it said the images were processed (206, then 200).
    const polls = sandbox.received.filter((r) => r.path.startsWith('/api/v1/media/'));
    expect(polls.some((r) => r.status === 206)).toBe(true);
    expect(polls.some((r) => r.status === 200)).toBe(true);
    const uploads = sandbox.received.filter((r) => r.path === '/api/v2/media');
    expect(uploads.every((r) => r.status === 202)).toBe(true);
  });

  it('refuses an image without alt text before sending anything', async () => {
    const before = sandbox.received.length;
    await expect(
      connector.publish(
        { text: 'Sans description', images: [image(9, 'ok'), image(10, '  ')] },
        { idempotencyKey: key('no-alt') },
      ),
    ).rejects.toThrow(InvalidPostError);
    expect(sandbox.received.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('replies to an earlier post', async () => {
    const original = await connector.publish({ text: 'Annonce' }, { idempotencyKey: key('orig') });
    const reply = await connector.publish(
      { text: 'Précision : le compte reste lisible.' },
      { idempotencyKey: key('reply'), replyTo: original },
    );
    expect(sandbox.statuses.find((s) => s.id === reply.remoteId)?.inReplyToId).toBe(original.remoteId);
  });

  it('shares its connections with every Mastodon connector of the process, rebuilt ones too', async () => {
    await connector.publish({ text: 'Connexion ouverte.' }, { idempotencyKey: key('conn') });
    const opened = sandbox.connections;
    // A plan change closes an organisation's connector and builds a new one.
    const settings = {
      network: 'mastodon' as const,
      instance: sandbox.url,
      account: 'mairie',
      accessToken: new Secret(TOKEN, 'test'),
    };
    const before = createMastodonConnector(settings);
    await before.close();
    const rebuilt = createMastodonConnector(settings);
    await rebuilt.publish(
      { text: 'Un connecteur neuf, la même connexion.' },
      { idempotencyKey: key('conn') },
    );
    await rebuilt.close();
    expect(sandbox.connections).toBe(opened);
  });

  it('reads the limits the instance announces, and caches them', async () => {
    sandbox.setLimits({ maxCharacters: 1000 });
    try {
      const fresh = createMastodonConnector({
        network: 'mastodon',
        instance: sandbox.url,
        account: 'mairie',
        accessToken: new Secret(TOKEN, 'test'),
      });
      const limits = await fresh.limits();
      expect(limits).toEqual({
        maxCharacters: 1000,
        charactersReservedPerUrl: 23,
        maxImages: 4,
        maxImageBytes: 16 * 1024 * 1024,
        maxAltCharacters: 1500,
      });
      const asked = sandbox.received.filter((r) => r.path === '/api/v2/instance').length;
      await fresh.limits();
      expect(sandbox.received.filter((r) => r.path === '/api/v2/instance').length).toBe(asked);
      // The server's limit is the one that counts: 900 characters pass on this instance.
      const long = await fresh.publish({ text: 'a'.repeat(900) }, { idempotencyKey: key('long') });
      expect(long.remoteId).toBeTruthy();
      await fresh.close();
    } finally {
      sandbox.setLimits({ maxCharacters: 500 });
    }
  });

  it('reports an over-long post with the server’s own message', async () => {
    const error = await connector
      .publish(
        { text: `${'é'.repeat(490)} https://example.org/${'x'.repeat(80)}` },
        { idempotencyKey: key('over') },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPostError);
    expect(error).toMatchObject({
      status: 422,
      retryable: false,
      remoteMessage: 'Validation failed: Text character limit of 500 exceeded',
    });
  });

  it('counts links as 23 characters, as the server does', async () => {
    // 470 letters + a space + a 100-character URL = 494 as Mastodon counts.
    const text = `${'b'.repeat(470)} https://example.org/${'y'.repeat(80)}`;
    await expect(connector.publish({ text }, { idempotencyKey: key('url') })).resolves.toMatchObject({
      alreadyExisted: false,
    });
  });

  it('after a lost reply, retries once with the same key and creates exactly one status', async () => {
    const idempotencyKey = key('lost');
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'lost-reply' }, { path: '/api/v1/statuses', method: 'POST' });
    const published = await connector.publish({ text: 'Une seule fois' }, { idempotencyKey });
    expect(sandbox.statuses.length).toBe(before + 1);
    expect(published.alreadyExisted).toBe(true);
    const posts = sandbox.received.filter(
      (r) => r.path === '/api/v1/statuses' && r.headers['idempotency-key'] === idempotencyKey,
    );
    expect(posts.map((r) => r.fault)).toEqual(['lost-reply', undefined]);
  });

  it('a second publish with the same key returns the first status, flagged as existing', async () => {
    const idempotencyKey = key('again');
    const first = await connector.publish({ text: 'Deux fois ?' }, { idempotencyKey });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = sandbox.statuses.length;
    const second = await connector.publish({ text: 'Deux fois ?' }, { idempotencyKey });
    expect(second).toEqual({ ...first, alreadyExisted: true });
    expect(sandbox.statuses.length).toBe(before);
  });

  it('tells a new status from a replay when the monotonic clock has drifted from the wall clock', async () => {
    // On a long-running machine the clock behind performance.now() and the one behind Date.now()
    // drift apart by milliseconds; the server's created_at is wall-clock time, as a real server's is.
    const realNow = performance.now.bind(performance);
    for (const driftMs of [-40, 40]) {
      const spy = vi.spyOn(performance, 'now').mockImplementation(() => realNow() + driftMs);
      try {
        const idempotencyKey = key(`drift${driftMs}`);
        const first = await connector.publish({ text: `Dérive ${driftMs}` }, { idempotencyKey });
        await new Promise((resolve) => setTimeout(resolve, 5));
        const second = await connector.publish({ text: `Dérive ${driftMs}` }, { idempotencyKey });
        expect(first.alreadyExisted, `first publish, drift ${driftMs} ms`).toBe(false);
        expect(second, `second publish, drift ${driftMs} ms`).toEqual({ ...first, alreadyExisted: true });
      } finally {
        spy.mockRestore();
      }
    }
  });

  it('after a reset before the post was applied, the retry creates it once', async () => {
    const before = sandbox.statuses.length;
    sandbox.inject({ kind: 'reset' }, { path: '/api/v1/statuses' });
    const published = await connector.publish({ text: 'Après coupure' }, { idempotencyKey: key('reset') });
    expect(published.alreadyExisted).toBe(false);
    expect(sandbox.statuses.length).toBe(before + 1);
  });

  it('reads a new profile: plain text from the server, no image to restore', async () => {
    const profile = await connector.getProfile();
    expect(profile).toEqual({ name: 'Mairie', bio: 'Compte officiel', fields: [] });
    // The placeholder images Mastodon shows are served, but not taken for the account's own.
    const placeholder = await fetch(`${sandbox.url}/avatars/original/missing.png`);
    expect(placeholder.headers.get('content-type')).toBe('image/png');
    await placeholder.body?.cancel();
  });

  it('updates the profile, then restores it byte for byte', async () => {
    const original = {
      name: 'Mairie de Sunset',
      bio: 'Compte officiel.\n\nInfos : https://sunset.example.org/infos',
      avatar: { data: png(100, 300), mediaType: 'image/png' },
      banner: { data: png(101, 500), mediaType: 'image/png' },
      fields: [{ name: 'Site', value: 'https://sunset.example.org' }],
    };
    await connector.updateProfile(original);
    const before = await connector.getProfile();
    expect(before).toMatchObject({ name: original.name, bio: original.bio, fields: original.fields });
    expect(Buffer.from(before.avatar?.data ?? [])).toEqual(Buffer.from(original.avatar.data));
    expect(before.avatar?.mediaType).toBe('image/png');

    const previous = await connector.updateProfile({
      name: 'Mairie (archive)',
      bio: 'Ce compte ne publie plus.\nSuivez-nous ailleurs.',
      avatar: { data: png(200, 120), mediaType: 'image/png' },
      banner: { data: png(201, 140), mediaType: 'image/png' },
      fields: [
        { name: 'Mastodon', value: '@mairie@sunset.example.org' },
        { name: 'Bluesky', value: '@mairie.sunset.example.org' },
      ],
    });
    expect(previous).toEqual(before);
    const during = await connector.getProfile();
    expect(during.name).toBe('Mairie (archive)');
    expect(during.bio).toBe('Ce compte ne publie plus.\nSuivez-nous ailleurs.');
    expect(during.fields).toHaveLength(2);

    await connector.updateProfile({
      ...(previous.name !== undefined ? { name: previous.name } : {}),
      ...(previous.bio !== undefined ? { bio: previous.bio } : {}),
      ...(previous.avatar?.data
        ? { avatar: { data: previous.avatar.data, mediaType: previous.avatar.mediaType ?? 'image/png' } }
        : {}),
      ...(previous.banner?.data
        ? { banner: { data: previous.banner.data, mediaType: previous.banner.mediaType ?? 'image/png' } }
        : {}),
      fields: previous.fields ?? [],
    });
    const restored = await connector.getProfile();
    expect(restored.name).toBe(original.name);
    expect(restored.bio).toBe(original.bio);
    expect(restored.fields).toEqual(original.fields);
    expect(Buffer.from(restored.avatar?.data ?? [])).toEqual(Buffer.from(original.avatar.data));
    expect(Buffer.from(restored.banner?.data ?? [])).toEqual(Buffer.from(original.banner.data));
  });

  it('refuses a profile over the server’s limits with its message', async () => {
    await expect(connector.updateProfile({ name: 'N'.repeat(31) })).rejects.toMatchObject({
      kind: 'invalid-post',
      status: 422,
      remoteMessage: 'Validation failed: Display name is too long (maximum is 30 characters)',
    });
    await expect(
      connector.updateProfile({ fields: [1, 2, 3, 4, 5].map((n) => ({ name: `f${n}`, value: 'v' })) }),
    ).rejects.toMatchObject({ kind: 'invalid-post', status: 422 });
  });

  it('maps BCP 47 tags to the codes Mastodon takes', () => {
    expect(mastodonLanguage('fr-FR')).toBe('fr');
    expect(mastodonLanguage('en')).toBe('en');
    expect(mastodonLanguage('pt_BR')).toBe('pt');
    expect(mastodonLanguage('iw')).toBe('he');
    expect(mastodonLanguage(undefined)).toBeUndefined();
    expect(mastodonLanguage('not a tag')).toBeUndefined();
  });

  it('never writes the token in a log line or an error', async () => {
    const wrong = 'wrong-token-d41d8cd98f00';
    const denied = createMastodonConnector({
      network: 'mastodon',
      instance: sandbox.url,
      account: 'mairie',
      accessToken: new Secret(wrong, 'env:WRONG'),
      logger: createLogger({
        name: 'denied',
        level: 'trace',
        destination: { write: (line: string) => logLines.push(line) },
      }),
    });
    const errors: unknown[] = [];
    errors.push(await denied.verifyCredentials().catch((e: unknown) => e));
    errors.push(
      await denied.publish({ text: 'x' }, { idempotencyKey: key('denied') }).catch((e: unknown) => e),
    );
    sandbox.inject({ kind: 'status', status: 503 });
    errors.push(await connector.verifyCredentials().catch((e: unknown) => e));
    expect(errors.map((e) => (e as { kind?: string }).kind)).toEqual(['auth', 'auth', 'transient']);
    const rendered = [
      ...logLines,
      ...errors.map((e) => inspect(e, { depth: 8, showHidden: true })),
      ...errors.map((e) => JSON.stringify(e)),
      JSON.stringify(sandbox.received),
    ].join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    expect(rendered).not.toContain(TOKEN);
    expect(rendered).not.toContain(wrong);
  });
});

describe('the exchanges of these tests, against the Mastodon OpenAPI spec', () => {
  const spec = loadSpec('mastodon');
  const reason = specMissingReason('mastodon') ?? 'spec missing';

  it.skipIf(!spec)(
    `every exchange the sandbox saw matches the spec${spec ? '' : ` (skipped: ${reason})`}`,
    () => {
      if (!spec) return;
      expect(sandbox.received.filter(describedBySpec).length).toBeGreaterThan(10);
      expect(specProblems(spec, sandbox.received)).toEqual([]);
    },
  );
});
