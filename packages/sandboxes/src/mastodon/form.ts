/**
 * Rails-style form keys (`media_ids[]`, `fields_attributes[0][name]`) turned into nested values,
 * the way Mastodon's Rails reads them, whether they came as multipart or url-encoded fields.
 */

export type FormValue = string | FormValue[] | { [key: string]: FormValue };

function keyPath(key: string): string[] {
  const first = /^[^[]+/.exec(key)?.[0] ?? key;
  const path = [first];
  for (const match of key.slice(first.length).matchAll(/\[([^\]]*)\]/g)) path.push(match[1] ?? '');
  return path;
}

/** Nests `[name, value]` pairs by their bracketed keys; `[]` collects values into an array. */
export function nestFormFields(pairs: Iterable<[string, string]>): Record<string, FormValue> {
  const root: Record<string, FormValue> = {};
  for (const [key, value] of pairs) {
    const path = keyPath(key);
    let node: Record<string, FormValue> = root;
    for (let i = 0; i < path.length; i++) {
      const part = path[i] ?? '';
      const next = path[i + 1];
      if (next === undefined) {
        node[part] = value;
        break;
      }
      if (next === '') {
        const list = node[part];
        if (Array.isArray(list)) list.push(value);
        else node[part] = [value];
        break;
      }
      const child = node[part];
      if (child === undefined || typeof child === 'string' || Array.isArray(child)) {
        const created: Record<string, FormValue> = {};
        node[part] = created;
        node = created;
      } else {
        node = child;
      }
    }
  }
  return root;
}

/** `[key, value]` pairs of a url-encoded body as @fastify/formbody parses it. */
export function pairsOf(body: Record<string, unknown>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(body)) {
    if (Array.isArray(value)) for (const v of value) pairs.push([key, String(v)]);
    else if (value !== undefined && value !== null) pairs.push([key, String(value)]);
  }
  return pairs;
}

/** Form booleans as Rails casts them ("1", "true", "on" are true). */
export function formBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  return ['1', 'true', 't', 'on'].includes(value.toLowerCase());
}

export function formString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function formList(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.map(String);
  if (value && typeof value === 'object') return Object.values(value).map(String);
  if (typeof value === 'string') return [value];
  return undefined;
}
