// Every route and every error status, through app.inject against a real store and Redis.
import { createLogger, hashToken, mintToken, silentLogger } from '@sunset/core';
import { createRedis, Queues } from '@sunset/queue';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildApp, buildMetricsApp } from '../src/app.ts';
import { CAP_ALERT, ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f?.close();
});

// An object payload is sent as JSON with its content type.
const json = (body: object) => ({ payload: body });

describe('health', () => {
  it('answers /healthz, /readyz without a token, and /metrics on the operator listener', async () => {
    expect((await f.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await f.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', store: true, redis: true });
    const operator = await buildMetricsApp(f.app.metrics, silentLogger());
    const metrics = await operator.inject({ url: '/metrics' });
    await operator.close();
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/sunset_deliveries\{network="x",status="queued"\} \d+/);
    expect(metrics.body).toMatch(
      /sunset_queue_jobs\{network="bluesky",lane="ordinary",state="delayed"\} \d+/,
    );
    expect(metrics.body).toMatch(/sunset_queue_jobs\{network="bluesky",lane="crisis",state="delayed"\} \d+/);
  });

  it('counts the crisis lane apart in /metrics', async () => {
    const operator = await buildMetricsApp(f.app.metrics, silentLogger());
    onTestFinished(() => operator.close());
    const waiting = async () => {
      const body = (await operator.inject({ url: '/metrics' })).body;
      const count = (lane: string) =>
        Number(
          new RegExp(
            `sunset_queue_jobs\\{network="mastodon",lane="${lane}",state="prioritized"\\} (\\d+)`,
          ).exec(body)?.[1],
        );
      return { crisis: count('crisis'), ordinary: count('ordinary') };
    };
    const before = await waiting();
    expect(Number.isInteger(before.crisis) && Number.isInteger(before.ordinary), JSON.stringify(before)).toBe(
      true,
    );
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/crisis',
      headers: f.auth('crisis'),
      ...json({
        text: 'Coupure d’eau rue Nationale : ne buvez pas l’eau du robinet.',
        networks: ['mastodon'],
      }),
    });
    expect(r.statusCode, r.body).toBe(202);
    expect(await waiting()).toEqual({ crisis: before.crisis + 1, ordinary: before.ordinary });
  });

  it('is not ready when Redis does not answer', async () => {
    const away = createRedis('redis://127.0.0.1:1', { role: 'producer' });
    const app = await buildApp({
      store: f.store,
      queues: new Queues({ connection: away }),
      redis: away,
      logger: silentLogger(),
      plansDir: f.dir,
    });
    try {
      const ready = await app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ store: true, redis: false });
      const crisis = await app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: { ...f.auth('crisis') },
        ...json({ text: 'Coupure générale.' }),
      });
      expect(crisis.statusCode).toBe(503);
      expect(crisis.headers['retry-after']).toBe('5');
      expect(crisis.json().error.code).toBe('not-accepted');
    } finally {
      await app.close();
      away.disconnect();
    }
  });

  it('serves the OpenAPI document and the dashboard', async () => {
    const doc = await f.app.inject({ url: '/docs/json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json().paths);
    expect(paths).toEqual(
      expect.arrayContaining(['/v1/crisis', '/v1/posts', '/v1/plans', '/v1/audit', '/v1/audit/verify']),
    );
  });
});

describe('authentication', () => {
  it('401 without a token, with a malformed, unknown or revoked one', async () => {
    // Failed sign-ins reach the audit log summed up per address when their window ends, or when
    // the app closes: an app of its own, closed to read them.
    const g = await startFixture();
    try {
      for (const headers of [
        {},
        { authorization: 'Basic abc' },
        { authorization: 'Bearer not-a-token' },
        { authorization: `Bearer sunset_${'A'.repeat(43)}` },
        g.auth('revoked'),
      ]) {
        const r = await g.app.inject({ url: '/v1/me', headers });
        expect(r.statusCode).toBe(401);
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(r.json().error.code).toBe('unauthorized');
      }
      await g.app.close();
      const failed = await g.store.audit.list({ action: 'auth.failed' });
      expect(
        failed.reduce((n, e) => n + Number((e.details as { count: number }).count), 0),
      ).toBeGreaterThanOrEqual(5);
      // A token never reaches the audit log or the answer.
      expect(JSON.stringify(failed)).not.toContain(g.tokens.revoked);
    } finally {
      await g.close();
    }
  });

  it('logs every request at info with no token in any line, answered or refused', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      name: 'api-test',
      level: 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    const logged = await startFixture({ logger });
    try {
      const sent = await logged.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: { ...logged.auth('crisis'), cookie: 'session=cookie-value' },
        ...json({ text: 'Coupure de courant quartier Nord.', networks: ['mastodon'] }),
      });
      expect(sent.statusCode, sent.body).toBe(202);
      const refused = await logged.app.inject({ url: '/v1/me', headers: logged.auth('revoked') });
      expect(refused.statusCode).toBe(401);
      const out = lines.join('');
      expect(out).toContain('request completed');
      for (const secret of [logged.tokens.crisis, logged.tokens.revoked, 'cookie-value']) {
        expect(out).not.toContain(secret);
      }
    } finally {
      await logged.close();
    }
  });

  it('lets in requests sent together with one token, and refuses the token from the request after its revocation on', async () => {
    const token = mintToken();
    await f.store.tokens.create({
      id: 'shortlived-id',
      organisationId: ORG,
      name: 'shortlived-editor',
      role: 'editor',
      hash: hashToken(token),
      createdBy: 'cli:test',
    });
    const headers = { authorization: `Bearer ${token}` };
    const together = await Promise.all(
      Array.from({ length: 8 }, () => f.app.inject({ url: '/v1/me', headers })),
    );
    expect(together.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
    await f.store.tokens.revoke(ORG, 'shortlived-editor');
    const after = await f.app.inject({ url: '/v1/me', headers });
    expect(after.statusCode).toBe(401);
  });

  it('403 for the wrong role, and says which role is needed', async () => {
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/crisis',
      headers: f.auth('editor'),
      ...json({ text: 'x' }),
    });
    expect(r.statusCode).toBe(403);
    expect(r.json().error.message).toMatch(/an editor token cannot do this; it needs the role crisis/);
    const audit = await f.app.inject({ url: '/v1/audit', headers: f.auth('crisis') });
    expect(audit.statusCode).toBe(403);
  });

  it('tells who a token is', async () => {
    const r = await f.app.inject({ url: '/v1/me', headers: f.auth('crisis') });
    expect(r.json()).toEqual({
      organisationId: ORG,
      organisationName: 'Ville de Test',
      name: 'crisis-person',
      // The fixture's tokens have no person: their name is their person.
      person: 'crisis-person',
      role: 'crisis',
    });
  });

  it('429 after too many failed attempts from one address, never for a valid token', async () => {
    const g = await startFixture({ authFailuresPerMinute: 3 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++)
        codes.push(
          (await g.app.inject({ url: '/v1/me', headers: { authorization: 'Bearer nope' } })).statusCode,
        );
      expect(codes).toEqual([401, 401, 401, 429, 429]);
      const valid = await g.app.inject({ url: '/v1/me', headers: g.auth('admin') });
      expect(valid.statusCode).toBe(200);
      const limited = await g.app.inject({ url: '/v1/me', headers: { authorization: 'Bearer nope' } });
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await g.close();
    }
  });
});

describe('plans', () => {
  it('refuses a YAML body sent as something else (415) and a bad plan with every problem (422), changing nothing', async () => {
    const wrongType = await f.app.inject({
      method: 'POST',
      url: '/v1/plans',
      headers: { ...f.auth('planner'), 'content-type': 'application/pdf' },
      payload: 'x',
    });
    expect(wrongType.statusCode).toBe(415);
    const before = await f.store.plans.latest(ORG);
    const bad = planYaml()
      .replace('timezone: Europe/Paris', 'timezone: Europe/Lutece')
      .replace('on: [x, bluesky, mastodon]\n    text: Merci', 'on: [x, facebook]\n    text: Merci');
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/plans?file=tours.yaml',
      headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
      payload: bad,
    });
    expect(r.statusCode).toBe(422);
    const body = r.json();
    expect(body.error.code).toBe('invalid-plan');
    expect(body.error.details.length).toBeGreaterThanOrEqual(2);
    expect(body.error.details[0]).toMatchObject({ file: 'tours.yaml', severity: 'error' });
    expect(body.error.details.map((d: { path: string }) => d.path)).toEqual(
      expect.arrayContaining(['organisation.timezone']),
    );
    expect((await f.store.plans.latest(ORG))?.version).toBe(before?.version);
  });

  it("applies a plan and returns the diff; re-applying changes nothing; another organisation's plan is 403", async () => {
    const changed = planYaml({ extraPost: true });
    const dry = await f.app.inject({
      method: 'POST',
      url: '/v1/plans?dryRun=true',
      headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
      payload: changed,
    });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true, counts: { '+': 1 } });
    const applied = await f.app.inject({
      method: 'POST',
      url: '/v1/plans',
      headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
      payload: changed,
    });
    expect(applied.statusCode).toBe(200);
    expect(applied.json()).toMatchObject({ version: 2, counts: { '+': 1, '=': 4 } });
    expect(applied.json().diff.find((e: { mark: string }) => e.mark === '+')).toMatchObject({
      postId: 'extra',
      network: 'bluesky',
    });
    const again = await f.app.inject({
      method: 'POST',
      url: '/v1/plans',
      headers: { ...f.auth('planner'), 'content-type': 'text/yaml' },
      payload: changed,
    });
    expect(again.json().version).toBeUndefined();
    expect(again.json().counts['+']).toBe(0);
    const other = await f.app.inject({
      method: 'POST',
      url: '/v1/plans',
      headers: { ...f.auth('planner'), 'content-type': 'application/yaml' },
      payload: planYaml({ org: 'ville-voisine' }),
    });
    expect(other.statusCode).toBe(403);
    expect(other.json().error.message).toMatch(/belongs to ville-de-test/);
    const audit = await f.store.audit.list({ organisationId: ORG, action: 'plan.applied' });
    expect(audit.at(-1)?.actor).toBe('token:planner-person');
  });

  it('shows the timeline with each action per network', async () => {
    const r = await f.app.inject({ url: '/v1/plans/current', headers: f.auth('auditor') });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ organisationId: ORG, timezone: 'Europe/Paris', xAfter: 'crisis-only' });
    const farewell = body.rows.find((row: { key: string }) => row.key === 'post.farewell');
    expect(Object.keys(farewell.networks).sort()).toEqual(['bluesky', 'mastodon', 'x']);
    expect(farewell.networks.x.status).toBe('queued');
  });
});

describe('posts', () => {
  it('202 for an ordinary post, mirrored as the plan says, and its state by id', async () => {
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: f.auth('editor'),
      ...json({ text: 'La médiathèque ouvre le dimanche.' }),
    });
    expect(r.statusCode).toBe(202);
    const body = r.json();
    expect(body.state).toBe('accepted');
    expect(body.deliveries.map((d: { network: string }) => d.network)).toEqual(['x', 'bluesky', 'mastodon']);
    const jobs = await f.queues.depths();
    expect((jobs.mastodon.prioritized ?? 0) + (jobs.mastodon.waiting ?? 0)).toBeGreaterThan(0);
    const got = await f.app.inject({ url: body.links.self, headers: f.auth('editor') });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      id: body.id,
      source: 'ordinary',
      createdBy: 'token:editor-person',
      networks: { x: { status: 'queued' } },
    });
    expect((await f.app.inject({ url: '/v1/posts', headers: f.auth('editor') })).json().posts[0].id).toBe(
      body.id,
    );
  });

  it('one post for one Idempotency-Key, however often it is sent', async () => {
    const send = () =>
      f.app.inject({
        method: 'POST',
        url: '/v1/posts',
        headers: { ...f.auth('editor'), 'idempotency-key': 'req-42' },
        ...json({ text: 'Une seule fois.' }),
      });
    const a = (await send()).json();
    const b = (await send()).json();
    expect(b.id).toBe(a.id);
    expect(b.duplicate).toBe(true);
    expect((await f.store.deliveries.list({ organisationId: ORG, postId: a.id })).length).toBe(3);
  });

  it('400 for a body that does not fit the schema, 422 for what the plan refuses, 404 for an unknown post', async () => {
    const unknownField = await f.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: f.auth('editor'),
      ...json({ text: 'x', colour: 'red' }),
    });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json().error.code).toBe('bad-request');
    const badJson = await f.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: { ...f.auth('editor'), 'content-type': 'application/json' },
      payload: '{"text":',
    });
    expect(badJson.statusCode).toBe(400);
    const noAlt = await f.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: f.auth('editor'),
      ...json({
        text: 'Photo',
        images: [{ data: Buffer.from('png').toString('base64'), mediaType: 'image/tiff', alt: 'Une photo' }],
      }),
    });
    expect(noAlt.statusCode).toBe(422);
    expect(noAlt.json().error.message).toMatch(/images\[0\]: type image\/tiff/);
    const missing = await f.app.inject({ url: '/v1/posts/p-nope', headers: f.auth('editor') });
    expect(missing.statusCode).toBe(404);
  });

  it('413 for a body over the limit', async () => {
    const g = await startFixture({ bodyLimit: 2048 });
    try {
      const r = await g.app.inject({
        method: 'POST',
        url: '/v1/posts',
        headers: g.auth('editor'),
        ...json({ text: 'x'.repeat(5000) }),
      });
      expect(r.statusCode).toBe(413);
      expect(r.json().error.message).toMatch(/body/i);
    } finally {
      await g.close();
    }
  });
});

describe('crisis', () => {
  it("202 for a JSON crisis, with the plan's label, link and hashtags on every network", async () => {
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/crisis',
      headers: f.auth('crisis'),
      ...json({ text: 'Fuite de gaz rue Nationale : évitez le secteur.' }),
    });
    expect(r.statusCode).toBe(202);
    const body = r.json();
    expect(body.deliveries).toHaveLength(3);
    const [d] = await f.store.deliveries.list({ organisationId: ORG, postId: body.id, network: 'mastodon' });
    expect(d?.parts[0]?.text).toBe(
      '🔴 ALERTE Fuite de gaz rue Nationale : évitez le secteur.\nhttps://www.ville.test/alertes #VilleDeTest',
    );
    expect(d?.priority).toBe(1);
    const got = await f.app.inject({ url: `/v1/crisis/${body.id}`, headers: f.auth('auditor') });
    expect(got.json()).toMatchObject({ id: body.id, source: 'crisis', state: 'accepted' });
    const list = await f.app.inject({ url: '/v1/crisis?limit=5', headers: f.auth('crisis') });
    expect(list.json().posts.some((p: { id: string }) => p.id === body.id)).toBe(true);
    // An ordinary post's id is not a crisis.
    expect((await f.app.inject({ url: `/v1/posts/${body.id}`, headers: f.auth('editor') })).statusCode).toBe(
      404,
    );
  });

  it("previews each network's text, its length and its thread parts", async () => {
    const r = await f.app.inject({
      method: 'POST',
      url: '/v1/crisis/preview',
      headers: f.auth('crisis'),
      ...json({ text: 'Alerte. '.repeat(60) }),
    });
    expect(r.statusCode).toBe(200);
    const x = r.json().networks.find((n: { network: string }) => n.network === 'x');
    expect(x.parts.length).toBeGreaterThan(1);
    for (const part of x.parts) expect(part.length).toBeLessThanOrEqual(part.limit);
  });

  it('takes a CAP alert, threads its Update under it, and keeps an Exercise off the accounts', async () => {
    const cap = (xml: string) =>
      f.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: { ...f.auth('crisis'), 'content-type': 'application/cap+xml' },
        payload: xml,
      });
    const alert = await cap(CAP_ALERT({ id: 'crue-37-001' }));
    expect(alert.statusCode).toBe(202);
    const original = alert.json();
    const [d] = await f.store.deliveries.list({
      organisationId: ORG,
      postId: original.id,
      network: 'bluesky',
    });
    expect(d?.parts.map((p) => p.text).join(' ')).toMatch(
      /Crue de la Loire : vigilance rouge[\s\S]*6 mètres[\s\S]*Évitez les quais/,
    );
    // The same alert again is the same post.
    expect((await cap(CAP_ALERT({ id: 'crue-37-001' }))).json()).toMatchObject({
      id: original.id,
      duplicate: true,
    });
    const ref = 'alerte@indre-et-loire.gouv.fr,crue-37-001,2026-12-01T08:00:00+01:00';
    const update = await cap(
      CAP_ALERT({ id: 'crue-37-002', msgType: 'Update', references: ref, headline: 'La décrue commence' }),
    );
    expect(update.statusCode).toBe(202);
    const post = await f.store.posts.get(ORG, update.json().id);
    expect(post?.replyToPostId).toBe(original.id);
    const exercise = await cap(CAP_ALERT({ id: 'exo-1', status: 'Exercise' }));
    expect(exercise.statusCode).toBe(202);
    expect(exercise.json()).toMatchObject({ state: 'recorded', deliveries: [] });
    const cancelUnknown = await cap(
      CAP_ALERT({ id: 'c-9', msgType: 'Cancel', references: 'x@y,nope,2026-12-01T08:00:00+01:00' }),
    );
    expect(cancelUnknown.statusCode).toBe(422);
    expect(cancelUnknown.json().error.message).toMatch(
      /references an alert not received here: nothing to cancel/,
    );
  });

  it('422 for a malformed or hostile CAP document, with the reason', async () => {
    const cap = (payload: string) =>
      f.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: { ...f.auth('crisis'), 'content-type': 'application/cap+xml' },
        payload,
      });
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol2;</alert>`;
    const r = await cap(bomb);
    expect(r.statusCode).toBe(422);
    expect(r.json().error.message).toMatch(/DOCTYPE|DTD/i);
    const wrongNs = await cap(
      CAP_ALERT({ id: 'a' }).replace('urn:oasis:names:tc:emergency:cap:1.2', 'urn:example'),
    );
    expect(wrongNs.statusCode).toBe(422);
    const huge = await cap(`<alert>${'x'.repeat(300_000)}</alert>`);
    expect(huge.statusCode).toBe(413);
  });

  it('waits for a second person when the plan asks for it; nobody approves their own', async () => {
    const g = await startFixture({}, planYaml({ approval: 'second-person' }));
    try {
      const r = await g.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: g.auth('crisis'),
        ...json({ text: 'Alerte canicule.' }),
      });
      expect(r.statusCode).toBe(202);
      expect(r.json()).toMatchObject({ state: 'awaiting-approval', deliveries: [] });
      const self = await g.app.inject({
        method: 'POST',
        url: `/v1/crisis/${r.json().id}/approve`,
        headers: g.auth('crisis'),
      });
      expect(self.statusCode).toBe(403);
      const ok = await g.app.inject({
        method: 'POST',
        url: `/v1/crisis/${r.json().id}/approve`,
        headers: g.auth('crisis2'),
      });
      expect(ok.statusCode).toBe(202);
      expect(ok.json().deliveries).toHaveLength(3);
      const unknown = await g.app.inject({
        method: 'POST',
        url: '/v1/crisis/c-unknown/approve',
        headers: g.auth('crisis2'),
      });
      expect(unknown.statusCode).toBe(404);
    } finally {
      await g.close();
    }
  });
});

describe('audit', () => {
  it('lists with filters and cursor pages; exports CSV and NDJSON; verifies the chain', async () => {
    const page1 = await f.app.inject({ url: '/v1/audit?limit=3', headers: f.auth('auditor') });
    expect(page1.statusCode).toBe(200);
    const p1 = page1.json();
    expect(p1.entries).toHaveLength(3);
    const page2 = await f.app.inject({
      url: `/v1/audit?limit=3&cursor=${p1.nextCursor}`,
      headers: f.auth('auditor'),
    });
    expect(page2.json().entries[0].seq).toBeGreaterThan(p1.entries[2].seq);
    const filtered = await f.app.inject({
      url: '/v1/audit?action=crisis.accepted&actor=token:crisis-person',
      headers: f.auth('auditor'),
    });
    const entries = filtered.json().entries as { action: string; actor: string; organisationId: string }[];
    expect(entries.length).toBeGreaterThan(0);
    expect(
      entries.every(
        (e) =>
          e.action === 'crisis.accepted' && e.actor === 'token:crisis-person' && e.organisationId === ORG,
      ),
    ).toBe(true);
    const csv = await f.app.inject({
      url: '/v1/audit?limit=5',
      headers: { ...f.auth('auditor'), accept: 'text/csv' },
    });
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="audit-ville-de-test\.csv"/);
    const rows = csv.body.trim().split('\r\n');
    expect(rows[0]).toMatch(/^seq,at,organisationId,actor,action/);
    expect(rows).toHaveLength(6);
    const nd = await f.app.inject({ url: '/v1/audit?format=ndjson&limit=4', headers: f.auth('auditor') });
    const lines = nd.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    expect(lines).toHaveLength(4);
    // Another organisation's entries never show.
    const other = await f.app.inject({ url: '/v1/audit?limit=1000', headers: f.auth('otherOrg') });
    expect(
      (other.json().entries as { organisationId?: string }[]).every(
        (e) => e.organisationId === 'ville-voisine',
      ),
    ).toBe(true);
    const verify = await f.app.inject({ url: '/v1/audit/verify', headers: f.auth('auditor') });
    expect(verify.json()).toMatchObject({ ok: true });
    expect(
      (await f.store.audit.list({ organisationId: ORG, action: 'api.read', actor: 'token:auditor-person' }))
        .length,
    ).toBeGreaterThan(0);
  });

  it('400 for a bad filter', async () => {
    const r = await f.app.inject({ url: '/v1/audit?from=yesterday', headers: f.auth('auditor') });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/from/);
  });
});

describe('errors', () => {
  it('404 for an unknown route, in the same shape, with the request id', async () => {
    const r = await f.app.inject({ url: '/v1/nothing-here', headers: { 'x-request-id': 'req-abc' } });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({
      error: { code: 'not-found', message: 'no route GET /v1/nothing-here' },
      requestId: 'req-abc',
    });
    expect(r.headers['x-request-id']).toBe('req-abc');
  });

  it('503 without a stack trace or internals when the store is not answering, and nothing queued', async () => {
    const g = await startFixture();
    try {
      await g.store.close();
      const r = await g.app.inject({
        method: 'POST',
        url: '/v1/posts',
        headers: g.auth('editor'),
        ...json({ text: 'x' }),
      });
      expect(r.statusCode).toBe(503);
      expect(r.json().error.code).toBe('store-unavailable');
      expect(r.body).not.toMatch(/at .*\.ts:\d+|sqlite|kysely/i);
      const depths = await g.queues.depths();
      expect(Object.values(depths).every((d) => (d.waiting ?? 0) + (d.prioritized ?? 0) === 0)).toBe(true);
    } finally {
      await g.app.close();
      await g.queues.close();
      g.redis.disconnect();
    }
  });
});
