// Posts that come through the API (ordinary and crisis), end to end with the worker runtime
// and the sandbox networks: the crisis text as each network gets it, top priority over a
// backlog, follow-ups threaded under the original, CAP exercises kept off the accounts, the
// second-person approval, and nothing accepted while Redis is away.
import {
  applyPlan,
  approveCrisis,
  NotAcceptedError,
  OrgSettingsCache,
  postState,
  submitPost,
  ApprovalError,
  type PostsContext,
  type WorkerRuntime,
} from '@sunset/engine';
import { createRedis, Queues } from '@sunset/queue';
import type { TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  type PlanFolder,
  startEngine,
  startSandboxes,
  queuesIdle,
  waitFor,
  ORG,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let engine: TestEngine;
let t: TestStore;
let queues: Queues;
let runtime: WorkerRuntime;
let plans: PlanFolder;
let ctx: PostsContext;

// The sunset is a day ahead until the test of what comes after it moves it behind: how long the
// tests before that one take on a busy machine does not matter.
let SUNSET = 0;

beforeAll(async () => {
  sandboxes = await startSandboxes();
  engine = await startEngine(sandboxes, { runtime: { concurrency: 2 } });
  ({ t, queues, plans } = engine);
  runtime = engine.runtime!;
  SUNSET = Date.now() + 24 * 3600_000;
  const doc = plans.document({ sunset: iso(SUNSET), posts: [] });
  doc['crisis'] = {
    on: ['x', 'bluesky', 'mastodon'],
    label: '🔴 ALERTE',
    link: 'https://www.ville.test/alertes',
    hashtags: ['#VilleDeTest'],
  };
  doc['mirror'] = { before_sunset: ['x', 'bluesky', 'mastodon'], after_sunset: ['bluesky', 'mastodon'] };
  await applyPlan({ store: t.store, queues, plan: plans.writeDocument(doc), actor: 'cli:test' });
  ctx = { store: t.store, queues, settings: new OrgSettingsCache(t.store) };
});
afterAll(async () => {
  await engine?.close();
  await sandboxes?.stop();
});

const published = async (postId: string) => {
  const s = await postState(t.store, ORG, postId);
  return (
    Object.values(s?.networks ?? {}).every((n) => n.status === 'published') &&
    Object.keys(s?.networks ?? {}).length > 0
  );
};

describe('posts through the engine', () => {
  it('mirrors an ordinary post before the sunset, and a crisis gets the label, the link and the hashtags', async () => {
    const ordinary = await submitPost(ctx, {
      organisationId: ORG,
      source: 'ordinary',
      text: 'Le marché de Noël ouvre samedi place de la Mairie.',
      actor: 'token:editor',
    });
    expect(ordinary.state).toBe('accepted');
    expect(ordinary.deliveries.map((d) => d.network)).toEqual(['x', 'bluesky', 'mastodon']);
    const crisis = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Crue de la Loire : évacuation préventive du quai Nord.',
      actor: 'token:duty',
    });
    await waitFor(
      'both posts to be published',
      async () => (await published(ordinary.postId)) && (await published(crisis.postId)),
      30_000,
    );
    const onMastodon = sandboxes.mastodon.statuses.find((s) => s.text.includes('quai Nord'));
    expect(onMastodon?.text).toBe(
      '🔴 ALERTE Crue de la Loire : évacuation préventive du quai Nord.\nhttps://www.ville.test/alertes #VilleDeTest',
    );
    expect(sandboxes.x.posts.some((p) => p.text.startsWith('🔴 ALERTE Crue de la Loire'))).toBe(true);
    const audit = await t.store.audit.list({ organisationId: ORG, action: 'crisis.accepted' });
    expect(audit.map((a) => a.actor)).toContain('token:duty');
  });

  it('sends the same client key twice as one post', async () => {
    const input = {
      organisationId: ORG,
      source: 'ordinary' as const,
      text: 'Fermeture de la piscine ce soir.',
      actor: 'token:editor',
      clientKey: 'retry-1',
    };
    const a = await submitPost(ctx, input);
    const b = await submitPost(ctx, input);
    expect(b.postId).toBe(a.postId);
    expect(b.duplicate).toBe(true);
    await waitFor('the post', () => published(a.postId), 30_000);
    expect(sandboxes.mastodon.statuses.filter((s) => s.text === input.text)).toHaveLength(1);
  });

  it('writes crises sent at the same moment together, each whole; one that cannot be written fails alone', async () => {
    const before = await t.store.audit.head();
    const crisis = (i: number, clientKey?: string) =>
      submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: `Coupure d'eau, secteur ${i}.`,
        networks: ['mastodon'],
        actor: 'token:duty',
        ...(clientKey ? { clientKey } : {}),
      });
    // Two sends of one key at once both find no post, so both try to write it: the second cannot.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 6 }, (_, i) => crisis(i)),
      crisis(6, 'same-moment'),
      crisis(6, 'same-moment'),
    ]);
    const accepted = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(accepted).toHaveLength(7);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    expect(new Set(accepted.map((r) => r.postId)).size).toBe(7);
    for (const r of accepted) {
      expect(r.state).toBe('accepted');
      const stored = await t.store.deliveries.list({ organisationId: ORG, postId: r.postId });
      expect(stored.map((d) => d.id)).toEqual(r.deliveries.map((d) => d.deliveryId));
      expect(stored.map((d) => d.network)).toEqual(['mastodon']);
    }
    const entries = await t.store.audit.list({ action: 'crisis.accepted', afterSeq: before.seq });
    expect(entries.map((e) => e.postId).sort()).toEqual(accepted.map((r) => r.postId).sort());
    expect((await t.store.verifyAudit()).ok).toBe(true);
    for (const r of accepted) await waitFor(`crisis ${r.postId}`, () => published(r.postId), 30_000);
  });

  it('refuses a bad request with every reason, and writes nothing', async () => {
    const before = await t.store.audit.head();
    await expect(
      submitPost(ctx, {
        organisationId: ORG,
        source: 'ordinary',
        text: ' ',
        images: [{ data: new Uint8Array(10), mediaType: 'image/bmp', alt: '' }],
        link: 'ftp://example.org',
        actor: 'token:editor',
      }),
    ).rejects.toThrow(
      /text: empty.*images\[0\]\.alt: missing.*images\[0\]: type image\/bmp.*link: not an http\(s\) URL/,
    );
    expect((await t.store.audit.head()).seq).toBe(before.seq);
  });

  it('threads a follow-up under the original on every network', async () => {
    const original = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Tempête : parcs et jardins fermés.',
      actor: 'token:duty',
    });
    // Sent at once: the update waits for its original to land.
    const update = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Mise à jour : les parcs rouvrent demain à 8 h.',
      replyToPostId: original.postId,
      actor: 'token:duty',
    });
    await waitFor(
      'the original and its update',
      async () => (await published(original.postId)) && (await published(update.postId)),
      60_000,
    );
    const originalOn = async (network: 'x' | 'bluesky' | 'mastodon') =>
      (await t.store.deliveries.list({ organisationId: ORG, postId: original.postId, network }))[0]?.parts.at(
        -1,
      )?.remoteId;
    const xUpdate = sandboxes.x.posts.find((p) => p.text.includes('parcs rouvrent'));
    expect(xUpdate?.inReplyToId).toBe(await originalOn('x'));
    const mUpdate = sandboxes.mastodon.statuses.find((s) => s.text.includes('parcs rouvrent'));
    expect(mUpdate?.inReplyToId).toBe(await originalOn('mastodon'));
    const bsky = await sandboxes.pds.com.atproto.repo.listRecords({
      repo: sandboxes.blueskyDid,
      collection: 'app.bsky.feed.post',
      limit: 100,
    });
    const bUpdate = bsky.data.records.find((r) =>
      String((r.value as { text: string }).text).includes('parcs rouvrent'),
    );
    const reply = (bUpdate?.value as { reply?: { parent: { uri: string }; root: { uri: string } } }).reply;
    expect(reply?.parent.uri).toBe(await originalOn('bluesky'));
    expect(reply?.root.uri).toBe(await originalOn('bluesky'));
  });

  it('keeps CAP exercises off the accounts, recorded', async () => {
    const before = sandboxes.mastodon.statuses.length;
    const r = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'EXERCICE : alerte inondation.',
      cap: {
        identifier: 'ex-1',
        sender: 'alerte@ville.test',
        sent: '2026-12-01T08:00:00+01:00',
        status: 'Exercise',
        msgType: 'Alert',
      },
      actor: 'token:duty',
    });
    expect(r.state).toBe('recorded');
    expect(r.deliveries).toEqual([]);
    expect(await t.store.deliveries.list({ organisationId: ORG, postId: r.postId })).toEqual([]);
    await waitFor('the queues to hold no due work', () => queuesIdle(queues), 30_000);
    expect(sandboxes.mastodon.statuses.length).toBe(before);
    expect((await t.store.audit.list({ organisationId: ORG, action: 'crisis.recorded' })).length).toBe(1);
  });

  it('does not post a CAP alert whose <expires> passed while it waited for a network', async () => {
    // Expires on the next whole second but one (CAP times have no fractions).
    const expiresMs = Math.ceil((Date.now() + 1_000) / 1000) * 1000 + 1_000;
    const expires = new Date(expiresMs).toISOString().replace('.000Z', '+00:00');
    const from = new Date();
    sandboxes.mastodon.inject(
      { kind: 'status', status: 503 },
      { times: Infinity, path: '/api/v1/statuses', method: 'POST' },
    );
    try {
      const r = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: 'Orages : restez à l’abri jusqu’à 18 h.',
        networks: ['mastodon'],
        cap: {
          identifier: 'expiring-1',
          sender: 'alerte@ville.test',
          sent: from.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
          status: 'Actual',
          msgType: 'Alert',
          expires,
        },
        actor: 'token:duty',
      });
      expect(r.state).toBe('accepted');
      await waitFor(
        'Mastodon to refuse it once, and the alert to expire',
        async () =>
          Date.now() > expiresMs + 100 &&
          sandboxes.mastodon.received.some((q) => q.status === 503 && q.time.getTime() >= from.getTime()),
        30_000,
      );
    } finally {
      sandboxes.mastodon.clearFaults();
    }
    const [delivery] = await t.store.deliveries
      .list({ organisationId: ORG, network: 'mastodon', source: 'crisis' })
      .then((all) => all.filter((d) => d.parts[0]?.text.includes('restez à l’abri')));
    expect(delivery).toBeDefined();
    await waitFor(
      'the delivery to be skipped',
      async () => (await t.store.deliveries.get(delivery!.id))?.status === 'skipped',
      60_000,
    );
    expect(sandboxes.mastodon.statuses.some((s) => s.text.includes('restez à l’abri'))).toBe(false);
    const [skip] = await t.store.audit.list({
      organisationId: ORG,
      action: 'delivery.skipped',
      postId: delivery!.postId!,
    });
    expect(JSON.stringify(skip?.details)).toContain(`the CAP alert expired at ${expires}`);
  });

  it('answers "not accepted" while Redis is away, and nothing of the post is ever sent', async () => {
    const away = createRedis('redis://127.0.0.1:1', { role: 'producer' });
    const offline: PostsContext = { ...ctx, queues: new Queues({ connection: away }) };
    await expect(
      submitPost(offline, {
        organisationId: ORG,
        source: 'crisis',
        text: 'Ne doit jamais partir.',
        actor: 'token:duty',
      }),
    ).rejects.toBeInstanceOf(NotAcceptedError);
    away.disconnect();
    expect((await runtime.reconcile()).requeued).toBe(0);
    await waitFor('the queues to hold no due work', () => queuesIdle(queues), 30_000);
    expect(sandboxes.mastodon.statuses.some((s) => s.text.includes('Ne doit jamais partir'))).toBe(false);
  });

  it('puts a crisis before a backlog of ordinary posts', async () => {
    sandboxes.mastodon.inject(
      { kind: 'latency', ms: 100 },
      { times: 10_000, path: '/api/v1/statuses', method: 'POST' },
    );
    try {
      const backlog: Awaited<ReturnType<typeof submitPost>>[] = [];
      for (let i = 0; i < 60; i++) {
        backlog.push(
          await submitPost(ctx, {
            organisationId: ORG,
            source: 'ordinary',
            text: `Agenda n°${i + 1} : concert au parc.`,
            networks: ['mastodon'],
            actor: 'token:editor',
          }),
        );
      }
      const mastodonDeliveries = () =>
        Promise.all(
          backlog.map(
            async (b) => (await t.store.deliveries.list({ organisationId: ORG, postId: b.postId }))[0],
          ),
        );
      const waiting = (await mastodonDeliveries()).filter((d) => d?.status !== 'published').length;
      // The test means something only if a backlog is there when the crisis comes.
      expect(waiting).toBeGreaterThanOrEqual(20);
      const crisis = await submitPost(ctx, {
        organisationId: ORG,
        source: 'crisis',
        text: 'Coupure d’eau quartier Sud.',
        networks: ['mastodon'],
        actor: 'token:duty',
      });
      await waitFor('the crisis', () => published(crisis.postId), 30_000);
      const [crisisDelivery] = await t.store.deliveries.list({ organisationId: ORG, postId: crisis.postId });
      const crisisAt = crisisDelivery!.parts[0]!.publishedAt!.getTime();
      // A crisis queued behind the backlog would land after all of it. Its own lane lets it land
      // while most of the backlog still waits; the ordinary posts that land meanwhile depend only
      // on how long the crisis takes (100 ms at the server, more on a loaded machine), so the
      // bound is on what is left, not on a count of exact timings.
      const after = (await mastodonDeliveries()).filter((d) => {
        const at = d?.parts[0]?.publishedAt?.getTime();
        return at === undefined || at > crisisAt;
      });
      expect(after.length).toBeGreaterThanOrEqual(Math.floor(waiting / 2));
      await waitFor(
        'the backlog',
        async () => (await Promise.all(backlog.map((b) => published(b.postId)))).every(Boolean),
        60_000,
      );
    } finally {
      sandboxes.mastodon.clearFaults();
    }
  });

  it('waits for a second person when the plan asks for it', async () => {
    const doc = plans.document({ sunset: iso(SUNSET), posts: [] });
    doc['crisis'] = { on: ['bluesky', 'mastodon'], approval: 'second-person' };
    await applyPlan({
      store: t.store,
      queues,
      plan: plans.writeDocument(doc, 'approval.yaml'),
      actor: 'cli:test',
    });
    const r = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Alerte canicule : salles rafraîchies ouvertes.',
      actor: 'token:alice',
    });
    expect(r.state).toBe('awaiting-approval');
    expect(r.deliveries).toEqual([]);
    await expect(
      approveCrisis(ctx, { organisationId: ORG, postId: r.postId, actor: 'token:alice' }),
    ).rejects.toBeInstanceOf(ApprovalError);
    const approved = await approveCrisis(ctx, { organisationId: ORG, postId: r.postId, actor: 'token:bob' });
    expect(approved.deliveries.map((d) => d.network)).toEqual(['bluesky', 'mastodon']);
    await waitFor('the approved crisis', () => published(r.postId), 30_000);
    expect(sandboxes.mastodon.statuses.filter((s) => s.text.includes('canicule'))).toHaveLength(1);
  });

  it('after the sunset, skips an ordinary post aimed at X and still sends a crisis there', async () => {
    SUNSET = Date.now() - 60_000;
    const doc = plans.document({ sunset: iso(SUNSET), posts: [] });
    doc['crisis'] = { on: ['x', 'bluesky', 'mastodon'] };
    await applyPlan({
      store: t.store,
      queues,
      plan: plans.writeDocument(doc, 'after.yaml'),
      actor: 'cli:test',
    });
    const ordinary = await submitPost(ctx, {
      organisationId: ORG,
      source: 'ordinary',
      text: 'Après le départ : nouvelle bibliothèque.',
      networks: ['x', 'mastodon'],
      actor: 'token:editor',
    });
    const crisis = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Après le départ : alerte orages.',
      actor: 'token:duty',
    });
    await waitFor(
      'both',
      async () => {
        const o = await postState(t.store, ORG, ordinary.postId);
        return (
          o?.networks.x?.status === 'skipped' &&
          o.networks.mastodon?.status === 'published' &&
          (await published(crisis.postId))
        );
      },
      30_000,
    );
    expect(sandboxes.x.posts.some((p) => p.text.includes('nouvelle bibliothèque'))).toBe(false);
    expect(sandboxes.x.posts.some((p) => p.text.includes('alerte orages'))).toBe(true);
    const [skip] = await t.store.audit.list({
      organisationId: ORG,
      action: 'delivery.skipped',
      postId: ordinary.postId,
    });
    expect(JSON.stringify(skip?.details)).toMatch(/crisis posts only/);
    // By default, after the sunset an ordinary post is not even aimed at X.
    const plain = await submitPost(ctx, {
      organisationId: ORG,
      source: 'ordinary',
      text: 'Sans réseau précisé.',
      actor: 'token:editor',
    });
    expect(plain.deliveries.map((d) => d.network)).toEqual(['bluesky', 'mastodon']);
  });
});
