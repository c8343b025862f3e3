/**
 * The crisis preview shows what the worker will send, no more: networks the sunset policy
 * refuses, networks a follow-up's original never reached, and record-only CAP messages are not
 * shown as posts, and the preview says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readApiConfig } from '../src/config.ts';
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

describe('the crisis preview on X', () => {
  let live: Fixture;
  beforeAll(async () => {
    // Before the sunset, X kept for crises: a crisis goes to X too.
    live = await startFixture();
  });
  afterAll(async () => {
    await live.close();
  });

  type CostReply = {
    networks: {
      network: string;
      parts: { text: string; cost?: number }[];
      cost?: { total: number; currency: string; text: string; warning?: string };
    }[];
  };
  const previewOn = async (payload: object) => {
    const r = await live.app.inject({
      method: 'POST',
      url: '/v1/crisis/preview',
      headers: live.auth('crisis'),
      payload,
    });
    expect(r.statusCode).toBe(200);
    return r.json<CostReply>();
  };

  it('shows what the crisis costs on X, per part and in total, and why a link makes it dear', async () => {
    const long = `Alerte crue : ${'évitez les quais et les parkings souterrains, montez aux étages. '.repeat(6)}`;
    const body = await previewOn({ text: long, link: 'https://www.ville-de-test.fr/alertes' });
    const x = body.networks.find((n) => n.network === 'x');
    // A thread of two: the link rides on its last part, which costs X's URL price.
    expect(x?.parts.map((p) => p.cost)).toEqual([0.015, 0.2]);
    expect(x?.cost?.total).toBeCloseTo(0.215, 6);
    expect(x?.cost).toMatchObject({ currency: 'USD', text: '$0.215' });
    expect(x?.cost?.warning).toMatch(/costs \$0\.20 on X because it contains a link.*costs \$0\.015/);
    // Bluesky and Mastodon cost nothing and say nothing of it.
    for (const other of body.networks.filter((n) => n.network !== 'x')) {
      expect(other.cost).toBeUndefined();
      expect(other.parts.every((p) => p.cost === undefined)).toBe(true);
    }
  });

  it("prices the crisis by the operator's table (SUNSET_X_PRICES)", async () => {
    expect(() => readApiConfig({ SUNSET_X_PRICES: 'create=free' })).toThrow(
      /SUNSET_X_PRICES: the price of create must be a number of dollars/,
    );
    const { xPrices } = readApiConfig({ SUNSET_X_PRICES: 'create=0.02,create_with_url=0.5' });
    const priced = await startFixture({ xPrices });
    try {
      const r = await priced.app.inject({
        method: 'POST',
        url: '/v1/crisis/preview',
        headers: priced.auth('crisis'),
        payload: {
          text: 'Coupure d’eau rue Nationale.',
          link: 'https://www.ville-de-test.fr/eau',
          networks: ['x'],
        },
      });
      const x = r.json<CostReply>().networks.find((n) => n.network === 'x');
      expect(x?.cost).toMatchObject({ total: 0.5, text: '$0.50' });
    } finally {
      await priced.close();
    }
  });
});
