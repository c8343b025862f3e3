import { describe, expect, it } from 'vitest';
import { storedContentOf, type StoredContent } from './post-types.ts';

const content: StoredContent = {
  text: 'Alerte crue',
  variants: { x: 'Alerte crue (X)' },
  images: [{ sha256: 'ab12', mediaType: 'image/png', alt: 'carte' }],
  language: 'fr-FR',
  networks: ['x', 'mastodon'],
  at: '2027-01-20T09:00:00.000Z',
  cap: {
    identifier: 'i1',
    sender: 's',
    sent: '2027-01-20T09:00:00+01:00',
    status: 'Actual',
    msgType: 'Alert',
  },
  sentBy: { person: 'alice', token: 'duty' },
  approvedBy: 'token:bob',
};

describe('a post content read from the store', () => {
  it('passes as written', () => {
    expect(storedContentOf({ id: 'p1', content })).toBe(content);
  });

  it('is refused with the post id and the field that does not match', () => {
    const bad = { ...content, images: [{ sha256: 'ab12', mediaType: 'image/png' }] };
    expect(() => storedContentOf({ id: 'p1', content: bad })).toThrow(
      /post p1: content\.images\[0\]\.alt is not as the engine writes it/,
    );
    expect(() => storedContentOf({ id: 'p2', content: { ...content, networks: ['facebook'] } })).toThrow(
      /post p2: content\.networks\[0\]/,
    );
    expect(() => storedContentOf({ id: 'p3', content: null })).toThrow(/post p3: content is not/);
  });
});
