/**
 * Checks for the JSON the engine keeps in the store (a post's content, a part's remote ref): the
 * store types these columns `unknown`, and a row that is not as the engine wrote it is named here
 * (row and field) instead of being trusted and failing somewhere later.
 */
import { SunsetError } from '@sunset/core';

/** A stored row whose JSON is not as the engine writes it. */
export class StoredRowError extends SunsetError {
  constructor(row: string, field: string, problem = 'is not as the engine writes it') {
    super('engine.stored-row', `${row}: ${field} ${problem}`);
  }
}

/** Checks a value; answers the path of the first field that fails, or undefined. */
export type Check = (value: unknown, path: string) => string | undefined;

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const text: Check = (v, p) => (typeof v === 'string' ? undefined : p);
export const flag: Check = (v, p) => (typeof v === 'boolean' ? undefined : p);
export const oneOf =
  (values: readonly string[]): Check =>
  (v, p) =>
    typeof v === 'string' && values.includes(v) ? undefined : p;
export const optional =
  (check: Check): Check =>
  (v, p) =>
    v === undefined ? undefined : check(v, p);
export const either =
  (a: Check, b: Check): Check =>
  (v, p) =>
    a(v, p) === undefined || b(v, p) === undefined ? undefined : p;
export const listOf =
  (check: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return p;
    for (const [i, item] of v.entries()) {
      const bad = check(item, `${p}[${i}]`);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };
/** An object with these fields (others are let through, as older or newer writers may add some). */
export const fields =
  (shape: Record<string, Check>): Check =>
  (v, p) => {
    if (!isRecord(v)) return p;
    for (const [key, check] of Object.entries(shape)) {
      const bad = check(v[key], `${p}.${key}`);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };
/** An object whose keys are among `keys`, each value passing `check`. */
export const entriesOf =
  (keys: readonly string[], check: Check): Check =>
  (v, p) => {
    if (!isRecord(v)) return p;
    for (const [key, value] of Object.entries(v)) {
      if (!keys.includes(key)) return `${p}.${key}`;
      const bad = check(value, `${p}.${key}`);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };
