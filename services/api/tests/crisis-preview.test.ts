/**
 * The crisis preview shows what the worker will send, no more: networks the sunset policy
 * refuses, networks a follow-up's original never reached, and record-only CAP messages are not
 * shown as posts, and the preview says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP_ALERT, planYaml, startFixture, type Fixture } from './fixture.ts';

// After the sunset with X frozen: a crisis is still aimed at X, and the worker skips it there.
const frozenAfterSunset = planYaml({ sunset: '2026-01-20T09:00' }).replace(
  'x_after: crisis-only',
  'x_after: frozen',
);

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({}, frozenAfterSunset);
});
afterAll(async () => {
  await f.close();
});

type PreviewReply = { networks: { network: string; parts: unknown[] }[]; notes: string[] };

const preview = async (payload: object | string, type = 'application/json') => {
  const r = await f.app.inject({
    method: 'POST',
    url: '/v1/crisis/preview',
    headers: { ...f.auth('crisis'), 'content-type': type },
    payload,
  });
  expect(r.statusCode).toBe(200);
  return r.json<PreviewReply>();
};

describe('the crisis preview', () => {
  it('shows no X post after the sunset when X is frozen, and says why', async () => {
    const body = await preview({ text: 'Coupure d’eau quartier des Halles jusqu’à 18 h.' });
    expect(body.networks.map((n) => n.network)).toEqual(['bluesky', 'mastodon']);
    expect(body.notes.join('\n')).toMatch(/^X: .*frozen/m);
  });

  it('shows a follow-up only where its original went out', async () => {
    const original = await f.app.inject({
      method: 'POST',
      url: '/v1/crisis',
      headers: f.auth('crisis'),
      payload: { text: 'Alerte crue : évitez les quais.', networks: ['mastodon'] },
    });
    expect(original.statusCode).toBe(202);
    const body = await preview({ text: 'Fin de l’alerte crue.', replyTo: original.json().id });
    expect(body.networks.map((n) => n.network)).toEqual(['mastodon']);
    expect(body.notes.join('\n')).toMatch(/Bluesky: the original post did not go out there/);
  });

  it('shows nothing to post for a CAP Exercise, which is only recorded', async () => {
    const stored = async () => (await f.store.posts.list('ville-de-test', { limit: 200 })).length;
    const before = await stored();
    const body = await preview(CAP_ALERT({ id: 'exercice-1', status: 'Exercise' }), 'application/cap+xml');
    expect(body.networks).toEqual([]);
    expect(body.notes.join('\n')).toMatch(/CAP status Exercise: recorded, not posted/);
    // Nothing was stored by the preview.
    expect(await stored()).toBe(before);
  });
});
