/**
 * @atproto/api builds a Lexicons collection of its ~390 schema documents for every agent (in
 * XrpcClient's constructor): some 170 KB of heap per agent for a collection that no agent changes,
 * so a worker with hundreds of organisations on Bluesky kept hundreds of identical copies. Each
 * agent made by the connector gives its copy up for one shared collection, kept from the first.
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

/**
 * Gives the agent the shared collection in place of its own; the first agent's own becomes the
 * shared one. Returns false, changing nothing, when the agent's collection is not where or what the
 * patch expects, or holds other documents (another version of the library loaded beside this one).
 */
export function shareLexicons(agent: AtpAgent): boolean {
  const holder = agent as unknown as { lex?: unknown };
  const own = holder.lex;
  if (!isCollection(own)) return false;
  if (shared === undefined) {
    shared = own;
    return true;
  }
  if (own === shared) return true;
  if (own.constructor !== shared.constructor || own.docs.size !== shared.docs.size) return false;
  for (const uri of own.docs.keys()) if (!shared.docs.has(uri)) return false;
  holder.lex = shared;
  return true;
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
