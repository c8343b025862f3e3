import { describe, expect, it } from 'vitest';
import { idempotencyKey } from './publish.ts';
import { policyRefusal } from './policy.ts';

const sunset = new Date('2025-01-20T08:00:00Z');
const before = new Date('2025-01-19T08:00:00Z');
const after = new Date('2025-01-21T08:00:00Z');

describe('the sunset policy', () => {
  it('lets every post through until the sunset, the farewell at the sunset included', () => {
    for (const xAfter of ['crisis-only', 'frozen', 'leave'] as const) {
      for (const dueAt of [before, sunset]) {
        expect(
          policyRefusal({ network: 'x', source: 'ordinary', kind: 'post', dueAt }, { sunset, xAfter }),
        ).toBeUndefined();
      }
    }
  });

  it('after the sunset, X takes crisis posts only with crisis-only', () => {
    const s = { sunset, xAfter: 'crisis-only' as const };
    expect(policyRefusal({ network: 'x', source: 'crisis', kind: 'post', dueAt: after }, s)).toBeUndefined();
    expect(policyRefusal({ network: 'x', source: 'ordinary', kind: 'post', dueAt: after }, s)).toMatch(
      /X takes crisis posts only after the sunset \(2025-01-20T08:00:00\.000Z\).*ordinary post is not sent to X/,
    );
    expect(policyRefusal({ network: 'x', source: 'plan', kind: 'post', dueAt: after }, s)).toMatch(
      /plan post/,
    );
  });

  it('after the sunset, frozen takes nothing on X, and leave no crisis or ordinary post', () => {
    expect(
      policyRefusal(
        { network: 'x', source: 'crisis', kind: 'post', dueAt: after },
        { sunset, xAfter: 'frozen' },
      ),
    ).toMatch(/frozen.*not even a crisis/);
    expect(
      policyRefusal(
        { network: 'x', source: 'crisis', kind: 'post', dueAt: after },
        { sunset, xAfter: 'leave' },
      ),
    ).toMatch(/being closed/);
    expect(
      policyRefusal(
        { network: 'x', source: 'plan', kind: 'post', dueAt: after },
        { sunset, xAfter: 'frozen' },
      ),
    ).toMatch(/frozen/);
  });

  it("with leave, lets the plan's own last posts through after the sunset (the final message)", () => {
    expect(
      policyRefusal(
        { network: 'x', source: 'plan', kind: 'post', dueAt: after },
        { sunset, xAfter: 'leave' },
      ),
    ).toBeUndefined();
    expect(
      policyRefusal(
        { network: 'x', source: 'ordinary', kind: 'post', dueAt: after },
        { sunset, xAfter: 'leave' },
      ),
    ).toMatch(/only the plan's last posts/);
  });

  it('never holds back Bluesky or Mastodon, nor the profile step on X', () => {
    for (const network of ['bluesky', 'mastodon'] as const) {
      expect(
        policyRefusal(
          { network, source: 'ordinary', kind: 'post', dueAt: after },
          { sunset, xAfter: 'frozen' },
        ),
      ).toBeUndefined();
    }
    expect(
      policyRefusal(
        { network: 'x', source: 'plan', kind: 'profile', dueAt: after },
        { sunset, xAfter: 'frozen' },
      ),
    ).toBeUndefined();
  });
});

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
