import { TID } from '@atproto/common-web';
import { describe, expect, it } from 'vitest';
import { recordKeyFor } from './record-key.ts';

describe('recordKeyFor', () => {
  it('gives the same TID-shaped key for the same idempotency key, whenever it is called', () => {
    // Pinned: changing the derivation would let a retry after an upgrade post twice.
    expect(recordKeyFor('post-1')).toBe('3jukwb5lmkvmq');
    expect(recordKeyFor('a')).toBe('3lifrgtsc4g5c');
    expect(recordKeyFor('post-1')).toBe(recordKeyFor('post-1'));
  });

  it('makes valid TIDs in a past window, different for different keys', () => {
    const windowStart = Date.UTC(2023, 0, 1) * 1000;
    const windowEnd = windowStart + 2 ** 46;
    const keys = new Set<string>();
    for (let i = 0; i < 2000; i += 1) {
      const rkey = recordKeyFor(`delivery-${i}.part-${i % 7}`);
      expect(TID.is(rkey)).toBe(true);
      const timestamp = TID.fromStr(rkey).timestamp();
      expect(timestamp).toBeGreaterThanOrEqual(windowStart);
      expect(timestamp).toBeLessThan(windowEnd);
      keys.add(rkey);
    }
    expect(keys.size).toBe(2000);
  });

  it('refuses an empty key', () => {
    expect(() => recordKeyFor('')).toThrow(RangeError);
  });
});
