/**
 * Runs the plan schema through Ajv and turns its errors into sentences a comms officer can act
 * on, each at the place in the YAML it concerns.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { DiagnosticBag } from './diagnostics.ts';
import { PlanSchema } from './schema.ts';
import type { PathSegment } from './source.ts';

// Compiled by the first plan checked, not when the package loads: the worker loads it for the
// plan's types and helpers and never checks a plan.
let validateSchema: ValidateFunction | undefined;
const validator = (): ValidateFunction =>
  (validateSchema ??= new Ajv({
    allErrors: true,
    verbose: true,
    strict: true,
    allowUnionTypes: true,
  }).compile(PlanSchema));

interface SchemaNode {
  type?: string | string[];
  const?: unknown;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  title?: string;
  description?: string;
  items?: SchemaNode;
}

export function checkSchema(data: unknown, bag: DiagnosticBag): boolean {
  const validate = validator();
  if (validate(data)) return true;
  for (const e of pruneUnions(validate.errors ?? [])) report(e, bag);
  return false;
}

function toPath(instancePath: string): PathSegment[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text "${truncate(value)}"`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return typeof value;
}

function truncate(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value lines)',
  array: 'a list (lines starting with "- ")',
  null: 'empty',
};

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Ajv reports every failed branch of a union. Keep what helps: when the value is a mapping and
 * exactly one branch takes mappings, that branch's own errors; otherwise one error for the union.
 */
function pruneUnions(errors: ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>();
  const unions = errors
    .filter((e) => e.keyword === 'anyOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const u of unions) {
    if (dropped.has(u)) continue;
    const prefix = `${u.schemaPath}/`;
    const branches = (u.schema as SchemaNode[] | undefined) ?? [];
    const dataType = jsonType(u.data);
    const matching = branches
      .map((b, i) => ({ b, i }))
      .filter(({ b }) => b.type === dataType || (Array.isArray(b.type) && b.type.includes(dataType)));
    const chosen = dataType === 'object' || dataType === 'array' ? matching : [];
    const only = chosen.length === 1 ? chosen[0] : undefined;
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      if (only && e.schemaPath.startsWith(`${prefix}${only.i}/`)) continue;
      dropped.add(e);
    }
    if (only) dropped.add(u);
  }
  return errors.filter((e) => !dropped.has(e));
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (bestDistance <= Math.max(2, Math.floor(word.length / 3))) return best;
  // "crisis" for "crisis-only": a value cut short is a likely slip too.
  const w = word.toLowerCase();
  const prefixed = candidates.filter((c) => w.length >= 3 && c.toLowerCase().startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

function unionWords(branches: SchemaNode[]): string[] {
  return branches.map((b) => (b.const !== undefined ? String(b.const) : (b.title ?? b.description ?? '?')));
}

function report(e: ErrorObject, bag: DiagnosticBag): void {
  const path = toPath(e.instancePath);
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const what = parent.title ? ` ${parent.title}` : '';
  switch (e.keyword) {
    case 'required': {
      const field = String((e.params as { missingProperty: string }).missingProperty);
      const desc = parent.properties?.[field]?.description;
      bag.error(
        [...path, field],
        `missing required field "${field}"${desc ? ` — ${lowerFirst(desc).replace(/\.$/, '')}` : ''}`,
        {
          at: bag.source.locate(path),
        },
      );
      return;
    }
    case 'additionalProperties': {
      const field = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(parent.properties ?? {});
      const guess = closest(field, allowed);
      bag.error(
        [...path, field],
        `unknown field "${field}"${guess ? `; did you mean "${guess}"?` : ''} (allowed here: ${allowed.join(', ')})`,
        { key: true },
      );
      return;
    }
    case 'type': {
      const t = (e.params as { type: string | string[] }).type;
      const words = (Array.isArray(t) ? t : String(t).split(',')).map((x) => TYPE_WORDS[x] ?? x);
      bag.error(path, `must be ${words.join(' or ')}, not ${kindOf(e.data)}`);
      return;
    }
    case 'const':
    case 'enum': {
      const allowed =
        e.keyword === 'const'
          ? [(e.params as { allowedValue: unknown }).allowedValue]
          : (e.params as { allowedValues: unknown[] }).allowedValues;
      bag.error(path, `must be ${allowed.map((v) => JSON.stringify(v)).join(' or ')}, not ${kindOf(e.data)}`);
      return;
    }
    case 'anyOf': {
      const branches = (e.schema as SchemaNode[] | undefined) ?? [];
      const consts = branches.filter((b) => b.const !== undefined).map((b) => String(b.const));
      if (consts.length === branches.length) {
        const guess = typeof e.data === 'string' ? closest(e.data, consts) : undefined;
        bag.error(
          path,
          `${kindOf(e.data)} is not allowed here; write one of: ${consts.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`,
        );
      } else {
        const expected = parent.description ?? unionWords(branches).join(' or ');
        bag.error(path, `${kindOf(e.data)} is not allowed here; expected ${lowerFirst(expected)}`);
      }
      return;
    }
    case 'pattern':
      bag.error(
        path,
        `"${truncate(String(e.data), 60)}" is not a valid${what || ' value'}${parent.description ? `: ${lowerFirst(parent.description)}` : ''}`,
      );
      return;
    case 'minLength':
      if ((e.params as { limit: number }).limit === 1) bag.error(path, 'must not be empty');
      else bag.error(path, `is too short: at least ${(e.params as { limit: number }).limit} characters`);
      return;
    case 'maxLength':
      bag.error(
        path,
        `is ${String(e.data).length} characters long; the limit is ${(e.params as { limit: number }).limit}`,
      );
      return;
    case 'maxItems':
      bag.error(
        path,
        `has ${(e.data as unknown[]).length} items; at most ${(e.params as { limit: number }).limit}`,
      );
      return;
    case 'minItems':
      bag.error(path, `must list at least ${(e.params as { limit: number }).limit}`);
      return;
    case 'uniqueItems': {
      const { i, j } = e.params as { i: number; j: number };
      bag.error([...path, i], `lists ${JSON.stringify((e.data as unknown[])[i])} twice (also item ${j + 1})`);
      return;
    }
    case 'minProperties':
      bag.error(path, path.join('.') === 'networks' ? 'configure at least one network' : 'must not be empty');
      return;
    case 'minimum':
    case 'maximum':
      bag.error(path, `${e.message ?? 'is out of range'}`);
      return;
    default:
      bag.error(path, e.message ?? 'is not valid');
  }
}

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0]?.toLowerCase() + s.slice(1) : s;
}
