/**
 * masto's REST client, put together from masto's own parts as its `createRestAPIClient` does,
 * with one difference: the serializer remembers how each JSON key is spelt in the other case.
 *
 * masto turns every key of every response into camelCase (and every request key into
 * snake_case) with change-case, one key at a time. A Mastodon status carries its account, its
 * application and more: some 150 keys, all from the same few dozen field names, so remembering
 * the spellings makes a costly conversion a map lookup per key (docs/performance-notes.md). The rules stay masto's: keys with a
 * `:` (preferences) and keys that start with `_` (`_destroy` in filters) are left as they are.
 *
 * The same goes for the calls themselves: masto's action proxy turns `rest.v1.statuses.create`
 * into a `create` action on `/api/v1/statuses`, snake-casing each property name and making a new
 * proxy for it on every call. `actionProxy` below makes the same actions, each path's proxy made
 * once and kept.
 */
import { camelCase, snakeCase } from 'change-case';
import type { mastodon } from 'masto';
import { HttpActionDispatcher } from 'masto/adapters/action/index.js';
import { HttpActionDispatcherHookMastodon } from 'masto/adapters/action/dispatcher-http-hook-mastodon.js';
import { HttpConfigImpl, type MastoHttpConfigProps } from 'masto/adapters/config/index.js';
import { HttpNativeImpl } from 'masto/adapters/http/index.js';
import { createLogger } from 'masto/adapters/logger/index.js';
import { SerializerNativeImpl } from 'masto/adapters/serializers/index.js';
import type {
  ActionDispatcher,
  AnyAction,
  Encoding,
  HttpMetaParams,
  LogType,
  Serializer,
} from 'masto/interfaces/index.js';
import { NodeHttp } from '../patches/mastodon-http.ts';

/** What a request body may be (the DOM's BodyInit, which Node's types spell this way). */
type BodyInit = NonNullable<RequestInit['body']>;

/** Field names are few; anything past this many distinct keys is converted without being kept. */
const MAX_REMEMBERED = 5_000;

function rememberingCase(convert: (key: string) => string): (key: string) => string {
  const known = new Map<string, string>();
  return (key) => {
    let spelt = known.get(key);
    if (spelt === undefined) {
      spelt = key.includes(':') || key.startsWith('_') ? key : convert(key);
      if (known.size < MAX_REMEMBERED) known.set(key, spelt);
    }
    return spelt;
  };
}

/** A copy of `data` with every object key respelt (arrays and nested objects included). */
function respell(data: unknown, spell: (key: string) => string): unknown {
  if (Array.isArray(data)) return data.map((item) => respell(item, spell));
  if (data === null || typeof data !== 'object' || Object.getPrototypeOf(data) !== Object.prototype) {
    return data;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(data)) {
    const spelt = spell(key);
    const value = respell((data as Record<string, unknown>)[key], spell);
    // A "__proto__" key stays a key (an assignment would set the copy's prototype).
    if (spelt === '__proto__')
      Object.defineProperty(out, spelt, { value, enumerable: true, writable: true, configurable: true });
    else out[spelt] = value;
  }
  return out;
}

/** Property names that are never actions (promise checks, inspection, Function.prototype's own). */
const NOT_ACTIONS = new Set([
  'then',
  'catch',
  'finally',
  'inspect',
  'toString',
  'valueOf',
  'toJSON',
  'constructor',
  'prototype',
  'length',
  'name',
  'caller',
  'callee',
  'arguments',
  'bind',
  'apply',
  'call',
]);

/**
 * The proxy behind `rest`: `a.b.c(data, meta)` dispatches action `c` on path `/a/b` (names in
 * snake_case; `$select(x)` adds `x` to the path, `$raw` asks for the raw response), as masto's
 * createActionProxy does. The proxy of each path is made once and kept, with its spelling.
 */
function actionProxy(
  dispatcher: ActionDispatcher<AnyAction>,
  context: readonly string[],
  spell: (key: string) => string,
  callable = true,
): unknown {
  const children = new Map<string, unknown>();
  // Only a function can be called: the root (`rest` itself) is a plain object, as masto's is.
  const target = callable ? () => undefined : {};
  return new Proxy(target, {
    get(_, property) {
      if (property === Symbol.dispose) return dispatcher[Symbol.dispose];
      if (typeof property === 'symbol' || NOT_ACTIONS.has(property)) return undefined;
      let child = children.get(property);
      if (child === undefined) {
        child = actionProxy(
          dispatcher,
          [...context, property.startsWith('$') ? property : spell(property)],
          spell,
        );
        children.set(property, child);
      }
      return child;
    },
    apply(_, __, args: unknown[]) {
      const path = [...context];
      let action = path.pop();
      if (action === '$select') return actionProxy(dispatcher, [...path, ...args.map(String)], spell);
      const raw = action === '$raw';
      if (raw) action = path.pop();
      if (!action) throw new Error('No action specified');
      return dispatcher.dispatch({
        type: action,
        path: `/${path.join('/')}`,
        data: args[0],
        meta: args[1] as HttpMetaParams<Encoding>,
        raw,
      });
    },
  });
}

/** JSON both ways with remembered key spellings; forms, query strings and HTML as masto does them. */
export class RememberingSerializer implements Serializer {
  private readonly masto = new SerializerNativeImpl();
  private readonly toCamel = rememberingCase(camelCase);
  private readonly toSnake = rememberingCase(snakeCase);

  serialize(type: 'json' | 'querystring', data: unknown): string;
  serialize(type: Encoding, data: unknown): BodyInit;
  serialize(type: Encoding, data: unknown): BodyInit {
    if (type === 'json') return JSON.stringify(respell(data, this.toSnake));
    return this.masto.serialize(type as 'json' | 'querystring', data);
  }

  deserialize<T = Record<string, unknown>>(type: Encoding, data: unknown): T {
    if (type === 'json' && typeof data === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        // masto's own error for a body that is not JSON.
        return this.masto.deserialize<T>(type, data);
      }
      return respell(parsed, this.toCamel) as T;
    }
    return this.masto.deserialize<T>(type, data as string);
  }
}

/** `rest` over a dispatcher: what masto's `createActionProxy(dispatcher, { context: ['api'] })` makes. */
export function restProxy(dispatcher: ActionDispatcher<AnyAction>): mastodon.rest.Client {
  return actionProxy(dispatcher, ['api'], rememberingCase(snakeCase), false) as mastodon.rest.Client;
}

export interface MastodonClientProps extends MastoHttpConfigProps {
  readonly log?: LogType;
  readonly mediaTimeout?: number;
}

export interface MastodonClient {
  readonly rest: mastodon.rest.Client;
}

/** masto's REST client; JSON requests go over node:http(s) (patches/mastodon-http.ts), forms through masto's fetch. */
export function createMastodonClient(props: MastodonClientProps): MastodonClient {
  const serializer = new RememberingSerializer();
  const config = new HttpConfigImpl(props, serializer);
  const native = new HttpNativeImpl(serializer, config, createLogger(props.log));
  const http = new NodeHttp(serializer, config, props, native);
  const dispatcher = new HttpActionDispatcher(
    http,
    new HttpActionDispatcherHookMastodon(http, props.mediaTimeout),
  );
  return {
    rest: restProxy(dispatcher),
  };
}
