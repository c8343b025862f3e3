// A plan change to the Bluesky handle or display name warns, in POST /v1/plans's answer, that a
// verified account would lose its blue check; a plan that changes neither says nothing of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planYaml, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f?.close();
});

async function apply(yaml: string) {
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/plans',
    headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
    payload: yaml,
  });
  expect(res.statusCode, res.body).toBe(200);
  return (JSON.parse(res.body) as { warnings: { path: string; line: number; message: string }[] }).warnings;
}

const blueCheck = <T extends { message: string }>(w: T[]) =>
  w.filter((x) => x.message.includes('blue check'));

describe('POST /v1/plans and the blue check', () => {
  it('warns when the Bluesky handle or the dormant display name changes, and not otherwise', async () => {
    expect(blueCheck(await apply(planYaml({ extraPost: true })))).toEqual([]);

    const renamed = planYaml().replace('handle: ville.test', 'handle: ville-de-test.bsky.social');
    const handle = blueCheck(await apply(renamed));
    expect(handle).toEqual([
      expect.objectContaining({
        path: 'networks.bluesky.handle',
        line: 17,
        message: expect.stringMatching(
          /changes from @ville\.test to @ville-de-test\.bsky\.social: a verified account loses its blue check/,
        ),
      }),
    ]);

    const named = renamed.replace(
      'mirror:\n',
      'dormant_profile:\n  at: sunset\n  bluesky:\n    name: Ville de Test (en veille)\nmirror:\n',
    );
    expect(blueCheck(await apply(named)).map((w) => w.path)).toEqual(['dormant_profile.bluesky.name']);
    // The same plan again: nothing changes, nothing to warn about.
    expect(blueCheck(await apply(named))).toEqual([]);
  });
});
