// Notifications end to end, each part a process of its own (API, worker), the sandbox networks, a
// webhook receiver and an SMTP server on 127.0.0.1: a crisis that waits for a second person tells
// the approvers by a signed webhook and by e-mail, the approval link leads to the approval, the
// published crisis is told with each network's link, and a receiver that is down is retried with
// backoff while the crisis goes out anyway. Every notification is in the audit log, no secret in it.
import type { ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { freePort } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  ORG,
  PlanFolder,
  postedTexts,
  sandboxFetchAllow,
  startService,
  startSandboxes,
  testRedis,
  waitFor,
  WORKER_ENTRY,
  type Sandboxes,
  type TestRedis,
} from '../support/exit-harness.ts';

const WEBHOOK_KEY = 'whk-7f3a9c1e5b2d8046a1c3e5f7';
const SMTP_PASSWORD = 'smtp-pw-4b6d8f0a2c';

interface Hook {
  headers: IncomingHttpHeaders;
  raw: string;
  body: {
    event: string;
    title: string;
    text: string;
    body: string;
    postId?: string;
    links: { approve?: string; approveApi?: string };
    networks?: { network: string; status: string; url?: string }[];
  };
  at: number;
}
interface Mail {
  to: string[];
  from: string;
  data: string;
}

let sandboxes: Sandboxes;
let t: TestStore;
let redis: TestRedis;
let plans: PlanFolder;
let base: string;
const tokens: Record<string, string> = {};
const children: ChildProcess[] = [];
const hooks: Hook[] = [];
const refused: number[] = [];
/** How many of the next webhook requests the receiver answers 503 (it is "down"). */
let downFor = 0;
const mails: Mail[] = [];
let receiver: Server;
let smtp: SMTPServer;

function start(entry: string, env: Record<string, string>): ChildProcess {
  const service = startService(entry, env);
  service.child.on('exit', (code, signal) => {
    if (signal === null && code !== 0)
      process.stderr.write(
        `${path.basename(entry)} exited with ${code}:\n${service.output().slice(-4000)}\n`,
      );
  });
  children.push(service.child);
  return service.child;
}

function signatureOk(h: Hook): boolean {
  const ts = String(h.headers['x-sunset-timestamp'] ?? '');
  const sent = String(h.headers['x-sunset-signature'] ?? '');
  const want = `sha256=${createHmac('sha256', WEBHOOK_KEY).update(`${ts}.${h.raw}`).digest('hex')}`;
  return sent.length === want.length && timingSafeEqual(Buffer.from(sent), Buffer.from(want));
}

async function token(name: string, person: string, role: 'crisis' | 'admin' | 'editor'): Promise<string> {
  const value = mintToken();
  await t.store.tokens.create({
    id: `tok-${name}`,
    organisationId: ORG,
    name,
    person,
    role,
    hash: hashToken(value),
    createdBy: 'cli:test',
  });
  return value;
}

async function api(method: string, url: string, who: string, body?: unknown) {
  const r = await fetch(`${base}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  sandboxes = await startSandboxes();
  t = await openTestStore('sqlite');
  redis = testRedis();
  plans = new PlanFolder(sandboxes);

  receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      if (downFor > 0) {
        downFor -= 1;
        refused.push(Date.now());
        res.writeHead(503).end();
        return;
      }
      hooks.push({ headers: req.headers, raw, body: JSON.parse(raw) as Hook['body'], at: Date.now() });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookPort = (receiver.address() as AddressInfo).port;

  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'sunset' && auth.password === SMTP_PASSWORD) cb(null, { user: 'sunset' });
      else cb(new Error('bad credentials'));
    },
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (d: Buffer) => (data += d.toString()));
      stream.on('end', () => {
        mails.push({
          to: session.envelope.rcptTo.map((a) => a.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          data,
        });
        cb();
      });
    },
  });
  const smtpPort = await freePort();
  await new Promise<void>((r) => smtp.listen(smtpPort, '127.0.0.1', r));

  const doc = plans.document({
    sunset: new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    posts: [],
  });
  doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'], label: 'ALERTE', approval: 'second-person' };
  doc['mirror'] = { ...(doc['mirror'] as object), approval: 'second-person' };
  await applyPlan({ store: t.store, plan: plans.writeDocument(doc), actor: 'cli:test' });
  tokens['alice'] = await token('astreinte-alice', 'alice', 'crisis');
  tokens['bob'] = await token('astreinte-bob', 'bob', 'crisis');
  tokens['carol'] = await token('admin-carol', 'carol', 'admin');
  tokens['dan'] = await token('redaction-dan', 'dan', 'editor');

  mkdirSync(path.join(sandboxes.secretsDir, ORG), { recursive: true });
  writeFileSync(path.join(sandboxes.secretsDir, ORG, 'smtp-password'), `${SMTP_PASSWORD}\n`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const settingsFile = path.join(plans.dir, 'notifications.yaml');
  writeFileSync(
    settingsFile,
    JSON.stringify({
      dashboardUrl: base,
      organisations: {
        [ORG]: {
          persons: {
            alice: { email: 'alice@ville.test' },
            bob: { email: 'bob@ville.test' },
            carol: { email: 'carol@ville.test' },
            dan: { email: 'dan@ville.test' },
          },
          channels: {
            equipe: {
              type: 'webhook',
              url: `http://127.0.0.1:${hookPort}/hooks/sunset`,
              secret: 'env:VILLE_DE_TEST__NOTIFY_WEBHOOK_KEY',
            },
            courriel: {
              type: 'email',
              host: '127.0.0.1',
              port: smtpPort,
              secure: false,
              user: 'sunset',
              password: 'file:smtp-password',
              from: 'sunset <sunset@ville.test>',
            },
          },
          routes: {
            'crisis.awaiting-approval': ['equipe', { channel: 'courriel', to: ['approvers'] }],
            'crisis.published': ['equipe'],
            'post.awaiting-approval': [{ channel: 'courriel', to: ['approvers'] }],
          },
        },
      },
    }),
  );
  const caFile = path.join(plans.dir, 'x-ca.pem');
  writeFileSync(caFile, sandboxes.x.ca);
  const common = {
    DATABASE_URL: t.url,
    REDIS_URL: redis.url,
    SUNSET_QUEUE_PREFIX: redis.prefix,
    SUNSET_DATA_DIR: plans.dir,
    SUNSET_NOTIFICATIONS_FILE: settingsFile,
    SUNSET_SECRETS_DIR: sandboxes.secretsDir,
    LOG_LEVEL: 'warn',
  };
  start(API_ENTRY, { ...common, SUNSET_API_PORT: String(port), SUNSET_PLANS_DIR: plans.dir });
  start(WORKER_ENTRY, {
    ...common,
    ...sandboxes.env,
    VILLE_DE_TEST__NOTIFY_WEBHOOK_KEY: WEBHOOK_KEY,
    SUNSET_X_CA_FILE: caFile,
    SUNSET_FETCH_ALLOW: [...sandboxFetchAllow(sandboxes), `127.0.0.1:${hookPort}`].join(','),
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    SUNSET_RECONCILE_INTERVAL_MS: '5000',
  });
  await waitFor(
    'the API to be ready',
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    30_000,
    200,
  );
}, 120_000);

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await new Promise((r) => receiver?.close(r));
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  await redis?.cleanup();
  await t?.cleanup();
  plans?.remove();
  await sandboxes?.stop();
});

const hookFor = (event: string, postId: string) =>
  hooks.find((h) => h.body.event === event && h.body.postId === postId);

describe('notifications to the team', () => {
  it('tells the approvers of a crisis by a signed webhook and by e-mail; the link leads to the approval', async () => {
    const sent = await api('POST', '/v1/crisis', 'alice', { text: 'Crue de la Loire : évacuez les quais.' });
    expect(sent.status).toBe(202);
    expect(sent.json['state']).toBe('awaiting-approval');
    const id = String(sent.json['id']);

    await waitFor(
      'the awaiting-approval webhook',
      () => hookFor('crisis.awaiting-approval', id) !== undefined,
    );
    const hook = hookFor('crisis.awaiting-approval', id)!;
    expect(signatureOk(hook)).toBe(true);
    // The timestamp is inside the signed material: a replayed body under a new timestamp fails.
    expect(signatureOk({ ...hook, headers: { ...hook.headers, 'x-sunset-timestamp': '1' } })).toBe(false);
    expect(hook.body.text).toContain('Crue de la Loire');
    // The plan's locale is French: people read the message in French, the fields keep their names.
    expect(hook.body.title).toContain('attend une approbation');
    expect(hook.body.text).toContain("Ouvrez-le pour l'approuver");
    expect(hook.body.body).toBe(hook.body.text);
    const link = hook.body.links.approve!;
    expect(link).toBe(`${base}/#/crise/${id}`);
    expect(hook.body.text).toContain(link);

    await waitFor('the e-mail to the approvers', () => mails.some((m) => m.data.includes(id)));
    const mail = mails.find((m) => m.data.includes(id))!;
    // Those who can approve (crisis and admin tokens), not the sender, not an editor.
    expect(mail.to.sort()).toEqual(['bob@ville.test', 'carol@ville.test']);
    expect(mail.data).toContain(`#/crise/${id}`);

    // The link opens the dashboard (its crisis screen), which approves through the API.
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/data-screen="crise"/);
    const screen = await api('GET', `/v1/crisis/${id}`, 'bob');
    expect(screen.json['state']).toBe('awaiting-approval');
    expect(hook.body.links.approveApi).toBe(`${base}/v1/crisis/${id}/approve`);
    const approved = await fetch(hook.body.links.approveApi!, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['bob']}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(approved.status).toBe(202);

    await waitFor('the published webhook', () => hookFor('crisis.published', id) !== undefined, 60_000, 200);
    const published = hookFor('crisis.published', id)!;
    expect(signatureOk(published)).toBe(true);
    expect(published.body.networks?.map((n) => [n.network, n.status]).sort()).toEqual([
      ['bluesky', 'published'],
      ['mastodon', 'published'],
      ['x', 'published'],
    ]);
    for (const n of published.body.networks ?? []) expect(n.url).toMatch(/^https?:\/\//);

    const entries = await t.store.audit.list({ organisationId: ORG, postId: id, limit: 100 });
    const notes = entries.filter((e) => e.action.startsWith('notification.'));
    expect(notes.filter((e) => e.action === 'notification.sent').map((e) => e.details)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'crisis.awaiting-approval', channel: 'equipe' }),
        expect.objectContaining({
          event: 'crisis.awaiting-approval',
          channel: 'courriel',
          recipients: ['bob', 'carol'],
        }),
        expect.objectContaining({ event: 'crisis.published', channel: 'equipe' }),
      ]),
    );
    const all = JSON.stringify(entries);
    expect(all).not.toContain(WEBHOOK_KEY);
    expect(all).not.toContain(SMTP_PASSWORD);
  }, 120_000);

  it('retries a receiver that is down with backoff; the crisis goes out meanwhile', async () => {
    downFor = 2;
    const before = refused.length;
    const sent = await api('POST', '/v1/crisis', 'alice', { text: 'Coupure d’eau quartier Nord.' });
    const id = String(sent.json['id']);
    await waitFor('the receiver to refuse twice', () => refused.length >= before + 2);
    // Not told yet, and the crisis is approved and posted anyway.
    expect(hookFor('crisis.awaiting-approval', id)).toBeUndefined();
    expect((await api('POST', `/v1/crisis/${id}/approve`, 'bob', {})).status).toBe(202);
    await waitFor(
      'the crisis on the three networks',
      async () => {
        const s = await api('GET', `/v1/crisis/${id}`, 'bob');
        const n = s.json['networks'] as Record<string, { status: string }>;
        return ['x', 'bluesky', 'mastodon'].every((k) => n[k]?.status === 'published');
      },
      60_000,
      200,
    );
    await waitFor(
      'the webhook once the receiver is back',
      () => hookFor('crisis.awaiting-approval', id) !== undefined,
    );
    const times = [...refused.slice(before), hookFor('crisis.awaiting-approval', id)!.at];
    // Backoff: each retry waits at least half the base delay (2 s) times 2^(attempt-1).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1900);
    const entries = await t.store.audit.list({ organisationId: ORG, postId: id, limit: 100 });
    const failed = entries.filter(
      (e) =>
        e.action === 'notification.attempt-failed' &&
        (e.details as { channel?: string }).channel === 'equipe',
    );
    expect(failed).toHaveLength(2);
    expect(failed[0]?.error).toContain('503');
  }, 120_000);

  it('holds an ordinary post for a second person, tells the approvers, and posts it once approved', async () => {
    const text = `Le marché de Noël ouvre samedi place Plumereau ${Date.now()}.`;
    const sent = await api('POST', '/v1/posts', 'dan', { text });
    expect(sent.status).toBe(202);
    expect(sent.json['state']).toBe('awaiting-approval');
    const id = String(sent.json['id']);
    // Nothing is queued before the approval.
    expect(await t.store.deliveries.list({ organisationId: ORG, postId: id })).toEqual([]);

    await waitFor('the e-mail to the post approvers', () => mails.some((m) => m.data.includes(id)));
    // Editors and admins other than the sender: carol (admin); crisis tokens do not approve posts.
    const mail = mails.find((m) => m.data.includes(id))!;
    expect(mail.to).toEqual(['carol@ville.test']);
    // The French plan's e-mail is French, and its link opens the dashboard's approvals screen.
    const body = mail.data.replace(/=\r?\n/g, '');
    expect(body).toContain('Subject: [Ville de Test] Un post de dan attend une approbation');
    expect(body).toContain(`Ouvrez-le pour l'approuver : ${base}/#/approbations`);
    const page = await fetch(`${base}/#/approbations`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/data-screen="approbations"/);

    const own = await api('POST', `/v1/posts/${id}/approve`, 'dan', {});
    expect(own.status).toBe(403);
    expect(await t.store.deliveries.list({ organisationId: ORG, postId: id })).toEqual([]);
    const other = await api('POST', `/v1/posts/${id}/approve`, 'bob', {});
    expect(other.status).toBe(403);

    const approved = await api('POST', `/v1/posts/${id}/approve`, 'carol', {});
    expect(approved.status).toBe(202);
    expect(approved.json['state']).toBe('accepted');
    await waitFor(
      'the post on Bluesky and Mastodon',
      async () => {
        const s = await api('GET', `/v1/posts/${id}`, 'carol');
        const n = s.json['networks'] as Record<string, { status: string }>;
        return ['bluesky', 'mastodon'].every((k) => n[k]?.status === 'published');
      },
      60_000,
      200,
    );
    const posted = await postedTexts(sandboxes);
    expect(posted.bluesky.some((p) => p.includes('place Plumereau'))).toBe(true);
    expect(posted.mastodon.some((p) => p.includes('place Plumereau'))).toBe(true);
    const actions = (await t.store.audit.list({ organisationId: ORG, postId: id })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['post.awaiting-approval', 'post.approval-refused', 'post.approved']),
    );
  }, 120_000);
});
