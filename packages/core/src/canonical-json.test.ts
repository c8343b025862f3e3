import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';

/**
 * The first version's definition, kept here as the reference: the audit chain's hashes were
 * computed with it, so every text must stay the same.
 */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

/** Keys that sort differently by code unit and by number, and that JavaScript puts first. */
const key = fc.oneof(
  fc.string({ maxLength: 6, unit: 'binary' }),
  fc.constantFrom(
    '0',
    '1',
    '2',
    '10',
    '01',
    '-1',
    '1.5',
    '4294967294',
    '4294967295',
    'a',
    'B',
    'é',
    '\ud83d',
    '__proto__',
    'toJSON',
  ),
  fc.nat({ max: 30 }).map(String),
);

const leaf = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(-0),
  fc.date({ noInvalidDate: true }),
  fc.constant(() => 1),
  fc.constant(Symbol('s')),
  fc.string().map((s) => ({ toJSON: (k: string) => `${s}@${k}` })),
  fc.constant({ toJSON: () => undefined }),
);

const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('node'), { maxLength: 5 }),
  object: fc.dictionary(key, tie('node'), { maxKeys: 6 }),
})).node;

describe('canonicalJson', () => {
  it('writes exactly the text of the replacer-based definition, for any value', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('sorts keys by code unit after the array-index keys, in numeric order', () => {
    expect(canonicalJson({ b: 1, 10: 2, a: [3, undefined], 2: { z: 1, y: undefined }, '01': 0 })).toBe(
      '{"2":{"z":1},"10":2,"01":0,"a":[3,null],"b":1}',
    );
  });

  it('calls toJSON with the member key, as JSON.stringify does', () => {
    const at = new Date('2026-12-01T10:00:00.000Z');
    expect(canonicalJson({ at, list: [{ toJSON: (k: string) => `item ${k}` }] })).toBe(
      '{"at":"2026-12-01T10:00:00.000Z","list":["item 0"]}',
    );
  });

  it('refuses a value that holds itself instead of running out of stack', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop['self'] = { loop };
    expect(() => canonicalJson(loop)).toThrow(TypeError);
    // The same object twice, side by side, is no cycle.
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
  });

  it('keeps a member named __proto__ as a member (JSON.parse makes such objects)', () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":2}}'))).toBe('{"__proto__":{"x":2},"b":1}');
  });

  it('throws on a bigint, as JSON.stringify does', () => {
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });
});
