// Malformed and hostile requests to the crisis endpoint, over real HTTP: each one gets a 4xx
// with a message a person can read, the server stays up, and nothing is ever queued to post.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP_ALERT, ORG, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
let base: string;
beforeAll(async () => {
  // Plenty of failed sign-ins are part of the traffic: keep the limiter out of the way.
  f = await startFixture({ authFailuresPerMinute: 100_000, bodyLimit: 64 * 1024 });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const address = f.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await f?.close();
});

interface Attack {
  kind: string;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

const encoder = new TextEncoder();
const VALID = CAP_ALERT({ id: 'fuzz-base' });
const MARKUP = [...VALID].flatMap((c, i) => (c === '<' || c === '>' ? [i] : []));

const entityBomb = (n: number) =>
  `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e0 "boom">${Array.from({ length: n }, (_, i) => `<!ENTITY e${i + 1} "&e${i};&e${i};&e${i};">`).join('')}]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&e${n};</identifier></alert>`;
const externalEntity = (target: string) =>
  `<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "${target}">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>`;

function attacks(): fc.Arbitrary<Attack> {
  const crisisToken = () => ({ authorization: `Bearer ${f.tokens.crisis}` });
  const parses = (body: string) => {
    try {
      JSON.parse(body);
      return true;
    } catch {
      return false;
    }
  };
  // An object with a text (in any place among its keys) may be a valid crisis: not an attack.
  const hasText = (v: unknown) =>
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof (v as { text?: unknown }).text === 'string';
  const json = (body: string) => ({
    kind: 'json',
    headers: { ...crisisToken(), 'content-type': 'application/json' },
    body,
  });
  const cap = (kind: string, body: Uint8Array | string) => ({
    kind,
    headers: { ...crisisToken(), 'content-type': 'application/cap+xml' },
    body,
  });
  return fc.oneof(
    // Broken JSON text.
    fc
      .string({ maxLength: 200 })
      .map((s) => `{"text": ${s}`)
      // Now and then the rest happens to close it ("x"}): that one is a valid request.
      .filter((body) => !parses(body))
      .map(json),
    fc
      .json()
      .filter((s) => !hasText(JSON.parse(s)))
      .map(json),
    // Fields of the wrong type or unknown fields.
    fc
      .record({ text: fc.oneof(fc.integer(), fc.constant(''), fc.array(fc.string())), extra: fc.string() })
      .map((o) => json(JSON.stringify(o))),
    fc
      .string({ minLength: 1, maxLength: 50 })
      .map((t) => json(JSON.stringify({ text: t, networks: ['facebook'] }))),
    fc
      .string({ minLength: 1, maxLength: 50 })
      .map((t) => json(JSON.stringify({ text: t, link: 'javascript:alert(1)' }))),
    // Oversize bodies.
    fc.integer({ min: 70_000, max: 200_000 }).map((n) => json(JSON.stringify({ text: 'x'.repeat(n) }))),
    fc
      .integer({ min: 260_000, max: 400_000 })
      .map((n) => cap('cap-oversize', `<alert>${'y'.repeat(n)}</alert>`)),
    // Invalid UTF-8 in a CAP document.
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((junk) => {
      const valid = encoder.encode(VALID);
      const at = valid.indexOf(0x3e, 200) + 1; // after a ">"
      const bad = new Uint8Array(valid.length + junk.length + 1);
      bad.set(valid.subarray(0, at));
      bad.set([0xc3, ...junk.map((b) => (b & 0x3f) | 0xc0)], at); // a lead byte with no continuation
      bad.set(valid.subarray(at), at + junk.length + 1);
      return cap('cap-utf8', bad);
    }),
    // XML bombs and external entities.
    fc.integer({ min: 3, max: 30 }).map((n) => cap('cap-bomb', entityBomb(n))),
    fc
      .constantFrom('file:///etc/passwd', 'http://127.0.0.1:1/x', '/etc/shadow', 'expect://id')
      .map((t) => cap('cap-xxe', externalEntity(t))),
    // Mutations of a valid alert: cut short, bytes flipped, tags dropped.
    fc.integer({ min: 1, max: VALID.length - 2 }).map((n) => cap('cap-truncated', VALID.slice(0, n))),
    // A markup character broken (always invalid, whatever text is around it).
    fc
      .tuple(fc.constantFrom(...MARKUP), fc.constantFrom('&', '\u0000', ''))
      .map(([i, c]) => cap('cap-flipped', VALID.slice(0, i) + c + VALID.slice(i + 1))),
    fc
      .constantFrom('identifier', 'sender', 'sent', 'status', 'msgType', 'scope', 'info', 'urgency')
      .map((tag) => cap('cap-missing', VALID.replace(new RegExp(`<${tag}>[\\s\\S]*?</${tag}>`), ''))),
    fc
      .constantFrom('Maybe', 'actual', '', 'Actual; DROP TABLE')
      .map((s) => cap('cap-status', VALID.replace('<status>Actual</status>', `<status>${s}</status>`))),
    // Wrong content types.
    fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'image/png',
        'application/octet-stream',
      )
      .map((type) => ({
        kind: 'content-type',
        headers: { ...crisisToken(), 'content-type': type },
        body: 'text=hello',
      })),
    // Wrong or missing credentials and roles.
    fc.constantFrom('editor', 'auditor', 'planner', 'revoked', 'otherOrg-none', 'none').map((who) => ({
      kind: 'auth',
      headers: {
        ...(who === 'none'
          ? {}
          : who === 'otherOrg-none'
            ? { authorization: 'Bearer sunset_forged' }
            : { authorization: `Bearer ${f.tokens[who as 'editor']}` }),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ text: 'Tentative' }),
    })),
  );
}

describe('the crisis endpoint under malformed and hostile requests', () => {
  it('answers each of 1,200 with a 4xx and a message; stays up; queues nothing', async () => {
    const before = (await f.store.deliveries.list({ organisationId: ORG, source: 'crisis' })).length;
    const seen = new Map<string, number>();
    const problems: string[] = [];
    await fc.assert(
      fc.asyncProperty(attacks(), async (attack) => {
        const res = await fetch(`${base}/v1/crisis`, {
          method: 'POST',
          headers: attack.headers,
          body: attack.body,
        });
        const text = await res.text();
        seen.set(attack.kind, (seen.get(attack.kind) ?? 0) + 1);
        let message = '';
        try {
          message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? '';
        } catch {
          problems.push(`${attack.kind}: not JSON: ${text.slice(0, 80)}`);
        }
        if (res.status < 400 || res.status >= 500)
          problems.push(
            `${attack.kind}: status ${res.status}: ${text.slice(0, 120)} (request: ${String(attack.body).slice(0, 200)})`,
          );
        if (message.trim().length < 5) problems.push(`${attack.kind}: no clear message (${res.status})`);
        if (/root:|\/bin\/(ba)?sh|at .*\.(ts|js):\d+/.test(text))
          problems.push(`${attack.kind}: leaked ${text.slice(0, 120)}`);
        return true;
      }),
      // The seed is config/vitest.setup.ts's (FC_SEED).
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 1_200) },
    );
    expect(problems.slice(0, 20)).toEqual([]);
    // Every kind of attack was tried.
    expect([...seen.keys()].sort()).toEqual(
      [
        'auth',
        'cap-bomb',
        'cap-flipped',
        'cap-missing',
        'cap-oversize',
        'cap-status',
        'cap-truncated',
        'cap-utf8',
        'cap-xxe',
        'content-type',
        'json',
      ].sort(),
    );
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await f.store.deliveries.list({ organisationId: ORG, source: 'crisis' })).length).toBe(before);
    const depths = await f.queues.depths();
    expect((depths.x.waiting ?? 0) + (depths.x.prioritized ?? 0)).toBe(0);
  });
});
