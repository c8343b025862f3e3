// Second-person approval compares persons, not tokens: one person holding a crisis and an admin
// token cannot approve their own crisis post; a different person can. Through app.inject.
import { hashToken, mintToken } from '@sunset/core';
import type { TokenRole } from '@sunset/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

let g: Fixture;
const mine: Record<string, string> = {};

async function token(name: string, person: string, role: TokenRole): Promise<void> {
  const secret = mintToken();
  await g.store.tokens.create({
    id: `${name}-id`,
    organisationId: ORG,
    name,
    person,
    role,
    hash: hashToken(secret),
    createdBy: 'cli:test',
  });
  mine[name] = secret;
}
const as = (name: string) => ({ authorization: `Bearer ${mine[name]}` });

beforeAll(async () => {
  g = await startFixture({}, planYaml({ approval: 'second-person' }));
  await token('alice-crisis', 'alice', 'crisis');
  await token('alice-admin', 'alice', 'admin');
  await token('bob-duty', 'bob', 'crisis');
});
afterAll(async () => {
  await g?.close();
});

describe('crisis approval by a second person', () => {
  it('refuses the sender under another token of theirs (admin too), queues nothing; another person approves', async () => {
    const sent = await g.app.inject({
      method: 'POST',
      url: '/v1/crisis',
      headers: as('alice-crisis'),
      payload: { text: 'Alerte crue : évitez les quais.' },
    });
    expect(sent.statusCode).toBe(202);
    const id = sent.json().id as string;
    expect(sent.json().state).toBe('awaiting-approval');

    for (const name of ['alice-admin', 'alice-crisis']) {
      const self = await g.app.inject({ method: 'POST', url: `/v1/crisis/${id}/approve`, headers: as(name) });
      expect(self.statusCode, name).toBe(403);
      expect(self.json().error.code).toBe('approval');
      expect(self.json().error.message).toBe(
        `alice sent this crisis post (token alice-crisis) and cannot approve it: a second person must, not another token of theirs`,
      );
    }
    expect(await g.store.deliveries.list({ organisationId: ORG, postId: id })).toEqual([]);
    const crisisJobs = async () =>
      Object.values(await g.queues.laneDepths())
        .flatMap((lanes) => Object.values(lanes.crisis))
        .reduce((a, b) => a + b, 0);
    expect(await crisisJobs()).toBe(0);
    const waiting = await g.app.inject({ url: `/v1/crisis/${id}`, headers: as('bob-duty') });
    expect(waiting.json().state).toBe('awaiting-approval');

    const ok = await g.app.inject({
      method: 'POST',
      url: `/v1/crisis/${id}/approve`,
      headers: as('bob-duty'),
    });
    expect(ok.statusCode).toBe(202);
    expect(ok.json().deliveries).toHaveLength(3);
    expect(await crisisJobs()).toBe(3);

    const post = (await g.app.inject({ url: `/v1/crisis/${id}`, headers: as('bob-duty') })).json();
    expect(post.content.sentBy).toEqual({ person: 'alice', token: 'alice-crisis' });
    expect(post.content.approvedBy).toEqual({ person: 'bob', token: 'bob-duty' });

    const audit = (await g.app.inject({ url: `/v1/audit?post=${id}`, headers: as('alice-admin') })).json()
      .entries as { action: string; actor: string; outcome: string; details?: { person?: string } }[];
    const byAction = (a: string) => audit.filter((e) => e.action === a);
    expect(byAction('crisis.awaiting-approval').map((e) => [e.actor, e.details?.person])).toEqual([
      ['token:alice-crisis', 'alice'],
    ]);
    expect(byAction('crisis.approval-refused').map((e) => [e.actor, e.details?.person, e.outcome])).toEqual([
      ['token:alice-admin', 'alice', 'refused'],
      ['token:alice-crisis', 'alice', 'refused'],
    ]);
    expect(byAction('crisis.approved').map((e) => [e.actor, e.details?.person])).toEqual([
      ['token:bob-duty', 'bob'],
    ]);
  });

  it('/v1/me names the person behind the token', async () => {
    const me = await g.app.inject({ url: '/v1/me', headers: as('alice-admin') });
    expect(me.json()).toMatchObject({ name: 'alice-admin', person: 'alice', role: 'admin' });
  });
});
