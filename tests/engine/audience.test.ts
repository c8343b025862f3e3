// The audience step end to end: a plan with audience accounts applied to a real store and Redis,
// the worker runtime making the Bluesky list and starter pack on a real PDS, every record read
// back from the PDS; then the plan changed (an account off, another on, the pack renamed) and
// applied again: the records follow. The farewell post links the pack the worker made.
import { AtpAgent } from '@atproto/api';
import { applyPlan } from '@sunset/engine';
import { audienceKeys } from '@sunset/plan';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  startSandboxes,
  waitFor,
  ORG,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let engine: TestEngine;
let mayor: { did: string; handle: string };
let library: { did: string; handle: string };
let museum: { did: string; handle: string };

beforeAll(async () => {
  sandboxes = await startSandboxes();
  mayor = await sandboxes.bluesky.createAccount('maire');
  library = await sandboxes.bluesky.createAccount('biblio');
  museum = await sandboxes.bluesky.createAccount('musee');
  engine = await startEngine(sandboxes);
}, 120_000);
afterAll(async () => {
  await engine?.close();
  await sandboxes?.stop();
});

const pds = () => new AtpAgent({ service: sandboxes.bluesky.pdsUrl });

async function records(collection: string) {
  const { data } = await pds().com.atproto.repo.listRecords({
    repo: sandboxes.blueskyDid,
    collection,
    limit: 100,
  });
  return data.records.map((r) => ({ uri: r.uri, value: r.value as Record<string, unknown> }));
}

function planWith(accounts: { name: string; relation: string; bluesky: string }[], name: string) {
  const document = engine.plans.document({
    sunset: iso(Date.now() + 3600_000 * 24 * 30),
    posts: [
      {
        id: 'farewell',
        at: 'sunset',
        on: ['bluesky'],
        text: 'Merci. Suivez nos services : {bluesky.starter_pack}',
      },
    ],
  });
  document['audience'] = {
    // Due now: applied, it runs at once.
    at: iso(Date.now() - 60_000),
    starter_pack: { name, description: 'Les comptes officiels de la Ville de Test.' },
    accounts,
  };
  return engine.plans.writeDocument(document);
}

async function audienceDeliveries() {
  return (await engine.t.store.deliveries.list({ organisationId: ORG })).filter((d) => d.kind === 'audience');
}

describe('the audience on Bluesky', () => {
  it('makes the list and starter pack, and keeps them in step after a plan change', async () => {
    const keys = audienceKeys(ORG);
    const first = planWith(
      [
        { name: 'Cabinet du maire', relation: 'mayor', bluesky: mayor.handle },
        { name: 'Bibliothèques', relation: 'service', bluesky: library.handle },
      ],
      'Ville de Test et ses services',
    );
    const applied = await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: first,
      actor: 'cli:test',
    });
    expect(applied.diff.filter((e) => e.kind === 'audience').map((e) => e.mark)).toEqual(['+']);
    await waitFor('the audience step to run', async () =>
      (await audienceDeliveries()).some((d) => d.status === 'published'),
    );

    const listUri = `at://${sandboxes.blueskyDid}/app.bsky.graph.list/${keys.list}`;
    const lists = await records('app.bsky.graph.list');
    expect(lists).toEqual([
      {
        uri: listUri,
        value: expect.objectContaining({
          purpose: 'app.bsky.graph.defs#curatelist',
          name: 'Ville de Test et ses services',
          description: 'Les comptes officiels de la Ville de Test.',
        }),
      },
    ]);
    const subjects = async () =>
      (await records('app.bsky.graph.listitem'))
        .filter((r) => r.value['list'] === listUri)
        .map((r) => r.value['subject'])
        .sort();
    expect(await subjects()).toEqual([sandboxes.blueskyDid, mayor.did, library.did].sort());
    const packs = await records('app.bsky.graph.starterpack');
    expect(packs).toEqual([
      {
        uri: `at://${sandboxes.blueskyDid}/app.bsky.graph.starterpack/${keys.starterPack}`,
        value: expect.objectContaining({ name: 'Ville de Test et ses services', list: listUri }),
      },
    ]);
    // The farewell links the very pack the worker made.
    const farewell = (await engine.t.store.deliveries.list({ organisationId: ORG })).find(
      (d) => d.postId === 'farewell',
    );
    expect(farewell?.parts[0]?.text).toContain(
      `https://bsky.app/starter-pack/${sandboxes.blueskyHandle}/${keys.starterPack}`,
    );
    const audit = await engine.t.store.audit.list({ organisationId: ORG });
    expect(
      audit.some(
        (e) => e.action === 'delivery.published' && JSON.stringify(e.details).includes(keys.starterPack),
      ),
    ).toBe(true);

    // The same plan again: nothing to do.
    const again = await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: first,
      actor: 'cli:test',
    });
    expect(again.counts['+'] + again.counts['~']).toBe(0);

    // The library leaves, the museum comes in, the pack is renamed.
    const second = planWith(
      [
        { name: 'Cabinet du maire', relation: 'mayor', bluesky: mayor.handle },
        { name: 'Musée', relation: 'service', bluesky: museum.handle },
      ],
      'Ville de Test : où nous suivre',
    );
    const changed = await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: second,
      actor: 'cli:test',
    });
    expect(
      changed.diff
        .filter((e) => e.kind === 'audience')
        .map((e) => e.mark)
        .sort(),
    ).toEqual(['+', '✓']);
    await waitFor(
      'the second audience step to run',
      async () => (await audienceDeliveries()).filter((d) => d.status === 'published').length === 2,
    );
    expect(await subjects()).toEqual([sandboxes.blueskyDid, mayor.did, museum.did].sort());
    expect((await records('app.bsky.graph.list')).map((r) => r.value['name'])).toEqual([
      'Ville de Test : où nous suivre',
    ]);
    const renamed = await records('app.bsky.graph.starterpack');
    expect(renamed.map((r) => [r.uri.split('/').pop(), r.value['name'], r.value['list']])).toEqual([
      [keys.starterPack, 'Ville de Test : où nous suivre', listUri],
    ]);
  }, 120_000);
});
