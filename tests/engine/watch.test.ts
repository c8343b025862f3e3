// The worker's watch end to end: the runtime reads each account's follower count on the X fake,
// the real PDS (a second account follows) and the Mastodon fake, keeps the history in the store,
// reads X only while the budget keeps its crisis reserve and records what each read cost; then
// the identity checks, run by the worker on their interval, find the dormant X profile changed
// behind the plan's back, keep the failed run and queue an `identity.check-failed` notification;
// and while a crisis is on the wire, the watch starts none of its tasks.
import http from 'node:http';
import net from 'node:net';
import { AtpAgent } from '@atproto/api';
import { applyPlan, monthStart, OrgSettingsCache, submitPost } from '@sunset/engine';
import { encodePng } from '@sunset/sandboxes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTODON_ACCOUNT, X_ACCOUNT } from '../support/accounts.ts';
import {
  iso,
  ORG,
  startEngine,
  startSandboxes,
  waitFor,
  sandboxFetchAllow,
  type Sandboxes,
  type TestEngine,
} from '../support/exit-harness.ts';

let sandboxes: Sandboxes;
let engine: TestEngine;
/** The webhooks the team's receiver got: the notifications' JSON. */
const hooks: Record<string, unknown>[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    hooks.push(JSON.parse(body) as Record<string, unknown>);
    res.writeHead(204).end();
  });
});

/** A loopback port nothing listens on: DNS questions sent there fail at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  sandboxes = await startSandboxes();
  const dns = `127.0.0.1:${await closedPort()}`;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `127.0.0.1:${(receiver.address() as net.AddressInfo).port}`;
  sandboxes.env['VILLE_DE_TEST__NOTIFY_WEBHOOK_KEY'] = 'k'.repeat(32);
  engine = await startEngine(sandboxes, {
    runtime: {
      fetchAllow: [...sandboxFetchAllow(sandboxes), hook],
      notifications: {
        settings: {
          organisations: {
            [ORG]: {
              persons: {},
              channels: {
                equipe: {
                  type: 'webhook',
                  url: `http://${hook}/hooks/sunset`,
                  secret: 'env:VILLE_DE_TEST__NOTIFY_WEBHOOK_KEY',
                },
              },
              routes: { 'identity.check-failed': [{ channel: 'equipe' }] },
            },
          },
        },
      },
      watch: {
        tickMs: 50,
        followerIntervalsMs: { x: 150, bluesky: 150, mastodon: 150 },
        identityIntervalMs: 400,
        dnsServers: [dns],
      },
    },
  });
}, 120_000);
afterAll(async () => {
  await engine?.close();
  await sandboxes?.stop();
  await new Promise((r) => receiver.close(r));
});

const DORMANT = {
  at: iso(Date.now() - 60_000),
  x: {
    name: 'Ville de Test (archive)',
    bio: 'Ce compte ne publie plus. Retrouvez-nous sur Bluesky et Mastodon.',
    url: 'https://www.ville.test/nous-suivre',
    location: 'Test, France',
  },
};

function plan() {
  const document = engine.plans.document({
    sunset: iso(Date.now() + 30 * 86_400_000),
    posts: [],
    dormantProfile: DORMANT,
  });
  const networks = document['networks'] as Record<string, Record<string, unknown>>;
  // $0.03 to spend outside the reserve: three user reads at $0.010, then X is left alone.
  networks['x']!['budget'] = { monthly: 1, crisis_reserve: 0.97 };
  return engine.plans.writeDocument(document);
}

describe('the watch', () => {
  it('reads follower counts on every network, and X only while the budget keeps its reserve', async () => {
    sandboxes.x.setFollowers(X_ACCOUNT.id, 1234);
    const mastodon = sandboxes.mastodon.accounts.find((a) => a.username === MASTODON_ACCOUNT.username)!;
    mastodon.followers = 56;
    const fan = await sandboxes.bluesky.createAccount('fan');
    const agent = new AtpAgent({ service: sandboxes.bluesky.pdsUrl });
    await agent.login({ identifier: fan.handle, password: fan.accountPassword });
    await agent.follow(sandboxes.blueskyDid);

    await applyPlan({ store: engine.t.store, queues: engine.queues, plan: plan(), actor: 'cli:test' });
    const history = () => engine.t.store.watch.followers(ORG);
    await waitFor('a reading on every network', async () => {
      const networks = new Set((await history()).map((h) => h.network));
      return networks.size === 3;
    });
    const latest = async (network: string) => (await history()).filter((h) => h.network === network).at(-1);
    expect((await latest('x'))?.count).toBe(1234);
    expect((await latest('bluesky'))?.count).toBe(1);
    expect((await latest('mastodon'))?.count).toBe(56);

    // Hourly in production, 150 ms here: a change shows in the next reading.
    mastodon.followers = 61;
    await waitFor('the new Mastodon count', async () => (await latest('mastodon'))?.count === 61);

    // Three X reads fit the budget outside the reserve; the fourth would dip into it.
    await waitFor('the X reads to stop at the reserve', async () => {
      const tasks = await engine.t.store.watch.tasks(ORG);
      return tasks.some((t) => t.task === 'followers:x' && t.status === 'skipped');
    });
    const xReads = (await history()).filter((h) => h.network === 'x');
    expect(xReads).toHaveLength(3);
    const task = (await engine.t.store.watch.tasks(ORG)).find((t) => t.task === 'followers:x');
    expect(task?.message).toContain('crisis reserve');
    expect(await engine.t.store.xSpend.spentSince(ORG, monthStart(new Date()))).toBeLessThanOrEqual(30_000);
    const usersMe = sandboxes.x.received.filter((r) => r.path === '/2/users/me');
    expect(usersMe.length).toBeGreaterThanOrEqual(3);
  });

  it('finds the dormant X profile changed behind the plan’s back, keeps the run and tells the team', async () => {
    const profileStep = async () =>
      (await engine.t.store.deliveries.list({ organisationId: ORG })).find(
        (d) => d.kind === 'profile' && d.network === 'x',
      );
    await waitFor(
      'the dormant X profile to be set',
      async () => (await profileStep())?.status === 'published',
    );
    // The reserve would keep X's reads out: the month's budget is raised, as an admin would.
    const document = engine.plans.document({
      sunset: iso(Date.now() + 30 * 86_400_000),
      posts: [],
      dormantProfile: DORMANT,
    });
    await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: engine.plans.writeDocument(document),
      actor: 'cli:test',
    });
    const xCheck = async () => {
      const [run] = await engine.t.store.watch.identityChecks(ORG, 1);
      return run?.results.find((r) => r['check'] === 'x-profile');
    };
    await waitFor('an identity run that finds the X profile as the plan set it', async () => {
      return (await xCheck())?.['status'] === 'ok';
    });

    // Someone with the account changes its profile.
    sandboxes.x.profileOf(X_ACCOUNT.id)!.name = 'Crypto giveaway 🚀';
    sandboxes.x.profileOf(X_ACCOUNT.id)!.description = 'Send 1 BTC, get 2 back';
    await waitFor('a run that finds the drift', async () => (await xCheck())?.['status'] === 'failed');
    const message = String((await xCheck())?.['message']);
    expect(message).toContain('name reads "Crypto giveaway 🚀", the plan set "Ville de Test (archive)"');
    expect(message).toContain('Someone else may control the account');
    const [run] = await engine.t.store.watch.identityChecks(ORG, 1);
    expect(run?.failed).toBeGreaterThanOrEqual(1);

    // The team's webhook says what drifted and what to do.
    const told = () =>
      hooks.find(
        (h) => h['event'] === 'identity.check-failed' && String(h['reason']).includes('Crypto giveaway'),
      );
    await waitFor('the identity.check-failed webhook', () => told() !== undefined);
    // In the plan's language (fr-FR).
    expect(told()).toMatchObject({
      organisationId: ORG,
      title: expect.stringMatching(/^\[Ville de Test\] Vérification d’identité en échec/),
      checklist: expect.arrayContaining([expect.stringContaining('changez le mot de passe X')]),
    });
    const audit = await engine.t.store.audit.list({ organisationId: ORG });
    expect(audit.some((e) => e.action === 'identity.checked' && e.outcome === 'error')).toBe(true);

    // The texts put back, but another profile picture: compared by hash with the one read before.
    const profile = sandboxes.x.profileOf(X_ACCOUNT.id)!;
    profile.name = DORMANT.x.name;
    profile.description = DORMANT.x.bio;
    profile.avatar = { ...profile.avatar, data: encodePng(48, 48, [0xd0, 0x20, 0x20], 7) };
    await waitFor('a run that finds the new picture', async () =>
      String((await xCheck())?.['message']).includes('profile picture is not the one'),
    );
    expect((await xCheck())?.['status']).toBe('failed');
    expect(String((await xCheck())?.['message'])).not.toContain('name reads');
  });
  it('starts none of its tasks while a crisis is on the wire, and goes on after it', async () => {
    const document = engine.plans.document({
      sunset: iso(Date.now() + 30 * 86_400_000),
      posts: [],
      dormantProfile: DORMANT,
    });
    document['crisis'] = { on: ['mastodon'], label: '🔴 ALERTE' };
    await applyPlan({
      store: engine.t.store,
      queues: engine.queues,
      plan: engine.plans.writeDocument(document),
      actor: 'cli:test',
    });
    const readings = async (since: Date) =>
      (await engine.t.store.watch.followers(ORG, { since })).filter((r) => r.network !== 'x');
    const before = new Date();
    await waitFor('Bluesky and Mastodon readings', async () => (await readings(before)).length >= 2);

    // The crisis stays on the wire for two seconds: some thirteen readings' worth at 150 ms.
    sandboxes.mastodon.inject({ kind: 'latency', ms: 2_000 }, { path: '/api/v1/statuses', method: 'POST' });
    const ctx = {
      store: engine.t.store,
      queues: engine.queues,
      settings: new OrgSettingsCache(engine.t.store),
    };
    const sent = await submitPost(ctx, {
      organisationId: ORG,
      source: 'crisis',
      text: 'Alerte crue ref=watch-hold : évitez les berges.',
      networks: ['mastodon'],
      actor: 'token:test',
    });
    const deliveryId = sent.deliveries[0]?.deliveryId ?? '';
    const status = async () => (await engine.t.store.deliveries.get(deliveryId))?.status;
    await waitFor('the crisis to be on the wire', async () => (await status()) === 'sending', 20_000, 10);
    // A task that had started just before the crisis may still record its reading.
    const onTheWire = new Date(Date.now() + 200);
    await waitFor('the crisis to be published', async () => (await status()) === 'published', 20_000, 10);
    const published = new Date();
    const during = (await readings(onTheWire)).filter((r) => r.at < published);
    expect(during).toEqual([]);
    await waitFor('readings again after the crisis', async () => (await readings(published)).length >= 2);
  });
});
