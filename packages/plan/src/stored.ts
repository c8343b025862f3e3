/**
 * A plan document read back from the store, checked against the schema: the store keeps the
 * settings as JSON beside the YAML, and a reader narrows them here instead of trusting the row.
 * TypeBox checks the value directly (no Ajv compile), since the worker reads one per plan version.
 */
import { Type } from 'typebox';
import Value from 'typebox/value';
import { PlanSchema, type PlanDocument } from './schema.ts';

/** What the store keeps beside a plan's YAML: the document without its posts. */
export type PlanSettings = Omit<PlanDocument, 'posts'>;

const SettingsSchema = Type.Omit(PlanSchema, ['posts']);

export function isPlanSettings(value: unknown): value is PlanSettings {
  return Value.Check(SettingsSchema, value);
}

export function isPlanDocument(value: unknown): value is PlanDocument {
  return Value.Check(PlanSchema, value);
}

/** The first place where a value fails the schema: its path (`/sunset/x_after`) and why. */
export function planProblem(value: unknown, withPosts: boolean): { path: string; message: string } {
  const [first] = Value.Errors(withPosts ? PlanSchema : SettingsSchema, value);
  return first ? { path: first.instancePath, message: first.message } : { path: '', message: 'none' };
}
