import { describe, expect, it } from 'vitest';
import type { mastodon } from 'masto';
import { createActionProxy } from 'masto/adapters/action/index.js';
import { SerializerNativeImpl } from 'masto/adapters/serializers/index.js';
import type { ActionDispatcher, AnyAction } from 'masto/interfaces/index.js';
import { RememberingSerializer, restProxy } from './client.ts';

const status = {
  id: '1',
  created_at: '2026-12-01T10:00:00.000Z',
  in_reply_to_id: null,
  media_attachments: [{ id: 'm', preview_url: 'https://x/p', meta: { original: { frame_rate: '30/1' } } }],
  account: { display_name: 'Ville', fields: [{ name: 'a', verified_at: null }], emojis: [] },
  'notifications:policy': { keep_as_is: 1 },
  _destroy: true,
  tags: ['a_b', 'c'],
};

describe('RememberingSerializer', () => {
  it('reads JSON exactly as masto does, the first time and again from memory', () => {
    const masto = new SerializerNativeImpl();
    const ours = new RememberingSerializer();
    const body = JSON.stringify(status);
    const expected = masto.deserialize('json', body);
    expect(ours.deserialize('json', body)).toEqual(expected);
    expect(ours.deserialize('json', body)).toEqual(expected);
    expect(expected).toMatchObject({ createdAt: status.created_at, _destroy: true });
  });

  it('writes JSON and query strings exactly as masto does', () => {
    const masto = new SerializerNativeImpl();
    const ours = new RememberingSerializer();
    const request = { inReplyToId: '7', mediaIds: ['1', '2'], poll: { expiresIn: 60 }, _destroy: true };
    expect(ours.serialize('json', request)).toBe(masto.serialize('json', request));
    expect(ours.serialize('json', request)).toBe(masto.serialize('json', request));
    expect(ours.serialize('querystring', { limit: 5, excludeReplies: true })).toBe(
      masto.serialize('querystring', { limit: 5, excludeReplies: true }),
    );
  });

  it('keeps a "__proto__" key as a key, not as the prototype', () => {
    const read = new RememberingSerializer().deserialize<Record<string, unknown>>(
      'json',
      '{"__proto__": {"polluted_key": 1}, "ok": 2}',
    );
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    expect(Object.keys(read)).toContain('__proto__');
    expect(({} as Record<string, unknown>)['pollutedKey']).toBeUndefined();
  });

  it("throws masto's error for a body that is not JSON", () => {
    expect(() => new RememberingSerializer().deserialize('json', '<html>')).toThrow(/Malformed JSON/);
  });
});

describe('restProxy', () => {
  /** The actions a series of calls dispatches, through a dispatcher that records them. */
  const actionsOf = (make: (d: ActionDispatcher<AnyAction>) => mastodon.rest.Client) => {
    const seen: AnyAction[] = [];
    const rest = make({ dispatch: <U>(action: AnyAction) => (seen.push(action), action as U) });
    const meta = { requestInit: { headers: { 'Idempotency-Key': 'k' } } };
    for (let round = 0; round < 2; round++) {
      void rest.v1.statuses.create({ status: 'Bonjour', inReplyToId: '3' }, meta);
      void rest.v1.media.$select('12').fetch();
      void rest.v2.media.create({ file: 'f', description: 'alt' });
      void rest.v1.accounts.verifyCredentials();
      void rest.v1.accounts.updateCredentials({ displayName: 'Ville', fieldsAttributes: [] });
      void rest.v1.statuses.$select('5').remove();
      void rest.v1.statuses.$select('5').source.fetch();
      void rest.v2.instance.fetch();
      void rest.v1.timelines.tag.$select('ville_de_test').list({ limit: 2 });
      void (rest.v1.statuses.create as unknown as { $raw: (d: unknown) => unknown }).$raw({ status: 'r' });
    }
    return { seen, rest };
  };

  it("dispatches the same actions as masto's own proxy, on every call", () => {
    const ours = actionsOf(restProxy);
    const masto = actionsOf((d) => createActionProxy<mastodon.rest.Client>(d, { context: ['api'] }));
    expect(ours.seen).toEqual(masto.seen);
    expect(ours.seen).toHaveLength(20);
    expect(ours.seen[0]).toMatchObject({ type: 'create', path: '/api/v1/statuses', raw: false });
    expect(ours.seen[3]).toMatchObject({ type: 'verify_credentials', path: '/api/v1/accounts' });
    expect(ours.seen[9]).toMatchObject({ type: 'create', path: '/api/v1/statuses', raw: true });
  });

  it('is not a promise, and keeps one proxy per path', () => {
    const { rest } = actionsOf(restProxy);
    expect((rest as unknown as Record<string, unknown>)['then']).toBeUndefined();
    expect(rest.v1.statuses).toBe(rest.v1.statuses);
    expect(() => (rest as unknown as () => unknown)()).toThrow(TypeError);
  });
});
