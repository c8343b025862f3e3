/**
 * @atproto/api builds a Lexicons collection of its ~390 schema documents for every XrpcClient, and
 * an AtpAgent has two (its own, and its session manager's for logins and refreshes): some 170 KB
 * of heap each for a collection that no agent changes, so a worker with hundreds of organisations
 * on Bluesky kept hundreds of identical copies. Each agent made by the connector gives both up for
 * one shared collection, kept from the first.
 *
 * Building those collections still costs CPU before they can be given up (about 10 ms per agent:
 * Lexicons.add walks each document to resolve its references in place, again for documents it
 * already resolved), and a connector is built on a crisis's path when its organisation's had been
 * closed as idle. So the collection's `add` skips the walk for a document it has resolved before,
 * which leaves the document as the walk would have.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AtpAgent } from '@atproto/api';

/** The shape of the agent's collection that the patch relies on (XrpcClient's `lex`). */
interface LexiconCollection {
  docs: Map<string, unknown>;
  defs: Map<string, unknown>;
  assertValidRecord: (lexUri: string, value: unknown) => unknown;
}

let shared: LexiconCollection | undefined;

/** Marks the collection class whose `add` skips resolved documents. */
const PATCHED = Symbol('sunset.resolvedOnce');

/** Documents Lexicons.add has resolved: resolving one again would change nothing in it. */
const resolved = new WeakSet<object>();

interface LexiconDocument {
  id: string;
  defs: Record<string, unknown>;
}

type AddDocument = (this: LexiconCollection, doc: LexiconDocument) => void;

/**
 * Makes the collection class's `add` skip resolving a document it resolved before. Only once, and
 * only when `add` is still the library's own method taking one document; false otherwise.
 */
function skipResolvedWalks(collection: LexiconCollection): boolean {
  const proto = Object.getPrototypeOf(collection) as { add?: unknown; [PATCHED]?: true } | null;
  if (proto === null) return false;
  if (proto[PATCHED]) return true;
  const original = proto.add;
  if (typeof original !== 'function' || original.length !== 1) return false;
  const add: AddDocument = function (doc) {
    if (!resolved.has(doc)) {
      (original as AddDocument).call(this, doc);
      resolved.add(doc);
      return;
    }
    // What the library's add does after its walk: the document under its URI, each definition
    // under `#name` (and `main` under the document's URI too).
    const uri = `lex:${doc.id}`;
    if (this.docs.has(uri)) throw new Error(`${uri} has already been registered`);
    this.docs.set(uri, doc);
    for (const name in doc.defs) {
      this.defs.set(`${uri}#${name}`, doc.defs[name]);
      if (name === 'main') this.defs.set(uri, doc.defs[name]);
    }
  };
  proto.add = add;
  proto[PATCHED] = true;
  return true;
}

function isCollection(value: unknown): value is LexiconCollection {
  const v = value as Partial<LexiconCollection> | undefined;
  return (
    v !== undefined &&
    v !== null &&
    v.docs instanceof Map &&
    v.defs instanceof Map &&
    typeof v.assertValidRecord === 'function'
  );
}

/** Where an agent's clients keep their collections: its own `lex`, its session manager's client's. */
function holdersOf(agent: AtpAgent): { lex?: unknown }[] {
  const holder = agent as unknown as { lex?: unknown };
  const session = (agent as unknown as { sessionManager?: { server?: { _client?: { lex?: unknown } } } })
    .sessionManager?.server?._client;
  return session === undefined ? [holder] : [holder, session];
}

/** Whether this collection holds the same documents as the shared one (same library, same version). */
function sameAsShared(own: LexiconCollection, first: LexiconCollection): boolean {
  if (own === first) return true;
  if (own.constructor !== first.constructor || own.docs.size !== first.docs.size) return false;
  for (const uri of own.docs.keys()) if (!first.docs.has(uri)) return false;
  return true;
}

/**
 * Gives the agent's clients the shared collection in place of their own; the first agent's own
 * becomes the shared one. Returns false when a client's collection is not where or what the patch
 * expects, or holds other documents (another version of the library loaded beside this one): that
 * client keeps its own, the others are still shared.
 */
export function shareLexicons(agent: AtpAgent): boolean {
  const holders = holdersOf(agent);
  let all = holders.length === 2;
  for (const holder of holders) {
    const own = holder.lex;
    if (!isCollection(own)) {
      all = false;
      continue;
    }
    if (shared === undefined) {
      shared = own;
      if (!skipResolvedWalks(own)) all = false;
    }
    if (sameAsShared(own, shared)) holder.lex = shared;
    else all = false;
  }
  return all;
}

/** The version of @atproto/api loaded, for the patch test's messages. */
export function atprotoApiVersion(): string {
  try {
    // The package exports no package.json: it sits beside dist/, where its entry point is.
    const entry = createRequire(import.meta.url).resolve('@atproto/api');
    const file = path.join(path.dirname(entry), '..', 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
