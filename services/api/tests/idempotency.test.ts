// Idempotency-Key through HTTP: keys are namespaced by source (a JSON crisis can never name a CAP
// alert's post), a key reused for other content is 409, the same request again is the same post.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP_ALERT, ORG, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f?.close();
});

const SENDER = 'alerte@indre-et-loire.gouv.fr';
const SENT = '2026-12-01T08:00:00+01:00';
const capKeyOf = (id: string) => `cap:${SENDER},${id},${SENT}`;
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
).toString('base64');

function cap(xml: string) {
  return f.app.inject({
    method: 'POST',
    url: '/v1/crisis',
    headers: { ...f.auth('crisis'), 'content-type': 'application/cap+xml' },
    payload: xml,
  });
}
function crisis(key: string, body: object) {
  return f.app.inject({
    method: 'POST',
    url: '/v1/crisis',
    headers: { ...f.auth('crisis'), 'idempotency-key': key },
    payload: body,
  });
}
function post(key: string, body: object) {
  return f.app.inject({
    method: 'POST',
    url: '/v1/posts',
    headers: { ...f.auth('editor'), 'idempotency-key': key },
    payload: body,
  });
}

describe('Idempotency-Key namespaces', () => {
  it("a JSON crisis with a CAP alert's key gets a post of its own, not the alert's", async () => {
    const alert = await cap(CAP_ALERT({ id: 'ns-1' }));
    expect(alert.statusCode).toBe(202);
    const json = await crisis(capKeyOf('ns-1'), { text: 'Faux message sous la clé de l’alerte.' });
    expect(json.statusCode).toBe(202);
    expect(json.json().duplicate).toBe(false);
    expect(json.json().id).not.toBe(alert.json().id);
    const stored = await f.store.posts.get(ORG, alert.json().id);
    expect((stored?.content as { text: string }).text).toMatch(/Crue de la Loire/);
  });

  it('a JSON crisis sent first under a CAP key does not swallow the alert that comes later', async () => {
    const json = await crisis(capKeyOf('ns-2'), { text: 'Message posé avant l’alerte.' });
    expect(json.statusCode).toBe(202);
    const alert = await cap(CAP_ALERT({ id: 'ns-2' }));
    expect(alert.statusCode).toBe(202);
    expect(alert.json().duplicate).toBe(false);
    expect(alert.json().id).not.toBe(json.json().id);
    expect(alert.json().deliveries).toHaveLength(3);
  });

  it('a resent CAP alert (same sender, identifier, sent) is still the same post', async () => {
    const a = await cap(CAP_ALERT({ id: 'ns-3' }));
    const b = await cap(CAP_ALERT({ id: 'ns-3' }));
    expect(b.statusCode).toBe(202);
    expect(b.json()).toMatchObject({ id: a.json().id, duplicate: true });
  });
});

describe('Idempotency-Key reused for other content', () => {
  const conflict =
    /^this Idempotency-Key was used for a different request on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z; send a new key$/;

  it.each([
    ['text', { text: 'Autre texte.' }],
    ['variants', { variants: { bluesky: 'Pour Bluesky.' } }],
    ['networks', { networks: ['bluesky'] }],
    ['language', { language: 'en' }],
    ['at', { at: '2098-05-01T10:00:00Z' }],
    ['images', { images: [{ data: PNG, mediaType: 'image/png', alt: 'Un point' }] }],
  ])('POST /v1/posts: other %s is 409, the same request again the first post', async (field, change) => {
    const key = `post-${field}`;
    const base = { text: 'Le marché est ouvert.' };
    const first = await post(key, base);
    expect(first.statusCode).toBe(202);
    const other = await post(key, { ...base, ...change });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('idempotency-key-reused');
    expect(other.json().error.message).toMatch(conflict);
    const again = await post(key, base);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ id: first.json().id, duplicate: true });
    expect((await f.store.deliveries.list({ organisationId: ORG, postId: first.json().id })).length).toBe(3);
  });

  it.each([
    ['text', { text: 'Autre alerte.' }],
    ['variants', { variants: { mastodon: 'Pour Mastodon.' } }],
    ['link', { link: 'https://www.ville.test/autre' }],
    ['networks', { networks: ['mastodon'] }],
    ['language', { language: 'en' }],
  ])('POST /v1/crisis: other %s is 409, the same request again the first post', async (field, change) => {
    const key = `crisis-${field}`;
    const base = { text: 'Alerte : coupure d’eau.' };
    const first = await crisis(key, base);
    expect(first.statusCode).toBe(202);
    const other = await crisis(key, { ...base, ...change });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.message).toMatch(conflict);
    const again = await crisis(key, base);
    expect(again.json()).toMatchObject({ id: first.json().id, duplicate: true });
  });

  it('POST /v1/crisis: the same key as a follow-up of another post is 409', async () => {
    const original = await crisis('original-1', { text: 'Alerte : orage.' });
    const first = await crisis('followup-1', { text: 'Fin de l’alerte.' });
    const reply = await crisis('followup-1', { text: 'Fin de l’alerte.', replyTo: original.json().id });
    expect(first.statusCode).toBe(202);
    expect(reply.statusCode).toBe(409);
    expect(reply.json().error.message).toMatch(conflict);
  });
});
