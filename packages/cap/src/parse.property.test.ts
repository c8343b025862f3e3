// Whatever arrives from the network, parseCap either returns a well-formed alert or throws
// CapError: never another exception, never a value outside the limits, never slowly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { BILINGUAL_ALERT, FLOOD_ALERT, FLOOD_CANCEL, FLOOD_UPDATE } from './fixtures.test-support.ts';
import {
  CERTAINTIES,
  CapError,
  MSG_TYPES,
  SEVERITIES,
  STATUSES,
  URGENCIES,
  capText,
  parseCap,
  type CapAlert,
} from './index.ts';

const encoder = new TextEncoder();
const SEEDS = [FLOOD_ALERT, FLOOD_UPDATE, FLOOD_CANCEL, BILINGUAL_ALERT];
const CAP_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/;
const LEAF = /<([A-Za-z:]+)>[^<]*<\/\1>/g;

type Mutation = (xml: string) => string;

function elements(xml: string): RegExpExecArray[] {
  return [...xml.matchAll(LEAF)];
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map(
    (n): Mutation =>
      (xml) =>
        xml.slice(0, n % (xml.length + 1)),
  ),
  fc.nat().map((n): Mutation => (xml) => {
    const found = elements(xml);
    const hit = found[n % Math.max(1, found.length)];
    return hit === undefined ? xml : xml.slice(0, hit.index) + xml.slice(hit.index + hit[0].length);
  }),
  fc.nat().map((n): Mutation => (xml) => {
    const found = elements(xml);
    const hit = found[n % Math.max(1, found.length)];
    return hit === undefined ? xml : xml.slice(0, hit.index) + hit[0] + xml.slice(hit.index);
  }),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 40 })).map(([n, junk]): Mutation => (xml) => {
    // Random Unicode inside a text node, where a sender's text would go.
    const found = elements(xml);
    const hit = found[n % Math.max(1, found.length)];
    if (hit === undefined) return xml;
    const textStart = hit.index + hit[0].indexOf('>') + 1;
    return xml.slice(0, textStart) + junk + xml.slice(textStart);
  }),
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom('<', '&', ']]>', '<!DOCTYPE a>', '<?pi?>', '\uD800', '\u0000', '<x>', '</alert>'),
    )
    .map(([n, piece]): Mutation => (xml) => {
      const at = n % (xml.length + 1);
      return xml.slice(0, at) + piece + xml.slice(at);
    }),
  fc.tuple(fc.nat(), fc.nat({ max: 40 })).map(([n, count]): Mutation => (xml) => {
    const found = elements(xml);
    const hit = found[n % Math.max(1, found.length)];
    return hit === undefined
      ? xml
      : xml.slice(0, hit.index) + hit[0].repeat(count * 60) + xml.slice(hit.index);
  }),
);

// Most runs flip no byte: a flipped byte is nearly always fatal, and the checker deserves
// inputs that get through the reader too.
const byteFlips = fc.oneof(
  { arbitrary: fc.constant([] as [number, number][]), weight: 3 },
  {
    arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    weight: 1,
  },
);

const input = fc
  .record({
    seed: fc.constantFrom(...SEEDS),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
    flips: byteFlips,
    asBytes: fc.boolean(),
  })
  .map(({ seed, mutations, flips, asBytes }): string | Uint8Array => {
    const xml = mutations.reduce((text, mutate) => mutate(text), seed);
    if (flips.length === 0) return asBytes ? encoder.encode(xml) : xml;
    const bytes = encoder.encode(xml);
    for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
    // As a string, flipped bytes arrive the way a lenient decoder upstream would pass them.
    return asBytes ? bytes : new TextDecoder().decode(bytes);
  });

function codePoints(text: string): number {
  return [...text].length;
}

function expectWellFormed(alert: CapAlert): void {
  expect(STATUSES).toContain(alert.status);
  expect(MSG_TYPES).toContain(alert.msgType);
  expect(['Public', 'Restricted', 'Private']).toContain(alert.scope);
  expect(alert.sent).toMatch(CAP_DATE_TIME);
  expect(alert.identifier).toMatch(/^[^\s,<&]+$/);
  expect(alert.sender).toMatch(/^[^\s,<&]+$/);
  for (const reference of alert.references) expect(reference.sent).toMatch(CAP_DATE_TIME);
  if (alert.msgType === 'Alert' || alert.msgType === 'Update') expect(alert.infos.length).toBeGreaterThan(0);
  for (const info of alert.infos) {
    expect(URGENCIES).toContain(info.urgency);
    expect(SEVERITIES).toContain(info.severity);
    expect(CERTAINTIES).toContain(info.certainty);
    expect(info.event.trim()).not.toBe('');
    expect(codePoints(info.headline ?? '')).toBeLessThanOrEqual(400);
    expect(codePoints(info.description ?? '')).toBeLessThanOrEqual(8000);
    expect(codePoints(info.instruction ?? '')).toBeLessThanOrEqual(8000);
    if (info.web !== undefined) expect(info.web).toMatch(/^https?:/);
    expect(capText(info, { msgType: alert.msgType })).not.toBe('');
  }
}

describe('parseCap on mutated alerts', () => {
  it('returns a well-formed alert or throws CapError, nothing else', () => {
    fc.assert(
      fc.property(input, (xml) => {
        const started = performance.now();
        let alert: CapAlert | undefined;
        try {
          alert = parseCap(xml);
        } catch (error) {
          if (!(error instanceof CapError)) throw error;
          expect(error.problems.length).toBeGreaterThan(0);
          for (const problem of error.problems) {
            expect(problem.path).toMatch(/\S/);
            expect(problem.message).toMatch(/\S/);
          }
        }
        if (alert !== undefined) {
          expectWellFormed(alert);
        }
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 1500 },
    );
  });

  // Both roads of the property above, each taken on purpose rather than counted among random draws.
  it('parses every unmutated alert, as text and as bytes, into a well-formed alert', () => {
    for (const xml of SEEDS) {
      expectWellFormed(parseCap(xml));
      expectWellFormed(parseCap(encoder.encode(xml)));
    }
  });

  it('rejects with CapError every alert cut before its last closing tag', () => {
    const cut = fc
      .constantFrom(...SEEDS)
      .chain((xml) => fc.tuple(fc.constant(xml), fc.nat({ max: xml.lastIndexOf('</') - 1 })));
    fc.assert(
      fc.property(cut, fc.boolean(), ([xml, at], asBytes) => {
        const text = xml.slice(0, at);
        let thrown: unknown;
        try {
          parseCap(asBytes ? encoder.encode(text) : text);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(CapError);
        expect((thrown as CapError).problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('throws only CapError for arbitrary bytes and strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: 'binary', maxLength: 500 })),
        (junk) => {
          expect(() => parseCap(junk)).toThrow(CapError);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
