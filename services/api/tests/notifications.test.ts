// The admin role's notification routes (GET /v1/notifications, PUT /v1/notifications/routes):
// the operator's channels shown without their secrets, routes checked against them, stored and
// audited, each organisation seeing only its own.
import { parseNotificationSettings } from '@sunset/engine/outbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORG, startFixture, type Fixture } from './fixture.ts';

const SETTINGS = parseNotificationSettings(
  JSON.stringify({
    dashboardUrl: 'https://sunset.ville.test',
    organisations: {
      [ORG]: {
        persons: { 'julie.martin': { email: 'julie@ville.test' }, paul: { email: 'paul@ville.test' } },
        channels: {
          equipe: {
            type: 'webhook',
            url: 'https://chat.ville.test/hooks/T0/B0/abcdef',
            secret: 'env:VILLE_DE_TEST__HOOK_KEY',
          },
          courriel: {
            type: 'email',
            host: 'smtp.ville.test',
            user: 'sunset',
            password: 'file:smtp-password',
            from: 'sunset@ville.test',
          },
        },
        routes: { 'crisis.awaiting-approval': ['equipe'] },
      },
    },
  }),
  'test settings',
);

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ notifications: SETTINGS });
});
afterAll(async () => f?.close());

describe('notification routes', () => {
  it('shows the admin the channels without secrets, the persons and the routes in force', async () => {
    const r = await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth('admin') });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.channels).toEqual({
      equipe: { type: 'webhook', host: 'chat.ville.test' },
      courriel: { type: 'email', host: 'smtp.ville.test', port: 587, from: 'sunset@ville.test' },
    });
    expect(body.persons).toEqual(['julie.martin', 'paul']);
    expect(body.routes).toEqual({ 'crisis.awaiting-approval': [{ channel: 'equipe' }] });
    expect(body.setBy).toBe('operator');
    expect(body.events).toContain('x.paused');
    expect(r.body).not.toContain('abcdef');
    expect(r.body).not.toContain('HOOK_KEY');
    expect(r.body).not.toContain('smtp-password');
  });

  it('refuses other roles', async () => {
    for (const role of ['editor', 'crisis', 'auditor', 'planner'] as const) {
      const r = await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth(role) });
      expect(r.statusCode).toBe(403);
      const put = await f.app.inject({
        method: 'PUT',
        url: '/v1/notifications/routes',
        headers: f.auth(role),
        payload: { routes: {} },
      });
      expect(put.statusCode).toBe(403);
    }
  });

  it('stores and audits the routes the admin sets', async () => {
    const routes = {
      'crisis.awaiting-approval': [{ channel: 'equipe' }, { channel: 'courriel', to: ['approvers'] }],
      'delivery.failed': [{ channel: 'courriel', to: ['paul'] }],
    };
    const r = await f.app.inject({
      method: 'PUT',
      url: '/v1/notifications/routes',
      headers: f.auth('admin'),
      payload: { routes },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().routes).toEqual(routes);
    const after = (
      await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth('admin') })
    ).json();
    expect(after.routes).toEqual(routes);
    expect(after.setBy).toBe('admin');
    const audit = await f.store.audit.list({ organisationId: ORG, action: 'notifications.routes-set' });
    expect(audit).toHaveLength(1);
    expect(audit[0]?.after).toEqual(routes);
    expect(audit[0]?.actor).toBe('token:admin-person');
  });

  it('refuses a route to an unknown channel or person, saying where, and changes nothing', async () => {
    const before = (
      await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth('admin') })
    ).json().routes;
    for (const [routes, where] of [
      [{ 'crisis.published': [{ channel: 'sms' }] }, 'routes.crisis.published[0].channel: no channel "sms"'],
      [{ 'x.paused': [{ channel: 'courriel', to: ['mallory'] }] }, 'routes.x.paused[0].to[0]: "mallory"'],
      [{ 'x.paused': [{ channel: 'equipe', to: ['paul'] }] }, 'routes.x.paused[0].to: only e-mail channels'],
      [{ 'post.deleted': [] }, 'routes.post.deleted: not an event'],
    ] as const) {
      const r = await f.app.inject({
        method: 'PUT',
        url: '/v1/notifications/routes',
        headers: f.auth('admin'),
        payload: { routes },
      });
      expect(r.statusCode).toBe(422);
      expect(r.json().error.message).toContain(where);
    }
    const after = (
      await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth('admin') })
    ).json().routes;
    expect(after).toEqual(before);
  });

  it("shows another organisation's admin nothing of this one's", async () => {
    const r = await f.app.inject({ method: 'GET', url: '/v1/notifications', headers: f.auth('otherOrg') });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ channels: {}, persons: [], routes: {} });
  });
});
