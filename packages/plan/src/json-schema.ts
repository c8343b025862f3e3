import { PlanSchema } from './schema.ts';

/** The JSON Schema document for editors, generated from the TypeBox schema. */
export function planJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...(JSON.parse(JSON.stringify(PlanSchema)) as Record<string, unknown>),
  };
}

export function planJsonSchemaText(): string {
  return `${JSON.stringify(planJsonSchema(), null, 2)}\n`;
}
