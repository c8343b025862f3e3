// POST /v1/plans on a thread that has begun on X: the answer's diff says it is too late to
// re-split it, the thread is left as it began, and the rest of the plan is applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f?.close();
});

const sentence = (i: number) =>
  `Phrase ${i} : la rue principale sera fermée à la circulation pendant les travaux de voirie de cet été.`;
const withThread = (sentences: number, extraPost = false) =>
  planYaml({ extraPost }).replace(
    'posts:\n',
    `posts:\n  - id: travaux\n    at: sunset - 2d\n    on: [x]\n    overflow: thread\n    text: "${Array.from(
      { length: sentences },
      (_, i) => sentence(i + 1),
    ).join(' ')}"\n`,
  );

async function post(yaml: string) {
  return f.app.inject({
    method: 'POST',
    url: '/v1/plans',
    headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
    payload: yaml,
  });
}

describe('POST /v1/plans on a thread begun on X', () => {
  it('answers "too late: 2 of 3 parts are published" and applies the rest of the plan', async () => {
    const id = `${ORG}.post.travaux.x`;
    expect((await post(withThread(6))).statusCode).toBe(200);
    const before = await f.store.deliveries.get(id);
    expect(before?.parts.map((p) => p.text.slice(-4))).toEqual([' 1/3', ' 2/3', ' 3/3']);
    await f.store.deliveries.partPublished(id, 1, { remoteId: '101', url: 'https://x.com/i/101' });
    await f.store.deliveries.partPublished(id, 2, { remoteId: '102', url: 'https://x.com/i/102' });

    const res = await post(withThread(8, true));
    expect(res.statusCode).toBe(200);
    const diff = res.json().diff as { deliveryId: string; mark: string; reason?: string; postId?: string }[];
    expect(diff.find((e) => e.deliveryId === id)).toMatchObject({
      mark: '✓',
      reason: expect.stringMatching(/^too late: 2 of 3 parts are published/),
    });
    expect(diff.find((e) => e.postId === 'extra')).toMatchObject({ mark: '+' });
    const after = await f.store.deliveries.get(id);
    expect(after?.parts.map((p) => p.text)).toEqual(before?.parts.map((p) => p.text));
    expect(after).toMatchObject({ contentHash: before?.contentHash, jobId: before?.jobId, status: 'queued' });
  });
});
