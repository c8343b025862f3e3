import { describe, expect, it } from 'vitest';
import { FAREWELL_GRACE_MS, policyRefusal as refusalAt } from './policy.ts';

type Args = Parameters<typeof refusalAt>;
/** Sent at its due time: what these cases were written for. */
const policyRefusal = (delivery: Args[0], settings: Args[1]) => refusalAt(delivery, settings, delivery.dueAt);

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

describe('the sunset policy, judged when the post leaves', () => {
  const s = { sunset, xAfter: 'crisis-only' as const };
  const ms = (d: Date, delta: number) => new Date(d.getTime() + delta);

  it('refuses on X a post due before the sunset that leaves after it, whatever its due time', () => {
    for (const dueAt of [before, new Date('2020-01-01T00:00:00Z')]) {
      expect(refusalAt({ network: 'x', source: 'ordinary', kind: 'post', dueAt }, s, ms(sunset, 1))).toMatch(
        /X takes crisis posts only after the sunset/,
      );
    }
    for (const xAfter of ['frozen', 'leave'] as const) {
      expect(
        refusalAt({ network: 'x', source: 'crisis', kind: 'post', dueAt: before }, { sunset, xAfter }, after),
      ).toBeDefined();
    }
    expect(
      refusalAt({ network: 'x', source: 'ordinary', kind: 'post', dueAt: before }, s, sunset),
    ).toBeUndefined();
  });

  it('judges a post that leaves before its due time at its due time', () => {
    expect(refusalAt({ network: 'x', source: 'ordinary', kind: 'post', dueAt: after }, s, before)).toMatch(
      /crisis posts only/,
    );
  });

  it("lets the plan's farewell at the sunset leave within the grace, and no other post", () => {
    const farewell = { network: 'x' as const, source: 'plan' as const, kind: 'post' as const, dueAt: sunset };
    expect(refusalAt(farewell, s, ms(sunset, FAREWELL_GRACE_MS))).toBeUndefined();
    expect(refusalAt(farewell, s, ms(sunset, FAREWELL_GRACE_MS + 1))).toMatch(/plan post/);
    expect(refusalAt({ ...farewell, source: 'ordinary' }, s, ms(sunset, 1))).toMatch(/ordinary post/);
    expect(refusalAt({ ...farewell, dueAt: before }, s, ms(sunset, 1))).toMatch(/plan post/);
  });
});
