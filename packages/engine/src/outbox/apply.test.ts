import { readPlanFile } from '@sunset/plan';
import { describe, expect, it } from 'vitest';
import { planDiff, wantedDeliveries } from './apply.ts';

const file = new URL('../../../../config/plans/ville-de-tours.yaml', import.meta.url).pathname;

describe('the deliveries a plan wants', () => {
  it('keep the content hashes applied plans stored (a change would make every delivery look changed)', () => {
    const { plan, diagnostics } = readPlanFile(file, { now: new Date(0) });
    if (!plan) throw new Error(diagnostics.map((d) => d.message).join('\n'));
    // What the code gave before the hashes were written without canonicalJson's sorting.
    expect(
      wantedDeliveries(plan).map((w) => [w.delivery.id, w.delivery.contentHash, w.delivery.parts.length]),
    ).toEqual([
      [
        'ville-de-tours.post.annonce-j14.x',
        'f0ac7a79e384eb46cdf56e4d2b68a767aec8b5e7a4e4d59f928626d515d3bef7',
        1,
      ],
      [
        'ville-de-tours.post.annonce-j7.x',
        '50cc7225c9df4c71f9216b3307cbbf1016f33cfce1e1ea91299bacb0f54ea0f9',
        1,
      ],
      [
        'ville-de-tours.post.annonce-j3.x',
        '96f580168b0d8eade3dd53a6e80c5aa051080591a5cb7983632ee9666842e23e',
        1,
      ],
      [
        'ville-de-tours.post.au-revoir.x',
        'f0825ac8751a094d3a4802a12deaee14ea4cb2f4c09d1e4ba1526e99adc9666a',
        2,
      ],
      [
        'ville-de-tours.post.au-revoir.bluesky',
        '6562cf25899006d56ef29567d1e9cdce6ae2562ab729d11133380978f5903aaa',
        1,
      ],
      [
        'ville-de-tours.post.au-revoir.mastodon',
        '28dbd72163dcba8cf97b06ca656cf3d68c018aec6d7727ed8be727d16a4bf410',
        1,
      ],
      ['ville-de-tours.policy.x', '8d2938200bb938864d2ace123cafcca866744f383a1d38a9d052d2affbc6b3ee', 0],
      ['ville-de-tours.profile.x', '8fd1e3ea88b90d28da191e6b7c0a46b0599616e9613975d921be7f9b51ff1f00', 0],
      [
        'ville-de-tours.post.bon-a-savoir-alertes.bluesky',
        'c362640f1ea3383fe5765dca34123c49c1851fbd3aac7e63325945e3fd96bff3',
        1,
      ],
      [
        'ville-de-tours.post.bon-a-savoir-alertes.mastodon',
        'ad1b20e4e50d6ebb59ead873f4b80f5f6b06f9f7c65d187fe05afd52d0452181',
        1,
      ],
    ]);
  });
});

describe('a re-apply of a thread already begun on its network', () => {
  const { plan } = readPlanFile(file, { now: new Date(0) });
  const wanted = wantedDeliveries(plan!).filter((w) => w.delivery.id === 'ville-de-tours.post.au-revoir.x');
  const w = wanted[0]!.delivery;
  const head = {
    id: w.id,
    organisationId: w.organisationId,
    actionKey: w.actionKey,
    postId: w.postId!,
    kind: w.kind,
    source: w.source,
    network: w.network,
    dueAt: w.dueAt,
    priority: w.priority,
    contentHash: 'an older content',
    status: 'queued' as const,
    jobId: `${w.id}.g1`,
    partCount: 2,
    landedParts: 1,
    unknownParts: 0,
  };
  const stored = (first: string) => [
    {
      part: 1,
      text: first,
      images: w.parts[0]!.images,
      language: 'fr',
      remoteId: '1',
      outcomeUnknown: false,
    },
    { part: 2, text: 'an older part 2', images: [], language: 'fr', outcomeUnknown: false },
  ];

  it('takes the change when the thread begins with the parts already published', () => {
    const change = planDiff(wanted, [head], new Map([[w.id, stored(w.parts[0]!.text)]]));
    expect(change.diff.map((e) => [e.mark, e.reason])).toEqual([['~', 'content changed']]);
    expect(change.replace).toHaveLength(1);
  });

  it('leaves the thread as it began when a published part would change, and says so', () => {
    const change = planDiff(wanted, [head], new Map([[w.id, stored('an older part 1 1/2')]]));
    expect(change.diff.map((e) => [e.mark, e.reason])).toEqual([
      [
        '✓',
        'too late: 1 of 2 parts are published; this thread is sent on as it began, the change is not applied to it',
      ],
    ]);
    expect(change.replace).toEqual([]);
    // Without the stored parts to compare, the same.
    expect(planDiff(wanted, [head]).diff[0]?.mark).toBe('✓');
  });
});
