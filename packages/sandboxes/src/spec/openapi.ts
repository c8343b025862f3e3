/**
 * Checks what a sandbox server received and sent against the networks' published OpenAPI
 * documents, so a fake X or Mastodon cannot drift from the real API unnoticed.
 *
 * Built on Ajv directly rather than openapi-backend: its `init()` is asynchronous (this API is
 * synchronous) and dereferences the whole document, it compiles every operation up front unless
 * in quick mode, it validates a body against the JSON media type whatever the request's content
 * type, and its Ajv is draft-07 even for Mastodon's OpenAPI 3.1 document.
 *
 * Loading parses the document, rewrites its schemas once into plain JSON Schema (see
 * `normalizeDocument`) and indexes its paths. An operation's validators are compiled on its
 * first check and reused; components are registered with Ajv as compiled schemas reach them,
 * and one compiled for an operation serves all the others.
 *
 * One file of almost 1,000 lines: the document's normalisation, the path index and the checks
 * are one pipeline over the same loosely typed document, used only through `checkExchange`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

export type SpecName = 'x' | 'mastodon';

export interface LoadedSpec {
  name: SpecName;
  /** The document this was read from. */
  file: string;
  /** The document's `openapi` version, e.g. "3.0.0". */
  openapi: string;
  /** Time spent reading, parsing and indexing the document (validators compile later). */
  loadMs: number;
}

export interface Exchange {
  method: string;
  /** Without the query string, e.g. "/2/tweets" or "/api/v1/statuses/123". */
  path: string;
  query?: Record<string, string | string[]>;
  /** Request headers; the content type decides which request body schema applies. */
  headers?: Record<string, string | string[] | undefined>;
  /**
   * The parsed request body: a JSON value, or the fields of a form as an object; in a multipart
   * body a file is `{ filename, mimetype, size }`.
   */
  body?: unknown;
  status: number;
  responseHeaders?: Record<string, string | string[] | undefined>;
  /** The parsed JSON response; left out, the response body is not checked. */
  responseBody?: unknown;
}

const FILES: Record<SpecName, string> = {
  x: 'x-api-v2-openapi.json',
  mastodon: 'mastodon-openapi.json',
};

const TITLES: Record<SpecName, string> = { x: 'X', mastodon: 'Mastodon' };

/**
 * What each server accepts beyond its document. Mastodon is a Rails application: every endpoint
 * reads its parameters the same way from JSON, form and multipart bodies, and ignores query
 * parameters it does not know, while its document only lists JSON bodies. X's v2 API takes the
 * encodings its document lists and answers 400 to unknown query parameters.
 */
interface Policy {
  anyBodyEncoding: boolean;
  rejectUnknownQuery: boolean;
}

const POLICIES: Record<SpecName, Policy> = {
  x: { anyBodyEncoding: false, rejectUnknownQuery: true },
  mastodon: { anyBodyEncoding: true, rejectUnknownQuery: false },
};

// The repository root is four directories up from src/testing (and from dist/testing); the
// specs sit beside it, in ../shared/specs.
/** SUNSET_SPECS_DIR, else `shared/specs` beside the repository (a clone elsewhere names it). */
export function specsDir(): string {
  // Test tooling, not a service: no config module stands between it and the environment.
  // eslint-disable-next-line no-restricted-properties
  const named = process.env['SUNSET_SPECS_DIR'];
  if (named) return resolve(named);
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', '..', '..', '..', 'shared', 'specs');
}

function specFile(name: SpecName): string {
  return join(specsDir(), FILES[name]);
}

export function specMissingReason(name: SpecName): string | undefined {
  const file = specFile(name);
  return existsSync(file) ? undefined : `${file} not found: spec checks skipped`;
}

// ---------------------------------------------------------------------------------------------
// The document, loosely typed: only what the checker reads.

type Node = Record<string, unknown>;

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  style?: string;
  explode?: boolean;
}

interface MediaType {
  schema?: unknown;
}

interface RequestBody {
  required?: boolean;
  content?: Record<string, MediaType>;
}

interface ResponseObject {
  content?: Record<string, MediaType>;
}

interface Operation {
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}

interface Document {
  openapi: string;
  paths?: Record<string, Node>;
  components?: Record<string, Record<string, unknown> | undefined>;
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

interface Route {
  template: string;
  item: Node;
  segments: Segment[];
  /** One digit per segment, 0 for a literal one: the smallest key is the most specific route. */
  rank: string;
}

type Segment = { literal: string } | { pattern: RegExp; names: string[] };

type AnyAjv = Ajv | Ajv2020;

interface Prepared {
  parameters: Parameter[];
  path?: ValidateFunction;
  query?: ValidateFunction;
}

interface Internals {
  doc: Document;
  routes: Route[];
  policy: Policy;
  baseId: string;
  dialect: '3.0' | '3.1';
  /** Ajv without coercion, for JSON bodies; built on first use. */
  plain?: Engine;
  /** Ajv that turns strings into the numbers, booleans and lists a schema asks for. */
  coercing?: Engine;
  operations: Map<Operation, Prepared>;
}

const internals = new WeakMap<LoadedSpec, Internals>();
const loaded = new Map<SpecName, LoadedSpec | undefined>();

export function loadSpec(name: SpecName): LoadedSpec | undefined {
  if (loaded.has(name)) return loaded.get(name);
  const file = specFile(name);
  if (!existsSync(file)) {
    loaded.set(name, undefined);
    return undefined;
  }
  const started = performance.now();
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Document;
  const baseId = `https://openapi.invalid/${name}/`;
  normalizeDocument(doc, baseId);
  const spec: LoadedSpec = {
    name,
    file,
    openapi: doc.openapi,
    loadMs: 0,
  };
  internals.set(spec, {
    doc,
    routes: indexRoutes(doc),
    policy: POLICIES[name],
    baseId,
    dialect: doc.openapi.startsWith('3.0') ? '3.0' : '3.1',
    operations: new Map(),
  });
  spec.loadMs = performance.now() - started;
  loaded.set(name, spec);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Normalization: the document's schemas become plain JSON Schema that Ajv reads as intended.

/**
 * Rewrites, in place, every schema of the document (components, parameters, bodies,
 * responses) so that Ajv can compile any of them on its own:
 * - `$ref`s become absolute ids of components registered one by one, so a component compiled
 *   for one operation is reused by the others;
 * - nullability (3.0 `nullable: true`, 3.1 `type: [..., "null"]`) also admits null when the
 *   schema is a `$ref`, a composition or an enum, which the document's authors plainly meant
 *   ("nullable enum", "nullable reference") but JSON Schema would reject;
 * - `oneOf` becomes `anyOf`: both documents use it for "one of these shapes" with overlapping
 *   shapes (a Mastodon status with text and media matches TextStatus and MediaStatus), and
 *   X's discriminated unions stay exclusive through their `type` enums anyway;
 * - `discriminator` is dropped (Ajv's support refuses `mapping`, and `anyOf` covers it).
 */
function normalizeDocument(doc: Document, baseId: string): void {
  const seen = new WeakSet<object>();
  const schema = (s: unknown) => normalizeSchema(s, baseId, seen);
  const content = (c: unknown) => {
    if (!isNode(c)) return;
    for (const media of Object.values(c)) if (isNode(media)) schema(media.schema);
  };
  const parameters = (ps: unknown) => {
    if (!Array.isArray(ps)) return;
    for (const p of ps) if (isNode(p)) schema(p.schema);
  };
  for (const item of Object.values(doc.paths ?? {})) {
    parameters(item.parameters);
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method) || !isNode(op)) continue;
      parameters(op.parameters);
      if (isNode(op.requestBody)) content(op.requestBody.content);
      for (const r of Object.values(isNode(op.responses) ? op.responses : {})) {
        if (isNode(r)) content(r.content);
      }
    }
  }
  const c = doc.components ?? {};
  for (const s of Object.values(c.schemas ?? {})) schema(s);
  for (const p of Object.values(c.parameters ?? {})) if (isNode(p)) schema(p.schema);
  for (const b of Object.values(c.requestBodies ?? {})) if (isNode(b)) content(b.content);
  for (const r of Object.values(c.responses ?? {})) if (isNode(r)) content(r.content);
}

/** Keywords whose value is a schema. */
const SUBSCHEMA = [
  'items',
  'additionalItems',
  'additionalProperties',
  'unevaluatedItems',
  'unevaluatedProperties',
  'propertyNames',
  'contains',
  'not',
  'if',
  'then',
  'else',
];
/** Keywords whose value is a list of schemas. */
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
/** Keywords whose value maps names to schemas. */
const SCHEMA_MAPS = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'];

function normalizeSchema(s: unknown, baseId: string, seen: WeakSet<object>): void {
  if (!isNode(s) || seen.has(s)) return;
  seen.add(s);
  if (typeof s.$ref === 'string') s.$ref = absoluteRef(s.$ref, baseId);
  delete s.discriminator;
  admitNull(s);
  if (Array.isArray(s.oneOf)) {
    const oneOf = s.oneOf;
    delete s.oneOf;
    if (Array.isArray(s.anyOf)) s.allOf = [...(Array.isArray(s.allOf) ? s.allOf : []), { anyOf: oneOf }];
    else s.anyOf = oneOf;
  }
  for (const k of SUBSCHEMA) normalizeSchema(s[k], baseId, seen);
  for (const k of SCHEMA_LISTS) {
    const list = s[k];
    if (Array.isArray(list)) for (const item of list) normalizeSchema(item, baseId, seen);
  }
  for (const k of SCHEMA_MAPS) {
    const map = s[k];
    if (isNode(map)) for (const item of Object.values(map)) normalizeSchema(item, baseId, seen);
  }
  // Draft-07 tuples: `items` as a list.
  if (Array.isArray(s.items)) for (const item of s.items) normalizeSchema(item, baseId, seen);
}

function admitNull(s: Node): void {
  const types = Array.isArray(s.type) ? (s.type as unknown[]) : s.type === undefined ? [] : [s.type];
  const nullable = s.nullable === true || types.includes('null');
  delete s.nullable;
  if (!nullable) return;
  const composed = ['$ref', 'allOf', 'anyOf', 'oneOf'].some((k) => k in s);
  if (composed) {
    // Everything but annotations moves into a branch beside null.
    const inner: Node = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === 'description' || k === 'title') continue;
      inner[k] = v;
      delete s[k];
    }
    const rest = types.filter((t) => t !== 'null');
    if (rest.length === 0) delete inner.type;
    else inner.type = rest.length === 1 ? rest[0] : rest;
    s.anyOf = [{ type: 'null' }, inner];
    return;
  }
  if (types.length === 0) return; // a 3.0 `nullable` without a type already admits anything
  if (!types.includes('null')) s.type = [...types, 'null'];
  if (Array.isArray(s.enum) && !s.enum.includes(null)) s.enum = [...(s.enum as unknown[]), null];
}

/** "#/components/schemas/Status" → "https://openapi.invalid/mastodon/schemas/Status". */
function absoluteRef(ref: string, baseId: string): string {
  if (!ref.startsWith('#/')) return ref;
  const parts = ref.slice(2).split('/');
  if (parts[0] === 'components' && parts[1] === 'schemas' && parts[2] !== undefined) {
    const rest = parts.slice(3);
    return `${baseId}schemas/${parts[2]}${rest.length > 0 ? `#/${rest.join('/')}` : ''}`;
  }
  return `${baseId}document#${ref.slice(1)}`;
}

/** An Ajv instance and the components registered with it so far. */
interface Engine {
  ajv: AnyAjv;
  registered: Set<string>;
  /** Schemas whose references have all been registered. */
  ready: WeakSet<object>;
}

function makeEngine(inn: Internals, coerce: boolean): Engine {
  const options: Options = {
    // The documents use keywords Ajv does not know (example, x-*, OpenAPI formats…): ignored.
    strict: false,
    allErrors: true,
    // Errors keep their data and schema, to explain a failed `anyOf`.
    verbose: true,
    validateSchema: false,
    logger: false,
    ...(coerce ? { coerceTypes: 'array' as const } : {}),
  };
  const ajv: AnyAjv = inn.dialect === '3.0' ? new Ajv(options) : new Ajv2020(options);
  addFormats(ajv);
  return { ajv, registered: new Set(), ready: new WeakSet() };
}

/**
 * Compiles a schema of the document. Components are registered with Ajv only when a schema
 * being compiled reaches them: registering all of X's 512 up front costs 35 ms per instance.
 * Ajv keeps compiled schemas by object identity, so compiling the same object again is a
 * lookup, and a component compiled for one operation serves every other.
 */
function compile(inn: Internals, engine: Engine, schema: unknown): ValidateFunction {
  if (isNode(schema) && !engine.ready.has(schema)) {
    register(inn, engine, schema);
    engine.ready.add(schema);
  }
  return engine.ajv.compile(schema as Node | boolean);
}

function register(inn: Internals, engine: Engine, root: Node): void {
  const stack: unknown[] = [root];
  const seen = new WeakSet<object>();
  const push = (v: unknown) => {
    if (isNode(v) && !seen.has(v)) {
      seen.add(v);
      stack.push(v);
    }
  };
  while (stack.length > 0) {
    const s = stack.pop();
    if (!isNode(s)) continue;
    if (typeof s.$ref === 'string' && s.$ref.startsWith(inn.baseId)) {
      const id = s.$ref.slice(inn.baseId.length).split('#')[0] ?? '';
      if (!engine.registered.has(id)) {
        engine.registered.add(id);
        // Anything a `$ref` reaches outside components/schemas resolves inside the whole
        // document (Ajv does not walk into its non-schema keys, so registering it is cheap).
        const target =
          id === 'document' ? inn.doc : inn.doc.components?.schemas?.[id.slice('schemas/'.length)];
        if (isNode(target) || typeof target === 'boolean') engine.ajv.addSchema(target, `${inn.baseId}${id}`);
      }
      push(schemaTarget(inn, s));
    }
    for (const k of SUBSCHEMA) push(s[k]);
    for (const k of [...SCHEMA_LISTS, 'items']) {
      const list = s[k];
      if (Array.isArray(list)) list.forEach(push);
    }
    for (const k of SCHEMA_MAPS) {
      const map = s[k];
      if (isNode(map)) Object.values(map).forEach(push);
    }
  }
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The formats the two documents use (ajv-formats is not a dependency here). Others, e.g.
 * Mastodon's "iso-639-1" and "scopes", pass: an unknown format must never fail a check.
 */
function addFormats(ajv: AnyAjv): void {
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
  });
  ajv.addFormat('date', {
    type: 'string',
    validate: (s: string) => DATE.test(s) && !Number.isNaN(Date.parse(s)),
  });
  ajv.addFormat('uri', { type: 'string', validate: (s: string) => URL.canParse(s) });
  ajv.addFormat('email', { type: 'string', validate: (s: string) => /^[^\s@]+@[^\s@]+$/.test(s) });
  ajv.addFormat('byte', { type: 'string', validate: (s: string) => BASE64.test(s) });
  ajv.addFormat('binary', { type: 'string', validate: () => true });
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  // Ids beyond 2^53 arrive rounded: only integrality can be checked.
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  for (const f of ['float', 'double']) ajv.addFormat(f, { type: 'number', validate: () => true });
  for (const f of ['iso-639-1', 'scopes', 'password', 'uuid', 'url', 'uri-reference', 'hostname']) {
    ajv.addFormat(f, true);
  }
}

function plain(inn: Internals): Engine {
  inn.plain ??= makeEngine(inn, false);
  return inn.plain;
}

function coercing(inn: Internals): Engine {
  inn.coercing ??= makeEngine(inn, true);
  return inn.coercing;
}

// ---------------------------------------------------------------------------------------------
// Routing.

function indexRoutes(doc: Document): Route[] {
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(doc.paths ?? {})) {
    const segments = template
      .split('/')
      .slice(1)
      .map((seg): Segment => {
        if (!seg.includes('{')) return { literal: seg };
        const names: string[] = [];
        const source = seg
          .split(/(\{[^}]+\})/)
          .map((part) => {
            const m = /^\{([^}]+)\}$/.exec(part);
            if (!m?.[1]) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            names.push(m[1]);
            return '([^/]+)';
          })
          .join('');
        return { pattern: new RegExp(`^${source}$`), names };
      });
    const rank = segments.map((s) => ('literal' in s ? '0' : '1')).join('');
    routes.push({ template, item, segments, rank });
  }
  return routes;
}

interface Match {
  route: Route;
  params: Record<string, string>;
}

function matchRoute(routes: Route[], path: string, method: string): Match | undefined {
  const parts = path.split('/').slice(1);
  let best: Match | undefined;
  for (const route of routes) {
    if (route.segments.length !== parts.length || !isNode(route.item[method])) continue;
    const params: Record<string, string> = {};
    const ok = route.segments.every((seg, i) => {
      const part = parts[i] ?? '';
      if ('literal' in seg) return seg.literal === part;
      const m = seg.pattern.exec(part);
      if (!m) return false;
      seg.names.forEach((n, j) => (params[n] = safeDecode(m[j + 1] ?? '')));
      return true;
    });
    if (ok && (!best || route.rank < best.route.rank)) best = { route, params };
  }
  return best;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Checking an exchange.

export function checkExchange(spec: LoadedSpec, exchange: Exchange): string[] {
  const inn = internals.get(spec);
  if (!inn) throw new TypeError('checkExchange: pass a spec returned by loadSpec');
  const method = exchange.method.toLowerCase();
  const path = exchange.path.split('?')[0] ?? exchange.path;
  const label = `${exchange.method.toUpperCase()} ${path}`;
  const match = matchRoute(inn.routes, path, method);
  if (!match) return [`${label} is not in the ${TITLES[spec.name]} spec`];
  const op = match.route.item[method] as Operation;
  const prepared = prepare(inn, match.route, op);
  return [
    ...checkParameters(inn, prepared, label, match.params, exchange.query ?? {}),
    ...checkRequestBody(inn, op, label, exchange),
    ...checkResponse(inn, op, label, exchange),
  ];
}

/** Resolves `$ref`s to OpenAPI objects (parameters, bodies, responses) within the document. */
function deref(inn: Internals, value: unknown): unknown {
  let v = value;
  for (let hops = 0; isNode(v) && typeof v.$ref === 'string' && hops < 20; hops++) {
    v = pointer(inn.doc, v.$ref);
  }
  return v;
}

function pointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let v: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = safeDecode(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    v = isNode(v) || Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/** A schema `$ref` (absolute after normalization) back to its object. */
function schemaTarget(inn: Internals, s: unknown): unknown {
  let v = s;
  for (let hops = 0; isNode(v) && typeof v.$ref === 'string' && hops < 20; hops++) {
    const ref = v.$ref;
    if (!ref.startsWith(inn.baseId)) return v;
    const [id = '', fragment] = ref.slice(inn.baseId.length).split('#');
    const root = id === 'document' ? inn.doc : inn.doc.components?.schemas?.[id.slice('schemas/'.length)];
    v = fragment ? pointer(root, `#${fragment}`) : root;
  }
  return v;
}

function prepare(inn: Internals, route: Route, op: Operation): Prepared {
  const cached = inn.operations.get(op);
  if (cached) return cached;
  // Operation parameters override path-level ones of the same name and place.
  const byKey = new Map<string, Parameter>();
  for (const raw of [...asArray(route.item.parameters), ...asArray(op.parameters)]) {
    const p = deref(inn, raw);
    if (isNode(p) && typeof p.name === 'string' && typeof p.in === 'string') {
      byKey.set(`${p.in}:${p.name}`, p as unknown as Parameter);
    }
  }
  const parameters = [...byKey.values()];
  const objectSchema = (where: string) => {
    const ps = parameters.filter((p) => p.in === where);
    if (ps.length === 0) return undefined;
    return {
      type: 'object',
      properties: Object.fromEntries(ps.map((p) => [p.name, p.schema ?? {}])),
      required: ps.filter((p) => p.required === true || where === 'path').map((p) => p.name),
    };
  };
  const pathSchema = objectSchema('path');
  const querySchema = objectSchema('query');
  const compileParams = (schema: Node) => compile(inn, coercing(inn), schema);
  // Header parameters are not checked: Mastodon's document types its Idempotency-Key header
  // as an object, and HTTP clients add headers of their own.
  const prepared: Prepared = {
    parameters,
    ...(pathSchema ? { path: compileParams(pathSchema) } : {}),
    ...(querySchema ? { query: compileParams(querySchema) } : {}),
  };
  inn.operations.set(op, prepared);
  return prepared;
}

function checkParameters(
  inn: Internals,
  prepared: Prepared,
  label: string,
  pathParams: Record<string, string>,
  query: Record<string, string | string[]>,
): string[] {
  const problems: string[] = [];
  if (prepared.path) {
    problems.push(
      ...explain(inn, coercing(inn), prepared.path, { ...pathParams }).map((e) => `${label} path: ${e}`),
    );
  }
  const values: Record<string, unknown> = {};
  const used = new Set<string>();
  for (const p of prepared.parameters.filter((x) => x.in === 'query')) {
    // Rails clients (Mastodon's) send lists as `name[]=a&name[]=b`.
    const key = [p.name, `${p.name}[]`, p.name.replace(/\[\]$/, '')].find((k) => query[k] !== undefined);
    if (key === undefined) continue;
    used.add(key);
    let value: unknown = query[key];
    const target = schemaTarget(inn, p.schema);
    const wantsList = isNode(target) && (target.type === 'array' || asArray(target.type).includes('array'));
    // style: form, explode: false → "a,b,c".
    if (wantsList && p.explode === false && typeof value === 'string') value = value.split(',');
    values[p.name] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  if (prepared.query) {
    problems.push(...explain(inn, coercing(inn), prepared.query, values).map((e) => `${label} query: ${e}`));
  }
  if (inn.policy.rejectUnknownQuery) {
    for (const key of Object.keys(query)) {
      if (!used.has(key)) problems.push(`${label} query parameter ${key} is not in the spec`);
    }
  }
  return problems;
}

function checkRequestBody(inn: Internals, op: Operation, label: string, ex: Exchange): string[] {
  const declared = deref(inn, op.requestBody);
  const body = ex.body === '' ? undefined : ex.body;
  if (!isNode(declared)) {
    // Clients often send "{}" or nothing to action endpoints; only real content is a violation.
    return isEmptyBody(body) ? [] : [`${label} request has a body but the spec defines none`];
  }
  const { required, content = {} } = declared as RequestBody;
  if (body === undefined || body === null) {
    return required === true ? [`${label} request body is required`] : [];
  }
  const offered = Object.keys(content);
  const sent = mediaType(header(ex.headers, 'content-type'));
  const key =
    sent === undefined
      ? (findMedia(offered, 'application/json') ?? offered[0])
      : pickMedia(inn, offered, sent);
  if (key === undefined) {
    return [
      `${label} request content type ${sent} is not in the spec (it lists ${offered.join(', ') || 'none'})`,
    ];
  }
  const schema = content[key]?.schema;
  if (schema === undefined) return [];
  const where = `${label} request body`;
  const encoding = sent ?? mediaType(key);
  if (encoding !== 'application/x-www-form-urlencoded' && encoding !== 'multipart/form-data') {
    return validate(inn, plain(inn), schema, body).map((e) => `${where}: ${e}`);
  }
  const problems: string[] = [];
  const fields = formFields(body, encoding === 'multipart/form-data', (field, message) =>
    problems.push(`${where}: /${field} ${message}`),
  );
  problems.push(...validate(inn, coercing(inn), schema, fields).map((e) => `${where}: ${e}`));
  return problems;
}

/** The document's media type for the request's, or, for Mastodon, any encoding it reads alike. */
function pickMedia(inn: Internals, offered: string[], sent: string): string | undefined {
  const exact = findMedia(offered, sent);
  if (exact !== undefined || !inn.policy.anyBodyEncoding || !BODY_ENCODINGS.includes(sent)) return exact;
  return BODY_ENCODINGS.map((t) => findMedia(offered, t)).find((k) => k !== undefined);
}

const BODY_ENCODINGS = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'];

function checkResponse(inn: Internals, op: Operation, label: string, ex: Exchange): string[] {
  const responses = op.responses ?? {};
  const status = String(ex.status);
  const key = [status, `${status[0] ?? ''}XX`, `${status[0] ?? ''}xx`, 'default'].find((k) => k in responses);
  if (key === undefined) return [`${label} response status ${status} is not in the spec`];
  const response = deref(inn, responses[key]) as ResponseObject | undefined;
  const content = response?.content ?? {};
  const offered = Object.keys(content);
  // A response the spec gives no content, or a body the caller did not capture: nothing to check.
  if (offered.length === 0 || ex.responseBody === undefined) return [];
  const where = `${label} response ${status} body`;
  const sent = mediaType(header(ex.responseHeaders, 'content-type'));
  if (sent !== undefined) {
    const media = findMedia(offered, sent);
    if (media === undefined) {
      return [
        `${label} response ${status} content type ${sent} is not in the spec (it lists ${offered.join(', ')})`,
      ];
    }
    const schema = content[media]?.schema;
    if (schema === undefined || !isJson(media)) return [];
    return validate(inn, plain(inn), schema, ex.responseBody).map((e) => `${where}: ${e}`);
  }
  // No content type given: the body passes if it fits any JSON representation, else the
  // problems against the first one (application/json when listed) are reported.
  const candidates = offered
    .filter(isJson)
    .sort((a, b) => Number(b === 'application/json') - Number(a === 'application/json'))
    .map((m) => content[m]?.schema)
    .filter((s) => s !== undefined);
  let first: string[] | undefined;
  for (const schema of candidates) {
    const problems = validate(inn, plain(inn), schema, ex.responseBody);
    if (problems.length === 0) return [];
    first ??= problems;
  }
  return (first ?? []).map((e) => `${where}: ${e}`);
}

// ---------------------------------------------------------------------------------------------
// Form bodies.

/** What a file part stands for when it has no name. */
const FILE_MARKER = 'file';

interface FilePart {
  filename: string;
  mimetype: string;
  size?: number;
}

function isFile(v: unknown): v is FilePart {
  return isNode(v) && typeof v.filename === 'string' && typeof v.mimetype === 'string';
}

/**
 * Form fields arrive as strings (the coercing Ajv turns them into what the schema wants) with
 * Rails-style names, "media_ids[]" or "poll[options][]", which become nested values. A file
 * part is a string of bytes in the OpenAPI model: it stands in for any string, whether the
 * schema says `format: binary` or, like Mastodon's update_credentials avatar, just `string`.
 */
function formFields(
  body: unknown,
  multipart: boolean,
  report: (field: string, message: string) => void,
): Record<string, unknown> {
  let flat: Record<string, unknown>;
  if (typeof body === 'string') {
    flat = {};
    for (const [k, v] of new URLSearchParams(body)) {
      const prev = flat[k];
      flat[k] = prev === undefined ? v : Array.isArray(prev) ? [...(prev as unknown[]), v] : [prev, v];
    }
  } else if (isNode(body)) {
    flat = cloneData(body);
  } else {
    return body as Record<string, unknown>;
  }
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(flat)) {
    const value = Array.isArray(raw)
      ? raw.map((v) => filePart(v, name, multipart, report))
      : filePart(raw, name, multipart, report);
    assignField(out, name, value);
  }
  return out;
}

function filePart(
  v: unknown,
  name: string,
  multipart: boolean,
  report: (f: string, m: string) => void,
): unknown {
  if (!isFile(v)) return v;
  if (!multipart) report(name, 'is a file, which only a multipart body can carry');
  else if (v.size !== undefined && !(Number.isInteger(v.size) && v.size >= 0)) {
    report(name, 'is a file whose size is not a whole number of bytes');
  }
  return v.filename || FILE_MARKER;
}

function assignField(out: Record<string, unknown>, name: string, value: unknown): void {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])+)$/.exec(name);
  if (!m?.[1] || !m[2]) {
    out[name] = value;
    return;
  }
  const keys = [m[1], ...Array.from(m[2].matchAll(/\[([^[\]]*)\]/g), (x) => x[1] ?? '')];
  let target: Record<string, unknown> | unknown[] = out;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? '';
    const last = i === keys.length - 1;
    if (Array.isArray(target)) {
      // "a[][b]": each value opens a new element.
      if (last) target.push(...(Array.isArray(value) ? value : [value]));
      else {
        const next: Record<string, unknown> = {};
        target.push(next);
        target = next;
      }
      continue;
    }
    if (last) {
      target[key] = value;
      continue;
    }
    const wantsList = keys[i + 1] === '';
    const existing = target[key];
    if (wantsList ? Array.isArray(existing) : isNode(existing)) {
      target = existing as Record<string, unknown> | unknown[];
    } else {
      const next: Record<string, unknown> | unknown[] = wantsList ? [] : {};
      target[key] = next;
      target = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors into sentences.

/**
 * Validates and returns one sentence per problem. Ajv reports every failed branch of an
 * `anyOf`; a branch's errors come right before the `anyOf` error, as many as the branch
 * yields alone. Each failed union is replaced by the errors of its closest branch (the one
 * with fewest errors), or by one sentence naming the branches when several are as close.
 */
function validate(inn: Internals, engine: Engine, schema: unknown, data: unknown): string[] {
  return explain(inn, engine, compile(inn, engine, schema), data);
}

function explain(inn: Internals, engine: Engine, fn: ValidateFunction, data: unknown): string[] {
  if (fn(data)) return [];
  return describe(inn, engine, fn.errors ?? [], '');
}

function describe(inn: Internals, engine: Engine, errors: ErrorObject[], prefix: string): string[] {
  // Ranges [start, end] of `errors` that a union's explanation replaces, outermost only.
  const unions: { start: number; end: number; lines: string[] }[] = [];
  errors.forEach((e, end) => {
    if (e.keyword !== 'anyOf') return;
    const branches = Array.isArray(e.schema) ? (e.schema as unknown[]) : [];
    const results = branches.map((b) => {
      const v = compile(inn, engine, b);
      return v(cloneData(e.data)) ? [] : [...(v.errors ?? [])];
    });
    const count = results.reduce((n, r) => n + r.length, 0);
    let start = end - count;
    if (start < 0 || !errors.slice(start, end).every((x) => within(x.instancePath, e.instancePath))) {
      // Coercion may have changed the data since: fall back to the errors under the union.
      start = end;
      while (start > 0 && within(errors[start - 1]?.instancePath ?? '', e.instancePath)) start--;
    }
    // Unions found earlier inside this one's range are covered by its explanation.
    while ((unions.at(-1)?.start ?? -1) >= start) unions.pop();
    unions.push({ start, end, lines: unionLines(inn, engine, e, branches, results, prefix) });
  });
  const out: string[] = [];
  let next = 0;
  for (const u of unions) {
    out.push(...errors.slice(next, u.start).map((e) => sentence(e, prefix)), ...u.lines);
    next = u.end + 1;
  }
  out.push(...errors.slice(next).map((e) => sentence(e, prefix)));
  return [...new Set(out)];
}

function unionLines(
  inn: Internals,
  engine: Engine,
  e: ErrorObject,
  branches: unknown[],
  results: ErrorObject[][],
  prefix: string,
): string[] {
  // Closest: fewest errors, then fewest at the union's own level (a branch that failed only
  // deep inside got further than one whose required properties are missing).
  const score = (r: ErrorObject[]) => r.length * 1000 + r.filter((x) => x.instancePath === '').length;
  const fewest = Math.min(...results.map(score));
  const closest = results.flatMap((r, i) => (score(r) === fewest ? [i] : []));
  const at = prefix + e.instancePath;
  const first = closest[0];
  const best = first === undefined ? undefined : results[first];
  if (first === undefined || !best) return [`${at ? `${at} ` : ''}${e.message ?? 'matches no schema'}`];
  const lines = describe(inn, engine, best, at);
  if (closest.length === 1) return lines;
  const names = closest.map((i) => branchName(branches[i], i));
  const listed = names.length > 4 ? `${names.slice(0, 4).join(', ')}…` : names.join(', ');
  return [
    `${at ? `${at} ` : ''}matches none of its ${branches.length} allowed shapes; closest are ${listed}, e.g. ${names[0] ?? ''}: ${lines[0] ?? ''}`,
  ];
}

function branchName(b: unknown, i: number): string {
  if (!isNode(b)) return `#${i}`;
  if (typeof b.$ref === 'string') return safeDecode(b.$ref.split(/[/#]/).pop() ?? `#${i}`);
  if (typeof b.title === 'string') return b.title;
  if (typeof b.type === 'string') return b.type;
  return `#${i}`;
}

function within(path: string, parent: string): boolean {
  return parent === '' || path === parent || path.startsWith(`${parent}/`);
}

function sentence(e: ErrorObject, prefix: string): string {
  const at = prefix + e.instancePath;
  const params = e.params as Record<string, unknown>;
  let message = e.message ?? e.keyword;
  switch (e.keyword) {
    case 'additionalProperties':
      message = `must not have the property '${String(params.additionalProperty)}'`;
      break;
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? (params.allowedValues as unknown[]) : [];
      const listed =
        allowed.length <= 8
          ? show(allowed, 200)
          : `${allowed.length} values (${allowed
              .slice(0, 4)
              .map((v) => show(v))
              .join(', ')}, …)`;
      message = `must be one of ${listed}, not ${show(e.data)}`;
      break;
    }
    case 'const':
      message = `must be ${show(params.allowedValue)}, not ${show(e.data)}`;
      break;
    case 'type':
    case 'format':
    case 'pattern':
      message = `${message}, not ${show(e.data)}`;
      break;
  }
  return `${at ? `${at} ` : ''}${message}`;
}

function show(v: unknown, max = 60): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

function isEmptyBody(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (isNode(v) && Object.keys(v).length === 0);
}

function isJson(media: string): boolean {
  return media === 'application/json' || media.endsWith('+json') || media === '*/*';
}

function header(headers: Exchange['headers'], name: string): string | undefined {
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

function mediaType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t ? t : undefined;
}

/** The document's key for a sent media type: exact first, then "type/*", then "*\/*". */
function findMedia(offered: string[], sent: string): string | undefined {
  const norm = offered.map((o) => [o, mediaType(o) ?? o] as const);
  const major = sent.split('/')[0];
  return (
    norm.find(([, m]) => m === sent)?.[0] ??
    norm.find(([, m]) => m === `${major}/*`)?.[0] ??
    norm.find(([, m]) => m === '*/*')?.[0]
  );
}

/** A copy the coercing Ajv may change; data that cannot be cloned is used as is. */
function cloneData<T>(v: T): T {
  try {
    return structuredClone(v);
  } catch {
    return v;
  }
}
