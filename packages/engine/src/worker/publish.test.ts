import { describe, expect, it } from 'vitest';
import { idempotencyKey } from './publish.ts';

describe('idempotency keys', () => {
  it('are the delivery id and part when they fit, stable, and a hash when they do not', () => {
    expect(idempotencyKey('org.post.farewell.x', 2)).toBe('org.post.farewell.x.2');
    const long = `org.post.${'a'.repeat(80)}.bluesky`;
    const key = idempotencyKey(long, 1);
    expect(key).toMatch(/^k[0-9a-f]{40}\.1$/);
    expect(idempotencyKey(long, 1)).toBe(key);
    expect(idempotencyKey(long, 2)).not.toBe(key);
    expect(idempotencyKey(`${long}x`, 1)).not.toBe(key);
  });
});
