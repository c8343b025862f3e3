/**
 * masto's REST client, put together from masto's own parts as its `createRestAPIClient` does,
 * with one difference: the serializer remembers how each JSON key is spelt in the other case.
 *
 * masto turns every key of every response into camelCase (and every request key into
 * snake_case) with change-case, one key at a time. A Mastodon status carries its account, its
 * application and more: some 150 keys, all from the same few dozen field names. Converting each
 * afresh took about 0.6 ms of CPU per posted status, more than the rest of the Mastodon request;
 * with the spellings remembered it is a map lookup per key. The rules stay masto's: keys with a
 * `:` (preferences) and keys that start with `_` (`_destroy` in filters) are left as they are.
 */
import { camelCase, snakeCase } from 'change-case';
import type { mastodon } from 'masto';
import { createActionProxy, HttpActionDispatcher } from 'masto/adapters/action/index.js';
import { HttpActionDispatcherHookMastodon } from 'masto/adapters/action/dispatcher-http-hook-mastodon.js';
import { HttpConfigImpl, type MastoHttpConfigProps } from 'masto/adapters/config/index.js';
import { HttpNativeImpl } from 'masto/adapters/http/index.js';
import { createLogger } from 'masto/adapters/logger/index.js';
import { SerializerNativeImpl } from 'masto/adapters/serializers/index.js';
import type { Encoding, LogType, Serializer } from 'masto/interfaces/index.js';
import { NodeHttp } from './http.ts';

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
  // fromEntries defines own properties: a "__proto__" key stays a key.
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [spell(key), respell(value, spell)]));
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

export interface MastodonClientProps extends MastoHttpConfigProps {
  readonly log?: LogType;
  readonly mediaTimeout?: number;
}

export interface MastodonClient {
  readonly rest: mastodon.rest.Client;
  /** Closes the kept-alive connections. */
  close(): void;
}

/** masto's REST client; JSON requests go over node:http(s) (http.ts), forms through masto's fetch. */
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
    rest: createActionProxy<mastodon.rest.Client>(dispatcher, { context: ['api'] }),
    close: () => http.close(),
  };
}
