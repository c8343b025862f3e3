import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { PlanDocument } from '@sunset/plan';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { buildMessage } from './message.ts';

const yaml = readFileSync(
  new URL('../../../../../config/plans/ville-de-tours.yaml', import.meta.url),
  'utf8',
);
const french = parse(yaml) as PlanDocument;

describe('the language of a notification', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
    const english = { ...french, organisation: { ...french.organisation, locale: 'en-GB' } };
    for (const [id, doc] of [
      ['org-fr', french],
      ['org-en', english],
    ] as const) {
      await t.store.organisations.ensure({ id, name: id });
      await t.store.plans.insert({
        organisationId: id,
        hash: id,
        yaml: stringify({ ...doc, organisation: { ...doc.organisation, id } }),
        sourceName: `${id}.yaml`,
        appliedBy: 'cli:test',
        diff: [],
      });
    }
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("writes a French plan's message in French and an English plan's in English, same fields", async () => {
    const fr = await buildMessage(t.store, { event: 'x.paused', organisationId: 'org-fr' }, undefined);
    const en = await buildMessage(t.store, { event: 'x.paused', organisationId: 'org-en' }, undefined);
    expect(fr.title).toBe('[org-fr] X en pause : les posts X ordinaires sont retenus');
    expect(fr.text).toContain('Que faire :');
    expect(fr.checklist?.[0]).toContain('Achetez des crédits X');
    expect(en.title).toBe('[org-en] X paused: ordinary X posts are held');
    expect(en.text).toContain('What to do:');
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    expect(fr.event).toBe('x.paused');
  });
});
