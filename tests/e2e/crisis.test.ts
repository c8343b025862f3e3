// The crisis path end to end, each part a process of its own: the API and the worker started
// from their entry points, the sandbox networks (a real PDS for Bluesky) over real HTTP, Redis
// and a SQLite store. A crisis as JSON, then as CAP with its Update and Cancel: all threaded
// under the original on the three networks; a CAP Exercise posts nothing.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import { freePort } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  PlanFolder,
  startService,
  WORKER_ENTRY,
  startSandboxes,
  testRedis,
  queuesIdle,
  waitFor,
  ORG,
  type Sandboxes,
  type TestRedis,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let t: TestStore;
let redis: TestRedis;
let plans: PlanFolder;
let base: string;
let token: string;
const children: ChildProcess[] = [];

function start(entry: string, env: Record<string, string>): ChildProcess {
  const service = startService(entry, env);
  service.child.on('exit', (code, signal) => {
    if (signal === null && code !== 0) {
      process.stderr.write(
        `${path.basename(entry)} exited with ${code}:\n${service.output().slice(-4000)}\n`,
      );
    }
  });
  children.push(service.child);
  return service.child;
}

const cap = (o: {
  id: string;
  status?: string;
  msgType?: string;
  references?: string;
  headline: string;
  description: string;
}) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${o.id}</identifier>
  <sender>alerte@indre-et-loire.gouv.fr</sender>
  <sent>2026-12-01T08:00:00+01:00</sent>
  <status>${o.status ?? 'Actual'}</status>
  <msgType>${o.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>${o.references ? `\n  <references>${o.references}</references>` : ''}
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Crue</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>${o.headline}</headline>
    <description>${o.description}</description>
    <web>https://www.indre-et-loire.gouv.fr/crue</web>
  </info>
</alert>`;

const REF = (id: string) => `alerte@indre-et-loire.gouv.fr,${id},2026-12-01T08:00:00+01:00`;

beforeAll(async () => {
  sandboxes = await startSandboxes();
  t = await openTestStore('sqlite');
  redis = testRedis();
  plans = new PlanFolder(sandboxes);
  const doc = plans.document({
    sunset: new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    posts: [],
  });
  doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'], label: '🔴 ALERTE', hashtags: ['#VilleDeTest'] };
  await applyPlan({ store: t.store, plan: plans.writeDocument(doc), actor: 'cli:test' });
  token = mintToken();
  await t.store.tokens.create({
    id: 'e2e',
    organisationId: ORG,
    name: 'astreinte',
    role: 'crisis',
    hash: hashToken(token),
    createdBy: 'cli:test',
  });
  const caFile = path.join(plans.dir, 'x-ca.pem');
  writeFileSync(caFile, sandboxes.x.ca);
  const port = await freePort();
  const common = {
    DATABASE_URL: t.url,
    REDIS_URL: redis.url,
    SUNSET_QUEUE_PREFIX: redis.prefix,
    SUNSET_DATA_DIR: plans.dir,
    LOG_LEVEL: 'warn',
  };
  start(API_ENTRY, { ...common, SUNSET_API_PORT: String(port), SUNSET_PLANS_DIR: plans.dir });
  start(WORKER_ENTRY, {
    ...common,
    ...sandboxes.env,
    SUNSET_X_CA_FILE: caFile,
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    SUNSET_RECONCILE_INTERVAL_MS: '5000',
  });
  base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the API to be ready',
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    30_000,
    200,
  );
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await redis?.cleanup();
  await t?.cleanup();
  plans?.remove();
  await sandboxes?.stop();
});

async function send(body: string, type: string): Promise<{ id: string; state: string }> {
  const r = await fetch(`${base}/v1/crisis`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    body,
  });
  const json = (await r.json()) as { id: string; state: string };
  expect(r.status, JSON.stringify(json)).toBe(202);
  return json;
}

interface Landed {
  x: { id: string; inReplyTo: string | undefined };
  mastodon: { id: string; inReplyTo: string | null };
  bluesky: { uri: string; parent: string | undefined; root: string | undefined };
}

async function landed(id: string): Promise<Landed | undefined> {
  const r = await fetch(`${base}/v1/crisis/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await r.json()) as { networks: Record<string, { status: string }> };
  if (!['x', 'bluesky', 'mastodon'].every((n) => body.networks[n]?.status === 'published')) return undefined;
  const first = async (network: 'x' | 'bluesky' | 'mastodon') =>
    (await t.store.deliveries.list({ organisationId: ORG, postId: id, network }))[0]?.parts[0]?.remoteId ??
    '';
  const xId = await first('x');
  const mId = await first('mastodon');
  const bUri = await first('bluesky');
  const record = await sandboxes.pds.com.atproto.repo.getRecord({
    repo: sandboxes.blueskyDid,
    collection: 'app.bsky.feed.post',
    rkey: bUri.split('/').pop() ?? '',
  });
  const reply = (record.data.value as { reply?: { parent: { uri: string }; root: { uri: string } } }).reply;
  return {
    x: { id: xId, inReplyTo: sandboxes.x.posts.find((p) => p.id === xId)?.inReplyToId },
    mastodon: {
      id: mId,
      inReplyTo: sandboxes.mastodon.statuses.find((s) => s.id === mId)?.inReplyToId ?? null,
    },
    bluesky: { uri: bUri, parent: reply?.parent.uri, root: reply?.root.uri },
  };
}

async function lastPart(id: string, network: 'x' | 'bluesky' | 'mastodon'): Promise<string> {
  return (
    (await t.store.deliveries.list({ organisationId: ORG, postId: id, network }))[0]?.parts.at(-1)
      ?.remoteId ?? ''
  );
}

describe('crisis messages through the API and the worker processes', () => {
  it('posts a JSON crisis to the three networks, X included after the sunset', async () => {
    const r = await send(
      JSON.stringify({ text: 'Incendie zone industrielle Nord : fermez vos fenêtres.' }),
      'application/json',
    );
    let got: Landed | undefined;
    await waitFor(
      'the JSON crisis on every network',
      async () => (got = await landed(r.id)) !== undefined,
      60_000,
      200,
    );
    expect(sandboxes.x.posts.find((p) => p.id === got!.x.id)?.text).toMatch(
      /^🔴 ALERTE Incendie zone industrielle Nord/,
    );
  });

  it('threads a CAP Update and Cancel under the original alert on X, Bluesky and Mastodon; an Exercise posts nothing', async () => {
    const original = await send(
      cap({
        id: 'crue-001',
        headline: 'Crue de la Loire : vigilance rouge',
        description: 'La Loire atteindra 6 mètres au pont Wilson.',
      }),
      'application/cap+xml',
    );
    const update = await send(
      cap({
        id: 'crue-002',
        msgType: 'Update',
        references: REF('crue-001'),
        headline: 'Crue : le pic est passé',
        description: 'La décrue commence ce matin.',
      }),
      'application/cap+xml',
    );
    const cancel = await send(
      cap({
        id: 'crue-003',
        msgType: 'Cancel',
        references: `${REF('crue-001')} ${REF('crue-002')}`,
        headline: 'Fin de la vigilance crue',
        description: 'La vigilance est levée.',
      }),
      'application/cap+xml',
    );
    const exercise = await send(
      cap({
        id: 'exo-9',
        status: 'Exercise',
        headline: 'EXERCICE crue',
        description: 'Ceci est un exercice.',
      }),
      'application/cap+xml',
    );
    expect(exercise.state).toBe('recorded');

    let o: Landed | undefined;
    let u: Landed | undefined;
    let c: Landed | undefined;
    await waitFor(
      'the alert, its update and its cancel on every network',
      async () =>
        (o = await landed(original.id)) !== undefined &&
        (u = await landed(update.id)) !== undefined &&
        (c = await landed(cancel.id)) !== undefined,
      90_000,
      250,
    );
    // The update answers the original; the cancel answers the newest alert it references (the update).
    expect(u!.x.inReplyTo).toBe(await lastPart(original.id, 'x'));
    expect(u!.mastodon.inReplyTo).toBe(await lastPart(original.id, 'mastodon'));
    expect(u!.bluesky.parent).toBe(await lastPart(original.id, 'bluesky'));
    expect(u!.bluesky.root).toBe(o!.bluesky.uri);
    expect(c!.x.inReplyTo).toBe(await lastPart(update.id, 'x'));
    expect(c!.mastodon.inReplyTo).toBe(await lastPart(update.id, 'mastodon'));
    expect(c!.bluesky.parent).toBe(await lastPart(update.id, 'bluesky'));
    expect(c!.bluesky.root).toBe(o!.bluesky.uri);
    expect(sandboxes.mastodon.statuses.find((s) => s.id === u!.mastodon.id)?.text).toMatch(/Mise à jour/);
    expect(sandboxes.mastodon.statuses.find((s) => s.id === c!.mastodon.id)?.text).toMatch(/Fin d.alerte/);

    const postsBefore = { x: sandboxes.x.posts.length, mastodon: sandboxes.mastodon.statuses.length };
    // The worker runs in its own process: its queues are read through Redis.
    const connection = createRedis(redis.url, { role: 'producer' });
    const queues = new Queues({ connection, prefix: redis.prefix });
    try {
      await waitFor('the queues to hold no due work', () => queuesIdle(queues), 30_000);
    } finally {
      await queues.close();
      connection.disconnect();
    }
    const texts = [
      ...sandboxes.x.posts.map((p) => p.text),
      ...sandboxes.mastodon.statuses.map((s) => s.text),
    ];
    expect(texts.some((x) => x.includes('EXERCICE'))).toBe(false);
    expect(sandboxes.x.posts.length).toBe(postsBefore.x);
    expect(sandboxes.mastodon.statuses.length).toBe(postsBefore.mastodon);
    const recorded = await t.store.audit.list({ organisationId: ORG, action: 'crisis.recorded' });
    expect(recorded.map((e) => e.postId)).toContain(exercise.id);
  });
});
