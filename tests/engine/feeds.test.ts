// The CAP feed watcher in process, on both store dialects: two workers watching the same plan
// read a feed one at a time (the store's lease), and a feed on an internal address is refused
// unless the operator allows it (SUNSET_FETCH_ALLOW), through the same guarded client as link cards.
import { applyPlan, feedIdOf, startFeedWatcher, OrgSettingsCache, type FeedWatcher } from '@sunset/engine';
import { createGuardedClient } from '@sunset/networks';
import { createRedis, Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import { openTestStore, testDialects, type TestStore } from '@sunset/store/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  iso,
  ORG,
  PlanFolder,
  testLogger,
  testRedis,
  waitFor,
  type Sandboxes,
} from '../support/exit-harness.ts';
import {
  atomFeed,
  capAlert,
  capTime,
  SENDER,
  startFeedServer,
  type AlertSpec,
  type FeedServer,
} from '../support/meteoalarm.ts';

// Plans name the networks' addresses only; nothing here posts, so no sandbox needs to run.
const NO_SANDBOXES = {
  x: { url: 'https://api.x.example' },
  bluesky: { url: 'https://bsky.example' },
  mastodon: { url: 'https://mastodon.example' },
  blueskyHandle: 'ville.bsky.example',
  mastodonAccount: '@ville@mastodon.example',
} as unknown as Sandboxes;

const ALERT: AlertSpec = {
  identifier: '2.49.0.0.250.0.FR.20261201.ORAGE1',
  sent: capTime(-60_000),
  expires: capTime(3_600_000),
  areas: { FR372: 'Indre-et-Loire' },
  infos: [
    {
      language: 'fr-FR',
      event: 'Vigilance jaune orages',
      headline: 'Vigilance jaune aux orages',
      description: 'Orages avec grêle.',
      severity: 'Moderate',
      level: '2; yellow; Moderate',
      type: '3; Thunderstorm',
    },
  ],
};

/**
 * An alert as publishers outside MeteoAlarm write it: no geocode, no awareness parameters, its
 * area (`area`: the inside of an <area>) named and perhaps drawn. No XML declaration.
 */
const plainAlert = (o: {
  sender: string;
  identifier: string;
  event: string;
  severity: 'Minor' | 'Severe';
  area: string;
}) => `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${o.identifier}</identifier>
  <sender>${o.sender}</sender>
  <sent>${capTime(-60_000)}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>${o.event}</event>
    <urgency>Expected</urgency>
    <severity>${o.severity}</severity>
    <certainty>Likely</certainty>
    <expires>${capTime(3_600_000)}</expires>
    <headline>${o.event} (${o.identifier})</headline>
    <area>${o.area}</area>
  </info>
</alert>`;

const dialects = await testDialects();

for (const { dialect, skip } of dialects) {
  describe.skipIf(skip !== undefined)(
    `the CAP feed watcher on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      const cleanups: (() => Promise<unknown>)[] = [];
      afterEach(async () => {
        for (const c of cleanups.splice(0).reverse()) await c();
      });

      async function setUp(feedUrl: string, feed: Record<string, unknown> = {}) {
        const t: TestStore = await openTestStore(dialect);
        cleanups.push(() => t.cleanup());
        const plans = new PlanFolder(NO_SANDBOXES);
        cleanups.push(async () => plans.remove());
        const doc = plans.document({ sunset: iso(Date.now() - 3_600_000), posts: [] });
        doc['crisis'] = { on: ['bluesky'], feeds: [{ url: feedUrl, interval: '1s', ...feed }] };
        await applyPlan({ store: t.store, plan: plans.writeDocument(doc), actor: 'cli:test' });
        const redis = testRedis();
        const connection = createRedis(redis.url, { role: 'producer' });
        const queues = new Queues({ connection, prefix: redis.prefix });
        cleanups.push(async () => {
          await queues.close();
          connection.disconnect();
          await redis.cleanup();
        });
        return { t, queues, plans, doc };
      }

      function watcher(t: TestStore, queues: Queues, owner: string, allow: string[]): FeedWatcher {
        const w = startFeedWatcher({
          store: t.store,
          queues,
          settings: new OrgSettingsCache(t.store),
          client: createGuardedClient({ allow }),
          logger: testLogger,
          owner,
          tickMs: 50,
          timeoutMs: 2_000,
        });
        cleanups.push(() => w.close());
        return w;
      }

      it('lets one of two workers read a feed at a time, and makes one crisis of its alert', async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        // Slow answers: two workers that both read it would overlap.
        feeds.serve(
          '/atom',
          atomFeed([{ spec: ALERT, embed: true }], (id) => `/cap/${id}`),
          undefined,
          300,
        );
        const { t, queues } = await setUp(`${feeds.url}/atom`);
        watcher(t, queues, 'worker-1', [feeds.host]);
        watcher(t, queues, 'worker-2', [feeds.host]);
        await waitFor('five reads of the feed', () => feeds.requests.length >= 5, 30_000, 50);
        expect(feeds.maxInFlight()).toBe(1);
        const alerts = await t.store.feeds.alerts(ORG);
        expect(alerts).toHaveLength(1);
        expect(alerts[0]).toMatchObject({ feedId: feedIdOf(`${feeds.url}/atom`), kept: true });
        expect(await t.store.posts.list(ORG, { source: 'crisis' })).toHaveLength(1);
        // After the first full answer, the others were conditional and answered 304.
        expect(feeds.requests.slice(1).every((r) => r.status === 304)).toBe(true);
      });

      it("reads every organisation's plan version in one statement a tick, and a new plan's feeds at the next", async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        feeds.serve(
          '/atom',
          atomFeed([], (id) => `/cap/${id}`),
        );
        feeds.serve(
          '/second',
          atomFeed([], (id) => `/cap/${id}`),
        );
        const { t, queues, plans, doc } = await setUp(`${feeds.url}/atom`);
        // The store as the watcher sees it, its plan reads counted.
        const reads = { latestVersion: 0, latestVersions: 0, latest: 0 };
        const store: Store = {
          ...t.store,
          plans: {
            ...t.store.plans,
            latestVersion: (o) => (reads.latestVersion++, t.store.plans.latestVersion(o)),
            latestVersions: () => (reads.latestVersions++, t.store.plans.latestVersions()),
            latest: (o) => (reads.latest++, t.store.plans.latest(o)),
          },
        };
        const settings = new OrgSettingsCache(store);
        const w = startFeedWatcher({
          store,
          queues,
          settings,
          client: createGuardedClient({ allow: [feeds.host] }),
          logger: testLogger,
          owner: 'worker-1',
          // Ticks by hand only.
          tickMs: 3_600_000,
          timeoutMs: 2_000,
        });
        cleanups.push(() => w.close());
        await w.tick();
        expect(reads.latest).toBe(1);
        Object.assign(reads, { latestVersion: 0, latestVersions: 0, latest: 0 });
        await w.tick();
        await w.tick();
        expect(reads).toEqual({ latestVersion: 0, latestVersions: 2, latest: 0 });
        // What a tick read is fresh for the deliveries of the same cache: no read of their own.
        await settings.get(ORG, 2_000);
        expect(reads.latestVersion).toBe(0);
        // A new plan: its feeds are looked at from the next tick on.
        (doc['crisis'] as { feeds: unknown[] }).feeds.push({ url: `${feeds.url}/second`, interval: '1s' });
        await applyPlan({ store: t.store, plan: plans.writeDocument(doc), actor: 'cli:test' });
        await w.tick();
        expect(reads.latest).toBe(1);
        await waitFor('both feeds read', () => feeds.requests.some((r) => r.path === '/second'), 30_000, 50);
        expect((await t.store.feeds.list(ORG)).map((f) => f.feedId).sort()).toEqual(
          [feedIdOf(`${feeds.url}/atom`), feedIdOf(`${feeds.url}/second`)].sort(),
        );
      });

      it('in mode post, an Update of an alert still awaiting approval takes its place, posted only above post_at', async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        const update = (n: number, level: string, severity: 'Moderate' | 'Severe'): AlertSpec => ({
          ...ALERT,
          identifier: `${ALERT.identifier}.U${n}`,
          msgType: 'Update',
          references: [{ identifier: ALERT.identifier, sent: ALERT.sent }],
          infos: [{ ...ALERT.infos[0]!, headline: `Vigilance ${level} aux orages (${n})`, level, severity }],
        });
        const serve = (specs: AlertSpec[]) =>
          feeds.serve(
            '/atom',
            atomFeed(
              specs.map((spec) => ({ spec, embed: true })),
              (id) => `/cap/${id}`,
            ),
          );
        const crisisPosts = async () =>
          (await t.store.posts.list(ORG, { source: 'crisis' })).sort(
            (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id),
          );
        // A yellow alert under post_at orange waits for a person.
        serve([ALERT]);
        const { t, queues } = await setUp(`${feeds.url}/atom`, { mode: 'post', post_at: 'orange' });
        watcher(t, queues, 'worker-1', [feeds.host]);
        await waitFor('the alert', async () => (await crisisPosts()).length === 1, 30_000, 50);
        const [alert] = await crisisPosts();
        expect(alert?.content).toMatchObject({ awaitingApproval: true });

        // Its yellow Update: not posted at once (it is no more than the alert was), it waits in its place.
        serve([ALERT, update(1, '2; yellow; Moderate', 'Moderate')]);
        await waitFor('the first Update', async () => (await crisisPosts()).length === 2, 30_000, 50);
        const first = (await crisisPosts()).find((p) => p.id !== alert!.id)!;
        expect(first.content).toMatchObject({ awaitingApproval: true });
        expect(await t.store.deliveries.list({ organisationId: ORG, postId: first.id })).toEqual([]);
        expect((await t.store.posts.get(ORG, alert!.id))?.content).toMatchObject({
          awaitingApproval: false,
          cancelled: { supersededBy: first.id },
        });

        // An orange Update naming the first alert only: above post_at, posted at once in place of the first Update.
        serve([
          ALERT,
          update(1, '2; yellow; Moderate', 'Moderate'),
          update(2, '3; orange; Severe', 'Severe'),
        ]);
        await waitFor('the second Update', async () => (await crisisPosts()).length === 3, 30_000, 50);
        const second = (await crisisPosts()).find((p) => p.id !== alert!.id && p.id !== first.id)!;
        expect(second.content).not.toHaveProperty('awaitingApproval');
        expect(second.replyToPostId).toBe(first.id);
        const sent = await t.store.deliveries.list({ organisationId: ORG, postId: second.id });
        expect(sent.map((d) => d.network)).toEqual(['bluesky']);
        expect(sent[0]?.parts[0]?.text).toContain('orange');
        expect((await t.store.posts.get(ORG, first.id))?.content).toMatchObject({
          cancelled: { supersededBy: second.id },
        });
      });

      it('keeps alerts by a point inside their polygon or circle, or by area name, when they give no geocode', async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        // A civil-protection service that describes its areas by name and geometry only, as many
        // publishers outside MeteoAlarm do; latitude first, a radius in kilometres.
        const alert = (id: string, area: string) =>
          plainAlert({
            sender: 'protection-civile@region.example',
            identifier: `PC-${id}`,
            event: 'Crue',
            severity: 'Severe',
            area,
          });
        const alerts = {
          // Around Tours, its ring left open (the publisher omits the closing point).
          tours: alert(
            'TOURS',
            '<areaDesc>Tours et agglomération</areaDesc><polygon>47.35,0.62 47.45, 0.62 47.45,0.78 47.35,0.78</polygon>',
          ),
          orleans: alert('ORLEANS', '<areaDesc>Orléans</areaDesc><circle>47.90,1.90 20</circle>'),
          loir: alert('LOIR', '<areaDesc>LOIR-ET-CHER</areaDesc>'),
          // A latitude out of range: the polygon is left out, the alert read.
          vienne: alert(
            'VIENNE',
            '<areaDesc>Vienne</areaDesc><polygon>95.0,0.3 46.7,0.3 46.7,0.5 95.0,0.3</polygon>',
          ),
        };
        feeds.serve(
          '/atom',
          `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>https://alertes.region.example/cap</id>
  <title>Alertes</title>
  <updated>${new Date().toISOString()}</updated>${Object.entries(alerts)
    .map(
      ([id, cap]) => `
  <entry>
    <id>https://alertes.region.example/cap/${id}</id>
    <title>${id}</title>
    <updated>${new Date().toISOString()}</updated>
    <content type="application/cap+xml">${cap}</content>
  </entry>`,
    )
    .join('')}
</feed>`,
        );
        const url = `${feeds.url}/atom`;
        const { t, queues } = await setUp(url, { areas: ['47.39,0.69', 'Loir-et-Cher'] });
        watcher(t, queues, 'worker-1', [feeds.host]);
        const seen = (id: string) =>
          t.store.feeds.alert(ORG, feedIdOf(url), 'protection-civile@region.example', `PC-${id}`);
        await waitFor(
          'the four alerts decided',
          async () => (await Promise.all(['TOURS', 'ORLEANS', 'LOIR', 'VIENNE'].map(seen))).every(Boolean),
          30_000,
          50,
        );
        expect(await seen('TOURS')).toMatchObject({ kept: true });
        expect(await seen('LOIR')).toMatchObject({ kept: true });
        expect(await seen('ORLEANS')).toMatchObject({
          kept: false,
          reason:
            'not in the areas watched (its areas: Orléans; none of its polygons and circles covers a point watched)',
        });
        expect(await seen('VIENNE')).toMatchObject({
          kept: false,
          reason: 'not in the areas watched (its areas: Vienne; it draws no polygon or circle)',
        });
        const posts = await t.store.posts.list(ORG, { source: 'crisis' });
        expect(posts.map((p) => p.id).sort()).toEqual(
          [(await seen('TOURS'))!.postId, (await seen('LOIR'))!.postId].sort(),
        );
      });

      it(
        'reads an RSS feed of linked CAP documents in full, each once, past the 50 read per poll',
        { timeout: 120_000 },
        async () => {
          const feeds: FeedServer = await startFeedServer();
          cleanups.push(() => feeds.close());
          // An alerting authority's RSS 2.0 feed: items link to CAP documents and do not name
          // their alerts, so only reading a document tells which alert it is.
          const cap = (n: number) =>
            `<?xml version="1.0" encoding="UTF-8"?>\n${plainAlert({
              sender: 'alertes@autorite.example',
              identifier: `RSS-${n}`,
              event: 'Vent',
              severity: 'Minor',
              area: `<areaDesc>Zone ${n}</areaDesc>`,
            })}`;
          // Newest first, as RSS feeds list them: items count..1.
          const rss = (count: number) => `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Alertes</title>
    <link>https://autorite.example/</link>
    <description>Alertes CAP en cours</description>${Array.from(
      { length: count },
      (_, i) => `
    <item>
      <title>Vent ${count - i}</title>
      <link>/cap/${count - i}.xml</link>
      <guid isPermaLink="false">rss-${count - i}</guid>
      <pubDate>Tue, 01 Dec 2026 08:00:00 +0100</pubDate>
    </item>`,
    ).join('')}
  </channel>
</rss>`;
          for (let n = 1; n <= 116; n++) feeds.serve(`/cap/${n}.xml`, cap(n), 'application/cap+xml');
          // One document fails at first: it is read again while the feed itself does not change.
          feeds.fail('/cap/7.xml');
          feeds.serve('/rss', rss(60), 'application/rss+xml');
          const url = `${feeds.url}/rss`;
          // Every alert is below the threshold: each is decided and recorded, none is posted.
          const { t, queues } = await setUp(url, { min_severity: 'Severe' });
          watcher(t, queues, 'worker-1', [feeds.host]);
          const decided = async () =>
            new Set(
              (await t.store.feeds.alerts(ORG, { feedId: feedIdOf(url), limit: 1_000 })).map(
                (a) => a.identifier,
              ),
            );
          await waitFor('59 alerts decided', async () => (await decided()).size === 59, 30_000, 50);
          expect(await decided()).not.toContain('RSS-7');
          feeds.serve('/cap/7.xml', cap(7), 'application/cap+xml');
          await waitFor('the seventh decided', async () => (await decided()).has('RSS-7'), 30_000, 50);
          // The feed changes: only the new item's document is read.
          feeds.serve('/rss', rss(61), 'application/rss+xml');
          await waitFor('the new item decided', async () => (await decided()).has('RSS-61'), 30_000, 50);
          // 55 more at the top: the read stops after 50 of them, before the items it knows.
          feeds.serve('/rss', rss(116), 'application/rss+xml');
          await waitFor('all 116 decided', async () => (await decided()).size === 116, 30_000, 50);
          const [alert] = await t.store.feeds.alerts(ORG, { feedId: feedIdOf(url), limit: 1 });
          expect(alert).toMatchObject({ kept: false, reason: 'severity Minor, below Severe' });
          const reads = new Map<string, number>();
          for (const r of feeds.requests) {
            if (r.path.startsWith('/cap/') && r.status === 200)
              reads.set(r.path, (reads.get(r.path) ?? 0) + 1);
          }
          expect(reads.size).toBe(116);
          expect([...reads].filter(([, count]) => count !== 1)).toEqual([]);
        },
      );

      it('reads a CAP document that declares no encoding by the charset its server sends', async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        // ISO-8859-1 bytes, no XML declaration: only the Content-Type says how to read them.
        const alert = capAlert({ ...ALERT, identifier: `${ALERT.identifier}.LATIN` }).replace(
          'Orages avec grêle.',
          'Orages avec grêle à Chinon.',
        );
        feeds.serve('/alerte.xml', Buffer.from(alert, 'latin1'), 'application/cap+xml; charset=ISO-8859-1');
        const url = `${feeds.url}/alerte.xml`;
        const { t, queues } = await setUp(url);
        watcher(t, queues, 'worker-1', [feeds.host]);
        let seen: Awaited<ReturnType<Store['feeds']['alert']>>;
        await waitFor(
          'the alert decided',
          async () =>
            (seen = await t.store.feeds.alert(ORG, feedIdOf(url), SENDER, `${ALERT.identifier}.LATIN`)) !==
            undefined,
          30_000,
          50,
        );
        expect(seen).toMatchObject({ kept: true });
        const [post] = await t.store.posts.list(ORG, { source: 'crisis' });
        expect(JSON.stringify(post?.content)).toContain('Orages avec grêle à Chinon.');
      });

      it('refuses a feed on an internal address the operator did not allow, and reaches nothing', async () => {
        const feeds: FeedServer = await startFeedServer();
        cleanups.push(() => feeds.close());
        feeds.serve(
          '/atom',
          atomFeed([{ spec: ALERT, embed: true }], (id) => `/cap/${id}`),
        );
        const { t, queues } = await setUp(`${feeds.url}/atom`);
        watcher(t, queues, 'worker-1', []);
        await waitFor(
          'the refusal in the feed state',
          async () => ((await t.store.feeds.list(ORG))[0]?.errors ?? 0) >= 1,
          30_000,
          50,
        );
        expect((await t.store.feeds.list(ORG))[0]?.lastError).toBe(
          '127.0.0.1 is an internal address (127.0.0.1), not allowed',
        );
        expect(feeds.requests).toEqual([]);
        expect(await t.store.feeds.alerts(ORG)).toEqual([]);
      });
    },
  );
}
