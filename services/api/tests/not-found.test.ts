/**
 * Routes answer 404 through the one error handler: the engine and the routes throw a
 * NotFoundError (its code says what is missing), never a status of their own.
 */
import { hashToken, mintToken } from '@sunset/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
let noPlan: string;
beforeAll(async () => {
  f = await startFixture();
  // An organisation with a token but no applied plan yet.
  await f.store.organisations.ensure({ id: 'ville-sans-plan', name: 'Ville sans plan' });
  noPlan = mintToken();
  await f.store.tokens.create({
    id: 'no-plan-id',
    organisationId: 'ville-sans-plan',
    name: 'planner-sans-plan',
    role: 'planner',
    hash: hashToken(noPlan),
    createdBy: 'cli:fixture',
  });
});
afterAll(async () => {
  await f.close();
});

describe('404 from domain errors', () => {
  it("'no-plan' for the plan's status and images of an organisation without a plan", async () => {
    for (const url of ['/v1/plans/current', '/v1/assets']) {
      const r = await f.app.inject({ url, headers: { authorization: `Bearer ${noPlan}` } });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().error).toMatchObject({
        code: 'no-plan',
        message: expect.stringMatching(/no applied plan/),
      });
    }
  });

  it("'not-found' for a post of another source, and for approving what is not a crisis post", async () => {
    const post = await f.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: f.auth('editor'),
      payload: { text: 'Marché de Noël place Plumereau ce week-end.' },
    });
    expect(post.statusCode).toBe(202);
    const id = post.json().id as string;
    const asCrisis = await f.app.inject({ url: `/v1/crisis/${id}`, headers: f.auth('auditor') });
    expect(asCrisis.statusCode).toBe(404);
    expect(asCrisis.json().error).toMatchObject({
      code: 'not-found',
      message: `there is no crisis post ${id}`,
    });
    const approve = await f.app.inject({
      method: 'POST',
      url: `/v1/crisis/${id}/approve`,
      headers: f.auth('crisis'),
    });
    expect(approve.statusCode).toBe(404);
    expect(approve.json().error.code).toBe('not-found');
    expect((await f.store.posts.get(ORG, id))?.source).toBe('ordinary');
  });

  it("'not-found' for an image the plan does not generate (the fixture's plan has no dormant profile)", async () => {
    const r = await f.app.inject({ url: '/v1/assets/x/banner', headers: f.auth('planner') });
    expect(r.statusCode).toBe(404);
    expect(r.json().error).toMatchObject({
      code: 'not-found',
      message: 'the plan generates no banner for x',
    });
  });
});
