import { AtpAgent, lexicons, schemas } from '@atproto/api';
import { describe, expect, it } from 'vitest';
import { atprotoApiVersion, shareLexicons } from './atproto-lexicons.ts';

/** What an upgrade of the library that moved the patched internals must be told. */
const MOVED = (what: string): string =>
  `@atproto/api@${atprotoApiVersion()}: ${what} is no longer where packages/networks/src/patches/` +
  'atproto-lexicons.ts expects it; every Bluesky connector keeps its own copy of the lexicons ' +
  'until the patch follows the library or is removed (see patches/README.md)';

const lexOf = (agent: AtpAgent) => (agent as unknown as { lex?: unknown }).lex;
const sessionLexOf = (agent: AtpAgent) =>
  (agent as unknown as { sessionManager?: { server?: { _client?: { lex?: unknown } } } }).sessionManager
    ?.server?._client?.lex;

describe("@atproto/api's lexicons, one collection for every agent", () => {
  it("finds the agent's collection where the patch expects it", () => {
    const agent = new AtpAgent({ service: 'https://pds.example' });
    const lex = lexOf(agent) as { docs?: unknown; defs?: unknown; assertValidRecord?: unknown } | undefined;
    expect(lex?.docs, MOVED('the agent’s `lex.docs` Map')).toBeInstanceOf(Map);
    expect(lex?.defs, MOVED('the agent’s `lex.defs` Map')).toBeInstanceOf(Map);
    expect(lex?.assertValidRecord, MOVED('`lex.assertValidRecord`')).toBeTypeOf('function');
  });

  it('gives later agents the first one’s collection, which still validates records', () => {
    const a = new AtpAgent({ service: 'https://a.example' });
    const b = new AtpAgent({ service: 'https://b.example' });
    expect(lexOf(a)).not.toBe(lexOf(b));
    expect(shareLexicons(a), MOVED('the agent’s `lex`')).toBe(true);
    expect(shareLexicons(b)).toBe(true);
    expect(lexOf(b)).toBe(lexOf(a));
    const lex = lexOf(b) as { assertValidRecord: (uri: string, value: unknown) => unknown };
    const post = { $type: 'app.bsky.feed.post', text: 'Alerte crue', createdAt: new Date().toISOString() };
    expect(() => lex.assertValidRecord('app.bsky.feed.post', post)).not.toThrow();
    expect(() => lex.assertValidRecord('app.bsky.feed.post', { ...post, text: 42 })).toThrow();
  });

  it('gives the session manager’s own client the shared collection too', () => {
    const a = new AtpAgent({ service: 'https://d.example' });
    const b = new AtpAgent({ service: 'https://e.example' });
    expect(sessionLexOf(b), MOVED('the session manager’s `server._client.lex`')).toBeDefined();
    expect(sessionLexOf(b)).not.toBe(sessionLexOf(a));
    expect(shareLexicons(a)).toBe(true);
    expect(shareLexicons(b)).toBe(true);
    // One collection for both clients of both agents: the first agent's own.
    expect(sessionLexOf(a)).toBe(lexOf(a));
    expect(sessionLexOf(b)).toBe(lexOf(a));
  });

  it('builds a new agent’s collections as the library does, without walking resolved documents again', () => {
    const first = new AtpAgent({ service: 'https://f.example' });
    expect(shareLexicons(first)).toBe(true);
    // The walk replaces each array of a document it visits: an array kept means no walk.
    const post = schemas.find((doc) => doc.id === 'app.bsky.feed.post') as unknown as {
      defs: { main: { record: { required: unknown[] } } };
    };
    const required = post.defs.main.record.required;
    const later = new AtpAgent({ service: 'https://g.example' });
    expect(
      post.defs.main.record.required,
      `@atproto/api@${atprotoApiVersion()}: Lexicons.add walked a document it had resolved before; ` +
        'the patch in packages/networks/src/patches/atproto-lexicons.ts no longer fits it (see patches/README.md)',
    ).toBe(required);
    // Its own collection (before it is given up) holds what the library's own build holds.
    const own = lexOf(later) as { docs: Map<string, unknown>; defs: Map<string, unknown> };
    const library = lexicons as unknown as { docs: Map<string, unknown>; defs: Map<string, unknown> };
    expect([...own.docs.keys()].sort()).toEqual([...library.docs.keys()].sort());
    expect([...own.defs.keys()].sort()).toEqual([...library.defs.keys()].sort());
    for (const [uri, def] of library.defs) expect(own.defs.get(uri)).toBe(def);
    expect(shareLexicons(later)).toBe(true);
  });

  it('changes nothing on an agent whose collection is not the library’s', () => {
    const agent = new AtpAgent({ service: 'https://c.example' });
    const odd = {
      docs: new Map([['lex:other.doc', {}]]),
      defs: new Map(),
      assertValidRecord: () => undefined,
    };
    (agent as unknown as { lex: unknown }).lex = odd;
    expect(shareLexicons(agent)).toBe(false);
    expect(lexOf(agent)).toBe(odd);
    (agent as unknown as { lex: unknown }).lex = undefined;
    expect(shareLexicons(agent)).toBe(false);
  });
});
