import { describe, expect, it } from 'vitest';
import { SerializerNativeImpl } from 'masto/adapters/serializers/index.js';
import { RememberingSerializer } from './client.ts';

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
