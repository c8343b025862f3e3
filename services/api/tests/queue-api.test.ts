// The queue API through app.inject: GET /v1/queue, PATCH and DELETE /v1/posts/:id, POST
// /v1/posts/preview and POST /v1/deliveries/:id/retry, with the engine's rules for what may change.
import { hashToken, mintToken } from '@sunset/core';
import type { TokenRole } from '@sunset/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, OTHER_ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
let g: Fixture;
const mine: Record<string, string> = {};

async function token(fx: Fixture, name: string, person: string, role: TokenRole): Promise<void> {
  const secret = mintToken();
  await fx.store.tokens.create({
    id: `${name}-id`,
    organisationId: ORG,
    name,
    person,
    role,
    hash: hashToken(secret),
    createdBy: 'cli:test',
  });
  mine[name] = secret;
}
const as = (name: string) => ({ authorization: `Bearer ${mine[name]}` });
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const LONG = `${'La médiathèque ouvre ses portes samedi avec des ateliers pour tous les âges. '.repeat(6)}Venez nombreux.`;

beforeAll(async () => {
  f = await startFixture();
  g = await startFixture({}, planYaml().replace('mirror:\n', 'mirror:\n  approval: second-person\n'));
  await token(g, 'alice-editor', 'alice', 'editor');
  await token(g, 'bob-editor', 'bob', 'editor');
  await token(g, 'carol-editor', 'carol', 'editor');
}, 60_000);
afterAll(async () => {
  await f?.close();
  await g?.close();
});

async function send(fx: Fixture, payload: Record<string, unknown>, headers = fx.auth('editor')) {
  const res = await fx.app.inject({ method: 'POST', url: '/v1/posts', headers, payload });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().id as string;
}

describe('GET /v1/queue', () => {
  it('lists plan steps and ordinary posts with each network state, narrowed by time', async () => {
    const at = inAnHour();
    const id = await send(f, { text: 'Marché de Noël ce week-end.', at });
    const res = await f.app.inject({ method: 'GET', url: '/v1/queue', headers: f.auth('auditor') });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json().items as {
      key: string;
      source: string;
      editable: boolean;
      text: string;
      networks: Record<string, { status: string; retry: { allowed: boolean } }>;
    }[];
    const mineItem = items.find((i) => i.key === `post:${id}`)!;
    expect(mineItem).toMatchObject({
      source: 'ordinary',
      editable: true,
      text: 'Marché de Noël ce week-end.',
    });
    expect(Object.keys(mineItem.networks).sort()).toEqual(['bluesky', 'mastodon', 'x']);
    expect(mineItem.networks['x']).toMatchObject({ status: 'queued', retry: { allowed: false } });
    const farewell = items.find((i) => i.key === 'post:farewell')!;
    expect(farewell).toMatchObject({ source: 'plan', editable: false });
    // Soonest first: the post in an hour before the farewell at the sunset.
    expect(items.indexOf(mineItem)).toBeLessThan(items.indexOf(farewell));

    const narrow = await f.app.inject({
      method: 'GET',
      url: `/v1/queue?to=${encodeURIComponent(new Date(Date.now() + 7_200_000).toISOString())}`,
      headers: f.auth('editor'),
    });
    const keys = (narrow.json().items as { key: string }[]).map((i) => i.key);
    expect(keys).toContain(`post:${id}`);
    expect(keys).not.toContain('post:farewell');

    const backwards = await f.app.inject({
      method: 'GET',
      url: '/v1/queue?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z',
      headers: f.auth('editor'),
    });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().error.message).toBe('to: before from');
  });
});

describe('PATCH and DELETE /v1/posts/:id', () => {
  it('rewrites a waiting post: new parts, new jobs, audited; the old job is gone', async () => {
    const id = await send(f, { text: 'Piscine fermée lundi.', at: inAnHour() });
    const before = await f.store.deliveries.list({ organisationId: ORG, postId: id });
    const res = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: {
        text: 'Piscine fermée lundi et mardi.',
        variants: { mastodon: 'Piscine : fermée lundi, mardi.' },
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().changes.map((c: { change: string }) => c.change)).toEqual([
      'replaced',
      'replaced',
      'replaced',
    ]);
    expect(res.json().post.content.text).toBe('Piscine fermée lundi et mardi.');
    const after = await f.store.deliveries.list({ organisationId: ORG, postId: id });
    const byNet = Object.fromEntries(after.map((d) => [d.network, d]));
    expect(byNet['x']!.parts[0]!.text).toBe('Piscine fermée lundi et mardi.');
    expect(byNet['mastodon']!.parts[0]!.text).toBe('Piscine : fermée lundi, mardi.');
    for (const d of after) {
      expect(d.status).toBe('queued');
      expect(d.jobId).not.toBe(before.find((b) => b.id === d.id)!.jobId);
      expect(await f.queues.jobState(d.network, d.jobId)).toBeDefined();
    }
    for (const d of before) expect(await f.queues.jobState(d.network, d.jobId)).toBeUndefined();
    const audit = await f.store.audit.list({ organisationId: ORG, postId: id, action: 'post.edited' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.before).toMatchObject({ text: 'Piscine fermée lundi.' });
    expect(audit[0]!.details).toMatchObject({ person: 'editor-person' });
  });

  it('a new time after the sunset takes the mirror networks of that time (X left out)', async () => {
    const id = await send(f, { text: 'Conseil municipal jeudi.', at: inAnHour() });
    const res = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: { at: '2099-02-01T10:00:00Z' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().changes).toContainEqual({
      network: 'x',
      deliveryId: `${ORG}.${id}.x`,
      change: 'cancelled',
    });
    expect((await f.store.deliveries.get(`${ORG}.${id}.x`))!.status).toBe('cancelled');
    expect((await f.store.deliveries.get(`${ORG}.${id}.bluesky`))!.dueAt.toISOString()).toBe(
      '2099-02-01T10:00:00.000Z',
    );
  });

  it('refuses to rewrite or cancel a thread that has begun, and changes nothing', async () => {
    const id = await send(f, { text: LONG, at: inAnHour(), networks: ['bluesky'] });
    const d = (await f.store.deliveries.list({ organisationId: ORG, postId: id }))[0]!;
    expect(d.parts.length).toBeGreaterThan(1);
    await f.store.deliveries.partPublished(d.id, 1, {
      remoteId: 'at://did:plc:x/post/1',
      url: 'https://bsky.app/1',
    });
    const edit = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: { text: 'Tout autre chose.' },
    });
    expect(edit.statusCode, edit.body).toBe(409);
    expect(edit.json().error.code).toBe('too-late');
    expect(edit.json().error.message).toMatch(
      /^post \S+ cannot be changed now: Bluesky: too late: 1 of \d+ parts are published; this thread is sent on as it began/,
    );
    const del = await f.app.inject({ method: 'DELETE', url: `/v1/posts/${id}`, headers: f.auth('editor') });
    expect(del.statusCode).toBe(409);
    expect(del.json().error.message).toMatch(/Bluesky: its thread has begun; it cannot be withdrawn/);
    const now = (await f.store.deliveries.get(d.id))!;
    expect(now.parts.map((p) => p.text)).toEqual(d.parts.map((p) => p.text));
    expect(now.status).toBe('queued');
    expect(await f.store.audit.list({ organisationId: ORG, postId: id, action: 'post.edited' })).toEqual([]);
  });

  it('cancels a waiting post everywhere, once; then it can no longer be edited or retried', async () => {
    const id = await send(f, { text: 'Fête de la musique.', at: inAnHour() });
    const res = await f.app.inject({ method: 'DELETE', url: `/v1/posts/${id}`, headers: f.auth('editor') });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().post.state).toBe('cancelled');
    for (const d of await f.store.deliveries.list({ organisationId: ORG, postId: id })) {
      expect(d.status).toBe('cancelled');
      expect(await f.queues.jobState(d.network, d.jobId)).toBeUndefined();
    }
    const again = await f.app.inject({ method: 'DELETE', url: `/v1/posts/${id}`, headers: f.auth('editor') });
    expect(again.json().notes).toEqual(['already cancelled']);
    const edit = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: { text: 'Non.' },
    });
    expect(edit.statusCode).toBe(409);
    expect(edit.json().error.code).toBe('cancelled');
    expect(
      await f.store.audit.list({ organisationId: ORG, postId: id, action: 'post.cancelled' }),
    ).toHaveLength(1);
    const queue = await f.app.inject({ method: 'GET', url: '/v1/queue', headers: f.auth('editor') });
    expect((queue.json().items as { key: string }[]).map((i) => i.key)).not.toContain(`post:${id}`);
  });

  it('is for editors of the same organisation only, and says where a body is wrong', async () => {
    const id = await send(f, { text: 'Collecte des déchets décalée.', at: inAnHour() });
    const auditor = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('auditor'),
      payload: { text: 'x' },
    });
    expect(auditor.statusCode).toBe(403);
    const other = await f.app.inject({
      method: 'DELETE',
      url: `/v1/posts/${id}`,
      headers: f.auth('otherOrg'),
    });
    expect(other.statusCode).toBe(404);
    const empty = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: {},
    });
    expect(empty.statusCode).toBe(400);
    const badImage = await f.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: f.auth('editor'),
      payload: { images: [{ data: 'aGVsbG8=', mediaType: 'image/tiff', alt: 'Affiche' }] },
    });
    expect(badImage.statusCode).toBe(422);
    expect(badImage.json().error.message).toMatch(/images\[0\]: type image\/tiff is not one of/);
    expect(JSON.stringify(badImage.json())).not.toContain('aGVsbG8=');
    expect((await f.store.posts.get(ORG, id))!.content).toMatchObject({
      text: 'Collecte des déchets décalée.',
    });
    void OTHER_ORG;
  });
});

describe('editing a post that awaits a second person (mirror.approval: second-person)', () => {
  it('keeps it waiting; neither its sender nor its editor may approve it; a third person does', async () => {
    const id = await send(g, { text: 'Vœux du maire le 10 janvier.', at: inAnHour() }, as('alice-editor'));
    const edit = await g.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: as('bob-editor'),
      payload: { text: 'Vœux du maire le 11 janvier.' },
    });
    expect(edit.statusCode, edit.body).toBe(200);
    expect(edit.json().post.state).toBe('awaiting-approval');
    expect(await g.store.deliveries.list({ organisationId: ORG, postId: id })).toEqual([]);
    const queue = await g.app.inject({ method: 'GET', url: '/v1/queue', headers: as('carol-editor') });
    expect(queue.json().items).toContainEqual(
      expect.objectContaining({
        key: `post:${id}`,
        state: 'awaiting-approval',
        text: 'Vœux du maire le 11 janvier.',
      }),
    );
    const byEditor = await g.app.inject({
      method: 'POST',
      url: `/v1/posts/${id}/approve`,
      headers: as('bob-editor'),
    });
    expect(byEditor.statusCode).toBe(403);
    expect(byEditor.json().error.message).toBe(
      'bob edited this post and cannot approve it: a person who wrote none of it must',
    );
    const ok = await g.app.inject({
      method: 'POST',
      url: `/v1/posts/${id}/approve`,
      headers: as('carol-editor'),
    });
    expect(ok.statusCode, ok.body).toBe(202);
    const ds = await g.store.deliveries.list({ organisationId: ORG, postId: id });
    expect(ds.map((d) => d.parts[0]!.text)).toEqual(Array(ds.length).fill('Vœux du maire le 11 janvier.'));
    // Approved: an edit now would go out without the second person's eyes.
    const late = await g.app.inject({
      method: 'PATCH',
      url: `/v1/posts/${id}`,
      headers: as('alice-editor'),
      payload: { text: 'Autre chose.' },
    });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('approved');
  });
});

describe('POST /v1/posts/preview', () => {
  it('shows each network as it will be posted, with the X cost; after the sunset X is left out, with why', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/posts/preview',
      headers: f.auth('editor'),
      payload: { text: LONG },
    });
    expect(res.statusCode, res.body).toBe(200);
    const nets = res.json().networks as {
      network: string;
      parts: { length: number; limit: number }[];
      cost?: { text: string };
    }[];
    expect(nets.map((n) => n.network)).toEqual(['x', 'bluesky', 'mastodon']);
    expect(nets[0]!.parts.length).toBeGreaterThan(1);
    expect(nets[0]!.cost?.text).toMatch(/^\$/);
    for (const n of nets) for (const p of n.parts) expect(p.length).toBeLessThanOrEqual(p.limit);
    const later = await f.app.inject({
      method: 'POST',
      url: '/v1/posts/preview',
      headers: f.auth('editor'),
      payload: { text: 'Bonjour', networks: ['x', 'bluesky'], at: '2099-03-01T10:00:00Z' },
    });
    expect(later.statusCode, later.body).toBe(200);
    expect(later.json().networks.map((n: { network: string }) => n.network)).toEqual(['bluesky']);
    expect(later.json().notes.join(' ')).toMatch(/^X: /);
    const crisisToken = await f.app.inject({
      method: 'POST',
      url: '/v1/posts/preview',
      headers: f.auth('auditor'),
      payload: { text: 'Bonjour' },
    });
    expect(crisisToken.statusCode).toBe(403);
  });
});

describe('POST /v1/deliveries/:id/retry', () => {
  it('queues a failed delivery again under a new job, audited; refuses what it should', async () => {
    const id = await send(f, { text: 'Travaux rue Nationale.', at: inAnHour() });
    const d = (await f.store.deliveries.get(`${ORG}.${id}.mastodon`))!;
    const early = await f.app.inject({
      method: 'POST',
      url: `/v1/deliveries/${d.id}/retry`,
      headers: f.auth('editor'),
    });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.message).toBe(
      `delivery ${d.id} is queued: only a failed or needs-attention delivery is retried`,
    );
    await f.store.deliveries.finish(d.id, 'failed', {
      lastError: 'mastodon: 500 (gave up after 5 attempts)',
    });
    const queue = await f.app.inject({ method: 'GET', url: '/v1/queue', headers: f.auth('editor') });
    const item = (
      queue.json().items as { key: string; editable: boolean; networks: Record<string, unknown> }[]
    ).find((i) => i.key === `post:${id}`)!;
    expect(item.networks['mastodon']).toMatchObject({
      status: 'failed',
      lastError: 'mastodon: 500 (gave up after 5 attempts)',
      retry: { allowed: true },
    });
    expect(
      (await f.app.inject({ method: 'POST', url: `/v1/deliveries/${d.id}/retry`, headers: f.auth('crisis') }))
        .statusCode,
    ).toBe(403);
    expect(
      (
        await f.app.inject({
          method: 'POST',
          url: `/v1/deliveries/${d.id}/retry`,
          headers: f.auth('otherOrg'),
        })
      ).statusCode,
    ).toBe(404);
    const res = await f.app.inject({
      method: 'POST',
      url: `/v1/deliveries/${d.id}/retry`,
      headers: f.auth('editor'),
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ deliveryId: d.id, network: 'mastodon', status: 'queued' });
    const now = (await f.store.deliveries.get(d.id))!;
    expect(now.status).toBe('queued');
    expect(now.jobId).toBe(res.json().jobId);
    expect(now.jobId).not.toBe(d.jobId);
    expect(await f.queues.jobState('mastodon', now.jobId)).toBeDefined();
    const audit = await f.store.audit.list({ organisationId: ORG, action: 'delivery.retried', postId: id });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      deliveryId: d.id,
      before: { status: 'failed', lastError: 'mastodon: 500 (gave up after 5 attempts)' },
    });
  });
});
