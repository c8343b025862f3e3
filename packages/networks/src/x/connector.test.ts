import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthError,
  DuplicateError,
  ForbiddenError,
  InvalidPostError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  TransientError,
  UnknownOutcomeError,
} from '../errors.ts';
import type { Connector, PostImage, Published, RemoteRef } from '../types.ts';
import {
  checkAgainstXSpec,
  encodePng,
  MAIN_ACCOUNT,
  OTHER_ACCOUNT,
  secretValues,
  startXSandbox,
  X_SPEC,
  X_SPEC_SKIP_REASON,
  type XSandbox,
} from '@sunset/sandboxes';
import { createXConnector } from './connector.ts';
import { captureLogs, connectorConfig } from './connector.test-support.ts';

let sandbox: XSandbox;
let x: Connector;
const logs = captureLogs();
const connectors: Connector[] = [];
/** Every error the connectors threw in this file, checked at the end for leaked secrets. */
const thrown: unknown[] = [];

function connector(overrides: Parameters<typeof connectorConfig>[2] = {}): Connector {
  const c = createXConnector(connectorConfig(sandbox, MAIN_ACCOUNT, { logger: logs.logger, ...overrides }));
  connectors.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<NetworkError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  thrown.push(err);
  if (!(err instanceof NetworkError)) throw new Error(`expected a NetworkError, got ${inspect(err)}`);
  return err;
}

function image(seed: number, alt: string): PostImage {
  return { data: encodePng(32, 24, [seed * 40, 120, 200 - seed * 30], seed), mediaType: 'image/png', alt };
}

function postsWithText(text: string) {
  return sandbox.posts.filter((p) => p.text === text);
}

let key = 0;
const options = (extra: { replyTo?: RemoteRef; signal?: AbortSignal } = {}) => ({
  idempotencyKey: `delivery-${++key}`,
  ...extra,
});

beforeAll(async () => {
  sandbox = await startXSandbox();
  sandbox.addAccount(MAIN_ACCOUNT);
  x = connector();
});

afterAll(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await sandbox?.stop();
});

describe('X connector against the https sandbox', () => {
  it('checks the credentials and names the account', async () => {
    await expect(x.verifyCredentials()).resolves.toEqual({
      network: 'x',
      id: MAIN_ACCOUNT.id,
      handle: '@VilleDeTest',
      url: 'https://x.com/VilleDeTest',
      displayName: 'Ville de Test',
    });
    await expect(x.limits()).resolves.toEqual({
      maxCharacters: 280,
      charactersReservedPerUrl: 23,
      maxImages: 4,
      maxImageBytes: 5 * 1024 * 1024,
      maxAltCharacters: 1000,
    });
  });

  it('refuses credentials that belong to another account than the plan names', async () => {
    const err = await failure(connector({ account: 'SomeoneElse' }).verifyCredentials());
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain('@VilleDeTest');
  });

  it('publishes a post', async () => {
    const text = 'Le compte X de la Ville ferme le 1er mars. Suivez-nous sur https://ville.example/reseaux';
    const published = await x.publish({ text, language: 'fr-FR' }, options());
    expect(published).toEqual({
      remoteId: expect.stringMatching(/^\d{19}$/),
      url: `https://x.com/VilleDeTest/status/${published.remoteId}`,
      alreadyExisted: false,
    });
    const [post] = postsWithText(text);
    expect(post?.id).toBe(published.remoteId);
    // X gives links back through t.co.
    expect(post?.returnedText).toMatch(/^Le compte X .* https:\/\/t\.co\/\w{10}$/);
  });

  it('shares its connections with every X connector of the process: other accounts, rebuilt connectors', async () => {
    if (!sandbox.profileOf(OTHER_ACCOUNT.id)) sandbox.addAccount(OTHER_ACCOUNT);
    await x.publish({ text: 'Connexion ouverte.', language: 'fr-FR' }, options());
    const opened = sandbox.connections;
    const other = createXConnector(connectorConfig(sandbox, OTHER_ACCOUNT, { logger: logs.logger }));
    connectors.push(other);
    await other.publish({ text: 'Un autre compte, la même connexion.', language: 'fr-FR' }, options());
    // A plan change closes an organisation's connector and builds a new one.
    const before = connector();
    await before.close();
    await connector().publish(
      { text: 'Un connecteur neuf, la même connexion.', language: 'fr-FR' },
      options(),
    );
    expect(sandbox.connections).toBe(opened);
  });

  it('counts text as X does: 280 weighted characters, CJK double, links 23', async () => {
    await x.publish({ text: '市'.repeat(140) }, options());
    // 256 + 1 + 23: a link counts 23 whatever its length.
    await x.publish(
      { text: `${'a'.repeat(256)} https://www.ville-tours.fr/${'long-path/'.repeat(12)}` },
      options(),
    );
    const err = await failure(x.publish({ text: '市'.repeat(141) }, options()));
    expect(err).toBeInstanceOf(InvalidPostError);
    expect(err.status).toBe(400);
    expect(err.remoteMessage).toMatch(/Your Tweet text is too long/);
    expect(err.retryable).toBe(false);
  });

  it('publishes a thread of 4, each part replying to the one before', async () => {
    const parts = [
      'Fil 1/4 : pourquoi nous partons',
      'Fil 2/4 : où nous retrouver',
      'Fil 3/4 : les urgences',
      'Fil 4/4 : merci',
    ];
    const published: Published[] = [];
    for (const text of parts) {
      const previous = published.at(-1);
      published.push(await x.publish({ text }, options(previous ? { replyTo: previous } : {})));
    }
    const posts = parts.map((t) => postsWithText(t)[0]);
    expect(posts.map((p) => p?.id)).toEqual(published.map((p) => p.remoteId));
    expect(posts.map((p) => p?.inReplyToId)).toEqual([
      undefined,
      ...published.slice(0, 3).map((p) => p.remoteId),
    ]);
    expect(new Set(posts.map((p) => p?.conversationId))).toEqual(new Set([published[0]?.remoteId]));
  });

  it('publishes 4 images, each with its alternative text', async () => {
    const images = [1, 2, 3, 4].map((n) =>
      image(n, `Bannière ${n} : électrocardiogramme plat, texte « fin »`),
    );
    const published = await x.publish({ text: 'Nos nouvelles bannières', images }, options());
    const post = sandbox.posts.find((p) => p.id === published.remoteId);
    expect(post?.media.map((m) => m.altText)).toEqual(images.map((i) => i.alt));
    expect(post?.mediaIds).toHaveLength(4);
    post?.mediaIds.forEach((id, i) => {
      expect(
        Buffer.compare(sandbox.media(id)?.data ?? Buffer.alloc(0), Buffer.from(images[i]?.data ?? [])),
      ).toBe(0);
    });
    // The library's own chunked upload: initialize, append, finalize, then the alt text.
    const uploads = sandbox.received
      .filter((r) => r.path.startsWith('/2/media/'))
      .map((r) => r.path.split('/').at(-1));
    expect(uploads.slice(-4)).toEqual([
      'initialize',
      expect.stringMatching(/^append$/),
      'finalize',
      'metadata',
    ]);
  });

  it('waits for media that X is still processing', async () => {
    sandbox.mediaProcessing = 'async';
    try {
      const published = await x.publish(
        { text: 'Image traitée en différé', images: [image(5, 'Un carré')] },
        options(),
      );
      const statusChecks = sandbox.received.filter((r) => r.path === '/2/media/upload' && r.method === 'GET');
      expect(statusChecks.length).toBeGreaterThanOrEqual(1);
      expect(sandbox.posts.find((p) => p.id === published.remoteId)?.media).toHaveLength(1);
    } finally {
      sandbox.mediaProcessing = 'sync';
    }
  });

  it('refuses an image without alternative text before sending anything', async () => {
    const before = sandbox.received.length;
    const err = await failure(
      x.publish({ text: 'Sans texte alternatif', images: [image(6, '  ')] }, options()),
    );
    expect(err).toBeInstanceOf(InvalidPostError);
    expect(err.message).toMatch(/image 1: no alternative text/);
    const five = [1, 2, 3, 4, 5].map((n) => image(n, `image ${n}`));
    expect(await failure(x.publish({ text: 'Cinq images', images: five }, options()))).toBeInstanceOf(
      InvalidPostError,
    );
    expect(sandbox.received.length).toBe(before);
  });

  it('replies to a post, and reports a reply target that is gone', async () => {
    const original = await x.publish({ text: 'Alerte météo : vigilance orange' }, options());
    const reply = await x.publish(
      { text: 'Mise à jour : fin de la vigilance' },
      options({ replyTo: original }),
    );
    expect(sandbox.posts.find((p) => p.id === reply.remoteId)?.inReplyToId).toBe(original.remoteId);
    const gone = {
      remoteId: '1234567890123456789',
      url: 'https://x.com/VilleDeTest/status/1234567890123456789',
    };
    const err = await failure(x.publish({ text: 'Réponse orpheline' }, options({ replyTo: gone })));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.status).toBe(403);
  });

  it('updates the profile, returns the one before, and restores it byte for byte', async () => {
    const original = await x.getProfile();
    expect(original.avatar?.data?.length).toBeGreaterThan(0);
    const avatar = { data: encodePng(400, 400, [20, 20, 20], 1), mediaType: 'image/png' };
    const banner = { data: encodePng(1500, 500, [10, 10, 10], 2), mediaType: 'image/png' };
    const before = await x.updateProfile({
      name: 'Ville de Test (compte fermé)',
      bio: 'Ce compte n’est plus actif. Retrouvez-nous sur https://ville.example/reseaux',
      url: 'https://ville.example',
      location: 'Tours, France',
      avatar,
      banner,
    });
    expect(before).toEqual(original);

    const dormant = await x.getProfile();
    expect(dormant).toMatchObject({
      name: 'Ville de Test (compte fermé)',
      bio: 'Ce compte n’est plus actif. Retrouvez-nous sur https://ville.example/reseaux',
      url: 'https://ville.example',
      location: 'Tours, France',
    });
    expect(Buffer.from(dormant.avatar?.data ?? []).equals(avatar.data)).toBe(true);
    expect(Buffer.from(dormant.banner?.data ?? []).equals(banner.data)).toBe(true);
    expect(sandbox.profile?.description).toBe(dormant.bio);

    // Restore: an empty url clears the field on X.
    const previous = await x.updateProfile({
      name: before.name ?? '',
      bio: before.bio ?? '',
      url: before.url ?? '',
      location: before.location ?? '',
      ...(before.avatar?.data
        ? { avatar: { data: before.avatar.data, mediaType: before.avatar.mediaType ?? 'image/png' } }
        : {}),
    });
    expect(previous.name).toBe('Ville de Test (compte fermé)');
    const restored = await x.getProfile();
    expect({ ...restored, avatar: undefined, banner: undefined }).toEqual({ ...original, avatar: undefined });
    expect(Buffer.from(restored.avatar?.data ?? []).equals(Buffer.from(original.avatar?.data ?? []))).toBe(
      true,
    );
  });

  it('refuses profile fields over X limits', async () => {
    const err = await failure(x.updateProfile({ location: 'x'.repeat(31) }));
    expect(err).toBeInstanceOf(InvalidPostError);
    expect(err.status).toBe(403);
    expect(err.remoteMessage).toMatch(/Location is too long \(maximum is 30 characters\)/);
  });

  it('reports a tier without the profile API as ForbiddenError (for the manual checklist)', async () => {
    sandbox.profileApi = 'forbidden';
    try {
      for (const attempt of [x.getProfile(), x.updateProfile({ name: 'Ville de Test' })]) {
        const err = await failure(attempt);
        expect(err).toBeInstanceOf(ForbiddenError);
        expect(err.status).toBe(403);
        expect(err.remoteMessage).toMatch(/different access level/);
      }
    } finally {
      sandbox.profileApi = 'allowed';
    }
  });
});

describe('X errors, from the sandbox’s real answers', () => {
  it('429 → RateLimitedError with the reset instant from x-rate-limit-reset', async () => {
    sandbox.inject({ kind: 'rate-limit', resetInSeconds: 120 }, { path: '/2/tweets' });
    const now = Date.now();
    const err = await failure(x.publish({ text: 'Trop de requêtes' }, options()));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(true);
    const resetMs = err.resetAt?.getTime() ?? 0;
    expect(resetMs).toBeGreaterThanOrEqual(Math.floor(now / 1000) * 1000 + 119_000);
    expect(resetMs).toBeLessThanOrEqual(now + 121_000);
    expect(err.retryAfterMs(now)).toBeGreaterThan(110_000);
    expect(postsWithText('Trop de requêtes')).toHaveLength(0);
  });

  it('401 on a bad signature (wrong secret) → AuthError, nothing published', async () => {
    const wrong = connector({ secrets: { appSecret: 'not-the-app-secret' } });
    expect(await failure(wrong.verifyCredentials())).toBeInstanceOf(AuthError);
    const err = await failure(wrong.publish({ text: 'Signé avec le mauvais secret' }, options()));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.status).toBe(401);
    expect(postsWithText('Signé avec le mauvais secret')).toHaveLength(0);
    const revoked = connector({ secrets: { accessToken: 'revoked-token' } });
    expect(await failure(revoked.getProfile())).toBeInstanceOf(AuthError);
  });

  it('the same text twice → DuplicateError, without an id', async () => {
    const text = 'Message publié une seule fois';
    await x.publish({ text }, options());
    const err = await failure(x.publish({ text }, options()));
    expect(err).toBeInstanceOf(DuplicateError);
    expect(err.status).toBe(403);
    expect(err.remoteMessage).toBe('You are not allowed to create a Tweet with duplicate content.');
    expect(postsWithText(text)).toHaveLength(1);
  });

  it('503 → TransientError, retryable', async () => {
    sandbox.inject({ kind: 'status', status: 503 }, { path: '/2/tweets' });
    const err = await failure(x.publish({ text: 'Service indisponible' }, options()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.status).toBe(503);
    expect(err.retryable).toBe(true);
    // A 500 while uploading an image is transient too.
    sandbox.inject({ kind: 'status', status: 500 }, { path: '/2/media/upload/initialize' });
    expect(
      await failure(x.publish({ text: 'Upload en panne', images: [image(7, 'carré')] }, options())),
    ).toBeInstanceOf(TransientError);
  });

  it('a reset after sending a post → UnknownOutcomeError; a reset on a read → TransientError', async () => {
    const text = 'Connexion coupée avant la réponse';
    sandbox.inject({ kind: 'reset' }, { path: '/2/tweets' });
    const err = await failure(x.publish({ text }, options()));
    expect(err).toBeInstanceOf(UnknownOutcomeError);
    expect(err.retryable).toBe(false);
    // The reset came before X applied it: reconciliation finds nothing, so publishing again is safe.
    await expect(x.findRecent?.(text, { since: new Date(Date.now() - 60_000) })).resolves.toBeUndefined();
    await x.publish({ text }, options());
    expect(postsWithText(text)).toHaveLength(1);

    sandbox.inject({ kind: 'reset' }, { path: '/2/users/me' });
    expect(await failure(x.verifyCredentials())).toBeInstanceOf(TransientError);
  });

  it('nothing sent (connection refused, untrusted certificate) → TransientError even for a post', async () => {
    const closed = await startXSandbox();
    const url = closed.url;
    await closed.stop();
    const refused = connector({ apiBase: url });
    const err = await failure(refused.publish({ text: 'Serveur éteint' }, options()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/ECONNREFUSED/);
    const untrusted = createXConnector({
      ...connectorConfig(sandbox, MAIN_ACCOUNT),
      ca: undefined as unknown as string,
    });
    connectors.push(untrusted);
    expect(await failure(untrusted.publish({ text: 'Certificat inconnu' }, options()))).toBeInstanceOf(
      TransientError,
    );
    expect(postsWithText('Certificat inconnu')).toHaveLength(0);
  });

  it('a time-out after sending → UnknownOutcomeError; X applies it anyway and findRecent finds it', async () => {
    const text = 'Réponse trop lente';
    const since = new Date();
    const slow = connector({ timeoutMs: 1000 });
    // A first call opens the kept-alive connection, so the deadline is spent waiting for X only.
    await slow.verifyCredentials();
    sandbox.inject({ kind: 'latency', ms: 2000 }, { path: '/2/tweets' });
    const err = await failure(slow.publish({ text }, options()));
    expect(err).toBeInstanceOf(UnknownOutcomeError);
    expect(err.message).toMatch(/timed out/);
    await expect.poll(() => postsWithText(text).length, { timeout: 5_000 }).toBe(1);
    const found = await x.findRecent?.(text, { since: new Date(since.getTime() - 60_000) });
    expect(found?.remoteId).toBe(postsWithText(text)[0]?.id);
  });

  it('a cancelled call before sending → TransientError, no request', async () => {
    const before = sandbox.received.length;
    const controller = new AbortController();
    controller.abort();
    const err = await failure(x.publish({ text: 'Annulé' }, options({ signal: controller.signal })));
    expect(err).toBeInstanceOf(TransientError);
    expect(sandbox.received.length).toBe(before);
  });
});

describe('reconciliation after a lost reply', () => {
  it('the retry is refused as a duplicate, findRecent finds the post: exactly one exists', async () => {
    const text =
      'Dernier message : ce compte ferme aujourd’hui. Retrouvez-nous sur https://ville.example & ailleurs';
    const since = new Date(Date.now() - 60_000);
    sandbox.inject({ kind: 'lost-reply' }, { path: '/2/tweets' });
    const lost = await failure(x.publish({ text }, options()));
    expect(lost).toBeInstanceOf(UnknownOutcomeError);
    expect(postsWithText(text)).toHaveLength(1);

    const retry = await failure(x.publish({ text }, options()));
    expect([DuplicateError, UnknownOutcomeError].some((c) => retry instanceof c)).toBe(true);

    // X returns the text with a t.co link and "&amp;": the comparison undoes both.
    const found = await x.findRecent?.(text, { since });
    const [post] = postsWithText(text);
    expect(post?.returnedText).toContain('&amp;');
    expect(found).toEqual({ remoteId: post?.id, url: `https://x.com/VilleDeTest/status/${post?.id}` });
    expect(postsWithText(text)).toHaveLength(1);
  });

  it('finds a post with images (X appends a media link) and not a different one', async () => {
    const text = 'Photo du dernier conseil municipal';
    const published = await x.publish({ text, images: [image(8, 'La salle du conseil')] }, options());
    await expect(x.findRecent?.(text)).resolves.toMatchObject({ remoteId: published.remoteId });
    await expect(x.findRecent?.('Photo du premier conseil municipal')).resolves.toBeUndefined();
  });

  it('reads small pages, newest first, stops at the post, and tells each read', async () => {
    const older = await x.publish({ text: 'Pages (0) : le plus ancien' }, options());
    const target = await x.publish({ text: 'Pages (1) : celui qu’on cherche' }, options());
    for (let i = 2; i <= 12; i++) await x.publish({ text: `Pages (${i}) : plus récent` }, options());
    const from = sandbox.received.length;
    const reads: { kind: string; count: number }[] = [];
    const found = await x.findRecent?.('Pages (1) : celui qu’on cherche', {
      sinceId: older.remoteId,
      onRead: (read) => reads.push(read),
    });
    expect(found?.remoteId).toBe(target.remoteId);
    const pages = sandbox.received.slice(from).filter((r) => /\/tweets$/.test(r.path) && r.method === 'GET');
    // 12 posts after the older one, the target last: a page of 5, then 10, and no third.
    expect(pages.map((r) => [r.query['max_results'], r.query['since_id']])).toEqual([
      ['5', older.remoteId],
      ['10', older.remoteId],
    ]);
    expect(reads.filter((r) => r.kind === 'read_post')).toEqual([
      { kind: 'read_post', count: 5 },
      { kind: 'read_post', count: 7 },
    ]);
  });

  it('reports a tier without timeline reads as ForbiddenError', async () => {
    sandbox.timelineApi = 'forbidden';
    try {
      const err = await failure(x.findRecent?.('Peu importe') ?? Promise.resolve());
      expect(err).toBeInstanceOf(ForbiddenError);
    } finally {
      sandbox.timelineApi = 'allowed';
    }
  });
});

describe('profile images at internal addresses', () => {
  it('refuses an avatar X places on an internal address: permanent, never requested', async () => {
    const hits: string[] = [];
    const internal = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(Buffer.alloc(10));
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    const profile = sandbox.profileOf(MAIN_ACCOUNT.id);
    if (!profile) throw new Error('no sandbox profile');
    const kept = profile.avatar;
    profile.avatar = {
      ...kept,
      url: `http://127.0.0.1:${(internal.address() as AddressInfo).port}/avatar.png`,
    };
    try {
      const err = await failure(x.getProfile());
      expect(err).toBeInstanceOf(InvalidPostError);
      expect(err.message).toMatch(/X profile image not downloaded: 127\.0\.0\.1 is an internal address/);
      expect(hits).toEqual([]);
    } finally {
      profile.avatar = kept;
      internal.closeAllConnections();
      await new Promise((resolve) => internal.close(resolve));
    }
  });
});

describe('what leaves the connector', () => {
  it('no secret in any log line (at trace) or error, nor in what the sandbox recorded', () => {
    const secrets = [...secretValues(MAIN_ACCOUNT), 'not-the-app-secret', 'revoked-token'];
    expect(logs.lines.length).toBeGreaterThan(20);
    expect(logs.lines.some((l) => l.includes('"msg":"x request"'))).toBe(true);
    expect(thrown.length).toBeGreaterThan(15);
    const texts = [
      ...logs.lines,
      ...thrown.flatMap((e) => [
        String(e),
        inspect(e, { depth: 6 }),
        JSON.stringify(e),
        (e as Error).stack ?? '',
      ]),
      JSON.stringify(sandbox.received.map((r) => r.headers)),
    ];
    for (const secret of secrets) {
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    }
    expect(sandbox.received.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it.skipIf(!X_SPEC)(
    `every v2 request and answer matches X's OpenAPI document${X_SPEC ? '' : ` — SKIPPED: ${X_SPEC_SKIP_REASON}`}`,
    () => {
      const report = checkAgainstXSpec(sandbox.received);
      console.info(
        `X spec: ${report.checked} v2 exchanges checked; not checked: ${JSON.stringify(Object.fromEntries(report.skipped))}; ` +
          `${report.deviations.length} known X-vs-document differences, e.g. ${report.deviations.slice(0, 2).join('; ')}`,
      );
      expect(report.violations).toEqual([]);
      expect(report.checked).toBeGreaterThan(40);
    },
  );
});
